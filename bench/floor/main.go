//go:build linux

// Command floor is bench/run.sh's calibration proxy: the least a Go process
// can do to relay a keep-alive GET to one backend and the answer back, so that
// a run shows how much of Turnpike's CPU per request any Go proxy would spend
// on the same machine, and how much is Turnpike's own.
//
// It is not a proxy. It understands a request head without a body, and an
// answer framed by Content-Length; each client connection gets its own
// backend connection, opened at its first request. Anything else (a body, a
// chunked answer, a head larger than its buffer, a write the socket cannot
// take at once) closes the client connection, which wrk reports as an
// error; an error of the listener or of the loop's epoll set ends it.
//
//	-mode goroutine  a goroutine per connection on Go's net package: the
//	                 model of Turnpike's server and of every Go HTTP server
//	-mode loop       one epoll loop on the calling goroutine, non-blocking
//	                 sockets and raw system calls: NGINX's model, no Go
//	                 netpoller, no goroutine switch, no scheduler per request
//
// Run it with GOMAXPROCS=1, as run.sh runs Turnpike: the goroutine mode
// then has the scheduler Turnpike has (the loop uses one goroutine either
// way).
package main

import (
	"bytes"
	"errors"
	"flag"
	"log"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"
)

const (
	reqBufSize  = 8 << 10
	respBufSize = 64 << 10
	waitMillis  = 5 // longest epoll wait of the loop
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18110", "listen address (loopback)")
	backend := flag.String("backend", "127.0.0.1:18100", "backend address (loopback)")
	mode := flag.String("mode", "goroutine", "goroutine or loop")
	flag.Parse()
	var err error
	switch *mode {
	case "goroutine":
		var ln net.Listener
		if ln, err = net.Listen("tcp", *listen); err == nil {
			err = goroutines(ln, *backend)
		}
	case "loop":
		var lfd int
		if lfd, err = listenFD(*listen); err == nil {
			err = loop(lfd, *backend, new(atomic.Bool))
		}
	default:
		err = errors.New("-mode must be goroutine or loop")
	}
	log.Print(err)
	os.Exit(1)
}

var headTerm = []byte("\r\n\r\n")

// headEnd is the length of the head at the start of b with its blank line,
// or -1 when b does not hold a whole head yet.
func headEnd(b []byte) int {
	i := bytes.Index(b, headTerm)
	if i < 0 {
		return -1
	}
	return i + len(headTerm)
}

// field returns the value of the header field name (lower case, with its
// colon) in head, spaces before it skipped.
func field(head []byte, name string) ([]byte, bool) {
	for i := 0; i+2+len(name) <= len(head); i++ {
		if head[i] != '\r' || head[i+1] != '\n' || !bytes.EqualFold(head[i+2:i+2+len(name)], []byte(name)) {
			continue
		}
		v := head[i+2+len(name):]
		for len(v) > 0 && v[0] == ' ' {
			v = v[1:]
		}
		return v, true
	}
	return nil, false
}

// bodyLength is the Content-Length of head: 0 without one, -1 when it is not
// a decimal number of at most 12 digits.
func bodyLength(head []byte) (int, bool) {
	v, ok := field(head, "content-length:")
	if !ok {
		return 0, false
	}
	n, digits := 0, 0
	for ; digits < len(v) && v[digits] >= '0' && v[digits] <= '9' && digits < 12; digits++ {
		n = n*10 + int(v[digits]-'0')
	}
	if digits == 0 || (digits < len(v) && v[digits] != '\r') {
		return -1, true
	}
	return n, true
}

// requestDone reports whether b holds a whole request head; bad when the
// request has a body, more follows it, or its head cannot fit the buffer.
func requestDone(b []byte) (done, bad bool) {
	e := headEnd(b)
	if e < 0 {
		return false, len(b) == reqBufSize
	}
	n, _ := bodyLength(b[:e])
	_, chunked := field(b[:e], "transfer-encoding:")
	return true, e != len(b) || n != 0 || chunked
}

// answerDone reports whether b holds a whole answer; bad when it is not
// framed by Content-Length, cannot fit the buffer, or more follows it.
func answerDone(b []byte) (done, bad bool) {
	e := headEnd(b)
	if e < 0 {
		return false, len(b) == respBufSize
	}
	n, ok := bodyLength(b[:e])
	if !ok || n < 0 || e+n > respBufSize {
		return false, true
	}
	return len(b) >= e+n, len(b) > e+n
}

