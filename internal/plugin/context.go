package plugin

import (
	"net/http"
	"time"

	"github.com/turnpikegw/turnpike/internal/record"
)

// Ctx is the per-request state shared by the gateway and the plugins. It is
// pooled: plugins must not keep it after the phase call returns. The value
// slices of Req.Header and Resp.Header may be the request's pooled memory
// too: a plugin that keeps a header past its request keeps a copy
// (http.Header.Clone), never the map or a []string of it.
type Ctx struct {
	// Req is the client's request. Its Header is the header set that will be
	// sent upstream (hop-by-hop and client-sent identity headers are already
	// gone); plugins edit it in place. Req.Body may be replaced (set
	// Req.ContentLength accordingly).
	Req *http.Request

	// Upstream request line: plugins change these rather than Req.URL.
	Method string
	// Path is the upstream path, already joined with the service path and
	// stripped as the route asks, percent-encoded as it will be sent.
	Path string
	// RawQuery is the upstream query string without '?'.
	RawQuery string
	// UpstreamHost, when set, is the Host sent upstream, overriding both the
	// service's host and the route's preserve_host.
	UpstreamHost string
	// Target, when set by an access plugin, sends the request to that
	// upstream instead of the service's (one of the plugin's declared
	// targets, Retargeter; any other value is ignored).
	Target *Target
	// ClientPath is the client's request path after normalisation, before
	// strip_path and service-path joining (what the router matched).
	ClientPath string

	RequestID string
	// ClientIP is the address of the connection's peer.
	ClientIP string
	// ForwardedIP is the client's address as a trusted proxy reports it
	// (Kong's kong.client.get_forwarded_ip): from the real-IP header when
	// the peer is in trusted_ips, otherwise ClientIP.
	ForwardedIP string
	// Scheme is the client-facing scheme, http or https.
	Scheme string
	// TrustedPeer is set when the connection's peer is in trusted_ips:
	// its X-Forwarded-* headers are believed (Kong's kong.ip.is_trusted).
	TrustedPeer bool
	// StartedAt is when the gateway received the request.
	StartedAt time.Time

	Route   *RouteInfo
	Service *ServiceInfo
	// Directory is the configuration's consumers and credentials.
	Directory Directory
	Consumer  *Consumer
	// Credential identifies the credential that authenticated the consumer.
	Credential string

	// Claims are the claims of the token an auth plugin (jwt) verified for
	// this request; nil when none was.
	Claims Claims

	// Captures are the matched route's regex captures.
	Captures Captures

	// Upstream is what the last attempt on the upstream ended with (empty
	// when the request never reached one), for log-phase plugins such as
	// circuit breakers.
	Upstream UpstreamResult

	// Resp is the response being sent, filled before header filters run;
	// Resp.Header is the client response's header map itself.
	Resp Response

	// Record is the request's record, filled as the request flows and
	// complete (status, sizes, latency, attempts) when the log phase
	// runs. Plugins read it, and may add calls (Record.AddCall) or set
	// TraceID; it is pooled with the Ctx.
	Record *record.Record

	// GatewayHeaders are the canonical names of the request headers the
	// gateway itself sets for the upstream after the access phase
	// (X-Forwarded-*, X-Real-IP, Via, the request id header), nil before
	// then. Kong logs the client's headers, not these (NGINX sets them on
	// the upstream request only), and so do the log plugins.
	GatewayHeaders []string

	// Secrets are the header and query names that carry credentials
	// under the configuration in force (secrets.go); log plugins ask
	// SecretHeader and SecretQuery rather than read it.
	Secrets *Secrets

	// Shared lets plugins of one request pass values to each other's later
	// phases, keyed by plugin name. Allocated on first use; the proxy
	// hands the next request the same map emptied (ReleaseShared).
	Shared map[string]any

	// logValues[:nLogValues] are the log object's added fields
	// (logvalues.go).
	logValues  [MaxLogValues]LogValue
	nLogValues int

	// identity holds the values of the consumer headers Authenticate
	// sets, each header a full-capacity slice of it (an append copies):
	// they are the request's own header map's, written upstream before
	// the request ends.
	identity [4]string
}

