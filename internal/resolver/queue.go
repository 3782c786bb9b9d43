package resolver

import (
	"container/heap"
	"math/rand/v2"
	"time"
)

// dueQueue holds the cached names waiting for their next lookup, soonest
// first (a container/heap min-heap on dnsEntry.due), so the refresh loop
// finds the next due name without looking at the others. Names being
// looked up and hosts-file names are not in it.
type dueQueue []*dnsEntry

func (q dueQueue) Len() int           { return len(q) }
func (q dueQueue) Less(i, j int) bool { return q[i].due.Before(q[j].due) }

func (q dueQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}

// Push is for container/heap; use schedule.
func (q *dueQueue) Push(x any) {
	e := x.(*dnsEntry)
	e.index = len(*q)
	*q = append(*q, e)
}

// Pop is for container/heap; use heap.Pop.
func (q *dueQueue) Pop() any {
	old := *q
	n := len(old) - 1
	e := old[n]
	old[n] = nil
	e.index = -1
	*q = old[:n]
	return e
}

// schedule queues e for its next lookup at e.due (r.mu held) and wakes the
// loop when e is now the first due, so its timer is set again.
func (r *Resolver) schedule(e *dnsEntry) {
	heap.Push(&r.due, e)
	if e.index == 0 {
		r.poke()
	}
}

// unschedule takes e out of the queue if it is in it (r.mu held).
func (r *Resolver) unschedule(e *dnsEntry) {
	if e.index >= 0 {
		heap.Remove(&r.due, e.index)
	}
}

// next is the entry to look up now (r.mu held): a first lookup a caller of
// Resolve waits for, else the queued entry most overdue. Without one, it
// is how long until the first queued entry is due.
func (r *Resolver) next(now time.Time) (*dnsEntry, time.Duration) {
	if len(r.todo) > 0 {
		e := r.todo[0]
		r.todo[0] = nil
		if r.todo = r.todo[1:]; len(r.todo) == 0 {
			r.todo = nil
		}
		return e, 0
	}
	if len(r.due) == 0 {
		return nil, time.Hour
	}
	if wait := r.due[0].due.Sub(now); wait > 0 {
		return nil, wait
	}
	return heap.Pop(&r.due).(*dnsEntry), 0
}

// dnsJitter is the most a wait before a lookup is moved either way, as a
// fraction (1/10: ±10%).
const dnsJitter = 10

// spread is the wait d before a name's next lookup, at least the TTL floor,
// moved at random by up to a tenth either way but never below the floor:
// names answered together with the same TTL, or failing together, do not
// stay in step and ask the nameservers all at once forever.
func (r *Resolver) spread(d time.Duration) time.Duration {
	d = max(d, r.minTTL)
	lo, hi := max(d-d/dnsJitter, r.minTTL), d+d/dnsJitter
	return lo + rand.N(hi-lo+1)
}
