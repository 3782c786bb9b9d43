package grpcdemo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

const (
	// maxUsers bounds what CreateUser may add, so a client cannot grow the
	// demo without limit.
	maxUsers = 1000
	// maxSleep bounds Sleep whatever the client asks.
	maxSleep = 30 * time.Second
	// errorDomain is the google.rpc.ErrorInfo domain of the service's errors.
	errorDomain = "demo.turnpike.v1"
)

// seedTime is the created_at of the seeded users, fixed so tests can
// compare it.
var seedTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

type user struct {
	id, name, email string
	role            protoreflect.EnumNumber
	created         time.Time
	tags            []string
}

type userService struct {
	sd   protoreflect.ServiceDescriptor
	user protoreflect.MessageDescriptor
	step chan struct{}

	mu     sync.Mutex
	users  map[string]user
	nextID int
}

func newUserService(sd protoreflect.ServiceDescriptor) *userService {
	u := &userService{
		sd:     sd,
		user:   sd.ParentFile().Messages().ByName("User"),
		step:   make(chan struct{}),
		users:  map[string]user{},
		nextID: 4,
	}
	for _, s := range []user{
		{id: "1", name: "Alice", email: "alice@example.com", role: 2, tags: []string{"staff", "ops"}},
		{id: "2", name: "Bob", email: "bob@example.com", role: 1, tags: []string{"staff"}},
		{id: "3", name: "Carol", email: "carol@example.com", role: 1, tags: []string{"contractor"}},
	} {
		s.created = seedTime
		u.users[s.id] = s
	}
	return u
}

type unaryFn func(ctx context.Context, req *dynamicpb.Message) (proto.Message, error)
type streamFn func(md protoreflect.MethodDescriptor, ss grpc.ServerStream) error

// serviceDesc describes the methods of user.proto to grpc-go, each handler
// decoding into a dynamic message of the method's input type.
func (u *userService) serviceDesc() *grpc.ServiceDesc {
	unary := map[string]unaryFn{
		"GetUser": u.getUser, "CreateUser": u.createUser, "UpdateUser": u.updateUser,
		"DeleteUser": u.deleteUser, "GetUserByName": u.getUserByName, "Sleep": u.sleep,
	}
	streams := map[string]streamFn{"ListUsers": u.listUsers, "UploadUsers": u.uploadUsers, "Chat": u.chat}
	desc := &grpc.ServiceDesc{ServiceName: ServiceName, HandlerType: (*any)(nil), Metadata: ProtoPath}
	methods := u.sd.Methods()
	for i := range methods.Len() {
		md := methods.Get(i)
		name := string(md.Name())
		if fn, ok := unary[name]; ok {
			desc.Methods = append(desc.Methods, grpc.MethodDesc{MethodName: name, Handler: unaryHandler(md, fn)})
			continue
		}
		fn := streams[name]
		desc.Streams = append(desc.Streams, grpc.StreamDesc{
			StreamName:    name,
			Handler:       func(_ any, ss grpc.ServerStream) error { return fn(md, ss) },
			ServerStreams: md.IsStreamingServer(),
			ClientStreams: md.IsStreamingClient(),
		})
	}
	return desc
}

func unaryHandler(md protoreflect.MethodDescriptor, fn unaryFn) grpc.MethodHandler {
	full := "/" + ServiceName + "/" + string(md.Name())
	return func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
		req := dynamicpb.NewMessage(md.Input())
		if err := dec(req); err != nil {
			return nil, err
		}
		if ic == nil {
			return fn(ctx, req)
		}
		return ic(ctx, req, &grpc.UnaryServerInfo{Server: srv, FullMethod: full}, func(ctx context.Context, r any) (any, error) {
			return fn(ctx, r.(*dynamicpb.Message))
		})
	}
}

func (u *userService) getUser(_ context.Context, req *dynamicpb.Message) (proto.Message, error) {
	id := getString(req, "id")
	if _, err := strconv.ParseUint(id, 10, 32); err != nil {
		return nil, withDetail(codes.InvalidArgument, fmt.Sprintf("invalid user id %q", id), &errdetails.BadRequest{
			FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "id", Description: "must be a decimal number"}},
		})
	}
	u.mu.Lock()
	usr, ok := u.users[id]
	u.mu.Unlock()
	if !ok {
		return nil, notFound(id)
	}
	return u.message(usr), nil
}

