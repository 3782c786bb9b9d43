package cli

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/turnpikegw/turnpike/internal/admin"
	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/configstore"
	"github.com/turnpikegw/turnpike/internal/kube"
	"github.com/turnpikegw/turnpike/internal/observe"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/all"
	"github.com/turnpikegw/turnpike/internal/proxy"
	"github.com/turnpikegw/turnpike/internal/record"
	"github.com/turnpikegw/turnpike/internal/reload"
	"github.com/turnpikegw/turnpike/internal/resolver"
	"github.com/turnpikegw/turnpike/internal/server"
	"github.com/turnpikegw/turnpike/internal/snapshot"
	"github.com/turnpikegw/turnpike/internal/store"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// runOptions are the `run` flags.
type runOptions struct {
	configPath        string
	proxyListen       string
	adminListen       string
	statusListen      string
	adminToken        string
	adminHosts        string
	accessLog         string
	logLevel          string
	trustedIPs        string
	requestIDHeader   string
	realIPHeader      string
	realIPRecursive   bool
	limits            server.Limits
	http1Server       string
	clientBodyTimeout time.Duration
	clientMaxBody     int64
	keepalive         int
	keepaliveTimeout  time.Duration
	shutdownTimeout   time.Duration
	watch             bool
	watchSettle       time.Duration
	retryBackoffBase  time.Duration
	retryBackoffCap   time.Duration
	retryBudget       int
	retryStatuses     []int
	retryBufferBytes  int64
	requestTimeout    time.Duration
	upMaxHeaderBytes  int
	healthCoolDown    time.Duration
	encodedSlashes    bool
	dotSegmentParams  bool
	drainDelay        time.Duration
	dns               dnsOptions
	loadLimits        reload.Limits
	tls               tlsOptions
	adminAuth         adminAuthOptions
	kube              kubeOptions
	cluster           clusterOptions
	configStore       string
	// tlsByDefault: --proxy-listen was not given, so a config with
	// certificates also gets the default TLS listener.
	tlsByDefault bool
}

// dnsOptions are the --dns-* flags (Kong's dns_* settings).
type dnsOptions struct {
	resolver    string
	hostsFile   string
	order       string
	validTTL    time.Duration
	staleTTL    time.Duration
	notFoundTTL time.Duration
	errorTTL    time.Duration
	timeout     time.Duration
}

const defaultProxyListen = "0.0.0.0:8000"

