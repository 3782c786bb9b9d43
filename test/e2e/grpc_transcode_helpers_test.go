package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/grpcdemo"
	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// startUserService starts the real grpc-go UserService on a free loopback
// port for the test.
func startUserService(t *testing.T) *grpcdemo.Server {
	t.Helper()
	srv, err := grpcdemo.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

// guideTranscodeConfig is the patterns guide's "REST to gRPC" example as
// written (descriptors from the upstream's reflection), pointed at addr.
func guideTranscodeConfig(addr string) string {
	return fmt.Sprintf(`_format_version: "3.0"
routes:
- name: grpc-transcode
  paths:
  - /api/v1
  url: grpc://%s
  plugins:
  - name: grpc-transcode
    config:
      request_type: http_json
`, addr)
}

// kongGatewayConfig is Kong's grpc-gateway shape: a grpc service, an http
// route on / and the plugin with a proto file. extra is added to the
// plugin's config, indented as its fields.
func kongGatewayConfig(addr, protoPath, extra string) string {
	host, port, _ := strings.Cut(addr, ":")
	return fmt.Sprintf(`_format_version: "3.0"
services:
- name: grpc
  protocol: grpc
  host: %s
  port: %s
  routes:
  - name: rest
    protocols: [http, https]
    paths: [/]
    plugins:
    - name: grpc-gateway
      config:
        proto: %s
%s`, host, port, protoPath, extra)
}

// writeProto writes content as name in dir and returns its path.
func writeProto(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// restCall sends a request to the gateway and returns the response with
// its body read; header is name, value pairs.
func restCall(t *testing.T, gw *gwtest.Gateway, method, path, body string, header ...string) (*http.Response, string) {
	t.Helper()
	if body != "" {
		header = append([]string{"Content-Type", "application/json"}, header...)
	}
	return gwtest.Do(t, gwtest.NewRequest(t, method, gw.URL+path, body, header...))
}

// jsonObject decodes body as one JSON object, failing the test if it is not.
func jsonObject(t *testing.T, what, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("%s: body is not a JSON object: %q", what, body)
	}
	return m
}

// wantJSON checks a response's status and that its JSON body has every
// key of want with an equal value (compared as JSON).
func wantJSON(t *testing.T, what string, resp *http.Response, body string, status int, want map[string]any) map[string]any {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("%s: status %d, want %d; body %s", what, resp.StatusCode, status, body)
		return nil
	}
	got := jsonObject(t, what, body)
	for k, v := range want {
		if !sameJSON(got[k], v) {
			t.Errorf("%s: %s = %v, want %v (body %s)", what, k, got[k], v, body)
		}
	}
	return got
}

func sameJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// streamReader reads a streaming response line by line, each read bounded
// in time, so a test can tell a line arrived before the server sent the
// next.
type streamReader struct {
	t     *testing.T
	resp  *http.Response
	lines chan string
	done  chan error
}

func openStream(t *testing.T, gw *gwtest.Gateway, path string, header ...string) *streamReader {
	t.Helper()
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(gwtest.NewRequest(t, http.MethodGet, gw.URL+path, "", header...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	s := &streamReader{t: t, resp: resp, lines: make(chan string, 16), done: make(chan error, 1)}
	go func() {
		br := bufio.NewReader(resp.Body)
		for {
			line, err := br.ReadString('\n')
			if line != "" {
				s.lines <- line
			}
			if err != nil {
				if err == io.EOF {
					err = nil
				}
				s.done <- err
				close(s.lines)
				return
			}
		}
	}()
	return s
}

// next returns the next line (with its newline), failing after wait.
func (s *streamReader) next(wait time.Duration) string {
	s.t.Helper()
	select {
	case l, ok := <-s.lines:
		if !ok {
			s.t.Fatalf("stream ended (%v) where a line was due", <-s.done)
		}
		return l
	case <-time.After(wait):
		s.t.Fatalf("no line within %v", wait)
	}
	return ""
}

// quiet reports whether no line arrives within wait.
func (s *streamReader) quiet(wait time.Duration) bool {
	select {
	case l, ok := <-s.lines:
		if ok {
			s.t.Errorf("unexpected line %q", l)
		}
		return false
	case <-time.After(wait):
		return true
	}
}

// end waits for the body's clean end.
func (s *streamReader) end(wait time.Duration) {
	s.t.Helper()
	select {
	case l, ok := <-s.lines:
		if ok {
			s.t.Fatalf("line %q where the stream should end", l)
		}
		if err := <-s.done; err != nil {
			s.t.Fatalf("stream ended with %v", err)
		}
	case <-time.After(wait):
		s.t.Fatalf("stream did not end within %v", wait)
	}
}
