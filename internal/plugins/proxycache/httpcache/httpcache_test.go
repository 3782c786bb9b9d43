package httpcache

import (
	"bytes"
	"net/http"
	"reflect"
	"testing"
	"time"
)

func TestParseCacheControl(t *testing.T) {
	base := ParseCacheControl(nil)
	with := func(f func(d *Directives)) Directives { d := base; f(&d); return d }
	cases := []struct {
		in   []string
		want Directives
	}{
		{[]string{"max-age=60"}, with(func(d *Directives) { d.MaxAge = 60 })},
		{[]string{"Max-Age=60, S-MAXAGE=30"}, with(func(d *Directives) { d.MaxAge, d.SMaxAge = 60, 30 })},
		{[]string{`max-age="60"`}, with(func(d *Directives) { d.MaxAge = 60 })},
		{[]string{"max-age=60", "max-age=60"}, with(func(d *Directives) { d.MaxAge = 60 })},
		{[]string{"max-age=60, max-age=10"}, with(func(d *Directives) { d.MaxAge = 0 })},
		{[]string{"max-age=abc"}, with(func(d *Directives) { d.MaxAge = 0 })},
		{[]string{"max-age"}, with(func(d *Directives) { d.MaxAge = 0 })},
		{[]string{"max-age=99999999999999999999"}, with(func(d *Directives) { d.MaxAge = maxDelta })},
		{[]string{"no-cache, no-store , private, public"}, with(func(d *Directives) {
			d.NoCache, d.NoStore, d.Private = true, true, true
		})},
		{[]string{`no-cache="Set-Cookie, X-A", max-age=5`}, with(func(d *Directives) { d.NoCache, d.MaxAge = true, 5 })},
		{[]string{`private="a\"b", max-age=7`}, with(func(d *Directives) { d.Private, d.MaxAge = true, 7 })},
		{[]string{"max-stale"}, with(func(d *Directives) { d.MaxStaleAny = true })},
		{[]string{"max-stale=30, min-fresh=5"}, with(func(d *Directives) { d.MaxStale, d.MinFresh = 30, 5 })},
		{[]string{"min-fresh=5, min-fresh=9"}, with(func(d *Directives) { d.MinFresh = 5 })},
		{[]string{"only-if-cached, must-revalidate, proxy-revalidate"}, with(func(d *Directives) {
			d.OnlyIfCached, d.MustRevalidate, d.ProxyRevalidate = true, true, true
		})},
		{[]string{"stale-while-revalidate=10,stale-if-error=20"}, with(func(d *Directives) {
			d.StaleWhileRevalidate, d.StaleIfError = 10, 20
		})},
		{[]string{",,, ;junk=, =3, max-age=4,"}, with(func(d *Directives) { d.MaxAge = 4 })},
		{[]string{`max-age="unterminated`}, with(func(d *Directives) { d.MaxAge = 0 })},
		{[]string{"max-age=-1"}, with(func(d *Directives) { d.MaxAge = 0 })},
		{[]string{"\tmax-age = 8 "}, with(func(d *Directives) { d.MaxAge = 8 })},
	}
	for _, c := range cases {
		if got := ParseCacheControl(c.in); got != c.want {
			t.Errorf("%q:\n got %+v\nwant %+v", c.in, got, c.want)
		}
	}
	if base.MaxAge != Absent || base.MaxStale != Absent || base.NoCache {
		t.Fatalf("empty: %+v", base)
	}
}

func TestLifetime(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	def := 300 * time.Second
	date := now.Add(-10 * time.Second).Format(http.TimeFormat)
	cases := []struct {
		cc   string
		h    http.Header
		want time.Duration
	}{
		{"s-maxage=5, max-age=50", nil, 5 * time.Second},
		{"max-age=50", http.Header{"Expires": {now.Add(time.Hour).Format(http.TimeFormat)}}, 50 * time.Second},
		{"", http.Header{"Expires": {now.Add(time.Minute).Format(http.TimeFormat)}}, time.Minute},
		{"", http.Header{"Expires": {now.Add(time.Minute).Format(http.TimeFormat)}, "Date": {date}}, 70 * time.Second},
		{"", http.Header{"Expires": {"0"}}, 0},
		{"", http.Header{"Expires": {now.Add(-time.Minute).Format(http.TimeFormat)}}, 0},
		{"", nil, def},
		{"public", http.Header{}, def},
	}
	for _, c := range cases {
		if got := Lifetime(ParseCacheControl([]string{c.cc}), c.h, now, def); got != c.want {
			t.Errorf("%q %v: got %v, want %v", c.cc, c.h, got, c.want)
		}
	}
}

