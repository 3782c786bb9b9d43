package httpcache

import (
	"net/http"
	"time"
)

// Lifetime is a response's freshness lifetime (RFC 9111 section 4.2.1):
// s-maxage, else max-age, else Expires minus Date (now when there is no
// valid Date), else def, the configured TTL. An Expires that is not a
// valid date means already expired.
func Lifetime(cc Directives, h http.Header, now time.Time, def time.Duration) time.Duration {
	switch {
	case cc.SMaxAge != Absent:
		return time.Duration(cc.SMaxAge) * time.Second
	case cc.MaxAge != Absent:
		return time.Duration(cc.MaxAge) * time.Second
	}
	exp, ok := h["Expires"]
	if !ok || len(exp) == 0 {
		return def
	}
	t, err := http.ParseTime(exp[0])
	if err != nil {
		return 0
	}
	date := now
	if d := h["Date"]; len(d) > 0 {
		if dt, err := http.ParseTime(d[0]); err == nil {
			date = dt
		}
	}
	return max(t.Sub(date), 0)
}

// ReceivedAge is the response's Age header (RFC 9111 section 5.1): the
// seconds it spent in caches upstream of this one, which count against
// its freshness lifetime (section 4.2.3). A missing or invalid value is
// 0.
func ReceivedAge(h http.Header) time.Duration {
	v, ok := h["Age"]
	if !ok || len(v) == 0 {
		return 0
	}
	// Age is delta-seconds, capped as Cache-Control's are; an invalid
	// one parses as 0.
	n, _ := deltaSeconds(v[0])
	return time.Duration(n) * time.Second
}
