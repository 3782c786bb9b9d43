package opentelemetry

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/tracing"
	"github.com/turnpikegw/turnpike/internal/record"
)

// Name is the plugin's name in configs.
const Name = "opentelemetry"

// Priority is Kong's: the access phase runs after authentication and
// rate limiting, so the trace id and the injected headers are decided
// last, just before the request goes upstream.
const Priority = 14

// Registration describes the plugin to the registry.
func Registration() plugin.Registration {
	return plugin.Registration{
		Name:      Name,
		Priority:  Priority,
		NewConfig: func() any { return &Config{} },
		New:       New,
	}
}

// Instance is a configured opentelemetry plugin: one span queue and
// exporter, shared by the requests it sees.
type Instance struct {
	s    *settings
	res  *resource.Resource
	q    *queue[*spanChunk] // nil without traces_endpoint
	logs *logs              // nil without logs_endpoint
	// bound is the sampling threshold on a trace id's low 63 bits (the
	// OpenTelemetry SDK's TraceIDRatioBased).
	bound uint64
	all   bool // sampling_rate 1: no threshold to test
	// closeWait bounds Close (closeWait, shorter in tests).
	closeWait time.Duration
	// names caches span names of plugin runs, by phase (access, header
	// filter) and plugin: a set bounded by the plugins this binary
	// knows, read without a lock or an allocation, copied on a miss.
	names   [2]atomic.Pointer[map[string]string]
	namesMu sync.Mutex
}

// withHeader is an Instance that also returns the trace id in a
// response header (http_response_header_for_traceid); only then is the
// plugin in the header filter phase.
type withHeader struct{ *Instance }

func (w withHeader) HeaderFilter(c *plugin.Ctx) {
	if c.Record != nil && c.Record.TraceID != "" && c.Resp.Header != nil {
		c.Resp.Header[w.s.responseHeader] = []string{c.Record.TraceID}
	}
}

// New validates the config and starts the queues.
func New(cfg any, env plugin.Env) (plugin.Instance, error) {
	s, err := validate(cfg.(*Config))
	if err != nil {
		return nil, err
	}
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	in := &Instance{s: s, res: resource.NewSchemaless(s.resource...), closeWait: closeWait}
	if s.endpoint != "" {
		exp := newTraceExporter(s)
		in.q = newQueue(chunkSize, exp.export, exp.shutdown, "spans", s, droppedMetric(env, "spans"), log)
	}
	if s.logsEndpoint != "" {
		if in.logs, err = newLogs(s, in.res, droppedMetric(env, "logs"), log); err != nil {
			in.Close()
			return nil, plugin.FieldError("logs_endpoint", err.Error())
		}
	}
	in.all = s.rate >= 1
	in.bound = uint64(s.rate * (1 << 63))
	if s.responseHeader != "" {
		return withHeader{in}, nil
	}
	return in, nil
}

// droppedMetric is the counter of what the queue of signal (spans,
// logs) drops, by reason; nil without a registry.
func droppedMetric(env plugin.Env, signal string) *prometheus.CounterVec {
	if env.Metrics == nil {
		return nil
	}
	return plugin.RegisterMetric(env.Metrics, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "turnpike_opentelemetry_" + signal + "_dropped_total",
		Help: "What the opentelemetry plugin dropped of its " + signal +
			": queue_full (the collector is slower than the traffic), export_failed, closed.",
	}, []string{"reason"}))
}

// Close sends what is queued, waiting closeWait at most.
func (in *Instance) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), in.closeWait)
	defer cancel()
	if in.q != nil {
		in.q.shutdown(ctx)
	}
	if in.logs != nil {
		in.logs.close(ctx)
	}
}

// traceState is what the access phase decided for a sampled request,
// kept for the log phase in Ctx.Shared.
type traceState struct {
	Sampled    bool
	parent     tracing.SpanContext // as extracted; a remote parent when it has a span id
	TraceID    [16]byte
	rootID     [8]byte // the server span's
	upstreamID [8]byte // the last upstream attempt's, the upstream's parent
}

