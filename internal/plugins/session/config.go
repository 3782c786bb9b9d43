package session

import (
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/cookie"
)

// Config mirrors Kong's session schema, with its deprecated shorthand
// fields (cookie_lifetime and the others), which set the fields that
// replaced them.
type Config struct {
	Secret                  string   `yaml:"secret"`
	Storage                 string   `yaml:"storage"`
	Audience                string   `yaml:"audience"`
	IdlingTimeout           float64  `yaml:"idling_timeout"`
	RollingTimeout          float64  `yaml:"rolling_timeout"`
	AbsoluteTimeout         float64  `yaml:"absolute_timeout"`
	StaleTTL                float64  `yaml:"stale_ttl"`
	CookieName              string   `yaml:"cookie_name"`
	CookiePath              string   `yaml:"cookie_path"`
	CookieDomain            *string  `yaml:"cookie_domain"`
	CookieSameSite          string   `yaml:"cookie_same_site"`
	CookieHTTPOnly          bool     `yaml:"cookie_http_only"`
	CookieSecure            bool     `yaml:"cookie_secure"`
	Remember                bool     `yaml:"remember"`
	RememberCookieName      string   `yaml:"remember_cookie_name"`
	RememberRollingTimeout  float64  `yaml:"remember_rolling_timeout"`
	RememberAbsoluteTimeout float64  `yaml:"remember_absolute_timeout"`
	ResponseHeaders         []string `yaml:"response_headers"`
	RequestHeaders          []string `yaml:"request_headers"`
	ReadBodyForLogout       bool     `yaml:"read_body_for_logout"`
	LogoutMethods           []string `yaml:"logout_methods"`
	LogoutQueryArg          *string  `yaml:"logout_query_arg"`
	LogoutPostArg           *string  `yaml:"logout_post_arg"`
	HashSubject             bool     `yaml:"hash_subject"`
	StoreMetadata           bool     `yaml:"store_metadata"`

	// Kong's deprecated shorthands.
	CookieLifetime   *float64 `yaml:"cookie_lifetime"`
	CookieIdletime   *float64 `yaml:"cookie_idletime"`
	CookieRenew      *float64 `yaml:"cookie_renew"`
	CookieDiscard    *float64 `yaml:"cookie_discard"`
	CookieSamesite   *string  `yaml:"cookie_samesite"`
	CookieHttponly   *bool    `yaml:"cookie_httponly"`
	CookiePersistent *bool    `yaml:"cookie_persistent"`
}

// SetDefaults applies Kong's defaults. Kong's default secret is drawn at
// random when its schema loads; here New draws it (cookie.Secret).
func (c *Config) SetDefaults() {
	c.Storage = "cookie"
	c.Audience = "default"
	c.IdlingTimeout = 900
	c.RollingTimeout = 3600
	c.AbsoluteTimeout = 86400
	c.StaleTTL = 10
	c.CookieName = "session"
	c.CookiePath = "/"
	c.CookieSameSite = "Strict"
	c.CookieHTTPOnly = true
	c.CookieSecure = true
	c.RememberCookieName = "remember"
	c.RememberRollingTimeout = 604800
	c.RememberAbsoluteTimeout = 2592000
	c.LogoutMethods = []string{"POST", "DELETE"}
	c.LogoutQueryArg = str("session_logout")
	c.LogoutPostArg = str("session_logout")
}

func str(s string) *string { return &s }

// applyShorthands sets the fields Kong's deprecated shorthands stand for.
func (c *Config) applyShorthands() {
	if c.CookieLifetime != nil {
		c.RollingTimeout = *c.CookieLifetime
	}
	if c.CookieIdletime != nil {
		c.IdlingTimeout = *c.CookieIdletime
	}
	if c.CookieDiscard != nil {
		c.StaleTTL = *c.CookieDiscard
	}
	if c.CookieSamesite != nil {
		c.CookieSameSite = *c.CookieSamesite
		if c.CookieSameSite == "off" {
			c.CookieSameSite = "Lax"
		}
	}
	if c.CookieHttponly != nil {
		c.CookieHTTPOnly = *c.CookieHttponly
	}
	if c.CookiePersistent != nil {
		c.Remember = *c.CookiePersistent
	}
}

