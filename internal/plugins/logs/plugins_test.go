package logs

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/queue"
	"github.com/turnpikegw/turnpike/internal/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func httpConfig(endpoint string) *HTTPConfig {
	c := &HTTPConfig{HTTPEndpoint: endpoint}
	c.SetDefaults()
	c.Queue.SetDefaults()
	return c
}

func tcpConfig(host string, port int) *TCPConfig {
	c := &TCPConfig{Host: host, Port: port}
	c.SetDefaults()
	return c
}

func udpConfig(host string, port int) *UDPConfig {
	c := &UDPConfig{Host: host, Port: port}
	c.SetDefaults()
	return c
}

func syslogConfig(socket string) *SyslogConfig {
	c := &SyslogConfig{}
	c.SetDefaults()
	c.SocketPath = socket
	return c
}

func TestRegistrations(t *testing.T) {
	for _, tt := range []struct {
		reg      plugin.Registration
		name     string
		priority int
	}{
		{HTTPLog(), "http-log", 12}, {FileLog(), "file-log", 9}, {UDPLog(), "udp-log", 8},
		{TCPLog(), "tcp-log", 7}, {Syslog(), "syslog", 4},
	} {
		if tt.reg.Name != tt.name || tt.reg.Priority != tt.priority {
			t.Errorf("%s: got %q priority %d, want %d (Kong's)", tt.name, tt.reg.Name, tt.reg.Priority, tt.priority)
		}
	}
}

