package config

import (
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// defaulter is implemented (with a pointer receiver) by types that have
// Kong defaults; the decoder calls it on every value it creates.
type defaulter interface{ SetDefaults() }

// stringShorthand is implemented by types that may also be written as a
// bare string: a foreign key `service: my-svc`, a certificate's `snis: [a]`.
type stringShorthand interface{ setFromString(string) }

func (r *Ref) setFromString(s string) { r.Name = s }

func (s *SNI) setFromString(name string) { s.Name = name }

var (
	rawType = reflect.TypeFor[Raw]()
	anyType = reflect.TypeFor[any]()
)

// unsupported lists keys that Kong accepts on a type but Turnpike does not
// yet; they get a clear message instead of `unknown field`. Supporting one
// means adding the field to the type and deleting its entry here.
var unsupported = map[reflect.Type]map[string]string{
	reflect.TypeFor[Config](): {
		"keys":       "keys are not supported",
		"key_sets":   "key sets are not supported",
		"_workspace": "workspaces are an Enterprise feature and are not supported",
	},
}

// decoder walks a value tree into Go values by `yaml` tag. It never stops
// at the first problem: every error is collected with its field path.
type decoder struct {
	errs *ErrorList
	// cp stops the walk of an abandoned load: aliases can make it long.
	cp checkpoint
	// lines, when set, records the line of every value decoded by field
	// path, for errors found after decoding.
	lines map[string]int
	// asWritten decodes strings resolved from vault references as the
	// references (for showing a config back).
	asWritten bool
	// kinds are the declared credential kinds, by name.
	kinds map[string]*CredentialKind
}

func (d *decoder) fail(path string, v *value, msg string) {
	ln := 0
	if v != nil {
		ln = v.line
	}
	d.errs.Add(FieldError{Path: path, Message: msg, Line: ln})
}

// applyDefaults gives a freshly created value its defaults: nested struct
// fields first, so that a parent's SetDefaults may still override them.
func applyDefaults(rv reflect.Value) {
	if rv.Kind() != reflect.Struct {
		return
	}
	for _, f := range fieldsOf(rv.Type()).list {
		fv := rv.FieldByIndex(f.index)
		if fv.Kind() == reflect.Struct && fv.Type() != rawType {
			applyDefaults(fv)
		}
	}
	if d, ok := rv.Addr().Interface().(defaulter); ok {
		d.SetDefaults()
	}
}

// decode decodes v into rv, which must be settable. Null leaves rv alone so
// that defaults survive an explicit `field: null`.
func (d *decoder) decode(v *value, rv reflect.Value, path string) {
	if d.cp.stop() {
		return
	}
	if d.lines != nil && v != nil && v.kind != kindNull {
		d.lines[path] = v.line
	}
	if rv.Type() == rawType {
		if v != nil && v.kind != kindNull {
			rv.Set(reflect.ValueOf(Raw{node: v, path: path}))
		}
		return
	}
	if v == nil || v.kind == kindNull {
		return
	}
	if rv.Kind() == reflect.Pointer {
		elem := reflect.New(rv.Type().Elem())
		applyDefaults(elem.Elem())
		before := d.errs.Len()
		d.decode(v, elem.Elem(), path)
		// A pointer means "given"; a value that failed to decode was not.
		if d.errs.Len() == before {
			rv.Set(elem)
		}
		return
	}
	if rv.CanAddr() {
		if m, ok := rv.Addr().Interface().(orderedMap); ok {
			d.decodeOrdered(v, m, rv.Type(), path)
			return
		}
		if s, ok := rv.Addr().Interface().(stringShorthand); ok {
			switch v.kind {
			case kindString:
				s.setFromString(v.str)
				return
			case kindMap:
			default:
				d.fail(path, v, "expected a string or a map")
				return
			}
		}
	}
	switch rv.Kind() {
	case reflect.Struct:
		d.decodeStruct(v, rv, path)
	case reflect.Slice:
		d.decodeSlice(v, rv, path)
	case reflect.Map:
		d.decodeMap(v, rv, path)
	case reflect.String:
		if v.kind != kindString {
			d.fail(path, v, "expected a string"+unquotedRefHint(v))
			return
		}
		if d.asWritten && v.ref != "" {
			rv.SetString(v.ref)
			return
		}
		rv.SetString(v.str)
	case reflect.Bool:
		b, ok := boolean(v)
		if !ok {
			d.fail(path, v, "expected a boolean")
			return
		}
		rv.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := integer(v)
		if !ok {
			d.fail(path, v, "expected an integer")
			return
		}
		if rv.OverflowInt(n) {
			d.fail(path, v, "integer out of range")
			return
		}
		rv.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := integer(v)
		if !ok || n < 0 {
			d.fail(path, v, "expected a non-negative integer")
			return
		}
		if rv.OverflowUint(uint64(n)) {
			d.fail(path, v, "integer out of range")
			return
		}
		rv.SetUint(uint64(n))
	case reflect.Float32, reflect.Float64:
		f, ok := number(v)
		if !ok {
			d.fail(path, v, "expected a number")
			return
		}
		rv.SetFloat(f)
	case reflect.Interface:
		if rv.Type() != anyType {
			d.fail(path, v, "cannot decode into "+rv.Type().String())
			return
		}
		rv.Set(reflect.ValueOf(v.plain()))
	default:
		d.fail(path, v, "cannot decode into "+rv.Type().String())
	}
}

// integer accepts whole numbers, including those written as 5.0 (JSON
// encoders often emit floats).
func integer(v *value) (int64, bool) {
	f, ok := number(v)
	switch {
	case v.kind == kindInt:
		return v.i, true
	case v.kind == kindString && v.fromEnv:
		if n, err := strconv.ParseInt(strings.TrimSpace(v.str), 10, 64); err == nil {
			return n, true
		}
	}
	if ok && f == math.Trunc(f) && f >= math.MinInt64 && f < math.MaxInt64 {
		return int64(f), true
	}
	return 0, false
}

func number(v *value) (float64, bool) {
	switch v.kind {
	case kindInt:
		return float64(v.i), true
	case kindFloat:
		return v.f, true
	case kindString:
		if v.fromEnv {
			f, err := strconv.ParseFloat(strings.TrimSpace(v.str), 64)
			return f, err == nil
		}
	}
	return 0, false
}

func boolean(v *value) (bool, bool) {
	switch {
	case v.kind == kindBool:
		return v.b, true
	case v.kind == kindString && v.fromEnv && (v.str == "true" || v.str == "false"):
		return v.str == "true", true
	}
	return false, false
}

func (d *decoder) decodeStruct(v *value, rv reflect.Value, path string) {
	if v.kind != kindMap {
		d.fail(path, v, "expected a map")
		return
	}
	fields := fieldsOf(rv.Type())
	for i, key := range v.keys {
		child := KeyPath(path, key)
		if k, ok := d.kinds[key]; ok && rv.CanAddr() {
			if h, ok := rv.Addr().Interface().(credentialHolder); ok {
				held := h.declaredCredentials()
				if *held == nil {
					*held = declaredCredentials{}
				}
				(*held)[key] = d.decodeCredentials(v.vals[i], k, child)
				continue
			}
		}
		f, ok := fields.byName[key]
		if !ok {
			if d.cp.stop() {
				return
			}
			if msg, ok := unsupported[rv.Type()][key]; ok {
				d.fail(child, v.vals[i], msg)
			} else {
				d.fail(child, v.vals[i], "unknown field")
			}
			continue
		}
		d.decode(v.vals[i], rv.FieldByIndex(f.index), child)
	}
}

// orderedMap is implemented by map types that keep their keys in document
// order (plugin.Ordered: config does not import plugin): config that
// shapes output after the user's document, the logging plugin's
// log_format.
type orderedMap interface {
	// Set appends key with value: a string, int64, float64, bool, nil,
	// []any, or a pointer to a map of the receiver's type.
	Set(key string, value any)
}

// decodeOrdered decodes the map v into m, key by key in document order;
// maps below it become new values of type t.
func (d *decoder) decodeOrdered(v *value, m orderedMap, t reflect.Type, path string) {
	if v.kind != kindMap {
		d.fail(path, v, "expected a map")
		return
	}
	for i, key := range v.keys {
		m.Set(key, d.orderedValue(v.vals[i], t))
	}
}

func (d *decoder) orderedValue(v *value, t reflect.Type) any {
	switch v.kind {
	case kindMap:
		nested := reflect.New(t)
		m := nested.Interface().(orderedMap)
		for i, key := range v.keys {
			m.Set(key, d.orderedValue(v.vals[i], t))
		}
		return m
	case kindSeq:
		out := make([]any, len(v.items))
		for i, item := range v.items {
			out[i] = d.orderedValue(item, t)
		}
		return out
	case kindString:
		if d.asWritten && v.ref != "" {
			return v.ref
		}
	}
	return v.plain()
}

func (d *decoder) decodeSlice(v *value, rv reflect.Value, path string) {
	if v.kind != kindSeq {
		d.fail(path, v, "expected an array")
		return
	}
	out := reflect.MakeSlice(rv.Type(), len(v.items), len(v.items))
	for i, item := range v.items {
		elem := out.Index(i)
		applyDefaults(elem)
		d.decode(item, elem, JoinPath(path, "["+strconv.Itoa(i)+"]"))
	}
	rv.Set(out)
}

func (d *decoder) decodeMap(v *value, rv reflect.Value, path string) {
	if v.kind != kindMap {
		d.fail(path, v, "expected a map")
		return
	}
	t := rv.Type()
	if t.Key().Kind() != reflect.String {
		d.fail(path, v, "cannot decode into "+t.String())
		return
	}
	out := reflect.MakeMapWithSize(t, len(v.keys))
	for i, key := range v.keys {
		elem := reflect.New(t.Elem()).Elem()
		applyDefaults(elem)
		d.decode(v.vals[i], elem, KeyPath(path, key))
		out.SetMapIndex(reflect.ValueOf(key).Convert(t.Key()), elem)
	}
	rv.Set(out)
}

type field struct {
	name  string
	index []int
}

type fieldSet struct {
	list   []field
	byName map[string]field
}

var fieldCache sync.Map // reflect.Type -> *fieldSet

// fieldsOf lists a struct's decodable fields: the `yaml` tag name, or the
// lower-cased Go name; `-` skips a field and `,inline` flattens an embedded
// struct, as goccy/go-yaml does.
func fieldsOf(t reflect.Type) *fieldSet {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.(*fieldSet)
	}
	fs := &fieldSet{byName: map[string]field{}}
	collectFields(t, nil, fs)
	fieldCache.Store(t, fs)
	return fs
}

func collectFields(t reflect.Type, prefix []int, fs *fieldSet) {
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		index := append(append([]int(nil), prefix...), i)
		if strings.Contains(opts, "inline") && sf.Type.Kind() == reflect.Struct {
			collectFields(sf.Type, index, fs)
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		f := field{name: name, index: index}
		fs.list = append(fs.list, f)
		fs.byName[name] = f
	}
}
