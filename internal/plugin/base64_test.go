package plugin

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestAppendDecodeBase64(t *testing.T) {
	long := strings.Repeat("user:secret-", 60)
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"dXNlcjpwYXNz", "user:pass", true},
		{"dXNlcjpwYXNzMQ==", "user:pass1", true},
		{"dXNlcjpwYXNzMQ", "user:pass1", true},
		{"dXNlcjpwYXNzMQ=garbage", "user:pass1", true},
		{"dXNlcjpwYXNzMR", "user:pass1", true}, // unused trailing bits
		{"dXNlc\njpwYXNz", "", false},
		{"dXNlc\rjpwYXNz", "", false},
		{"dXNlcjpwYXN", "user:pas", true},
		{"dXNlcjpwY", "", false}, // a lone 6-bit group
		{"dXNl*jpw", "", false},
		{"", "", true},
		{base64.RawStdEncoding.EncodeToString([]byte(long)), long, true}, // longer than the stack buffer
	} {
		got, ok := AppendDecodeBase64([]byte("x"), tc.in)
		if ok != tc.ok || (ok && string(got) != "x"+tc.want) || (!ok && string(got) != "x") {
			t.Errorf("AppendDecodeBase64(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { AppendDecodeBase64(buf, "dXNlcjpwYXNzd29yZA") }); n != 0 {
		t.Errorf("%v allocations with room in dst", n)
	}
}
