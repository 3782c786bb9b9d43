package statsd

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
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

func TestRegistration(t *testing.T) {
	reg := Registration()
	if reg.Name != "statsd" || reg.Priority != 11 || reg.NoConsumer {
		t.Fatalf("got %q %d no_consumer=%v", reg.Name, reg.Priority, reg.NoConsumer)
	}
	cfg := decode(t, "{}")
	if cfg.Host != "localhost" || cfg.Port != 8125 || cfg.Prefix != "kong" || len(cfg.Metrics) != 13 ||
		cfg.ConsumerIdentifierDefault != "custom_id" || cfg.ServiceIdentifierDefault != "service_name_or_host" ||
		cfg.WorkspaceIdentifierDefault != "workspace_id" || cfg.UDPPacketSize != 0 || cfg.Queue.MaxBatchSize != 1 {
		t.Fatalf("defaults: %+v", cfg)
	}
}

// The cases of Kong's spec/03-plugins/06-statsd/02-schema_spec.lua.
func TestSchema(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want plugin.Errors
	}{
		{name: "empty config", src: "{}"},
		{name: "empty metrics", src: "metrics: []"},
		{name: "one metric", src: "metrics: [{name: request_count, stat_type: counter, sample_rate: 1}]"},
		{name: "stat_type missing", src: "metrics: [{name: request_count, sample_rate: 1}]",
			want: plugin.Errors{{Path: "metrics[0].stat_type", Message: "field required for entity check"}}},
		{name: "name missing", src: "metrics: [{stat_type: counter, sample_rate: 1}]",
			want: plugin.Errors{{Path: "metrics[0].name", Message: "required field missing"}}},
		{name: "counter without sample rate", src: "metrics: [{name: request_count, stat_type: counter}]",
			want: plugin.Errors{{Path: "metrics[0].sample_rate", Message: "required field missing"}}},
		{name: "invalid name", src: "metrics: [{name: invalid_name, stat_type: counter, sample_rate: 1}]",
			want: plugin.Errors{{Path: "metrics[0].name", Message: oneOf(metricNames)}}},
		{name: "invalid stat type", src: "metrics: [{name: request_count, stat_type: invalid_stat, sample_rate: 1}]",
			want: plugin.Errors{{Path: "metrics[0].stat_type", Message: "expected one of: counter, gauge, histogram, meter, set, timer"}}},
		{name: "invalid service identifier", src: "metrics: [{name: status_count, stat_type: counter, sample_rate: 1, service_identifier: fooo}]",
			want: plugin.Errors{{Path: "metrics[0].service_identifier", Message: "expected one of: service_id, service_name, service_host, service_name_or_host"}}},
		{name: "valid service identifier", src: "metrics: [{name: status_count, stat_type: counter, sample_rate: 1, service_identifier: service_id}]"},
		{name: "invalid workspace identifier", src: "metrics: [{name: status_count_per_workspace, stat_type: counter, sample_rate: 1, workspace_identifier: fooo}]",
			want: plugin.Errors{{Path: "metrics[0].workspace_identifier", Message: "expected one of: workspace_id, workspace_name"}}},
		{name: "valid workspace identifier", src: "metrics: [{name: status_count_per_workspace, stat_type: counter, sample_rate: 1, workspace_identifier: workspace_name}]"},
		{name: "empty allow_status_codes", src: "allow_status_codes: []"},
		{name: "status ranges", src: "allow_status_codes: [200-299, 400-499]"},
		{name: "letters", src: "allow_status_codes: [test]", want: plugin.Errors{{Path: "allow_status_codes[0]", Message: "invalid value: test"}}},
		{name: "special characters", src: "allow_status_codes: [\"$%%\"]", want: plugin.Errors{{Path: "allow_status_codes[0]", Message: "invalid value: $%%"}}},
		{name: "letter range", src: "allow_status_codes: [test-test]", want: plugin.Errors{{Path: "allow_status_codes[0]", Message: "invalid value: test-test"}}},
		{name: "half letters", src: "allow_status_codes: [test-299, 300-test]", want: plugin.Errors{
			{Path: "allow_status_codes[0]", Message: "invalid value: test-299"},
			{Path: "allow_status_codes[1]", Message: "invalid value: 300-test"}}},
		{name: "one invalid", src: "allow_status_codes: [200-299, test-test]", want: plugin.Errors{{Path: "allow_status_codes[1]", Message: "invalid value: test-test"}}},
		{name: "packet size", src: "udp_packet_size: 65508", want: plugin.Errors{{Path: "udp_packet_size", Message: "value should be between 0 and 65507"}}},
		{name: "tag style", src: "tag_style: prom", want: plugin.Errors{{Path: "tag_style", Message: "expected one of: dogstatsd, influxdb, librato, signalfx"}}},
		{name: "deprecated fields", src: "retry_count: 10\nqueue_size: 1\nflush_timeout: 2"},
		{name: "queue", src: "queue: {max_batch_size: 0}", want: plugin.Errors{{Path: "queue.max_batch_size", Message: "value should be between 1 and 1000000"}}},
		{name: "identifier defaults", src: "consumer_identifier_default: x", want: plugin.Errors{{Path: "consumer_identifier_default", Message: "expected one of: consumer_id, custom_id, username"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := New(decode(t, tt.src), plugin.Env{})
			var got plugin.Errors
			if err != nil {
				got = err.(plugin.Errors)
			} else {
				in.(plugin.Closer).Close()
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// listen is a real UDP listener standing in for a StatsD server.
func listen(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// packets reads n datagrams.
func packets(t *testing.T, c *net.UDPConn, n int) []string {
	t.Helper()
	var got []string
	buf := make([]byte, 65536)
	for len(got) < n {
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		k, err := c.Read(buf)
		if err != nil {
			t.Fatalf("after %d of %d packets %q: %v", len(got), n, got, err)
		}
		got = append(got, string(buf[:k]))
	}
	return got
}

func newInstance(t testing.TB, l *net.UDPConn, src string) *instance {
	t.Helper()
	port := l.LocalAddr().(*net.UDPAddr).Port
	cfg := decode(t, "host: 127.0.0.1\nport: "+strconv.Itoa(port)+"\nqueue: {max_coalescing_delay: 0}\n"+src)
	in, err := New(cfg, plugin.Env{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.(*instance).Close)
	return in.(*instance)
}

// served is a request that service statsd1 answered with 200 after a
// 10 ms upstream, for consumer robert.
func served(status int) *plugin.Ctx {
	r := httptest.NewRequest(http.MethodGet, "/request", nil)
	rec := &record.Record{Time: time.Now(), Method: "GET", URI: "/request", Proto: "HTTP/1.1", Host: "example.test",
		Status: status, BytesSent: 100, Latency: 15 * time.Millisecond}
	i := rec.AddAttempt("127.0.0.1:80", time.Millisecond)
	rec.Attempts[i].Head = 10 * time.Millisecond
	rec.Attempts[i].End = 12 * time.Millisecond
	rec.Answered = i + 1
	return &plugin.Ctx{Req: r, Record: rec, Resp: plugin.Response{Header: http.Header{"Content-Type": {"text/plain"}}},
		Service:  &plugin.ServiceInfo{ID: "svc-id", Name: "statsd1", Host: "up.example.com"},
		Route:    &plugin.RouteInfo{ID: "0f9e2a6c-1a4b-4c1e-9d7e-3f1d2c3b4a5e", Name: "r1"},
		Consumer: &plugin.Consumer{ID: "c-id", Username: "bob", CustomID: "robert"}}
}

// Kong's "logs over UDP with default metrics": one line per datagram.
func TestDefaultMetrics(t *testing.T) {
	l := listen(t)
	in := newInstance(t, l, "")
	c := served(200)
	in.Log(c)
	got := packets(t, l, 11)
	size := strconv.FormatInt(c.RequestSize(), 10)
	want := []string{
		"kong.service.statsd1.request.count:1|c",
		"kong.service.statsd1.latency:15|ms",
		"kong.service.statsd1.request.size:" + size + "|c",
		"kong.service.statsd1.status.200:1|c",
		"kong.service.statsd1.response.size:" + strconv.Itoa(len("HTTP/1.1 200 OK\r\n")+len("Content-Type: text/plain\r\n\r\n")+100) + "|c",
		"kong.service.statsd1.user.uniques:robert|s",
		"kong.service.statsd1.user.robert.request.count:1|c",
		"kong.service.statsd1.upstream_latency:10|ms",
		"kong.service.statsd1.kong_latency:3|ms",
		"kong.service.statsd1.user.robert.status.200:1|c",
		"kong.service.statsd1.workspace.default.status.200:1|c",
	}
	// The twelfth, per user per route, comes last.
	want = append(want, "kong.route.0f9e2a6c-1a4b-4c1e-9d7e-3f1d2c3b4a5e.user.robert.status.200:1|c")
	got = append(got, packets(t, l, 1)...)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("lines (-want +got):\n%s", diff)
	}
}

func TestMetricOptions(t *testing.T) {
	host, _ := os.Hostname()
	node := strings.ReplaceAll(host, ".", "_")
	tests := []struct {
		name string
		src  string
		ctx  func() *plugin.Ctx
		want []string
	}{
		{"sample rate and identifiers", "metrics: [{name: request_count, stat_type: counter, sample_rate: 0.5, service_identifier: service_id}, {name: request_per_user, stat_type: meter, sample_rate: 1, consumer_identifier: username}]",
			func() *plugin.Ctx { return served(200) },
			[]string{"kong.service.svc-id.request.count:1|c|@0.5", "kong.service.statsd1.user.bob.request.count:1|m"}},
		{"service host with dots", "metrics: [{name: status_count, stat_type: counter, sample_rate: 1, service_identifier: service_host}]",
			func() *plugin.Ctx { return served(404) },
			[]string{"kong.service.up_example_com.status.404:1|c"}},
		{"hostname in prefix", "prefix: my\nhostname_in_prefix: true\nmetrics: [{name: latency, stat_type: gauge, sample_rate: 1}]",
			func() *plugin.Ctx { return served(200) },
			[]string{"my.node." + node + ".service.statsd1.latency:15|g"}},
		{"no route matched", "metrics: [{name: request_count, stat_type: counter, sample_rate: 1}, {name: upstream_latency, stat_type: timer}]",
			func() *plugin.Ctx {
				c := served(404)
				c.Service, c.Route, c.Record.Attempts, c.Record.Answered = nil, nil, nil, 0
				return c
			},
			[]string{"kong.global.unmatched.request.count:1|c"}},
		{"dogstatsd", "tag_style: dogstatsd\nmetrics: [{name: request_count, stat_type: counter, sample_rate: 1}, {name: status_count, stat_type: counter, sample_rate: 1}]",
			func() *plugin.Ctx { return served(200) },
			[]string{"kong.request.count:1|c|#service:statsd1,route:r1,workspace:default,consumer:robert,node:" + node + ",status:200"}},
		{"influxdb", "tag_style: influxdb\nmetrics: [{name: latency, stat_type: timer}]",
			func() *plugin.Ctx { return served(200) },
			[]string{"kong.latency,service=statsd1,route=r1,workspace=default,consumer=robert,node=" + node + ",status=200:15|ms"}},
		{"librato", "tag_style: librato\nmetrics: [{name: latency, stat_type: timer}]",
			func() *plugin.Ctx { return served(200) },
			[]string{"kong.latency#service=statsd1,route=r1,workspace=default,consumer=robert,node=" + node + ",status=200:15|ms"}},
		{"signalfx", "tag_style: signalfx\nmetrics: [{name: latency, stat_type: timer, sample_rate: 0.25}]",
			func() *plugin.Ctx { return served(200) },
			[]string{"kong.latency[service=statsd1,route=r1,workspace=default,consumer=robert,node=" + node + ",status=200]:15|ms|@0.25"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := listen(t)
			in := newInstance(t, l, tt.src)
			in.Log(tt.ctx())
			got := packets(t, l, len(tt.want))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("lines (-want +got):\n%s", diff)
			}
		})
	}
}

// Kong's 03-allow_status_codes_spec: only statuses in a range are sent.
func TestAllowStatusCodes(t *testing.T) {
	l := listen(t)
	in := newInstance(t, l, "allow_status_codes: [200-205, 400-499]\nmetrics: [{name: status_count, stat_type: counter, sample_rate: 1}]")
	for _, st := range []int{500, 301, 404, 206, 200} {
		in.Log(served(st))
	}
	got := packets(t, l, 2)
	want := []string{"kong.service.statsd1.status.404:1|c", "kong.service.statsd1.status.200:1|c"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("lines (-want +got):\n%s", diff)
	}
}

// Kong's "combines udp packets" and "combines and splits udp packets":
// lines are joined by '\n' into datagrams of at most udp_packet_size.
func TestPacketSize(t *testing.T) {
	l := listen(t)
	in := newInstance(t, l, "udp_packet_size: 100\nmetrics: [{name: request_count, stat_type: counter, sample_rate: 1}, {name: upstream_latency, stat_type: timer}, {name: kong_latency, stat_type: timer}]")
	in.Log(served(200))
	got := packets(t, l, 2)
	want := []string{"kong.service.statsd1.request.count:1|c\nkong.service.statsd1.upstream_latency:10|ms", "kong.service.statsd1.kong_latency:3|ms"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("packets (-want +got):\n%s", diff)
	}
	l2 := listen(t)
	in = newInstance(t, l2, "udp_packet_size: 500\nmetrics: [{name: request_count, stat_type: counter, sample_rate: 1}, {name: upstream_latency, stat_type: timer}, {name: kong_latency, stat_type: timer}]")
	in.Log(served(200))
	got = packets(t, l2, 1)
	if want := strings.Join(want, "\n"); got[0] != want {
		t.Fatalf("packet %q, want %q", got[0], want)
	}
	for _, p := range got {
		if len(p) > 500 {
			t.Fatalf("packet of %d bytes", len(p))
		}
	}
}

// use_tcp: each line ends with '\n' on one connection.
func TestTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := decode(t, "host: 127.0.0.1\nport: "+strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)+
		"\nuse_tcp: true\nqueue: {max_coalescing_delay: 0}\nmetrics: [{name: request_count, stat_type: counter, sample_rate: 1}, {name: status_count, stat_type: counter, sample_rate: 1}]")
	pi, err := New(cfg, plugin.Env{})
	if err != nil {
		t.Fatal(err)
	}
	in := pi.(*instance)
	in.Log(served(201))
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	in.Close()
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	var got []byte
	buf := make([]byte, 4096)
	for strings.Count(string(got), "\n") < 2 {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("read %q: %v", got, err)
		}
		got = append(got, buf[:n]...)
	}
	if want := "kong.service.statsd1.request.count:1|c\nkong.service.statsd1.status.201:1|c\n"; string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
