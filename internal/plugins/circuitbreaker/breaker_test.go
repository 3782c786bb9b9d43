package circuitbreaker

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// build mirrors the loader: defaults first, then the user's values.
func build(t *testing.T, set func(*Config)) *Instance {
	t.Helper()
	in, err := tryBuild(set)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func tryBuild(set func(*Config)) (*Instance, error) {
	reg := Registration()
	cfg := reg.NewConfig().(*Config)
	cfg.SetDefaults()
	if set != nil {
		set(cfg)
	}
	in, err := reg.New(cfg, plugin.Env{})
	if err != nil {
		return nil, err
	}
	return in.(*Instance), nil
}

func newCtx(service string) *plugin.Ctx {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	return &plugin.Ctx{Req: r, Method: r.Method, Service: &plugin.ServiceInfo{ID: service}}
}

// outcomes a test request can end with.
const (
	ok       = "ok"       // upstream 200
	fail     = "fail"     // upstream 500
	reset    = "reset"    // connection failure
	timeout  = "timeout"  // upstream timeout
	gateway  = "gateway"  // answered by the gateway (another plugin), no upstream
	notFound = "notfound" // upstream 404, not a failure status
)

func result(outcome string) plugin.UpstreamResult {
	switch outcome {
	case ok:
		return plugin.UpstreamResult{Addr: "10.0.0.1:80", Status: 200, Tries: 1}
	case fail:
		return plugin.UpstreamResult{Addr: "10.0.0.1:80", Status: 500, Tries: 1}
	case notFound:
		return plugin.UpstreamResult{Addr: "10.0.0.1:80", Status: 404, Tries: 1}
	case reset:
		return plugin.UpstreamResult{Addr: "10.0.0.1:80", Failed: true, Tries: 1}
	case timeout:
		return plugin.UpstreamResult{Addr: "10.0.0.1:80", Failed: true, TimedOut: true, Tries: 1}
	}
	return plugin.UpstreamResult{}
}

// send runs one request through the access and log phases. It reports
// whether the breaker let it through.
func send(t *testing.T, in *Instance, service, outcome string) bool {
	t.Helper()
	c := newCtx(service)
	if err := in.Access(c); err != nil {
		checkReject(t, err)
		in.Log(c) // the log phase runs for rejected requests too
		return false
	}
	c.Upstream = result(outcome)
	in.Log(c)
	return true
}

func checkReject(t *testing.T, err error) {
	t.Helper()
	var e *plugin.Exit
	if !errors.As(err, &e) {
		t.Fatalf("Access returned %v, want an *plugin.Exit", err)
	}
	if e.Status != 503 || e.Message != DefaultMessage || e.Header.Get(Header) == "" {
		t.Fatalf("reject = %+v", e)
	}
}

// step is one line of a scenario: send n requests with an outcome, sleep,
// or check the state.
type step struct {
	n       int
	outcome string
	// passed is how many of the n requests must be let through (-1: all).
	passed int
	sleep  time.Duration
	state  string
}

func reqs(n int, outcome string) step     { return step{n: n, outcome: outcome, passed: -1} }
func rejected(n int) step                 { return step{n: n, outcome: ok, passed: 0} }
func sleep(d time.Duration) step          { return step{sleep: d} }
func expect(state string) step            { return step{state: state} }
func partly(n, passed int, o string) step { return step{n: n, outcome: o, passed: passed} }

func TestStateMachine(t *testing.T) {
	tests := []struct {
		name  string
		set   func(*Config)
		steps []step
	}{
		{
			name:  "opens on ratio",
			set:   func(c *Config) { c.MinRequests = 10 },
			steps: []step{reqs(5, ok), reqs(4, fail), expect("closed"), reqs(1, fail), expect("open"), rejected(5)},
		},
		{
			name:  "stays closed under the ratio",
			set:   func(c *Config) { c.MinRequests = 10 },
			steps: []step{reqs(6, ok), reqs(4, fail), expect("closed"), reqs(1, ok), expect("closed")},
		},
		{
			name: "opens on count",
			set: func(c *Config) {
				c.MinRequests, c.FailureCount, c.FailureRatio = 5, 3, 0
			},
			steps: []step{reqs(20, ok), reqs(2, fail), expect("closed"), reqs(1, fail), expect("open")},
		},
		{
			name: "count opens before the ratio",
			set: func(c *Config) {
				c.MinRequests, c.FailureCount = 5, 3
			},
			steps: []step{reqs(10, ok), reqs(3, timeout), expect("open")},
		},
		{
			name:  "stays closed below min_requests",
			steps: []step{reqs(19, fail), expect("closed"), reqs(1, fail), expect("open")},
		},
		{
			name:  "connect failures and timeouts are failures",
			set:   func(c *Config) { c.MinRequests = 4 },
			steps: []step{reqs(2, reset), reqs(1, timeout), expect("closed"), reqs(1, reset), expect("open")},
		},
		{
			name:  "statuses outside failure_statuses are successes",
			set:   func(c *Config) { c.MinRequests = 4 },
			steps: []step{reqs(50, notFound), expect("closed"), reqs(50, fail), expect("open")},
		},
		{
			name:  "custom failure_statuses",
			set:   func(c *Config) { c.MinRequests, c.FailureStatuses = 4, []int{404} },
			steps: []step{reqs(10, fail), expect("closed"), reqs(10, notFound), expect("open")},
		},
		{
			name:  "gateway-made responses are not counted",
			set:   func(c *Config) { c.MinRequests = 4 },
			steps: []step{reqs(100, gateway), reqs(3, fail), expect("closed"), reqs(1, fail), expect("open")},
		},
		{
			name: "failures leave the rolling window",
			set:  func(c *Config) { c.MinRequests = 4 },
			steps: []step{
				reqs(3, fail), sleep(11 * time.Second), reqs(3, ok), reqs(1, fail), expect("closed"),
				reqs(1, fail), expect("closed"), reqs(1, fail), expect("open"),
			},
		},
		{
			name: "the window rolls by buckets",
			set:  func(c *Config) { c.MinRequests = 4 },
			// Failures 6 s ago are still inside the 10 s window.
			steps: []step{reqs(2, fail), sleep(6 * time.Second), reqs(1, ok), reqs(1, fail), expect("open")},
		},
		{
			name: "open rejects until open_timeout, then half-open probes are limited",
			set:  func(c *Config) { c.MinRequests = 2 },
			steps: []step{
				reqs(2, fail), expect("open"), rejected(3), sleep(29 * time.Second), rejected(1), expect("open"),
				sleep(1*time.Second + time.Millisecond), expect("half-open"),
			},
		},
		{
			name: "half-open closes after the probes succeed",
			set:  func(c *Config) { c.MinRequests = 2 },
			steps: []step{
				reqs(2, fail), sleep(31 * time.Second), expect("half-open"), reqs(2, ok), expect("half-open"),
				reqs(1, ok), expect("closed"), reqs(10, ok),
			},
		},
		{
			name: "half-open reopens on a failure",
			set:  func(c *Config) { c.MinRequests = 2 },
			steps: []step{
				reqs(2, fail), sleep(31 * time.Second), reqs(1, ok), reqs(1, fail), expect("open"), rejected(2),
				sleep(31 * time.Second), expect("half-open"), reqs(3, ok), expect("closed"),
			},
		},
		{
			name: "half-open probe answered by the gateway frees its slot",
			set:  func(c *Config) { c.MinRequests, c.HalfOpenRequests = 2, 1 },
			steps: []step{
				reqs(2, fail), sleep(31 * time.Second), reqs(5, gateway), expect("half-open"), reqs(1, ok), expect("closed"),
			},
		},
		{
			name: "closed again counts from zero",
			set:  func(c *Config) { c.MinRequests = 4 },
			steps: []step{
				reqs(4, fail), sleep(31 * time.Second), reqs(3, ok), expect("closed"), reqs(3, fail), expect("closed"),
				partly(2, 1, fail), expect("open"),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				in := build(t, tt.set)
				for i, s := range tt.steps {
					switch {
					case s.sleep > 0:
						time.Sleep(s.sleep)
					case s.state != "":
						if got := in.States()["svc"]; got != s.state {
							t.Fatalf("step %d: state %q, want %q", i, got, s.state)
						}
					default:
						passed := 0
						for range s.n {
							if send(t, in, "svc", s.outcome) {
								passed++
							}
						}
						want := s.passed
						if want < 0 {
							want = s.n
						}
						if passed != want {
							t.Fatalf("step %d: %d of %d %s requests let through, want %d", i, passed, s.n, s.outcome, want)
						}
					}
				}
			})
		})
	}
}

