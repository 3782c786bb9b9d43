package cachestore

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// received collects what a subscriber is handed.
type received chan Selector

func (r received) fn(sel Selector) { r <- sel }

func (r received) want(t *testing.T, sel Selector) {
	t.Helper()
	select {
	case got := <-r:
		if got != sel {
			t.Fatalf("received %+v, want %+v", got, sel)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%+v did not arrive", sel)
	}
}

func (r received) none(t *testing.T) {
	t.Helper()
	select {
	case got := <-r:
		t.Fatalf("received %+v", got)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestBus(t *testing.T) {
	srv := gwtest.StartRedis(t)
	a := newBus(newRedisClient(t, srv), "node-a")
	b := newBus(newRedisClient(t, srv), "node-b")
	onA, onB, onBOther := make(received, 10), make(received, 10), make(received, 10)
	defer a.Subscribe("dict", onA.fn)()
	stopB := b.Subscribe("dict", onB.fn)
	defer b.Subscribe("other", onBOther.fn)()
	// The subscriptions are made on their own goroutines: publish until
	// the first purge arrives.
	first := Selector{Key: "k"}
	for deadline := time.Now().Add(5 * time.Second); len(onB) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the subscription did not start")
		}
		if err := a.Publish(ctx, "dict", first); err != nil {
			t.Fatal(err)
		}
	}
	for len(onB) > 0 {
		onB.want(t, first)
	}
	for _, sel := range []Selector{{Pattern: "/api/users/*"}, {RouteID: "r"}, {Tag: "t"}, {All: true}} {
		if err := a.Publish(ctx, "dict", sel); err != nil {
			t.Fatal(err)
		}
		onB.want(t, sel)
	}
	onA.none(t)
	onBOther.none(t)

	if err := a.Publish(ctx, "dict", Selector{Key: "k", Tag: "t"}); err != ErrBadSelector {
		t.Fatalf("a bad selector: %v", err)
	}
	if err := a.Publish(ctx, "dict", Selector{Key: strings.Repeat("k", MaxMessage)}); err != ErrLongMessage {
		t.Fatalf("a long message: %v", err)
	}
	raw := a.c.Client()
	for _, payload := range []string{
		"not json",
		`{"node":"x","dictionary":"dict","key":"k","tag":"t"}`,
		`{"dictionary":"dict","key":"k"}`,
		`{"node":"x","dictionary":"dict","key":"` + strings.Repeat("k", MaxMessage) + `"}`,
	} {
		if err := raw.Publish(ctx, busChannel, payload).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Publish(ctx, "dict", Selector{Tag: "after"}); err != nil {
		t.Fatal(err)
	}
	onB.want(t, Selector{Tag: "after"})

	stopB()
	stopB()
	a.Publish(ctx, "dict", Selector{Key: "gone"})
	onB.none(t)
}

// TestBusReconnects: after redis-server is killed and started again, the
// subscription is made again and purges arrive.
func TestBusReconnects(t *testing.T) {
	srv := gwtest.StartRedis(t)
	a := newBus(newRedisClient(t, srv), "node-a")
	b := newBus(newRedisClient(t, srv), "node-b")
	onB := make(received, 100)
	defer b.Subscribe("dict", onB.fn)()
	publishUntilReceived := func(sel Selector) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); len(onB) == 0; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%+v did not arrive", sel)
			}
			a.Publish(ctx, "dict", sel)
		}
		for len(onB) > 0 {
			onB.want(t, sel)
		}
	}
	publishUntilReceived(Selector{Key: "before"})
	srv.Restart()
	publishUntilReceived(Selector{Key: "after"})
}

// TestBusSubscribesWhileRedisIsDown: a subscription made while Redis is
// down starts once it is back.
func TestBusSubscribesWhileRedisIsDown(t *testing.T) {
	srv := gwtest.StartRedis(t)
	a := newBus(newRedisClient(t, srv), "node-a")
	b := newBus(newRedisClient(t, srv), "node-b")
	srv.Stop()
	onB := make(received, 100)
	start := time.Now()
	defer b.Subscribe("dict", onB.fn)()
	if time.Since(start) > 50*time.Millisecond {
		t.Errorf("Subscribe waited %v for a Redis that is down", time.Since(start))
	}
	srv.Restart()
	sel := Selector{Tag: "t"}
	for deadline := time.Now().Add(10 * time.Second); len(onB) == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the purge did not arrive")
		}
		a.Publish(ctx, "dict", sel)
	}
	onB.want(t, sel)
}

// TestBusClosesWithItsClient: the client's last release ends the bus's
// goroutines.
func TestBusClosesWithItsClient(t *testing.T) {
	srv := gwtest.StartRedis(t)
	before := goleak.IgnoreCurrent()
	c := newRedisClient(t, srv)
	bus := NewBus(c)
	bus.Subscribe("dict", func(Selector) {})
	if NewBus(c).ext != bus.ext {
		t.Fatal("two buses of one client do not share its connection")
	}
	c.Close()
	goleak.VerifyNone(t, before)
}
