package cors

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Config mirrors Kong's cors schema.
type Config struct {
	Origins        []string `yaml:"origins"`
	Headers        []string `yaml:"headers"`
	ExposedHeaders []string `yaml:"exposed_headers"`
	Methods        []string `yaml:"methods"`
	// MaxAge is a Lua number in Kong, so fractions are allowed.
	MaxAge            *float64 `yaml:"max_age"`
	Credentials       bool     `yaml:"credentials"`
	PrivateNetwork    bool     `yaml:"private_network"`
	PreflightContinue bool     `yaml:"preflight_continue"`
	AllowOriginAbsent bool     `yaml:"allow_origin_absent"`
}

var allMethods = []string{"GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT"}

// SetDefaults applies Kong's defaults.
func (c *Config) SetDefaults() {
	c.Methods = append([]string(nil), allMethods...)
	c.AllowOriginAbsent = true
}

const name = "cors"

// Registration describes the plugin to the registry.
func Registration() plugin.Registration {
	return plugin.Registration{
		Name:       name,
		Priority:   2000,
		NewConfig:  func() any { return &Config{} },
		New:        New,
		NoConsumer: true,
	}
}

const (
	hAllowOrigin         = "Access-Control-Allow-Origin"
	hAllowCredentials    = "Access-Control-Allow-Credentials"
	hAllowHeaders        = "Access-Control-Allow-Headers"
	hAllowMethods        = "Access-Control-Allow-Methods"
	hExposeHeaders       = "Access-Control-Expose-Headers"
	hMaxAge              = "Access-Control-Max-Age"
	hAllowPrivateNetwork = "Access-Control-Allow-Private-Network"
	hRequestMethod       = "Access-Control-Request-Method"
	hRequestHeaders      = "Access-Control-Request-Headers"
	hRequestPrivateNet   = "Access-Control-Request-Private-Network"
	hVary                = "Vary"
	hOrigin              = "Origin"
)

// domain is one configured origin after Kong's classification: a regex
// (anchored at both ends) or a normalised literal origin.
type domain struct {
	re     *regexp.Regexp
	domain string
	// byHost matches regexes against the request origin's host only, which
	// Kong does when the entry has no ':' (so no scheme or port).
	byHost bool
}

type instance struct {
	// allowAll is Kong's "no origins or just *" case.
	allowAll bool
	// fixed is the single literal origin always sent as is.
	fixed string
	// hasStar is a '*' among several entries; it wins whenever the request
	// has an Origin.
	hasStar bool
	domains []domain

	headers        string
	exposedHeaders string
	methods        string
	maxAge         string
	hasMaxAge      bool

	credentials, privateNetwork, preflightContinue, allowOriginAbsent bool
}

// literalOrigin is what Kong takes for a plain origin rather than a regex.
var literalOrigin = regexp.MustCompile(`^[A-Za-z0-9.:/-]+$`)

