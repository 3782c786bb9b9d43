package e2e

import (
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// botAgents follow Kong's spec/03-plugins/21-bot-detection/01-access_spec.lua.
const (
	botHello    = "HelloWorld"
	botFacebook = "facebookexternalhit/1.1"
	botChrome   = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_5) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/50.0.2661.102 Safari/537.36"
)

func botConfig(upstream string) string {
	return `
_format_version: "3.0"
services:
- name: s
  url: ` + upstream + `
  routes:
  - {hosts: [bot.test], plugins: [{name: bot-detection}]}
  - {hosts: [bot2.test], plugins: [{name: bot-detection, config: {deny: [` + botHello + `]}}]}
  - {hosts: [bot3.test], plugins: [{name: bot-detection, config: {allow: ["` + botFacebook + `"]}}]}
`
}

// botGet sends agents as User-Agent headers (none: no header at all).
func botGet(t *testing.T, gw *gwtest.Gateway, host string, agents ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, gw.URL+"/request", nil)
	req.Host = host
	req.Header["User-Agent"] = agents
	if len(agents) == 0 {
		req.Header["User-Agent"] = []string{""} // Go's client then sends none
	}
	resp, body := gwtest.Do(t, req)
	return resp.StatusCode, body
}

// Kong's access spec: plain agents pass, the built-in list and deny
// regexes get 403 "Forbidden", allow wins over the list; and Kong's 400
// for a repeated User-Agent. Go's own client is on the built-in list.
func TestBotDetection(t *testing.T) {
	up := gwtest.StartEcho(t, "up")
	gw := gwtest.Start(t, botConfig(up.URL), gwtest.Options{})
	for _, tc := range []struct {
		host   string
		agents []string
		status int
		want   string
	}{
		{"bot.test", nil, 200, `"name":"up"`},
		{"bot.test", []string{botChrome}, 200, `"name":"up"`},
		{"bot.test", []string{botHello}, 200, `"name":"up"`},
		{"bot.test", []string{botFacebook}, 403, `"message":"Forbidden"`},
		{"bot.test", []string{"Go-http-client/1.1"}, 403, `"message":"Forbidden"`},
		{"bot.test", []string{"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"}, 403, `"message":"Forbidden"`},
		{"bot2.test", []string{botHello}, 403, `"message":"Forbidden"`},
		{"bot2.test", []string{botChrome}, 200, `"name":"up"`},
		{"bot3.test", []string{botFacebook}, 200, `"name":"up"`},
		{"bot3.test", []string{botFacebook}, 200, `"name":"up"`}, // the cached verdict
	} {
		status, body := botGet(t, gw, tc.host, tc.agents...)
		if status != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("%s %q: %d %s, want %d with %s", tc.host, tc.agents, status, body, tc.status, tc.want)
		}
	}
	// Go's client sends one User-Agent only: two, written by hand.
	status, body := rawExchange(t, gw, "GET /request HTTP/1.1\r\nHost: bot.test\r\nUser-Agent: "+botChrome+"\r\nUser-Agent: "+botHello+"\r\n", "")
	if status != 400 || !strings.Contains(body, `"message":"Only one User-Agent header allowed"`) {
		t.Errorf("two agents: %d %s", status, body)
	}
}

// A gRPC client with a bot's agent gets PermissionDenied (Kong's #grpc
// cases); with a plain one it is answered.
func TestBotDetectionGrpc(t *testing.T) {
	up := startGrpcUpstream(t)
	cfg := grpcConfig(up.Addr, "grpc") + "    plugins: [{name: bot-detection}]\n"
	gw := gwtest.Start(t, cfg, gwtest.Options{ProxyListen: "127.0.0.1:0 http2"})
	for _, tc := range []struct {
		agent string
		code  codes.Code
	}{{botHello, codes.OK}, {botFacebook, codes.PermissionDenied}} {
		conn, err := grpc.NewClient("passthrough:///"+strings.TrimPrefix(gw.URL, "http://"),
			grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithUserAgent(tc.agent))
		if err != nil {
			t.Fatal(err)
		}
		_, err = healthpb.NewHealthClient(conn).Check(grpcCtx(t), &healthpb.HealthCheckRequest{Service: grpcService})
		conn.Close()
		if st, _ := status.FromError(err); st.Code() != tc.code {
			t.Errorf("agent %q: %v, want %v", tc.agent, err, tc.code)
		}
	}
}
