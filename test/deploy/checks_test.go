package deploy

import (
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// ofKind returns the objects of type T.
func ofKind[T any](objs []k8sruntime.Object) []T {
	var out []T
	for _, o := range objs {
		if v, ok := o.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// gatewayContainer is the container running turnpike, nil in others.
func gatewayContainer(spec corev1.PodSpec) *corev1.Container {
	for i := range spec.Containers {
		if spec.Containers[i].Name == "turnpike" {
			return &spec.Containers[i]
		}
	}
	return nil
}

// portOf resolves a probe's or Service's target port in container c.
func portOf(c corev1.Container, p intstr.IntOrString) (int32, bool) {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

func selects(t *testing.T, sel *metav1.LabelSelector, set map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatalf("selector %v: %v", sel, err)
	}
	return !s.Empty() && s.Matches(labels.Set(set))
}

// checkObjects checks what the objects of one install say about each
// other and about the binary; it returns the gateway Deployment.
func checkObjects(t *testing.T, objs []k8sruntime.Object) *appsv1.Deployment {
	t.Helper()
	var gw *appsv1.Deployment
	for _, d := range ofKind[*appsv1.Deployment](objs) {
		if !selects(t, d.Spec.Selector, d.Spec.Template.Labels) {
			t.Errorf("Deployment %s: its selector does not select its pods", d.Name)
		}
		if gatewayContainer(d.Spec.Template.Spec) != nil {
			gw = d
		}
	}
	if gw == nil {
		t.Fatal("no Deployment runs turnpike")
	}
	checkGatewayPod(t, gw.Spec.Template.Spec, objs)
	checkServices(t, objs)
	for _, p := range ofKind[*policyv1.PodDisruptionBudget](objs) {
		if !selects(t, p.Spec.Selector, gw.Spec.Template.Labels) {
			t.Errorf("PodDisruptionBudget %s does not select the gateway pods", p.Name)
		}
	}
	for _, np := range ofKind[*networkingv1.NetworkPolicy](objs) {
		for _, rule := range np.Spec.Ingress {
			for _, from := range rule.From {
				if !selects(t, from.PodSelector, gw.Spec.Template.Labels) {
					t.Errorf("NetworkPolicy %s lets in pods other than the gateway's", np.Name)
				}
			}
		}
	}
	return gw
}

// checkGatewayPod: ports and probes agree with the listeners the flags
// open, the drain fits in the grace period, the security context, and
// the configuration is a read-only ConfigMap volume that validates (in
// controller mode: the cluster, reached with the service account).
func checkGatewayPod(t *testing.T, spec corev1.PodSpec, objs []k8sruntime.Object) {
	t.Helper()
	c := *gatewayContainer(spec)
	vals, changed := effectiveFlags(t, c)
	proxy := parseListens(t, "proxy-listen", vals["proxy-listen"])
	if !changed["proxy-listen"] {
		// The binary adds this one when the configuration has certificates.
		proxy = append(proxy, listener{host: "0.0.0.0", port: "8443", tls: true})
	}
	roles := map[string][]listener{
		"proxy":  proxy,
		"status": parseListens(t, "status-listen", vals["status-listen"]),
		"admin":  parseListens(t, "admin-listen", vals["admin-listen"]),
	}
	checkContainerPorts(t, c, roles, !changed["proxy-listen"])
	checkProbes(t, c, roles["status"])
	checkDrain(t, spec, c, vals)
	checkSecurity(t, spec, c)
	if v := vals["access-log"]; v != "stdout" && v != "stderr" && v != "off" {
		t.Errorf("--access-log=%s: a file cannot be written on a read-only root file system", v)
	}
	if vals["kubernetes"] == "true" {
		checkControllerPod(t, spec, c, changed, objs)
	} else {
		checkConfigVolume(t, spec, c, vals["config"], objs)
	}
}

func checkContainerPorts(t *testing.T, c corev1.Container, roles map[string][]listener, defaultTLS bool) {
	t.Helper()
	declared := map[string]bool{}
	for _, cp := range c.Ports {
		role, tls := cp.Name, false
		if cp.Name == "proxy-tls" {
			role, tls = "proxy", true
		}
		found := false
		for _, l := range roles[role] {
			found = found || (l.public() && l.port == itoa(cp.ContainerPort) && l.tls == tls)
		}
		if !found {
			t.Errorf("container port %s (%d) is no %s listener on a pod address; listeners: %+v", cp.Name, cp.ContainerPort, role, roles[role])
		}
		declared[role+"/"+itoa(cp.ContainerPort)] = true
	}
	for role, ls := range roles {
		for i, l := range ls {
			optional := role == "proxy" && defaultTLS && i == len(ls)-1
			if l.public() && !optional && !declared[role+"/"+l.port] {
				t.Errorf("%s listener %s:%s has no container port", role, l.host, l.port)
			}
		}
	}
	if len(roles["status"]) == 0 || !roles["status"][0].public() {
		t.Errorf("the status listener must listen on the pod's address for the kubelet's probes: %+v", roles["status"])
	}
}

func checkProbes(t *testing.T, c corev1.Container, status []listener) {
	t.Helper()
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"readiness", c.ReadinessProbe, "/status/ready"}, {"liveness", c.LivenessProbe, "/status"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s probe: want an HTTP GET of %s", p.name, p.path)
			continue
		}
		g := p.probe.HTTPGet
		port, ok := portOf(c, g.Port)
		if g.Path != p.path || !ok || len(status) == 0 || itoa(port) != status[0].port || g.Scheme == corev1.URISchemeHTTPS {
			t.Errorf("%s probe: GET %s on %s (port %d); want %s over HTTP on the status listener %+v", p.name, g.Path, g.Port.String(), port, p.path, status)
		}
	}
}

// checkDrain: the kubelet waits the preStop sleep, then sends SIGTERM;
// the binary keeps serving --drain-delay with readiness at 503, then
// gives in-flight requests --shutdown-timeout. All of it must fit in the
// grace period, or SIGKILL cuts requests off.
func checkDrain(t *testing.T, spec corev1.PodSpec, c corev1.Container, vals map[string]string) {
	t.Helper()
	var sleep time.Duration
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
		pre := c.Lifecycle.PreStop
		if pre.Sleep == nil || pre.Exec != nil {
			t.Errorf("preStop: want a sleep action (the image has no shell): %+v", pre)
		} else {
			sleep = time.Duration(pre.Sleep.Seconds) * time.Second
		}
	}
	delay, err1 := duration(vals["drain-delay"])
	timeout, err2 := duration(vals["shutdown-timeout"])
	if err1 != nil || err2 != nil {
		t.Fatalf("--drain-delay=%s --shutdown-timeout=%s: %v %v", vals["drain-delay"], vals["shutdown-timeout"], err1, err2)
	}
	if sleep+delay == 0 {
		t.Error("neither a preStop sleep nor --drain-delay: requests sent while the endpoint is being removed are refused")
	}
	grace := 30 * time.Second
	if spec.TerminationGracePeriodSeconds != nil {
		grace = time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
	}
	if need := sleep + delay + timeout; grace <= need {
		t.Errorf("terminationGracePeriodSeconds %v does not exceed preStop %v + --drain-delay %v + --shutdown-timeout %v", grace, sleep, delay, timeout)
	}
}

