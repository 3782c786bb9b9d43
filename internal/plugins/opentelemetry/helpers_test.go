package opentelemetry

import (
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	collogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/record"
)

// receiver is a loopback OTLP/HTTP traces endpoint: it decodes what it
// is sent with the OTLP protobuf types.
type receiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []*coltrace.ExportTraceServiceRequest
	logs []*logspb.LogRecord
	hdr  []http.Header
	// block, when set, holds every export until it is closed.
	block chan struct{}
	// discard answers without decoding (benchmarks: the collector's work
	// is not the gateway's).
	discard bool
	// fail is how many of the next exports are answered failStatus.
	fail       atomic.Int32
	failStatus int
	tries      atomic.Int32 // exports received, failed or not
}

func newReceiver(t testing.TB) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.block != nil {
			select {
			case <-r.block:
			case <-req.Context().Done():
				return
			}
		}
		if r.discard {
			io.Copy(io.Discard, req.Body)
			return
		}
		r.tries.Add(1)
		if r.fail.Add(-1) >= 0 {
			w.Header().Set("Retry-After", "0")
			http.Error(w, "try later", r.failStatus)
			return
		}
		body, _ := io.ReadAll(req.Body)
		if req.URL.Path == "/v1/logs" {
			var m collogs.ExportLogsServiceRequest
			if proto.Unmarshal(body, &m) != nil {
				http.Error(w, "bad request", http.StatusBadRequest)
				return
			}
			r.mu.Lock()
			for _, rl := range m.ResourceLogs {
				for _, sl := range rl.ScopeLogs {
					r.logs = append(r.logs, sl.LogRecords...)
				}
			}
			r.mu.Unlock()
			return
		}
		var m coltrace.ExportTraceServiceRequest
		if req.URL.Path != "/v1/traces" || proto.Unmarshal(body, &m) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.got = append(r.got, &m)
		r.hdr = append(r.hdr, req.Header.Clone())
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
		w.Write(out)
	}))
	t.Cleanup(func() {
		if r.block != nil {
			select {
			case <-r.block:
			default:
				close(r.block)
			}
		}
		r.srv.Close()
	})
	return r
}

// spans are every span received so far.
func (r *receiver) spans() []*tracepb.Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*tracepb.Span
	for _, m := range r.got {
		for _, rs := range m.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				out = append(out, ss.Spans...)
			}
		}
	}
	return out
}

func (r *receiver) resourceAttrs() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]string{}
	for _, m := range r.got {
		for _, rs := range m.ResourceSpans {
			for _, kv := range rs.Resource.Attributes {
				out[kv.Key] = anyString(kv.Value)
			}
		}
	}
	return out
}

func anyString(v interface {
	GetStringValue() string
	GetIntValue() int64
}) string {
	if s := v.GetStringValue(); s != "" {
		return s
	}
	return strconv.FormatInt(v.GetIntValue(), 10)
}

func attrs(s *tracepb.Span) map[string]string {
	out := map[string]string{}
	for _, kv := range s.Attributes {
		out[kv.Key] = anyString(kv.Value)
	}
	return out
}

func byName(spans []*tracepb.Span, name string) []*tracepb.Span {
	var out []*tracepb.Span
	for _, s := range spans {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

func hexs(b []byte) string { return hex.EncodeToString(b) }

// decode reads a plugin config as the loader does: defaults, then the
// document's values.
func decode(t testing.TB, doc string) *Config {
	t.Helper()
	raw, err := config.ParseRaw([]byte(doc), "")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Registration().NewConfig().(*Config)
	if errs := raw.Decode(cfg); len(errs) > 0 {
		t.Fatal(errs)
	}
	return cfg
}

// newInstance builds the plugin on doc and closes it with the test.
func newInstance(t testing.TB, doc string, env plugin.Env) *Instance {
	t.Helper()
	inst, err := New(decode(t, doc), env)
	if err != nil {
		t.Fatal(err)
	}
	in, ok := inst.(*Instance)
	if !ok {
		in = inst.(withHeader).Instance
	}
	t.Cleanup(in.Close)
	return in
}

// request is a request as the proxy hands it to plugins, with a record.
func request(h http.Header) *plugin.Ctx {
	req := httptest.NewRequest("GET", "http://api.test/users/7?apikey=secret", nil)
	for k, vs := range h {
		req.Header[k] = vs
	}
	start := time.Now().Add(-50 * time.Millisecond)
	return &plugin.Ctx{
		Req: req, Method: "GET", Path: "/users/7", ClientPath: "/users/7", Scheme: "http",
		RequestID: "req-1", ClientIP: "192.0.2.1", ForwardedIP: "198.51.100.7", StartedAt: start,
		Record: &record.Record{
			Time: start, RequestID: "req-1", ClientIP: "192.0.2.1", Method: "GET", URI: "/users/7?apikey=secret",
			Host: "api.test:8000", Proto: "HTTP/1.1", UserAgent: "curl/8", Route: "users", RoutePath: "/users",
			Service: "users-svc",
		},
	}
}

// finish fills the record as the proxy would after an upstream attempt
// that failed and a retry that answered.
func finish(c *plugin.Ctx) {
	r := c.Record
	r.Routed = time.Millisecond
	r.AddPlugin("key-auth", record.PhaseAccess, 2*time.Millisecond, 3*time.Millisecond)
	r.AddPlugin(Name, record.PhaseAccess, 3*time.Millisecond, 4*time.Millisecond)
	r.AddCall(record.Call{Kind: "redis", Name: "EVALSHA", Target: "127.0.0.1:6379", Start: 2500 * time.Microsecond, Duration: 300 * time.Microsecond})
	i := r.AddAttempt("10.0.0.1:8080", 5*time.Millisecond)
	r.Attempts[i].Outcome, r.Attempts[i].End = record.OutcomeConnectError, time.Millisecond
	i = r.AddAttempt("10.0.0.2:8080", 7*time.Millisecond)
	r.Attempts[i].Outcome, r.Attempts[i].Status = record.OutcomeResponse, 200
	r.Attempts[i].Head, r.Attempts[i].End = 20*time.Millisecond, 30*time.Millisecond
	r.Attempts[i].BytesIn = 1234
	r.Answered = 2
	r.Status, r.Latency, r.Source = 200, 40*time.Millisecond, record.SourceUpstream
}
