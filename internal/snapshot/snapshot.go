package snapshot

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/router"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// Snapshot is one compiled configuration.
type Snapshot struct {
	Router *router.Router
	// Unrouted are the global plugins, whose response phases (header and
	// body filters, log) run on a request no route matched, as Kong runs
	// them; nil without routes.
	Unrouted *Chain
	// Routes is indexed by the router's route index.
	Routes   []*Route
	Services []*Service
	// serviceByID finds a service by id (Upstreams.RoundTrip, per call;
	// plugins resolve names once, with plugin.Env.ServiceIDs).
	serviceByID map[string]*Service
	// Certs selects the TLS certificate by SNI; nil when none is configured.
	Certs *CertStore
	// ClientCerts says on which server names TLS handshakes ask for a
	// client certificate; nil: none.
	ClientCerts *ClientCertPolicy
	// Hash identifies the source config; Summary counts its entities.
	Hash    string
	Summary string
	// Upstreams is what this snapshot holds of the reload-surviving
	// upstream state (pools, target states, health gates, DNS names): the
	// loader commits it once the snapshot is in force.
	Upstreams *upstream.Lease
	// Instances is every plugin instance, for shutdown hooks.
	Instances []plugin.Instance
	// Model is the configuration this snapshot was compiled from (read by
	// the admin API; never modified).
	Model *config.Model
	// Counts for the admin API.
	Counts Counts
	// Directory is the consumers and credentials auth plugins look up
	// (a *Directory; never nil).
	Directory plugin.Directory
	// Secrets are the header and query names the auth plugins read
	// credentials from, for log plugins to redact.
	Secrets *plugin.Secrets
	// created is the time (Unix seconds) that stands in for the entity
	// timestamps the file does not give (see compiler.created).
	created int64
	// instanceByKey lets the next compile reuse unchanged instances.
	instanceByKey map[string]plugin.Instance
	// instanceByEntry is the instance of each enabled plugin entry.
	instanceByEntry map[*config.PluginEntry]plugin.Instance
	// entities are the certificates and service names plugins look up;
	// entityDeps, by instance key, those an instance's build looked up,
	// for the next compile to tell whether it can be reused.
	entities   *entityIndex
	entityDeps map[string][]entityDep
}

// InstanceOf is the instance compiled for an enabled plugin entry of the
// snapshot's model.
func (s *Snapshot) InstanceOf(pe *config.PluginEntry) (plugin.Instance, bool) {
	inst, ok := s.instanceByEntry[pe]
	return inst, ok
}

// Counts are entity counts of the source config.
type Counts struct {
	Services, Routes, Plugins, Consumers, Upstreams, Certificates int
}

// Route is a compiled route.
type Route struct {
	Info    plugin.RouteInfo
	Service *Service // nil: the route has no service (503 when matched)
	// Protocol flags from `protocols`.
	HTTP, HTTPS, GRPC, GRPCS bool
	HTTPSRedirectStatus      int
	StripPath                bool
	PreserveHost             bool
	Chain                    *Chain
	// Targets are the route's service sent elsewhere, by the plugin
	// target (plugin.Retargeter) a request's Ctx.Target names; nil when
	// no plugin of the route declares one.
	Targets map[*plugin.Target]*Service
}

// Service is a compiled service.
type Service struct {
	Info plugin.ServiceInfo
	// Scheme is http or https for HTTP/1.1 upstreams; grpc/grpcs services
	// use HTTP/2.
	Scheme string
	// HostHeader is the Host sent upstream when the route does not preserve
	// the client's (host, plus the port when not the scheme's default).
	HostHeader     string
	Path           string
	HTTP2          bool
	ConnectTimeout time.Duration
	ReadTimeout    time.Duration
	WriteTimeout   time.Duration
	Retries        int
	Balancer       upstream.Balancer
	// H2 is the HTTP/2 client of a grpc or grpcs service (nil for the
	// others): h2c with prior knowledge for grpc; for grpcs TLS verified
	// as tls_verify and ca_certificates say, with the service host as the
	// server name (SNI and verification), not the target address. Dials
	// and TLS handshakes are bounded by connect_timeout, writes stalled
	// for write_timeout close the connection. Services whose settings are
	// equal share one, and a reload keeps the previous snapshot's when they
	// are unchanged, so warm connections survive it. The proxy closes the
	// idle connections of a replaced one when it first uses the new
	// snapshot's; left alone they would end after 60 s idle.
	H2 *http.Transport
	// h2Key identifies H2's settings, for that sharing.
	h2Key string
}

