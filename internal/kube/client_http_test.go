package kube

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
)

// A discovery refused by the API server (a 403 with its Status) reports
// the server's message, as client-go's discovery client did.
func TestClientDiscoveryErrorKeepsMessage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403,`+
			`"message":"forbidden: User \"system:serviceaccount:gw:turnpike\" cannot get path \"/apis/configuration.konghq.com/v1\""}`)
	}))
	defer srv.Close()
	cl, err := NewClient(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cl.Resources(context.Background(), schema.GroupVersion{Group: "configuration.konghq.com", Version: "v1"})
	if err == nil || !strings.Contains(err.Error(), "system:serviceaccount") || !apierrors.IsForbidden(err) {
		t.Errorf("the API server's reason is lost: %v", err)
	}
}

// The informers' field selectors (Secret types, the publish Service by
// name) reach the API server on LIST and on WATCH; the fake dynamic
// client of the other tests ignores them.
func TestClientFieldSelectorsSent(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("watch") == "true" {
			if r.URL.Query().Get("sendInitialEvents") == "true" {
				w.WriteHeader(400)
				fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"BadRequest","code":400}`)
				return
			}
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return
		}
		if strings.HasPrefix(r.URL.Path, "/apis/configuration") || strings.HasPrefix(r.URL.Path, "/apis/networking.istio") {
			w.WriteHeader(404)
			fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`)
			return
		}
		fmt.Fprint(w, `{"apiVersion":"v1","kind":"List","metadata":{"resourceVersion":"1"},"items":[]}`)
	}))
	defer srv.Close()
	cl, err := NewClient(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := newSources(ctx, cl, Options{Namespaces: []string{"shop"}}, svcKey{"gw", "turnpike"}, func() {})
	if err != nil {
		t.Fatal(err)
	}
	s.start(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		ok := true
		for _, f := range s.synced() {
			ok = ok && f()
		}
		if ok {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	var secretList, secretWatch, pubList, pubWatch bool
	for _, s := range seen {
		if strings.Contains(s, "/api/v1/namespaces/shop/secrets?") && strings.Contains(s, "fieldSelector=type%21%3Dhelm.sh") {
			if strings.Contains(s, "watch=true") {
				secretWatch = true
			} else {
				secretList = true
			}
		}
		if strings.Contains(s, "/api/v1/namespaces/gw/services?") && strings.Contains(s, "fieldSelector=metadata.name%3Dturnpike") {
			if strings.Contains(s, "watch=true") {
				pubWatch = true
			} else {
				pubList = true
			}
		}
	}
	if !secretList || !secretWatch || !pubList || !pubWatch {
		t.Errorf("selectors: secrets list %v watch %v, publish list %v watch %v", secretList, secretWatch, pubList, pubWatch)
	}
}

// A repeated Event goes as a strategic merge patch, as client-go's typed
// sink sends it.
func TestClientEventRepeatPatched(t *testing.T) {
	var mu sync.Mutex
	var writes []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		writes = append(writes, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type")+" "+string(body))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.Method {
		case http.MethodPost:
			w.WriteHeader(201)
			w.Write(body)
		case http.MethodPatch:
			name := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
			fmt.Fprintf(w, `{"apiVersion":"v1","kind":"Event","metadata":{"namespace":"shop","name":%q,"resourceVersion":"9"},"count":2}`, name)
		}
	}))
	defer srv.Close()
	cl, _ := NewClient(&rest.Config{Host: srv.URL})
	r, err := newReporter(cl.Dynamic, Options{Component: "turnpike", Host: "gw-0"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	ing := testIngress("shop", "good")
	r.record(ing, note{reasonApplyFailed, "m"})
	r.record(ing, note{reasonApplyFailed, "m"})
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(writes)
		mu.Unlock()
		if n >= 2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(writes) != 2 || !strings.HasPrefix(writes[1], "PATCH /api/v1/namespaces/shop/events/good.") ||
		!strings.Contains(writes[1], "application/strategic-merge-patch+json") {
		t.Errorf("writes: %q", writes)
	}
}
