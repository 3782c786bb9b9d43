package zipkin

import (
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/queue"
	"github.com/turnpikegw/turnpike/internal/plugin/tracing"
)

// StaticTag is one of Kong's static_tags.
type StaticTag struct {
	Name  *string `yaml:"name"`
	Value *string `yaml:"value"`
}

// Config mirrors Kong's zipkin schema (kong/plugins/zipkin/schema.lua).
type Config struct {
	LocalServiceName             string              `yaml:"local_service_name"`
	HTTPEndpoint                 *string             `yaml:"http_endpoint"`
	SampleRatio                  float64             `yaml:"sample_ratio"`
	DefaultServiceName           *string             `yaml:"default_service_name"`
	IncludeCredential            bool                `yaml:"include_credential"`
	TraceIDByteCount             int                 `yaml:"traceid_byte_count"`
	HeaderType                   string              `yaml:"header_type"`
	DefaultHeaderType            string              `yaml:"default_header_type"`
	TagsHeader                   string              `yaml:"tags_header"`
	StaticTags                   []StaticTag         `yaml:"static_tags"`
	HTTPSpanName                 string              `yaml:"http_span_name"`
	ConnectTimeout               int                 `yaml:"connect_timeout"`
	SendTimeout                  int                 `yaml:"send_timeout"`
	ReadTimeout                  int                 `yaml:"read_timeout"`
	HTTPResponseHeaderForTraceID *string             `yaml:"http_response_header_for_traceid"`
	PhaseDurationFlavor          string              `yaml:"phase_duration_flavor"`
	Queue                        queue.Config        `yaml:"queue"`
	Propagation                  tracing.Propagation `yaml:"propagation"`
}

// SetDefaults applies Kong's defaults.
func (c *Config) SetDefaults() {
	c.LocalServiceName = "kong"
	c.SampleRatio = 0.001
	c.IncludeCredential = true
	c.TraceIDByteCount = 16
	c.HeaderType = "preserve"
	c.DefaultHeaderType = "b3"
	c.TagsHeader = "Zipkin-Tags"
	c.HTTPSpanName = "method"
	c.ConnectTimeout, c.SendTimeout, c.ReadTimeout = 2000, 5000, 5000
	c.PhaseDurationFlavor = "annotations"
	c.Queue.SetDefaults()
	c.Propagation.DefaultFormat = "b3"
}

// protectedTags are the tags the plugin sets itself (Kong's
// PROTECTED_TAGS): static_tags may not name them.
var protectedTags = []string{"error", "http.method", "http.path", "http.status_code", "kong.balancer.state",
	"kong.balancer.try", "kong.consumer", "kong.credential", "kong.node.id", "kong.route", "kong.service",
	"lc", "peer.hostname"}

// validate checks what Kong's schema checks, with its messages.
func (c *Config) validate() (tracing.Params, plugin.Errors) {
	var errs plugin.Errors
	add := func(path, msg string) { errs = append(errs, plugin.Problem{Path: path, Message: msg}) }
	if c.LocalServiceName == "" {
		add("local_service_name", "length must be at least 1")
	}
	if c.HTTPEndpoint != nil {
		if u, err := url.Parse(*c.HTTPEndpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("http_endpoint", "missing host in url")
		}
	}
	if math.IsNaN(c.SampleRatio) || c.SampleRatio < 0 || c.SampleRatio > 1 {
		add("sample_ratio", "value should be between 0 and 1")
	}
	if c.DefaultServiceName != nil && *c.DefaultServiceName == "" {
		add("default_service_name", "length must be at least 1")
	}
	if c.TraceIDByteCount != 8 && c.TraceIDByteCount != 16 {
		add("traceid_byte_count", "expected one of: 8, 16")
	}
	if !plugin.ValidHeaderName(c.TagsHeader) {
		add("tags_header", "bad header name '"+c.TagsHeader+"', allowed characters are A-Z, a-z, 0-9, '_', and '-'")
	}
	seen := map[string]bool{}
	for i, t := range c.StaticTags {
		p := "static_tags[" + strconv.Itoa(i) + "]."
		switch {
		case t.Name == nil:
			add(p+"name", "required field missing")
		case slices.Contains(protectedTags, *t.Name):
			add(p+"name", "must not be one of: "+strings.Join(protectedTags, ", "))
		case seen[*t.Name]:
			add("static_tags", "repeated tags are not allowed: "+*t.Name)
		default:
			seen[*t.Name] = true
		}
		if t.Value == nil {
			add(p+"value", "required field missing")
		}
	}
	if c.HTTPSpanName != "method" && c.HTTPSpanName != "method_path" {
		add("http_span_name", "expected one of: method, method_path")
	}
	for _, f := range []struct {
		path string
		v    int
	}{{"connect_timeout", c.ConnectTimeout}, {"send_timeout", c.SendTimeout}, {"read_timeout", c.ReadTimeout}} {
		if f.v < 0 || f.v > math.MaxInt32-1 {
			add(f.path, "value should be between 0 and 2147483646")
		}
	}
	if h := c.HTTPResponseHeaderForTraceID; h != nil && !plugin.ValidHeaderName(*h) {
		add("http_response_header_for_traceid", "bad header name '"+*h+"', allowed characters are A-Z, a-z, 0-9, '_', and '-'")
	}
	if c.PhaseDurationFlavor != "annotations" && c.PhaseDurationFlavor != "tags" {
		add("phase_duration_flavor", "expected one of: annotations, tags")
	}
	prop := tracing.Resolve(c.Propagation, c.HeaderType, c.DefaultHeaderType, add)
	return prop, append(errs, c.Queue.Validate("queue.")...)
}
