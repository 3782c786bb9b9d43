package kube

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/turnpikegw/turnpike/internal/importer"
	"github.com/turnpikegw/turnpike/internal/importer/importertest"
	"github.com/turnpikegw/turnpike/internal/importer/ingress"
	"github.com/turnpikegw/turnpike/internal/importer/istio"
)

const testDomain = "svc.cluster.local"

func ptr[T any](v T) *T { return &v }

// svcPort is a Service port (TCP, the default).
func svcPort(name string, port int32, target intstr.IntOrString) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Port: port, TargetPort: target}
}

func svc(ns, name string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Ports: ports}}
}

func externalSvc(ns, name, external string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: external}}
}

func slicePortOf(name string, port int32) discoveryv1.EndpointPort {
	p := discoveryv1.EndpointPort{Port: ptr(port), Protocol: ptr(corev1.ProtocolTCP)}
	if name != "" {
		p.Name = ptr(name)
	}
	return p
}

// endpoint states, as the EndpointSlice controller writes them.
var (
	ready       = discoveryv1.EndpointConditions{Ready: ptr(true), Serving: ptr(true), Terminating: ptr(false)}
	unknown     = discoveryv1.EndpointConditions{}
	notReady    = discoveryv1.EndpointConditions{Ready: ptr(false), Serving: ptr(false), Terminating: ptr(false)}
	draining    = discoveryv1.EndpointConditions{Ready: ptr(false), Serving: ptr(true), Terminating: ptr(true)}
	terminating = discoveryv1.EndpointConditions{Ready: ptr(false), Serving: ptr(false), Terminating: ptr(true)}
)

func ep(addr string, c discoveryv1.EndpointConditions) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{Addresses: []string{addr}, Conditions: c}
}

func eslice(ns, service, name string, family discoveryv1.AddressType, ports []discoveryv1.EndpointPort, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		AddressType: family, Ports: ports, Endpoints: eps}
}

func v4(ns, service, name string, ports []discoveryv1.EndpointPort, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return eslice(ns, service, name, discoveryv1.AddressTypeIPv4, ports, eps...)
}

func ports(ps ...discoveryv1.EndpointPort) []discoveryv1.EndpointPort { return ps }

// dump lists the index: "ns/name:port" with its targets, "ns/name" with
// an ExternalName's.
func (e *endpoints) dump() map[string][]string {
	out := map[string][]string{}
	for k, s := range e.services {
		if s.externalName != "" {
			out[k.namespace+"/"+k.name] = []string{"external " + s.externalName}
			continue
		}
		for port, ts := range s.pods {
			out[fmt.Sprintf("%s/%s:%d", k.namespace, k.name, port)] = ts
		}
	}
	return out
}

