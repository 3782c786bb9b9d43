package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// reloadConfig is a config with the stable route /a and a variant route
// /b<n> that changes on every reload.
func reloadConfig(upstream string, n int) string {
	return fmt.Sprintf(`
_format_version: "3.0"
services:
- name: a
  url: %s
  routes:
  - name: a
    paths: [/a]
  - name: b%d
    paths: [/b%d]
`, upstream, n, n)
}

func configPath(t *testing.T, gw *gwtest.Gateway) string {
	t.Helper()
	p := gw.ConfigPath()
	if p == "" {
		t.Fatal("no config path")
	}
	return p
}

func writeAtomically(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func adminStatus(t *testing.T, gw *gwtest.Gateway) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, gw.AdminURL+"/status", nil)
	_, body := gwtest.Do(t, req)
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("status %q: %v", body, err)
	}
	return m
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// 50 reloads under continuous traffic, 25 by file rename (the watcher) and
// 25 by SIGHUP alone (with --watch=false, so the watcher cannot be what
// applied them): not one request fails.
func TestReloadUnderLoadDropsNothing(t *testing.T) {
	t.Run("file", func(t *testing.T) {
		// A rename is atomic, so a short settle period is safe and keeps
		// 25 reloads quick.
		rldReloadUnderLoad(t, []string{"--watch-settle", "100ms"}, nil)
	})
	t.Run("sighup", func(t *testing.T) {
		rldReloadUnderLoad(t, []string{"--watch=false"}, func(gw *gwtest.Gateway) { gw.Signal(syscall.SIGHUP) })
	})
}

// rldReloadUnderLoad sends traffic from 4 clients through 25 reloads, each
// a rename of a new config over the file followed by trigger (nil: the
// watcher sees the rename), and requires every request to succeed.
func rldReloadUnderLoad(t *testing.T, args []string, trigger func(*gwtest.Gateway)) {
	const reloads = 25
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, reloadConfig(up.URL, 0), gwtest.Options{Args: append([]string{"--access-log", "off"}, args...)})
	path := configPath(t, gw)

	load := startLoad(t, 4, gw.URL+"/a")
	for i := 1; i <= reloads; i++ {
		writeAtomically(t, path, reloadConfig(up.URL, i))
		if trigger != nil {
			trigger(gw)
		}
		want := fmt.Sprintf("/b%d", i)
		waitUntil(t, "reload "+want, func() bool {
			resp, _ := gw.Get(want)
			return resp.StatusCode == 200
		})
	}
	ok := load.stopAndCheck(t, fmt.Sprintf("%d reloads", reloads), 100)
	if resp, _ := gw.Get("/b0"); resp.StatusCode != 404 {
		t.Errorf("the first variant route is still served: %d", resp.StatusCode)
	}
	if n := len(rldLogLines(gw, "configuration applied")) - 1; n != reloads {
		t.Errorf("%d configurations applied after start-up, want %d", n, reloads)
	}
	t.Logf("%d requests, 0 failed, across %d reloads", ok, reloads)
}

func TestInvalidReloadKeepsTheOldConfig(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, reloadConfig(up.URL, 1), gwtest.Options{})
	path := configPath(t, gw)
	writeAtomically(t, path, "_format_version: \"3.0\"\nservices:\n- name: a\n  url: http://x\n  routes:\n  - paths: [nope]\n")
	gw.Signal(syscall.SIGHUP)
	var last map[string]any
	waitUntil(t, "the rejection to be recorded", func() bool {
		last, _ = adminStatus(t, gw)["last_reload"].(map[string]any)
		return last != nil && last["ok"] == false
	})
	errs := fmt.Sprint(last["errors"])
	if !strings.Contains(errs, "services[0].routes[0].paths[0]") {
		t.Errorf("last_reload errors lack the field path: %v", last)
	}
	for _, p := range []string{"/a", "/b1"} {
		if resp, _ := gw.Get(p); resp.StatusCode != 200 {
			t.Errorf("%s after a rejected reload: %d", p, resp.StatusCode)
		}
	}
	if !strings.Contains(gw.Stderr(), "configuration rejected") {
		t.Errorf("the rejection was not logged:\n%s", gw.Stderr())
	}
}

func TestWebSocketSurvivesReload(t *testing.T) {
	echo := startWebSocketEcho(t, "")
	up := "http://" + echo
	gw := gwtest.Start(t, reloadConfig(up, 1), gwtest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(gw.URL, "http")+"/a", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	path := configPath(t, gw)
	for i := 2; i <= 4; i++ {
		writeAtomically(t, path, reloadConfig(up, i))
		gw.Signal(syscall.SIGHUP)
		waitUntil(t, "reload", func() bool {
			resp, _ := gw.Get(fmt.Sprintf("/b%d", i))
			return resp.StatusCode != 404
		})
		msg := fmt.Sprintf("after reload %d", i)
		if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatalf("write after reload: %v", err)
		}
		if _, got, err := c.Read(ctx); err != nil || string(got) != msg {
			t.Fatalf("read after reload: %q %v", got, err)
		}
	}
}

func TestReadyTurns503WhileDraining(t *testing.T) {
	release, arrived := make(chan struct{}), make(chan struct{}, 1)
	slow := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
	}))
	gw := gwtest.Start(t, reloadConfig("http://"+slow, 1), gwtest.Options{})
	go http.Get(gw.URL + "/a")
	<-arrived
	gw.Signal(syscall.SIGTERM)
	waitUntil(t, "readiness to turn 503", func() bool {
		resp, err := http.Get(gw.AdminURL + "/status/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 503
	})
	close(release)
	if err, exited := gw.Wait(10 * time.Second); !exited || err != nil {
		t.Errorf("exit %v %v", err, exited)
	}
}

