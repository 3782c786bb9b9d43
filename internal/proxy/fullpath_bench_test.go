package proxy_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/observe"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/all"
	"github.com/turnpikegw/turnpike/internal/proxy"
	"github.com/turnpikegw/turnpike/internal/record"
	"github.com/turnpikegw/turnpike/internal/server"
	"github.com/turnpikegw/turnpike/internal/snapshot"
	"github.com/turnpikegw/turnpike/internal/store"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// fullPathConfig is bench/plugins.sh's gateway in small: a route without
// plugins and one with key-auth, local rate limiting (a limit no
// benchmark reaches) and prometheus with every metric on.
const fullPathConfig = `
_format_version: "3.0"
consumers:
- username: bench
  keyauth_credentials: [{key: bench-key}]
services:
- name: backend
  url: ${UP}
  routes:
  - {name: none, paths: [/hello]}
  - name: plugins
    paths: [/plugins]
    plugins:
    - {name: key-auth}
    - {name: rate-limiting, config: {hour: 1000000000, policy: local}}
    - {name: prometheus, config: {per_consumer: true, status_code_metrics: true, latency_metrics: true, bandwidth_metrics: true, upstream_health_metrics: true}}
`

var (
	headEnd         = []byte("\r\n\r\n")
	fullPathAnswer  = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!")
	fullPathNone    = []byte("GET /hello HTTP/1.1\r\nHost: bench\r\nUser-Agent: fullpath\r\nAccept: */*\r\n\r\n")
	fullPathPlugins = []byte("GET /plugins HTTP/1.1\r\nHost: bench\r\nUser-Agent: fullpath\r\nAccept: */*\r\nApikey: bench-key\r\n\r\n")
)

// rawUpstream is a loopback upstream that answers every request head it
// reads (requests without a body) with fullPathAnswer, allocating nothing
// per request. It returns its URL.
func rawUpstream(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	b.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { answerHeads(c) })
		}
	})
	return "http://" + ln.Addr().String()
}

// answerHeads writes fullPathAnswer for every request head read on c
// until c fails or sends a head larger than its buffer.
func answerHeads(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 16<<10)
	n := 0
	for {
		i := bytes.Index(buf[:n], headEnd)
		if i < 0 {
			if n == len(buf) {
				return
			}
			m, err := c.Read(buf[n:])
			if err != nil {
				return
			}
			n += m
			continue
		}
		n = copy(buf, buf[i+len(headEnd):n])
		if _, err := c.Write(fullPathAnswer); err != nil {
			return
		}
	}
}

// fullPathGateway starts the proxy listener, on the gateway's own HTTP/1
// server path or on net/http's, with the plugins as the gateway
// registers them and the core request metrics observing, as the gateway
// runs with --access-log off. It returns the listener's address.
func fullPathGateway(b *testing.B, own bool) string {
	up := rawUpstream(b)
	reg, err := plugin.NewRegistry(all.Registrations())
	if err != nil {
		b.Fatal(err)
	}
	m, err := config.Parse([]byte(fullPathConfig), config.Options{ExpandEnv: true, Credentials: snapshot.CredentialKinds(reg), LookupEnv: func(k string) (string, bool) {
		return up, k == "UP"
	}})
	if err != nil {
		b.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	metrics := observe.NewMetrics()
	pools := upstream.NewPools(upstream.DefaultPoolOptions)
	b.Cleanup(pools.Close)
	holder := &snapshot.Holder{}
	h := proxy.NewHandler(holder, proxy.Options{Metrics: metrics, Observers: []record.Observer{metrics.Requests}, Logger: logger, Version: "bench"})
	b.Cleanup(h.Close)
	snap, err := snapshot.Compile(m, snapshot.Deps{Registry: reg, Upstreams: upstream.NewRuntime(upstream.RuntimeParts{Pools: pools}),
		Env: plugin.Env{Logger: logger, Metrics: metrics.Registry, Store: store.NewProvider(), Upstreams: snapshot.Upstreams{Holder: holder, HTTP: h}}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { snapshot.Release(snap, nil) })
	holder.Store(snap)
	limits := server.DefaultLimits
	limits.OwnHTTP1 = own
	srv, err := server.New("proxy", []server.Listen{{Addr: "127.0.0.1:0"}}, h.Listener, limits, server.TLS{}, logger)
	if err != nil {
		b.Fatal(err)
	}
	srv.Serve()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			b.Error(err)
		}
	})
	return srv.Addrs()[0].String()
}

var (
	errNotOK      = errors.New("answer is not 200 OK")
	errNoLength   = errors.New("answer has no Content-Length")
	errTooLong    = errors.New("answer larger than the client's buffer")
	errExtraBytes = errors.New("bytes after the answer's body")
)

