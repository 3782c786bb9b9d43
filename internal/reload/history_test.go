package reload

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/config"
)

func triggers(es []Entry) string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(e.Trigger)
		if e.Count > 0 {
			fmt.Fprintf(&b, "x%d", e.Count)
		}
	}
	return b.String()
}

// The ring keeps the last HistorySize results, newest first.
func TestHistoryBoundAndOrder(t *testing.T) {
	var h history
	if got := h.list(); len(got) != 0 {
		t.Fatalf("empty history lists %d entries", len(got))
	}
	for i := range HistorySize + 7 {
		h.add(&Result{Trigger: fmt.Sprint(i), OK: true, Hash: fmt.Sprint(i)})
	}
	got := h.list()
	if len(got) != HistorySize {
		t.Fatalf("%d entries, want %d", len(got), HistorySize)
	}
	for i, e := range got {
		if want := fmt.Sprint(HistorySize + 6 - i); e.Trigger != want {
			t.Fatalf("entry %d is load %s, want %s (%s)", i, e.Trigger, want, triggers(got))
		}
	}
}

// Unchanged loads of one trigger in a row are one entry with their count,
// however many there are: the real loads before them stay.
func TestHistoryCollapsesUnchanged(t *testing.T) {
	var h history
	t0 := time.Now()
	h.add(&Result{Trigger: "startup", OK: true, Hash: "a", At: t0})
	for i := range 3 * HistorySize {
		h.add(&Result{Trigger: "sighup", OK: true, Unchanged: true, Hash: "a", At: t0.Add(time.Duration(i+1) * time.Second)})
	}
	h.add(&Result{Trigger: "file", Messages: []string{"routes[0]: bad"}, At: t0.Add(time.Hour)})
	h.add(&Result{Trigger: "sighup", OK: true, Unchanged: true, Hash: "a", At: t0.Add(2 * time.Hour)})
	// Another trigger's unchanged load is an entry of its own.
	h.add(&Result{Trigger: "file", OK: true, Unchanged: true, Hash: "a", At: t0.Add(3 * time.Hour)})
	h.add(&Result{Trigger: "file", OK: true, Unchanged: true, Hash: "a", At: t0.Add(4 * time.Hour)})
	got := h.list()
	if s := triggers(got); s != "filex2 sighupx1 file sighupx150 startup" {
		t.Fatalf("history %q", s)
	}
	if u := got[3]; !u.At.Equal(t0.Add(time.Second)) || !u.LastAt.Equal(t0.Add(150*time.Second)) {
		t.Errorf("collapsed entry spans %v to %v", u.At, u.LastAt)
	}
	if !got[4].LastAt.IsZero() || got[4].Count != 0 {
		t.Errorf("a real load has a repeat count: %+v", got[4])
	}
}

