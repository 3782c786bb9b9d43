package grpcweb

import (
	"encoding/binary"
	"errors"
	"net/http"
	"strconv"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/transcode"
)

// jsonOptions render answers as Kong's plugin does: field names as the
// .proto writes them, enums by name, unset fields left out.
var jsonOptions = transcode.Options{UseProtoNames: true}

var errNotOneFrame = errors.New("request body is not one uncompressed gRPC-Web frame")

// jsonCall finds the method of a JSON-mode call in the proto.
func (in *instance) jsonCall(c *plugin.Ctx, b *webBody) error {
	if in.proto == nil {
		return plugin.NewExit(http.StatusBadRequest, "JSON requests need the plugin's proto (a .proto file defining the service)")
	}
	m, ok := in.proto.Method(c.Path)
	if !ok {
		return plugin.NewExit(http.StatusBadRequest, "Unknown gRPC method "+strconv.Quote(c.Path))
	}
	b.set, b.method = in.proto, m
	// The message sent is the gateway's, uncompressed; the answer must
	// be too, to be read.
	delete(c.Req.Header, "Grpc-Encoding")
	delete(c.Req.Header, "Grpc-Accept-Encoding")
	return nil
}

// requestJSON turns the JSON request message in body (in one frame when
// framed) into a gRPC frame of protobuf.
func requestJSON(m *transcode.Method, body []byte, framed bool) ([]byte, error) {
	msg := body
	if framed {
		if len(body) < 5 || body[0] != 0 || int(binary.BigEndian.Uint32(body[1:5])) != len(body)-5 {
			return nil, errNotOneFrame
		}
		msg = body[5:]
	}
	out, err := m.RequestFromJSON(make([]byte, 5, 5+len(msg)), msg)
	if err != nil {
		var te *transcode.Error
		if errors.As(err, &te) {
			return nil, plugin.NewExit(te.Status, te.Message)
		}
		return nil, plugin.NewExit(http.StatusBadRequest, "Invalid JSON message")
	}
	binary.BigEndian.PutUint32(out[1:5], uint32(len(out)-5))
	return out, nil
}

// endJSON ends a plain JSON answer, which has no trailer frame: a failed
// call that sent nothing yet is answered with grpc-gateway's status and
// error body; one that failed after a message is cut, so the client
// cannot take it for whole.
func (b *webBody) endJSON() {
	status, message, details := b.status, b.message, b.details
	if t := b.resp.Trailer; len(t["Grpc-Status"]) > 0 {
		status, message, details = t.Get("Grpc-Status"), t.Get("Grpc-Message"), t.Get("Grpc-Status-Details-Bin")
	}
	b.resp.Trailer = nil
	if status == "0" {
		return
	}
	code, err := strconv.Atoi(status)
	if err != nil {
		code, message = codeInternal, "grpc-web: upstream sent no grpc-status"
	}
	if b.emitted {
		b.err = errors.New("upstream call failed after its first message: " + status)
		return
	}
	b.resp.Status = transcode.HTTPStatus(code)
	b.tail = b.set.ErrorJSON(b.tailBuf[:0], code, transcode.DecodeMessage(message), details, jsonOptions)
}
