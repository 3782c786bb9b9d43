package config

// The entity types below mirror Kong's declarative format 3.0 field for field.
// Their `admin` tags say how the admin API shows a field (admin/render.go).
// Defaults are Kong's (kong/db/schema/entities/*.lua) and are applied by
// SetDefaults before a YAML/JSON node is decoded over the value, so a field
// the user leaves out keeps Kong's default. Pointers mark the few fields whose
// absence must be told apart from their zero value.

// Config is one declarative configuration file.
type Config struct {
	FormatVersion string `yaml:"_format_version"`
	Transform     *bool  `yaml:"_transform"`
	Meta          `yaml:",inline"`
	Info          Raw `yaml:"_info"`

	Services       []Service       `yaml:"services"`
	Routes         []Route         `yaml:"routes"`
	Consumers      []Consumer      `yaml:"consumers"`
	Plugins        []Plugin        `yaml:"plugins"`
	Upstreams      []Upstream      `yaml:"upstreams"`
	Targets        []Target        `yaml:"targets"`
	Certificates   []Certificate   `yaml:"certificates"`
	CACertificates []CACertificate `yaml:"ca_certificates"`
	SNIs           []SNI           `yaml:"snis"`

	Vaults []Vault `yaml:"vaults"`

	declared declaredCredentials
}

// Meta is what Kong allows besides the fields, on every entity and at the
// top of the file: a comment, and a list of anything (where YAML anchors
// can live). Both are checked for their type and otherwise ignored.
type Meta struct {
	Comment string `yaml:"_comment"`
	Ignore  []Raw  `yaml:"_ignore"`
}

// Ref is a foreign key given by name or id: `service: my-svc`,
// `service: {name: my-svc}` or `service: {id: 6f1c...}`.
type Ref struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
}

// Key returns the reference as given (id wins over name).
func (r *Ref) Key() string {
	if r == nil {
		return ""
	}
	if r.ID != "" {
		return r.ID
	}
	return r.Name
}

// Service is an upstream API (Kong `services`).
type Service struct {
	Meta           `yaml:",inline"`
	ID             string   `yaml:"id"`
	Name           string   `yaml:"name"`
	URL            string   `yaml:"url"`
	Protocol       string   `yaml:"protocol"`
	Host           string   `yaml:"host"`
	Port           int      `yaml:"port"`
	Path           string   `yaml:"path"`
	Retries        int      `yaml:"retries"`
	ConnectTimeout int      `yaml:"connect_timeout"`
	WriteTimeout   int      `yaml:"write_timeout"`
	ReadTimeout    int      `yaml:"read_timeout"`
	Enabled        bool     `yaml:"enabled"`
	Tags           []string `yaml:"tags"`
	ClientCert     *Ref     `yaml:"client_certificate"`
	TLSVerify      *bool    `yaml:"tls_verify"`
	TLSVerifyDepth *int     `yaml:"tls_verify_depth"`
	CACertificates []string `yaml:"ca_certificates"`
	CreatedAt      int64    `yaml:"created_at"`
	UpdatedAt      int64    `yaml:"updated_at"`
	Routes         []Route  `yaml:"routes"`
	Plugins        []Plugin `yaml:"plugins"`
}

// SetDefaults applies Kong's service defaults.
func (s *Service) SetDefaults() {
	s.Protocol = "http"
	s.Port = 80
	s.Retries = 5
	s.ConnectTimeout = 60000
	s.WriteTimeout = 60000
	s.ReadTimeout = 60000
	s.Enabled = true
}