var states = sync.Pool{New: func() any { return new(traceState) }}

// Access decides the trace, its sampling and the upstream's parent
// span, and propagates them upstream.
func (in *Instance) Access(c *plugin.Ctx) error {
	in.begin(c, true)
	return nil
}

// begin extracts the client's context, decides the trace id, sampling
// and span ids and (with propagate) clears and injects the configured
// headers. It sets the record's trace id. Only a sampled request keeps
// a state (in Ctx.Shared, for Log), or every request when log records
// are sent: an unsampled one otherwise makes nothing more.
func (in *Instance) begin(c *plugin.Ctx, propagate bool) *traceState {
	h := c.Req.Header
	var o tracing.SpanContext
	if len(in.s.prop.Extract) > 0 {
		tracing.Extract(h, in.s.prop.Extract, &o)
	}
	parent := o
	if !o.HasTrace() {
		tracing.RandomID(o.TraceID[:])
	}
	sampled := in.sample(&parent, &o.TraceID)
	o.Sampled = tracing.SampledNo
	if sampled {
		o.Sampled = tracing.SampledYes
	}
	var rootID [8]byte
	tracing.RandomID(rootID[:])
	tracing.RandomID(o.SpanID[:])
	o.ParentID = rootID
	if propagate {
		var buf [128]byte
		in.s.prop.Propagate(h, &o, &parent, buf[:0])
	}
	if c.Record != nil {
		c.Record.TraceID = hex.EncodeToString(o.TraceID[:])
	}
	if !(sampled && in.q != nil) && in.logs == nil {
		return nil
	}
	st := states.Get().(*traceState)
	*st = traceState{Sampled: sampled, parent: parent, TraceID: o.TraceID, rootID: rootID, upstreamID: o.SpanID}
	if c.Shared == nil {
		c.Shared = make(map[string]any, 1)
	}
	c.Shared[Name] = st
	return st
}

// sample is parent-based: a parent's decision is followed either way,
// else the trace id decides against sampling_rate.
func (in *Instance) sample(parent *tracing.SpanContext, traceID *[16]byte) bool {
	switch parent.Sampled {
	case tracing.SampledYes:
		return true
	case tracing.SampledNo:
		return false
	}
	return in.all || binary.BigEndian.Uint64(traceID[8:])>>1 < in.bound
}

// Log builds the request's spans when it is sampled. A request whose
// access phase never ran here (an earlier plugin answered it) is traced
// now, from the client's headers.
func (in *Instance) Log(c *plugin.Ctx) {
	if c.Record == nil {
		return
	}
	st, _ := c.Shared[Name].(*traceState)
	if st == nil {
		if c.Record.TraceID != "" {
			return // unsampled
		}
		if st = in.begin(c, false); st == nil {
			return
		}
	}
	delete(c.Shared, Name)
	if st.Sampled && in.q != nil {
		in.spans(c, st)
	}
	if in.logs != nil {
		in.logs.emit(c, st)
	}
	*st = traceState{}
	states.Put(st)
}

// spanName is the name of a plugin's run in the access or header filter
// phase, as Kong names it.
func (in *Instance) spanName(phase record.Phase, plugin string) string {
	slot := &in.names[0]
	if phase == record.PhaseHeaderFilter {
		slot = &in.names[1]
	}
	if m := slot.Load(); m != nil {
		if n, ok := (*m)[plugin]; ok {
			return n
		}
	}
	in.namesMu.Lock()
	defer in.namesMu.Unlock()
	next := map[string]string{}
	if m := slot.Load(); m != nil {
		maps.Copy(next, *m)
	}
	n := "kong." + phase.String() + ".plugin." + plugin
	next[plugin] = n
	slot.Store(&next)
	return n
}