func (o *runOptions) addFlags(fs *pflag.FlagSet, proxyDefault string) {
	fs.StringVar(&o.proxyListen, "proxy-listen", proxyDefault,
		"comma-separated proxy listen addresses, Kong style (`0.0.0.0:8000, 0.0.0.0:8443 ssl`; flags ssl, http2, and http3 with ssl: HTTP/3 over QUIC on the same UDP port); the TLS one is added by default when the config has certificates")
	fs.StringVar(&o.adminListen, "admin-listen", "127.0.0.1:8001", "admin API listen address (`off` to disable)")
	fs.StringVar(&o.statusListen, "status-listen", "off", "status listen `addresses`, Kong style (127.0.0.1:8007): GET /metrics, /status and /status/ready only, without the admin token or Host check, for scraping from outside; shows no configuration (off: none)")
	fs.StringVar(&o.adminToken, "admin-token", "", "require this token on the admin API (Authorization: Bearer <token> or Kong-Admin-Token), except /status/ready; prefer TURNPIKE_ADMIN_TOKEN, which ps does not show")
	fs.StringVar(&o.adminHosts, "admin-allowed-hosts", "", "comma-separated host names or addresses the admin API answers for besides localhost, 127/8, ::1, its listen address and the address a client reached; requests naming others get 421 (DNS rebinding)")
	fs.StringVar(&o.accessLog, "access-log", "stdout", "access log destination: stdout, stderr, a file path, or off")
	fs.StringVar(&o.logLevel, "log-level", "info", "error log level: debug, info, warn, error")
	fs.StringVar(&o.trustedIPs, "trusted-ips", "", "comma-separated IPs/CIDRs whose X-Forwarded-* and X-Real-IP headers are trusted (Kong's trusted_ips)")
	fs.StringVar(&o.realIPHeader, "real-ip-header", "X-Real-IP", "header a trusted peer (--trusted-ips) names the client in, e.g. X-Forwarded-For; rate limiting by ip, hashing by ip and the access log use it (Kong's real_ip_header)")
	fs.BoolVar(&o.realIPRecursive, "real-ip-recursive", false, "take the last address in --real-ip-header that is not itself in --trusted-ips, instead of the last one (Kong's real_ip_recursive)")
	fs.StringVar(&o.requestIDHeader, "request-id-header", "X-Request-Id", "header carrying the request id upstream and downstream")
	fs.DurationVar(&o.limits.ReadHeaderTimeout, "header-timeout", server.DefaultLimits.ReadHeaderTimeout, "time allowed to read a request's headers")
	fs.DurationVar(&o.limits.IdleTimeout, "idle-timeout", server.DefaultLimits.IdleTimeout, "keep-alive idle timeout for client connections")
	fs.IntVar(&o.limits.MaxHeaderBytes, "max-header-bytes", server.DefaultLimits.MaxHeaderBytes, "largest request header block; larger gets 431")
	fs.StringVar(&o.http1Server, "http1-server", "own", "the proxy's HTTP/1.x server: own (the gateway's own, parsed in place with no per-request allocation) or net (Go's net/http); HTTP/2 and the admin API always use net/http")
	fs.IntVar(&o.limits.MaxConcurrentStreams, "http2-max-streams", server.DefaultLimits.MaxConcurrentStreams, "HTTP/2 and HTTP/3 concurrent streams per client connection")
	fs.IntVar(&o.limits.MaxResets, "http2-max-resets", server.DefaultLimits.MaxResets, "close an HTTP/2 connection with GOAWAY ENHANCE_YOUR_CALM when its client resets streams before they were answered, or makes the server reset streams still being handled, more than this many times within a window of twice as many streams (rapid reset, MadeYouReset); 0: no limit")
	fs.DurationVar(&o.clientBodyTimeout, "client-body-timeout", 60*time.Second, "longest wait between two reads of a request body (0: none)")
	fs.Int64Var(&o.clientMaxBody, "client-max-body-size", 0, "largest request body in bytes; larger gets 413 (0: no limit, Kong's default)")
	fs.IntVar(&o.keepalive, "upstream-keepalive", upstream.DefaultPoolOptions.MaxIdle, "idle keep-alive connections kept per upstream target")
	fs.DurationVar(&o.keepaliveTimeout, "upstream-keepalive-timeout", upstream.DefaultPoolOptions.IdleTimeout, "close upstream connections idle this long")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGTERM, how long in-flight requests may take to finish")
	fs.BoolVar(&o.encodedSlashes, "allow-encoded-slashes", false, "let %2F, %5C and \\ through in request paths (refused with 400 by default: an upstream that decodes them would see another path than the one routes and plugins checked)")
	fs.BoolVar(&o.dotSegmentParams, "allow-dot-segment-params", false, "let ..; and .; path segments, and ;params on an empty segment before another (also spelt with %2E or %3B), through (refused with 400 by default: Tomcat and Spring resolve /public/..;/admin and /;/admin to /admin, past the route that was checked)")
	fs.DurationVar(&o.drainDelay, "drain-delay", 0, "on SIGTERM, keep serving this long after /status/ready turns 503, so load balancers stop sending before the listeners close")
	fs.BoolVar(&o.watch, "watch", true, "reload when the config file changes (SIGHUP and POST /config always work)")
	fs.DurationVar(&o.watchSettle, "watch-settle", reload.DefaultWatchSettle, "apply a changed config file only once it has stayed the same this long, so a file still being written is not applied (0: as soon as events stop; safe only when the file is replaced by rename)")
	fs.DurationVar(&o.retryBackoffBase, "upstream-retry-backoff-base", proxy.DefaultRetryBackoffBase, "full-jitter backoff before retry n: random in [0, min(cap, base*2^n)] (negative: no backoff)")
	fs.DurationVar(&o.retryBackoffCap, "upstream-retry-backoff-cap", proxy.DefaultRetryBackoffCap, "longest backoff between two upstream attempts")
	fs.IntVar(&o.retryBudget, "upstream-retry-budget", proxy.DefaultRetryBudget, "retries of requests that reached an upstream may add at most this percent of a service's requests (plus a reserve of 10); negative: no budget")
	fs.IntSliceVar(&o.retryStatuses, "upstream-retry-statuses", proxy.DefaultRetryOnStatuses, "upstream statuses on which idempotent requests are retried on another target (0: none)")
	fs.Int64Var(&o.retryBufferBytes, "upstream-retry-buffer-size", proxy.DefaultRetryBufferBytes, "largest request body buffered so an idempotent request can be retried; larger ones stream and are not retried (negative: never buffer)")
	fs.DurationVar(&o.healthCoolDown, "health-cooldown", upstream.DefaultHealthCoolDown, "return a target marked unhealthy by passive checks to service after this long when no active check can (0: never, as Kong)")
	fs.DurationVar(&o.requestTimeout, "upstream-request-timeout", 0, "overall deadline from the first upstream attempt to the response head, across retries; 504 on expiry (0: none)")
	fs.IntVar(&o.upMaxHeaderBytes, "upstream-max-header-bytes", proxy.DefaultMaxResponseHeaderBytes, "largest upstream response header block (interim 1xx heads included); larger is a 502, not retried")
	fs.Int64Var(&o.loadLimits.MaxSize, "config-max-size", reload.DefaultLimits.MaxSize, "largest configuration in bytes, from the file or POST /config (larger gets 413); 0: no limit")
	fs.DurationVar(&o.loadLimits.Timeout, "config-load-timeout", reload.DefaultLimits.Timeout, "abandon a configuration load (parse, validate, compile) that takes longer; the configuration in force stays (0: no limit)")
	fs.Uint64Var(&o.loadLimits.Memory, "config-load-memory", reload.DefaultLimits.Memory, "abandon a configuration load once the heap has grown by more than this many bytes since it began, and refuse before parsing a document of more values than one per 700 bytes of it (the parser cannot be stopped); the configuration in force stays (0: neither)")
	o.tls.addFlags(fs)
	o.adminAuth.addFlags(fs)
	fs.StringVar(&o.dns.resolver, "dns-resolver", "", "comma-separated nameservers, ip or ip:port, for target and service host names (default: those of /etc/resolv.conf)")
	fs.StringVar(&o.dns.hostsFile, "dns-hostsfile", resolver.DefaultHostsFile, "hosts file read once at start; its names resolve without DNS and never expire (empty: none)")
	fs.StringVar(&o.dns.order, "dns-order", resolver.DefaultOrder, "record types tried in turn, first answer wins: LAST (the type that answered last time), SRV, A, AAAA, CNAME")
	fs.DurationVar(&o.dns.validTTL, "dns-valid-ttl", 0, "use this TTL for every DNS answer instead of the answer's own (0: the answer's; at least 1s either way)")
	fs.DurationVar(&o.dns.staleTTL, "dns-stale-ttl", resolver.DefaultStaleTTL, "keep using a DNS answer this long past its TTL while refreshing it fails")
	fs.DurationVar(&o.dns.notFoundTTL, "dns-not-found-ttl", resolver.DefaultNotFoundTTL, "ask again this long after a name error or an empty answer")
	fs.DurationVar(&o.dns.errorTTL, "dns-error-ttl", resolver.DefaultErrorTTL, "ask again this long after a failed lookup (timeout, server failure)")
	fs.DurationVar(&o.dns.timeout, "dns-timeout", resolver.DefaultTimeout, "longest lookup of one name (all record types and nameservers); at start-up a name still unanswered has no addresses until it resolves")
}

