package proxy

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/snapshot"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// namedUpstream answers "name method host path?query" and remembers how
// many requests it served.
type namedUpstream struct {
	*httptest.Server
	mu   sync.Mutex
	hits int
}

func newNamedUpstream(t *testing.T, name string, cert *tls.Certificate, delay time.Duration) *namedUpstream {
	t.Helper()
	u := &namedUpstream{}
	u.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.hits++
		u.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, name+" "+r.Method+" "+r.Host+" "+r.URL.RequestURI())
	}))
	u.Config.ErrorLog = log.New(io.Discard, "", 0)
	if cert != nil {
		u.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}}
		u.StartTLS()
	} else {
		u.Start()
	}
	t.Cleanup(u.Close)
	return u
}

func (u *namedUpstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.hits
}

// refusedAddr is a loopback address nothing listens on.
func refusedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// serviceCall sends GET path to the gateway's first service through its
// Upstreams, by id as a plugin does, and returns the response and its
// body.
func serviceCall(t *testing.T, g *testGateway, path string, timeout time.Duration) (*http.Response, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, path, nil)
	u := snapshot.Upstreams{Holder: g.Holder, HTTP: g.Handler}
	resp, err := u.RoundTrip(g.Snap.Services[0].Info.ID, req)
	if err != nil {
		return nil, "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("body: %v", err)
	}
	return resp, string(b), nil
}

const balancedConfig = `
_format_version: "3.0"
upstreams:
- name: users.internal
  targets: [{target: "${A}"}, {target: "${B}"}]
services:
- name: users
  host: users.internal
  path: /v1
  retries: ${R}
`

