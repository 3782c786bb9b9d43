package logs

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/record"
)

var started = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// proxiedCtx is a request that went upstream on its second attempt, as
// the log phase sees it.
func proxiedCtx() *plugin.Ctx {
	req := httptest.NewRequest("GET", "http://api.example.com:8000/v1/items?a=1&flag&a=2&apikey=s3cret&e=%41+b", nil)
	req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8000}))
	req.Header.Set("Authorization", "Bearer tok")
	req.Header.Set("Cookie", "sid=1")
	req.Header.Set("X-Api-Key", "k3y")
	req.Header["Accept"] = []string{"a", "b"}
	rec := &record.Record{
		Time: started, RequestID: "rid-1", ClientIP: "10.0.0.9", Method: "GET",
		URI: "/v1/items?a=1&flag&a=2&apikey=s3cret&e=%41+b", Host: "api.example.com:8000", Proto: "HTTP/1.1",
		Status: 200, BytesSent: 5, Latency: 40 * time.Millisecond, Source: record.SourceUpstream,
		TraceID: "0af7651916cd43dd8448eb211c80319c",
	}
	i := rec.AddAttempt("10.1.1.1:8080", time.Millisecond)
	rec.Attempts[i].Outcome, rec.Attempts[i].Status, rec.Attempts[i].End = record.OutcomeStatus, 503, 2*time.Millisecond
	i = rec.AddAttempt("10.1.1.2:8080", 5*time.Millisecond)
	rec.Attempts[i].Outcome, rec.Attempts[i].Status = record.OutcomeResponse, 200
	rec.Attempts[i].Head, rec.Attempts[i].End = 20*time.Millisecond, 30*time.Millisecond
	rec.Answered = 2
	c := &plugin.Ctx{
		Req: req, Method: "GET", Path: "/items", RawQuery: "apikey=s3cret&z=1", Scheme: "http",
		RequestID: "rid-1", ClientIP: "10.0.0.9", ForwardedIP: "10.0.0.9", StartedAt: started,
		Route:      &plugin.RouteInfo{ID: "r1", Name: "items", Entity: plugin.NewRendered(func() []byte { return []byte(`{"id":"r1","name":"items"}`) })},
		Service:    &plugin.ServiceInfo{ID: "s1", Name: "svc", Entity: plugin.NewRendered(func() []byte { return []byte(`{"id":"s1","name":"svc"}`) })},
		Consumer:   &plugin.Consumer{ID: "c1", Username: "alice"},
		Credential: "cred-1",
		Resp:       plugin.Response{Status: 200, Header: http.Header{"Content-Type": {"text/plain"}, "Set-Cookie": {"s=2"}}, FromUpstream: true, Size: 5},
		Record:     rec,
	}
	c.Secrets = plugin.NewSecrets([]string{"x-api-key"}, []string{"apikey"})
	return c
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	return m
}

func TestEntryFields(t *testing.T) {
	c := proxiedCtx()
	got := decode(t, AppendEntry(nil, c))
	size := got["request"].(map[string]any)["size"]
	rsize := got["response"].(map[string]any)["size"]
	want := map[string]any{
		"request": map[string]any{
			"id":  "rid-1",
			"uri": "/v1/items?a=1&flag&a=2&apikey=REDACTED&e=%41+b",
			"url": "http://api.example.com:8000/v1/items?a=1&flag&a=2&apikey=REDACTED&e=%41+b",
			"querystring": map[string]any{
				"a": []any{"1", "2"}, "flag": true, "apikey": "REDACTED", "e": "A b",
			},
			"method": "GET",
			"headers": map[string]any{
				"host": "api.example.com:8000", "authorization": "REDACTED", "cookie": "REDACTED",
				"x-api-key": "REDACTED", "accept": []any{"a", "b"},
			},
			"size": size,
		},
		"upstream_uri":    "/items?apikey=REDACTED&z=1",
		"upstream_status": "503, 200",
		"response": map[string]any{
			"status":  200.0,
			"headers": map[string]any{"content-type": "text/plain", "set-cookie": "REDACTED"},
			"size":    rsize,
		},
		"latencies": map[string]any{"kong": 10.0, "proxy": 20.0, "request": 40.0, "receive": 10.0},
		"tries": []any{
			map[string]any{"ip": "10.1.1.1", "port": 8080.0, "balancer_start": float64(started.Add(time.Millisecond).UnixMilli()), "balancer_latency": 0.0, "state": "next", "code": 503.0},
			map[string]any{"ip": "10.1.1.2", "port": 8080.0, "balancer_start": float64(started.Add(5 * time.Millisecond).UnixMilli()), "balancer_latency": 0.0},
		},
		"authenticated_entity": map[string]any{"id": "cred-1", "consumer_id": "c1"},
		"consumer":             map[string]any{"id": "c1", "username": "alice"},
		"route":                map[string]any{"id": "r1", "name": "items"},
		"service":              map[string]any{"id": "s1", "name": "svc"},
		"trace_id":             map[string]any{"w3c": "0af7651916cd43dd8448eb211c80319c"},
		"client_ip":            "10.0.0.9",
		"started_at":           float64(started.UnixMilli()),
		"source":               "upstream",
		"workspace":            kongWorkspaceID,
		"workspace_name":       "default",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("log object (-want +got):\n%s", diff)
	}
	if s := size.(float64); s < 150 || s > 400 {
		t.Errorf("request size %v: want the head and body's size", s)
	}
	if s := rsize.(float64); s < 60 || s > 120 {
		t.Errorf("response size %v: want the head and body's size", s)
	}
	for _, secret := range []string{"s3cret", "k3y", "Bearer tok", "sid=1", "s=2"} {
		if strings.Contains(string(AppendEntry(nil, c)), secret) {
			t.Errorf("the entry holds the credential %q", secret)
		}
	}
}

