package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// logCollector is a real HTTP server on loopback receiving http-log
// batches; while hang is open it holds every request.
type logCollector struct {
	*httptest.Server
	mu      sync.Mutex
	entries []map[string]any
	bodies  int
	hang    chan struct{}
}

func startLogCollector(t *testing.T, hang bool) *logCollector {
	c := &logCollector{}
	if hang {
		c.hang = make(chan struct{})
	}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c.hang != nil {
			select {
			case <-c.hang:
			case <-r.Context().Done():
				return
			}
		}
		body, _ := io.ReadAll(r.Body)
		var batch []map[string]any
		if strings.HasPrefix(string(body), "[") {
			if err := json.Unmarshal(body, &batch); err != nil {
				t.Errorf("batch is not a JSON array: %v: %s", err, body)
			}
		} else {
			var one map[string]any
			if err := json.Unmarshal(body, &one); err != nil {
				t.Errorf("body is not a JSON object: %v: %s", err, body)
			}
			batch = append(batch, one)
		}
		c.mu.Lock()
		c.entries = append(c.entries, batch...)
		c.bodies++
		c.mu.Unlock()
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *logCollector) wait(t *testing.T, n int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		got := append([]map[string]any(nil), c.entries...)
		c.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("collector got %d entries, want %d", len(got), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// counts is how many entries the collector got, in how many bodies.
func (c *logCollector) counts() (entries, bodies int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries), c.bodies
}

// shutdown sends gw SIGTERM and fails the test unless it exits within
// 15 s (its shutdown timeout and a margin for a busy machine).
func shutdown(t *testing.T, gw *gwtest.Gateway) {
	t.Helper()
	gw.Signal(syscall.SIGTERM)
	if _, ok := gw.Wait(15 * time.Second); !ok {
		t.Fatal("the gateway did not exit")
	}
}

// globalPluginsConfig is a config with one service, to upstream, one
// route at /, and plugins (YAML list items after "plugins:") as global
// plugins.
func globalPluginsConfig(upstream, plugins string) string {
	return "_format_version: \"3.0\"\nservices:\n- name: svc\n  url: " + upstream + "\n  routes: [{name: r, paths: [/]}]\nplugins:" + plugins
}

func field(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[p]
	}
	return v
}