func newRunCmd() *cobra.Command {
	o := &runOptions{}
	var expandEnv bool
	cmd := &cobra.Command{
		Use:   "run -c kong.yml",
		Short: "Run the gateway on a Kong declarative config (YAML or JSON)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := bindEnv(cmd.Flags()); err != nil {
				return err
			}
			if err := o.kube.check(cmd.Flags(), o.configPath); err != nil {
				return err
			}
			data, path, err := o.startSource(cmd.Flags())
			if err != nil {
				return err
			}
			o.tlsByDefault = !cmd.Flags().Changed("proxy-listen")
			// Signals are caught before the gateway announces itself, so a
			// SIGHUP sent right after start-up reloads rather than kills.
			sigs := notifySignals()
			defer signal.Stop(sigs)
			g, err := startGateway(o, data, config.Options{ExpandEnv: expandEnv}, path, cmd.OutOrStdout(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			return g.runUntilSignal(sigs)
		},
	}
	cmd.Flags().StringVarP(&o.configPath, "config", "c", "", "Kong declarative config file (YAML or JSON)")
	cmd.Flags().BoolVar(&expandEnv, "expand-env", false, expandEnvUsage)
	o.addFlags(cmd.Flags(), defaultProxyListen)
	// Not demo's: it runs its embedded configuration, which no store holds.
	o.addStoreFlags(cmd.Flags())
	o.cluster.addFlags(cmd.Flags())
	o.kube.addFlags(cmd.Flags())
	return cmd
}

