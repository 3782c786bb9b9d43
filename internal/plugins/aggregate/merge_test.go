package aggregate

import (
	"net/http"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

func TestMerge(t *testing.T) {
	user := `{"id":"u1","name":"Ann","address":{"city":"Oslo","street":"S 1","geo":{"lat":1,"lon":2}},"secret":"x"}`
	orders := `[{"id":1,"total":9.5,"items":[{"sku":"a","price":1}]},{"id":2,"total":3,"note":"n"}]`
	wrapped := `{"data":{"number":"N-9","owner":"u1"},"meta":{}}`
	tests := []struct {
		name  string
		body  string
		calls []Call // URLs are filled in
		want  string
	}{
		{"group", user, []Call{{Group: ptr("user")}},
			`{"user":` + user + `}`},
		{"top level", user, []Call{{}}, user},
		{"allow dot paths", user, []Call{{Group: ptr("u"), Allow: []string{"id", "address.city", "address.geo.lat", "nope.x"}}},
			`{"u":{"id":"u1","address":{"city":"Oslo","geo":{"lat":1}}}}`},
		{"allow whole wins over a path under it", user, []Call{{Group: ptr("u"), Allow: []string{"address.city", "address"}}},
			`{"u":{"address":{"city":"Oslo","street":"S 1","geo":{"lat":1,"lon":2}}}}`},
		{"allow a path under a scalar", user, []Call{{Group: ptr("u"), Allow: []string{"name.first", "id"}}},
			`{"u":{"id":"u1"}}`},
		{"deny dot paths", user, []Call{{Group: ptr("u"), Deny: []string{"secret", "address.geo.lon", "address.street"}}},
			`{"u":{"id":"u1","name":"Ann","address":{"city":"Oslo","geo":{"lat":1}}}}`},
		{"arrays are transparent", orders, []Call{{Group: ptr("orders"), Allow: []string{"id", "items.sku"}}},
			`{"orders":[{"id":1,"items":[{"sku":"a"}]},{"id":2}]}`},
		{"an array without a group goes under the name", orders, []Call{{Allow: []string{"id"}}},
			`{"c0":[{"id":1},{"id":2}]}`},
		{"collection at the top", orders, []Call{{Collection: "items", Deny: []string{"items", "note"}}},
			`{"items":[{"id":1,"total":9.5},{"id":2,"total":3}]}`},
		{"collection in a group", orders, []Call{{Collection: "list", Group: ptr("orders"), Allow: []string{"total"}}},
			`{"orders":{"list":[{"total":9.5},{"total":3}]}}`},
		{"target and mapping", wrapped, []Call{{Group: ptr("account"), Target: "data", Mapping: map[string]string{"number": "acct_no"}}},
			`{"account":{"acct_no":"N-9","owner":"u1"}}`},
		{"mapping at the top", user, []Call{{Allow: []string{"id", "name"}, Mapping: map[string]string{"name": "full_name"}}},
			`{"id":"u1","full_name":"Ann"}`},
		{"mapping renames only top-level fields", `{"a":{"a":1}}`, []Call{{Group: ptr("g"), Mapping: map[string]string{"a": "b"}}},
			`{"g":{"b":{"a":1}}}`},
		{"scalar under the name", `"hello"`, []Call{{}}, `{"c0":"hello"}`},
		{"two at the top: the first listed wins", `{"id":1,"k1":true}`, []Call{{}, {Mapping: map[string]string{"k1": "k2"}}},
			`{"id":1,"k1":true,"k2":true}`},
		{"a group wins over a later top-level key", `{"g":1,"x":2}`, []Call{{Group: ptr("g")}, {}},
			`{"g":{"g":1,"x":2},"x":2}`},
		{"escaped keys", `{"a\u0062":1,"c":2}`, []Call{{Group: ptr("g"), Allow: []string{"ab"}}, {Deny: []string{"c"}}},
			`{"g":{"a\u0062":1},"ab":1}`},
		{"escaped key mapped in a group", `{"n\u0061me":"Ann"}`, []Call{{Group: ptr("g"), Mapping: map[string]string{"name": "full_name"}}},
			`{"g":{"full_name":"Ann"}}`},
		{"escaped key mapped at the top", `{"n\u0061me":"Ann"}`, []Call{{Mapping: map[string]string{"name": "full_name"}}},
			`{"full_name":"Ann"}`},
		{"white space kept in values", "{ \"a\" : [ 1 , 2 ] }", []Call{{Group: ptr("g"), Allow: []string{"a"}}},
			`{"g":{"a":[ 1 , 2 ]}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := jsonServer(t, tt.body)
			for i := range tt.calls {
				tt.calls[i].Name = "c" + string(rune('0'+i))
				tt.calls[i].URL = srv.URL + "/"
			}
			e := aggregate(t, build(t, plugin.Env{}, tt.calls...), request("/"))
			if got := string(e.Body); got != tt.want {
				t.Errorf("body\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// A failed call: left out when required is unset, null with required:
// false, the whole answer a 502 with required: true; the errors list
// names each failed call and why.
func TestPartialFailure(t *testing.T) {
	good := jsonServer(t, `{"id":1}`)
	down := server(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	html := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html>"))
	})
	tests := []struct {
		name   string
		calls  []Call
		status int
		want   string
	}{
		{"optional left out", []Call{
			{Name: "good", URL: good.URL + "/", Group: ptr("good")},
			{Name: "down", URL: down.URL + "/", Group: ptr("down")},
		}, 200, `{"good":{"id":1},"errors":[{"call":"down","reason":"answered 500"}]}`},
		{"required false is null", []Call{
			{Name: "good", URL: good.URL + "/", Group: ptr("good")},
			{Name: "down", URL: down.URL + "/", Group: ptr("d"), Required: ptr(false)},
			{Name: "page", URL: html.URL + "/", Required: ptr(false)},
		}, 200, `{"good":{"id":1},"d":null,"page":null,"errors":[{"call":"down","reason":"answered 500"},` +
			`{"call":"page","reason":"the answer is not JSON"}]}`},
		{"required fails the whole", []Call{
			{Name: "good", URL: good.URL + "/", Group: ptr("good")},
			{Name: "down", URL: down.URL + "/", Required: ptr(true)},
		}, 502, `{"errors":[{"call":"down","reason":"answered 500"}]}`},
		{"a dependant of a failed call is not sent", []Call{
			{Name: "down", URL: down.URL + "/"},
			{Name: "next", URL: good.URL + "/{resp.down.id}", After: []string{"down"}},
		}, 200, `{"errors":[{"call":"down","reason":"answered 500"},{"call":"next","reason":"after down, which failed"}]}`},
		{"a value missing from a dependency", []Call{
			{Name: "good", URL: good.URL + "/", Group: ptr("g")},
			{Name: "next", URL: good.URL + "/{resp.good.nope}", After: []string{"good"}},
		}, 200, `{"g":{"id":1},"errors":[{"call":"next","reason":"no string or number at nope in good's answer"}]}`},
		{"missing target", []Call{{Name: "good", URL: good.URL + "/", Target: "data.x"}},
			200, `{"errors":[{"call":"good","reason":"no data.x in the answer"}]}`},
		{"connection refused", []Call{{Name: "gone", URL: "http://127.0.0.1:1/"}},
			200, `{"errors":[{"call":"gone","reason":"connection failed"}]}`},
		{"a service without upstreams", []Call{{Name: "svc", Service: "users", Path: "/"}},
			200, `{"errors":[{"call":"svc","reason":"request failed"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := build(t, plugin.Env{ServiceIDs: services{"users": ""}}, tt.calls...)
			e := aggregate(t, in, request("/"))
			if e.Status != tt.status || string(e.Body) != tt.want {
				t.Errorf("%d %s\nwant %d %s", e.Status, e.Body, tt.status, tt.want)
			}
			if got := e.Header.Get("X-Turnpike-Completed"); got != "false" {
				t.Errorf("X-Turnpike-Completed %q", got)
			}
		})
	}
}

// What a backend sends cannot pass as JSON unless it is: a body over
// max_body, invalid JSON, nesting deeper than the bound, invalid UTF-8.
func TestBadAnswers(t *testing.T) {
	tests := []struct {
		name, ct, body string
		chunked        bool
		why            string
	}{
		{"not JSON type", "text/plain", `{}`, false, "the answer is not JSON"},
		{"no type", "", `{}`, false, "the answer is not JSON"},
		{"problem+json", "application/problem+json; charset=utf-8", `{}`, false, ""},
		{"invalid", "application/json", `{"a":}`, false, "the answer is not valid JSON"},
		{"trailing garbage", "application/json", `{} x`, false, "the answer is not valid JSON"},
		{"too deep", "application/json", strings.Repeat("[", 65) + strings.Repeat("]", 65), false, "the answer is not valid JSON"},
		{"deep enough", "application/json", strings.Repeat("[", 64) + strings.Repeat("]", 64), false, ""},
		{"invalid UTF-8", "application/json", "{\"a\":\"\xff\"}", false, "the answer is not valid JSON"},
		{"over max_body by length", "application/json", `{"a":"` + strings.Repeat("x", 300) + `"}`, false, "the answer is larger than max_body"},
		{"over max_body chunked", "application/json", `{"a":"` + strings.Repeat("x", 300) + `"}`, true, "the answer is larger than max_body"},
		{"at max_body", "application/json", `{"a":"` + strings.Repeat("x", 192) + `"}`, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := server(t, func(w http.ResponseWriter, r *http.Request) {
				if tt.ct != "" {
					w.Header().Set("Content-Type", tt.ct)
				}
				if tt.chunked {
					w.(http.Flusher).Flush()
				}
				_, _ = w.Write([]byte(tt.body))
			})
			cfg := &Config{}
			cfg.SetDefaults()
			cfg.MaxBody = 200
			cfg.Calls = []Call{{Name: "a", URL: srv.URL + "/", Group: ptr("a")}}
			e := aggregate(t, buildCfg(t, plugin.Env{}, cfg), request("/"))
			want := `{"a":` + tt.body + `}`
			if tt.why != "" {
				want = `{"errors":[{"call":"a","reason":"` + tt.why + `"}]}`
			}
			if string(e.Body) != want {
				t.Errorf("body %s\nwant %s", e.Body, want)
			}
		})
	}
}

// A redirect is a failed call, never followed.
func TestRedirectNotFollowed(t *testing.T) {
	target := &testingServer{body: `{}`}
	th := target.start(t)
	redirect := server(t, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, th.URL+"/", http.StatusFound) })
	e := aggregate(t, build(t, plugin.Env{}, Call{Name: "a", URL: redirect.URL + "/"}), request("/"))
	if string(e.Body) != `{"errors":[{"call":"a","reason":"answered 302"}]}` || len(th.uris()) != 0 {
		t.Errorf("body %s, redirect target saw %q", e.Body, th.uris())
	}
}
