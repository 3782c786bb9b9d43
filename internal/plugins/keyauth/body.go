package keyauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"sort"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// maxBodyBytes bounds the body key-auth reads to look for a key. A larger
// body is passed on untouched and searched no further, as Kong does with a
// body it cannot process.
const maxBodyBytes = 8 << 20

type bodyType uint8

const (
	bodyNone bodyType = iota // unsupported, unreadable or malformed: Kong's EMPTY
	bodyForm
	bodyJSON
	bodyMultipart
)

// body is the request body as Kong's kong.request.get_body() sees it.
type body struct {
	typ bodyType
	raw []byte
	// members are a JSON object's members in order, duplicates included.
	members []member
	// parts and boundary are a multipart body's.
	parts    []part
	boundary string
}

type member struct {
	key string
	raw json.RawMessage
}

type part struct {
	name    string
	header  textproto.MIMEHeader
	content []byte
}

// readBody reads and parses the body of a form, JSON or multipart request,
// and puts the bytes back for the upstream. The content type is matched as
// Kong does: case-insensitively, by prefix, before any ';'.
func readBody(r *http.Request) *body {
	ct := r.Header.Get("Content-Type")
	mt, _, _ := strings.Cut(strings.ToLower(ct), ";")
	b := &body{}
	var typ bodyType
	switch {
	case strings.HasPrefix(mt, "application/x-www-form-urlencoded"):
		typ = bodyForm
	case strings.HasPrefix(mt, "application/json"):
		typ = bodyJSON
	case strings.HasPrefix(mt, "multipart/form-data"):
		typ = bodyMultipart
		_, params, err := mime.ParseMediaType(ct)
		if err != nil || params["boundary"] == "" {
			return b
		}
		b.boundary = params["boundary"]
	default:
		return b
	}
	raw, ok := plugin.ReadBody(r, maxBodyBytes)
	if !ok {
		return b
	}
	b.raw = raw
	switch typ {
	case bodyJSON:
		members, ok := parseJSONObject(b.raw)
		if !ok {
			return b
		}
		b.members = members
	case bodyMultipart:
		parts, ok := parseMultipart(b.raw, b.boundary)
		if !ok {
			return b
		}
		b.parts = parts
	}
	b.typ = typ
	return b
}

// value is body[name] in Kong's handler.
func (b *body) value(name string) value {
	switch b.typ {
	case bodyForm:
		return argsValue(string(b.raw), name)
	case bodyJSON:
		// A repeated JSON member is decoded as the last one.
		for i := len(b.members) - 1; i >= 0; i-- {
			if b.members[i].key != name {
				continue
			}
			raw := b.members[i].raw
			switch raw[0] {
			case '"':
				var s string
				if json.Unmarshal(raw, &s) != nil {
					return value{kind: other}
				}
				return value{kind: single, s: s}
			case '[', '{':
				return value{kind: multiple}
			}
			// Numbers, booleans and null are not keys.
			return value{kind: other}
		}
	case bodyMultipart:
		var v value
		for i := range b.parts {
			if b.parts[i].name != name {
				continue
			}
			if v.kind != absent {
				return value{kind: multiple}
			}
			v = value{kind: single, s: string(b.parts[i].content)}
		}
		return v
	}
	return value{}
}

// remove deletes name from the body sent upstream, keeping its type and
// everything else in it in order.
func (b *body) remove(r *http.Request, name string) {
	var out []byte
	switch b.typ {
	case bodyForm:
		out = removeFormArg(b.raw, name)
	case bodyJSON:
		kept := b.members[:0:0]
		for _, m := range b.members {
			if m.key != name {
				kept = append(kept, m)
			}
		}
		if len(kept) == len(b.members) {
			return
		}
		b.members = kept
		out = encodeJSONObject(kept)
	case bodyMultipart:
		kept := b.parts[:0:0]
		for _, p := range b.parts {
			if p.name != name {
				kept = append(kept, p)
			}
		}
		if len(kept) == len(b.parts) {
			return
		}
		b.parts = kept
		out = encodeMultipart(kept, b.boundary)
	}
	if out == nil {
		return
	}
	b.raw = out
	plugin.SetBody(r, out)
}

// removeFormArg drops the arguments named name from a urlencoded body,
// keeping the others as written; nil means there was none.
func removeFormArg(raw []byte, name string) []byte {
	args := string(raw)
	out := make([]byte, 0, len(raw))
	removed := false
	for len(args) > 0 {
		var seg string
		seg, args, _ = strings.Cut(args, "&")
		if seg == "" {
			continue
		}
		k, _, _ := strings.Cut(seg, "=")
		if k != "" && formDecode(k) == name {
			removed = true
			continue
		}
		if len(out) > 0 {
			out = append(out, '&')
		}
		out = append(out, seg...)
	}
	if !removed {
		return nil
	}
	return out
}

// parseJSONObject splits a JSON object into its members. Anything that does
// not decode is not a body Kong can read; a top-level array decodes but has
// no named members.
func parseJSONObject(raw []byte) ([]member, bool) {
	if !json.Valid(raw) {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, false
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, ok && d == '['
	}
	var members []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		key, ok := tok.(string)
		if !ok {
			return nil, false
		}
		var m json.RawMessage
		if err := dec.Decode(&m); err != nil {
			return nil, false
		}
		members = append(members, member{key: key, raw: m})
	}
	return members, true
}

func encodeJSONObject(members []member) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	buf.WriteByte('{')
	for i, m := range members {
		if i > 0 {
			buf.WriteByte(',')
		}
		enc.Encode(m.key)
		buf.Truncate(buf.Len() - 1) // Encode's newline
		buf.WriteByte(':')
		buf.Write(m.raw)
	}
	buf.WriteByte('}')
	return buf.Bytes()
}

func parseMultipart(raw []byte, boundary string) ([]part, bool) {
	mr := multipart.NewReader(bytes.NewReader(raw), boundary)
	var parts []part
	for {
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			return parts, true
		}
		if err != nil {
			return nil, false
		}
		content, err := io.ReadAll(p)
		if err != nil {
			return nil, false
		}
		parts = append(parts, part{name: p.FormName(), header: p.Header, content: content})
	}
}

// encodeMultipart writes the parts with the boundary the upstream still
// finds in the request's Content-Type.
func encodeMultipart(parts []part, boundary string) []byte {
	var buf bytes.Buffer
	for _, p := range parts {
		buf.WriteString("--" + boundary + "\r\n")
		keys := make([]string, 0, len(p.header))
		for k := range p.header {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			for _, v := range p.header[k] {
				buf.WriteString(k + ": " + v + "\r\n")
			}
		}
		buf.WriteString("\r\n")
		buf.Write(p.content)
		buf.WriteString("\r\n")
	}
	buf.WriteString("--" + boundary + "--\r\n")
	return buf.Bytes()
}
