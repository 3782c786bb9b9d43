package e2e

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// statsdConfig follows Kong's spec/03-plugins/06-statsd/01-log_spec.lua:
// service statsd1 with default metrics for a key-auth consumer whose
// custom_id is robert, and statsd19's combined packets.
const statsdConfig = `
_format_version: "3.0"
consumers:
- username: bob
  custom_id: robert
  keyauth_credentials: [{key: kong}]
services:
- name: statsd1
  url: %[1]s
  routes:
  - name: r1
    paths: [/one]
  plugins:
  - name: key-auth
  - name: statsd
    config: {host: 127.0.0.1, port: %[2]d, queue: {max_coalescing_delay: 0}}
- name: statsd19
  url: %[1]s
  routes:
  - name: r19
    paths: [/nineteen]
  plugins:
  - name: statsd
    config:
      host: 127.0.0.1
      port: %[3]d
      udp_packet_size: 500
      queue: {max_coalescing_delay: 0}
      metrics:
      - {name: request_count, stat_type: counter, sample_rate: 1}
      - {name: upstream_latency, stat_type: timer}
      - {name: kong_latency, stat_type: timer}
`

func udpListener(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func readPackets(t *testing.T, c *net.UDPConn, n int) []string {
	t.Helper()
	var got []string
	buf := make([]byte, 65536)
	for len(got) < n {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		k, err := c.Read(buf)
		if err != nil {
			t.Fatalf("after %d of %d packets %q: %v", len(got), n, got, err)
		}
		got = append(got, string(buf[:k]))
	}
	return got
}

func TestStatsd(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	one, nineteen := udpListener(t), udpListener(t)
	gw := gwtest.Start(t, fmt.Sprintf(statsdConfig, up.URL, one.LocalAddr().(*net.UDPAddr).Port, nineteen.LocalAddr().(*net.UDPAddr).Port), gwtest.Options{})

	resp, body := gw.Get("/one/request?apikey=kong")
	if resp.StatusCode != 200 {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	got := readPackets(t, one, 12)
	want := []string{
		`kong\.service\.statsd1\.request\.count:1\|c`,
		`kong\.service\.statsd1\.latency:\d+\|ms`,
		`kong\.service\.statsd1\.request\.size:\d+\|c`,
		`kong\.service\.statsd1\.status\.200:1\|c`,
		`kong\.service\.statsd1\.response\.size:\d+\|c`,
		`kong\.service\.statsd1\.user\.uniques:robert\|s`,
		`kong\.service\.statsd1\.user\.robert\.request\.count:1\|c`,
		`kong\.service\.statsd1\.upstream_latency:\d+\|ms`,
		`kong\.service\.statsd1\.kong_latency:\d+\|ms`,
		`kong\.service\.statsd1\.user\.robert\.status\.200:1\|c`,
		`kong\.service\.statsd1\.workspace\.default\.status\.200:1\|c`,
		`kong\.route\.[0-9a-f-]{36}\.user\.robert\.status\.200:1\|c`,
	}
	for i, w := range want {
		if !regexp.MustCompile("^" + w + "$").MatchString(got[i]) {
			t.Errorf("packet %d: %q does not match %s", i, got[i], w)
		}
	}

	// A refused request is counted too, without a consumer or upstream.
	resp, _ = gw.Get("/one/request")
	if resp.StatusCode != 401 {
		t.Fatalf("got %d", resp.StatusCode)
	}
	got = readPackets(t, one, 7)
	for _, w := range []string{"kong.service.statsd1.request.count:1|c", "kong.service.statsd1.status.401:1|c", "kong.service.statsd1.workspace.default.status.401:1|c"} {
		if !slices.Contains(got, w) {
			t.Errorf("no %q in %q", w, got)
		}
	}
	for _, p := range got {
		if strings.Contains(p, "upstream_latency") || strings.Contains(p, ".user.") {
			t.Errorf("unexpected %q for a request refused before the upstream", p)
		}
	}

	// Kong's "combines udp packets": one datagram, lines joined by '\n'.
	resp, _ = gw.Get("/nineteen/request")
	if resp.StatusCode != 200 {
		t.Fatalf("got %d", resp.StatusCode)
	}
	got = readPackets(t, nineteen, 1)
	combined := `^kong\.service\.statsd19\.request\.count:1\|c\nkong\.service\.statsd19\.upstream_latency:\d+\|ms\nkong\.service\.statsd19\.kong_latency:\d+\|ms$`
	if !regexp.MustCompile(combined).MatchString(got[0]) {
		t.Fatalf("packet %q does not match %s", got[0], combined)
	}
}
