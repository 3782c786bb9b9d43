package requestsizelimiting

import (
	"io"
	"math"
	"net/http"
	"slices"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Config mirrors Kong's request-size-limiting schema
// (kong/plugins/request-size-limiting/schema.lua).
type Config struct {
	// AllowedPayloadSize is the largest body allowed, in SizeUnit.
	AllowedPayloadSize int64 `yaml:"allowed_payload_size"`
	// SizeUnit is megabytes, kilobytes or bytes (powers of 1,024).
	SizeUnit string `yaml:"size_unit"`
	// RequireContentLength refuses requests that neither declare a
	// length nor send a chunked body.
	RequireContentLength bool `yaml:"require_content_length"`
}

// SetDefaults applies Kong's defaults.
func (c *Config) SetDefaults() {
	c.AllowedPayloadSize = 128
	c.SizeUnit = "megabytes"
}

const (
	name = "request-size-limiting"

	// Kong's handler texts.
	msgTooLarge = "Request size limit exceeded"
	msgLength   = "A valid Content-Length header is required"
	errUnit     = "expected one of: megabytes, kilobytes, bytes"
)

var units = map[string]int64{"megabytes": 1 << 20, "kilobytes": 1 << 10, "bytes": 1}

// Registration describes the plugin to the registry. Kong's schema allows
// consumer scope.
func Registration() plugin.Registration {
	return plugin.Registration{
		Name:      name,
		Priority:  951,
		NewConfig: func() any { return &Config{} },
		New:       New,
	}
}

type instance struct {
	limit         int64
	requireLength bool
}

// The answers never change, so they are made once; the proxy does not
// change an Exit it is handed.
var (
	exitTooLarge = plugin.NewExit(http.StatusRequestEntityTooLarge, msgTooLarge)
	exitExpect   = plugin.NewExit(http.StatusExpectationFailed, msgTooLarge)
	exitLength   = plugin.NewExit(http.StatusLengthRequired, msgLength)
)

// New validates the config as Kong's schema does.
func New(cfg any, _ plugin.Env) (plugin.Instance, error) {
	c := cfg.(*Config)
	factor, ok := units[c.SizeUnit]
	if !ok {
		return nil, plugin.FieldError("size_unit", errUnit)
	}
	limit := c.AllowedPayloadSize * factor
	if c.AllowedPayloadSize > math.MaxInt64/factor {
		limit = math.MaxInt64
	}
	return &instance{limit: limit, requireLength: c.RequireContentLength}, nil
}

// Access checks a declared length at once and counts a body of unknown
// length as it is read.
func (in *instance) Access(c *plugin.Ctx) error {
	r := c.Req
	if _, declared := r.Header["Content-Length"]; declared && r.ContentLength >= 0 {
		if r.ContentLength > in.limit {
			return tooLarge(r)
		}
		return nil
	}
	if in.requireLength && !slices.Contains(r.TransferEncoding, "chunked") {
		return exitLength
	}
	if r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody {
		r.Body = &limitedBody{body: r.Body, left: in.limit, exit: tooLarge(r)}
	}
	return nil
}

// tooLarge is Kong's answer: 417 to a client that waits for 100 Continue
// (it has not sent its body), 413 otherwise.
func tooLarge(r *http.Request) *plugin.Exit {
	for _, v := range r.Header["Expect"] {
		if strings.EqualFold(strings.TrimSpace(v), "100-continue") {
			return exitExpect
		}
	}
	return exitTooLarge
}

// limitedBody passes at most left bytes of body on; the read that would
// pass the limit fails with the plugin's Exit as its error, which the
// proxy answers in place of the upstream's. It reads at most one byte
// past the limit from the client.
type limitedBody struct {
	body io.ReadCloser
	left int64
	exit *plugin.Exit
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, b.exit
	}
	if int64(len(p))-1 > b.left {
		p = p[:b.left+1]
	}
	n, err := b.body.Read(p)
	if int64(n) > b.left {
		b.left = -1
		return 0, b.exit
	}
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.body.Close() }
