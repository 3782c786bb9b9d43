package admin

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
)

const (
	// maxEntityBody bounds an entity write's body: a certificate with its
	// chain and key is the largest entity, a few tens of kilobytes.
	maxEntityBody = 1 << 20
	// maxEntityValues bounds the values of one body, and maxFormDepth
	// how deep a form key may nest (`config.a.b.c`).
	maxEntityValues = 20000
	maxFormDepth    = 16
)

var errBodyTooLarge = errors.New("request body too large (the limit is " + strconv.Itoa(maxEntityBody) + " bytes)")

// writeBodyError answers an entity body that could not be read or parsed:
// 413 when it is over maxEntityBody, 400 otherwise.
func writeBodyError(w http.ResponseWriter, err error) {
	status := http.StatusBadRequest
	if errors.Is(err, errBodyTooLarge) {
		status = http.StatusRequestEntityTooLarge
	}
	writeJSON(w, status, message(err.Error()))
}

// readEntity reads an entity write's body as Kong does: JSON (or YAML),
// or form fields, urlencoded or multipart, whose keys nest as Kong's
// arguments decoder (`config.minute`, `config[minute]`, `paths[]`,
// `paths[1]`) and whose string values are converted by the entity's
// field types. An empty body is an empty entity.
func (a *api) readEntity(w http.ResponseWriter, r *http.Request, wk *writeKind) (*config.Object, error) {
	b, err := readEntityBody(w, r)
	if err != nil {
		return nil, err
	}
	return a.parseEntity(b, wk)
}

// entityBody is an entity body as read, not yet parsed: the bytes of a
// JSON (or YAML) one, or the fields of a form (never nil for a form:
// ParseForm makes an empty one).
type entityBody struct {
	data []byte
	form url.Values
}

// readEntityBody reads an entity body of at most maxEntityBody bytes.
func readEntityBody(w http.ResponseWriter, r *http.Request) (entityBody, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxEntityBody)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return entityBody{}, bodyErr(err)
		}
		return entityBody{form: r.PostForm}, nil
	case "multipart/form-data":
		if err := r.ParseMultipartForm(maxEntityBody); err != nil {
			return entityBody{}, bodyErr(err)
		}
		return entityBody{form: r.MultipartForm.Value}, nil
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return entityBody{}, bodyErr(err)
	}
	return entityBody{data: data}, nil
}

// parseEntity makes the entity of a body read by readEntityBody.
func (a *api) parseEntity(b entityBody, wk *writeKind) (*config.Object, error) {
	if b.form == nil {
		if len(bytes.TrimSpace(b.data)) == 0 {
			return &config.Object{}, nil
		}
		v, err := config.ParseOrdered(b.data, maxEntityValues)
		if err != nil {
			return nil, errors.New("Cannot parse JSON body")
		}
		o, ok := v.(*config.Object)
		if !ok {
			return nil, errors.New("Cannot parse JSON body")
		}
		return o, nil
	}
	o, err := decodeForm(b.form)
	if err != nil {
		return nil, err
	}
	a.coerce(o, wk)
	return o, nil
}

func bodyErr(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errBodyTooLarge
	}
	return errors.New("cannot read the request body")
}

// decodeForm nests form keys. Keys are taken in sorted order so that
// `paths[1]`, `paths[2]` land in order whatever the body's order.
func decodeForm(form url.Values) (*config.Object, error) {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	root := &config.Object{}
	// One budget of values for the whole body, the slots an array index
	// leaves empty included: `a[20000]` is 20,000 of them.
	slots := maxEntityValues
	for _, k := range keys {
		segs, err := formPath(k)
		if err != nil {
			return nil, err
		}
		for _, v := range form[k] {
			slots--
			err := errTooManyValues
			if slots >= 0 {
				err = nest(root, segs, v, &slots)
			}
			if errors.Is(err, errTooManyValues) {
				return nil, errors.New("too many values in the form body at '" + k + "' (the limit is " + strconv.Itoa(maxEntityValues) + ")")
			}
			if err != nil {
				return nil, err
			}
		}
	}
	return root, nil
}

var errTooManyValues = errors.New("too many values")

