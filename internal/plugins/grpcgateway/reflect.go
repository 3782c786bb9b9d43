package grpcgateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/transcode"
)

// Bounds of one reflection exchange: the whole of it, each answer, and
// all the answers together.
const (
	reflectTimeout  = 10 * time.Second
	reflectMaxMsg   = 16 << 20
	reflectMaxTotal = 64 << 20
	// retryAfter spaces the fetches of a service whose last one failed,
	// and the refreshes a request no rule maps may start.
	retryAfter = time.Second
	refreshGap = 10 * time.Second
)

// reflector keeps, per service, the descriptors its upstream's server
// reflection gave. The first request of a service waits for them (with
// any others arriving meanwhile: one fetch); a failed fetch is tried again
// by a later request, and a request no rule maps starts a refresh in the
// background (the upstream may have added methods), keeping the old set
// in force until the new one is in hand.
type reflector struct {
	up  plugin.Upstreams
	log *slog.Logger

	// services holds a *reflected per service id: read on every request,
	// written once per service.
	services sync.Map
}

type reflected struct {
	set atomic.Pointer[transcode.Set]

	mu      sync.Mutex
	running chan struct{} // closed when the fetch under way ends
	last    time.Time     // when the last fetch started
	err     error
}

func newReflector(up plugin.Upstreams, log *slog.Logger) *reflector {
	return &reflector{up: up, log: log}
}

func (r *reflector) entry(id string) *reflected {
	if e, ok := r.services.Load(id); ok {
		return e.(*reflected)
	}
	e, _ := r.services.LoadOrStore(id, &reflected{})
	return e.(*reflected)
}

// loaded returns the service's descriptors when they are in hand: the
// request path's check, without a context or a wait.
func (r *reflector) loaded(id string) *transcode.Set {
	e, ok := r.services.Load(id)
	if !ok {
		return nil
	}
	return e.(*reflected).set.Load()
}

// get returns the service's descriptors, fetching them when there are
// none yet (waiting at most until ctx ends).
func (r *reflector) get(ctx context.Context, id string) (*transcode.Set, error) {
	if r.up == nil {
		return nil, errors.New("no proto file configured and no upstream to ask (a dry run)")
	}
	e := r.entry(id)
	if s := e.set.Load(); s != nil {
		return s, nil
	}
	done, err := r.start(e, id, retryAfter)
	if done == nil {
		return nil, err
	}
	select {
	case <-done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if s := e.set.Load(); s != nil {
		return s, nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return nil, e.err
}

// stale starts a background refresh of a service's descriptors, at most
// once per refreshGap.
func (r *reflector) stale(id string) {
	if r.up == nil {
		return
	}
	r.start(r.entry(id), id, refreshGap)
}

// start begins a fetch unless one is under way (whose end is returned
// instead) or the last began less than gap ago (nil and the last error).
func (r *reflector) start(e *reflected, id string, gap time.Duration) (<-chan struct{}, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.running != nil {
		return e.running, nil
	}
	if !e.last.IsZero() && time.Since(e.last) < gap {
		if e.err == nil {
			e.err = errors.New("descriptors not loaded yet")
		}
		return nil, e.err
	}
	e.last = time.Now()
	done := make(chan struct{})
	e.running = done
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), reflectTimeout)
		defer cancel()
		set, err := fetchDescriptors(ctx, r.up, id)
		if err != nil {
			r.log.Warn("grpc-gateway: server reflection failed", "service_id", id, "error", err)
		} else {
			e.set.Store(set)
		}
		e.mu.Lock()
		e.err, e.running = err, nil
		e.mu.Unlock()
		close(done)
	}()
	return done, nil
}

