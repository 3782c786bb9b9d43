// Package admin is the admin API, served on its own listener (loopback by
// default) and never through the proxy. It follows Kong's DB-less Admin
// API where Kong has the endpoint, so decK, the ingress controller and
// scripts written for Kong work unchanged:
//
//   - GET / (version, node, plugins), GET /status, GET /status/ready;
//   - GET /config and POST /config (replace the configuration through the
//     reload.Loader; 201, 400 with field paths, 304 with ?check_hash=1,
//     429 while another load runs);
//   - read-only /services, /routes, /consumers, /plugins, /upstreams,
//     /certificates (without keys), by id or name, nested lists, Kong's
//     {data, next} paging and ?tags= filtering; writes answer 405 with
//     Kong's "operation unsupported" error;
//   - GET /plugins/enabled and POST /schemas/plugins/validate.
//
// Everything but /status/ready can require a credential: named tokens or
// client certificates with a read-only or admin role (auth.go), whose
// writes are logged by name and whose name handlers read with Caller. It
// answers only requests whose Host names the admin API (hosts.go).
package admin
