package kube

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	netv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/record"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/importer"
)

// The Events' reasons are Kong's controller's, so that what users query
// for it (kubectl get events --field-selector reason=...) finds ours:
// ApplyFailed on an object whose part of the config the gateway refused
// (left out), TranslationFailed on one the importers could not map in
// full (warned).
const (
	reasonApplyFailed       = "KongConfigurationApplyFailed"
	reasonTranslationFailed = "KongConfigurationTranslationFailed"
)

const (
	// maxEventMessage bounds an Event's message (events.k8s.io's note
	// takes at most 1 KiB).
	maxEventMessage = 1024
	// maxNotesPerObject bounds the Events on one object per reconcile;
	// the rest are counted in one more. Ten in all: client-go's recorder
	// folds the 11th different message of an object and reason within
	// ten minutes into one "combined from similar events".
	maxNotesPerObject = 9
	// maxEventsPerReconcile bounds the Events one reconcile sends (the
	// recorder queues 1000 and drops beyond; client-go's default rate
	// limit writes 5 a second); what is left goes with the next
	// reconcile.
	maxEventsPerReconcile = 200
	// statusBudget bounds the time one reconcile spends writing Ingress
	// status (client-go's rate limit makes a thousand writes minutes);
	// the Ingresses left are written at the next reconcile, which each
	// written status brings about.
	statusBudget = 10 * time.Second
)

// reportInput is what one reconcile tells the cluster.
type reportInput struct {
	objects  *objects
	warnings importer.Warnings
	// invalid are the units left out, with why.
	invalid map[*unit]error
	// failed, when set, is why no config was applied.
	failed error
	// ingresses are the Ingresses in force, whose status shows the
	// gateway's address.
	ingresses []*netv1.Ingress
}

// reporter writes Events and Ingress status.
type reporter struct {
	dc  dynamic.Interface
	opt Options
	// fixed are the addresses of --publish-status-address, when given.
	fixed       []netv1.IngressLoadBalancerIngress
	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder
	// standing are the Events sent whose cause still stands, by object
	// (its name and UID: a new object of the same name is told again).
	standing map[string]map[note]bool
}

// note is one Event's reason and message.
type note struct{ reason, message string }

func newReporter(dc dynamic.Interface, opts Options) (*reporter, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	r := &reporter{dc: dc, opt: opts, standing: map[string]map[note]bool{}}
	for i, a := range opts.PublishAddresses {
		if _, err := netip.ParseAddr(a); err == nil {
			r.fixed = append(r.fixed, netv1.IngressLoadBalancerIngress{IP: a})
			continue
		}
		if errs := validation.IsDNS1123Subdomain(a); len(errs) > 0 {
			return nil, fmt.Errorf("--publish-status-address[%d] %q: neither an IP address nor a host name: %s", i, a, errs[0])
		}
		r.fixed = append(r.fixed, netv1.IngressLoadBalancerIngress{Hostname: a})
	}
	r.fixed = sortAddresses(r.fixed)
	return r, nil
}

func (r *reporter) update(ctx context.Context, in reportInput) {
	r.events(in)
	r.status(ctx, in)
}

func (r *reporter) close() {
	if r.broadcaster != nil {
		r.broadcaster.Shutdown()
	}
}

// problems are what one reconcile found, by object in the order found.
type problems struct {
	byKey map[string]*pending
	order []string
	// loose are the warnings that name no object of the cluster.
	loose []string
}

// pending are the notes of one object.
type pending struct {
	obj   runtime.Object
	name  string
	notes []note
	seen  map[note]bool
}

func (ps *problems) add(obj runtime.Object, reason, message string) {
	name := objectName(obj)
	key := name + " " + string(obj.(metav1.Object).GetUID())
	p := ps.byKey[key]
	if p == nil {
		p = &pending{obj: obj, name: name, seen: map[note]bool{}}
		ps.byKey[key] = p
		ps.order = append(ps.order, key)
	}
	n := note{reason, config.Shorten(message, maxEventMessage-len("…"))}
	if !p.seen[n] {
		p.seen[n] = true
		p.notes = append(p.notes, n)
	}
}

