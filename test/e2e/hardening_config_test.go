package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// Issue 10, items 2, 3 and 4: no configuration, however hostile or heavy,
// may take the data plane down, keep other loads out for long, or hold up
// shutdown.

// cfgAliasBomb is nine levels of nine YAML aliases, a few hundred bytes
// that expand to 387 million values, under key (a top-level key or a
// plugin's config) at indent.
func cfgAliasBomb(indent string) string {
	var sb strings.Builder
	sb.WriteString(indent + "a0: &a0 [x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		alias := fmt.Sprintf("*a%d", i-1)
		fmt.Fprintf(&sb, "%sa%d: &a%d [%s]\n", indent, i, i, strings.TrimSuffix(strings.Repeat(alias+", ", 9), ", "))
	}
	return sb.String()
}

// cfgSlowConfig is a valid configuration whose load takes minutes: plain
// basic-auth passwords are bcrypt-hashed while loading.
func cfgSlowConfig(upstream string) string {
	var sb strings.Builder
	sb.WriteString(adminRouteConfig(upstream, "slow"))
	sb.WriteString("consumers:\n")
	for i := range 5000 {
		fmt.Fprintf(&sb, "- username: u%d\n  basicauth_credentials: [{username: u%d, password: p%d}]\n", i, i, i)
	}
	return sb.String()
}

// cfgPost posts body to the admin API with a client deadline, so that a
// gateway that never answers fails the test instead of hanging it.
func cfgPost(t *testing.T, gw *gwtest.Gateway, path, contentType, body string, within time.Duration) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, gw.AdminURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: no answer within %v: %v", path, within, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// cfgServes checks that the proxy still answers path with 200.
func cfgServes(t *testing.T, gw *gwtest.Gateway, path string) {
	t.Helper()
	if resp, body := gw.Get(path); resp.StatusCode != 200 {
		t.Fatalf("GET %s = %d %s: the data plane must keep serving", path, resp.StatusCode, body)
	}
}

// cfgAlive fails the test when the gateway process has exited.
func cfgAlive(t *testing.T, gw *gwtest.Gateway) {
	t.Helper()
	if err, exited := gw.Wait(0); exited {
		t.Fatalf("gateway exited: %v\n%s", err, gw.Stderr())
	}
}

func TestConfigAliasBombPostConfigRefused(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, adminRouteConfig(up.URL, "old"), gwtest.Options{})
	bomb := "_format_version: \"3.0\"\n" + cfgAliasBomb("")
	code, body := cfgPost(t, gw, "/config", "application/yaml", bomb, 10*time.Second)
	if code != 400 || !strings.Contains(body, "YAML aliases expand to more than 1000000 values") {
		t.Fatalf("POST /config bomb = %d %s", code, body)
	}
	cfgAlive(t, gw)
	cfgServes(t, gw, "/old")
	// The refused load holds nothing: the next one goes through.
	if code, body := cfgPost(t, gw, "/config", "application/yaml", adminRouteConfig(up.URL, "new"), 10*time.Second); code != 201 {
		t.Fatalf("POST /config after the bomb = %d %s", code, body)
	}
	cfgServes(t, gw, "/new")
}

// A 264 KB document repeating a 100 KB tag 3,000 times was accepted and
// echoed in a 301 MB answer, the gateway at 1.2 GB; a few more repeats
// and it would have been killed. It is refused, and the old config serves.
func TestConfigAliasBytesPostConfigRefused(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, adminRouteConfig(up.URL, "old"), gwtest.Options{})
	var doc strings.Builder
	fmt.Fprintf(&doc, "_format_version: \"3.0\"\nservices:\n- {name: s0, url: %q, tags: &big [%s]}\n", up.URL, strings.Repeat("A", 100_000))
	for i := 1; i < 3000; i++ {
		fmt.Fprintf(&doc, "- {name: s%d, url: %q, tags: *big}\n", i, up.URL)
	}
	code, body := cfgPost(t, gw, "/config", "application/yaml", doc.String(), 10*time.Second)
	if code != 400 || !strings.Contains(body, "YAML aliases expand to more than 32 MiB of text") || len(body) > 64<<10 {
		t.Fatalf("POST /config = %d, %d bytes: %.300s", code, len(body), body)
	}
	cfgAlive(t, gw)
	cfgServes(t, gw, "/old")
}

