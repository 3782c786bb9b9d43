package grpcgateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/transcode"
)

// descriptorWait bounds how long a request waits for the upstream's
// reflection answer (shared with other requests asking at the same time).
const descriptorWait = 10 * time.Second

// Access maps the request to a gRPC method and rewrites it into that
// call: POST to /package.Service/Method with the message framed as gRPC
// frames it, the query string gone.
func (in *instance) Access(c *plugin.Ctx) error {
	r := c.Req
	if transcode.IsGRPCType(r.Header.Get("Content-Type")) {
		return nil
	}
	if r.Method == http.MethodOptions {
		return preflight()
	}
	set, err := in.descriptors(c)
	if err != nil {
		in.log.Warn("grpc-gateway: no descriptors", "service", serviceName(c), "error", err)
		return plugin.NewExit(http.StatusBadGateway, "the upstream's gRPC descriptors are unavailable")
	}
	b, vars, ok := in.match(set, c)
	if !ok {
		if in.reflected != nil {
			in.reflected.stale(c.Service.ID)
		}
		return plugin.NewExit(http.StatusNotFound, "Not Found")
	}
	if b.Method.ClientStreaming {
		return plugin.NewExit(http.StatusNotImplemented, "client and bidirectional streaming methods cannot be called through REST")
	}
	var body []byte
	if b.Body != "" && r.Body != nil && r.Body != http.NoBody {
		body, err = io.ReadAll(io.LimitReader(r.Body, int64(in.max)+1))
		if err != nil {
			return plugin.NewExit(http.StatusBadRequest, "cannot read the request body")
		}
		if len(body) > in.max {
			return plugin.NewExit(http.StatusRequestEntityTooLarge, "Request size limit exceeded")
		}
	}
	if v := r.Header.Get("Grpc-Timeout"); v != "" {
		if _, ok := transcode.ParseTimeout(v); !ok {
			return plugin.NewExit(http.StatusBadRequest, "invalid Grpc-Timeout header")
		}
	}
	// The message is built after room for gRPC's 5-byte prefix, filled
	// in once its length is known.
	frame, err := b.Request(make([]byte, 5, 5+len(body)+64), vars, r.URL.RawQuery, body)
	if err != nil {
		var te *transcode.Error
		if errors.As(err, &te) {
			return plugin.NewExit(te.Status, te.Message)
		}
		return plugin.NewExit(http.StatusBadRequest, err.Error())
	}
	frame[0] = 0
	binary.BigEndian.PutUint32(frame[1:5], uint32(len(frame)-5))
	r.Body = io.NopCloser(bytes.NewReader(frame))
	r.ContentLength = int64(len(frame))
	c.Method, c.Path, c.RawQuery = http.MethodPost, b.Method.FullPath, ""
	h := r.Header
	h["Content-Type"] = vGRPC
	h["Te"] = vTrailers
	// Nothing of the client's may make the upstream compress: the answer
	// is read here.
	delete(h, "Content-Length")
	delete(h, "Grpc-Encoding")
	delete(h, "Grpc-Accept-Encoding")
	delete(h, "Accept-Encoding")
	encodeBinary(h)
	in.begin(c, set, b, acceptsEventStream(h.Get("Accept")))
	return nil
}

// descriptors returns the set the request is matched against.
func (in *instance) descriptors(c *plugin.Ctx) (*transcode.Set, error) {
	if in.static != nil {
		return in.static, nil
	}
	if c.Service == nil {
		return nil, errors.New("the route has no service")
	}
	if set := in.reflected.loaded(c.Service.ID); set != nil {
		return set, nil
	}
	ctx, cancel := context.WithTimeout(c.Req.Context(), descriptorWait)
	defer cancel()
	return in.reflected.get(ctx, c.Service.ID)
}

// match finds the binding for the request: the client's path first, then
// that path without each leading segment of the route prefix it matched,
// so a route mounted at /api/v1 serves a rule written /v1/users/{id}.
func (in *instance) match(set *transcode.Set, c *plugin.Ctx) (*transcode.Binding, transcode.Vars, bool) {
	method, path := c.Req.Method, c.ClientPath
	if b, vars, ok := set.Match(method, path); ok {
		return b, vars, true
	}
	prefix := routePrefix(c, path)
	for i := 1; i < len(prefix); i++ {
		if prefix[i] != '/' {
			continue
		}
		if b, vars, ok := set.Match(method, path[i:]); ok {
			return b, vars, true
		}
	}
	if len(prefix) > 1 && len(path) > len(prefix) && path[len(prefix)] == '/' {
		return set.Match(method, path[len(prefix):])
	}
	return nil, transcode.Vars{}, false
}

// routePrefix is the longest plain (not regex) path of the route that
// prefixes path, without a trailing slash.
func routePrefix(c *plugin.Ctx, path string) string {
	best := ""
	if c.Route == nil {
		return best
	}
	for _, p := range c.Route.Paths {
		if strings.HasPrefix(p, "~") {
			continue
		}
		p = strings.TrimSuffix(p, "/")
		if len(p) > len(best) && strings.HasPrefix(path, p) && (len(path) == len(p) || path[len(p)] == '/') {
			best = p
		}
	}
	return best
}

// encodeBinary base64-encodes the values of -bin headers that are not
// base64 already: gRPC carries binary metadata that way.
func encodeBinary(h http.Header) {
	for k, vs := range h {
		if !strings.HasSuffix(k, "-Bin") {
			continue
		}
		for i, v := range vs {
			if _, err := base64.StdEncoding.DecodeString(v); err == nil {
				continue
			}
			if _, err := base64.RawStdEncoding.DecodeString(v); err == nil {
				continue
			}
			vs[i] = base64.RawStdEncoding.EncodeToString([]byte(v))
		}
	}
}

// acceptsEventStream reports a client asking for server-sent events.
func acceptsEventStream(accept string) bool {
	return strings.Contains(accept, "text/event-stream")
}

func serviceName(c *plugin.Ctx) string {
	if c.Service == nil {
		return ""
	}
	return c.Service.Name
}
