package plugin

import (
	"strings"
	"unicode/utf8"
)

// Credentials must never leave the gateway in logs. The headers that
// carry them by their nature are redacted always; beyond those, every
// header and query argument name an auth plugin of the configuration
// reads keys or tokens from (key-auth's key_names, jwt's header_names
// and uri_param_names) is redacted on every request: whether that
// plugin ran on the request, or ran first, does not matter, since a key
// sent to the wrong route is still a key.

// Redacted is what a log writes in place of a secret value (Kong's).
const Redacted = "REDACTED"

// alwaysSecret are the headers whose values are credentials whatever
// plugins run: HTTP authentication and cookies, both ways.
var alwaysSecret = [...]string{"authorization", "proxy-authorization", "cookie", "set-cookie"}

// Secrets are the names a configuration's auth plugins read credentials
// from. The zero value (and nil) has none.
type Secrets struct {
	headers []string // lower case
	query   []string
	// unicode: a header name holds a byte outside ASCII.
	unicode bool
	// lengths has bit n set for a name of n bytes (n < 64), so that
	// most ASCII names are ruled out before any comparing.
	lengths uint64
}

// lengthBits is the lengths mask of names.
func lengthBits(names ...string) uint64 {
	var m uint64
	for _, n := range names {
		if len(n) < 64 {
			m |= 1 << len(n)
		}
	}
	return m
}

// alwaysLengths is the lengths mask of alwaysSecret.
var alwaysLengths = lengthBits(alwaysSecret[:]...)

// Add adds header names (any case) and query argument names.
func (s *Secrets) Add(headers, query []string) {
	for _, h := range headers {
		if h = strings.ToLower(h); !has(s.headers, h) && !has(alwaysSecret[:], h) {
			s.headers = append(s.headers, h)
			s.unicode = s.unicode || !isASCII(h)
			s.lengths |= lengthBits(h)
		}
	}
	for _, q := range query {
		if !has(s.query, q) {
			s.query = append(s.query, q)
		}
	}
}

func has(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// SecretHeader reports whether header name (any case) carries a
// credential: always for authentication and cookie headers, and for the
// names the configuration's auth plugins read credentials from.
func (c *Ctx) SecretHeader(name string) bool {
	// strings.EqualFold matches strings of different lengths only through
	// letters outside ASCII (ſ is s, K is k): ASCII names of different
	// lengths need no comparing.
	ascii := isASCII(name) && (c.Secrets == nil || !c.Secrets.unicode)
	if ascii && len(name) < 64 {
		lengths := alwaysLengths
		if c.Secrets != nil {
			lengths |= c.Secrets.lengths
		}
		if lengths&(1<<len(name)) == 0 {
			return false
		}
	}
	for _, s := range alwaysSecret {
		if (!ascii || len(name) == len(s)) && strings.EqualFold(name, s) {
			return true
		}
	}
	if c.Secrets == nil {
		return false
	}
	for _, s := range c.Secrets.headers {
		if (!ascii || len(name) == len(s)) && strings.EqualFold(name, s) {
			return true
		}
	}
	return false
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// SecretQuery reports whether query argument name carries a credential
// under the configuration's auth plugins.
func (c *Ctx) SecretQuery(name string) bool {
	return c.Secrets != nil && has(c.Secrets.query, name)
}

// NewSecrets returns the Secrets of header and query argument names.
func NewSecrets(headers, query []string) *Secrets {
	s := &Secrets{}
	s.Add(headers, query)
	return s
}
