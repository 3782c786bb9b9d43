package compression

import (
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Config is the plugin's configuration. Kong has no such plugin; the
// field names follow Kong's conventions (snake case, lengths in bytes).
type Config struct {
	// Encodings are the codings offered, in the order preferred when the
	// client accepts several with the same q-value.
	Encodings []string `yaml:"encodings"`
	// MinLength is the smallest declared Content-Length compressed; a
	// response without one is compressed when its type matches.
	MinLength int64 `yaml:"min_length"`
	// ContentTypes are media type patterns: type/subtype, type/* or
	// type/*+suffix.
	ContentTypes []string `yaml:"content_types"`
	Levels       Levels   `yaml:"levels"`
	// SkipSetCookie leaves responses that set cookies uncompressed (BREACH).
	SkipSetCookie bool `yaml:"skip_set_cookie"`
	// DecompressRequest decodes gzip, br and zstd request bodies before
	// they go upstream.
	DecompressRequest bool `yaml:"decompress_request"`
	// DecompressMaxSize bounds a decoded request body, in bytes.
	DecompressMaxSize int64 `yaml:"decompress_max_size"`
	// DecompressMaxRatio bounds decoded bytes per encoded byte once the
	// decoded body passes ratioFloor.
	DecompressMaxRatio int64 `yaml:"decompress_max_ratio"`
}

// Levels are the compression levels per coding.
type Levels struct {
	Gzip int `yaml:"gzip"`
	Br   int `yaml:"br"`
	Zstd int `yaml:"zstd"`
}

// Defaults. The levels lean to speed, measured on 10 and 100 KiB JSON
// bodies (BenchmarkCompress; figures in docs/plugins/compression.md):
// klauspost's gzip 4 costs what its gzip 1 does and saves more; Brotli
// below 4 saves less than gzip, and 4 is its cheapest level that saves
// more; zstd 1 costs 15-50 % less than zstd 3 for sizes within 3 % either
// way.
const (
	defaultMinLength  = 1024
	defaultGzipLevel  = 4
	defaultBrLevel    = 4
	defaultZstdLevel  = 1
	defaultMaxSize    = 8 << 20
	defaultMaxRatio   = 100
	maxContentPattern = 255
)

// DefaultContentTypes are the issue's: text, JSON, JavaScript, XML and SVG.
var DefaultContentTypes = []string{
	"text/*",
	"application/json",
	"application/*+json",
	"application/javascript",
	"application/xml",
	"application/*+xml",
	"image/svg+xml",
}

// SetDefaults applies the plugin's defaults.
func (c *Config) SetDefaults() {
	c.Encodings = []string{"zstd", "br", "gzip"}
	c.MinLength = defaultMinLength
	c.ContentTypes = append([]string(nil), DefaultContentTypes...)
	c.Levels = Levels{Gzip: defaultGzipLevel, Br: defaultBrLevel, Zstd: defaultZstdLevel}
	c.SkipSetCookie = true
	c.DecompressMaxSize = defaultMaxSize
	c.DecompressMaxRatio = defaultMaxRatio
}

// typePattern is one compiled content_types entry, lower case.
type typePattern struct {
	typ string
	// sub is the subtype; "*" for any; suffix is set for type/*+suffix.
	sub, suffix string
}

// settings is the validated config, what requests read.
type settings struct {
	prefs     []coding
	minLength int64
	types     []typePattern
	levels    [numCodings]int
	skipSetCookie,
	decompress bool
	maxSize, maxRatio int64
}

// compile validates c, reporting every problem with its path.
func compile(c *Config) (*settings, error) {
	var errs plugin.Errors
	bad := func(path, msg string) { errs = append(errs, plugin.Problem{Path: path, Message: msg}) }
	s := &settings{
		minLength: c.MinLength, skipSetCookie: c.SkipSetCookie, decompress: c.DecompressRequest,
		maxSize: c.DecompressMaxSize, maxRatio: c.DecompressMaxRatio,
	}
	if len(c.Encodings) == 0 {
		bad("encodings", "length must be at least 1")
	}
	for i, e := range c.Encodings {
		path := "encodings[" + strconv.Itoa(i) + "]"
		k, ok := codingByName(e)
		switch {
		case !ok:
			bad(path, "expected one of: zstd, br, gzip")
		case containsCoding(s.prefs, k):
			bad(path, "duplicate set element: "+e)
		default:
			s.prefs = append(s.prefs, k)
		}
	}
	if c.MinLength < 0 {
		bad("min_length", "value must be greater than -1")
	}
	for i, t := range c.ContentTypes {
		p, ok := parsePattern(t)
		if !ok {
			bad("content_types["+strconv.Itoa(i)+"]",
				"invalid value: "+quote(t)+" (expected type/subtype, type/* or type/*+suffix)")
			continue
		}
		s.types = append(s.types, p)
	}
	for _, l := range [...]struct {
		path     string
		v        int
		min, max int
		k        coding
	}{
		{"levels.gzip", c.Levels.Gzip, 1, 9, gzipCoding},
		{"levels.br", c.Levels.Br, 0, 11, brCoding},
		{"levels.zstd", c.Levels.Zstd, 1, 22, zstdCoding},
	} {
		if l.v < l.min || l.v > l.max {
			bad(l.path, "value should be between "+strconv.Itoa(l.min)+" and "+strconv.Itoa(l.max))
		}
		s.levels[l.k] = l.v
	}
	if c.DecompressMaxSize < 1 || c.DecompressMaxSize > 1<<40 {
		bad("decompress_max_size", "value should be between 1 and 1099511627776")
	}
	if c.DecompressMaxRatio < 1 || c.DecompressMaxRatio > 1<<20 {
		bad("decompress_max_ratio", "value should be between 1 and 1048576")
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return s, nil
}

func containsCoding(ks []coding, k coding) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strconv.Quote(s)
}

// parsePattern reads type/subtype, type/* or type/*+suffix (*/* too),
// each part a media type token.
func parsePattern(s string) (typePattern, bool) {
	if len(s) > maxContentPattern {
		return typePattern{}, false
	}
	s = strings.ToLower(strings.TrimSpace(s))
	typ, sub, ok := strings.Cut(s, "/")
	if !ok || !(typ == "*" || token(typ)) {
		return typePattern{}, false
	}
	if rest, isSuffix := strings.CutPrefix(sub, "*+"); isSuffix {
		if typ == "*" || !token(rest) {
			return typePattern{}, false
		}
		return typePattern{typ: typ, sub: "*", suffix: "+" + rest}, true
	}
	if sub != "*" && !token(sub) || typ == "*" && sub != "*" {
		return typePattern{}, false
	}
	return typePattern{typ: typ, sub: sub}, true
}

// token reports whether s is a non-empty RFC 9110 token.
func token(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}*`, c) >= 0 {
			return false
		}
	}
	return true
}

// matchType reports whether the Content-Type value v matches a pattern.
// It does not allocate: v's media type is compared case-insensitively.
func (s *settings) matchType(v string) bool {
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	v = strings.TrimSpace(v)
	typ, sub, ok := strings.Cut(v, "/")
	if !ok || typ == "" || sub == "" {
		return false
	}
	for i := range s.types {
		p := &s.types[i]
		if p.typ != "*" && !strings.EqualFold(p.typ, typ) {
			continue
		}
		switch {
		case p.suffix != "":
			if len(sub) > len(p.suffix) && strings.EqualFold(sub[len(sub)-len(p.suffix):], p.suffix) {
				return true
			}
		case p.sub == "*" || strings.EqualFold(p.sub, sub):
			return true
		}
	}
	return false
}
