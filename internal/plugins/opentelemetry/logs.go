package opentelemetry

import (
	"context"
	"log/slog"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// logs sends one OTLP log record per request to logs_endpoint: the
// access log's facts, with the request's trace and server span ids, so
// a tracing backend shows each request's line beside its trace. (Kong
// sends there what its plugins log during the request; Turnpike's
// plugins log nothing per request, its access line is what there is.)
type logs struct {
	q        *queue[sdklog.Record]
	provider *sdklog.LoggerProvider
	logger   otellog.Logger
}

func newLogs(s *settings, res *resource.Resource, dropped *prometheus.CounterVec, log *slog.Logger) (*logs, error) {
	opts := []otlploghttp.Option{
		otlploghttp.WithEndpointURL(s.logsEndpoint),
		otlploghttp.WithHTTPClient(exporterClient(s)),
		otlploghttp.WithRetry(otlploghttp.RetryConfig{
			Enabled:         s.retry.enabled,
			InitialInterval: s.retry.initial,
			MaxInterval:     s.retry.max,
			MaxElapsedTime:  s.retry.maxElapsed,
		}),
	}
	if len(s.headers) > 0 {
		opts = append(opts, otlploghttp.WithHeaders(s.headers))
	}
	exp, err := otlploghttp.New(context.Background(), opts...)
	if err != nil {
		return nil, err
	}
	l := &logs{q: newQueue(func(sdklog.Record) int { return 1 }, exp.Export, exp.Shutdown, "log records", s, dropped, log)}
	l.provider = sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(logProcessor{l.q}))
	l.logger = l.provider.Logger("turnpike")
	return l, nil
}

// logProcessor hands the SDK's records to the queue (the SDK's batch
// processor would drop without counting).
type logProcessor struct{ q *queue[sdklog.Record] }

func (p logProcessor) Enabled(context.Context, sdklog.EnabledParameters) bool { return true }

func (p logProcessor) OnEmit(_ context.Context, r *sdklog.Record) error {
	p.q.push(r.Clone())
	return nil
}

func (p logProcessor) Shutdown(ctx context.Context) error {
	p.q.shutdown(ctx)
	return nil
}

func (p logProcessor) ForceFlush(context.Context) error { return nil }

// emit sends the request's record.
func (l *logs) emit(c *plugin.Ctx, st *traceState) {
	rec := c.Record
	var r otellog.Record
	r.SetTimestamp(rec.Time)
	sev, text := otellog.SeverityInfo, "INFO"
	if rec.Status >= 500 {
		sev, text = otellog.SeverityError, "ERROR"
	}
	r.SetSeverity(sev)
	r.SetSeverityText(text)
	path := urlPath(c, rec)
	r.SetBody(attribute.StringValue(rec.Method + " " + path + " " + strconv.Itoa(rec.Status)))
	r.AddAttributes(
		attribute.String("http.request.method", rec.Method),
		attribute.String("url.path", path),
		attribute.Int("http.response.status_code", rec.Status),
		attribute.Float64("turnpike.latency_ms", float64(rec.Latency.Microseconds())/1000),
		attribute.String("client.address", c.ForwardedIP),
		attribute.String("kong.request.id", rec.RequestID),
	)
	for _, a := range [...]struct{ k, v string }{
		{"http.route", rec.RoutePath}, {"turnpike.route", rec.Route}, {"turnpike.service", rec.Service},
		{"turnpike.consumer", rec.Consumer}, {"turnpike.exit", rec.Exit},
	} {
		if a.v != "" {
			r.AddAttributes(attribute.String(a.k, a.v))
		}
	}
	if a := rec.Answer(); a != nil {
		r.AddAttributes(attribute.String("turnpike.upstream", a.Target), attribute.Int("turnpike.upstream_status", a.Status))
	}
	var flags trace.TraceFlags
	if st.Sampled {
		flags = trace.FlagsSampled
	}
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: st.TraceID, SpanID: st.rootID, TraceFlags: flags,
	}))
	l.logger.Emit(ctx, r)
}

func (l *logs) close(ctx context.Context) { l.provider.Shutdown(ctx) }
