// Package transcode maps HTTP/JSON requests to gRPC methods by their google.api.http rules, and gRPC
// messages and statuses back to JSON. It is a leaf: it imports nothing of Turnpike's.
//
// A Set is built once at load (from a compiled .proto or from a server reflection's descriptors) and
// is read-only afterwards, so one Set serves every request concurrently: the path templates, the
// field paths of their variables and the JSON options are all resolved at construction, and a
// request costs a walk over the bindings of its HTTP method, a message build and a marshal.
package transcode