func TestValidation(t *testing.T) {
	lua := map[string]string{"x": "return 1"}
	tests := []struct {
		name string
		reg  plugin.Registration
		cfg  any
		want plugin.Errors
	}{
		{name: "http-log without endpoint", reg: HTTPLog(), cfg: httpConfig(""),
			want: plugin.Errors{{Path: "http_endpoint", Message: "required field missing"}}},
		{name: "http-log bad scheme", reg: HTTPLog(), cfg: httpConfig("ftp://x/"),
			want: plugin.Errors{{Path: "http_endpoint", Message: "invalid url: expected an http:// or https:// URL"}}},
		{name: "http-log method, content type, timeout", reg: HTTPLog(), cfg: func() any {
			c := httpConfig("http://x/")
			c.Method, c.ContentType, c.Timeout, c.Keepalive = "GET", "text/plain", 0, -1
			return c
		}(), want: plugin.Errors{
			{Path: "method", Message: "expected one of: POST, PUT, PATCH"},
			{Path: "content_type", Message: "expected one of: application/json, application/json; charset=utf-8"},
			{Path: "timeout", Message: "value should be between 0 and 1000000000 (exclusive of 0)"},
			{Path: "keepalive", Message: "value should be between 0 and 1000000000"},
		}},
		{name: "http-log forbidden headers", reg: HTTPLog(), cfg: func() any {
			c := httpConfig("http://u:p@x/")
			c.Headers = map[string]string{"Host": "h", "content-length": "1", "Content-Type": "t", "Authorization": "a", "bad name": "v"}
			return c
		}(), want: plugin.Errors{
			{Path: "http_endpoint", Message: "specifying both an 'Authorization' header and user info in 'http_endpoint' is not allowed"},
			{Path: "headers.Content-Type", Message: "cannot contain 'Content-Type' header"},
			{Path: "headers.Host", Message: "cannot contain 'Host' header"},
			{Path: "headers.bad name", Message: "bad header name 'bad name', allowed characters are A-Z, a-z, 0-9, '_', and '-'"},
			{Path: "headers.content-length", Message: "cannot contain 'Content-Length' header"},
		}},
		{name: "http-log queue", reg: HTTPLog(), cfg: func() any {
			c := httpConfig("http://x/")
			c.Queue.MaxBatchSize = 0
			return c
		}(), want: plugin.Errors{{Path: "queue.max_batch_size", Message: "value should be between 1 and 1000000"}}},
		{name: "http-log deprecated queue_size feeds the queue", reg: HTTPLog(), cfg: func() any {
			c := httpConfig("http://x/")
			n := 0
			c.QueueSize = &n
			return c
		}(), want: plugin.Errors{{Path: "queue.max_batch_size", Message: "value should be between 1 and 1000000"}}},
		{name: "http-log lua", reg: HTTPLog(), cfg: func() any { c := httpConfig("http://x/"); c.CustomFieldsByLua = lua; return c }(),
			want: plugin.Errors{{Path: "custom_fields_by_lua", Message: "Lua code is not supported by Turnpike: remove custom_fields_by_lua (the log object's fields are fixed)"}}},
		{name: "file-log path", reg: FileLog(), cfg: &FileConfig{Path: " /tmp/x"},
			want: plugin.Errors{{Path: "path", Message: "not a valid filename"}}},
		{name: "file-log path chars", reg: FileLog(), cfg: &FileConfig{Path: "/tmp/*.log"},
			want: plugin.Errors{{Path: "path", Message: "not a valid filename"}}},
		{name: "file-log no path", reg: FileLog(), cfg: &FileConfig{},
			want: plugin.Errors{{Path: "path", Message: "required field missing"}}},
		{name: "file-log lua", reg: FileLog(), cfg: &FileConfig{Path: "/tmp/x.log", CustomFieldsByLua: lua},
			want: plugin.Errors{{Path: "custom_fields_by_lua", Message: "Lua code is not supported by Turnpike: remove custom_fields_by_lua (the log object's fields are fixed)"}}},
		{name: "tcp-log host and port", reg: TCPLog(), cfg: tcpConfig("", 70000),
			want: plugin.Errors{{Path: "host", Message: "required field missing"}, {Path: "port", Message: "value should be between 0 and 65535"}}},
		{name: "udp-log port", reg: UDPLog(), cfg: udpConfig("h", 0),
			want: plugin.Errors{{Path: "port", Message: "required field missing"}}},
		{name: "syslog severities", reg: Syslog(), cfg: func() any {
			c := syslogConfig("/dev/log")
			c.LogLevel, c.ServerErrorsSeverity, c.Facility = "loud", "error", "local9"
			return c
		}(), want: plugin.Errors{
			{Path: "log_level", Message: "expected one of: debug, info, notice, warning, err, crit, alert, emerg"},
			{Path: "server_errors_severity", Message: "expected one of: debug, info, notice, warning, err, crit, alert, emerg"},
			{Path: "facility", Message: "expected one of: auth, authpriv, cron, daemon, ftp, kern, lpr, mail, news, syslog, user, uucp, local0, local1, local2, local3, local4, local5, local6, local7"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inst, err := tt.reg.New(tt.cfg, plugin.Env{})
			if err == nil {
				inst.(plugin.Closer).Close()
				t.Fatal("accepted")
			}
			if diff := cmp.Diff(tt.want, err); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func build(t *testing.T, reg plugin.Registration, cfg any, env plugin.Env) plugin.Instance {
	t.Helper()
	inst, err := reg.New(cfg, env)
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

// collector is a real HTTP server on loopback keeping the bodies and
// headers of what it receives.
type collector struct {
	*httptest.Server
	mu      sync.Mutex
	bodies  []string
	headers []http.Header
}

func startCollector(t *testing.T) *collector {
	c := &collector{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.bodies = append(c.bodies, string(b))
		c.headers = append(c.headers, r.Header.Clone())
		c.mu.Unlock()
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *collector) got() ([]string, []http.Header) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.bodies...), append([]http.Header(nil), c.headers...)
}

func TestHTTPLogBatchOfOneIsAnObject(t *testing.T) {
	col := startCollector(t)
	cfg := httpConfig(strings.Replace(col.URL, "http://", "http://user:pw@", 1) + "/logs")
	cfg.Headers = map[string]string{"X-Tenant": "t1"}
	inst := build(t, HTTPLog(), cfg, plugin.Env{})
	for range 2 {
		inst.(plugin.Logger).Log(proxiedCtx())
	}
	inst.(plugin.Closer).Close()
	bodies, headers := col.got()
	if len(bodies) != 2 {
		t.Fatalf("%d requests, want 2", len(bodies))
	}
	m := decode(t, []byte(bodies[0]))
	if m["request"].(map[string]any)["id"] != "rid-1" {
		t.Errorf("body %s is not one log object", bodies[0])
	}
	h := headers[0]
	if h.Get("Authorization") != "Basic dXNlcjpwdw==" || h.Get("X-Tenant") != "t1" || h.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", h)
	}
}

func TestHTTPLogBatchIsAnArray(t *testing.T) {
	col := startCollector(t)
	cfg := httpConfig(col.URL)
	cfg.Queue.MaxBatchSize, cfg.Queue.MaxCoalescingDelay = 10, 5
	inst := build(t, HTTPLog(), cfg, plugin.Env{})
	for range 3 {
		inst.(plugin.Logger).Log(proxiedCtx())
	}
	inst.(plugin.Closer).Close() // flushes before the coalescing delay
	bodies, _ := col.got()
	if len(bodies) != 1 {
		t.Fatalf("%d requests, want one batch", len(bodies))
	}
	var arr []map[string]any
	if err := json.Unmarshal([]byte(bodies[0]), &arr); err != nil || len(arr) != 3 {
		t.Fatalf("body is not an array of 3 log objects (%v): %s", err, bodies[0])
	}
}

// A collector answering 500 gets the batch again, with backoff.
func TestHTTPLogRetriesFailedBatch(t *testing.T) {
	var calls sync.WaitGroup
	calls.Add(3)
	var n int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		n++
		if n <= 3 {
			calls.Done()
		}
		if n < 3 {
			w.WriteHeader(500)
		}
	}))
	defer srv.Close()
	cfg := httpConfig(srv.URL)
	inst := build(t, HTTPLog(), cfg, plugin.Env{})
	inst.(plugin.Logger).Log(proxiedCtx())
	calls.Wait()
	inst.(plugin.Closer).Close()
	if n != 3 {
		t.Errorf("%d calls, want 3 (two failures, then delivered)", n)
	}
}

// Instances with the same settings share one queue, through a reload
// too: the old instance's Close leaves it to the new one.
func TestQueueSharedByInstances(t *testing.T) {
	col := startCollector(t)
	reg := prometheus.NewRegistry()
	env := plugin.Env{Store: store.NewProvider(), Metrics: reg}
	a := build(t, HTTPLog(), httpConfig(col.URL), env).(*shipper)
	b := build(t, HTTPLog(), httpConfig(col.URL), env).(*shipper)
	other := build(t, HTTPLog(), httpConfig(col.URL+"/other"), env).(*shipper)
	if a.q != b.q || a.q == other.q {
		t.Fatal("instances of one endpoint should share a queue, of another not")
	}
	a.Close()
	b.Log(proxiedCtx())
	b.Close()
	other.Close()
	if bodies, _ := col.got(); len(bodies) != 1 || env.Store.Shared.Len() != 0 {
		t.Errorf("%d bodies, %d queues left; want 1 and 0", len(bodies), env.Store.Shared.Len())
	}
}

func TestDroppedMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	// A port nothing listens on, and no retries: every entry is dropped.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	cfg := httpConfig("http://" + addr + "/")
	cfg.Queue.MaxRetryTime = 0
	inst := build(t, HTTPLog(), cfg, plugin.Env{Metrics: reg, Store: store.NewProvider()}).(*shipper)
	inst.Log(proxiedCtx())
	deadline := time.Now().Add(5 * time.Second)
	for inst.q.Dropped() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	inst.Close()
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "turnpike_log_entries_dropped_total" {
			m := mf.GetMetric()[0]
			if m.GetLabel()[0].GetValue() != "http-log" || m.GetCounter().GetValue() != 1 {
				t.Errorf("metric %v", m)
			}
			return
		}
	}
	t.Error("turnpike_log_entries_dropped_total not registered")
}

