package requesttransformer

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/textproto"
	"sort"
	"strings"

	"github.com/turnpikegw/turnpike/internal/jsonw"
)

type bodyKind uint8

const (
	typeOther bodyKind = iota
	typeJSON
	typeMultipart
	typeForm
)

// bodyType classifies a Content-Type by substring, in Kong's order.
func bodyType(ct string) bodyKind {
	if ct == "" {
		return typeOther
	}
	l := strings.ToLower(ct)
	switch {
	case strings.Contains(l, "application/json"):
		return typeJSON
	case strings.Contains(l, "multipart/form-data"):
		return typeMultipart
	case strings.Contains(l, "application/x-www-form-urlencoded"):
		return typeForm
	}
	return typeOther
}

func (in *instance) transformBody(e *env) error {
	if !in.hasBodyOps {
		return nil
	}
	c := e.c
	ct := c.Req.Header.Get("Content-Type")
	kind := bodyType(ct)
	if kind == typeOther {
		return nil
	}
	raw, err := readBody(c)
	if err != nil {
		return err
	}
	var out []byte
	changed := false
	switch kind {
	case typeForm:
		changed, out, err = in.transformForm(raw, e)
	case typeJSON:
		changed, out, err = in.transformJSON(raw, e)
	case typeMultipart:
		changed, out, err = in.transformMultipart(raw, ct, e)
	}
	if err != nil || !changed {
		return err
	}
	setBody(c, out)
	return nil
}

func (in *instance) transformForm(raw []byte, e *env) (bool, []byte, error) {
	params := parseArgs(string(raw))
	changed := false
	if len(raw) > 0 {
		for _, p := range in.remove.body {
			params.remove(p.name)
			changed = true
		}
		for _, p := range in.rename.body {
			to, err := p.val.render(e)
			if err != nil {
				return false, nil, err
			}
			changed = params.rename(p.name, to) || changed
		}
		for _, p := range in.replace.body {
			v, err := p.val.render(e)
			if err != nil {
				return false, nil, err
			}
			if params.find(p.name) >= 0 {
				params.set(p.name, v)
				changed = true
			}
		}
	}
	for _, p := range in.add.body {
		v, err := p.val.render(e)
		if err != nil {
			return false, nil, err
		}
		if params.find(p.name) < 0 {
			params.set(p.name, v)
			changed = true
		}
	}
	for _, p := range in.apnd.body {
		v, err := p.val.render(e)
		if err != nil {
			return false, nil, err
		}
		params.appendValue(p.name, v)
		changed = true
	}
	if !changed {
		return false, nil, nil
	}
	out := params.encode()
	if out == nil {
		out = []byte{}
	}
	return true, out, nil
}

// field is one member of a JSON object, its value kept as raw JSON so
// numbers and nested values pass through untouched and key order is kept.
type field struct {
	key string
	raw []byte
}

type object []field

func (o object) find(k string) int {
	for i := range o {
		if o[i].key == k {
			return i
		}
	}
	return -1
}

// truthy is Lua truthiness of a decoded value: only false (and absence)
// are false; cjson's null is a truthy sentinel.
func (o object) truthy(k string) bool {
	i := o.find(k)
	return i >= 0 && string(o[i].raw) != "false"
}

func (o *object) set(k string, raw []byte) {
	if i := o.find(k); i >= 0 {
		(*o)[i].raw = raw
		return
	}
	*o = append(*o, field{k, raw})
}

func (o *object) remove(k string) {
	if i := o.find(k); i >= 0 {
		*o = append((*o)[:i], (*o)[i+1:]...)
	}
}

// parseObject decodes a top-level JSON object; ok is false for invalid JSON
// and for arrays and scalars, which Turnpike leaves untouched.
func parseObject(raw []byte) (object, bool) {
	if !json.Valid(raw) {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	var o object
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, false
		}
		k, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		// Later duplicates win, as with cjson.
		o.set(k, v)
	}
	return o, true
}

