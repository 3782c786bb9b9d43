package prometheus

import (
	"sync/atomic"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

const name = "prometheus"

// Config is Kong's prometheus schema; every flag defaults to false, as in
// Kong 3.x.
type Config struct {
	PerConsumer           bool `yaml:"per_consumer"`
	StatusCodeMetrics     bool `yaml:"status_code_metrics"`
	LatencyMetrics        bool `yaml:"latency_metrics"`
	BandwidthMetrics      bool `yaml:"bandwidth_metrics"`
	UpstreamHealthMetrics bool `yaml:"upstream_health_metrics"`
	// AIMetrics and WasmMetrics are accepted so that Kong files load, and
	// ignored: Turnpike has neither AI proxies nor Wasm filters.
	AIMetrics   bool `yaml:"ai_metrics"`
	WasmMetrics bool `yaml:"wasm_metrics"`
}

// Registration is the plugin's entry in the registry (Kong's priority).
func Registration() plugin.Registration {
	return plugin.Registration{
		Name:      name,
		Priority:  13,
		NewConfig: func() any { return &Config{} },
		New:       New,
	}
}

// Instance is one configured prometheus plugin.
type Instance struct {
	cfg Config
	// e is the shared exporter (nil without a registry: dry runs).
	e      *exporter
	closed atomic.Bool
}

// New builds an instance and enlists it with the shared exporter.
func New(cfg any, env plugin.Env) (plugin.Instance, error) {
	c := cfg.(*Config)
	if env.Logger != nil {
		for _, f := range [...]struct {
			on    bool
			field string
		}{{c.AIMetrics, "ai_metrics"}, {c.WasmMetrics, "wasm_metrics"}} {
			if f.on {
				env.Logger.Warn(name+": config."+f.field+" is ignored: Turnpike has no such metrics", "plugin_id", env.PluginID)
			}
		}
	}
	in := &Instance{cfg: *c}
	if env.Metrics != nil {
		in.e = plugin.RegisterMetric(env.Metrics, newExporter(env.Node, env.Logger))
		in.e.enlist(c.UpstreamHealthMetrics, 1)
	}
	return in, nil
}

// Close takes the instance off the exporter: once no instance is in
// force, its series are no longer shown.
func (in *Instance) Close() {
	if in.e != nil && in.closed.CompareAndSwap(false, true) {
		in.e.enlist(in.cfg.UpstreamHealthMetrics, -1)
	}
}

// Log counts the request. The proxy runs a global instance's log phase for
// requests that matched no route too (the 404s); like Kong's exporter
// (exporter.lua's log returns when the message has no route), those are
// not counted, so a client cannot add series or skew a route's. A route
// without a service is counted with service "" (Kong's, since 3.5).
func (in *Instance) Log(c *plugin.Ctx) {
	cfg := &in.cfg
	if in.e == nil || c.Route == nil || c.Record == nil ||
		!cfg.StatusCodeMetrics && !cfg.LatencyMetrics && !cfg.BandwidthMetrics {
		return
	}
	key := seriesKey{route: c.Route.Name}
	if key.route == "" {
		key.route = c.Route.ID
	}
	if s := c.Service; s != nil {
		key.service = s.Name
		if key.service == "" {
			key.service = s.Host
		}
	}
	if cfg.PerConsumer && c.Consumer != nil {
		key.consumer = c.Consumer.Username
	}
	if s := in.e.series(key); s != nil {
		in.e.count(s, cfg, c.Record)
	} else {
		in.e.countUncached(key, cfg, c.Record)
	}
}
