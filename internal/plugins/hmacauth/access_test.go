package hmacauth

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The scenarios of Kong's spec/03-plugins/19-hmac-auth/03-access_spec.lua
// (its routes 1 to 7 are the config funcs), and the corners of access.lua.
func TestAccess(t *testing.T) {
	realm := func(c *Config) { c.ClockSkew, c.Realm = 3000, str("test-realm") }
	anon := func(c *Config) { c.Anonymous = str("anon-id") }
	anonName := func(c *Config) { c.Anonymous = str("no-body") }
	ghost := func(c *Config) { c.Anonymous = str("ghost") }
	body := func(c *Config) { c.ValidateRequestBody = true }
	enforce := func(c *Config) { c.ValidateRequestBody, c.EnforceHeaders = true, []string{"date", "request-line"} }
	two := func(c *Config) {
		enforce(c)
		c.Algorithms = []string{"hmac-sha1", "hmac-sha256"}
	}
	hide := func(c *Config) { c.HideCredentials = true }
	const (
		rr    = `hmac realm="test-realm"`
		plain = "hmac"
	)
	dateSig := sha1Sig("date: " + date)
	dateAuth := authValue("bob", "hmac-sha1", "date", dateSig)
	lineSig := func(line string) string { return sha1Sig("date: " + date + "\ncontent-md5: md5\n" + line) }
	lineAuth := func(user, alg, sig string) string {
		return `hmac username="` + user + `",  algorithm="` + alg + `", headers="date content-md5 request-line", signature="` + sig + `"`
	}
	escaped := "/request?name=" + url.QueryEscape("foo bar") + "&address=" + strings.ReplaceAll(url.QueryEscape("san francisco"), "+", "%20")
	sigOf := func(alg algorithm, s string) string { return sign(algorithmHashes[alg], "secret", s) }
	ok := outcome{Status: 200, Identity: bobIdentity}
	withAuth := func(o outcome, kv ...string) outcome { o.Auth = hdr(kv...); return o }
	okBody := func(auth, b string) outcome {
		o := withAuth(ok, "Authorization", auth)
		o.Body = b
		return o
	}

	tests := []struct {
		name string
		set  func(*Config)
		req  req
		// credential, when set, is what an earlier auth plugin recorded.
		credential string
		want       outcome
	}{
		{name: "credentials missing, realm set", set: realm, req: req{method: "POST", header: []string{"Date", date}}, want: fail("Unauthorized", rr)},
		{name: "no hmac token, realm not set", set: two, req: req{header: []string{"Date", date, "Proxy-Authorization", "this is no hmac token at all is it?"}},
			want: fail(msgNotValid, plain)},
		{name: "signature wrong", set: realm, req: req{header: []string{"Date", date, "Authorization", "asd"}}, want: fail(msgNotValid, rr)},
		{name: "signature not Base64", set: realm, req: req{header: []string{"Date", date, "Authorization",
			`"hmac username="bob",algorithm="hmac-sha1",headers="date",signature="not really a base64 encoded value!!!"`}}, want: fail(msgNoMatch, rr)},
		{name: "date missing", set: realm, req: req{header: []string{"Authorization", "asd"}}, want: fail(msgNoDate, rr)},
		{name: "signature wrong in Proxy-Authorization", set: realm, req: req{header: []string{"Date", date, "Proxy-Authorization", "asd"}}, want: fail(msgNotValid, rr)},
		{name: "only the digest", set: realm, req: req{header: []string{"Date", date, "Proxy-Authorization", "hmac :dXNlcm5hbWU6cGFzc3dvcmQ="}}, want: fail(msgNotValid, rr)},
		{name: "wrong parameters in Proxy-Authorization", set: realm, req: req{header: []string{"Date", date, "Proxy-Authorization", "hmac username=,algorithm,headers,dXNlcm5hbWU6cGFzc3dvcmQ="}}, want: fail(msgNotValid, rr)},
		{name: "wrong parameters in Authorization", set: realm, req: req{header: []string{"Date", date, "Authorization", "hmac username=,algorithm,headers,dXNlcm5hbWU6cGFzc3dvcmQ="}}, want: fail(msgNotValid, rr)},
		{name: "only the username", set: realm, req: req{header: []string{"Date", date, "Authorization", "hmac username"}}, want: fail(msgNotValid, rr)},
		{name: "username missing", set: realm, req: req{header: []string{"Date", date, "Authorization", `hmac algorithm="hmac-sha1",headers="date",signature="` + dateSig + `"`}}, want: fail(msgNotValid, rr)},
		{name: "signature missing", set: realm, req: req{header: []string{"Date", date, "Authorization", `hmac username="bob",algorithm="hmac-sha1",headers="date"`}}, want: fail(msgNotValid, rr)},
		{name: "GET", set: realm, req: req{header: []string{"Date", date, "Authorization", dateAuth}}, want: withAuth(ok, "Authorization", dateAuth)},
		{name: "GET with Proxy-Authorization", set: realm, req: req{header: []string{"Date", date, "Proxy-Authorization", dateAuth}}, want: withAuth(ok, "Proxy-Authorization", dateAuth)},
		{name: "POST", set: realm, req: req{method: "POST", header: []string{"Date", date, "Authorization", dateAuth}}, want: withAuth(ok, "Authorization", dateAuth)},
		{name: "valid Authorization, wrong Proxy-Authorization", set: realm, req: req{method: "POST", header: []string{"Date", date, "Proxy-Authorization", "hmac username", "Authorization", dateAuth}},
			want: withAuth(ok, "Proxy-Authorization", "hmac username", "Authorization", dateAuth)},
		{name: "invalid Authorization, valid Proxy-Authorization", set: realm, req: req{method: "POST", header: []string{"Date", date, "Proxy-Authorization", dateAuth, "Authorization", "hello"}},
			want: withAuth(ok, "Proxy-Authorization", dateAuth, "Authorization", "hello")},
		{name: "Proxy-Authorization naming another user does not fall back", set: realm, req: req{header: []string{"Date", date,
			"Proxy-Authorization", authValue("alice", "hmac-sha1", "date", dateSig), "Authorization", dateAuth}}, want: fail(msgNotValid, rr)},
		{name: "content-md5 signed", set: realm, req: req{header: []string{"Date", date, "Proxy-Authorization",
			authValue("bob", "hmac-sha1", "date content-md5", sha1Sig("date: "+date+"\ncontent-md5: md5")), "Content-MD5", "md5"}},
			want: withAuth(ok, "Proxy-Authorization", authValue("bob", "hmac-sha1", "date content-md5", sha1Sig("date: "+date+"\ncontent-md5: md5")))},
		{name: "request-line", set: realm, req: req{header: []string{"Date", date, "Proxy-Authorization", lineAuth("bob", "hmac-sha1", lineSig("GET /request HTTP/1.1")), "Content-MD5", "md5"}},
			want: withAuth(ok, "Proxy-Authorization", lineAuth("bob", "hmac-sha1", lineSig("GET /request HTTP/1.1")))},
		{name: "@request-target", set: realm, req: req{header: []string{"Date", date, "Content-MD5", "md5", "Proxy-Authorization",
			`hmac username="bob",  algorithm="hmac-sha1", headers="date content-md5 @request-target", signature="` + sha1Sig("date: "+date+"\ncontent-md5: md5\n@request-target: get /request") + `"`}},
			want: ok},
		{name: "HTTP/1.0 request line", set: realm, req: req{proto: "HTTP/1.0", header: []string{"Date", date, "Content-MD5", "md5",
			"Proxy-Authorization", lineAuth("bob", "hmac-sha1", lineSig("GET /request HTTP/1.0"))}}, want: ok},
		{name: "wrong username", set: realm, req: req{header: []string{"Date", date, "Content-MD5", "md5",
			"Proxy-Authorization", lineAuth("bobb", "hmac-sha1", lineSig("GET /request HTTP/1.1"))}}, want: fail(msgNotValid, rr)},
		{name: "blank username", set: realm, req: req{header: []string{"Date", date, "Content-MD5", "md5",
			"Proxy-Authorization", lineAuth("", "hmac-sha1", lineSig("GET /request HTTP/1.1"))}}, want: fail(msgNotValid, rr)},
		{name: "wrong headers field name", set: realm, req: req{header: []string{"Date", date, "Content-MD5", "md5", "Proxy-Authorization",
			`hmac username="bob",  algorithm="hmac-sha1",   wrong_header="date content-md5 request-line", signature="` + lineSig("GET /request HTTP/1.1") + `"`}}, want: fail(msgNotValid, rr)},
		{name: "wrong signature field name", set: realm, req: req{header: []string{"Date", date, "Content-MD5", "md5", "Proxy-Authorization",
			`hmac username="bob",  algorithm="hmac-sha1",   headers="date content-md5 request-line", wrong_signature="` + lineSig("GET /request HTTP/1.1") + `"`}}, want: fail(msgNotValid, rr)},
		{name: "malformed signature field", set: realm, req: req{header: []string{"Date", date, "Content-MD5", "md5", "Proxy-Authorization",
			`hmac username="bob",  algorithm="hmac-sha1" headers="date content-md5 request-line", signature="` + lineSig("GET /request HTTP/1.1") + `"`}}, want: fail(msgNotValid, rr)},
		{name: "no space or spaces between fields", set: realm, req: req{header: []string{"Date", date, "Content-MD5", "md5", "Proxy-Authorization",
			`hmac username="bob",algorithm="hmac-sha1",  headers="date content-md5 request-line",signature="` + lineSig("GET /request HTTP/1.1") + `"`}}, want: ok},
		{name: "two spaces sign an empty name", set: realm, req: req{header: []string{"Date", date, "Content-MD5", "md5", "Proxy-Authorization",
			`hmac username="bob",algorithm="hmac-sha1",headers="date  content-md5",signature="` + sha1Sig("date: "+date+"\n:\ncontent-md5: md5") + `"`}}, want: ok},
		{name: "algorithm not the signature's", set: realm, req: req{header: []string{"Date", date, "Content-MD5", "md5",
			"Proxy-Authorization", lineAuth("bob", "hmac-sha256", lineSig("GET /request HTTP/1.1"))}}, want: fail(msgNoMatch, rr)},
		{name: "unknown algorithm", set: realm, req: req{header: []string{"Date", date, "Authorization", authValue("bob", "hmac-md5", "date", dateSig)}}, want: fail(msgNotValid, rr)},
		{name: "hmac-sha256 and the upstream's headers", set: realm, req: req{header: []string{"Date", date, "Content-MD5", "md5",
			"Proxy-Authorization", lineAuth("bob", "hmac-sha256", sigOf(hmacSHA256, "date: "+date+"\ncontent-md5: md5\nGET /request HTTP/1.1"))}}, want: ok},
		{name: "X-Date", set: realm, req: req{header: []string{"X-Date", date, "Content-MD5", "md5", "Proxy-Authorization",
			`hmac username="bob",algorithm="hmac-sha1",headers="x-date content-md5 request-line",signature="` + sha1Sig("x-date: "+date+"\ncontent-md5: md5\nGET /request HTTP/1.1") + `"`}}, want: ok},
		{name: "Date and X-Date missing", set: realm, req: req{header: []string{"Content-MD5", "md5", "Proxy-Authorization",
			`hmac username="bob",algorithm="hmac-sha1",headers="content-md5 request-line",signature="` + sha1Sig("content-md5: md5\nGET /request HTTP/1.1") + `"`}}, want: fail(msgNoDate, rr)},
		{name: "X-Date malformed", set: realm, req: req{header: []string{"X-Date", "wrong date", "Proxy-Authorization", dateAuth}}, want: fail(msgNoDate, rr)},
		{name: "X-Date malformed, Date right", set: realm, req: req{header: []string{"X-Date", "wrong date", "Date", date, "Content-MD5", "md5", "Proxy-Authorization",
			`hmac username="bob",algorithm="hmac-sha1",headers="content-md5 request-line",signature="` + sha1Sig("content-md5: md5\nGET /request HTTP/1.1") + `"`}}, want: ok},
		// Kong accepts this one: the signed date is stale, a fresh unsigned
		// one stands beside it, which is how a captured request is replayed.
		{name: "X-Date malformed and signed, Date right but unsigned", set: realm, req: req{header: []string{"X-Date", "wrong date", "Date", date, "Proxy-Authorization",
			`hmac username="bob",algorithm="hmac-sha1",headers="x-date",signature="` + sha1Sig("x-date: wrong date") + `"`}}, want: fail(msgNoDate, rr)},
		{name: "stale signed Date, fresh unsigned X-Date", set: realm, req: req{header: []string{"Date", now.Add(-3001 * time.Second).Format(http.TimeFormat), "X-Date", date,
			"Authorization", authValue("bob", "hmac-sha1", "date", sha1Sig("date: "+now.Add(-3001*time.Second).Format(http.TimeFormat)))}}, want: fail(msgNoDate, rr)},
		{name: "date outside the skew", set: realm, req: req{header: []string{"Date", now.Add(-3001 * time.Second).Format(http.TimeFormat), "Authorization", dateAuth}}, want: fail(msgNoDate, rr)},
		{name: "date in the future within the skew", set: realm, req: req{header: []string{"Date", now.Add(3000 * time.Second).Format(http.TimeFormat),
			"Authorization", authValue("bob", "hmac-sha1", "date", sha1Sig("date: "+now.Add(3000*time.Second).Format(http.TimeFormat)))}}, want: ok},
		{name: "default skew refuses 301 s", req: req{header: []string{"Date", now.Add(-301 * time.Second).Format(http.TimeFormat), "Authorization", dateAuth}}, want: fail(msgNoDate, plain)},
		{name: "RFC 850 date", req: req{header: []string{"Date", now.Format(time.RFC850), "Authorization", authValue("bob", "hmac-sha1", "date", sha1Sig("date: "+now.Format(time.RFC850)))}}, want: ok},
		{name: "Host signed", set: realm, req: req{header: []string{"Date", date, "Authorization", authValue("bob", "hmac-sha1", "host date", sha1Sig("host: hmacauth.test\ndate: "+date))}}, want: ok},
		{name: "header names case-insensitive, _ as -", set: realm, req: req{header: []string{"Date", date, "Content-MD5", "md5",
			"Authorization", authValue("bob", "hmac-sha1", "DATE content_md5", sha1Sig("DATE: "+date+"\ncontent_md5: md5"))}}, want: ok},
		// Kong lets the header stand for the request line, so a captured
		// signature would fit any method and path.
		{name: "a header named request-line does not stand for the request line", set: realm, req: req{header: []string{"Date", date, "Request-Line", "x",
			"Authorization", authValue("bob", "hmac-sha1", "request-line", sha1Sig("request-line: x"))}}, want: fail(msgNoMatch, rr)},
		{name: "absent header signed as name:", set: realm, req: req{header: []string{"Date", date,
			"Authorization", authValue("bob", "hmac-sha1", "date x-none", sha1Sig("date: "+date+"\nx-none:"))}}, want: ok},
		{name: "credential without consumer", set: realm, req: req{header: []string{"Date", date, "Authorization", authValue("orphan", "hmac-sha1", "date", dateSig)}},
			want: outcome{Status: 500, Message: msgUnexpected}},

		// Anonymous (routes 2, 3, 7).
		{name: "valid credentials and anonymous", set: anon, req: req{header: []string{"Date", date, "Authorization", dateAuth}}, want: withAuth(ok, "Authorization", dateAuth)},
		{name: "invalid credentials and anonymous", set: anon, req: req{header: []string{"Date", date, "Authorization", "asd"}}, want: outcome{Status: 200, Identity: anonIdentity, Auth: hdr("Authorization", "asd")}},
		{name: "invalid credentials and anonymous by username", set: anonName, req: req{header: []string{"Date", date, "Authorization", "asd"}}, want: outcome{Status: 200, Identity: anonIdentity, Auth: hdr("Authorization", "asd")}},
		{name: "anonymous does not exist", set: ghost, req: req{header: []string{"Date", date, "Authorization", "asd"}},
			want: outcome{Status: 500, Message: "anonymous consumer ghost is configured but doesn't exist"}},
		{name: "anonymous: an earlier plugin authenticated", set: anon, credential: "other", req: req{}, want: outcome{Status: 200}},
		{name: "no anonymous: an earlier plugin's credential does not count", credential: "other", req: req{}, want: fail("Unauthorized", plain)},

		// Body validation (routes 4 to 6).
		{name: "body, no digest", set: body, req: req{method: "POST", body: "abc", header: []string{"Date", date, "Authorization", dateAuth}}, want: fail(msgNoMatch, plain)},
		{name: "no body, no digest", set: body, req: req{header: []string{"Date", date, "Authorization", dateAuth}}, want: okBody(dateAuth, "")},
		{name: "no body, digest of nothing", set: body, req: req{header: []string{"Date", date, "Digest", digest(""),
			"Authorization", authValue("bob", "hmac-sha1", "date digest", sha1Sig("date: "+date+"\ndigest: "+digest("")))}}, want: ok},
		{name: "POST with digest", set: body, req: req{method: "POST", body: "abc", header: []string{"Date", date, "Digest", digest("abc"),
			"Authorization", authValue("bob", "hmac-sha1", "date digest", sha1Sig("date: "+date+"\ndigest: "+digest("abc")))}},
			want: okBody(authValue("bob", "hmac-sha1", "date digest", sha1Sig("date: "+date+"\ndigest: "+digest("abc"))), "abc")},
		{name: "POST with digest not signed", set: body, req: req{method: "POST", body: "abc", header: []string{"Date", date, "Digest", digest("abc"), "Authorization", dateAuth}},
			want: okBody(dateAuth, "abc")},
		{name: "POST body tampered", set: body, req: req{method: "POST", body: "abd", header: []string{"Date", date, "Digest", digest("abc"),
			"Authorization", authValue("bob", "hmac-sha1", "date digest", sha1Sig("date: "+date+"\ndigest: "+digest("abc")))}}, want: fail(msgNoMatch, plain)},
		{name: "POST digest tampered", set: body, req: req{method: "POST", body: "abc", header: []string{"Date", date, "Digest", digest("abc") + "spoofed",
			"Authorization", authValue("bob", "hmac-sha1", "date digest", sha1Sig("date: "+date+"\ndigest: "+digest("abc")))}}, want: fail(msgNoMatch, plain)},
		{name: "enforced request-line", set: enforce, req: req{header: []string{"Date", date, "Content-MD5", "md5", "Proxy-Authorization", lineAuth("bob", "hmac-sha1", lineSig("GET /request HTTP/1.1"))}}, want: ok},
		{name: "enforced request-line missing", set: enforce, req: req{header: []string{"Date", date, "Content-MD5", "md5", "Proxy-Authorization",
			authValue("bob", "hmac-sha1", "date content-md5", sha1Sig("date: "+date+"\ncontent-md5: md5"))}}, want: fail(msgNotValid, plain)},
		{name: "query signed without it", set: enforce, req: req{uri: "/request?name=foo", header: []string{"Date", date, "Content-MD5", "md5",
			"Proxy-Authorization", lineAuth("bob", "hmac-sha1", lineSig("GET /request HTTP/1.1"))}}, want: fail(msgNoMatch, plain)},
		{name: "query signed", set: enforce, req: req{uri: "/request/?name=foo", header: []string{"Date", date, "Content-MD5", "md5",
			"Proxy-Authorization", lineAuth("bob", "hmac-sha1", lineSig("GET /request/?name=foo HTTP/1.1"))}}, want: ok},
		{name: "encoded query signed", set: enforce, req: req{uri: escaped, header: []string{"Date", date, "Content-MD5", "md5",
			"Proxy-Authorization", lineAuth("bob", "hmac-sha1", lineSig("GET "+escaped+" HTTP/1.1"))}}, want: ok},
		{name: "encoded path signed as sent", set: enforce, req: req{uri: "/request/some%20value/?name=foo&name=bar", header: []string{"Date", date, "Content-MD5", "md5",
			"Proxy-Authorization", lineAuth("bob", "hmac-sha1", lineSig("GET /request/some%20value/?name=foo&name=bar HTTP/1.1"))}}, want: ok},
		{name: "root path", set: enforce, req: req{uri: "/", header: []string{"Date", date, "Content-MD5", "md5",
			"Proxy-Authorization", lineAuth("bob", "hmac-sha1", lineSig("GET / HTTP/1.1"))}}, want: ok},
		{name: "hmac-sha384", set: enforce, req: req{header: []string{"Date", date, "Content-MD5", "md5",
			"Proxy-Authorization", lineAuth("bob", "hmac-sha384", sigOf(hmacSHA384, "date: "+date+"\ncontent-md5: md5\nGET /request HTTP/1.1"))}}, want: ok},
		{name: "hmac-sha512", set: enforce, req: req{header: []string{"Date", date, "Content-MD5", "md5",
			"Proxy-Authorization", lineAuth("bob", "hmac-sha512", sigOf(hmacSHA512, "date: "+date+"\ncontent-md5: md5\nGET /request HTTP/1.1"))}}, want: ok},
		{name: "hmac-sha512 not among the algorithms", set: two, req: req{header: []string{"Date", date, "Content-MD5", "md5",
			"Proxy-Authorization", lineAuth("bob", "hmac-sha512", sigOf(hmacSHA512, "date: "+date+"\ncontent-md5: md5\nGET /request HTTP/1.1"))}}, want: fail(msgNotValid, plain)},
		{name: "hmac-sha1 among the algorithms", set: two, req: req{header: []string{"Date", date, "Content-MD5", "md5",
			"Proxy-Authorization", lineAuth("bob", "hmac-sha1", lineSig("GET /request HTTP/1.1"))}}, want: ok},

		// hide_credentials removes the header the parameters came from.
		{name: "hide Authorization", set: hide, req: req{header: []string{"Date", date, "Authorization", dateAuth}}, want: ok},
		{name: "hide Proxy-Authorization only", set: hide, req: req{header: []string{"Date", date, "Proxy-Authorization", dateAuth, "Authorization", "x"}}, want: withAuth(ok, "Authorization", "x")},
		{name: "oversized signing string", req: req{header: []string{"Date", date, "X-Big", strings.Repeat("b", 8000),
			"Authorization", authValue("bob", "hmac-sha1", strings.TrimSpace(strings.Repeat("x-big ", 10)), dateSig)}}, want: fail(msgNoMatch, plain)},
	}
	dir := newDirectory()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := mustBuild(t, tt.set)
			c := tt.req.ctx(dir)
			c.Credential = tt.credential
			got := run(t, in, c)
			if tt.want.Status != 200 {
				got.Identity, got.Auth, got.Body = nil, nil, ""
			} else if tt.want.Identity == nil || tt.want.Auth == nil {
				// Cases that do not say leave those out.
				if tt.want.Identity == nil {
					got.Identity = nil
				}
				if tt.want.Auth == nil && !strings.HasPrefix(tt.name, "hide") {
					got.Auth = nil
				}
			}
			if tt.want.Body == "" {
				got.Body = ""
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}

// The upstream sees Kong's identity headers with the credential's
// username, and client-sent copies of them are replaced.
func TestIdentityHeaders(t *testing.T) {
	in := mustBuild(t, nil)
	c := req{header: []string{"Date", date, "Authorization", authValue("bob", "hmac-sha1", "date", sha1Sig("date: "+date)),
		"X-Anonymous-Consumer", "true"}}.ctx(newDirectory())
	o := run(t, in, c)
	if diff := cmp.Diff(bobIdentity, o.Identity); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if c.Consumer != bob || c.Credential != "cred-bob" {
		t.Fatalf("consumer %v credential %q", c.Consumer, c.Credential)
	}
}
