package gwtest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// Echo is a real HTTP server on loopback that answers every request with a
// JSON description of what it received.
type Echo struct {
	*httptest.Server
	Name  string
	Count atomic.Int64
}

// Seen is what an Echo upstream received.
type Seen struct {
	Name   string              `json:"name"`
	Method string              `json:"method"`
	Path   string              `json:"path"` // raw, still encoded
	Query  string              `json:"query"`
	Host   string              `json:"host"`
	Header map[string][]string `json:"header"`
	Body   string              `json:"body"`
}

// StartEcho starts an echo upstream, stopped when the test ends.
func StartEcho(t testing.TB, name string) *Echo {
	t.Helper()
	e := &Echo{Name: name}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.Count.Add(1)
		body, _ := io.ReadAll(r.Body)
		path, _, _ := strings.Cut(r.RequestURI, "?")
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Upstream", name)
		json.NewEncoder(w).Encode(Seen{
			Name: name, Method: r.Method, Path: path, Query: r.URL.RawQuery,
			Host: r.Host, Header: r.Header, Body: string(body),
		})
	}))
	t.Cleanup(e.Close)
	return e
}

// DecodeSeen parses an Echo response body.
func DecodeSeen(t testing.TB, body string) Seen {
	t.Helper()
	var s Seen
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("not an echo response: %q: %v", body, err)
	}
	return s
}

// Port is the upstream's port, for configs that name it apart from the host.
func (e *Echo) Port() string {
	return e.URL[strings.LastIndexByte(e.URL, ':')+1:]
}
