package aggregate

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/record"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

// Independent calls run in parallel: three calls of 300 ms answer in
// about 300 ms, not 900.
func TestParallel(t *testing.T) {
	slow := func(body string) *testingServer {
		return &testingServer{body: body, delay: 300 * time.Millisecond}
	}
	a, b, c := slow(`{"a":1}`).start(t), slow(`{"b":2}`).start(t), slow(`{"c":3}`).start(t)
	in := build(t, plugin.Env{},
		Call{Name: "a", URL: a.URL + "/"}, Call{Name: "b", URL: b.URL + "/"}, Call{Name: "c", URL: c.URL + "/"})
	t0 := time.Now()
	e := aggregate(t, in, request("/"))
	took := time.Since(t0)
	if took > 700*time.Millisecond {
		t.Errorf("took %v: the calls did not run in parallel", took)
	}
	if e.Status != 200 || e.Header.Get("X-Turnpike-Completed") != "true" || e.ContentType != "application/json" {
		t.Errorf("status %d, header %v, type %q", e.Status, e.Header, e.ContentType)
	}
	if got := string(e.Body); got != `{"a":1,"b":2,"c":3}` {
		t.Errorf("body %s", got)
	}
}

// testingServer answers JSON after a delay, counting its requests.
type testingServer struct {
	body  string
	delay time.Duration
	mu    sync.Mutex
	seen  []string // request URIs
}

func (s *testingServer) start(t testing.TB) *testServerHandle {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.seen = append(s.seen, r.RequestURI)
		s.mu.Unlock()
		select {
		case <-time.After(s.delay):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(s.body))
	})
	return &testServerHandle{URL: srv.URL, s: s}
}

type testServerHandle struct {
	URL string
	s   *testingServer
}

func (h *testServerHandle) uris() []string {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	return append([]string(nil), h.s.seen...)
}

// A call after another starts once it finished, and reads its answer;
// an independent one does not wait for either.
func TestAfter(t *testing.T) {
	users := &testingServer{body: `{"id":"u1","account_id":"a/1 ?#"}`, delay: 200 * time.Millisecond}
	accounts := &testingServer{body: `{"data":{"number":"N-9","owner":"u1"}}`}
	other := &testingServer{body: `{"other":true}`, delay: 200 * time.Millisecond}
	uh, ah, oh := users.start(t), accounts.start(t), other.start(t)
	in := build(t, plugin.Env{},
		Call{Name: "user", URL: uh.URL + "/users/{captures.id}", Group: ptr("user")},
		Call{Name: "account", After: []string{"user"}, URL: ah.URL + "/accounts/{resp.user.account_id}", Group: ptr("account"),
			Target: "data", Mapping: map[string]string{"number": "acct_no"}},
		Call{Name: "other", URL: oh.URL + "/"},
	)
	c := request("/api/dashboard/u1")
	c.Captures = plugin.Captures{Positional: []string{"/api/dashboard/u1", "u1"}, Names: []string{"", "id"}}
	t0 := time.Now()
	e := aggregate(t, in, c)
	if took := time.Since(t0); took > 380*time.Millisecond {
		t.Errorf("took %v: other waited for user", took)
	}
	want := `{"user":{"id":"u1","account_id":"a/1 ?#"},"account":{"acct_no":"N-9","owner":"u1"},"other":true}`
	if got := string(e.Body); got != want {
		t.Errorf("body\n%s\nwant\n%s", got, want)
	}
	if got := ah.uris(); len(got) != 1 || got[0] != "/accounts/a%2F1%20%3F%23" {
		t.Errorf("accounts saw %q", got)
	}
}

// A request value that is absent fails the call as the client's mistake:
// 400 naming the call when it is required, an errors entry when it is not;
// a present but empty one is sent empty.
func TestTemplateMissingValue(t *testing.T) {
	echo := &testingServer{body: `{}`}
	h := echo.start(t)
	orders := Call{Name: "orders", URL: h.URL + "/orders?limit={query.limit}", Required: ptr(true)}
	e := aggregate(t, build(t, plugin.Env{}, orders), request("/x"))
	if e.Status != http.StatusBadRequest || e.Message != "missing query argument 'limit' for call 'orders'" {
		t.Errorf("required: answered %d %q %s", e.Status, e.Message, e.Body)
	}
	orders.Required = nil
	e = aggregate(t, build(t, plugin.Env{}, orders, Call{Name: "b", URL: h.URL + "/b/{headers.x-tenant}"}), request("/x"))
	want := `{"errors":[{"call":"orders","reason":"missing query argument 'limit'"},{"call":"b","reason":"missing header 'X-Tenant'"}]}`
	if e.Status != http.StatusOK || string(e.Body) != want {
		t.Errorf("optional: answered %d %s, want 200 %s", e.Status, e.Body, want)
	}
	if got := h.uris(); len(got) != 0 {
		t.Errorf("sent %q", got)
	}
	aggregate(t, build(t, plugin.Env{}, orders), request("/x?limit="))
	if got := h.uris(); len(got) != 1 || got[0] != "/orders?limit=" {
		t.Errorf("empty value: sent %q", got)
	}
}

