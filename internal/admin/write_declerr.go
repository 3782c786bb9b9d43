package admin

import (
	"sort"
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/config"
)

// declarativeError is Kong's 400 for an invalid declarative config (POST
// /config, and an entity write whose document does not load for reasons
// outside the entity): `fields` nests the errors by entity list and
// position as Kong's does ({"services": [{"port": "..."}]}), an error of
// the document as a whole is `error`, and the message prints `fields` as
// Kong's does (a Lua table). flattenedError is the ?flatten_errors=1
// form.
func declarativeError(err error) map[string]any {
	errs := asErrors(err)
	fields := nestedFields(errs)
	var whole []string
	for _, e := range errs {
		if e.Path == "" {
			whole = append(whole, e.Message)
		}
	}
	if len(whole) > 0 {
		fields["error"] = strings.Join(whole, "; ")
	}
	return map[string]any{
		"code":    codeDeclarativeConfig,
		"name":    "invalid declarative configuration",
		"message": "declarative config is invalid: " + luaPretty(fields),
		"fields":  fields,
	}
}

// pathOf joins tokens back into a path.
func pathOf(toks []any) string {
	path := ""
	for _, t := range toks {
		switch v := t.(type) {
		case int:
			path += "[" + strconv.Itoa(v) + "]"
		case string:
			path = config.JoinKey(path, v)
		}
	}
	return path
}

// luaPretty prints fields as Kong's messages do (penlight's pretty writer
// without indentation): {services={{port="..."}}}, a list with holes by
// its 1-based positions.
func luaPretty(v any) string {
	switch t := v.(type) {
	case string:
		return strconv.Quote(t)
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			name := k
			if !luaIdent(k) {
				name = "[" + strconv.Quote(k) + "]"
			}
			parts[i] = name + "=" + luaPretty(t[k])
		}
		return "{" + strings.Join(parts, ",") + "}"
	case *[]any:
		holes := false
		for _, it := range *t {
			holes = holes || it == nil
		}
		var parts []string
		for i, it := range *t {
			switch {
			case !holes:
				parts = append(parts, luaPretty(it))
			case it != nil:
				parts = append(parts, "["+strconv.Itoa(i+1)+"]="+luaPretty(it))
			}
		}
		return "{" + strings.Join(parts, ",") + "}"
	case []any:
		return luaPretty(&t)
	}
	return "nil"
}

func luaIdent(s string) bool {
	for i, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}