// Route matches requests to a service (Kong `routes`).
type Route struct {
	Meta                    `yaml:",inline"`
	ID                      string              `yaml:"id"`
	Name                    string              `yaml:"name"`
	Protocols               []string            `yaml:"protocols"`
	Methods                 []string            `yaml:"methods"`
	Hosts                   []string            `yaml:"hosts"`
	Paths                   []string            `yaml:"paths"`
	Headers                 map[string][]string `yaml:"headers"`
	SNIs                    []string            `yaml:"snis"`
	Sources                 []Endpoint          `yaml:"sources"`
	Destinations            []Endpoint          `yaml:"destinations"`
	HTTPSRedirectStatusCode int                 `yaml:"https_redirect_status_code"`
	StripPath               *bool               `yaml:"strip_path"`
	PreserveHost            bool                `yaml:"preserve_host"`
	RequestBuffering        bool                `yaml:"request_buffering"`
	ResponseBuffering       bool                `yaml:"response_buffering"`
	RegexPriority           int                 `yaml:"regex_priority"`
	PathHandling            string              `yaml:"path_handling"`
	Service                 *Ref                `yaml:"service"`
	Tags                    []string            `yaml:"tags"`
	CreatedAt               int64               `yaml:"created_at"`
	UpdatedAt               int64               `yaml:"updated_at"`
	// URL is the shorthand used outside Kong: a route that carries its own
	// upstream instead of naming a service. It compiles to an implicit service.
	URL     string   `yaml:"url"`
	Plugins []Plugin `yaml:"plugins"`
}

// SetDefaults applies Kong's route defaults. strip_path stays nil so that
// grpc routes can reject an explicit value; StripPathValue resolves it.
func (r *Route) SetDefaults() {
	r.Protocols = []string{"http", "https"}
	r.HTTPSRedirectStatusCode = 426
	r.RequestBuffering = true
	r.ResponseBuffering = true
	r.PathHandling = "v0"
}

// StripPathValue is strip_path with Kong's default (true, false for grpc).
func (r *Route) StripPathValue() bool {
	if r.StripPath != nil {
		return *r.StripPath
	}
	for _, p := range r.Protocols {
		if p == "grpc" || p == "grpcs" {
			return false
		}
	}
	return true
}

// Endpoint is a source or destination of a stream route.
type Endpoint struct {
	IP   string `yaml:"ip"`
	Port int    `yaml:"port"`
}

// Consumer is an API client (Kong `consumers`).
type Consumer struct {
	Meta      `yaml:",inline"`
	ID        string   `yaml:"id"`
	Username  string   `yaml:"username" admin:"nullzero"`
	CustomID  string   `yaml:"custom_id" admin:"nullzero"`
	Tags      []string `yaml:"tags" admin:"nullzero"`
	CreatedAt int64    `yaml:"created_at" admin:"loadtime"`
	UpdatedAt int64    `yaml:"updated_at" admin:"loadtime"`
	Plugins   []Plugin `yaml:"plugins" admin:"-"`
	// declared are the credentials nested in the consumer, which belong
	// to it.
	declared declaredCredentials
}

// Plugin is a plugin instance at some scope (Kong `plugins`).
type Plugin struct {
	Meta         `yaml:",inline"`
	ID           string   `yaml:"id"`
	Name         string   `yaml:"name"`
	InstanceName string   `yaml:"instance_name" admin:"nullzero"`
	Route        *Ref     `yaml:"route" admin:"-"`
	Service      *Ref     `yaml:"service" admin:"-"`
	Consumer     *Ref     `yaml:"consumer" admin:"-"`
	Config       Raw      `yaml:"config" admin:"-"`
	Protocols    []string `yaml:"protocols"`
	Enabled      bool     `yaml:"enabled"`
	Tags         []string `yaml:"tags" admin:"nullzero"`
	CreatedAt    int64    `yaml:"created_at" admin:"loadtime"`
	UpdatedAt    int64    `yaml:"updated_at" admin:"loadtime"`
}

// SetDefaults applies Kong's plugin defaults.
func (p *Plugin) SetDefaults() {
	p.Enabled = true
	p.Protocols = []string{"grpc", "grpcs", "http", "https"}
}

