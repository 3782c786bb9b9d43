package deploy

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
)

// What controller mode reads and writes, as "group/resource verb". Keep
// these next to internal/kube: the informers of sources.go's newSources
// (kinds kindIngress ... kindRule, and kindPublish's Service) only list
// and watch; report.go writes Ingress status (UpdateStatus) and Events
// (client-go's recorder creates, then patches a repeated one).
var (
	// Cluster-scoped kinds: read cluster-wide whatever is watched.
	clusterAccess = []string{
		"networking.k8s.io/ingressclasses list", "networking.k8s.io/ingressclasses watch",
		"configuration.konghq.com/kongclusterplugins list", "configuration.konghq.com/kongclusterplugins watch",
	}
	// In every namespace watched.
	namespaceAccess = []string{
		"networking.k8s.io/ingresses list", "networking.k8s.io/ingresses watch",
		"networking.k8s.io/ingresses/status update",
		"/services list", "/services watch",
		"/secrets list", "/secrets watch",
		"discovery.k8s.io/endpointslices list", "discovery.k8s.io/endpointslices watch",
		"configuration.konghq.com/kongplugins list", "configuration.konghq.com/kongplugins watch",
		"configuration.konghq.com/kongconsumers list", "configuration.konghq.com/kongconsumers watch",
		"/events create", "/events patch", "events.k8s.io/events create", "events.k8s.io/events patch",
	}
	// With --istio, in every namespace watched.
	istioAccess = []string{
		"networking.istio.io/gateways list", "networking.istio.io/gateways watch",
		"networking.istio.io/virtualservices list", "networking.istio.io/virtualservices watch",
		"networking.istio.io/destinationrules list", "networking.istio.io/destinationrules watch",
	}
	// --publish-service, in the gateway's namespace.
	publishAccess = []string{"/services list", "/services watch"}
	// Events on cluster-scoped objects go to the default namespace.
	eventAccess = []string{"/events create", "/events patch", "events.k8s.io/events create", "events.k8s.io/events patch"}
)

// grants is what the service account may do, by namespace ("*": every
// namespace and the cluster-scoped kinds), as "group/resource verb".
func grants(t *testing.T, objs []k8sruntime.Object, ns, sa string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	add := func(where string, rules []rbacv1.PolicyRule) {
		for _, r := range rules {
			if len(r.ResourceNames) > 0 || len(r.NonResourceURLs) > 0 {
				t.Errorf("rule %+v: resource names or URLs the controller does not use", r)
			}
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					for _, v := range r.Verbs {
						out[where] = append(out[where], g+"/"+res+" "+v)
					}
				}
			}
		}
	}
	bound := func(subjects []rbacv1.Subject) bool {
		return len(subjects) == 1 && subjects[0].Kind == "ServiceAccount" && subjects[0].Name == sa && subjects[0].Namespace == ns
	}
	for _, b := range ofKind[*rbacv1.ClusterRoleBinding](objs) {
		if !bound(b.Subjects) {
			t.Errorf("ClusterRoleBinding %s binds %+v, want service account %s/%s", b.Name, b.Subjects, ns, sa)
		}
		for _, r := range ofKind[*rbacv1.ClusterRole](objs) {
			if b.RoleRef.Kind == "ClusterRole" && r.Name == b.RoleRef.Name {
				add("*", r.Rules)
			}
		}
	}
	for _, b := range ofKind[*rbacv1.RoleBinding](objs) {
		if !bound(b.Subjects) || b.RoleRef.Kind != "Role" {
			t.Errorf("RoleBinding %s/%s binds %+v to %+v, want service account %s/%s to a Role", b.Namespace, b.Name, b.Subjects, b.RoleRef, ns, sa)
		}
		for _, r := range ofKind[*rbacv1.Role](objs) {
			if r.Namespace == b.Namespace && r.Name == b.RoleRef.Name {
				add(b.Namespace, r.Rules)
			}
		}
	}
	for k, v := range out {
		sort.Strings(v)
		out[k] = slices.Compact(v)
	}
	return out
}

