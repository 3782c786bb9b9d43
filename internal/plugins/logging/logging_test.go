package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/logs"
	"github.com/turnpikegw/turnpike/internal/record"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// guide is the patterns guide's Observability example, as written there.
const guide = `
log_level: info
log_format:
  request:
    uri: $request_uri
    method: $request_method
    size: $request_length
  response:
    status: $status
    size: $response_length
  latency:
    request: $request_time_ms
    upstream: $upstream_connect_time_ms
`

// decode reads a plugin config through the gateway's own decoder.
func decode(t testing.TB, src string) *Config {
	t.Helper()
	raw, err := config.ParseRaw([]byte(src), "config")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &Config{}
	if errs := raw.Decode(cfg); len(errs) > 0 {
		t.Fatal(errs)
	}
	return cfg
}

// lines collects what the plugin writes.
type lines struct {
	mu  sync.Mutex
	got []string
}

func (l *lines) WriteLine(b []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, string(b))
}

func build(t testing.TB, src string, env plugin.Env) *instance {
	t.Helper()
	inst, err := New(decode(t, src), env)
	if err != nil {
		t.Fatal(err)
	}
	in := inst.(*instance)
	if c, ok := inst.(plugin.Closer); ok {
		t.Cleanup(c.Close)
	}
	return in
}

// request is a proxied request as the log phase sees it.
func request() *plugin.Ctx {
	req := httptest.NewRequest("GET", "http://api.example.com:8000/api/users/7?apikey=s3cret&x=a%22b", nil)
	req.Header.Set("Authorization", "Bearer t0ken")
	req.Header.Set("Cookie", "session=abc")
	req.Header.Set("User-Agent", "curl/8")
	req.Header.Add("X-Multi", "a")
	req.Header.Add("X-Multi", "b")
	req.Header.Set("X-Quote", "say \"hi\"\nnext")
	rec := &record.Record{
		Time:      time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC),
		RequestID: "req-1", ClientIP: "10.0.0.9", Method: "GET", URI: "/api/users/7?apikey=s3cret&x=a%22b",
		Host: "API.example.com:8000", Status: 201, BytesSent: 1234, BytesReceived: 56,
		Latency: 12345 * time.Microsecond, TraceID: "0af7651916cd43dd8448eb211c80319c",
	}
	rec.AddAttempt("127.0.0.1:9001", 0)
	rec.Attempts[0] = record.Attempt{Target: "127.0.0.1:9001", Status: 502, Outcome: record.OutcomeStatus, End: time.Millisecond}
	rec.AddAttempt("127.0.0.1:9002", 2*time.Millisecond)
	rec.Attempts[1] = record.Attempt{Target: "127.0.0.1:9002", Status: 201, Outcome: record.OutcomeResponse,
		Connected: 250 * time.Microsecond, Head: 3 * time.Millisecond, End: 4500 * time.Microsecond}
	rec.Answered = 2
	resp := http.Header{"Set-Cookie": {"id=1"}, "Content-Type": {"application/json"}}
	return &plugin.Ctx{Req: req, Record: rec, ClientPath: "/api/users/7",
		Route:    &plugin.RouteInfo{ID: "r-id", Name: "users"},
		Service:  &plugin.ServiceInfo{ID: "s-id"},
		Consumer: &plugin.Consumer{ID: "c-id", CustomID: "cust"},
		Resp:     plugin.Response{Status: 201, Header: resp}}
}

func render(t testing.TB, src string, c *plugin.Ctx) string {
	t.Helper()
	var out lines
	build(t, src, plugin.Env{AccessLog: &out}).Log(c)
	if len(out.got) != 1 {
		t.Fatalf("%d lines", len(out.got))
	}
	line := out.got[0]
	if !strings.HasSuffix(line, "\n") || !json.Valid([]byte(line)) {
		t.Fatalf("not one JSON line: %q", line)
	}
	return strings.TrimSuffix(line, "\n")
}