var (
	sameSites     = []string{"Strict", "Lax", "None", "Default"}
	headerNames   = []string{"id", "audience", "subject", "timeout", "idling-timeout", "rolling-timeout", "absolute-timeout"}
	logoutMethods = []string{"GET", "POST", "DELETE"}
)

// validate reports what Kong's schema refuses, with its texts, and what
// Turnpike cannot do: the `kong` storage and negative timeouts.
func (c *Config) validate() plugin.Errors {
	var errs plugin.Errors
	add := func(path, msg string) { errs = append(errs, plugin.Errors{{Path: path, Message: msg}}...) }
	nonEmpty := func(path, v string) {
		if v == "" {
			add(path, "length must be at least 1")
		}
	}
	oneOf := func(path, v string, allowed []string) {
		if !contains(allowed, v) {
			add(path, "expected one of: "+strings.Join(allowed, ", "))
		}
	}
	switch c.Storage {
	case "cookie":
	case "kong":
		add("storage", "the 'kong' storage keeps sessions in Kong's database; Turnpike runs without one: use 'cookie'")
	default:
		add("storage", "expected one of: cookie, kong")
	}
	nonEmpty("audience", c.Audience)
	nonEmpty("cookie_name", c.CookieName)
	nonEmpty("cookie_path", c.CookiePath)
	nonEmpty("remember_cookie_name", c.RememberCookieName)
	if c.CookieDomain != nil {
		nonEmpty("cookie_domain", *c.CookieDomain)
	}
	for _, p := range []*string{c.LogoutQueryArg, c.LogoutPostArg} {
		if p != nil && *p == "" {
			path := "logout_query_arg"
			if p == c.LogoutPostArg {
				path = "logout_post_arg"
			}
			add(path, "length must be at least 1")
		}
	}
	for _, t := range []struct {
		path string
		v    float64
	}{
		{"idling_timeout", c.IdlingTimeout}, {"rolling_timeout", c.RollingTimeout},
		{"absolute_timeout", c.AbsoluteTimeout}, {"stale_ttl", c.StaleTTL},
		{"remember_rolling_timeout", c.RememberRollingTimeout}, {"remember_absolute_timeout", c.RememberAbsoluteTimeout},
	} {
		switch {
		case t.v < 0:
			add(t.path, "value must be at least 0 (0 turns the timeout off)")
		case t.v > 0 && t.v < 1:
			// Timeouts count whole seconds: a fraction would turn into 0,
			// which turns the timeout off.
			add(t.path, "value must be 0 (off) or at least 1 second")
		}
	}
	oneOf("cookie_same_site", c.CookieSameSite, sameSites)
	for i, h := range c.ResponseHeaders {
		oneOf("response_headers["+strconv.Itoa(i)+"]", h, headerNames)
	}
	for i, h := range c.RequestHeaders {
		oneOf("request_headers["+strconv.Itoa(i)+"]", h, headerNames)
	}
	for i, m := range c.LogoutMethods {
		oneOf("logout_methods["+strconv.Itoa(i)+"]", m, logoutMethods)
	}
	// Values go into a Set-Cookie header as they are.
	for _, f := range []struct{ path, v string }{
		{"cookie_name", c.CookieName}, {"remember_cookie_name", c.RememberCookieName}, {"cookie_path", c.CookiePath},
	} {
		switch {
		case f.v == "":
			add(f.path, "length must be at least 1")
		case !cookie.ValidName(f.v):
			add(f.path, "must not contain ';', ',', '=', quotes or white space")
		}
	}
	if c.CookieDomain != nil && !cookie.ValidName(*c.CookieDomain) {
		add("cookie_domain", "must not contain ';', ',', '=', quotes or white space")
	}
	return errs
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}
