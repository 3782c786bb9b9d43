package session

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/plugintest"
)

// BenchmarkAccessWithCookie is a request authenticated by its session
// cookie: find, decrypt and check the cookie, find the consumer, set the
// identity headers.
func BenchmarkAccessWithCookie(b *testing.B) {
	in := mustBuild(b, nil)
	d := data{created: 1, issued: 1, consumerID: coop.ID, credentialID: "cred-1", subject: "coop"}
	cookieHeader := []string{"theme=dark; session=" + in.seal.seal(&d)}
	in.now = func() time.Time { return time.Unix(2, 0) }
	dir := &plugintest.Directory{Consumers: []*plugin.Consumer{coop}}
	r := httptest.NewRequest("GET", "/", nil)
	c := &plugin.Ctx{Req: r, Directory: dir, Resp: plugin.Response{Header: http.Header{}}}
	b.ReportAllocs()
	for b.Loop() {
		r.Header["Cookie"] = cookieHeader
		c.Consumer, c.Credential = nil, ""
		if err := in.Access(c); err != nil || c.Consumer != coop {
			b.Fatal("not authenticated", err)
		}
	}
}

// BenchmarkAccessNoCookie is a request without a session: the cost the
// plugin adds to every request of its route.
func BenchmarkAccessNoCookie(b *testing.B) {
	in := mustBuild(b, nil)
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Cookie", "theme=dark; lang=en")
	c := &plugin.Ctx{Req: r, Resp: plugin.Response{Header: http.Header{}}}
	b.ReportAllocs()
	for b.Loop() {
		in.Access(c)
		in.HeaderFilter(c)
	}
}

// BenchmarkIssue is the header filter issuing a new session cookie.
func BenchmarkIssue(b *testing.B) {
	in := mustBuild(b, nil)
	r := httptest.NewRequest("GET", "/", nil)
	c := &plugin.Ctx{Req: r, Consumer: coop, Credential: "cred-1", Resp: plugin.Response{Header: http.Header{}}}
	b.ReportAllocs()
	for b.Loop() {
		delete(c.Resp.Header, "Set-Cookie")
		in.HeaderFilter(c)
	}
}
