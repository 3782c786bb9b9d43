package cli

import (
	"testing"

	"github.com/turnpikegw/turnpike/internal/observe"
)

// stalled is a destination whose writes wait until release is closed.
type stalled struct{ release chan struct{} }

func (s stalled) Write(p []byte) (int, error) { <-s.release; return len(p), nil }

// With --access-log off the logging plugins' lines have a writer of
// their own; what it drops is counted all the same.
func TestLogDropsCountPluginLinesWithAccessLogOff(t *testing.T) {
	dst := stalled{make(chan struct{})}
	g := &gateway{lines: observe.NewAccessLog(dst, 1)}
	defer g.lines.Close()
	defer close(dst.release)
	line := make([]byte, 100<<10) // past the writer's 64 KiB buffer: it waits on dst
	for range 20 {
		g.lines.WriteLine(line)
	}
	if g.lines.Dropped() == 0 || g.logDrops() != g.lines.Dropped() {
		t.Errorf("logDrops %d, the plugins' writer dropped %d", g.logDrops(), g.lines.Dropped())
	}
}
