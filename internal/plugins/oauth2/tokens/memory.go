package tokens

import (
	"context"
	"crypto/sha256"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Default bounds of a Memory store: each token or code costs well under
// a kilobyte, so a full store stays under a gigabyte. One client may hold
// a sixteenth of the tokens: a client minting tokens in a loop is refused
// before it takes the room of every other.
const (
	DefaultMaxTokens = 1 << 20
	DefaultMaxCodes  = 1 << 16
)

// perClientShare is the part of a store one client may fill.
const perClientShare = 16

// ErrFull is Put's and PutCode's error when the store, or the client's
// share of it, holds its maximum, rather than let the gateway's memory
// grow. Expired entries leave with the next sweep.
var ErrFull = errors.New("tokens: the token store is full")

const (
	numShards  = 64
	sweepEvery = 5 * time.Second
)

// digest is the SHA-256 of a token, a code or an id: the maps' key.
type digest = [sha256.Size]byte

// sum hashes s without copying it: the request path looks tokens up
// with no allocation.
func sum(s string) digest {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// record is a stored token with what finds it and when it ends (Unix
// ns; 0 is never).
type record struct {
	t                     *Token
	access, refresh       digest
	accessExp, refreshExp int64
}

func newRecord(t *Token, accessToken, refreshToken string, now time.Time) *record {
	cp := *t
	if cp.CreatedAt.IsZero() {
		cp.CreatedAt = now
	}
	r := &record{t: &cp, access: sum(accessToken)}
	created := cp.CreatedAt.UnixNano()
	if t.ExpiresIn > 0 {
		r.accessExp = created + int64(t.ExpiresIn)*int64(time.Second)
	}
	if refreshToken != "" {
		cp.HasRefresh = true
		r.refresh = sum(refreshToken)
		if t.RefreshTTL > 0 {
			r.refreshExp = created + int64(t.RefreshTTL)
		}
	}
	return r
}

// until is when the record stops mattering: when neither its access
// token nor its refresh token is valid any more.
func (r *record) until() int64 {
	if r.accessExp == 0 || (r.t.HasRefresh && r.refreshExp == 0) {
		return 0
	}
	if !r.t.HasRefresh {
		return r.accessExp
	}
	return max(r.accessExp, r.refreshExp)
}

func live(exp, now int64) bool { return exp == 0 || now < exp }

type codeRecord struct {
	c   *Code
	exp int64
}

// shard is one part of a sharded map; the key is already a uniform hash,
// so its first byte picks the shard.
type shard[V any] struct {
	mu sync.RWMutex
	m  map[digest]V
	_  [32]byte // a shard per cache line
}

type shards[V any] [numShards]shard[V]

func (s *shards[V]) init() {
	for i := range s {
		s[i].m = map[digest]V{}
	}
}

func (s *shards[V]) of(k digest) *shard[V] { return &s[k[0]%numShards] }

func (s *shards[V]) get(k digest) (V, bool) {
	sh := s.of(k)
	sh.mu.RLock()
	v, ok := sh.m[k]
	sh.mu.RUnlock()
	return v, ok
}

func (s *shards[V]) put(k digest, v V) {
	sh := s.of(k)
	sh.mu.Lock()
	sh.m[k] = v
	sh.mu.Unlock()
}

// deleteIf deletes k when drop says its value may go (compared with the
// lock held: a newer record may have taken the key).
func (s *shards[V]) deleteIf(k digest, drop func(V) bool) {
	sh := s.of(k)
	sh.mu.Lock()
	if v, ok := sh.m[k]; ok && drop(v) {
		delete(sh.m, k)
	}
	sh.mu.Unlock()
}

// Memory keeps tokens and codes in this process (one node): sharded maps
// by SHA-256, a cap on tokens and on codes, and a background sweep of
// the expired every few seconds. Tokens it returns are shared: callers
// must not change them.
type Memory struct {
	access, refresh, ids shards[*record]
	codes                shards[*codeRecord]
	// perClient counts each client's tokens, by the digest of its
	// ClientID; an entry leaves when its count drops to 0.
	perClient                         shards[int64]
	tokens, numCodes                  atomic.Int64
	maxTokens, maxCodes, maxPerClient int64
	now                               func() time.Time
	stop, done                        chan struct{}
	closeOnce                         sync.Once
}

// NewMemory makes a memory store holding at most maxTokens tokens,
// maxPerClient of them per client_id and maxCodes codes (0: the
// defaults; a client's, a sixteenth of maxTokens), its clock now (nil:
// the wall clock). Close stops its sweeper.
func NewMemory(maxTokens, maxPerClient, maxCodes int, now func() time.Time) *Memory {
	if maxTokens <= 0 {
		maxTokens = DefaultMaxTokens
	}
	if maxPerClient <= 0 {
		maxPerClient = max(maxTokens/perClientShare, 1)
	}
	if maxCodes <= 0 {
		maxCodes = DefaultMaxCodes
	}
	if now == nil {
		now = time.Now
	}
	m := &Memory{maxTokens: int64(maxTokens), maxCodes: int64(maxCodes), maxPerClient: int64(maxPerClient),
		now: now, stop: make(chan struct{}), done: make(chan struct{})}
	m.access.init()
	m.refresh.init()
	m.ids.init()
	m.codes.init()
	m.perClient.init()
	go m.sweeper()
	return m
}

// Put implements Store; ErrFull past the store's cap or the client's.
func (m *Memory) Put(_ context.Context, t *Token, accessToken, refreshToken string) error {
	if m.tokens.Add(1) > m.maxTokens {
		m.tokens.Add(-1)
		return ErrFull
	}
	if !m.count(t.ClientID, 1) {
		m.tokens.Add(-1)
		return ErrFull
	}
	r := newRecord(t, accessToken, refreshToken, m.now())
	id := sum(r.t.ID)
	var old *record
	sh := m.ids.of(id)
	sh.mu.Lock()
	old = sh.m[id]
	sh.m[id] = r
	sh.mu.Unlock()
	if old != nil {
		m.forget(old)
	}
	m.access.put(r.access, r)
	if r.t.HasRefresh {
		m.refresh.put(r.refresh, r)
	}
	return nil
}

// ByAccess implements Store: one read-locked map lookup, no allocation.
func (m *Memory) ByAccess(_ context.Context, accessToken string) (*Token, error) {
	r, _ := m.access.get(sum(accessToken))
	if r == nil || !live(r.accessExp, m.now().UnixNano()) {
		return nil, nil
	}
	return r.t, nil
}

// ByRefresh implements Store.
func (m *Memory) ByRefresh(_ context.Context, refreshToken string) (*Token, error) {
	r, _ := m.refresh.get(sum(refreshToken))
	if r == nil || !live(r.refreshExp, m.now().UnixNano()) {
		return nil, nil
	}
	return r.t, nil
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, id string) (*Token, error) {
	r, _ := m.ids.get(sum(id))
	if r == nil || !live(r.until(), m.now().UnixNano()) {
		return nil, nil
	}
	return r.t, nil
}

// TakeRefresh implements Store: the refresh entry's delete is the one
// critical section that decides which request gets the token.
func (m *Memory) TakeRefresh(_ context.Context, refreshToken string) (*Token, error) {
	var r *record
	m.refresh.deleteIf(sum(refreshToken), func(v *record) bool { r = v; return true })
	if r == nil {
		return nil, nil
	}
	removed := false
	m.ids.deleteIf(sum(r.t.ID), func(v *record) bool { removed = v == r; return removed })
	if removed {
		m.forget(r)
	}
	if !live(r.refreshExp, m.now().UnixNano()) {
		return nil, nil
	}
	return r.t, nil
}

// Delete implements Store.
func (m *Memory) Delete(_ context.Context, id string) (bool, error) {
	k := sum(id)
	var r *record
	m.ids.deleteIf(k, func(v *record) bool { r = v; return true })
	if r == nil {
		return false, nil
	}
	m.forget(r)
	return live(r.until(), m.now().UnixNano()), nil
}

// forget uncounts r, which left the ids map, and drops its other entries.
func (m *Memory) forget(r *record) {
	m.tokens.Add(-1)
	m.count(r.t.ClientID, -1)
	m.unindex(r)
}

// count adds delta to a client's tokens; false, and nothing added, when
// that would take it past its cap.
func (m *Memory) count(clientID string, delta int64) bool {
	k := sum(clientID)
	sh := m.perClient.of(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	n := sh.m[k] + delta
	switch {
	case delta > 0 && n > m.maxPerClient:
		return false
	case n <= 0:
		delete(sh.m, k)
	default:
		sh.m[k] = n
	}
	return true
}

// unindex drops r's access and refresh entries, unless a newer record
// took them.
func (m *Memory) unindex(r *record) {
	same := func(v *record) bool { return v == r }
	m.access.deleteIf(r.access, same)
	if r.t.HasRefresh {
		m.refresh.deleteIf(r.refresh, same)
	}
}

// List implements Store: the live tokens by id, from the first id after
// offset. It reads every shard, which is the admin API's cost, not the
// request path's.
func (m *Memory) List(_ context.Context, offset string, size int) ([]*Token, string, error) {
	now := m.now().UnixNano()
	var all []*Token
	for i := range m.ids {
		sh := &m.ids[i]
		sh.mu.RLock()
		for _, r := range sh.m {
			if r.t.ID > offset && live(r.until(), now) {
				all = append(all, r.t)
			}
		}
		sh.mu.RUnlock()
	}
	slices.SortFunc(all, func(a, b *Token) int { return strings.Compare(a.ID, b.ID) })
	if size <= 0 || len(all) <= size {
		return all, "", nil
	}
	page := all[:size]
	return page, page[size-1].ID, nil
}

// PutCode implements Store; ErrFull past the cap.
func (m *Memory) PutCode(_ context.Context, code string, c *Code, ttl time.Duration) error {
	if m.numCodes.Add(1) > m.maxCodes {
		m.numCodes.Add(-1)
		return ErrFull
	}
	cp := *c
	k := sum(code)
	sh := m.codes.of(k)
	sh.mu.Lock()
	_, replaced := sh.m[k]
	sh.m[k] = &codeRecord{c: &cp, exp: m.now().Add(ttl).UnixNano()}
	sh.mu.Unlock()
	if replaced {
		m.numCodes.Add(-1)
	}
	return nil
}

// TakeCode implements Store: the lookup and the delete are one critical
// section, so two requests with one code cannot both take it.
func (m *Memory) TakeCode(_ context.Context, code string) (*Code, error) {
	var cr *codeRecord
	m.codes.deleteIf(sum(code), func(v *codeRecord) bool { cr = v; return true })
	if cr == nil {
		return nil, nil
	}
	m.numCodes.Add(-1)
	if !live(cr.exp, m.now().UnixNano()) {
		return nil, nil
	}
	return cr.c, nil
}

// Len is the number of tokens held, expired ones not yet swept included.
func (m *Memory) Len() int { return int(m.tokens.Load()) }

// Sweep drops expired tokens and codes, a shard at a time.
func (m *Memory) Sweep() {
	now := m.now().UnixNano()
	var gone []*record
	for i := range m.ids {
		sh := &m.ids[i]
		sh.mu.Lock()
		for k, r := range sh.m {
			if !live(r.until(), now) {
				delete(sh.m, k)
				gone = append(gone, r)
			}
		}
		sh.mu.Unlock()
		for _, r := range gone {
			m.forget(r)
		}
		gone = gone[:0]
	}
	for i := range m.codes {
		sh := &m.codes[i]
		sh.mu.Lock()
		for k, cr := range sh.m {
			if !live(cr.exp, now) {
				delete(sh.m, k)
				m.numCodes.Add(-1)
			}
		}
		sh.mu.Unlock()
	}
}

// Close stops the sweeper; the store keeps answering.
func (m *Memory) Close() error {
	m.closeOnce.Do(func() {
		close(m.stop)
		<-m.done
	})
	return nil
}

func (m *Memory) sweeper() {
	defer close(m.done)
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.Sweep()
		}
	}
}