func TestEntryNotProxied(t *testing.T) {
	c := proxiedCtx()
	r := c.Record
	r.Attempts, r.Answered, r.Source, r.Status, r.TraceID = nil, 0, record.SourceGateway, 401, ""
	c.Consumer, c.Credential = nil, ""
	c.Req.TLS = &tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256}
	got := decode(t, AppendEntry(nil, c))
	for _, k := range []string{"tries", "consumer", "authenticated_entity", "trace_id"} {
		if _, ok := got[k]; ok {
			t.Errorf("%s present in a request that has none", k)
		}
	}
	if got["source"] != "kong" || got["upstream_uri"] != "" || got["upstream_status"] != "" {
		t.Errorf("source %v, upstream_uri %q, upstream_status %q; want kong and empty", got["source"], got["upstream_uri"], got["upstream_status"])
	}
	lat := got["latencies"].(map[string]any)
	if lat["proxy"] != -1.0 || lat["kong"] != 40.0 || lat["receive"] != 0.0 {
		t.Errorf("latencies %v; want proxy -1, kong the whole request", lat)
	}
	wantTLS := map[string]any{"version": "TLSv1.3", "cipher": "TLS_AES_128_GCM_SHA256", "client_verify": "NONE"}
	if diff := cmp.Diff(wantTLS, got["request"].(map[string]any)["tls"]); diff != "" {
		t.Errorf("tls (-want +got):\n%s", diff)
	}
}

// A request with many or huge headers and arguments makes a bounded
// entry.
func TestEntryMapsBounded(t *testing.T) {
	c := proxiedCtx()
	var q strings.Builder
	for i := range 5000 {
		q.WriteString("k" + strconv.Itoa(i) + "=v&")
	}
	c.Req.URL.RawQuery = q.String()
	for i := range 500 {
		c.Req.Header.Set("X-H"+strconv.Itoa(i), "v")
	}
	c.Req.Header.Set("X-Big", strings.Repeat("x", 60<<10))
	for range 10 {
		c.Req.Header.Add("X-Many", strings.Repeat("y", 4<<10))
	}
	b := AppendEntry(nil, c)
	got := decode(t, b)
	req := got["request"].(map[string]any)
	if n := len(req["querystring"].(map[string]any)); n != MaxMapEntries {
		t.Errorf("%d query arguments logged, want the bound %d", n, MaxMapEntries)
	}
	if n := len(req["headers"].(map[string]any)); n > MaxMapEntries {
		t.Errorf("%d headers logged, over the bound %d", n, MaxMapEntries)
	}
	if len(b) > 2*MaxMapBytes+8<<10 {
		t.Errorf("entry of %d bytes; the maps should bound it near %d", len(b), 2*MaxMapBytes)
	}
}

