package server

import (
	"fmt"
	"net"
	"strings"
)

// Listen is one listen address with Kong's flags: `0.0.0.0:8443 ssl http2`.
type Listen struct {
	Addr string
	// TLS serves HTTPS (Kong's `ssl` flag); HTTP/2 is negotiated by ALPN.
	TLS bool
	// H2C accepts HTTP/2 without TLS (prior knowledge), Kong's `http2` flag
	// on a plain listener.
	H2C bool
	// H3 also serves HTTP/3 over QUIC on the same port number, UDP (the
	// `http3` flag; TLS only, as QUIC is).
	H3 bool
}

// ParseListens parses a comma-separated list of listen addresses. "off"
// yields none.
func ParseListens(s string) ([]Listen, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "off" {
		return nil, nil
	}
	var out []Listen
	for part := range strings.SplitSeq(s, ",") {
		fields := strings.Fields(part)
		if len(fields) == 0 {
			return nil, fmt.Errorf("empty listen address in %q", s)
		}
		l := Listen{Addr: fields[0]}
		if _, _, err := net.SplitHostPort(l.Addr); err != nil {
			return nil, fmt.Errorf("listen address %q: %v", l.Addr, err)
		}
		for _, f := range fields[1:] {
			switch f {
			case "ssl":
				l.TLS = true
			case "http2":
				l.H2C = true
			case "http3":
				l.H3 = true
			default:
				return nil, fmt.Errorf("listen address %q: unknown flag %q (known: ssl, http2, http3)", l.Addr, f)
			}
		}
		if l.H3 && !l.TLS {
			return nil, fmt.Errorf("listen address %q: http3 needs ssl (QUIC is always encrypted): write %q", l.Addr, l.Addr+" ssl http3")
		}
		if l.TLS {
			l.H2C = false
		}
		out = append(out, l)
	}
	return out, nil
}