// TestHalfOpenConcurrentProbes holds probes in flight: only
// half_open_requests of them get through at once.
func TestHalfOpenConcurrentProbes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in := build(t, func(c *Config) { c.MinRequests = 2 })
		send(t, in, "svc", fail)
		send(t, in, "svc", fail)
		time.Sleep(31 * time.Second)
		var inFlight []*plugin.Ctx
		for range 10 {
			c := newCtx("svc")
			err := in.Access(c)
			if err == nil {
				inFlight = append(inFlight, c)
				continue
			}
			var e *plugin.Exit
			if !errors.As(err, &e) || e.Header.Get(Header) != "half-open" {
				t.Fatalf("reject = %v", err)
			}
		}
		if len(inFlight) != 3 {
			t.Fatalf("%d probes in flight, want 3", len(inFlight))
		}
		for _, c := range inFlight {
			c.Upstream = result(ok)
			in.Log(c)
		}
		if got := in.States()["svc"]; got != "closed" {
			t.Fatalf("state %q after the probes succeeded", got)
		}
	})
}

func TestOpenResponse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in := build(t, func(c *Config) {
			c.MinRequests, c.ErrorCode, c.ErrorMessage = 1, 502, "upstream is resting"
		})
		send(t, in, "svc", fail)
		err := in.Access(newCtx("svc"))
		var e *plugin.Exit
		if !errors.As(err, &e) {
			t.Fatalf("Access = %v", err)
		}
		want := &plugin.Exit{Status: 502, Message: "upstream is resting", Header: http.Header{Header: {"open"}}}
		if diff := cmp.Diff(want, e); diff != "" {
			t.Fatalf("exit (-want +got):\n%s", diff)
		}
	})
}

