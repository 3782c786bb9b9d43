package hmacauth

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Config mirrors Kong's hmac-auth schema. Anonymous and Realm are pointers
// because Kong tells an absent value from a present one.
type Config struct {
	HideCredentials     bool     `yaml:"hide_credentials"`
	ClockSkew           float64  `yaml:"clock_skew"`
	Anonymous           *string  `yaml:"anonymous"`
	ValidateRequestBody bool     `yaml:"validate_request_body"`
	EnforceHeaders      []string `yaml:"enforce_headers"`
	Algorithms          []string `yaml:"algorithms"`
	Realm               *string  `yaml:"realm"`
}

// SetDefaults applies Kong's defaults.
func (c *Config) SetDefaults() {
	c.ClockSkew = 300
	c.EnforceHeaders = []string{}
	c.Algorithms = []string{"hmac-sha1", "hmac-sha256", "hmac-sha384", "hmac-sha512"}
}

const name = "hmac-auth"

// Registration describes the plugin to the registry.
func Registration() plugin.Registration {
	return plugin.Registration{
		Name:        name,
		Priority:    1030,
		NewConfig:   func() any { return &Config{} },
		New:         New,
		NoConsumer:  true,
		Credentials: []plugin.CredentialKind{credentialKind()},
	}
}

// Kong's messages (kong/plugins/hmac-auth/access.lua).
const (
	msgUnauthorized = "Unauthorized"
	msgNoDate       = "HMAC signature cannot be verified, a valid date or x-date header is required for HMAC Authentication"
	msgNotValid     = "HMAC signature cannot be verified"
	msgNoMatch      = "HMAC signature does not match"
	msgUnexpected   = "An unexpected error occurred"
)

const (
	hdrAuthorization      = "Authorization"
	hdrProxyAuthorization = "Proxy-Authorization"
)

type instance struct {
	hide         bool
	anonymous    string
	clockSkew    float64
	validateBody bool
	enforce      []string
	// algorithms are the accepted algorithms, indexed by algorithm.
	algorithms [numAlgorithms]bool
	// wwwAuth is the WWW-Authenticate value of every 401.
	wwwAuth string
	// now is the clock (a test sets it).
	now func() time.Time
}

