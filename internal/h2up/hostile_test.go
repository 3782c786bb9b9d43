package h2up

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// rawServer is an HTTP/2 server written frame by frame, so that tests can
// answer as a broken or hostile upstream would. serve runs per connection
// after the preface and the server's SETTINGS; conns counts connections.
type rawServer struct {
	addr  string
	conns atomic.Int32
}

func startRaw(t testing.TB, settings []http2.Setting, serve func(n int, fr *http2.Framer, nc net.Conn)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			n := int(s.conns.Add(1))
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				nc.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := io.ReadFull(nc, make([]byte, len(http2.ClientPreface))); err != nil {
					return
				}
				fr := http2.NewFramer(nc, nc)
				fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
				fr.WriteSettings(settings...)
				serve(n, fr, nc)
			}()
		}
	}()
	return s
}

// readRequest reads frames until a request ended, and returns its stream.
func readRequest(fr *http2.Framer) (uint32, bool) {
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return 0, false
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			if f.StreamEnded() {
				return f.StreamID, true
			}
		case *http2.DataFrame:
			if f.StreamEnded() {
				return f.StreamID, true
			}
		}
	}
}

// block HPACK-encodes name, value pairs.
func block(kv ...string) []byte {
	var b bytes.Buffer
	enc := hpack.NewEncoder(&b)
	for i := 0; i+1 < len(kv); i += 2 {
		enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	return b.Bytes()
}

// answer sends a whole gRPC answer: head, one DATA, trailer.
func answer(fr *http2.Framer, id uint32, body string) {
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block(":status", "200", "content-type", "application/grpc"), EndHeaders: true})
	fr.WriteData(id, false, []byte(body))
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block("grpc-status", "0"), EndHeaders: true, EndStream: true})
}

func rawCall(addr string) *Request {
	return &Request{Addr: addr, Method: "POST", Scheme: "http", Authority: "x", Path: "/s/M",
		Header: http.Header{"Content-Type": {"application/grpc"}}, Body: []byte{0, 0, 0, 0, 0}, HeadTimeout: 3 * time.Second}
}

func mustAnswer(t *testing.T, c *Client, addr, want string) {
	t.Helper()
	resp, err := c.RoundTrip(context.Background(), rawCall(addr))
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if string(body) != want || resp.Trailer.Get("Grpc-Status") != "0" {
		t.Fatalf("body %q trailer %v", body, resp.Trailer)
	}
}

// TestRefusedStreamsAreResent: a GOAWAY that leaves the stream out, and a
// REFUSED_STREAM, make the client send the request again.
func TestRefusedStreamsAreResent(t *testing.T) {
	srv := startRaw(t, nil, func(n int, fr *http2.Framer, nc net.Conn) {
		id, ok := readRequest(fr)
		if !ok {
			return
		}
		switch n {
		case 1:
			fr.WriteGoAway(0, http2.ErrCodeNo, nil)
			return
		case 2:
			fr.WriteRSTStream(id, http2.ErrCodeRefusedStream)
			if id, ok = readRequest(fr); !ok {
				return
			}
		}
		answer(fr, id, "ok")
		readRequest(fr)
	})
	c := newTestClient()
	defer c.CloseIdle()
	mustAnswer(t, c, srv.addr, "ok")
	if n := srv.conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2 (the GOAWAY's and the next)", n)
	}
}

// TestControlFramesAnswered: PING and a later SETTINGS are acknowledged,
// and a header block split over CONTINUATION frames is read whole.
func TestControlFramesAnswered(t *testing.T) {
	acked := make(chan string, 2)
	srv := startRaw(t, nil, func(_ int, fr *http2.Framer, nc net.Conn) {
		id, ok := readRequest(fr)
		if !ok {
			return
		}
		fr.WritePing(false, [8]byte{1, 2, 3})
		fr.WriteSettings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 20000})
		for len(acked) < 2 {
			f, err := fr.ReadFrame()
			if err != nil {
				return
			}
			switch f := f.(type) {
			case *http2.PingFrame:
				if f.IsAck() && f.Data == [8]byte{1, 2, 3} {
					acked <- "ping"
				}
			case *http2.SettingsFrame:
				if f.IsAck() {
					acked <- "settings"
				}
			}
		}
		head := block(":status", "200", "x-long", strings.Repeat("v", 300))
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: head[:100]})
		fr.WriteContinuation(id, false, head[100:200])
		fr.WriteContinuation(id, true, head[200:])
		fr.WriteData(id, true, []byte("split"))
		readRequest(fr)
	})
	c := newTestClient()
	defer c.CloseIdle()
	resp, err := c.RoundTrip(context.Background(), rawCall(srv.addr))
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); string(body) != "split" || len(resp.Header.Get("X-Long")) != 300 {
		t.Fatalf("body %q header %d bytes", body, len(resp.Header.Get("X-Long")))
	}
	if len(acked) != 2 {
		t.Fatalf("acknowledged: %d of PING and SETTINGS", len(acked))
	}
}

// TestMaxConcurrentStreams: a server that allows one stream gets a second
// connection for a second call while the first is open.
func TestMaxConcurrentStreams(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	srv := startRaw(t, []http2.Setting{{ID: http2.SettingMaxConcurrentStreams, Val: 1}}, func(n int, fr *http2.Framer, nc net.Conn) {
		id, ok := readRequest(fr)
		if !ok {
			return
		}
		if n == 1 {
			<-release
		}
		answer(fr, id, "ok")
		readRequest(fr)
	})
	t.Cleanup(unblock) // before the server's cleanup, which waits for it
	c := newTestClient()
	defer c.CloseIdle()
	done := make(chan error, 1)
	go func() {
		resp, err := c.RoundTrip(context.Background(), rawCall(srv.addr))
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		done <- err
	}()
	for srv.conns.Load() < 1 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	mustAnswer(t, c, srv.addr, "ok")
	unblock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := srv.conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
}

