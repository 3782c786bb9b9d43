package jsonw

import (
	"encoding/json"
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
