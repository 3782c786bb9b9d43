package transcode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	// Imported for the descriptors they register: they are the bundled google/api and google/rpc
	// files that .proto files import, and the error details Any values resolve to.
	_ "google.golang.org/genproto/googleapis/api"
	_ "google.golang.org/genproto/googleapis/api/annotations"
	_ "google.golang.org/genproto/googleapis/api/httpbody"
	_ "google.golang.org/genproto/googleapis/rpc/code"
	_ "google.golang.org/genproto/googleapis/rpc/errdetails"
	_ "google.golang.org/genproto/googleapis/rpc/status"
)

// MaxProtoFile bounds each .proto file read, so a config pointing at a huge or endless file fails
// at load instead of eating memory.
const MaxProtoFile = 4 << 20

// Compile compiles the .proto file at path; imports resolve beside it, then from the bundled
// google/api and google/rpc files and the well-known types. A file that does not compile is an
// error carrying the compiler's file:line:col message.
func Compile(path string) (*Set, error) {
	src := &protocompile.SourceResolver{
		ImportPaths: []string{filepath.Dir(path)},
		Accessor:    openBounded,
	}
	return compile(src, filepath.Base(path))
}

// CompileSource compiles in-memory files (name → content), the named ones and what they import.
func CompileSource(files map[string]string, names ...string) (*Set, error) {
	for name, src := range files {
		if len(src) > MaxProtoFile {
			return nil, fmt.Errorf("%s: file is over %d bytes", name, MaxProtoFile)
		}
	}
	return compile(&protocompile.SourceResolver{Accessor: protocompile.SourceAccessorFromMap(files)}, names...)
}

func compile(src protocompile.Resolver, names ...string) (*Set, error) {
	if len(names) == 0 {
		return nil, errors.New("no file to compile")
	}
	c := protocompile.Compiler{
		Resolver:       protocompile.WithStandardImports(protocompile.CompositeResolver{src, protocompile.ResolverFunc(bundled)}),
		MaxParallelism: 1,
	}
	linked, err := c.Compile(context.Background(), names...)
	if err != nil {
		return nil, err
	}
	// The compiler's descriptors resolve editions features on every call (HasPresence and the
	// like, asked per field per message); protodesc's cache them, so the set is rebuilt from the
	// compiled protos once here.
	var fdps []*descriptorpb.FileDescriptorProto
	seen := map[string]bool{}
	for _, f := range linked {
		collectProtos(f, seen, &fdps)
	}
	return NewSet(fdps)
}

// collectProtos lists fd and its imports as protos, leaving out the bundled files that NewSet takes
// from the global registry.
func collectProtos(fd protoreflect.FileDescriptor, seen map[string]bool, out *[]*descriptorpb.FileDescriptorProto) {
	if seen[fd.Path()] {
		return
	}
	seen[fd.Path()] = true
	imports := fd.Imports()
	for i := range imports.Len() {
		collectProtos(imports.Get(i).FileDescriptor, seen, out)
	}
	if g, err := protoregistry.GlobalFiles.FindFileByPath(fd.Path()); err == nil && g == fd {
		return
	}
	*out = append(*out, protodesc.ToFileDescriptorProto(fd))
}

// bundled serves google/api and google/rpc imports from the descriptors the genproto packages
// register, so no copy of their .proto text ships with Turnpike.
func bundled(path string) (protocompile.SearchResult, error) {
	if isBundled(path) {
		if fd, err := protoregistry.GlobalFiles.FindFileByPath(path); err == nil {
			return protocompile.SearchResult{Desc: fd}, nil
		}
	}
	return protocompile.SearchResult{}, fs.ErrNotExist
}

func isBundled(path string) bool {
	return strings.HasPrefix(path, "google/api/") || strings.HasPrefix(path, "google/rpc/") ||
		strings.HasPrefix(path, "google/protobuf/")
}

// openBounded opens a regular file of at most MaxProtoFile bytes; a FIFO or device would otherwise
// block or never end.
func openBounded(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("%s: not a regular file", path)
	} else if err == nil && st.Size() > MaxProtoFile {
		err = fmt.Errorf("%s: file is over %d bytes", path, MaxProtoFile)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(f, MaxProtoFile), f}, nil
}