// TestEndpoints: the pods of each service port are kube-proxy's: the
// slice port of the Service port's name, ready endpoints, else the
// serving terminating ones; both families; each address once, sorted.
func TestEndpoints(t *testing.T) {
	http := intstr.FromString("http")
	for _, tc := range []struct {
		name     string
		services []*corev1.Service
		slices   []*discoveryv1.EndpointSlice
		want     map[string][]string
	}{{
		name:     "unnamed port",
		services: []*corev1.Service{svc("ns", "web", svcPort("", 80, intstr.FromInt32(8080)))},
		slices: []*discoveryv1.EndpointSlice{v4("ns", "web", "web-1", ports(slicePortOf("", 8080)),
			ep("10.0.0.2", ready), ep("10.0.0.1", unknown))},
		want: map[string][]string{"ns/web:80": {"10.0.0.1:8080", "10.0.0.2:8080"}},
	}, {
		name:     "named ports",
		services: []*corev1.Service{svc("ns", "api", svcPort("http", 80, http), svcPort("grpc", 9000, intstr.FromString("grpc")))},
		slices: []*discoveryv1.EndpointSlice{v4("ns", "api", "api-1", ports(slicePortOf("grpc", 9090), slicePortOf("http", 8080), slicePortOf("", 1)),
			ep("10.0.0.1", ready))},
		want: map[string][]string{"ns/api:80": {"10.0.0.1:8080"}, "ns/api:9000": {"10.0.0.1:9090"}},
	}, {
		// Pods whose named targetPort is a different number are in
		// different slices: each slice's own number.
		name:     "targetPort by name over several slices",
		services: []*corev1.Service{svc("ns", "web", svcPort("http", 80, http))},
		slices: []*discoveryv1.EndpointSlice{
			v4("ns", "web", "web-a", ports(slicePortOf("http", 8080)), ep("10.0.0.1", ready), ep("10.0.0.2", ready)),
			v4("ns", "web", "web-b", ports(slicePortOf("http", 8081)), ep("10.0.0.3", ready)),
			// The same endpoint in two slices (the controller moving it).
			v4("ns", "web", "web-c", ports(slicePortOf("http", 8080)), ep("10.0.0.2", ready)),
		},
		want: map[string][]string{"ns/web:80": {"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8081"}},
	}, {
		// Addresses no pod has: the API server refuses them in a slice,
		// and a hand-written slice must not point the gateway at the
		// node's metadata service. Loopback stays (the tests' pods).
		name:     "link-local, unspecified and multicast left out",
		services: []*corev1.Service{svc("ns", "web", svcPort("", 80, intstr.FromInt32(80)))},
		slices: []*discoveryv1.EndpointSlice{
			v4("ns", "web", "web-1", ports(slicePortOf("", 80)), ep("169.254.169.254", ready), ep("0.0.0.0", ready),
				ep("224.0.0.1", ready), ep("127.0.0.1", ready), ep("10.0.0.1", ready)),
			eslice("ns", "web", "web-2", discoveryv1.AddressTypeIPv6, ports(slicePortOf("", 80)), ep("fe80::1", ready),
				ep("::", ready), ep("ff02::1", ready), ep("::ffff:169.254.169.254", ready), ep("fd00::1", ready)),
		},
		want: map[string][]string{"ns/web:80": {"10.0.0.1:80", "127.0.0.1:80", "[fd00::1]:80"}},
	}, {
		name:     "not ready left out",
		services: []*corev1.Service{svc("ns", "web", svcPort("", 80, intstr.FromInt32(80)))},
		slices: []*discoveryv1.EndpointSlice{v4("ns", "web", "web-1", ports(slicePortOf("", 80)),
			ep("10.0.0.1", ready), ep("10.0.0.2", notReady), ep("10.0.0.3", draining))},
		want: map[string][]string{"ns/web:80": {"10.0.0.1:80"}},
	}, {
		name:     "serving terminating when none is ready",
		services: []*corev1.Service{svc("ns", "web", svcPort("", 80, intstr.FromInt32(80)))},
		slices: []*discoveryv1.EndpointSlice{
			v4("ns", "web", "web-1", ports(slicePortOf("", 80)), ep("10.0.0.2", draining), ep("10.0.0.3", terminating)),
			v4("ns", "web", "web-2", ports(slicePortOf("", 80)), ep("10.0.0.1", draining), ep("10.0.0.4", notReady)),
		},
		want: map[string][]string{"ns/web:80": {"10.0.0.1:80", "10.0.0.2:80"}},
	}, {
		name:     "no ready pod",
		services: []*corev1.Service{svc("ns", "web", svcPort("", 80, intstr.FromInt32(80)))},
		slices: []*discoveryv1.EndpointSlice{v4("ns", "web", "web-1", ports(slicePortOf("", 80)),
			ep("10.0.0.3", terminating), ep("10.0.0.4", notReady))},
		want: map[string][]string{"ns/web:80": nil},
	}, {
		name:     "IPv6 and IPv4",
		services: []*corev1.Service{svc("ns", "web", svcPort("http", 80, http))},
		slices: []*discoveryv1.EndpointSlice{
			eslice("ns", "web", "web-v6", discoveryv1.AddressTypeIPv6, ports(slicePortOf("http", 8080)),
				ep("fd00::0001", ready), ep("10.0.0.9", ready), ep("fe80::1%eth0", ready)),
			v4("ns", "web", "web-v4", ports(slicePortOf("http", 8080)), ep("10.0.0.1", ready), ep("fd00::2", ready), ep("not an ip", ready)),
			eslice("ns", "web", "web-fqdn", discoveryv1.AddressTypeFQDN, ports(slicePortOf("http", 8080)), ep("pod.example.com", ready)),
		},
		want: map[string][]string{"ns/web:80": {"10.0.0.1:8080", "[fd00::1]:8080"}},
	}, {
		name: "other Services, namespaces, protocols",
		services: []*corev1.Service{
			svc("ns", "web", svcPort("", 80, intstr.FromInt32(80))),
			svc("other", "web", svcPort("dns", 53, intstr.FromInt32(53)), corev1.ServicePort{Name: "dns-udp", Port: 53, Protocol: corev1.ProtocolUDP}),
		},
		slices: []*discoveryv1.EndpointSlice{
			v4("ns", "db", "db-1", ports(slicePortOf("", 80)), ep("10.0.0.5", ready)),
			v4("other", "web", "web-1", ports(discoveryv1.EndpointPort{Name: ptr("dns"), Port: ptr(int32(5353)), Protocol: ptr(corev1.ProtocolUDP)}), ep("10.0.1.1", ready)),
			v4("other", "web", "web-2", ports(slicePortOf("dns", 5353)), ep("10.0.1.2", ready)),
			{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "unlabelled"}, AddressType: discoveryv1.AddressTypeIPv4,
				Ports: ports(slicePortOf("", 80)), Endpoints: []discoveryv1.Endpoint{ep("10.0.0.6", ready)}},
		},
		want: map[string][]string{"ns/web:80": nil, "other/web:53": {"10.0.1.2:5353"}},
	}, {
		name:     "ExternalName",
		services: []*corev1.Service{externalSvc("ns", "ext", "api.example.com.")},
		want:     map[string][]string{"ns/ext": {"external api.example.com"}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := newEndpoints(tc.services, tc.slices).dump()
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// summary is what podTargets decides: each Kong service's host and port,
// each upstream's fields and targets with their weights.
func summary(cfg *importer.Config) string {
	var lines []string
	for _, s := range cfg.Services {
		lines = append(lines, fmt.Sprintf("service %s:%d", s.Host, s.Port))
	}
	for _, u := range cfg.Upstreams {
		var b strings.Builder
		b.WriteString("upstream " + u.Name)
		for _, k := range slices.Sorted(maps.Keys(u.Fields)) {
			fmt.Fprintf(&b, " %s=%v", k, u.Fields[k])
		}
		b.WriteString(":")
		for _, t := range u.Targets {
			if t.Weight != nil {
				fmt.Fprintf(&b, " %s=%d", t.Target, *t.Weight)
			} else {
				b.WriteString(" " + t.Target)
			}
		}
		lines = append(lines, b.String())
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// imported runs the importers as build does, then podTargets; the result
// must validate.
func imported(t *testing.T, ingressDocs, istioDocs string, eps *endpoints) (*importer.Config, []byte) {
	t.Helper()
	var (
		cfg importer.Config
		ws  importer.Warnings
	)
	if ingressDocs != "" {
		if err := ingress.Import(importer.Split([]byte(ingressDocs)), ingress.Options{ServiceDomain: testDomain}, &cfg, &ws); err != nil {
			t.Fatal(err)
		}
	}
	if istioDocs != "" {
		if err := istio.Import(importer.Split([]byte(istioDocs)), istio.Options{ServiceDomain: testDomain}, &cfg, &ws); err != nil {
			t.Fatal(err)
		}
	}
	podTargets(&cfg, eps, testDomain)
	out, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	importertest.Validate(t, out)
	return &cfg, out
}

func ingressTo(name, service, port, annotations string) string {
	return `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: ` + name + `
  namespace: shop
  annotations: {` + annotations + `}
spec:
  rules:
  - host: shop.example.com
    http:
      paths:
      - path: /` + name + `
        pathType: Prefix
        backend: {service: {name: ` + service + `, port: {` + port + `}}}
---
`
}

// canaryOf renames an Ingress of ingressTo (same host and path): two
// Ingresses of one namespace cannot share a name, and the importer keeps
// only the first.
func canaryOf(ingress string) string {
	return strings.Replace(ingress, "\n  name: web\n", "\n  name: web-canary\n", 1)
}

const serviceDocs = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  ports: [{name: http, port: 80, targetPort: http}]
---
`

const istioHead = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: shop}
spec:
  servers:
  - port: {number: 80, protocol: HTTP}
    hosts: [shop.example.com]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [shop.example.com]
  gateways: [gw]
  http:
  - route:
`

func TestPodTargets(t *testing.T) {
	http := intstr.FromString("http")
	services := []*corev1.Service{
		svc("shop", "web", svcPort("http", 80, http)),
		svc("shop", "web-canary", svcPort("http", 80, http)),
		svc("shop", "idle", svcPort("", 80, intstr.FromInt32(80))),
		svc("shop", "reviews", svcPort("http", 9080, http)),
		svc("shop", "ratings", svcPort("http", 9080, http), svcPort("admin", 9901, intstr.FromInt32(9901))),
		externalSvc("shop", "payments", "pay.example.com"),
		svc("backend", "api", svcPort("", 80, intstr.FromInt32(8000))),
		externalSvc("shop", "api", "api.backend.svc.cluster.local"),
		externalSvc("shop", "loop-a", "loop-b.shop.svc.cluster.local"),
		externalSvc("shop", "loop-b", "loop-a.shop.svc"),
	}
	eslices := []*discoveryv1.EndpointSlice{
		v4("shop", "web", "web-1", ports(slicePortOf("http", 8080)), ep("10.1.0.3", ready), ep("10.1.0.1", ready), ep("10.1.0.2", ready)),
		v4("shop", "web-canary", "web-canary-1", ports(slicePortOf("http", 8081)), ep("10.1.1.1", ready)),
		v4("shop", "idle", "idle-1", ports(slicePortOf("", 80)), ep("10.1.2.1", notReady)),
		v4("backend", "api", "api-1", ports(slicePortOf("", 8000)), ep("10.2.0.1", ready)),
		v4("shop", "reviews", "reviews-1", ports(slicePortOf("http", 9080)), ep("10.1.3.1", ready), ep("10.1.3.2", ready)),
		eslice("shop", "ratings", "ratings-1", discoveryv1.AddressTypeIPv6, ports(slicePortOf("http", 9090)), ep("fd00::4", ready)),
	}
	eps := newEndpoints(services, eslices)
	for _, tc := range []struct {
		name           string
		ingress, istio string
		want           string
	}{{
		name:    "port by name",
		ingress: serviceDocs + ingressTo("web", "web", "name: http", ""),
		want: "service web.shop.80.svc:80\n" +
			"upstream web.shop.80.svc host_header=web.shop.svc.cluster.local: 10.1.0.1:8080 10.1.0.2:8080 10.1.0.3:8080",
	}, {
		name:    "two routes, one upstream",
		ingress: ingressTo("a", "web", "number: 80", "") + ingressTo("b", "web", "number: 80", `nginx.ingress.kubernetes.io/proxy-read-timeout: "5"`),
		want: "service web.shop.80.svc:80\nservice web.shop.80.svc:80\n" +
			"upstream web.shop.80.svc host_header=web.shop.svc.cluster.local: 10.1.0.1:8080 10.1.0.2:8080 10.1.0.3:8080",
	}, {
		// 80/20 over 3 and 1 pods: 80*655/3 each, 20*655.
		name: "canary weights",
		ingress: ingressTo("web", "web", "number: 80", "") +
			canaryOf(ingressTo("web", "web-canary", "number: 80", `nginx.ingress.kubernetes.io/canary: "true", nginx.ingress.kubernetes.io/canary-weight: "20"`)),
		want: "service shop.web.0.upstream:80\n" +
			"upstream shop.web.0.upstream: 10.1.0.1:8080=17467 10.1.0.2:8080=17467 10.1.0.3:8080=17467 10.1.1.1:8081=13100",
	}, {
		// A canary Service not in the cluster keeps its DNS name and its
		// share.
		name: "canary to a missing Service",
		ingress: ingressTo("web", "web", "number: 80", "") +
			canaryOf(ingressTo("web", "gone", "number: 80", `nginx.ingress.kubernetes.io/canary: "true", nginx.ingress.kubernetes.io/canary-weight: "50"`)),
		want: "service shop.web.0.upstream:80\n" +
			"upstream shop.web.0.upstream: 10.1.0.1:8080=10917 10.1.0.2:8080=10917 10.1.0.3:8080=10917 gone.shop.svc.cluster.local:80=32750",
	}, {
		name:    "upstream-hash-by keeps hash_on",
		ingress: ingressTo("web", "web", "number: 80", `nginx.ingress.kubernetes.io/upstream-hash-by: "$remote_addr"`),
		want: "service shop.web.80.upstream:80\n" +
			"upstream shop.web.80.upstream algorithm=consistent-hashing hash_on=ip: 10.1.0.1:8080=21833 10.1.0.2:8080=21833 10.1.0.3:8080=21833",
	}, {
		name:    "no ready pod",
		ingress: ingressTo("idle", "idle", "number: 80", ""),
		want:    "service idle.shop.80.svc:80\nupstream idle.shop.80.svc host_header=idle.shop.svc.cluster.local:",
	}, {
		name:    "port the Service does not have",
		ingress: ingressTo("web", "web", "number: 81", ""),
		want:    "service web.shop.81.svc:81\nupstream web.shop.81.svc host_header=web.shop.svc.cluster.local:",
	}, {
		name:    "ExternalName",
		ingress: ingressTo("pay", "payments", "number: 443", ""),
		want:    "service pay.example.com:443",
	}, {
		name:    "ExternalName to a Service of the cluster",
		ingress: ingressTo("api", "api", "number: 80", ""),
		want:    "service api.shop.80.svc:80\nupstream api.shop.80.svc host_header=api.shop.svc.cluster.local: 10.2.0.1:8000",
	}, {
		name:    "ExternalNames naming each other",
		ingress: ingressTo("loop", "loop-a", "number: 80", ""),
		want:    "service loop-b.shop.svc.cluster.local:80",
	}, {
		name:    "missing Service",
		ingress: ingressTo("gone", "gone", "number: 80", ""),
		want:    "service gone.shop.svc.cluster.local:80",
	}, {
		// 70/30 over 2 pods and 1 IPv6 pod; the DestinationRule's
		// algorithm stays.
		name: "Istio weighted destinations",
		istio: istioHead + `    - destination: {host: reviews, port: {number: 9080}}
      weight: 70
    - destination: {host: ratings.shop.svc.cluster.local, port: {number: 9080}}
      weight: 30
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: shop}
spec:
  host: reviews
  trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}
`,
		want: "service reviews.shop.0.upstream:9080\n" +
			"upstream reviews.shop.0.upstream algorithm=least-connections: 10.1.3.1:9080=22925 10.1.3.2:9080=22925 [fd00::4]:9090=19650",
	}, {
		name: "Istio destination without a port, ExternalName and external hosts",
		istio: istioHead + `    - destination: {host: reviews}
      weight: 50
    - destination: {host: payments, port: {number: 443}}
      weight: 25
    - destination: {host: backup.example.com, port: {number: 80}}
      weight: 25
`,
		want: "service reviews.shop.0.upstream:80\n" +
			"upstream reviews.shop.0.upstream: 10.1.3.1:9080=16375 10.1.3.2:9080=16375 backup.example.com:80=16375 pay.example.com:443=16375",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, out := imported(t, tc.ingress, tc.istio, eps)
			if diff := cmp.Diff(tc.want, summary(cfg)); diff != "" {
				t.Errorf("(-want +got):\n%s\n%s", diff, out)
			}
		})
	}
}

// TestStableOrder: the same Services and pods in slices listed, split
// and ordered otherwise make the same bytes (the controller reloads only
// when they change).
func TestStableOrder(t *testing.T) {
	services := []*corev1.Service{svc("shop", "web", svcPort("http", 80, intstr.FromString("http"))),
		svc("shop", "web-canary", svcPort("", 80, intstr.FromInt32(80)))}
	p := ports(slicePortOf("http", 8080))
	a := []*discoveryv1.EndpointSlice{
		v4("shop", "web", "web-1", p, ep("10.1.0.1", ready), ep("10.1.0.2", ready)),
		v4("shop", "web", "web-2", p, ep("10.1.0.3", ready), ep("10.1.0.4", notReady)),
		v4("shop", "web-canary", "c-1", ports(slicePortOf("", 80)), ep("10.1.1.2", ready), ep("10.1.1.1", ready)),
	}
	b := []*discoveryv1.EndpointSlice{
		v4("shop", "web-canary", "c-1", ports(slicePortOf("", 80)), ep("10.1.1.1", ready), ep("10.1.1.2", ready)),
		v4("shop", "web", "web-3", p, ep("10.1.0.4", notReady), ep("10.1.0.2", ready)),
		v4("shop", "web", "web-1", p, ep("10.1.0.3", ready), ep("10.1.0.1", ready)),
	}
	docs := ingressTo("web", "web", "number: 80", "") + ingressTo("other", "web", "name: http", "") + serviceDocs +
		ingressTo("web", "web-canary", "number: 80", `nginx.ingress.kubernetes.io/canary: "true", nginx.ingress.kubernetes.io/canary-weight: "10"`)
	_, outA := imported(t, docs, "", newEndpoints(services, a))
	reversed := slices.Clone(services)
	slices.Reverse(reversed)
	_, outB := imported(t, docs, "", newEndpoints(reversed, b))
	if string(outA) != string(outB) {
		t.Errorf("reordered slices changed the config:\n%s\n---\n%s", outA, outB)
	}
}

// TestLargeWeights: weights whose pods' shares would pass Kong's bound
// are scaled less, keeping the ratios.
func TestLargeWeights(t *testing.T) {
	eps := newEndpoints([]*corev1.Service{svc("ns", "a", svcPort("", 80, intstr.FromInt32(80))), svc("ns", "b", svcPort("", 80, intstr.FromInt32(80)))},
		[]*discoveryv1.EndpointSlice{
			v4("ns", "a", "a-1", ports(slicePortOf("", 80)), ep("10.0.0.1", ready)),
			v4("ns", "b", "b-1", ports(slicePortOf("", 80)), ep("10.0.1.1", ready), ep("10.0.1.2", ready)),
		})
	cfg := &importer.Config{Upstreams: []*importer.Upstream{{Name: "u", Targets: []importer.Target{
		{Target: "a.ns.svc.cluster.local:80", Weight: importer.Int(1000)},
		{Target: "b.ns.svc:80", Weight: importer.Int(10)},
		{Target: "10.9.9.9:80"},
		{Target: "c.ns.svc.cluster.local:80", Weight: importer.Int(0)},
	}}}}
	podTargets(cfg, eps, testDomain)
	// 65535/1000 = 65: a's pod 65000, b's 650 over 2, the IP's default 100 6500.
	want := "upstream u: 10.0.0.1:80=65000 10.0.1.1:80=325 10.0.1.2:80=325 10.9.9.9:80=6500 c.ns.svc.cluster.local:80=0"
	if got := summary(cfg); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	out, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	importertest.Validate(t, out)
}

func TestShare(t *testing.T) {
	for _, tc := range []struct{ w, k, n, want int }{
		{100, weightScale, 1, 65500},
		{80, weightScale, 3, 17467},
		{0, weightScale, 3, 0},
		{1, weightScale, 1000, 1},
		{65535, 1, 1, 65535},
	} {
		if got := share(tc.w, tc.k, tc.n); got != tc.want {
			t.Errorf("share(%d, %d, %d) = %d, want %d", tc.w, tc.k, tc.n, got, tc.want)
		}
	}
}

// BenchmarkTargets: one reconcile's share for a cluster of 1000 Services
// of 20 pods each (two slices), each the backend of a Kong service.
func BenchmarkTargets(b *testing.B) {
	var (
		services []*corev1.Service
		eslices  []*discoveryv1.EndpointSlice
	)
	for i := range 1000 {
		name := fmt.Sprintf("s%d", i)
		services = append(services, svc("ns", name, svcPort("http", 80, intstr.FromString("http"))))
		for j := range 2 {
			var eps []discoveryv1.Endpoint
			for k := range 10 {
				eps = append(eps, ep(fmt.Sprintf("10.%d.%d.%d", i/256, i%256, j*10+k), ready))
			}
			eslices = append(eslices, v4("ns", name, fmt.Sprintf("%s-%d", name, j), ports(slicePortOf("http", 8080)), eps...))
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		cfg := &importer.Config{}
		for i := range 1000 {
			cfg.Services = append(cfg.Services, &importer.Service{Name: fmt.Sprint(i), Host: fmt.Sprintf("s%d.ns.svc.cluster.local", i), Port: 80})
		}
		podTargets(cfg, newEndpoints(services, eslices), testDomain)
	}
}
