package statsd

import (
	"math"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/queue"
)

// Metric is one entry of Kong's `metrics`.
type Metric struct {
	Name                string   `yaml:"name"`
	StatType            string   `yaml:"stat_type"`
	SampleRate          *float64 `yaml:"sample_rate"`
	ConsumerIdentifier  *string  `yaml:"consumer_identifier"`
	ServiceIdentifier   *string  `yaml:"service_identifier"`
	WorkspaceIdentifier *string  `yaml:"workspace_identifier"`
}

// Config mirrors Kong's statsd schema (kong/plugins/statsd/schema.lua).
type Config struct {
	Host                       string   `yaml:"host"`
	Port                       int      `yaml:"port"`
	Prefix                     string   `yaml:"prefix"`
	Metrics                    []Metric `yaml:"metrics"`
	AllowStatusCodes           []string `yaml:"allow_status_codes"`
	UDPPacketSize              float64  `yaml:"udp_packet_size"`
	UseTCP                     bool     `yaml:"use_tcp"`
	HostnameInPrefix           bool     `yaml:"hostname_in_prefix"`
	ConsumerIdentifierDefault  string   `yaml:"consumer_identifier_default"`
	ServiceIdentifierDefault   string   `yaml:"service_identifier_default"`
	WorkspaceIdentifierDefault string   `yaml:"workspace_identifier_default"`
	// RetryCount, QueueSize and FlushTimeout are Kong's deprecated fields:
	// accepted, and without effect (as in Kong 3.x); queue replaces them.
	RetryCount   *int         `yaml:"retry_count"`
	QueueSize    *int         `yaml:"queue_size"`
	FlushTimeout *float64     `yaml:"flush_timeout"`
	TagStyle     *string      `yaml:"tag_style"`
	Queue        queue.Config `yaml:"queue"`
}

func rate(v float64) *float64 { return &v }

// defaultMetrics are Kong's DEFAULT_METRICS, in its order.
func defaultMetrics() []Metric {
	one := func(name, kind string) Metric { return Metric{Name: name, StatType: kind, SampleRate: rate(1)} }
	return []Metric{
		one("request_count", "counter"),
		{Name: "latency", StatType: "timer"},
		one("request_size", "counter"),
		one("status_count", "counter"),
		one("response_size", "counter"),
		{Name: "unique_users", StatType: "set"},
		one("request_per_user", "counter"),
		{Name: "upstream_latency", StatType: "timer"},
		{Name: "kong_latency", StatType: "timer"},
		one("status_count_per_user", "counter"),
		one("status_count_per_workspace", "counter"),
		one("status_count_per_user_per_route", "counter"),
		one("shdict_usage", "gauge"),
	}
}

// SetDefaults applies Kong's defaults.
func (c *Config) SetDefaults() {
	c.Host = "localhost"
	c.Port = 8125
	c.Prefix = "kong"
	c.Metrics = defaultMetrics()
	c.ConsumerIdentifierDefault = "custom_id"
	c.ServiceIdentifierDefault = "service_name_or_host"
	c.WorkspaceIdentifierDefault = "workspace_id"
	c.Queue.SetDefaults()
}

var (
	metricNames = []string{"kong_latency", "latency", "request_count", "request_per_user",
		"request_size", "response_size", "status_count", "status_count_per_user",
		"unique_users", "upstream_latency",
		"status_count_per_workspace", "status_count_per_user_per_route",
		"shdict_usage"}
	statTypes            = []string{"counter", "gauge", "histogram", "meter", "set", "timer"}
	consumerIdentifiers  = []string{"consumer_id", "custom_id", "username"}
	serviceIdentifiers   = []string{"service_id", "service_name", "service_host", "service_name_or_host"}
	workspaceIdentifiers = []string{"workspace_id", "workspace_name"}
	tagStyles            = []string{"dogstatsd", "influxdb", "librato", "signalfx"}
)

// maxPacket is the largest UDP payload over IPv4 (Kong's bound of
// udp_packet_size).
const maxPacket = 65507

// validate checks what Kong's schema checks, with its messages.
func (c *Config) validate() plugin.Errors {
	var errs plugin.Errors
	add := func(path, msg string) { errs = append(errs, plugin.Problem{Path: path, Message: msg}) }
	if c.Host == "" {
		add("host", "required field missing")
	} else if strings.ContainsAny(c.Host, " /:") && net.ParseIP(c.Host) == nil {
		add("host", "invalid value: "+c.Host)
	}
	if c.Port < 0 || c.Port > 65535 {
		add("port", "value should be between 0 and 65535")
	}
	for i, m := range c.Metrics {
		p := "metrics[" + strconv.Itoa(i) + "]."
		switch {
		case m.Name == "":
			add(p+"name", "required field missing")
		case !slices.Contains(metricNames, m.Name):
			add(p+"name", oneOf(metricNames))
		}
		switch {
		case m.StatType == "":
			add(p+"stat_type", "field required for entity check")
		case !slices.Contains(statTypes, m.StatType):
			add(p+"stat_type", oneOf(statTypes))
		case (m.StatType == "counter" || m.StatType == "gauge") && m.SampleRate == nil:
			add(p+"sample_rate", "required field missing")
		}
		if m.SampleRate != nil && !(*m.SampleRate > 0) {
			add(p+"sample_rate", "value must be greater than 0")
		}
		optionalOneOf(add, p+"consumer_identifier", m.ConsumerIdentifier, consumerIdentifiers)
		optionalOneOf(add, p+"service_identifier", m.ServiceIdentifier, serviceIdentifiers)
		optionalOneOf(add, p+"workspace_identifier", m.WorkspaceIdentifier, workspaceIdentifiers)
	}
	for i, r := range c.AllowStatusCodes {
		if _, _, ok := parseRange(r); !ok {
			add("allow_status_codes["+strconv.Itoa(i)+"]", "invalid value: "+r)
		}
	}
	if math.IsNaN(c.UDPPacketSize) || c.UDPPacketSize < 0 || c.UDPPacketSize > maxPacket {
		add("udp_packet_size", "value should be between 0 and 65507")
	}
	requiredOneOf(add, "consumer_identifier_default", c.ConsumerIdentifierDefault, consumerIdentifiers)
	requiredOneOf(add, "service_identifier_default", c.ServiceIdentifierDefault, serviceIdentifiers)
	requiredOneOf(add, "workspace_identifier_default", c.WorkspaceIdentifierDefault, workspaceIdentifiers)
	optionalOneOf(add, "tag_style", c.TagStyle, tagStyles)
	return append(errs, c.Queue.Validate("queue.")...)
}

func oneOf(vs []string) string { return "expected one of: " + strings.Join(vs, ", ") }

func optionalOneOf(add func(path, msg string), path string, v *string, vs []string) {
	if v != nil && !slices.Contains(vs, *v) {
		add(path, oneOf(vs))
	}
}

func requiredOneOf(add func(path, msg string), path, v string, vs []string) {
	if v == "" {
		add(path, "required field missing")
	} else if !slices.Contains(vs, v) {
		add(path, oneOf(vs))
	}
}

// parseRange reads Kong's `^[0-9]+-[0-9]+$` status range.
func parseRange(r string) (lo, hi int, ok bool) {
	a, b, found := strings.Cut(r, "-")
	if !found || !digits(a) || !digits(b) {
		return 0, 0, false
	}
	lo, errA := strconv.Atoi(a)
	hi, errB := strconv.Atoi(b)
	return lo, hi, errA == nil && errB == nil
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
