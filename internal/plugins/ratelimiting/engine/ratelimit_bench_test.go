package engine

import (
	"context"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
	"github.com/turnpikegw/turnpike/internal/store"
)

var benchPolicies = []struct {
	name string
	p    *Policy
}{
	{"fixed", fixed(Limit{Second, 1 << 40}, Limit{Hour, 1 << 50})},
	{"sliding", sliding(Limit{Second, 1 << 40}, Limit{Hour, 1 << 50})},
	{"token-bucket", &Policy{Algorithm: TokenBucket, Rate: 1e9, Burst: 1 << 20, NoDelay: true}},
}

func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "plugin-id:10.0." + strconv.Itoa(i>>8) + "." + strconv.Itoa(i&255)
	}
	return keys
}

func BenchmarkLocalTake(b *testing.B) {
	ctx := context.Background()
	for _, bp := range benchPolicies {
		b.Run(bp.name+"/one-key", func(b *testing.B) {
			l := NewLocal(nil, 0)
			defer l.Close()
			b.ReportAllocs()
			for b.Loop() {
				l.Take(ctx, "plugin-id:10.0.0.1", bp.p, 1)
			}
		})
	}
	b.Run("fixed/100k-keys", func(b *testing.B) {
		l := NewLocal(nil, 0)
		defer l.Close()
		keys := benchKeys(100_000)
		p := benchPolicies[0].p
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			l.Take(ctx, keys[i%len(keys)], p, 1)
			i++
		}
	})
}

func BenchmarkLocalTakeParallel(b *testing.B) {
	ctx := context.Background()
	p := benchPolicies[0].p
	b.Run("one-key", func(b *testing.B) {
		l := NewLocal(nil, 0)
		defer l.Close()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l.Take(ctx, "plugin-id:10.0.0.1", p, 1)
			}
		})
	})
	b.Run("100k-keys", func(b *testing.B) {
		l := NewLocal(nil, 0)
		defer l.Close()
		keys := benchKeys(100_000)
		var next atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(7919))
			for pb.Next() {
				l.Take(ctx, keys[i%len(keys)], p, 1)
				i++
			}
		})
	})
}

// processCPU is the process' user and system CPU time so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkRedisTakeParallel(b *testing.B) {
	srv := gwtest.StartRedis(b)
	ctx := context.Background()
	run := func(b *testing.B, p *Policy, keys []string, parallelism int) {
		r, err := NewRedis(RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{srv.Addr}}}, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		var next atomic.Int64
		b.ReportAllocs()
		b.SetParallelism(parallelism)
		cpu := processCPU(b)
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(7919))
			for pb.Next() {
				if _, err := r.Take(ctx, keys[i%len(keys)], p, 1); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
		// The client's CPU time per decision (redis-server is another
		// process): what a gateway pays for a decision, whether or not
		// Redis is the bottleneck of the benchmark.
		b.ReportMetric(float64(processCPU(b)-cpu)/float64(b.N), "cpu-ns/op")
	}
	for _, bp := range benchPolicies {
		b.Run(bp.name+"/one-key", func(b *testing.B) { run(b, bp.p, benchKeys(1), 1) })
	}
	b.Run("fixed/10k-keys", func(b *testing.B) { run(b, benchPolicies[0].p, benchKeys(10_000), 1) })
	// 32 callers per CPU, as a gateway under load has many requests
	// waiting on Redis at once.
	b.Run("fixed/10k-keys/x32", func(b *testing.B) { run(b, benchPolicies[0].p, benchKeys(10_000), 32) })
	b.Run("sliding/10k-keys/x32", func(b *testing.B) { run(b, benchPolicies[1].p, benchKeys(10_000), 32) })
	batched := &Policy{Algorithm: Fixed, Limits: benchPolicies[0].p.Limits, Batch: 100}
	b.Run("fixed-batch-100/one-key", func(b *testing.B) { run(b, batched, benchKeys(1), 1) })
}