// A value lands percent-encoded in its path segment or query value:
// none of `../`, `?`, `#`, `%2F`, `&` moves the call elsewhere.
func TestTemplateEncoding(t *testing.T) {
	echo := &testingServer{body: `{}`}
	h := echo.start(t)
	in := build(t, plugin.Env{},
		Call{Name: "a", URL: h.URL + "/users/{captures.id}/orders?limit={query.limit}&x=1", Required: ptr(true)})
	tests := []struct {
		name, id, query string
		want            string // the URI the backend saw; "" for none
	}{
		{"plain", "42", "limit=5", "/users/42/orders?limit=5&x=1"},
		{"dot dot slash", "../admin", "limit=5", "/users/..%2Fadmin/orders?limit=5&x=1"},
		{"question mark", "1?admin=true", "limit=", "/users/1%3Fadmin%3Dtrue/orders?limit=&x=1"},
		{"hash", "1#x", "limit=", "/users/1%23x/orders?limit=&x=1"},
		{"encoded slash", "a%2Fb", "limit=", "/users/a%252Fb/orders?limit=&x=1"},
		{"query injection", "1", "limit=5%26admin%3D1", "/users/1/orders?limit=5%26admin%3D1&x=1"},
		{"plus and space", "a b+c", "limit=a+b", "/users/a%20b%2Bc/orders?limit=a%20b&x=1"},
		{"unicode", "é", "limit=", "/users/%C3%A9/orders?limit=&x=1"},
		{"dot dot segment", "..", "limit=", ""},
		{"dot segment", ".", "limit=", ""},
		{"encoded dot dot", "%2e%2E", "limit=", "/users/%252e%252E/orders?limit=&x=1"},
		{"dot dot params", "..;x", "limit=", ""},
		{"dot params", ".;", "limit=", ""},
		{"encoded dot dot params", "%2e%2e;", "limit=", "/users/%252e%252e%3B/orders?limit=&x=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(h.uris())
			c := request("/x?" + tt.query)
			c.Captures = plugin.Captures{Positional: []string{"/x", tt.id}, Names: []string{"", "id"}}
			e := aggregate(t, in, c)
			seen := h.uris()[before:]
			if tt.want == "" {
				if len(seen) != 0 || e.Status != http.StatusBadRequest {
					t.Fatalf("sent %q, answered %d %s: want no call and 400", seen, e.Status, e.Body)
				}
				if e.Message != "a value made a '.' or '..' path segment for call 'a'" {
					t.Errorf("body %s", e.Body)
				}
				return
			}
			if len(seen) != 1 || seen[0] != tt.want {
				t.Errorf("backend saw %q, want %q", seen, tt.want)
			}
		})
	}
}

// Values come from captures, query, headers, the consumer and claims.
func TestTemplateSources(t *testing.T) {
	echo := &testingServer{body: `{}`}
	h := echo.start(t)
	in := build(t, plugin.Env{}, Call{Name: "a",
		URL: h.URL + "/{consumer.username}/{consumer.id}/{claims.sub}/{headers.x-tenant}?q={query.q}"})
	c := request("/x?q=%C3%A9&q=2")
	c.Req.Header.Set("X-Tenant", "t/1")
	c.Consumer = &plugin.Consumer{ID: "c-1", Username: "ann"}
	c.Claims = claims{"sub": "s:1"}
	aggregate(t, in, c)
	if got := h.uris(); len(got) != 1 || got[0] != "/ann/c-1/s%3A1/t%2F1?q=%C3%A9" {
		t.Errorf("backend saw %q", got)
	}
}

type claims map[string]string

func (c claims) Claim(name string) (string, bool) { v, ok := c[name]; return v, ok }

