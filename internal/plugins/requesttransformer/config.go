package requesttransformer

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Config mirrors Kong's request-transformer schema.
type Config struct {
	HTTPMethod *string     `yaml:"http_method"`
	Remove     Lists       `yaml:"remove"`
	Rename     Lists       `yaml:"rename"`
	Replace    ReplaceList `yaml:"replace"`
	Add        Lists       `yaml:"add"`
	Append     Lists       `yaml:"append"`
}

// Lists are the `name` (remove) or `name:value` entries of one operation.
type Lists struct {
	Body        []string `yaml:"body"`
	Headers     []string `yaml:"headers"`
	Querystring []string `yaml:"querystring"`
}

// ReplaceList adds the upstream path template to the replace lists.
type ReplaceList struct {
	Body        []string `yaml:"body"`
	Headers     []string `yaml:"headers"`
	Querystring []string `yaml:"querystring"`
	URI         *string  `yaml:"uri"`
}

// Registration describes the plugin to the registry.
func Registration() plugin.Registration {
	return plugin.Registration{
		Name:      "request-transformer",
		Priority:  801,
		NewConfig: func() any { return &Config{} },
		New:       New,
	}
}

// entry is one compiled `name:value`.
type entry struct {
	name string
	// key is the canonical header key of name, or of the rename target.
	key   string
	lower string
	// newKey and newLower are a header rename's target.
	newKey, newLower string
	// val is nil when the entry has no value (remove lists, or a header
	// entry written `name:`, which Kong treats as a no-op).
	val *template
}

type ops struct{ headers, query, body []entry }

type instance struct {
	method                             string
	remove, rename, replace, add, apnd ops
	uri                                *template
	hasQueryOps, hasBodyOps            bool
	headerOpsReadHeaders               bool
	// boundary is used for a multipart body whose Content-Type has none.
	boundary string
}

var methodRe = regexp.MustCompile(`^[A-Z]+$`)

// splitPair is Kong's `^([^:]+):*(.-)$`: the name ends at the first colon
// and every colon after it is skipped.
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

type validator struct {
	errs plugin.Errors
	// litSize sums the templates' own text, rendered on every request.
	litSize int
}

func (v *validator) fail(path, msg string) {
	v.errs = append(v.errs, plugin.Errors{{Path: path, Message: msg}}...)
}

// value compiles an entry's value template, reporting unsupported forms.
func (v *validator) value(path, value string) *template {
	t, err := compileTemplate(value, "config."+path)
	var limit limitError
	switch {
	case errors.As(err, &limit):
		// Such a value is long; quoting it would drown the message.
		v.fail(path, "value has "+limit.Error())
		return nil
	case err != nil:
		v.fail(path, "value '"+value+"' is not in supported format, error: "+err.Error())
		return nil
	}
	// Templates that together render more than the per-request bound with
	// their own text alone would fail every request.
	if v.litSize += t.litSize; t.litSize > 0 && v.litSize > maxRendered {
		v.fail(path, "value's text outside $(...) takes the plugin's templates past "+strconv.Itoa(maxRendered)+" bytes in total, the most they may render for a request")
		return nil
	}
	return t
}

type listKind uint8

const (
	namesOnly     listKind = iota // remove
	headerRename                  // rename.headers: both sides header names
	headerValue                   // replace/add/append.headers
	requiredValue                 // body and querystring of the others
)

