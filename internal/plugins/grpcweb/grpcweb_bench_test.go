package grpcweb

import (
	"bytes"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// benchCall runs one call's plugin work: Access, HeaderFilter and the
// body filter over a one-message answer with its trailer.
func benchCall(b *testing.B, ct string, reqBody []byte) {
	c := Config{}
	c.SetDefaults()
	inst, err := New(&c, plugin.Env{})
	if err != nil {
		b.Fatal(err)
	}
	in := inst.(*instance)
	answer := frame(0, strings.Repeat("m", 64))
	trailer := http.Header{"Grpc-Status": {"0"}}
	req, _ := http.NewRequest(http.MethodPost, "http://gw/pkg.S/Call", nil)
	buf := make([]byte, 32<<10)
	var ctx plugin.Ctx
	var src upstream
	var body bytes.Reader
	var upBody strings.Reader
	b.ReportAllocs()
	for b.Loop() {
		body.Reset(reqBody)
		req.Body, req.ContentLength = io.NopCloser(&body), int64(len(reqBody))
		req.Header = http.Header{"Content-Type": {ct}}
		ctx = plugin.Ctx{Req: req, Method: http.MethodPost, Path: "/pkg.S/Call", ClientPath: "/pkg.S/Call",
			Resp: plugin.Response{Status: 200, FromUpstream: true, Header: http.Header{"Content-Type": {"application/grpc"}}}}
		if err := in.Access(&ctx); err != nil {
			b.Fatal(err)
		}
		in.HeaderFilter(&ctx)
		upBody.Reset(answer)
		src = upstream{r: &upBody, dst: &ctx.Resp.Trailer, trailer: trailer}
		r := in.BodyFilter(&ctx, &src)
		for {
			if _, err := r.Read(buf); err != nil {
				break
			}
		}
	}
}

func BenchmarkCallBinary(b *testing.B) {
	benchCall(b, "application/grpc-web+proto", []byte(frame(0, strings.Repeat("q", 32))))
}

func BenchmarkCallText(b *testing.B) {
	benchCall(b, "application/grpc-web-text", []byte(base64.StdEncoding.EncodeToString([]byte(frame(0, strings.Repeat("q", 32))))))
}