func (u *userService) createUser(_ context.Context, req *dynamicpb.Message) (proto.Message, error) {
	usr := user{
		name:    getString(req, "name"),
		email:   getString(req, "email"),
		role:    req.Get(fieldOf(req, "role")).Enum(),
		tags:    getStrings(req, "tags"),
		created: time.Now().UTC().Truncate(time.Second),
	}
	if usr.name == "" {
		return nil, withDetail(codes.InvalidArgument, "name is required", &errdetails.BadRequest{
			FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "name", Description: "must not be empty"}},
		})
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.users) >= maxUsers {
		return nil, status.Errorf(codes.ResourceExhausted, "the demo holds at most %d users", maxUsers)
	}
	usr.id = strconv.Itoa(u.nextID)
	u.nextID++
	u.users[usr.id] = usr
	return u.message(usr), nil
}

// updateUser applies the update_mask's paths; an empty mask replaces every
// field but id and created_at, as AIP-134 says.
func (u *userService) updateUser(_ context.Context, req *dynamicpb.Message) (proto.Message, error) {
	in := req.Get(fieldOf(req, "user")).Message()
	id := getString(in, "id")
	mask := req.Get(fieldOf(req, "update_mask")).Message()
	paths := getStrings(mask, "paths")
	if len(paths) == 0 {
		paths = []string{"name", "email", "role", "tags"}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	usr, ok := u.users[id]
	if !ok {
		return nil, notFound(id)
	}
	for _, p := range paths {
		switch p {
		case "name":
			usr.name = getString(in, "name")
		case "email":
			usr.email = getString(in, "email")
		case "role":
			usr.role = in.Get(fieldOf(in, "role")).Enum()
		case "tags":
			usr.tags = getStrings(in, "tags")
		default:
			return nil, withDetail(codes.InvalidArgument, fmt.Sprintf("cannot update %q", p), &errdetails.BadRequest{
				FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "update_mask", Description: "unknown or immutable path " + p}},
			})
		}
	}
	u.users[id] = usr
	return u.message(usr), nil
}

func (u *userService) deleteUser(_ context.Context, req *dynamicpb.Message) (proto.Message, error) {
	id := getString(req, "id")
	u.mu.Lock()
	_, ok := u.users[id]
	delete(u.users, id)
	u.mu.Unlock()
	if !ok {
		return nil, notFound(id)
	}
	return dynamicpb.NewMessage(u.sd.Methods().ByName("DeleteUser").Output()), nil
}

// getUserByName finds a user by the last segment of name
// (orgs/{org}/users/{user} or a bare name), ignoring case.
func (u *userService) getUserByName(_ context.Context, req *dynamicpb.Message) (proto.Message, error) {
	name := getString(req, "name")
	short := name[strings.LastIndexByte(name, '/')+1:]
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, usr := range u.users {
		if strings.EqualFold(usr.name, short) {
			return u.message(usr), nil
		}
	}
	return nil, notFound(name)
}

func (u *userService) sleep(ctx context.Context, req *dynamicpb.Message) (proto.Message, error) {
	d := min(time.Duration(req.Get(fieldOf(req, "millis")).Int())*time.Millisecond, maxSleep)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	out := dynamicpb.NewMessage(u.sd.Methods().ByName("Sleep").Output())
	out.Set(fieldOf(out, "slept_millis"), protoreflect.ValueOfInt32(int32(d/time.Millisecond)))
	return out, nil
}

// listUsers streams the users in id order, filtered by role and tags,
// after page.offset, at most page_size (or page.size) of them.
func (u *userService) listUsers(md protoreflect.MethodDescriptor, ss grpc.ServerStream) error {
	req := dynamicpb.NewMessage(md.Input())
	if err := ss.RecvMsg(req); err != nil {
		return err
	}
	page := req.Get(fieldOf(req, "page")).Message()
	limit := int(req.Get(fieldOf(req, "page_size")).Int())
	if limit == 0 {
		limit = int(page.Get(fieldOf(page, "size")).Int())
	}
	offset := int(page.Get(fieldOf(page, "offset")).Int())
	step := req.Get(fieldOf(req, "step")).Bool()
	failAfter := int(req.Get(fieldOf(req, "fail_after")).Int())
	matched := u.match(req.Get(fieldOf(req, "role")).Enum(), getStrings(req, "tags"))
	matched = matched[min(max(offset, 0), len(matched)):]
	if limit > 0 && limit < len(matched) {
		matched = matched[:limit]
	}
	for i, usr := range matched {
		if failAfter > 0 && i == failAfter {
			return withDetail(codes.Unavailable, fmt.Sprintf("stream failed after %d messages", i), &errdetails.ErrorInfo{
				Reason: "STREAM_FAILED", Domain: errorDomain,
			})
		}
		if step && i > 0 {
			select {
			case <-u.step:
			case <-ss.Context().Done():
				return status.FromContextError(ss.Context().Err()).Err()
			}
		}
		if err := ss.SendMsg(u.message(usr)); err != nil {
			return err
		}
	}
	return nil
}