func TestConfigAliasBombSchemaValidateRefused(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, adminRouteConfig(up.URL, "old"), gwtest.Options{})
	bomb := "name: cors\nconfig:\n" + cfgAliasBomb("  ")
	code, body := cfgPost(t, gw, "/schemas/plugins/validate", "application/yaml", bomb, 10*time.Second)
	if code != 400 || !strings.Contains(body, "YAML aliases expand to more than 1000000 values") {
		t.Fatalf("POST /schemas/plugins/validate bomb = %d %s", code, body)
	}
	cfgAlive(t, gw)
	cfgServes(t, gw, "/old")
}

// cfgRunCLI runs the binary with a deadline.
func cfgRunCLI(t *testing.T, within time.Duration, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	out, err := exec.CommandContext(ctx, gwtest.Binary(t), args...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%v: no exit within %v", args, within)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

func TestConfigAliasBombValidateCLIRefused(t *testing.T) {
	path := writeFile(t, "bomb.yml", "_format_version: \"3.0\"\n"+cfgAliasBomb(""))
	out, code := cfgRunCLI(t, 20*time.Second, "validate", "-c", path)
	if code != 1 || !strings.Contains(out, "YAML aliases expand to more than 1000000 values") {
		t.Fatalf("turnpike validate on a bomb = exit %d:\n%s", code, out)
	}
	out, code = cfgRunCLI(t, 20*time.Second, "run", "-c", path, "--proxy-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")
	if code != 1 || !strings.Contains(out, "YAML aliases expand to more than 1000000 values") {
		t.Fatalf("turnpike run on a bomb = exit %d:\n%s", code, out)
	}
}

// The nesting is refused before the parser sees it, whose memory grows with
// the square of the depth.
func TestConfigDeepNestingRefused(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, adminRouteConfig(up.URL, "old"), gwtest.Options{})
	const depth = 20_000
	deep := `{"_format_version":"3.0","services":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + "}"
	code, body := cfgPost(t, gw, "/config", "application/json", deep, 10*time.Second)
	if code != 400 || !strings.Contains(body, "nested deeper than 100 levels") {
		t.Fatalf("POST /config at depth %d = %d %.300s", depth, code, body)
	}
	plugin := `{"name":"cors","config":{"origins":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + "}}"
	code, body = cfgPost(t, gw, "/schemas/plugins/validate", "application/json", plugin, 10*time.Second)
	if code != 400 || !strings.Contains(body, "nested deeper than 100 levels") {
		t.Fatalf("POST /schemas/plugins/validate at depth %d = %d %.300s", depth, code, body)
	}
	cfgAlive(t, gw)
	cfgServes(t, gw, "/old")

	path := writeFile(t, "deep.json", deep)
	out, exit := cfgRunCLI(t, 20*time.Second, "validate", "-c", path)
	if exit != 1 || !strings.Contains(out, "nested deeper than 100 levels") {
		t.Fatalf("turnpike validate at depth %d = exit %d:\n%.300s", depth, exit, out)
	}
}

// A load over its time budget is abandoned with an error naming the budget;
// the configuration in force stays and the next load is not kept out.
func TestConfigLoadTimeoutAbandoned(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, adminRouteConfig(up.URL, "old"), gwtest.Options{Args: []string{"--config-load-timeout", "1s"}})
	code, body := cfgPost(t, gw, "/config", "application/yaml", cfgSlowConfig(up.URL), 30*time.Second)
	if code != 400 || !strings.Contains(body, "configuration load abandoned: it took longer than 1s") {
		t.Fatalf("POST /config of a slow load = %d %.300s", code, body)
	}
	cfgServes(t, gw, "/old")
	if code, body := cfgPost(t, gw, "/config", "application/yaml", adminRouteConfig(up.URL, "new"), 10*time.Second); code != 201 {
		t.Fatalf("POST /config after the abandoned load = %d %s", code, body)
	}
	cfgServes(t, gw, "/new")
}

// A load that grows the heap past its memory budget is abandoned.
func TestConfigLoadMemoryBudgetAbandoned(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, adminRouteConfig(up.URL, "old"), gwtest.Options{Args: []string{
		"--config-load-memory", fmt.Sprint(16 << 20), "--config-max-size", fmt.Sprint(64 << 20)}})
	// Few values (a document of many would be refused before parsing, the
	// bound on values following the budget) but 24 MiB of them: the parse
	// holds more than 16 MiB.
	heavy := adminRouteConfig(up.URL, "heavy") + "_ignore: [" +
		strings.Repeat("\""+strings.Repeat("x", 1<<20)+"\", ", 23) + "\"x\"]\n"
	code, body := cfgPost(t, gw, "/config", "application/yaml", heavy, 60*time.Second)
	if code != 400 || !strings.Contains(body, "configuration load abandoned: it grew the heap by more than 16 MiB") {
		t.Fatalf("POST /config of a heavy load = %d %.300s", code, body)
	}
	cfgServes(t, gw, "/old")
}

func TestConfigMaxSize(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, adminRouteConfig(up.URL, "old"), gwtest.Options{Args: []string{"--config-max-size", "4096"}})
	big := adminRouteConfig(up.URL, "big") + "_comment: \"" + strings.Repeat("x", 4096) + "\"\n"
	if code, body := cfgPost(t, gw, "/config", "application/yaml", big, 10*time.Second); code != 413 || !strings.Contains(body, "4096 bytes") {
		t.Fatalf("POST /config over --config-max-size = %d %s", code, body)
	}
	// The file is held to the same limit at start-up (the watcher reads no
	// further than it either: TestFileStateSame).
	path := writeFile(t, "big.yml", big)
	out, code := cfgRunCLI(t, 20*time.Second, "run", "-c", path, "--config-max-size", "4096", "--proxy-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")
	if code != 1 || !strings.Contains(out, "larger than the limit of 4096 bytes") {
		t.Fatalf("turnpike run on a file over --config-max-size = exit %d:\n%s", code, out)
	}
}

