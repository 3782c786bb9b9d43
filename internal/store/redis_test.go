package store

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// replyError is an error Redis answered with.
type replyError string

func (e replyError) Error() string { return string(e) }
func (replyError) RedisError()     {}

// ext is an extension that records its Close.
type ext struct{ closed int }

func (e *ext) Close() { e.closed++ }

func TestRedisAcquireShares(t *testing.T) {
	srv := gwtest.StartRedis(t)
	s := NewRedis()
	a, releaseA, err := s.Acquire(RedisOptions{Addrs: []string{srv.Addr}, TLS: nil})
	if err != nil {
		t.Fatal(err)
	}
	b, releaseB, err := s.Acquire(RedisOptions{Addrs: []string{srv.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	if a != b || s.Clients() != 1 {
		t.Fatalf("equal options got %d clients", s.Clients())
	}
	other, releaseOther, err := s.Acquire(RedisOptions{Addrs: []string{srv.Addr}, Database: 1})
	if err != nil {
		t.Fatal(err)
	}
	if other == a || s.Clients() != 2 {
		t.Fatal("different options share a client")
	}
	releaseOther()

	type key struct{ name string }
	built := 0
	build := func(*RedisClient) Extension { built++; return &ext{} }
	e1 := a.Extension(key{"x"}, build)
	if e2 := b.Extension(key{"x"}, build); e2 != e1 || built != 1 {
		t.Fatalf("the same key built %d extensions", built)
	}
	if e3 := a.Extension(key{"y"}, build); e3 == e1 || built != 2 {
		t.Fatal("another key got the same extension")
	}
	if err := a.Client().Set(context.Background(), "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}

	releaseA()
	releaseA() // a second call gives nothing back
	if s.Clients() != 1 || e1.(*ext).closed != 0 {
		t.Fatalf("released with a reference left: %d clients, closed %d", s.Clients(), e1.(*ext).closed)
	}
	if err := b.Client().Get(context.Background(), "k").Err(); err != nil {
		t.Fatalf("the other reference's client after a release: %v", err)
	}
	releaseB()
	if s.Clients() != 0 || e1.(*ext).closed != 1 {
		t.Errorf("after the last release: %d clients, extension closed %d times", s.Clients(), e1.(*ext).closed)
	}
	if err := b.Client().Ping(context.Background()).Err(); !errors.Is(err, redis.ErrClosed) {
		t.Errorf("the client after the last release: %v", err)
	}
	if _, _, err := s.Acquire(RedisOptions{}); err == nil {
		t.Error("invalid options accepted")
	}
}

func TestRedisReachable(t *testing.T) {
	ctx := context.Background()
	s := NewRedis()
	if !s.Reachable(ctx) {
		t.Fatal("no client in use, unreachable")
	}
	srv := gwtest.StartRedis(t)
	_, release, err := s.Acquire(RedisOptions{Addrs: []string{srv.Addr}, Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if !s.Reachable(ctx) {
		t.Fatal("a running redis-server unreachable")
	}
	srv.Pause()
	start := time.Now()
	if s.Reachable(ctx) {
		t.Error("a stopped redis-server reachable")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the check took %v, past the client's timeout", d)
	}
	srv.Resume()
	if !s.Reachable(ctx) {
		t.Error("unreachable after it resumed")
	}
}

func TestRedisBreakerOpens(t *testing.T) {
	// Failures Redis answered with do not count; unreachable ones do.
	c, err := NewRedisClient(RedisOptions{Addrs: []string{"127.0.0.1:1"}, BreakerFailures: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	run := func(err error) {
		_, _ = c.Breaker().Execute(func() (any, error) { return nil, err })
	}
	for range 3 {
		run(replyError("ERR Error running script"))
	}
	run(context.Canceled)
	if c.BreakerOpen() {
		t.Fatal("replies and canceled calls opened the breaker")
	}
	run(errors.New("dial tcp 127.0.0.1:1: connect: connection refused"))
	run(replyError("LOADING Redis is loading the dataset in memory"))
	if !c.BreakerOpen() {
		t.Error("two unreachable calls in a row did not open the breaker")
	}
}

func TestUnreachable(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"network error", errors.New("dial tcp: connection refused"), true},
		{"loading", replyError("LOADING Redis is loading the dataset in memory"), true},
		{"read-only replica", replyError("READONLY You can't write against a read only replica."), true},
		{"script error", replyError("ERR Error running script"), false},
		{"wrong type", replyError("WRONGTYPE Operation against a key holding the wrong kind of value"), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Unreachable(tt.err); got != tt.want {
				t.Errorf("Unreachable = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSameOptionsComparesEveryField(t *testing.T) {
	base := RedisOptions{Addrs: []string{"a:1"}, TLS: &tls.Config{ServerName: "r"}}
	v := reflect.ValueOf(&base).Elem()
	for i := range v.NumField() {
		changed := base
		changed.Addrs = []string{"a:1"}
		f := reflect.ValueOf(&changed).Elem().Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString("x")
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Int, reflect.Int64:
			f.SetInt(7)
		case reflect.Slice:
			f.Set(reflect.ValueOf([]string{"b:1"}))
		case reflect.Pointer:
			f.Set(reflect.ValueOf(&tls.Config{ServerName: "other"}))
		default:
			t.Fatalf("field %s of kind %v not covered by this test", v.Type().Field(i).Name, f.Kind())
		}
		if sameOptions(base, changed) {
			t.Errorf("a change of %s is not seen", v.Type().Field(i).Name)
		}
	}
	pool1, pool2 := x509.NewCertPool(), x509.NewCertPool()
	same := RedisOptions{Addrs: []string{"a:1"}, TLS: &tls.Config{ServerName: "r", RootCAs: pool1}}
	if !sameOptions(same, RedisOptions{Addrs: []string{"a:1"}, TLS: &tls.Config{ServerName: "r", RootCAs: pool2}}) {
		t.Error("equal TLS settings in two configs are not the same")
	}
	if sameOptions(same, RedisOptions{Addrs: []string{"a:1"}, TLS: &tls.Config{ServerName: "r"}}) {
		t.Error("a root pool and the system pool are the same")
	}
}
