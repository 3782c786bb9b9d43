package proxycache

import (
	"context"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/cachestore"
	"github.com/turnpikegw/turnpike/internal/plugins/proxycache/httpcache"
)

// HeaderFilter decides whether the upstream's response is stored, and
// keeps its header for that.
func (in *Cache) HeaderFilter(c *plugin.Ctx) {
	st := in.state(c)
	if st == nil || st.served {
		return
	}
	if st.noStore {
		in.setHeaders(c.Resp.Header, st.status, st.key)
		return
	}
	if !st.head && c.Resp.FromUpstream && in.cacheable(c, st) {
		st.store = true
		st.respStatus = c.Resp.Status
		st.header = storedHeader(c.Resp.Header)
		st.capture = &capture{max: in.s.maxBody}
	} else if st.status != statusBypass && !st.head {
		st.status = statusBypass
		in.land(st)
	}
	in.setHeaders(c.Resp.Header, st.status, st.key)
}

// cacheable applies the response rules, noting in st what storing
// needs.
func (in *Cache) cacheable(c *plugin.Ctx, st *reqState) bool {
	s, h := in.s, c.Resp.Header
	status := c.Resp.Status
	if !s.cacheableStatus(status) || status == http.StatusPartialContent || !in.typeMatches(h["Content-Type"]) {
		return false
	}
	if _, ok := h["Set-Cookie"]; ok && !s.setCookie {
		return false
	}
	if n, err := strconv.ParseInt(firstValue(h, "Content-Length"), 10, 64); err == nil && n > s.maxBody {
		return false
	}
	cc := httpcache.ParseCacheControl(h["Cache-Control"])
	// private and no-store hold whatever cache_control says: a shared
	// cache never keeps one client's response for another.
	if cc.Private || cc.NoStore || s.ccOn && cc.NoCache {
		return false
	}
	for _, v := range h["Vary"] {
		for name := range strings.SplitSeq(v, ",") {
			name = strings.TrimSpace(name)
			if name == "*" {
				return false
			}
			if name != "" {
				st.vary = append(st.vary, http.CanonicalHeaderKey(name))
			}
		}
	}
	if !in.tags(h, st) {
		return false
	}
	fresh := s.ttl
	if s.ccOn {
		fresh = httpcache.Lifetime(cc, h, time.Now(), s.ttl)
		// The time the response spent in caches upstream counts: the
		// entry is stored as that much older.
		st.recvAge = uint32(httpcache.ReceivedAge(h) / time.Second)
		if fresh <= time.Duration(st.recvAge)*time.Second {
			return false
		}
	}
	st.fresh = uint32(min(fresh/time.Second, 1<<31))
	if !cc.MustRevalidate && !cc.ProxyRevalidate {
		st.swr = max(s.swr, window(cc.StaleWhileRevalidate))
		st.sie = max(s.sie, window(cc.StaleIfError))
	}
	return true
}

func window(v int64) uint32 {
	if v == httpcache.Absent {
		return 0
	}
	return uint32(min(v, 1<<31))
}