// Upstream is a virtual host name balanced over targets (Kong `upstreams`).
type Upstream struct {
	Meta                   `yaml:",inline"`
	ID                     string       `yaml:"id"`
	Name                   string       `yaml:"name"`
	Algorithm              string       `yaml:"algorithm"`
	HashOn                 string       `yaml:"hash_on"`
	HashFallback           string       `yaml:"hash_fallback"`
	HashOnHeader           string       `yaml:"hash_on_header" admin:"nullzero"`
	HashFallbackHeader     string       `yaml:"hash_fallback_header" admin:"nullzero"`
	HashOnCookie           string       `yaml:"hash_on_cookie" admin:"nullzero"`
	HashOnCookiePath       string       `yaml:"hash_on_cookie_path"`
	HashOnQueryArg         string       `yaml:"hash_on_query_arg" admin:"nullzero"`
	HashFallbackQueryArg   string       `yaml:"hash_fallback_query_arg" admin:"nullzero"`
	HashOnURICapture       string       `yaml:"hash_on_uri_capture" admin:"nullzero"`
	HashFallbackURICapture string       `yaml:"hash_fallback_uri_capture" admin:"nullzero"`
	Slots                  int          `yaml:"slots"`
	Healthchecks           Healthchecks `yaml:"healthchecks"`
	HostHeader             string       `yaml:"host_header" admin:"nullzero"`
	ClientCert             *Ref         `yaml:"client_certificate"`
	UseSRVName             bool         `yaml:"use_srv_name"`
	Tags                   []string     `yaml:"tags" admin:"nullzero"`
	CreatedAt              int64        `yaml:"created_at" admin:"loadtime"`
	UpdatedAt              int64        `yaml:"updated_at" admin:"loadtime"`
	Targets                []Target     `yaml:"targets" admin:"-"`
}

// SetDefaults applies Kong's upstream defaults.
func (u *Upstream) SetDefaults() {
	u.Algorithm = "round-robin"
	u.HashOn = "none"
	u.HashFallback = "none"
	u.HashOnCookiePath = "/"
	u.Slots = 10000
}

// Healthchecks is Kong's upstream health-check block. It is decoded and
// validated here; the checkers themselves belong to internal/upstream.
type Healthchecks struct {
	Threshold float64      `yaml:"threshold"`
	Active    ActiveCheck  `yaml:"active"`
	Passive   PassiveCheck `yaml:"passive"`
}

// ActiveCheck configures probes.
type ActiveCheck struct {
	Type                   string              `yaml:"type"`
	Timeout                float64             `yaml:"timeout"`
	Concurrency            int                 `yaml:"concurrency"`
	HTTPPath               string              `yaml:"http_path"`
	HTTPSSNI               string              `yaml:"https_sni"`
	HTTPSVerifyCertificate bool                `yaml:"https_verify_certificate"`
	Headers                map[string][]string `yaml:"headers"`
	Healthy                ActiveHealthy       `yaml:"healthy"`
	Unhealthy              ActiveUnhealthy     `yaml:"unhealthy"`
}

// SetDefaults applies Kong's active health-check defaults.
func (a *ActiveCheck) SetDefaults() {
	a.Type = "http"
	a.Timeout = 1
	a.Concurrency = 10
	a.HTTPPath = "/"
	a.HTTPSVerifyCertificate = true
}

// ActiveHealthy is the healthy side of active checks.
type ActiveHealthy struct {
	Interval     float64 `yaml:"interval"`
	HTTPStatuses []int   `yaml:"http_statuses"`
	Successes    int     `yaml:"successes"`
}

// SetDefaults applies Kong's defaults.
func (h *ActiveHealthy) SetDefaults() { h.HTTPStatuses = []int{200, 302} }

// ActiveUnhealthy is the unhealthy side of active checks.
type ActiveUnhealthy struct {
	Interval     float64 `yaml:"interval"`
	HTTPStatuses []int   `yaml:"http_statuses"`
	TCPFailures  int     `yaml:"tcp_failures"`
	Timeouts     int     `yaml:"timeouts"`
	HTTPFailures int     `yaml:"http_failures"`
}

