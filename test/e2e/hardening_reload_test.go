package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// rldRoutes is the top of a config: a service with the route /secure and,
// when extra is set, the route /extra (which shows the config in force).
func rldRoutes(upstream string, extra bool) string {
	s := fmt.Sprintf(`_format_version: "3.0"
services:
- name: s
  url: %s
  routes:
  - name: secure
    paths: [/secure]
`, upstream)
	if extra {
		s += "  - name: extra\n    paths: [/extra]\n"
	}
	return s
}

// rldAuth is the bottom of a config: the consumer and the key-auth plugin
// on the route secure.
const rldAuth = `consumers:
- username: alice
  keyauth_credentials: [{key: alice-key}]
plugins:
- name: key-auth
  route: secure
`

// rldLogLines are the gateway's log lines whose msg is msg, decoded.
func rldLogLines(gw *gwtest.Gateway, msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(gw.Stderr(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// A config written in two parts a second apart, as `cat >`, scp and rsync
// --inplace write: the first part is a valid config without the key-auth
// plugin. The half file is never applied: no request reaches /secure
// without a key at any point, and the whole file goes live once written.
func TestRldTwoPartWriteIsNotAppliedHalfWritten(t *testing.T) {
	up := gwtest.StartEcho(t, "up")
	gw := gwtest.Start(t, rldRoutes(up.URL, false)+rldAuth, gwtest.Options{Args: []string{"--access-log", "off"}})
	if resp, _ := gw.Get("/secure"); resp.StatusCode != 401 {
		t.Fatalf("/secure without a key before the write: %d", resp.StatusCode)
	}

	var unauthenticated, sent atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		client := &http.Client{Timeout: 5 * time.Second}
		for {
			select {
			case <-stop:
				return
			default:
			}
			resp, err := client.Get(gw.URL + "/secure")
			if err != nil {
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			sent.Add(1)
			if resp.StatusCode != 401 {
				unauthenticated.Add(1)
			}
		}
	}()

	f, err := os.OpenFile(gw.ConfigPath(), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(rldRoutes(up.URL, true)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if _, err := f.WriteString(rldAuth); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the whole file to be applied", func() bool {
		resp, _ := gw.Get("/extra")
		return resp.StatusCode == 200
	})
	close(stop)
	wg.Wait()

	if n := unauthenticated.Load(); n != 0 {
		t.Errorf("%d of %d requests to /secure without a key were not refused while the file was written", n, sent.Load())
	}
	if sent.Load() < 10 {
		t.Errorf("only %d requests were sent while the file was written", sent.Load())
	}
	if resp, _ := gw.Get("/secure"); resp.StatusCode != 401 {
		t.Errorf("/secure without a key after the write: %d", resp.StatusCode)
	}
	if resp, _ := gw.Get("/secure", "apikey", "alice-key"); resp.StatusCode != 200 {
		t.Errorf("/secure with the key after the write: %d", resp.StatusCode)
	}
	var byFile int
	for _, m := range rldLogLines(gw, "configuration applied") {
		if m["trigger"] == "file" {
			byFile++
		}
	}
	if byFile != 1 {
		t.Errorf("the file watcher applied %d configurations, want 1 (the whole file):\n%s", byFile, gw.Stderr())
	}
	if lost := rldLogLines(gw, "configuration applied without plugins the previous one had"); len(lost) != 0 {
		t.Errorf("a configuration without the key-auth plugin was applied: %v", lost)
	}
}

// Every reload path warns when the new configuration drops plugins from
// entities it still has, naming each plugin and where it was.
func TestRldPluginLossIsLogged(t *testing.T) {
	up := gwtest.StartEcho(t, "up")
	full := rldRoutes(up.URL, false) + rldAuth + "- name: cors\n- name: request-termination\n  service: s\n  config: {status_code: 503}\n  enabled: false\n"
	// The route keeps /secure and gains /extra; key-auth and the global cors
	// are gone (the disabled plugin was never in force, so losing it is no loss).
	reduced := rldRoutes(up.URL, true) + "consumers:\n- username: alice\n"
	const warning = "configuration applied without plugins the previous one had"

	check := func(t *testing.T, gw *gwtest.Gateway, trigger string) {
		t.Helper()
		waitUntil(t, "the reduced config to be applied", func() bool {
			resp, _ := gw.Get("/extra")
			return resp.StatusCode == 200
		})
		var lines []map[string]any
		waitUntil(t, "the warning", func() bool {
			lines = rldLogLines(gw, warning)
			return len(lines) > 0
		})
		if len(lines) != 1 {
			t.Fatalf("%d warnings, want 1: %v", len(lines), lines)
		}
		m := lines[0]
		if m["level"] != "WARN" || m["trigger"] != trigger {
			t.Errorf("warning level %v trigger %v, want WARN %s", m["level"], m["trigger"], trigger)
		}
		got := fmt.Sprint(m["lost"])
		for _, want := range []string{`key-auth on route "secure"`, `cors (global)`} {
			if !strings.Contains(got, want) {
				t.Errorf("lost plugins %s lack %s", got, want)
			}
		}
		if strings.Contains(got, "request-termination") {
			t.Errorf("a disabled plugin is reported lost: %s", got)
		}
		if resp, _ := gw.Get("/secure"); resp.StatusCode != 200 {
			t.Errorf("/secure after the reduced config: %d", resp.StatusCode)
		}
	}

	t.Run("file", func(t *testing.T) {
		gw := gwtest.Start(t, full, gwtest.Options{Args: []string{"--access-log", "off"}})
		writeAtomically(t, gw.ConfigPath(), reduced)
		check(t, gw, "file")
	})
	t.Run("sighup", func(t *testing.T) {
		gw := gwtest.Start(t, full, gwtest.Options{Args: []string{"--access-log", "off", "--watch=false"}})
		writeAtomically(t, gw.ConfigPath(), reduced)
		gw.Signal(syscall.SIGHUP)
		check(t, gw, "sighup")
	})
	t.Run("admin", func(t *testing.T) {
		gw := gwtest.Start(t, full, gwtest.Options{Args: []string{"--access-log", "off"}})
		req, _ := http.NewRequest(http.MethodPost, gw.AdminURL+"/config", strings.NewReader(reduced))
		req.Header.Set("Content-Type", "application/yaml")
		if resp, body := gwtest.Do(t, req); resp.StatusCode != 201 {
			t.Fatalf("POST /config: %d %s", resp.StatusCode, body)
		}
		check(t, gw, "admin")
	})
	t.Run("gain is silent", func(t *testing.T) {
		gw := gwtest.Start(t, reduced, gwtest.Options{Args: []string{"--access-log", "off", "--watch=false"}})
		writeAtomically(t, gw.ConfigPath(), full)
		gw.Signal(syscall.SIGHUP)
		waitUntil(t, "the full config to be applied", func() bool {
			resp, _ := gw.Get("/secure")
			return resp.StatusCode == 401
		})
		if lines := rldLogLines(gw, warning); len(lines) != 0 {
			t.Errorf("adding plugins was reported as a loss: %v", lines)
		}
	})
}

// With --watch=false a changed file is not applied until SIGHUP, and is
// applied after it: SIGHUP is tested on its own, not behind the watcher.
func TestRldSIGHUPWithoutWatch(t *testing.T) {
	up := gwtest.StartEcho(t, "up")
	gw := gwtest.Start(t, reloadConfig(up.URL, 1), gwtest.Options{Args: []string{"--watch=false", "--watch-settle", "0"}})
	path := configPath(t, gw)
	// Written in place, not renamed: the way a watcher would pick up fastest.
	if err := os.WriteFile(path, []byte(reloadConfig(up.URL, 2)), 0o600); err != nil {
		t.Fatal(err)
	}
	// A watcher that ran despite --watch=false would apply the file within
	// its 200 ms debounce; 3 s is ample to see that it does not.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if resp, _ := gw.Get("/b2"); resp.StatusCode != 404 {
			t.Fatalf("the changed file was applied without SIGHUP: /b2 %d", resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if resp, _ := gw.Get("/b1"); resp.StatusCode != 200 {
		t.Fatalf("/b1 before SIGHUP: %d", resp.StatusCode)
	}
	gw.Signal(syscall.SIGHUP)
	waitUntil(t, "SIGHUP to apply the file", func() bool {
		resp, _ := gw.Get("/b2")
		return resp.StatusCode == 200
	})
	if resp, _ := gw.Get("/b1"); resp.StatusCode != 404 {
		t.Errorf("/b1 after SIGHUP: %d", resp.StatusCode)
	}
	last, _ := adminStatus(t, gw)["last_reload"].(map[string]any)
	if last == nil || last["trigger"] != "sighup" || last["ok"] != true {
		t.Errorf("last_reload after SIGHUP: %v", last)
	}
}
