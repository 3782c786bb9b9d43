package kube

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	netv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"
)

// Options are `turnpike run --kubernetes`'s settings.
type Options struct {
	// IngressClass is the class whose Ingresses the gateway serves
	// (spec.ingressClassName or the kubernetes.io/ingress.class
	// annotation); Ingresses without a class too when the IngressClass of
	// that name is marked as the cluster's default.
	IngressClass string
	// Namespaces are the namespaces watched; none: every namespace.
	Namespaces []string
	// ClusterDomain is the cluster's DNS domain after NAME.NAMESPACE.svc
	// ("cluster.local"), for Istio hosts written in full.
	ClusterDomain string
	// Istio turns on watching Istio's Gateways, VirtualServices and
	// DestinationRules (networking.istio.io).
	Istio bool
	// PublishService (namespace/name) is the Service whose load balancer
	// address the Ingresses' status shows; PublishAddresses, when set, are
	// shown instead.
	PublishService   string
	PublishAddresses []string
	// Debounce is how long the objects must stay unchanged before a new
	// config is built; a burst never delays one longer than 10 times this.
	Debounce time.Duration
	// Component names the gateway in the Events it writes (the pod name
	// is its host).
	Component string
	Host      string
	Logger    *slog.Logger
}

// DefaultDebounce is Options.Debounce's default.
const DefaultDebounce = 300 * time.Millisecond

// Applier is the reload path the built configs go through.
type Applier interface {
	// Apply validates, compiles and swaps in a config; on error the one
	// in force stays.
	Apply(data []byte) error
	// Validate validates and compiles a config without applying it; it
	// gives up waiting (for a load in progress) when ctx ends.
	Validate(ctx context.Context, data []byte) error
}

// Controller follows the cluster and keeps the gateway's config in step.
type Controller struct {
	opts   Options
	client Client
	apply  Applier
	log    *slog.Logger
	src    *sources
	// publish is --publish-service's Service (a zero name: none).
	publish svcKey
	report  *reporter
	// leftOut are the units left out at the last reconcile that applied,
	// by id.
	leftOut   map[string]verdict
	kick      chan struct{}
	ready     chan struct{}
	readyOnce sync.Once
	// good are the documents of the units in the config last applied,
	// by id: known to fit, they are not checked alone again.
	good map[string][sha256.Size]byte
	// last is the config last applied (or refused), so that changes that
	// leave it the same (an EndpointSlice's unrelated field, a resync) do
	// not reload.
	last []byte
}

// New makes a controller; Run starts it.
func New(client Client, apply Applier, opts Options) (*Controller, error) {
	if opts.IngressClass == "" {
		return nil, errors.New("--ingress-class: must not be empty")
	}
	publish, err := publishKey(opts.PublishService)
	if err != nil {
		return nil, err
	}
	if opts.ClusterDomain == "" {
		opts.ClusterDomain = "cluster.local"
	}
	if opts.Debounce <= 0 {
		opts.Debounce = DefaultDebounce
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Component == "" {
		opts.Component = "turnpike"
	}
	c := &Controller{opts: opts, client: client, apply: apply, log: opts.Logger, publish: publish,
		kick: make(chan struct{}, 1), ready: make(chan struct{})}
	if c.report, err = newReporter(client.Dynamic, opts); err != nil {
		return nil, err
	}
	return c, nil
}

// publishKey reads --publish-service (NAMESPACE/NAME); "" is none.
func publishKey(s string) (svcKey, error) {
	if s == "" {
		return svcKey{}, nil
	}
	ns, name, ok := strings.Cut(s, "/")
	if !ok || ns == "" || name == "" {
		return svcKey{}, fmt.Errorf("--publish-service %q: want NAMESPACE/NAME", s)
	}
	return svcKey{ns, name}, nil
}

// Ready is closed once a config built from the cluster is in force. A
// gateway whose cluster config does not apply (the shared objects are
// broken) stays unready, so that a rollout keeps the replicas that serve.
func (c *Controller) Ready() <-chan struct{} { return c.ready }

// After a reconcile that applied nothing (a load that timed out on a busy
// node, shared objects broken until someone fixes them) the same objects
// are tried again after retryFirst, doubling up to retryMax.
const (
	retryFirst = time.Second
	retryMax   = time.Minute
)

// Run watches until ctx ends. It returns an error only when ctx ends
// before the caches are filled.
func (c *Controller) Run(ctx context.Context) error {
	defer c.report.close()
	src, err := c.watch(ctx)
	if err != nil {
		return err
	}
	c.src = src
	c.log.Info("kubernetes: caches filled", "watching", src.describe())
	retry := time.NewTimer(0)
	retry.Stop()
	defer retry.Stop()
	var wait time.Duration
	for {
		if c.reconcileSafely(ctx) {
			c.readyOnce.Do(func() { close(c.ready) })
			wait = 0
			retry.Stop()
		} else {
			wait = min(max(2*wait, retryFirst), retryMax)
			retry.Reset(wait)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.kick:
		case <-retry.C:
		}
		if !c.settle(ctx) {
			return nil
		}
	}
}

// watch starts the informers and waits for their caches. Finding which
// custom resources the cluster serves is retried: an API server that is
// restarting as the gateway starts must not leave it unready for good.
func (c *Controller) watch(ctx context.Context) (*sources, error) {
	var wait time.Duration
	for {
		src, err := newSources(ctx, c.client, c.opts, c.publish, c.changed)
		if err == nil {
			src.start(ctx)
			if !cache.WaitForCacheSync(ctx.Done(), src.synced()...) {
				return nil, fmt.Errorf("kubernetes: the caches did not fill: %w", context.Cause(ctx))
			}
			return src, nil
		}
		wait = min(max(2*wait, retryFirst), retryMax)
		c.log.Error("kubernetes: cannot watch the cluster; trying again", "error", err, "in", wait.String())
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("kubernetes: %w (%w)", err, context.Cause(ctx))
		case <-time.After(wait):
		}
	}
}

