package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/turnpikegw/turnpike/internal/server"
)

// redisLog is go-redis's logger, writing to the gateway's log.
type redisLog struct{ logger *slog.Logger }

func (l redisLog) Printf(_ context.Context, format string, v ...any) {
	l.logger.Warn("redis: " + fmt.Sprintf(format, v...))
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func listenAddrs(ls []server.Listen) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.Addr
	}
	return out
}

func addrList(addrs []net.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ",")
}

// outboundClient is the client plugins make their outbound calls with
// (plugin.Env.HTTPClient): one connection pool, with the dial, TLS and
// idle timeouts of Go's default transport, and no call longer than a
// minute (Kong's upstream timeouts) unless the plugin bounds it itself.
func outboundClient() *http.Client {
	return &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone(), Timeout: time.Minute}
}
