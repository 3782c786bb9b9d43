package ldapauth

import (
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Config mirrors Kong's ldap-auth schema (kong/plugins/ldap-auth/schema.lua).
// The required strings are pointers so that an absent field ("required
// field missing") is told from an empty one ("length must be at least 1");
// Anonymous and Realm because Kong tells absent from present.
type Config struct {
	LDAPHost        *string `yaml:"ldap_host"`
	LDAPPort        int     `yaml:"ldap_port"`
	LDAPS           bool    `yaml:"ldaps"`
	StartTLS        bool    `yaml:"start_tls"`
	VerifyLDAPHost  bool    `yaml:"verify_ldap_host"`
	BaseDN          *string `yaml:"base_dn"`
	Attribute       *string `yaml:"attribute"`
	CacheTTL        float64 `yaml:"cache_ttl"`
	HideCredentials bool    `yaml:"hide_credentials"`
	Timeout         float64 `yaml:"timeout"`
	Keepalive       float64 `yaml:"keepalive"`
	Anonymous       *string `yaml:"anonymous"`
	HeaderType      string  `yaml:"header_type"`
	Realm           *string `yaml:"realm"`
}

// SetDefaults applies Kong's defaults.
func (c *Config) SetDefaults() {
	c.LDAPPort = 389
	c.CacheTTL = 60
	c.Timeout = 10000
	c.Keepalive = 60000
	c.HeaderType = "ldap"
}

// Kong's entity check text.
const msgLDAPSAndStartTLS = "'ldaps' and 'start_tls' cannot be enabled simultaneously"

// validate checks what Kong's schema checks, plus what would only fail
// at request time in Kong (negative durations).
func (c *Config) validate() plugin.Errors {
	var errs plugin.Errors
	add := func(path, msg string) { errs = append(errs, plugin.Problem{Path: path, Message: msg}) }
	if msg := checkHost(c.LDAPHost); msg != "" {
		add("ldap_host", msg)
	}
	if c.LDAPPort < 0 || c.LDAPPort > 65535 {
		add("ldap_port", "value should be between 0 and 65535")
	} else if c.LDAPPort == 0 {
		// 0 is what an explicit null decodes to; no LDAP server listens there.
		add("ldap_port", "required field missing")
	}
	requiredString(add, "base_dn", c.BaseDN)
	requiredString(add, "attribute", c.Attribute)
	optionalString(add, "anonymous", c.Anonymous)
	optionalString(add, "realm", c.Realm)
	if c.HeaderType == "" {
		add("header_type", "length must be at least 1")
	} else if strings.ContainsAny(c.HeaderType, " \t\r\n\"") {
		// It is written into WWW-Authenticate and matched as a scheme token.
		add("header_type", "invalid value: "+c.HeaderType)
	}
	if c.Realm != nil && strings.ContainsAny(*c.Realm, "\"\\\r\n") {
		add("realm", "must not contain quotes, backslashes or line breaks")
	}
	// Kong's cache rejects a negative ttl on every request, and a socket a
	// negative timeout; both are refused here instead.
	for _, f := range []struct {
		path string
		v    float64
	}{{"cache_ttl", c.CacheTTL}, {"timeout", c.Timeout}, {"keepalive", c.Keepalive}} {
		if f.v < 0 {
			add(f.path, "value must be greater than or equal to 0")
		}
	}
	if c.LDAPS && c.StartTLS {
		add("@entity", msgLDAPSAndStartTLS)
	}
	return errs
}

func requiredString(add func(path, msg string), path string, s *string) {
	if s == nil {
		add(path, "required field missing")
	} else if *s == "" {
		add(path, "length must be at least 1")
	}
}

func optionalString(add func(path, msg string), path string, s *string) {
	if s != nil && *s == "" {
		add(path, "length must be at least 1")
	}
}

// checkHost is Kong's typedefs.host: a name or an IP address, without a
// port. It returns Kong's message, or "" for a valid host.
func checkHost(h *string) string {
	if h == nil {
		return "required field missing"
	}
	host := *h
	if host == "" {
		return "length must be at least 1"
	}
	if net.ParseIP(host) != nil {
		return ""
	}
	if strings.HasPrefix(host, "[") {
		if i := strings.IndexByte(host, ']'); i > 0 && net.ParseIP(host[1:i]) != nil {
			if i == len(host)-1 {
				return ""
			}
			if rest := host[i+1:]; rest[0] == ':' && isPort(rest[1:]) {
				return "must not have a port"
			}
		}
		return "invalid value: " + host
	}
	if name, port, ok := strings.Cut(host, ":"); ok {
		if validName(name) && isPort(port) {
			return "must not have a port"
		}
		return "invalid value: " + host
	}
	if !validName(host) {
		return "invalid value: " + host
	}
	return ""
}

func isPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 0 && n <= 65535
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '.' || b == '_') {
			return false
		}
	}
	return true
}

// millis turns Kong's millisecond numbers into a duration.
func millis(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }
