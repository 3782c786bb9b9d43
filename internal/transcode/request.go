package transcode

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// maxQueryDepth bounds a query parameter's dotted field path; no sane message nests deeper.
const maxQueryDepth = 16

// Request builds the request message (protobuf wire bytes, unframed) from the path variables, the
// raw query string and the JSON body as google.api.http says: the body first (the whole message
// for "*", one field otherwise), then the query string (only when the body is not "*"; fields
// bound to the path or the body are not taken from it, and unknown parameters are ignored), then
// the path variables. Every client mistake is an *Error naming the field or parameter.
func (b *Binding) Request(dst []byte, vars Vars, rawQuery string, body []byte) ([]byte, error) {
	if b.direct && rawQuery == "" {
		return b.appendVars(dst, &vars)
	}
	if b.directBody {
		if out, err := b.Method.inPlan.encodeJSON(dst, body); err == nil {
			return b.appendVars(out, &vars)
		}
	}
	m := b.Method.input.New()
	if err := b.readBody(m, body); err != nil {
		return nil, err
	}
	if b.Body != "*" {
		if err := b.readQuery(m, rawQuery); err != nil {
			return nil, err
		}
	}
	for i := range b.vars {
		s, err := vars.Value(i)
		if err != nil {
			return nil, err
		}
		if err := setField(m, b.vars[i].fields, b.vars[i].label, s); err != nil {
			return nil, err
		}
	}
	return marshalRequest(dst, m.Interface(), b.Method.noRequired)
}

// appendVars encodes top-level scalar path variables straight to the wire.
func (b *Binding) appendVars(dst []byte, vars *Vars) ([]byte, error) {
	for i := range b.vars {
		s, err := vars.Value(i)
		if err != nil {
			return nil, err
		}
		fd := b.vars[i].fields[0]
		v, err := parseScalar(fd, b.vars[i].label, s)
		if err != nil {
			return nil, err
		}
		dst = appendScalar(dst, fd, v)
	}
	return dst, nil
}

// RequestFromJSON converts a JSON request message (grpc-web's JSON mode) to wire bytes.
func (m *Method) RequestFromJSON(dst, body []byte) ([]byte, error) {
	msg := m.input.New()
	if err := m.set.unmarshalJSON(body, msg.Interface()); err != nil {
		return nil, err
	}
	return marshalRequest(dst, msg.Interface(), m.noRequired)
}

// marshalRequest encodes a request message; what can fail here is the client's (a proto2 required
// field left out), so it is a 400. The walk that looks for unset required fields is skipped for
// types that have none (every proto3 type).
func marshalRequest(dst []byte, m proto.Message, noRequired bool) ([]byte, error) {
	out, err := proto.MarshalOptions{AllowPartial: noRequired}.MarshalAppend(dst, m)
	if err != nil {
		return nil, badRequest("request message: " + trimProtoPrefix(err.Error()))
	}
	return out, nil
}

func (s *Set) unmarshalJSON(body []byte, m proto.Message) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	// Required fields are checked once, when the whole request is marshalled.
	if err := (protojson.UnmarshalOptions{Resolver: s.types, AllowPartial: true}).Unmarshal(body, m); err != nil {
		return badRequest("invalid JSON body: " + trimProtoPrefix(err.Error()))
	}
	return nil
}

// trimProtoPrefix drops protobuf-go's "proto:" prefix (followed by a space or, at random per
// build, a no-break space) from an error meant for a client.
func trimProtoPrefix(s string) string {
	s = strings.TrimPrefix(s, "proto:")
	return strings.TrimLeft(s, " \u00a0")
}

func (b *Binding) readBody(m protoreflect.Message, body []byte) error {
	switch {
	case b.Body == "*":
		return b.Method.set.unmarshalJSON(body, m.Interface())
	case b.bodyField == nil || len(bytes.TrimSpace(body)) == 0:
		return nil
	}
	fd := b.bodyField
	if fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap() {
		return b.Method.set.unmarshalJSON(body, m.Mutable(fd).Message().Interface())
	}
	// A repeated, map or scalar field has no message of its own to decode into: the body is
	// wrapped as that field of the request, after checking it is one JSON value so that it cannot
	// close the wrapper and set other fields.
	if !json.Valid(body) {
		return badRequest("invalid JSON body for field " + b.Body)
	}
	wrapped := make([]byte, 0, len(body)+len(b.Body)+5)
	wrapped = appendJSONString(append(wrapped, '{'), b.Body)
	wrapped = append(append(append(wrapped, ':'), body...), '}')
	return b.Method.set.unmarshalJSON(wrapped, m.Interface())
}