func TestTCPLogLines(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	lines := make(chan string, 10)
	go func() {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		sc := bufio.NewScanner(conn)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	inst := build(t, TCPLog(), tcpConfig("127.0.0.1", port), plugin.Env{})
	for range 3 {
		inst.(plugin.Logger).Log(proxiedCtx())
	}
	inst.(plugin.Closer).Close()
	for i := range 3 {
		select {
		case line := <-lines:
			decode(t, []byte(line))
		case <-time.After(5 * time.Second):
			t.Fatalf("got %d lines, want 3", i)
		}
	}
}

func TestUDPLogDatagrams(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	inst := build(t, UDPLog(), udpConfig("127.0.0.1", pc.LocalAddr().(*net.UDPAddr).Port), plugin.Env{})
	inst.(plugin.Logger).Log(proxiedCtx())
	inst.(plugin.Closer).Close()
	buf := make([]byte, 64<<10)
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	decode(t, buf[:n])
}

func TestSyslogSeverities(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "log.sock")
	pc, err := net.ListenPacket("unixgram", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	cfg := syslogConfig(sock)
	cfg.LogLevel, cfg.SuccessfulSeverity, cfg.ClientErrorsSeverity, cfg.ServerErrorsSeverity, cfg.Facility = "warning", "info", "warning", "crit", "local3"
	inst := build(t, Syslog(), cfg, plugin.Env{})
	for _, status := range []int{200, 404, 503} {
		c := proxiedCtx()
		c.Record.Status = status
		inst.(plugin.Logger).Log(c)
	}
	inst.(plugin.Closer).Close()
	var got []string
	buf := make([]byte, 64<<10)
	for {
		pc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			break
		}
		msg := string(buf[:n])
		pri, rest, _ := strings.Cut(msg, ">")
		_, body, ok := strings.Cut(rest, "]: ")
		if !ok || !strings.Contains(rest, " kong["+strconv.Itoa(os.Getpid())+"]: ") {
			t.Fatalf("not an RFC 3164 message from kong: %q", msg)
		}
		m := decode(t, []byte(body))
		got = append(got, pri+">"+strconv.Itoa(int(m["response"].(map[string]any)["status"].(float64))))
	}
	// local3 is 19: 19*8+4 (warning) for the 404, 19*8+2 (crit) for the
	// 503; the 200 at info is below log_level warning.
	if diff := cmp.Diff([]string{"<156>404", "<154>503"}, got); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

func TestFileLogFollowsRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.json")
	inst := build(t, FileLog(), &FileConfig{Path: path}, plugin.Env{}).(*shipper)
	inst.Log(proxiedCtx())
	waitSent(t, inst.q, 1)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	inst.Log(proxiedCtx())
	inst.Close()
	for _, p := range []string{path + ".1", path} {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		if len(lines) != 1 {
			t.Fatalf("%s has %d lines, want 1 each side of the rotation", p, len(lines))
		}
		decode(t, []byte(lines[0]))
	}
}

