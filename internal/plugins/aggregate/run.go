package aggregate

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/cachestore"
	"github.com/turnpikegw/turnpike/internal/record"
)

// instance is a compiled aggregate config.
type instance struct {
	calls    []call
	shapers  []shaper
	index    map[string]int
	timeout  time.Duration
	maxBody  int
	dedup    bool // some call merges at the top level
	client   *http.Client
	upstream plugin.Upstreams
	logger   *slog.Logger
	runs     sync.Pool
	// cache keeps the answers of calls with a cache_ttl (nil: none has
	// one); releases give back what it holds; writes holds a slot per
	// cache write in flight.
	cache    cachestore.Store
	releases []func()
	writes   chan struct{}
}

// New checks the config and compiles it.
func New(cfg any, env plugin.Env) (plugin.Instance, error) {
	c := cfg.(*Config)
	k := &checker{env: env}
	calls := k.compile(c)
	redis := k.cacheSettings(&c.Cache)
	if len(k.errs) > 0 {
		return nil, k.errs
	}
	in := &instance{
		calls:    calls,
		shapers:  make([]shaper, len(calls)),
		index:    make(map[string]int, len(calls)),
		timeout:  time.Duration(c.Timeout) * time.Millisecond,
		maxBody:  c.MaxBody,
		upstream: env.Upstreams,
		logger:   env.Logger,
	}
	if in.logger == nil {
		in.logger = slog.New(slog.DiscardHandler)
	}
	for i := range calls {
		in.index[calls[i].name] = i
		in.shapers[i] = shaper{allow: calls[i].allow, deny: calls[i].deny, mapping: calls[i].mapping}
		in.dedup = in.dedup || calls[i].group == ""
	}
	in.dedup = in.dedup && len(calls) > 1
	if slices.ContainsFunc(calls, func(c call) bool { return c.cacheTTL > 0 }) {
		if err := in.openCache(&c.Cache, redis, env); err != nil {
			return nil, err
		}
		in.writes = make(chan struct{}, maxPendingWrites)
	}
	base := env.HTTPClient
	if base == nil {
		base = &http.Client{}
	}
	// A redirect is an answer like another (not 2xx: the call failed),
	// never a second request to wherever an upstream points.
	client := *base
	client.Timeout = 0
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	in.client = &client
	in.runs.New = func() any {
		n := len(calls)
		return &run{results: make([]result, n), pending: make([]int, n), done: make(chan int, n)}
	}
	return in, nil
}

// result is one call's outcome in a request.
type result struct {
	body []byte
	// start, end are the offsets of the value the merge uses (after
	// target).
	start, end int
	// why is the reason the call failed ("" when it did not); client is
	// set when the request's values made it fail.
	why     string
	client  bool
	status  int
	target  string
	outcome string
	began   time.Duration // from the request's start
	head    time.Duration // from began
	ended   time.Duration // from began
	bytesIn int64
	sent    bool // a request went out
	// key is the call's cache key ("": not cached); hit is set when the
	// answer came from the cache.
	key string
	hit bool
}

// run is a request's aggregation state, pooled per instance.
type run struct {
	results []result
	pending []int
	done    chan int
	queue   []int
	buf     []byte
	keyBuf  []byte
	// path and routeID index the request's cache entries.
	path    string
	routeID string
}

// maxPooledBody: a larger body buffer is not kept for the next request.
const maxPooledBody = 64 << 10

func (in *instance) put(r *run) {
	for i := range r.results {
		b := r.results[i].body
		if cap(b) > maxPooledBody {
			b = nil
		}
		r.results[i] = result{body: b[:0]}
	}
	r.queue = r.queue[:0]
	in.runs.Put(r)
}

// Access runs the calls and answers with the merged JSON.
func (in *instance) Access(c *plugin.Ctx) error {
	r := in.runs.Get().(*run)
	defer in.put(r)
	ctx, cancel := context.WithTimeout(c.Req.Context(), in.timeout)
	defer cancel()
	src := source{c: c, results: r.results, index: in.index}
	r.path, r.routeID = c.Req.URL.Path, ""
	if c.Route != nil {
		r.routeID = c.Route.ID
	}
	running := 0
	for i := range in.calls {
		r.pending[i] = len(in.calls[i].after)
		if r.pending[i] == 0 {
			running += in.start(ctx, r, &src, i)
		}
	}
	// r.queue holds the finished calls; head is the next to look at.
	for head := 0; running > 0 || head < len(r.queue); head++ {
		if head == len(r.queue) {
			i := <-r.done
			running--
			in.record(c, &in.calls[i], &r.results[i])
			r.queue = append(r.queue, i)
		}
		i := r.queue[head]
		for _, j := range in.calls[i].next {
			if r.pending[j]--; r.pending[j] > 0 {
				continue
			}
			if why := in.blocked(ctx, r, j); why != "" {
				r.results[j].why = why
				r.queue = append(r.queue, j)
				continue
			}
			running += in.start(ctx, r, &src, j)
		}
	}
	return in.answer(r)
}