func checkSecurity(t *testing.T, spec corev1.PodSpec, c corev1.Container) {
	t.Helper()
	pod, sc := spec.SecurityContext, c.SecurityContext
	nonRoot := (pod != nil && pod.RunAsNonRoot != nil && *pod.RunAsNonRoot) || (sc != nil && sc.RunAsNonRoot != nil && *sc.RunAsNonRoot)
	if !nonRoot || (pod != nil && pod.RunAsUser != nil && *pod.RunAsUser == 0) {
		t.Errorf("want runAsNonRoot and no user 0: pod %+v", pod)
	}
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("want readOnlyRootFilesystem")
	}
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || (sc.Privileged != nil && *sc.Privileged) {
		t.Error("want allowPrivilegeEscalation: false and no privilege")
	}
	if sc == nil || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		t.Error("want every capability dropped and none added")
	}
}

// checkConfigVolume: --config is in a read-only ConfigMap volume mounted
// whole (a subPath mount never sees updates, so reloads would not
// happen), and the ConfigMap's file passes `turnpike validate`.
func checkConfigVolume(t *testing.T, spec corev1.PodSpec, c corev1.Container, cfg string, objs []k8sruntime.Object) {
	t.Helper()
	dir, key := path.Dir(cfg), path.Base(cfg)
	var mount *corev1.VolumeMount
	for i := range c.VolumeMounts {
		if c.VolumeMounts[i].MountPath == dir {
			mount = &c.VolumeMounts[i]
		}
	}
	if mount == nil || !mount.ReadOnly || mount.SubPath != "" {
		t.Fatalf("--config=%s: want a read-only mount of a whole volume at %s: %+v", cfg, dir, c.VolumeMounts)
	}
	var cmName string
	for _, v := range spec.Volumes {
		if v.Name == mount.Name && v.ConfigMap != nil {
			cmName = v.ConfigMap.Name
		}
	}
	for _, cm := range ofKind[*corev1.ConfigMap](objs) {
		if cm.Name == cmName {
			validateConfig(t, cm.Data[key])
			return
		}
	}
	t.Errorf("volume %s: ConfigMap %q is not among the objects", mount.Name, cmName)
}