// configError prints every config problem, one per line with its field
// path, and ends with exit code 1.
func configError(path string, err error) error {
	var errs config.Errors
	if errors.As(err, &errs) {
		return exitError{code: 1, msg: fmt.Sprintf("%s: invalid configuration (%d errors):\n%s", path, errs.Total(), errs.Error())}
	}
	return exitError{code: 1, msg: fmt.Sprintf("%s: %v", path, err)}
}

// gateway is a running Turnpike: proxy and admin servers over one snapshot.
type gateway struct {
	opts      *runOptions
	logger    *slog.Logger
	holder    *snapshot.Holder
	pools     *upstream.Pools
	resolver  *resolver.Resolver
	health    *upstream.HealthCheckers
	handler   *proxy.Handler
	proxy     *server.Server
	admin     *server.Server
	status    *server.Server
	accessLog *observe.AccessLog
	// lines is where log plugins' lines go (plugin.Env.AccessLog): the
	// access log, or with --access-log off one of its own on standard
	// output, since a plugin's lines were asked for in the configuration.
	lines     *observe.AccessLog
	logFile   io.Closer
	loader    *reload.Loader
	cluster   *clusterNode
	store     configstore.Store
	stopWatch context.CancelFunc
	draining  atomic.Bool
	// Controller mode: the controller, and how to stop it and wait.
	kube     *kube.Controller
	stopKube context.CancelFunc
	kubeDone chan struct{}
}