// blocked is why call j cannot start ("" when it can).
func (in *instance) blocked(ctx context.Context, r *run, j int) string {
	for _, d := range in.calls[j].after {
		if r.results[d].why != "" {
			return "after " + in.calls[d].name + ", which failed"
		}
	}
	if ctx.Err() != nil {
		return whyCanceled(ctx)
	}
	return ""
}

// start renders call i and sends it on its own goroutine (1), or records
// why it could not (0, queued as finished).
func (in *instance) start(ctx context.Context, r *run, src *source, i int) int {
	c := &in.calls[i]
	res := &r.results[i]
	var n int
	r.buf, n, res.why, res.client = c.tmpl.render(r.buf[:0], src)
	if res.why != "" {
		r.queue = append(r.queue, i)
		return 0
	}
	u := &url.URL{Scheme: c.scheme, Host: c.host}
	if n < len(r.buf) {
		u.RawQuery = string(r.buf[n+1:])
	}
	u.RawPath = string(r.buf[:n])
	u.Path, _ = url.PathUnescape(u.RawPath)
	h := make(http.Header, 1+len(c.forward))
	h["Accept"] = acceptJSON
	for _, name := range c.forward {
		if vs, ok := src.c.Req.Header[name]; ok {
			if name == "Accept" {
				vs = jsonAccept(vs)
			}
			h[name] = vs
		}
	}
	if c.cacheTTL > 0 && in.cache != nil {
		r.keyBuf, res.key = cacheKey(r.keyBuf, src.c, c, r.buf, h)
	}
	res.began = time.Since(src.c.StartedAt)
	go in.do(ctx, r, i, u, h)
	return 1
}

var acceptJSON = []string{"application/json"}

// jsonAccept is what a call that forwards Accept sends of the client's
// values vs: the media ranges that name a JSON type (application/json,
// application/*+json) and do not refuse it (q=0), or application/json
// when none does. The answers are merged as JSON whatever the client
// accepts: its text/html or */* must not make an upstream answer HTML
// or 406, while a JSON type it names (a versioned one) gets through.
func jsonAccept(vs []string) []string {
	var b []byte
	dropped := false
	for _, v := range vs {
		for r := range strings.SplitSeq(v, ",") {
			r = strings.TrimSpace(r)
			if !isJSON(r) || refused(r) {
				dropped = dropped || r != ""
				continue
			}
			if len(b) > 0 {
				b = append(b, ", "...)
			}
			b = append(b, r...)
		}
	}
	switch {
	case len(b) == 0:
		return acceptJSON
	case !dropped && len(vs) == 1:
		return vs
	}
	return []string{string(b)}
}

// refused reports whether a media range's q is 0.
func refused(r string) bool {
	_, params, _ := strings.Cut(r, ";")
	for p := range strings.SplitSeq(params, ";") {
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), "q") {
			q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return err == nil && q == 0
		}
	}
	return false
}

