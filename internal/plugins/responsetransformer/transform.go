package responsetransformer

import (
	"bytes"
	"encoding/json"
	"sync"
)

// The JSON body rules, applied as Kong's body_transformer applies them to
// the decoded table: remove, rename, replace, add, append, each list in
// order, each rule seeing what the ones before it did. Members are edited
// in a list of spans; the body is decoded only as far as the top-level
// keys, and only keys with escapes are decoded at all.

// jsonRule is one compiled `name[:value]` of a json list.
type jsonRule struct {
	name string
	// to is a rename's new name.
	to string
	// key is to (a rename) or name as cjson writes a key, quotes included.
	key []byte
	// val is the value as cjson writes it; nil when Kong's rule has none
	// (an empty value, or a number json_type that is not a number), and
	// the rule then does nothing.
	val []byte
}

type jsonRules struct {
	remove, rename, replace, add, apnd []jsonRule
}

func (r *jsonRules) empty() bool {
	return len(r.remove)+len(r.rename)+len(r.replace)+len(r.add)+len(r.apnd) == 0
}

// job is the per-response state, pooled.
type job struct {
	// in is the body as read; doc is the document being edited (in, but
	// for tests and benchmarks).
	in, doc []byte
	sc      scanner
	ms      []member
	names   []string
	// extra holds the keys and values the rules made.
	extra []byte
	out   []byte
}

var jobs = sync.Pool{New: func() any { return new(job) }}

// poolMax is the largest buffer a job keeps when returned to the pool.
const poolMax = 1 << 20

func (j *job) release() {
	if cap(j.in) > poolMax || cap(j.out) > poolMax || cap(j.extra) > poolMax || cap(j.ms)*24 > poolMax {
		return
	}
	clear(j.names)
	j.in, j.ms, j.names, j.extra, j.out = j.in[:0], j.ms[:0], j.names[:0], j.extra[:0], j.out[:0]
	j.doc, j.sc.b = nil, nil
	jobs.Put(j)
}

// transform applies the rules to doc and returns the new body in j.out;
// ok is false when doc is not a JSON object (Kong leaves it unchanged).
func (r *jsonRules) transform(j *job, doc []byte) (out []byte, ok bool) {
	j.doc, j.ms, j.names, j.extra = doc, j.ms[:0], j.names[:0], j.extra[:0]
	if !j.sc.members(doc, j) {
		return nil, false
	}
	for i := range r.remove {
		j.del(r.remove[i].name)
	}
	for i := range r.rename {
		ru := &r.rename[i]
		if k := j.last(ru.name); k >= 0 {
			m := j.ms[k]
			j.set(ru.to, ru.key, m.vx, m.v0, m.v1)
			j.del(ru.name)
		}
	}
	for i := range r.replace {
		ru := &r.replace[i]
		if k := j.last(ru.name); k >= 0 && truthy(j.val(&j.ms[k])) && ru.val != nil {
			j.setNew(ru)
		}
	}
	for i := range r.add {
		ru := &r.add[i]
		if k := j.last(ru.name); (k < 0 || !truthy(j.val(&j.ms[k]))) && ru.val != nil {
			j.setNew(ru)
		}
	}
	for i := range r.apnd {
		if ru := &r.apnd[i]; ru.val != nil {
			j.appendTo(ru)
		}
	}
	return j.write(), true
}

// truthy is Lua's truth of a decoded value: all but false (null decodes
// to cjson.null, which is true). An absent key is not asked.
func truthy(v []byte) bool { return string(v) != "false" }

func (j *job) key(m *member) []byte {
	if m.kx {
		return j.extra[m.k0:m.k1]
	}
	return j.doc[m.k0:m.k1]
}

func (j *job) val(m *member) []byte {
	if m.vx {
		return j.extra[m.v0:m.v1]
	}
	return j.doc[m.v0:m.v1]
}

func (j *job) is(m *member, name string) bool {
	if m.name >= 0 {
		return j.names[m.name] == name
	}
	k := j.key(m)
	return len(k) == len(name)+2 && string(k[1:len(k)-1]) == name
}