// New validates the config as Kong's schema does and precompiles the origin
// matchers.
func New(cfg any, _ plugin.Env) (plugin.Instance, error) {
	c := cfg.(*Config)
	var errs plugin.Errors
	for i, o := range c.Origins {
		if o == "*" {
			continue
		}
		if _, err := regexp.Compile(o); err != nil {
			errs = append(errs, plugin.Errors{{Path: "origins[" + strconv.Itoa(i) + "]", Message: "'" + o + "' is not a valid regex"}}...)
		}
	}
	for i, m := range c.Methods {
		if !validMethod(m) {
			errs = append(errs, plugin.Errors{{Path: "methods[" + strconv.Itoa(i) + "]", Message: "expected one of: " + strings.Join(allMethods, ", ")}}...)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}

	in := &instance{
		headers:           strings.Join(c.Headers, ","),
		exposedHeaders:    strings.Join(c.ExposedHeaders, ","),
		methods:           strings.Join(c.Methods, ","),
		credentials:       c.Credentials,
		privateNetwork:    c.PrivateNetwork,
		preflightContinue: c.PreflightContinue,
		allowOriginAbsent: c.AllowOriginAbsent,
	}
	if c.Methods == nil {
		in.methods = strings.Join(allMethods, ",")
	}
	if c.MaxAge != nil {
		// LuaJIT's tostring prints numbers with %.14g.
		in.maxAge, in.hasMaxAge = strconv.FormatFloat(*c.MaxAge, 'g', 14, 64), true
	}
	switch n := len(c.Origins); {
	case n == 0 || n == 1 && c.Origins[0] == "*":
		in.allowAll = true
		return in, nil
	case n == 1 && literalOrigin.MatchString(c.Origins[0]):
		in.fixed = c.Origins[0]
		return in, nil
	}
	for i, o := range c.Origins {
		if o == "*" {
			in.hasStar = true
			continue
		}
		d := domain{byHost: !strings.Contains(o, ":")}
		if literalOrigin.MatchString(o) {
			d.domain, _ = normalizeOrigin(o)
		} else {
			// Kong anchors regexes itself, accepting entries the user
			// anchored already.
			if !strings.HasSuffix(o, "$") {
				o += "$"
			}
			o = strings.TrimPrefix(o, "^")
			re, err := regexp.Compile("^(?:" + o + ")")
			if err != nil {
				return nil, plugin.Errors{{Path: "origins[" + strconv.Itoa(i) + "]", Message: "'" + c.Origins[i] + "' is not a valid regex"}}
			}
			d.re = re
		}
		in.domains = append(in.domains, d)
	}
	return in, nil
}

func validMethod(m string) bool {
	for _, v := range allMethods {
		if m == v {
			return true
		}
	}
	return false
}

// Access answers preflight requests (OPTIONS with Origin and
// Access-Control-Request-Method).
func (in *instance) Access(c *plugin.Ctx) error {
	if c.Req.Method != http.MethodOptions {
		return nil
	}
	origin := c.Req.Header.Get(hOrigin)
	if origin == "" {
		return nil
	}
	if _, ok := c.Req.Header[hRequestMethod]; !ok {
		return nil
	}
	// Either the upstream answers the preflight or this Exit carries every
	// header: the header filter must not add any.
	if c.Shared == nil {
		c.Shared = make(map[string]any, 1)
	}
	c.Shared[name] = true
	if in.preflightContinue {
		return nil
	}

	h := make(http.Header, 8)
	allowAll := in.configureOrigin(h, false, origin)
	in.configureCredentials(h, allowAll, false, origin)
	switch {
	case in.headers != "":
		h[hAllowHeaders] = []string{in.headers}
	case c.Req.Header[hRequestHeaders] != nil:
		h[hAllowHeaders] = []string{c.Req.Header.Get(hRequestHeaders)}
	}
	h[hAllowMethods] = []string{in.methods}
	if in.hasMaxAge {
		h[hMaxAge] = []string{in.maxAge}
	}
	if in.privateNetwork && c.Req.Header.Get(hRequestPrivateNet) == "true" {
		h[hAllowPrivateNetwork] = []string{"true"}
	}
	return &plugin.Exit{Status: http.StatusOK, Body: []byte{}, Header: h}
}

// HeaderFilter adds the CORS headers to any response but a handled
// preflight.
func (in *instance) HeaderFilter(c *plugin.Ctx) {
	if c.Shared[name] == true {
		return
	}
	origin := c.Req.Header.Get(hOrigin)
	if origin == "" && !in.allowOriginAbsent {
		return
	}
	h := c.Resp.Header
	allowAll := in.configureOrigin(h, true, origin)
	in.configureCredentials(h, allowAll, true, origin)
	if in.exposedHeaders != "" {
		h[hExposeHeaders] = []string{in.exposedHeaders}
	}
}

// vary adds Vary: Origin; on a proxied response it is appended so the
// upstream's Vary survives.
func vary(h http.Header, headerFilter bool) {
	if headerFilter {
		h[hVary] = append(h[hVary], hOrigin)
	} else {
		h[hVary] = []string{hOrigin}
	}
}

// configureOrigin sets Access-Control-Allow-Origin and reports whether all
// origins are allowed ('*').
func (in *instance) configureOrigin(h http.Header, headerFilter bool, origin string) bool {
	if in.allowAll {
		h[hAllowOrigin] = []string{"*"}
		return true
	}
	// Vary is always set here since the answer depends on Origin.
	vary(h, headerFilter)
	if in.fixed != "" {
		h[hAllowOrigin] = []string{in.fixed}
		return false
	}
	if origin != "" {
		if in.hasStar {
			h[hAllowOrigin] = []string{"*"}
			return true
		}
		reqDomain, reqHost := normalizeOrigin(origin)
		for i := range in.domains {
			d := &in.domains[i]
			var found bool
			switch {
			case d.re != nil && d.byHost:
				found = d.re.MatchString(reqHost)
			case d.re != nil:
				found = d.re.MatchString(reqDomain)
			default:
				found = reqDomain == d.domain
			}
			if found {
				h[hAllowOrigin] = []string{reqDomain}
				return false
			}
		}
	}
	delete(h, hAllowOrigin)
	return false
}

func (in *instance) configureCredentials(h http.Header, allowAll, headerFilter bool, origin string) {
	if !in.credentials {
		return
	}
	if !allowAll {
		h[hAllowCredentials] = []string{"true"}
		return
	}
	// A '*' origin cannot go with credentials, so the request's origin is
	// echoed instead.
	if origin != "" {
		vary(h, headerFilter)
		h[hAllowOrigin] = []string{origin}
		h[hAllowCredentials] = []string{"true"}
	}
}