func (in *instance) transformJSON(raw []byte, e *env) (bool, []byte, error) {
	var o object
	if len(raw) > 0 {
		var ok bool
		if o, ok = parseObject(raw); !ok {
			return false, nil, nil
		}
	}
	changed := false
	if len(raw) > 0 {
		for _, p := range in.remove.body {
			o.remove(p.name)
			changed = true
		}
		for _, p := range in.rename.body {
			to, err := p.val.render(e)
			if err != nil {
				return false, nil, err
			}
			if p.name != to && o.truthy(p.name) {
				v := o[o.find(p.name)].raw
				o.remove(p.name)
				o.set(to, v)
				changed = true
			}
		}
		for _, p := range in.replace.body {
			v, err := p.val.render(e)
			if err != nil {
				return false, nil, err
			}
			if o.truthy(p.name) {
				o.set(p.name, jsonw.AppendString(nil, v))
				changed = true
			}
		}
	}
	for _, p := range in.add.body {
		v, err := p.val.render(e)
		if err != nil {
			return false, nil, err
		}
		if !o.truthy(p.name) {
			o.set(p.name, jsonw.AppendString(nil, v))
			changed = true
		}
	}
	for _, p := range in.apnd.body {
		v, err := p.val.render(e)
		if err != nil {
			return false, nil, err
		}
		o.set(p.name, appendJSONValue(o, p.name, v))
		changed = true
	}
	if !changed {
		return false, nil, nil
	}
	b := []byte{'{'}
	for i, f := range o {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonw.AppendString(b, f.key)
		b = append(b, ':')
		b = append(b, f.raw...)
	}
	b = append(b, '}')
	var buf bytes.Buffer
	buf.Grow(len(b))
	if err := json.Compact(&buf, b); err != nil {
		return false, nil, err
	}
	return true, buf.Bytes(), nil
}

// appendJSONValue is Kong's append_value on a decoded body: a string
// becomes [old, new], an array grows, anything else is replaced by [new].
func appendJSONValue(o object, k, v string) []byte {
	i := o.find(k)
	if i >= 0 {
		old := bytes.TrimSpace(o[i].raw)
		switch {
		case len(old) > 0 && old[0] == '"':
			b := append([]byte{'['}, old...)
			b = append(b, ',')
			return append(jsonw.AppendString(b, v), ']')
		case len(old) > 0 && old[0] == '[':
			inner := bytes.TrimSpace(old[1 : len(old)-1])
			b := append([]byte{'['}, inner...)
			if len(inner) > 0 {
				b = append(b, ',')
			}
			return append(jsonw.AppendString(b, v), ']')
		}
	}
	return append(jsonw.AppendString([]byte{'['}, v), ']')
}

// mpart is one multipart/form-data part, kept with its header lines.
type mpart struct {
	name    string
	headers []string
	value   []byte
}

type multipartBody []mpart

// find is the last part of that name, which is what lua-multipart indexes.
func (m multipartBody) find(name string) int {
	for i := len(m) - 1; i >= 0; i-- {
		if m[i].name == name {
			return i
		}
	}
	return -1
}

func (m *multipartBody) remove(name string) {
	if i := m.find(name); i >= 0 {
		*m = append((*m)[:i], (*m)[i+1:]...)
	}
}

// setSimple is lua-multipart's set_simple: a plain field replacing the
// part of that name in place, or appended.
func (m *multipartBody) setSimple(name, value string) {
	p := mpart{name: name, headers: []string{`Content-Disposition: form-data; name="` + name + `"`}, value: []byte(value)}
	if i := m.find(name); i >= 0 {
		(*m)[i] = p
		return
	}
	*m = append(*m, p)
}

