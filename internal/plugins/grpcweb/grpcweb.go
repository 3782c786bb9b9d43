package grpcweb

import (
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/transcode"
)

// Config mirrors Kong's grpc-web schema.
type Config struct {
	// Proto is the .proto file describing the service, needed for the
	// JSON content types.
	Proto string `yaml:"proto"`
	// PassStrippedPath sends the route's stripped path upstream instead
	// of the client's.
	PassStrippedPath  bool   `yaml:"pass_stripped_path"`
	AllowOriginHeader string `yaml:"allow_origin_header"`
}

// SetDefaults applies Kong's defaults.
func (c *Config) SetDefaults() { c.AllowOriginHeader = "*" }

const name = "grpc-web"

// maxMessage bounds a request body and each response message: gRPC's
// default message limit.
const maxMessage = 4 << 20

// Registration describes the plugin to the registry.
func Registration() plugin.Registration {
	return plugin.Registration{
		Name:      name,
		Priority:  3,
		NewConfig: func() any { return &Config{} },
		New:       New,
	}
}

const (
	hAllowOrigin   = "Access-Control-Allow-Origin"
	hAllowMethods  = "Access-Control-Allow-Methods"
	hAllowHeaders  = "Access-Control-Allow-Headers"
	hExposeHeaders = "Access-Control-Expose-Headers"
	hRequestHdrs   = "Access-Control-Request-Headers"

	allowHeaders  = "content-type,x-grpc-web,x-user-agent"
	exposeHeaders = "grpc-status,grpc-message"
	preflightType = "application/grpc-web-text+proto"
)

// Header values shared by every request; the slices have no room to
// append in place, so a later append copies.
var (
	grpcType    = []string{"application/grpc"}
	teTrailers  = []string{"trailers"}
	postOnly    = []string{http.MethodPost}
	exposeVals  = []string{exposeHeaders}
	preflightOK = []byte("OK")
)

type instance struct {
	origin       []string // nil: no Access-Control-Allow-Origin
	passStripped bool
	proto        *transcode.Set // nil without proto
	max          int
}

// New validates the config and compiles the proto file.
func New(cfg any, _ plugin.Env) (plugin.Instance, error) {
	c := cfg.(*Config)
	in := &instance{passStripped: c.PassStrippedPath, max: maxMessage}
	if strings.ContainsAny(c.AllowOriginHeader, "\r\n\x00") {
		return nil, plugin.FieldError("allow_origin_header", "must not contain line breaks or NUL")
	}
	if c.AllowOriginHeader != "" {
		in.origin = []string{c.AllowOriginHeader}
	}
	if c.Proto != "" {
		set, err := transcode.Compile(c.Proto)
		if err != nil {
			return nil, plugin.FieldError("proto", err.Error())
		}
		in.proto = set
	}
	return in, nil
}

// Access answers preflights and turns a gRPC-Web request into a gRPC one.
// Requests of other methods, and native gRPC requests, pass untouched.
func (in *instance) Access(c *plugin.Ctx) error {
	switch c.Req.Method {
	case http.MethodOptions:
		return in.preflight(c)
	case http.MethodPost:
	default:
		return nil
	}
	r := c.Req
	var ct string
	if vs := r.Header["Content-Type"]; len(vs) > 0 {
		ct = vs[0]
	}
	m := modeOf(ct)
	if m == nil {
		if transcode.IsGRPCType(ct) {
			return nil
		}
		return plugin.NewExit(http.StatusBadRequest, "Content-Type is not a gRPC-Web type")
	}
	if !in.passStripped {
		// Without pass_stripped_path the service gets the method path
		// the client called, as Kong sends it.
		c.Path = c.ClientPath
	}
	b := &webBody{mode: m, max: in.max, resp: &c.Resp}
	if m.json {
		if err := in.jsonCall(c, b); err != nil {
			return err
		}
	}
	if m.text || m.json || r.ContentLength < 0 {
		b.scratch = make([]byte, scratchSize)
		body, err := readBody(r.Body, m.text, r.ContentLength, in.max+5, b.scratch)
		if err == nil && m.json {
			body, err = requestJSON(b.method, body, m.framed)
		}
		if err != nil {
			return bodyExit(err)
		}
		b.req.Reset(body)
		r.Body, r.ContentLength = &b.req, int64(len(body))
	} else if r.ContentLength > int64(in.max+5) {
		return bodyExit(errTooLarge)
	}
	delete(r.Header, "Content-Length")
	r.Header["Content-Type"] = grpcType
	r.Header["Te"] = teTrailers
	if c.Shared == nil {
		c.Shared = make(map[string]any, 1)
	}
	c.Shared[name] = b
	return nil
}

