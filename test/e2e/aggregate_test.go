package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// aggBackend is the JSON backend of the aggregation tests: it answers
// users, accounts, orders and recommendations, each after the delay its
// `d` query argument asks for (ms), and logs the raw path and query of
// every request it got.
type aggBackend struct {
	addr string
	mu   sync.Mutex
	seen []string // RequestURI as received
}

func startAggBackend(t *testing.T) *aggBackend {
	t.Helper()
	b := &aggBackend{}
	b.addr = startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.seen = append(b.seen, r.RequestURI)
		b.mu.Unlock()
		if d, _ := strconv.Atoi(r.URL.Query().Get("d")); d > 0 {
			select {
			case <-time.After(time.Duration(d) * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		seg := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
		switch {
		case seg[0] == "users" && len(seg) == 2:
			json.NewEncoder(w).Encode(map[string]any{"id": seg[1], "name": "Ada", "account_id": "acc-" + seg[1]})
		case seg[0] == "accounts" && len(seg) == 2:
			json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"number": "N-" + seg[1], "internal": "x"}})
		case seg[0] == "orders":
			io.WriteString(w, `[{"id":1,"total":10,"secret":"s1"},{"id":2,"total":20,"secret":"s2"}]`)
		case seg[0] == "recs":
			io.WriteString(w, `{"products":[{"sku":"p1"},{"sku":"p2"}]}`)
		default:
			http.Error(w, `{"message":"not here"}`, http.StatusNotFound)
		}
	}))
	return b
}

// since is what the backend logged from mark on.
func (b *aggBackend) since(mark int) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.seen[mark:]...)
}

func (b *aggBackend) mark() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.seen)
}

const aggConfig = `
_format_version: "3.0"
services:
- name: catalog
  url: http://%[1]s
- name: broken
  url: http://%[2]s
routes:
- name: parallel
  paths: ["~/api/par/(?<id>[^/]+)$"]
  plugins:
  - name: aggregate
    config:
      timeout: 3000
      calls:
      - {name: user, service: catalog, path: "/users/{captures.id}?d=400", group: user}
      - {name: orders, service: catalog, path: "/orders?user={captures.id}&d=400", group: orders, allow: [id, total]}
      - {name: recs, url: "http://%[1]s/recs?d=400", group: recs}
- name: dependent
  paths: ["~/api/dep/(?<id>[^/]+)$"]
  plugins:
  - name: aggregate
    config:
      calls:
      - {name: user, service: catalog, path: "/users/{captures.id}", group: user}
      - name: account
        after: [user]
        url: "http://%[1]s/accounts/{resp.user.account_id}"
        target: data
        mapping: {number: acct_no}
        deny: [internal]
- name: partial
  paths: ["~/api/partial/(?<id>[^/]+)$"]
  plugins:
  - name: aggregate
    config:
      calls:
      - {name: user, service: catalog, path: "/users/{captures.id}", group: user}
      - {name: failing, service: broken, path: /boom, group: failing}
      - {name: page, url: "http://%[3]s/page", group: page, required: false}
- name: required
  paths: ["~/api/required/(?<id>[^/]+)$"]
  plugins:
  - name: aggregate
    config:
      calls:
      - {name: user, service: catalog, path: "/users/{captures.id}", group: user}
      - {name: failing, service: broken, path: /boom, required: true}
- name: inject
  paths: ["~/api/inj/(?<id>[^/]+)$"]
  plugins:
  - name: aggregate
    config:
      calls:
      - {name: user, url: "http://%[1]s/users/{captures.id}?limit={query.limit}", group: user}
- name: deadline
  paths: ["~/api/deadline/(?<id>[^/]+)$"]
  plugins:
  - name: aggregate
    config:
      timeout: 1500
      calls:
      - {name: user, service: catalog, path: "/users/{captures.id}", group: user}
      - {name: slow, service: catalog, path: "/orders?d=30000", group: slow}
- name: nosvc
  paths: [/nosvc]
`

