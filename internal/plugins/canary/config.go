package canary

import (
	"net"
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Config mirrors the fields of Kong's canary plugin.
type Config struct {
	// Start is when the ramp begins, in seconds since the epoch (nil: when
	// the configuration was loaded, as Kong defaults it to the time the
	// plugin was created). Ignored with percentage or hash allow/deny.
	Start *float64 `yaml:"start"`
	// Hash is what makes a request's side sticky: consumer, ip, header,
	// none (no stickiness), or allow/deny (ACL groups decide).
	Hash       string  `yaml:"hash"`
	HashHeader *string `yaml:"hash_header"`
	// Duration is the ramp's length in seconds.
	Duration float64 `yaml:"duration"`
	// Steps is the number of buckets hash values fall in, and the
	// ramp's number of increments.
	Steps float64 `yaml:"steps"`
	// Percentage fixes the canary's share (nil: the ramp).
	Percentage       *float64 `yaml:"percentage"`
	UpstreamHost     *string  `yaml:"upstream_host"`
	UpstreamPort     *int     `yaml:"upstream_port"`
	UpstreamURI      *string  `yaml:"upstream_uri"`
	UpstreamFallback bool     `yaml:"upstream_fallback"`
	Groups           []string `yaml:"groups"`
	// CanaryByHeaderName names a header whose value "always" or "never"
	// overrides the decision.
	CanaryByHeaderName *string `yaml:"canary_by_header_name"`
}

// SetDefaults applies Kong's defaults.
func (c *Config) SetDefaults() {
	c.Hash = hashConsumer
	c.Duration = 3600
	c.Steps = 1000
}

const (
	hashConsumer = "consumer"
	hashIP       = "ip"
	hashHeader   = "header"
	hashNone     = "none"
	hashAllow    = "allow"
	hashDeny     = "deny"
)

// maxSteps bounds the buckets (a hash is taken modulo steps; nothing is
// allocated per bucket, the bound keeps the arithmetic exact).
const maxSteps = 1_000_000

func (c *Config) validate() plugin.Errors {
	var errs plugin.Errors
	add := func(path, msg string) { errs = append(errs, plugin.Problem{Path: path, Message: msg}) }
	switch c.Hash {
	case hashConsumer, hashIP, hashHeader, hashNone, hashAllow, hashDeny:
	default:
		add("hash", "expected one of: consumer, ip, none, allow, deny, header")
	}
	if c.Percentage != nil && (*c.Percentage < 0 || *c.Percentage > 100) {
		add("percentage", "value should be between 0 and 100")
	}
	if c.Steps < 1 || c.Steps > maxSteps {
		add("steps", "value should be between 1 and "+strconv.Itoa(maxSteps))
	}
	if c.Duration < 0 {
		add("duration", "value must be greater than or equal to 0")
	}
	if c.Start != nil && *c.Start < 0 {
		add("start", "value must be greater than or equal to 0")
	}
	if c.UpstreamHost != nil && !validHost(*c.UpstreamHost) {
		add("upstream_host", "invalid hostname: '"+*c.UpstreamHost+"'")
	}
	if c.UpstreamPort != nil && (*c.UpstreamPort < 0 || *c.UpstreamPort > 65535) {
		add("upstream_port", "value should be between 0 and 65535")
	}
	if c.UpstreamURI != nil {
		if msg := checkPath(*c.UpstreamURI); msg != "" {
			add("upstream_uri", msg)
		}
	}
	if c.UpstreamHost == nil && c.UpstreamPort == nil && c.UpstreamURI == nil {
		add("", "at least one of these fields must be non-empty: 'config.upstream_uri', 'config.upstream_host', 'config.upstream_port'")
	}
	checkHeader := func(path string, v *string) {
		if v != nil && !plugin.ValidHeaderName(*v) {
			add(path, "bad header name '"+*v+"', allowed characters are A-Z, a-z, 0-9, '_', and '-'")
		}
	}
	checkHeader("hash_header", c.HashHeader)
	checkHeader("canary_by_header_name", c.CanaryByHeaderName)
	if c.Hash == hashHeader && c.HashHeader == nil {
		add("hash_header", "required field missing")
	}
	if (c.Hash == hashAllow || c.Hash == hashDeny) && len(c.Groups) == 0 {
		add("groups", "required field missing")
	}
	for i, g := range c.Groups {
		if g == "" {
			add("groups["+strconv.Itoa(i)+"]", "length must be at least 1")
		}
	}
	return errs
}

// validHost accepts an IP address or a host name of letters, digits, '-',
// '_' and dots (an upstreams entity's name is one).
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

// checkPath holds upstream_uri to Kong's path rules: it starts with '/'
// and has only unreserved, reserved and percent-encoded characters (so
// it goes into the request line as it is).
func checkPath(p string) string {
	if p == "" {
		return "length must be at least 1"
	}
	if p[0] != '/' {
		return "should start with: /"
	}
	for i := 0; i < len(p); i++ {
		b := p[i]
		ok := 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || strings.IndexByte("-._~:/@!$&'()*+,;=%", b) >= 0
		if b == '%' && (i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2])) {
			ok = false
		}
		if !ok {
			return "invalid path: '" + p + "' (characters outside of the reserved list of RFC 3986 found)"
		}
	}
	return ""
}

func isHex(b byte) bool {
	return '0' <= b && b <= '9' || 'a' <= b && b <= 'f' || 'A' <= b && b <= 'F'
}