// collect finds each problem's object: the units left out, the importer
// warnings, the objects that could not be read, and the failure when it
// names one (the controller logs it either way).
func collect(in reportInput) *problems {
	ps := &problems{byKey: map[string]*pending{}}
	units := make([]*unit, 0, len(in.invalid))
	for u := range in.invalid {
		units = append(units, u)
	}
	slices.SortFunc(units, func(a, b *unit) int { return cmp.Compare(a.id(), b.id()) })
	for _, u := range units {
		ps.add(u.obj, reasonApplyFailed, "left out of the gateway's configuration: "+in.invalid[u].Error())
	}
	for _, w := range in.warnings {
		obj := in.objects.named(w.Object)
		if obj == nil {
			ps.loose = append(ps.loose, w.String())
			continue
		}
		msg := w.Message
		if w.Field != "" {
			msg = w.Field + ": " + msg
		}
		ps.add(obj, reasonTranslationFailed, msg)
	}
	for _, err := range in.objects.errs {
		if obj := in.objects.prefixed(err.Error()); obj != nil {
			ps.add(obj, reasonTranslationFailed, "left out: "+err.Error())
		}
	}
	if in.failed != nil {
		if obj := in.objects.prefixed(in.failed.Error()); obj != nil {
			ps.add(obj, reasonApplyFailed, "no configuration applied: "+in.failed.Error())
		}
	}
	return ps
}

// events sends an Event for each problem not told yet; problems without
// an object to put them on are logged, also once while they stand.
func (r *reporter) events(in reportInput) {
	ps := collect(in)
	next := map[string]map[note]bool{}
	budget, dropped := maxEventsPerReconcile, 0
	for _, key := range ps.order {
		p := ps.byKey[key]
		sent := r.standing[key]
		now := map[note]bool{}
		kept, extra := capNotes(p.notes)
		for _, n := range extra {
			ps.loose = append(ps.loose, p.name+": "+n.message)
		}
		for _, n := range kept {
			if sent[n] {
				now[n] = true
				continue
			}
			if budget == 0 {
				dropped++
				continue
			}
			budget--
			r.record(p.obj, n)
			now[n] = true
		}
		next[key] = now
	}
	if dropped > 0 {
		r.opt.Logger.Warn("kubernetes: more problems than Events one reconcile sends; the rest go with the next", "sent", maxEventsPerReconcile, "left", dropped)
	}
	r.logLoose(ps.loose, next)
	if in.failed != nil {
		// Nothing was applied: the units were not all checked, so what
		// was told before may well still stand.
		for key, notes := range r.standing {
			if next[key] == nil {
				next[key] = notes
				continue
			}
			for n := range notes {
				next[key][n] = true
			}
		}
	}
	r.standing = next
}

// logLoose logs the warnings that name no object of the cluster, and
// those past an object's Events, once while they stand.
func (r *reporter) logLoose(loose []string, next map[string]map[note]bool) {
	const key = "log"
	sent := r.standing[key]
	now := map[note]bool{}
	logged := 0
	for _, w := range loose {
		n := note{message: w}
		if !sent[n] && !now[n] {
			if logged == maxEventsPerReconcile {
				continue
			}
			logged++
			r.opt.Logger.Warn("kubernetes: import warning", "warning", w)
		}
		now[n] = true
	}
	if len(now) > 0 {
		next[key] = now
	}
}

// record sends an Event, starting the broadcaster on first use (a
// controller that never runs starts no goroutine).
func (r *reporter) record(obj runtime.Object, n note) {
	if r.recorder == nil {
		r.broadcaster = record.NewBroadcaster()
		r.broadcaster.StartRecordingToSink(eventSink{r.dc})
		// The objects carry their kind (informer), so the recorder's
		// scheme need know none.
		r.recorder = r.broadcaster.NewRecorder(runtime.NewScheme(), corev1.EventSource{Component: r.opt.Component, Host: r.opt.Host})
	}
	r.recorder.Event(obj, corev1.EventTypeWarning, n.reason, n.message)
}

// capNotes keeps the first maxNotesPerObject notes and counts the rest,
// which go to the log, in one more.
func capNotes(notes []note) (kept, extra []note) {
	if len(notes) <= maxNotesPerObject {
		return notes, nil
	}
	extra = notes[maxNotesPerObject:]
	more := note{extra[0].reason, "and " + strconv.Itoa(len(extra)) + " more problems (in the gateway's log)"}
	return append(notes[:maxNotesPerObject:maxNotesPerObject], more), extra
}

// objectName is "Kind ns/name".
func objectName(obj runtime.Object) string {
	m := obj.(metav1.Object)
	return obj.GetObjectKind().GroupVersionKind().Kind + " " + m.GetNamespace() + "/" + m.GetName()
}

