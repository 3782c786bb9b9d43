package compression

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

func build(t testing.TB, set func(*Config)) (plugin.Instance, error) {
	t.Helper()
	reg := Registration()
	cfg := reg.NewConfig().(*Config)
	cfg.SetDefaults()
	if set != nil {
		set(cfg)
	}
	return reg.New(cfg, plugin.Env{})
}

func mustBuild(t testing.TB, set func(*Config)) *instance {
	t.Helper()
	in, err := build(t, set)
	if err != nil {
		t.Fatal(err)
	}
	switch in := in.(type) {
	case *instance:
		return in
	case *decompressing:
		return in.instance
	}
	t.Fatalf("instance of type %T", in)
	return nil
}

func TestConfigDefaultsAccepted(t *testing.T) {
	in := mustBuild(t, nil)
	s := in.s
	if s.minLength != 1024 || !s.skipSetCookie || s.decompress || s.maxSize != 8<<20 || s.maxRatio != 100 {
		t.Errorf("defaults: %+v", s)
	}
	if diff := cmp.Diff([]coding{zstdCoding, brCoding, gzipCoding}, s.prefs); diff != "" {
		t.Errorf("prefs (-want +got):\n%s", diff)
	}
	if s.levels != [numCodings]int{zstdCoding: 1, brCoding: 4, gzipCoding: 4} {
		t.Errorf("levels %v", s.levels)
	}
	if in.pools[gzipCoding] == nil || in.pools[brCoding] == nil || in.pools[zstdCoding] == nil {
		t.Error("a pool per offered coding")
	}
	// Only decompress_request adds an access phase.
	inst, _ := build(t, nil)
	if _, ok := inst.(plugin.Accessor); ok {
		t.Error("access phase without decompress_request")
	}
	inst, _ = build(t, func(c *Config) { c.DecompressRequest = true })
	if _, ok := inst.(plugin.Accessor); !ok {
		t.Error("no access phase with decompress_request")
	}
}

func TestConfigAccepts(t *testing.T) {
	for name, set := range map[string]func(*Config){
		"gzip only":        func(c *Config) { c.Encodings = []string{"gzip"} },
		"extreme levels":   func(c *Config) { c.Levels = Levels{Gzip: 9, Br: 11, Zstd: 22} },
		"lowest levels":    func(c *Config) { c.Levels = Levels{Gzip: 1, Br: 0, Zstd: 1} },
		"min_length 0":     func(c *Config) { c.MinLength = 0 },
		"any type":         func(c *Config) { c.ContentTypes = []string{"*/*"} },
		"suffix and case":  func(c *Config) { c.ContentTypes = []string{"Application/*+JSON", " text/plain "} },
		"no content types": func(c *Config) { c.ContentTypes = nil },
	} {
		if _, err := build(t, set); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestConfigRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*Config)
		want plugin.Errors
	}{
		{"no encodings", func(c *Config) { c.Encodings = nil },
			plugin.Errors{{Path: "encodings", Message: "length must be at least 1"}}},
		{"unknown encoding", func(c *Config) { c.Encodings = []string{"gzip", "deflate"} },
			plugin.Errors{{Path: "encodings[1]", Message: "expected one of: zstd, br, gzip"}}},
		{"duplicate encoding", func(c *Config) { c.Encodings = []string{"br", "br"} },
			plugin.Errors{{Path: "encodings[1]", Message: "duplicate set element: br"}}},
		{"negative min_length", func(c *Config) { c.MinLength = -1 },
			plugin.Errors{{Path: "min_length", Message: "value must be greater than -1"}}},
		{"bad types", func(c *Config) { c.ContentTypes = []string{"text/html", "json", "*/html", "text/*+", "a b/c"} },
			plugin.Errors{
				{Path: "content_types[1]", Message: `invalid value: "json" (expected type/subtype, type/* or type/*+suffix)`},
				{Path: "content_types[2]", Message: `invalid value: "*/html" (expected type/subtype, type/* or type/*+suffix)`},
				{Path: "content_types[3]", Message: `invalid value: "text/*+" (expected type/subtype, type/* or type/*+suffix)`},
				{Path: "content_types[4]", Message: `invalid value: "a b/c" (expected type/subtype, type/* or type/*+suffix)`},
			}},
		{"levels", func(c *Config) { c.Levels = Levels{Gzip: 0, Br: 12, Zstd: 23} },
			plugin.Errors{
				{Path: "levels.gzip", Message: "value should be between 1 and 9"},
				{Path: "levels.br", Message: "value should be between 0 and 11"},
				{Path: "levels.zstd", Message: "value should be between 1 and 22"},
			}},
		{"limits", func(c *Config) { c.DecompressMaxSize, c.DecompressMaxRatio = 0, -3 },
			plugin.Errors{
				{Path: "decompress_max_size", Message: "value should be between 1 and 1099511627776"},
				{Path: "decompress_max_ratio", Message: "value should be between 1 and 1048576"},
			}},
	} {
		_, err := build(t, tc.set)
		if diff := cmp.Diff(tc.want, err); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}

func TestMatchType(t *testing.T) {
	s := mustBuild(t, nil).s
	for v, want := range map[string]bool{
		"text/html":                          true,
		"TEXT/HTML; charset=utf-8":           true,
		"text/event-stream":                  true,
		"application/json":                   true,
		"application/json;charset=UTF-8":     true,
		"application/problem+json":           true,
		"application/vnd.api+JSON; v=2":      true,
		"application/javascript":             true,
		"application/xml":                    true,
		"application/atom+xml":               true,
		"image/svg+xml":                      true,
		"image/png":                          false,
		"application/octet-stream":           false,
		"application/grpc":                   false,
		"application/json-seq":               false,
		"application/+json":                  false,
		"application/x-www-form-urlencoded":  false,
		"":                                   false,
		"text":                               false,
		"video/mp4+json-but-not-application": false,
	} {
		if got := s.matchType(v); got != want {
			t.Errorf("matchType(%q) = %v, want %v", v, got, want)
		}
	}
}
