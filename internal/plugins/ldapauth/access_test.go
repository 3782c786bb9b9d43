package ldapauth

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/plugintest"
	"github.com/turnpikegw/turnpike/internal/record"
)

var users = map[string]string{"einstein": "password", "newton": "apple"}

var nobody = &plugin.Consumer{ID: "anon-id", Username: "no-body"}

func slapd(t testing.TB) *gwtest.Slapd {
	t.Helper()
	return gwtest.StartSlapd(t, gwtest.SlapdOptions{Users: users})
}

// newInstance builds an instance against s as Kong's spec routes do,
// with set applied over the config.
func newInstance(t testing.TB, s *gwtest.Slapd, set func(*Config)) *instance {
	t.Helper()
	host, base, attr := "127.0.0.1", gwtest.SlapdBaseDN, "uid"
	cfg := &Config{}
	cfg.SetDefaults()
	cfg.LDAPHost, cfg.LDAPPort, cfg.BaseDN, cfg.Attribute = &host, s.Port, &base, &attr
	if set != nil {
		set(cfg)
	}
	in, err := New(cfg, plugin.Env{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.(*instance).Close)
	return in.(*instance)
}

func request(header ...string) *plugin.Ctx {
	r := httptest.NewRequest(http.MethodGet, "/request", nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	return &plugin.Ctx{Req: r, Record: &record.Record{Time: time.Now()},
		Directory: &plugintest.Directory{Consumers: []*plugin.Consumer{nobody}}}
}

func access(t *testing.T, in *instance, c *plugin.Ctx) *plugin.Exit {
	t.Helper()
	err := in.Access(c)
	if err == nil {
		return nil
	}
	e, ok := err.(*plugin.Exit)
	if !ok {
		t.Fatalf("not an Exit: %v", err)
	}
	return e
}

func ldapHeader(userPass string) string { return "ldap " + b64(userPass) }

// The cases of Kong's spec/03-plugins/20-ldap-auth/01-access_spec.lua
// that one instance decides.
func TestAccess(t *testing.T) {
	s := slapd(t)
	plain := newInstance(t, s, nil)
	realm := "test-ldap"
	hidden := newInstance(t, s, func(c *Config) { c.HideCredentials, c.Realm, c.CacheTTL = true, &realm, 2 })
	basic := newInstance(t, s, func(c *Config) { c.HeaderType = "Basic" })
	basicRealm := newInstance(t, s, func(c *Config) { c.HeaderType, c.Realm = "Basic", &realm })
	suffix := gwtest.SlapdSuffix
	top := newInstance(t, s, func(c *Config) { c.BaseDN = &suffix })
	tests := []struct {
		name    string
		in      *instance
		header  []string
		status  int    // 0: authenticated
		wwwAuth string // of a 401
	}{
		{"credential missing", plain, nil, 401, "LDAP"},
		{"wrong format in authorization", plain, []string{"Authorization", "abcd"}, 401, "LDAP"},
		{"wrong format in proxy-authorization", plain, []string{"Proxy-Authorization", "abcd"}, 401, "LDAP"},
		{"value missing", plain, []string{"Authorization", "ldap "}, 401, "LDAP"},
		{"valid", plain, []string{"Authorization", ldapHeader("einstein:password")}, 0, ""},
		{"invalid scheme", plain, []string{"Authorization", "invalidldap " + b64("einstein:password")}, 401, "LDAP"},
		{"leading space", plain, []string{"Authorization", " ldap " + b64("einstein:password")}, 0, ""},
		{"scheme in caps", plain, []string{"Authorization", "LDAP " + b64("einstein:password")}, 0, ""},
		{"no password", plain, []string{"Authorization", ldapHeader("einstein:")}, 401, "LDAP"},
		{"very long wrong password", plain, []string{"Authorization", ldapHeader("einstein:e0d91f53c566e0d91f53c566e0d91f53c566e0d91f53c566e0d91f53c566e0d91f53c566e0d91f53c566e0d91f53c566e0d91f53c566e0d91f53c566e0d91f53c566e0d91f53c566e0d91f53c566")}, 401, "LDAP"},
		{"several colons", plain, []string{"Authorization", ldapHeader("einstein:password:another_password")}, 401, "LDAP"},
		{"wrong password", plain, []string{"Authorization", ldapHeader("einstein:wrong_password")}, 401, "LDAP"},
		{"wrong password with realm", hidden, []string{"Authorization", ldapHeader("einstein:wrong_password")}, 401, `LDAP realm="test-ldap"`},
		{"custom scheme", basic, []string{"Authorization", "basic " + b64("einstein:password")}, 0, ""},
		{"custom scheme in WWW-Authenticate", basic, nil, 401, "Basic"},
		{"custom scheme and realm", basicRealm, nil, 401, `Basic realm="test-ldap"`},
		{"custom scheme, invalid", basic, []string{"Authorization", "invalidldap " + b64("einstein:password")}, 401, "Basic"},
		{"proxy-authorization", plain, []string{"Proxy-Authorization", ldapHeader("newton:apple")}, 0, ""},
		{"proxy-authorization wrong, authorization right", plain, []string{"Proxy-Authorization", ldapHeader("newton:pear"), "Authorization", ldapHeader("einstein:password")}, 0, ""},
		{"unknown user", plain, []string{"Authorization", ldapHeader("curie:password")}, 401, "LDAP"},
		// Beyond Kong: the username cannot add DN components (Kong would
		// bind as uid=einstein,ou=scientists,<base_dn> here).
		{"dn injection", top, []string{"Authorization", ldapHeader("einstein,ou=scientists:password")}, 401, "LDAP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := request(tt.header...)
			e := access(t, tt.in, c)
			if tt.status == 0 {
				if e != nil {
					t.Fatalf("got %d %q, want authenticated", e.Status, e.Message)
				}
				return
			}
			if e == nil || e.Status != tt.status || e.Message != "Unauthorized" {
				t.Fatalf("got %+v, want %d Unauthorized", e, tt.status)
			}
			if got := e.Header.Get("WWW-Authenticate"); got != tt.wwwAuth {
				t.Fatalf("WWW-Authenticate %q, want %q", got, tt.wwwAuth)
			}
		})
	}
}

func TestIdentityHeaders(t *testing.T) {
	s := slapd(t)
	in := newInstance(t, s, nil)
	c := request("Proxy-Authorization", ldapHeader("newton:pear"), "Authorization", ldapHeader("einstein:password"))
	// What an earlier auth plugin set (logical AND): Kong clears it.
	c.Consumer = &plugin.Consumer{ID: "other"}
	c.Req.Header.Set("X-Consumer-Id", "other")
	c.Req.Header.Set("X-Consumer-Username", "other")
	c.Req.Header.Set("X-Anonymous-Consumer", "true")
	if e := access(t, in, c); e != nil {
		t.Fatalf("got %+v", e)
	}
	h := c.Req.Header
	if h.Get("X-Credential-Identifier") != "einstein" || c.Credential != "einstein" || c.Consumer != nil {
		t.Fatalf("credential %q header %q consumer %v", c.Credential, h.Get("X-Credential-Identifier"), c.Consumer)
	}
	for _, k := range []string{"X-Consumer-Id", "X-Consumer-Username", "X-Anonymous-Consumer"} {
		if _, ok := h[k]; ok {
			t.Errorf("%s kept: %q", k, h.Get(k))
		}
	}
	// Without hide_credentials both headers go upstream.
	if h.Get("Authorization") == "" || h.Get("Proxy-Authorization") == "" {
		t.Fatalf("credentials removed: %v", h)
	}
	if calls := c.Record.Calls(); len(calls) != 2 || calls[0].Kind != "ldap" || calls[0].Target != s.Addr || calls[0].Err {
		t.Fatalf("calls %+v", calls)
	}

	hidden := newInstance(t, s, func(c *Config) { c.HideCredentials = true })
	c = request("Proxy-Authorization", "ldap x", "Authorization", ldapHeader("einstein:password"))
	if e := access(t, hidden, c); e != nil {
		t.Fatalf("got %+v", e)
	}
	if _, ok := c.Req.Header["Authorization"]; ok {
		t.Fatal("Authorization kept with hide_credentials")
	}
	if _, ok := c.Req.Header["Proxy-Authorization"]; ok {
		t.Fatal("Proxy-Authorization kept with hide_credentials")
	}
}

// Kong's config.anonymous cases.
func TestAnonymous(t *testing.T) {
	s := slapd(t)
	anon := newInstance(t, s, func(c *Config) { c.Anonymous = &nobody.Username })
	c := request("Authorization", ldapHeader("einstein:password"))
	if e := access(t, anon, c); e != nil || c.Req.Header.Get("X-Credential-Identifier") != "einstein" {
		t.Fatalf("right credentials: %+v %v", e, c.Req.Header)
	}
	c = request()
	if e := access(t, anon, c); e != nil {
		t.Fatalf("no credentials: %+v", e)
	}
	if c.Consumer != nobody || c.Req.Header.Get("X-Anonymous-Consumer") != "true" || c.Req.Header.Get("X-Consumer-Username") != "no-body" {
		t.Fatalf("anonymous consumer not set: %v %v", c.Consumer, c.Req.Header)
	}
	if _, ok := c.Req.Header["X-Credential-Identifier"]; ok {
		t.Fatal("X-Credential-Identifier on an anonymous request")
	}
	ghost := "9c6e1e4c-5a61-4d4b-8b2b-6f0bd1a3c0de"
	missing := newInstance(t, s, func(c *Config) { c.Anonymous = &ghost })
	e := access(t, missing, request())
	if e == nil || e.Status != 500 || e.Message != "anonymous consumer "+ghost+" is configured but doesn't exist" {
		t.Fatalf("got %+v", e)
	}
}

// A verdict is cached for cache_ttl: the server is not asked again for
// it, a failure included (Kong's neg_ttl), and asked again once it
// expires. A server that cannot be asked is a 500, and not cached.
func TestCache(t *testing.T) {
	s := slapd(t)
	in := newInstance(t, s, nil)
	now := time.Now()
	var mu sync.Mutex
	in.cache.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	good, bad := ldapHeader("einstein:password"), ldapHeader("einstein:nope")
	if e := access(t, in, request("Authorization", good)); e != nil {
		t.Fatalf("got %+v", e)
	}
	if e := access(t, in, request("Authorization", bad)); e == nil || e.Status != 401 {
		t.Fatalf("got %+v", e)
	}
	s.Stop()
	c := request("Authorization", good)
	if e := access(t, in, c); e != nil {
		t.Fatalf("cached success: %+v", e)
	}
	if len(c.Record.Calls()) != 0 {
		t.Fatalf("a cached verdict asked the server: %+v", c.Record.Calls())
	}
	if e := access(t, in, request("Authorization", bad)); e == nil || e.Status != 401 {
		t.Fatalf("cached failure: %+v", e)
	}
	e := access(t, in, request("Authorization", ldapHeader("newton:apple")))
	if e == nil || e.Status != 500 || e.Message != "An unexpected error occurred" {
		t.Fatalf("server down: %+v", e)
	}
	advance(61 * time.Second)
	if e := access(t, in, request("Authorization", good)); e == nil || e.Status != 500 {
		t.Fatalf("expired entry still used: %+v", e)
	}
	s.Restart()
	// The error was not cached, and the kept connection is gone: a new one.
	if e := access(t, in, request("Authorization", ldapHeader("newton:apple"))); e != nil {
		t.Fatalf("after restart: %+v", e)
	}
}

// A server that accepts connections but never answers is given up on
// after timeout, and requests past the connection limit wait no longer.
func TestTimeout(t *testing.T) {
	s := slapd(t)
	in := newInstance(t, s, func(c *Config) { c.Timeout = 300 })
	if e := access(t, in, request("Authorization", ldapHeader("einstein:password"))); e != nil {
		t.Fatalf("got %+v", e)
	}
	s.Pause()
	defer s.Resume()
	start := time.Now()
	var wg sync.WaitGroup
	statuses := make([]int, maxConns+8)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := request("Authorization", ldapHeader("user"+strconv.Itoa(i)+":pw"))
			if e, _ := in.Access(c).(*plugin.Exit); e != nil {
				statuses[i] = e.Status
			}
		}()
	}
	wg.Wait()
	// At most a slot wait, a bind on the kept connection, a dial and a
	// bind on a new one: 4 timeouts, and room for a loaded machine.
	if d := time.Since(start); d > 6*time.Second {
		t.Fatalf("took %v with a 300 ms timeout", d)
	}
	for i, st := range statuses {
		if st != 500 {
			t.Fatalf("request %d: status %d, want 500", i, st)
		}
	}
}

// Requests with the same credentials at once share one bind.
func TestSingleBind(t *testing.T) {
	s := slapd(t)
	in := newInstance(t, s, nil)
	s.Pause()
	var wg sync.WaitGroup
	ctxs := make([]*plugin.Ctx, 10)
	for i := range ctxs {
		ctxs[i] = request("Authorization", ldapHeader("einstein:password"))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if e, _ := in.Access(ctxs[i]).(*plugin.Exit); e != nil {
				t.Errorf("request %d: %+v", i, e)
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	s.Resume()
	wg.Wait()
	binds := 0
	for _, c := range ctxs {
		binds += len(c.Record.Calls())
	}
	if binds != 1 {
		t.Fatalf("%d binds for one credential", binds)
	}
}
