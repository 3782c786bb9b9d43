package transcode

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// methodBindings compiles a method's google.api.http rule and its additional bindings.
func methodBindings(m *Method) ([]*Binding, error) {
	rule, err := httpRule(m.Desc)
	if err != nil || rule == nil {
		return nil, err
	}
	rules := append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...)
	out := make([]*Binding, 0, len(rules))
	for i, r := range rules {
		if i > 0 && len(r.GetAdditionalBindings()) > 0 {
			return nil, fmt.Errorf("method %s: additional_bindings cannot nest", m.Desc.FullName())
		}
		b, err := newBinding(m, r)
		if err != nil {
			return nil, fmt.Errorf("method %s: http rule %q: %w", m.Desc.FullName(), b.Template, err)
		}
		out = append(out, b)
	}
	return out, nil
}

// httpRule reads the google.api.http option. The options go through their wire form because they
// arrive in several shapes: typed from generated code, with the extension still unknown bytes from
// a reflection answer, or as a dynamic message from the compiler.
func httpRule(md protoreflect.MethodDescriptor) (*annotations.HttpRule, error) {
	opts := md.Options()
	if opts == nil {
		return nil, nil
	}
	raw, err := proto.Marshal(opts)
	if err != nil {
		return nil, fmt.Errorf("method %s: options: %w", md.FullName(), err)
	}
	mo := new(descriptorpb.MethodOptions)
	if err := (proto.UnmarshalOptions{Resolver: protoregistry.GlobalTypes}).Unmarshal(raw, mo); err != nil {
		return nil, fmt.Errorf("method %s: options: %w", md.FullName(), err)
	}
	if !proto.HasExtension(mo, annotations.E_Http) {
		return nil, nil
	}
	return proto.GetExtension(mo, annotations.E_Http).(*annotations.HttpRule), nil
}

// newBinding compiles one rule; the binding it returns carries the template even on error, so
// the caller can name it.
func newBinding(m *Method, r *annotations.HttpRule) (*Binding, error) {
	b := &Binding{Method: m, Body: r.GetBody(), ResponseBody: r.GetResponseBody()}
	switch p := r.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		b.HTTPMethod, b.Template = "GET", p.Get
	case *annotations.HttpRule_Put:
		b.HTTPMethod, b.Template = "PUT", p.Put
	case *annotations.HttpRule_Post:
		b.HTTPMethod, b.Template = "POST", p.Post
	case *annotations.HttpRule_Delete:
		b.HTTPMethod, b.Template = "DELETE", p.Delete
	case *annotations.HttpRule_Patch:
		b.HTTPMethod, b.Template = "PATCH", p.Patch
	case *annotations.HttpRule_Custom:
		b.HTTPMethod, b.Template = strings.ToUpper(p.Custom.GetKind()), p.Custom.GetPath()
		if b.HTTPMethod == "" {
			return b, errors.New("custom pattern without a kind")
		}
	default:
		return b, errors.New("no pattern (get, put, post, delete, patch or custom)")
	}
	t, err := parseTemplate(b.Template)
	if err != nil {
		return b, err
	}
	b.tmpl = t
	in := m.Desc.Input()
	scalarVars := true
	for i, name := range t.vars {
		fields, err := fieldChain(in, name)
		if err != nil {
			return b, err
		}
		leaf := fields[len(fields)-1]
		if leaf.IsList() || leaf.IsMap() || leaf.Kind() == protoreflect.GroupKind {
			return b, fmt.Errorf("variable %s: a repeated, map or group field cannot be a path variable", name)
		}
		if leaf.Kind() == protoreflect.MessageKind && !scalarLike(leaf.Message()) {
			return b, fmt.Errorf("variable %s: message field %s cannot be a path variable", name, leaf.Message().FullName())
		}
		b.vars = append(b.vars, pathVar{name: name, label: "path variable " + name, fields: fields, deep: varIsDeep(t, i)})
		if len(fields) > 1 || leaf.Kind() == protoreflect.MessageKind {
			scalarVars = false
		}
	}
	// proto2 required fields need the marshaller's check, which the direct encoding skips; the
	// input plan exists for proto3 types only.
	b.direct = scalarVars && b.Body == "" && !hasRequired(in)
	b.directBody = scalarVars && b.Body == "*" && m.inPlan != nil
	switch b.Body {
	case "", "*":
	default:
		if b.bodyField = in.Fields().ByName(protoreflect.Name(b.Body)); b.bodyField == nil {
			return b, fmt.Errorf("body: no field %q in %s", b.Body, in.FullName())
		}
	}
	if b.ResponseBody != "" {
		out := m.Desc.Output()
		if b.respField = out.Fields().ByName(protoreflect.Name(b.ResponseBody)); b.respField == nil {
			return b, fmt.Errorf("response_body: no field %q in %s", b.ResponseBody, out.FullName())
		}
	}
	return b, nil
}

// varIsDeep reports whether variable i spans more than one segment or a "**".
func varIsDeep(t *template, i int) bool {
	start, end := -1, -1
	for j, sg := range t.segs {
		if sg.varStart == i {
			start = j
		}
		if sg.varEnd == i {
			end = j
		}
	}
	return start != end || t.segs[end].kind == segDeep
}

// fieldChain resolves a dotted field path (proto names, as templates write them) to its fields;
// every field but the last must be a singular message.
func fieldChain(md protoreflect.MessageDescriptor, path string) ([]protoreflect.FieldDescriptor, error) {
	var chain []protoreflect.FieldDescriptor
	for part := range strings.SplitSeq(path, ".") {
		if md == nil {
			return nil, fmt.Errorf("field path %s: %s is not a message", path, chain[len(chain)-1].Name())
		}
		fd := md.Fields().ByName(protoreflect.Name(part))
		if fd == nil {
			return nil, fmt.Errorf("field path %s: no field %q in %s", path, part, md.FullName())
		}
		chain = append(chain, fd)
		md = nil
		if fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap() {
			md = fd.Message()
		}
	}
	return chain, nil
}

// scalarLike are the well-known message types with a string form in a path or query: the wrappers,
// Timestamp, Duration and FieldMask.
func scalarLike(md protoreflect.MessageDescriptor) bool {
	switch md.FullName() {
	case "google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask",
		"google.protobuf.DoubleValue", "google.protobuf.FloatValue", "google.protobuf.Int64Value",
		"google.protobuf.UInt64Value", "google.protobuf.Int32Value", "google.protobuf.UInt32Value",
		"google.protobuf.BoolValue", "google.protobuf.StringValue", "google.protobuf.BytesValue":
		return true
	}
	return false
}

func hasRequired(md protoreflect.MessageDescriptor) bool {
	fields := md.Fields()
	for i := range fields.Len() {
		if fields.Get(i).Cardinality() == protoreflect.Required {
			return true
		}
	}
	return false
}

// requiredWithin reports whether md or a message type it holds has a required field.
func requiredWithin(md protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool) bool {
	if seen[md.FullName()] {
		return false
	}
	seen[md.FullName()] = true
	if hasRequired(md) {
		return true
	}
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.IsMap() {
			fd = fd.MapValue()
		}
		if fd.Message() != nil && requiredWithin(fd.Message(), seen) {
			return true
		}
	}
	return false
}
