package gwtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary returns the turnpike binary to test: $TURNPIKE_BIN when set (make
// builds it once), otherwise one built from this checkout into a temp dir.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("TURNPIKE_BIN"); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return abs
	}
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", "turnpike-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "turnpike")
		cmd := exec.Command("go", "build", "-tags", "grpcnotrace", "-o", binPath, "./cmd/turnpike")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Gateway is a running turnpike process.
type Gateway struct {
	t        testing.TB
	cmd      *exec.Cmd
	URL      string // first proxy listener, http://127.0.0.1:port
	URLs     []string
	AdminURL string
	// StatusURL is the first status listener (--status-listen), "" when none.
	StatusURL string
	stdout    *SyncBuffer
	stderr    *SyncBuffer
	done      chan struct{}
	exitErr   error
	path      string
}

// Options change how the gateway is started.
type Options struct {
	// Args are extra command-line arguments for `turnpike run`.
	Args []string
	// ProxyListen replaces the default `127.0.0.1:0`.
	ProxyListen string
	// Env is added to the process environment.
	Env []string
	// ConfigPath, when set, is an existing config file (or symlink) to
	// run on instead of writing cfg to a temp file.
	ConfigPath string
	// NoConfig leaves -c out, for controller mode (--kubernetes in Args),
	// where the config comes from the cluster.
	NoConfig bool
}

// Start writes cfg to a temp file and runs `turnpike run` on it with the
// proxy and admin listeners on free loopback ports. The process is stopped
// when the test ends.
func Start(t testing.TB, cfg string, opts Options) *Gateway {
	t.Helper()
	path := opts.ConfigPath
	if path == "" {
		path = filepath.Join(t.TempDir(), "kong.yml")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	listen := opts.ProxyListen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	args := []string{"run", "-c", path}
	if opts.NoConfig {
		args = args[:1]
	}
	args = append(append(args, "--proxy-listen", listen, "--admin-listen", "127.0.0.1:0"), opts.Args...)
	g := &Gateway{t: t, stdout: &SyncBuffer{}, stderr: &SyncBuffer{}, done: make(chan struct{}), path: path}
	g.cmd = exec.Command(Binary(t), args...)
	g.cmd.Env = append(os.Environ(), opts.Env...)
	g.cmd.Stdout = g.stdout
	stderr, err := g.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := make(chan map[string]any, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sent := false
		for sc.Scan() {
			line := sc.Bytes()
			g.stderr.Write(append(append([]byte{}, line...), '\n'))
			if !sent && bytes.Contains(line, []byte(`"turnpike started"`)) {
				var m map[string]any
				if json.Unmarshal(line, &m) == nil {
					started <- m
					sent = true
				}
			}
		}
	}()
	go func() {
		g.exitErr = g.cmd.Wait()
		close(g.done)
	}()
	t.Cleanup(g.Stop)
	select {
	case m := <-started:
		for _, a := range strings.Split(fmt.Sprint(m["proxy"]), ",") {
			if a != "" {
				g.URLs = append(g.URLs, "http://"+a)
			}
		}
		g.URL = g.URLs[0]
		if a := fmt.Sprint(m["admin"]); a != "" {
			g.AdminURL = "http://" + strings.Split(a, ",")[0]
		}
		if a, _ := m["status"].(string); a != "" {
			g.StatusURL = "http://" + strings.Split(a, ",")[0]
		}
	case <-g.done:
		t.Fatalf("turnpike exited at start-up: %v\nstderr:\n%s", g.exitErr, g.stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("turnpike did not start within 20s\nstderr:\n%s", g.stderr.String())
	}
	return g
}

// Stop sends SIGTERM and waits for the process to exit (SIGKILL after 10 s).
func (g *Gateway) Stop() {
	select {
	case <-g.done:
		return
	default:
	}
	g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(10 * time.Second):
		g.cmd.Process.Kill()
		<-g.done
	}
}

// Signal sends sig to the process.
func (g *Gateway) Signal(sig os.Signal) { g.cmd.Process.Signal(sig) }

// Wait waits for the process to exit and returns its error (nil on exit 0).
func (g *Gateway) Wait(timeout time.Duration) (error, bool) {
	select {
	case <-g.done:
		return g.exitErr, true
	case <-time.After(timeout):
		return nil, false
	}
}

// Stdout is everything the gateway wrote to stdout (the access log).
func (g *Gateway) Stdout() string { return g.stdout.String() }

// Stderr is everything the gateway wrote to stderr (its own log).
func (g *Gateway) Stderr() string { return g.stderr.String() }

// AccessLog waits until at least n access-log lines were written and
// returns them decoded.
func (g *Gateway) AccessLog(n int) []map[string]any {
	g.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var out []map[string]any
		for _, line := range strings.Split(strings.TrimSpace(g.Stdout()), "\n") {
			if line == "" {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				g.t.Fatalf("access log line is not JSON: %q: %v", line, err)
			}
			out = append(out, m)
		}
		if len(out) >= n || time.Now().After(deadline) {
			return out
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Get sends a GET to the proxy and returns the response with its body read.
func (g *Gateway) Get(path string, header ...string) (*http.Response, string) {
	g.t.Helper()
	return Do(g.t, NewRequest(g.t, http.MethodGet, g.URL+path, "", header...))
}

// NewRequest is a request to url with body ("" for none) and header, name
// and value pairs added in order (a name given twice is sent twice: a
// caller with a default sets it only when the pairs lack it); a Host pair
// sets the request's Host.
func NewRequest(t testing.TB, method, url, body string, header ...string) *http.Request {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if strings.EqualFold(header[i], "Host") {
			req.Host = header[i+1]
			continue
		}
		req.Header.Add(header[i], header[i+1])
	}
	return req
}

// Do sends req with a fresh client and reads the body.
func Do(t testing.TB, req *http.Request) (*http.Response, string) {
	t.Helper()
	client := &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", req.Method, req.URL, err)
	}
	return resp, string(body)
}

// SyncBuffer is a buffer written from several goroutines (a process's
// output, a log) and read while they write.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// PID is the gateway's process id.
func (g *Gateway) PID() int { return g.cmd.Process.Pid }

// ConfigPath is the config file the gateway was started with (rewrite it
// to trigger a reload).
func (g *Gateway) ConfigPath() string { return g.path }
