package proxycache

import (
	"context"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/cachestore"
	"github.com/turnpikegw/turnpike/internal/store"
)

// dictionary is a named memory store, shared by the instances naming it
// (of one configuration and of the next after a reload).
type dictionary struct {
	name  string
	mem   *cachestore.Memory
	dicts *dictionaries

	mu sync.Mutex
	// subs is the dictionary's one subscription per purge bus (a bus is
	// a Redis client's): a subscription per instance would apply each
	// purge once for every instance naming the dictionary.
	subs map[*store.RedisClient]*subscription
}

// subscription is a dictionary's subscription to one purge bus, held by
// the instances that publish on that bus.
type subscription struct {
	refs int
	stop func()
}

// subscribe makes the dictionary apply the purges other nodes publish on
// c's bus, for as long as one instance holds it: leave gives the
// instance's hold back (once), and the last one ends the subscription, so
// it never outlives the client the instances hold.
func (d *dictionary) subscribe(c *store.RedisClient) (leave func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	sub := d.subs[c]
	if sub == nil {
		mem := d.mem
		sub = &subscription{stop: cachestore.NewBus(c).Subscribe(d.name, func(sel cachestore.Selector) {
			mem.Invalidate(context.Background(), sel)
		})}
		if d.subs == nil {
			d.subs = map[*store.RedisClient]*subscription{}
		}
		d.subs[c] = sub
	}
	sub.refs++
	return sync.OnceFunc(func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if sub.refs--; sub.refs == 0 {
			delete(d.subs, c)
			sub.stop()
		}
	})
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
		in.store = d.mem
		in.releases = append(in.releases, func() { d.Close() })
		return nil
	}
	v, release := env.Store.Shared.Acquire(sharedPrefix+in.s.dictionary, func() io.Closer { return build() })
	d := v.(*dictionary)
	in.store = d.mem
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
	in.releases = append(in.releases, d.subscribe(client))
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
	r := cachestore.NewRedis(client, in.s.dictionary)
	// No entry this cache stores is longer than a body it may keep plus
	// the room its head and fields take.
	r.MaxEntry = int(in.s.maxBody) + entryHeadRoom
	in.store = r
	return nil
}

// entryHeadRoom is what an encoded entry may take beyond its body: the
// status line, stored times, Vary values and header fields, which the
// proxy's response header limit keeps well under this.
const entryHeadRoom = 1 << 20

// invalidate deletes what sel picks from the instance's store, and
// publishes it to the other nodes' memory dictionaries.
func (in *Cache) invalidate(ctx context.Context, sel cachestore.Selector) (int, error) {
	n, err := in.drop(ctx, sel)
	if err != nil {
		return n, err
	}
	in.publish(ctx, sel)
	return n, nil
}

// drop deletes what sel picks from the instance's store.
func (in *Cache) drop(ctx context.Context, sel cachestore.Selector) (int, error) {
	n, err := in.store.Invalidate(ctx, sel)
	if err != nil {
		in.countError(err)
	}
	return n, err
}

// publish sends sel on the instance's purge bus, if it has one.
func (in *Cache) publish(ctx context.Context, sel cachestore.Selector) {
	if in.bus == nil {
		return
	}
	if err := in.bus.Publish(ctx, in.s.dictionary, sel); err != nil {
		in.countError(err)
	}
}

// storeID names the store an instance uses: instances with one ID share
// their entries, so an invalidation visits it once.
func (in *Cache) storeID() string {
	if in.s.strategy == strategyMemory {
		return "memory:" + in.s.dictionary
	}
	return "redis:" + strings.Join(in.s.redis.Addrs, ",") + "/" + strconv.Itoa(in.s.redis.Database) + "/" + in.s.dictionary
}

// busID names the purge bus and dictionary a memory instance publishes
// to (call only with a bus).
func (in *Cache) busID() string {
	return strings.Join(in.s.redis.Addrs, ",") + "/" + strconv.Itoa(in.s.redis.Database) + "/" + in.s.dictionary
}