// goroutines serves ln's connections, each on a goroutine of its own,
// until ln fails (or is closed).
func goroutines(ln net.Listener, backend string) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go relay(c, backend)
	}
}

// relay serves one client connection: each request to the connection's own
// backend connection, each answer back.
func relay(c net.Conn, backend string) {
	defer c.Close()
	req := make([]byte, reqBufSize)
	resp := make([]byte, respBufSize)
	var up net.Conn
	for {
		n, ok := readUntil(c, req, requestDone)
		if !ok {
			return
		}
		if up == nil {
			var err error
			if up, err = net.Dial("tcp", backend); err != nil {
				return
			}
			defer up.Close()
		}
		if _, err := up.Write(req[:n]); err != nil {
			return
		}
		if n, ok = readUntil(up, resp, answerDone); !ok {
			return
		}
		if _, err := c.Write(resp[:n]); err != nil {
			return
		}
	}
}

func readUntil(c net.Conn, buf []byte, done func([]byte) (bool, bool)) (int, bool) {
	n := 0
	for {
		m, err := c.Read(buf[n:])
		if err != nil {
			return 0, false
		}
		n += m
		ok, bad := done(buf[:n])
		if bad {
			return 0, false
		}
		if ok {
			return n, true
		}
	}
}

// pair is a client connection of the loop and its backend connection.
type pair struct {
	client, up int // file descriptors; up is -1 until the first request
	req        []byte
	n          int
	resp       []byte
	r          int
}

type eventLoop struct {
	ep      int
	backend syscall.SockaddrInet4
	byFD    []*pair // indexed by file descriptor, client and backend alike
}

func sockaddr(addr string) (syscall.SockaddrInet4, error) {
	var sa syscall.SockaddrInet4
	a, err := net.ResolveTCPAddr("tcp4", addr)
	if err != nil {
		return sa, err
	}
	copy(sa.Addr[:], a.IP.To4())
	sa.Port = a.Port
	return sa, nil
}

// listenFD is a non-blocking listening socket on addr (IPv4).
func listenFD(addr string) (int, error) {
	la, err := sockaddr(addr)
	if err != nil {
		return -1, err
	}
	lfd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := syscall.SetsockoptInt(lfd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err == nil {
		if err = syscall.Bind(lfd, &la); err == nil {
			if err = syscall.Listen(lfd, 4096); err == nil {
				return lfd, nil
			}
		}
	}
	syscall.Close(lfd)
	return -1, err
}

// loop serves the listening socket lfd's connections on one epoll loop
// until stop is set (within waitMillis) or an error of the set or of lfd
// other than a transient one.
func loop(lfd int, backend string, stop *atomic.Bool) error {
	l := &eventLoop{}
	var err error
	if l.backend, err = sockaddr(backend); err != nil {
		return err
	}
	if l.ep, err = syscall.EpollCreate1(syscall.EPOLL_CLOEXEC); err != nil {
		return err
	}
	defer l.closeAll()
	if err := l.watch(lfd); err != nil {
		return err
	}
	events := make([]syscall.EpollEvent, 256)
	for !stop.Load() {
		n, err := epollWait(l.ep, events)
		if err != nil {
			return err
		}
		// A descriptor closed earlier in a batch may be reused later in it
		// (an accept, a backend connection): a stale event for it then
		// reaches the new owner, whose read finds nothing (EAGAIN) and is
		// ignored. Level-triggered, no event is lost by that.
		for _, ev := range events[:n] {
			fd := int(ev.Fd)
			switch {
			case fd == lfd:
				if err := l.accept(lfd); err != nil {
					return err
				}
			case fd < len(l.byFD) && l.byFD[fd] != nil:
				l.ready(l.byFD[fd], fd)
			}
		}
	}
	return nil
}

func (l *eventLoop) watch(fd int) error {
	return syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(fd)})
}

func (l *eventLoop) track(fd int, p *pair) {
	for fd >= len(l.byFD) {
		l.byFD = append(l.byFD, nil)
	}
	l.byFD[fd] = p
}

