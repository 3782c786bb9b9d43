package keyauth

import (
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Config mirrors Kong's key-auth schema. Anonymous and Realm are pointers
// because Kong tells an absent value from a present one.
type Config struct {
	KeyNames        []string `yaml:"key_names"`
	HideCredentials bool     `yaml:"hide_credentials"`
	// Anonymous is a consumer id or username.
	Anonymous      *string `yaml:"anonymous"`
	KeyInHeader    bool    `yaml:"key_in_header"`
	KeyInQuery     bool    `yaml:"key_in_query"`
	KeyInBody      bool    `yaml:"key_in_body"`
	RunOnPreflight bool    `yaml:"run_on_preflight"`
	Realm          *string `yaml:"realm"`
}

// SetDefaults applies Kong's defaults.
func (c *Config) SetDefaults() {
	c.KeyNames = []string{"apikey"}
	c.KeyInHeader = true
	c.KeyInQuery = true
	c.RunOnPreflight = true
}

const name = "key-auth"

// Registration describes the plugin to the registry.
func Registration() plugin.Registration {
	return plugin.Registration{
		Name:        name,
		Priority:    1250,
		NewConfig:   func() any { return &Config{} },
		New:         New,
		NoConsumer:  true,
		Credentials: []plugin.CredentialKind{credentialKind()},
		Secrets:     secrets,
	}
}

// secrets are the names keys are read from: each key name as a query
// argument and as a header, also spelt with dashes for underscores
// (Kong reads an `api_key` key from an `api-key` header too).
func secrets(cfg any) (headers, query []string) {
	c := cfg.(*Config)
	for _, n := range c.KeyNames {
		headers = append(headers, n, strings.ReplaceAll(n, "_", "-"))
	}
	return headers, c.KeyNames
}

// Kong's messages (kong/plugins/key-auth/handler.lua).
const (
	msgDuplicate  = "Duplicate API key found"
	msgNoKey      = "No API key found in request"
	msgInvalid    = "Unauthorized"
	msgUnexpected = "An unexpected error occurred"
)

// keyName is one configured key name and the header it is read from.
type keyName struct {
	name   string
	header plugin.HeaderName
}

type instance struct {
	keys                                       []keyName
	inHeader, inQuery, inBody, hide, preflight bool
	anonymous                                  string
	// wwwAuth is the WWW-Authenticate value of every 401.
	wwwAuth string
	now     func() time.Time
}

// New validates the config as Kong's schema does.
func New(cfg any, _ plugin.Env) (plugin.Instance, error) {
	c := cfg.(*Config)
	var errs plugin.Errors
	if c.KeyNames == nil {
		errs = append(errs, plugin.Errors{{Path: "key_names", Message: "required field missing"}}...)
	}
	for i, n := range c.KeyNames {
		if plugin.ValidHeaderName(n) {
			continue
		}
		msg := "no header name provided"
		if n != "" {
			msg = "bad header name '" + n + "', allowed characters are A-Z, a-z, 0-9, '_', and '-'"
		}
		errs = append(errs, plugin.Errors{{Path: "key_names[" + strconv.Itoa(i) + "]", Message: msg}}...)
	}
	// Kong's strings must be non-empty unless the schema says otherwise.
	if c.Anonymous != nil && *c.Anonymous == "" {
		errs = append(errs, plugin.Errors{{Path: "anonymous", Message: "length must be at least 1"}}...)
	}
	if c.Realm != nil && *c.Realm == "" {
		errs = append(errs, plugin.Errors{{Path: "realm", Message: "length must be at least 1"}}...)
	}
	if len(errs) > 0 {
		return nil, errs
	}

	in := &instance{
		inHeader:  c.KeyInHeader,
		inQuery:   c.KeyInQuery,
		inBody:    c.KeyInBody,
		hide:      c.HideCredentials,
		preflight: c.RunOnPreflight,
		wwwAuth:   "Key",
		now:       time.Now,
	}
	for _, n := range c.KeyNames {
		in.keys = append(in.keys, keyName{
			name:   n,
			header: plugin.NewHeaderName(n),
		})
	}
	if c.Anonymous != nil {
		in.anonymous = *c.Anonymous
	}
	if c.Realm != nil {
		in.wwwAuth = `Key realm="` + *c.Realm + `"`
	}
	return in, nil
}

// Access authenticates the request. Without `anonymous` every failure is
// answered (Kong's logical AND between auth plugins); with it, a request
// already holding a credential is left alone and a failure goes on as the
// anonymous consumer (logical OR).
func (in *instance) Access(c *plugin.Ctx) error {
	if !in.preflight && c.Req.Method == http.MethodOptions {
		return nil
	}
	return plugin.RunAuth(c, in.anonymous, in)
}

func (in *instance) unauthorized(msg string) *plugin.Exit {
	return &plugin.Exit{
		Status:  http.StatusUnauthorized,
		Message: msg,
		Header:  http.Header{"Www-Authenticate": {in.wwwAuth}},
	}
}

// authenticate is Kong's do_authentication: it finds the key, hides it when
// asked, and authenticates its consumer, or returns the failure.
// CheckCredentials is the plugin's own check (plugin.RunAuth adds the
// anonymous-consumer rules).
func (in *instance) CheckCredentials(c *plugin.Ctx) *plugin.Exit {
	var (
		key   string
		found bool
		body  *body
	)
	for i := range in.keys {
		k := &in.keys[i]
		var (
			v         value
			headerKey string
		)
		if in.inHeader {
			headerKey, v = headerValue(c.Req.Header, k.header)
		}
		if v.kind == absent && in.inQuery {
			v = queryValue(c.RawQuery, k.name)
		}
		if v.kind == absent && in.inBody {
			if body == nil {
				body = readBody(c.Req)
			}
			v = body.value(k.name)
		}
		switch v.kind {
		case single:
			key, found = v.s, true
			if in.hide {
				c.RawQuery = removeQueryArg(c.RawQuery, k.name)
				if headerKey != "" {
					delete(c.Req.Header, headerKey)
				}
				if in.inBody {
					if body == nil {
						body = readBody(c.Req)
					}
					body.remove(c.Req, k.name)
				}
			}
		case multiple:
			return in.unauthorized(msgDuplicate)
		default:
			// Absent, or present but not a string (a query flag without
			// '=', a JSON number): Kong moves on to the next name.
			continue
		}
		break
	}
	if !found || key == "" {
		return in.unauthorized(msgNoKey)
	}

	var cred *plugin.Credential
	ok := false
	if c.Directory != nil {
		cred, ok = c.Directory.Credential(kindName, key)
	}
	if !ok || cred == nil || cred.Expired(in.now()) ||
		subtle.ConstantTimeCompare([]byte(cred.Key), []byte(key)) != 1 {
		return in.unauthorized(msgInvalid)
	}
	if cred.Consumer == nil {
		return plugin.NewExit(http.StatusInternalServerError, msgUnexpected)
	}
	plugin.Authenticate(c, cred)
	return nil
}

// kind is what Kong's Lua sees for one key name: nothing, a string, a
// table of repeated values, or another truthy value (a query argument
// without '=', a JSON number or null).
type kind uint8

const (
	absent kind = iota
	single
	multiple
	other
)

type value struct {
	kind kind
	s    string
}

// headerValue reads a key name's header and returns it with its key in h.
func headerValue(h http.Header, name plugin.HeaderName) (string, value) {
	key, vs := name.Values(h)
	switch len(vs) {
	case 0:
		return "", value{}
	case 1:
		return key, value{kind: single, s: vs[0]}
	}
	return key, value{kind: multiple}
}
