package statsd

import (
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/queue"
	"github.com/turnpikegw/turnpike/internal/record"
)

const name = "statsd"

// Registration describes the plugin to the registry.
func Registration() plugin.Registration {
	return plugin.Registration{
		Name:      name,
		Priority:  11,
		NewConfig: func() any { return &Config{} },
		New:       New,
	}
}

// workspace is what Kong's workspace_id and workspace_name give outside
// Kong Enterprise's workspaces (Turnpike has one, unnamed).
const workspace = "default"

// The metrics computed from the record rather than sent by a function of
// their own in Kong's log.lua.
const (
	kindPlain = iota
	kindUniqueUsers
	kindRequestPerUser
	kindStatusCount
	kindStatusPerUser
	kindStatusPerWorkspace
	kindStatusPerUserPerRoute
	kindShdict
)

// metric is a configured metric, resolved once.
type metric struct {
	kind int
	// stat is the name after the scope (`request.count`), for kindPlain.
	stat string
	// value picks the record's number for kindPlain.
	value func(v values) int64
	// suffix is `|c`, `|ms`... and `|@<rate>` when the rate is not 1.
	suffix    string
	consumer  string // Kong's consumer identifier
	service   string // Kong's service identifier
	workspace string
}

// values are a request's numbers, as Kong's serializer has them.
type values struct {
	requestSize, responseSize int64
	latency, upstream, kong   int64 // ms; upstream is -1 without an answer
}

var plain = map[string]struct {
	stat  string
	value func(v values) int64
}{
	"request_count":    {"request.count", func(values) int64 { return 1 }},
	"latency":          {"latency", func(v values) int64 { return v.latency }},
	"request_size":     {"request.size", func(v values) int64 { return v.requestSize }},
	"response_size":    {"response.size", func(v values) int64 { return v.responseSize }},
	"upstream_latency": {"upstream_latency", func(v values) int64 { return v.upstream }},
	"kong_latency":     {"kong_latency", func(v values) int64 { return v.kong }},
}

var kinds = map[string]int{
	"unique_users":                    kindUniqueUsers,
	"request_per_user":                kindRequestPerUser,
	"status_count":                    kindStatusCount,
	"status_count_per_user":           kindStatusPerUser,
	"status_count_per_workspace":      kindStatusPerWorkspace,
	"status_count_per_user_per_route": kindStatusPerUserPerRoute,
	"shdict_usage":                    kindShdict,
}

var statSymbols = map[string]string{
	"gauge": "g", "counter": "c", "timer": "ms", "histogram": "h", "meter": "m", "set": "s",
}

type instance struct {
	q       *queue.Queue
	release func()
	// prefix is Kong's conf._prefix: prefix, and `.node.<host>` with
	// hostname_in_prefix (without tag_style).
	prefix   string
	hostname string
	tagStyle string
	metrics  []metric
	// allow are the allowed status ranges (nil: all).
	allow [][2]int
}

// New validates the config as Kong's schema does and opens the queue
// the lines go through.
func New(cfg any, env plugin.Env) (plugin.Instance, error) {
	c := cfg.(*Config)
	if errs := c.validate(); len(errs) > 0 {
		return nil, errs
	}
	host, _ := os.Hostname()
	in := &instance{hostname: strings.ReplaceAll(host, ".", "_"), prefix: c.Prefix}
	if c.TagStyle != nil {
		in.tagStyle = *c.TagStyle
	} else if c.HostnameInPrefix {
		in.prefix += ".node." + in.hostname
	}
	for _, r := range c.AllowStatusCodes {
		lo, hi, _ := parseRange(r)
		in.allow = append(in.allow, [2]int{lo, hi})
	}
	for _, m := range c.Metrics {
		in.metrics = append(in.metrics, resolve(c, m))
	}
	addr := net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	packet := int(c.UDPPacketSize)
	key := addr + "\x00" + strconv.FormatBool(c.UseTCP) + "\x00" + strconv.Itoa(packet) + "\x00" + c.Queue.Key()
	in.q, in.release = queue.Open(env, name, key, c.Queue.Settings(), func() queue.Sender {
		return &sender{addr: addr, tcp: c.UseTCP, packet: packet}
	})
	return in, nil
}

func resolve(c *Config, m Metric) metric {
	r := metric{kind: kinds[m.Name], suffix: "|" + statSymbols[m.StatType],
		consumer: c.ConsumerIdentifierDefault, service: c.ServiceIdentifierDefault, workspace: c.WorkspaceIdentifierDefault}
	if p, ok := plain[m.Name]; ok {
		r.kind, r.stat, r.value = kindPlain, p.stat, p.value
	}
	if m.SampleRate != nil && *m.SampleRate != 1 {
		// Lua's tostring of a number: %.14g.
		r.suffix += "|@" + strconv.FormatFloat(*m.SampleRate, 'g', 14, 64)
	}
	if m.ConsumerIdentifier != nil {
		r.consumer = *m.ConsumerIdentifier
	}
	if m.ServiceIdentifier != nil {
		r.service = *m.ServiceIdentifier
	}
	if m.WorkspaceIdentifier != nil {
		r.workspace = *m.WorkspaceIdentifier
	}
	return r
}

// Close gives the queue back; the last instance using it flushes it.
func (in *instance) Close() { in.release() }

// Log queues the request's metric lines, one entry per request; it never
// waits.
func (in *instance) Log(c *plugin.Ctx) {
	r := c.Record
	if in.allow != nil && !in.allowed(r.Status) {
		return
	}
	v := measure(c, r)
	bp := in.q.Buffer()
	b := *bp
	for i := range in.metrics {
		b = in.appendMetric(b, c, &in.metrics[i], &v)
	}
	if len(b) == 0 {
		return
	}
	*bp = b[:len(b)-1] // the last line's '\n'
	in.q.Enqueue(bp)
}

func (in *instance) allowed(status int) bool {
	for _, r := range in.allow {
		if status >= r[0] && status <= r[1] {
			return true
		}
	}
	return false
}

// measure is Kong's request.size, response.size and latencies.
func measure(c *plugin.Ctx, r *record.Record) values {
	v := values{requestSize: c.RequestSize(), latency: r.Latency.Milliseconds(), upstream: -1}
	v.responseSize = int64(len("HTTP/1.1 200 \r\n")+len(statusText(r.Status))) + plugin.HeaderSize(c.Resp.Header, nil) + r.BytesSent
	v.kong = v.latency
	if a := r.Answer(); a != nil {
		v.upstream = a.Head.Milliseconds()
		receive := int64(0)
		if a.End > a.Head {
			receive = (a.End - a.Head).Milliseconds()
		}
		v.kong = max(v.latency-v.upstream-receive, 0)
	}
	return v
}
