package zipkin

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/record"
)

func decode(t testing.TB, src string) *Config {
	t.Helper()
	raw, err := config.ParseRaw([]byte(src), "plugins[0].config")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Registration().NewConfig().(*Config)
	cfg.SetDefaults()
	if errs := raw.Decode(cfg); len(errs) > 0 {
		t.Fatalf("decode: %v", errs)
	}
	return cfg
}

func build(t testing.TB, src string) plugin.Instance {
	t.Helper()
	in, err := New(decode(t, src), plugin.Env{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.(interface{ Close() }).Close)
	return in
}

func TestRegistration(t *testing.T) {
	reg := Registration()
	if reg.Name != "zipkin" || reg.Priority != 100000 || reg.NoConsumer {
		t.Fatalf("got %q %d no_consumer=%v", reg.Name, reg.Priority, reg.NoConsumer)
	}
	c := decode(t, "{}")
	if c.LocalServiceName != "kong" || c.SampleRatio != 0.001 || !c.IncludeCredential || c.TraceIDByteCount != 16 ||
		c.HeaderType != "preserve" || c.DefaultHeaderType != "b3" || c.TagsHeader != "Zipkin-Tags" || c.HTTPSpanName != "method" ||
		c.ConnectTimeout != 2000 || c.SendTimeout != 5000 || c.ReadTimeout != 5000 || c.PhaseDurationFlavor != "annotations" ||
		c.Propagation.DefaultFormat != "b3" {
		t.Fatalf("defaults %+v", c)
	}
}

// The cases of Kong's spec/03-plugins/34-zipkin/schema_spec.lua, and the
// fields' rules.
func TestSchema(t *testing.T) {
	tests := []struct {
		name, src string
		want      plugin.Errors
	}{
		{name: "defaults", src: "{}"},
		{name: "static tags", src: "static_tags: [{name: foo, value: bar}, {name: foo2, value: bar}]"},
		{name: "repeated static tags", src: "static_tags: [{name: foo, value: bar}, {name: foo, value: baz}]",
			want: plugin.Errors{{Path: "static_tags", Message: "repeated tags are not allowed: foo"}}},
		{name: "protected static tag", src: "static_tags: [{name: http.method, value: x}]",
			want: plugin.Errors{{Path: "static_tags[0].name", Message: "must not be one of: " + strings.Join(protectedTags, ", ")}}},
		{name: "endpoint", src: "http_endpoint: http://zipkin:9411/api/v2/spans"},
		{name: "bad endpoint", src: "http_endpoint: zipkin", want: plugin.Errors{{Path: "http_endpoint", Message: "missing host in url"}}},
		{name: "sample ratio", src: "sample_ratio: 1.5", want: plugin.Errors{{Path: "sample_ratio", Message: "value should be between 0 and 1"}}},
		{name: "trace id bytes", src: "traceid_byte_count: 12", want: plugin.Errors{{Path: "traceid_byte_count", Message: "expected one of: 8, 16"}}},
		{name: "span name", src: "http_span_name: path", want: plugin.Errors{{Path: "http_span_name", Message: "expected one of: method, method_path"}}},
		{name: "flavor", src: "phase_duration_flavor: x", want: plugin.Errors{{Path: "phase_duration_flavor", Message: "expected one of: annotations, tags"}}},
		{name: "header type", src: "header_type: zipkin", want: plugin.Errors{{Path: "header_type",
			Message: "expected one of: preserve, ignore, w3c, b3, b3-single, jaeger, ot, aws, gcp, datadog"}}},
		{name: "propagation", src: "propagation: {extract: [b3, w3c], inject: [preserve, b3-single], default_format: b3}"},
		{name: "bad extract", src: "propagation: {extract: [b3-single]}", want: plugin.Errors{{Path: "propagation.extract[0]",
			Message: "expected one of: w3c, b3, jaeger, ot, aws, gcp, datadog"}}},
		{name: "timeouts", src: "connect_timeout: -1", want: plugin.Errors{{Path: "connect_timeout", Message: "value should be between 0 and 2147483646"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := New(decode(t, tt.src), plugin.Env{})
			var got plugin.Errors
			if err != nil {
				got = err.(plugin.Errors)
			} else {
				in.(interface{ Close() }).Close()
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// request is a proxied GET / through service svc and route r1.
func request(h http.Header) *plugin.Ctx {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "127.0.0.1:40000"
	for k, v := range h {
		r.Header[k] = v
	}
	rec := &record.Record{Time: time.Now(), Method: "GET", URI: "/", Proto: "HTTP/1.1", Host: "zipkin.test",
		Status: 200, Latency: 20 * time.Millisecond, Routed: time.Millisecond}
	i := rec.AddAttempt("127.0.0.1:8080", 2*time.Millisecond)
	rec.Attempts[i].Connected, rec.Attempts[i].Head, rec.Attempts[i].End = 3*time.Millisecond, 10*time.Millisecond, 15*time.Millisecond
	rec.Attempts[i].Status, rec.Attempts[i].Outcome = 200, record.OutcomeResponse
	rec.Answered = i + 1
	return &plugin.Ctx{Req: r, Record: rec, ClientPath: "/", ForwardedIP: "127.0.0.1",
		Resp:    plugin.Response{Header: http.Header{}},
		Service: &plugin.ServiceInfo{ID: "svc-id", Name: "svc", Host: "127.0.0.1"},
		Route:   &plugin.RouteInfo{ID: "route-id", Name: "r1"}}
}

// run is a request's access, header filter and log phases.
func run(in plugin.Instance, c *plugin.Ctx) {
	in.(plugin.Accessor).Access(c)
	if hf, ok := in.(plugin.HeaderFilter); ok {
		hf.HeaderFilter(c)
	}
	in.(plugin.Logger).Log(c)
}

// Kong's B3 cases: a client's trace, span and sampling are continued and
// the upstream gets the proxy span as its parent, in the format the
// client used.
func TestB3Propagation(t *testing.T) {
	in := build(t, "{}")
	c := request(http.Header{"X-B3-Traceid": {"0123456789abcdef0123456789abcdef"}, "X-B3-Spanid": {"1111111111111111"}, "X-B3-Sampled": {"1"}})
	run(in, c)
	h := c.Req.Header
	if h.Get("X-B3-Traceid") != "0123456789abcdef0123456789abcdef" || h.Get("X-B3-Sampled") != "1" ||
		len(h.Get("X-B3-Spanid")) != 16 || h.Get("X-B3-Spanid") == "1111111111111111" || len(h.Get("X-B3-Parentspanid")) != 16 {
		t.Fatalf("upstream headers %v", h)
	}
	if c.Record.TraceID != "0123456789abcdef0123456789abcdef" {
		t.Fatalf("record trace id %q", c.Record.TraceID)
	}

	c = request(http.Header{"B3": {"0123456789abcdef-2222222222222222-0"}})
	run(in, c)
	parts := strings.Split(c.Req.Header.Get("B3"), "-")
	if len(parts) != 4 || parts[0] != "0123456789abcdef" || parts[2] != "0" || parts[1] == "2222222222222222" {
		t.Fatalf("single b3 %q", c.Req.Header.Get("B3"))
	}

	// No context: a new 16-byte trace in the default format (b3).
	c = request(nil)
	run(in, c)
	if len(c.Req.Header.Get("X-B3-Traceid")) != 32 || c.Req.Header.Get("X-B3-Sampled") != "0" {
		t.Fatalf("new trace %v", c.Req.Header)
	}
	in8 := build(t, "traceid_byte_count: 8\nsample_ratio: 1\ndefault_header_type: b3-single\nhttp_response_header_for_traceid: X-Trace")
	c = request(nil)
	run(in8, c)
	if b3 := c.Req.Header.Get("B3"); len(b3) != 16+1+16+1+1+1+16 || !strings.HasSuffix(strings.Split(b3, "-")[2], "1") {
		t.Fatalf("b3 single %q", b3)
	}
	if got := c.Resp.Header.Get("X-Trace"); got != c.Record.TraceID || len(got) != 16 {
		t.Fatalf("response header %q, record %q", got, c.Record.TraceID)
	}
}

// zspan is a Zipkin v2 span as a collector decodes it.
type zspan struct {
	TraceID       string            `json:"traceId"`
	Name          string            `json:"name"`
	ParentID      string            `json:"parentId"`
	ID            string            `json:"id"`
	Kind          string            `json:"kind"`
	Timestamp     int64             `json:"timestamp"`
	Duration      int64             `json:"duration"`
	LocalEndpoint map[string]any    `json:"localEndpoint"`
	Remote        map[string]any    `json:"remoteEndpoint"`
	Tags          map[string]string `json:"tags"`
	Annotations   []struct {
		Value     string `json:"value"`
		Timestamp int64  `json:"timestamp"`
	} `json:"annotations"`
}

// collector is a real HTTP server decoding the posted span arrays.
func collector(t *testing.T) (string, <-chan []zspan) {
	t.Helper()
	got := make(chan []zspan, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var spans []zspan
		if r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &spans) != nil {
			t.Errorf("bad post %q: %s", r.Header.Get("Content-Type"), body)
		}
		got <- spans
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/api/v2/spans", got
}

// Kong's "generates spans, tags and annotations for regular requests".
func TestSpans(t *testing.T) {
	url, posts := collector(t)
	in := build(t, "http_endpoint: "+url+"\nstatic_tags: [{name: static, value: ok}]\nqueue: {max_coalescing_delay: 0}")
	c := request(http.Header{"X-B3-Sampled": {"1"}, "Zipkin-Tags": {"foo=bar; baz=qux"}})
	c.Consumer, c.Credential = &plugin.Consumer{ID: "consumer-id"}, "cred-id"
	run(in, c)
	var spans []zspan
	select {
	case spans = <-posts:
	case <-time.After(5 * time.Second):
		t.Fatal("no spans posted")
	}
	if len(spans) != 3 {
		t.Fatalf("%d spans: %+v", len(spans), spans)
	}
	byName := map[string]zspan{}
	for _, s := range spans {
		byName[s.Name] = s
		if s.TraceID != c.Record.TraceID || s.LocalEndpoint["serviceName"] != "kong" {
			t.Errorf("span %q: trace %q local %v", s.Name, s.TraceID, s.LocalEndpoint)
		}
	}
	req, proxy, try := byName["GET"], byName["GET (proxy)"], byName["GET (balancer try 1)"]
	if req.Kind != "SERVER" || req.ParentID != "" || proxy.Kind != "CLIENT" || proxy.ParentID != req.ID || try.ParentID != req.ID {
		t.Fatalf("span tree: %+v", spans)
	}
	if proxy.ID != c.Req.Header.Get("X-B3-Spanid") || req.ID != c.Req.Header.Get("X-B3-Parentspanid") {
		t.Fatalf("the upstream's parent is not the proxy span: %v", c.Req.Header)
	}
	wantTags := map[string]string{"http.method": "GET", "http.path": "/", "http.status_code": "200", "http.protocol": "HTTP/1.1",
		"http.host": "zipkin.test", "lc": "kong", "static": "ok", "foo": "bar", "baz": "qux",
		"kong.consumer": "consumer-id", "kong.credential": "cred-id"}
	if diff := cmp.Diff(wantTags, req.Tags); diff != "" {
		t.Errorf("request tags (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"ipv4": "127.0.0.1", "port": float64(40000)}, req.Remote); diff != "" {
		t.Errorf("request remote (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"ipv4": "127.0.0.1", "port": float64(8080), "serviceName": "svc"}, proxy.Remote); diff != "" {
		t.Errorf("proxy remote (-want +got):\n%s", diff)
	}
	if proxy.Tags["kong.route"] != "route-id" || proxy.Tags["kong.route_name"] != "r1" || proxy.Tags["peer.hostname"] != "127.0.0.1" {
		t.Errorf("proxy tags %v", proxy.Tags)
	}
	if try.Tags["kong.balancer.try"] != "1" || try.Tags["kong.service"] != "svc-id" || try.Duration != 1000 {
		t.Errorf("balancer span %+v", try)
	}
	if req.Duration != 20000 || len(proxy.Annotations) != 6 || proxy.Annotations[0].Value != "kas" || req.Annotations[0].Value != "krs" {
		t.Errorf("timing: request %+v proxy %+v", req, proxy)
	}
}

// An unsampled request posts nothing.
func TestUnsampled(t *testing.T) {
	url, posts := collector(t)
	in := build(t, "http_endpoint: "+url+"\nsample_ratio: 0\nqueue: {max_coalescing_delay: 0}")
	run(in, request(nil))
	run(in, request(http.Header{"X-B3-Sampled": {"0"}}))
	select {
	case s := <-posts:
		t.Fatalf("posted %+v", s)
	case <-time.After(300 * time.Millisecond):
	}
}