// fullPathClient sends one fixed request at a time on a kept-alive
// loopback connection and reads each answer into a fixed buffer,
// allocating nothing per request.
type fullPathClient struct {
	c   net.Conn
	req []byte
	buf []byte
}

func dialFullPath(b *testing.B, addr string, req []byte) *fullPathClient {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return &fullPathClient{c: c, req: req, buf: make([]byte, 4<<10)}
}

// do sends the request and reads the whole answer, within 10 seconds.
func (fc *fullPathClient) do() error {
	if err := fc.c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	if _, err := fc.c.Write(fc.req); err != nil {
		return err
	}
	n, want := 0, -1
	for want < 0 || n < want {
		if n == len(fc.buf) {
			return errTooLong
		}
		m, err := fc.c.Read(fc.buf[n:])
		if err != nil {
			return err
		}
		n += m
		if want >= 0 {
			continue
		}
		i := bytes.Index(fc.buf[:n], headEnd)
		if i < 0 {
			continue
		}
		head := fc.buf[:i]
		if !bytes.HasPrefix(head, fullPathAnswer[:len("HTTP/1.1 200 ")]) {
			return errNotOK
		}
		cl := contentLength(head)
		if cl < 0 {
			return errNoLength
		}
		want = i + len(headEnd) + cl
		if want > len(fc.buf) {
			return errTooLong
		}
	}
	if n != want {
		return errExtraBytes
	}
	return nil
}

// contentLength is the value of head's Content-Length field, -1 if it has
// none or a malformed one.
func contentLength(head []byte) int {
	const name = "content-length:"
	for line := range bytes.SplitSeq(head, []byte("\r\n")) {
		if len(line) < len(name) || !bytes.EqualFold(line[:len(name)], []byte(name)) {
			continue
		}
		v := bytes.TrimSpace(line[len(name):])
		if len(v) == 0 {
			return -1
		}
		n := 0
		for _, d := range v {
			if d < '0' || d > '9' || n > 1<<20 {
				return -1
			}
			n = n*10 + int(d-'0')
		}
		return n
	}
	return -1
}

// cpuTime is the CPU time the process has used, in nanoseconds, the
// client's and upstream's included as they run in process (case direct
// is their share).
func cpuTime(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

type fullPathCase struct {
	name string
	// start starts what the client sends to and returns its address.
	start func(*testing.B) string
	req   []byte
}

func ownServer(b *testing.B) string { return fullPathGateway(b, true) }
func netServer(b *testing.B) string { return fullPathGateway(b, false) }

// noGateway is the raw upstream alone: the client's and upstream's own
// cost, the floor under the other cases.
func noGateway(b *testing.B) string { return strings.TrimPrefix(rawUpstream(b), "http://") }

var fullPathCases = []fullPathCase{
	{"own/none", ownServer, fullPathNone},
	{"own/plugins", ownServer, fullPathPlugins},
	{"net/none", netServer, fullPathNone},
	{"net/plugins", netServer, fullPathPlugins},
	{"direct", noGateway, fullPathNone},
}

// BenchmarkFullPath drives whole requests in sequence, one kept-alive
// client connection, through the proxy listener's server, the router,
// the proxy and a pooled loopback upstream connection: own and net are
// the HTTP/1 server paths, none and plugins the routes of fullPathConfig;
// direct is the client on the upstream without the gateway.
// The client and upstream allocate nothing per request, so allocs/op is
// the gateway's; cpu-ns/op is the process's CPU per request, theirs
// included, steadier than ns/op on a shared machine.
func BenchmarkFullPath(b *testing.B) {
	for _, tc := range fullPathCases {
		b.Run(tc.name, func(b *testing.B) {
			fc := dialFullPath(b, tc.start(b), tc.req)
			for range 10 {
				if err := fc.do(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			cpu := cpuTime(b)
			for b.Loop() {
				if err := fc.do(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkFullPathParallel is BenchmarkFullPath with two client
// connections per CPU sending at once, dialled and warmed before the
// timer starts.
func BenchmarkFullPathParallel(b *testing.B) {
	const perCPU = 2
	for _, tc := range fullPathCases {
		b.Run(tc.name, func(b *testing.B) {
			addr := tc.start(b)
			clients := make(chan *fullPathClient, perCPU*runtime.GOMAXPROCS(0))
			var wg sync.WaitGroup
			for range cap(clients) {
				fc := dialFullPath(b, addr, tc.req)
				clients <- fc
				wg.Go(func() {
					for range 10 {
						if err := fc.do(); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			if b.Failed() {
				return
			}
			b.SetParallelism(perCPU)
			b.ReportAllocs()
			cpu := cpuTime(b)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				fc := <-clients
				for pb.Next() {
					if err := fc.do(); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}
