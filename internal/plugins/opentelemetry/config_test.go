package opentelemetry

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/tracing"
)

func TestGuideConfig(t *testing.T) {
	s, err := validate(decode(t, `{endpoint: "otel-collector:4318", service_name: api-gateway, tags: {environment: production}}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.endpoint != "http://otel-collector:4318/v1/traces" {
		t.Errorf("endpoint %q", s.endpoint)
	}
	if s.rate != 1 || s.batch != 200 || s.delay != time.Second || s.maxEntries != 10000 {
		t.Errorf("defaults %+v", s)
	}
	if len(s.prop.Extract) != len(tracing.KongExtractOrder) || len(s.prop.Inject) != 1 || s.prop.Inject[0] != tracing.Preserve || s.prop.DefaultFormat != tracing.W3C {
		t.Errorf("propagation %+v %+v", s.prop.Extract, s.prop.Inject)
	}
	got := map[string]string{}
	for _, kv := range s.resource {
		got[string(kv.Key)] = kv.Value.Emit()
	}
	if got["service.name"] != "api-gateway" || got["environment"] != "production" {
		t.Errorf("resource %v", got)
	}
}

func TestEndpoints(t *testing.T) {
	for doc, want := range map[string]string{
		`{endpoint: "https://collector.example:4318"}`:            "https://collector.example:4318/v1/traces",
		`{endpoint: "http://c:4318/otlp/v1/traces"}`:              "http://c:4318/otlp/v1/traces",
		`{traces_endpoint: "http://c:4318/v1/traces"}`:            "http://c:4318/v1/traces",
		`{traces_endpoint: "http://c/x", endpoint: "http://c/x"}`: "http://c/x",
	} {
		s, err := validate(decode(t, doc))
		if err != nil {
			t.Errorf("%s: %v", doc, err)
		} else if s.endpoint != want {
			t.Errorf("%s: %q, want %q", doc, s.endpoint, want)
		}
	}
}

// Every bad value is reported with its path under config.
func TestConfigErrors(t *testing.T) {
	cases := map[string]string{
		`{}`:                                     ": at least one of these fields must be non-empty: 'traces_endpoint', 'logs_endpoint'",
		`{traces_endpoint: "ftp://c/v1/traces"}`: "traces_endpoint: unsupported scheme 'ftp'",
		`{traces_endpoint: "http://user:pw@c/v1/traces"}`:                         "traces_endpoint: credentials in the URL",
		`{endpoint: "http://a/v1/traces", traces_endpoint: "http://b/v1/traces"}`: "endpoint: endpoint is the deprecated name",
		`{logs_endpoint: "c:4318/v1/logs"}`:                                       "logs_endpoint: unsupported scheme",
		`{endpoint: c, sampling_rate: 1.5}`:                                       "sampling_rate: value should be between 0 and 1",
		`{endpoint: c, queue: {max_batch_size: 0}}`:                               "queue.max_batch_size: value should be between 1 and 1000000",
		`{endpoint: c, queue: {max_entries: 2000000}}`:                            "queue.max_entries: value should be between 1 and 1000000",
		`{endpoint: c, queue: {max_coalescing_delay: -1}}`:                        "queue.max_coalescing_delay: value should be between 0 and 3600",
		`{endpoint: c, queue: {max_bytes: 100}}`:                                  "queue.max_bytes: not supported",
		`{endpoint: c, queue: {concurrency_limit: 2}}`:                            "queue.concurrency_limit: expected one of: -1, 1",
		`{endpoint: c, queue: {initial_retry_delay: 0}}`:                          "queue.initial_retry_delay: value should be between 0.001",
		`{endpoint: c, batch_span_count: 0}`:                                      "batch_span_count: value should be between 1 and 1000000",
		`{endpoint: c, connect_timeout: -1}`:                                      "connect_timeout: value should be between 0 and",
		`{endpoint: c, headers: {"bad header": x}}`:                               "headers.bad header: bad header name",
		`{endpoint: c, resource_attributes: {a: ""}}`:                             "resource_attributes.a: required field missing",
		`{endpoint: c, tags: {a: [1]}}`:                                           "tags.a: invalid type of value",
		`{endpoint: c, service_name: ""}`:                                         "service_name: length must be at least 1",
		`{endpoint: c, http_response_header_for_traceid: "a b"}`:                  "http_response_header_for_traceid: bad header name",
		`{endpoint: c, header_type: zipkin}`:                                      "header_type: expected one of: preserve, ignore, w3c",
		`{endpoint: c, header_type: instana}`:                                     "header_type: the instana format is not supported",
		`{endpoint: c, propagation: {extract: [w3c, b3-single]}}`:                 "propagation.extract[1]: expected one of: w3c, b3, jaeger",
		`{endpoint: c, propagation: {inject: [x]}}`:                               "propagation.inject[0]: expected one of: preserve, w3c",
		`{endpoint: c, propagation: {clear: ["a:b"]}}`:                            "propagation.clear[0]: bad header name",
		`{endpoint: c, propagation: {default_format: preserve}}`:                  "propagation.default_format: expected one of: w3c",
	}
	for doc, want := range cases {
		inst, err := New(decode(t, doc), plugin.Env{})
		if err == nil {
			inst.(plugin.Closer).Close()
		}
		var errs plugin.Errors
		if !errors.As(err, &errs) {
			t.Errorf("%s: error %v is not plugin.Errors", doc, err)
			continue
		}
		if msg := errs.Error(); !strings.Contains(msg, want) && !strings.Contains(": "+msg, want) {
			t.Errorf("%s:\n got %q\nwant %q", doc, msg, want)
		}
	}
}
