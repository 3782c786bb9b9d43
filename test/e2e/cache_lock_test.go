package e2e

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

const lockConfig = `
_format_version: "3.0"
services:
- name: origin
  url: %s
  routes:
  - name: locked
    paths: [/locked]
    plugins:
    - name: proxy-cache
      config: {strategy: memory, lock: true, lock_timeout: 5}
`

// TestCacheLockCoalesces: with lock on, 100 concurrent requests for one
// cold key send exactly one request upstream, and all 100 get its body.
func TestCacheLockCoalesces(t *testing.T) {
	o := startCacheOrigin(t)
	o.delay.Store(int64(500 * time.Millisecond)) // all 100 arrive while the first is upstream
	gw := gwtest.Start(t, fmt.Sprintf(lockConfig, o.URL), gwtest.Options{})

	const n = 100
	var wg sync.WaitGroup
	start := make(chan struct{})
	out := make([]cacheResp, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i] = cacheDo(t, http.MethodGet, gw.URL+"/locked/cold")
		}()
	}
	close(start)
	wg.Wait()

	if got := o.Hits("/cold"); got != 1 {
		t.Errorf("%d requests reached the upstream, want exactly 1", got)
	}
	statuses := map[string]int{}
	for i, r := range out {
		if r.err != nil || r.status != 200 || r.body != "/cold #1" {
			t.Fatalf("request %d: %d %q err %v, want 200 with the one upstream answer", i, r.status, r.body, r.err)
		}
		statuses[r.cache]++
	}
	if statuses["Miss"] != 1 || statuses["Hit"] != n-1 {
		t.Errorf("X-Cache-Status counts %v, want 1 Miss and %d Hit", statuses, n-1)
	}
}
