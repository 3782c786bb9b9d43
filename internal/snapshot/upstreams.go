package snapshot

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/turnpikegw/turnpike/internal/upstream"
)

// Upstreams is plugin.Upstreams over the snapshot in force: a plugin's
// own requests to a service's upstream (server reflection) go to a
// target the service's balancer picks, through its HTTP/2 transport.
type Upstreams struct{ Holder *Holder }

// ErrNotGRPC is RoundTrip's answer for a service that is not grpc or
// grpcs.
var ErrNotGRPC = errors.New("the service is not a grpc or grpcs service")

// RoundTrip sends req to a target of the service serviceID.
func (u Upstreams) RoundTrip(serviceID string, req *http.Request) (*http.Response, error) {
	snap := u.Holder.Load()
	if snap == nil {
		return nil, errors.New("no configuration in force")
	}
	var svc *Service
	for _, s := range snap.Services {
		if s.Info.ID == serviceID {
			svc = s
			break
		}
	}
	if svc == nil {
		return nil, fmt.Errorf("no service %q in the configuration in force", serviceID)
	}
	if svc.H2 == nil {
		return nil, ErrNotGRPC
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
