package cli

import (
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os/signal"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/spf13/cobra"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/grpcdemo"
)

//go:embed demo.yml
var demoConfig []byte

func newDemoCmd() *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the gateway on an embedded example config in front of small demo services, one of them gRPC",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := bindEnv(cmd.Flags()); err != nil {
				return err
			}
			urls := map[string]string{}
			var servers []*http.Server
			defer func() {
				for _, s := range servers {
					s.Close()
				}
			}()
			for _, name := range []string{"users", "orders", "products", "products-flaky", "admin", "reports"} {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					return err
				}
				var h http.Handler = demoService(name)
				if name == "products-flaky" {
					h = flaky(h, time.Now())
				}
				srv := &http.Server{Handler: h}
				servers = append(servers, srv)
				go srv.Serve(ln)
				// The variables demo.yml's vault references name: a service's
				// URL ends with its path, a target is an address.
				key := "DEMO_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
				addr := ln.Addr().String()
				urls[key+"_URL"] = "http://" + addr + "/" + name
				urls[key+"_ADDR"] = addr
				if name == "users" {
					urls["DEMO_TENANTS_URL"] = "http://" + addr + "/tenants"
				}
			}
			// The gRPC UserService that the users-grpc route transcodes
			// REST calls to.
			grpcUsers, err := grpcdemo.Start("127.0.0.1:0")
			if err != nil {
				return err
			}
			defer grpcUsers.Stop()
			urls["DEMO_USERS_GRPC_URL"] = "grpc://" + grpcUsers.Addr()
			tokens, secret, err := demoTokens(time.Now())
			if err != nil {
				return err
			}
			urls["DEMO_JWT_SECRET"] = secret
			opts := config.Options{LookupEnv: func(k string) (string, bool) {
				v, ok := urls[k]
				return v, ok
			}}
			o.configPath = "demo.yml"
			// The reports route's oauth2 wants HTTPS: the demo trusts a
			// loopback peer's X-Forwarded-Proto, as a gateway trusts the
			// proxy that terminates TLS in front of it.
			if !cmd.Flags().Changed("trusted-ips") {
				o.trustedIPs = "127.0.0.1/32,::1/128"
			}
			sigs := notifySignals()
			defer signal.Stop(sigs)
			g, err := startGateway(o, demoConfig, opts, "", cmd.OutOrStdout(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			printDemoHelp(cmd, g, tokens)
			return g.runUntilSignal(sigs)
		},
	}
	o.addFlags(cmd.Flags(), "127.0.0.1:8000")
	return cmd
}

// demoTokens makes the secret of the demo consumers' jwt credentials and
// an HS256 token for each, valid for a day.
func demoTokens(now time.Time) (tokens map[string]string, secret string, err error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, "", err
	}
	secret = hex.EncodeToString(raw)
	tokens = map[string]string{}
	for _, who := range []string{"demo-admin", "demo-user"} {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"iss": who + "-issuer",
			"sub": who,
			"exp": now.Add(24 * time.Hour).Unix(),
		})
		signed, err := tok.SignedString([]byte(secret))
		if err != nil {
			return nil, "", err
		}
		tokens[who] = signed
	}
	return tokens, secret, nil
}

func printDemoHelp(cmd *cobra.Command, g *gateway, tokens map[string]string) {
	proxyAddr := g.proxy.Addrs()[0].String()
	base := "http://" + proxyAddr
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "\nTurnpike demo: a gateway on %s in front of users, orders, products and admin services\nand a gRPC user service.\n", base)
	if addrs := g.admin.Addrs(); len(addrs) > 0 {
		fmt.Fprintf(out, "Admin API: http://%s/status\n", addrs[0])
		fmt.Fprintf(out, "Upstream health: curl -s http://%s/upstreams/products-upstream/health\n", addrs[0])
		fmt.Fprintf(out, "Metrics: curl -s http://%s/metrics | grep '^api_gateway_'\n", addrs[0])
	}
	fmt.Fprintf(out, `
Try these (access log lines appear below as JSON):
  curl -i %[1]s/api/users/7                          # strip_path: the users service sees /users/7;
                                                   # its route also logs the patterns guide's format
  curl -i %[1]s/v1/products                          # path versioning: v1 (cached: X-Cache-Status Miss,
                                                   # then Hit for 30 s) ...
  curl -i %[1]s/v2/products                          # ... and v2, which adds ?api_version=2
                                                   # products has two targets; one fails 10 s in 30:
                                                   # retries hide it, health checks eject it (see below)
  curl -i %[1]s/v1/users/1                           # REST to gRPC: grpc-gateway calls the gRPC
                                                   # UserService's GetUser and answers its JSON
  curl -i %[1]s/api/dashboard/7                      # aggregation: the user, their orders and
                                                   # recommended products in one JSON answer
  curl -i %[1]s/api/tenant -H 'X-Tenant-Id: tenant-1' # header routing; without the header: 404
  curl -i %[1]s/api/admin/maintenance                # request-termination: 503 from the gateway
  curl -i -X OPTIONS %[1]s/api/orders -H 'Origin: https://example.com' -H 'Access-Control-Request-Method: POST'
  curl -i %[1]s/nowhere                              # Kong's 404 body with a request id

The admin service wants a JWT from a consumer in the admins group:
  curl -i %[1]s/api/admin                            # 401: no token
  curl -i %[1]s/api/admin -H 'Authorization: Bearer %[2]s'
                                                   # 403: demo-user is not in admins
  curl -i %[1]s/api/admin -H 'Authorization: Bearer %[3]s'
                                                   # 200: demo-admin

The reports service wants an OAuth 2.0 token the gateway issues (client credentials):
  TOKEN=$(curl -s -X POST %[1]s/api/reports/oauth2/token -H 'X-Forwarded-Proto: https' \
    -d grant_type=client_credentials -d client_id=demo-client -d client_secret=demo-client-secret \
    -d scope=reports:read | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
  curl -i %[1]s/api/reports -H "Authorization: Bearer $TOKEN"
                                                   # 200; without the token: 401

Orders allow 5 requests a minute per consumer; watch the headers count down to a 429:
  for i in 1 2 3 4 5 6; do curl -s -i %[1]s/api/orders -H 'apikey: demo-key' | grep -iE '^HTTP|^x-ratelimit-remaining|^retry-after'; done
Press Ctrl-C to stop.

`, base, tokens["demo-user"], tokens["demo-admin"])
}

