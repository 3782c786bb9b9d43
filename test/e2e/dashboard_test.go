package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

const dashToken = "dash-token-8c1f0e"

func dashConfig(up *gwtest.Echo, extra string) string {
	return fmt.Sprintf(`_format_version: "3.0"
services:
- name: web
  url: %s
  routes:
  - name: r1
    paths: [/r1]
  - name: r2
    paths: [/r2]
    plugins:
    - name: key-auth
- name: balanced
  url: http://pool
  routes:
  - name: pooled
    paths: [/pool]
%supstreams:
- name: pool
  targets:
  - target: %s
consumers:
- username: alice
  keyauth_credentials:
  - key: very-secret-key-123
  basicauth_credentials:
  - username: alice
    password: hunter2-pass
plugins:
- name: cors
`, up.URL, extra, strings.TrimPrefix(up.URL, "http://"))
}

// adminJSON reads an admin API object with the token.
func adminJSON(t *testing.T, gw *gwtest.Gateway, path string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, gw.AdminURL+path, nil)
	req.Header.Set("Kong-Admin-Token", dashToken)
	resp, body := gwtest.Do(t, req)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return m
}

// routeRequests sums api_gateway_requests_total of route in /metrics.
func routeRequests(t *testing.T, gw *gwtest.Gateway, route string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, gw.AdminURL+"/metrics", nil)
	req.Header.Set("Kong-Admin-Token", dashToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	n := 0
	for line := range strings.SplitSeq(string(text), "\n") {
		if strings.HasPrefix(line, "api_gateway_requests_total{") && strings.Contains(line, `route="`+route+`"`) {
			v, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			n += int(v)
		}
	}
	return n
}

var dashPages = []string{"overview", "services", "routes", "plugins", "consumers", "upstreams", "traffic", "reloads", "nodes", "config"}

