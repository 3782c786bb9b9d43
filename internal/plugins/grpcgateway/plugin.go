package grpcgateway

import (
	"log/slog"
	"net/http"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/transcode"
)

// Kong's name and priority (before the auth plugins' answers are final,
// after them in order: 998), and the patterns guide's name.
const (
	Name      = "grpc-gateway"
	GuideName = "grpc-transcode"
	Priority  = 998
)

// Registration is Kong's grpc-gateway.
func Registration() plugin.Registration { return registration(Name) }

// TranscodeRegistration is the same plugin under the guide's name.
func TranscodeRegistration() plugin.Registration { return registration(GuideName) }

func registration(name string) plugin.Registration {
	return plugin.Registration{
		Name:      name,
		Priority:  Priority,
		NewConfig: func() any { c := &Config{}; c.SetDefaults(); return c },
		New: func(cfg any, env plugin.Env) (plugin.Instance, error) {
			return newInstance(name, cfg.(*Config), env)
		},
	}
}

// instance transcodes the requests of its scope. Exactly one of static
// (a proto file, compiled at load) and reflected (descriptors asked of
// each service's upstream) is set.
type instance struct {
	name      string
	opts      transcode.Options
	max       int
	static    *transcode.Set
	reflected *reflector
	services  []string
	log       *slog.Logger
}

func newInstance(name string, c *Config, env plugin.Env) (plugin.Instance, error) {
	if errs := c.validate(); len(errs) > 0 {
		return nil, errs
	}
	in := &instance{name: name, max: c.MaxMessageSize, log: env.Logger,
		opts: transcode.Options{UseProtoNames: c.UseProtoNames, EmitUnpopulated: c.EmitUnpopulated, EnumsAsInts: c.EnumsAsInts}}
	if in.log == nil {
		in.log = slog.New(slog.DiscardHandler)
	}
	if c.Proto != "" {
		set, err := transcode.Compile(c.Proto)
		if err != nil {
			return nil, plugin.Errors{{Path: "proto", Message: err.Error()}}
		}
		in.static = set
		return in, nil
	}
	in.reflected = newReflector(env.Upstreams, in.log)
	in.services = env.Services
	return in, nil
}

// Start asks the upstreams of the instance's services for their
// descriptors as soon as its configuration is in force, so the first
// request does not wait for them (one that comes sooner shares the fetch).
func (in *instance) Start() {
	if in.reflected == nil {
		return
	}
	for _, id := range in.services {
		in.reflected.stale(id)
	}
}

// preflight answers an OPTIONS request as Kong's plugin does.
func preflight() *plugin.Exit {
	return &plugin.Exit{Status: http.StatusOK, Body: []byte("OK"), ContentType: "application/json", Header: http.Header{
		"Access-Control-Allow-Origin":  {"*"},
		"Access-Control-Allow-Methods": {"GET,POST,PATCH,DELETE"},
		"Access-Control-Allow-Headers": {"content-type"},
	}}
}

// Header values set on every transcoded call, shared: each has length and
// capacity 1, so a later Add copies rather than writes into them.
var (
	vGRPC        = []string{"application/grpc"}
	vTrailers    = []string{"trailers"}
	vAnyOrigin   = []string{"*"}
	vJSON        = []string{"application/json"}
	vEventStream = []string{"text/event-stream"}
	vNDJSON      = []string{"application/x-ndjson"}
)
