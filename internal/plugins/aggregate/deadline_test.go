package aggregate

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/record"
)

// The whole deadline: what finished is merged, the call still running
// and the one after it are errors, and the answer comes at the deadline,
// not when the slow backend would have answered.
func TestWholeDeadline(t *testing.T) {
	fast := jsonServer(t, `{"f":1}`)
	slow := &testingServer{body: `{"s":1}`, delay: 5 * time.Second}
	sh := slow.start(t)
	cfg := &Config{}
	cfg.SetDefaults()
	cfg.Timeout = 300
	cfg.Calls = []Call{
		{Name: "fast", URL: fast.URL + "/"},
		{Name: "slow", URL: sh.URL + "/"},
		{Name: "later", URL: fast.URL + "/", After: []string{"slow"}},
	}
	in := buildCfg(t, plugin.Env{}, cfg)
	t0 := time.Now()
	e := aggregate(t, in, request("/"))
	if took := time.Since(t0); took < 300*time.Millisecond || took > time.Second {
		t.Errorf("answered after %v, want about 300ms", took)
	}
	want := `{"f":1,"errors":[{"call":"slow","reason":"the aggregation's timeout passed"},{"call":"later","reason":"after slow, which failed"}]}`
	if string(e.Body) != want || e.Status != 200 {
		t.Errorf("%d %s\nwant %s", e.Status, e.Body, want)
	}
}

// A call's own timeout ends it alone, also when its backend sends the
// head at once and the body a byte at a time (slow loris).
func TestCallTimeoutSlowBody(t *testing.T) {
	fast := jsonServer(t, `{"f":1}`)
	drip := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		for range 100 {
			if _, err := w.Write([]byte(" ")); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
	in := build(t, plugin.Env{},
		Call{Name: "fast", URL: fast.URL + "/"},
		Call{Name: "drip", URL: drip.URL + "/", Timeout: 200})
	c := request("/")
	t0 := time.Now()
	e := aggregate(t, in, c)
	if took := time.Since(t0); took > time.Second {
		t.Errorf("answered after %v", took)
	}
	if want := `{"f":1,"errors":[{"call":"drip","reason":"timed out"}]}`; string(e.Body) != want {
		t.Errorf("%s\nwant %s", e.Body, want)
	}
	for _, a := range c.Record.Attempts {
		if a.Status == 200 && a.Outcome != "response" && a.Outcome != "timeout" {
			t.Errorf("attempt %+v", a)
		}
	}
}

// A client that goes away ends the aggregation at once, and no
// goroutine of it is left behind.
func TestClientGone(t *testing.T) {
	slow := &testingServer{body: `{}`, delay: 5 * time.Second}
	sh := slow.start(t)
	in := build(t, plugin.Env{}, Call{Name: "a", URL: sh.URL + "/"}, Call{Name: "b", URL: sh.URL + "/"})
	c := request("/")
	ctx, cancel := context.WithCancel(context.Background())
	c.Req = c.Req.WithContext(ctx)
	time.AfterFunc(100*time.Millisecond, cancel)
	t0 := time.Now()
	e := aggregate(t, in, c)
	if took := time.Since(t0); took > time.Second {
		t.Errorf("answered after %v", took)
	}
	if want := `{"errors":[{"call":"a","reason":"the client went away"},{"call":"b","reason":"the client went away"}]}`; string(e.Body) != want {
		t.Errorf("%s\nwant %s", e.Body, want)
	}
	if n := callGoroutines(); n != 0 {
		t.Errorf("%d call goroutines left after Access returned", n)
	}
}

// callGoroutines counts the goroutines running a call.
func callGoroutines() int {
	buf := make([]byte, 1<<20)
	return strings.Count(string(buf[:runtime.Stack(buf, true)]), "aggregate.(*instance).do(")
}

// Access returns only once every call's goroutine has: a body whose
// reads ignore the context is closed by it.
type stuckBody struct{ closed chan struct{} }

func (b *stuckBody) Read([]byte) (int, error) { <-b.closed; return 0, context.Canceled }
func (b *stuckBody) Close() error {
	select {
	case <-b.closed:
	default:
		close(b.closed)
	}
	return nil
}

// stuckUpstream answers at once with a body that never ends by itself.
type stuckUpstream struct{ body *stuckBody }

func (s stuckUpstream) RoundTrip(string, *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: s.body, ContentLength: -1}, nil
}

func TestBodyIgnoringContextIsClosed(t *testing.T) {
	up := stuckUpstream{body: &stuckBody{closed: make(chan struct{})}}
	in := build(t, plugin.Env{ServiceIDs: services{"s": ""}, Upstreams: up}, Call{Name: "a", Service: "s", Path: "/", Timeout: 100})
	t0 := time.Now()
	e := aggregate(t, in, request("/"))
	if took := time.Since(t0); took > time.Second {
		t.Errorf("answered after %v", took)
	}
	if want := `{"errors":[{"call":"a","reason":"timed out"}]}`; string(e.Body) != want {
		t.Errorf("%s\nwant %s", e.Body, want)
	}
}

// lateContext is a context whose deadline has passed on the clock while
// its timer has not run yet: Err is still nil.
type lateContext struct{ context.Context }

func (lateContext) Deadline() (time.Time, bool) { return time.Now().Add(-time.Millisecond), true }

// A call that fails once the deadline has passed, before the context's
// timer ran (the upstream transport's connection deadline, set from the
// context, fires at the same instant), failed by the timeout, not as a
// broken request.
func TestFailureAfterTheDeadline(t *testing.T) {
	late := lateContext{context.Background()}
	err := errors.New("read tcp: i/o timeout")
	if why, outcome := failure(late, late, err); why != "the aggregation's timeout passed" || outcome != record.OutcomeTimeout {
		t.Errorf("whole deadline passed: %q %q", why, outcome)
	}
	if why, outcome := failure(context.Background(), late, err); why != "timed out" || outcome != record.OutcomeTimeout {
		t.Errorf("call deadline passed: %q %q", why, outcome)
	}
	if why, outcome := failure(context.Background(), context.Background(), err); why != "request failed" || outcome != record.OutcomeError {
		t.Errorf("no deadline: %q %q", why, outcome)
	}
}
