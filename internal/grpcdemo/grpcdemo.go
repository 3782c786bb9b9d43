// Package grpcdemo is a small gRPC UserService (turnpike.demo.v1) that
// `turnpike demo` runs in-process and the tests start as a real upstream for
// REST-to-gRPC transcoding and grpc-web.
//
// There is no protoc here: the embedded user.proto is compiled at start with
// protocompile, and the methods are served through grpc.ServiceDesc handlers
// over dynamicpb messages. Server reflection (v1 and v1alpha) answers from
// the compiled files, so a gateway without a proto file can still learn the
// google.api.http rules; the standard health service reports SERVING.
//
// Behaviour the tests lean on:
//   - GetUser of an id that is not a decimal number fails INVALID_ARGUMENT
//     with a google.rpc.BadRequest detail; of an unknown id, NOT_FOUND with a
//     google.rpc.ErrorInfo detail.
//   - Sleep waits the asked milliseconds, or until the caller's deadline.
//   - ListUsers with step set waits for Server.Step before each message after
//     the first; with fail_after N it fails UNAVAILABLE after N messages.
//   - Every request metadata key x-echo-NAME comes back as the response
//     header x-echo-NAME and the trailer x-echo-trailer-NAME (a -bin suffix
//     stays last, so binary values stay binary).
package grpcdemo

import (
	"context"
	_ "embed"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/bufbuild/protocompile"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	// The descriptors user.proto imports, registered in GlobalFiles.
	_ "google.golang.org/genproto/googleapis/api/annotations"
	_ "google.golang.org/protobuf/types/known/emptypb"
	_ "google.golang.org/protobuf/types/known/fieldmaskpb"
	_ "google.golang.org/protobuf/types/known/timestamppb"
)

// Proto is the text of the service's .proto file, for tests and users who
// configure the gateway with a proto file instead of reflection.
//
//go:embed user.proto
var Proto string

// ProtoPath is the path the service's file is compiled and reflected under.
const ProtoPath = "turnpike/demo/v1/user.proto"

// ServiceName is the full name of the service.
const ServiceName = "turnpike.demo.v1.UserService"

// Server is a running UserService.
type Server struct {
	grpc  *grpc.Server
	ln    net.Listener
	users *userService
}

// Start compiles the service's descriptors and serves them on addr
// ("127.0.0.1:0" picks a free port).
func Start(addr string) (*Server, error) {
	file, files, err := compile()
	if err != nil {
		return nil, err
	}
	sd := file.Services().ByName("UserService")
	if sd == nil {
		return nil, fmt.Errorf("grpcdemo: %s has no UserService", ProtoPath)
	}
	us := newUserService(sd)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	gs := grpc.NewServer(grpc.UnaryInterceptor(echoUnary), grpc.StreamInterceptor(echoStream))
	gs.RegisterService(us.serviceDesc(), us)
	hs := health.NewServer()
	hs.SetServingStatus(ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(gs, hs)
	opts := reflection.ServerOptions{Services: gs, DescriptorResolver: files, ExtensionResolver: protoregistry.GlobalTypes}
	reflectionv1.RegisterServerReflectionServer(gs, reflection.NewServerV1(opts))
	reflectionv1alpha.RegisterServerReflectionServer(gs, reflection.NewServer(opts))
	go gs.Serve(ln)
	return &Server{grpc: gs, ln: ln, users: us}, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Stop closes the listener and every connection at once.
func (s *Server) Stop() { s.grpc.Stop() }

// Step lets one ListUsers stream that asked for step send its next message.
// It reports false when no stream took the step within the wait.
func (s *Server) Step(wait time.Duration) bool {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case s.users.step <- struct{}{}:
		return true
	case <-t.C:
		return false
	}
}

// File compiles the service's file, for clients that build dynamic
// messages of its types.
func File() (protoreflect.FileDescriptor, error) {
	fd, _, err := compile()
	return fd, err
}

// compile compiles user.proto, taking its imports from GlobalFiles (so the
// google.api.http extension is the one the genproto package registered), and
// returns it with a registry of the files of every service the server
// registers and their imports, for reflection.
func compile() (protoreflect.FileDescriptor, *protoregistry.Files, error) {
	global := protocompile.ResolverFunc(func(path string) (protocompile.SearchResult, error) {
		fd, err := protoregistry.GlobalFiles.FindFileByPath(path)
		if err != nil {
			return protocompile.SearchResult{}, err
		}
		return protocompile.SearchResult{Desc: fd}, nil
	})
	src := &protocompile.SourceResolver{Accessor: protocompile.SourceAccessorFromMap(map[string]string{ProtoPath: Proto})}
	c := protocompile.Compiler{Resolver: protocompile.WithStandardImports(protocompile.CompositeResolver{src, global})}
	out, err := c.Compile(context.Background(), ProtoPath)
	if err != nil {
		return nil, nil, fmt.Errorf("grpcdemo: compile %s: %w", ProtoPath, err)
	}
	// Reflection must answer for every service the server lists, the
	// health and reflection services included.
	files := new(protoregistry.Files)
	for _, fd := range []protoreflect.FileDescriptor{out[0], healthpb.File_grpc_health_v1_health_proto,
		reflectionv1.File_grpc_reflection_v1_reflection_proto, reflectionv1alpha.File_grpc_reflection_v1alpha_reflection_proto} {
		if err := register(files, fd); err != nil {
			return nil, nil, err
		}
	}
	return out[0], files, nil
}

// register adds fd after its imports, once each.
func register(files *protoregistry.Files, fd protoreflect.FileDescriptor) error {
	if _, err := files.FindFileByPath(fd.Path()); err == nil {
		return nil
	}
	imports := fd.Imports()
	for i := range imports.Len() {
		if err := register(files, imports.Get(i).FileDescriptor); err != nil {
			return err
		}
	}
	return files.RegisterFile(fd)
}

const echoPrefix = "x-echo-"

// echoMD splits the x-echo-* request metadata into the header and trailer
// the server answers with.
func echoMD(ctx context.Context) (header, trailer metadata.MD) {
	in, _ := metadata.FromIncomingContext(ctx)
	for k, v := range in {
		name, ok := strings.CutPrefix(k, echoPrefix)
		if !ok {
			continue
		}
		if header == nil {
			header, trailer = metadata.MD{}, metadata.MD{}
		}
		header[k] = v
		trailer[echoPrefix+"trailer-"+name] = v
	}
	return header, trailer
}

func echoUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	if h, t := echoMD(ctx); h != nil {
		grpc.SetHeader(ctx, h)
		grpc.SetTrailer(ctx, t)
	}
	return next(ctx, req)
}

func echoStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, next grpc.StreamHandler) error {
	if h, t := echoMD(ss.Context()); h != nil {
		ss.SetHeader(h)
		ss.SetTrailer(t)
	}
	return next(srv, ss)
}
