package requestmirror

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Registration describes the plugin to the registry. Priority 1: after
// every plugin that may answer the request (auth, rate limits, the
// cache, request-termination at 2) or change it (request-transformer),
// so a copy is sent only of a request the upstream gets, as it gets it.
func Registration() plugin.Registration {
	return plugin.Registration{
		Name:      "request-mirror",
		Priority:  1,
		NewConfig: func() any { return &Config{} },
		New:       New,
	}
}

// maxAnswer is how much of a mirror's answer is read (and dropped) so
// that its connection can serve the next copy; a longer answer closes it.
const maxAnswer = 64 << 10

type instance struct {
	mirror
	client   bool // path: client
	percent  float64
	max      int64
	maxBody  int64
	timeout  time.Duration
	inFlight atomic.Int64
	http     *http.Client
	m        outcomes
	log      *slog.Logger
}

// outcomes count what became of each request the plugin saw and chose
// to mirror.
type outcomes struct {
	mirrored, failed, dropped, tooLarge prometheus.Counter
}

// New validates the config and builds the instance with its HTTP client.
func New(cfg any, env plugin.Env) (plugin.Instance, error) {
	c := cfg.(*Config)
	m, errs := c.validate()
	if len(errs) > 0 {
		return nil, errs
	}
	timeout := time.Duration(c.Timeout) * time.Millisecond
	in := &instance{
		mirror: m, client: c.Path == pathClient, percent: c.Percentage,
		max: int64(c.MaxInFlight), maxBody: c.MaxBodySize, timeout: timeout,
		log: env.Logger,
	}
	if in.log == nil {
		in.log = slog.New(slog.DiscardHandler)
	}
	in.http = &http.Client{
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: timeout}).DialContext,
			TLSClientConfig:     &tls.Config{InsecureSkipVerify: !c.TLSVerify, MinVersion: tls.VersionTLS12},
			MaxConnsPerHost:     c.MaxInFlight,
			MaxIdleConnsPerHost: c.MaxInFlight,
			IdleConnTimeout:     60 * time.Second,
			DisableCompression:  true,
			ForceAttemptHTTP2:   true,
		},
		// A redirect is the mirror's answer, not an invitation to send
		// the copy somewhere else.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	in.m = newOutcomes(env.Metrics, m.host)
	return in, nil
}

func newOutcomes(r prometheus.Registerer, host string) outcomes {
	if r == nil {
		c := func() prometheus.Counter { return prometheus.NewCounter(prometheus.CounterOpts{Name: "unregistered"}) }
		return outcomes{c(), c(), c(), c()}
	}
	v := plugin.RegisterMetric(r, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "turnpike_request_mirror_total",
		Help: "Request copies the request-mirror plugin chose to send, by mirror and outcome: mirrored (answered), failed (no answer within the timeout), dropped (max_in_flight copies under way), too_large (body over max_body_size or of unknown length).",
	}, []string{"mirror", "outcome"}))
	return outcomes{
		mirrored: v.WithLabelValues(host, "mirrored"),
		failed:   v.WithLabelValues(host, "failed"),
		dropped:  v.WithLabelValues(host, "dropped"),
		tooLarge: v.WithLabelValues(host, "too_large"),
	}
}

// Close lets the mirror's idle connections go; copies under way end by
// their timeout.
func (in *instance) Close() { in.http.CloseIdleConnections() }

// copyOf is what a copy is made of, taken from the request before the
// access phase returns (the Ctx and its header map are reused after the
// request ends).
type copyOf struct {
	method, path, query string
	header              http.Header
	body                []byte
}

// Access takes a copy of a sampled request and sends it from a goroutine
// of its own; the request goes on at once.
func (in *instance) Access(c *plugin.Ctx) error {
	if in.percent < 100 && rand.Float64()*100 >= in.percent {
		return nil
	}
	r := c.Req
	hasBody := r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
	// A body of unknown length may be a stream the client feeds as the
	// answers come (gRPC, long uploads): reading ahead could stall it.
	if hasBody && (r.ContentLength < 0 || r.ContentLength > in.maxBody) {
		in.m.tooLarge.Inc()
		return nil
	}
	if in.inFlight.Add(1) > in.max {
		in.inFlight.Add(-1)
		in.m.dropped.Inc()
		return nil
	}
	cp := &copyOf{method: r.Method, path: in.path(c), query: c.RawQuery, header: r.Header.Clone()}
	delete(cp.header, "Expect")
	if hasBody {
		body, err := readBody(r)
		if err != nil {
			// The client's body failed (too slow, cut): the proxy gets
			// the same error when it reads, and answers it.
			in.inFlight.Add(-1)
			return nil
		}
		cp.body = body
	}
	go in.send(cp)
	return nil
}

// path is the copy's path: the mirror's prefix and the request's.
// A path starting with "//" goes in the absolute form, which net/http
// would otherwise write as a scheme-relative URL naming another host.
func (in *instance) path(c *plugin.Ctx) string {
	p := c.Path
	if in.client {
		p = c.ClientPath
	}
	p = in.prefix + p
	if strings.HasPrefix(p, "//") {
		p = "//" + in.host + p
	}
	return p
}

// readBody reads a body of known length (at most max_body_size, checked
// by the caller) before the upstream is sent anything, and hands the
// proxy a reader over the same bytes. On a read error the proxy's reader
// replays what was read, then fails as the client's body did.
func readBody(r *http.Request) ([]byte, error) {
	buf := make([]byte, r.ContentLength)
	n, err := io.ReadFull(r.Body, buf)
	if err != nil {
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(buf[:n]), errReader{err}))
		return nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(buf))
	return buf, nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// send sends a copy and reads its answer off, outside the request's
// goroutine and context: a client that goes away does not cancel its
// copy (the mirror sees the traffic the service saw), the timeout ends
// it.
func (in *instance) send(cp *copyOf) {
	defer in.inFlight.Add(-1)
	ctx, cancel := context.WithTimeout(context.Background(), in.timeout)
	defer cancel()
	req := &http.Request{
		Method: cp.method,
		URL:    &url.URL{Scheme: in.scheme, Host: in.host, Opaque: cp.path, RawQuery: cp.query},
		Header: cp.header, Host: in.host,
		ContentLength: int64(len(cp.body)),
		Proto:         "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
	}
	if len(cp.body) > 0 {
		req.Body = io.NopCloser(bytes.NewReader(cp.body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(cp.body)), nil }
	}
	resp, err := in.http.Do(req.WithContext(ctx))
	if err != nil {
		in.m.failed.Inc()
		in.log.Debug("request mirror failed", "mirror", in.host, "error", err)
		return
	}
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
	resp.Body.Close()
	if err != nil {
		in.m.failed.Inc()
		return
	}
	in.m.mirrored.Inc()
}
