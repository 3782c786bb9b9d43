package proxycache

import (
	"math"
	"mime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/store"
)

// Config is Kong's proxy-cache schema with the paid edition's redis
// record and bypass_on_err, and Turnpike's extensions (cache_key,
// use_stale, stale windows, lock, max_size, max_body_size,
// cache_set_cookie).
type Config struct {
	ResponseCode    []int              `yaml:"response_code"`
	RequestMethod   []string           `yaml:"request_method"`
	ContentType     []string           `yaml:"content_type"`
	CacheTTL        int64              `yaml:"cache_ttl"`
	Strategy        string             `yaml:"strategy"`
	CacheControl    any                `yaml:"cache_control"`
	IgnoreURICase   bool               `yaml:"ignore_uri_case"`
	StorageTTL      *int64             `yaml:"storage_ttl,omitempty"`
	Memory          MemoryConfig       `yaml:"memory"`
	VaryQueryParams []string           `yaml:"vary_query_params,omitempty"`
	VaryHeaders     []string           `yaml:"vary_headers,omitempty"`
	ResponseHeaders ResponseHeaders    `yaml:"response_headers"`
	Redis           plugin.RedisConfig `yaml:"redis"`
	BypassOnErr     bool               `yaml:"bypass_on_err"`

	CacheKey             string   `yaml:"cache_key,omitempty"`
	UseStale             []string `yaml:"use_stale,omitempty"`
	StaleTTL             *int64   `yaml:"stale_ttl,omitempty"`
	StaleWhileRevalidate int64    `yaml:"stale_while_revalidate"`
	StaleIfError         int64    `yaml:"stale_if_error"`
	Lock                 bool     `yaml:"lock"`
	LockTimeout          float64  `yaml:"lock_timeout"`
	MaxSize              int64    `yaml:"max_size"`
	MaxBodySize          int64    `yaml:"max_body_size"`
	CacheSetCookie       bool     `yaml:"cache_set_cookie"`
}

// ResponseCacheConfig is response-cache's config: proxy-cache's, with
// the guide's flat Redis fields and an optional strategy.
type ResponseCacheConfig struct {
	Config        `yaml:",inline"`
	RedisHost     *string `yaml:"redis_host,omitempty"`
	RedisPort     *int    `yaml:"redis_port,omitempty"`
	RedisPassword *string `yaml:"redis_password,omitempty"`
	RedisDatabase *int    `yaml:"redis_database,omitempty"`
}

// MemoryConfig names the dictionary the memory strategy keeps entries in.
type MemoryConfig struct {
	DictionaryName string `yaml:"dictionary_name"`
}

// ResponseHeaders are the diagnostic headers a response carries.
type ResponseHeaders struct {
	Age      bool `yaml:"age"`
	Status   bool `yaml:"X-Cache-Status"`
	CacheKey bool `yaml:"X-Cache-Key"`
}

// Defaults: Kong's, then Turnpike's.
const (
	defaultTTL         = 300
	defaultStaleTTL    = 3600
	defaultLockTimeout = 5
	defaultMaxSize     = 128 << 20
	defaultMaxBody     = 1 << 20
	defaultDictionary  = "kong_db_cache"
	redisTimeoutMs     = 2000
	strategyMemory     = "memory"
	strategyRedis      = "redis"
)

// redisPoolSize is the most connections per node of the cache's Redis
// client. Every cache Get and Set holds a connection for its round trip
// (nothing is pipelined), so the store's default of 2, sized for the
// rate-limit pipeline, would queue concurrent hits behind each other.
// Being different, it also keeps the cache off the rate-limit client
// when both plugins name one redis record.
const redisPoolSize = 16

// SetDefaults applies Kong's defaults and Turnpike's.
func (c *Config) SetDefaults() {
	c.ResponseCode = []int{200, 301, 404}
	c.RequestMethod = []string{"GET", "HEAD"}
	c.ContentType = []string{"text/plain", "application/json"}
	c.CacheTTL = defaultTTL
	c.CacheControl = false
	c.Memory.DictionaryName = defaultDictionary
	c.ResponseHeaders = ResponseHeaders{Age: true, Status: true, CacheKey: true}
	// Kong's paid edition shows its record's Enterprise timeouts with
	// their defaults; the record fills in the others when shown.
	connect, send, read := redisTimeoutMs, redisTimeoutMs, redisTimeoutMs
	c.Redis.ConnectTimeout, c.Redis.SendTimeout, c.Redis.ReadTimeout = &connect, &send, &read
	c.LockTimeout = defaultLockTimeout
	c.MaxSize = defaultMaxSize
	c.MaxBodySize = defaultMaxBody
}