// Calls go round-robin over the upstream's two targets, with the
// service's path before the call's and the service's Host; the response
// names the target that answered.
func TestRoundTripServiceBalances(t *testing.T) {
	a := newNamedUpstream(t, "a", nil, 0)
	b := newNamedUpstream(t, "b", nil, 0)
	env := map[string]string{"A": a.Listener.Addr().String(), "B": b.Listener.Addr().String(), "R": "0"}
	g := newTestGateway(t, balancedConfig, env, nil)
	for range 4 {
		resp, body, err := serviceCall(t, g, "/users/7?x=1", 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		name := body[:1]
		want := name + " GET users.internal /v1/users/7?x=1"
		if resp.StatusCode != 200 || body != want {
			t.Fatalf("status %d body %q, want %q", resp.StatusCode, body, want)
		}
		if addr := map[string]string{"a": env["A"], "b": env["B"]}[name]; resp.Request.URL.Host != addr {
			t.Errorf("answer from %s, Request.URL.Host %s", addr, resp.Request.URL.Host)
		}
	}
	if a.count() != 2 || b.count() != 2 {
		t.Errorf("hits a=%d b=%d, want 2 and 2", a.count(), b.count())
	}
	for _, tg := range g.Snap.Services[0].Balancer.Targets() {
		waitInFlight(t, tg, 0)
	}
}

// A target that refuses the connection is retried on the other one (the
// service's retries), and without retries the refusal is the answer.
func TestRoundTripServiceRetriesRefused(t *testing.T) {
	b := newNamedUpstream(t, "b", nil, 0)
	env := map[string]string{"A": refusedAddr(t), "B": b.Listener.Addr().String(), "R": "1"}
	g := newTestGateway(t, balancedConfig, env, nil)
	for range 4 {
		_, body, err := serviceCall(t, g, "/", 5*time.Second)
		if err != nil || !strings.HasPrefix(body, "b ") {
			t.Fatalf("body %q err %v", body, err)
		}
	}
	env["R"] = "0"
	g = newTestGateway(t, balancedConfig, env, nil)
	refused := 0
	for range 4 {
		if _, _, err := serviceCall(t, g, "/", 5*time.Second); err != nil {
			refused++
		}
	}
	if refused != 2 {
		t.Errorf("%d of 4 calls failed without retries, want 2", refused)
	}
}

// The service's read_timeout bounds the wait for a slow upstream's head;
// the caller's context bounds the whole call.
func TestRoundTripServiceTimeouts(t *testing.T) {
	slow := newNamedUpstream(t, "slow", nil, 2*time.Second)
	cfg := `
_format_version: "3.0"
services:
- name: slow
  url: ${U}
  read_timeout: ${RT}
`
	env := map[string]string{"U": slow.URL, "RT": "150"}
	g := newTestGateway(t, cfg, env, nil)
	start := time.Now()
	_, _, err := serviceCall(t, g, "/", 5*time.Second)
	if err == nil || !isTimeout(err) {
		t.Fatalf("read_timeout: err %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("read_timeout 150 ms took %v", d)
	}
	env["RT"] = "60000"
	g = newTestGateway(t, cfg, env, nil)
	start = time.Now()
	if _, _, err = serviceCall(t, g, "/", 200*time.Millisecond); err == nil || !isTimeout(err) {
		t.Fatalf("context deadline: err %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("a 200 ms context took %v", d)
	}
	waitInFlight(t, g.target(t), 0)
}

// An https service is reached with its TLS settings: the upstream's
// certificate verified against ca_certificates with the service host as
// the server name; without the CA the handshake fails.
func TestRoundTripServiceTLS(t *testing.T) {
	pki := newTestPKI(t, "api.internal")
	up := newNamedUpstream(t, "tls", &pki.leaf, 0)
	cfg := func(fields string) string {
		return `
_format_version: "3.0"
ca_certificates:
- id: ` + testCAID + `
  cert: ${CA}
upstreams:
- name: api.internal
  targets: [{target: "${T}"}]
services:
- name: api
  protocol: https
  host: api.internal
  port: 443
` + fields + "\n"
	}
	env := map[string]string{"CA": pki.caPEM, "T": up.Listener.Addr().String()}
	g := newTestGateway(t, cfg("  ca_certificates: ["+testCAID+"]"), env, nil)
	resp, body, err := serviceCall(t, g, "/me", 5*time.Second)
	if err != nil || body != "tls GET api.internal /me" || resp.Request.URL.Scheme != "https" {
		t.Fatalf("body %q err %v", body, err)
	}
	g = newTestGateway(t, cfg(""), env, nil)
	if _, _, err := serviceCall(t, g, "/me", 5*time.Second); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted upstream: err %v", err)
	}
}

// A refused connection is a passive health failure of its target.
func TestRoundTripServicePassiveHealth(t *testing.T) {
	cfg := `
_format_version: "3.0"
upstreams:
- name: users.internal
  targets: [{target: "${A}"}]
  healthchecks:
    passive:
      unhealthy: {tcp_failures: 1}
services:
- name: users
  host: users.internal
`
	g := newTestGateway(t, cfg, map[string]string{"A": refusedAddr(t)}, nil)
	checkers := upstream.NewHealthCheckers(upstream.HealthOptions{})
	t.Cleanup(checkers.Close)
	checkers.Sync([]upstream.CheckedUpstream{{Name: "users.internal",
		Checks:  snapshot.HealthCheckOf(&g.Snap.Model.Upstreams[0].Upstream.Healthchecks),
		Targets: g.Snap.Services[0].Balancer.Targets()}})
	tg := g.target(t)
	if !tg.Healthy() {
		t.Fatal("unhealthy before any call")
	}
	if _, _, err := serviceCall(t, g, "/", 5*time.Second); err == nil {
		t.Fatal("a refused target answered")
	}
	if tg.Healthy() {
		t.Error("the refused connection was not counted by passive health checks")
	}
}

// A request line a plugin filled with control bytes is refused before
// any connection is made.
func TestRoundTripServiceRefusesSplitting(t *testing.T) {
	up := newNamedUpstream(t, "a", nil, 0)
	g := newTestGateway(t, "_format_version: \"3.0\"\nservices:\n- name: s\n  url: ${U}\n", map[string]string{"U": up.URL}, nil)
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.URL.RawQuery = "a=1 HTTP/1.1\r\nX-Evil: 1"
	if _, err := (snapshot.Upstreams{Holder: g.Holder, HTTP: g.Handler}).RoundTrip(g.Snap.Services[0].Info.ID, req); err != errInvalidServiceRequest {
		t.Fatalf("err %v", err)
	}
	if up.count() != 0 {
		t.Error("the upstream got the request")
	}
}

// One plugin call to a loopback service: pick, pooled connection, request
// written, head read, body read and closed.
func BenchmarkRoundTripService(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":7,"name":"ada"}`)
	}))
	defer up.Close()
	g := newTestGateway(b, "_format_version: \"3.0\"\nservices:\n- name: s\n  url: ${U}\n", map[string]string{"U": up.URL}, nil)
	u := snapshot.Upstreams{Holder: g.Holder, HTTP: g.Handler}
	req, _ := http.NewRequest(http.MethodGet, "/users/7", nil)
	buf := make([]byte, 512)
	b.ReportAllocs()
	for b.Loop() {
		resp, err := u.RoundTrip(g.Snap.Services[0].Info.ID, req)
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := resp.Body.Read(buf); err != nil {
				break
			}
		}
		resp.Body.Close()
	}
}

