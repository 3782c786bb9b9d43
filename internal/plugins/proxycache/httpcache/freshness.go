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

// maxAge caps an Age value (RFC 9111 section 1.2.2: 2^31 seconds stands
// for any larger).
const maxAge = 1 << 31

// ReceivedAge is the response's Age header (RFC 9111 section 5.1): the
// seconds it spent in caches upstream of this one, which count against
// its freshness lifetime (section 4.2.3). A missing or invalid value is
// 0.
func ReceivedAge(h http.Header) time.Duration {
	v, ok := h["Age"]
	if !ok || len(v) == 0 || v[0] == "" {
		return 0
	}
	n := int64(0)
	for i := 0; i < len(v[0]); i++ {
		c := v[0][i]
		if c < '0' || c > '9' {
			return 0
		}
		n = min(n*10+int64(c-'0'), maxAge)
	}
	return time.Duration(n) * time.Second
}
