package ratelimiting

import (
	"crypto/sha256"
	"encoding/hex"
	"net/textproto"
	"slices"
	"strconv"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/ratelimiting/engine"
)

// ResponseName is the response-ratelimiting plugin's name in configs.
const ResponseName = "response-ratelimiting"

// ResponseConfig mirrors Kong's response-ratelimiting schema.
type ResponseConfig struct {
	HeaderName            string                    `yaml:"header_name"`
	LimitBy               string                    `yaml:"limit_by"`
	Policy                string                    `yaml:"policy"`
	FaultTolerant         bool                      `yaml:"fault_tolerant"`
	Redis                 plugin.RedisConfig        `yaml:"redis"`
	BlockOnFirstViolation bool                      `yaml:"block_on_first_violation"`
	HideClientHeaders     bool                      `yaml:"hide_client_headers"`
	Limits                map[string]*ResponseLimit `yaml:"limits"`

	// Kong's deprecated flat Redis fields (shorthands of redis.*).
	RedisHost       *string `yaml:"redis_host,omitempty"`
	RedisPort       *int    `yaml:"redis_port,omitempty"`
	RedisUsername   *string `yaml:"redis_username,omitempty"`
	RedisPassword   *string `yaml:"redis_password,omitempty"`
	RedisDatabase   *int    `yaml:"redis_database,omitempty"`
	RedisTimeout    *int    `yaml:"redis_timeout,omitempty"`
	RedisSSL        *bool   `yaml:"redis_ssl,omitempty"`
	RedisSSLVerify  *bool   `yaml:"redis_ssl_verify,omitempty"`
	RedisServerName *string `yaml:"redis_server_name,omitempty"`
}

// ResponseLimit is one named limit's periods.
type ResponseLimit struct {
	Second *float64 `yaml:"second,omitempty"`
	Minute *float64 `yaml:"minute,omitempty"`
	Hour   *float64 `yaml:"hour,omitempty"`
	Day    *float64 `yaml:"day,omitempty"`
	Month  *float64 `yaml:"month,omitempty"`
	Year   *float64 `yaml:"year,omitempty"`
}

// SetDefaults applies Kong's defaults.
func (c *ResponseConfig) SetDefaults() {
	c.HeaderName = "x-kong-limit"
	c.LimitBy = "consumer"
	c.Policy = "local"
	c.FaultTolerant = true
}

// respLimit is one compiled named limit.
type respLimit struct {
	name string
	// reqHeader is X-RateLimit-Remaining-<name>, sent upstream.
	reqHeader string
	periods   []respPeriod
}

// respPeriod is one period of a named limit, counted under a key of its
// own with a one-window policy, so that every period counts what the
// upstream reported even when another is full.
type respPeriod struct {
	policy engine.Policy
	// limit is the limit as configured (Kong counts limit - usage with
	// it, fractional or not); limitText is it as the header shows it.
	limit     float64
	limitText string
	// hLimit and hRemaining are the response headers' canonical names.
	hLimit, hRemaining string
	// keyPart starts the period's store keys: "<name>:<period>:".
	keyPart string
}

// respSettings is a validated config.
type respSettings struct {
	header     plugin.HeaderName
	headerName string
	limitBy    string
	limits     []respLimit
	// nPeriods counts the periods of all limits.
	nPeriods   int
	redis      bool
	redisCfg   plugin.RedisConfig
	fault      bool
	block      bool
	hide       bool
	deprecated []string
	defaultNS  string
}

