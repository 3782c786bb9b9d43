// Command sparse measures what a gateway spends on a request that comes
// after a pause: keep-alive clients that each send one request every
// -every, as browsers and mobile clients do, rather than a closed loop.
// With -every above Turnpike's probe (1 s) every request resumes a parked
// connection (docs/ARCHITECTURE.md, the own HTTP/1.1 server); below it,
// none does.
//
// It opens -n connections to -addr (loopback only), spreads their first
// requests over one -every, and on each sends "GET <path> HTTP/1.1" every
// -every for -for, reading each whole answer. The CPU time of the gateway
// process -pid (utime + stime from /proc/<pid>/stat, in the kernel's
// 100 Hz ticks) is read before and after. The result is one line on
// stdout:
//
//	RESULT conns=... every_ms=... requests=... cpu_ticks=... cpu_us_per_req=...
//
// It fails (exit 1) when a connection fails or an answer is not 2xx; every
// dial, request and answer is bounded by -timeout, the run by -for plus two
// -every (the spread start, the pause after the last request) and -timeout.
package main

import (
	"bufio"
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
	"time"

	"github.com/turnpikegw/turnpike/bench/internal/loopback"
)

// userHz is the unit of /proc/<pid>/stat's times (USER_HZ, 100 on Linux).
const userHz = 100

func main() {
	addr := flag.String("addr", "127.0.0.1:18501", "gateway address (loopback)")
	pid := flag.Int("pid", 0, "gateway process id, whose CPU time is read")
	n := flag.Int("n", 300, "connections")
	every := flag.Duration("every", 1500*time.Millisecond, "pause between a connection's requests")
	dur := flag.Duration("for", 10*time.Second, "how long the connections send")
	path := flag.String("path", "/hello", "path of the requests")
	timeout := flag.Duration("timeout", 10*time.Second, "limit on each dial, request and answer")
	flag.Parse()
	if !loopback.HostPort(*addr) {
		fail(2, "-addr must be a loopback host:port, got %q", *addr)
	}
	if *pid <= 0 || *n <= 0 || *every <= 0 || *dur <= 0 || *timeout <= 0 || *n > 100000 {
		fail(2, "-pid, -n (at most 100000), -every, -for and -timeout must be positive")
	}
	if !strings.HasPrefix(*path, "/") {
		fail(2, "-path must start with /, got %q", *path)
	}
	req := []byte("GET " + *path + " HTTP/1.1\r\nHost: " + *addr + "\r\nUser-Agent: turnpike-sparse\r\n\r\n")

	t0, err := cpuTicks(*pid)
	if err != nil {
		fail(1, "gateway pid %d: %v", *pid, err)
	}
	var requests atomic.Int64
	errs := make(chan error, *n)
	var wg sync.WaitGroup
	end := time.Now().Add(*dur)
	for i := range *n {
		start := time.Duration(i) * *every / time.Duration(*n)
		wg.Go(func() {
			if err := client(*addr, req, start, *every, end, *timeout, &requests); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		fail(1, "%v", err)
	}
	t1, err := cpuTicks(*pid)
	if err != nil {
		fail(1, "gateway pid %d: %v", *pid, err)
	}
	r := requests.Load()
	fmt.Printf("RESULT conns=%d every_ms=%d requests=%d cpu_ticks=%d cpu_us_per_req=%.1f\n",
		*n, every.Milliseconds(), r, t1-t0, float64(t1-t0)*1e6/userHz/float64(max(r, 1)))
}

// client sends req on one connection after start, then every pause until
// end.
func client(addr string, req []byte, start, pause time.Duration, end time.Time, timeout time.Duration, requests *atomic.Int64) error {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	br := bufio.NewReader(c)
	time.Sleep(start)
	for time.Now().Before(end) {
		c.SetDeadline(time.Now().Add(timeout))
		if _, err := c.Write(req); err != nil {
			return err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode/100 != 2 || resp.Close {
			return errors.New("answer " + resp.Status + " or not keep-alive")
		}
		requests.Add(1)
		time.Sleep(pause)
	}
	return nil
}

// cpuTicks is utime + stime of pid, in USER_HZ ticks.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which may hold spaces: state is
	// field 3, utime 14 and stime 15.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc stat line")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("unexpected /proc stat line")
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return u + s, nil
}

func fail(code int, format string, a ...any) {
	fmt.Fprintf(os.Stderr, "sparse: "+format+"\n", a...)
	os.Exit(code)
}