// startGateway compiles source and starts serving it. path is the file it
// came from ("" for the demo's embedded config), which reloads re-read.
func startGateway(o *runOptions, source []byte, opts config.Options, path string, stdout, stderr io.Writer) (*gateway, error) {
	logger, err := newLogger(o.logLevel, stderr)
	if err != nil {
		return nil, err
	}
	trusted, err := parseTrusted(o.trustedIPs)
	if err != nil {
		return nil, err
	}
	if o.upMaxHeaderBytes <= 0 {
		return nil, errors.New("--upstream-max-header-bytes: must be positive")
	}
	proxyListens, err := server.ParseListens(o.proxyListen)
	if err != nil {
		return nil, fmt.Errorf("--proxy-listen: %v", err)
	}
	adminListens, err := server.ParseListens(o.adminListen)
	if err != nil {
		return nil, fmt.Errorf("--admin-listen: %v", err)
	}
	statusListens, err := server.ParseListens(o.statusListen)
	if err != nil {
		return nil, fmt.Errorf("--status-listen: %v", err)
	}
	adminHosts, err := admin.ParseAllowedHosts(o.adminHosts)
	if err != nil {
		return nil, fmt.Errorf("--admin-allowed-hosts: %v", err)
	}
	policy, adminCert, err := o.tls.prepare(adminListens, logger)
	if err != nil {
		return nil, err
	}
	adminAuth, err := o.adminAuth.prepare(o.adminToken, adminListens, logger)
	if err != nil {
		return nil, err
	}
	// The cluster node (opened before, with its Redis client) is the
	// gateway's from here, so a start that fails closes it.
	g := &gateway{opts: o, logger: logger, holder: &snapshot.Holder{}, cluster: o.cluster.node}
	switch o.accessLog {
	case "off", "":
	case "stdout":
		g.accessLog = observe.NewAccessLog(stdout, 8192)
	case "stderr":
		g.accessLog = observe.NewAccessLog(stderr, 8192)
	default:
		f, err := os.OpenFile(o.accessLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("--access-log: %v", err)
		}
		g.logFile = f
		g.accessLog = observe.NewAccessLog(f, 8192)
	}
	g.lines = g.accessLog
	if g.lines == nil {
		g.lines = observe.NewAccessLog(stdout, 8192)
	}
	g.pools = upstream.NewPools(upstream.PoolOptions{MaxIdle: o.keepalive, IdleTimeout: o.keepaliveTimeout})
	reg, err := plugin.NewRegistry(all.Registrations())
	if err != nil {
		return nil, err
	}
	states := upstream.NewStates()
	metrics := observe.NewMetrics()
	healthResults := upstream.NewHealthResults()
	g.health = upstream.NewHealthCheckers(upstream.HealthOptions{CoolDown: o.healthCoolDown, Logger: logger, Results: healthResults})
	metrics.Registry.MustRegister(healthResults, g.health)
	g.resolver, err = resolver.New(resolver.Options{
		Nameservers: splitList(o.dns.resolver),
		HostsFile:   o.dns.hostsFile,
		Order:       splitList(o.dns.order),
		ValidTTL:    o.dns.validTTL,
		StaleTTL:    o.dns.staleTTL,
		NotFoundTTL: o.dns.notFoundTTL,
		ErrorTTL:    o.dns.errorTTL,
		Timeout:     o.dns.timeout,
		Logger:      logger,
	})
	if err != nil {
		g.close()
		return nil, fmt.Errorf("--dns-*: %v", err)
	}
	ups := upstream.NewRuntime(upstream.RuntimeParts{Pools: g.pools, States: states, Health: g.health, Resolver: g.resolver})
	// The handler is made before the plugins' environment: plugins reach
	// http services through its client (snapshot.Upstreams). The access
	// log is its first observer: its line is formatted before the
	// metrics' work, as it was before there were metrics.
	var observers []record.Observer
	if g.accessLog != nil {
		observers = append(observers, g.accessLog)
	}
	observers = append(observers, metrics.Requests)
	g.handler = proxy.NewHandler(g.holder, proxy.Options{
		Metrics:             metrics,
		AllowEncodedSlashes: o.encodedSlashes,
		AllowDotParams:      o.dotSegmentParams,
		Logger:              logger,
		Observers:           observers,
		TrustedIPs:          trusted,
		RequestIDHeader:     o.requestIDHeader,
		RealIPHeader:        o.realIPHeader,
		RealIPRecursive:     o.realIPRecursive,
		MaxBodySize:         o.clientMaxBody,
		ClientBodyTimeout:   o.clientBodyTimeout,
		Version:             Version,
		RetryBackoffBase:    o.retryBackoffBase,
		RetryBackoffCap:     o.retryBackoffCap,
		RetryBudget:         o.retryBudget,
		RetryOnStatuses:     o.retryStatuses,
		RetryBufferBytes:    o.retryBufferBytes,
		RequestTimeout:      o.requestTimeout,

		MaxResponseHeaderBytes: o.upMaxHeaderBytes,
	})
	nodeID := make([]byte, 16)
	rand.Read(nodeID)
	stores := store.NewProvider()
	deps := snapshot.Deps{Registry: reg, Upstreams: ups,
		Env: plugin.Env{Logger: logger, Metrics: metrics.Registry, Store: stores, HTTPClient: outboundClient(), AccessLog: g.lines, Upstreams: snapshot.Upstreams{Holder: g.holder, HTTP: g.handler},
			Node: &node{id: hex.EncodeToString(nodeID), g: g, store: stores}}}
	deps.MaxResponseHeaderBytes = o.upMaxHeaderBytes
	// go-redis reports dial failures through a package-level logger that
	// writes plain text; route it into the gateway's structured log.
	redis.SetLogger(redisLog{logger})
	g.loader = reload.New(g.holder, deps, path, opts, logger)
	g.loader.SetLimits(o.loadLimits)
	g.loader.RegisterMetrics(metrics.Registry)
	// New DNS answers reach the balancers by compiling the configuration
	// in force again.
	g.resolver.OnChange(func() { g.loader.Refresh("dns") })
	snap, err := g.loader.ApplyStored(source, "startup", o.cluster.node.startOrigin())
	if err != nil && o.cluster.node != nil {
		snap, err = o.cluster.node.startFailed(g.loader, err)
	}
	if err != nil {
		g.close()
		return nil, configError(o.configPath, err)
	}
	// Known only now: the start-up load is the one parse of the file, under
	// the load limits.
	if o.tlsByDefault && len(snap.Model.Certificates) > 0 {
		tlsListen, _ := server.ParseListens("0.0.0.0:8443 ssl")
		proxyListens = append(proxyListens, tlsListen...)
	}
	getCert := func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if s := g.holder.Load(); s != nil && s.Certs != nil {
			return s.Certs.GetCertificate(hello)
		}
		return nil, errors.New("no certificate configured")
	}
	for _, l := range proxyListens {
		// In controller mode the certificates come with the cluster's
		// config (Ingress TLS Secrets), after the listeners open.
		if l.TLS && snap.Certs == nil && !o.kube.enabled && o.cluster.node == nil {
			g.close()
			return nil, fmt.Errorf("--proxy-listen %s ssl: the config has no certificates", l.Addr)
		}
	}
	// Client certificates are asked for on the server names mtls-auth
	// needs them on, as the snapshot in force says.
	clientCert := func(serverName string) (bool, *x509.CertPool) {
		if s := g.holder.Load(); s != nil {
			return s.ClientCerts.Request(serverName)
		}
		return false, nil
	}
	limits := o.limits
	switch o.http1Server {
	case "own":
		limits.OwnHTTP1 = true
	case "net":
	default:
		g.close()
		return nil, fmt.Errorf("--http1-server: %q is neither own nor net", o.http1Server)
	}
	g.proxy, err = server.New("proxy", proxyListens, g.handler.Listener, limits,
		server.TLS{Certificate: getCert, ClientCert: clientCert, Policy: policy}, logger)
	if err != nil {
		g.close()
		return nil, err
	}
	g.registerGatewayMetrics(metrics)
	adminSrc := admin.Source{
		Version:  Version,
		NodeID:   hex.EncodeToString(nodeID),
		Started:  time.Now(),
		Snapshot: g.holder,
		Requests: g.handler.Requests,
		Accepted: g.proxy.Stats.Accepted.Load,
		Active:   g.proxy.Stats.Active.Load,
		Draining: g.draining.Load,
		Pending:  g.kubePending,
		Loader:   g.loader,
		Registry: reg,
		Logger:   logger,
		Metrics:  metrics.Handler(),
		Listen:   listenAddrs(adminListens),
		Hosts:    adminHosts,
		LogDrops: g.logDrops,

		Credentials: adminAuth.creds,
		ClientCA:    adminAuth.clientCAs != nil,
	}
	if err := g.startStore(o, &adminSrc); err != nil {
		g.proxy.Shutdown(context.Background())
		g.close()
		return nil, err
	}
	adminHandler, err := admin.Handler(adminSrc)
	if err != nil {
		g.proxy.Shutdown(context.Background())
		g.close()
		return nil, err
	}
	g.admin, err = server.New("admin", adminListens, func(string, string) http.Handler { return adminHandler },
		server.DefaultLimits, server.TLS{Certificate: adminCert, Policy: policy, VerifyClients: adminAuth.clientCAs}, logger)
	if err == nil {
		err = g.startStatus(statusListens, adminSrc, metrics, server.TLS{Certificate: getCert, Policy: policy}, logger)
	}
	if err == nil && o.kube.enabled {
		err = g.startKube(&o.kube)
	}
	if err != nil {
		g.proxy.Shutdown(context.Background())
		if g.admin != nil {
			g.admin.Shutdown(context.Background())
		}
		if g.status != nil {
			g.status.Shutdown(context.Background())
		}
		g.close()
		return nil, err
	}
	if path != "" && o.watch {
		ctx, cancel := context.WithCancel(context.Background())
		g.stopWatch = cancel
		if err := g.loader.Watch(ctx, 200*time.Millisecond, o.watchSettle); err != nil {
			logger.Warn("not watching the config file; SIGHUP still reloads", "error", err)
		}
	}
	g.proxy.Serve()
	g.admin.Serve()
	status := ""
	if g.status != nil {
		g.status.Serve()
		status = addrList(g.status.Addrs())
	}
	logger.Info("turnpike started", "version", Version, "proxy", addrList(g.proxy.Addrs()),
		"admin", addrList(g.admin.Addrs()), "status", status, "config", snap.Summary)
	return g, nil
}

