// Command backend is the origin server of the Turnpike load benchmark.
//
// It serves two endpoints with precomputed bodies and headers so that it
// spends as little CPU per request as possible:
//
//	/hello  13-byte text body "Hello, World!"
//	/json   1 KiB JSON document
//	/json10k  10 KiB JSON document of varied records (a product list):
//	        the compression targets' body, compressing about as real API
//	        answers do, not as a repeated pattern would
//
// and two sinks that read a POSTed body and answer 200 with none, the
// collectors of the log and tracing plugins' benchmarks:
//
//	POST /log        an http-log endpoint
//	POST /v1/traces  an OTLP/HTTP trace receiver
//
// Anything else answers 404. It listens on loopback only.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// jsonBody builds a JSON document of exactly size bytes.
func jsonBody(size int) []byte {
	var b strings.Builder
	b.WriteString(`{"items":[`)
	for i := 0; ; i++ {
		item := fmt.Sprintf(`{"id":%d,"name":"item-%04d","ok":true}`, i, i)
		// Leave room for the separator, the item and the closing `],"pad":""}`.
		if b.Len()+1+len(item)+len(`],"pad":""}`) > size {
			break
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(item)
	}
	b.WriteString(`],"pad":"`)
	b.WriteString(strings.Repeat("x", size-b.Len()-len(`"}`)))
	b.WriteString(`"}`)
	return []byte(b.String())
}

// catalogBody builds a JSON product list of exactly size bytes. The
// values come from a fixed linear congruential sequence: the same bytes
// every run, varied enough to compress like a real answer (about 4:1 with
// gzip), not like jsonBody's numbered pattern.
func catalogBody(size int) []byte {
	var b strings.Builder
	b.WriteString(`{"products":[`)
	words := []string{"steel", "oak", "linen", "basic", "pro", "mini", "travel", "garden", "kitchen", "office"}
	x := uint32(12345)
	next := func(n uint32) uint32 { x = x*1103515245 + 12345; return (x >> 8) % n }
	for i := 0; ; i++ {
		item := fmt.Sprintf(`{"id":%d,"sku":"%c%c-%05d","name":"%s %s %d","price":%d.%02d,"stock":%d,"rating":%d.%d}`,
			100000+next(900000), 'A'+rune(next(26)), 'A'+rune(next(26)), next(100000),
			words[next(10)], words[next(10)], next(1000), next(500), next(100), next(250), 1+next(4), next(10))
		if b.Len()+1+len(item)+len(`],"pad":""}`) > size {
			break
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(item)
	}
	b.WriteString(`],"pad":"`)
	b.WriteString(strings.Repeat(" ", size-b.Len()-len(`"}`)))
	b.WriteString(`"}`)
	return []byte(b.String())
}

type static struct {
	ctype []string
	clen  []string
	body  []byte
}

func newStatic(ctype string, body []byte) *static {
	return &static{ctype: []string{ctype}, clen: []string{strconv.Itoa(len(body))}, body: body}
}

func (s *static) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h["Content-Type"] = s.ctype
	h["Content-Length"] = s.clen
	_, _ = w.Write(s.body)
}

// sinkBufs are the sink's read buffers: large, so that a batch of log
// entries or spans is read in a few calls, not 8 KiB at a time (io.Discard's
// size), and the collector takes little of the CPU it shares with the
// load generator.
var sinkBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// sink reads the body and answers 200 with an empty body.
func sink(w http.ResponseWriter, r *http.Request) {
	bp := sinkBufs.Get().(*[]byte)
	for {
		if _, err := r.Body.Read(*bp); err != nil {
			break
		}
	}
	sinkBufs.Put(bp)
	w.Header()["Content-Length"] = []string{"0"}
	w.WriteHeader(http.StatusOK)
}

// introspection is an RFC 7662 answer for every token: the oauth2 route
// checks its bench token here once, then from its cache.
var introspection = []byte(`{"active":true,"sub":"bench","client_id":"bench","scope":"read"}`)

func introspect(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, io.LimitReader(r.Body, 64<<10))
	w.Header()["Content-Type"] = []string{"application/json"}
	w.Write(introspection)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:18100", "listen address (loopback)")
	flag.Parse()

	host, _, err := net.SplitHostPort(*addr)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		log.Fatalf("backend: -addr must be a loopback address, got %q", *addr)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /hello", newStatic("text/plain; charset=utf-8", []byte("Hello, World!")))
	mux.Handle("GET /json", newStatic("application/json", jsonBody(1024)))
	mux.Handle("GET /json10k", newStatic("application/json", catalogBody(10240)))
	// The three /json answers of plugins.sh's aggregate route in one, for
	// its single3k route: one proxied request of the same total size.
	mux.Handle("GET /json3k/", newStatic("application/json", jsonBody(3072)))
	mux.HandleFunc("POST /log", sink)
	mux.HandleFunc("POST /v1/traces", sink)
	mux.HandleFunc("POST /introspect", introspect)

	srv := &http.Server{
		Addr:              *addr,
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	log.Printf("backend: listening on %s", *addr)
	log.Fatal(srv.ListenAndServe())
}
