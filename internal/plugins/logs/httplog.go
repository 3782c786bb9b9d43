package logs

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/queue"
)

// HTTPConfig is Kong's http-log schema.
type HTTPConfig struct {
	HTTPEndpoint string `yaml:"http_endpoint"`
	Method       string `yaml:"method"`
	ContentType  string `yaml:"content_type"`
	// Timeout and Keepalive are in milliseconds.
	Timeout   float64 `yaml:"timeout"`
	Keepalive float64 `yaml:"keepalive"`
	// Kong's deprecated fields: queue_size and flush_timeout stand for
	// queue.max_batch_size and queue.max_coalescing_delay; retry_count
	// does nothing (queue.max_retry_time does).
	RetryCount   *int              `yaml:"retry_count"`
	QueueSize    *int              `yaml:"queue_size"`
	FlushTimeout *float64          `yaml:"flush_timeout"`
	Headers      map[string]string `yaml:"headers"`
	Queue        queue.Config      `yaml:"queue"`
	// CustomFieldsByLua is refused when given: Turnpike runs no Lua.
	CustomFieldsByLua map[string]string `yaml:"custom_fields_by_lua"`
}

// SetDefaults applies Kong's defaults.
func (c *HTTPConfig) SetDefaults() {
	c.Method = http.MethodPost
	c.ContentType = "application/json"
	c.Timeout = 10000
	c.Keepalive = 60000
}

// HTTPLog is the http-log plugin's registration.
func HTTPLog() plugin.Registration {
	return plugin.Registration{
		Name:      "http-log",
		Priority:  priorityHTTPLog,
		NewConfig: func() any { return &HTTPConfig{} },
		New:       newHTTPLog,
	}
}

func newHTTPLog(cfg any, env plugin.Env) (plugin.Instance, error) {
	c := cfg.(*HTTPConfig)
	if c.QueueSize != nil {
		c.Queue.MaxBatchSize = *c.QueueSize
	}
	if c.FlushTimeout != nil {
		c.Queue.MaxCoalescingDelay = *c.FlushTimeout
	}
	send, errs := newHTTPSender(c)
	errs = append(errs, c.Queue.Validate("queue.")...)
	errs = append(errs, refuseLua(c.CustomFieldsByLua)...)
	if len(errs) > 0 {
		return nil, errs
	}
	q, release := queue.Open(env, "http-log", httpKey(c), c.Queue.Settings(), func() queue.Sender { return send() })
	return &shipper{q: q, release: release}, nil
}

// httpKey is what tells http-log queues apart: every setting.
func httpKey(c *HTTPConfig) string {
	var b strings.Builder
	for _, s := range []string{c.HTTPEndpoint, c.Method, c.ContentType, strconv.FormatFloat(c.Timeout, 'g', -1, 64), strconv.FormatFloat(c.Keepalive, 'g', -1, 64), c.Queue.Key()} {
		b.WriteString(s)
		b.WriteByte(0)
	}
	names := slices.Sorted(maps.Keys(c.Headers))
	for _, n := range names {
		b.WriteString(n + "\x01" + c.Headers[n] + "\x00")
	}
	return b.String()
}

