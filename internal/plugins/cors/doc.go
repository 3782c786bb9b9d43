// Package cors is Kong's cors plugin: it answers CORS preflight requests in
// the access phase (unless told to let them through) and adds the
// Access-Control-* and Vary headers to every other response in the header
// filter, deciding the allowed origin exactly as Kong's handler does.
package cors
