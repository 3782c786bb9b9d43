package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	netv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
)

// apiServer is the little of an API server the controller's client is
// checked against, on loopback: Kong's group discovered (another group
// not found, as text and as a Status), Ingress good in shop listed and
// watched (as a LIST then a watch, or as a watch sending the initial
// events), and Events and Ingress status taken. writes are the writes'
// method, path and body.
type apiServer struct {
	// noWatchList refuses watches asking for the initial events, as an
	// API server before 1.32 may: client-go falls back to a LIST.
	noWatchList bool
	mu          sync.Mutex
	writes      []string
	lists       int
}

const goodIngress = `{"apiVersion":"networking.k8s.io/v1","kind":"Ingress","metadata":{"namespace":"shop","name":"good",` +
	`"uid":"u-good","resourceVersion":"5"},"spec":{"rules":[{"host":"shop.test"}]}}`

func (a *apiServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch p := r.URL.Path; {
	case p == "/apis/configuration.konghq.com/v1":
		fmt.Fprint(w, `{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"configuration.konghq.com/v1",`+
			`"resources":[{"name":"kongplugins","namespaced":true,"kind":"KongPlugin","verbs":["list","watch"]}]}`)
	case p == "/apis/text.example/v1":
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, "404 page not found")
	case p == "/apis/networking.k8s.io/v1/namespaces/shop/ingresses" && r.URL.Query().Get("watch") == "true":
		if r.URL.Query().Get("sendInitialEvents") == "true" {
			if a.noWatchList {
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"BadRequest","code":400}`)
				return
			}
			fmt.Fprintf(w, `{"type":"ADDED","object":%s}`+"\n", goodIngress)
			fmt.Fprint(w, `{"type":"BOOKMARK","object":{"apiVersion":"networking.k8s.io/v1","kind":"Ingress",`+
				`"metadata":{"resourceVersion":"5","annotations":{"k8s.io/initial-events-end":"true"}}}}`+"\n")
		}
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	case p == "/apis/networking.k8s.io/v1/namespaces/shop/ingresses":
		a.mu.Lock()
		a.lists++
		a.mu.Unlock()
		// A list's items carry no apiVersion and kind.
		item := strings.Replace(goodIngress, `"apiVersion":"networking.k8s.io/v1","kind":"Ingress",`, "", 1)
		fmt.Fprintf(w, `{"apiVersion":"networking.k8s.io/v1","kind":"IngressList","metadata":{"resourceVersion":"5"},"items":[%s]}`, item)
	case r.Method == http.MethodPost && p == "/api/v1/namespaces/shop/events",
		r.Method == http.MethodPut && p == "/apis/networking.k8s.io/v1/namespaces/shop/ingresses/good/status":
		body, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		a.writes = append(a.writes, r.Method+" "+p+" "+string(body))
		a.mu.Unlock()
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusCreated)
		}
		_, _ = w.Write(body)
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404,"message":"%s not found"}`, p)
	}
}

func (a *apiServer) listed() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lists
}

func (a *apiServer) written(prefix string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, w := range a.writes {
		if strings.HasPrefix(w, prefix) {
			out = append(out, w)
		}
	}
	return out
}

func TestClientOverHTTP(t *testing.T) {
	api, old := &apiServer{}, &apiServer{noWatchList: true}
	srv, oldSrv := httptest.NewServer(api), httptest.NewServer(old)
	defer srv.Close()
	defer oldSrv.Close()
	cl, err := NewClient(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Discovery.
	rs, err := cl.Resources(ctx, schema.GroupVersion{Group: "configuration.konghq.com", Version: "v1"})
	if err != nil || len(rs) != 1 || rs[0].Name != "kongplugins" {
		t.Fatalf("Kong's group: %v %v", rs, err)
	}
	for _, g := range []string{"text.example", "networking.istio.io"} {
		if _, err := cl.Resources(ctx, schema.GroupVersion{Group: g, Version: "v1"}); !apierrors.IsNotFound(err) {
			t.Errorf("%s/v1 not served: %v, want a NotFound", g, err)
		}
	}

	// The informers cache the typed structs, from a watch sending the
	// initial events or from a LIST.
	ing := cachedIngress(ctx, t, cl)
	if n := api.listed(); n != 0 {
		t.Errorf("%d LISTs, want the initial events of a watch", n)
	}
	oldCl, err := NewClient(&rest.Config{Host: oldSrv.URL})
	if err != nil {
		t.Fatal(err)
	}
	cachedIngress(ctx, t, oldCl)
	if old.listed() == 0 {
		t.Error("no LIST after the watch list was refused")
	}

	// Its status and an Event on it are written.
	r, err := newReporter(cl.Dynamic, Options{PublishAddresses: []string{"192.0.2.1"}, Component: "turnpike", Host: "gw-0"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	o := &objects{byID: map[string]runtime.Object{}}
	o.addUnit(kindIngress, ing, false)
	r.update(ctx, reportInput{objects: o, invalid: map[*unit]error{o.units[0]: errors.New("marker")}, ingresses: []*netv1.Ingress{ing}})
	status := api.written("PUT ")
	if len(status) != 1 {
		t.Fatalf("status writes: %q", status)
	}
	var put netv1.Ingress
	if err := json.Unmarshal([]byte(status[0][strings.IndexByte(status[0], '{'):]), &put); err != nil {
		t.Fatal(err)
	}
	if put.Kind != "Ingress" || put.APIVersion != "networking.k8s.io/v1" || put.ResourceVersion != "5" ||
		len(put.Status.LoadBalancer.Ingress) != 1 || put.Status.LoadBalancer.Ingress[0].IP != "192.0.2.1" {
		t.Errorf("status written: %s", status[0])
	}
	eventually(t, func() string { return "an Event written" }, func() bool { return len(api.written("POST ")) > 0 })
	ev := api.written("POST ")[0]
	var e corev1.Event
	if err := json.Unmarshal([]byte(ev[strings.IndexByte(ev, '{'):]), &e); err != nil {
		t.Fatal(err)
	}
	ref := e.InvolvedObject
	if e.Kind != "Event" || e.Namespace != "shop" || ref.Kind != "Ingress" || ref.APIVersion != "networking.k8s.io/v1" ||
		ref.Namespace != "shop" || ref.Name != "good" || ref.UID != "u-good" || e.Reason != reasonApplyFailed ||
		!strings.Contains(e.Message, "marker") || e.Source.Component != "turnpike" || e.Source.Host != "gw-0" {
		t.Errorf("Event written: %s", ev)
	}
}

// cachedIngress runs an informer of shop's Ingresses on cl and returns
// the one it caches.
func cachedIngress(ctx context.Context, t *testing.T, cl Client) *netv1.Ingress {
	t.Helper()
	inf, err := informer(cl.Dynamic, ingressesGVR, "shop", nil, func() runtime.Object { return &netv1.Ingress{} })
	if err != nil {
		t.Fatal(err)
	}
	go inf.RunWithContext(ctx)
	eventually(t, func() string { return "the Ingress cached" }, inf.HasSynced)
	objs := inf.GetStore().List()
	if len(objs) != 1 {
		t.Fatalf("%d objects cached, want 1", len(objs))
	}
	ing, ok := objs[0].(*netv1.Ingress)
	if !ok || ing.Kind != kindIngress || ing.APIVersion != "networking.k8s.io/v1" || ing.Name != "good" || len(ing.Spec.Rules) != 1 || ing.Spec.Rules[0].Host != "shop.test" {
		t.Fatalf("cached %#v", objs[0])
	}

	return ing
}
