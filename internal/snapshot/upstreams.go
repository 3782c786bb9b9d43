package snapshot

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/turnpikegw/turnpike/internal/upstream"
)

// Upstreams is plugin.Upstreams over the snapshot in force: a plugin's
// own requests to a service's upstream go to a target the service's
// balancer picks, over the transport the proxy uses for that service:
// HTTP/2 for grpc and grpcs (server reflection), the proxy's HTTP/1.1
// client (HTTP) for http and https (aggregation).
type Upstreams struct {
	Holder *Holder
	// HTTP carries the requests to http and https services; the gateway
	// sets the proxy's handler. Nil: those services are refused
	// (ErrNoHTTP).
	HTTP ServiceTransport
}

// ServiceTransport sends a request to an http or https service as the
// proxy forwards a client's: balancer pick, timeouts, retries, upstream
// TLS, passive health. proxy.Handler is the one.
type ServiceTransport interface {
	RoundTripService(svc *Service, req *http.Request) (*http.Response, error)
}

// ErrNoHTTP is RoundTrip's answer for an http or https service when no
// HTTP transport was given.
var ErrNoHTTP = errors.New("no transport for http and https services")

// RoundTrip sends req to a target of the service whose id is serviceID.
func (u Upstreams) RoundTrip(serviceID string, req *http.Request) (*http.Response, error) {
	snap := u.Holder.Load()
	if snap == nil {
		return nil, errors.New("no configuration in force")
	}
	svc := snap.serviceByID[serviceID]
	if svc == nil {
		return nil, fmt.Errorf("no service %q in the configuration in force", serviceID)
	}
	if svc.H2 == nil {
		if u.HTTP == nil {
			return nil, ErrNoHTTP
		}
		return u.HTTP.RoundTripService(svc, req)
	}
	t, err := svc.Balancer.Pick(&upstream.PickRequest{Req: req, Path: req.URL.Path})
	if err != nil {
		return nil, err
	}
	out := req.Clone(req.Context())
	out.URL.Scheme = svc.Scheme
	out.URL.Host = t.Addr
	out.Host = svc.HostHeader
	return svc.H2.RoundTrip(out)
}