// newHTTPSender validates the sending settings and returns what makes
// the sender.
func newHTTPSender(c *HTTPConfig) (func() *httpSender, plugin.Errors) {
	var errs plugin.Errors
	add := func(path, msg string) { errs = append(errs, plugin.Problem{Path: path, Message: msg}) }
	u, err := url.Parse(c.HTTPEndpoint)
	switch {
	case c.HTTPEndpoint == "":
		add("http_endpoint", "required field missing")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https"):
		add("http_endpoint", "invalid url: expected an http:// or https:// URL")
	case u.Host == "" || u.Hostname() == "":
		add("http_endpoint", "missing host in url")
	}
	if !slices.Contains([]string{"POST", "PUT", "PATCH"}, c.Method) {
		add("method", "expected one of: POST, PUT, PATCH")
	}
	if c.ContentType != "application/json" && c.ContentType != "application/json; charset=utf-8" {
		add("content_type", "expected one of: application/json, application/json; charset=utf-8")
	}
	errs = positive(errs, "timeout", c.Timeout)
	errs = nonNegative(errs, "keepalive", c.Keepalive)
	header := http.Header{}
	names := slices.Sorted(maps.Keys(c.Headers))
	for _, n := range names {
		path := "headers." + n
		switch {
		case !plugin.ValidHeaderName(n):
			add(path, "bad header name '"+n+"', allowed characters are A-Z, a-z, 0-9, '_', and '-'")
		case strings.EqualFold(n, "Host"):
			add(path, "cannot contain 'Host' header")
		case strings.EqualFold(n, "Content-Length"):
			add(path, "cannot contain 'Content-Length' header")
		case strings.EqualFold(n, "Content-Type"):
			add(path, "cannot contain 'Content-Type' header")
		case strings.EqualFold(n, "Authorization") && err == nil && u.User != nil:
			add("http_endpoint", "specifying both an 'Authorization' header and user info in 'http_endpoint' is not allowed")
		default:
			header.Set(n, c.Headers[n])
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	header.Set("Content-Type", c.ContentType)
	if u.User != nil {
		header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(u.User.String())))
		u.User = nil
	}
	if u.Path == "" {
		u.Path = "/"
	}
	timeout, keepalive := millis(c.Timeout), millis(c.Keepalive)
	endpoint, method, array := u.String(), c.Method, c.Queue.MaxBatchSize > 1
	return func() *httpSender {
		tr := &http.Transport{
			DialContext:           (&net.Dialer{Timeout: timeout}).DialContext,
			TLSHandshakeTimeout:   timeout,
			ResponseHeaderTimeout: timeout,
			IdleConnTimeout:       keepalive,
			MaxIdleConnsPerHost:   1,
			DisableKeepAlives:     keepalive == 0,
		}
		return &httpSender{
			client: &http.Client{Transport: tr, Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			}},
			transport: tr, endpoint: endpoint, host: u.Host, method: method, header: header, array: array,
		}
	}, nil
}

// httpSender posts batches to the collector: a batch of the plugin whose
// max_batch_size is 1 is one JSON object, of others a JSON array (as
// Kong's http-log).
type httpSender struct {
	client    *http.Client
	transport *http.Transport
	endpoint  string
	// host names the collector in errors: the endpoint's path or query
	// may hold a token.
	host   string
	method string
	header http.Header
	array  bool
	// parts are the pieces of the body being sent.
	parts net.Buffers
}

// batchBody reads a batch's body from the entries where they are (a
// net.Buffers is consumed as it is read: each body reads a copy of the
// pieces). The transport may go on reading a request body after the
// round trip returned (a collector that answers before reading it all, a
// send that failed); it always closes it, and Send waits for every body
// it made to be closed before the queue reuses the entries' buffers.
type batchBody struct {
	net.Buffers
	read *sync.WaitGroup
	once sync.Once
}

func (b *batchBody) Close() error {
	b.once.Do(b.read.Done)
	return nil
}

// The punctuation of a batch's JSON array.
var (
	open    = []byte{'['}
	comma   = []byte{','}
	closing = []byte{']'}
)

func (h *httpSender) Send(ctx context.Context, batch [][]byte) error {
	// The body is the entries with the array's punctuation between them,
	// read straight into the connection's write buffer, not first copied
	// into one slice.
	parts, size := h.parts[:0], 0
	if h.array {
		parts = append(parts, open)
		for i, e := range batch {
			if i > 0 {
				parts = append(parts, comma)
			}
			parts = append(parts, e)
			size += len(e)
		}
		parts = append(parts, closing)
		size += 1 + max(len(batch)-1, 0) + 1
	} else {
		parts, size = append(parts, batch[0]), len(batch[0])
	}
	h.parts = parts
	var read sync.WaitGroup
	newBody := func() *batchBody {
		read.Add(1)
		return &batchBody{Buffers: slices.Clone(parts), read: &read}
	}
	req, err := http.NewRequestWithContext(ctx, h.method, h.endpoint, newBody())
	if err != nil {
		return err
	}
	defer read.Wait()
	req.ContentLength = int64(size)
	req.GetBody = func() (io.ReadCloser, error) { return newBody(), nil }
	req.Header = h.header
	resp, err := h.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return errors.New(h.method + " to " + h.host + ": " + err.Error())
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return errors.New(h.method + " to " + h.host + ": collector answered " + strconv.Itoa(resp.StatusCode))
	}
	return nil
}

func (h *httpSender) Close() { h.transport.CloseIdleConnections() }
