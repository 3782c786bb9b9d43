package cachestore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/turnpikegw/turnpike/internal/store"
)

// busChannel is the pub/sub channel of purges. Redis's pub/sub ignores
// databases: gateways sharing a Redis server share it, and tell their
// caches apart by dictionary name.
const busChannel = "turnpike:cache:purge"

// MaxMessage bounds a purge message a node publishes. It cannot bound
// what a node receives: go-redis has read a message whole before the
// bus sees it. decode only refuses a longer one unparsed, since no node
// sends it.
const MaxMessage = 16 << 10

// ErrLongMessage is Publish's error for a selector too large to send.
var ErrLongMessage = errors.New("cachestore: a purge message over 16 KiB")

// processNode tells this process's purges from other nodes', so that a
// node does not apply its own invalidations twice.
var processNode = newNodeID()

func newNodeID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// message is a purge on the bus.
type message struct {
	Node       string `json:"node"`
	Dictionary string `json:"dictionary"`
	Key        string `json:"key,omitempty"`
	Pattern    string `json:"pattern,omitempty"`
	RouteID    string `json:"route,omitempty"`
	Tag        string `json:"tag,omitempty"`
	All        bool   `json:"all,omitempty"`
}

// Bus carries invalidations of memory caches between nodes over Redis
// pub/sub: a node publishes the invalidations it applied, and every
// other node subscribed to the dictionary applies them to its own.
// Delivery is at most once: a node disconnected when a purge is published
// misses it (its entries then live until their ttl).
type Bus struct {
	c   *store.RedisClient
	ext *busExt
}

// busExt is a Redis client's one pub/sub connection, and the subscribers
// of every dictionary: an extension of the client.
type busExt struct {
	node string
	c    *store.RedisClient

	mu     sync.Mutex
	subs   map[string][]*subscriber
	ps     *redis.PubSub
	done   chan struct{} // closed when the reading goroutine ends
	closed bool
}

type subscriber struct{ fn func(Selector) }

type busKey struct{}

// NewBus returns the purge bus of c's Redis.
func NewBus(c *store.RedisClient) *Bus { return newBus(c, processNode) }

// newBus is NewBus with a node id of the caller's, for tests that run
// two nodes in one process.
func newBus(c *store.RedisClient, node string) *Bus {
	ext := c.Extension(busKey{}, func(c *store.RedisClient) store.Extension {
		return &busExt{node: node, c: c, subs: map[string][]*subscriber{}}
	}).(*busExt)
	return &Bus{c: c, ext: ext}
}

// Publish sends sel to the other nodes' memory caches named dictionary.
func (b *Bus) Publish(ctx context.Context, dictionary string, sel Selector) error {
	if err := checkSelector(&sel); err != nil {
		return err
	}
	msg, err := json.Marshal(message{Node: b.ext.node, Dictionary: dictionary,
		Key: sel.Key, Pattern: sel.Pattern, RouteID: sel.RouteID, Tag: sel.Tag, All: sel.All})
	if err != nil {
		return err
	}
	if len(msg) > MaxMessage {
		return ErrLongMessage
	}
	_, err = b.c.Breaker().Execute(func() (any, error) {
		return nil, b.c.Client().Publish(ctx, busChannel, msg).Err()
	})
	if err != nil {
		return fmt.Errorf("cachestore: purge bus: %w", err)
	}
	return nil
}

// Subscribe calls fn with each selector other nodes publish for
// dictionary, one call at a time, on the bus's goroutine (fn should not
// block for long: it delays the purges behind it). The connection is
// made on the first subscription, and made again after a failure. stop
// ends the subscription (once; later calls do nothing).
func (b *Bus) Subscribe(dictionary string, fn func(Selector)) (stop func()) {
	e := b.ext
	s := &subscriber{fn: fn}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return func() {}
	}
	e.subs[dictionary] = append(e.subs[dictionary], s)
	if e.ps == nil {
		// No channel yet: the dial happens on the bus's goroutine, not
		// under the lock, and a Redis that is down only delays it.
		e.ps = e.c.Client().Subscribe(context.Background())
		e.done = make(chan struct{})
		go e.read(e.ps, e.done)
	}
	var once sync.Once
	return func() { once.Do(func() { e.unsubscribe(dictionary, s) }) }
}

func (e *busExt) unsubscribe(dictionary string, s *subscriber) {
	e.mu.Lock()
	defer e.mu.Unlock()
	subs := e.subs[dictionary]
	for i, x := range subs {
		if x == s {
			subs = append(subs[:i:i], subs[i+1:]...)
			break
		}
	}
	if len(subs) == 0 {
		delete(e.subs, dictionary)
	} else {
		e.subs[dictionary] = subs
	}
}

// read hands each message to its dictionary's subscribers until the
// pub/sub connection is closed (go-redis reconnects and subscribes again
// after a failure, and pings to find a dead connection).
func (e *busExt) read(ps *redis.PubSub, done chan struct{}) {
	defer close(done)
	// A failed subscription is made again with the connection.
	_ = ps.Subscribe(context.Background(), busChannel)
	for m := range ps.Channel() {
		sel, dictionary, ok := e.decode(m.Payload)
		if !ok {
			continue
		}
		e.mu.Lock()
		subs := e.subs[dictionary]
		e.mu.Unlock()
		// subs is never changed in place (unsubscribe copies), so it
		// can be read without the lock.
		for _, s := range subs {
			s.fn(sel)
		}
	}
}

// decode parses a message; ok is false for one of this node's and for
// a malformed one.
func (e *busExt) decode(payload string) (sel Selector, dictionary string, ok bool) {
	var m message
	if len(payload) > MaxMessage || json.Unmarshal([]byte(payload), &m) != nil {
		return sel, "", false
	}
	if m.Node == e.node {
		return sel, "", false
	}
	sel = Selector{Key: m.Key, Pattern: m.Pattern, RouteID: m.RouteID, Tag: m.Tag, All: m.All}
	if m.Node == "" || checkSelector(&sel) != nil {
		return sel, "", false
	}
	return sel, m.Dictionary, true
}

// Close ends the subscription and waits for the reading goroutine.
func (e *busExt) Close() {
	e.mu.Lock()
	e.closed = true
	ps, done := e.ps, e.done
	e.mu.Unlock()
	if ps != nil {
		ps.Close()
		<-done
	}
}
