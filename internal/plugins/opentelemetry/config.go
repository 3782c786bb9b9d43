package opentelemetry

import (
	"maps"
	"math"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/tracing"
)

// Config is Kong's opentelemetry schema plus the guide's endpoint,
// service_name and tags. Pointers tell an absent value from a given one.
type Config struct {
	// Endpoint is the guide's collector address (host:port means OTLP/HTTP
	// to http://host:port/v1/traces) and Kong's deprecated alias of
	// traces_endpoint.
	Endpoint       *string `yaml:"endpoint"`
	TracesEndpoint *string `yaml:"traces_endpoint"`
	LogsEndpoint   *string `yaml:"logs_endpoint"`
	// ServiceName and Tags are the guide's: the resource's service.name
	// and further resource attributes.
	ServiceName        *string           `yaml:"service_name"`
	Tags               map[string]any    `yaml:"tags"`
	Headers            map[string]string `yaml:"headers"`
	ResourceAttributes map[string]any    `yaml:"resource_attributes"`
	Queue              Queue             `yaml:"queue"`
	// BatchSpanCount and BatchFlushDelay are Kong's deprecated forms of
	// queue.max_batch_size and queue.max_coalescing_delay.
	BatchSpanCount  *int `yaml:"batch_span_count"`
	BatchFlushDelay *int `yaml:"batch_flush_delay"`
	// Timeouts in milliseconds.
	ConnectTimeout               int         `yaml:"connect_timeout"`
	SendTimeout                  int         `yaml:"send_timeout"`
	ReadTimeout                  int         `yaml:"read_timeout"`
	HTTPResponseHeaderForTraceID *string     `yaml:"http_response_header_for_traceid"`
	HeaderType                   string      `yaml:"header_type"`
	SamplingRate                 *float64    `yaml:"sampling_rate"`
	Propagation                  Propagation `yaml:"propagation"`
}

// Queue is Kong's queue schema, mapped onto the span queue and the
// exporter's retries.
type Queue struct {
	MaxBatchSize       int     `yaml:"max_batch_size"`
	MaxCoalescingDelay float64 `yaml:"max_coalescing_delay"`
	MaxEntries         int     `yaml:"max_entries"`
	MaxBytes           *int    `yaml:"max_bytes"`
	MaxRetryTime       float64 `yaml:"max_retry_time"`
	InitialRetryDelay  float64 `yaml:"initial_retry_delay"`
	MaxRetryDelay      float64 `yaml:"max_retry_delay"`
	ConcurrencyLimit   int     `yaml:"concurrency_limit"`
}

// Propagation is Kong's propagation record.
type Propagation = tracing.Propagation

// SetDefaults applies Kong's defaults.
func (c *Config) SetDefaults() {
	c.ConnectTimeout, c.SendTimeout, c.ReadTimeout = 1000, 5000, 5000
	c.HeaderType = "preserve"
	c.Queue = Queue{
		MaxBatchSize: 200, MaxCoalescingDelay: 1, MaxEntries: 10000,
		MaxRetryTime: 60, InitialRetryDelay: 0.01, MaxRetryDelay: 60, ConcurrencyLimit: 1,
	}
	c.Propagation.DefaultFormat = "w3c"
}

// DefaultSamplingRate is the rate when sampling_rate is not set. Kong
// falls back on kong.conf's tracing_sampling_rate (0.01), and sends no
// spans at all unless tracing_instrumentations is set; Turnpike has
// neither setting, and a guide user pasting the plugin expects traces.
const DefaultSamplingRate = 1.0

// settings is a validated config.
type settings struct {
	endpoint       string // the OTLP/HTTP traces URL ("": no spans are sent)
	logsEndpoint   string // the OTLP/HTTP logs URL ("": no log records)
	headers        map[string]string
	resource       []attribute.KeyValue
	batch          int
	delay          time.Duration
	maxEntries     int
	retry          retry
	connect        time.Duration
	send           time.Duration
	read           time.Duration
	responseHeader string // canonical; "" when none
	rate           float64
	prop           tracing.Params
}