// Chain is a route's plugins in priority order, split by phase. A step has
// the instance that applies without a consumer and the instances that
// replace it for specific consumers (Kong's scope precedence).
type Chain struct {
	Access []Step
	// Fallback are the plugins that may answer in place of the
	// upstream (plugin.Fallback).
	Fallback []Step
	Header   []Step
	Body     []Step
	Log      []Step
	// Names lists every plugin that may run on this route, in order.
	Names []string
}

// Step is one plugin in a phase.
type Step struct {
	Name       string
	Base       plugin.Instance
	ByConsumer map[string]plugin.Instance
	// BaseScope names the scope Base was configured at ("global",
	// "service", "route", "route+service"), BaseSource its config path
	// (`plugins[2]`); ConsumerScopes the same per consumer id. For explain
	// and the admin API, not the hot path.
	BaseScope      string
	BaseSource     string
	ConsumerScopes map[string]string
}

// Resolve returns the instance for the current consumer, or nil when the
// plugin does not apply.
func (s *Step) Resolve(c *plugin.Ctx) plugin.Instance {
	if s.ByConsumer != nil && c.Consumer != nil {
		if inst, ok := s.ByConsumer[c.Consumer.ID]; ok {
			return inst
		}
	}
	return s.Base
}

// Holder is the atomic pointer to the snapshot in force.
type Holder struct {
	p atomic.Pointer[Snapshot]
}

// Load returns the snapshot in force (nil before the first Store).
func (h *Holder) Load() *Snapshot { return h.p.Load() }

// Store puts s in force.
func (h *Holder) Store(s *Snapshot) { h.p.Store(s) }

// Reloaded tells the plugin instances s kept from old that a new
// configuration is in force (plugin.Reloader), and starts the ones s
// built (plugin.Starter). A recompile of the same configuration (after a
// DNS change) is no reload: it keeps every instance, and nothing is told.
func Reloaded(old, s *Snapshot) {
	if s == nil || (old != nil && old.Model == s.Model) {
		return
	}
	kept := map[plugin.Instance]bool{}
	if old != nil {
		for _, inst := range old.Instances {
			kept[inst] = true
		}
	}
	next := plugin.Reload{Directory: s.Directory}
	told := make(map[plugin.Instance]bool, len(s.Instances))
	for _, inst := range s.Instances {
		if told[inst] {
			continue
		}
		told[inst] = true
		if !kept[inst] {
			if st, ok := inst.(plugin.Starter); ok {
				st.Start()
			}
			continue
		}
		if r, ok := inst.(plugin.Reloader); ok {
			r.Reloaded(next)
		}
	}
}

// Release closes the plugin instances of s that keep does not use (keep may
// be nil: close them all). The loader calls it on the snapshot a reload
// replaced, on a dry run's snapshot and at shutdown. The instances close
// at once and Release waits for all: each log queue flushing what it
// holds gets its whole flush timeout, and ten dead collectors cost one
// timeout, not ten.
func Release(s, keep *Snapshot) {
	if s == nil {
		return
	}
	var kept map[plugin.Instance]bool
	if keep != nil {
		kept = make(map[plugin.Instance]bool, len(keep.Instances))
		for _, inst := range keep.Instances {
			kept[inst] = true
		}
	}
	var wg sync.WaitGroup
	for _, inst := range s.Instances {
		if cl, ok := inst.(plugin.Closer); ok && !kept[inst] {
			wg.Go(cl.Close)
		}
	}
	wg.Wait()
}