// file-log to FIFOs (a log sidecar that died, or one that stopped
// reading) holds neither the log phase nor Close: the two instances,
// closed concurrently as a reload or shutdown does (snapshot.Release),
// take one flush timeout and a grace in all, and what was not written is
// counted as dropped.
func TestFileLogToStuckFIFOsClosesInTime(t *testing.T) {
	dir := t.TempDir()
	noReader, stalled := filepath.Join(dir, "dead"), filepath.Join(dir, "stalled")
	for _, p := range []string{noReader, stalled} {
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Skip("mkfifo:", err)
		}
	}
	reader, err := os.OpenFile(stalled, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	t.Cleanup(func() {
		// Unblocks a writer the code under test left waiting (the old
		// code's open), so that the leak check sees the real failure.
		if f, err := os.OpenFile(noReader, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
			time.Sleep(100 * time.Millisecond)
			f.Close()
		}
	})
	env := plugin.Env{Store: store.NewProvider()}
	dead := build(t, FileLog(), &FileConfig{Path: noReader}, env).(*shipper)
	full := build(t, FileLog(), &FileConfig{Path: stalled}, env).(*shipper)
	c := proxiedCtx()
	const n = 200 // well over the pipe's 64 KiB
	for range n {
		full.Log(c)
	}
	for range 3 {
		dead.Log(c)
	}
	closed := make(chan struct{})
	start := time.Now()
	go func() {
		var wg sync.WaitGroup
		wg.Go(dead.Close)
		wg.Go(full.Close)
		wg.Wait()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("Close still waiting after 30s on FIFOs")
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("closing both took %v; want one flush timeout (5s) and a grace", d)
	}
	if dead.q.Dropped() != 3 || full.q.Sent()+full.q.Dropped() != n || full.q.Dropped() == 0 {
		t.Errorf("dead FIFO: %d dropped of 3; stalled FIFO: %d sent + %d dropped of %d", dead.q.Dropped(), full.q.Sent(), full.q.Dropped(), n)
	}
}

