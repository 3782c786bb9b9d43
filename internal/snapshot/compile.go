package snapshot

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// Deps are what compiling needs besides the model.
type Deps struct {
	Registry *plugin.Registry
	// Upstreams is the upstream state that survives reloads (pools, target
	// states, health gates, DNS names). The compile takes from it through
	// a lease, Snapshot.Upstreams, and aborts the lease itself when it
	// fails; the caller commits it once the snapshot is in force (a dry
	// run compiles against a Runtime of its own and closes its pools).
	Upstreams *upstream.Runtime
	Env       plugin.Env
	// MaxResponseHeaderBytes bounds the response heads of HTTP/2 (gRPC)
	// upstreams, as the proxy bounds HTTP/1.1 ones (0: net/http's default).
	MaxResponseHeaderBytes int
	// Previous is the snapshot in force, whose plugin instances and HTTP/2
	// transports are kept where nothing about them changed.
	Previous *Snapshot
}

// Compile turns a validated model into a snapshot. Plugin configs are
// decoded and validated here (config does not know the plugins), so the
// error is a config.Errors with field paths like the loader's.
func Compile(m *config.Model, d Deps) (*Snapshot, error) {
	return CompileContext(context.Background(), m, d)
}

// CompileContext is Compile that gives up, with config.Abandoned's error,
// once ctx is done.
func CompileContext(ctx context.Context, m *config.Model, d Deps) (*Snapshot, error) {
	lease := d.Upstreams.Acquire()
	c := &compiler{ctx: ctx, m: m, d: d, lease: lease, tlsKeys: map[*tls.Config]string{}, clientCerts: map[string]*tls.Certificate{}, snap: &Snapshot{Hash: m.Hash, Summary: m.Summary(), Upstreams: lease, Model: m,
		instanceByKey: map[string]plugin.Instance{}, instanceByEntry: map[*config.PluginEntry]plugin.Instance{}}}
	c.snap.created = createdAt(m, d.Previous)
	c.indexEntities()
	c.services()
	c.routes()
	c.plugins()
	c.chains()
	c.retargets()
	c.checkedUpstreams()
	c.certificates()
	c.clientCertificates()
	if err := config.Abandoned(ctx); err != nil {
		c.discard()
		return nil, err
	}
	if c.errs.Len() > 0 {
		c.discard()
		return nil, m.Redact(c.errs.Errors())
	}
	var prevDir *Directory
	if d.Previous != nil {
		prevDir, _ = d.Previous.Directory.(*Directory)
	}
	c.snap.Directory = NewDirectory(m, time.Now(), prevDir, d.Registry.CredentialKinds())
	c.snap.Counts = Counts{
		Services: len(m.Services), Routes: len(m.Routes), Plugins: len(m.Plugins),
		Consumers: len(m.Consumers), Upstreams: len(m.Upstreams), Certificates: len(m.Certificates),
	}
	return c.snap, nil
}

// discard gives up what a failed compile built or took: its plugin
// instances will never serve a request, and the upstream state it brought
// in is dropped, leaving the state in force untouched.
func (c *compiler) discard() {
	Release(c.snap, c.d.Previous)
	c.d.Upstreams.Abort()
}

type compiler struct {
	// ctx ends the loops over entities of an abandoned load.
	ctx   context.Context
	m     *config.Model
	d     Deps
	lease *upstream.Lease
	snap  *Snapshot
	errs  config.ErrorList
	// tlsKeys name what each upstream TLS config's connections are made
	// with (upstreamTLS), for pool and HTTP/2 transport keys.
	tlsKeys map[*tls.Config]string
	// clientCerts are the parsed client certificates by id.
	clientCerts map[string]*tls.Certificate
	// servicesByEntry maps model services to compiled ones.
	servicesByEntry map[*config.ServiceEntry]*Service
	// instances of every enabled plugin entry, by entry
	instances map[*config.PluginEntry]plugin.Instance
	regs      map[*config.PluginEntry]*plugin.Registration
	// altTargets are the targets of upstreams that plugins send requests
	// to (retargets), for the health checkers of upstreams no service uses.
	altTargets map[*config.UpstreamEntry][]*upstream.Target
}

// fail adds an error; once errors are only counted, it formats nothing.
func (c *compiler) fail(path, format string, args ...any) {
	msg := format
	if !c.errs.Full() {
		msg = fmt.Sprintf(format, args...)
	}
	c.errs.Add(config.FieldError{Path: path, Message: msg})
}