// Bytes a client sends that are not valid JSON text come out escaped.
func TestEntryEscapes(t *testing.T) {
	c := proxiedCtx()
	c.Req.Header["X-Evil"] = []string{"a\"b\n\xff"}
	c.Req.Header["X-UPPER\"Name"] = []string{"v"}
	got := decode(t, AppendEntry(nil, c))
	h := got["request"].(map[string]any)["headers"].(map[string]any)
	if h["x-evil"] != "a\"b\n\ufffd" || h["x-upper\"name"] != "v" {
		t.Errorf("headers %v", h)
	}
}

func BenchmarkAppendEntry(b *testing.B) {
	c := proxiedCtx()
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendEntry(buf[:0], c)
	}
}

// The map bounds count bytes as written: a header of control characters
// or invalid UTF-8 takes six times its size escaped.
func TestEntryMapsBoundedEscaped(t *testing.T) {
	c := proxiedCtx()
	for i := range 90 {
		c.Req.Header.Set("X-H"+strconv.Itoa(i), strings.Repeat("\x01", 150))
	}
	var q strings.Builder
	for i := range 90 {
		q.WriteString("k" + strconv.Itoa(i) + "=" + strings.Repeat("%01", 150) + "&")
	}
	c.Req.URL.RawQuery = q.String()
	var e struct {
		Request struct {
			Headers     json.RawMessage `json:"headers"`
			Querystring json.RawMessage `json:"querystring"`
		} `json:"request"`
	}
	if err := json.Unmarshal(AppendEntry(nil, c), &e); err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string]json.RawMessage{"headers": e.Request.Headers, "querystring": e.Request.Querystring} {
		if len(m) > MaxMapBytes+2 {
			t.Errorf("%s map of %d bytes, over the bound %d", name, len(m), MaxMapBytes)
		}
		if len(m) < MaxMapBytes/2 {
			t.Errorf("%s map of %d bytes: the bound should let it fill", name, len(m))
		}
	}
}

// Fields plugins add (correlation-id's correlation_id) are top-level
// fields of the entry.
func TestEntryLogValues(t *testing.T) {
	c := proxiedCtx()
	c.SetLogValue("correlation_id", "abc#1")
	got := decode(t, AppendEntry(nil, c))
	if got["correlation_id"] != "abc#1" {
		t.Errorf("correlation_id %v", got["correlation_id"])
	}
}

// The request headers are the client's, as Kong logs them: those the
// gateway set for the upstream (X-Forwarded-*, Via, ...) are left out; the
// response's Via is the client's and stays.
func TestEntryLeavesOutGatewaySetRequestHeaders(t *testing.T) {
	c := proxiedCtx()
	c.Req.Header.Set("X-Forwarded-For", "127.0.0.1")
	c.Req.Header.Set("Via", "1.1 turnpike")
	c.Resp.Header.Set("Via", "1.1 turnpike")
	c.GatewayHeaders = []string{"X-Forwarded-For", "Via"}
	got := decode(t, AppendEntry(nil, c))
	req := got["request"].(map[string]any)["headers"].(map[string]any)
	resp := got["response"].(map[string]any)["headers"].(map[string]any)
	if _, ok := req["x-forwarded-for"]; ok {
		t.Errorf("request headers %v", req)
	}
	if _, ok := req["via"]; ok {
		t.Errorf("request headers %v", req)
	}
	if req["x-api-key"] == nil || resp["via"] != "1.1 turnpike" {
		t.Errorf("request %v, response %v", req, resp)
	}
}

