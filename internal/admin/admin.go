package admin

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/turnpikegw/turnpike/internal/admin/dashboard"
	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/reload"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

// Source is what the admin API reads from the running gateway. Every
// function may be nil (tests and tools build partial sources); the endpoint
// then reports zero.
type Source struct {
	Version  string
	NodeID   string
	Started  time.Time
	Snapshot *snapshot.Holder
	Requests func() uint64
	Accepted func() uint64
	Active   func() int64
	Draining func() bool
	// Pending, when it says something, is why the gateway is not ready
	// yet although a config is loaded (controller mode before its first
	// config from the cluster).
	Pending  func() string
	LogDrops func() uint64
	// Loader applies POST /config and reports the last reload.
	Loader *reload.Loader
	// Commit, when set, is how POST /config and the entity writes
	// change the config: validate, store (package configstore,
	// configstore.ErrConflict when another writer won), apply. base is
	// the Hash of the configuration data was made from: when it is no
	// longer the one in force where the change is stored, Commit answers
	// configstore.ErrConflict ("": data replaces whatever is in force, as
	// POST /config's does). who is the caller's name. Nil:
	// Loader.TryApply, this node only.
	Commit func(data []byte, base, who string) (*snapshot.Snapshot, error)
	// Cluster, when set, is the node's cluster (GET /clustering/status,
	// and its part of GET /status).
	Cluster Cluster
	// Registry lists the plugins this binary has.
	Registry *plugin.Registry
	// Token, when set, is required on every endpoint but /status/ready (the
	// readiness probe of a load balancer carries no credentials), as
	// `Authorization: Bearer <token>` or Kong's `Kong-Admin-Token: <token>`.
	// It is for an admin listener that cannot stay on loopback. It is
	// one admin credential named "default", besides Credentials.
	Token string
	// Credentials are the named tokens and client certificate names with
	// their roles (auth.go); any of them makes a credential required.
	Credentials []Credential
	// ClientCA: the admin listeners verify client certificates against a
	// CA, so a verified certificate is a credential (with no Credentials
	// and no Token, every verified certificate is an admin).
	ClientCA bool
	// Logger receives the "admin write" lines; nil: none.
	Logger *slog.Logger
	// Metrics serves GET /metrics (Prometheus text format); nil: none.
	Metrics http.Handler
	// Listen are the admin listen addresses (host:port) and Hosts
	// more names or addresses: a request whose Host names none of them, a
	// loopback name or the address it reached gets 421 (see hostGuard).
	Listen []string
	Hosts  []string
}

// api holds the handler state: the source and the entity index of the
// snapshot last looked at, rebuilt only when the snapshot changes.
type api struct {
	src      Source
	auth     *authn
	log      *slog.Logger
	hosts    hostGuard
	hostname string
	index    atomic.Pointer[index]
	// kinds is every entity kind, the core ones then the plugins'
	// credential kinds: the order POST /config answers and /tags lists.
	kinds []string
	// writes describes the writable kinds; writeMu makes the entity
	// writes one at a time (write.go).
	writes  *writeModel
	writeMu sync.Mutex
	// lastFlat is the flat form the last write put in force, whose
	// document hash is lastFlatHash (guarded by writeMu).
	lastFlat     *config.Flat
	lastFlatHash string
	// schemas are the /schemas answers built so far (schemas.go).
	schemas schemaCache
	// public: the status listener's, whose /status leaves out what a
	// reload's messages may quote of the configuration.
	public bool
}

// Handler serves the admin API. It fails when a plugin's admin route
// clashes with a core route or another plugin's (see pluginRoutes), or a
// credential kind's endpoint with a core route (see credentialRoutes).
func Handler(src Source) (http.Handler, error) {
	h, _, err := newAPI(src).handler()
	return h, err
}

func newAPI(src Source) *api {
	a := &api{src: src, auth: newAuthn(src), log: src.Logger, hosts: newHostGuard(src.Listen, src.Hosts)}
	if a.log == nil {
		a.log = discardLogger
	}
	a.hostname, _ = os.Hostname()
	a.writes = newWriteModel(src.Registry)
	a.kinds = append([]string(nil), kinds...)
	for _, ck := range a.credentialKinds() {
		a.kinds = append(a.kinds, ck.kind)
	}
	return a
}

