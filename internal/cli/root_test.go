package cli

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/all"
	"github.com/turnpikegw/turnpike/internal/snapshot"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

func TestBindEnv(t *testing.T) {
	t.Setenv("TURNPIKE_PROXY_LISTEN", "127.0.0.1:9000")
	t.Setenv("TURNPIKE_ADMIN_LISTEN", "127.0.0.1:9001")
	t.Setenv("TURNPIKE_HEADER_TIMEOUT", "not-a-duration")
	o := &runOptions{}
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	o.addFlags(fs, defaultProxyListen)
	if err := fs.Parse([]string{"--admin-listen", "off"}); err != nil {
		t.Fatal(err)
	}
	err := bindEnv(fs)
	if err == nil || !strings.Contains(err.Error(), "TURNPIKE_HEADER_TIMEOUT") {
		t.Fatalf("bad env value not reported: %v", err)
	}
	if o.proxyListen != "127.0.0.1:9000" {
		t.Errorf("env not applied: %q", o.proxyListen)
	}
	if o.adminListen != "off" {
		t.Errorf("the command line must win over the environment: %q", o.adminListen)
	}
}

func TestParseTrusted(t *testing.T) {
	got, err := parseTrusted("10.0.0.0/8, 127.0.0.1 ,::1")
	if err != nil || len(got) != 3 || got[1].Bits() != 32 || got[2].Bits() != 128 {
		t.Fatalf("%v %v", got, err)
	}
	if _, err := parseTrusted("10.0.0.0/99"); err == nil {
		t.Error("bad CIDR accepted")
	}
}

func TestVersionCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Execute([]string{"version"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "turnpike ") {
		t.Fatalf("%d %q %q", code, out.String(), errb.String())
	}
	if code := Execute([]string{"validate"}, &out, &errb); code != 1 {
		t.Fatalf("validate without -c: exit %d", code)
	}
}

// The embedded demo config is valid and compiles with every plugin it uses.
func TestDemoConfigCompiles(t *testing.T) {
	reg, err := plugin.NewRegistry(all.Registrations())
	if err != nil {
		t.Fatal(err)
	}
	m, err := config.Parse(demoConfig, config.Options{LookupEnv: func(k string) (string, bool) {
		if strings.HasSuffix(k, "_ADDR") {
			return "127.0.0.1:" + strconv.Itoa(len(k)), true
		}
		if strings.HasSuffix(k, "_GRPC_URL") {
			return "grpc://127.0.0.1:1", true
		}
		return "http://127.0.0.1:1", strings.HasPrefix(k, "DEMO_")
	}, Credentials: snapshot.CredentialKinds(reg)})
	if err != nil {
		t.Fatal(err)
	}
	pools := upstream.NewPools(upstream.DefaultPoolOptions)
	defer pools.Close()
	snap, err := snapshot.Compile(m, snapshot.Deps{Registry: reg, Upstreams: upstream.NewRuntime(upstream.RuntimeParts{Pools: pools})})
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Routes) < 6 {
		t.Errorf("demo has %d routes", len(snap.Routes))
	}
}

func TestStatusListenFlag(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Execute([]string{"run", "--help"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "--status-listen addresses") {
		t.Fatalf("run --help (%d) lacks --status-listen:\n%s", code, out.String())
	}
	cfg := t.TempDir() + "/kong.yml"
	if err := os.WriteFile(cfg, []byte("_format_version: \"3.0\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"nonsense", "127.0.0.1:0 tls"} {
		out.Reset()
		errb.Reset()
		code := Execute([]string{"run", "-c", cfg, "--proxy-listen", "127.0.0.1:0", "--admin-listen", "off", "--status-listen", bad}, &out, &errb)
		if code == 0 || !strings.Contains(errb.String(), "--status-listen") {
			t.Errorf("--status-listen %q: exit %d, %q", bad, code, errb.String())
		}
	}
}
