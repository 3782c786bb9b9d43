package aggregate

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/record"
)

// services is the test's plugin.ServiceIDs and plugin.Upstreams: a
// service id is the name with "id-" before it, and a request to it goes
// to the real server whose URL is registered under the name (as
// snapshot.Upstreams sends it to a target the balancer picks).
type services map[string]string

func (s services) ServiceID(name string) (string, bool) {
	_, ok := s[name]
	return "id-" + name, ok
}

func (s services) RoundTrip(id string, req *http.Request) (*http.Response, error) {
	base, ok := s[strings.TrimPrefix(id, "id-")]
	if !ok {
		return nil, errors.New("no such service")
	}
	out := req.Clone(req.Context())
	u, _ := url.Parse(base)
	out.URL.Scheme, out.URL.Host, out.Host = u.Scheme, u.Host, u.Host
	return http.DefaultTransport.RoundTrip(out)
}

// jsonServer answers every request with body as JSON.
func jsonServer(t testing.TB, body string) *httptest.Server {
	return server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	})
}

func server(t testing.TB, h http.HandlerFunc) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// build compiles cfg (its defaults set first by the caller's fields
// over SetDefaults) or fails the test.
func build(t testing.TB, env plugin.Env, calls ...Call) *instance {
	t.Helper()
	cfg := &Config{}
	cfg.SetDefaults()
	cfg.Calls = calls
	return buildCfg(t, env, cfg)
}

func buildCfg(t testing.TB, env plugin.Env, cfg *Config) *instance {
	t.Helper()
	in, err := New(cfg, env)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(in.(*instance).Close)
	return in.(*instance)
}

// request is a Ctx for a client request to target.
func request(target string) *plugin.Ctx {
	return &plugin.Ctx{Req: httptest.NewRequest(http.MethodGet, target, nil), StartedAt: time.Now(), Record: &record.Record{}}
}

// aggregate runs the aggregation and returns the answer.
func aggregate(t testing.TB, in *instance, c *plugin.Ctx) *plugin.Exit {
	t.Helper()
	err := in.Access(c)
	settle(in)
	var e *plugin.Exit
	if !errors.As(err, &e) {
		t.Fatalf("Access returned %v, want an Exit", err)
	}
	if e.Message == "" && !json.Valid(e.Body) {
		t.Fatalf("the answer is not valid JSON: %s", e.Body)
	}
	return e
}

// body decodes an answer's body.
func body(t testing.TB, e *plugin.Exit) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(e.Body, &m); err != nil {
		t.Fatalf("answer %s: %v", e.Body, err)
	}
	return m
}

func ptr[T any](v T) *T { return &v }

// settle waits for in's cache writes in flight: a test's next request
// sees what the last one stored. Access takes a write's slot before it
// returns, so none pending costs nothing (the cached benchmark).
func settle(in *instance) {
	if len(in.writes) == 0 {
		return
	}
	for range cap(in.writes) {
		in.writes <- struct{}{}
	}
	for range cap(in.writes) {
		<-in.writes
	}
}