// last finds the member that decoding gave name (the last one written
// under it, as cjson keeps), or -1.
func (j *job) last(name string) int {
	for k := len(j.ms) - 1; k >= 0; k-- {
		if !j.ms[k].gone && j.is(&j.ms[k], name) {
			return k
		}
	}
	return -1
}

// del is `t[name] = nil`: every member written under name goes.
func (j *job) del(name string) {
	for k := range j.ms {
		if j.is(&j.ms[k], name) {
			j.ms[k].gone = true
		}
	}
}

// put copies b into extra and returns its span.
func (j *job) put(b []byte) (int32, int32) {
	start := len(j.extra)
	j.extra = append(j.extra, b...)
	return int32(start), int32(len(j.extra))
}

// setNew sets a rule's own value under its name.
func (j *job) setNew(ru *jsonRule) {
	v0, v1 := j.put(ru.val)
	j.set(ru.name, ru.key, true, v0, v1)
}

// set is `t[name] = value`: the member decoding gave name takes the value
// (the others of that name go, as decoding dropped them), or a new one
// comes last with key (as cjson writes name). The value is the span v0:v1
// of extra (vx) or of the document.
func (j *job) set(name string, key []byte, vx bool, v0, v1 int32) {
	k := j.last(name)
	if k < 0 {
		k0, k1 := j.put(key)
		j.names = append(j.names, name)
		j.ms = append(j.ms, member{k0: k0, k1: k1, kx: true, name: int32(len(j.names) - 1), vx: vx, v0: v0, v1: v1})
		return
	}
	j.del(name)
	m := &j.ms[k]
	m.gone, m.vx, m.v0, m.v1 = false, vx, v0, v1
}

// appendTo is Kong's append_value: a string becomes a two-element array,
// an array takes the value last, an object takes it as key "1" (Lua's
// table.insert on a table of string keys; on an empty one, the table is
// then an array), anything else or nothing becomes a one-element array.
func (j *job) appendTo(ru *jsonRule) {
	var cur []byte
	if k := j.last(ru.name); k >= 0 {
		cur = j.val(&j.ms[k])
	}
	// cur may lie in extra, which grows below: build the new value after
	// it, copying cur first.
	start := len(j.extra)
	switch {
	case len(cur) > 0 && cur[0] == '"':
		j.extra = append(j.extra, '[')
		j.extra = append(j.extra, cur...)
		j.extra = append(j.extra, ',')
		j.extra = append(j.extra, ru.val...)
		j.extra = append(j.extra, ']')
	case len(cur) > 0 && (cur[0] == '[' || cur[0] == '{') && len(bytes.TrimSpace(cur[1:len(cur)-1])) > 0:
		j.extra = append(j.extra, cur[:len(cur)-1]...)
		if cur[0] == '[' {
			j.extra = append(j.extra, ',')
		} else {
			j.extra = append(j.extra, `,"1":`...)
		}
		j.extra = append(j.extra, ru.val...)
		j.extra = append(j.extra, cur[len(cur)-1])
	default:
		j.extra = append(j.extra, '[')
		j.extra = append(j.extra, ru.val...)
		j.extra = append(j.extra, ']')
	}
	j.set(ru.name, ru.key, true, int32(start), int32(len(j.extra)))
}

// write renders the members left, compact between them as cjson writes.
func (j *job) write() []byte {
	out := append(j.out[:0], '{')
	first := true
	for k := range j.ms {
		m := &j.ms[k]
		if m.gone {
			continue
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = append(append(append(out, j.key(m)...), ':'), j.val(m)...)
	}
	out = append(out, '}')
	j.out = out
	return out
}

// decodeKey decodes a key with escapes (rare: allocating is fine).
func decodeKey(key []byte) (string, bool) {
	var s string
	if err := json.Unmarshal(key, &s); err != nil {
		return "", false
	}
	return s, true
}