var (
	methodList   = []string{"HEAD", "GET", "POST", "PATCH", "PUT"}
	useStaleList = []string{"error", "timeout", "http_500", "http_502", "http_503", "http_504", "updating"}
)

// mediaType is a configured content type: type and subtype, '*' for
// any; its parameters, as Kong's, must all be on the response too.
type mediaType struct {
	typ, sub string
	params   map[string]string
}

// Bits of settings.useStale.
const (
	staleError = 1 << iota
	staleTimeout
	staleHTTP500
	staleHTTP502
	staleHTTP503
	staleHTTP504
	staleUpdating
)

// settings is a validated config.
type settings struct {
	codes       [15]uint64 // response_code, a bit set over 0..959
	methods     uint8      // request_method, bit i for methodList[i]
	types       []mediaType
	ttl         time.Duration
	storageTTL  time.Duration // 0: the freshness lifetime plus the stale window
	staleTTL    time.Duration
	swr, sie    uint32
	ccOn        bool
	ignoreCase  bool
	varyQuery   []string
	varyHeaders []string
	// varyHeaderNames are varyHeaders, read as Kong's get_headers().
	varyHeaderNames []plugin.HeaderName
	headers         ResponseHeaders
	strategy        string
	dictionary      string
	redis           *store.RedisOptions
	template        *template
	useStale        uint8
	lock            bool
	lockTimeout     time.Duration
	maxSize         int64
	maxBody         int64
	setCookie       bool
}

func (s *settings) cacheableStatus(code int) bool {
	return code >= 0 && code < 960 && s.codes[code>>6]&(1<<(code&63)) != 0
}

func (s *settings) cacheableMethod(m string) bool {
	for i, name := range methodList {
		if m == name {
			return s.methods&(1<<i) != 0
		}
	}
	return false
}

// compile validates c as Kong's schema does, plus Turnpike's fields. rc
// is response-cache's config (nil for proxy-cache). Paths are relative
// to the plugin's config.
func compile(c *Config, rc *ResponseCacheConfig) (*settings, plugin.Errors) {
	var errs plugin.Errors
	add := func(path, msg string) { errs = append(errs, plugin.Problem{Path: path, Message: msg}) }
	s := &settings{
		ignoreCase: c.IgnoreURICase, varyQuery: c.VaryQueryParams, headers: c.ResponseHeaders,
		dictionary: c.Memory.DictionaryName, lock: c.Lock, maxSize: c.MaxSize, maxBody: c.MaxBodySize,
		setCookie: c.CacheSetCookie,
	}
	if len(c.ResponseCode) == 0 {
		add("response_code", "length must be at least 1")
	}
	for i, code := range c.ResponseCode {
		if code < 100 || code > 900 {
			add(index("response_code", i), "value should be between 100 and 900")
			continue
		}
		s.codes[code>>6] |= 1 << (code & 63)
	}
	for i, m := range c.RequestMethod {
		j := slices.Index(methodList, m)
		if j < 0 {
			add(index("request_method", i), "expected one of: "+strings.Join(methodList, ", "))
			continue
		}
		s.methods |= 1 << j
	}
	for i, ct := range c.ContentType {
		mt, err := parseMediaType(ct)
		if err != nil {
			add(index("content_type", i), "invalid media type '"+ct+"'")
			continue
		}
		s.types = append(s.types, mt)
	}
	if c.CacheTTL <= 0 {
		add("cache_ttl", "value must be greater than 0")
	}
	s.ttl = seconds(c.CacheTTL)
	switch v := c.CacheControl.(type) {
	case bool:
		s.ccOn = v
	case map[string]any:
		on, ok := v["enabled"].(bool)
		if rc == nil || !ok || len(v) != 1 {
			add("cache_control", "expected a boolean")
		}
		s.ccOn = on
	default:
		add("cache_control", "expected a boolean")
	}
	if c.StorageTTL != nil {
		if *c.StorageTTL <= 0 {
			add("storage_ttl", "value must be greater than 0")
		}
		s.storageTTL = seconds(*c.StorageTTL)
	}
	for i, h := range c.VaryHeaders {
		if !plugin.ValidHeaderName(h) {
			add(index("vary_headers", i), "bad header name '"+h+"', allowed characters are A-Z, a-z, 0-9, '_', and '-'")
			continue
		}
		s.varyHeaderNames = append(s.varyHeaderNames, plugin.NewHeaderName(h))
	}
	s.varyHeaders = c.VaryHeaders
	if c.Memory.DictionaryName == "" {
		add("memory.dictionary_name", "required field missing")
	}
	errs = append(errs, s.compileExtensions(c)...)
	errs = append(errs, s.compileStrategy(c, rc)...)
	// A memory dictionary's byte budget is max_size, so it never keeps
	// an entry whose body alone is larger: every miss would capture the
	// body only to drop it. (A max_size already refused says so itself.)
	if s.strategy == strategyMemory && c.MaxSize >= 1<<20 && c.MaxBodySize > c.MaxSize {
		add("max_body_size", "must not be greater than max_size with strategy memory ("+strconv.FormatInt(c.MaxSize, 10)+")")
	}
	return s, errs
}

