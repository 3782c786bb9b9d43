package external

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// TestBearer: Kong's reading of the token's header, two words split on
// Lua's blanks, the same for both shapes.
func TestBearer(t *testing.T) {
	for v, want := range map[string]string{
		"Bearer tok": "tok", "bearer tok": "tok", "TOKEN tok": "tok", "Bearer\ttok": "tok",
		"  Bearer   tok  ": "tok", "Bearer \t tok\t": "tok", "Bearer\vtok": "tok",
	} {
		if got, ok := Bearer(v); !ok || got != want {
			t.Errorf("%q: %q %v", v, got, ok)
		}
	}
	for _, v := range []string{"", "Bearer", "Bearer ", "tok", "Basic dXNlcjpwdw==", "Bearer a b", "Bearer a\tb",
		"Bearer a\fb", "Bearertok", "MAC tok"} {
		if got, ok := Bearer(v); ok {
			t.Errorf("%q accepted as %q", v, got)
		}
	}
}

// TestIsHTTPS ports check_https: the client's scheme, or a trusted
// peer's one X-Forwarded-Proto when accept_http_if_already_terminated.
func TestIsHTTPS(t *testing.T) {
	ctx := func(scheme string, trusted bool, proto ...string) *plugin.Ctx {
		r := httptest.NewRequest(http.MethodPost, "/x", nil)
		for _, p := range proto {
			r.Header.Add("X-Forwarded-Proto", p)
		}
		return &plugin.Ctx{Req: r, Scheme: scheme, TrustedPeer: trusted}
	}
	for _, tc := range []struct {
		name   string
		c      *plugin.Ctx
		accept bool
		ok     bool
		msg    string
	}{
		{"https", ctx("https", false), false, true, ""},
		{"http", ctx("http", true, "https"), false, false, MsgHTTPS},
		{"forwarded by a trusted peer", ctx("http", true, "https"), true, true, ""},
		{"forwarded by an untrusted peer", ctx("http", false, "https"), true, false, MsgHTTPS},
		{"forwarded http", ctx("http", true, "http"), true, false, MsgHTTPS},
		{"nothing forwarded", ctx("http", true), true, false, MsgHTTPS},
		{"two headers", ctx("http", true, "https", "https"), true, false, "Only one X-Forwarded-Proto header allowed"},
		{"a list", ctx("http", true, "https, https"), true, false, "Only one X-Forwarded-Proto header allowed"},
	} {
		if ok, msg := IsHTTPS(tc.c, tc.accept); ok != tc.ok || msg != tc.msg {
			t.Errorf("%s: %v %q", tc.name, ok, msg)
		}
	}
}

func TestErrorBody(t *testing.T) {
	for _, tc := range []struct{ code, desc, state, want string }{
		{"invalid_request", "a \"b\"/c", "", `{"error":"invalid_request","error_description":"a \"b\"\/c"}`},
		{"invalid_request", "d", "s", `{"error":"invalid_request","error_description":"d","state":"s"}`},
		{"", "", "", `{}`},
	} {
		if got := string(ErrorBody(tc.code, tc.desc, tc.state)); got != tc.want {
			t.Errorf("got %s, want %s", got, tc.want)
		}
	}
}

// TestAccessTokenHidden: with hide, the token goes from where it was
// read and the rest reaches the upstream, Content-Length matching; a
// token in the query of a form POST with no body is still read.
func TestAccessTokenHidden(t *testing.T) {
	auth := plugin.NewHeaderName("authorization")
	r := httptest.NewRequest(http.MethodPost, "/p?access_token=q1", http.NoBody)
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	c := &plugin.Ctx{Req: r, RawQuery: r.URL.RawQuery}
	if tok, _ := AccessToken(c, auth, true); tok != "q1" || c.RawQuery != "" {
		t.Errorf("query token %q, query left %q", tok, c.RawQuery)
	}

	body := "a=1&access_token=b1&z=2"
	r = httptest.NewRequest(http.MethodPost, "/p", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	c = &plugin.Ctx{Req: r}
	if tok, _ := AccessToken(c, auth, true); tok != "b1" {
		t.Errorf("body token %q", tok)
	}
	got, _ := io.ReadAll(r.Body)
	if string(got) != "a=1&z=2" || r.ContentLength != 7 || r.Header.Get("Content-Length") != "7" {
		t.Errorf("upstream body %q, length %d, header %q", got, r.ContentLength, r.Header.Get("Content-Length"))
	}
}