// UpstreamResult is the outcome of the last upstream attempt.
type UpstreamResult struct {
	// Addr is the target's host:port ("" when no target was tried).
	Addr string
	// Status is the upstream's HTTP status (0 when none was received).
	Status int
	// Failed is true for a connect failure, reset or timeout.
	Failed bool
	// TimedOut is true for a connect or read timeout.
	TimedOut bool
	// Latency is the time to the response head of the last attempt.
	Latency time.Duration
	// Tries is the number of attempts made.
	Tries int
}

// Response is the response on its way to the client.
type Response struct {
	Status int
	Header http.Header
	// FromUpstream is false when the gateway or a plugin produced it.
	FromUpstream bool
	// Size is the number of body bytes sent to the client (set before Log).
	Size int64
	// Trailer is the upstream response's trailer (gRPC's status), set
	// once its body was read to the end: for Log, and for body filters
	// after their reader returned io.EOF. Read-only; nil when there is none.
	Trailer http.Header
}

// RouteInfo is what plugins may know about the matched route.
type RouteInfo struct {
	ID   string
	Name string
	// Paths are the route's configured paths (for logs and metrics).
	Paths []string
	// Entity is the route as Kong's kong.router.get_route() gives it,
	// JSON-encoded (nil in tests that build a RouteInfo by hand).
	Entity *Rendered
}

// ServiceInfo is what plugins may know about the route's service.
type ServiceInfo struct {
	ID       string
	Name     string
	Protocol string
	Host     string
	Port     int
	Path     string
	// Entity is the service as Kong's kong.router.get_service() gives it,
	// JSON-encoded (nil in tests that build a ServiceInfo by hand).
	Entity *Rendered
}

// Consumer is an authenticated API client.
type Consumer struct {
	ID       string
	Username string
	CustomID string
}

// Claims reads the claims of a verified token.
type Claims interface {
	// Claim returns a claim as text: a string as is, a number or boolean
	// in its JSON form, an array of strings joined with ", "; ok is false
	// when the token has no such claim.
	Claim(name string) (value string, ok bool)
}

// Captures are the regex captures of a matched route: Positional[0] is the
// whole match, Names[i] the name of group i ("" when unnamed). Empty for
// prefix routes. The slices are the router's, shared and read-only.
type Captures struct {
	Positional []string
	Names      []string
	// Unmatched[i] is set when group i took no part in the match: Kong's
	// false, not "". Nil when every group took part.
	Unmatched []bool
}

// Group returns the index of the group called name, the last one when
// several share it; ok is false when there is none.
func (c *Captures) Group(name string) (i int, ok bool) {
	for i = min(len(c.Names), len(c.Positional)) - 1; i > 0; i-- {
		if c.Names[i] == name {
			return i, true
		}
	}
	return 0, false
}

// Matched reports whether group i took part in the match.
func (c *Captures) Matched(i int) bool { return i >= len(c.Unmatched) || !c.Unmatched[i] }

// Reset clears the context for reuse.
func (c *Ctx) Reset() { *c = Ctx{} }

// Releaser is a value a plugin keeps in Ctx.Shared that goes back to its
// owner (a pool) when the request is over: after every plugin's Log step,
// which may still read what it holds, such as header values it lent the
// response.
type Releaser interface{ Release() }

// ReleaseShared ends the request's use of Shared: the values that are
// Releasers are released and the map is emptied for the next request.
// The proxy calls it once the Log steps have run.
func (c *Ctx) ReleaseShared() {
	for _, v := range c.Shared {
		if r, ok := v.(Releaser); ok {
			r.Release()
		}
	}
	clear(c.Shared)
}