// aggAnswer is a decoded aggregation answer.
type aggAnswer struct {
	status    int
	completed string
	body      map[string]any
	raw       string
	took      time.Duration
}

func aggGet(t *testing.T, gw *gwtest.Gateway, path string) aggAnswer {
	t.Helper()
	start := time.Now()
	resp, body := gw.Get(path)
	a := aggAnswer{status: resp.StatusCode, completed: resp.Header.Get("X-Turnpike-Completed"), raw: body, took: time.Since(start)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal([]byte(body), &a.body); err != nil {
			t.Fatalf("%s: answer is not JSON: %q", path, body)
		}
	}
	return a
}

// errorCalls are the call names of an answer's errors list.
func (a aggAnswer) errorCalls() []string {
	var names []string
	list, _ := a.body["errors"].([]any)
	for _, e := range list {
		m, _ := e.(map[string]any)
		names = append(names, fmt.Sprint(m["call"]))
	}
	return names
}

// The aggregate plugin through the built binary against three real
// upstreams: a JSON backend whose answers are slow when asked, one that
// fails (500) and one that answers HTML.
func TestAggregate(t *testing.T) {
	backend := startAggBackend(t)
	failing := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"message":"boom"}`)
	}))
	html := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<html>not json</html>")
	}))
	gw := gwtest.Start(t, fmt.Sprintf(aggConfig, backend.addr, failing, html), gwtest.Options{})

	t.Run("parallel", func(t *testing.T) {
		a := aggGet(t, gw, "/api/par/7")
		if a.status != 200 || a.completed == "false" {
			t.Fatalf("status %d completed %q: %s", a.status, a.completed, a.raw)
		}
		// Three calls of 400 ms each: about the slowest, not the sum.
		if a.took < 400*time.Millisecond || a.took > 1000*time.Millisecond {
			t.Errorf("answer took %v; three parallel 400 ms calls should take about 400 ms", a.took)
		}
		user, _ := a.body["user"].(map[string]any)
		recs, _ := a.body["recs"].(map[string]any)
		if user["name"] != "Ada" || user["id"] != "7" || recs["products"] == nil || a.body["orders"] == nil {
			t.Errorf("merged answer %s", a.raw)
		}
		if strings.Contains(a.raw, "secret") {
			t.Errorf("allow [id, total] let another field through: %s", a.raw)
		}
	})

	t.Run("dependent", func(t *testing.T) {
		mark := backend.mark()
		a := aggGet(t, gw, "/api/dep/42")
		if a.status != 200 || a.body["acct_no"] != "N-acc-42" {
			t.Fatalf("status %d: %s", a.status, a.raw)
		}
		if strings.Contains(a.raw, "internal") || strings.Contains(a.raw, `"data"`) || strings.Contains(a.raw, `"number"`) {
			t.Errorf("target, deny or mapping not applied: %s", a.raw)
		}
		seen := backend.since(mark)
		if len(seen) != 2 || seen[0] != "/users/42" || seen[1] != "/accounts/acc-42" {
			t.Errorf("backend got %q, want the user first, then its account", seen)
		}
	})

	t.Run("partial failure", func(t *testing.T) {
		a := aggGet(t, gw, "/api/partial/7")
		if a.status != 200 || a.completed != "false" {
			t.Fatalf("status %d completed %q: %s", a.status, a.completed, a.raw)
		}
		if got := strings.Join(a.errorCalls(), ","); got != "failing,page" {
			t.Errorf("errors name %q, want failing,page: %s", got, a.raw)
		}
		if _, ok := a.body["failing"]; ok {
			t.Errorf("a failed call without required kept its group: %s", a.raw)
		}
		if v, ok := a.body["page"]; !ok || v != nil {
			t.Errorf("the non-JSON call with required: false is not null: %s", a.raw)
		}
		if user, _ := a.body["user"].(map[string]any); user["name"] != "Ada" {
			t.Errorf("the call that answered is missing: %s", a.raw)
		}
	})

	t.Run("required failure", func(t *testing.T) {
		a := aggGet(t, gw, "/api/required/7")
		if a.status != http.StatusBadGateway || strings.Join(a.errorCalls(), ",") != "failing" {
			t.Fatalf("status %d: %s", a.status, a.raw)
		}
	})

	t.Run("template injection", func(t *testing.T) {
		oneSegment := regexp.MustCompile(`^/users/[^/?]+(\?limit=[^&]*)?$`)
		// A capture is the normalised path's text: reserved characters
		// stay percent-encoded there, and the template encodes the
		// capture again, so the segment the backend reads back is the
		// capture itself.
		// reach: the call must be made (else the gateway may refuse the
		// path, or the plugin the value, before any call). An empty
		// limit is sent empty; an absent one fails the call.
		for _, tc := range []struct {
			path, capture, limit string
			reach                bool
		}{
			{"/api/inj/a%3Fadmin=1?limit=", "a%3Fadmin=1", "", true},
			{"/api/inj/..%2F..%2Fadmin?limit=", "..%2F..%2Fadmin", "", false},
			{"/api/inj/%2E%2E?limit=", "..", "", false},
			{"/api/inj/x%23frag?limit=", "x%23frag", "", true},
			{"/api/inj/a;b=..?limit=", "a;b=..", "", true},
			{"/api/inj/u1?limit=1%26admin%3D1", "u1", "1&admin=1", true},
			{"/api/inj/u2?limit=..%2F..%2Fx", "u2", "../../x", true},
		} {
			mark := backend.mark()
			a := aggGet(t, gw, tc.path)
			seen := backend.since(mark)
			if tc.reach && (a.status != 200 || len(seen) != 1) {
				t.Errorf("%s: status %d, backend got %q; want one call", tc.path, a.status, seen)
			}
			for _, uri := range seen {
				if !oneSegment.MatchString(uri) {
					t.Errorf("%s: the backend got %q, outside /users/{one segment}", tc.path, uri)
					continue
				}
				u, err := url.ParseRequestURI(uri)
				if err != nil {
					t.Errorf("%s: unparsable %q", tc.path, uri)
					continue
				}
				if seg := strings.TrimPrefix(u.Path, "/users/"); seg != tc.capture {
					t.Errorf("%s: the segment read back is %q, want %q", tc.path, seg, tc.capture)
				}
				q := u.Query()
				if len(q) > 1 || q.Get("limit") != tc.limit {
					t.Errorf("%s: query %v, want only limit=%q", tc.path, q, tc.limit)
				}
			}
			if a.status == 200 {
				if user, _ := a.body["user"].(map[string]any); user["id"] != tc.capture {
					t.Errorf("%s: answer %s", tc.path, a.raw)
				}
			} else if a.status >= 500 {
				t.Errorf("%s: status %d: %s", tc.path, a.status, a.raw)
			}
		}
	})

	// The timeout leaves the fast call ample time even on a loaded
	// machine (300 ms did not always), and the slow call takes 20 times
	// it: an answer within 10 s is one the deadline cut.
	t.Run("deadline", func(t *testing.T) {
		a := aggGet(t, gw, "/api/deadline/7")
		if a.took < 1500*time.Millisecond || a.took > 10*time.Second {
			t.Errorf("a 1500 ms aggregation took %v", a.took)
		}
		if a.status != 200 || a.completed != "false" || strings.Join(a.errorCalls(), ",") != "slow" {
			t.Fatalf("status %d completed %q: %s", a.status, a.completed, a.raw)
		}
		if !strings.Contains(a.raw, `"reason":"the aggregation's timeout passed"`) {
			t.Errorf("the slow call did not end by the timeout: %s", a.raw)
		}
		if user, _ := a.body["user"].(map[string]any); user["id"] != "7" {
			t.Errorf("the fast call is missing: %s", a.raw)
		}
	})

	t.Run("service-less route", func(t *testing.T) {
		resp, body := gw.Get("/nosvc")
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `"message":"no Service found with those values"`) {
			t.Errorf("status %d body %q", resp.StatusCode, body)
		}
	})

	t.Run("attempts in the access log and metrics", func(t *testing.T) {
		var line map[string]any
		for _, e := range gw.AccessLog(6) {
			if e["route"] == "parallel" {
				line = e
			}
		}
		if line == nil {
			t.Fatal("no access log line of the parallel route")
		}
		tries, _ := line["tries"].([]any)
		if len(tries) != 3 {
			t.Fatalf("tries %v, want the three calls", line["tries"])
		}
		for _, tr := range tries {
			m, _ := tr.(map[string]any)
			if m["target"] != backend.addr || m["status"] != float64(200) || m["call"] == nil || m["call"] == "" {
				t.Errorf("try %v, want a named call to %s answering 200", m, backend.addr)
			}
		}
		resp, body := gwtest.Do(t, mustRequest(t, gw.AdminURL+"/metrics"))
		if resp.StatusCode != 200 {
			t.Fatalf("/metrics: %d", resp.StatusCode)
		}
		if !strings.Contains(body, `api_gateway_requests_total{method="GET",route="parallel",status="200"} 1`) {
			t.Errorf("the aggregation is not counted in /metrics")
		}
		if regexp.MustCompile(`(?m)^turnpike_upstream_retries_total\{[^}]*\} [1-9]`).MatchString(body) {
			t.Errorf("an aggregation's calls were counted as upstream retries in /metrics")
		}
	})
}

const aggAcceptConfig = `
_format_version: "3.0"
services:
- name: negotiating
  url: http://%[1]s