// TestHostileAnswers: each broken answer fails its call (or its body)
// quickly, with no panic and no hang.
func TestHostileAnswers(t *testing.T) {
	big := strings.Repeat("h", 8<<10)
	// Each case fails the call at once, but the last, which only the head
	// timeout ends.
	cases := map[string]func(fr *http2.Framer, id uint32){
		"header list over the bound": func(fr *http2.Framer, id uint32) {
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block(":status", "200", "x-big", big), EndHeaders: true})
		},
		"no status": func(fr *http2.Framer, id uint32) {
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block("a", "b"), EndHeaders: true, EndStream: true})
		},
		"data before head": func(fr *http2.Framer, id uint32) { fr.WriteData(id, true, []byte("x")) },
		"frame on an unopened stream": func(fr *http2.Framer, id uint32) {
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id + 2, BlockFragment: block(":status", "200"), EndHeaders: true})
		},
		"push promise": func(fr *http2.Framer, id uint32) {
			fr.WritePushPromise(http2.PushPromiseParam{StreamID: id, PromiseID: 2, BlockFragment: block(":method", "GET"), EndHeaders: true})
		},
		"reset": func(fr *http2.Framer, id uint32) { fr.WriteRSTStream(id, http2.ErrCodeInternal) },
		"goaway with an error, then silence": func(fr *http2.Framer, id uint32) {
			fr.WriteGoAway(id, http2.ErrCodeEnhanceYourCalm, nil)
		},
	}
	for name, send := range cases {
		t.Run(name, func(t *testing.T) {
			srv := startRaw(t, nil, func(_ int, fr *http2.Framer, nc net.Conn) {
				if id, ok := readRequest(fr); ok {
					send(fr, id)
					io.Copy(io.Discard, nc)
				}
			})
			c := New(Config{ConnectTimeout: 2 * time.Second, MaxHeaderBytes: 4 << 10})
			defer c.CloseIdle()
			r := rawCall(srv.addr)
			r.HeadTimeout = 500 * time.Millisecond
			start := time.Now()
			err := callAndRead(c, r)
			if err == nil {
				t.Fatal("the call succeeded")
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("took %v (%v)", d, err)
			}
			if timedOut := errors.Is(err, context.DeadlineExceeded); timedOut != strings.HasSuffix(name, "silence") {
				t.Fatalf("err %v", err)
			}
		})
	}
}

// callAndRead makes the call and reads its body to the end, within a
// second.
func callAndRead(c *Client, r *Request) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	resp, err := c.RoundTrip(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return errors.New(resp.Status)
	}
	return nil
}

// FuzzAnswerFrames answers a call with arbitrary bytes after the
// handshake: the client must end the call (with its answer or an error)
// without panicking or hanging.
func FuzzAnswerFrames(f *testing.F) {
	var valid bytes.Buffer
	fr := http2.NewFramer(&valid, nil)
	answer(fr, 1, "ok")
	f.Add(valid.Bytes())
	var cont bytes.Buffer
	fr = http2.NewFramer(&cont, nil)
	head := block(":status", "200", "grpc-status", "0")
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: head[:3]})
	fr.WriteContinuation(1, true, head[3:])
	fr.WritePing(false, [8]byte{})
	fr.WriteWindowUpdate(0, 1)
	fr.WriteData(1, true, nil)
	f.Add(cont.Bytes())
	f.Add([]byte{0, 0, 0, 4, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, answerBytes []byte) {
		srv := startRaw(t, nil, func(_ int, fr *http2.Framer, nc net.Conn) {
			if _, ok := readRequest(fr); ok {
				nc.Write(answerBytes)
			}
		})
		c := New(Config{ConnectTimeout: time.Second, MaxHeaderBytes: 4 << 10})
		defer c.CloseIdle()
		r := rawCall(srv.addr)
		r.HeadTimeout = 500 * time.Millisecond
		callAndRead(c, r)
	})
}

// TestStreamWindowEnforced: a server that sends more than the stream's
// window while nothing is read fails the stream rather than making the
// client hold more.
func TestStreamWindowEnforced(t *testing.T) {
	sent := make(chan struct{})
	srv := startRaw(t, nil, func(_ int, fr *http2.Framer, nc net.Conn) {
		id, ok := readRequest(fr)
		if !ok {
			return
		}
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block(":status", "200"), EndHeaders: true})
		chunk := make([]byte, 16<<10)
		for range streamWindow/len(chunk) + 1 {
			if fr.WriteData(id, false, chunk) != nil {
				return
			}
		}
		close(sent)
		io.Copy(io.Discard, nc)
	})
	c := newTestClient()
	defer c.CloseIdle()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.RoundTrip(ctx, rawCall(srv.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	<-sent
	// Nothing is read until the read loop took in all that was sent (or
	// failed the stream): reading would grant more window.
	st := resp.Body.(*stream)
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		st.mu.Lock()
		done := st.err != nil || len(st.buf) > streamWindow
		st.mu.Unlock()
		if done {
			break
		}
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil || errors.Is(err, context.DeadlineExceeded) || n > streamWindow {
		t.Fatalf("read %d bytes, err %v; want at most the window and the stream failed", n, err)
	}
}
