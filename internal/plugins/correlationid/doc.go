// Package correlationid is Kong's correlation-id plugin: it gives each
// request an id in a header (the client's own when it sent one), passes
// it upstream and, when asked, echoes it to the client. Ids come from a
// random UUID, a per-instance UUID and counter, or Kong's tracker format.
package correlationid
