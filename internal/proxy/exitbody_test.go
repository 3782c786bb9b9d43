package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

// bodyExit answers every request itself, with a body.
type bodyExit struct{}

func (bodyExit) Access(*plugin.Ctx) error {
	return &plugin.Exit{Status: http.StatusOK, Body: []byte("hello"), ContentType: "text/plain"}
}

// shouting re-encodes gateway answers: upper case and a mark.
type shouting struct{}

func (shouting) BodyFilter(_ *plugin.Ctx, body io.Reader) io.Reader { return body }

func (shouting) ExitBody(c *plugin.Ctx, body []byte) []byte {
	c.Resp.Header.Set("X-Shouted", "yes")
	return []byte(strings.ToUpper(string(body)) + "!")
}

// An Exit's body passes the route's ExitBodyFilters, after the header
// filters, and its length is the new body's; body filters without
// ExitBody leave it alone.
func TestExitBodyFilters(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer up.Close()
	for _, tc := range []struct {
		name string
		body []snapshot.Step
		want string
		mark string
	}{
		{"exit body filter", []snapshot.Step{{Name: "eof", Base: eofFilter{}}, {Name: "shout", Base: shouting{}}}, "HELLO!", "yes"},
		{"body filters only", []snapshot.Step{{Name: "eof", Base: eofFilter{}}}, "hello", ""},
	} {
		g := newTestGateway(t, simpleConfig, map[string]string{"UP": up.URL}, nil)
		g.Snap.Routes[0].Chain = &snapshot.Chain{
			Access: []snapshot.Step{{Name: "exit", Base: bodyExit{}}},
			Body:   tc.body,
			Names:  []string{"exit", "eof", "shout"},
		}
		resp, err := http.Get(g.URL + "/x")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != tc.want || resp.ContentLength != int64(len(tc.want)) || resp.Header.Get("X-Shouted") != tc.mark {
			t.Errorf("%s: %q (length %d) %v", tc.name, b, resp.ContentLength, resp.Header)
		}
	}
}
