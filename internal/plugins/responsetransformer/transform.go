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
	// in is the body as read.
	in  []byte
	sc  scanner
	ms  []member
	out []byte
	// arr holds the values append builds, so that they outlive the rule.
	arr []byte
}

var jobs = sync.Pool{New: func() any { return new(job) }}

// poolMax is the largest buffer a job keeps when returned to the pool.
const poolMax = 1 << 20

func (j *job) release() {
	if cap(j.in) > poolMax || cap(j.out) > poolMax || cap(j.arr) > poolMax {
		return
	}
	clear(j.ms)
	j.in, j.ms, j.out, j.arr = j.in[:0], j.ms[:0], j.out[:0], j.arr[:0]
	j.sc.b = nil
	jobs.Put(j)
}

// transform applies the rules to doc and returns the new body in j.out;
// ok is false when doc is not a JSON object (Kong leaves it unchanged).
func (r *jsonRules) transform(j *job, doc []byte) (out []byte, ok bool) {
	j.ms, ok = j.sc.members(doc, j.ms[:0])
	if !ok {
		return nil, false
	}
	for i := range r.remove {
		j.del(r.remove[i].name)
	}
	for i := range r.rename {
		ru := &r.rename[i]
		if k := j.last(ru.name); k >= 0 {
			j.set(ru.to, ru.key, j.ms[k].val)
			j.del(ru.name)
		}
	}
	for i := range r.replace {
		ru := &r.replace[i]
		if k := j.last(ru.name); k >= 0 && truthy(j.ms[k].val) && ru.val != nil {
			j.set(ru.name, ru.key, ru.val)
		}
	}
	for i := range r.add {
		ru := &r.add[i]
		if k := j.last(ru.name); (k < 0 || !truthy(j.ms[k].val)) && ru.val != nil {
			j.set(ru.name, ru.key, ru.val)
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

func (m *member) is(name string) bool {
	if m.escaped {
		return m.name == name
	}
	return len(m.key) == len(name)+2 && string(m.key[1:len(m.key)-1]) == name
}

// last finds the member that decoding gave name (the last one written
// under it, as cjson keeps), or -1.
func (j *job) last(name string) int {
	for k := len(j.ms) - 1; k >= 0; k-- {
		if !j.ms[k].gone && j.ms[k].is(name) {
			return k
		}
	}
	return -1
}

// del is `t[name] = nil`: every member written under name goes.
func (j *job) del(name string) {
	for k := range j.ms {
		if j.ms[k].is(name) {
			j.ms[k].gone = true
		}
	}
}

// set is `t[name] = val`: the member decoding gave name takes val (the
// others of that name go, as decoding dropped them), or a new one comes
// last.
func (j *job) set(name string, key, val []byte) {
	k := j.last(name)
	if k < 0 {
		j.ms = append(j.ms, member{key: key, val: val, escaped: true, name: name})
		return
	}
	j.del(name)
	j.ms[k].gone = false
	j.ms[k].val = val
}

// appendTo is Kong's append_value: a string becomes a two-element array,
// an array takes the value last, an object takes it as key "1" (Lua's
// table.insert on a table of string keys; on an empty one, the table is
// then an array), anything else or nothing becomes a one-element array.
func (j *job) appendTo(ru *jsonRule) {
	k := j.last(ru.name)
	start := len(j.arr)
	var cur []byte
	if k >= 0 {
		cur = j.ms[k].val
	}
	switch {
	case len(cur) > 0 && cur[0] == '"':
		j.arr = append(j.arr, '[')
		j.arr = append(j.arr, cur...)
		j.arr = append(j.arr, ',')
		j.arr = append(j.arr, ru.val...)
		j.arr = append(j.arr, ']')
	case len(cur) > 0 && (cur[0] == '[' || cur[0] == '{') && len(bytes.TrimSpace(cur[1:len(cur)-1])) > 0:
		j.arr = append(j.arr, cur[:len(cur)-1]...)
		if cur[0] == '[' {
			j.arr = append(j.arr, ',')
		} else {
			j.arr = append(j.arr, `,"1":`...)
		}
		j.arr = append(j.arr, ru.val...)
		j.arr = append(j.arr, cur[len(cur)-1])
	default:
		j.arr = append(j.arr, '[')
		j.arr = append(j.arr, ru.val...)
		j.arr = append(j.arr, ']')
	}
	// j.arr may move as it grows: values made before point into the old
	// array, which stays alive and unchanged, so they remain valid.
	j.set(ru.name, ru.key, j.arr[start:len(j.arr):len(j.arr)])
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
		out = append(append(append(out, m.key...), ':'), m.val...)
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
