package dashboard

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"sync"
	"time"
)

// Roles a session can hold, an admin credential's. The admin API decides
// what each may do (the calls go to it as the credential); the dashboard
// only hides the buttons a RoleReadOnly session could not use.
const (
	RoleAdmin    = "admin"
	RoleReadOnly = "read-only"
)

// CookieName is the session cookie's name. It holds a random session id,
// never the admin token.
const CookieName = "turnpike_dashboard"

// CSRFHeader carries a session's CSRF token on every state-changing request.
const CSRFHeader = "X-Turnpike-CSRF"

// Session bounds: a leaked cookie is good for at most SessionTTL, and a
// token holder logging in in a loop holds at most MaxSessions entries.
const (
	MaxSessions = 64
	SessionTTL  = 8 * time.Hour
)

// session is one login. The store keys it by the SHA-256 of its id, so the
// map lookup's timing says nothing about the ids it holds.
type session struct {
	who     Identity
	csrf    string
	expires time.Time
}

// Identity is the admin credential a session was opened with: the
// dashboard's calls go to the admin API as this credential, so its rules
// and its logs see who made them.
type Identity struct {
	Name string
	Role string
}

// sessions is the server-side session store, bounded in number (the
// oldest is dropped to make room) and in lifetime.
type sessions struct {
	mu  sync.Mutex
	now func() time.Time
	m   map[[sha256.Size]byte]*session
}

func newSessions() *sessions {
	return &sessions{now: time.Now, m: map[[sha256.Size]byte]*session{}}
}

func randomHex() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// create starts a session for who and returns its id and CSRF token.
func (s *sessions) create(who Identity) (id string, se *session) {
	id = randomHex()
	now := s.now()
	se = &session{who: who, csrf: randomHex(), expires: now.Add(SessionTTL)}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.m {
		if !now.Before(v.expires) {
			delete(s.m, k)
		}
	}
	if len(s.m) >= MaxSessions {
		var oldest [sha256.Size]byte
		var at time.Time
		for k, v := range s.m {
			if at.IsZero() || v.expires.Before(at) {
				oldest, at = k, v.expires
			}
		}
		delete(s.m, oldest)
	}
	s.m[sha256.Sum256([]byte(id))] = se
	return id, se
}

// lookup returns the live session r's cookie names, or nil.
func (s *sessions) lookup(r *http.Request) *session {
	c, err := r.Cookie(CookieName)
	if err != nil || len(c.Value) != 64 {
		return nil
	}
	k := sha256.Sum256([]byte(c.Value))
	s.mu.Lock()
	defer s.mu.Unlock()
	se := s.m[k]
	if se == nil {
		return nil
	}
	if !s.now().Before(se.expires) {
		delete(s.m, k)
		return nil
	}
	return se
}

// drop ends the session r's cookie names.
func (s *sessions) drop(r *http.Request) {
	if c, err := r.Cookie(CookieName); err == nil {
		k := sha256.Sum256([]byte(c.Value))
		s.mu.Lock()
		delete(s.m, k)
		s.mu.Unlock()
	}
}

func (s *sessions) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// csrfOK compares the request's CSRF header with the session's in constant
// time and checks that a browser's Origin, which it always sends on a
// state-changing fetch, names this server.
func csrfOK(r *http.Request, se *session) bool {
	if !sameOrigin(r) {
		return false
	}
	got := sha256.Sum256([]byte(r.Header.Get(CSRFHeader)))
	want := sha256.Sum256([]byte(se.csrf))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}