func TestGuideFormatKeepsShapeOrderAndNumbers(t *testing.T) {
	got := render(t, guide, request())
	want := `{"request":{"uri":"/api/users/7?apikey=REDACTED&x=a%22b","method":"GET","size":245},` +
		`"response":{"status":201,"size":1234},"latency":{"request":12.345,"upstream":0.25}}`
	c := request()
	c.Secrets = plugin.NewSecrets(nil, []string{"apikey"})
	if got = render(t, guide, c); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestEveryVariable(t *testing.T) {
	tests := []struct {
		name, leaf, want string
		mark             func(c *plugin.Ctx)
	}{
		{"request_uri", "$request_uri", `"/api/users/7?apikey=s3cret&x=a%22b"`, nil},
		{"request_method", "$request_method", `"GET"`, nil},
		{"request_length", "$request_length", `245`, nil},
		{"status", "$status", `201`, nil},
		{"response_length", "$response_length", `1234`, nil},
		{"request_time_ms", "$request_time_ms", `12.345`, nil},
		{"upstream_connect_time_ms", "$upstream_connect_time_ms", `0.25`, nil},
		{"remote_addr", "$remote_addr", `"10.0.0.9"`, nil},
		{"host lower-cased, no port", "$host", `"api.example.com"`, nil},
		{"uri", "$uri", `"/api/users/7"`, nil},
		{"args", "$args", `"apikey=s3cret&x=a%22b"`, nil},
		{"http_ header", "$http_user_agent", `"curl/8"`, nil},
		{"http_ any case, values joined", "$HTTP_X_MULTI", `"a, b"`, nil},
		{"http_ absent", "$http_x_none", `""`, nil},
		{"sent_http_", "$sent_http_content_type", `"application/json"`, nil},
		{"upstream_addr", "$upstream_addr", `"127.0.0.1:9002"`, nil},
		{"upstream_status", "$upstream_status", `201`, nil},
		{"upstream_response_time_ms", "$upstream_response_time_ms", `4.5`, nil},
		{"request_id", "$request_id", `"req-1"`, nil},
		{"time_iso8601", "$time_iso8601", `"2026-12-07T01:02:03+00:00"`, nil},
		{"consumer: custom_id without username", "$consumer", `"cust"`, nil},
		{"route", "$route", `"users"`, nil},
		{"service: id without name", "$service", `"s-id"`, nil},
		{"trace_id", "$trace_id", `"0af7651916cd43dd8448eb211c80319c"`, nil},
		{"braces", "${status}ms", `"201ms"`, nil},
		{"text and variables", "$request_method $uri -> $status", `"GET /api/users/7 -> 201"`, nil},
		{"lone dollar is text", "cost: $ 5 $", `"cost: $ 5 $"`, nil},
		{"text escaped", `a "quoted" \ word`, `"a \"quoted\" \\ word"`, nil},
		{"value escaped", "$http_x_quote", `"say \"hi\"\nnext"`, nil},
		{"authorization redacted", "$http_authorization", `"REDACTED"`, nil},
		{"cookie redacted", "$http_cookie", `"REDACTED"`, nil},
		{"set-cookie redacted", "$sent_http_set_cookie", `"REDACTED"`, nil},
		{"marked header redacted", "$http_user_agent", `"REDACTED"`, func(c *plugin.Ctx) { c.Secrets = plugin.NewSecrets([]string{"user-agent"}, nil) }},
		{"marked query argument redacted", "$args", `"apikey=REDACTED&x=a%22b"`, func(c *plugin.Ctx) { c.Secrets = plugin.NewSecrets(nil, []string{"apikey"}) }},
		{"encoded argument name redacted", "$args", `"%61pikey=REDACTED"`, func(c *plugin.Ctx) {
			c.Secrets = plugin.NewSecrets(nil, []string{"apikey"})
			c.Req.URL.RawQuery = "%61pikey=s3cret"
		}},
		{"request_uri redacted", "$request_uri", `"/api/users/7?apikey=REDACTED&x=a%22b"`, func(c *plugin.Ctx) { c.Secrets = plugin.NewSecrets(nil, []string{"apikey"}) }},
		{"no upstream: number null", "$upstream_status", `null`, func(c *plugin.Ctx) { c.Record.Attempts, c.Record.Answered = nil, 0 }},
		{"no upstream: text empty", "[$upstream_addr$upstream_connect_time_ms]", `"[]"`, func(c *plugin.Ctx) { c.Record.Attempts, c.Record.Answered = nil, 0 }},
		{"failed attempt, no status", "$upstream_status", `null`, func(c *plugin.Ctx) {
			c.Record.Attempts, c.Record.Answered = c.Record.Attempts[:1], 0
			c.Record.Attempts[0].Status = 0
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := request()
			if tt.mark != nil {
				tt.mark(c)
			}
			src := "log_format:\n  v: '" + strings.ReplaceAll(tt.leaf, "'", "''") + "'\n"
			if got := render(t, src, c); got != `{"v":`+tt.want+`}` {
				t.Errorf("got %s, want {\"v\":%s}", got, tt.want)
			}
		})
	}
}

func TestConstantsAndNesting(t *testing.T) {
	src := "log_format:\n  z: 1\n  a: {b: {c: true, d: ~, e: 2.5}}\n  m: '$status'\n"
	if got, want := render(t, src, request()), `{"z":1,"a":{"b":{"c":true,"d":null,"e":2.5}},"m":201}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestConfigErrors(t *testing.T) {
	deep := "log_format:\n"
	for i := range maxDepth + 1 {
		deep += strings.Repeat("  ", i+1) + "k:\n"
	}
	deep += strings.Repeat("  ", maxDepth+2) + "v: $status\n"
	many := "log_format:\n"
	for i := range maxFields + 1 {
		many += "  k" + strings.Repeat("x", i%3) + string(rune('a'+i%26)) + string(rune('a'+i/26)) + ": x\n"
	}
	tests := []struct {
		name, src string
		want      plugin.Errors
	}{
		{"unknown variable", "log_format: {request: {uri: $foo}}", plugin.Errors{{Path: "log_format.request.uri", Message: "unknown variable $foo"}}},
		{"unknown in braces", "log_format: {a: 'x${nope}y'}", plugin.Errors{{Path: "log_format.a", Message: "unknown variable $nope"}}},
		{"longest name wins", "log_format: {a: $status_x}", plugin.Errors{{Path: "log_format.a", Message: "unknown variable $status_x"}}},
		{"http_ without a name", "log_format: {a: $http_}", plugin.Errors{{Path: "log_format.a", Message: "unknown variable $http_"}}},
		{"unterminated", "log_format: {a: '${status'}", plugin.Errors{{Path: "log_format.a", Message: `unterminated ${ in "${status"`}}},
		{"array", "log_format: {a: [x]}", plugin.Errors{{Path: "log_format.a", Message: "expected a string, a number, a boolean or a map"}}},
		{"missing format", "log_level: info", plugin.Errors{{Path: "log_format", Message: "required field missing"}}},
		{"bad level", "log_level: verbose\nlog_format: {a: x}", plugin.Errors{{Path: "log_level", Message: "expected one of: debug, info, warn, error"}}},
		{"relative path", "path: logs/a.log\nlog_format: {a: x}", plugin.Errors{{Path: "path", Message: "expected an absolute file path"}}},
		{"too deep", deep, plugin.Errors{{Path: "log_format" + strings.Repeat(".k", maxDepth), Message: "nested deeper than 8 maps"}}},
		{"too many fields", many, plugin.Errors{{Path: "log_format", Message: "more than 256 fields"}}},
		{"leaf too long", "log_format: {a: " + strings.Repeat("x", maxLeafBytes+1) + "}", plugin.Errors{{Path: "log_format.a", Message: "longer than 4096 bytes"}}},
		{"every problem reported", "log_format: {a: $x, b: {c: $y}}", plugin.Errors{
			{Path: "log_format.a", Message: "unknown variable $x"}, {Path: "log_format.b.c", Message: "unknown variable $y"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(decode(t, tt.src), plugin.Env{})
			if d := cmp.Diff(tt.want, err); d != "" {
				t.Error(d)
			}
		})
	}
}

func TestLevelBelowTheGatewaysWritesNothing(t *testing.T) {
	var out lines
	logger := slog.New(slog.NewJSONHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	for _, lvl := range []string{"debug", "info", "warn", "error"} {
		build(t, "log_level: "+lvl+"\nlog_format: {l: "+lvl+"}", plugin.Env{AccessLog: &out, Logger: logger}).Log(request())
	}
	if want := []string{"{\"l\":\"warn\"}\n", "{\"l\":\"error\"}\n"}; !cmp.Equal(out.got, want) {
		t.Errorf("got %q, want %q", out.got, want)
	}
}

func TestPathAppendsLinesAndFlushesOnClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.json")
	reg := prometheus.NewRegistry()
	inst, err := New(decode(t, "path: "+path+"\nlog_format: {s: $status, id: $request_id}"), plugin.Env{Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	in := inst.(*instance)
	const n = 2000
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range n / 4 {
				in.Log(request())
			}
		})
	}
	wg.Wait()
	in.Close()
	in.Log(request()) // after Close: dropped, counted
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	written := strings.Count(string(data), "\n")
	families, err := reg.Gather()
	if err != nil || len(families) != 1 || families[0].GetName() != "turnpike_logging_dropped_lines_total" {
		t.Fatalf("metrics %v, %v", families, err)
	}
	dropped := int(families[0].GetMetric()[0].GetCounter().GetValue())
	if written+dropped != n+1 || written == 0 || dropped == 0 {
		t.Fatalf("%d written + %d dropped, want %d", written, dropped, n+1)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if line != `{"s":201,"id":"req-1"}` {
			t.Fatalf("line %q", line)
		}
	}
}

func TestPathThatCannotBeOpenedIsAConfigError(t *testing.T) {
	_, err := New(decode(t, "path: /nonexistent-dir/x.log\nlog_format: {a: x}"), plugin.Env{})
	var errs plugin.Errors
	if !errors.As(err, &errs) || len(errs) != 1 || errs[0].Path != "path" || !strings.Contains(errs[0].Message, "no such file") {
		t.Fatalf("%v", err)
	}
}

// A path that is a FIFO nobody reads (a log sidecar that died) holds
// neither the config's compile nor Close past its bound; the lines are
// counted as dropped.
func TestPathFIFONobodyReadsDoesNotHang(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("mkfifo:", err)
	}
	t.Cleanup(func() {
		// Unblocks a writer the code under test left waiting (the old
		// code's open), so that the leak check sees the real failure.
		if f, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
			time.Sleep(100 * time.Millisecond)
			f.Close()
		}
	})
	done := make(chan *instance)
	go func() {
		inst, err := New(decode(t, "path: "+fifo+"\nlog_format: {s: $status}"), plugin.Env{})
		if err != nil {
			t.Error(err)
			done <- nil
			return
		}
		in := inst.(*instance)
		for range 10 {
			in.Log(request())
		}
		in.Close()
		done <- in
	}()
	start := time.Now()
	select {
	case in := <-done:
		if in != nil && in.file.lost.Load() != 10 {
			t.Errorf("%d lines counted as dropped, want 10", in.file.lost.Load())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("compile and Close still waiting after 20s on a FIFO nobody reads")
	}
	if d := time.Since(start); d > flushTimeout+2*time.Second {
		t.Errorf("compile and Close took %v, want within the flush timeout %v", d, flushTimeout)
	}
}

// The writer's pace: a line after a quiet spell reaches the file without
// another line or Close to push it, and so does every line of a burst
// that keeps coming while the writer pauses between writes.
func TestPathWritesEveryLineWithoutClose(t *testing.T) {
	path, in := statusToFile(t)
	in.Log(request())
	waitForFile(t, path, 1)
	for i := range 200 {
		in.Log(request())
		if i%20 == 0 {
			time.Sleep(3 * time.Millisecond) // lines across several pauses
		}
	}
	waitForFile(t, path, 201)
	if n := in.file.lost.Load(); n != 0 {
		t.Errorf("%d lines dropped", n)
	}
}

// The file follows log rotation as file-log's does: after a rename the
// next lines go to a new file at the path.
func TestPathFollowsRotation(t *testing.T) {
	path, in := statusToFile(t)
	in.Log(request())
	waitForFile(t, path, 1)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	in.Log(request())
	waitForFile(t, path, 1)
	if data, _ := os.ReadFile(path + ".1"); strings.Count(string(data), "\n") != 1 {
		t.Errorf("rotated file holds %q, want its one line", data)
	}
}

// statusToFile is an instance writing $status lines to a file of its
// own, closed when the test ends.
func statusToFile(t *testing.T) (string, *instance) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "access.json")
	inst, err := New(decode(t, "path: "+path+"\nlog_format: {s: $status}"), plugin.Env{})
	if err != nil {
		t.Fatal(err)
	}
	in := inst.(*instance)
	t.Cleanup(in.Close)
	return path, in
}

func waitForFile(t *testing.T, path string, lines int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		data, _ := os.ReadFile(path)
		if strings.Count(string(data), "\n") == lines {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %q, want %d lines", path, data, lines)
		}
	}
}

// Failing writes (a full disk) are counted, by plugin id, and logged at
// most once per warnEvery.
func TestPathWriteErrorsCountedAndRateLimited(t *testing.T) {
	var logged bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logged}, nil))
	reg := prometheus.NewRegistry()
	inst, err := New(decode(t, "path: /dev/full\nlog_format: {s: $status}"), plugin.Env{Metrics: reg, Logger: logger, PluginID: "p-1"})
	if err != nil {
		t.Fatal(err)
	}
	in := inst.(*instance)
	defer in.Close()
	for i := range 5 {
		in.Log(request())
		for deadline := time.Now().Add(5 * time.Second); in.file.lost.Load() != uint64(i+1); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d lines dropped, want %d", in.file.lost.Load(), i+1)
			}
		}
	}
	mu.Lock()
	n := strings.Count(logged.String(), "writing its file failed")
	mu.Unlock()
	if n != 1 {
		t.Errorf("%d error lines logged for 5 failed writes, want 1", n)
	}
	families, err := reg.Gather()
	if err != nil || len(families) != 1 {
		t.Fatalf("metrics %v, %v", families, err)
	}
	m := families[0].GetMetric()[0]
	if l := m.GetLabel(); len(l) != 1 || l[0].GetName() != "plugin_id" || l[0].GetValue() != "p-1" || m.GetCounter().GetValue() != 5 {
		t.Errorf("metric %v, want 5 by plugin_id p-1", m)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// $request_length is the log plugins' request.size: one definition.
func TestRequestLengthIsKongsRequestSize(t *testing.T) {
	c := request()
	var entry struct {
		Request struct {
			Size int64 `json:"size"`
		} `json:"request"`
	}
	if err := json.Unmarshal(logs.AppendEntry(nil, c), &entry); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`{"v":%d}`, entry.Request.Size)
	if got := render(t, "log_format: {v: $request_length}", c); got != want || entry.Request.Size <= c.Record.BytesReceived {
		t.Errorf("got %s, want %s (line, headers and body)", got, want)
	}
}