// A Kubernetes ConfigMap volume: kong.yml -> ..data/kong.yml and ..data ->
// ..<version>; an update swaps the ..data symlink atomically.
func TestReloadBySymlinkSwap(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	dir := t.TempDir()
	for i, v := range []string{"..v1", "..v2"} {
		os.MkdirAll(filepath.Join(dir, v), 0o755)
		os.WriteFile(filepath.Join(dir, v, "kong.yml"), []byte(reloadConfig(up.URL, i+1)), 0o600)
	}
	os.Symlink("..v1", filepath.Join(dir, "..data"))
	os.Symlink(filepath.Join("..data", "kong.yml"), filepath.Join(dir, "kong.yml"))
	gw := gwtest.Start(t, "", gwtest.Options{ConfigPath: filepath.Join(dir, "kong.yml")})
	if resp, _ := gw.Get("/b1"); resp.StatusCode != 200 {
		t.Fatalf("v1 not served: %d", resp.StatusCode)
	}
	os.Symlink("..v2", filepath.Join(dir, "..data_tmp"))
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the swapped config to be served", func() bool {
		resp, _ := gw.Get("/b2")
		return resp.StatusCode == 200
	})
	if resp, _ := gw.Get("/b1"); resp.StatusCode != 404 {
		t.Errorf("old route still served: %d", resp.StatusCode)
	}
}

// A second SIGTERM during the drain exits at once, without waiting for the
// in-flight request.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	release, arrived := make(chan struct{}), make(chan struct{}, 1)
	defer close(release)
	slow := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	gw := gwtest.Start(t, reloadConfig("http://"+slow, 1), gwtest.Options{Args: []string{"--shutdown-timeout", "30s"}})
	go http.Get(gw.URL + "/a")
	<-arrived
	gw.Signal(syscall.SIGTERM)
	waitUntil(t, "draining to start", func() bool { return strings.Contains(gw.Stderr(), `"msg":"draining"`) })
	start := time.Now()
	gw.Signal(syscall.SIGTERM)
	err, exited := gw.Wait(5 * time.Second)
	if !exited {
		t.Fatal("still running 5 s after the second signal")
	}
	if err == nil {
		t.Error("the forced exit reported success")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v to exit", d)
	}
}

func twoTargetConfig(targets ...string) string {
	var b strings.Builder
	b.WriteString("_format_version: \"3.0\"\nservices:\n- name: s\n  host: pool\n  routes: [{name: r, paths: [/]}]\nupstreams:\n- name: pool\n  targets:\n")
	for _, t := range targets {
		fmt.Fprintf(&b, "  - target: %s\n", t)
	}
	return b.String()
}

// Removing a target by reload loses no request, including the ones in
// flight to it.
func TestTargetRemovedByReloadLosesNothing(t *testing.T) {
	slowish := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
		io.WriteString(w, "ok")
	})
	a, b := startServer(t, slowish), startServer(t, slowish)
	gw := gwtest.Start(t, twoTargetConfig(a, b), gwtest.Options{Args: []string{"--access-log", "off"}})
	path := configPath(t, gw)
	load := startLoad(t, 8, gw.URL+"/")
	for i := range 6 {
		time.Sleep(150 * time.Millisecond)
		if i%2 == 0 {
			writeAtomically(t, path, twoTargetConfig(a))
		} else {
			writeAtomically(t, path, twoTargetConfig(a, b))
		}
		gw.Signal(syscall.SIGHUP)
	}
	time.Sleep(150 * time.Millisecond)
	load.stopAndCheck(t, "targets removed and added by six reloads", 100)
}

// load is GET traffic from several clients, each sending one request
// after another until stopped, counting the answers that are not 200.
type load struct {
	ok, failed atomic.Int64
	firstErr   atomic.Value
	stop       chan struct{}
	stopOnce   sync.Once
	wg         sync.WaitGroup
}

// startLoad starts clients goroutines, the i-th sending to urls[i%len(urls)];
// they stop when the test ends if stopAndCheck was not called.
func startLoad(t *testing.T, clients int, urls ...string) *load {
	l := &load{stop: make(chan struct{})}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	for i := range clients {
		url := urls[i%len(urls)]
		l.wg.Go(func() {
			for range 200000 {
				select {
				case <-l.stop:
					return
				default:
				}
				resp, err := client.Get(url)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					l.failed.Add(1)
					l.firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				l.ok.Add(1)
			}
		})
	}
	t.Cleanup(l.halt)
	return l
}

func (l *load) halt() {
	l.stopOnce.Do(func() { close(l.stop) })
	l.wg.Wait()
}

// stopAndCheck stops the traffic and fails the test if a request failed
// across what (the changes made meanwhile) or fewer than minOK were
// answered; it returns how many were.
func (l *load) stopAndCheck(t *testing.T, what string, minOK int64) int64 {
	t.Helper()
	l.halt()
	if l.failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed across %s; first: %v", l.failed.Load(), l.ok.Load()+l.failed.Load(), what, l.firstErr.Load())
	}
	if l.ok.Load() < minOK {
		t.Fatalf("only %d requests were sent during the %s", l.ok.Load(), what)
	}
	return l.ok.Load()
}
