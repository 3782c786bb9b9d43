package transcode

import (
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// ResponseJSON renders one response message (wire bytes, unframed) as JSON appended to dst. A
// message that does not decode is an error the caller answers with a 502: the upstream sent it.
func (m *Method) ResponseJSON(dst, msg []byte, o Options) ([]byte, error) {
	if m.plan != nil {
		out, err := m.plan.render(dst, msg, o)
		if err == nil {
			return out, nil
		}
		if err != errDecline {
			return nil, fmt.Errorf("upstream message for %s: %w", m.FullPath, err)
		}
	}
	out, err := m.decodeOutput(msg)
	if err != nil {
		return nil, err
	}
	return marshalCompact(m.set.marshalOptions(o), dst, out.Interface())
}

func (m *Method) decodeOutput(msg []byte) (protoreflect.Message, error) {
	out := m.output.New()
	if err := (proto.UnmarshalOptions{Resolver: m.set.types, AllowPartial: true}).Unmarshal(msg, out.Interface()); err != nil {
		return nil, fmt.Errorf("upstream message for %s: %w", m.FullPath, err)
	}
	return out, nil
}

// Response renders one response message as JSON appended to dst: the whole message, or only the
// field its response_body names.
func (b *Binding) Response(dst, msg []byte, o Options) ([]byte, error) {
	fd := b.respField
	if fd == nil {
		return b.Method.ResponseJSON(dst, msg, o)
	}
	out, err := b.Method.decodeOutput(msg)
	if err != nil {
		return nil, err
	}
	mo := b.Method.set.marshalOptions(o)
	if fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap() {
		return marshalCompact(mo, dst, out.Get(fd).Message().Interface())
	}
	// A scalar, repeated or map field has no JSON form of its own in protojson: render a message
	// holding only that field, with its zero value emitted, and take the field's value out.
	only := b.Method.output.New()
	if out.Has(fd) {
		only.Set(fd, out.Get(fd))
	}
	mo.EmitUnpopulated = true
	whole, err := marshalCompact(mo, nil, only.Interface())
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(whole, &fields); err != nil {
		return nil, err
	}
	key := fd.JSONName()
	if o.UseProtoNames {
		key = string(fd.Name())
	}
	return append(dst, fields[key]...), nil
}
