package plugin

import (
	"net/http"
	"slices"
	"strings"
)

// RequestSize is NGINX's $request_length, Kong's request.size: request
// line, headers and body, counted as HTTP/1.1 frames them. Every log
// plugin reports this one definition. The headers are the client's: those
// the gateway set for the upstream (GatewayHeaders) are not counted, as
// NGINX counts the request it received, not the one it sent.
func (c *Ctx) RequestSize() int64 {
	var headerSize int64
	if c.Req != nil {
		headerSize = HeaderSize(c.Req.Header, c.GatewayHeaders)
	}
	return c.RequestSizeOf(headerSize)
}

// RequestSizeOf is RequestSize for a caller that has counted the
// request's HeaderSize already.
func (c *Ctx) RequestSizeOf(headerSize int64) int64 {
	r := c.Record
	n := int64(len(r.Method)+len(r.URI)+len(r.Proto)+4) + r.BytesReceived + headerSize
	if r.Host != "" {
		n += int64(len("Host: ") + len(r.Host) + 2)
	}
	return n
}

// HeaderSize is the size of a header block as HTTP/1.1 writes it, with
// the blank line that ends it, leaving out the headers named in skip
// (canonical names).
func HeaderSize(h http.Header, skip []string) int64 {
	var n int64
	for name, vals := range h {
		if slices.Contains(skip, name) {
			continue
		}
		for _, v := range vals {
			n += int64(len(name) + len(v) + 4)
		}
	}
	return n + 2
}

// HostOnly is host without its port, as NGINX's $host (an IPv6 address
// keeps its brackets).
func HostOnly(host string) string {
	if strings.HasPrefix(host, "[") {
		if i := strings.IndexByte(host, ']'); i > 0 {
			return host[:i+1]
		}
		return host
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		return host[:i]
	}
	return host
}
