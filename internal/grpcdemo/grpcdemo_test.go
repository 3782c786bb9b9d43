package grpcdemo

import (
	"context"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// client is a real grpc-go connection to a started Server, with the
// compiled descriptors to build dynamic messages from.
type client struct {
	srv  *Server
	conn *grpc.ClientConn
	sd   protoreflect.ServiceDescriptor
}

func startClient(t *testing.T) *client {
	t.Helper()
	srv, err := Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///"+srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &client{srv: srv, conn: conn, sd: srv.users.sd}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// request builds the named method's input with the given fields set.
func (c *client) request(method string, set func(m *dynamicpb.Message)) (*dynamicpb.Message, *dynamicpb.Message) {
	md := c.sd.Methods().ByName(protoreflect.Name(method))
	in := dynamicpb.NewMessage(md.Input())
	if set != nil {
		set(in)
	}
	return in, dynamicpb.NewMessage(md.Output())
}

func (c *client) invoke(ctx context.Context, method string, set func(m *dynamicpb.Message), opts ...grpc.CallOption) (*dynamicpb.Message, error) {
	in, out := c.request(method, set)
	err := c.conn.Invoke(ctx, "/"+ServiceName+"/"+method, in, out, opts...)
	return out, err
}

func setString(name protoreflect.Name, v string) func(m *dynamicpb.Message) {
	return func(m *dynamicpb.Message) { m.Set(fieldOf(m, name), protoreflect.ValueOfString(v)) }
}

func TestGetUser(t *testing.T) {
	c := startClient(t)
	out, err := c.invoke(ctxT(t), "GetUser", setString("id", "1"))
	if err != nil {
		t.Fatal(err)
	}
	if getString(out, "name") != "Alice" || getString(out, "email") != "alice@example.com" ||
		out.Get(fieldOf(out, "role")).Enum() != 2 || !slices.Equal(getStrings(out, "tags"), []string{"staff", "ops"}) {
		t.Fatalf("GetUser 1 = %v", out)
	}
	ts := out.Get(fieldOf(out, "created_at")).Message()
	if got := ts.Get(fieldOf(ts, "seconds")).Int(); got != seedTime.Unix() {
		t.Fatalf("created_at seconds = %d, want %d", got, seedTime.Unix())
	}
}

func TestGetUserErrorDetails(t *testing.T) {
	c := startClient(t)
	_, err := c.invoke(ctxT(t), "GetUser", setString("id", "99"))
	st := status.Convert(err)
	if st.Code() != codes.NotFound || len(st.Details()) != 1 {
		t.Fatalf("GetUser 99: %v %v", st.Code(), st.Details())
	}
	if info, ok := st.Details()[0].(*errdetails.ErrorInfo); !ok || info.Reason != "USER_NOT_FOUND" || info.Metadata["id"] != "99" {
		t.Fatalf("NOT_FOUND detail = %#v", st.Details()[0])
	}
	_, err = c.invoke(ctxT(t), "GetUser", setString("id", "abc"))
	st = status.Convert(err)
	if st.Code() != codes.InvalidArgument || len(st.Details()) != 1 {
		t.Fatalf("GetUser abc: %v %v", st.Code(), st.Details())
	}
	if br, ok := st.Details()[0].(*errdetails.BadRequest); !ok || br.FieldViolations[0].Field != "id" {
		t.Fatalf("INVALID_ARGUMENT detail = %#v", st.Details()[0])
	}
}

func TestCreateUpdateDeleteUser(t *testing.T) {
	c := startClient(t)
	ctx := ctxT(t)
	created, err := c.invoke(ctx, "CreateUser", func(m *dynamicpb.Message) {
		setString("name", "Dave")(m)
		m.Set(fieldOf(m, "role"), protoreflect.ValueOfEnum(2))
	})
	if err != nil {
		t.Fatal(err)
	}
	id := getString(created, "id")
	if id != "4" || getString(created, "name") != "Dave" {
		t.Fatalf("CreateUser = %v", created)
	}
	if _, err := c.invoke(ctx, "CreateUser", nil); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("CreateUser without name: %v", err)
	}
	updated, err := c.invoke(ctx, "UpdateUser", func(m *dynamicpb.Message) {
		u := m.Mutable(fieldOf(m, "user")).Message()
		u.Set(fieldOf(u, "id"), protoreflect.ValueOfString(id))
		u.Set(fieldOf(u, "email"), protoreflect.ValueOfString("dave@example.com"))
		u.Set(fieldOf(u, "name"), protoreflect.ValueOfString("ignored"))
		mask := m.Mutable(fieldOf(m, "update_mask")).Message()
		mask.Mutable(fieldOf(mask, "paths")).List().Append(protoreflect.ValueOfString("email"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if getString(updated, "email") != "dave@example.com" || getString(updated, "name") != "Dave" {
		t.Fatalf("UpdateUser with mask [email] = %v", updated)
	}
	byName, err := c.invoke(ctx, "GetUserByName", setString("name", "orgs/acme/users/dave"))
	if err != nil || getString(byName, "id") != id {
		t.Fatalf("GetUserByName = %v, %v", byName, err)
	}
	if _, err := c.invoke(ctx, "DeleteUser", setString("id", id)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.invoke(ctx, "GetUser", setString("id", id)); status.Code(err) != codes.NotFound {
		t.Fatalf("GetUser after delete: %v", err)
	}
}

// listStream opens ListUsers with the given request fields.
func (c *client) listStream(t *testing.T, set func(m *dynamicpb.Message)) (grpc.ClientStream, protoreflect.MessageDescriptor) {
	t.Helper()
	md := c.sd.Methods().ByName("ListUsers")
	in, _ := c.request("ListUsers", set)
	cs, err := c.conn.NewStream(ctxT(t), &grpc.StreamDesc{ServerStreams: true}, "/"+ServiceName+"/ListUsers")
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.SendMsg(in); err != nil {
		t.Fatal(err)
	}
	cs.CloseSend()
	return cs, md.Output()
}

func recvNames(cs grpc.ClientStream, out protoreflect.MessageDescriptor, n int) ([]string, error) {
	var names []string
	for n < 0 || len(names) < n {
		m := dynamicpb.NewMessage(out)
		if err := cs.RecvMsg(m); err != nil {
			return names, err
		}
		names = append(names, getString(m, "name"))
	}
	return names, nil
}

func TestListUsersFilters(t *testing.T) {
	c := startClient(t)
	for _, tc := range []struct {
		name string
		set  func(m *dynamicpb.Message)
		want []string
	}{
		{"all", nil, []string{"Alice", "Bob", "Carol"}},
		{"role", func(m *dynamicpb.Message) { m.Set(fieldOf(m, "role"), protoreflect.ValueOfEnum(1)) }, []string{"Bob", "Carol"}},
		{"tags", func(m *dynamicpb.Message) {
			m.Mutable(fieldOf(m, "tags")).List().Append(protoreflect.ValueOfString("staff"))
		}, []string{"Alice", "Bob"}},
		{"page", func(m *dynamicpb.Message) {
			p := m.Mutable(fieldOf(m, "page")).Message()
			p.Set(fieldOf(p, "offset"), protoreflect.ValueOfInt32(1))
			m.Set(fieldOf(m, "page_size"), protoreflect.ValueOfInt32(1))
		}, []string{"Bob"}},
	} {
		cs, out := c.listStream(t, tc.set)
		got, err := recvNames(cs, out, -1)
		if !errors.Is(err, io.EOF) || !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}

// With step, the second message waits for Server.Step; with fail_after the
// stream ends in UNAVAILABLE after the messages sent.
func TestListUsersStepAndFail(t *testing.T) {
	c := startClient(t)
	cs, out := c.listStream(t, func(m *dynamicpb.Message) {
		m.Set(fieldOf(m, "step"), protoreflect.ValueOfBool(true))
		m.Set(fieldOf(m, "fail_after"), protoreflect.ValueOfInt32(2))
	})
	if got, err := recvNames(cs, out, 1); err != nil || got[0] != "Alice" {
		t.Fatalf("first message: %v %v", got, err)
	}
	next := make(chan error, 1)
	go func() {
		_, err := recvNames(cs, out, 1)
		next <- err
	}()
	select {
	case err := <-next:
		t.Fatalf("second message came before Step: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	if !c.srv.Step(5 * time.Second) {
		t.Fatal("no stream took the step")
	}
	if err := <-next; err != nil {
		t.Fatal(err)
	}
	_, err := recvNames(cs, out, 1)
	if st := status.Convert(err); st.Code() != codes.Unavailable || len(st.Details()) != 1 {
		t.Fatalf("after fail_after: %v", err)
	}
}

func TestSleepDeadline(t *testing.T) {
	c := startClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.invoke(ctx, "Sleep", func(m *dynamicpb.Message) { m.Set(fieldOf(m, "millis"), protoreflect.ValueOfInt32(5000)) })
	if status.Code(err) != codes.DeadlineExceeded || time.Since(start) > 3*time.Second {
		t.Fatalf("Sleep 5s with a 100ms deadline: %v after %v", err, time.Since(start))
	}
	out, err := c.invoke(ctxT(t), "Sleep", func(m *dynamicpb.Message) { m.Set(fieldOf(m, "millis"), protoreflect.ValueOfInt32(10)) })
	if err != nil || out.Get(fieldOf(out, "slept_millis")).Int() != 10 {
		t.Fatalf("Sleep 10ms: %v %v", out, err)
	}
}

func TestEchoMetadata(t *testing.T) {
	c := startClient(t)
	ctx := metadata.AppendToOutgoingContext(ctxT(t), "x-echo-token", "abc", "x-echo-raw-bin", "\x00\xff", "x-other", "no")
	var hdr, trl metadata.MD
	if _, err := c.invoke(ctx, "GetUser", setString("id", "2"), grpc.Header(&hdr), grpc.Trailer(&trl)); err != nil {
		t.Fatal(err)
	}
	if got := hdr.Get("x-echo-token"); !slices.Equal(got, []string{"abc"}) {
		t.Errorf("header x-echo-token = %v", got)
	}
	if got := hdr.Get("x-echo-raw-bin"); !slices.Equal(got, []string{"\x00\xff"}) {
		t.Errorf("header x-echo-raw-bin = %q", got)
	}
	if got := trl.Get("x-echo-trailer-token"); !slices.Equal(got, []string{"abc"}) {
		t.Errorf("trailer x-echo-trailer-token = %v", got)
	}
	if hdr.Get("x-other") != nil {
		t.Error("x-other was echoed")
	}
}

func TestStreamingMethods(t *testing.T) {
	c := startClient(t)
	ctx := ctxT(t)
	up := c.sd.Methods().ByName("UploadUsers")
	cs, err := c.conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true}, "/"+ServiceName+"/UploadUsers")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := cs.SendMsg(dynamicpb.NewMessage(up.Input())); err != nil {
			t.Fatal(err)
		}
	}
	cs.CloseSend()
	res := dynamicpb.NewMessage(up.Output())
	if err := cs.RecvMsg(res); err != nil || res.Get(fieldOf(res, "count")).Int() != 3 {
		t.Fatalf("UploadUsers: %v %v", res, err)
	}

	chat := c.sd.Methods().ByName("Chat")
	cs, err = c.conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, "/"+ServiceName+"/Chat")
	if err != nil {
		t.Fatal(err)
	}
	msg := dynamicpb.NewMessage(chat.Input())
	msg.Set(fieldOf(msg, "text"), protoreflect.ValueOfString("hi"))
	if err := cs.SendMsg(msg); err != nil {
		t.Fatal(err)
	}
	back := dynamicpb.NewMessage(chat.Output())
	if err := cs.RecvMsg(back); err != nil || getString(back, "text") != "hi" {
		t.Fatalf("Chat: %v %v", back, err)
	}
}

func TestHealth(t *testing.T) {
	c := startClient(t)
	res, err := healthpb.NewHealthClient(c.conn).Check(ctxT(t), &healthpb.HealthCheckRequest{Service: ServiceName})
	if err != nil || res.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", res, err)
	}
}

// Both reflection versions list the service and answer its file with the
// guide's google.api.http rule on GetUser.
func TestReflection(t *testing.T) {
	c := startClient(t)
	ctx := ctxT(t)
	v1, err := reflectionv1.NewServerReflectionClient(c.conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v1.Send(&reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_ListServices{}})
	res, err := v1.Recv()
	if err != nil {
		t.Fatal(err)
	}
	listed := res.GetListServicesResponse().GetService()
	if !slices.ContainsFunc(listed, func(s *reflectionv1.ServiceResponse) bool { return s.Name == ServiceName }) {
		t.Fatalf("v1 list services = %v", res)
	}
	// Every listed service's file resolves, as a client that reads them
	// all (the grpc-gateway plugin does) needs.
	for _, s := range listed {
		v1.Send(&reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: s.Name}})
		if res, err := v1.Recv(); err != nil || res.GetErrorResponse() != nil {
			t.Errorf("file containing %s: %v %v", s.Name, res.GetErrorResponse(), err)
		}
	}
	v1.Send(&reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: ServiceName}})
	res, err = v1.Recv()
	if err != nil {
		t.Fatal(err)
	}
	checkRule(t, "v1", res.GetFileDescriptorResponse().GetFileDescriptorProto())

	va, err := reflectionv1alpha.NewServerReflectionClient(c.conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	va.Send(&reflectionv1alpha.ServerReflectionRequest{MessageRequest: &reflectionv1alpha.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: ServiceName + ".GetUser"}})
	resa, err := va.Recv()
	if err != nil {
		t.Fatal(err)
	}
	checkRule(t, "v1alpha", resa.GetFileDescriptorResponse().GetFileDescriptorProto())
}

