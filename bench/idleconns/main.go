// Command idleconns measures what idle keep-alive client connections cost a
// gateway in memory.
//
// It opens -n TCP connections to -addr (loopback only), at most -c at a
// time, and on each sends one "GET <path> HTTP/1.1" with a Host header and
// reads the whole answer, so that every connection has served one request
// and sits idle in keep-alive. With -tls each connection first does a TLS
// handshake (crypto/tls, no ALPN so HTTP/1.1, the certificate not
// verified, the server name -host's host or "localhost"). It then waits
// -settle, reads the resident memory of the gateway process -pid from
// /proc/<pid>/status, checks that the gateway kept every connection open,
// and closes them all. With -n 0 it only waits and reads (the idle
// gateway's baseline). The result is one line on stdout:
//
//	RESULT conns=... open_ms=... settle_s=... vmrss_kb=... vmhwm_kb=...
//	rssanon_kb=... rssfile_kb=... threads=... still_open=...
//
// vmrss and vmhwm are the gateway's resident set and its peak (VmRSS,
// VmHWM); rssanon is its anonymous part (Go heap, goroutine stacks,
// runtime metadata), rssfile its mapped files (mostly the binary's text).
//
// Every step is bounded: each connection's dial, handshake, request and
// answer by -timeout, the whole run by -max. It fails (exit 1) when it
// cannot raise its own RLIMIT_NOFILE to hold -n connections, when any
// connection fails or is answered with anything but 2xx keep-alive, when
// the gateway closed any of them while idle, or when the run exceeds -max.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/turnpikegw/turnpike/bench/internal/loopback"
)

// fdSlack is the descriptors needed beside the connections (stdio, the
// runtime's poller, /proc files, dials in progress).
const fdSlack = 64

func main() {
	addr := flag.String("addr", "127.0.0.1:18501", "gateway address (loopback)")
	pid := flag.Int("pid", 0, "gateway process id, whose memory is read")
	n := flag.Int("n", 10000, "connections to open and hold idle (0: only read the memory)")
	path := flag.String("path", "/hello", "path of the one request sent on each connection")
	host := flag.String("host", "", "Host header (default: -addr)")
	conc := flag.Int("c", 64, "connections being opened at once")
	timeout := flag.Duration("timeout", 10*time.Second, "limit on each connection's dial, request and answer")
	settle := flag.Duration("settle", 5*time.Second, "idle wait after the last connection is open, before reading the memory")
	maxDur := flag.Duration("max", 3*time.Minute, "hard limit on the whole run")
	useTLS := flag.Bool("tls", false, "TLS on each connection (certificate not verified; server name from -host, or localhost)")
	flag.Parse()

	if !loopback.HostPort(*addr) {
		fail(2, "-addr must be a loopback host:port, got %q", *addr)
	}
	if *pid <= 0 || *n < 0 || *conc <= 0 || *timeout <= 0 || *settle < 0 || *maxDur <= 0 {
		fail(2, "-pid and -c must be positive, -n and -settle not negative, -timeout and -max positive")
	}
	if !strings.HasPrefix(*path, "/") {
		fail(2, "-path must start with /, got %q", *path)
	}
	var tlsConf *tls.Config
	if *useTLS {
		name := "localhost"
		if *host != "" {
			var err error
			if name, _, err = net.SplitHostPort(*host); err != nil {
				name = *host
			}
		}
		// Loopback only, against a throwaway certificate.
		tlsConf = &tls.Config{ServerName: name, InsecureSkipVerify: true}
	}
	if *host == "" {
		*host = *addr
	}
	if _, err := readStatus(*pid); err != nil {
		fail(1, "gateway pid %d: %v", *pid, err)
	}
	if err := raiseNoFile(uint64(*n) + uint64(*conc) + fdSlack); err != nil {
		fail(1, "%v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), *maxDur)
	defer cancel()
	req := []byte("GET " + *path + " HTTP/1.1\r\nHost: " + *host + "\r\nUser-Agent: turnpike-idleconns\r\n\r\n")

	t0 := time.Now()
	conns, err := open(ctx, *addr, tlsConf, req, *n, *conc, *timeout)
	if err != nil {
		fail(1, "%v", err) // exiting closes the connections
	}
	defer closeAll(conns)
	openMS := time.Since(t0).Milliseconds()

	select {
	case <-time.After(*settle):
	case <-ctx.Done():
		fail(1, "run exceeded -max %v while settling", *maxDur)
	}
	st, err := readStatus(*pid)
	if err != nil {
		fail(1, "gateway pid %d: %v", *pid, err)
	}
	alive := 0
	for _, c := range conns {
		if stillOpen(c) {
			alive++
		}
	}
	fmt.Printf("RESULT conns=%d open_ms=%d settle_s=%g vmrss_kb=%d vmhwm_kb=%d rssanon_kb=%d rssfile_kb=%d threads=%d still_open=%d\n",
		len(conns), openMS, settle.Seconds(), st["VmRSS"], st["VmHWM"], st["RssAnon"], st["RssFile"], st["Threads"], alive)
	if alive != len(conns) {
		fail(1, "the gateway closed %d of %d connections while they were idle", len(conns)-alive, len(conns))
	}
}

// open opens n connections with at most conc in progress at once, each
// having sent req and read its whole answer, over TLS with tlsConf set. On
// error it returns the connections opened so far with the first error.
func open(ctx context.Context, addr string, tlsConf *tls.Config, req []byte, n, conc int, timeout time.Duration) ([]net.Conn, error) {
	conns := make([]net.Conn, n)
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range min(conc, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One reader per worker, reset for each connection: the client
			// holds no buffer for an idle connection.
			br := bufio.NewReaderSize(nil, 4<<10)
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				c, err := request(ctx, addr, tlsConf, req, br, timeout)
				if c != nil {
					conns[i] = c
				}
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("connection %d: %w", i, err)
					}
					mu.Unlock()
					next.Store(int64(n)) // stop the other workers
					return
				}
			}
		}()
	}
	wg.Wait()
	opened := conns[:0]
	for _, c := range conns {
		if c != nil {
			opened = append(opened, c)
		}
	}
	if first == nil && ctx.Err() != nil {
		first = fmt.Errorf("run exceeded -max while opening (%d of %d open)", len(opened), n)
	}
	return opened, first
}