// handler builds the admin API and the mux's patterns, which the role
// tests walk so that a route added later is checked too.
func (a *api) handler() (http.Handler, *routeMux, error) {
	src := a.src
	mux := &routeMux{ServeMux: http.NewServeMux()}
	mux.HandleFunc("/{$}", only(http.MethodGet, a.root))
	mux.HandleFunc("/status", only(http.MethodGet, a.status))
	mux.HandleFunc("/status/ready", only(http.MethodGet, a.ready))
	mux.HandleFunc("/config", a.config)
	mux.HandleFunc("/schemas/plugins/validate", only(http.MethodPost, a.validatePlugin))
	a.schemaRoutes(mux)
	mux.HandleFunc("/plugins/enabled", only(http.MethodGet, a.enabledPlugins))
	mux.HandleFunc("/explain", only(http.MethodGet, a.explainRequest))
	mux.HandleFunc("/circuit-breakers", only(http.MethodGet, a.circuitBreakers))
	mux.HandleFunc("/clustering/status", only(http.MethodGet, a.clusteringStatus))
	mux.HandleFunc("/reloads", only(http.MethodGet, a.reloads))
	if src.Metrics != nil {
		mux.Handle("GET /metrics", src.Metrics)
	}
	if err := a.entityRoutes(mux); err != nil {
		return nil, nil, err
	}
	mux.HandleFunc("/upstreams/{id}/health", only(http.MethodGet, a.upstreamHealth))
	// Plugin routes are reached only through the catch-all, so a core
	// route always wins over them.
	var plugins *http.ServeMux
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { plugins.ServeHTTP(w, r) })
	plugins, err := a.pluginRoutes(mux)
	if err != nil {
		return nil, nil, err
	}
	dash := a.newDashboard(mux)

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Kong resolves `/services/` as `/services`; so do we.
		if p := r.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") {
			r.URL.Path = strings.TrimRight(p, "/")
			r.URL.RawPath = strings.TrimRight(r.URL.RawPath, "/")
			if r.URL.Path == "" {
				r.URL.Path, r.URL.RawPath = "/", ""
			}
		}
		// 421, not 403: the request is for an authority this server does
		// not serve, which no credential would change. The readiness probe
		// is exempt, as from the token: load balancers send whatever
		// address they reached, and its answer tells a page nothing.
		if r.URL.Path != "/status/ready" && !a.hosts.allows(r) {
			writeJSON(w, http.StatusMisdirectedRequest,
				message("the Host header does not name this admin API; list the name in --admin-allowed-hosts"))
			return
		}
		if crossSite(r) {
			writeJSON(w, http.StatusForbidden, message("cross-site requests to the admin API are refused"))
			return
		}
		// The dashboard checks its own session: its files and login need
		// none, and its pages reach mux through it (dashboard.Dashboard),
		// then through dashboardAPI's role check and write log.
		if dashboard.Owns(r.URL.Path) {
			dash.ServeHTTP(w, r)
			return
		}
		a.guard(w, r, mux)
	}), mux, nil
}

// crossSite reports a request a browser made on behalf of another site.
// Without this, any web page open on the gateway's host could POST a new
// configuration to the loopback admin API (a form POST needs no CORS
// preflight). Non-browser clients send neither header and pass.
func crossSite(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "cross-site", "same-site":
		return true
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	u, err := url.Parse(origin)
	return err != nil || !strings.EqualFold(u.Host, r.Host)
}

// only answers 405 for any method but m (HEAD is accepted for GET), with
// Kong's JSON body rather than net/http's plain-text one.
func only(m string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != m && (m != http.MethodGet || r.Method != http.MethodHead) {
			w.Header().Set("Allow", m)
			writeJSON(w, http.StatusMethodNotAllowed, message("Method not allowed"))
			return
		}
		h(w, r)
	}
}

// kongVersion is the Kong release whose admin API and declarative format
// Turnpike answers for. decK and the ingress controller parse `version` of
// GET / as Kong's and gate features on it (decK refuses a 3.0 file below
// 3.0 and writes 1.1 files; see docs/admin-api.md "decK"), so GET / reports
// this and Turnpike's own version beside it.
const kongVersion = "3.10.0"