func (u *userService) match(role protoreflect.EnumNumber, tags []string) []user {
	u.mu.Lock()
	var out []user
	for _, usr := range u.users {
		if (role == 0 || usr.role == role) && !slices.ContainsFunc(tags, func(t string) bool { return !slices.Contains(usr.tags, t) }) {
			out = append(out, usr)
		}
	}
	u.mu.Unlock()
	slices.SortFunc(out, func(a, b user) int {
		ai, _ := strconv.Atoi(a.id)
		bi, _ := strconv.Atoi(b.id)
		return ai - bi
	})
	return out
}

// uploadUsers counts the users a client streams; it keeps none.
func (u *userService) uploadUsers(md protoreflect.MethodDescriptor, ss grpc.ServerStream) error {
	n := 0
	for {
		err := ss.RecvMsg(dynamicpb.NewMessage(md.Input()))
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		n++
	}
	out := dynamicpb.NewMessage(md.Output())
	out.Set(fieldOf(out, "count"), protoreflect.ValueOfInt32(int32(n)))
	return ss.SendMsg(out)
}

// chat sends every message back as it comes.
func (u *userService) chat(md protoreflect.MethodDescriptor, ss grpc.ServerStream) error {
	for {
		m := dynamicpb.NewMessage(md.Input())
		err := ss.RecvMsg(m)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := ss.SendMsg(m); err != nil {
			return err
		}
	}
}

// message renders usr as a User message.
func (u *userService) message(usr user) *dynamicpb.Message {
	m := dynamicpb.NewMessage(u.user)
	m.Set(fieldOf(m, "id"), protoreflect.ValueOfString(usr.id))
	m.Set(fieldOf(m, "name"), protoreflect.ValueOfString(usr.name))
	m.Set(fieldOf(m, "email"), protoreflect.ValueOfString(usr.email))
	m.Set(fieldOf(m, "role"), protoreflect.ValueOfEnum(usr.role))
	ts := m.Mutable(fieldOf(m, "created_at")).Message()
	ts.Set(fieldOf(ts, "seconds"), protoreflect.ValueOfInt64(usr.created.Unix()))
	ts.Set(fieldOf(ts, "nanos"), protoreflect.ValueOfInt32(int32(usr.created.Nanosecond())))
	tags := m.Mutable(fieldOf(m, "tags")).List()
	for _, t := range usr.tags {
		tags.Append(protoreflect.ValueOfString(t))
	}
	return m
}

func notFound(id string) error {
	return withDetail(codes.NotFound, fmt.Sprintf("user %q not found", id), &errdetails.ErrorInfo{
		Reason: "USER_NOT_FOUND", Domain: errorDomain, Metadata: map[string]string{"id": id},
	})
}

func withDetail(c codes.Code, msg string, detail protoadapt.MessageV1) error {
	st, err := status.New(c, msg).WithDetails(detail)
	if err != nil {
		return status.Error(c, msg)
	}
	return st.Err()
}

func fieldOf(m protoreflect.Message, name protoreflect.Name) protoreflect.FieldDescriptor {
	return m.Descriptor().Fields().ByName(name)
}

func getString(m protoreflect.Message, name protoreflect.Name) string {
	return m.Get(fieldOf(m, name)).String()
}

func getStrings(m protoreflect.Message, name protoreflect.Name) []string {
	l := m.Get(fieldOf(m, name)).List()
	out := make([]string, l.Len())
	for i := range out {
		out[i] = l.Get(i).String()
	}
	return out
}
