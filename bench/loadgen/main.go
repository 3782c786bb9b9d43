// Command loadgen is the open-loop (fixed-rate) load generator of the
// Turnpike benchmark.
//
// Requests are due at fixed intervals (1/rate) whether or not earlier ones
// have been answered, so a slow response cannot hold back the next request
// (no coordinated omission). Each request is handed to one of -c workers,
// each with its own keep-alive connection. Two latencies are recorded per
// request:
//
//	svc  from the moment the request was written to the last body byte
//	lat  from the moment the request was due; it also contains any wait for
//	     a free worker and the scheduler's lateness
//
// The run is bounded: -warmup unmeasured requests, then -n measured ones,
// and a hard wall-clock limit -max after which everything is abandoned.
// Percentiles are exact (all samples are kept). The result is one line
// on stdout:
//
//	RESULT target_rps=... achieved_rps=... ok=... errors=... non2xx=...
//	timed_out=... svc_p50_us=... svc_p99_us=... lat_p50_us=... lat_p99_us=...
//	lag_p99_us=...
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"time"
)

type sample struct {
	svc, lat, lag time.Duration
	ok            bool
	status        int
}

type job struct {
	idx int // index into the samples; negative for warm-up requests
	due time.Time
}

func main() {
	target := flag.String("url", "http://127.0.0.1:18100/hello", "URL to load (loopback)")
	rate := flag.Float64("rate", 1000, "requests per second")
	n := flag.Int("n", 10000, "measured requests")
	warmup := flag.Int("warmup", 1000, "unmeasured requests sent first, at the same rate")
	conns := flag.Int("c", 16, "workers, one keep-alive connection each")
	maxDur := flag.Duration("max", 60*time.Second, "hard limit on the whole run")
	timeout := flag.Duration("timeout", 5*time.Second, "per-request timeout")
	flag.Parse()

	u, err := url.Parse(*target)
	if err != nil || u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost" && u.Hostname() != "::1" {
		fmt.Fprintf(os.Stderr, "loadgen: -url must be a loopback http URL, got %q\n", *target)
		os.Exit(2)
	}
	if *rate <= 0 || *n <= 0 || *warmup < 0 || *conns <= 0 {
		fmt.Fprintln(os.Stderr, "loadgen: -rate, -n and -c must be positive, -warmup not negative")
		os.Exit(2)
	}

	ctx, cancel := context.WithTimeout(context.Background(), *maxDur)
	defer cancel()
	tr := &http.Transport{
		MaxIdleConnsPerHost: *conns,
		MaxConnsPerHost:     *conns,
		DisableCompression:  true,
		IdleConnTimeout:     time.Minute,
	}
	client := &http.Client{Transport: tr, Timeout: *timeout}

	samples := make([]sample, *n)
	jobs := make(chan job, *n+*warmup)
	var wg sync.WaitGroup
	for range *conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if ctx.Err() != nil {
					return
				}
				start := time.Now()
				s := do(ctx, client, *target)
				if j.idx >= 0 {
					s.lat = time.Since(j.due)
					s.lag = start.Sub(j.due)
					samples[j.idx] = s
				}
			}
		}()
	}

	interval := time.Duration(float64(time.Second) / *rate)
	total := *warmup + *n
	begin := time.Now()
	var measuredFrom time.Time
	sent := 0
	for i := 0; i < total; i++ {
		due := begin.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
		if ctx.Err() != nil {
			break
		}
		if i == *warmup {
			measuredFrom = due
		}
		jobs <- job{idx: i - *warmup, due: due}
		sent++
	}
	close(jobs)
	wg.Wait()
	end := time.Now()
	timedOut := ctx.Err() != nil

	var svc, lat, lag []time.Duration
	errs, non2xx := 0, 0
	for _, s := range samples[:max(0, sent-*warmup)] {
		switch {
		case !s.ok:
			errs++
		case s.status/100 != 2:
			non2xx++
		default:
			svc = append(svc, s.svc)
			lat = append(lat, s.lat)
			lag = append(lag, s.lag)
		}
	}
	achieved := 0.0
	if !measuredFrom.IsZero() {
		achieved = float64(len(svc)+non2xx) / end.Sub(measuredFrom).Seconds()
	}
	fmt.Printf("RESULT target_rps=%.0f achieved_rps=%.0f ok=%d errors=%d non2xx=%d timed_out=%t "+
		"svc_p50_us=%d svc_p99_us=%d lat_p50_us=%d lat_p99_us=%d lag_p99_us=%d\n",
		*rate, achieved, len(svc), errs, non2xx, timedOut,
		pct(svc, 50), pct(svc, 99), pct(lat, 50), pct(lat, 99), pct(lag, 99))
	if len(svc) == 0 || timedOut {
		os.Exit(1)
	}
}

// do sends one GET and reads the whole body. The returned svc is the time
// from handing the request to the transport to the last body byte.
func do(ctx context.Context, c *http.Client, target string) sample {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return sample{}
	}
	t0 := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return sample{svc: time.Since(t0)}
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return sample{svc: time.Since(t0), ok: err == nil, status: resp.StatusCode}
}

// pct returns the p-th percentile (nearest rank) of d in microseconds, or -1
// when d is empty. d is sorted in place.
func pct(d []time.Duration, p float64) int64 {
	if len(d) == 0 {
		return -1
	}
	slices.Sort(d)
	k := int(p/100*float64(len(d))+0.5) - 1
	return d[max(0, min(k, len(d)-1))].Microseconds()
}