func registerWithDeps(reg *protoregistry.Files, fd protoreflect.FileDescriptor) error {
	if _, err := reg.FindFileByPath(fd.Path()); err == nil {
		return nil
	}
	imports := fd.Imports()
	for i := range imports.Len() {
		if err := registerWithDeps(reg, imports.Get(i).FileDescriptor); err != nil {
			return err
		}
	}
	return reg.RegisterFile(fd)
}

// NewSet builds a set from file descriptors in any order, as a server reflection answers them.
// Duplicates are dropped (the first one stands), and an import that is missing is taken from the
// bundled google/api, google/rpc and well-known files when it is one of them.
func NewSet(files []*descriptorpb.FileDescriptorProto) (*Set, error) {
	byName := make(map[string]*descriptorpb.FileDescriptorProto, len(files))
	for _, f := range files {
		if _, dup := byName[f.GetName()]; !dup {
			byName[f.GetName()] = f
		}
	}
	reg := new(protoregistry.Files)
	visiting := map[string]bool{}
	var build func(name string) error
	build = func(name string) error {
		if _, err := reg.FindFileByPath(name); err == nil {
			return nil
		}
		fdp, ok := byName[name]
		if !ok {
			if fd, err := protoregistry.GlobalFiles.FindFileByPath(name); err == nil && isBundled(name) {
				return registerWithDeps(reg, fd)
			}
			return fmt.Errorf("%s: file not found among the descriptors", name)
		}
		if visiting[name] {
			return fmt.Errorf("%s: import cycle", name)
		}
		visiting[name] = true
		for _, dep := range fdp.GetDependency() {
			if err := build(dep); err != nil {
				return fmt.Errorf("%s: import %w", name, err)
			}
		}
		fd, err := protodesc.NewFile(fdp, reg)
		if err != nil {
			return err
		}
		return reg.RegisterFile(fd)
	}
	names := make([]string, 0, len(byName))
	for name := range byName {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := build(name); err != nil {
			return nil, err
		}
	}
	return newSet(reg)
}

// newSet indexes the methods of every file in reg and compiles their bindings. Files are taken in
// path order so that the declaration order that breaks ties between equal templates is the same
// on every load.
func newSet(reg *protoregistry.Files) (*Set, error) {
	s := &Set{
		files:   reg,
		types:   resolver{local: dynamicpb.NewTypes(reg)},
		methods: map[string]*Method{},
		custom:  map[string][]*Binding{},
	}
	var fds []protoreflect.FileDescriptor
	reg.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		fds = append(fds, fd)
		return true
	})
	slices.SortFunc(fds, func(a, b protoreflect.FileDescriptor) int { return strings.Compare(a.Path(), b.Path()) })
	var all []*Binding
	for _, fd := range fds {
		services := fd.Services()
		for i := range services.Len() {
			methods := services.Get(i).Methods()
			for j := range methods.Len() {
				md := methods.Get(j)
				m := &Method{
					FullPath:        "/" + string(md.Parent().FullName()) + "/" + string(md.Name()),
					Desc:            md,
					ClientStreaming: md.IsStreamingClient(),
					ServerStreaming: md.IsStreamingServer(),
					set:             s,
					input:           dynamicpb.NewMessageType(md.Input()),
					output:          dynamicpb.NewMessageType(md.Output()),
					plan:            newPlan(md.Output(), map[protoreflect.FullName]bool{}),
					inPlan:          newPlan(md.Input(), map[protoreflect.FullName]bool{}),
					noRequired:      !requiredWithin(md.Input(), map[protoreflect.FullName]bool{}),
				}
				s.methods[m.FullPath] = m
				bs, err := methodBindings(m)
				if err != nil {
					return nil, err
				}
				all = append(all, bs...)
			}
		}
	}
	slices.SortStableFunc(all, func(a, b *Binding) int { return compareTemplates(a.tmpl, b.tmpl) })
	for _, b := range all {
		if i := stdIndex(b.HTTPMethod); i >= 0 {
			s.standard[i] = append(s.standard[i], b)
		} else {
			s.custom[b.HTTPMethod] = append(s.custom[b.HTTPMethod], b)
		}
	}
	return s, nil
}