// request dials addr, with tlsConf set does the TLS handshake, writes req
// and reads the whole answer through br. The connection is returned, open,
// whenever it was established.
func request(ctx context.Context, addr string, tlsConf *tls.Config, req []byte, br *bufio.Reader, timeout time.Duration) (net.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	nc, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	// An abortive close (RST) at the end leaves no TIME_WAIT behind, so
	// that runs in a row do not exhaust the loopback's ephemeral ports.
	if err := nc.(*net.TCPConn).SetLinger(0); err != nil {
		return nc, err
	}
	if err := nc.SetDeadline(time.Now().Add(timeout)); err != nil {
		return nc, err
	}
	c := nc
	if tlsConf != nil {
		tc := tls.Client(nc, tlsConf)
		if err := tc.HandshakeContext(dctx); err != nil {
			return nc, fmt.Errorf("TLS handshake: %w", err)
		}
		c = tc
	}
	if _, err := c.Write(req); err != nil {
		return c, err
	}
	br.Reset(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return c, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	switch {
	case err != nil:
		return c, fmt.Errorf("reading the body: %w", err)
	case resp.StatusCode/100 != 2:
		return c, fmt.Errorf("answered %s", resp.Status)
	case resp.Close:
		return c, errors.New("the gateway closes the connection after the answer (no keep-alive)")
	case br.Buffered() > 0:
		return c, fmt.Errorf("%d bytes after the answer", br.Buffered())
	}
	return c, c.SetDeadline(time.Time{})
}

// stillOpen says whether the peer has not closed c: a peek that does not
// block finds nothing to read (EAGAIN) on its socket, neither data nor end
// of stream. On a TLS connection the socket is the one under the TLS
// layer: a gateway closing one sends its close_notify alert before the
// end of stream, and an idle one sends nothing else (the TLS 1.3 session
// tickets came before the answer and were read with it), so any byte
// there counts as closed.
func stillOpen(c net.Conn) bool {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	tcp, ok := c.(*net.TCPConn)
	if !ok {
		return false
	}
	rc, err := tcp.SyscallConn()
	if err != nil {
		return false
	}
	var b [1]byte
	var rerr error
	if err := rc.Read(func(fd uintptr) bool {
		_, _, rerr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true
	}); err != nil {
		return false
	}
	return errors.Is(rerr, syscall.EAGAIN)
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		c.Close()
	}
}

// raiseNoFile raises the soft RLIMIT_NOFILE to at least want (Go already
// raised it to the hard limit at start; this fails when that is too low).
func raiseNoFile(want uint64) error {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return fmt.Errorf("getrlimit(RLIMIT_NOFILE): %w", err)
	}
	if rl.Cur >= want {
		return nil
	}
	raised := syscall.Rlimit{Cur: want, Max: max(rl.Max, want)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
		return fmt.Errorf("cannot raise RLIMIT_NOFILE to %d (soft %d, hard %d): %w; raise the hard limit (ulimit -Hn) or lower -n",
			want, rl.Cur, rl.Max, err)
	}
	return nil
}

// readStatus returns the kB figures and the thread count of
// /proc/<pid>/status.
func readStatus(pid int) (map[string]int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return nil, err
	}
	st := make(map[string]int64)
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		if x, err := strconv.ParseInt(f[0], 10, 64); err == nil {
			st[k] = x
		}
	}
	for _, k := range []string{"VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"} {
		if _, ok := st[k]; !ok {
			return nil, fmt.Errorf("no %s in /proc/%d/status (has it exited?)", k, pid)
		}
	}
	return st, nil
}

func fail(code int, format string, a ...any) {
	fmt.Fprintf(os.Stderr, "idleconns: "+format+"\n", a...)
	os.Exit(code)
}
