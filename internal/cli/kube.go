package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/turnpikegw/turnpike/internal/kube"
	"github.com/turnpikegw/turnpike/internal/reload"
)

// kubeOptions are the controller mode's flags.
type kubeOptions struct {
	enabled          bool
	kubeconfig       string
	ingressClass     string
	namespaces       []string
	clusterDomain    string
	istio            bool
	publishService   string
	publishAddresses []string
	debounce         time.Duration
	// clients, when set, gives the client instead of the kubeconfig or
	// the pod's service account (tests: client-go's fake dynamic client).
	clients func() (kube.Client, error)
}

// emptyConfig is what a controller-mode gateway starts on, not ready,
// until the cluster's config is built.
const emptyConfig = "_format_version: \"3.0\"\n"

func (k *kubeOptions) addFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&k.enabled, "kubernetes", false, "controller mode: follow the cluster's Ingresses of --ingress-class (and KongPlugin, KongClusterPlugin, KongConsumer; Istio objects with --istio) instead of a config file; in a pod, the service account's credentials are used")
	fs.StringVar(&k.kubeconfig, "kubeconfig", "", "with --kubernetes outside a cluster: the kubeconfig file to reach the API server with")
	fs.StringVar(&k.ingressClass, "ingress-class", "turnpike", "with --kubernetes: the Ingress class served (Ingresses without a class too when this IngressClass is the cluster's default)")
	fs.StringSliceVar(&k.namespaces, "watch-namespace", nil, "with --kubernetes: comma-separated namespaces to watch (default: all)")
	fs.StringVar(&k.clusterDomain, "cluster-domain", "cluster.local", "with --kubernetes: the cluster's DNS domain (hosts NAME.NAMESPACE.svc.<domain> are the cluster's Services)")
	fs.BoolVar(&k.istio, "istio", false, "with --kubernetes: also serve Istio Gateways and the VirtualServices and DestinationRules bound to them")
	fs.StringVar(&k.publishService, "publish-service", "", "with --kubernetes: NAMESPACE/NAME of the gateway's own Service, whose load balancer address is written to the Ingresses' status")
	fs.StringSliceVar(&k.publishAddresses, "publish-status-address", nil, "with --kubernetes: comma-separated IPs or host names written to the Ingresses' status instead of --publish-service's")
	fs.DurationVar(&k.debounce, "kubernetes-debounce", kube.DefaultDebounce, "with --kubernetes: build a new config once the cluster's objects have not changed for this long (a burst waits at most ten times this)")
}

// startKube starts controller mode on the running gateway: the config
// comes from the cluster from now on, and readiness waits for it.
func (g *gateway) startKube(k *kubeOptions) error {
	clientGoLog.Store(g.logger.With("source", "client-go"))
	clientGoLogOnce.Do(func() { klog.SetSlogLogger(slog.New(swapHandler{})) })
	newClients := k.clients
	if newClients == nil {
		newClients = k.restClients
	}
	client, err := newClients()
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	ctl, err := kube.New(client, kubeApplier{g.loader}, kube.Options{
		IngressClass:     k.ingressClass,
		Namespaces:       k.namespaces,
		ClusterDomain:    k.clusterDomain,
		Istio:            k.istio,
		PublishService:   k.publishService,
		PublishAddresses: k.publishAddresses,
		Debounce:         k.debounce,
		Component:        "turnpike",
		Host:             host,
		Logger:           g.logger,
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	g.kube = ctl
	g.stopKube = cancel
	g.kubeDone = make(chan struct{})
	go func() {
		defer close(g.kubeDone)
		// Run ends with an error only when stopped before every watched
		// kind could be listed (RBAC refusing one, say): worth a line, not
		// an error of the shutdown.
		if err := ctl.Run(ctx); err != nil {
			g.logger.Warn("kubernetes: stopped before the cluster's objects were all listed", "error", err)
		}
	}()
	return nil
}

// clientGoLog is the log client-go writes to (through klog, a setting of
// the process): the log of the gateway started last. klog is pointed at it
// once, so that a second gateway in the process (the tests) does not
// write klog's settings while the first one's informers read them.
var (
	clientGoLog     atomic.Pointer[slog.Logger]
	clientGoLogOnce sync.Once
)

// swapHandler sends each record to clientGoLog's handler as it is then,
// with the attributes and groups added on the way.
type swapHandler struct {
	with func(slog.Handler) slog.Handler
}

func (h swapHandler) target() slog.Handler { return h.apply(clientGoLog.Load().Handler()) }

func (h swapHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.target().Enabled(ctx, l)
}

func (h swapHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.target().Handle(ctx, r)
}

func (h swapHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return swapHandler{with: func(t slog.Handler) slog.Handler { return h.apply(t).WithAttrs(as) }}
}

func (h swapHandler) WithGroup(name string) slog.Handler {
	return swapHandler{with: func(t slog.Handler) slog.Handler { return h.apply(t).WithGroup(name) }}
}

func (h swapHandler) apply(t slog.Handler) slog.Handler {
	if h.with != nil {
		return h.with(t)
	}
	return t
}

// kubePending is the readiness reason while the first config from the
// cluster is not in force.
func (g *gateway) kubePending() string {
	if g.kube == nil {
		return ""
	}
	select {
	case <-g.kube.Ready():
		return ""
	default:
		return "waiting for the first configuration from Kubernetes"
	}
}

func (k *kubeOptions) restClients() (kube.Client, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", k.kubeconfig)
	if err != nil {
		if k.kubeconfig == "" {
			return kube.Client{}, fmt.Errorf("--kubernetes: not in a pod (%v): give --kubeconfig", err)
		}
		return kube.Client{}, fmt.Errorf("--kubeconfig: %v", err)
	}
	cfg.UserAgent = "turnpike/" + Version
	// client-go's default (5 requests a second, bursts of 10) is shared by
	// the informers' lists, Events and status writes: a thousand Ingresses'
	// status would take minutes.
	cfg.QPS, cfg.Burst = 50, 100
	client, err := kube.NewClient(cfg)
	if err != nil {
		return kube.Client{}, fmt.Errorf("--kubernetes: %v", err)
	}
	return client, nil
}

// check refuses controller-mode flags without --kubernetes, and a config
// file with it.
func (k *kubeOptions) check(fs *pflag.FlagSet, configPath string) error {
	if k.enabled {
		if configPath != "" {
			return errors.New("-c and --kubernetes: the config comes from the cluster in controller mode; give one or the other")
		}
		return nil
	}
	var set []string
	for _, name := range []string{"kubeconfig", "ingress-class", "watch-namespace", "cluster-domain", "istio", "publish-service", "publish-status-address", "kubernetes-debounce"} {
		if fs.Changed(name) {
			set = append(set, "--"+name)
		}
	}
	if len(set) > 0 {
		return fmt.Errorf("%s: only with --kubernetes", strings.Join(set, ", "))
	}
	return nil
}

// kubeApplier is the reload path as the controller uses it.
type kubeApplier struct{ l *reload.Loader }

func (a kubeApplier) Apply(data []byte) error {
	_, err := a.l.Apply(data, "kubernetes")
	return err
}

// Validate checks data as POST /config?check=true does. A check waits its
// turn behind loads in progress (an admin POST /config), for up to a
// minute, and no longer than ctx (the gateway stopping).
func (a kubeApplier) Validate(ctx context.Context, data []byte) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_, err := a.l.CheckContext(ctx, func() ([]byte, error) { return data, nil })
	return err
}
