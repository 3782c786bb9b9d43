package admin

import (
	"reflect"
	"strings"
	"sync"

	"github.com/turnpikegw/turnpike/internal/config"
)

// An entity's admin API body is rendered from its type's fields: the yaml
// tag names them (Kong's names), and an `admin` tag says how a value is
// shown:
//
//	admin:"-"         not shown (secrets, nested entities, and fields the
//	                  caller renders from the model instead)
//	admin:"nullzero"  a zero value or an empty list is null
//	admin:"omitzero"  a zero value or an empty list is not shown (Turnpike's
//	                  extensions of a Kong entity, so Kong's shape is kept
//	                  where they are not used)
//	admin:"loadtime"  a zero timestamp is the load time
//
// A *config.Ref is shown as {"id": ...} (null when unset) and a struct by
// its yaml names. The caller adds what the model knows and the file does
// not say: ids, foreign keys, defaults filled in.

// fieldRender is how one field is shown.
type fieldRender int

const (
	asIs fieldRender = iota
	nullZero
	omitZero
	loadTime
	asRef
	asPlain
)

// renderField is a field of a rendered type.
type renderField struct {
	name  string
	index int
	how   fieldRender
}

var (
	renderFields sync.Map // reflect.Type -> []renderField
	refType      = reflect.TypeFor[*config.Ref]()
)

// render shows the struct v points to as the admin API does; created is
// the load time.
func render(v any, created int64) map[string]any {
	rv := reflect.ValueOf(v).Elem()
	fs, ok := renderFields.Load(rv.Type())
	if !ok {
		fs, _ = renderFields.LoadOrStore(rv.Type(), renderFieldsOf(rv.Type()))
	}
	list := fs.([]renderField)
	body := make(map[string]any, len(list)+4)
	for _, f := range list {
		fv := rv.Field(f.index)
		switch f.how {
		case asIs:
			body[f.name] = fv.Interface()
		case nullZero:
			if fv.IsZero() || fv.Kind() == reflect.Slice && fv.Len() == 0 {
				body[f.name] = nil
			} else {
				body[f.name] = fv.Interface()
			}
		case omitZero:
			if !fv.IsZero() && !(fv.Kind() == reflect.Slice && fv.Len() == 0) {
				body[f.name] = fv.Interface()
			}
		case loadTime:
			switch {
			case !fv.IsZero():
				body[f.name] = fv.Interface()
			case fv.Kind() == reflect.Float64:
				body[f.name] = float64(created)
			default:
				body[f.name] = created
			}
		case asRef:
			body[f.name] = ref(fv.Interface().(*config.Ref))
		case asPlain:
			body[f.name] = plain(fv.Interface())
		}
	}
	return body
}

func renderFieldsOf(t reflect.Type) []renderField {
	var out []renderField
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		opt := sf.Tag.Get("admin")
		if !sf.IsExported() || sf.Anonymous || name == "-" || opt == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		f := renderField{name: name, index: i}
		switch {
		case opt == "nullzero":
			f.how = nullZero
		case opt == "omitzero":
			f.how = omitZero
		case opt == "loadtime":
			f.how = loadTime
		case sf.Type == refType:
			f.how = asRef
		case sf.Type.Kind() == reflect.Struct:
			f.how = asPlain
		}
		out = append(out, f)
	}
	return out
}
