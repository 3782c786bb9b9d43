package jsonw

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestAppendString(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                 `"plain"`,
		"a\"b\\c/d":             `"a\"b\\c/d"`,
		"line\nbreak\r\t":       `"line\nbreak\r\t"`,
		"\x01\x7f":              `"\u0001\u007f"`,
		"<html>&":               `"<html>&"`,
		"é\xff":                 `"é\ufffd"`,
		"forged\",\"status\":1": `"forged\",\"status\":1"`,
	} {
		got := string(AppendString(nil, in))
		if got != want {
			t.Errorf("AppendString(%q) = %s, want %s", in, got, want)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("AppendString(%q) = %s is not valid JSON", in, got)
		}
	}
}

// TestAppendCJSONString: Kong's cjson escapes '/', and its bodies are
// compared byte for byte by Kong's clients.
func TestAppendCJSONString(t *testing.T) {
	got := string(AppendCJSONString(nil, "a\"b\\c/d\b\f\n\r\t\x01\x7fé"))
	want := `"a\"b\\c\/d\b\f\n\r\t\u0001\u007fé"`
	if got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestAppendDoesNotAllocate(t *testing.T) {
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { buf = AppendString(buf[:0], "a \"quoted\" value\n") }); n != 0 {
		t.Errorf("AppendString allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { buf = AppendCJSONString(buf[:0], "Invalid key/secret") }); n != 0 {
		t.Errorf("AppendCJSONString allocates %v times", n)
	}
}

// TestPlainRun checks the word-at-a-time test against the byte table
// for every byte value at every position of a word, with plain
// neighbours of several values (a borrow or carry from one byte must
// neither hide nor invent another) and a plain tail after the word.
func TestPlainRun(t *testing.T) {
	for _, fill := range []byte{'a', ' ', '~', 0x21, 0x5b, 0x5d} {
		for c := range 256 {
			for pos := range 8 {
				w := []byte{fill, fill, fill, fill, fill, fill, fill, fill, fill, fill}
				w[pos] = byte(c)
				want := pos
				if c < 0x80 && plain[c] {
					want = len(w)
				}
				if got := plainRun(string(w)); got != want {
					t.Fatalf("plainRun(%q) = %d, want %d", w, got, want)
				}
			}
		}
	}
}

// FuzzAppendString: the output is valid JSON that decodes to the input
// (invalid UTF-8 aside, which becomes U+FFFD as encoding/json's does).
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"plain ascii header value", "a\"b\\c\x00\x1f\x7f", "é\xffz12345678\"", "0123456789abcdef\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := AppendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("AppendString(%q) = %s: %v", s, got, err)
		}
		want, _ := json.Marshal(s)
		var wantBack string
		_ = json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Fatalf("AppendString(%q) decodes to %q, want %q", s, back, wantBack)
		}
	})
}

func BenchmarkAppendStringHeader(b *testing.B) {
	s := "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
	buf := make([]byte, 0, 256)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		buf = AppendString(buf[:0], s)
	}
}

// Len is never less than the size encoding/json (HTML escaping off) or
// AppendString gives a string.
func TestLen(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\`, "\a\x00\n\r\t\b\f\x7f", "<&>", "é\u2028\u2029€", "bad\xff\xfe"} {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.Encode(s)
		if want := max(b.Len()-1, len(AppendString(nil, s))); Len(s) < want {
			t.Errorf("Len(%q) = %d, JSON is %d bytes", s, Len(s), want)
		}
	}
}
