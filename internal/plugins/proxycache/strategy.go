package proxycache

import (
	"context"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/proxycache/cachestore"
	"github.com/turnpikegw/turnpike/internal/store"
)

// dictionary is a named memory store, shared by the instances naming it
// (of one configuration and of the next after a reload).
type dictionary struct {
	name  string
	mem   *cachestore.Memory
	dicts *dictionaries
}

func (d *dictionary) Close() error {
	d.dicts.remove(d)
	return d.mem.Close()
}

// sharedPrefix keys the dictionaries in the store's shared values.
const sharedPrefix = "proxy-cache:dictionary:"

// openMemory takes the instance's dictionary: the one in use under its
// name, or a new one of max_size bytes (the first instance's max_size
// wins while the dictionary lives). With Redis settings, it also joins
// the purge bus: invalidations of the dictionary on other nodes apply
// here.
func (in *Cache) openMemory(env plugin.Env) error {
	build := func() *dictionary {
		d := &dictionary{name: in.s.dictionary, mem: cachestore.NewMemory(in.s.maxSize), dicts: in.metrics.dicts}
		d.dicts.add(d)
		return d
	}
	if env.Store == nil {
		d := build()
		in.dict, in.store = d, d.mem
		in.releases = append(in.releases, func() { d.Close() })
		return nil
	}
	v, release := env.Store.Shared.Acquire(sharedPrefix+in.s.dictionary, func() io.Closer { return build() })
	in.dict = v.(*dictionary)
	in.store = in.dict.mem
	in.releases = append(in.releases, release)
	if in.s.redis == nil {
		return nil
	}
	client, releaseClient, err := env.Store.Redis.Acquire(*in.s.redis)
	if err != nil {
		return err
	}
	in.releases = append(in.releases, releaseClient)
	in.bus = cachestore.NewBus(client)
	mem := in.dict.mem
	in.releases = append(in.releases, in.bus.Subscribe(in.s.dictionary, func(sel cachestore.Selector) {
		mem.Invalidate(context.Background(), sel)
	}))
	return nil
}

// openRedis makes the instance's Redis store on the shared client, its
// namespace the dictionary name, so every node naming it shares entries.
func (in *Cache) openRedis(env plugin.Env) error {
	var client *store.RedisClient
	if env.Store != nil {
		c, release, err := env.Store.Redis.Acquire(*in.s.redis)
		if err != nil {
			return err
		}
		client = c
		in.releases = append(in.releases, release)
	} else {
		c, err := store.NewRedisClient(*in.s.redis)
		if err != nil {
			return err
		}
		client = c
		in.releases = append(in.releases, c.Close)
	}
	in.store = cachestore.NewRedis(client, in.s.dictionary)
	return nil
}

// invalidate deletes what sel picks from the instance's store, and
// publishes it to the other nodes' memory dictionaries.
func (in *Cache) invalidate(ctx context.Context, sel cachestore.Selector) (int, error) {
	n, err := in.store.Invalidate(ctx, sel)
	if err != nil {
		in.countError(err)
		return n, err
	}
	if in.bus != nil {
		if err := in.bus.Publish(ctx, in.s.dictionary, sel); err != nil {
			in.countError(err)
		}
	}
	return n, nil
}

// storeID names the store an instance uses: instances with one ID share
// their entries, so an invalidation visits it once.
func (in *Cache) storeID() string {
	if in.s.strategy == strategyMemory {
		return "memory:" + in.s.dictionary
	}
	return "redis:" + strings.Join(in.s.redis.Addrs, ",") + "/" + strconv.Itoa(in.s.redis.Database) + "/" + in.s.dictionary
}

// maxRouteNames bounds routeNames; route names come from the
// configuration, so only a huge one reaches it.
const maxRouteNames = 1 << 16

// routeNames maps the route names this process has cached responses
// for to their ids, so an invalidation may name a route either way
// (entries are indexed by id). One per process, shared through the
// store's shared values.
type routeNames struct {
	mu sync.RWMutex
	m  map[string]string
}

func (rn *routeNames) Close() error { return nil }

func (rn *routeNames) learn(r *plugin.RouteInfo) {
	if rn == nil || r == nil || r.Name == "" {
		return
	}
	rn.mu.RLock()
	id, ok := rn.m[r.Name]
	rn.mu.RUnlock()
	if ok && id == r.ID {
		return
	}
	rn.mu.Lock()
	if _, ok := rn.m[r.Name]; ok || len(rn.m) < maxRouteNames {
		rn.m[r.Name] = r.ID
	}
	rn.mu.Unlock()
}

func (rn *routeNames) id(name string) (string, bool) {
	if rn == nil {
		return "", false
	}
	rn.mu.RLock()
	defer rn.mu.RUnlock()
	id, ok := rn.m[name]
	return id, ok
}

const routesKey = "proxy-cache:route-names"

// sharedRoutes returns the process's route names and their release.
func sharedRoutes(env plugin.Env) (*routeNames, func()) {
	build := func() io.Closer { return &routeNames{m: map[string]string{}} }
	if env.Store == nil {
		return build().(*routeNames), func() {}
	}
	v, release := env.Store.Shared.Acquire(routesKey, build)
	return v.(*routeNames), release
}
