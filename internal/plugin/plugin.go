package plugin

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnpikegw/turnpike/internal/store"
)

// Registration describes one plugin to the registry.
type Registration struct {
	// Name is the Kong plugin name (`rate-limiting`, `cors`...).
	Name string
	// Priority orders plugins within a phase, highest first (Kong's table).
	Priority int
	// NewConfig returns a pointer to a fresh typed config. Structs in it may
	// implement SetDefaults(); the loader calls it before decoding the user's
	// values over it, so absent fields keep their defaults.
	NewConfig func() any
	// New validates the decoded config and builds the runnable instance.
	// Validation problems are returned as Errors with paths relative to
	// the plugin's `config` (e.g. "origins[1]"); the caller prefixes them.
	New func(cfg any, env Env) (Instance, error)
	// NoConsumer forbids consumer-scoped instances (Kong's no_consumer).
	NoConsumer bool
	// Admin are the routes the plugin adds to the admin API (nil: none).
	Admin []AdminRoute
	// Credentials are the credential kinds the plugin owns.
	Credentials []CredentialKind
	// Secrets, of an auth plugin, names the headers and query arguments
	// a decoded config reads credentials from, which logs redact on
	// every request (nil: none).
	Secrets func(cfg any) (headers, query []string)
}

// Env carries what a plugin instance may depend on: generic services
// only, none of them for one plugin. Dependencies are passed explicitly;
// there is no package-level state.
type Env struct {
	// PluginID is the id of the plugin entry being built (configured, or
	// derived from its name and scope: the same on every node running the
	// same file, and across reloads).
	PluginID string
	Logger   *slog.Logger
	// Metrics is the gateway's Prometheus registry, served on the admin
	// API's /metrics: a plugin registers its own series there, through
	// RegisterMetric (nil in dry runs and unit tests: record nothing).
	Metrics prometheus.Registerer
	// Store hands out state shared beyond one instance, such as Redis
	// clients by connection settings, so the instances of one
	// configuration and of the next after a reload share connections
	// (nil in dry runs: instances make their own).
	Store *store.Provider
	// Certificates finds the certificates and CA certificates of the
	// configuration being compiled (nil finds nothing). The compiler
	// notes what a build looked up: a reload that changes one of them
	// builds the instance anew even when its config is unchanged.
	Certificates Certificates
	// HTTPClient makes outbound calls (key sets, introspection, log
	// shipping): one client with the gateway's timeouts and connection
	// pool (nil in unit tests: make your own).
	HTTPClient *http.Client
	// Node reads node-wide facts (connections, target health, datastore)
	// at scrape time (nil in dry runs and unit tests: none to report).
	Node Node
	// AccessLog takes whole log lines to the access log's destination
	// (standard output by default), through its queue: for log plugins
	// whose lines go where the gateway's own do (nil in dry runs and unit
	// tests).
	AccessLog LineWriter
	// Services are the ids of the services the plugin entry applies to:
	// its service's, or its route's (nil for a global or consumer-only
	// entry).
	Services []string
	// Upstreams sends requests of the plugin's own to a service's
	// upstream (a gRPC transcoder asking the server's reflection service
	// for its descriptors, aggregation's backend calls); nil in dry runs
	// and unit tests.
	Upstreams Upstreams
	// ServiceIDs resolves the service names of the configuration being
	// compiled to their ids (nil resolves none). As with Certificates,
	// the compiler notes what a build resolved: a reload that gives a
	// name another id, or removes it, builds the instance anew.
	ServiceIDs ServiceIDs
}

// ServiceIDs finds a service of a configuration by name.
type ServiceIDs interface {
	ServiceID(name string) (id string, ok bool)
}

// Upstreams reaches the upstreams of the configuration in force the way
// the proxy does: a target the service's balancer picks (hashing on
// req's headers, cookies and query where the upstream hashes on them),
// the service's TLS settings (client certificate, tls_verify,
// ca_certificates) and timeouts, and passive health reports. grpc and
// grpcs services are reached over HTTP/2; http and https services over
// the proxy's HTTP/1.1 client, with the service's path joined before
// req's, the Host the proxy sends without preserve_host, and the
// service's retries: a connection that could not be made goes to another
// target for any method, other failures before the response head only
// for idempotent methods without a body, with the proxy's backoff.
type Upstreams interface {
	// RoundTrip sends req to a target of the service with the given id
	// (ServiceIDs finds the id of a name); req.URL needs only its path
	// (and query). The caller bounds the exchange with req's context and
	// closes the response body. The response's Request.URL.Host is the
	// address of the target that answered.
	RoundTrip(serviceID string, req *http.Request) (*http.Response, error)
}

// LineWriter takes finished log lines. WriteLine copies b (the caller may
// reuse it at once), queues it and returns without waiting: when the
// queue is full the line is dropped and counted.
type LineWriter interface {
	WriteLine(b []byte)
}

// Certificates looks up the `certificates` and `ca_certificates`
// entities of a configuration by id.
type Certificates interface {
	Certificate(id string) (*tls.Certificate, bool)
	CACertificate(id string) (*x509.Certificate, bool)
}

// RegisterMetric registers c in r and returns it, or the equal collector
// registered before (by another instance of the same plugin, or before a
// reload), so that every instance records into one series. A collector
// that clashes with another (same name, other labels or help) is a bug.
func RegisterMetric[C prometheus.Collector](r prometheus.Registerer, c C) C {
	err := r.Register(c)
	var dup prometheus.AlreadyRegisteredError
	if errors.As(err, &dup) {
		if prev, ok := dup.ExistingCollector.(C); ok {
			return prev
		}
	}
	if err != nil {
		panic(err)
	}
	return c
}