// notifySignals starts catching the signals runUntilSignal handles.
func notifySignals() chan os.Signal {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	return sigs
}

// runUntilSignal serves until SIGTERM or SIGINT, then drains: readiness
// turns 503, listeners stop accepting, in-flight requests get up to the
// shutdown timeout. A second signal exits at once. SIGHUP reloads the
// config file.
func (g *gateway) runUntilSignal(sigs chan os.Signal) error {
	var sig os.Signal
	for sig = range sigs {
		if sig != syscall.SIGHUP {
			break
		}
		if g.loader.Path() == "" {
			g.logger.Warn("SIGHUP ignored: the configuration does not come from a file")
			continue
		}
		// In the background, so that a SIGTERM is seen during a long load
		// (the loads queue on the loader, one at a time).
		go g.loader.LoadFile("sighup")
	}
	g.logger.Info("draining", "signal", sig.String(), "timeout", g.opts.shutdownTimeout.String())
	go func() {
		<-sigs
		g.logger.Warn("second signal: exiting now")
		os.Exit(1)
	}()
	return g.shutdown()
}

func (g *gateway) shutdown() error {
	g.draining.Store(true)
	// A configuration load in progress is of no use any more.
	g.loader.Stop()
	if g.opts.drainDelay > 0 {
		time.Sleep(g.opts.drainDelay)
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.opts.shutdownTimeout)
	defer cancel()
	err := g.proxy.Shutdown(ctx)
	g.admin.Shutdown(ctx)
	if g.status != nil {
		g.status.Shutdown(ctx)
	}
	g.closeContext(ctx)
	if err != nil {
		g.logger.Warn("shutdown timed out; remaining connections closed", "error", err)
	}
	g.logger.Info("stopped")
	return nil
}

