package upstream

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"math/bits"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
)

// Hash input kinds: Kong's `hash_on` / `hash_fallback` values.
const (
	HashNone       = "none"
	HashConsumer   = "consumer"
	HashIP         = "ip"
	HashHeader     = "header"
	HashCookie     = "cookie"
	HashPath       = "path"
	HashQueryArg   = "query_arg"
	HashURICapture = "uri_capture"
)

// DefaultSlots is Kong's default `slots`.
const DefaultSlots = 10000

// HashInput is one of an upstream's hashing inputs.
type HashInput struct {
	// On is one of the Hash* kinds; empty means none.
	On string
	// Name is the header, query argument or URI capture (a group name, or
	// a position with 0 the whole match) to read. Cookies take their name
	// from HashConfig.Cookie, as Kong has only one hash cookie.
	Name string
}

// HashConfig is an upstream's consistent-hashing configuration.
type HashConfig struct {
	// Primary is Kong's hash_on; Fallback, hash_fallback, is used when the
	// primary input is absent or empty.
	Primary, Fallback HashInput
	// Cookie and CookiePath are hash_on_cookie and hash_on_cookie_path:
	// the cookie handed to clients that have none.
	Cookie, CookiePath string
	// Slots is the size of the table (Kong's `slots`); 0 means DefaultSlots.
	Slots int
}

type hashKind uint8

const (
	kindNone hashKind = iota
	kindConsumer
	kindIP
	kindHeader
	kindCookie
	kindPath
	kindQueryArg
	kindURICapture
)

var hashKinds = map[string]hashKind{
	"": kindNone, HashNone: kindNone, HashConsumer: kindConsumer, HashIP: kindIP, HashHeader: kindHeader,
	HashCookie: kindCookie, HashPath: kindPath, HashQueryArg: kindQueryArg, HashURICapture: kindURICapture,
}

// hashSource is a HashInput resolved once at build time (canonical header
// key, capture position) so that reading it allocates nothing.
type hashSource struct {
	kind  hashKind
	name  string
	index int // positional URI capture, or -1 for a named one
}

// ConsistentHash is Kong's `consistent-hashing`. Requests with the same
// hash input go to the same target for as long as it is healthy and in the
// configuration.
//
// The table is `slots` entries, each owned by one target, and filled by
// weighted rendezvous hashing (highest random weight): slot s belongs to
// the target with the lowest -ln(h(target, s))/weight, where h is a 64-bit
// hash of the target's host:port and the slot number, mapped into (0, 1).
// A key hashes to a slot, and the slot's owner serves it.
//
// That choice (over Ketama points or Maglev) is what keeps a change
// minimal: a slot's owner depends only on the targets that are there, not
// on their order or count, so removing a target moves exactly the slots it
// owned (every other key stays where it was) and adding one moves only the
// slots it now wins, weight/total of them (~1/N), all to it. Ketama with a
// fixed point budget and Maglev both reshuffle some keys between targets
// that did not change. The table depends on nothing but the slots, the
// addresses as configured and the weights, so every node builds the same
// one; a lookup is one hash and an index. Building costs slots×targets
// hashes (BenchmarkConsistentHashBuild).
//
// An unhealthy target's keys walk to the owner of the next slot that
// belongs to another, healthy target; since a target's slots are scattered
// its keys spread over the others, and return when it recovers. A retry
// walks on from the key's slot past the previous attempt's target.
//
// With no input at all (hash_on none, or both inputs empty) Kong hashes the
// literal "nil" and sends all such requests to one target; we rotate
// through the table instead, which spreads them by weight.
type ConsistentHash struct {
	targets    []*Target
	active     []*Target
	table      []int32 // slot → index in active
	primary    hashSource
	fallback   hashSource
	cookie     string
	cookiePath string
	next       atomic.Uint64
}

// NewConsistentHash builds the table. Targets with weight 0 are disabled.
func NewConsistentHash(targets []*Target, c HashConfig) (*ConsistentHash, error) {
	slots := c.Slots
	if slots <= 0 {
		slots = DefaultSlots
	}
	ch := &ConsistentHash{targets: targets, active: enabled(targets), cookie: c.Cookie, cookiePath: c.CookiePath}
	var err error
	if ch.primary, err = newHashSource(c.Primary); err != nil {
		return nil, err
	}
	if ch.fallback, err = newHashSource(c.Fallback); err != nil {
		return nil, err
	}
	if (ch.primary.kind == kindCookie || ch.fallback.kind == kindCookie) && c.Cookie == "" {
		return nil, fmt.Errorf("cookie hashing needs a cookie name")
	}
	if ch.cookiePath == "" {
		ch.cookiePath = "/"
	}
	ch.table = buildTable(ch.active, slots)
	return ch, nil
}

