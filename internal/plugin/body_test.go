package plugin

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestReadBody(t *testing.T) {
	newReq := func(body string) *http.Request {
		r, _ := http.NewRequest(http.MethodPost, "http://x/", strings.NewReader(body))
		r.Header.Set("Content-Length", "5")
		return r
	}
	r := newReq("hello")
	raw, ok := ReadBody(r, 5)
	if !ok || string(raw) != "hello" {
		t.Fatalf("ReadBody = %q, %v", raw, ok)
	}
	if got, _ := io.ReadAll(r.Body); string(got) != "hello" || r.ContentLength != 5 {
		t.Fatalf("body put back = %q, length %d", got, r.ContentLength)
	}

	r = newReq("hello")
	if raw, ok := ReadBody(r, 4); ok || raw != nil {
		t.Fatalf("over the limit: %q, %v", raw, ok)
	}
	if got, _ := io.ReadAll(r.Body); string(got) != "hello" {
		t.Fatalf("a longer body goes on whole, got %q", got)
	}

	boom := errors.New("reset")
	r, _ = http.NewRequest(http.MethodPost, "http://x/", io.MultiReader(strings.NewReader("he"), errorReader{boom}))
	r.ContentLength = -1 // chunked, as the server reads it
	if _, ok := ReadBody(r, 10); ok {
		t.Fatal("a failed read is not ok")
	}
	if got, err := io.ReadAll(r.Body); string(got) != "he" || !errors.Is(err, boom) {
		t.Fatalf("after a failed read the upstream reads %q then %v", got, err)
	}

	r, _ = http.NewRequest(http.MethodGet, "http://x/", nil)
	if raw, ok := ReadBody(r, 10); !ok || raw != nil {
		t.Fatalf("no body: %q, %v", raw, ok)
	}
}

func TestSetBody(t *testing.T) {
	r, _ := http.NewRequest(http.MethodPost, "http://x/", strings.NewReader("a=1&b=2"))
	r.Header.Set("Content-Length", "7")
	SetBody(r, []byte("b=2"))
	if got, _ := io.ReadAll(r.Body); string(got) != "b=2" || r.ContentLength != 3 || r.Header.Get("Content-Length") != "3" {
		t.Fatalf("body %q, length %d, header %q", got, r.ContentLength, r.Header.Get("Content-Length"))
	}
	SetBody(r, nil)
	if r.Body != http.NoBody || r.ContentLength != 0 || r.Header.Get("Content-Length") != "0" {
		t.Fatalf("an empty body is no body: %v %d", r.Body, r.ContentLength)
	}
}

type errorReader struct{ err error }

func (e errorReader) Read([]byte) (int, error) { return 0, e.err }
