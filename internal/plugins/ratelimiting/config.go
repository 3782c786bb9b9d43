package ratelimiting

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/ratelimiting/engine"
)

// Config mirrors Kong's rate-limiting schema, plus Turnpike's extensions:
// the jwt-claim and consumer-group identifiers, window_type with the
// token-bucket fields, namespace, and the Redis Cluster and Sentinel
// fields of Kong Enterprise's redis record. The period limits are
// pointers because Kong tells an absent limit from a present one.
type Config struct {
	Second *float64 `yaml:"second,omitempty"`
	Minute *float64 `yaml:"minute,omitempty"`
	Hour   *float64 `yaml:"hour,omitempty"`
	Day    *float64 `yaml:"day,omitempty"`
	Month  *float64 `yaml:"month,omitempty"`
	Year   *float64 `yaml:"year,omitempty"`

	LimitBy    string `yaml:"limit_by"`
	HeaderName string `yaml:"header_name,omitempty"`
	Path       string `yaml:"path,omitempty"`
	// ClaimName is the JWT claim counted by limit_by jwt-claim.
	ClaimName string `yaml:"claim_name,omitempty"`

	// Policy is local, redis, or cluster (run as redis: a DB-less
	// gateway has no database to share counters through).
	Policy        string             `yaml:"policy"`
	FaultTolerant bool               `yaml:"fault_tolerant"`
	Redis         plugin.RedisConfig `yaml:"redis"`

	HideClientHeaders bool   `yaml:"hide_client_headers"`
	ErrorCode         int    `yaml:"error_code"`
	ErrorMessage      string `yaml:"error_message"`
	// SyncRate is Kong's field name; here it is the number of permits the
	// redis policy reserves per round trip (-1: one request, one trip).
	SyncRate float64 `yaml:"sync_rate"`

	// WindowType is fixed (Kong), sliding or token-bucket.
	WindowType string `yaml:"window_type"`
	// Rate (permits per second), Burst and NoDelay are the token bucket's,
	// as NGINX's limit_req rate, burst and nodelay.
	Rate    float64 `yaml:"rate,omitempty"`
	Burst   int64   `yaml:"burst,omitempty"`
	NoDelay bool    `yaml:"nodelay,omitempty"`

	// Namespace separates the Redis counters of plugins whose settings are
	// otherwise identical (Kong Enterprise's field). Default: derived from
	// the settings.
	Namespace string `yaml:"namespace,omitempty"`

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

// SetDefaults applies Kong's defaults.
func (c *Config) SetDefaults() {
	c.LimitBy = "consumer"
	c.Policy = "local"
	c.FaultTolerant = true
	c.ErrorCode = 429
	c.ErrorMessage = "API rate limit exceeded"
	c.SyncRate = -1
	c.WindowType = "fixed"
}

// Identifier kinds (limit_by).
const (
	byConsumer      = "consumer"
	byCredential    = "credential"
	byIP            = "ip"
	byService       = "service"
	byHeader        = "header"
	byPath          = "path"
	byJWTClaim      = "jwt-claim"
	byConsumerGroup = "consumer-group"
)

var (
	limitByList    = []string{byConsumer, byCredential, byIP, byService, byHeader, byPath, byJWTClaim, byConsumerGroup}
	policyList     = []string{"local", "cluster", "redis"}
	windowTypeList = []string{"fixed", "sliding", "token-bucket"}
)

// settings is a validated config, ready to build an instance from.
type settings struct {
	policy  engine.Policy
	limitBy string
	header  plugin.HeaderName // limit_by header
	path    string
	claim   string
	// configured are the period limits as configured, one per
	// policy.Limits (the headers show a fractional one as it is).
	configured []float64
	redis      bool
	// redisCfg is the redis record with the flat fields merged in.
	redisCfg  plugin.RedisConfig
	namespace string
	// defaultNS is the namespace when neither config.namespace nor a
	// plugin id is known (plugin unit tests).
	defaultNS  string
	fault      bool
	hide       bool
	errCode    int
	errMessage string
	// deprecated lists the flat redis_* fields the config used.
	deprecated []string
}

// compile validates c as Kong's schema does (plus Turnpike's fields) and
// turns it into settings. Paths are relative to the plugin's config.
func compile(c *Config) (*settings, plugin.Errors) {
	var errs plugin.Errors
	add := func(path, msg string) { errs = append(errs, plugin.Errors{{Path: path, Message: msg}}...) }
	s := &settings{
		limitBy: c.LimitBy, path: c.Path, claim: c.ClaimName,
		fault: c.FaultTolerant, hide: c.HideClientHeaders,
		errCode: c.ErrorCode, errMessage: c.ErrorMessage,
	}

	errs = append(errs, s.compileWindow(c)...)

	switch c.LimitBy {
	case byHeader:
		switch {
		case c.HeaderName == "":
			add("header_name", "required field missing")
		case !plugin.ValidHeaderName(c.HeaderName):
			add("header_name", "bad header name '"+c.HeaderName+"', allowed characters are A-Z, a-z, 0-9, '_', and '-'")
		default:
			s.header = plugin.NewHeaderName(c.HeaderName)
		}
	case byPath:
		switch {
		case c.Path == "":
			add("path", "required field missing")
		case c.Path[0] != '/':
			add("path", "should start with: /")
		}
	case byJWTClaim:
		if c.ClaimName == "" {
			add("claim_name", "required field missing")
		}
	case byConsumer, byCredential, byIP, byService, byConsumerGroup:
	default:
		add("limit_by", "expected one of: "+strings.Join(limitByList, ", "))
	}
	if c.HeaderName != "" && c.LimitBy != byHeader && !plugin.ValidHeaderName(c.HeaderName) {
		add("header_name", "bad header name '"+c.HeaderName+"', allowed characters are A-Z, a-z, 0-9, '_', and '-'")
	}
	if c.Path != "" && c.LimitBy != byPath && c.Path[0] != '/' {
		add("path", "should start with: /")
	}

	var redisErrs plugin.Errors
	s.redisCfg, s.deprecated, redisErrs = c.resolveRedis()
	errs = append(errs, redisErrs...)
	switch c.Policy {
	case "local":
	case "redis", "cluster":
		s.redis = true
		errs = append(errs, s.redisCfg.Validate("counters", true).Under("redis")...)
	default:
		add("policy", "expected one of: "+strings.Join(policyList, ", "))
	}

	switch {
	case c.SyncRate == -1:
	case c.Policy != "redis":
		// Kong's rule, for cluster too, although cluster runs as redis
		// here: a file Kong accepts never sets it with cluster.
		add("", "sync_rate can only be used with the redis policy")
	case s.policy.Algorithm == engine.TokenBucket:
		add("sync_rate", "not used with window_type token-bucket")
	case c.SyncRate < 1 || c.SyncRate > 1e6 || c.SyncRate != math.Trunc(c.SyncRate):
		add("sync_rate", "sync_rate must be -1 to disable, or a whole number of permits between 1 and 1000000")
	default:
		s.policy.Batch = int64(c.SyncRate)
	}

	if c.ErrorCode < 100 || c.ErrorCode > 599 {
		add("error_code", "value should be between 100 and 599")
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if err := s.policy.Validate(); err != nil {
		return nil, plugin.Errors{{Path: "", Message: err.Error()}}
	}
	s.namespace = c.Namespace
	s.defaultNS = defaultNamespace(c)
	return s, nil
}

// compileWindow validates the window type and its limits (the period
// limits, or the token bucket's rate and burst) into s.policy.
func (s *settings) compileWindow(c *Config) plugin.Errors {
	var errs plugin.Errors
	add := func(path, msg string) { errs = append(errs, plugin.Errors{{Path: path, Message: msg}}...) }
	limits := c.periodLimits()
	switch c.WindowType {
	case "fixed":
		s.policy.Algorithm = engine.Fixed
	case "sliding":
		s.policy.Algorithm = engine.Sliding
	case "token-bucket":
		s.policy.Algorithm = engine.TokenBucket
	default:
		add("window_type", "expected one of: "+strings.Join(windowTypeList, ", "))
	}
	if s.policy.Algorithm == engine.TokenBucket {
		for _, l := range limits {
			if l.value != nil {
				add(l.period.String(), "not used with window_type token-bucket (set rate and burst)")
			}
		}
		switch {
		case c.Rate == 0:
			add("rate", "required field missing")
		case c.Rate < 0 || c.Rate > 1e9 || math.IsNaN(c.Rate):
			add("rate", "value should be between 0 and 1000000000 (exclusive of 0)")
		}
		if c.Burst < 0 || c.Burst > 1e9 {
			add("burst", "value should be between 0 and 1000000000")
		}
		s.policy.Rate, s.policy.Burst, s.policy.NoDelay = c.Rate, c.Burst, c.NoDelay
	} else {
		errs = append(errs, checkPeriods(limits)...)
		for _, l := range limits {
			if l.value != nil && *l.value > 0 && *l.value <= 1e15 {
				// Kong admits a request while limit - usage > 0, so a
				// fractional limit admits its ceiling.
				s.policy.Limits = append(s.policy.Limits, engine.Limit{Period: l.period, Max: int64(math.Ceil(*l.value))})
				s.configured = append(s.configured, *l.value)
			}
		}
		if c.Rate != 0 {
			add("rate", "only used with window_type token-bucket")
		}
		if c.Burst != 0 {
			add("burst", "only used with window_type token-bucket")
		}
		if c.NoDelay {
			add("nodelay", "only used with window_type token-bucket")
		}
	}
	return errs
}

type periodLimit struct {
	period engine.Period
	value  *float64
}

func (c *Config) periodLimits() [6]periodLimit {
	return [6]periodLimit{
		{engine.Second, c.Second}, {engine.Minute, c.Minute}, {engine.Hour, c.Hour},
		{engine.Day, c.Day}, {engine.Month, c.Month}, {engine.Year, c.Year},
	}
}

// checkPeriods applies Kong's rules: every limit above 0, at least one of
// them, and no longer period with a smaller limit than a shorter one (the
// first such pair is reported, with Kong's text, on the config itself).
func checkPeriods(limits [6]periodLimit) plugin.Errors {
	var errs plugin.Errors
	given := false
	for _, l := range limits {
		if l.value == nil {
			continue
		}
		given = true
		if !(*l.value > 0) {
			errs = append(errs, plugin.Errors{{Path: l.period.String(), Message: "value must be greater than 0"}}...)
		} else if *l.value > 1e15 {
			errs = append(errs, plugin.Errors{{Path: l.period.String(), Message: "value should be between 0 and 1000000000000000 (exclusive of 0)"}}...)
		}
	}
	if !given {
		return append(errs, plugin.Errors{{Path: "", Message: "at least one of these fields must be non-empty: " +
			"'config.second', 'config.minute', 'config.hour', 'config.day', 'config.month', 'config.year'"}}...)
	}
	if len(errs) > 0 {
		return errs
	}
	for i, lower := range limits {
		if lower.value == nil {
			continue
		}
		for _, upper := range limits[i+1:] {
			if upper.value != nil && *upper.value < *lower.value {
				return append(errs, plugin.Errors{{Path: "", Message: "The limit for " + upper.period.String() +
					"(" + strconv.FormatFloat(*upper.value, 'f', 1, 64) + ") cannot be lower than the limit for " +
					lower.period.String() + "(" + strconv.FormatFloat(*lower.value, 'f', 1, 64) + ")"}}...)
			}
		}
	}
	return errs
}

// resolveRedis merges the deprecated flat fields into redis.* and names
// the ones used. As Kong's validate_deprecation_exclusiveness, a flat
// field and its redis.* field may both be given only with the same value.
func (c *Config) resolveRedis() (plugin.RedisConfig, []string, plugin.Errors) {
	r := c.Redis
	m := new(merger)
	r.Host = merge(m, "host", c.RedisHost, r.Host)
	r.Port = merge(m, "port", c.RedisPort, r.Port)
	r.Username = merge(m, "username", c.RedisUsername, r.Username)
	r.Password = merge(m, "password", c.RedisPassword, r.Password)
	r.Database = merge(m, "database", c.RedisDatabase, r.Database)
	r.Timeout = merge(m, "timeout", c.RedisTimeout, r.Timeout)
	r.SSL = merge(m, "ssl", c.RedisSSL, r.SSL)
	r.SSLVerify = merge(m, "ssl_verify", c.RedisSSLVerify, r.SSLVerify)
	r.ServerName = merge(m, "server_name", c.RedisServerName, r.ServerName)
	return r, m.used, m.errs
}

// merger collects, for merge, the flat fields used and the mismatches.
type merger struct {
	used []string
	errs plugin.Errors
}

// merge is one redis.<name> field: the field when given, else the
// deprecated redis_<name> field (nil: neither, the record's default
// applies). Both given with different values is Kong's error, on the
// flat field; a password's value is not repeated in it.
func merge[T comparable](m *merger, name string, flat, field *T) *T {
	if flat == nil {
		return field
	}
	m.used = append(m.used, "redis_"+name)
	if field == nil {
		return flat
	}
	if *field != *flat {
		fv, nv := fmt.Sprint(*flat), fmt.Sprint(*field)
		if name == "password" {
			fv, nv = "(hidden)", "(hidden)"
		}
		m.errs = append(m.errs, plugin.Errors{{Path: "redis_" + name, Message: "both deprecated and new field are used " +
			"but their values mismatch: redis_" + name + " = " + fv + " vs redis." + name + " = " + nv}}...)
	}
	return field
}