// fetchDescriptors asks the upstream's reflection service (v1, then
// v1alpha) for its services and the files that define them.
func fetchDescriptors(ctx context.Context, up plugin.Upstreams, id string) (*transcode.Set, error) {
	var err error
	for _, svc := range []string{"grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"} {
		var set *transcode.Set
		if set, err = fetchFrom(ctx, up, id, svc); err == nil {
			return set, nil
		}
		if !errors.Is(err, errUnimplemented) {
			return nil, err
		}
	}
	return nil, err
}

var errUnimplemented = errors.New("the upstream has no server reflection")

func fetchFrom(ctx context.Context, up plugin.Upstreams, id, svc string) (*transcode.Set, error) {
	list := &rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_ListServices{ListServices: "*"}}
	answers, err := reflectCall(ctx, up, id, svc, list)
	if err != nil {
		return nil, err
	}
	var asks []*rpb.ServerReflectionRequest
	for _, a := range answers {
		for _, s := range a.GetListServicesResponse().GetService() {
			if strings.HasPrefix(s.GetName(), "grpc.reflection.") {
				continue
			}
			asks = append(asks, &rpb.ServerReflectionRequest{
				MessageRequest: &rpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: s.GetName()}})
		}
	}
	if len(asks) == 0 {
		return nil, errors.New("the upstream's reflection lists no service")
	}
	if answers, err = reflectCall(ctx, up, id, svc, asks...); err != nil {
		return nil, err
	}
	// A service whose files the server cannot give (its reflection knows
	// only some of its services) is left out; the others still serve.
	var files []*descriptorpb.FileDescriptorProto
	var refused error
	for _, a := range answers {
		if e := a.GetErrorResponse(); e != nil {
			refused = fmt.Errorf("reflection: %s: %s", a.GetOriginalRequest().GetFileContainingSymbol(), e.GetErrorMessage())
			continue
		}
		for _, raw := range a.GetFileDescriptorResponse().GetFileDescriptorProto() {
			fd := &descriptorpb.FileDescriptorProto{}
			if err := proto.Unmarshal(raw, fd); err != nil {
				return nil, fmt.Errorf("reflection: a file descriptor: %v", err)
			}
			files = append(files, fd)
		}
	}
	if len(files) == 0 {
		return nil, refused
	}
	return transcode.NewSet(files)
}

// reflectCall sends reqs on one ServerReflectionInfo stream, closes it
// and reads every answer.
func reflectCall(ctx context.Context, up plugin.Upstreams, id, svc string, reqs ...*rpb.ServerReflectionRequest) ([]*rpb.ServerReflectionResponse, error) {
	var body []byte
	for _, q := range reqs {
		m, err := proto.Marshal(q)
		if err != nil {
			return nil, err
		}
		body = transcode.AppendFrame(body, false, m)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "/"+svc+"/ServerReflectionInfo", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header = http.Header{"Content-Type": {"application/grpc"}, "Te": {"trailers"}}
	resp, err := up.RoundTrip(id, req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("reflection: HTTP status %d", resp.StatusCode)
	}
	var out []*rpb.ServerReflectionResponse
	frames := transcode.NewFrameReader(io.LimitReader(resp.Body, reflectMaxTotal), reflectMaxMsg)
	for {
		flags, m, err := frames.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reflection: %v", err)
		}
		if flags&1 != 0 {
			return nil, errors.New("reflection: a compressed answer, which was not asked for")
		}
		a := &rpb.ServerReflectionResponse{}
		if err := proto.Unmarshal(m, a); err != nil {
			return nil, fmt.Errorf("reflection: %v", err)
		}
		out = append(out, a)
	}
	status := resp.Trailer.Get("Grpc-Status")
	if status == "" {
		status = resp.Header.Get("Grpc-Status")
	}
	switch status {
	case "0":
		return out, nil
	case "12":
		return nil, errUnimplemented
	}
	msg := resp.Trailer.Get("Grpc-Message")
	if msg == "" {
		msg = resp.Header.Get("Grpc-Message")
	}
	return nil, fmt.Errorf("reflection: grpc-status %q: %s", status, transcode.DecodeMessage(msg))
}
