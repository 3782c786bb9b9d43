package proxycache

import (
	"net/http"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/proxycache/httpcache"
)

// cacheStatus is a request's X-Cache-Status: an index into
// statusValues and into the metrics' counters, so neither the header nor
// the count compares strings.
type cacheStatus uint8

const (
	statusMiss cacheStatus = iota
	statusHit
	statusRefresh
	statusBypass
	statusStale
	statusUpdating
	numStatuses
)

// statusValues are the X-Cache-Status header values by status, shared by
// every response (capacity = length, so a header filter that appends
// copies).
var statusValues = [numStatuses][]string{
	statusMiss:     {"Miss"},
	statusHit:      {"Hit"},
	statusRefresh:  {"Refresh"},
	statusBypass:   {"Bypass"},
	statusStale:    {"Stale"},
	statusUpdating: {"Updating"},
}

// reqState is a cacheable request's state from Access to Log, in
// c.Shared under the plugin's name. Requests answered in Access (Hit,
// Updating, only-if-cached's 504) have none, nor do bypassed ones
// without an expired entry in hand; an uncached request with one keeps
// it here for a failure.
type reqState struct {
	key    string
	status cacheStatus
	// store: the response is to be stored (decided by HeaderFilter).
	store bool
	// head: the request is a HEAD, whose response is not stored.
	head bool
	// noStore: the request goes upstream uncached, only a stale entry
	// in hand.
	noStore bool
	// served: this plugin answered (a stale entry); nothing is stored.
	served bool
	// flight is the coalescing lock this request holds (nil: none).
	flight *flight
	// stale is an expired entry that may still be served in place of a
	// failed upstream.
	stale []byte
	// What HeaderFilter kept of the response for storing.
	respStatus int
	header     http.Header
	fresh      uint32
	// recvAge is the response's Age in seconds (cache_control on): the
	// entry's storage time is set back by it.
	recvAge  uint32
	swr, sie uint32
	vary     []string
	tags     []string
	path     string
	capture  *capture
}

func (in *Cache) state(c *plugin.Ctx) *reqState {
	st, _ := c.Shared[in.name].(*reqState)
	return st
}

func (in *Cache) setState(c *plugin.Ctx, st *reqState) {
	if c.Shared == nil {
		c.Shared = make(map[string]any, 2)
	}
	c.Shared[in.name] = st
}

// setHeaders sets the diagnostic headers the config asks for.
func (in *Cache) setHeaders(h http.Header, status cacheStatus, key string) {
	if in.s.headers.Status {
		h["X-Cache-Status"] = statusValues[status]
	}
	if in.s.headers.CacheKey && key != "" {
		h["X-Cache-Key"] = []string{key}
	}
}

// decodeEntry decodes b, nil when it is not a valid entry.
func decodeEntry(b []byte, e *httpcache.Entry) bool {
	return b != nil && httpcache.Decode(b, e) == nil
}