// cfgPostUntilTaken posts doc to /config until it is not refused as busy:
// cfgWaitLoading's probe may hold the loader at that moment, and a
// refused load would never start (bounded: 200 tries).
func cfgPostUntilTaken(gw *gwtest.Gateway, doc string) {
	for range 200 {
		req, _ := http.NewRequest(http.MethodPost, gw.AdminURL+"/config", strings.NewReader(doc))
		req.Header.Set("Content-Type", "application/yaml")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return
		}
		resp.Body.Close()
		if resp.StatusCode != 429 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// cfgWaitLoading waits until a load is running: POST /config answers 429
// (the probe is invalid, so it changes nothing when it gets through).
func cfgWaitLoading(t *testing.T, gw *gwtest.Gateway) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, _ := cfgPost(t, gw, "/config", "application/yaml", "_format_version: \"3.0\"\nservices: 1\n", 10*time.Second)
		if code == 429 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no load seen running (last POST /config = %d)", code)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// SIGTERM during a slow load ends the process within --shutdown-timeout,
// whichever way the load came.
func TestConfigSIGTERMDuringSlowLoad(t *testing.T) {
	for _, via := range []string{"post", "sighup"} {
		t.Run(via, func(t *testing.T) {
			up := gwtest.StartEcho(t, "a")
			gw := gwtest.Start(t, adminRouteConfig(up.URL, "old"), gwtest.Options{Args: []string{"--shutdown-timeout", "2s", "--watch=false"}})
			slow := cfgSlowConfig(up.URL)
			switch via {
			case "post":
				go cfgPostUntilTaken(gw, slow)
			case "sighup":
				if err := os.WriteFile(gw.ConfigPath(), []byte(slow), 0o600); err != nil {
					t.Fatal(err)
				}
				gw.Signal(syscall.SIGHUP)
			}
			cfgWaitLoading(t, gw)
			cfgServes(t, gw, "/old")
			start := time.Now()
			gw.Signal(syscall.SIGTERM)
			// 2 s of shutdown timeout, and a margin for a busy machine: the
			// load alone would take minutes.
			err, exited := gw.Wait(15 * time.Second)
			if !exited {
				t.Fatalf("still running %v after SIGTERM with --shutdown-timeout 2s\n%s", time.Since(start), gw.Stderr())
			}
			if err != nil {
				t.Errorf("exit after SIGTERM: %v\n%s", err, gw.Stderr())
			}
		})
	}
}

// Issue 10, item 17: names that are not UTF-8 would reach logs and metric
// labels; the YAML parser would silently turn them into U+FFFD.
func TestConfigInvalidUTF8Refused(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, adminRouteConfig(up.URL, "old"), gwtest.Options{})
	doc := strings.Replace(adminRouteConfig(up.URL, "new"), "name: svc", "name: \"svc\xff\"", 1)
	code, body := cfgPost(t, gw, "/config", "application/yaml", doc, 10*time.Second)
	if code != 400 || !strings.Contains(body, `"fields":{"services":[{"name":"not valid UTF-8"}]}`) {
		t.Fatalf("POST /config with a name that is not UTF-8 = %d %s", code, body)
	}
	cfgServes(t, gw, "/old")
}