// Only the listed headers go to a call, with Accept: application/json.
func TestForwardHeaders(t *testing.T) {
	var got http.Header
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	})
	in := build(t, plugin.Env{}, Call{Name: "a", URL: srv.URL + "/", ForwardHeaders: []string{"authorization", "X-Missing"}})
	c := request("/")
	c.Req.Header.Set("Authorization", "Bearer t")
	c.Req.Header.Set("Cookie", "s=1")
	c.Req.Header.Set("X-Other", "1")
	aggregate(t, in, c)
	if got.Get("Authorization") != "Bearer t" || got.Get("Accept") != "application/json" {
		t.Errorf("headers %v", got)
	}
	for _, h := range []string{"Cookie", "X-Other", "X-Missing"} {
		if _, ok := got[h]; ok {
			t.Errorf("%s forwarded", h)
		}
	}
}

// Each call that went out is an upstream attempt in the record.
func TestRecordAttempts(t *testing.T) {
	ok := jsonServer(t, `{"a":1}`)
	bad := server(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) })
	svcs := services{"orders": ok.URL}
	in := build(t, plugin.Env{ServiceIDs: svcs, Upstreams: svcs},
		Call{Name: "a", URL: ok.URL + "/"},
		Call{Name: "b", URL: bad.URL + "/", After: []string{"a"}},
		Call{Name: "c", Service: "orders", Path: "/o"},
		Call{Name: "d", After: []string{"b"}, URL: ok.URL + "/"},
	)
	c := request("/")
	aggregate(t, in, c)
	var got []record.Attempt
	for _, a := range c.Record.Attempts {
		if a.Head <= 0 || a.End < a.Head || a.Start <= 0 {
			t.Errorf("attempt times %+v", a)
		}
		a.Start, a.Head, a.End = 0, 0, 0
		got = append(got, a)
	}
	host := strings.TrimPrefix(ok.URL, "http://")
	want := []record.Attempt{
		{Target: host, Call: "a", Status: 200, Outcome: record.OutcomeResponse, BytesIn: 7},
		{Target: strings.TrimPrefix(bad.URL, "http://"), Call: "b", Status: 503, Outcome: record.OutcomeResponse},
		{Target: host, Call: "c", Status: 200, Outcome: record.OutcomeResponse, BytesIn: 7},
	}
	// a and c run together, and b after a: the order varies.
	slices.SortFunc(got, func(x, y record.Attempt) int { return strings.Compare(x.Call, y.Call) })
	if !c.Record.Aggregated() || c.Record.Retries() != 0 {
		t.Errorf("aggregated %v, retries %d; want true, 0", c.Record.Aggregated(), c.Record.Retries())
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("attempts (-want +got):\n%s", d)
	}
}

// The example of docs/aggregation.md answers what the guide says.
func TestGuideExample(t *testing.T) {
	users := jsonServer(t, `{"id":"42","name":"Ann","account_id":"A-7"}`)
	orders := &testingServer{body: `[{"id":1,"total":9.5,"lines":3},{"id":2,"total":3,"lines":1}]`}
	oh := orders.start(t)
	accounts := &testingServer{body: `{"data":{"number":"N-9","owner":"42"}}`}
	ah := accounts.start(t)
	// The orders service's upstream is the orders backend.
	svcs := services{"orders": oh.URL}
	in := build(t, plugin.Env{ServiceIDs: svcs, Upstreams: svcs},
		Call{Name: "user", URL: users.URL + "/users/{captures.id}", Group: ptr("user"), Timeout: 500, Required: ptr(true)},
		Call{Name: "orders", Service: "orders", Path: "/orders?user={captures.id}&limit={query.limit}", Group: ptr("orders"),
			Allow: []string{"id", "total"}},
		Call{Name: "account", After: []string{"user"}, URL: ah.URL + "/accounts/{resp.user.account_id}", Group: ptr("account"),
			Target: "data", Mapping: map[string]string{"number": "acct_no"}},
	)
	c := request("/api/dashboard/42?limit=5")
	c.Captures = plugin.Captures{Positional: []string{"/api/dashboard/42", "42"}, Names: []string{"", "id"}}
	e := aggregate(t, in, c)
	want := `{"user":{"id":"42","name":"Ann","account_id":"A-7"},"orders":[{"id":1,"total":9.5},{"id":2,"total":3}],` +
		`"account":{"acct_no":"N-9","owner":"42"}}`
	if string(e.Body) != want {
		t.Errorf("body\n%s\nwant\n%s", e.Body, want)
	}
	if got := oh.uris(); len(got) != 1 || got[0] != "/orders?user=42&limit=5" {
		t.Errorf("orders saw %q", got)
	}
	if got := ah.uris(); len(got) != 1 || got[0] != "/accounts/A-7" {
		t.Errorf("accounts saw %q", got)
	}
}
