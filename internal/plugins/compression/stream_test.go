package compression

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// pipeRead is what the proxy does with a filtered body: every Read's
// bytes go to the client at once (here, into a pipe).
func pipeRead(r io.Reader) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				if _, werr := pw.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				pw.CloseWithError(err)
				return
			}
		}
	}()
	return pr
}

func decoderFor(t *testing.T, k string, r io.Reader) io.Reader {
	t.Helper()
	switch k {
	case "gzip":
		gr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		return gr
	case "br":
		return brotli.NewReader(r)
	}
	zr, err := zstd.NewReader(r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(zr.Close)
	return zr
}

// Server-sent events from a real upstream reach the client event by
// event through the compressor: the upstream sends the next event only
// once the client has decoded the one before.
func TestStreamingFlushesEachRead(t *testing.T) {
	next := make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: event %d\n\n", i)
			w.(http.Flusher).Flush()
			select {
			case <-next:
			case <-r.Context().Done():
				return
			case <-time.After(5 * time.Second):
				return
			}
		}
	}))
	defer upstream.Close()
	for _, ae := range []string{"gzip", "br", "zstd"} {
		t.Run(ae, func(t *testing.T) {
			in := mustBuild(t, nil)
			resp, err := http.Get(upstream.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			c := respCtx("GET", http.Header{"Accept-Encoding": {ae}}, 200, resp.Header)
			in.HeaderFilter(c)
			if got := resp.Header.Get("Content-Encoding"); got != ae {
				t.Fatalf("Content-Encoding %q", got)
			}
			events := bufio.NewReader(decoderFor(t, ae, pipeRead(in.BodyFilter(c, resp.Body))))
			for i := range 3 {
				got := make(chan string, 1)
				go func() {
					line, _ := events.ReadString('\n')
					events.ReadString('\n')
					got <- line
				}()
				select {
				case line := <-got:
					if want := fmt.Sprintf("data: event %d\n", i); line != want {
						t.Fatalf("event %d: %q", i, line)
					}
				case <-time.After(3 * time.Second):
					t.Fatalf("event %d held in the compressor", i)
				}
				next <- struct{}{}
			}
			if rest, _ := io.ReadAll(events); strings.TrimSpace(string(rest)) != "" {
				t.Errorf("after the events: %q", rest)
			}
		})
	}
}