// The history keeps no config.Errors (a thousand of them may be listed)
// and at most maxMessages messages of maxMessageLen bytes each.
func TestHistoryMessagesAreBounded(t *testing.T) {
	// As config.ErrorList cuts a list: MaxErrors errors, then their count.
	errs := make(config.Errors, config.MaxErrors, config.MaxErrors+1)
	for i := range errs {
		errs[i] = config.FieldError{Path: fmt.Sprintf("routes[%d].name", i), Message: strings.Repeat("é", 2000)}
	}
	errs = append(errs, config.FieldError{Message: "and 4000 more errors", More: 4000})
	full := refused(errs)
	msgs := messages(full)
	if len(msgs) != maxMessages+1 {
		t.Fatalf("%d messages", len(msgs))
	}
	if !strings.HasPrefix(msgs[0], "routes[0].name: éé") {
		t.Errorf("first message %.40q", msgs[0])
	}
	for _, m := range msgs {
		if len(m) > maxMessageLen+len("…") || !utf8Valid(m) {
			t.Fatalf("message of %d bytes (valid UTF-8: %v)", len(m), utf8Valid(m))
		}
	}
	if want := fmt.Sprintf("... and %d more errors", config.MaxErrors+4000-maxMessages); msgs[maxMessages] != want {
		t.Errorf("last message %q, want %q", msgs[maxMessages], want)
	}
	if got := messages(refused(errs[:3])); len(got) != 3 {
		t.Errorf("3 errors give %d messages", len(got))
	}
	short := config.Errors{errs[0], {Message: "and 2 more errors", More: 2}}
	if got := messages(refused(short)); len(got) != 2 || got[1] != "... and 2 more errors" {
		t.Errorf("one error and a count of 2 give %q", got)
	}

	var h history
	h.add(full)
	if e := h.list()[0]; e.Errors != nil || len(e.Messages) != maxMessages+1 || e.Messages[maxMessages] != msgs[maxMessages] {
		t.Errorf("entry keeps %d errors, %d messages", len(e.Errors), len(e.Messages))
	}
	if len(full.Messages) != len(errs) {
		t.Errorf("the result itself (Last, /status) lists %d messages, want all %d", len(full.Messages), len(errs))
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

// refused is a refused load's result as record leaves it: one message per
// error.
func refused(errs config.Errors) *Result {
	r := &Result{Trigger: "file", Errors: errs}
	for _, e := range errs {
		r.Messages = append(r.Messages, e.Error())
	}
	return r
}

// Loads record while the admin API reads (go test -race).
func TestHistoryConcurrent(t *testing.T) {
	var h history
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 500 {
				h.add(&Result{Trigger: fmt.Sprint(w), Unchanged: i%3 == 0, OK: true, Hash: "a"})
			}
		})
		wg.Go(func() {
			for range 500 {
				if n := len(h.list()); n > HistorySize {
					t.Errorf("%d entries", n)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := len(h.list()); n != HistorySize {
		t.Errorf("%d entries after 2000 loads", n)
	}
}

// Through a loader: a rejected load with its field paths, an applied one,
// a file found unchanged, a store's version; DNS recompiles are not loads.
func TestLoaderHistory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kong.yml")
	os.WriteFile(path, cfg("one"), 0o600)
	l, _ := newLoader(t, path)
	if _, err := l.LoadFile("startup"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Apply([]byte("_format_version: \"3.0\"\nroutes:\n- paths: [nope]\n"), "admin"); err == nil {
		t.Fatal("an invalid config applied")
	}
	l.LoadFile("sighup")
	l.LoadFile("sighup")
	if _, err := l.Refresh("dns"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.ApplyStored(cfg("two"), "cluster", Origin{Version: 7, Author: "ops"}); err != nil {
		t.Fatal(err)
	}
	got := l.History()
	if s := triggers(got); s != "cluster sighupx2 admin startup" {
		t.Fatalf("history %q", s)
	}
	if e := got[0]; !e.OK || e.Version != 7 || e.Author != "ops" || e.Hash != l.InForce().Hash {
		t.Errorf("store load: %+v", e)
	}
	if e := got[2]; e.OK || !strings.Contains(strings.Join(e.Messages, "\n"), "routes[0].paths[0]") {
		t.Errorf("rejected load: %+v", e)
	}
	if e := got[3]; !e.OK || e.Version != 0 || e.Hash == "" {
		t.Errorf("startup load: %+v", e)
	}
}

// The cost of recording a load and of one GET /reloads' copy of a full
// history; the heap a full history of worst-case refused loads holds.
func BenchmarkHistory(b *testing.B) {
	errs := make(config.Errors, config.MaxErrors)
	for i := range errs {
		errs[i] = config.FieldError{Path: fmt.Sprintf("routes[%d].name", i), Message: strings.Repeat("x", 4096)}
	}
	worst := refused(errs)
	b.Run("add", func(b *testing.B) {
		var h history
		r := &Result{Trigger: "file", OK: true, Hash: "a"}
		b.ReportAllocs()
		for b.Loop() {
			h.add(r)
		}
	})
	b.Run("list", func(b *testing.B) {
		var h history
		for range HistorySize {
			h.add(worst)
		}
		b.ReportAllocs()
		for b.Loop() {
			h.list()
		}
	})
	b.Run("worst-heap", func(b *testing.B) {
		for b.Loop() {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			h := new(history)
			for range HistorySize {
				h.add(worst)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB")
			runtime.KeepAlive(h)
		}
	})
}