func (g *gateway) close() { g.closeContext(context.Background()) }

// closeContext releases everything; ctx bounds the wait for a
// configuration load to end.
func (g *gateway) closeContext(ctx context.Context) {
	// A load in progress is of no use any more, and the cluster node and
	// the controller wait for theirs to end.
	if g.loader != nil {
		g.loader.Stop()
	}
	if g.stopWatch != nil {
		g.stopWatch()
	}
	if g.stopKube != nil {
		g.stopKube()
		// The controller ends its check in progress at the next unit; a
		// load it started ends with the loader's, below.
		select {
		case <-g.kubeDone:
		case <-ctx.Done():
			g.logger.Warn("kubernetes: the controller did not stop in time")
		}
	}
	if g.resolver != nil {
		g.resolver.Close()
	}
	if g.handler != nil {
		g.handler.Close()
	}
	if g.health != nil {
		g.health.Close()
	}
	if g.cluster != nil {
		g.cluster.close()
	}
	if g.loader != nil {
		g.loader.CloseContext(ctx)
	}
	if g.store != nil {
		g.store.Close()
	}
	if g.pools != nil {
		g.pools.Close()
	}
	if g.accessLog != nil {
		g.accessLog.Close()
	}
	if g.lines != nil && g.lines != g.accessLog {
		g.lines.Close()
	}
	if g.logFile != nil {
		g.logFile.Close()
	}
}
