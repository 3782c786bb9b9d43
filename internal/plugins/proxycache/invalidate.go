package proxycache

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/turnpikegw/turnpike/internal/ident"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/cachestore"
)

// InvalidateConfig is proxy-cache-invalidate's: the store whose entries
// its route's POSTs invalidate (the dictionary, or Redis).
type InvalidateConfig struct {
	DictionaryName string             `yaml:"dictionary_name"`
	Strategy       string             `yaml:"strategy"`
	Redis          plugin.RedisConfig `yaml:"redis"`
}

// SetDefaults applies the cache's defaults.
func (c *InvalidateConfig) SetDefaults() {
	c.DictionaryName = defaultDictionary
	c.Strategy = strategyMemory
	var d Config
	d.SetDefaults()
	c.Redis = d.Redis
}

// maxInvalidateBody bounds the body read, as the admin API's.
const maxInvalidateBody = 64 << 10

// Invalidate is the proxy-cache-invalidate plugin: POST /cache/invalidate
// on the proxy listener, behind its route's own auth plugins (the
// guide's webhook), answering as the admin route does. An instance sees
// no routes but its own, so {"route": ref} is taken as an id and, unless
// it has a UUID's form, as a name whose id Kong's DB-less loader derived
// (kongRouteID): a route named in the file without an id of its own.
func Invalidate() plugin.Registration {
	return plugin.Registration{
		Name:     InvalidateName,
		Priority: Priority - 1,
		NewConfig: func() any {
			c := &InvalidateConfig{}
			c.SetDefaults()
			return c
		},
		New: func(cfg any, env plugin.Env) (plugin.Instance, error) {
			ic := cfg.(*InvalidateConfig)
			c := &Config{}
			c.SetDefaults()
			c.Strategy, c.Memory.DictionaryName, c.Redis = ic.Strategy, ic.DictionaryName, ic.Redis
			in, err := newCache(InvalidateName, c, nil, env)
			if err != nil {
				var errs plugin.Errors
				if errors.As(err, &errs) {
					for i := range errs {
						if errs[i].Path == "memory.dictionary_name" {
							errs[i].Path = "dictionary_name"
						}
					}
				}
				return nil, err
			}
			return &invalidator{c: in}, nil
		},
	}
}

type invalidator struct{ c *Cache }

// Close gives back the store.
func (iv *invalidator) Close() { iv.c.Close() }

// Access answers a POST with the invalidation it asks for; other
// methods go on to the upstream.
func (iv *invalidator) Access(c *plugin.Ctx) error {
	if c.Req.Method != http.MethodPost {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(c.Req.Body, maxInvalidateBody+1))
	if err != nil {
		return plugin.NewExit(http.StatusBadRequest, "could not read the body")
	}
	if len(body) > maxInvalidateBody {
		return plugin.NewExit(http.StatusRequestEntityTooLarge, "body larger than 64 KiB")
	}
	sel, err := parseInvalidation(body)
	if err != nil {
		return jsonExit(http.StatusBadRequest, map[string]string{"message": err.Error()})
	}
	n, err := iv.c.invalidate(c.Req.Context(), sel)
	// A ref in a UUID's form is an id, as Kong reads one: it is not
	// also taken as a name.
	if _, isID := ident.Parse(sel.RouteID); err == nil && sel.RouteID != "" && !isID {
		var m int
		m, err = iv.c.invalidate(c.Req.Context(), cachestore.Selector{RouteID: kongRouteID(sel.RouteID)})
		n += m
	}
	if err != nil {
		return jsonExit(http.StatusInternalServerError, map[string]string{"message": err.Error()})
	}
	return jsonExit(http.StatusOK, map[string]int{"invalidated": n})
}

func jsonExit(status int, v any) *plugin.Exit {
	b, _ := json.Marshal(v)
	return &plugin.Exit{Status: status, Body: b, ContentType: "application/json; charset=utf-8"}
}

// kongRoutesNS is the namespace Kong's DB-less loader (and config's
// KongID, which a plugin may not import) derives a named route's id in:
// the version 5 UUID of "routes" under Kong's root namespace.
var kongRoutesNS = ident.V5(ident.MustParse("fd02801f-0957-4a15-a55a-c8d9606f30b5"), "routes")

// kongRouteID is the id of a route named name that has no configured id.
func kongRouteID(name string) string { return ident.V5(kongRoutesNS, name).String() }
