package correlationid

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
)

func build(t testing.TB, src string) *instance {
	t.Helper()
	inst, err := newFrom(t, src)
	if err != nil {
		t.Fatal(err)
	}
	return inst.(*instance)
}

func newFrom(t testing.TB, src string) (plugin.Instance, error) {
	t.Helper()
	raw, err := config.ParseRaw([]byte(src), "config")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &Config{}
	if errs := raw.Decode(cfg); len(errs) > 0 {
		t.Fatal(errs)
	}
	return New(cfg, plugin.Env{})
}

func ctx(header ...string) *plugin.Ctx {
	req := httptest.NewRequest("GET", "http://example.com/", nil)
	req.RemoteAddr = "10.1.2.3:40123"
	req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey,
		&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8000}))
	for i := 0; i < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	return &plugin.Ctx{Req: req, StartedAt: time.UnixMilli(1765069323456), Resp: plugin.Response{Header: http.Header{}}}
}

var (
	uuidRE    = `[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}`
	reUUID    = regexp.MustCompile(`^` + uuidRE + `$`)
	reCounter = regexp.MustCompile(`^(` + uuidRE + `)#([0-9]+)$`)
)

func run(in *instance, c *plugin.Ctx) (upstream, downstream string) {
	in.Access(c)
	in.HeaderFilter(c)
	return c.Req.Header.Get("Kong-Request-ID"), c.Resp.Header.Get("Kong-Request-ID")
}

func TestDefaultsCounterIsPerInstanceUUIDAndSequence(t *testing.T) {
	in := build(t, "{}")
	var prefix string
	for i := 1; i <= 3; i++ {
		up, down := run(in, ctx())
		m := reCounter.FindStringSubmatch(up)
		if m == nil || m[2] != strconv.Itoa(i) || down != "" {
			t.Fatalf("request %d: upstream %q, downstream %q", i, up, down)
		}
		if prefix != "" && m[1] != prefix {
			t.Fatalf("uuid changed: %s then %s", prefix, m[1])
		}
		prefix = m[1]
	}
	if other, _ := run(build(t, "{}"), ctx()); reCounter.FindStringSubmatch(other)[1] == prefix {
		t.Error("two instances share a uuid")
	}
}

func TestClientIDKeptAndEchoed(t *testing.T) {
	in := build(t, "{echo_downstream: true, generator: uuid}")
	if up, down := run(in, ctx("kong-request-id", "client-1")); up != "client-1" || down != "client-1" {
		t.Errorf("upstream %q, downstream %q", up, down)
	}
	// An empty header is no id, as in Kong.
	up, down := run(in, ctx("Kong-Request-ID", ""))
	if !reUUID.MatchString(up) || down != up {
		t.Errorf("upstream %q, downstream %q", up, down)
	}
	// The client gets the id the upstream got even when a later plugin
	// changed the request header.
	c := ctx()
	in.Access(c)
	sent := c.Req.Header.Get("Kong-Request-ID")
	c.Req.Header.Set("Kong-Request-ID", "rewritten")
	in.HeaderFilter(c)
	if got := c.Resp.Header.Get("Kong-Request-ID"); got != sent {
		t.Errorf("echoed %q, upstream got %q", got, sent)
	}
	// A response made before the access phase ran still gets an id.
	c = ctx()
	in.HeaderFilter(c)
	if !reUUID.MatchString(c.Resp.Header.Get("Kong-Request-ID")) {
		t.Errorf("no id on a response the access phase did not see: %v", c.Resp.Header)
	}
}

func TestCustomHeaderAndUnderscoreSpelling(t *testing.T) {
	in := build(t, "{header_name: X_Corr, echo_downstream: true}")
	c := ctx("X-Corr", "from-client")
	in.Access(c)
	in.HeaderFilter(c)
	if got := c.Resp.Header["X_corr"]; !cmp.Equal(got, []string{"from-client"}) {
		t.Errorf("echoed %v", c.Resp.Header)
	}
}

// Kong's schema takes any string as header_name: any name HTTP can
// carry works here.
func TestHeaderNamesKongAccepts(t *testing.T) {
	for _, name := range []string{"X.Request.Id", "X-Req~ID", "x-b3-id!"} {
		in := build(t, "{header_name: '"+name+"', echo_downstream: true}")
		c := ctx(name, "from-client")
		in.Access(c)
		in.HeaderFilter(c)
		if got := c.Resp.Header.Get(name); got != "from-client" {
			t.Errorf("header_name %q: echoed %v", name, c.Resp.Header)
		}
	}
}

// The id goes into the log object as correlation_id, as Kong's
// kong.log.set_serialize_value does: the client's, or the one made.
func TestIDInLogObject(t *testing.T) {
	in := build(t, "{}")
	c := ctx("Kong-Request-ID", "client-1")
	in.Access(c)
	if got := c.LogValues(); !cmp.Equal(got, []plugin.LogValue{{Key: "correlation_id", Value: "client-1"}}) {
		t.Errorf("log values %v", got)
	}
	c = ctx()
	in.Access(c)
	if got := c.LogValues(); len(got) != 1 || got[0].Value != c.Req.Header.Get("Kong-Request-ID") || !reCounter.MatchString(got[0].Value) {
		t.Errorf("log values %v, upstream header %q", got, c.Req.Header.Get("Kong-Request-ID"))
	}
}

func TestTracker(t *testing.T) {
	in := build(t, "{generator: tracker}")
	up1, _ := run(in, ctx())
	up2, _ := run(in, ctx())
	pid := strconv.Itoa(os.Getpid())
	if want := "127.0.0.1-8000-" + pid + "-40123-1-1765069323.456"; up1 != want {
		t.Errorf("got %q, want %q", up1, want)
	}
	if up2 == up1 {
		t.Error("two requests in one millisecond got the same tracker id")
	}
}

func TestConfigErrors(t *testing.T) {
	_, err := newFrom(t, "{generator: uuid4, header_name: 'a b'}")
	want := plugin.Errors{
		{Path: "header_name", Message: "bad header name 'a b': expected an HTTP header name (letters, digits and !#$%&'*+-.^_`|~)"},
		{Path: "generator", Message: "expected one of: uuid, uuid#counter, tracker"},
	}
	if d := cmp.Diff(want, err); d != "" {
		t.Error(d)
	}
}

func BenchmarkAccess(b *testing.B) {
	for _, gen := range []string{"uuid#counter", "uuid", "tracker"} {
		b.Run(gen, func(b *testing.B) {
			in := build(b, "{generator: '"+gen+"'}")
			c := ctx()
			b.ReportAllocs()
			for b.Loop() {
				delete(c.Req.Header, "Kong-Request-Id")
				in.Access(c)
			}
		})
	}
}