// compile validates one list as Kong's schema does and compiles it.
func (v *validator) compile(path string, list []string, kind listKind, isHeader bool) []entry {
	out := make([]entry, 0, len(list))
	for i, s := range list {
		p := path + "[" + strconv.Itoa(i) + "]"
		name, value, ok := splitPair(s)
		if kind == headerRename || kind == headerValue {
			if !strings.Contains(s, ":") || !ok {
				v.fail(p, "invalid value: "+s)
				continue
			}
		}
		if isHeader && (!ok || !plugin.ValidHeaderName(name)) {
			v.fail(p, "'"+name+"' is not a valid header")
			continue
		}
		e := entry{name: name}
		if isHeader {
			e.lower = strings.ToLower(name)
			e.key = textproto.CanonicalMIMEHeaderKey(name)
		}
		switch kind {
		case namesOnly:
			if !isHeader && !ok {
				// Kong's iterator cannot split such an entry; it names
				// nothing.
				continue
			}
		case headerRename:
			if !plugin.ValidHeaderName(value) {
				v.fail(p, "'"+value+"' is not a valid header")
				continue
			}
			e.newLower = strings.ToLower(value)
			e.newKey = textproto.CanonicalMIMEHeaderKey(value)
		case headerValue:
			if value != "" {
				if e.val = v.value(p, value); e.val == nil {
					continue
				}
				if e.lower == "host" && !e.val.hostSafe() {
					v.fail(p, "a Host value may not hold spaces, control characters, '/' or '\\'")
					continue
				}
			}
		case requiredValue:
			if !ok || value == "" {
				v.fail(p, "key '"+name+"' has no value")
				continue
			}
			if e.val = v.value(p, value); e.val == nil {
				continue
			}
		}
		out = append(out, e)
	}
	return out
}

// New validates the config as Kong's schema does, rejects templates Turnpike
// cannot evaluate, and compiles everything the request path needs.
func New(cfg any, _ plugin.Env) (plugin.Instance, error) {
	c := cfg.(*Config)
	var v validator
	in := &instance{}
	if c.HTTPMethod != nil {
		if !methodRe.MatchString(*c.HTTPMethod) {
			v.fail("http_method", "invalid value: "+*c.HTTPMethod)
		}
		in.method = *c.HTTPMethod
	}
	in.remove = ops{
		headers: v.compile("remove.headers", c.Remove.Headers, namesOnly, true),
		query:   v.compile("remove.querystring", c.Remove.Querystring, namesOnly, false),
		body:    v.compile("remove.body", c.Remove.Body, namesOnly, false),
	}
	in.rename = ops{
		headers: v.compile("rename.headers", c.Rename.Headers, headerRename, true),
		query:   v.compile("rename.querystring", c.Rename.Querystring, requiredValue, false),
		body:    v.compile("rename.body", c.Rename.Body, requiredValue, false),
	}
	in.replace = ops{
		headers: v.compile("replace.headers", c.Replace.Headers, headerValue, true),
		query:   v.compile("replace.querystring", c.Replace.Querystring, requiredValue, false),
		body:    v.compile("replace.body", c.Replace.Body, requiredValue, false),
	}
	in.add = ops{
		headers: v.compile("add.headers", c.Add.Headers, headerValue, true),
		query:   v.compile("add.querystring", c.Add.Querystring, requiredValue, false),
		body:    v.compile("add.body", c.Add.Body, requiredValue, false),
	}
	in.apnd = ops{
		headers: v.compile("append.headers", c.Append.Headers, headerValue, true),
		query:   v.compile("append.querystring", c.Append.Querystring, requiredValue, false),
		body:    v.compile("append.body", c.Append.Body, requiredValue, false),
	}
	if c.Replace.URI != nil {
		in.uri = v.value("replace.uri", *c.Replace.URI)
	}
	if len(v.errs) > 0 {
		return nil, v.errs
	}
	all := []ops{in.remove, in.rename, in.replace, in.add, in.apnd}
	for _, o := range all {
		in.hasQueryOps = in.hasQueryOps || len(o.query) > 0
		in.hasBodyOps = in.hasBodyOps || len(o.body) > 0
	}
	for _, o := range all[2:] {
		for _, e := range o.headers {
			if e.val != nil && e.val.readsHeaders {
				in.headerOpsReadHeaders = true
			}
		}
	}
	if len(in.remove.body)+len(in.rename.body)+len(in.replace.body)+len(in.add.body) > 0 {
		var b [12]byte
		_, _ = rand.Read(b[:])
		in.boundary = hex.EncodeToString(b[:])
	}
	return in, nil
}