// wantGrants is exactly what the controller needs with these watched
// namespaces, for a gateway in namespace ns.
func wantGrants(ns string, watch []string, istio bool) map[string][]string {
	local := slices.Clone(namespaceAccess)
	if istio {
		local = append(local, istioAccess...)
	}
	want := map[string][]string{}
	if len(watch) == 0 {
		want["*"] = append(slices.Clone(clusterAccess), local...)
	} else {
		want["*"] = slices.Clone(clusterAccess)
		for _, w := range watch {
			want[w] = slices.Clone(local)
		}
		want[ns] = append(want[ns], publishAccess...)
		want["default"] = append(want["default"], eventAccess...)
	}
	for k, v := range want {
		sort.Strings(v)
		want[k] = slices.Compact(v)
	}
	return want
}

// checkControllerPod: controller mode reads no file and talks to the API
// server with the service account's token; --publish-service names the
// proxy Service.
func checkControllerPod(t *testing.T, spec corev1.PodSpec, c corev1.Container, changed map[string]bool, objs []k8sruntime.Object) {
	t.Helper()
	if changed["config"] {
		t.Error("--config beside --kubernetes: the binary refuses to start")
	}
	for _, v := range spec.Volumes {
		if v.ConfigMap != nil {
			t.Errorf("volume %s: a ConfigMap mounted in controller mode", v.Name)
		}
	}
	if p := spec.AutomountServiceAccountToken; p == nil || !*p {
		t.Error("controller mode without the service account token")
	}
	if spec.ServiceAccountName == "" || spec.ServiceAccountName == "default" {
		t.Errorf("service account %q: want the one the RBAC binds", spec.ServiceAccountName)
	}
	vals, _ := effectiveFlags(t, c)
	_, name, _ := strings.Cut(vals["publish-service"], "/")
	for _, s := range ofKind[*corev1.Service](objs) {
		if s.Name == name && s.Spec.Type == corev1.ServiceTypeLoadBalancer {
			return
		}
	}
	t.Errorf("--publish-service=%s names no LoadBalancer Service among the objects", vals["publish-service"])
}

func TestChartController(t *testing.T) {
	for _, tc := range []struct {
		name, values string
		watch        []string
		istio        bool
		class        string
		isDefault    bool
		objects      []string
	}{
		{
			name: "cluster-wide", values: "controller:\n  enabled: true\n", class: "turnpike",
			objects: []string{"*v1.ClusterRole/edge-turnpike", "*v1.ClusterRoleBinding/edge-turnpike", "*v1.Deployment/edge-turnpike",
				"*v1.IngressClass/turnpike", "*v1.PodDisruptionBudget/edge-turnpike", "*v1.Service/edge-turnpike",
				"*v1.Service/edge-turnpike-status", "*v1.ServiceAccount/edge-turnpike"},
		},
		{
			name: "namespaces, istio, default class",
			values: `controller:
  enabled: true
  watchNamespaces: [shop, default]
  istio: true
  publishStatusAddresses: [203.0.113.7, lb.example.com]
  ingressClass:
    name: edge
    isDefault: true
`,
			watch: []string{"shop", "default"}, istio: true, class: "edge", isDefault: true,
			objects: []string{"*v1.ClusterRole/edge-turnpike", "*v1.ClusterRoleBinding/edge-turnpike", "*v1.Deployment/edge-turnpike",
				"*v1.IngressClass/edge", "*v1.PodDisruptionBudget/edge-turnpike",
				"*v1.Role/edge-turnpike", "*v1.Role/edge-turnpike", "*v1.Role/edge-turnpike-publish",
				"*v1.RoleBinding/edge-turnpike", "*v1.RoleBinding/edge-turnpike", "*v1.RoleBinding/edge-turnpike-publish",
				"*v1.Service/edge-turnpike", "*v1.Service/edge-turnpike-status", "*v1.ServiceAccount/edge-turnpike"},
		},
		{
			name: "class made elsewhere", values: "controller:\n  enabled: true\n  ingressClass:\n    create: false\n  watchNamespaces: [gateways]\n",
			watch: []string{"gateways"}, class: "turnpike",
			objects: []string{"*v1.ClusterRole/edge-turnpike", "*v1.ClusterRoleBinding/edge-turnpike", "*v1.Deployment/edge-turnpike",
				"*v1.PodDisruptionBudget/edge-turnpike", "*v1.Role/edge-turnpike", "*v1.Role/edge-turnpike-events",
				"*v1.RoleBinding/edge-turnpike", "*v1.RoleBinding/edge-turnpike-events",
				"*v1.Service/edge-turnpike", "*v1.Service/edge-turnpike-status", "*v1.ServiceAccount/edge-turnpike"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := objects(t, tc.values)
			if got := kinds(objs); !slices.Equal(got, tc.objects) {
				t.Fatalf("objects:\n got %q\nwant %q", got, tc.objects)
			}
			gw := checkObjects(t, objs)
			c := gatewayContainer(gw.Spec.Template.Spec)
			vals, _ := effectiveFlags(t, *c)
			want := map[string]string{
				"kubernetes": "true", "ingress-class": tc.class, "publish-service": releaseNS + "/edge-turnpike",
				"watch-namespace": strings.Join(tc.watch, ","), "istio": fmt.Sprint(tc.istio),
			}
			// pflag's --help shows no default for false or an empty list.
			vals["istio"] = cmp.Or(vals["istio"], "false")
			vals["watch-namespace"] = strings.Trim(vals["watch-namespace"], "[]")
			for flag, v := range want {
				if vals[flag] != v {
					t.Errorf("--%s=%q, want %q", flag, vals[flag], v)
				}
			}
			if got := grants(t, objs, releaseNS, gw.Spec.Template.Spec.ServiceAccountName); !mapsEqual(got, wantGrants(releaseNS, tc.watch, tc.istio)) {
				t.Errorf("RBAC grants:\n got %q\nwant %q", got, wantGrants(releaseNS, tc.watch, tc.istio))
			}
			for _, ic := range ofKind[*networkingv1.IngressClass](objs) {
				isDefault := ic.Annotations[networkingv1.AnnotationIsDefaultIngressClass] == "true"
				if ic.Name != vals["ingress-class"] || ic.Spec.Controller != "turnpike.dev/ingress-controller" || isDefault != tc.isDefault {
					t.Errorf("IngressClass %s (controller %s, default %v), want %s (turnpike.dev/ingress-controller, default %v)",
						ic.Name, ic.Spec.Controller, isDefault, vals["ingress-class"], tc.isDefault)
				}
			}
		})
	}
}