// named finds the object a warning names: "Kind ns/name", "KongClusterPlugin
// name", either followed by " (where)", or a document's place "Kind
// ns/name:line" (the controller's documents are named after their
// objects).
func (o *objects) named(name string) runtime.Object {
	if obj := o.byID[name]; obj != nil {
		return obj
	}
	if before, _, ok := strings.Cut(name, " ("); ok {
		if obj := o.byID[before]; obj != nil {
			return obj
		}
	}
	if i := strings.LastIndexByte(name, ':'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			return o.byID[name[:i]]
		}
	}
	return nil
}

// prefixed finds the object an error message starts with ("Kind ns/name:
// ...", "Kind ns/name:1: ...").
func (o *objects) prefixed(msg string) runtime.Object {
	before, _, ok := strings.Cut(msg, ": ")
	if !ok {
		return nil
	}
	return o.named(before)
}

// status writes the gateway's address to the Ingresses in force whose
// status differs. Every replica computes the same sorted list, so once
// one has written it the others find it equal and write nothing.
func (r *reporter) status(ctx context.Context, in reportInput) {
	want := r.fixed
	if want == nil {
		want = serviceAddresses(in.objects.publish)
	}
	if len(want) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, statusBudget)
	defer cancel()
	for i, ing := range in.ingresses {
		if equalAddresses(ing.Status.LoadBalancer.Ingress, want) {
			continue
		}
		if ctx.Err() != nil {
			r.opt.Logger.Info("kubernetes: Ingress status not all written in time; the rest at the next reconcile", "left", len(in.ingresses)-i)
			return
		}
		cp := ing.DeepCopy()
		cp.Status.LoadBalancer.Ingress = slices.Clone(want)
		u, err := toUnstructured(cp, netv1.SchemeGroupVersion.WithKind(kindIngress))
		if err == nil {
			_, err = r.dc.Resource(ingressesGVR).Namespace(cp.Namespace).UpdateStatus(ctx, u, metav1.UpdateOptions{})
		}
		switch {
		case err == nil:
		case apierrors.IsConflict(err) || apierrors.IsNotFound(err):
			// Changed or gone since the cache saw it: the informer
			// brings the change, and with it the next reconcile.
			r.opt.Logger.Debug("kubernetes: Ingress status not written", "ingress", cp.Namespace+"/"+cp.Name, "error", err)
		default:
			r.opt.Logger.Warn("kubernetes: Ingress status not written", "ingress", cp.Namespace+"/"+cp.Name, "error", err)
		}
	}
}

// serviceAddresses are the --publish-service Service's addresses, as Kong's
// controller reads them: a LoadBalancer's ingress points (none while it is
// pending), another type's external IPs, else its cluster IPs.
func serviceAddresses(svc *corev1.Service) []netv1.IngressLoadBalancerIngress {
	if svc == nil {
		return nil
	}
	var out []netv1.IngressLoadBalancerIngress
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		for _, lb := range svc.Status.LoadBalancer.Ingress {
			if lb.IP != "" || lb.Hostname != "" {
				out = append(out, netv1.IngressLoadBalancerIngress{IP: lb.IP, Hostname: lb.Hostname})
			}
		}
		return sortAddresses(out)
	}
	ips := svc.Spec.ExternalIPs
	if len(ips) == 0 {
		ips = svc.Spec.ClusterIPs
		if len(ips) == 0 && svc.Spec.ClusterIP != "" {
			ips = []string{svc.Spec.ClusterIP}
		}
	}
	for _, ip := range ips {
		if ip != "" && ip != corev1.ClusterIPNone {
			out = append(out, netv1.IngressLoadBalancerIngress{IP: ip})
		}
	}
	return sortAddresses(out)
}

// sortAddresses orders addresses and drops repeats, so that every replica
// writes the same list.
func sortAddresses(as []netv1.IngressLoadBalancerIngress) []netv1.IngressLoadBalancerIngress {
	slices.SortFunc(as, func(a, b netv1.IngressLoadBalancerIngress) int {
		return cmp.Or(cmp.Compare(a.IP, b.IP), cmp.Compare(a.Hostname, b.Hostname))
	})
	return slices.CompactFunc(as, func(a, b netv1.IngressLoadBalancerIngress) bool {
		return a.IP == b.IP && a.Hostname == b.Hostname
	})
}

func equalAddresses(have, want []netv1.IngressLoadBalancerIngress) bool {
	return slices.EqualFunc(have, want, func(a, b netv1.IngressLoadBalancerIngress) bool {
		return a.IP == b.IP && a.Hostname == b.Hostname && len(a.Ports) == 0
	})
}