// do sends call i and reads its answer; it always reports on r.done.
func (in *instance) do(ctx context.Context, r *run, i int, u *url.URL, h http.Header) {
	c := &in.calls[i]
	res := &r.results[i]
	defer func() {
		// A goroutine of ours is not under the proxy's recover: a bug
		// here fails the call, not the process.
		if p := recover(); p != nil {
			res.why, res.outcome = "request failed", record.OutcomeError
			in.logger.Error("aggregate call panicked", "call", c.name, "panic", p)
		}
		r.done <- i
	}()
	cctx := ctx
	if c.timeout < int64(in.timeout) {
		var cancel context.CancelFunc
		cctx, cancel = context.WithTimeout(ctx, time.Duration(c.timeout))
		defer cancel()
	}
	if res.key != "" && in.cached(cctx, c, res) {
		return
	}
	req := (&http.Request{Method: c.method, URL: u, Host: c.host, Header: h,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}).WithContext(cctx)
	t0 := time.Now()
	res.sent = true
	res.target = c.label
	resp, err := in.send(c, req)
	res.head = time.Since(t0)
	if err != nil {
		res.ended = res.head
		res.head = 0
		res.why, res.outcome = failure(ctx, cctx, err)
		in.logger.Debug("aggregate call failed", "call", c.name, "error", err)
		return
	}
	if resp.Request != nil && resp.Request.URL != nil && resp.Request.URL.Host != "" {
		res.target = resp.Request.URL.Host
	}
	defer func() {
		resp.Body.Close()
		res.ended = time.Since(t0)
	}()
	if c.service != "" {
		// net/http ends a body's reads with the request's context; an
		// upstream transport might not, and then closing it does.
		stop := context.AfterFunc(cctx, func() { resp.Body.Close() })
		defer stop()
	}
	res.status = resp.StatusCode
	res.outcome = record.OutcomeResponse
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		res.why = "answered " + strconv.Itoa(resp.StatusCode)
		return
	}
	if !isJSON(resp.Header.Get("Content-Type")) {
		res.why = "the answer is not JSON"
		return
	}
	var over bool
	res.body, over, err = readBounded(res.body[:0], resp, in.maxBody)
	res.bytesIn = int64(len(res.body))
	switch {
	case over:
		res.why = "the answer is larger than max_body"
	case err != nil:
		res.why, res.outcome = failure(ctx, cctx, err)
	default:
		s, e, ok := span(res.body)
		if !ok {
			res.why = "the answer is not valid JSON"
			return
		}
		if res.start, res.end, ok = find(res.body, s, e, c.target); !ok {
			res.why = "no " + strings.Join(c.target, ".") + " in the answer"
			return
		}
		if res.key != "" && res.status == http.StatusOK {
			in.store(cctx, r, c, res)
		}
	}
}

func (in *instance) send(c *call, req *http.Request) (*http.Response, error) {
	if c.service == "" {
		return in.client.Do(req)
	}
	if in.upstream == nil {
		return nil, errNoUpstreams
	}
	return in.upstream.RoundTrip(c.service, req)
}

var errNoUpstreams = errors.New("no upstreams")

// failure is why a call failed with err, and its attempt's outcome.
func failure(whole, call context.Context, err error) (string, string) {
	if whole.Err() != nil {
		return whyCanceled(whole), record.OutcomeTimeout
	}
	if expired(whole) {
		return whyTimeout, record.OutcomeTimeout
	}
	if call.Err() != nil || expired(call) {
		return "timed out", record.OutcomeTimeout
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return "connection failed", record.OutcomeConnectError
	}
	return "request failed", record.OutcomeError
}

// expired reports a context whose deadline has passed on the clock,
// although its timer may not have run: the upstream transport sets the
// connection's deadline from it, and that can fail the read first.
func expired(ctx context.Context) bool {
	d, _ := ctx.Deadline()
	return record.Expired(d)
}

const whyTimeout = "the aggregation's timeout passed"

func whyCanceled(ctx context.Context) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return whyTimeout
	}
	return "the client went away"
}

// record adds a call that went out to the request's record as an
// upstream attempt (on the request's goroutine: the record is not
// locked).
func (in *instance) record(c *plugin.Ctx, cl *call, res *result) {
	if c.Record == nil {
		return
	}
	if res.hit {
		c.Record.AddCall(record.Call{Kind: "cache", Name: cl.hitName, Start: res.began, Duration: res.ended})
		return
	}
	if !res.sent {
		return
	}
	k := c.Record.AddAttempt(res.target, res.began)
	a := &c.Record.Attempts[k]
	a.Call = cl.name
	a.Status = res.status
	a.Outcome = res.outcome
	a.Head = res.head
	a.End = res.ended
	a.BytesIn = res.bytesIn
}

// readBounded reads resp's body into b, at most limit bytes; over is set
// when there was more.
func readBounded(b []byte, resp *http.Response, limit int) ([]byte, bool, error) {
	if resp.ContentLength > int64(limit) {
		return b, true, nil
	}
	// Room for an announced length, but not more than maxPooledBody up
	// front: an upstream that announces a length it never sends gets
	// nothing reserved for it.
	if n := min(int(resp.ContentLength)+1, maxPooledBody); n > 1 && cap(b) < n {
		b = make([]byte, 0, n)
	}
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		room := b[len(b):min(cap(b), limit+1)]
		n, err := resp.Body.Read(room)
		b = b[:len(b)+n]
		if len(b) > limit {
			return b[:limit], true, nil
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return b, false, nil
			}
			return b, false, err
		}
	}
}