func mapsEqual(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// kubeconfig writes a kubeconfig naming an API server that refuses every
// connection (127.0.0.1:1).
func kubeconfig(t *testing.T) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := `apiVersion: v1
kind: Config
clusters:
  - name: gone
    cluster:
      server: https://127.0.0.1:1
      insecure-skip-tls-verify: true
users:
  - name: gateway
    user:
      token: not-a-real-token
contexts:
  - name: gone
    context:
      cluster: gone
      user: gateway
current-context: gone
`
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestChartControllerPodStarts runs the binary on the chart's controller
// arguments against an API server that cannot be reached: the process
// starts and serves its liveness probe, stays out of the Service
// (readiness 503, saying why) since no config came from the cluster, and
// stops promptly on SIGTERM. With the TLS listener on, it starts too:
// in controller mode certificates come later, from Ingress TLS Secrets.
func TestChartControllerPodStarts(t *testing.T) {
	for name, values := range map[string]string{
		"http": "controller:\n  enabled: true\n",
		"tls":  "controller:\n  enabled: true\nproxy:\n  tls:\n    enabled: true\n",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g, gw := startPod(t, values)
			c := gatewayContainer(gw.Spec.Template.Spec)
			if live := g.StatusURL + c.LivenessProbe.HTTPGet.Path; get(live) != http.StatusOK {
				t.Fatalf("liveness probe %s: %d\n%s", live, get(live), g.Stderr())
			}
			ready := g.StatusURL + c.ReadinessProbe.HTTPGet.Path
			for range 3 {
				resp, err := probeClient.Get(ready)
				if err != nil {
					t.Fatal(err)
				}
				var body struct{ Message string }
				err = json.NewDecoder(resp.Body).Decode(&body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusServiceUnavailable || err != nil || body.Message != "waiting for the first configuration from Kubernetes" {
					t.Fatalf("readiness probe: %d %q (%v), want 503 waiting for the first configuration", resp.StatusCode, body.Message, err)
				}
				time.Sleep(200 * time.Millisecond)
			}
			if want := map[string]int{"http": 1, "tls": 2}[name]; len(g.URLs) != want {
				t.Errorf("proxy listeners %q, want %d", g.URLs, want)
			}
			vals, _ := effectiveFlags(t, *c)
			delay, _ := duration(vals["drain-delay"])
			sent := time.Now()
			g.Signal(syscall.SIGTERM)
			if err, exited := g.Wait(delay + 5*time.Second); !exited || err != nil {
				t.Fatalf("exit after SIGTERM: exited %v within %v, error %v\n%s", exited, delay+5*time.Second, err, g.Stderr())
			}
			t.Logf("stopped %v after SIGTERM (--drain-delay %v)", time.Since(sent).Round(time.Millisecond), delay)
		})
	}
}

