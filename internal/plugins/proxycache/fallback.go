package proxycache

import (
	"net/http"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/proxycache/httpcache"
)

// Fallback serves the expired entry in hand, as Stale, when the upstream
// failed in a way use_stale lists, or within the entry's stale-if-error
// window for any failure or 5xx.
func (in *Cache) Fallback(c *plugin.Ctx) *plugin.Exit {
	st := in.state(c)
	if st == nil || st.stale == nil {
		return nil
	}
	cond := failure(c)
	if cond == 0 {
		return nil
	}
	var e httpcache.Entry
	if !decodeEntry(st.stale, &e) {
		return nil
	}
	ageMs := max(time.Now().UnixMilli()-e.StoredMs, 0)
	pastMs := ageMs - int64(e.Fresh)*1000
	if in.s.useStale&cond == 0 && pastMs >= int64(max(e.SIE, in.s.sie))*1000 {
		return nil
	}
	st.served = true
	st.status = statusStale
	in.land(st)
	return in.answer(c, st.key, &e, ageMs, statusStale)
}

// failure is the use_stale condition the upstream's answer meets (0:
// none, it answered well).
func failure(c *plugin.Ctx) uint8 {
	switch {
	case c.Upstream.TimedOut:
		return staleTimeout
	case c.Upstream.Failed:
		return staleError
	}
	switch c.Resp.Status {
	case http.StatusInternalServerError:
		return staleHTTP500
	case http.StatusBadGateway:
		if !c.Resp.FromUpstream {
			return staleError
		}
		return staleHTTP502
	case http.StatusServiceUnavailable:
		if !c.Resp.FromUpstream {
			return staleError
		}
		return staleHTTP503
	case http.StatusGatewayTimeout:
		if !c.Resp.FromUpstream {
			return staleTimeout
		}
		return staleHTTP504
	}
	return 0
}
