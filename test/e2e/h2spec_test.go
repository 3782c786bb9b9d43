package e2e

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// h2specFloor is the number of h2spec's cases each listener passes (of
// 145 in h2spec v2.2.1): the suite fails if a change loses one.
// docs/h2spec.md lists the cases that fail and why.
const (
	h2specFloorH2C = 141
	h2specFloorTLS = 142
)

// h2specReport is the part of h2spec's JUnit report the test reads.
type h2specReport struct {
	Suites []struct {
		Cases []struct {
			Package string    `xml:"package,attr"`
			Name    string    `xml:"classname,attr"`
			Error   *struct{} `xml:"error"`
			Failure *struct{} `xml:"failure"`
			Skipped *struct{} `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// h2specBinary finds h2spec on PATH (`make test` installs it into
// bin/tools and puts that on the tests' PATH). Without it the test skips,
// unless TURNPIKE_REQUIRE_H2SPEC says it must run (as `make test` does).
func h2specBinary(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("h2spec")
	if err == nil {
		return path
	}
	if os.Getenv("TURNPIKE_REQUIRE_H2SPEC") != "" {
		t.Fatalf("h2spec not found on PATH (%v) and TURNPIKE_REQUIRE_H2SPEC is set: run `make test`, which installs it into bin/tools", err)
	}
	t.Skip("h2spec not found on PATH: `make test` installs it into bin/tools (set TURNPIKE_REQUIRE_H2SPEC to make this a failure)")
	return ""
}

// runH2spec runs h2spec against addr and returns the passing and the
// failing cases of its report.
func runH2spec(t *testing.T, bin, addr string, tls bool) (passed int, failed []string) {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	report := filepath.Join(t.TempDir(), "report.xml")
	// -o: how long h2spec waits for each expected frame. Its default, 2 s,
	// leaves a passing case at the mercy of a loaded machine; only the
	// failing cases wait it out.
	args := []string{"-h", host, "-p", port, "-o", "5", "-j", report}
	if tls {
		args = append(args, "-t", "-k")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// h2spec exits non-zero when a case fails; the report says which.
	out, runErr := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("h2spec %v: no report (%v; run: %v)\n%s", args, err, runErr, out)
	}
	var r h2specReport
	if err := xml.Unmarshal(b, &r); err != nil {
		t.Fatalf("h2spec report: %v", err)
	}
	for _, s := range r.Suites {
		for _, c := range s.Cases {
			switch {
			case c.Error != nil || c.Failure != nil:
				failed = append(failed, c.Package+": "+c.Name)
			case c.Skipped == nil:
				passed++
			}
		}
	}
	return passed, failed
}

// h2spec's conformance cases against the h2c (prior knowledge) listener and
// the TLS listener (ALPN h2), each proxying to a real upstream.
func TestH2spec(t *testing.T) {
	bin := h2specBinary(t)
	g := srvStart(t)
	runs := []struct {
		name  string
		addr  string
		tls   bool
		floor int
	}{
		{"h2c", g.plainAddr, false, h2specFloorH2C},
		{"tls", g.tlsAddr, true, h2specFloorTLS},
	}
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			passed, failed := runH2spec(t, bin, r.addr, r.tls)
			t.Logf("%d passed, %d failed: %s", passed, len(failed), strings.Join(failed, "; "))
			if passed < r.floor {
				t.Errorf("%d h2spec cases passed, below the floor of %d (docs/h2spec.md lists the known failures)", passed, r.floor)
			}
		})
	}
}

// A TLS connection that negotiated h2 and then sends no HTTP/2 preface is
// closed without an answer (RFC 9113 3.4): no HTTP/1.1 400 on it.
func TestH2TLSBadPrefaceClosed(t *testing.T) {
	g := srvStart(t)
	c := g.srvDial(t, true, "h2")
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: a.example.com\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if len(got) != 0 || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("got %q (%v), want the connection closed with nothing sent", got, err)
	}
}
