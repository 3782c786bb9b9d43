package aggregate

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// benchBody is a JSON object of about n bytes.
func benchBody(n int) string {
	var b strings.Builder
	b.WriteString(`{"id":"u1","items":[`)
	for i := 0; b.Len() < n-40; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"sku":"sku-` + strconv.Itoa(i) + `","price":12.5,"qty":3}`)
	}
	b.WriteString(`],"total":42}`)
	return b.String()
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds cpu-ns/op: the process's CPU (the backends' included,
// as they run in it) per operation, since the calls run in parallel and
// wall time would flatter the fan-out.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkAggregate: three loopback backends of 1 KiB each, merged
// under three groups.
func BenchmarkAggregate(b *testing.B) {
	body := benchBody(1024)
	var calls []Call
	for _, name := range []string{"user", "orders", "products"} {
		srv := jsonServer(b, body)
		calls = append(calls, Call{Name: name, URL: srv.URL + "/" + name + "/{captures.id}", Group: ptr(name)})
	}
	in := build(b, plugin.Env{}, calls...)
	c := request("/api/dashboard/u1")
	c.Captures = plugin.Captures{Positional: []string{"/api/dashboard/u1", "u1"}, Names: []string{"", "id"}}
	aggregate(b, in, c)
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime()
	for b.Loop() {
		c.Record.Attempts = c.Record.Attempts[:0]
		if err := in.Access(c); err.(*plugin.Exit).Status != 200 {
			b.Fatal(err)
		}
	}
	reportCPU(b, start)
}

// BenchmarkSingleCall is the yardstick: one request of the same total
// size (3 KiB) to one loopback backend, its body read whole, as a proxy
// forwards one.
func BenchmarkSingleCall(b *testing.B) {
	srv := jsonServer(b, benchBody(3*1024))
	client := &http.Client{}
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime()
	for b.Loop() {
		resp, err := client.Get(srv.URL + "/user/u1")
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	reportCPU(b, start)
}

// The yardstick is a proxied request: a client's request to the
// gateway and the gateway's to the upstream. The two benchmarks below put
// a loopback listener in front of each side, a handler running the
// aggregation or forwarding one request (as a minimal proxy), so both
// pay for the client's leg too.

// BenchmarkServedAggregate: a client's request answered by the
// aggregation of three 1 KiB backends.
func BenchmarkServedAggregate(b *testing.B) {
	body := benchBody(1024)
	var calls []Call
	for _, name := range []string{"user", "orders", "products"} {
		srv := jsonServer(b, body)
		calls = append(calls, Call{Name: name, URL: srv.URL + "/" + name + "/u1", Group: ptr(name)})
	}
	in := build(b, plugin.Env{}, calls...)
	front := server(b, func(w http.ResponseWriter, r *http.Request) {
		c := &plugin.Ctx{Req: r, StartedAt: time.Now()}
		e := in.Access(c).(*plugin.Exit)
		w.Header().Set("Content-Type", e.ContentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(e.Body)))
		w.WriteHeader(e.Status)
		_, _ = w.Write(e.Body)
	})
	served(b, front.URL)
}

// BenchmarkServedProxy: a client's request forwarded to one backend
// answering 3 KiB, the body streamed back.
func BenchmarkServedProxy(b *testing.B) {
	back := jsonServer(b, benchBody(3*1024))
	client := &http.Client{}
	front := server(b, func(w http.ResponseWriter, r *http.Request) {
		resp, err := client.Get(back.URL + r.URL.Path)
		if err != nil {
			w.WriteHeader(502)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.Header().Set("Content-Length", resp.Header.Get("Content-Length"))
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	})
	served(b, front.URL)
}

func served(b *testing.B, url string) {
	client := &http.Client{}
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime()
	for b.Loop() {
		resp, err := client.Get(url + "/api/dashboard/u1")
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.Status)
		}
	}
	reportCPU(b, start)
}

// BenchmarkMerge is the plugin's own work on three 1 KiB answers, the
// calls left out: checking each answer and writing the merged one (one
// with an allow list).
func BenchmarkMerge(b *testing.B) {
	body := []byte(benchBody(1024))
	in := build(b, plugin.Env{},
		Call{Name: "user", URL: "http://h/", Group: ptr("user")},
		Call{Name: "orders", URL: "http://h/", Group: ptr("orders"), Allow: []string{"id", "items.sku"}},
		Call{Name: "products", URL: "http://h/"})
	r := in.runs.Get().(*run)
	b.ReportAllocs()
	for b.Loop() {
		for i := range r.results {
			res := &r.results[i]
			res.body = append(res.body[:0], body...)
			var ok bool
			if res.start, res.end, ok = span(res.body); !ok {
				b.Fatal("invalid")
			}
		}
		if e := in.answer(r).(*plugin.Exit); e.Status != 200 {
			b.Fatal(e.Status)
		}
	}
}

// BenchmarkScalarAt reads a {resp...} value near the start of a 64 KiB
// answer: the cost should not grow with the rest of the answer.
func BenchmarkScalarAt(b *testing.B) {
	body := []byte(benchBody(64 << 10))
	path := []string{"id"}
	b.ReportAllocs()
	for b.Loop() {
		if v, ok := scalarAt(body, path); !ok || v != "u1" {
			b.Fatal(v, ok)
		}
	}
}

// BenchmarkValid and BenchmarkValidEncodingJSON check the bench body (1
// KiB, as BenchmarkMerge's answers) with our scanner and with
// encoding/json.Valid: the figure ARCHITECTURE's merging section quotes.
func BenchmarkValid(b *testing.B) {
	body := []byte(benchBody(1024))
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if !valid(body) {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkValidEncodingJSON(b *testing.B) {
	body := []byte(benchBody(1024))
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if !json.Valid(body) {
			b.Fatal("invalid")
		}
	}
}