func newHashSource(in HashInput) (hashSource, error) {
	kind, ok := hashKinds[in.On]
	if !ok {
		return hashSource{}, fmt.Errorf("unknown hash input %q", in.On)
	}
	s := hashSource{kind: kind, name: in.Name, index: -1}
	switch kind {
	case kindHeader, kindQueryArg, kindURICapture:
		if in.Name == "" {
			return hashSource{}, fmt.Errorf("hash input %q needs a name", in.On)
		}
	}
	switch kind {
	case kindHeader:
		s.name = textproto.CanonicalMIMEHeaderKey(in.Name)
	case kindURICapture:
		if n, err := strconv.Atoi(in.Name); err == nil && n >= 0 {
			s.index = n
		}
	}
	return s, nil
}

// buildTable assigns every slot to its rendezvous winner. Equal weights
// (the common case: Kong's default is 100 for all) compare raw hashes,
// which orders targets exactly as the weighted score would, without a
// logarithm per pair.
func buildTable(active []*Target, slots int) []int32 {
	if len(active) == 0 {
		return nil
	}
	seeds := make([]uint64, len(active))
	invWeight := make([]float64, len(active))
	equal := true
	for i, t := range active {
		seeds[i] = mix64(fnv64(fnvOffset, t.Addr))
		invWeight[i] = 1 / float64(t.Weight)
		equal = equal && t.Weight == active[0].Weight
	}
	table := make([]int32, slots)
	for s := range table {
		sh := mix64(uint64(s) + 0x9e3779b97f4a7c15)
		best := 0
		if equal {
			var bestH uint64
			for i, seed := range seeds {
				h := mix64(seed ^ sh)
				if i == 0 || h > bestH || (h == bestH && active[i].Addr < active[best].Addr) {
					best, bestH = i, h
				}
			}
		} else {
			var bestScore float64
			for i, seed := range seeds {
				// u in (0, 1): the top 53 bits, offset off zero.
				u := (float64(mix64(seed^sh)>>11) + 0.5) / (1 << 53)
				score := -math.Log(u) * invWeight[i]
				if i == 0 || score < bestScore || (score == bestScore && active[i].Addr < active[best].Addr) {
					best, bestScore = i, score
				}
			}
		}
		table[s] = int32(best)
	}
	return table
}

// Pick returns the target the request's hash input maps to, or the next
// eligible one on the table when that one is unhealthy or is the previous
// attempt's.
func (ch *ConsistentHash) Pick(r *PickRequest) (*Target, error) {
	n := len(ch.table)
	if n == 0 {
		return nil, ErrNoTarget
	}
	var slot int
	if h, ok := ch.hash(r); ok {
		hi, _ := bits.Mul64(h, uint64(n))
		slot = int(hi)
	} else {
		slot = int((ch.next.Add(1) - 1) % uint64(n))
	}
	return ch.walk(slot, prevOf(r))
}

// walk returns the owner of slot, or of the first slot after it whose
// owner is healthy and not prev; prev only when it is all that is left.
func (ch *ConsistentHash) walk(slot int, prev *Target) (*Target, error) {
	n := len(ch.table)
	rejected := int32(-1)
	prevOK := false
	for k := 0; k < n; k++ {
		i := slot + k
		if i >= n {
			i -= n
		}
		ti := ch.table[i]
		if ti == rejected {
			continue
		}
		t := ch.active[ti]
		if t.Healthy() {
			if t != prev {
				return t, nil
			}
			prevOK = true
		}
		rejected = ti
	}
	if prevOK {
		return prev, nil
	}
	return nil, ErrNoTarget
}

// Slot returns the table slot a key maps to (for tests and the admin API:
// which target a given key lands on).
func (ch *ConsistentHash) Slot(key string) int {
	hi, _ := bits.Mul64(mix64(fnv64(fnvOffset, key)), uint64(len(ch.table)))
	return int(hi)
}

// Owner returns the target that owns slot, healthy or not.
func (ch *ConsistentHash) Owner(slot int) *Target {
	if len(ch.table) == 0 {
		return nil
	}
	return ch.active[ch.table[slot]]
}

