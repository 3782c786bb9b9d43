package correlationid

import (
	"crypto/rand"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"strconv"
	"sync/atomic"

	"golang.org/x/net/http/httpguts"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Config mirrors Kong's correlation-id schema.
type Config struct {
	HeaderName     string `yaml:"header_name"`
	Generator      string `yaml:"generator"`
	EchoDownstream bool   `yaml:"echo_downstream"`
}

// SetDefaults applies Kong's defaults.
func (c *Config) SetDefaults() {
	c.HeaderName = "Kong-Request-ID"
	c.Generator = "uuid#counter"
}

// Name is the plugin's name, also its key in plugin.Ctx.Shared.
const Name = "correlation-id"

// Registration describes the plugin to the registry, at Kong's priority.
func Registration() plugin.Registration {
	return plugin.Registration{
		Name:      Name,
		Priority:  100001,
		NewConfig: func() any { return &Config{} },
		New:       New,
	}
}

type generator uint8

const (
	genUUID generator = iota
	genCounter
	genTracker
)

var generators = map[string]generator{"uuid": genUUID, "uuid#counter": genCounter, "tracker": genTracker}

type instance struct {
	header plugin.HeaderName
	// key is the header's key in Go's header maps.
	key  string
	gen  generator
	echo bool
	// prefix is uuid#counter's "<uuid>#", drawn when the instance is
	// built: Kong draws one per worker, Turnpike one per instance.
	prefix  string
	counter atomic.Uint64
	// pid is tracker's process id.
	pid string
}

// New validates the config.
func New(raw any, _ plugin.Env) (plugin.Instance, error) {
	cfg := raw.(*Config)
	var errs plugin.Errors
	// Kong's schema takes any string; a name must still be one HTTP can
	// carry, or every request would fail on its way upstream.
	if !httpguts.ValidHeaderFieldName(cfg.HeaderName) {
		errs = append(errs, plugin.Problem{Path: "header_name", Message: "bad header name '" + cfg.HeaderName +
			"': expected an HTTP header name (letters, digits and !#$%&'*+-.^_`|~)"})
	}
	gen, ok := generators[cfg.Generator]
	if !ok {
		errs = append(errs, plugin.Problem{Path: "generator", Message: `expected one of: uuid, uuid#counter, tracker`})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	var id [36]byte
	return &instance{
		header: plugin.NewHeaderName(cfg.HeaderName),
		key:    textproto.CanonicalMIMEHeaderKey(cfg.HeaderName),
		gen:    gen,
		echo:   cfg.EchoDownstream,
		prefix: string(appendUUID(id[:0])) + "#",
		pid:    strconv.Itoa(os.Getpid()),
	}, nil
}

// Access keeps the client's id, or sets a new one upstream, and adds it
// to the log object as correlation_id, as Kong does.
func (in *instance) Access(c *plugin.Ctx) error {
	id, ok := in.header.First(c.Req.Header)
	if !ok || id == "" {
		id = in.generate(c)
		c.Req.Header[in.key] = []string{id}
	}
	c.SetLogValue("correlation_id", id)
	if in.echo {
		// Kept for the header filter: a later plugin may change the
		// request header, and the client gets the id the upstream got.
		if c.Shared == nil {
			c.Shared = make(map[string]any, 2)
		}
		c.Shared[Name] = id
	}
	return nil
}

// HeaderFilter echoes the id to the client when asked, a new one when the
// access phase never ran (as Kong's).
func (in *instance) HeaderFilter(c *plugin.Ctx) {
	if !in.echo {
		return
	}
	id, _ := c.Shared[Name].(string)
	if id == "" {
		id, _ = in.header.First(c.Req.Header)
	}
	if id == "" {
		id = in.generate(c)
	}
	c.Resp.Header[in.key] = []string{id}
}

func (in *instance) generate(c *plugin.Ctx) string {
	var buf [128]byte
	b := buf[:0]
	switch in.gen {
	case genUUID:
		b = appendUUID(b)
	case genCounter:
		b = append(b, in.prefix...)
		b = strconv.AppendUint(b, in.counter.Add(1), 10)
	case genTracker:
		b = in.appendTracker(b, c)
	}
	return string(b)
}

// appendTracker writes Kong's tracker id,
// server_addr-server_port-pid-connection-connection_requests-time, with
// what Turnpike knows in the places it has no equal for: the client's
// source port for NGINX's connection serial number and the instance's
// request sequence for the connection's request count, so that ids stay
// unique within the millisecond the time has.
func (in *instance) appendTracker(b []byte, c *plugin.Ctx) []byte {
	if a, ok := c.Req.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr); ok {
		b = a.AddrPort().Addr().Unmap().AppendTo(b)
		b = append(b, '-')
		b = strconv.AppendInt(b, int64(a.Port), 10)
	} else {
		b = append(b, '-')
	}
	b = append(b, '-')
	b = append(b, in.pid...)
	b = append(b, '-')
	if _, port, err := net.SplitHostPort(c.Req.RemoteAddr); err == nil {
		b = append(b, port...)
	}
	b = append(b, '-')
	b = strconv.AppendUint(b, in.counter.Add(1), 10)
	b = append(b, '-')
	return strconv.AppendFloat(b, float64(c.StartedAt.UnixMilli())/1000, 'f', 3, 64)
}

// appendUUID appends a random (version 4) UUID.
func appendUUID(b []byte) []byte {
	const hex = "0123456789abcdef"
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	for i, x := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hex[x>>4], hex[x&0xf])
	}
	return b
}
