package deploy

import (
	"net"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// flagSpec is one `turnpike run` flag as its --help shows it.
type flagSpec struct {
	def    string
	isBool bool
	usage  string
}

var (
	helpOnce  sync.Once
	helpFlags map[string]flagSpec
	helpErr   error
)

// helpLine: "  -c, --config string   usage (default "x")"; a bool flag has no
// type word, and a usage's `quoted` text stands for the type, spaces
// and all. pflag shows no default for a zero value.
var (
	helpLine    = regexp.MustCompile(`^\s+(?:-\w, )?--([a-z0-9-]+)((?: \S+)*)\s{2,}(.*)$`)
	helpDefault = regexp.MustCompile(`\(default "?(.*?)"?\)$`)
)

// runFlags are the binary's own `run` flags and defaults, from
// `turnpike run --help`, so the files are checked against the binary
// they will run, not against a copy of its defaults.
func runFlags(t *testing.T) map[string]flagSpec {
	t.Helper()
	bin := gwtest.Binary(t)
	helpOnce.Do(func() {
		out, err := exec.Command(bin, "run", "--help").Output()
		if err != nil {
			helpErr = err
			return
		}
		helpFlags = map[string]flagSpec{}
		for line := range strings.SplitSeq(string(out), "\n") {
			m := helpLine.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			spec := flagSpec{isBool: m[2] == "", usage: m[3]}
			if d := helpDefault.FindStringSubmatch(m[3]); d != nil {
				spec.def = d[1]
			}
			helpFlags[m[1]] = spec
		}
	})
	if helpErr != nil {
		t.Fatalf("turnpike run --help: %v", helpErr)
	}
	if len(helpFlags) < 20 || helpFlags["proxy-listen"].def == "" {
		t.Fatalf("cannot read the flags of turnpike run --help: %v", helpFlags)
	}
	return helpFlags
}

// effectiveFlags is what `turnpike run` sees in container c: defaults,
// then TURNPIKE_* variables, then arguments (as the binary's bindEnv
// does). changed holds the flags given either way. Unknown flags and a
// first argument other than "run" fail the test.
func effectiveFlags(t *testing.T, c corev1.Container) (vals map[string]string, changed map[string]bool) {
	t.Helper()
	specs := runFlags(t)
	vals, changed = map[string]string{}, map[string]bool{}
	for name, s := range specs {
		vals[name] = s.def
	}
	for _, e := range c.Env {
		name, ok := strings.CutPrefix(e.Name, "TURNPIKE_")
		if !ok {
			continue
		}
		flag := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
		if _, known := specs[flag]; !known {
			t.Errorf("container %s: env %s names no flag of turnpike run", c.Name, e.Name)
		}
		vals[flag], changed[flag] = e.Value, true
	}
	args := append(append([]string{}, c.Command...), c.Args...)
	if len(args) == 0 || args[0] != "run" {
		t.Fatalf("container %s: arguments %q do not start with run", c.Name, args)
	}
	for i := 1; i < len(args); i++ {
		name, val, hasVal := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if name == "c" {
			name = "config"
		}
		spec, known := specs[name]
		if !strings.HasPrefix(args[i], "-") || !known {
			t.Errorf("container %s: argument %q is no flag of turnpike run", c.Name, args[i])
			continue
		}
		if !hasVal && !spec.isBool && i+1 < len(args) {
			i++
			val = args[i]
		} else if !hasVal {
			val = "true"
		}
		vals[name], changed[name] = val, true
	}
	return vals, changed
}

// listener is one address of a Kong-style listen flag.
type listener struct {
	host, port string
	tls        bool
}

func (l listener) public() bool {
	ip := net.ParseIP(l.host)
	return l.host != "localhost" && (ip == nil || !ip.IsLoopback())
}

// parseListens reads "0.0.0.0:8000, 0.0.0.0:8443 ssl" ("off": none).
func parseListens(t *testing.T, flag, v string) []listener {
	t.Helper()
	if strings.TrimSpace(v) == "off" {
		return nil
	}
	var out []listener
	for part := range strings.SplitSeq(v, ",") {
		fields := strings.Fields(part)
		if len(fields) == 0 {
			continue
		}
		host, port, err := net.SplitHostPort(fields[0])
		if err != nil {
			t.Fatalf("--%s=%q: %v", flag, v, err)
		}
		l := listener{host: host, port: port}
		for _, f := range fields[1:] {
			l.tls = l.tls || f == "ssl"
		}
		out = append(out, l)
	}
	return out
}
