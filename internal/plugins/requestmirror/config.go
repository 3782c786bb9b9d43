package requestmirror

import (
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Config is the request-mirror plugin's configuration.
type Config struct {
	// MirrorURL is the shadow upstream, http(s)://host[:port][/prefix]:
	// a copy's path is the prefix followed by the request's path.
	MirrorURL *string `yaml:"mirror_url"`
	// UpstreamHost and UpstreamPort name the shadow upstream instead of
	// MirrorURL, spoken to with Protocol.
	UpstreamHost *string `yaml:"upstream_host"`
	UpstreamPort *int    `yaml:"upstream_port"`
	Protocol     string  `yaml:"protocol"`
	// Path is which path a copy carries: "upstream" (the path the
	// service gets, after strip_path and the service path) or "client"
	// (the path the client asked for).
	Path string `yaml:"path"`
	// Percentage of the requests mirrored (a random sample).
	Percentage float64 `yaml:"percentage"`
	// MaxInFlight bounds the copies under way; over it a copy is dropped.
	MaxInFlight int `yaml:"max_in_flight"`
	// MaxBodySize is the largest request body mirrored, in bytes; a
	// request with a larger body, or one of unknown length, is not.
	MaxBodySize int64 `yaml:"max_body_size"`
	// Timeout bounds a copy, connect to the end of its answer, in ms.
	Timeout int `yaml:"timeout"`
	// TLSVerify verifies an https mirror's certificate against the
	// system's roots.
	TLSVerify bool `yaml:"tls_verify"`
}

// SetDefaults applies the plugin's defaults.
func (c *Config) SetDefaults() {
	c.Protocol = "http"
	c.Path = pathUpstream
	c.Percentage = 100
	c.MaxInFlight = 64
	c.MaxBodySize = 64 << 10
	c.Timeout = 5000
	c.TLSVerify = true
}

const (
	pathUpstream = "upstream"
	pathClient   = "client"

	maxInFlightLimit = 10_000
	maxBodyLimit     = 16 << 20
	maxTimeout       = 600_000
)

// mirror is where copies go: scheme, host[:port] and a path prefix
// without its trailing '/'.
type mirror struct {
	scheme, host, prefix string
}

func (c *Config) validate() (mirror, plugin.Errors) {
	var errs plugin.Errors
	add := func(path, msg string) { errs = append(errs, plugin.Problem{Path: path, Message: msg}) }
	var m mirror
	switch {
	case (c.MirrorURL == nil) == (c.UpstreamHost == nil):
		add("", "exactly one of these fields must be non-empty: 'config.mirror_url', 'config.upstream_host'")
	case c.MirrorURL != nil:
		var ok bool
		if m, ok = parseMirrorURL(*c.MirrorURL); !ok {
			add("mirror_url", "invalid url '"+*c.MirrorURL+"': expected http(s)://host[:port][/path]")
		}
	default:
		if !validHost(*c.UpstreamHost) {
			add("upstream_host", "invalid hostname: '"+*c.UpstreamHost+"'")
		}
		port := 80
		if c.Protocol == "https" {
			port = 443
		}
		if c.UpstreamPort != nil {
			if port = *c.UpstreamPort; port < 1 || port > 65535 {
				add("upstream_port", "value should be between 1 and 65535")
			}
		}
		m = mirror{scheme: c.Protocol, host: net.JoinHostPort(*c.UpstreamHost, strconv.Itoa(port))}
	}
	if c.Protocol != "http" && c.Protocol != "https" {
		add("protocol", "expected one of: http, https")
	}
	if c.Path != pathUpstream && c.Path != pathClient {
		add("path", "expected one of: upstream, client")
	}
	if c.Percentage < 0 || c.Percentage > 100 {
		add("percentage", "value should be between 0 and 100")
	}
	if c.MaxInFlight < 1 || c.MaxInFlight > maxInFlightLimit {
		add("max_in_flight", "value should be between 1 and "+strconv.Itoa(maxInFlightLimit))
	}
	if c.MaxBodySize < 0 || c.MaxBodySize > maxBodyLimit {
		add("max_body_size", "value should be between 0 and "+strconv.Itoa(maxBodyLimit))
	}
	if c.Timeout < 1 || c.Timeout > maxTimeout {
		add("timeout", "value should be between 1 and "+strconv.Itoa(maxTimeout))
	}
	return m, errs
}

// parseMirrorURL accepts http(s)://host[:port][/path] with nothing else
// (no user, query or fragment).
func parseMirrorURL(s string) (mirror, bool) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" || strings.ContainsAny(s, " \t\r\n?#") {
		return mirror{}, false
	}
	if !validHost(u.Hostname()) {
		return mirror{}, false
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return mirror{}, false
		}
	}
	return mirror{scheme: u.Scheme, host: u.Host, prefix: strings.TrimSuffix(u.EscapedPath(), "/")}, true
}

// validHost accepts an IP address or a host name of letters, digits, '-',
// '_' and dots.
func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	if h == "" || len(h) > 253 || strings.HasPrefix(h, ".") || strings.Contains(h, "..") {
		return false
	}
	for i := 0; i < len(h); i++ {
		b := h[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '-' || b == '_' || b == '.') {
			return false
		}
	}
	return true
}