func checkRule(t *testing.T, version string, files [][]byte) {
	t.Helper()
	for _, raw := range files {
		var fd descriptorpb.FileDescriptorProto
		if err := proto.Unmarshal(raw, &fd); err != nil {
			t.Fatal(err)
		}
		if fd.GetName() != ProtoPath {
			continue
		}
		for _, m := range fd.GetService()[0].GetMethod() {
			if m.GetName() == "GetUser" {
				rule := proto.GetExtension(m.GetOptions(), annotations.E_Http).(*annotations.HttpRule)
				if rule.GetGet() != "/v1/users/{id}" {
					t.Fatalf("%s: GetUser rule = %v", version, rule)
				}
				return
			}
		}
	}
	t.Fatalf("%s: no GetUser in %s among %d files", version, ProtoPath, len(files))
}

// BenchmarkGetUser is one unary call over a real connection: the upstream's
// share of the transcoding benchmark's work, which runs beside the gateway.
func BenchmarkGetUser(b *testing.B) {
	srv, err := Start("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Stop()
	conn, err := grpc.NewClient("passthrough:///"+srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	md := srv.users.sd.Methods().ByName("GetUser")
	in := dynamicpb.NewMessage(md.Input())
	in.Set(fieldOf(in, "id"), protoreflect.ValueOfString("1"))
	out := dynamicpb.NewMessage(md.Output())
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := conn.Invoke(ctx, "/"+ServiceName+"/GetUser", in, out); err != nil {
			b.Fatal(err)
		}
	}
}