// http-log posts Kong's log object of each request to a real collector:
// route, service, consumer, tries and latencies filled, the key-auth key
// given in the query and the Authorization header redacted everywhere.
func TestHTTPLogShipsKongLogObject(t *testing.T) {
	col := startLogCollector(t, false)
	up := gwtest.StartEcho(t, "up")
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
consumers:
- username: alice
  keyauth_credentials: [{key: Sup3rSecretKey}]
services:
- name: svc
  url: %s
  routes: [{name: items, paths: [/items]}]
plugins:
- name: key-auth
  config: {key_names: [apikey]}
- name: http-log
  config: {http_endpoint: "%s/logs"}
`, up.URL, col.URL), gwtest.Options{})
	resp, _ := gw.Get("/items/1?apikey=Sup3rSecretKey&x=1", "Authorization", "Basic c2VjcmV0OnNlY3JldA==")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	e := col.wait(t, 1)[0]
	raw, _ := json.Marshal(e)
	for _, secret := range []string{"Sup3rSecretKey", "c2VjcmV0OnNlY3JldA=="} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("the log entry holds the credential %q: %s", secret, raw)
		}
	}
	checks := []struct {
		path []string
		want any
	}{
		{[]string{"request", "uri"}, "/items/1?apikey=REDACTED&x=1"},
		{[]string{"request", "method"}, "GET"},
		{[]string{"request", "querystring", "apikey"}, "REDACTED"},
		{[]string{"request", "querystring", "x"}, "1"},
		{[]string{"request", "headers", "authorization"}, "REDACTED"},
		{[]string{"response", "status"}, 200.0},
		{[]string{"response", "headers", "x-upstream"}, "up"},
		{[]string{"route", "name"}, "items"},
		{[]string{"service", "name"}, "svc"},
		{[]string{"consumer", "username"}, "alice"},
		{[]string{"upstream_status"}, "200"},
		{[]string{"source"}, "upstream"},
		{[]string{"client_ip"}, "127.0.0.1"},
	}
	for _, c := range checks {
		if got := field(e, c.path...); got != c.want {
			t.Errorf("%s = %v, want %v", strings.Join(c.path, "."), got, c.want)
		}
	}
	tries, _ := e["tries"].([]any)
	if len(tries) != 1 || field(tries[0].(map[string]any), "ip") != "127.0.0.1" {
		t.Errorf("tries %v", e["tries"])
	}
	if p, _ := field(e, "latencies", "proxy").(float64); p < 0 {
		t.Errorf("latencies.proxy %v for a proxied request", p)
	}
	if s, _ := e["started_at"].(float64); time.Since(time.UnixMilli(int64(s))) > time.Minute {
		t.Errorf("started_at %v is not the request's time", e["started_at"])
	}
}

// tcp-log, udp-log, syslog and file-log deliver each request's log
// object to real receivers: a TCP listener (one JSON line), a UDP socket
// (one datagram), a Unix datagram socket (an RFC 3164 message) and a
// file (one JSON line).
func TestStreamLogPlugins(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	tcpLines := make(chan string, 4)
	go func() {
		conn, err := tcp.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		sc := bufio.NewScanner(conn)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			tcpLines <- sc.Text()
		}
	}()
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	dir := t.TempDir()
	sock := filepath.Join(dir, "syslog.sock")
	syslog, err := net.ListenPacket("unixgram", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer syslog.Close()
	file := filepath.Join(dir, "access.json")
	up := gwtest.StartEcho(t, "up")
	gw := gwtest.Start(t, globalPluginsConfig(up.URL, fmt.Sprintf(`
- name: tcp-log
  config: {host: 127.0.0.1, port: %d}
- name: udp-log
  config: {host: 127.0.0.1, port: %d}
- name: syslog
  config: {socket_path: %s, facility: local0}
- name: file-log
  config: {path: %s}
`, tcp.Addr().(*net.TCPAddr).Port, udp.LocalAddr().(*net.UDPAddr).Port, sock, file)), gwtest.Options{})
	if resp, _ := gw.Get("/stream?q=1"); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	check := func(name, text string) {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal([]byte(text), &m); err != nil {
			t.Errorf("%s: not a JSON log object: %v: %q", name, err, text)
			return
		}
		if got := field(m, "request", "uri"); got != "/stream?q=1" {
			t.Errorf("%s: request.uri %v", name, got)
		}
	}
	select {
	case line := <-tcpLines:
		check("tcp-log", line)
	case <-time.After(10 * time.Second):
		t.Error("tcp-log: no line")
	}
	buf := make([]byte, 64<<10)
	udp.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, _, err := udp.ReadFrom(buf); err != nil {
		t.Errorf("udp-log: %v", err)
	} else {
		check("udp-log", string(buf[:n]))
	}
	syslog.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, _, err := syslog.ReadFrom(buf); err != nil {
		t.Errorf("syslog: %v", err)
	} else {
		msg := string(buf[:n])
		// local0 (16) * 8 + info (6).
		_, body, ok := strings.Cut(msg, "]: ")
		if !strings.HasPrefix(msg, "<134>") || !strings.Contains(msg, " kong[") || !ok {
			t.Errorf("syslog: not an RFC 3164 message at local0.info from kong: %q", msg)
		}
		check("syslog", body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _ := os.ReadFile(file)
		if strings.HasSuffix(string(data), "\n") {
			check("file-log", strings.TrimSpace(string(data)))
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("file-log: file holds %q", data)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A collector that accepts connections but never answers does not slow
// requests: they complete at the gateway's usual pace while the queue
// fills, and the entries past its bound are dropped and reported.
func TestHTTPLogHungCollectorNeverSlowsRequests(t *testing.T) {
	col := startLogCollector(t, true)
	defer close(col.hang)
	up := gwtest.StartEcho(t, "up")
	gw := gwtest.Start(t, globalPluginsConfig(up.URL, fmt.Sprintf(`
- name: http-log
  config:
    http_endpoint: %s
    timeout: 60000
    queue: {max_entries: 20}
`, col.URL)), gwtest.Options{})
	const n = 200
	var slowest time.Duration
	start := time.Now()
	for range n {
		t0 := time.Now()
		resp, _ := gw.Get("/")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		slowest = max(slowest, time.Since(t0))
	}
	total := time.Since(start)
	t.Logf("%d requests in %v with a hung collector (slowest %v)", n, total, slowest)
	if slowest > 500*time.Millisecond || total > 10*time.Second {
		t.Errorf("requests waited on the collector: slowest %v, %d in %v", slowest, n, total)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(gw.Stderr(), "log entries dropped") {
		if time.Now().After(deadline) {
			t.Fatalf("no warning about dropped entries in the gateway log:\n%s", gw.Stderr())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if c := strings.Count(gw.Stderr(), "log entries dropped"); c > 2 {
		t.Errorf("%d drop warnings for one burst; they should be rate-limited", c)
	}
}

// Entries still queued at SIGTERM reach the collector before the process
// exits: the queue waits up to a minute to fill a batch, and shutdown
// flushes it.
func TestHTTPLogFlushedOnSIGTERM(t *testing.T) {
	col := startLogCollector(t, false)
	up := gwtest.StartEcho(t, "up")
	gw := gwtest.Start(t, globalPluginsConfig(up.URL, fmt.Sprintf(`
- name: http-log
  config:
    http_endpoint: %s
    queue: {max_batch_size: 100, max_coalescing_delay: 60}
`, col.URL)), gwtest.Options{})
	for range 5 {
		if resp, _ := gw.Get("/"); resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if early, _ := col.counts(); early != 0 {
		t.Fatalf("%d entries sent before the batch was due; the test needs them queued", early)
	}
	shutdown(t, gw)
	if entries, bodies := col.counts(); entries != 5 || bodies != 1 {
		t.Errorf("collector got %d entries in %d bodies; want the 5 queued, in one batch", entries, bodies)
	}
}

// Bad log plugin settings are config errors naming their field; a Kong
// file's partial queue record keeps Kong's defaults for the rest.
func TestLogPluginConfigErrors(t *testing.T) {
	cfg := writeFile(t, "kong.yml", `_format_version: "3.0"
plugins:
- name: http-log
  config:
    http_endpoint: http://user:pw@collector.example/logs
    headers: {Authorization: "Bearer x"}
    queue: {max_batch_size: 0}
- name: file-log
  config:
    path: /tmp/kong.log
    custom_fields_by_lua: {tenant: "return 1"}
- name: syslog
  config: {server_errors_severity: error}
services:
- name: s
  url: http://127.0.0.1:9
  plugins:
  - name: http-log
    config:
      http_endpoint: http://collector.example/logs
      queue: {max_batch_size: 50}
`)
	stdout, stderr, code := runCLI(t, nil, "validate", "-c", cfg)
	out := stdout + stderr
	if code == 0 {
		t.Fatalf("validate accepted the file:\n%s", out)
	}
	for _, want := range []string{
		"plugins[0].config.http_endpoint: specifying both an 'Authorization' header and user info in 'http_endpoint' is not allowed",
		"plugins[0].config.queue.max_batch_size: value should be between 1 and 1000000",
		"plugins[1].config.custom_fields_by_lua: Lua code is not supported by Turnpike",
		"plugins[2].config.server_errors_severity: expected one of: debug, info, notice, warning, err, crit, alert, emerg",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "services[0]") || strings.Contains(out, "user:pw") {
		t.Errorf("the valid entry is refused, or the endpoint's userinfo is shown:\n%s", out)
	}
}

// A reload that rebuilds the http-log instance (here: the plugin moves
// from global to the service) keeps its queue: entries queued before it
// go out with those after it in one batch, not flushed early by the old
// instance's Close.
func TestHTTPLogQueueSurvivesReload(t *testing.T) {
	col := startLogCollector(t, false)
	up := gwtest.StartEcho(t, "up")
	doc := func(global bool) string {
		plugin := fmt.Sprintf(`
  - name: http-log
    config:
      http_endpoint: %s
      queue: {max_batch_size: 100, max_coalescing_delay: 60}
`, col.URL)
		if global {
			return globalPluginsConfig(up.URL, strings.ReplaceAll(plugin, "\n  ", "\n"))
		}
		return fmt.Sprintf("_format_version: \"3.0\"\nservices:\n- name: svc\n  url: %s\n  routes: [{name: r, paths: [/]}]\n  plugins:%s", up.URL, plugin)
	}
	gw := gwtest.Start(t, doc(true), gwtest.Options{Args: []string{"--watch=false"}})
	for range 3 {
		gw.Get("/")
	}
	writeAtomically(t, configPath(t, gw), doc(false))
	gw.Signal(syscall.SIGHUP)
	waitUntil(t, "the reload", func() bool { return len(rldLogLines(gw, "configuration applied")) == 2 })
	for range 2 {
		gw.Get("/")
	}
	shutdown(t, gw)
	if entries, bodies := col.counts(); entries != 5 || bodies != 1 {
		t.Errorf("collector got %d entries in %d bodies; want 5 in one batch (one queue across the reload)", entries, bodies)
	}
}

// Log files that are FIFOs nobody reads (a log sidecar that died) hold
// neither the config's compile, nor requests, nor the reload that drops
// the plugins (its Close flushes for at most the flush timeout), nor
// shutdown.
func TestLogFilesToDeadFIFOHoldNoReload(t *testing.T) {
	dir := t.TempDir()
	fileLog, logging := filepath.Join(dir, "file-log.fifo"), filepath.Join(dir, "logging.fifo")
	for _, p := range []string{fileLog, logging} {
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Skip("mkfifo:", err)
		}
	}
	up := gwtest.StartEcho(t, "up")
	gw := gwtest.Start(t, globalPluginsConfig(up.URL, fmt.Sprintf(`
- name: file-log
  config: {path: %s}
- name: logging
  config: {path: %s, log_format: {s: $status}}
`, fileLog, logging)), gwtest.Options{Args: []string{"--watch=false"}})
	for range 5 {
		if resp, _ := gw.Get("/"); resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	writeAtomically(t, configPath(t, gw), globalPluginsConfig(up.URL, " []"))
	start := time.Now()
	gw.Signal(syscall.SIGHUP)
	waitUntil(t, "the reload", func() bool { return len(rldLogLines(gw, "configuration applied")) == 2 })
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("the reload took %v; the old instances' Close should take at most the 5s flush timeout", d)
	}
	if resp, _ := gw.Get("/"); resp.StatusCode != 200 {
		t.Fatalf("status %d after the reload", resp.StatusCode)
	}
	shutdown(t, gw)
}

// A global file-log logs requests no route matched, as Kong's global
// plugins do: a scan of random paths leaves its trail, with the 404.
func TestGlobalFileLogLogsUnroutedRequests(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	path := filepath.Join(t.TempDir(), "file.log")
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: api
  url: %s
  routes: [{name: r, paths: [/api]}]
plugins:
- name: file-log
  config: {path: %s}
`, up.URL, path), gwtest.Options{})
	if resp, _ := gw.Get("/wp-login.php?apikey=s3cret"); resp.StatusCode != 404 {
		t.Fatalf("unrouted request: %d", resp.StatusCode)
	}
	var entry struct {
		Request  struct{ URI string } `json:"request"`
		Response struct{ Status int } `json:"response"`
		Route    map[string]any       `json:"route"`
		Other    map[string]any       `json:"-"`
	}
	waitUntil(t, "the file-log line of the 404", func() bool {
		data, _ := os.ReadFile(path)
		return json.Unmarshal(data, &entry) == nil
	})
	if entry.Response.Status != 404 || !strings.HasPrefix(entry.Request.URI, "/wp-login.php") || entry.Route != nil {
		t.Errorf("entry %+v", entry)
	}
}