// hash reads the primary input, else the fallback, and hashes it; ok is
// false when neither gave a non-empty value.
func (ch *ConsistentHash) hash(r *PickRequest) (uint64, bool) {
	if r == nil {
		return 0, false
	}
	if h, ok := ch.read(&ch.primary, r); ok {
		return h, true
	}
	return ch.read(&ch.fallback, r)
}

// read hashes one input with FNV-1a, fed value by value so that repeated
// headers or query arguments hash as their concatenation (Kong's
// table.concat) without building it, then mixes the result so that similar
// keys land far apart.
func (ch *ConsistentHash) read(src *hashSource, r *PickRequest) (uint64, bool) {
	h, n := fnvOffset, 0
	add := func(s string) {
		h = fnv64(h, s)
		n += len(s)
	}
	switch src.kind {
	case kindNone:
		return 0, false
	case kindConsumer:
		add(r.ConsumerID)
	case kindIP:
		add(r.ClientIP)
	case kindPath:
		add(r.Path)
	case kindHeader:
		if r.Req != nil {
			for _, v := range r.Req.Header[src.name] {
				add(v)
			}
		}
	case kindQueryArg:
		if r.Req != nil && r.Req.URL != nil {
			queryValues(r.Req.URL.RawQuery, src.name, add)
		}
	case kindURICapture:
		add(capture(r, src))
	case kindCookie:
		add(ch.cookieValue(r))
	}
	if n == 0 {
		return 0, false
	}
	return mix64(h), true
}

// cookieValue is the client's hash cookie, or a new value that is handed
// to the client in r.SetCookie (Kong: a fresh UUID, so that a client
// without the cookie sticks from its first response). A retry of the same
// request reuses the value set by the attempt before, if the caller kept
// r.SetCookie, so that the client is not handed a cookie for a target it
// did not get.
func (ch *ConsistentHash) cookieValue(r *PickRequest) string {
	if r.Req != nil {
		if v := requestCookie(r.Req.Header, ch.cookie); v != "" {
			return v
		}
	}
	if c := r.SetCookie; c != nil && c.Name == ch.cookie && c.Value != "" {
		return c.Value
	}
	r.SetCookie = &http.Cookie{Name: ch.cookie, Value: newUUID(), Path: ch.cookiePath, HttpOnly: true}
	return r.SetCookie.Value
}

// requestCookie finds a cookie in the Cookie headers without parsing them
// all into http.Cookie values (http.Request.Cookie allocates per cookie).
func requestCookie(h http.Header, name string) string {
	for _, line := range h["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok || k != name {
				continue
			}
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			return v
		}
	}
	return ""
}

// queryValues calls add with every value of the query argument name, in
// order. Names and values are unescaped only when they contain an escape,
// so the common case does not allocate.
func queryValues(raw, name string, add func(string)) {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(pair, "=")
		if strings.ContainsAny(k, "%+") {
			if u, err := url.QueryUnescape(k); err == nil {
				k = u
			}
		}
		if k != name {
			continue
		}
		if strings.ContainsAny(v, "%+") {
			if u, err := url.QueryUnescape(v); err == nil {
				v = u
			}
		}
		add(v)
	}
}

// capture is the route's named or positional regex capture ("" when the
// route has no such group or it did not participate).
func capture(r *PickRequest, src *hashSource) string {
	if src.index >= 0 {
		if src.index < len(r.Captures) {
			return r.Captures[src.index]
		}
		return ""
	}
	for i, name := range r.CaptureNames {
		if name == src.name && i < len(r.Captures) {
			return r.Captures[i]
		}
	}
	return ""
}

// newUUID is a random (version 4) UUID, the form of Kong's hash cookie.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

const (
	fnvOffset uint64 = 14695981039346656037
	fnvPrime  uint64 = 1099511628211
)

// fnv64 continues an FNV-1a 64 hash over s. It is stable across Go
// versions and processes (hash/maphash is seeded per process), which the
// table needs to be the same on every node.
func fnv64(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

// mix64 is SplitMix64's finalizer: FNV's low bits are weak for short keys
// that differ in their last bytes, and both the slot index (high bits of a
// multiply) and the rendezvous scores need every bit to matter.
func mix64(z uint64) uint64 {
	z ^= z >> 30
	z *= 0xbf58476d1ce4e5b9
	z ^= z >> 27
	z *= 0x94d049bb133111eb
	z ^= z >> 31
	return z
}

// Targets lists the configured targets.
func (ch *ConsistentHash) Targets() []*Target { return ch.targets }
