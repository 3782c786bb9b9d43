package cli

import (
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnpikegw/turnpike/internal/admin"
	"github.com/turnpikegw/turnpike/internal/observe"
	"github.com/turnpikegw/turnpike/internal/server"
)

// registerGatewayMetrics exports what the gateway's own parts count:
// access-log drops and the proxy listeners' TLS handshakes. The request
// series, loads, health checks and breakers register where they are
// counted.
func (g *gateway) registerGatewayMetrics(m *observe.Metrics) {
	m.CountAccessLogDrops(g.logDrops)
	tlsStats := &g.proxy.Stats.TLS
	for _, v := range []struct {
		version string
		n       *atomic.Uint64
	}{{"1.0-1.1", &tlsStats.Legacy}, {"1.2", &tlsStats.TLS12}, {"1.3", &tlsStats.TLS13}} {
		m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "turnpike_tls_handshakes_total",
			Help:        "TLS handshakes completed on the proxy listeners, by protocol version.",
			ConstLabels: prometheus.Labels{"version": v.version},
		}, func() float64 { return float64(v.n.Load()) }))
	}
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "turnpike_tls_handshake_errors_total",
		Help: "TLS handshakes that failed on the proxy listeners (timeouts, protocol errors, plain HTTP sent to a TLS port).",
	}, func() float64 { return float64(tlsStats.Errors.Load()) }))
}

// logDrops are the lines dropped on their way to the access log's
// destination: the gateway's own and the logging plugins', which have a
// writer of their own when the access log is off.
func (g *gateway) logDrops() uint64 {
	var n uint64
	if g.accessLog != nil {
		n = g.accessLog.Dropped()
	}
	if g.lines != nil && g.lines != g.accessLog {
		n += g.lines.Dropped()
	}
	return n
}

// startStatus binds the status listener (--status-listen, Kong's
// status_listen), when one is configured: /metrics and /status* only, for
// monitoring from outside the host without exposing the admin API. Its
// /metrics has scrape slots of its own (observe.MaxScrapes), apart from
// the admin listener's.
func (g *gateway) startStatus(listens []server.Listen, src admin.Source, metrics *observe.Metrics, tlsSrc server.TLS, logger *slog.Logger) error {
	if len(listens) == 0 {
		return nil
	}
	src.Metrics = metrics.Handler()
	h := admin.StatusHandler(src)
	s, err := server.New("status", listens, func(string, string) http.Handler { return h },
		server.DefaultLimits, tlsSrc, logger)
	if err != nil {
		return fmt.Errorf("--status-listen: %w", err)
	}
	g.status = s
	return nil
}
