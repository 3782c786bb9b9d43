package config

import "crypto/x509"

// Model is a loaded configuration with nested entities flattened, foreign
// keys resolved and shorthands (service `url`, route `url`) expanded. Every
// entry keeps the field path it came from, so that later stages (plugin
// config decoding in snapshot) can report errors the same way.
type Model struct {
	FormatVersion string
	Services      []*ServiceEntry
	Routes        []*RouteEntry
	Consumers     []*ConsumerEntry
	Plugins       []*PluginEntry
	Upstreams     []*UpstreamEntry
	Certificates  []*CertificateEntry
	CACerts       []*CACertEntry
	// Credentials, nested ones (in consumer order) before top-level ones,
	// each with its consumer resolved, kind by kind in declaration order
	// within each consumer and at the top level.
	Credentials []*CredentialEntry
	// Warnings are what the configuration holds that Kong accepts but the
	// user should know about; they never stop it from loading. Values
	// from the environment are hidden in them as in errors.
	Warnings []FieldError
	// Hash is a stable hex digest of the source document (for the admin API).
	Hash string
	// Source is the document as given (for GET /config).
	Source []byte
	// redaction hides the values taken from the environment (nil when
	// there are none).
	redaction *redaction
	// memberships counts the Credentials of PerConsumer kinds (acls):
	// group memberships, which Summary does not count as credentials.
	memberships int
}

// Redact hides the values taken from the environment (vault references,
// `${NAME}`) in errors found after Parse (plugin configs), as Parse does
// in its own: a message about a field from the environment is replaced by
// a neutral text naming the field as written.
func (m *Model) Redact(es Errors) Errors { return m.redaction.apply(es, errorText) }

// ServiceEntry is a service with its `url` expanded into protocol, host,
// port and path. Implicit services made for a route's `url:` shorthand have
// Implicit set and the route's path.
type ServiceEntry struct {
	Path     string // e.g. "services[2]", or "routes[0]" for an implicit service
	ID       string // configured or derived (ids.go), set when the model is built
	Service  *Service
	Implicit bool
	// Upstream is set when Service.Host names a configured upstream.
	Upstream *UpstreamEntry
}

// RouteEntry is a route with its service resolved (nil when the route has
// none, which Kong allows; such a route answers 503 when matched).
type RouteEntry struct {
	Path    string
	ID      string // configured or derived (ids.go), set when the model is built
	Route   *Route
	Service *ServiceEntry
}

// ConsumerEntry is a consumer.
type ConsumerEntry struct {
	Path     string
	ID       string // configured or derived (ids.go), set when the model is built
	Consumer *Consumer
}

// PluginEntry is a plugin instance with its scope resolved. Nested plugins
// get the scope of the entity they are nested in.
type PluginEntry struct {
	Path     string
	ID       string // configured or derived (ids.go), set when the model is built
	Plugin   *Plugin
	Service  *ServiceEntry
	Route    *RouteEntry
	Consumer *ConsumerEntry
}

// UpstreamEntry is an upstream with its targets, nested and top-level.
type UpstreamEntry struct {
	Path     string
	ID       string // configured or derived (ids.go), set when the model is built
	Upstream *Upstream
	Targets  []*TargetEntry
}

// TargetEntry is a target; Host and Port are parsed from Target.Target
// (port defaults to 8000, as Kong's).
type TargetEntry struct {
	Path   string
	ID     string // configured or derived (ids.go), set when the model is built
	Target *Target
	Host   string
	Port   int
}

// CertificateEntry is a certificate with the SNI names that select it.
type CertificateEntry struct {
	Path        string
	ID          string // configured or derived (ids.go), set when the model is built
	Certificate *Certificate
	// SNIs are the SNI entities, nested and top-level, in file order.
	SNIs []*SNI
}

// SNINames are the names of the certificate's SNIs, in file order.
func (e *CertificateEntry) SNINames() []string {
	var names []string
	for _, s := range e.SNIs {
		names = append(names, s.Name)
	}
	return names
}

// CACertEntry is a trusted CA certificate, parsed: X509 is nil and Digest
// empty when it did not validate.
type CACertEntry struct {
	Path   string
	CACert *CACertificate
	X509   *x509.Certificate
	// Digest is the hex SHA-256 of the certificate's DER (Kong's
	// cert_digest).
	Digest string
}