// An upstream hashing on a header picks by the header of the plugin's
// request: the same value always reaches the same target.
func TestRoundTripServiceHashOnHeader(t *testing.T) {
	a := newNamedUpstream(t, "a", nil, 0)
	b := newNamedUpstream(t, "b", nil, 0)
	cfg := `
_format_version: "3.0"
upstreams:
- name: users.internal
  hash_on: header
  hash_on_header: X-User
  targets: [{target: "${A}"}, {target: "${B}"}]
services:
- name: users
  host: users.internal
`
	g := newTestGateway(t, cfg, map[string]string{"A": a.Listener.Addr().String(), "B": b.Listener.Addr().String()}, nil)
	u := snapshot.Upstreams{Holder: g.Holder, HTTP: g.Handler}
	byUser := map[string]string{}
	// 32 users: all on one of two targets by chance once in 2^31 runs
	// (eight were once in 128, with ports that change from run to run).
	for i := range 64 {
		user := strconv.Itoa(i % 32)
		req, _ := http.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("X-User", user)
		resp, err := u.RoundTrip(g.Snap.Services[0].Info.ID, req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		addr := resp.Request.URL.Host
		if prev, ok := byUser[user]; ok && prev != addr {
			t.Fatalf("X-User %s went to %s, then %s", user, prev, addr)
		}
		byUser[user] = addr
	}
	if a.count() == 0 || b.count() == 0 {
		t.Errorf("32 users all hashed to one target (a=%d b=%d)", a.count(), b.count())
	}
}

// stallingUpstream sends the head and the first part of a 100-byte body,
// then stalls until the gateway lets go of the connection.
func stallingUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		io.WriteString(w, "first part")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	up.Config.ErrorLog = log.New(io.Discard, "", 0)
	t.Cleanup(up.Close)
	return up
}

// stalledCall starts a call to the stalling service and reads the part of
// the body that came.
func stalledCall(t *testing.T, g *testGateway, ctx context.Context) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
	resp, err := (snapshot.Upstreams{Holder: g.Holder, HTTP: g.Handler}).RoundTrip(g.Snap.Services[0].Info.ID, req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len("first part"))
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	return resp
}

const stallingConfig = "_format_version: \"3.0\"\nservices:\n- name: s\n  url: ${U}\n  read_timeout: ${RT}\n"

// A body that stalls part-way ends with read_timeout, and with the
// caller's context when that comes first.
func TestRoundTripServiceBodyStalls(t *testing.T) {
	up := stallingUpstream(t)
	g := newTestGateway(t, stallingConfig, map[string]string{"U": up.URL, "RT": "150"}, nil)
	resp := stalledCall(t, g, context.Background())
	start := time.Now()
	if _, err := io.ReadAll(resp.Body); !isTimeout(err) {
		t.Fatalf("read_timeout: err %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("read_timeout 150 ms took %v", d)
	}
	resp.Body.Close()
	waitInFlight(t, g.target(t), 0)

	g = newTestGateway(t, stallingConfig, map[string]string{"U": up.URL, "RT": "60000"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	resp = stalledCall(t, g, ctx)
	start = time.Now()
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Fatal("the stalled body ended without an error")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("a 300 ms context took %v", d)
	}
	resp.Body.Close()
	waitInFlight(t, g.target(t), 0)
}

// Close while another goroutine reads a stalled body ends that read
// and the attempt, without a race.
func TestRoundTripServiceCloseDuringRead(t *testing.T) {
	up := stallingUpstream(t)
	g := newTestGateway(t, stallingConfig, map[string]string{"U": up.URL, "RT": "60000"}, nil)
	resp := stalledCall(t, g, context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(resp.Body)
		done <- err
	}()
	// Close only once the read is under way (it then waits on the stalled
	// upstream), so that Close takes its concurrent branch.
	sb := resp.Body.(*serviceBody)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		sb.mu.Lock()
		reading := sb.reading
		sb.mu.Unlock()
		if reading {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the read never started")
		}
	}
	resp.Body.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("the read of a closed body ended without an error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the read")
	}
	waitInFlight(t, g.target(t), 0)
	if _, err := resp.Body.Read(make([]byte, 1)); err != errBodyClosed {
		t.Errorf("read after Close: %v", err)
	}
}

