// Package requesttermination is Kong's request-termination plugin: it answers
// every request of its scope itself (optionally only when a trigger header or
// query argument is present), with a fixed status and either Kong's
// {"message":...} body, a raw body, or an echo of the request for debugging.
package requesttermination