// boundaryOf extracts the boundary as lua-multipart does: the non-space
// run after `boundary=`, unquoted.
func boundaryOf(ct string) string {
	i := strings.Index(ct, ";")
	for i >= 0 {
		rest := strings.TrimLeft(ct[i+1:], " \t\r\n")
		if strings.HasPrefix(rest, "boundary=") {
			b := rest[len("boundary="):]
			if j := strings.IndexAny(b, " \t\r\n"); j >= 0 {
				b = b[:j]
			}
			if len(b) >= 2 && (b[0] == '"' || b[0] == '\'') && b[len(b)-1] == b[0] {
				b = b[1 : len(b)-1]
			}
			return b
		}
		j := strings.Index(ct[i+1:], ";")
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return ""
}

func parseMultipart(raw []byte, boundary string) (multipartBody, bool) {
	var m multipartBody
	r := multipart.NewReader(bytes.NewReader(raw), boundary)
	for {
		p, err := r.NextRawPart()
		if err == io.EOF {
			return m, true
		}
		if err != nil {
			return nil, false
		}
		v, err := io.ReadAll(p)
		if err != nil {
			return nil, false
		}
		name := p.FormName()
		if name == "" {
			// lua-multipart drops parts it cannot name.
			continue
		}
		m = append(m, mpart{name: name, headers: headerLines(p.Header), value: v})
	}
}

// headerLines renders a part's headers, Content-Disposition first.
func headerLines(h textproto.MIMEHeader) []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if (keys[i] == "Content-Disposition") != (keys[j] == "Content-Disposition") {
			return keys[i] == "Content-Disposition"
		}
		return keys[i] < keys[j]
	})
	var out []string
	for _, k := range keys {
		for _, v := range h[k] {
			out = append(out, k+": "+v)
		}
	}
	return out
}

func (in *instance) transformMultipart(raw []byte, ct string, e *env) (bool, []byte, error) {
	boundary := boundaryOf(ct)
	var m multipartBody
	if boundary == "" {
		// lua-multipart ignores a body it has no boundary for and encodes
		// with one of its own; unlike Kong, the Content-Type then names it
		// so the upstream can parse the result.
		boundary = in.boundary
	} else {
		var ok bool
		if m, ok = parseMultipart(raw, boundary); !ok {
			return false, nil, nil
		}
	}
	changed := false
	if len(raw) > 0 {
		// lua-multipart's Kong transform renames before removing.
		for _, p := range in.rename.body {
			to, err := p.val.render(e)
			if err != nil {
				return false, nil, err
			}
			if i := m.find(p.name); i >= 0 && p.name != to {
				v := string(m[i].value)
				m.setSimple(to, v)
				m.remove(p.name)
				changed = true
			}
		}
		for _, p := range in.remove.body {
			m.remove(p.name)
			changed = true
		}
		for _, p := range in.replace.body {
			v, err := p.val.render(e)
			if err != nil {
				return false, nil, err
			}
			if m.find(p.name) >= 0 {
				m.remove(p.name)
				m.setSimple(p.name, v)
				changed = true
			}
		}
	}
	for _, p := range in.add.body {
		v, err := p.val.render(e)
		if err != nil {
			return false, nil, err
		}
		if m.find(p.name) < 0 {
			m.setSimple(p.name, v)
			changed = true
		}
	}
	if !changed {
		return false, nil, nil
	}
	if boundary == in.boundary && boundaryOf(ct) == "" {
		e.c.Req.Header.Set("Content-Type", strings.TrimRight(ct, "; ")+"; boundary="+boundary)
	}
	var b []byte
	for _, p := range m {
		b = append(b, "--"...)
		b = append(b, boundary...)
		b = append(b, "\r\n"...)
		for _, h := range p.headers {
			b = append(b, h...)
			b = append(b, "\r\n"...)
		}
		b = append(b, "\r\n"...)
		b = append(b, p.value...)
		b = append(b, "\r\n"...)
	}
	if len(b) > 0 {
		b = append(b, "--"...)
		b = append(b, boundary...)
		b = append(b, "--\r\n"...)
	} else {
		b = []byte{}
	}
	return true, b, nil
}