// A plugin's request body reaches the upstream: with its length when
// known, chunked when not (ContentLength -1, or 0 with a Body, as
// net/http reads a client request).
func TestRoundTripServiceSendsBody(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, r.Method+" "+strings.Join(r.TransferEncoding, ",")+" "+strconv.FormatInt(r.ContentLength, 10)+" "+string(b))
	}))
	t.Cleanup(up.Close)
	g := newTestGateway(t, "_format_version: \"3.0\"\nservices:\n- name: s\n  url: ${U}\n", map[string]string{"U": up.URL}, nil)
	u := snapshot.Upstreams{Holder: g.Holder, HTTP: g.Handler}
	for _, c := range []struct {
		name string
		body io.Reader
		cl   int64
		want string
	}{
		{"fixed length", strings.NewReader("hello"), 5, "POST  5 hello"},
		{"unknown length", io.MultiReader(strings.NewReader("hel"), strings.NewReader("lo")), -1, "POST chunked -1 hello"},
		{"0 with a body", io.MultiReader(strings.NewReader("hello")), 0, "POST chunked -1 hello"},
	} {
		req, _ := http.NewRequest(http.MethodPost, "/", c.body)
		req.ContentLength = c.cl
		resp, err := u.RoundTrip(g.Snap.Services[0].Info.ID, req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != c.want {
			t.Errorf("%s: upstream saw %q, want %q", c.name, b, c.want)
		}
	}
}

// Close from another goroutine at the moment a Read starts ends that
// Read at once, also when the Read renews the read deadline (a call
// with a context deadline renews on its first read): the renewal must
// not undo Close's cut and leave the Read waiting out read_timeout.
func TestRoundTripServiceCloseRacesRenewal(t *testing.T) {
	racesRenewal(t, func(sb *serviceBody, cancel context.CancelFunc) error {
		sb.Close()
		return errBodyClosed
	})
}

// The end of the call's context at the moment a Read starts ends that
// Read at once, as Close does: the renewal must not undo the abort.
func TestRoundTripServiceContextEndRacesRenewal(t *testing.T) {
	racesRenewal(t, func(sb *serviceBody, cancel context.CancelFunc) error {
		cancel()
		return nil
	})
}

// racesRenewal runs calls to a service whose body stalls after the head:
// as soon as a Read of the body is under way, stop (Close, or the
// context's end) is to end it within 2 s, with the error stop answers
// (nil: any error), although read_timeout is a minute.
func racesRenewal(t *testing.T, stop func(*serviceBody, context.CancelFunc) error) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	up.Config.ErrorLog = log.New(io.Discard, "", 0)
	t.Cleanup(up.Close)
	g := newTestGateway(t, stallingConfig, map[string]string{"U": up.URL, "RT": "60000"}, nil)
	u := snapshot.Upstreams{Holder: g.Holder, HTTP: g.Handler}
	for i, end := 0, time.Now().Add(10*time.Second); i < 1000 && time.Now().Before(end); i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
		resp, err := u.RoundTrip(g.Snap.Services[0].Info.ID, req)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		sb := resp.Body.(*serviceBody)
		done := make(chan error, 1)
		go func() {
			_, err := sb.Read(make([]byte, 10))
			done <- err
		}()
		for reading := false; !reading; {
			select {
			case err = <-done:
				cancel()
				t.Fatalf("call %d: the read ended before it was stopped: %v", i, err)
			default:
			}
			sb.mu.Lock()
			reading = sb.reading
			sb.mu.Unlock()
		}
		want := stop(sb, cancel)
		select {
		case err = <-done:
			if err == nil || want != nil && err != want {
				t.Fatalf("call %d: the read ended with %v, want %v", i, err, want)
			}
		case <-time.After(2 * time.Second):
			// The stalled upstream goes, and the read with it.
			up.CloseClientConnections()
			<-done
			cancel()
			t.Fatalf("call %d: the read went on after it was stopped", i)
		}
		sb.Close()
		cancel()
	}
	waitInFlight(t, g.target(t), 0)
}
