package h2up

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// readLoop reads the connection's frames until it fails, handing each to
// its stream. A frame that breaks the protocol for the connection closes
// it (every stream on it fails); one that breaks it for a stream resets
// that stream.
func (cn *conn) readLoop() {
	for {
		f, err := cn.rd.ReadFrame()
		if err != nil {
			var se http2.StreamError
			if errors.As(err, &se) {
				cn.resetStream(se.StreamID, se.Code, err)
				continue
			}
			cn.close(err)
			return
		}
		if !cn.gotFirst {
			if sf, ok := f.(*http2.SettingsFrame); !ok || sf.IsAck() {
				cn.close(errors.New("h2up: the server's first frame is not SETTINGS"))
				return
			}
		}
		if err := cn.handle(f); err != nil {
			cn.close(err)
			return
		}
	}
}

func (cn *conn) handle(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.SettingsFrame:
		return cn.onSettings(f)
	case *http2.MetaHeadersFrame:
		return cn.onHeaders(f)
	case *http2.DataFrame:
		return cn.onData(f)
	case *http2.RSTStreamFrame:
		if st := cn.detach(f.StreamID); st != nil {
			st.fail(http2.StreamError{StreamID: f.StreamID, Code: f.ErrCode}, f.ErrCode == http2.ErrCodeRefusedStream)
		}
	case *http2.PingFrame:
		if !f.IsAck() {
			data := f.Data
			cn.writeControl(func(fr *http2.Framer) { fr.WritePing(true, data) })
		}
	case *http2.GoAwayFrame:
		cn.onGoAway(f)
	case *http2.WindowUpdateFrame:
		if f.StreamID == 0 {
			cn.mu.Lock()
			cn.sendWindow += int64(f.Increment)
			over := cn.sendWindow > math.MaxInt32
			cn.mu.Unlock()
			if over {
				return errors.New("h2up: the server's WINDOW_UPDATE overflows the window")
			}
		}
	case *http2.PushPromiseFrame:
		return errors.New("h2up: PUSH_PROMISE although push is disabled")
	}
	return nil
}

func (cn *conn) onSettings(f *http2.SettingsFrame) error {
	if f.IsAck() {
		return nil
	}
	tableSize := uint32(4096)
	cn.mu.Lock()
	err := f.ForeachSetting(func(s http2.Setting) error {
		if err := s.Valid(); err != nil {
			return err
		}
		switch s.ID {
		case http2.SettingMaxFrameSize:
			cn.maxFrame = int(s.Val)
		case http2.SettingMaxConcurrentStreams:
			cn.maxStreams = int(min(s.Val, maxStreamsCap))
		case http2.SettingInitialWindowSize:
			cn.initWindow = int64(s.Val)
		case http2.SettingMaxHeaderListSize:
			cn.maxHdrList = s.Val
		case http2.SettingHeaderTableSize:
			tableSize = s.Val
		}
		return nil
	})
	cn.mu.Unlock()
	if err != nil {
		return err
	}
	cn.wmu.Lock()
	cn.henc.SetMaxDynamicTableSizeLimit(min(tableSize, 4096))
	cn.wr.WriteSettingsAck()
	cn.flush()
	cn.wmu.Unlock()
	if !cn.gotFirst {
		cn.gotFirst = true
		close(cn.settings)
	}
	return nil
}

// stream returns the open stream id, or nil for one this client closed
// already; any other id is the server's protocol error.
func (cn *conn) stream(id uint32) (*stream, error) {
	cn.mu.Lock()
	st := cn.streams[id]
	next := cn.nextID
	cn.mu.Unlock()
	if st == nil && (id%2 == 0 || id >= next) {
		return nil, fmt.Errorf("h2up: frame on stream %d, which this client never opened", id)
	}
	return st, nil
}

// detach takes a stream the server is done with out of the table (its
// slot stays taken until the caller is done with it too).
func (cn *conn) detach(id uint32) *stream {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	st := cn.streams[id]
	if st != nil {
		delete(cn.streams, id)
		st.remoteDone = true
	}
	return st
}

// resetStream sends RST_STREAM for a stream the server broke the protocol
// on, and fails it.
func (cn *conn) resetStream(id uint32, code http2.ErrCode, err error) {
	st := cn.detach(id)
	cn.writeControl(func(fr *http2.Framer) { fr.WriteRSTStream(id, code) })
	if st != nil {
		st.fail(err, false)
	}
}

