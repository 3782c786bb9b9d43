package proxycache

import (
	"net/http"
	"strconv"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/proxycache/httpcache"
)

// keyBufSize is the stack buffer a key is built in; longer keys grow it.
const keyBufSize = 512

// Access looks the request up: a fresh entry is answered as a Hit, an
// expired one is refreshed (or served while another request refreshes
// it), a missing one is fetched and stored by the later phases.
func (in *Cache) Access(c *plugin.Ctx) error {
	r := c.Req
	s := in.s
	if !s.cacheableMethod(r.Method) || in.private(c) || tooManyArgs(queryOf(r)) {
		return in.bypass(c, "")
	}
	cc := noDirectives
	if s.ccOn {
		if v := r.Header["Cache-Control"]; len(v) > 0 {
			cc = httpcache.ParseCacheControl(v)
		}
		if cc.NoStore {
			return in.bypass(c, "")
		}
	}
	var buf [keyBufSize]byte
	key := in.key(c, buf[:0])
	var b []byte
	if !(s.ccOn && cc.NoCache) {
		var err error
		b, err = in.store.Get(r.Context(), key)
		if err != nil {
			in.countError(err)
			return in.bypass(c, key)
		}
	}
	var e httpcache.Entry
	if !decodeEntry(b, &e) || !e.VaryMatches(r.Header) {
		if s.ccOn && cc.OnlyIfCached {
			return in.notCached()
		}
		status := statusMiss
		if b != nil || cc.NoCache {
			status = statusRefresh
		}
		return in.miss(c, &cc, key, status, nil)
	}
	nowMs := time.Now().UnixMilli()
	ageMs := max(nowMs-e.StoredMs, 0)
	freshMs := int64(e.Fresh) * 1000
	v := in.verdict(&cc, ageMs, freshMs)
	switch {
	case v == verdictHit:
		return in.hit(c, key, &e, ageMs)
	case s.ccOn && cc.OnlyIfCached:
		// The client forbade the upstream: what is stored is not fresh
		// enough for it.
		return in.notCached()
	case v == verdictRefresh:
		return in.miss(c, &cc, key, statusRefresh, b)
	}
	// Expired: within its stale-while-revalidate window, one request
	// refreshes it and the others get it meanwhile. A HEAD, which stores
	// nothing, never refreshes: without a refresh under way it goes
	// upstream uncoalesced.
	pastMs := ageMs - freshMs
	if s.useStale&staleUpdating != 0 || pastMs < int64(max(e.SWR, s.swr))*1000 {
		if r.Method == http.MethodHead {
			if in.flights.running(key) {
				in.metrics.count(statusUpdating)
				return in.answer(c, key, &e, ageMs, statusUpdating)
			}
			return in.lead(c, key, statusRefresh, nil, b)
		}
		f, leader := in.flights.acquire(key, s.lockTimeout)
		if !leader {
			in.metrics.count(statusUpdating)
			return in.answer(c, key, &e, ageMs, statusUpdating)
		}
		return in.lead(c, key, statusRefresh, f, b)
	}
	return in.miss(c, &cc, key, statusRefresh, b)
}

// notCached is the answer to only-if-cached without a fresh entry.
func (in *Cache) notCached() error {
	in.metrics.count(statusBypass)
	return plugin.NewExit(http.StatusGatewayTimeout, "")
}

var noDirectives = httpcache.ParseCacheControl(nil)

type verdict uint8

const (
	verdictHit verdict = iota
	verdictRefresh
	verdictExpired
)

// verdict decides what an entry of that age is to the request: fresh
// enough (the request's max-age, min-fresh and max-stale when
// cache_control is on), to be refreshed for the request, or expired.
func (in *Cache) verdict(cc *httpcache.Directives, ageMs, freshMs int64) verdict {
	if in.s.ccOn {
		if cc.MaxAge != httpcache.Absent && ageMs > cc.MaxAge*1000 {
			return verdictRefresh
		}
		if cc.MinFresh != httpcache.Absent && freshMs-ageMs < cc.MinFresh*1000 {
			return verdictRefresh
		}
		if ageMs >= freshMs && (cc.MaxStaleAny || cc.MaxStale != httpcache.Absent && ageMs-freshMs <= cc.MaxStale*1000) {
			return verdictHit
		}
	}
	if ageMs < freshMs {
		return verdictHit
	}
	return verdictExpired
}

// private reports a request whose response belongs to one client:
// Authorization that no credential of the gateway's accepted (no
// consumer, or an auth plugin's anonymous consumer, which has no
// credential: the upstream may still honour what the client sent), or
// a range (a partial response is never stored).
func (in *Cache) private(c *plugin.Ctx) bool {
	h := c.Req.Header
	if _, ok := h["Range"]; ok {
		return true
	}
	_, auth := h["Authorization"]
	return auth && (c.Consumer == nil || c.Credential == "")
}

