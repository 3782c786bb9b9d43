package cookie

import (
	"net/http"
	"strings"
	"testing"
)

func TestSealOpen(t *testing.T) {
	s, err := NewSealer("secret", "info", "name", 4096)
	if err != nil {
		t.Fatal(err)
	}
	v := s.Seal([]byte("hello"))
	if p, ok := s.Open(v); !ok || string(p) != "hello" {
		t.Fatalf("Open = %q, %v", p, ok)
	}
	if s.Seal([]byte("hello")) == v {
		t.Fatal("two seals are equal: the nonce is not fresh")
	}
	other := func(secret, info, aad string) *Sealer { o, _ := NewSealer(secret, info, aad, 4096); return o }
	for name, o := range map[string]*Sealer{
		"secret": other("other", "info", "name"), "info": other("secret", "other", "name"), "aad": other("secret", "info", "other"),
	} {
		if _, ok := o.Open(v); ok {
			t.Errorf("a sealer of another %s opened the value", name)
		}
	}
	flipped := []byte(v)
	flipped[len(flipped)/2] ^= 1
	for _, bad := range []string{"", "!!!", v[:10], string(flipped), strings.Repeat("A", 5000)} {
		if _, ok := s.Open(bad); ok {
			t.Errorf("Open(%.20q) opened", bad)
		}
	}
}

func TestChunks(t *testing.T) {
	for _, n := range []int{0, 10, ChunkSize, ChunkSize + 1, 3*ChunkSize - 5} {
		value := strings.Repeat("x", n)
		// The request carries five chunks of an older, longer value.
		req := http.Header{}
		for i := range 5 {
			req.Add("Cookie", chunkName("s", i)+"="+strings.Repeat("o", ChunkSize))
		}
		resp := http.Header{}
		if !SetChunked(resp, req, "s", value, "; Path=/") {
			t.Fatalf("%d bytes: refused", n)
		}
		// The browser's jar after the response.
		jar := map[string]string{}
		for i := range 5 {
			jar[chunkName("s", i)] = strings.Repeat("o", ChunkSize)
		}
		for _, line := range resp["Set-Cookie"] {
			nv, attrs, _ := strings.Cut(line, ";")
			k, v, _ := strings.Cut(nv, "=")
			if strings.Contains(attrs, "Max-Age=0") {
				delete(jar, k)
				continue
			}
			jar[k] = v
		}
		next := http.Header{}
		for k, v := range jar {
			next.Add("Cookie", k+"="+v)
		}
		got, ok := GetChunked(next, "s")
		if !ok || got != value {
			t.Errorf("%d bytes: read back %d bytes, %v (jar %d cookies)", n, len(got), ok, len(jar))
		}
	}
	if SetChunked(http.Header{}, http.Header{}, "s", strings.Repeat("x", MaxChunks*ChunkSize+1), "") {
		t.Error("a value over MaxChunks chunks was set")
	}
}

func TestGet(t *testing.T) {
	h := http.Header{"Cookie": {"a=1; session=abc ", "session=second"}}
	if v, ok := Get(h, "session"); !ok || v != "abc" {
		t.Errorf("Get = %q, %v", v, ok)
	}
	if _, ok := Get(h, "sess"); ok {
		t.Error("a prefix of a name matched")
	}
}
