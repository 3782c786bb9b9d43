package deploy

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// everything turns on every optional part of the chart but controller
// mode (which leaves kong.yml out: controller_test.go), with a kong.yml that has a certificate (for the TLS listener) and counts in
// the chart's Redis.
func everything(t *testing.T) string {
	t.Helper()
	files := gwtest.WriteTLSFiles(t)
	var pems [2]string
	for i, f := range []string{files.CertFile, files.KeyFile} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pems[i] = strings.ReplaceAll(strings.TrimSpace(string(data)), "\n", "\n          ")
	}
	return `
proxy:
  tls:
    enabled: true
admin:
  enabled: true
  tokenSecret:
    name: turnpike-admin
autoscaling:
  enabled: true
serviceMonitor:
  enabled: true
redis:
  enabled: true
extraArgs:
  - --trusted-ips=10.0.0.0/8
config: |
  _format_version: "3.0"
  certificates:
    - cert: |
          ` + pems[0] + `
      key: |
          ` + pems[1] + `
      snis: [localhost]
  services:
    - name: api
      url: http://api:8080
      routes:
        - name: api
          paths: [/api]
      plugins:
        - name: rate-limiting
          config:
            minute: 100
            policy: redis
            redis:
              host: {{ include "turnpike.redisHost" . }}
              port: {{ include "turnpike.redisPort" . }}
`
}

// kinds lists "Kind/name" of the objects, sorted.
func kinds(objs []k8sruntime.Object) []string {
	var out []string
	for _, o := range objs {
		m := o.(interface{ GetName() string })
		out = append(out, fmt.Sprintf("%T/%s", o, m.GetName()))
	}
	sort.Strings(out)
	return out
}

func TestChartDefaults(t *testing.T) {
	objs := objects(t, "")
	want := []string{
		"*v1.ConfigMap/edge-turnpike",
		"*v1.Deployment/edge-turnpike",
		"*v1.PodDisruptionBudget/edge-turnpike",
		"*v1.Service/edge-turnpike",
		"*v1.Service/edge-turnpike-status",
		"*v1.ServiceAccount/edge-turnpike",
	}
	if got := kinds(objs); !slices.Equal(got, want) {
		t.Fatalf("objects:\n got %q\nwant %q", got, want)
	}
	gw := checkObjects(t, objs)
	if gw.Spec.Replicas == nil || *gw.Spec.Replicas != 2 {
		t.Errorf("replicas %v, want 2", gw.Spec.Replicas)
	}
	if p := gw.Spec.Template.Spec.AutomountServiceAccountToken; p == nil || *p {
		t.Error("the service account token is mounted though controller mode is off")
	}
	c := gatewayContainer(gw.Spec.Template.Spec)
	if vals, _ := effectiveFlags(t, *c); !strings.HasPrefix(vals["admin-listen"], "127.0.0.1:") {
		t.Errorf("admin API on %s by default, want loopback only", vals["admin-listen"])
	}
}

func TestChartEverythingOn(t *testing.T) {
	objs := objects(t, everything(t))
	want := []string{
		"*v1.ConfigMap/edge-turnpike",
		"*v1.Deployment/edge-turnpike",
		"*v1.Deployment/edge-turnpike-redis",
		"*v1.NetworkPolicy/edge-turnpike-redis",
		"*v1.PodDisruptionBudget/edge-turnpike",
		"*v1.Service/edge-turnpike",
		"*v1.Service/edge-turnpike-admin",
		"*v1.Service/edge-turnpike-redis",
		"*v1.Service/edge-turnpike-status",
		"*v1.ServiceAccount/edge-turnpike",
		"*v1.ServiceMonitor/edge-turnpike",
		"*v2.HorizontalPodAutoscaler/edge-turnpike",
	}
	if got := kinds(objs); !slices.Equal(got, want) {
		t.Fatalf("objects:\n got %q\nwant %q", got, want)
	}
	gw := checkObjects(t, objs)
	if gw.Spec.Replicas != nil {
		t.Errorf("replicas %d set beside the HorizontalPodAutoscaler: every upgrade would reset the scale", *gw.Spec.Replicas)
	}
	hpa := ofKind[*autoscalingv2.HorizontalPodAutoscaler](objs)[0]
	if ref := hpa.Spec.ScaleTargetRef; ref.Kind != "Deployment" || ref.Name != gw.Name {
		t.Errorf("HorizontalPodAutoscaler scales %s/%s", ref.Kind, ref.Name)
	}
	c := gatewayContainer(gw.Spec.Template.Spec)
	vals, _ := effectiveFlags(t, *c)
	for _, host := range []string{"edge-turnpike-admin", "edge-turnpike-admin.gateways.svc", "edge-turnpike-admin.gateways.svc.cluster.local"} {
		if !slices.Contains(strings.Split(vals["admin-allowed-hosts"], ","), host) {
			t.Errorf("--admin-allowed-hosts=%s: the admin Service's name %s would get 421", vals["admin-allowed-hosts"], host)
		}
	}
	token := false
	for _, e := range c.Env {
		token = token || (e.Name == "TURNPIKE_ADMIN_TOKEN" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef.Name == "turnpike-admin")
	}
	if !token {
		t.Error("the admin API is published without TURNPIKE_ADMIN_TOKEN from the Secret")
	}
	if p := gw.Spec.Template.Spec.AutomountServiceAccountToken; p == nil || *p {
		t.Error("the service account token is mounted though controller mode is off")
	}
	checkRedis(t, objs)
}