// reconcileSafely is reconcile, a panic in it (an importer meeting an
// object no test foresaw) logged as a failure: the config in force stays
// and the loop goes on.
func (c *Controller) reconcileSafely(ctx context.Context) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("kubernetes: building the config from the cluster failed; the one in force stays",
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			ok = false
		}
	}()
	return c.reconcile(ctx)
}

// changed is every informer's event handler.
func (c *Controller) changed() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// settle waits until no change came for Debounce, or 10 Debounces
// passed, so a burst (a deployment rolling its pods) is one reload.
func (c *Controller) settle(ctx context.Context) bool {
	quiet := time.NewTimer(c.opts.Debounce)
	defer quiet.Stop()
	most := time.NewTimer(10 * c.opts.Debounce)
	defer most.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-c.kick:
			quiet.Reset(c.opts.Debounce)
		case <-quiet.C:
			return true
		case <-most.C:
			return true
		}
	}
}

// reconcile builds the config from the caches and applies it. Units (an
// Ingress, a VirtualService, a KongConsumer) whose part does not validate
// are left out and reported; the others apply. ok: a config built from
// these objects is in force.
func (c *Controller) reconcile(ctx context.Context) (ok bool) {
	objs := c.src.snapshot(c.opts)
	eps := newEndpoints(objs.services, objs.slices)
	sums := unitSums(objs)
	// Units left out before and unchanged since, over the same shared
	// objects, are left out again unchecked: a pod rolling does not check
	// every unit again while one invalid Ingress stands.
	invalid := map[*unit]error{}
	var units []*unit
	for _, u := range objs.units {
		if v, ok := c.leftOut[u.id()]; ok && v.holds(sums, u) {
			invalid[u] = v.err
		} else {
			units = append(units, u)
		}
	}
	res := build(objs, units, eps, c.opts)
	if res.err == nil {
		res.err = c.applyOnce(res.data)
	}
	kept, misfits := units, map[*unit]bool{}
	if res.err != nil {
		var found map[*unit]error
		var failed error
		res, kept, found, misfits, failed = c.leaveOut(ctx, objs, units, eps, sums)
		if failed != nil {
			c.report.update(ctx, reportInput{objects: objs, warnings: res.warnings, failed: failed})
			return false
		}
		maps.Copy(invalid, found)
	}
	// Verdicts are kept from a working reload path only.
	if res.err == nil {
		c.leftOut = make(map[string]verdict, len(invalid))
		for u, err := range invalid {
			c.leftOut[u.id()] = verdict{sum: sums.unit[u], whole: misfits[u], all: sums.all, err: err}
		}
		c.good = make(map[string][sha256.Size]byte, len(kept))
		for _, u := range kept {
			c.good[u.id()] = sums.doc[u]
		}
	}
	in := reportInput{objects: objs, warnings: res.warnings, invalid: invalid, failed: res.err}
	if res.err == nil {
		in.ingresses = servedIngresses(objs, invalid)
	}
	c.report.update(ctx, in)
	return res.err == nil
}

// applyOnce applies data unless it is what was applied last.
func (c *Controller) applyOnce(data []byte) error {
	if string(data) == string(c.last) {
		c.log.Debug("kubernetes: the config built is the one in force: not applied again")
		return nil
	}
	if err := c.apply.Apply(data); err != nil {
		return err
	}
	c.last = data
	return nil
}

// servedIngresses are the Ingresses in force: those of the class that
// were not left out.
func servedIngresses(objs *objects, invalid map[*unit]error) []*netv1.Ingress {
	var out []*netv1.Ingress
	for _, u := range objs.units {
		if in, ok := u.obj.(*netv1.Ingress); ok && invalid[u] == nil {
			out = append(out, in)
		}
	}
	return out
}

// The custom resources watched, when their API is served.
var (
	kongPlugins        = schema.GroupVersionResource{Group: "configuration.konghq.com", Version: "v1", Resource: "kongplugins"}
	kongClusterPlugins = schema.GroupVersionResource{Group: "configuration.konghq.com", Version: "v1", Resource: "kongclusterplugins"}
	kongConsumers      = schema.GroupVersionResource{Group: "configuration.konghq.com", Version: "v1", Resource: "kongconsumers"}
	istioGateways      = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "gateways"}
	istioServices      = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}
	istioRules         = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "destinationrules"}
)