// readQuery sets fields from the query string: a.b.c names nested fields (by proto or JSON name),
// a repeated field takes every occurrence.
func (b *Binding) readQuery(m protoreflect.Message, rawQuery string) error {
	for rawQuery != "" {
		var kv string
		kv, rawQuery, _ = strings.Cut(rawQuery, "&")
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return badRequest("query parameter " + strconv.Quote(k) + ": invalid percent-encoding")
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return badRequest("query parameter " + key + ": invalid percent-encoding")
		}
		if err := b.queryParam(m, key, val); err != nil {
			return err
		}
	}
	return nil
}

func (b *Binding) queryParam(m protoreflect.Message, key, val string) error {
	var chain [maxQueryDepth]protoreflect.FieldDescriptor
	n := 0
	md := m.Descriptor()
	for part := range strings.SplitSeq(key, ".") {
		if n == maxQueryDepth {
			return badRequest("query parameter " + key + ": nested too deep")
		}
		if md == nil {
			return badRequest("query parameter " + key + ": " + string(chain[n-1].Name()) + " is not a message")
		}
		fd := md.Fields().ByName(protoreflect.Name(part))
		if fd == nil {
			fd = md.Fields().ByJSONName(part)
		}
		if fd == nil {
			return nil // grpc-gateway ignores parameters that name no field
		}
		chain[n] = fd
		n++
		md = nil
		if fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap() && !scalarLike(fd.Message()) {
			md = fd.Message()
		}
	}
	if b.boundElsewhere(chain[:n]) {
		return nil
	}
	return setField(m, chain[:n], "query parameter "+key, val)
}

// boundElsewhere reports whether a query parameter's field is (under) a path variable or the body
// field: those come from the path and the body only.
func (b *Binding) boundElsewhere(chain []protoreflect.FieldDescriptor) bool {
	if b.bodyField != nil && chain[0] == b.bodyField {
		return true
	}
	for i := range b.vars {
		fields := b.vars[i].fields
		if len(fields) <= len(chain) && equalChains(fields, chain[:len(fields)]) {
			return true
		}
	}
	return false
}

func equalChains(a, b []protoreflect.FieldDescriptor) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// setField sets (or, for a repeated leaf, appends to) the field at the end of chain, creating the
// messages on the way.
func setField(m protoreflect.Message, chain []protoreflect.FieldDescriptor, name, s string) error {
	for _, fd := range chain[:len(chain)-1] {
		if err := checkOneof(m, fd, name); err != nil {
			return err
		}
		m = m.Mutable(fd).Message()
	}
	fd := chain[len(chain)-1]
	switch {
	case fd.IsMap():
		return badRequest(name + ": map fields cannot be set from the query string")
	case fd.Kind() == protoreflect.MessageKind && !scalarLike(fd.Message()):
		return badRequest(name + ": names the message field " + string(fd.Name()) + ", set its fields instead")
	case fd.Kind() == protoreflect.GroupKind:
		return badRequest(name + ": group fields are not supported")
	}
	if err := checkOneof(m, fd, name); err != nil {
		return err
	}
	var v protoreflect.Value
	if fd.Kind() == protoreflect.MessageKind {
		if fd.IsList() {
			v = m.Mutable(fd).List().NewElement()
		} else {
			v = m.NewField(fd)
		}
		if err := parseScalarLike(v.Message(), name, s); err != nil {
			return err
		}
	} else {
		var err error
		if v, err = parseScalar(fd, name, s); err != nil {
			return err
		}
	}
	if fd.IsList() {
		m.Mutable(fd).List().Append(v)
	} else {
		m.Set(fd, v)
	}
	return nil
}

// checkOneof refuses to set a second member of a oneof: the first would be silently dropped.
func checkOneof(m protoreflect.Message, fd protoreflect.FieldDescriptor, name string) error {
	od := fd.ContainingOneof()
	if od == nil || od.IsSynthetic() {
		return nil
	}
	if set := m.WhichOneof(od); set != nil && set != fd {
		return badRequest(name + ": oneof " + string(od.Name()) + " already has " + string(set.Name()) + " set")
	}
	return nil
}