// bodyExit is the answer to a request body that cannot be sent upstream.
func bodyExit(err error) *plugin.Exit {
	var e *plugin.Exit
	switch {
	case errors.As(err, &e):
		return e
	case err == errTooLarge:
		return plugin.NewExit(http.StatusRequestEntityTooLarge, "Request body too large")
	case err == errBadText:
		return plugin.NewExit(http.StatusBadRequest, "Request body is not valid base64")
	case err == errNotOneFrame:
		return plugin.NewExit(http.StatusBadRequest, "Request body is not one uncompressed gRPC-Web frame")
	}
	return plugin.NewExit(http.StatusBadRequest, "Could not read the request body")
}

// preflight answers a CORS preflight as Kong does, allowing also the
// headers the browser asks for.
func (in *instance) preflight(c *plugin.Ctx) error {
	h := make(http.Header, 3)
	if in.origin != nil {
		h[hAllowOrigin] = in.origin
	}
	h[hAllowMethods] = postOnly
	allow := allowHeaders
	if rh := c.Req.Header.Get(hRequestHdrs); rh != "" {
		allow += "," + rh
	}
	h[hAllowHeaders] = []string{allow}
	return &plugin.Exit{Status: http.StatusOK, Body: preflightOK, ContentType: preflightType, Header: h}
}

// HeaderFilter sets the CORS origin on every answer and, on a gRPC
// answer to a gRPC-Web call, the call's content type; a trailers-only
// answer's status moves from the headers to the trailer frame.
func (in *instance) HeaderFilter(c *plugin.Ctx) {
	h := c.Resp.Header
	if in.origin != nil {
		h[hAllowOrigin] = in.origin
	}
	b, _ := c.Shared[name].(*webBody)
	if b == nil || !c.Resp.FromUpstream {
		return
	}
	var ct string
	if vs := h["Content-Type"]; len(vs) > 0 {
		ct = vs[0]
	}
	if !transcode.IsGRPCType(ct) {
		// Not a gRPC answer (a plain HTTP upstream's error page): the
		// body passes as it is.
		delete(c.Shared, name)
		return
	}
	h["Content-Type"] = b.mode.contentType
	delete(h, "Content-Length")
	if vs := h[hExposeHeaders]; len(vs) > 0 {
		h[hExposeHeaders] = []string{strings.Join(vs, ",") + "," + exposeHeaders}
	} else {
		h[hExposeHeaders] = exposeVals
	}
	if vs := h["Grpc-Status"]; len(vs) > 0 {
		b.status = vs[0]
		if vs := h["Grpc-Message"]; len(vs) > 0 {
			b.message = vs[0]
		}
		if vs := h["Grpc-Status-Details-Bin"]; len(vs) > 0 {
			b.details = vs[0]
		}
		delete(h, "Grpc-Status")
		delete(h, "Grpc-Message")
		delete(h, "Grpc-Status-Details-Bin")
	}
}

// BodyFilter turns a gRPC answer's body into gRPC-Web.
func (in *instance) BodyFilter(c *plugin.Ctx, body io.Reader) io.Reader {
	b, _ := c.Shared[name].(*webBody)
	if b == nil {
		return body
	}
	b.src = body
	return b
}
