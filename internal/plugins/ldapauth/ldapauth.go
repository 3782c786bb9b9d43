package ldapauth

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/record"
)

const name = "ldap-auth"

// Registration describes the plugin to the registry.
func Registration() plugin.Registration {
	return plugin.Registration{
		Name:       name,
		Priority:   1200,
		NewConfig:  func() any { return &Config{} },
		New:        New,
		NoConsumer: true,
	}
}

// Kong's messages (kong/plugins/ldap-auth/access.lua, and the 500 of an
// error raised in a plugin's access phase).
const (
	msgUnauthorized = "Unauthorized"
	msgUnexpected   = "An unexpected error occurred"
)

const (
	hdrAuthorization      = "Authorization"
	hdrProxyAuthorization = "Proxy-Authorization"
)

// defaultSocketTimeout is what a socket timeout of 0 means in OpenResty
// (lua_socket_connect_timeout and friends).
const defaultSocketTimeout = 60 * time.Second

type instance struct {
	// scheme is header_type lowered, as Kong matches it.
	scheme    string
	hide      bool
	anonymous string
	// wwwAuth is the WWW-Authenticate value of every 401.
	wwwAuth string
	// dnPrefix and dnSuffix surround the escaped username: `uid=` and
	// `,ou=people,dc=example,dc=com`.
	dnPrefix, dnSuffix string
	target             string // host:port, for the record's calls
	cache              *cache
	pool               *pool
	log                *slog.Logger
	lastWarn           atomic.Int64 // unix nanoseconds of the last error logged
}

// New validates the config as Kong's schema does and prepares the
// connection pool; nothing is dialled until a request needs it.
func New(cfg any, env plugin.Env) (plugin.Instance, error) {
	c := cfg.(*Config)
	if errs := c.validate(); len(errs) > 0 {
		return nil, errs
	}
	scheme := c.HeaderType
	if scheme == "ldap" {
		// Kong upper-cases the default for its WWW-Authenticate.
		scheme = "LDAP"
	}
	wwwAuth := scheme
	if c.Realm != nil {
		wwwAuth += ` realm="` + *c.Realm + `"`
	}
	timeout := millis(c.Timeout)
	if timeout == 0 {
		timeout = defaultSocketTimeout
	}
	addr := net.JoinHostPort(*c.LDAPHost, strconv.Itoa(c.LDAPPort))
	in := &instance{
		scheme:   strings.ToLower(c.HeaderType),
		hide:     c.HideCredentials,
		wwwAuth:  wwwAuth,
		dnPrefix: *c.Attribute + "=",
		dnSuffix: "," + *c.BaseDN,
		target:   addr,
		cache:    newCache(time.Duration(c.CacheTTL*float64(time.Second)), time.Now),
		pool:     newPool(addr, *c.LDAPHost, c.LDAPS, c.StartTLS, c.VerifyLDAPHost, timeout, millis(c.Keepalive)),
		log:      env.Logger,
	}
	if c.Anonymous != nil {
		in.anonymous = *c.Anonymous
	}
	if in.log == nil {
		in.log = slog.New(slog.DiscardHandler)
	}
	return in, nil
}

// Close closes the idle connections to the directory.
func (in *instance) Close() { in.pool.close() }

// Access authenticates the request (plugin.RunAuth adds Kong's
// anonymous-consumer rules: logical AND without `anonymous`, OR with it).
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

// CheckCredentials is Kong's do_authentication: Proxy-Authorization is
// tried first, Authorization when it did not authenticate. A directory
// that cannot be asked is a 500, as Kong's error() in the access phase.
func (in *instance) CheckCredentials(c *plugin.Ctx) *plugin.Exit {
	h := c.Req.Header
	proxyAuth, hasProxy := plugin.FirstValue(h, hdrProxyAuthorization)
	auth, hasAuth := plugin.FirstValue(h, hdrAuthorization)
	if !hasProxy && !hasAuth {
		return in.unauthorized()
	}
	var user string
	var ok bool
	var err error
	if hasProxy {
		user, ok, err = in.authenticate(c, proxyAuth)
	}
	if err == nil && !ok && hasAuth {
		user, ok, err = in.authenticate(c, auth)
	}
	if err != nil {
		if c.Req.Context().Err() != nil {
			// The client left while its bind waited: nothing is wrong with
			// the directory, and nobody reads the answer.
			return in.unauthorized()
		}
		in.warn(err)
		return plugin.NewExit(http.StatusInternalServerError, msgUnexpected)
	}
	if !ok {
		return in.unauthorized()
	}
	if in.hide {
		delete(h, hdrAuthorization)
		delete(h, hdrProxyAuthorization)
	}
	// Kong's set_consumer(nil, credential): no consumer, the username as
	// the credential's identifier.
	c.Consumer = nil
	c.Credential = user
	delete(h, "X-Consumer-Id")
	delete(h, "X-Consumer-Custom-Id")
	delete(h, "X-Consumer-Username")
	delete(h, "X-Anonymous-Consumer")
	h["X-Credential-Identifier"] = []string{user}
	return nil
}