func (cn *conn) onHeaders(f *http2.MetaHeadersFrame) error {
	st, err := cn.stream(f.StreamID)
	if st == nil {
		return err
	}
	if f.Truncated {
		cn.resetStream(f.StreamID, http2.ErrCodeCancel, errors.New("h2up: response header list larger than the limit"))
		return nil
	}
	st.mu.Lock()
	head := st.resp == nil
	st.mu.Unlock()
	if !head {
		return cn.onTrailer(st, f)
	}
	status, err := strconv.Atoi(f.PseudoValue("status"))
	if err != nil || status < 100 || status > 999 || status == 101 {
		cn.resetStream(f.StreamID, http2.ErrCodeProtocol, errors.New("h2up: malformed response :status"))
		return nil
	}
	if status < 200 {
		if f.StreamEnded() {
			cn.resetStream(f.StreamID, http2.ErrCodeProtocol, errors.New("h2up: informational response ends the stream"))
		}
		return nil
	}
	resp := &http.Response{StatusCode: status, Proto: "HTTP/2.0", ProtoMajor: 2, Header: cn.header(f.RegularFields()),
		ContentLength: -1, Body: st}
	if vs := resp.Header["Content-Length"]; len(vs) == 1 {
		if n, err := strconv.ParseInt(vs[0], 10, 64); err == nil && n >= 0 {
			resp.ContentLength = n
		}
	}
	for _, v := range resp.Header["Trailer"] {
		for k := range strings.SplitSeq(v, ",") {
			if k = textproto.TrimString(k); k != "" {
				if resp.Trailer == nil {
					resp.Trailer = http.Header{}
				}
				resp.Trailer[http.CanonicalHeaderKey(k)] = nil
			}
		}
	}
	if f.StreamEnded() {
		cn.detach(f.StreamID)
		resp.Body, resp.ContentLength = http.NoBody, 0
	}
	st.mu.Lock()
	st.resp = resp
	if f.StreamEnded() && st.err == nil {
		st.err = io.EOF
	}
	st.mu.Unlock()
	st.wake()
	return nil
}

// onTrailer takes the trailer, which ends the stream.
func (cn *conn) onTrailer(st *stream, f *http2.MetaHeadersFrame) error {
	if !f.StreamEnded() || len(f.PseudoFields()) > 0 {
		cn.resetStream(f.StreamID, http2.ErrCodeProtocol, errors.New("h2up: malformed response trailer"))
		return nil
	}
	cn.detach(f.StreamID)
	tr := cn.header(f.RegularFields())
	st.mu.Lock()
	st.trailer = tr
	if st.err == nil {
		st.err = io.EOF
	}
	st.mu.Unlock()
	st.wake()
	return nil
}

// header builds a header map from decoded fields, their values in one
// slab.
func (cn *conn) header(fields []hpack.HeaderField) http.Header {
	h := make(http.Header, len(fields))
	vals := make([]string, len(fields))
	for i, hf := range fields {
		k, ok := cn.canon[hf.Name]
		if !ok {
			k = http.CanonicalHeaderKey(hf.Name)
			if len(cn.canon) < 512 {
				cn.canon[hf.Name] = k
			}
		}
		vals[i] = hf.Value
		if old := h[k]; old != nil {
			h[k] = append(old, hf.Value)
		} else {
			h[k] = vals[i : i+1 : i+1]
		}
	}
	return h
}

func (cn *conn) onData(f *http2.DataFrame) error {
	n := int64(f.Length)
	cn.mu.Lock()
	cn.recvWindow -= n
	if cn.recvWindow < 0 {
		cn.mu.Unlock()
		return errors.New("h2up: the server sent more than the connection's window")
	}
	st := cn.streams[f.StreamID]
	over := st != nil && st.recvWindow < n
	if st != nil {
		st.recvWindow -= n
	}
	cn.mu.Unlock()
	if st == nil {
		if _, err := cn.stream(f.StreamID); err != nil {
			return err
		}
		cn.giveBack(nil, n)
		return nil
	}
	if over {
		cn.resetStream(f.StreamID, http2.ErrCodeFlowControl, errors.New("h2up: the server sent more than the stream's window"))
		cn.giveBack(nil, n)
		return nil
	}
	data := f.Data()
	if pad := n - int64(len(data)); pad > 0 {
		cn.giveBack(st, pad)
	}
	st.mu.Lock()
	if st.resp == nil || st.err != nil {
		dropped := st.resp == nil
		st.mu.Unlock()
		cn.giveBack(nil, int64(len(data)))
		if dropped {
			cn.resetStream(f.StreamID, http2.ErrCodeProtocol, errors.New("h2up: DATA before the response head"))
		}
		return nil
	}
	if st.off > 0 && st.off >= len(st.buf)/2 {
		st.buf = st.buf[:copy(st.buf, st.buf[st.off:])]
		st.off = 0
	}
	st.buf = append(st.buf, data...)
	if f.StreamEnded() {
		st.err = io.EOF
	}
	st.mu.Unlock()
	if f.StreamEnded() {
		cn.detach(f.StreamID)
	}
	st.wake()
	return nil
}

// onGoAway stops new streams on the connection; those past the last the
// server processes are refused (and resent elsewhere).
func (cn *conn) onGoAway(f *http2.GoAwayFrame) {
	cn.mu.Lock()
	cn.goAway = true
	var gone []*stream
	for id, st := range cn.streams {
		if id > f.LastStreamID {
			gone = append(gone, st)
			delete(cn.streams, id)
			st.remoteDone = true
		}
	}
	idle := cn.reserved == 0
	cn.mu.Unlock()
	for _, st := range gone {
		st.fail(errGoAway, true)
	}
	if idle {
		cn.close(errGoAway)
	}
}