type retry struct {
	enabled                  bool
	initial, max, maxElapsed time.Duration
}

type checker struct{ errs plugin.Errors }

func (k *checker) add(path, msg string) {
	k.errs = append(k.errs, plugin.Problem{Path: path, Message: msg})
}

func (k *checker) between(path string, v, lo, hi float64) bool {
	if v < lo || v > hi || math.IsNaN(v) {
		k.add(path, "value should be between "+num(lo)+" and "+num(hi))
		return false
	}
	return true
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// validate checks c as Kong's schema does and resolves it.
func validate(c *Config) (*settings, error) {
	k := &checker{}
	s := &settings{}
	s.endpoint = k.endpoint(c)
	if c.LogsEndpoint != nil && *c.LogsEndpoint != "" {
		s.logsEndpoint = k.url("logs_endpoint", *c.LogsEndpoint)
	}
	s.headers = k.headers(c.Headers)
	s.resource = k.resource(c)
	k.queue(c, s)
	for _, t := range [...]struct {
		path string
		v    int
		dst  *time.Duration
	}{{"connect_timeout", c.ConnectTimeout, &s.connect}, {"send_timeout", c.SendTimeout, &s.send}, {"read_timeout", c.ReadTimeout, &s.read}} {
		if k.between(t.path, float64(t.v), 0, math.MaxInt32-1) {
			*t.dst = max(time.Duration(t.v)*time.Millisecond, time.Millisecond)
		}
	}
	if h := c.HTTPResponseHeaderForTraceID; h != nil && *h != "" {
		if !plugin.ValidHeaderName(*h) {
			k.add("http_response_header_for_traceid", "bad header name '"+*h+"', allowed characters are A-Z, a-z, 0-9, '_', and '-'")
		}
		s.responseHeader = canonical(*h)
	}
	s.rate = DefaultSamplingRate
	if c.SamplingRate != nil && k.between("sampling_rate", *c.SamplingRate, 0, 1) {
		s.rate = *c.SamplingRate
	}
	k.propagation(c, s)
	if len(k.errs) > 0 {
		return nil, k.errs
	}
	return s, nil
}

// endpoint resolves the traces URL from traces_endpoint or endpoint.
func (k *checker) endpoint(c *Config) string {
	given := func(p *string) bool { return p != nil && *p != "" }
	var u string
	switch {
	case given(c.TracesEndpoint) && given(c.Endpoint) && *c.TracesEndpoint != *c.Endpoint:
		k.add("endpoint", "endpoint is the deprecated name of traces_endpoint: set only one")
		return ""
	case given(c.TracesEndpoint):
		u = k.url("traces_endpoint", *c.TracesEndpoint)
	case given(c.Endpoint):
		v := *c.Endpoint
		if !strings.Contains(v, "://") {
			// The guide's host:port: OTLP/HTTP in clear on the standard path.
			v = "http://" + v
		}
		if u = k.url("endpoint", v); u != "" {
			if p, _ := url.Parse(u); p.Path == "" || p.Path == "/" {
				p.Path = "/v1/traces"
				u = p.String()
			}
		}
	case !given(c.LogsEndpoint):
		k.add("", "at least one of these fields must be non-empty: 'traces_endpoint', 'logs_endpoint'")
	}
	return u
}

func (k *checker) url(path, v string) string {
	p, err := url.Parse(v)
	switch {
	case err != nil:
		k.add(path, "invalid URL: "+v)
	case p.Scheme != "http" && p.Scheme != "https":
		k.add(path, "unsupported scheme '"+p.Scheme+"' (OTLP/HTTP needs http or https)")
	case p.Host == "" || p.Hostname() == "":
		k.add(path, "missing host in url")
	case p.User != nil:
		k.add(path, "credentials in the URL are not allowed: use headers")
	default:
		return p.String()
	}
	return ""
}

func (k *checker) headers(h map[string]string) map[string]string {
	for _, name := range slices.Sorted(maps.Keys(h)) {
		if !plugin.ValidHeaderName(name) {
			k.add("headers."+name, "bad header name '"+name+"', allowed characters are A-Z, a-z, 0-9, '_', and '-'")
		}
	}
	return h
}

// resource makes the resource attributes: Kong's service.name default,
// then the guide's tags, then resource_attributes, then service_name.
func (k *checker) resource(c *Config) []attribute.KeyValue {
	attrs := map[string]attribute.KeyValue{"service.name": attribute.String("service.name", "kong")}
	for _, src := range [...]struct {
		path string
		m    map[string]any
	}{{"tags", c.Tags}, {"resource_attributes", c.ResourceAttributes}} {
		for _, key := range slices.Sorted(maps.Keys(src.m)) {
			path := src.path + "." + key
			if key == "" {
				k.add(src.path, "a key is empty")
				continue
			}
			switch v := src.m[key].(type) {
			case string:
				if v == "" {
					k.add(path, "required field missing")
				}
				attrs[key] = attribute.String(key, v)
			case int64:
				attrs[key] = attribute.Int64(key, v)
			case float64:
				attrs[key] = attribute.Float64(key, v)
			case bool:
				attrs[key] = attribute.Bool(key, v)
			default:
				k.add(path, "invalid type of value: expected a string, number or boolean")
			}
		}
	}
	if c.ServiceName != nil {
		if *c.ServiceName == "" {
			k.add("service_name", "length must be at least 1")
		}
		attrs["service.name"] = attribute.String("service.name", *c.ServiceName)
	}
	out := make([]attribute.KeyValue, 0, len(attrs))
	for _, key := range slices.Sorted(maps.Keys(attrs)) {
		out = append(out, attrs[key])
	}
	return out
}

func (k *checker) queue(c *Config, s *settings) {
	q := c.Queue
	if c.BatchSpanCount != nil {
		q.MaxBatchSize = *c.BatchSpanCount
		k.between("batch_span_count", float64(q.MaxBatchSize), 1, 1e6)
	} else {
		k.between("queue.max_batch_size", float64(q.MaxBatchSize), 1, 1e6)
	}
	if c.BatchFlushDelay != nil {
		q.MaxCoalescingDelay = float64(*c.BatchFlushDelay)
		k.between("batch_flush_delay", q.MaxCoalescingDelay, 0, 3600)
	} else {
		k.between("queue.max_coalescing_delay", q.MaxCoalescingDelay, 0, 3600)
	}
	k.between("queue.max_entries", float64(q.MaxEntries), 1, 1e6)
	if q.MaxBytes != nil {
		k.add("queue.max_bytes", "not supported: spans are queued by count (queue.max_entries)")
	}
	if q.MaxRetryTime != -1 {
		k.between("queue.max_retry_time", q.MaxRetryTime, 0, 1e6)
	}
	k.between("queue.initial_retry_delay", q.InitialRetryDelay, 0.001, 1e6)
	k.between("queue.max_retry_delay", q.MaxRetryDelay, 0.001, 1e6)
	if q.ConcurrencyLimit != 1 && q.ConcurrencyLimit != -1 {
		k.add("queue.concurrency_limit", "expected one of: -1, 1")
	}
	s.batch, s.delay, s.maxEntries = q.MaxBatchSize, seconds(q.MaxCoalescingDelay), q.MaxEntries
	s.retry = retry{
		enabled:    q.MaxRetryTime > 0,
		initial:    seconds(q.InitialRetryDelay),
		max:        seconds(q.MaxRetryDelay),
		maxElapsed: seconds(q.MaxRetryTime),
	}
}

// propagation resolves Kong's propagation record, falling back on the
// deprecated header_type when none of extract, inject and clear is given.
func (k *checker) propagation(c *Config, s *settings) {
	s.prop = tracing.Resolve(c.Propagation, c.HeaderType, "", k.add)
}

func canonical(name string) string { return textproto.CanonicalMIMEHeaderKey(name) }
