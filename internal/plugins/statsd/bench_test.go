package statsd

import "testing"

// BenchmarkLog is the log phase with Kong's default metrics: the lines
// built into a pooled buffer and queued (the sending is the queue's
// goroutine's, and the listener here drops what it is sent).
func BenchmarkLog(b *testing.B) {
	in := newInstance(b, listen(b), "")
	c := served(200)
	b.ReportAllocs()
	for b.Loop() {
		in.Log(c)
	}
}