// The dashboard in a real Chromium: log in with the token, visit every
// page without a console error, see the admin API's numbers, explain a
// request, see an invalid config's errors by field path, diff and apply a
// config and see the proxy serve it, find a refused and an applied load in
// the server's reload history; a POST without the CSRF header is refused;
// screenshots at desktop and phone widths.
func TestDashboardInChromium(t *testing.T) {
	b := newChromium(t)
	up := gwtest.StartEcho(t, "web")
	cfg := dashConfig(up, "")
	gw := gwtest.Start(t, cfg, gwtest.Options{Env: []string{"TURNPIKE_ADMIN_TOKEN=" + dashToken}})
	dir := artifactDir(t, "dashboard")
	for range 5 {
		if resp, body := gw.Get("/r1"); resp.StatusCode != 200 {
			t.Fatalf("/r1: %d %s", resp.StatusCode, body)
		}
	}
	gw.Get("/nothing-here")
	r1 := waitRouteRequests(t, gw, "r1", 5)

	// Log in with the keyboard: the form has the focus, Enter submits.
	b.do("open the dashboard", chromedp.Navigate(gw.AdminURL+"/dashboard/"), chromedp.WaitVisible(chromedp.CSS("#token")))
	b.screenshot(dir, "desktop-login")
	b.do("log in", chromedp.SendKeys(chromedp.CSS("#token"), "wrong\r"))
	run(b, "login error", chromedp.Poll[bool](`document.getElementById("login-error").textContent !== ""`))
	if got := b.text("#login-error"); got != "Wrong token." {
		t.Errorf("wrong token: %q", got)
	}
	b.do("log in", chromedp.SendKeys(chromedp.CSS("#token"), dashToken+"\r"),
		chromedp.WaitReady(chromedp.CSS(`#page[data-page="overview"][data-ready="true"]`)))
	if p := b.problems(false); len(p) != 0 {
		t.Errorf("console problems while logging in: %v", p)
	}
	b.forget() // the wrong token's 401
	if cookie := run(b, "document.cookie", chromedp.Evaluate[string](`document.cookie`)); cookie != "" {
		t.Errorf("the session cookie is readable by scripts: %q", cookie)
	}

	status := adminJSON(t, gw, "/status")
	for sel, want := range map[string]string{
		"#ov-hash":     fmt.Sprint(status["configuration_hash"]),
		"#ov-node":     fmt.Sprint(status["node_id"]),
		"#ov-version":  fmt.Sprint(status["version"]),
		"#ov-requests": fmt.Sprint(status["server"].(map[string]any)["total_requests"]),
		"#ov-summary":  fmt.Sprint(status["configuration"]),
	} {
		if got := b.text(sel); got != want {
			t.Errorf("overview %s: %q, admin API says %q", sel, got, want)
		}
	}

	for _, page := range dashPages {
		b.show(page)
		b.screenshot(dir, "desktop-"+page)
	}
	checkDashboardPages(t, b, gw, r1)
	if p := b.problems(true); len(p) != 0 {
		t.Errorf("console problems on the pages: %v", p)
	}

	// Phone width: every page fits without horizontal scrolling.
	b.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	for _, page := range dashPages {
		b.show(page)
		if over := run(b, "overflow", chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`)); over {
			t.Errorf("page %s scrolls sideways at 390px", page)
		}
		b.screenshot(dir, "phone-"+page)
	}
	b.do("desktop viewport", chromedp.EmulateViewport(1280, 900))

	checkDashboardConfigEditor(t, b, gw, up, cfg, dir)
	if p := b.problems(false); len(p) != 0 {
		t.Errorf("console problems: %v", p)
	}
}

// waitRouteRequests waits until /metrics counts at least n requests of
// route (the access phase records them after the response).
func waitRouteRequests(t *testing.T, gw *gwtest.Gateway, route string, n int) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := routeRequests(t, gw, route)
		if got >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func checkDashboardPages(t *testing.T, b *chromeTab, gw *gwtest.Gateway, r1 int) {
	t.Helper()
	count := func(sel string) int {
		return run(b, "rows of "+sel, chromedp.Evaluate[int](`document.querySelectorAll("`+sel+` tbody tr").length`))
	}
	b.show("services")
	if got, want := count("#services-table"), len(adminJSON(t, gw, "/services")["data"].([]any)); got != want {
		t.Errorf("services page: %d rows, admin API has %d services", got, want)
	}
	b.show("routes")
	if got, want := count("#routes-table"), len(adminJSON(t, gw, "/routes")["data"].([]any)); got != want {
		t.Errorf("routes page: %d rows, admin API has %d routes", got, want)
	}
	b.do("explain",
		chromedp.SetValue(chromedp.CSS("#ex-path"), "/r2/x"),
		chromedp.Click(chromedp.CSS(`#explain-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#explain-plugins")))
	if got := b.text("#explain-route"); !strings.Contains(got, "r2") || !strings.Contains(got, "web") {
		t.Errorf("explain /r2/x: %q", got)
	}
	if got := b.text("#explain-plugins"); !strings.Contains(got, "key-auth") || !strings.Contains(got, "cors") {
		t.Errorf("explain plugins: %q", got)
	}

	b.show("consumers")
	page := b.text("#page")
	for _, secret := range []string{"very-secret-key-123", "hunter2-pass", "$2a$", "$2b$"} {
		if strings.Contains(page, secret) {
			t.Errorf("the consumers page shows a secret (%q)", secret)
		}
	}
	if !strings.Contains(b.text("#credentials-key-auth"), "••••••••") || !strings.Contains(b.text("#credentials-basic-auth"), "alice") {
		t.Errorf("credentials: %q", page)
	}

	b.show("upstreams")
	health := adminJSON(t, gw, "/upstreams/pool/health")["data"].([]any)[0].(map[string]any)
	if got := b.text("#targets-pool"); !strings.Contains(got, fmt.Sprint(health["target"])) || !strings.Contains(got, fmt.Sprint(health["health"])) {
		t.Errorf("targets: %q, admin API: %v", got, health)
	}

	b.show("traffic")
	row := run(b, "traffic row", chromedp.Evaluate[[]string](
		`[...document.querySelectorAll("#traffic-table tbody tr")].map(r => [...r.cells].map(c => c.textContent)).find(c => c[0] === "r1")`))
	if len(row) < 7 || row[1] != strconv.Itoa(r1) || row[3] != "0" || !strings.HasSuffix(row[5], " ms") || !strings.HasSuffix(row[6], " ms") {
		t.Errorf("traffic row of r1: %q, /metrics counts %d requests", row, r1)
	}

	b.show("nodes")
	if got := b.text("#nodes-table"); !strings.Contains(got, fmt.Sprint(adminJSON(t, gw, "/status")["node_id"])) {
		t.Errorf("nodes: %q", got)
	}
	if !strings.Contains(b.text("#nodes-about"), "this node alone") || !strings.Contains(b.text("#nodes-table"), "(this node)") {
		t.Errorf("the nodes page of a node without a store: %q, %q", b.text("#nodes-about"), b.text("#nodes-table"))
	}
}

func checkDashboardConfigEditor(t *testing.T, b *chromeTab, gw *gwtest.Gateway, up *gwtest.Echo, cfg, dir string) {
	t.Helper()
	b.show("config")
	if got := run(b, "editor", chromedp.Value(chromedp.CSS("#cfg-text"))); got != cfg {
		t.Errorf("the editor does not hold the running config:\n%s", got)
	}
	bad := strings.Replace(cfg, "paths: [/r2]", "paths: [r2]", 1)
	b.do("check an invalid config",
		chromedp.SetValue(chromedp.CSS("#cfg-text"), bad),
		chromedp.Click(chromedp.CSS("#cfg-check")),
		chromedp.WaitVisible(chromedp.CSS("#cfg-errors")))
	if got := b.text("#cfg-errors"); !strings.Contains(got, "services[0].routes[1].paths[0]") {
		t.Errorf("errors of an invalid config: %q", got)
	}
	b.screenshot(dir, "desktop-config-errors")
	// Errors in no entity are one item, Kong's message, however many it
	// holds: the count is of the entities' errors only.
	before := b.text("#cfg-invalid")
	b.do("check a config with errors outside the entities",
		chromedp.SetValue(chromedp.CSS("#cfg-text"), "bogus: 1\nbogus2: 2\n"+bad),
		chromedp.Click(chromedp.CSS("#cfg-check")))
	run(b, "its errors shown", chromedp.Poll[bool](`document.getElementById("cfg-invalid")?.textContent.trim() !== `+strconv.Quote(before)))
	if got, want := b.text("#cfg-invalid"), "The configuration is invalid (1 error in entities, and the document's below):"; got != want {
		t.Errorf("count of errors partly outside the entities: %q, want %q", got, want)
	}
	b.do("back to the invalid config", chromedp.SetValue(chromedp.CSS("#cfg-text"), bad))
	// Applied, the invalid config is a refused load in the server's history.
	b.do("apply the invalid config", chromedp.Click(chromedp.CSS("#cfg-apply")))
	waitUntil(t, "a refused load in GET /reloads", func() bool {
		h := adminJSON(t, gw, "/reloads")["data"].([]any)
		return len(h) == 2 && h[0].(map[string]any)["ok"] == false
	})

	good := dashConfig(up, "  - name: r3\n    paths: [/r3]\n")
	// The good one is uploaded as a file.
	file := filepath.Join(t.TempDir(), "kong.yml")
	if err := os.WriteFile(file, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	b.do("upload", chromedp.SetUploadFiles(chromedp.CSS("#cfg-file"), []string{file}))
	run(b, "uploaded", chromedp.Poll[bool](`document.getElementById("cfg-text").value.includes("name: r3")`))
	b.do("diff",
		chromedp.Click(chromedp.CSS("#cfg-diff-btn")),
		chromedp.WaitVisible(chromedp.CSS("#cfg-diff")))
	added := run(b, "added lines", chromedp.Evaluate[string](`[...document.querySelectorAll("#cfg-diff .add")].map(e => e.textContent).join("\n")`))
	if added != "+   - name: r3\n+     paths: [/r3]" {
		t.Errorf("added lines: %q", added)
	}
	b.screenshot(dir, "desktop-config-diff")
	b.do("check the good config", chromedp.Click(chromedp.CSS("#cfg-check")), chromedp.WaitVisible(chromedp.CSS("#cfg-valid")))

	// The CSRF header is what admits a write: the same session's POST
	// without it is refused, from the page itself.
	csrf := run(b, "POST without CSRF", chromedp.Evaluate[int](
		`fetch("/dashboard/admin/config?check=true", {method: "POST", body: "x", headers: {"Content-Type": "application/yaml"}}).then(r => r.status)`,
		chromedp.EvalAwaitPromise))
	if csrf != http.StatusForbidden {
		t.Errorf("POST /config without the CSRF header: %d, want 403", csrf)
	}
	// The session is the dashboard's only: the admin API's own paths
	// still want the token.
	direct := run(b, "GET /services", chromedp.Evaluate[int](`fetch("/services").then(r => r.status)`, chromedp.EvalAwaitPromise))
	if direct != http.StatusUnauthorized {
		t.Errorf("GET /services from the logged-in page: %d, want 401", direct)
	}

	if resp, _ := gw.Get("/r3"); resp.StatusCode != 404 {
		t.Fatalf("/r3 before apply: %d", resp.StatusCode)
	}
	b.do("apply", chromedp.Click(chromedp.CSS("#cfg-apply")), chromedp.WaitVisible(chromedp.CSS("#cfg-applied")))
	if resp, body := gw.Get("/r3/after"); resp.StatusCode != 200 || gwtest.DecodeSeen(t, body).Path != "/after" {
		t.Errorf("/r3 after apply: %d %s", resp.StatusCode, body)
	}
	if last := adminJSON(t, gw, "/status")["last_reload"].(map[string]any); last["trigger"] != "admin" || last["ok"] != true {
		t.Errorf("last reload after apply: %v", last)
	}
	checkDashboardReloads(t, b, gw, dir)
}

// checkDashboardReloads follows the apply result's link to the reload
// history, which lists what GET /reloads does: the applied config, the
// refused one with its field path, the start-up load; the overview shows
// the same newest entries and counts them.
func checkDashboardReloads(t *testing.T, b *chromeTab, gw *gwtest.Gateway, dir string) {
	t.Helper()
	b.do("open the history from the apply result", chromedp.Click(chromedp.CSS("#cfg-reloads")),
		chromedp.WaitReady(chromedp.CSS(`#page[data-page="reloads"][data-ready="true"]`)))
	hist := adminJSON(t, gw, "/reloads")["data"].([]any)
	rows := func(sel string) [][]string {
		return run(b, "rows of "+sel, chromedp.Evaluate[[][]string](
			`[...document.querySelectorAll("`+sel+` tbody tr")].map(r => [...r.cells].map(c => c.textContent))`))
	}
	got := rows("#reloads-table")
	if len(hist) != 3 || len(got) != 3 {
		t.Fatalf("history: page %q, admin API %v", got, hist)
	}
	for i, want := range [][2]string{{"admin", "applied"}, {"admin", "refused"}, {"startup", "applied"}} {
		if got[i][1] != want[0] || got[i][2] != want[1] || hist[i].(map[string]any)["trigger"] != want[0] {
			t.Errorf("history row %d: %q, want %v (admin API: %v)", i, got[i], want, hist[i])
		}
	}
	paths := run(b, "error paths", chromedp.Evaluate[string](
		`[...document.querySelectorAll("#reloads-table tbody tr:nth-child(2) li.error code")].map(c => c.textContent).join(",")`))
	if paths != "services[0].routes[1].paths[0]" {
		t.Errorf("the refused load's field paths: %q (row %q)", paths, got[1])
	}
	b.screenshot(dir, "desktop-reloads-history")
	b.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	if over := run(b, "overflow", chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1 ||
  [...document.querySelectorAll("#reloads-table td")].some(td => td.scrollWidth > td.clientWidth + 1)`)); over {
		t.Error("the reload history is wider than a 390px screen")
	}
	b.screenshot(dir, "phone-reloads-history")
	b.do("desktop viewport", chromedp.EmulateViewport(1280, 900))
	// The browser stops recording requests once 250 are; start afresh.
	run(b, "clear request timings", chromedp.Evaluate[any](`performance.clearResourceTimings()`))
	b.show("overview")
	if ov := rows("#ov-reloads"); len(ov) != 3 || ov[1][2] != "refused" || !strings.Contains(ov[1][4], "services[0].routes[1].paths[0]") {
		t.Errorf("overview reloads: %q", ov)
	}
	// The overview asks for its few rows only, and counts the rest from
	// the answer's total.
	if note := run(b, "overview reloads note", chromedp.Evaluate[string](
		`document.getElementById("ov-reloads-all").parentElement.textContent`)); !strings.Contains(note, "(3 loads)") {
		t.Errorf("overview reloads note: %q", note)
	}
	if asked := run(b, "overview reloads request", chromedp.Evaluate[bool](
		`performance.getEntriesByType("resource").some(e => e.name.endsWith("/reloads?size=5"))`)); !asked {
		t.Error("the overview did not ask GET /reloads?size=5")
	}
}

// With no admin token (a loopback-only admin API) there is no login: the
// dashboard opens on the overview.
func TestDashboardWithoutToken(t *testing.T) {
	b := newChromium(t)
	up := gwtest.StartEcho(t, "web")
	gw := gwtest.Start(t, dashConfig(up, ""), gwtest.Options{})
	b.do("open", chromedp.Navigate(gw.AdminURL+"/dashboard/"),
		chromedp.WaitReady(chromedp.CSS(`#page[data-page="overview"][data-ready="true"]`)))
	if visible := run(b, "login", chromedp.Evaluate[bool](`!document.getElementById("login").hidden`)); visible {
		t.Error("the login form shows although the admin API has no token")
	}
	if p := b.problems(true); len(p) != 0 {
		t.Errorf("console problems: %v", p)
	}
}

// The page's own logic, run in the browser: the Prometheus text parser,
// the histogram quantile and the line diff, against hand-computed answers.
func TestDashboardScriptsInChromium(t *testing.T) {
	b := newChromium(t)
	up := gwtest.StartEcho(t, "web")
	gw := gwtest.Start(t, dashConfig(up, ""), gwtest.Options{})
	b.do("open", chromedp.Navigate(gw.AdminURL+"/dashboard/"),
		chromedp.WaitReady(chromedp.CSS(`#page[data-ready="true"]`)))
	got := run(b, "scripts", chromedp.Evaluate[map[string]string](`Promise.all([import("/dashboard/metrics.js"), import("/dashboard/diff.js")]).then(([m, d]) => {
  const text = [
    '# HELP api_gateway_requests_total x',
    'api_gateway_requests_total{method="GET",route="a \\"q\\"",status="200"} 8',
    'api_gateway_requests_total{method="POST",route="a \\"q\\"",status="503"} 2',
    'api_gateway_request_duration_ms_bucket{method="GET",route="a \\"q\\"",le="1"} 0',
    'api_gateway_request_duration_ms_bucket{method="GET",route="a \\"q\\"",le="2"} 8',
    'api_gateway_request_duration_ms_bucket{method="GET",route="a \\"q\\"",le="+Inf"} 8',
    'api_gateway_request_duration_ms_bucket{method="POST",route="a \\"q\\"",le="1"} 0',
    'api_gateway_request_duration_ms_bucket{method="POST",route="a \\"q\\"",le="2"} 0',
    'api_gateway_request_duration_ms_bucket{method="POST",route="a \\"q\\"",le="+Inf"} 2',
  ].join("\n");
  const s = m.routeStats(m.parse(text))[0];
  const diff = d.lineDiff("a\nb\nc\nd", "a\nc\nx\nd").map(x => x.op + x.text).join("|");
  return {
    route: s.route, requests: String(s.requests), errors: String(s.errors), rate: String(s.errorRate),
    p50: String(s.p50), p99: String(s.p99), diff,
    same: String(d.lineDiff("x\ny", "x\ny").every(x => x.op === " ")),
    huge: String(d.lineDiff(Array.from({length: 3000}, (_, i) => "a" + i).join("\n"), Array.from({length: 3000}, (_, i) => "b" + i).join("\n"))),
  };
})`, chromedp.EvalAwaitPromise))
	want := map[string]string{
		"route": `a "q"`, "requests": "10", "errors": "2", "rate": "0.2",
		// 10 observations: 8 in (1, 2], 2 above 2. The 5th lies 5/8 into
		// (1, 2]; the 9.9th is past the last finite bucket, so its bound.
		"p50": "1.625", "p99": "2",
		"diff": " a|-b| c|+x| d", "same": "true", "huge": "null",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	// The history table: a store column only when a load came from a
	// store, collapsed unchanged loads with their count, messages split
	// into field path and text only where a path leads.
	table := run(b, "reloads table", chromedp.Evaluate[[][]string](`import("/dashboard/reloads.js").then((r) => {
  const rows = (t) => [[...t.querySelectorAll("th")].map(c => c.textContent)].concat(
    [...t.querySelectorAll("tbody tr")].map(tr => [...tr.cells].map(c => c.textContent + "|" + [...c.querySelectorAll("code")].map(x => x.textContent).join(","))));
  const plain = rows(r.reloadsTable("x", [{at: "2026-01-01T00:00:00Z", trigger: "file", ok: false, duration_ms: 0.5,
    errors: ["routes[0].paths[0]: bad: really", "the configuration is larger than the limit of 10 bytes"]}]));
  const stored = rows(r.reloadsTable("x", [
    {at: "2026-01-01T00:00:00Z", trigger: "cluster", ok: true, duration_ms: 12, store_version: 7, store_author: "ci"},
    {at: "2026-01-01T00:00:00Z", last_at: "2026-01-01T00:01:00Z", trigger: "sighup", ok: true, unchanged: true, unchanged_count: 3, duration_ms: 0.1}]));
  return [plain[0], plain[1].slice(2), stored[0], stored[1].slice(2), stored[2].slice(2)];
})`, chromedp.EvalAwaitPromise))
	wantTable := [][]string{
		{"At", "Trigger", "Result", "Duration", "Errors and warnings"},
		{"refused|", "0.50 ms|", "routes[0].paths[0]: bad: reallythe configuration is larger than the limit of 10 bytes|routes[0].paths[0]"},
		{"At", "Trigger", "Result", "Duration", "Store version", "Errors and warnings"},
		{"applied|", "12 ms|", "7 by ci|", "—|"},
		{"unchanged ×3|", "0.10 ms|", "—|", "—|"},
	}
	if fmt.Sprint(table) != fmt.Sprint(wantTable) {
		t.Errorf("reloads table:\n%q\nwant\n%q", table, wantTable)
	}
	// A gateway of 1000 routes, two methods each: 36k bucket lines, parsed
	// and summarised every 5 s while the Traffic page is open.
	ms := run(b, "1000 routes", chromedp.Evaluate[float64](`import("/dashboard/metrics.js").then((m) => {
  const lines = [];
  for (let r = 0; r < 1000; r++) for (const method of ["GET", "POST"]) {
    lines.push('api_gateway_requests_total{method="' + method + '",route="route-' + r + '",status="200"} ' + r);
    let n = 0;
    for (const le of ["0.5", "1", "2.5", "5", "10", "25", "50", "100", "250", "500", "1000", "2500", "5000", "10000", "30000", "60000", "+Inf"]) {
      n += r % 7;
      lines.push('api_gateway_request_duration_ms_bucket{method="' + method + '",route="route-' + r + '",le="' + le + '"} ' + n);
    }
  }
  const text = lines.join("\n");
  const t0 = performance.now();
  const stats = m.routeStats(m.parse(text));
  if (stats.length !== 1000) throw new Error("routes: " + stats.length);
  return performance.now() - t0;
})`, chromedp.EvalAwaitPromise))
	t.Logf("parsing and summarising /metrics of 1000 routes: %.1f ms", ms)
	if ms > 2000 {
		t.Errorf("summarising 1000 routes took %.0f ms", ms)
	}
	if p := b.problems(true); len(p) != 0 {
		t.Errorf("console problems: %v", p)
	}
}
