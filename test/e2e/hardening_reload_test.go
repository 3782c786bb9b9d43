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