// TestPerService: an instance (e.g. global) keeps one breaker per service.
func TestPerService(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in := build(t, func(c *Config) { c.MinRequests = 2 })
		send(t, in, "a", fail)
		send(t, in, "a", fail)
		send(t, in, "b", ok)
		if !send(t, in, "b", ok) {
			t.Fatal("service b rejected because service a failed")
		}
		if send(t, in, "a", ok) {
			t.Fatal("service a let through while open")
		}
		want := map[string]string{"a": "open", "b": "closed"}
		if diff := cmp.Diff(want, in.States()); diff != "" {
			t.Fatalf("States (-want +got):\n%s", diff)
		}
		// A route without a service is not the breaker's business.
		c := newCtx("")
		c.Service = nil
		if err := in.Access(c); err != nil {
			t.Fatal(err)
		}
		in.Log(c)
	})
}

func TestRegistration(t *testing.T) {
	reg := Registration()
	if reg.Name != "circuit-breaker" || reg.Priority != 1500 || !reg.NoConsumer {
		t.Fatalf("registration %+v", reg)
	}
	cfg := reg.NewConfig().(*Config)
	cfg.SetDefaults()
	want := &Config{
		Window: 10, MinRequests: 20, FailureRatio: 0.5, OpenTimeout: 30, HalfOpenRequests: 3,
		FailureStatuses: []int{500, 502, 503, 504}, ErrorMessage: DefaultMessage, ErrorCode: 503,
	}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Fatalf("defaults (-want +got):\n%s", diff)
	}
	var in plugin.Instance = build(t, nil)
	if _, ok := in.(plugin.Accessor); !ok {
		t.Error("not an Accessor")
	}
	if _, ok := in.(plugin.Logger); !ok {
		t.Error("not a Logger")
	}
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name string
		set  func(*Config)
		want []string // error paths
	}{
		{"defaults", nil, nil},
		{"count only", func(c *Config) { c.FailureRatio, c.FailureCount = 0, 5 }, nil},
		{"no rule", func(c *Config) { c.FailureRatio = 0 }, []string{""}},
		{"ratio above 1", func(c *Config) { c.FailureRatio = 1.5 }, []string{"failure_ratio"}},
		{"negative count", func(c *Config) { c.FailureCount = -1 }, []string{"failure_count"}},
		{"window", func(c *Config) { c.Window = 0 }, []string{"window"}},
		{"min_requests", func(c *Config) { c.MinRequests = 0 }, []string{"min_requests"}},
		{"open_timeout", func(c *Config) { c.OpenTimeout = -1 }, []string{"open_timeout"}},
		{"half_open_requests", func(c *Config) { c.HalfOpenRequests = 0 }, []string{"half_open_requests"}},
		{"statuses", func(c *Config) { c.FailureStatuses = []int{500, 99, 600} }, []string{"failure_statuses[1]", "failure_statuses[2]"}},
		{"no statuses", func(c *Config) { c.FailureStatuses = []int{} }, []string{"failure_statuses"}},
		{"error_code", func(c *Config) { c.ErrorCode = 99 }, []string{"error_code"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tryBuild(tt.set)
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

// TestConfigDecoding: the Kong-file field names decode onto the defaults.
func TestConfigDecoding(t *testing.T) {
	raw, err := config.ParseRaw([]byte(`{"window": 0.5, "failure_count": 4, "failure_statuses": [502], "open_timeout": 2}`), "plugins[0].config")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Registration().NewConfig().(*Config)
	if errs := raw.Decode(cfg); len(errs) > 0 {
		t.Fatal(errs)
	}
	want := &Config{
		Window: 0.5, MinRequests: 20, FailureRatio: 0.5, FailureCount: 4, OpenTimeout: 2, HalfOpenRequests: 3,
		FailureStatuses: []int{502}, ErrorMessage: DefaultMessage, ErrorCode: 503,
	}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Fatalf("decoded (-want +got):\n%s", diff)
	}
}