// compileExtensions validates Turnpike's fields.
func (s *settings) compileExtensions(c *Config) plugin.Errors {
	var errs plugin.Errors
	add := func(path, msg string) { errs = append(errs, plugin.Problem{Path: path, Message: msg}) }
	if c.CacheKey != "" {
		t, problem := compileTemplate(c.CacheKey)
		if problem != "" {
			add("cache_key", problem)
		}
		if t != nil {
			t.ignoreCase = c.IgnoreURICase
		}
		s.template = t
	}
	for i, u := range c.UseStale {
		j := slices.Index(useStaleList, u)
		if j < 0 {
			add(index("use_stale", i), "expected one of: "+strings.Join(useStaleList, ", "))
			continue
		}
		s.useStale |= 1 << j
	}
	window := func(path string, v int64) uint32 {
		if v < 0 || v > math.MaxInt32 {
			add(path, "value should be between 0 and 2147483647")
			return 0
		}
		return uint32(v)
	}
	s.swr = window("stale_while_revalidate", c.StaleWhileRevalidate)
	s.sie = window("stale_if_error", c.StaleIfError)
	switch {
	case c.StaleTTL != nil:
		s.staleTTL = seconds(int64(window("stale_ttl", *c.StaleTTL)))
	case s.useStale != 0 || s.swr != 0 || s.sie != 0:
		s.staleTTL = defaultStaleTTL * time.Second
	}
	if c.LockTimeout <= 0 || c.LockTimeout > 3600 || math.IsNaN(c.LockTimeout) {
		add("lock_timeout", "value should be between 0 and 3600 (exclusive of 0)")
	}
	s.lockTimeout = time.Duration(c.LockTimeout * float64(time.Second))
	if c.MaxSize < 1<<20 {
		add("max_size", "value must be at least 1048576")
	}
	if c.MaxBodySize <= 0 || c.MaxBodySize > 1<<30 {
		add("max_body_size", "value should be between 1 and 1073741824")
	}
	return errs
}

// compileStrategy checks the strategy and the Redis settings.
func (s *settings) compileStrategy(c *Config, rc *ResponseCacheConfig) plugin.Errors {
	var errs plugin.Errors
	add := func(path, msg string) { errs = append(errs, plugin.Problem{Path: path, Message: msg}) }
	r := c.Redis
	if rc != nil {
		if rc.RedisHost != nil {
			r.Host = rc.RedisHost
		}
		if rc.RedisPort != nil {
			r.Port = rc.RedisPort
		}
		if rc.RedisPassword != nil {
			r.Password = rc.RedisPassword
		}
		if rc.RedisDatabase != nil {
			r.Database = rc.RedisDatabase
		}
	}
	hasRedis := r.Configured()
	s.strategy = c.Strategy
	switch {
	case c.Strategy == "" && rc != nil && hasRedis:
		s.strategy = strategyRedis
	case c.Strategy == "" && rc != nil:
		s.strategy = strategyMemory
	case c.Strategy == "":
		add("strategy", "required field missing")
	case c.Strategy != strategyMemory && c.Strategy != strategyRedis:
		add("strategy", "expected one of: memory, redis")
	}
	errs = append(errs, r.Validate("cache entries", s.strategy == strategyRedis).Under("redis")...)
	if hasRedis {
		o := r.Options()
		o.PoolSize = redisPoolSize
		s.redis = &o
	}
	return errs
}

func seconds(n int64) time.Duration {
	if n > math.MaxInt32 {
		n = math.MaxInt32
	}
	return time.Duration(n) * time.Second
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// parseMediaType reads a configured content type as Kong's
// parse_mime_type does: type/subtype, either '*', and parameters.
func parseMediaType(s string) (mediaType, error) {
	full, params, err := mime.ParseMediaType(s)
	if err != nil {
		return mediaType{}, err
	}
	typ, sub, ok := strings.Cut(full, "/")
	if !ok {
		return mediaType{}, mime.ErrInvalidMediaParameter
	}
	if len(params) == 0 {
		params = nil
	}
	return mediaType{typ: typ, sub: sub, params: params}, nil
}