// warnEvery is the least time between two errors logged by an instance:
// a directory that is down fails every request.
const warnEvery = 10 * time.Second

func (in *instance) warn(err error) {
	now := time.Now().UnixNano()
	last := in.lastWarn.Load()
	if now-last < int64(warnEvery) || !in.lastWarn.CompareAndSwap(last, now) {
		return
	}
	in.log.Error("ldap-auth: the directory could not be asked", "target", in.target, "error", err)
}

// authenticate checks one header's credentials, through the cache. A
// cache hit allocates only the username it returns.
func (in *instance) authenticate(c *plugin.Ctx, value string) (string, bool, error) {
	sc := in.cache.getScratch()
	u, p, ok := in.parse(value, sc.buf[:0])
	if !ok {
		in.cache.putScratch(sc)
		return "", false, nil
	}
	d := sc.digest(u, p)
	user := string(u)
	verdict, found := in.cache.verdict(d)
	if found {
		in.cache.putScratch(sc)
		return user, verdict, nil
	}
	pass := string(p)
	in.cache.putScratch(sc)
	verdict, err := in.cache.do(c.Req.Context(), d, func() (bool, bool, error) {
		return in.bind(c.Record, user, pass)
	})
	return user, verdict && err == nil, err
}

// bind asks the directory, noting the call in the request's record. A
// refusal is cached only when the server said the credentials are wrong:
// a busy or unwilling server's answer is not a verdict on them.
func (in *instance) bind(rec *record.Record, user, pass string) (ok, cacheable bool, err error) {
	start := time.Now()
	ok, code, err := in.pool.bind(context.Background(), in.dnPrefix+ldap.EscapeDN(user)+in.dnSuffix, pass)
	if rec != nil {
		rec.AddCall(record.Call{Kind: "ldap", Name: "BIND", Target: in.target,
			Start: start.Sub(rec.Time), Duration: time.Since(start), Err: err != nil})
	}
	return ok, ok || code == ldap.LDAPResultInvalidCredentials, err
}

// parse reads `<header_type> base64(username:password)` as Kong's
// retrieve_credentials: leading white space, the scheme in any case, white
// space, then the base64 text decoded as ngx.decode_base64 does and split
// as `^(.*?):(.+)$` (the first ':' ends the username, the password is not
// empty, '.' matches no newline but `$` allows one final one). Beyond Kong
// the username must be non-empty and free of control characters, since it
// is sent upstream in X-Credential-Identifier. The slices point into buf
// or a fresh array when buf is too small.
func (in *instance) parse(value string, buf []byte) (user, pass []byte, ok bool) {
	s := strings.TrimLeft(value, pcreSpace)
	if len(s) < len(in.scheme) || !strings.EqualFold(s[:len(in.scheme)], in.scheme) {
		return nil, nil, false
	}
	s = s[len(in.scheme):]
	rest := strings.TrimLeft(s, pcreSpace)
	if len(rest) == len(s) {
		return nil, nil, false
	}
	decoded, ok := plugin.AppendDecodeBase64(buf[:0], rest)
	if !ok {
		return nil, nil, false
	}
	if n := len(decoded); n > 0 && decoded[n-1] == '\n' {
		decoded = decoded[:n-1]
	}
	colon := -1
	for i, b := range decoded {
		if b == '\n' {
			return nil, nil, false
		}
		if colon < 0 && b == ':' {
			colon = i
		}
		if colon < 0 && (b < 0x20 || b == 0x7f) {
			return nil, nil, false
		}
	}
	if colon <= 0 || colon == len(decoded)-1 {
		return nil, nil, false
	}
	return decoded[:colon], decoded[colon+1:], true
}

// pcreSpace is PCRE's \s.
const pcreSpace = " \t\n\v\f\r"
