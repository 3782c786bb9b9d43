package server

import (
	"context"
	"sync/atomic"
	"testing"
)

// The connection context's one abort slot behaves as context.AfterFunc:
// stop before the end says true and the abort never runs; the end runs
// it once and stop then says false; a second registration while the slot
// is taken, or one after the end, is refused (the caller falls back).
func TestConnCtxAbortSlot(t *testing.T) {
	c := newConnCtx(context.Background())
	var ran atomic.Int32
	abort := func() { ran.Add(1) }

	tok, ok := c.OnDone(abort)
	if !ok || !c.StopOnDone(tok) || c.StopOnDone(tok) {
		t.Fatal("want: register, then stop true once, then false")
	}
	tok, ok = c.OnDone(abort)
	if !ok {
		t.Fatal("the slot was not free again after stop")
	}
	if _, ok := c.OnDone(abort); ok {
		t.Fatal("a second registration took the taken slot")
	}
	if c.StopOnDone(tok + 1) {
		t.Fatal("another token stopped the registration")
	}
	c.cancel()
	if ran.Load() != 1 || c.Err() == nil {
		t.Fatalf("abort ran %d times, context err %v", ran.Load(), c.Err())
	}
	if c.StopOnDone(tok) {
		t.Fatal("stop said true after the abort ran")
	}
	if _, ok := c.OnDone(abort); ok {
		t.Fatal("a registration after the end was accepted")
	}
	c.cancel()
	if ran.Load() != 1 {
		t.Fatalf("abort ran %d times after a second cancel", ran.Load())
	}
}

// A context derived from the connection's ends with it.
func TestConnCtxChildrenEnd(t *testing.T) {
	c := newConnCtx(context.Background())
	child, cancel := context.WithCancel(c)
	defer cancel()
	c.cancel()
	<-child.Done()
}