// checkRedis: kong.yml names the chart's Redis Service.
func checkRedis(t *testing.T, objs []k8sruntime.Object) {
	t.Helper()
	for _, cm := range ofKind[*corev1.ConfigMap](objs) {
		if !strings.Contains(cm.Data["kong.yml"], "host: edge-turnpike-redis\n") || !strings.Contains(cm.Data["kong.yml"], "port: 6379\n") {
			t.Errorf("kong.yml does not name the chart's Redis:\n%s", cm.Data["kong.yml"])
		}
	}
	for _, d := range ofKind[*appsv1.Deployment](objs) {
		if d.Name == "edge-turnpike-redis" {
			sc := d.Spec.Template.Spec.Containers[0].SecurityContext
			if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Error("Redis: want a read-only root file system")
			}
		}
	}
}

func TestChartExternalRedisAndNoPreStop(t *testing.T) {
	objs := objects(t, `
redis:
  external:
    host: redis.shared.svc
    port: 6380
drain:
  preStopSleepSeconds: 0
config: |
  _format_version: "3.0"
  plugins:
    - name: rate-limiting
      config:
        second: 5
        policy: redis
        redis:
          host: {{ include "turnpike.redisHost" . }}
          port: {{ include "turnpike.redisPort" . }}
`)
	gw := checkObjects(t, objs)
	if l := gatewayContainer(gw.Spec.Template.Spec).Lifecycle; l != nil {
		t.Errorf("preStop left in with preStopSleepSeconds 0 (clusters before 1.30 refuse a sleep action): %+v", l)
	}
	if g := *gw.Spec.Template.Spec.TerminationGracePeriodSeconds; g != 40 {
		t.Errorf("terminationGracePeriodSeconds %d, want 5+30+5", g)
	}
	cm := ofKind[*corev1.ConfigMap](objs)[0]
	if !strings.Contains(cm.Data["kong.yml"], "host: redis.shared.svc\n") || !strings.Contains(cm.Data["kong.yml"], "port: 6380\n") {
		t.Errorf("kong.yml does not name the external Redis:\n%s", cm.Data["kong.yml"])
	}
	if len(ofKind[*appsv1.Deployment](objs)) != 1 {
		t.Error("a Redis Deployment beside an external Redis")
	}
}

func TestChartRefusesWhatCannotRun(t *testing.T) {
	for values, want := range map[string]string{
		"admin:\n  enabled: true\n":           "admin.tokenSecret.name",
		"proxy:\n  tls:\n    enabled: true\n": "proxy.tls.enabled: config has no certificates",
	} {
		if _, err := renderChart(t, values); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("values %q: error %v, want %q", values, err, want)
		}
	}
}

func TestChartExistingConfigMap(t *testing.T) {
	objs := objects(t, "existingConfigMap: my-kong\n")
	if n := len(ofKind[*corev1.ConfigMap](objs)); n != 0 {
		t.Errorf("%d ConfigMaps made beside existingConfigMap", n)
	}
	gw := ofKind[*appsv1.Deployment](objs)[0]
	if v := gw.Spec.Template.Spec.Volumes[0]; v.ConfigMap == nil || v.ConfigMap.Name != "my-kong" {
		t.Errorf("config volume %+v, want ConfigMap my-kong", v)
	}
}