// SetDefaults applies Kong's defaults.
func (h *ActiveUnhealthy) SetDefaults() {
	h.HTTPStatuses = []int{429, 404, 500, 501, 502, 503, 504, 505}
}

// PassiveCheck counts real traffic outcomes.
type PassiveCheck struct {
	Type      string           `yaml:"type"`
	Healthy   PassiveHealthy   `yaml:"healthy"`
	Unhealthy PassiveUnhealthy `yaml:"unhealthy"`
}

// SetDefaults applies Kong's defaults.
func (p *PassiveCheck) SetDefaults() { p.Type = "http" }

// PassiveHealthy is the healthy side of passive checks.
type PassiveHealthy struct {
	HTTPStatuses []int `yaml:"http_statuses"`
	Successes    int   `yaml:"successes"`
}

// SetDefaults applies Kong's defaults.
func (h *PassiveHealthy) SetDefaults() {
	h.HTTPStatuses = []int{200, 201, 202, 203, 204, 205, 206, 207, 208, 226,
		300, 301, 302, 303, 304, 305, 306, 307, 308}
}

// PassiveUnhealthy is the unhealthy side of passive checks.
type PassiveUnhealthy struct {
	HTTPStatuses []int `yaml:"http_statuses"`
	TCPFailures  int   `yaml:"tcp_failures"`
	Timeouts     int   `yaml:"timeouts"`
	HTTPFailures int   `yaml:"http_failures"`
}

// SetDefaults applies Kong's defaults.
func (h *PassiveUnhealthy) SetDefaults() { h.HTTPStatuses = []int{429, 500, 503} }

// Target is one backend address of an upstream (Kong `targets`).
type Target struct {
	Meta      `yaml:",inline"`
	ID        string   `yaml:"id"`
	Target    string   `yaml:"target"`
	Weight    int      `yaml:"weight"`
	Upstream  *Ref     `yaml:"upstream" admin:"-"`
	Tags      []string `yaml:"tags" admin:"nullzero"`
	CreatedAt float64  `yaml:"created_at" admin:"loadtime"`
	UpdatedAt float64  `yaml:"updated_at" admin:"-"`
}

// SetDefaults applies Kong's defaults.
func (t *Target) SetDefaults() { t.Weight = 100 }

// Certificate is a PEM certificate and key pair (Kong `certificates`).
type Certificate struct {
	Meta      `yaml:",inline"`
	ID        string   `yaml:"id"`
	Cert      string   `yaml:"cert"`
	Key       string   `yaml:"key" admin:"-"`
	CertAlt   string   `yaml:"cert_alt" admin:"nullzero"`
	KeyAlt    string   `yaml:"key_alt" admin:"-"`
	Tags      []string `yaml:"tags" admin:"nullzero"`
	CreatedAt int64    `yaml:"created_at" admin:"loadtime"`
	UpdatedAt int64    `yaml:"updated_at" admin:"loadtime"`
	// SNIs nested in a certificate are plain names (or SNI objects).
	SNIs []SNI `yaml:"snis" admin:"-"`
}

// CACertificate is a trusted CA (Kong `ca_certificates`).
type CACertificate struct {
	Meta       `yaml:",inline"`
	ID         string   `yaml:"id"`
	Cert       string   `yaml:"cert"`
	CertDigest string   `yaml:"cert_digest"`
	Tags       []string `yaml:"tags"`
	CreatedAt  int64    `yaml:"created_at"`
	UpdatedAt  int64    `yaml:"updated_at"`
}

// SNI maps a server name to a certificate (Kong `snis`).
type SNI struct {
	Meta        `yaml:",inline"`
	ID          string   `yaml:"id"`
	Name        string   `yaml:"name"`
	Certificate *Ref     `yaml:"certificate"`
	Tags        []string `yaml:"tags"`
	CreatedAt   int64    `yaml:"created_at"`
	UpdatedAt   int64    `yaml:"updated_at"`
}