// accept takes every pending connection; an error other than the
// listener's queue being empty or a connection aborted while queued ends
// the loop (a descriptor shortage would otherwise spin it).
func (l *eventLoop) accept(lfd int) error {
	for {
		fd, _, err := syscall.Accept4(lfd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
		switch err {
		case nil:
		case syscall.EAGAIN:
			return nil
		case syscall.EINTR, syscall.ECONNABORTED:
			continue
		default:
			return err
		}
		if syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1) != nil || l.watch(fd) != nil {
			syscall.Close(fd)
			continue
		}
		l.track(fd, &pair{client: fd, up: -1, req: make([]byte, reqBufSize), resp: make([]byte, respBufSize)})
	}
}

// ready reads what fd has (level-triggered: one read an event) and moves a
// whole request or answer on.
func (l *eventLoop) ready(p *pair, fd int) {
	if fd == p.client {
		m := rawIO(syscall.SYS_READ, fd, p.req[p.n:])
		if m == -int(syscall.EAGAIN) {
			return
		}
		if m <= 0 {
			l.close(p)
			return
		}
		p.n += m
		done, bad := requestDone(p.req[:p.n])
		if bad || (done && !l.forward(p)) {
			l.close(p)
		}
		return
	}
	m := rawIO(syscall.SYS_READ, fd, p.resp[p.r:])
	if m == -int(syscall.EAGAIN) {
		return
	}
	if m <= 0 {
		l.close(p)
		return
	}
	p.r += m
	done, bad := answerDone(p.resp[:p.r])
	if bad || (done && !writeAll(p.client, p.resp[:p.r])) {
		l.close(p)
		return
	}
	if done {
		p.r = 0
	}
}

// forward writes the request to the pair's backend connection, opening it
// (a blocking connect, once a client connection) at the first request.
func (l *eventLoop) forward(p *pair) bool {
	if p.up < 0 {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			return false
		}
		p.up = fd
		l.track(fd, p)
		if syscall.Connect(fd, &l.backend) != nil || syscall.SetNonblock(fd, true) != nil ||
			syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1) != nil || l.watch(fd) != nil {
			return false
		}
	}
	ok := writeAll(p.up, p.req[:p.n])
	p.n = 0
	return ok
}

func (l *eventLoop) close(p *pair) {
	for _, fd := range []int{p.client, p.up} {
		if fd >= 0 {
			syscall.Close(fd)
			l.byFD[fd] = nil
		}
	}
}

// closeAll closes every connection and the epoll set.
func (l *eventLoop) closeAll() {
	for fd, p := range l.byFD {
		if p != nil && fd == p.client {
			l.close(p)
		}
	}
	syscall.Close(l.ep)
}

// writeAll writes b whole; a socket buffer too full to take it at once is
// not waited for (the bench's answers are far smaller than one).
func writeAll(fd int, b []byte) bool {
	for len(b) > 0 {
		m := rawIO(syscall.SYS_WRITE, fd, b)
		if m <= 0 {
			return false
		}
		b = b[m:]
	}
	return true
}

// rawIO is read(2) or write(2) on a non-blocking socket without the
// runtime's system call entry and exit: the call cannot block. It returns
// the byte count or the negated errno.
func rawIO(trap uintptr, fd int, b []byte) int {
	n, _, e := syscall.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	if e != 0 {
		return -int(e)
	}
	return int(n)
}

// epollWait returns the ready events, waiting for at most waitMillis (0
// after an EINTR). It waits without the runtime's system call entry, as
// rawIO: the goroutine keeps its thread and P through the wait, so that no
// other thread is woken to take the P over (with it, at c62e793, the loop's
// CPU per request was 0.97 and 0.99 of NGINX's on /hello and /json; without
// it 0.95 and 0.93, bench/RESULTS.md); a stop-the-world waits at most
// waitMillis for it.
func epollWait(ep int, events []syscall.EpollEvent) (int, error) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_WAIT, uintptr(ep), uintptr(unsafe.Pointer(unsafe.SliceData(events))),
		uintptr(len(events)), waitMillis, 0, 0)
	switch e {
	case 0:
		return int(n), nil
	case syscall.EINTR:
		return 0, nil
	}
	return 0, e
}
