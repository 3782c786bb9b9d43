package zipkin

import (
	"encoding/hex"
	"math/rand/v2"
	"net/textproto"
	"strconv"
	"sync"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/queue"
	"github.com/turnpikegw/turnpike/internal/plugin/tracing"
)

const name = "zipkin"

// Registration describes the plugin to the registry.
func Registration() plugin.Registration {
	return plugin.Registration{
		Name:      name,
		Priority:  100000,
		NewConfig: func() any { return &Config{} },
		New:       New,
	}
}

type instance struct {
	prop              tracing.Params
	ratio             float64
	traceLen          int // traceid_byte_count for a trace started here
	methodPath        bool
	annotations       bool // phase_duration_flavor annotations (else tags)
	localService      string
	defaultService    string
	includeCredential bool
	tagsHeader        string // canonical
	staticTags        [][2]string
	responseHeader    string // canonical; "" when none
	nodeID            string
	q                 *queue.Queue // nil without http_endpoint: propagation only
	release           func()
}

// New validates the config as Kong's schema does and opens the span
// queue when there is an endpoint.
func New(cfg any, env plugin.Env) (plugin.Instance, error) {
	c := cfg.(*Config)
	prop, errs := c.validate()
	if len(errs) > 0 {
		return nil, errs
	}
	in := &instance{prop: prop, ratio: c.SampleRatio, traceLen: c.TraceIDByteCount,
		methodPath: c.HTTPSpanName == "method_path", annotations: c.PhaseDurationFlavor == "annotations",
		localService: c.LocalServiceName, includeCredential: c.IncludeCredential,
		tagsHeader: textproto.CanonicalMIMEHeaderKey(c.TagsHeader)}
	if c.DefaultServiceName != nil {
		in.defaultService = *c.DefaultServiceName
	}
	for _, t := range c.StaticTags {
		in.staticTags = append(in.staticTags, [2]string{*t.Name, *t.Value})
	}
	if env.Node != nil {
		in.nodeID = env.Node.ID()
	}
	if c.HTTPEndpoint != nil {
		// 0 would mean no bound: a collector that never answers would hold
		// the queue's one sender until shutdown. 0 takes the read default.
		ms := func(n int) time.Duration {
			if n <= 0 {
				n = 5000
			}
			return time.Duration(n) * time.Millisecond
		}
		s := &sender{endpoint: *c.HTTPEndpoint}
		s.init(ms(c.ConnectTimeout), ms(c.SendTimeout), ms(c.ReadTimeout))
		key := *c.HTTPEndpoint + "\x00" + strconv.Itoa(c.ConnectTimeout) + ":" + strconv.Itoa(c.SendTimeout) + ":" +
			strconv.Itoa(c.ReadTimeout) + "\x00" + c.Queue.Key()
		in.q, in.release = queue.Open(env, name, key, c.Queue.Settings(), func() queue.Sender { return s })
	}
	if h := c.HTTPResponseHeaderForTraceID; h != nil {
		in.responseHeader = textproto.CanonicalMIMEHeaderKey(*h)
		return withHeader{in}, nil
	}
	return in, nil
}

// Close gives the span queue back; the last user flushes it.
func (in *instance) Close() {
	if in.release != nil {
		in.release()
	}
}

// withHeader is an instance that also returns the trace id in a response
// header (http_response_header_for_traceid).
type withHeader struct{ *instance }

// HeaderFilter writes the trace id (hex, in the size it has).
func (w withHeader) HeaderFilter(c *plugin.Ctx) {
	st := w.state(c)
	if st != nil && c.Resp.Header != nil {
		c.Resp.Header[w.responseHeader] = []string{hex.EncodeToString(st.ctx.TraceID[16-st.ctx.TraceLen:])}
	}
}

// state is what the access phase decided, kept for the later phases in
// Ctx.Shared.
type state struct {
	// ctx is what the upstream is told: the trace, the proxy span's id
	// (SpanID), the request span's (ParentID) and the sampling decision.
	ctx    tracing.SpanContext
	parent tracing.SpanContext // as extracted
}

var states = sync.Pool{New: func() any { return new(state) }}

// Access starts the request's trace and propagates it upstream.
func (in *instance) Access(c *plugin.Ctx) error {
	in.begin(c, true)
	return nil
}

// state returns the request's trace, starting it (without propagating)
// when the access phase did not run here (an earlier plugin answered, or
// no route matched).
func (in *instance) state(c *plugin.Ctx) *state {
	if st, ok := c.Shared[name].(*state); ok {
		return st
	}
	return in.begin(c, false)
}

// begin extracts the client's context, decides the trace id, sampling
// and span ids as Kong's initialize_request does, and (with propagate)
// clears and injects the configured headers.
func (in *instance) begin(c *plugin.Ctx, propagate bool) *state {
	st := states.Get().(*state)
	*st = state{}
	h := c.Req.Header
	if len(in.prop.Extract) > 0 {
		tracing.Extract(h, in.prop.Extract, &st.parent)
	}
	o := &st.ctx
	if st.parent.HasTrace() {
		o.TraceID, o.TraceLen = st.parent.TraceID, st.parent.TraceLen
	} else {
		tracing.RandomID(o.TraceID[16-in.traceLen:])
		o.TraceLen = in.traceLen
	}
	o.Sampled = st.parent.Sampled
	if o.Sampled == tracing.SampledUnsaid {
		o.Sampled = tracing.SampledNo
		if rand.Float64() < in.ratio {
			o.Sampled = tracing.SampledYes
		}
	}
	o.Debug = st.parent.Debug
	tracing.RandomID(o.ParentID[:]) // the request span
	tracing.RandomID(o.SpanID[:])   // the proxy span
	if propagate {
		var buf [128]byte
		in.prop.Propagate(h, o, &st.parent, buf[:0])
	}
	if c.Record != nil {
		c.Record.TraceID = hex.EncodeToString(o.TraceID[16-o.TraceLen:])
	}
	if c.Shared == nil {
		c.Shared = make(map[string]any, 1)
	}
	c.Shared[name] = st
	return st
}

// Log reports the request's spans when it is sampled and an endpoint is
// set: one queue entry per request, its spans as JSON array elements.
func (in *instance) Log(c *plugin.Ctx) {
	if c.Record == nil {
		return
	}
	st := in.state(c)
	delete(c.Shared, name)
	if in.q != nil && st.ctx.Sampled == tracing.SampledYes {
		bp := in.q.Buffer()
		*bp = in.appendSpans(*bp, c, st)
		in.q.Enqueue(bp)
	}
	*st = state{}
	states.Put(st)
}