// Instance is a configured plugin. It implements one or more of Accessor,
// Fallback, HeaderFilter, BodyFilter and Logger.
type Instance any

// Closer is implemented by instances that hold resources (goroutines,
// connections). The gateway calls Close once, when no snapshot it will
// route new requests through uses the instance any more: after a reload
// replaced it, after a dry run built it, when a config failed to compile
// and at shutdown; the instances of one snapshot close concurrently, so
// what Close shares with other instances needs its own locking. Requests
// already in flight may still call the instance afterwards; it must
// answer them without its resources (fail open or closed as its config
// says) rather than panic.
type Closer interface {
	Close()
}

// Reloader is implemented by instances that hold state derived from the
// configuration beyond their own config (the jwt plugin: the key sets its
// credentials name). When a reload keeps such an instance, Reloaded is
// called after the new configuration is in force, with what it holds.
// A recompile of the same configuration (after a DNS change) is no
// reload.
type Reloader interface {
	Reloaded(next Reload)
}

// Starter is implemented by instances with work to begin once their
// configuration is in force: Start is called once, after the swap, on
// each instance the load built (a kept instance is told Reloaded
// instead; a dry run's are never started). The grpc-gateway plugin asks
// its services' upstreams for their descriptors. Start must not block.
type Starter interface {
	Start()
}

// Reload is what a kept instance learns of the configuration now in
// force.
type Reload struct {
	// Directory is its consumers and credentials; Directory.Credentials
	// lists a kind's.
	Directory Directory
}

// TLSUser is implemented by instances that need something of the TLS
// handshake of the requests they see. The TLS listener honours the needs
// on the server names of the routes the instance applies to.
type TLSUser interface {
	TLSNeeds() TLSNeeds
}

// TLSNeeds is what an instance asks of TLS handshakes.
type TLSNeeds struct {
	// ClientCertificate asks clients for a certificate (it only asks;
	// the instance verifies).
	ClientCertificate bool
	// ClientCAs are the CA certificates whose names the certificate
	// request carries (nil: none).
	ClientCAs []*x509.Certificate
}

// Accessor runs in the access phase, before the request is proxied. It may
// change the upstream request through the Ctx, or answer the request itself
// by returning an *Exit (any other error is answered as a 500).
type Accessor interface {
	Access(c *Ctx) error
}

// HeaderFilter runs when the response status and headers are known (from the
// upstream or from an Exit), before they are sent to the client.
type HeaderFilter interface {
	HeaderFilter(c *Ctx)
}

// BodyFilter wraps the response body stream. It is called after every
// HeaderFilter; a filter that changes the length must delete Content-Length
// from c.Resp.Header in its HeaderFilter. The status and header go to the
// client only once the first Read of the wrapped body has returned, so a
// filter may still set c.Resp.Status and c.Resp.Header in its first Read
// (a gRPC transcoder reads a unary answer whole and answers with the
// status its trailer names). c.Resp.Trailer is set once the reader it
// wraps has returned io.EOF; a filter that rendered the trailer into the
// body (gRPC-Web, a transcoder) sets it to nil, and the client then gets
// no HTTP trailer.
type BodyFilter interface {
	BodyFilter(c *Ctx, body io.Reader) io.Reader
}

// ExitBodyFilter is implemented by body filters that also re-encode the
// body of a gateway answer (an Exit with a Body: a cache hit): ExitBody
// gets the whole body once every header filter ran, before the head goes
// out, and returns the body to send (the proxy sets Content-Length from
// it); it may change c.Resp.Header. A response compressor is the one use:
// an Exit's body does not pass through BodyFilter.
type ExitBodyFilter interface {
	ExitBody(c *Ctx, body []byte) []byte
}

// Fallback is implemented by instances that may answer in place of the
// upstream (a cache serving a stale entry when the upstream failed or
// answered an error). Fallback is called once the upstream's answer is
// known and before any header filter: c.Resp.Status is the status about
// to be sent, c.Resp.Header the upstream's headers (empty when the
// gateway answers for a failed upstream), c.Upstream tells a failure
// (Failed, TimedOut) from an answer, and c.Resp.FromUpstream is true for
// the upstream's own answer. A non-nil Exit is sent instead, its Body as
// is; the upstream's body is discarded. The route's instances are asked
// in priority order; the first Exit wins. It is called for every
// proxied response, so it must be cheap when it has nothing to do, and
// for the gateway's 502, 503 and 504 answers for a failed, timed-out or
// target-less upstream (again, when an upstream body fails before its
// first byte); not for Exits of the access phase.
type Fallback interface {
	Fallback(c *Ctx) *Exit
}

// Logger runs after the response has been written to the client.
type Logger interface {
	Log(c *Ctx)
}

// FieldError builds a validation error for a plugin config field.
func FieldError(path, msg string) error {
	return Errors{{Path: path, Message: msg}}
}

// Exit is a response produced by the gateway or a plugin instead of the
// upstream. It is rendered in one place, Kong's way.
type Exit struct {
	Status int
	// Message is rendered with Kong's error template, content-negotiated by
	// the request's Accept header, with the request id
	// (kong.response.error semantics).
	Message string
	// Body, when non-nil, is sent as is with ContentType
	// (kong.response.exit semantics, no request id).
	Body        []byte
	ContentType string
	// Header is added to the response.
	Header http.Header
}

func (e *Exit) Error() string {
	if e.Message != "" {
		return http.StatusText(e.Status) + ": " + e.Message
	}
	return http.StatusText(e.Status)
}

// NewExit returns an Exit rendered with Kong's error template.
func NewExit(status int, message string) *Exit {
	return &Exit{Status: status, Message: message}
}
