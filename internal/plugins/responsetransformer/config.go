package responsetransformer

import (
	"log/slog"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/jsonw"
	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Config mirrors Kong's response-transformer schema.
type Config struct {
	Remove  Lists      `yaml:"remove"`
	Rename  Lists      `yaml:"rename"`
	Replace TypedLists `yaml:"replace"`
	Add     TypedLists `yaml:"add"`
	Append  TypedLists `yaml:"append"`
}

// Lists are the `name` (remove) or `name:value` (rename) entries of one
// operation.
type Lists struct {
	JSON    []string `yaml:"json"`
	Headers []string `yaml:"headers"`
}

// TypedLists add the JSON types of the json values.
type TypedLists struct {
	JSON      []string `yaml:"json"`
	JSONTypes []string `yaml:"json_types"`
	Headers   []string `yaml:"headers"`
}

// Registration describes the plugin to the registry.
func Registration() plugin.Registration {
	return plugin.Registration{
		Name:      "response-transformer",
		Priority:  800,
		NewConfig: func() any { return &Config{} },
		New:       New,
	}
}

// splitPair is Kong's `^([^:]+):*(.-)$`: the name ends at the first colon
// and every colon after it is skipped; ok is false when it does not match
// (an empty string, or one that starts with a colon).
func splitPair(s string) (name, value string, ok bool) {
	i := strings.IndexByte(s, ':')
	if i == 0 || s == "" {
		return "", "", false
	}
	if i < 0 {
		return s, "", true
	}
	j := i
	for j < len(s) && s[j] == ':' {
		j++
	}
	return s[:i], s[j:], true
}

// colonPair is the schema's `^[^:]+:.*$`.
func colonPair(s string) bool { return strings.IndexByte(s, ':') > 0 }

type validator struct{ errs plugin.Errors }

func (v *validator) fail(path, msg string) {
	v.errs = append(v.errs, plugin.Problem{Path: path, Message: msg})
}

// listKind says how a list is checked and what its entries mean.
type listKind uint8

const (
	names      listKind = iota // remove: names only
	renames                    // rename: name:new name
	nameValues                 // replace, add, append: name:value
)

// jsonList compiles a json list; types are the list's json_types.
func (v *validator) jsonList(path string, list, types []string, kind listKind) []jsonRule {
	out := make([]jsonRule, 0, len(list))
	for i, s := range list {
		p := path + "[" + strconv.Itoa(i) + "]"
		if kind != names && !colonPair(s) {
			v.fail(p, "invalid value: "+s)
			continue
		}
		name, value, ok := splitPair(s)
		if !ok {
			// Kong's iterator cannot split it: the entry names nothing.
			continue
		}
		r := jsonRule{name: name}
		switch kind {
		case renames:
			if value == "" {
				continue
			}
			r.to = value
			r.key = jsonw.AppendCJSONString(nil, value)
		case nameValues:
			r.key = jsonw.AppendCJSONString(nil, name)
			typ := "string"
			if i < len(types) {
				typ = types[i]
			}
			if value != "" {
				r.val = jsonValue(value, typ)
			}
		}
		out = append(out, r)
	}
	return out
}

// jsonValue is the value Kong's json_value makes of a configured one, as
// cjson then writes it into the body: the text is cjson-encoded, stripped
// of its quotes and of the escapes of '"' and '/' (so '\' and control
// bytes stay escaped once, and are escaped again when the body is
// written), then cast by its json_type. nil when Kong's cast gives nil.
func jsonValue(value, typ string) []byte {
	enc := jsonw.AppendCJSONString(nil, value)
	v := string(enc[1 : len(enc)-1])
	v = strings.ReplaceAll(v, `\"`, `"`)
	v = strings.ReplaceAll(v, `\/`, `/`)
	switch typ {
	case "number":
		f, ok := luaNumber(v)
		if !ok {
			return nil
		}
		// cjson writes numbers as %.14g.
		return strconv.AppendFloat(nil, f, 'g', 14, 64)
	case "boolean":
		if v == "true" {
			return []byte("true")
		}
		return []byte("false")
	}
	return jsonw.AppendCJSONString(nil, v)
}

// luaNumber is Lua's tonumber on a string, for the numbers JSON can hold
// (cjson refuses to write an infinity or NaN: Turnpike's rule then does
// nothing, where Kong's makes the whole body transform fail).
func luaNumber(s string) (float64, bool) {
	s = strings.Trim(s, " \t\n\r\v\f")
	digits := strings.TrimPrefix(s, "-")
	if len(digits) > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X') {
		n, err := strconv.ParseUint(digits[2:], 16, 64)
		if err != nil {
			return 0, false
		}
		if len(digits) < len(s) {
			return -float64(n), true
		}
		return float64(n), true
	}
	if s == "" || strings.ContainsAny(s, "_xXpP") {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f-f != 0 {
		return 0, false
	}
	return f, true
}

// headerRule is one compiled header entry.
type headerRule struct {
	// key is the canonical header key, '_' read as '-' as NGINX's
	// ngx.header does; to is a rename's target, likewise.
	key, to string
	// val is the value ("" when the entry has none: the rule does
	// nothing, as in Kong).
	val string
}

type headerRules struct {
	remove, rename, replace, add, apnd []headerRule
}

func headerKey(name string) string {
	return textproto.CanonicalMIMEHeaderKey(strings.ReplaceAll(name, "_", "-"))
}

// headerList compiles a headers list. Kong checks both sides of a rename
// as header names; Turnpike also refuses control bytes in the other
// lists' names and values, which would split the response head.
func (v *validator) headerList(path string, list []string, kind listKind) []headerRule {
	out := make([]headerRule, 0, len(list))
	for i, s := range list {
		p := path + "[" + strconv.Itoa(i) + "]"
		if kind != names && !colonPair(s) {
			v.fail(p, "invalid value: "+s)
			continue
		}
		name, value, ok := splitPair(s)
		if !ok {
			continue
		}
		switch kind {
		case renames:
			if !plugin.ValidHeaderName(name) {
				v.fail(p, "'"+name+"' is not a valid header")
				continue
			}
			if !plugin.ValidHeaderName(value) {
				v.fail(p, "'"+value+"' is not a valid header")
				continue
			}
		case nameValues:
			if strings.ContainsFunc(s, isCtl) {
				v.fail(p, "a header name or value may not hold control characters")
				continue
			}
		}
		r := headerRule{key: headerKey(name)}
		if kind == renames {
			r.to = headerKey(value)
		} else if kind == nameValues {
			r.val = value
		}
		out = append(out, r)
	}
	return out
}

func isCtl(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }

// jsonTypes checks a json_types list as Kong's one_of.
func (v *validator) jsonTypes(path string, types []string) {
	for i, t := range types {
		if t != "boolean" && t != "number" && t != "string" {
			v.fail(path+"["+strconv.Itoa(i)+"]", "expected one of: boolean, number, string")
		}
	}
}

// Instance is a configured response-transformer.
type Instance struct {
	headers headerRules
	json    jsonRules
	// body is set when a json rule exists: JSON bodies are then buffered.
	body   bool
	logger *slog.Logger
	limit  int
	// warnBig and warnParse pace the warnings of bodies too large to
	// read and of bodies that are not JSON objects.
	warnBig, warnParse warnPacer
}

// New validates the config as Kong's schema does and compiles the rules.
func New(cfg any, env plugin.Env) (plugin.Instance, error) {
	c := cfg.(*Config)
	var v validator
	in := &Instance{logger: env.Logger, limit: maxBody}
	if in.logger == nil {
		in.logger = slog.New(slog.DiscardHandler)
	}
	v.jsonTypes("replace.json_types", c.Replace.JSONTypes)
	v.jsonTypes("add.json_types", c.Add.JSONTypes)
	v.jsonTypes("append.json_types", c.Append.JSONTypes)
	in.headers = headerRules{
		remove:  v.headerList("remove.headers", c.Remove.Headers, names),
		rename:  v.headerList("rename.headers", c.Rename.Headers, renames),
		replace: v.headerList("replace.headers", c.Replace.Headers, nameValues),
		add:     v.headerList("add.headers", c.Add.Headers, nameValues),
		apnd:    v.headerList("append.headers", c.Append.Headers, nameValues),
	}
	in.json = jsonRules{
		remove:  v.jsonList("remove.json", c.Remove.JSON, nil, names),
		rename:  v.jsonList("rename.json", c.Rename.JSON, nil, renames),
		replace: v.jsonList("replace.json", c.Replace.JSON, c.Replace.JSONTypes, nameValues),
		add:     v.jsonList("add.json", c.Add.JSON, c.Add.JSONTypes, nameValues),
		apnd:    v.jsonList("append.json", c.Append.JSON, c.Append.JSONTypes, nameValues),
	}
	if len(v.errs) > 0 {
		return nil, v.errs
	}
	// Kong's is_body_transform_set counts the lists as configured, even
	// entries that do nothing.
	in.body = len(c.Remove.JSON)+len(c.Rename.JSON)+len(c.Replace.JSON)+len(c.Add.JSON)+len(c.Append.JSON) > 0
	return in, nil
}