func firstValue(h http.Header, name string) string {
	if v := h[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// tags reads the response's Surrogate-Key (space-separated) and
// Cache-Tag (comma-separated) values; a response with more or longer
// tags than the store indexes is not stored, so that a purge by tag
// never misses it.
func (in *Cache) tags(h http.Header, st *reqState) bool {
	add := func(t string) bool {
		if t == "" {
			return true
		}
		if len(t) > cachestore.MaxTagLen || len(st.tags) >= cachestore.MaxTags {
			return false
		}
		for _, have := range st.tags {
			if have == t {
				return true
			}
		}
		st.tags = append(st.tags, t)
		return true
	}
	for _, v := range h["Surrogate-Key"] {
		for t := range strings.FieldsSeq(v) {
			if !add(t) {
				return false
			}
		}
	}
	for _, v := range h["Cache-Tag"] {
		for t := range strings.SplitSeq(v, ",") {
			if !add(strings.TrimSpace(t)) {
				return false
			}
		}
	}
	return true
}

// typeMatches is Kong's content type rule: type and subtype equal (or
// '*' in the config), the configured parameters all present with the
// same values and no others.
func (in *Cache) typeMatches(vs []string) bool {
	if len(vs) != 1 || vs[0] == "" {
		return false
	}
	full, params, err := mime.ParseMediaType(vs[0])
	if err != nil {
		return false
	}
	typ, sub, _ := strings.Cut(full, "/")
	for _, t := range in.s.types {
		if (t.typ == "*" || t.typ == typ) && (t.sub == "*" || t.sub == sub) && paramsMatch(t.params, params) {
			return true
		}
	}
	return false
}

// paramsMatch: a configured type without parameters matches any; with
// parameters, exactly those.
func paramsMatch(want, got map[string]string) bool {
	if len(want) == 0 {
		return true
	}
	if len(want) != len(got) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// storedHeader copies the response header as an entry keeps it: without
// the cache's own headers, the gateway's per-request ones, rate-limit
// counters and CORS grants (their plugins set them again on a hit, for
// that request).
func storedHeader(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for name, vs := range h {
		if skipStored(name) {
			continue
		}
		out[name] = vs
	}
	return out
}

func skipStored(name string) bool {
	switch name {
	case "Age", "X-Cache-Status", "X-Cache-Key", "Server", "Via":
		return true
	}
	l := strings.ToLower(name)
	return strings.Contains(l, "ratelimit") || strings.HasPrefix(l, "x-kong-") ||
		strings.HasPrefix(l, "x-turnpike-") || strings.HasPrefix(l, "access-control-")
}

// BodyFilter captures the body of a response being stored.
func (in *Cache) BodyFilter(c *plugin.Ctx, body io.Reader) io.Reader {
	st := in.state(c)
	if st == nil || !st.store {
		return body
	}
	st.capture.r = body
	st.capture.end = func() { in.finish(c, st) }
	return st.capture
}

// capture copies what is read through it, up to max bytes; complete is
// set when the body ended cleanly within that, and then end runs: the
// entry is stored and the waiters let go as soon as the upstream's body
// is in, not once a slow client has read it all.
type capture struct {
	r        io.Reader
	buf      []byte
	max      int64
	over     bool
	complete bool
	ended    bool
	end      func()
}

func (p *capture) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 && !p.over {
		if int64(len(p.buf)+n) > p.max {
			p.over, p.buf = true, nil
		} else {
			p.buf = append(p.buf, b[:n]...)
		}
	}
	if err == io.EOF && !p.ended {
		p.ended, p.complete = true, !p.over
		if p.end != nil {
			p.end()
		}
	}
	return n, err
}

// Log lets the coalesced requests go, if the body's end did not.
func (in *Cache) Log(c *plugin.Ctx) {
	st := in.state(c)
	if st == nil {
		return
	}
	// A request with state is counted once, by the status it ended with.
	in.metrics.count(st.status)
	in.land(st)
}

// finish stores a complete response, once, and releases the lock.
func (in *Cache) finish(c *plugin.Ctx, st *reqState) {
	defer in.land(st)
	if !st.store || st.capture == nil || !st.capture.complete || c.Resp.Status != st.respStatus {
		return
	}
	st.store = false
	in.put(c, st)
}

// land releases the request's coalescing lock, once.
func (in *Cache) land(st *reqState) {
	if st.flight != nil {
		in.flights.release(st.key, st.flight)
		st.flight = nil
	}
}

// put encodes and stores the response.
func (in *Cache) put(c *plugin.Ctx, st *reqState) {
	now := time.Now()
	entry, err := httpcache.Encode(nil, &httpcache.Response{
		Status: st.respStatus, Header: st.header, Body: st.capture.buf,
		StoredMs: now.UnixMilli() - int64(st.recvAge)*1000, Fresh: st.fresh, SWR: st.swr, SIE: st.sie,
		Vary: st.vary, Request: c.Req.Header,
	})
	if err != nil {
		return
	}
	ttl := in.s.storageTTL
	if ttl == 0 {
		ttl = time.Duration(st.fresh-st.recvAge)*time.Second + max(in.s.staleTTL,
			time.Duration(max(st.swr, st.sie))*time.Second)
	}
	meta := cachestore.Meta{Path: st.path, Tags: st.tags}
	if c.Route != nil {
		meta.RouteID = c.Route.ID
	}
	if err := in.store.Set(context.WithoutCancel(c.Req.Context()), st.key, entry, ttl, meta); err != nil {
		in.countError(err)
	}
}