func (in *Cache) key(c *plugin.Ctx, buf []byte) string {
	if in.s.template != nil {
		return in.s.template.key(c, buf)
	}
	return in.s.kongKey(c, buf)
}

// bypass lets the request through uncached.
func (in *Cache) bypass(c *plugin.Ctx, key string) error {
	in.metrics.count(statusBypass)
	in.setHeaders(c.Resp.Header, statusBypass, key)
	return nil
}

// hit answers from the entry. Its header goes straight into the
// response's: the proxy's first step with an access-phase Exit is to
// copy the Exit's Header there, so this spares a map per hit.
func (in *Cache) hit(c *plugin.Ctx, key string, e *httpcache.Entry, ageMs int64) error {
	in.metrics.count(statusHit)
	in.setAnswerHeader(c.Resp.Header, e.AddHeader(c.Resp.Header, 2), key, ageMs, statusHit)
	return &plugin.Exit{Status: e.Status, Body: e.Body}
}

// answer is the entry as an Exit carrying its header, for the answers
// that are not an access-phase hit (Updating, Stale's fallback, where
// the proxy drops the upstream's header first).
func (in *Cache) answer(c *plugin.Ctx, key string, e *httpcache.Entry, ageMs int64, status cacheStatus) *plugin.Exit {
	h, spare := e.Header(2)
	in.setAnswerHeader(h, spare, key, ageMs, status)
	return &plugin.Exit{Status: e.Status, Header: h, Body: e.Body}
}

// setAnswerHeader adds the plugin's own fields of an answer to h, their
// values in spare (two of them).
func (in *Cache) setAnswerHeader(h http.Header, spare []string, key string, ageMs int64, status cacheStatus) {
	hd := &in.s.headers
	if hd.Age {
		spare[0] = strconv.FormatInt(ageMs/1000, 10)
		h["Age"] = spare[0:1:1]
	}
	if hd.Status {
		h["X-Cache-Status"] = statusValues[status]
	}
	if hd.CacheKey {
		spare[1] = key
		h["X-Cache-Key"] = spare[1:2:2]
	}
}

// miss sends the request upstream to be stored, coalesced with the
// other requests for the key when lock is on (a HEAD, which stores
// nothing, is never coalesced). stale is the expired entry in hand.
func (in *Cache) miss(c *plugin.Ctx, cc *httpcache.Directives, key string, status cacheStatus, stale []byte) error {
	if !in.s.lock || c.Req.Method == http.MethodHead {
		return in.lead(c, key, status, nil, stale)
	}
	f, leader := in.flights.acquire(key, in.s.lockTimeout)
	if leader {
		return in.lead(c, key, status, f, stale)
	}
	if !f.wait(c.Req.Context(), in.s.lockTimeout) {
		// Too many waiters, or the leader took too long: upstream,
		// uncached.
		return in.uncached(c, key, stale)
	}
	b, err := in.store.Get(c.Req.Context(), key)
	if err != nil {
		in.countError(err)
		return in.uncached(c, key, stale)
	}
	var e httpcache.Entry
	if !decodeEntry(b, &e) || !e.VaryMatches(c.Req.Header) {
		return in.uncached(c, key, stale)
	}
	ageMs := max(time.Now().UnixMilli()-e.StoredMs, 0)
	if in.verdict(cc, ageMs, int64(e.Fresh)*1000) != verdictHit {
		// What the leader stored is not fresh enough for this request
		// (or it is an older entry the leader did not replace).
		return in.uncached(c, key, b)
	}
	return in.hit(c, key, &e, ageMs)
}

// uncached sends a request upstream without storing its response; the
// expired entry in hand may still be served as Stale for a failure.
func (in *Cache) uncached(c *plugin.Ctx, key string, stale []byte) error {
	if stale == nil {
		return in.bypass(c, key)
	}
	st := &reqState{key: key, status: statusBypass, stale: stale, noStore: true}
	in.setState(c, st)
	in.setHeaders(c.Resp.Header, statusBypass, key)
	return nil
}

// lead makes this request the one that fetches and stores the key.
func (in *Cache) lead(c *plugin.Ctx, key string, status cacheStatus, f *flight, stale []byte) error {
	st := &reqState{key: key, status: status, flight: f, stale: stale, path: c.ClientPath}
	in.setState(c, st)
	in.setHeaders(c.Resp.Header, status, key)
	// A HEAD response has no body to store; the GET's is served to
	// HEAD once stored.
	st.head = c.Req.Method == http.MethodHead
	return nil
}