// compileResponse validates c as Kong's schema does, in a DB-less
// gateway (policy local or redis).
func compileResponse(c *ResponseConfig) (*respSettings, plugin.Errors) {
	var errs plugin.Errors
	add := func(path, msg string) { errs = append(errs, plugin.Problem{Path: path, Message: msg}) }
	s := &respSettings{
		headerName: c.HeaderName, limitBy: c.LimitBy,
		fault: c.FaultTolerant, block: c.BlockOnFirstViolation, hide: c.HideClientHeaders,
	}
	if c.HeaderName == "" {
		add("header_name", "length must be at least 1")
	}
	s.header = plugin.NewHeaderName(c.HeaderName)
	switch c.LimitBy {
	case byConsumer, byCredential, byIP:
	default:
		add("limit_by", "expected one of: consumer, credential, ip")
	}
	flat := &Config{Redis: c.Redis, RedisHost: c.RedisHost, RedisPort: c.RedisPort, RedisUsername: c.RedisUsername,
		RedisPassword: c.RedisPassword, RedisDatabase: c.RedisDatabase, RedisTimeout: c.RedisTimeout,
		RedisSSL: c.RedisSSL, RedisSSLVerify: c.RedisSSLVerify, RedisServerName: c.RedisServerName}
	var redisErrs plugin.Errors
	s.redisCfg, s.deprecated, redisErrs = flat.resolveRedis()
	errs = append(errs, redisErrs...)
	switch c.Policy {
	case "local":
	case "redis":
		s.redis = true
		errs = append(errs, s.redisCfg.Validate("counters", true).Under("redis")...)
	default:
		// Kong's DB-less schema: cluster needs a database.
		add("policy", "expected one of: local, redis")
	}
	switch {
	case c.Limits == nil:
		add("limits", "required field missing")
	case len(c.Limits) == 0:
		add("limits", "length must be at least 1")
	}
	names := make([]string, 0, len(c.Limits))
	for name := range c.Limits {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		l, lerrs := compileLimit(name, c.Limits[name])
		errs = append(errs, lerrs...)
		s.limits = append(s.limits, l)
		s.nPeriods += len(l.periods)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	sum := sha256.Sum256([]byte(ResponseName + "|" + c.LimitBy + "|" + c.HeaderName + "|" + fmtLimits(s.limits)))
	s.defaultNS = hex.EncodeToString(sum[:6])
	return s, nil
}

// compileLimit checks one named limit as Kong's record does (each period
// above 0, at least one, longer periods not below shorter ones, reported
// on `limits` as Kong reports it). The name becomes part of header
// names, so it must be one.
func compileLimit(name string, rl *ResponseLimit) (respLimit, plugin.Errors) {
	path := "limits." + name
	if rl == nil {
		return respLimit{}, plugin.Errors{{Path: path, Message: "required field missing"}}
	}
	if !plugin.ValidHeaderName(name) {
		return respLimit{}, plugin.Errors{{Path: path, Message: "a limit's name is part of header names: " +
			"letters, digits, '-' and '_' only"}}
	}
	limits := [6]periodLimit{
		{engine.Second, rl.Second}, {engine.Minute, rl.Minute}, {engine.Hour, rl.Hour},
		{engine.Day, rl.Day}, {engine.Month, rl.Month}, {engine.Year, rl.Year},
	}
	var errs plugin.Errors
	given := false
	for _, l := range limits {
		switch {
		case l.value == nil:
		case !(*l.value > 0):
			errs = append(errs, plugin.Problem{Path: path + "." + l.period.String(), Message: "value must be greater than 0"})
		case *l.value > 1e15:
			errs = append(errs, plugin.Problem{Path: path + "." + l.period.String(),
				Message: "value should be between 0 and 1000000000000000 (exclusive of 0)"})
		default:
			given = true
		}
	}
	if !given && len(errs) == 0 {
		return respLimit{}, plugin.Errors{{Path: path, Message: "at least one of these fields must be non-empty: " +
			"'second', 'minute', 'hour', 'day', 'month', 'year'"}}
	}
	if len(errs) > 0 {
		return respLimit{}, errs
	}
	out := respLimit{name: name, reqHeader: textproto.CanonicalMIMEHeaderKey("X-RateLimit-Remaining-" + name)}
	for i, lower := range limits {
		if lower.value == nil {
			continue
		}
		for _, upper := range limits[i+1:] {
			if upper.value != nil && *upper.value < *lower.value {
				return respLimit{}, plugin.Errors{{Path: "limits", Message: "the limit for " + upper.period.String() +
					"(" + strconv.FormatFloat(*upper.value, 'f', 1, 64) + ") cannot be lower than the limit for " +
					lower.period.String() + "(" + strconv.FormatFloat(*lower.value, 'f', 1, 64) + ")"}}
			}
		}
		v, p := *lower.value, lower.period.String()
		out.periods = append(out.periods, respPeriod{
			// Kong lets a request through while limit - usage > 0: a
			// fractional limit counts up to its ceiling.
			policy:     engine.Policy{Algorithm: engine.Fixed, Limits: []engine.Limit{{Period: lower.period, Max: ceilInt(v)}}},
			limit:      v,
			limitText:  string(appendFraction(nil, v)),
			hLimit:     textproto.CanonicalMIMEHeaderKey("X-RateLimit-Limit-" + name + "-" + p),
			hRemaining: textproto.CanonicalMIMEHeaderKey("X-RateLimit-Remaining-" + name + "-" + p),
			keyPart:    name + ":" + p + ":",
		})
	}
	return out, nil
}

// fmtLimits renders the limits for the default Redis namespace (used
// when no plugin id is known), so that plugins with other limits never
// share counters.
func fmtLimits(ls []respLimit) string {
	var b []byte
	for _, l := range ls {
		b = append(b, l.name...)
		for _, p := range l.periods {
			b = append(append(append(b, ':'), p.keyPart...), p.limitText...)
		}
		b = append(b, ';')
	}
	return string(b)
}
