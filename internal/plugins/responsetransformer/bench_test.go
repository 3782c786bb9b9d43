package responsetransformer

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// body10KiB is a JSON object of about 10 KiB: top-level scalars, a nested
// object and an array of objects, as an API answer looks.
func body10KiB() []byte {
	var b bytes.Buffer
	b.WriteString(`{"id":12345,"name":"Widget \"Pro\"","secret":"s3cr3t","active":true,"price":19.99,"owner":{"id":7,"email":"a@example.com"},"items":[`)
	for i := 0; b.Len() < 10<<10-200; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"sku":"SKU-` + strconv.Itoa(i) + `","qty":` + strconv.Itoa(i%7) + `,"tags":["a","b\/c"],"note":"some text here \u00e9"}`)
	}
	b.WriteString(`],"total":42,"old_name":"v"}`)
	return b.Bytes()
}

// BenchmarkTransform10KiB is the whole body filter on a 10 KiB JSON
// answer with one remove, one rename and one add rule: header filter,
// reading the body, the edit and handing the new body out.
func BenchmarkTransform10KiB(b *testing.B) {
	in := build(b, &Config{
		Remove: Lists{JSON: []string{"secret"}},
		Rename: Lists{JSON: []string{"old_name:new_name"}},
		Add:    TypedLists{JSON: []string{"added:yes"}},
	})
	doc := body10KiB()
	cl := strconv.Itoa(len(doc))
	src := bytes.NewReader(doc)
	h := http.Header{}
	c := &plugin.Ctx{Resp: plugin.Response{Header: h}}
	buf := make([]byte, 32<<10)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		clear(h)
		h["Content-Type"] = []string{"application/json"}
		h["Content-Length"] = []string{cl}
		src.Reset(doc)
		in.HeaderFilter(c)
		r := in.BodyFilter(c, src)
		for {
			if _, err := r.Read(buf); err == io.EOF {
				break
			}
		}
	}
}