// flaky fails (503) for 10 seconds out of every 30, so the demo's health
// checks and retries have something to do: watch
// GET /upstreams/products-upstream/health on the admin API.
func flaky(next http.Handler, start time.Time) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if int(time.Since(start).Seconds())%30 >= 20 {
			http.Error(w, "products-flaky is having a bad moment", http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// demoService answers every request with what it received, so the effect
// of the gateway (path joining, forwarded headers, transformations) shows;
// the paths the dashboard route aggregates answer records (demoRecord).
func demoService(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rec, ok := demoRecord(r.URL.Path); ok {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(rec)
			return
		}
		seen := map[string]string{}
		for _, h := range []string{"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Prefix",
			"X-Real-Ip", "X-Request-Id", "Via", "X-Demo-Gateway", "X-Tenant-Id",
			"X-Consumer-Username", "X-Credential-Identifier", "X-Authenticated-Scope"} {
			if v := r.Header.Get(h); v != "" {
				seen[h] = v
			}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"service": name,
			"method":  r.Method,
			"path":    r.URL.Path,
			"query":   r.URL.RawQuery,
			"host":    r.Host,
			"headers": seen,
		})
	})
}

// demoNames are the demo users' names; demoName picks one by id.
var demoNames = []string{"Ada Lovelace", "Grace Hopper", "Alan Turing", "Edsger Dijkstra", "Barbara Liskov"}

// The dashboard's records, as structs so that their fields keep this order.
type (
	demoUser struct {
		ID    string `json:"id"`
		Name  string `json:"name"`
		Email string `json:"email"`
		Tier  string `json:"tier"`
	}
	demoOrder struct {
		ID           string  `json:"id"`
		Total        float64 `json:"total"`
		Status       string  `json:"status"`
		WarehouseRef string  `json:"warehouse_ref"`
	}
	demoProduct struct {
		SKU   string `json:"sku"`
		Name  string `json:"name"`
		Price int    `json:"price"`
	}
)

// demoName is the name of user id: the id's value (its digits) modulo
// the names, so that ids 1 to 5 are five people.
func demoName(id string) string {
	n := 0
	for _, c := range id {
		if c >= '0' && c <= '9' {
			n = (n*10 + int(c-'0')) % len(demoNames)
		}
	}
	return demoNames[n]
}

// demoRecord is the JSON record of the paths the dashboard route calls:
// a user's card (users), their orders (orders) and the products
// recommended to them (products); false for any other path.
func demoRecord(path string) (any, bool) {
	seg := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(seg) == 3 && seg[0] == "users" && seg[2] == "card":
		id := seg[1]
		return demoUser{ID: id, Name: demoName(id), Email: "user" + id + "@example.com", Tier: "gold"}, true
	case len(seg) == 3 && seg[0] == "orders" && seg[1] == "by-user":
		id := seg[2]
		return []demoOrder{
			{ID: "o-" + id + "-1", Total: 42.5, Status: "shipped", WarehouseRef: "WH-7/A12"},
			{ID: "o-" + id + "-2", Total: 12, Status: "open", WarehouseRef: "WH-2/C03"},
		}, true
	case len(seg) == 2 && seg[0] == "products" && seg[1] == "recommended":
		return map[string]any{"items": []demoProduct{
			{SKU: "p-100", Name: "Mechanical keyboard", Price: 89},
			{SKU: "p-205", Name: "USB-C dock", Price: 129},
		}, "model": "demo-v1"}, true
	}
	return nil, false
}
