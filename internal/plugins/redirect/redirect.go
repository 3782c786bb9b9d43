package redirect

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Config mirrors Kong's redirect schema (kong/plugins/redirect/schema.lua).
type Config struct {
	// StatusCode is the answer's status.
	StatusCode int `yaml:"status_code"`
	// Location is the URL redirected to.
	Location string `yaml:"location"`
	// KeepIncomingPath replaces Location's path and query with the
	// request's.
	KeepIncomingPath bool `yaml:"keep_incoming_path"`
}

// SetDefaults applies Kong's defaults.
func (c *Config) SetDefaults() { c.StatusCode = http.StatusMovedPermanently }

const name = "redirect"

// Registration describes the plugin to the registry. Kong runs it at 779,
// after the rate limits and transformations; its schema allows consumer
// scope.
func Registration() plugin.Registration {
	return plugin.Registration{
		Name:      name,
		Priority:  779,
		NewConfig: func() any { return &Config{} },
		New:       New,
	}
}

// body is Kong's: kong.response.exit(status, "redirecting"), sent without
// a Content-Type.
var body = []byte("redirecting")

type instance struct {
	// exit is the answer when the location is fixed (made once; the proxy
	// does not change an Exit).
	exit   *plugin.Exit
	status int
	// origin ("https://example.com") and fragment ("#top" or "") frame
	// the request's path and query with keep_incoming_path.
	origin, fragment string
}

// New validates the config as Kong's schema does.
func New(cfg any, _ plugin.Env) (plugin.Instance, error) {
	c := cfg.(*Config)
	var errs plugin.Errors
	if c.StatusCode < 100 || c.StatusCode > 599 {
		errs = append(errs, plugin.Problem{Path: "status_code", Message: "value should be between 100 and 599"})
	}
	u, msg := parseLocation(c.Location)
	if msg != "" {
		errs = append(errs, plugin.Problem{Path: "location", Message: msg})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	in := &instance{status: c.StatusCode}
	if !c.KeepIncomingPath {
		in.exit = &plugin.Exit{Status: c.StatusCode, Body: body, Header: http.Header{"Location": {c.Location}}}
		return in, nil
	}
	in.origin = origin(u)
	if u.Fragment != "" {
		in.fragment = "#" + u.EscapedFragment()
	}
	return in, nil
}

// parseLocation checks the location as Kong's url typedef does (a URL
// with a scheme and a host); net/url also refuses control bytes, which
// could split the Location header.
func parseLocation(s string) (*url.URL, string) {
	if s == "" {
		return nil, "required field missing"
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, "could not parse url. " + err.Error()
	case u.Host == "":
		return nil, "missing host in url"
	case u.Scheme == "":
		return nil, "missing scheme in url"
	}
	return u, ""
}

// origin is the URL's scheme, user and host as a URL parser serialises
// them: host in lower case, the scheme's default port left out.
func origin(u *url.URL) string {
	host := strings.ToLower(u.Host)
	if u.Scheme == "http" {
		host = strings.TrimSuffix(host, ":80")
	} else if u.Scheme == "https" {
		host = strings.TrimSuffix(host, ":443")
	}
	o := u.Scheme + "://"
	if u.User != nil {
		o += u.User.String() + "@"
	}
	return o + host
}

// Access answers with the redirect.
func (in *instance) Access(c *plugin.Ctx) error {
	if in.exit != nil {
		return in.exit
	}
	loc := in.origin + escape(c.ClientPath, pathUnsafe)
	if c.RawQuery != "" {
		loc += "?" + escape(c.RawQuery, queryUnsafe)
	}
	return &plugin.Exit{Status: in.status, Body: body, Header: http.Header{"Location": {loc + in.fragment}}}
}

// Bytes a URL parser percent-encodes in a path or a query (WHATWG's
// encode sets): besides control bytes, space and non-ASCII.
const (
	pathUnsafe  = "\"#<>?`{}"
	queryUnsafe = "\"#<>'"
)

// escape percent-encodes the bytes of s a URL may not hold as they are,
// returning s itself when there are none.
func escape(s, unsafe string) string {
	needs := func(c byte) bool { return c <= ' ' || c >= 0x7f || strings.IndexByte(unsafe, c) >= 0 }
	i := 0
	for i < len(s) && !needs(s[i]) {
		i++
	}
	if i == len(s) {
		return s
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+16)
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		if c := s[i]; needs(c) {
			b = append(b, '%', hex[c>>4], hex[c&15])
		} else {
			b = append(b, c)
		}
	}
	return string(b)
}
