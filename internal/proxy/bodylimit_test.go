package proxy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/record"
	"github.com/turnpikegw/turnpike/internal/snapshot"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// capPlugin lets through at most max bytes of the request body; the read
// past them fails with an Exit, as request-size-limiting's reader does.
type capPlugin struct{ max int }

func (p capPlugin) Access(c *plugin.Ctx) error {
	c.Req.Body = &capReader{rc: c.Req.Body, left: p.max}
	return nil
}

type capReader struct {
	rc   io.ReadCloser
	left int
}

func (r *capReader) Read(b []byte) (int, error) {
	n, err := r.rc.Read(b)
	if r.left -= n; r.left < 0 {
		return 0, plugin.NewExit(http.StatusRequestEntityTooLarge, "Request size limit exceeded")
	}
	return n, err
}

func (r *capReader) Close() error { return r.rc.Close() }

func withCap(g *testGateway, max int) {
	steps := []snapshot.Step{{Name: "cap", Base: capPlugin{max}}}
	g.Snap.Routes[0].Chain = &snapshot.Chain{Access: steps, Names: []string{"cap"}}
}

// A body a plugin's reader refuses while it streams to the upstream gets
// the plugin's answer, not a 502, and not whatever the upstream said: on
// the streamed path (POST), on the buffered path of a retryable request
// (PUT), and through the HTTP/2 transport. Nothing is retried.
func TestBodyRefusedWhileStreaming(t *testing.T) {
	var seen atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "upstream answer")
	}))
	defer up.Close()
	g := newTestGateway(t, simpleConfig, map[string]string{"UP": up.URL}, nil)
	g.Handler.opts.RetryBufferBytes = 1 << 20
	rec := make(recorder, 8)
	g.Handler.opts.Observers = []record.Observer{rec}
	withCap(g, 10)
	for _, method := range []string{http.MethodPost, http.MethodPut} {
		code, body := send(t, method, g.URL+"/x", strings.Repeat("a", 64<<10), true)
		if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, `"message":"Request size limit exceeded"`) {
			t.Errorf("%s over the cap: %d %s", method, code, body)
		}
		r := rec.next(t)
		if r.Status != http.StatusRequestEntityTooLarge || len(r.Attempts) > 1 {
			t.Errorf("%s: record status %d, attempts %+v", method, r.Status, r.Attempts)
		}
		if code, body := send(t, method, g.URL+"/x", "short", true); code != 200 || body != "upstream answer" {
			t.Errorf("%s under the cap: %d %s", method, code, body)
		}
		rec.next(t)
	}

	h2 := h2Upstream(t, nil)
	g2 := newTestGateway(t, grpcConfigUp, map[string]string{"T": h2.Listener.Addr().String()}, nil)
	withCap(g2, 2)
	// A native gRPC call gets the 413 as gRPC's INVALID_ARGUMENT,
	// trailers-only.
	resp, _ := grpcLike(t, g2)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Grpc-Status") != "3" ||
		resp.Header.Get("Grpc-Message") != "Request size limit exceeded" {
		t.Errorf("HTTP/2 upstream: status %d %v, want grpc-status 3", resp.StatusCode, resp.Header)
	}
}

// A client's body, unreadable or refused by a plugin, says nothing of the
// target: passive health checks must not count it, or a client could
// mark targets unhealthy at will.
func TestClientBodyFailureIsNeutral(t *testing.T) {
	ctx := context.Background()
	for _, err := range []error{
		&errClientBody{io.ErrUnexpectedEOF},
		&errClientBody{plugin.NewExit(http.StatusRequestEntityTooLarge, "x")},
		fmt.Errorf("h2: %w", plugin.NewExit(http.StatusRequestEntityTooLarge, "x")),
	} {
		if o := failureOutcome(ctx, err); o != (upstream.Outcome{}) {
			t.Errorf("%v: outcome %+v", err, o)
		}
	}
	if o := failureOutcome(ctx, io.ErrUnexpectedEOF); !o.TCPFailure {
		t.Errorf("an upstream's broken connection: outcome %+v", o)
	}
}
