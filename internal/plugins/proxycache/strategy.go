package proxycache

import (
	"context"
	"io"

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