// A log plugin sees the RateLimit headers rate-limiting put on the
// answer: rate-limiting's Log step (it runs first, by priority) once gave
// the pooled values back before file-log read them, which logged them
// empty and, under load, another request's.
func TestLogPluginSeesRateLimitHeaders(t *testing.T) {
	file := filepath.Join(t.TempDir(), "access.json")
	up := gwtest.StartEcho(t, "up")
	gw := gwtest.Start(t, globalPluginsConfig(up.URL, fmt.Sprintf(`
- name: rate-limiting
  config: {minute: 100, policy: local}
- name: file-log
  config: {path: %s}
`, file)), gwtest.Options{})
	for i := range 3 {
		if resp, _ := gw.Get("/x"); resp.StatusCode != 200 {
			t.Fatalf("request %d: status %d", i, resp.StatusCode)
		}
	}
	var lines []string
	for deadline := time.Now().Add(10 * time.Second); len(lines) < 3; time.Sleep(10 * time.Millisecond) {
		data, _ := os.ReadFile(file)
		// Whole lines only: a read may land inside the writer's last line.
		if whole := bytes.LastIndexByte(data, '\n'); whole >= 0 {
			lines = strings.Split(string(data[:whole]), "\n")
		}
		if time.Now().After(deadline) {
			t.Fatalf("file-log holds %q", data)
		}
	}
	for i, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if got, want := field(m, "response", "headers", "x-ratelimit-remaining-minute"), fmt.Sprint(99-i); got != want {
			t.Errorf("line %d: x-ratelimit-remaining-minute %v, want %s", i, got, want)
		}
	}
}