func waitSent(t *testing.T, q *queue.Queue, n uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for q.Sent() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d entries sent, want %d", q.Sent(), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// The log phase does not wait for the destination: with a collector that
// never answers, Log returns at once.
func TestLogNeverBlocks(t *testing.T) {
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-hang }))
	defer srv.Close()
	cfg := httpConfig(srv.URL)
	cfg.Queue.MaxEntries = 100
	inst := build(t, HTTPLog(), cfg, plugin.Env{}).(*shipper)
	defer inst.Close()
	defer close(hang)
	c := proxiedCtx()
	start := time.Now()
	for range 1000 {
		inst.Log(c)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("1000 Log calls took %v with a hung collector", d)
	}
	if inst.q.Dropped() < 800 {
		t.Errorf("dropped %d of 1000 with room for 100", inst.q.Dropped())
	}
}

// With a collector that does not answer, requests built to make the
// largest entries (a 16 KiB URI of invalid UTF-8, 100 headers of control
// characters: each byte escaped to six) fill the queue only up to its
// byte bound, although its config sets no max_bytes.
func TestQueueBytesBoundedWithHostileEntries(t *testing.T) {
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-hang }))
	defer srv.Close()
	inst := build(t, HTTPLog(), httpConfig(srv.URL), plugin.Env{}).(*shipper)
	defer inst.Close()
	defer close(hang)
	c := proxiedCtx()
	uri := "/" + strings.Repeat("\xff", 16<<10)
	c.Record.URI, c.Path = uri, uri
	for i := range 100 {
		c.Req.Header.Set("X-H"+strconv.Itoa(i), strings.Repeat("\x01", 160))
	}
	if n := len(AppendEntry(nil, c)); n < 200<<10 {
		t.Fatalf("a hostile entry is %d bytes; the test wants one over 200 KiB", n)
	}
	for range 500 {
		inst.Log(c)
		if b := inst.q.Bytes(); b > queue.DefaultMaxBytes {
			t.Fatalf("%d bytes queued, over the default bound %d", b, queue.DefaultMaxBytes)
		}
	}
	if inst.q.Dropped() == 0 {
		t.Error("500 entries of over 200 KiB queued without a drop")
	}
}

func BenchmarkLog(b *testing.B) {
	col := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
	defer col.Close()
	cfg := httpConfig(col.URL)
	cfg.Queue.MaxBatchSize, cfg.Queue.MaxEntries = 1000, 1000000
	inst, _ := HTTPLog().New(cfg, plugin.Env{})
	defer inst.(plugin.Closer).Close()
	c := proxiedCtx()
	b.ReportAllocs()
	for b.Loop() {
		inst.(plugin.Logger).Log(c)
	}
}
