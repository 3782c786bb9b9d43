package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// stepTimeout bounds every browser step: a page that never becomes ready
// fails the test instead of hanging it.
const stepTimeout = 20 * time.Second

// chromiumPath finds Debian's chromium (installed by `make test`, through
// scripts/deps.sh). Without it the browser tests skip, unless
// TURNPIKE_REQUIRE_CHROMIUM=1 (which make test sets) makes them fail.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("TURNPIKE_REQUIRE_CHROMIUM") == "1" {
		t.Fatal("chromium is not installed (scripts/deps.sh installs it) and TURNPIKE_REQUIRE_CHROMIUM=1")
	}
	t.Skip("chromium is not installed: run scripts/deps.sh (or make test) to run the dashboard's browser tests")
	return ""
}

// chromeTab is one headless Chromium tab that records every console
// message, uncaught exception and browser log entry of its pages.
type chromeTab struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	messages []chromedp.ConsoleMessage
}

func newChromium(t *testing.T) *chromeTab {
	t.Helper()
	path := chromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // tests run as root in containers
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	b := &chromeTab{t: t, ctx: ctx}
	// The first action on ctx starts the browser, which lives as long as
	// the context that action ran on: ctx itself, so the start is bounded
	// by a timer rather than a shorter context.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("starting %s: %v", path, err)
		}
	case <-time.After(stepTimeout):
		cancelTab()
		t.Fatalf("%s did not start within %v", path, stepTimeout)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.messages = append(b.messages, m)
			b.mu.Unlock()
		}
	}()
	return b
}

// do runs actions within stepTimeout.
func (b *chromeTab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v\nconsole: %v", what, err, b.console())
	}
}

// run runs one action that returns a value, within stepTimeout.
func run[T any](b *chromeTab, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v\nconsole: %v", what, err, b.console())
	}
	return v
}

func (b *chromeTab) text(sel string) string {
	b.t.Helper()
	return strings.TrimSpace(run(b, "text of "+sel, chromedp.TextContent(chromedp.CSS(sel))))
}

// show opens a dashboard page by its fragment and waits until it has
// rendered.
func (b *chromeTab) show(page string) {
	b.t.Helper()
	run(b, "open "+page, chromedp.Evaluate[string](`location.hash = "#/`+page+`"`))
	b.do("render "+page, chromedp.WaitReady(chromedp.CSS(`#page[data-page="`+page+`"][data-ready="true"]`)))
}

// screenshot writes the whole page as a PNG into the artifact folder.
func (b *chromeTab) screenshot(dir, name string) {
	b.t.Helper()
	png := run(b, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// console is what the pages wrote to the console so far.
func (b *chromeTab) console() []chromedp.ConsoleMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]chromedp.ConsoleMessage(nil), b.messages...)
}

// forget drops the messages recorded so far, once they were checked.
func (b *chromeTab) forget() {
	b.mu.Lock()
	b.messages = nil
	b.mu.Unlock()
}

// problems are the console errors and warnings, exceptions and browser
// log errors (CSP violations among them). A failed request is reported by
// the browser log as a "network" error: network false leaves those out,
// for the steps that provoke a 4xx on purpose.
func (b *chromeTab) problems(network bool) []string {
	var out []string
	for _, m := range b.console() {
		if m.Type != chromedp.ConsoleError && m.Type != chromedp.ConsoleWarning && !m.IsException() {
			continue
		}
		if !network && m.Source == "network" {
			continue
		}
		out = append(out, m.String()+" ("+m.URL+")")
	}
	return out
}

// artifactDir is test/e2e/artifacts/<name>, emptied first (git-ignored).
func artifactDir(t *testing.T, name string) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("artifacts", name))
	if err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}
