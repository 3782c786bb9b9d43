package reload

import (
	"strconv"
	"sync"
	"time"

	"github.com/turnpikegw/turnpike/internal/config"
)

// HistorySize is how many load results History keeps.
const HistorySize = 50

// An entry keeps at most maxMessages error messages of at most
// maxMessageLen bytes each (then how many more), so the history's worst
// case is about HistorySize × maxMessages × maxMessageLen = 2.4 MiB
// of messages whatever the documents loaded; a full history of refused
// loads holds 2.8 MiB of heap (`go test -run X -bench History/worst-heap
// ./internal/reload`). A result's own list (Last, in /status) stays
// config.MaxErrors long: one is fine, fifty would not be.
const (
	maxMessages   = 50
	maxMessageLen = 1024
)

// Origin is the version of a config store a load applied, and who
// stored it (empty when the store does not say).
type Origin struct {
	Version uint64 `json:"store_version,omitempty"`
	Author  string `json:"store_author,omitempty"`
}

// Entry is one load in the history. Loads of one trigger that found the
// configuration in force unchanged in a row are one entry: At is the
// first's time, LastAt the latest's and Count how many there were, so a
// SIGHUP loop or a watcher firing on touched files cannot push real loads
// out. Another trigger starts an entry of its own, which the entry names.
type Entry struct {
	Result
	Count  int       `json:"unchanged_count,omitempty"`
	LastAt time.Time `json:"last_at,omitzero"`
}

// history is a ring of the last HistorySize load results. Loads write it
// one at a time (under the loader's gate) and the admin API reads it; the
// request path never touches it, so one small lock is all it needs.
type history struct {
	mu   sync.Mutex
	ring [HistorySize]Entry
	// next is the slot the next entry goes in; n how many slots are used.
	next, n int
}

// add records r, whose Messages record has made; the entry keeps no
// config.Errors, only the first maxMessages of them as messages, so it
// holds no more than the bounds above.
func (h *history) add(r *Result) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r.Unchanged && h.n > 0 {
		if e := &h.ring[(h.next+HistorySize-1)%HistorySize]; e.Unchanged && e.Hash == r.Hash && e.Trigger == r.Trigger {
			e.Count++
			e.LastAt = r.At
			return
		}
	}
	e := Entry{Result: *r}
	if r.Errors != nil {
		e.Messages, e.Errors = messages(r), nil
	}
	if r.Unchanged {
		e.Count, e.LastAt = 1, r.At
	}
	h.ring[h.next] = e
	h.next = (h.next + 1) % HistorySize
	h.n = min(h.n+1, HistorySize)
}

// list copies the entries out, newest first.
func (h *history) list() []Entry {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Entry, h.n)
	for i := range out {
		out[i] = h.ring[(h.next+HistorySize-1-i)%HistorySize]
	}
	return out
}

// History is the last HistorySize load results, newest first: applied,
// rejected and (collapsed) unchanged ones. DNS recompiles are not loads
// and are not listed.
func (l *Loader) History() []Entry { return l.history.list() }

// messages are what an entry shows of r's errors: the first maxMessages
// of the messages record made of them (one each, in order), cut to
// maxMessageLen, then how many more were found (a list cut at
// config.MaxErrors ends with an entry counting the rest, replaced here).
// Taking record's messages formats no error twice.
func messages(r *Result) []string {
	if len(r.Errors) == 0 {
		return nil
	}
	listed := r.Messages
	if r.Errors[len(r.Errors)-1].More > 0 {
		listed = listed[:len(listed)-1]
	}
	n := min(len(listed), maxMessages)
	out := make([]string, 0, n+1)
	for _, m := range listed[:n] {
		out = append(out, config.Shorten(m, maxMessageLen))
	}
	if more := r.Errors.Total() - n; more > 0 {
		out = append(out, "... and "+strconv.Itoa(more)+" more errors")
	}
	return out
}