// formPath splits `a.b[c][]` into a, b, c, "" ("" appends to an array, a
// number is a 1-based array position).
func formPath(k string) ([]string, error) {
	var segs []string
	for _, dotted := range strings.Split(k, ".") {
		name, rest, _ := strings.Cut(dotted, "[")
		segs = append(segs, name)
		for rest != "" {
			inner, tail, ok := strings.Cut(rest, "]")
			if !ok {
				return nil, errors.New("invalid form field name '" + k + "'")
			}
			segs = append(segs, inner)
			rest = strings.TrimPrefix(tail, "[")
		}
	}
	if len(segs) > maxFormDepth || segs[0] == "" {
		return nil, errors.New("invalid form field name '" + k + "'")
	}
	return segs, nil
}

// nest puts v at segs under o; a name given twice becomes an array. The
// empty array slots an index leaves are charged to slots.
func nest(o *config.Object, segs []string, v string, slots *int) error {
	name := segs[0]
	if len(segs) == 1 {
		switch cur, ok := o.Get(name); {
		case !ok:
			o.Set(name, v)
		case isList(cur):
			o.Set(name, append(cur.([]any), v))
		default:
			o.Set(name, []any{cur, v})
		}
		return nil
	}
	next := segs[1]
	if _, err := strconv.Atoi(next); next == "" || err == nil {
		cur, _ := o.Get(name)
		list, _ := cur.([]any)
		if cur != nil && list == nil {
			list = []any{cur}
		}
		if len(segs) > 2 {
			return errors.New("invalid form field name: arrays of objects are not supported in form bodies")
		}
		if i, err := strconv.Atoi(next); err == nil {
			if i < 1 || i > maxEntityValues {
				return errors.New("invalid array index " + next)
			}
			if gap := i - 1 - len(list); gap > *slots {
				return errTooManyValues
			} else if gap > 0 {
				*slots -= gap
			}
			for len(list) < i {
				list = append(list, nil)
			}
			list[i-1] = v
		} else {
			list = append(list, v)
		}
		o.Set(name, list)
		return nil
	}
	cur, _ := o.Get(name)
	child, ok := cur.(*config.Object)
	if !ok {
		child = &config.Object{}
		o.Set(name, child)
	}
	return nest(child, segs[1:], v, slots)
}

func isList(v any) bool { _, ok := v.([]any); return ok }

// coerce converts a form body's strings to the types of the entity's
// fields, as Kong's infer_value does: "" is null, numbers and booleans
// are parsed, a single value for an array is a one-element array. A
// plugin's config takes its plugin's config type.
func (a *api) coerce(o *config.Object, wk *writeKind) {
	for i, k := range o.Keys {
		ft := fieldType(wk.typ, k)
		if wk.credential != nil && ft == nil {
			switch k {
			case "tags":
				ft = reflect.TypeFor[[]string]()
			case "created_at":
				ft = reflect.TypeFor[int64]()
			}
		}
		if wk.kind == "plugins" && k == "config" {
			if reg, ok := a.lookupPlugin(o.String("name")); ok {
				ft = reflect.TypeOf(reg.NewConfig())
			}
		}
		o.Vals[i] = coerceValue(o.Vals[i], ft)
	}
}

func (a *api) lookupPlugin(name string) (*plugin.Registration, bool) {
	if a.src.Registry == nil {
		return nil, false
	}
	return a.src.Registry.Lookup(name)
}

func coerceValue(v any, t reflect.Type) any {
	if s, ok := v.(string); ok && s == "" {
		return nil
	}
	if t == nil {
		return v
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch val := v.(type) {
	case string:
		switch t.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			if n, err := strconv.ParseInt(val, 10, 64); err == nil {
				return n
			}
			if f, err := strconv.ParseFloat(val, 64); err == nil {
				return f
			}
		case reflect.Float32, reflect.Float64:
			if f, err := strconv.ParseFloat(val, 64); err == nil {
				return f
			}
		case reflect.Bool:
			switch val {
			case "true":
				return true
			case "false":
				return false
			}
		case reflect.Slice:
			return []any{coerceValue(val, t.Elem())}
		}
		return val
	case []any:
		if t.Kind() != reflect.Slice {
			return val
		}
		for i := range val {
			val[i] = coerceValue(val[i], t.Elem())
		}
		return val
	case *config.Object:
		for i, k := range val.Keys {
			switch t.Kind() {
			case reflect.Struct:
				val.Vals[i] = coerceValue(val.Vals[i], fieldType(t, k))
			case reflect.Map:
				val.Vals[i] = coerceValue(val.Vals[i], t.Elem())
			}
		}
	}
	return v
}
