package upstream

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/clock"
)

// benchSizes are the upstream sizes the issue asks figures for.
var benchSizes = []int{10, 1000}

// benchTargets makes n targets with mixed weights, a little load and a
// latency sample each, so the scanning balancers compare real numbers.
func benchTargets(n int) []*Target {
	targets := make([]*Target, n)
	for i := range targets {
		t := NewTarget("10.1."+strconv.Itoa(i/250)+"."+strconv.Itoa(i%250), 8080, 50+i%7*10, nil)
		for range i % 3 {
			t.Begin()
		}
		t.State.observeLatency(time.Duration(1+i%13) * time.Millisecond)
		targets[i] = t
	}
	return targets
}

// benchPick measures Pick with the PickRequest reused, as the proxy does
// (it lives in the pooled per-request state).
func benchPick(b *testing.B, build func([]*Target) Balancer, fill func(*PickRequest, int)) {
	for _, n := range benchSizes {
		bal := build(benchTargets(n))
		b.Run("targets="+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			var r PickRequest
			i := 0
			for b.Loop() {
				r = PickRequest{}
				fill(&r, i)
				if _, err := bal.Pick(&r); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

func noInput(*PickRequest, int) {}

func BenchmarkPickRoundRobin(b *testing.B) {
	benchPick(b, func(t []*Target) Balancer { return NewRoundRobin(t) }, noInput)
}

func BenchmarkPickLeastConnections(b *testing.B) {
	benchPick(b, func(t []*Target) Balancer { return NewLeastConnections(t) }, noInput)
}

// BenchmarkPickLatency measures both states a target's latency sample can
// be in, each held for the whole run so the figure does not depend on how
// long the run lasts: recent (sampled within the last second, as under
// steady traffic: the average is read as it is) and old (idle for longer:
// the average is decayed, an exponential per target per pick).
func BenchmarkPickLatency(b *testing.B) {
	for _, age := range []struct {
		name string
		ago  time.Duration
	}{{"samples=recent", 0}, {"samples=old", 10 * time.Second}} {
		b.Run(age.name, func(b *testing.B) {
			var targets []*Target
			stamp := func() {
				at := clock.Now().Add(-age.ago).UnixNano()
				for _, t := range targets {
					t.State.lastNanos.Store(at)
				}
			}
			benchPick(b, func(t []*Target) Balancer {
				targets = t
				stamp()
				return NewLatency(t)
			}, func(_ *PickRequest, i int) {
				// Recent samples are stamped again well within their
				// second: a store per target every 4,096 picks, a
				// fraction of a nanosecond per pick.
				if age.ago == 0 && i&4095 == 4095 {
					stamp()
				}
			})
		})
	}
}

func BenchmarkPickPowerOfTwoChoices(b *testing.B) {
	benchPick(b, func(t []*Target) Balancer { return NewPowerOfTwo(t) }, noInput)
}

func BenchmarkPickConsistentHashing(b *testing.B) {
	ips := make([]string, 1024)
	for i := range ips {
		ips[i] = "198.51." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256)
	}
	hdr := make([]*http.Request, 1024)
	for i := range hdr {
		hdr[i] = &http.Request{URL: &url.URL{RawQuery: "a=1&user=u" + strconv.Itoa(i)},
			Header: http.Header{"X-User": {"user-" + strconv.Itoa(i)}, "Cookie": {"theme=dark; sticky=" + strconv.Itoa(i*7919)}}}
	}
	inputs := []struct {
		name string
		cfg  HashConfig
	}{
		{name: "ip", cfg: HashConfig{Primary: HashInput{On: HashIP}}},
		{name: "header", cfg: HashConfig{Primary: HashInput{On: HashHeader, Name: "X-User"}}},
		{name: "cookie", cfg: HashConfig{Primary: HashInput{On: HashCookie}, Cookie: "sticky"}},
		{name: "query_arg", cfg: HashConfig{Primary: HashInput{On: HashQueryArg, Name: "user"}}},
	}
	for _, in := range inputs {
		b.Run(in.name, func(b *testing.B) {
			benchPick(b, func(t []*Target) Balancer {
				ch, err := NewConsistentHash(t, in.cfg)
				if err != nil {
					b.Fatal(err)
				}
				return ch
			}, func(r *PickRequest, i int) {
				r.ClientIP = ips[i&1023]
				r.Req = hdr[i&1023]
			})
		})
	}
}

// BenchmarkConsistentHashBuild is the cost a reload pays per upstream:
// slots × targets hashes (a logarithm each when weights differ).
func BenchmarkConsistentHashBuild(b *testing.B) {
	for _, n := range benchSizes {
		for _, weighted := range []bool{false, true} {
			targets := benchTargets(n)
			name := "targets=" + strconv.Itoa(n) + "/equal"
			if weighted {
				name = "targets=" + strconv.Itoa(n) + "/weighted"
			} else {
				for _, t := range targets {
					t.Weight = 100
				}
			}
			b.Run(name, func(b *testing.B) {
				for b.Loop() {
					NewConsistentHash(targets, HashConfig{Primary: HashInput{On: HashIP}})
				}
			})
		}
	}
}