// root is Kong's `GET /`. `configuration.database` is "off" when writes
// are refused (no config store), as Kong DB-less, and "postgres" when a
// config store takes entity writes: the two values Kong's ingress
// controller accepts, which tools read to know whether the entity
// endpoints write. `configuration_hash` is /status's, so the two never
// disagree about an empty config.
func (a *api) root(w http.ResponseWriter, r *http.Request) {
	available := map[string]any{}
	if reg := a.src.Registry; reg != nil {
		for _, name := range reg.Names() {
			p, _ := reg.Lookup(name)
			available[name] = map[string]any{"priority": p.Priority, "version": a.src.Version}
		}
	}
	enabled := []string{}
	snap := a.snapshot()
	if snap != nil {
		seen := map[string]bool{}
		for _, pe := range snap.Model.Plugins {
			if !seen[pe.Plugin.Name] {
				seen[pe.Plugin.Name] = true
				enabled = append(enabled, pe.Plugin.Name)
			}
		}
		sort.Strings(enabled)
	}
	database := "off"
	if a.src.Commit != nil {
		database = "postgres"
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"tagline":            "Welcome to turnpike",
		"version":            kongVersion,
		"turnpike_version":   a.src.Version,
		"edition":            "community",
		"hostname":           a.hostname,
		"node_id":            a.src.NodeID,
		"configuration_hash": kongHash(snap),
		"plugins": map[string]any{
			"available_on_server": available,
			"enabled_in_cluster":  enabled,
		},
		"configuration": map[string]any{"database": database, "router_flavor": "traditional_compatible"},
	})
}

// status is Kong's DB-less `GET /status` (no `database`, a
// `configuration_hash`) plus what operators of a reloading gateway need:
// the last reload's outcome and dropped access-log lines.
func (a *api) status(w http.ResponseWriter, r *http.Request) {
	// One load: a reload between two would pair one config's hash with
	// another's summary.
	snap := a.snapshot()
	body := map[string]any{
		"server": map[string]any{
			"connections_active":   call(a.src.Active),
			"connections_accepted": call(a.src.Accepted),
			"total_requests":       call(a.src.Requests),
		},
		"uptime_seconds":     int64(time.Since(a.src.Started).Seconds()),
		"version":            a.src.Version,
		"node_id":            a.src.NodeID,
		"configuration_hash": kongHash(snap),
	}
	if a.src.LogDrops != nil {
		body["access_log_dropped"] = a.src.LogDrops()
	}
	if snap != nil {
		body["configuration"] = snap.Summary
	}
	if a.src.Cluster != nil {
		body["clustering"] = a.clusterStatus()
	}
	if a.src.Loader != nil {
		if last := a.src.Loader.Last(); last != nil && a.public {
			body["last_reload"] = map[string]any{"at": last.At, "trigger": last.Trigger, "ok": last.OK,
				"configuration_hash": last.Hash, "duration_ms": last.Millis}
		} else if last != nil {
			body["last_reload"] = last
		}
	}
	writeJSON(w, http.StatusOK, body)
}

func (a *api) ready(w http.ResponseWriter, r *http.Request) {
	switch {
	case a.src.Draining != nil && a.src.Draining():
		writeJSON(w, http.StatusServiceUnavailable, message("draining"))
	case a.snapshot() == nil:
		writeJSON(w, http.StatusServiceUnavailable, message("no configuration loaded"))
	case a.src.Pending != nil && a.src.Pending() != "":
		writeJSON(w, http.StatusServiceUnavailable, message(a.src.Pending()))
	default:
		writeJSON(w, http.StatusOK, message("ready"))
	}
}

// enabledPlugins is every plugin this binary can run (Kong lists the
// plugins its `plugins` setting loads; Turnpike loads all it has).
func (a *api) enabledPlugins(w http.ResponseWriter, r *http.Request) {
	names := []string{}
	if a.src.Registry != nil {
		names = a.src.Registry.Names()
	}
	writeJSON(w, http.StatusOK, map[string]any{"enabled_plugins": names})
}

func (a *api) snapshot() *snapshot.Snapshot {
	if a.src.Snapshot == nil {
		return nil
	}
	return a.src.Snapshot.Load()
}

func call[T any](f func() T) T {
	var zero T
	if f == nil {
		return zero
	}
	return f()
}

func message(msg string) map[string]any { return map[string]any{"message": msg} }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}
