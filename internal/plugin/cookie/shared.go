package cookie

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net/http"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Attrs are a cookie's attributes.
type Attrs struct {
	Path, Domain string
	// SameSite is Strict, Lax or None; Default (or empty) writes none.
	SameSite         string
	Secure, HTTPOnly bool
}

// String is the attributes as they follow the cookie's value, in Kong's
// order: "; Path=/; SameSite=Lax; Secure; HttpOnly".
func (a Attrs) String() string {
	s := "; Path=" + a.Path
	if a.Domain != "" {
		s += "; Domain=" + a.Domain
	}
	if a.SameSite != "" && a.SameSite != "Default" {
		s += "; SameSite=" + a.SameSite
	}
	if a.Secure {
		s += "; Secure"
	}
	if a.HTTPOnly {
		s += "; HttpOnly"
	}
	return s
}

// Secret is the configured secret or, when there is none, a random one
// per node as Kong draws one when its schema loads, shared by the plugin
// entry's instances across reloads (a reload that rebuilds the entry keeps
// its sessions). use separates the secrets of different plugins. release
// gives the shared secret back when the instance closes.
func Secret(configured string, env plugin.Env, use string) (secret string, release func()) {
	if configured != "" {
		return configured, func() {}
	}
	if env.Store == nil || env.Store.Shared == nil {
		return RandomString(32), func() {}
	}
	v, release := env.Store.Shared.Acquire(use+"-secret\x00"+env.PluginID, func() io.Closer {
		return generated(RandomString(32))
	})
	return string(v.(generated)), release
}

type generated string

func (generated) Close() error { return nil }

// RandomString is n random bytes, base64url without padding.
func RandomString(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails: it crashes the process instead
	return base64.RawURLEncoding.EncodeToString(b)
}

// AppendStrings writes each value after its length (uint16): the strings
// of a cookie's plaintext.
func AppendStrings(out []byte, values ...string) []byte {
	for _, v := range values {
		out = binary.BigEndian.AppendUint16(out, uint16(len(v)))
		out = append(out, v...)
	}
	return out
}

// ReadStrings reads what AppendStrings wrote into dst; false unless b is
// exactly that. The strings share one copy of b.
func ReadStrings(b []byte, dst ...*string) bool {
	s := string(b)
	for _, d := range dst {
		if len(s) < 2 {
			return false
		}
		l := int(s[0])<<8 | int(s[1])
		if len(s) < 2+l {
			return false
		}
		*d = s[2 : 2+l]
		s = s[2+l:]
	}
	return s == ""
}

// Lifetime is a session cookie's timeouts, in seconds.
type Lifetime struct {
	// window is the shorter of the idling and rolling timeouts that are
	// on (0: neither): both count from when the cookie was issued.
	window, absolute int64
	renewAfter       int64
}

// NewLifetime prepares the timeouts (0 turns one off).
func NewLifetime(idling, rolling, absolute int64) Lifetime {
	w := idling
	if w == 0 || rolling > 0 && rolling < w {
		w = rolling
	}
	l := Lifetime{window: w, absolute: absolute, renewAfter: 1<<62 - 1}
	if w > 0 {
		// A quarter of the window: a session in use stays within it.
		l.renewAfter = max(w/4, 1)
	}
	return l
}

// Valid checks a cookie's times (Unix seconds): issued neither in the
// future (beyond a minute of clock difference between nodes) nor before
// the session began, and every timeout that is on still running at now.
func (l *Lifetime) Valid(created, issued, now int64) bool {
	if issued > now+60 || created > issued {
		return false
	}
	return (l.window == 0 || now < issued+l.window) && (l.absolute == 0 || now < created+l.absolute)
}

// RenewDue reports whether a cookie issued at issued should be issued
// again (with a fresh nonce) at now.
func (l *Lifetime) RenewDue(issued, now int64) bool { return now-issued >= l.renewAfter }

// StripChunked removes the chunks of name (name, name_2 ... name_MaxChunks)
// from the request's Cookie headers, leaving every other cookie (an
// application's own name_id, say) as it was.
func StripChunked(h http.Header, name string) {
	lines := h["Cookie"]
	out := lines[:0]
	for _, line := range lines {
		var kept []string
		for _, part := range strings.Split(line, ";") {
			part = strings.TrimSpace(part)
			if k, _, _ := strings.Cut(part, "="); isChunkName(k, name) {
				continue
			}
			kept = append(kept, part)
		}
		if len(kept) > 0 {
			out = append(out, strings.Join(kept, "; "))
		}
	}
	if len(out) == 0 {
		delete(h, "Cookie")
		return
	}
	h["Cookie"] = out
}

// isChunkName reports whether k is one of chunkName(name, 0..MaxChunks-1)
// (MaxChunks < 10: one digit).
func isChunkName(k, name string) bool {
	if k == name {
		return true
	}
	n, ok := strings.CutPrefix(k, name+"_")
	return ok && len(n) == 1 && n[0] >= '2' && n[0] < '1'+MaxChunks
}