routes:
- name: accept
  paths: [/api/accept]
  plugins:
  - name: aggregate
    config:
      calls:
      - {name: viaservice, service: negotiating, path: /a, group: viaservice, required: true, forward_headers: [Accept]}
      - {name: viaurl, url: "http://%[1]s/b", group: viaurl, required: true, forward_headers: [Accept]}
`

// Calls that forward Accept ask for JSON whatever the client's Accept:
// a client's text/html, */* or none must not make an upstream that
// negotiates answer HTML or 406 (and the aggregation 502), and a JSON
// media type the client names still reaches the upstream.
func TestAggregateForwardsAccept(t *testing.T) {
	// The backend negotiates: JSON (echoing the Accept it got) when
	// Accept names a JSON type, HTML when it takes text/html or
	// anything, 406 otherwise.
	backend := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		accept := r.Header.Values("Accept")
		all := strings.Join(accept, ",")
		switch {
		case strings.Contains(all, "json"):
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]any{"accept": accept})
		case all == "" || strings.Contains(all, "text/html") || strings.Contains(all, "*/*"):
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<html>a page</html>")
		default:
			w.WriteHeader(http.StatusNotAcceptable)
		}
	}))
	gw := gwtest.Start(t, fmt.Sprintf(aggAcceptConfig, backend), gwtest.Options{})
	for _, tc := range []struct {
		name, accept string
		want         []any
	}{
		{"no Accept", "", []any{"application/json"}},
		{"text/html", "text/html", []any{"application/json"}},
		{"anything", "*/*", []any{"application/json"}},
		{"an image", "image/png", []any{"application/json"}},
		{"JSON refused", "application/json;q=0, text/html", []any{"application/json"}},
		{"a JSON type among others", "text/html, application/vnd.acme.v2+json;q=0.9, */*;q=0.1",
			[]any{"application/vnd.acme.v2+json;q=0.9"}},
		{"JSON", "application/json", []any{"application/json"}},
	} {
		var header []string
		if tc.accept != "" {
			header = []string{"Accept", tc.accept}
		}
		resp, body := gw.Get("/api/accept", header...)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: status %d: %s", tc.name, resp.StatusCode, body)
			continue
		}
		var a map[string]map[string][]any
		if err := json.Unmarshal([]byte(body), &a); err != nil {
			t.Errorf("%s: answer %q: %v", tc.name, body, err)
			continue
		}
		for _, call := range []string{"viaservice", "viaurl"} {
			if got := a[call]["accept"]; fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("%s: %s's upstream got Accept %q, want %q", tc.name, call, got, tc.want)
			}
		}
	}
}