// TestControllerManifests: deploy/kubernetes/controller decodes strictly,
// holds together as the chart's controller mode does, and keeps every
// object in the one namespace the binding and --publish-service name.
func TestControllerManifests(t *testing.T) {
	const ns = "turnpike"
	files, err := filepath.Glob(filepath.Join(repoRoot(), "deploy", "kubernetes", "controller", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	var objs []k8sruntime.Object
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, decodeAll(t, filepath.Base(f), data)...)
	}
	want := []string{"*v1.ClusterRole/turnpike", "*v1.ClusterRoleBinding/turnpike", "*v1.Deployment/turnpike",
		"*v1.IngressClass/turnpike", "*v1.Namespace/turnpike", "*v1.PodDisruptionBudget/turnpike",
		"*v1.Service/turnpike", "*v1.Service/turnpike-status", "*v1.ServiceAccount/turnpike"}
	if got := kinds(objs); !slices.Equal(got, want) {
		t.Fatalf("objects:\n got %q\nwant %q", got, want)
	}
	for _, o := range objs {
		switch o.(type) {
		case *corev1.Namespace, *rbacv1.ClusterRole, *rbacv1.ClusterRoleBinding, *networkingv1.IngressClass:
		default:
			if got := o.(interface{ GetNamespace() string }).GetNamespace(); got != ns {
				t.Errorf("%T in namespace %q, want %q", o, got, ns)
			}
		}
	}
	gw := checkObjects(t, objs)
	vals, _ := effectiveFlags(t, *gatewayContainer(gw.Spec.Template.Spec))
	if vals["publish-service"] != ns+"/turnpike" {
		t.Errorf("--publish-service=%s, want %s/turnpike", vals["publish-service"], ns)
	}
	if got, want := grants(t, objs, ns, gw.Spec.Template.Spec.ServiceAccountName), wantGrants(ns, nil, false); !mapsEqual(got, want) {
		t.Errorf("RBAC grants:\n got %q\nwant %q", got, want)
	}
	ic := ofKind[*networkingv1.IngressClass](objs)[0]
	if ic.Name != vals["ingress-class"] || ic.Spec.Controller != "turnpike.dev/ingress-controller" {
		t.Errorf("IngressClass %s (%s) is not --ingress-class=%s", ic.Name, ic.Spec.Controller, vals["ingress-class"])
	}
}

// TestDocsControllerFlags: the controller mode's flags table lists every
// flag `turnpike run --help` gives for --kubernetes, with its default.
func TestDocsControllerFlags(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(repoRoot(), "docs", "kubernetes.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(doc), "## Controller mode")
	rows := map[string]string{}
	for line := range strings.SplitSeq(section, "\n") {
		if name, ok := strings.CutPrefix(line, "| `--"); ok {
			name, _, _ = strings.Cut(name, "`")
			rows[name] = line
		}
	}
	n := 0
	for name, spec := range runFlags(t) {
		if name != "kubernetes" && !strings.Contains(spec.usage, "with --kubernetes") {
			continue
		}
		n++
		row, ok := rows[name]
		if !ok {
			t.Errorf("--%s is not in the Controller mode section's flags table", name)
		} else if spec.def != "" && !strings.Contains(row, "`"+spec.def+"`") {
			t.Errorf("--%s: the table does not give its default %q: %s", name, spec.def, row)
		}
		delete(rows, name)
	}
	if n < 8 {
		t.Errorf("only %d controller flags in turnpike run --help", n)
	}
	for name := range rows {
		t.Errorf("--%s in the flags table is no controller flag of turnpike run", name)
	}
}