// validateConfig runs `turnpike validate` on a kong.yml.
func validateConfig(t *testing.T, kongYML string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "kong.yml")
	if err := os.WriteFile(file, []byte(kongYML), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(gwtest.Binary(t), "validate", "-c", file).CombinedOutput(); err != nil {
		t.Errorf("turnpike validate: %v\n%s\n%s", err, out, kongYML)
	}
}

// checkServices: every Service selects pods of a Deployment among the
// objects and names ports those pods have.
func checkServices(t *testing.T, objs []k8sruntime.Object) {
	t.Helper()
	for _, s := range ofKind[*corev1.Service](objs) {
		var pod *corev1.PodSpec
		for _, d := range ofKind[*appsv1.Deployment](objs) {
			if len(s.Spec.Selector) > 0 && labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
				pod = &d.Spec.Template.Spec
			}
		}
		if pod == nil {
			t.Errorf("Service %s selects no pods", s.Name)
			continue
		}
		for _, p := range s.Spec.Ports {
			if _, ok := portOf(pod.Containers[0], p.TargetPort); !ok {
				t.Errorf("Service %s port %s: target %s is no container port", s.Name, p.Name, p.TargetPort.String())
			}
		}
	}
	for _, sm := range ofKind[*monitoringv1.ServiceMonitor](objs) {
		checkServiceMonitor(t, sm, objs)
	}
}

// checkServiceMonitor: it scrapes /metrics on the status port of a Service.
func checkServiceMonitor(t *testing.T, sm *monitoringv1.ServiceMonitor, objs []k8sruntime.Object) {
	t.Helper()
	for _, s := range ofKind[*corev1.Service](objs) {
		if !selects(t, &sm.Spec.Selector, s.Labels) {
			continue
		}
		for _, ep := range sm.Spec.Endpoints {
			ok := false
			for _, p := range s.Spec.Ports {
				ok = ok || (p.Name == ep.Port && p.TargetPort.StrVal == "status")
			}
			if !ok || ep.Path != "/metrics" {
				t.Errorf("ServiceMonitor %s: endpoint %s%s is not /metrics on Service %s's status port", sm.Name, ep.Port, ep.Path, s.Name)
			}
		}
		return
	}
	t.Errorf("ServiceMonitor %s selects no Service", sm.Name)
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

// duration reads a duration flag; "" is a zero default --help leaves out.
func duration(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	return time.ParseDuration(v)
}
