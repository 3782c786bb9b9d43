package cookie

import (
	"net/http"
	"strings"
	"testing"
)

// TestStripChunked: only the value's chunks go; the application's own
// cookies that share the name's prefix stay.
func TestStripChunked(t *testing.T) {
	h := http.Header{"Cookie": {"a=1; session=x; session_2=y; session_id=app; session_lang=fr", "session=z; session_8=q; session_9=keep; session_02=keep"}}
	StripChunked(h, "session")
	if got := strings.Join(h["Cookie"], "|"); got != "a=1; session_id=app; session_lang=fr|session_9=keep; session_02=keep" {
		t.Fatalf("left %q", got)
	}
	h = http.Header{"Cookie": {"session=x", "session_3=y"}}
	StripChunked(h, "session")
	if _, ok := h["Cookie"]; ok {
		t.Fatalf("left %q", h["Cookie"])
	}
}

func TestAttrs(t *testing.T) {
	for want, a := range map[string]Attrs{
		"; Path=/": {Path: "/", SameSite: "Default"},
		"; Path=/a; Domain=x.com; SameSite=Lax; Secure; HttpOnly": {Path: "/a", Domain: "x.com", SameSite: "Lax", Secure: true, HTTPOnly: true},
	} {
		if got := a.String(); got != want {
			t.Errorf("%+v: %q", a, got)
		}
	}
}

func TestStrings(t *testing.T) {
	b := AppendStrings([]byte{9}, "ab", "", "c")
	var x, y, z string
	if !ReadStrings(b[1:], &x, &y, &z) || x != "ab" || y != "" || z != "c" {
		t.Fatalf("read back %q %q %q", x, y, z)
	}
	for _, bad := range [][]byte{b[1 : len(b)-1], append(b[1:len(b):len(b)], 0), {0}, {0, 5, 'a'}} {
		if ReadStrings(bad, &x, &y, &z) {
			t.Errorf("%q read", bad)
		}
	}
}

func TestLifetime(t *testing.T) {
	l := NewLifetime(100, 200, 1000)
	for _, tc := range []struct {
		created, issued, now int64
		want                 bool
	}{
		{0, 500, 599, true}, {0, 500, 600, false}, {0, 990, 1000, false}, {0, 100, 39, false},
		{0, 100, 40, true}, {200, 100, 150, false},
	} {
		if got := l.Valid(tc.created, tc.issued, tc.now); got != tc.want {
			t.Errorf("%+v: %v", tc, got)
		}
	}
	if l.RenewDue(100, 124) || !l.RenewDue(100, 125) {
		t.Error("renewal is not due at a quarter of the idling timeout")
	}
	if rolling := NewLifetime(0, 8, 0); !rolling.Valid(0, 0, 7) || rolling.Valid(0, 0, 8) || !rolling.RenewDue(0, 2) {
		t.Error("the rolling timeout alone")
	}
	if off := NewLifetime(0, 0, 0); !off.Valid(0, 0, 1<<40) || off.RenewDue(0, 1<<40) {
		t.Error("every timeout off")
	}
}