func sample() *Response {
	return &Response{
		Status: 200,
		Header: http.Header{
			"Content-Type":      {"application/json"},
			"X-Multi":           {"a", "b"},
			"Empty":             {""},
			"Connection":        {"close, X-Hop"},
			"X-Hop":             {"gone"},
			"Transfer-Encoding": {"chunked"},
			"Content-Length":    {"11"},
		},
		Body:     []byte("hello world"),
		StoredMs: 1_700_000_000_123,
		Fresh:    60, SWR: 5, SIE: 7,
		Vary:    []string{"Accept-Encoding", "X-Absent"},
		Request: http.Header{"Accept-Encoding": {"gzip", "br"}},
	}
}

func TestEntryRoundTrip(t *testing.T) {
	b, err := Encode(nil, sample())
	if err != nil {
		t.Fatal(err)
	}
	var e Entry
	if err := Decode(b, &e); err != nil {
		t.Fatal(err)
	}
	if e.Status != 200 || e.StoredMs != 1_700_000_000_123 || e.Fresh != 60 || e.SWR != 5 || e.SIE != 7 {
		t.Fatalf("fixed fields: %+v", e)
	}
	if string(e.Body) != "hello world" || &e.Body[0] != &b[len(b)-11] {
		t.Fatalf("body %q is not the entry's bytes", e.Body)
	}
	want := http.Header{"Content-Type": {"application/json"}, "X-Multi": {"a", "b"}, "Empty": {""}}
	if got, _ := e.Header(0); !reflect.DeepEqual(got, want) {
		t.Fatalf("header %v, want %v", got, want)
	}
	if !e.VaryMatches(http.Header{"Accept-Encoding": {"gzip", "br"}}) ||
		!e.VaryMatches(http.Header{"Accept-Encoding": {"gzip, br"}}) {
		t.Fatal("same request values do not match")
	}
	for _, h := range []http.Header{{"Accept-Encoding": {"gzip"}}, {}, {"Accept-Encoding": {"gzip", "br"}, "X-Absent": {"1"}}} {
		if e.VaryMatches(h) {
			t.Fatalf("%v matches", h)
		}
	}
}

func TestDecodeRefusesCorruptEntries(t *testing.T) {
	b, _ := Encode(nil, sample())
	for n := range len(b) {
		var e Entry
		if Decode(b[:n], &e) == nil {
			t.Fatalf("truncated to %d bytes: decoded", n)
		}
	}
	var e Entry
	if Decode(append(bytes.Clone(b), 'x'), &e) == nil {
		t.Fatal("trailing byte: decoded")
	}
	bad := bytes.Clone(b)
	bad[2] = 9
	if Decode(bad, &e) == nil {
		t.Fatal("other version: decoded")
	}
	split, _ := Encode(nil, &Response{Status: 200, Header: http.Header{"X-A": {"ok"}}})
	i := bytes.Index(split, []byte("ok"))
	split[i] = '\n'
	if Decode(split, &e) == nil {
		t.Fatal("value with LF: decoded")
	}
	zero, _ := Encode(nil, &Response{Status: 0})
	if Decode(zero, &e) == nil {
		t.Fatal("status 0: decoded")
	}
}

func FuzzDecode(f *testing.F) {
	b, _ := Encode(nil, sample())
	f.Add(b)
	f.Add([]byte("TC\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var e Entry
		if Decode(b, &e) != nil {
			return
		}
		h, _ := e.Header(1)
		e.VaryMatches(h)
		e.EachHeader(func(string, string) {})
		if e.Status < 100 || e.Status > 999 {
			t.Fatalf("status %d", e.Status)
		}
	})
}

func BenchmarkDecodeHit(b *testing.B) {
	r := sample()
	r.Vary = []string{"Accept-Encoding"}
	enc, _ := Encode(nil, r)
	req := http.Header{"Accept-Encoding": {"gzip", "br"}}
	b.ReportAllocs()
	var e Entry
	for b.Loop() {
		if Decode(enc, &e) != nil || !e.VaryMatches(req) {
			b.Fatal("no hit")
		}
		_, _ = e.Header(3)
	}
}

func TestReceivedAge(t *testing.T) {
	for v, want := range map[string]time.Duration{
		"": 0, "0": 0, "7": 7 * time.Second, "-1": 0, "1.5": 0, " 3": 0, "99999999999999999999": maxDelta * time.Second,
	} {
		h := http.Header{}
		if v != "" {
			h["Age"] = []string{v}
		}
		if got := ReceivedAge(h); got != want {
			t.Errorf("Age %q: %v, want %v", v, got, want)
		}
	}
}