// The same inside Kong's `{"config": "<document>"}` wrapper, which a JSON
// decoder would have repaired silently.
func TestConfigInvalidUTF8InJSONWrapperRefused(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, adminRouteConfig(up.URL, "old"), gwtest.Options{})
	doc := `{"config": "_format_version: \"3.0\"\nservices: [{name: \"svc` + "\xff" + `\", url: \"` + up.URL + `\", routes: [{name: new, paths: [/new]}]}]\n"}`
	code, body := cfgPost(t, gw, "/config", "application/json", doc, 10*time.Second)
	if code != 400 || !strings.Contains(body, "not valid UTF-8") {
		t.Fatalf("POST /config wrapping a name that is not UTF-8 = %d %s", code, body)
	}
	cfgServes(t, gw, "/old")
}

// POST /schemas/plugins/validate parses what it is sent: one parse at a
// time, in the loader's gate, so it is refused as busy while a load runs.
func TestConfigPluginValidateBusyDuringLoad(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, adminRouteConfig(up.URL, "old"), gwtest.Options{Args: []string{"--watch=false"}})
	slow := cfgSlowConfig(up.URL)
	go cfgPostUntilTaken(gw, slow)
	cfgWaitLoading(t, gw)
	plugin := `{"name": "cors", "config": {"origins": ["https://a.example"]}}`
	code, body := cfgPost(t, gw, "/schemas/plugins/validate", "application/json", plugin, 20*time.Second)
	if code != 429 || !strings.Contains(body, `"message"`) {
		t.Fatalf("plugin validation during a load = %d %s, want 429", code, body)
	}
	cfgServes(t, gw, "/old")
}

// One plugin is a few kilobytes; a larger body is refused unread.
func TestConfigPluginValidateBodyLimit(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, adminRouteConfig(up.URL, "old"), gwtest.Options{})
	big := `{"name": "cors", "config": {"origins": ["https://a.example"]}, "tags": [` +
		strings.TrimSuffix(strings.Repeat(`"tttttttttttttttttttttttttttttt",`, 3000), ",") + `]}`
	code, body := cfgPost(t, gw, "/schemas/plugins/validate", "application/json", big, 20*time.Second)
	if code != 413 || !strings.Contains(body, `"message"`) {
		t.Fatalf("a %d-byte plugin body = %d %s, want 413", len(big), code, body)
	}
	small := `{"name": "cors", "config": {"origins": ["https://a.example"]}}`
	if code, body := cfgPost(t, gw, "/schemas/plugins/validate", "application/json", small, 20*time.Second); code != 200 {
		t.Fatalf("a valid plugin = %d %s", code, body)
	}
}

// `-c` at something endless or huge ends with an error, not with the
// memory exhausted: the file is read no further than --config-max-size.
func TestConfigCLIFileSizeLimit(t *testing.T) {
	big := writeFile(t, "big.yml", "_format_version: \"3.0\"\n_comment: \""+strings.Repeat("x", 8192)+"\"\n")
	for _, args := range [][]string{
		{"validate", "-c", "/dev/zero"},
		{"run", "-c", "/dev/zero", "--proxy-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"},
		{"validate", "-c", big, "--config-max-size", "4096"},
		{"run", "-c", big, "--config-max-size", "4096", "--proxy-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"},
	} {
		out, code := cfgRunCLI(t, 30*time.Second, args...)
		if code != 1 || !strings.Contains(out, "larger than the limit") {
			t.Fatalf("turnpike %v = exit %d:\n%s", args, code, out)
		}
	}
	out, code := cfgRunCLI(t, 30*time.Second, "validate", "-c", big)
	if code != 0 {
		t.Fatalf("turnpike validate on a file within the limit = exit %d:\n%s", code, out)
	}
}
