package adaptiveconcurrency

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeClock is the instance's clock in tests.
type fakeClock struct{ t int64 }

func (f *fakeClock) now() int64              { return f.t }
func (f *fakeClock) advance(d time.Duration) { f.t += int64(d) }

func build(t *testing.T, clk *fakeClock, set func(*Config)) *Instance {
	t.Helper()
	cfg := Registration().NewConfig().(*Config)
	cfg.SetDefaults()
	if set != nil {
		set(cfg)
	}
	in, err := newInstance(cfg, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func newCtx(service string) *plugin.Ctx {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	return &plugin.Ctx{Req: r, Method: r.Method, Service: &plugin.ServiceInfo{ID: service}, StartedAt: time.Now()}
}

// admit sends n requests into the access phase and returns those admitted
// and the number shed.
func admit(t *testing.T, in *Instance, n int) (admitted []*plugin.Ctx, shed int) {
	t.Helper()
	for range n {
		c := newCtx("svc")
		err := in.Access(c)
		if err == nil {
			admitted = append(admitted, c)
			continue
		}
		var e *plugin.Exit
		if !errors.As(err, &e) || e.Status != 503 || e.Message != DefaultMessage || e.Header.Get(Header) != Name {
			t.Fatalf("shed response %v", err)
		}
		in.Log(c) // the log phase runs for shed requests too
		shed++
	}
	return admitted, shed
}

// finish completes requests with the given upstream latency.
func finish(in *Instance, cs []*plugin.Ctx, latency time.Duration) {
	for _, c := range cs {
		c.Upstream = plugin.UpstreamResult{Addr: "10.0.0.1:80", Status: 200, Latency: latency, Tries: 1}
		in.Log(c)
	}
}

// round runs one sample interval: conc requests at once, all answered with
// latency, then the clock moves past the interval and one more request
// ends it.
func round(t *testing.T, in *Instance, clk *fakeClock, conc int, latency time.Duration) (shed int) {
	t.Helper()
	cs, shed := admit(t, in, conc)
	finish(in, cs[:len(cs)/2], latency)
	clk.advance(100 * time.Millisecond)
	finish(in, cs[len(cs)/2:], latency)
	return shed
}

func limitOf(in *Instance) int64 { return in.Limits()["svc"].Limit }

// measure completes the start-up minRTT measurement at latency.
func measure(t *testing.T, in *Instance, clk *fakeClock, latency time.Duration) {
	t.Helper()
	for in.Limits()["svc"].Measuring || len(in.Limits()) == 0 {
		round(t, in, clk, 3, latency)
	}
}

func TestMeasuresMinRTTAtStart(t *testing.T) {
	clk := &fakeClock{}
	in := build(t, clk, nil)
	// Pinned to min_limit while measuring.
	cs, shed := admit(t, in, 10)
	if len(cs) != 3 || shed != 7 {
		t.Fatalf("admitted %d, shed %d while measuring; want 3 and 7", len(cs), shed)
	}
	finish(in, cs, 10*time.Millisecond)
	measure(t, in, clk, 10*time.Millisecond)
	st := in.Limits()["svc"]
	if st.MinRTT != 10*time.Millisecond || st.Limit != 20 || st.InFlight != 0 {
		t.Fatalf("after measuring: %+v, want minRTT 10ms, limit 20 (initial_limit)", st)
	}
}

func TestGradient(t *testing.T) {
	tests := []struct {
		name string
		set  func(*Config)
		// rounds of (concurrency, latency) after minRTT = 10ms was measured
		rounds [][2]int // {concurrency, latency ms}
		check  func(t *testing.T, limits []int64, shed []int)
	}{
		{
			name:   "grows while latency stays within the buffer",
			rounds: [][2]int{{30, 12}, {60, 12}, {120, 12}},
			check: func(t *testing.T, limits []int64, _ []int) {
				if !(limits[0] > 20 && limits[1] > limits[0] && limits[2] > limits[1]) {
					t.Fatalf("limits %v should grow", limits)
				}
			},
		},
		{
			name:   "does not grow while unused",
			rounds: [][2]int{{5, 2}, {5, 2}, {5, 2}, {5, 2}},
			check: func(t *testing.T, limits []int64, _ []int) {
				if limits[3] != 20 {
					t.Fatalf("limits %v grew with 5 of 20 in use", limits)
				}
			},
		},
		{
			name:   "shrinks when latency climbs, and sheds",
			rounds: [][2]int{{20, 40}, {20, 40}, {20, 40}, {20, 40}},
			check: func(t *testing.T, limits []int64, shed []int) {
				if !(limits[0] < 20 && limits[1] < limits[0]) {
					t.Fatalf("limits %v should shrink", limits)
				}
				if shed[2] == 0 || shed[3] == 0 {
					t.Fatalf("no request shed at a limit of %v: shed %v", limits, shed)
				}
			},
		},
		{
			name:   "halves at most per interval",
			rounds: [][2]int{{20, 1000}},
			check: func(t *testing.T, limits []int64, _ []int) {
				// 20 × 0.5 + √10
				if limits[0] != 13 {
					t.Fatalf("limit %d, want 13", limits[0])
				}
			},
		},
		{
			name:   "bounded by min_limit",
			set:    func(c *Config) { c.MinLimit = 5 },
			rounds: [][2]int{{20, 1000}, {20, 1000}, {20, 1000}, {20, 1000}, {20, 1000}, {20, 1000}},
			check: func(t *testing.T, limits []int64, shed []int) {
				if limits[5] != 5 || shed[5] != 15 {
					t.Fatalf("limits %v shed %v, want to settle at 5 shedding 15", limits, shed)
				}
			},
		},
		{
			name:   "bounded by max_limit",
			set:    func(c *Config) { c.MaxLimit = 50 },
			rounds: [][2]int{{50, 5}, {50, 5}, {50, 5}},
			check: func(t *testing.T, limits []int64, shed []int) {
				if limits[2] != 50 || shed[2] != 0 {
					t.Fatalf("limits %v shed %v, want 50 and none", limits, shed)
				}
			},
		},
		{
			name:   "recovers when latency drops",
			rounds: [][2]int{{20, 80}, {20, 80}, {20, 80}, {30, 10}, {30, 10}, {30, 10}, {30, 10}, {30, 10}, {30, 10}},
			check: func(t *testing.T, limits []int64, shed []int) {
				if limits[2] >= 10 || shed[2] == 0 {
					t.Fatalf("limit %v, shed %v: should have come down under load", limits, shed)
				}
				if limits[8] < 30 || shed[8] != 0 {
					t.Fatalf("limits %v, shed %v: should have recovered", limits, shed)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &fakeClock{}
			in := build(t, clk, tt.set)
			measure(t, in, clk, 10*time.Millisecond)
			var limits []int64
			var shed []int
			for _, r := range tt.rounds {
				shed = append(shed, round(t, in, clk, r[0], time.Duration(r[1])*time.Millisecond))
				limits = append(limits, limitOf(in))
			}
			tt.check(t, limits, shed)
			if f := in.Limits()["svc"].InFlight; f != 0 {
				t.Fatalf("%d requests still counted in flight", f)
			}
		})
	}
}

func TestRemeasuresMinRTT(t *testing.T) {
	clk := &fakeClock{}
	in := build(t, clk, func(c *Config) { c.MinRTTInterval = 10 })
	measure(t, in, clk, 10*time.Millisecond)
	for range 5 {
		round(t, in, clk, 40, 11*time.Millisecond)
	}
	before := limitOf(in)
	clk.advance(10 * time.Second)
	round(t, in, clk, 3, 30*time.Millisecond)
	if st := in.Limits()["svc"]; !st.Measuring || st.Limit != 3 {
		t.Fatalf("after min_rtt_interval: %+v, want a measurement at min_limit", st)
	}
	// The upstream became slower for good: the new minRTT follows, and the
	// limit in force before the measurement is restored.
	measure(t, in, clk, 30*time.Millisecond)
	st := in.Limits()["svc"]
	if st.MinRTT != 30*time.Millisecond || st.Limit != before {
		t.Fatalf("after measuring again: %+v, want minRTT 30ms and limit %d", st, before)
	}
	round(t, in, clk, 40, 30*time.Millisecond)
	if limitOf(in) < before {
		t.Fatalf("limit %d went down at the new normal latency", limitOf(in))
	}
}

func TestSamples(t *testing.T) {
	clk := &fakeClock{}
	in := build(t, clk, func(c *Config) { c.MinRTTRequests = 3 })
	// Fast connection failures and gateway-made responses say nothing
	// about the upstream's latency; the median ignores an outlier.
	for _, u := range []plugin.UpstreamResult{
		{Addr: "10.0.0.1:80", Failed: true},
		{},
		{Addr: "10.0.0.1:80", Status: 200, Latency: 20 * time.Millisecond},
		{Addr: "10.0.0.1:80", Status: 502, Latency: 30 * time.Millisecond},
		{Addr: "10.0.0.1:80", Status: 200, Latency: 400 * time.Millisecond},
	} {
		c := newCtx("svc")
		if err := in.Access(c); err != nil {
			t.Fatal(err)
		}
		c.Upstream = u
		in.Log(c)
	}
	clk.advance(time.Second)
	c := newCtx("svc")
	if err := in.Access(c); err != nil {
		t.Fatal(err)
	}
	in.Log(c) // a gateway-made response ends the interval
	if st := in.Limits()["svc"]; st.MinRTT != 30*time.Millisecond || st.Measuring {
		t.Fatalf("stats %+v, want minRTT 30ms, the median of the three real responses", st)
	}
}

func TestPerServiceAndNoService(t *testing.T) {
	clk := &fakeClock{}
	in := build(t, clk, nil)
	a, b := newCtx("a"), newCtx("b")
	for _, c := range []*plugin.Ctx{a, a, a, b} {
		if err := in.Access(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := in.Access(newCtx("a")); err == nil {
		t.Fatal("fourth request to a admitted at min_limit 3")
	}
	want := map[string]Stats{"a": {Limit: 3, InFlight: 3, Measuring: true}, "b": {Limit: 3, InFlight: 1, Measuring: true}}
	if diff := cmp.Diff(want, in.Limits()); diff != "" {
		t.Fatalf("Limits (-want +got):\n%s", diff)
	}
	c := newCtx("")
	c.Service = nil
	if err := in.Access(c); err != nil {
		t.Fatal(err)
	}
	in.Log(c)
}

// TestConcurrent hammers one limiter from many goroutines (run with -race):
// the in-flight count never passes the limit and returns to zero.
func TestConcurrent(t *testing.T) {
	cfg := Registration().NewConfig().(*Config)
	cfg.SetDefaults()
	cfg.SampleInterval, cfg.MinRTTRequests, cfg.InitialLimit, cfg.MaxLimit = 0.001, 5, 10, 16
	inst, err := New(cfg, plugin.Env{})
	if err != nil {
		t.Fatal(err)
	}
	in := inst.(*Instance)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for range 300 {
				c := newCtx("svc")
				if in.Access(c) != nil {
					in.Log(c)
					continue
				}
				if f := in.Limits()["svc"].InFlight; f > 16 {
					t.Errorf("%d in flight over max_limit 16", f)
				}
				c.Upstream = plugin.UpstreamResult{Addr: "10.0.0.1:80", Status: 200, Latency: time.Millisecond}
				in.Log(c)
			}
		})
	}
	wg.Wait()
	if f := in.Limits()["svc"].InFlight; f != 0 {
		t.Fatalf("%d still in flight", f)
	}
}

func TestRegistration(t *testing.T) {
	reg := Registration()
	if reg.Name != "adaptive-concurrency" || reg.Priority != 1490 || !reg.NoConsumer {
		t.Fatalf("registration %+v", reg)
	}
	raw, err := config.ParseRaw([]byte(`{"max_limit": 64, "sample_interval": 0.05}`), "plugins[0].config")
	if err != nil {
		t.Fatal(err)
	}
	cfg := reg.NewConfig().(*Config)
	if errs := raw.Decode(cfg); len(errs) > 0 {
		t.Fatal(errs)
	}
	want := &Config{
		InitialLimit: 20, MinLimit: 3, MaxLimit: 64, SampleInterval: 0.05, MinRTTInterval: 60,
		MinRTTRequests: 25, MinRTTBuffer: 0.25, ErrorMessage: DefaultMessage, ErrorCode: 503,
	}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Fatalf("decoded (-want +got):\n%s", diff)
	}
	inst, err := reg.New(cfg, plugin.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := inst.(plugin.Accessor); !ok {
		t.Error("not an Accessor")
	}
	if _, ok := inst.(plugin.Logger); !ok {
		t.Error("not a Logger")
	}
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name string
		set  func(*Config)
		want []string
	}{
		{"defaults", nil, nil},
		{"no re-measuring", func(c *Config) { c.MinRTTInterval = 0 }, nil},
		{"min_limit", func(c *Config) { c.MinLimit, c.InitialLimit = 0, 0 }, []string{"min_limit"}},
		{"max under min", func(c *Config) { c.MinLimit, c.MaxLimit = 10, 5 }, []string{"max_limit", "initial_limit"}},
		{"initial over max", func(c *Config) { c.InitialLimit = 2000 }, []string{"initial_limit"}},
		{"sample_interval", func(c *Config) { c.SampleInterval = 0 }, []string{"sample_interval"}},
		{"min_rtt_interval", func(c *Config) { c.MinRTTInterval = 0.5 }, []string{"min_rtt_interval"}},
		{"min_rtt_requests", func(c *Config) { c.MinRTTRequests = 0 }, []string{"min_rtt_requests"}},
		{"min_rtt_buffer", func(c *Config) { c.MinRTTBuffer = -1 }, []string{"min_rtt_buffer"}},
		{"error_code", func(c *Config) { c.ErrorCode = 600 }, []string{"error_code"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Registration().NewConfig().(*Config)
			cfg.SetDefaults()
			if tt.set != nil {
				tt.set(cfg)
			}
			_, err := New(cfg, plugin.Env{})
			var got []string
			if err != nil {
				var errs plugin.Errors
				if !errors.As(err, &errs) {
					t.Fatalf("error %v is not plugin.Errors", err)
				}
				for _, e := range errs {
					got = append(got, e.Path)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("error paths (-want +got):\n%s\n%v", diff, err)
			}
		})
	}
}