// BenchmarkAppendEntryProxied is the entry of bench/plugins.sh's httplog
// route: a plain GET with a key, answered by the upstream.
func BenchmarkAppendEntryProxied(b *testing.B) {
	req := httptest.NewRequest("GET", "http://127.0.0.1:8000/httplog/hello", nil)
	req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8000}))
	req.Header = http.Header{"User-Agent": {"hey/0.0.1"}, "Accept": {"*/*"}, "Apikey": {"k3y"}, "Accept-Encoding": {"gzip"}}
	rec := &record.Record{
		Time: started, RequestID: "0b5f0c3e6d2a4c1f9e8d7c6b5a493827", ClientIP: "127.0.0.1", Method: "GET",
		URI: "/httplog/hello", Host: "127.0.0.1:8000", Proto: "HTTP/1.1", Status: 200, BytesSent: 5, Source: record.SourceUpstream,
	}
	i := rec.AddAttempt("127.0.0.1:9000", 0)
	rec.Attempts[i].Outcome, rec.Attempts[i].Status = record.OutcomeResponse, 200
	rec.Answered = 1
	entity := func(kind string) *plugin.Rendered {
		return plugin.NewRendered(func() []byte {
			return []byte(`{"id":"` + kind + `-0b5f0c3e-6d2a-4c1f-9e8d","name":"httplog","protocols":["http","https"],"created_at":1700000000,"updated_at":1700000000,"https_redirect_status_code":426,"path_handling":"v0","preserve_host":false,"regex_priority":0,"request_buffering":true,"response_buffering":true,"strip_path":true,"ws_id":"0dc6f45b-8f8d-40d2-a504-473544ee190b","paths":["/httplog"],"tags":null,"headers":null}`)
		})
	}
	c := &plugin.Ctx{
		Req: req, Method: "GET", Path: "/hello", Scheme: "http", RequestID: rec.RequestID, ClientIP: "127.0.0.1", StartedAt: started,
		Route:   &plugin.RouteInfo{ID: "r1", Name: "httplog", Entity: entity("route")},
		Service: &plugin.ServiceInfo{ID: "s1", Name: "backend", Entity: entity("service")},
		Resp: plugin.Response{Status: 200, FromUpstream: true, Size: 5, Header: http.Header{
			"Content-Type": {"text/plain; charset=utf-8"}, "Content-Length": {"5"}, "Date": {"Mon, 07 Dec 2026 03:33:11 GMT"},
			"Via": {"1.1 turnpike"}, "X-Request-Id": {rec.RequestID}, "X-Turnpike-Upstream-Latency": {"1"}, "X-Turnpike-Proxy-Latency": {"0"},
		}},
		Record: rec,
	}
	c.Secrets = plugin.NewSecrets([]string{"apikey"}, []string{"apikey"})
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendEntry(buf[:0], c)
	}
	b.SetBytes(int64(len(buf)))
}

// request.size and RequestSize ($request_length) are the client's request:
// once proxied, with the gateway's headers set, they are what the same
// request counts when refused in access (no gateway headers yet).
func TestEntryRequestSizeLeavesOutGatewaySetHeaders(t *testing.T) {
	size := func(c *plugin.Ctx) float64 {
		return decode(t, AppendEntry(nil, c))["request"].(map[string]any)["size"].(float64)
	}
	c := proxiedCtx()
	refused, refusedSize := size(c), c.RequestSize()
	c.Req.Header.Set("X-Forwarded-For", "10.0.0.9")
	c.Req.Header.Set("Via", "1.1 turnpike")
	c.Req.Header.Set("X-Request-Id", "rid-1")
	c.GatewayHeaders = []string{"X-Forwarded-For", "Via", "X-Request-Id"}
	if got, gotSize := size(c), c.RequestSize(); got != refused || gotSize != refusedSize || int64(got) != gotSize {
		t.Errorf("proxied request.size %v, RequestSize %d; refused %v, %d", got, gotSize, refused, refusedSize)
	}
}

// An aggregation's entry lists every call's status as NGINX's
// $upstream_status does, names each try's call and marks only the failed
// calls' tries as failed.
func TestEntryAggregated(t *testing.T) {
	c := proxiedCtx()
	r := c.Record
	r.Attempts, r.Answered, r.Source = nil, 0, record.SourceGateway
	for _, a := range []record.Attempt{
		{Target: "10.1.1.1:80", Call: "user", Status: 200, Outcome: record.OutcomeResponse},
		{Target: "10.1.1.2:80", Call: "orders", Outcome: record.OutcomeTimeout},
		{Target: "10.1.1.3:80", Call: "account", Status: 404, Outcome: record.OutcomeResponse},
	} {
		k := r.AddAttempt(a.Target, 0)
		r.Attempts[k] = a
	}
	got := decode(t, AppendEntry(nil, c))
	if got["upstream_status"] != "200, 504, 404" || got["upstream_uri"] != "" {
		t.Errorf("upstream_status %q, upstream_uri %q; want every call's and none", got["upstream_status"], got["upstream_uri"])
	}
	tries := got["tries"].([]any)
	want := []struct {
		call  string
		state any
		code  any
	}{{"user", nil, nil}, {"orders", "failed", 504.0}, {"account", "failed", 404.0}}
	for i, w := range want {
		tr := tries[i].(map[string]any)
		if tr["call"] != w.call || tr["state"] != w.state || tr["code"] != w.code {
			t.Errorf("try %d: %v; want call %s, state %v, code %v", i, tr, w.call, w.state, w.code)
		}
	}
}
