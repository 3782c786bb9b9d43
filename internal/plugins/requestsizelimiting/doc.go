// Package requestsizelimiting is Kong's request-size-limiting plugin: a
// request whose declared Content-Length is over the limit is refused at
// once (413, or 417 when the client waits for 100 Continue); a body of
// unknown length is counted as it streams to the upstream and the request
// is cut with the same answer when it passes the limit. Kong reads such a
// body whole first; counting it on the way keeps the gateway's memory flat.
package requestsizelimiting
