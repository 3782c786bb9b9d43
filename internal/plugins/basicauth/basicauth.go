package basicauth

import (
	"net/http"
	"regexp"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Config mirrors Kong's basic-auth schema. Anonymous is a pointer because
// Kong tells an absent value from a present one.
type Config struct {
	// Anonymous is a consumer id or username.
	Anonymous       *string `yaml:"anonymous"`
	HideCredentials bool    `yaml:"hide_credentials"`
	Realm           string  `yaml:"realm"`
}

// SetDefaults applies Kong's defaults.
func (c *Config) SetDefaults() {
	c.Realm = "service"
}

const name = "basic-auth"

// Registration describes the plugin to the registry.
func Registration() plugin.Registration {
	return plugin.Registration{
		Name:        name,
		Priority:    1100,
		NewConfig:   func() any { return &Config{} },
		New:         New,
		NoConsumer:  true,
		Credentials: []plugin.CredentialKind{credentialKind()},
	}
}

// Kong's messages (kong/plugins/basic-auth/access.lua).
const (
	msgUnauthorized = "Unauthorized"
	msgUnexpected   = "An unexpected error occurred"
)

// The canonical names of the headers Kong reads credentials from.
const (
	hdrAuthorization      = "Authorization"
	hdrProxyAuthorization = "Proxy-Authorization"
)

var (
	// basicRe finds the credentials in a header value. Like Kong's
	// ngx.re.gmatch it is not anchored: the first "Basic" or "basic"
	// anywhere in the value starts them.
	basicRe = regexp.MustCompile(`\s*[Bb]asic\s*(.+)`)
	// partsRe splits the decoded credentials; also unanchored, as Kong's
	// ngx.re.match, so the password is everything after the first ':'
	// that follows a non-empty username, up to a newline.
	partsRe = regexp.MustCompile(`([^:]+):(.*)`)
)

type instance struct {
	hide      bool
	anonymous string
	// wwwAuth is the WWW-Authenticate value of every 401.
	wwwAuth string
	cache   *cache
}

// New validates the config as Kong's schema does.
func New(cfg any, _ plugin.Env) (plugin.Instance, error) {
	c := cfg.(*Config)
	var errs plugin.Errors
	// Kong's strings must be non-empty unless the schema says otherwise.
	if c.Anonymous != nil && *c.Anonymous == "" {
		errs = append(errs, plugin.Errors{{Path: "anonymous", Message: "length must be at least 1"}}...)
	}
	if c.Realm == "" {
		errs = append(errs, plugin.Errors{{Path: "realm", Message: "length must be at least 1"}}...)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	in := &instance{
		hide:    c.HideCredentials,
		wwwAuth: `Basic realm="` + c.Realm + `"`,
		cache:   newCache(cacheSize, cacheTTL, time.Now),
	}
	if c.Anonymous != nil {
		in.anonymous = *c.Anonymous
	}
	return in, nil
}

// Access authenticates the request. Without `anonymous` every failure is
// answered (Kong's logical AND between auth plugins); with it, a request
// already holding a credential is left alone and a failure goes on as the
// anonymous consumer (logical OR). Kong's basic-auth has no
// run_on_preflight: OPTIONS requests are authenticated too.
func (in *instance) Access(c *plugin.Ctx) error {
	return plugin.RunAuth(c, in.anonymous, in)
}

func (in *instance) unauthorized() *plugin.Exit {
	return &plugin.Exit{
		Status:  http.StatusUnauthorized,
		Message: msgUnauthorized,
		Header:  http.Header{"Www-Authenticate": {in.wwwAuth}},
	}
}

// authenticate is Kong's do_authentication: Proxy-Authorization is tried
// first, and Authorization only when Proxy-Authorization names no known
// username. Each header read is removed when hide_credentials is set.
// CheckCredentials is the plugin's own check (plugin.RunAuth adds the
// anonymous-consumer rules).
func (in *instance) CheckCredentials(c *plugin.Ctx) *plugin.Exit {
	h := c.Req.Header
	// Kong's kong.request.get_header: the first value, present even if empty.
	proxyAuth, hasProxyAuth := plugin.FirstValue(h, hdrProxyAuthorization)
	auth, hasAuth := plugin.FirstValue(h, hdrAuthorization)
	if !hasProxyAuth && !hasAuth {
		return in.unauthorized()
	}

	var cred *plugin.Credential
	user, pass, ok := in.retrieve(c, hdrProxyAuthorization, proxyAuth, hasProxyAuth)
	if ok {
		cred = in.lookup(c, user)
	}
	if cred == nil {
		user, pass, ok = in.retrieve(c, hdrAuthorization, auth, hasAuth)
		if !ok {
			return in.unauthorized()
		}
		cred = in.lookup(c, user)
	}
	if !in.verify(cred, pass) {
		return in.unauthorized()
	}
	if cred.Consumer == nil {
		return plugin.NewExit(http.StatusInternalServerError, msgUnexpected)
	}
	plugin.Authenticate(c, cred)
	// Kong's basic-auth identifies the credential by its username (its
	// key).
	if cred.Key != "" {
		h["X-Credential-Identifier"] = []string{cred.Key}
	} else {
		delete(h, "X-Credential-Identifier")
	}
	return nil
}

// retrieve is Kong's retrieve_credentials for one header.
func (in *instance) retrieve(c *plugin.Ctx, header, value string, present bool) (user, pass string, ok bool) {
	if in.hide {
		delete(c.Req.Header, header)
	}
	if !present {
		return "", "", false
	}
	return parse(value)
}

// parse reads `Basic base64(username:password)` as Kong does.
func parse(value string) (user, pass string, ok bool) {
	m := basicRe.FindStringSubmatch(value)
	if m == nil {
		return "", "", false
	}
	var buf [128]byte
	raw, ok := plugin.AppendDecodeBase64(buf[:0], m[1])
	if !ok {
		return "", "", false
	}
	p := partsRe.FindStringSubmatch(string(raw))
	if p == nil {
		return "", "", false
	}
	return p[1], p[2], true
}

func (in *instance) lookup(c *plugin.Ctx, user string) *plugin.Credential {
	if c.Directory == nil {
		return nil
	}
	cred, ok := c.Directory.Credential(kindName, user)
	if !ok {
		return nil
	}
	return cred
}

// verify checks pass against cred's bcrypt hash, through the cache. A nil
// credential is compared against a dummy hash so that unknown usernames
// take as long as wrong passwords.
func (in *instance) verify(cred *plugin.Credential, pass string) bool {
	if cred == nil || cred.Fields.(*Credential).hash == "" {
		return in.cache.reject(pass)
	}
	return in.cache.verify(cred.Fields.(*Credential).hash, pass)
}