// New validates the config as Kong's schema does.
func New(cfg any, _ plugin.Env) (plugin.Instance, error) {
	c := cfg.(*Config)
	var errs plugin.Errors
	add := func(path, msg string) { errs = append(errs, plugin.Errors{{Path: path, Message: msg}}...) }
	if !(c.ClockSkew > 0) {
		add("clock_skew", "value must be greater than 0")
	}
	if c.Anonymous != nil && *c.Anonymous == "" {
		add("anonymous", "length must be at least 1")
	}
	for i, h := range c.EnforceHeaders {
		if h == "" {
			add("enforce_headers["+strconv.Itoa(i)+"]", "length must be at least 1")
		}
	}
	in := &instance{
		hide:         c.HideCredentials,
		clockSkew:    c.ClockSkew,
		validateBody: c.ValidateRequestBody,
		enforce:      c.EnforceHeaders,
		wwwAuth:      "hmac",
		now:          time.Now,
	}
	for i, a := range c.Algorithms {
		alg, ok := algorithmByName(a)
		if !ok {
			add("algorithms["+strconv.Itoa(i)+"]", "expected one of: "+strings.Join(algorithmNames[:], ", "))
			continue
		}
		in.algorithms[alg] = true
	}
	if c.Realm != nil {
		if *c.Realm == "" {
			add("realm", "length must be at least 1")
		}
		in.wwwAuth = `hmac realm="` + *c.Realm + `"`
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if c.Anonymous != nil {
		in.anonymous = *c.Anonymous
	}
	return in, nil
}

// Access authenticates the request (plugin.RunAuth adds Kong's rules for
// several auth plugins and the anonymous consumer).
func (in *instance) Access(c *plugin.Ctx) error {
	return plugin.RunAuth(c, in.anonymous, in)
}

func (in *instance) unauthorized(msg string) *plugin.Exit {
	return &plugin.Exit{
		Status:  http.StatusUnauthorized,
		Message: msg,
		Header:  http.Header{"Www-Authenticate": {in.wwwAuth}},
	}
}

// CheckCredentials is Kong's do_authentication, in its order: the date
// first, then the parameters (Proxy-Authorization, and Authorization only
// when Proxy-Authorization holds none), the credential, the signature and
// last the body.
func (in *instance) CheckCredentials(c *plugin.Ctx) *plugin.Exit {
	h := c.Req.Header
	proxyAuth, hasProxyAuth := plugin.FirstValue(h, hdrProxyAuthorization)
	auth, hasAuth := plugin.FirstValue(h, hdrAuthorization)
	if !hasProxyAuth && !hasAuth {
		return in.unauthorized(msgUnauthorized)
	}
	now := in.now().Unix()
	if !in.dateWithinSkew(h, "X-Date", now) && !in.dateWithinSkew(h, "Date", now) {
		return in.unauthorized(msgNoDate)
	}

	p, ok := parseAuthorization(proxyAuth)
	if ok {
		if in.hide {
			delete(h, hdrProxyAuthorization)
		}
	} else {
		p, ok = parseAuthorization(auth)
		if in.hide {
			delete(h, hdrAuthorization)
		}
	}
	if !ok || !in.validParams(&p) {
		return in.unauthorized(msgNotValid)
	}
	// When the signature covers a date, the fresh date must be a signed
	// one: else a captured request replays forever with a new unsigned
	// X-Date or Date beside its old signed one (Kong takes either). A
	// signature that covers no date has no replay bound in Kong or here
	// (enforce_headers: [date] requires one).
	signsXDate, signsDate := p.coversHeader("x-date"), p.coversHeader("date")
	if (signsXDate || signsDate) && !(signsXDate && in.dateWithinSkew(h, "X-Date", now)) && !(signsDate && in.dateWithinSkew(h, "Date", now)) {
		return in.unauthorized(msgNoDate)
	}

	cred := in.lookup(c, p.username)
	if cred == nil {
		return in.unauthorized(msgNotValid)
	}
	st, _ := cred.State.(*state)
	if st == nil || !verifySignature(c.Req, &p, st) {
		return in.unauthorized(msgNoMatch)
	}
	if in.validateBody && !validBody(c.Req) {
		return in.unauthorized(msgNoMatch)
	}
	if cred.Consumer == nil {
		return plugin.NewExit(http.StatusInternalServerError, msgUnexpected)
	}
	plugin.Authenticate(c, cred)
	// Kong's hmac-auth identifies the credential by its username.
	h["X-Credential-Identifier"] = []string{cred.Key}
	return nil
}

// validParams is Kong's validate_params past the parse: every enforced
// header is among the signed ones and the algorithm is accepted.
func (in *instance) validParams(p *params) bool {
	for _, e := range in.enforce {
		if !p.signs(e) {
			return false
		}
	}
	return p.algorithm < numAlgorithms && in.algorithms[p.algorithm]
}

// dateWithinSkew reports whether the named header holds an HTTP date no
// further than clock_skew seconds from now.
func (in *instance) dateWithinSkew(h http.Header, name string, now int64) bool {
	v, ok := plugin.FirstValue(h, name)
	if !ok {
		return false
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return false
	}
	skew := now - t.Unix()
	if skew < 0 {
		skew = -skew
	}
	return float64(skew) <= in.clockSkew
}

func (in *instance) lookup(c *plugin.Ctx, username string) *plugin.Credential {
	if c.Directory == nil {
		return nil
	}
	cred, ok := c.Directory.Credential(kindName, username)
	if !ok {
		return nil
	}
	return cred
}
