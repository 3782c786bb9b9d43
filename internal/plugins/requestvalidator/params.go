package requestvalidator

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// param is one compiled parameter_schema entry.
type param struct {
	name     string
	in       string
	required bool
	explode  bool
	// sep splits one value of an array parameter into its items.
	sep string
	// typ and itemType are the schema's top-level "type" and, for an
	// array, its items' "type": what a parameter's text is read as.
	typ, itemType string
	schema        *jsonschema.Schema
	// missing is the verbose answer for an absent required parameter.
	missing *plugin.Exit
}

var separators = map[string]string{"form": ",", "simple": ",", "spaceDelimited": " ", "pipeDelimited": "|"}

func newParam(p *Param, compileSchema bool) (param, plugin.Errors) {
	var errs plugin.Errors
	out := param{name: p.Name, in: p.In, sep: ","}
	if p.Name == "" {
		errs = append(errs, plugin.Problem{Path: "name", Message: errRequired})
	}
	switch p.In {
	case "header":
		if p.Name != "" && !plugin.ValidHeaderName(p.Name) {
			errs = append(errs, plugin.Problem{Path: "name", Message: "bad header name '" + p.Name + "', allowed characters are A-Z, a-z, 0-9, '_', and '-'"})
		}
	case "query", "path":
	case "":
		errs = append(errs, plugin.Problem{Path: "in", Message: errRequired})
	default:
		errs = append(errs, plugin.Problem{Path: "in", Message: "expected one of: query, header, path"})
	}
	if p.Required == nil {
		errs = append(errs, plugin.Problem{Path: "required", Message: errRequired})
	} else {
		out.required = *p.Required
	}
	if p.Explode != nil {
		out.explode = *p.Explode
	}
	if p.Style != "" {
		sep, ok := separators[p.Style]
		if !ok {
			errs = append(errs, plugin.Problem{Path: "style", Message: "style '" + p.Style + "' is not supported by Turnpike (form, simple, spaceDelimited, pipeDelimited are)"})
		}
		out.sep = sep
	}
	if p.Schema != "" && (p.Style == "" || p.Explode == nil) {
		errs = append(errs, plugin.Problem{Message: "'style' and 'explode' are required when 'schema' is set"})
	}
	if p.Schema != "" && compileSchema {
		sch, err := compile("parameter_schema", p.Schema)
		if err != nil {
			errs = append(errs, plugin.Problem{Path: "schema", Message: err.Error()})
		}
		out.schema = sch
		out.typ, out.itemType = schemaTypes(p.Schema)
		if out.typ == "object" {
			errs = append(errs, plugin.Problem{Path: "schema", Message: "object parameters are not supported by Turnpike"})
		}
	}
	out.missing = plugin.NewExit(http.StatusBadRequest, out.in+" '"+out.name+"' validation failed, [error: required parameter value not found in request]")
	return out, errs
}

// schemaTypes reads a schema's top-level "type" and its items' "type".
func schemaTypes(text string) (typ, itemType string) {
	var s struct {
		Type  any `json:"type"`
		Items struct {
			Type any `json:"type"`
		} `json:"items"`
	}
	if json.Unmarshal([]byte(text), &s) != nil {
		return "", ""
	}
	t, _ := s.Type.(string)
	it, _ := s.Items.Type.(string)
	return t, it
}

// checkParams validates each configured parameter; the first failure is
// the answer, as in Kong.
func (in *instance) checkParams(c *plugin.Ctx) *plugin.Exit {
	r := c.Req
	var query map[string][]string
	for i := range in.params {
		p := &in.params[i]
		var values []string
		switch p.in {
		case "query":
			if query == nil {
				query = r.URL.Query()
			}
			values = query[p.name]
		case "header":
			values = r.Header.Values(p.name)
		case "path":
			if g, ok := c.Captures.Group(p.name); ok && c.Captures.Matched(g) {
				values = c.Captures.Positional[g : g+1]
			}
		}
		if len(values) == 0 {
			if p.required {
				return in.paramFailure(p.missing)
			}
			continue
		}
		if p.schema == nil {
			continue
		}
		if err := p.schema.Validate(p.value(values)); err != nil {
			return in.paramFailure(plugin.NewExit(http.StatusBadRequest, p.in+" '"+p.name+"' validation failed, [error: "+err.Error()+"]"))
		}
	}
	return nil
}

func (in *instance) paramFailure(verbose *plugin.Exit) *plugin.Exit {
	if in.verbose {
		return verbose
	}
	return exitParam
}

// value reads a parameter's text as its schema's type says: an array from
// repeated values (explode) or one value split on the style's separator,
// a number or boolean from its text. Text that does not read as the type
// stays a string, so the schema refuses it.
func (p *param) value(values []string) any {
	if p.typ != "array" {
		return scalar(p.typ, values[0])
	}
	if !p.explode || p.in != "query" {
		values = strings.Split(values[0], p.sep)
	}
	items := make([]any, len(values))
	for i, v := range values {
		items[i] = scalar(p.itemType, v)
	}
	return items
}

// jsonNumber reports whether s is a number as JSON writes it, of a
// size a float64 holds.
func jsonNumber(s string) bool {
	if s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) || !json.Valid([]byte(s)) {
		return false
	}
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

func scalar(typ, s string) any {
	switch typ {
	case "integer", "number":
		// Only JSON's own number syntax: ParseFloat also takes NaN, Inf
		// and hex, which the schema library cannot compare (NaN and Inf
		// panic in it).
		if jsonNumber(s) {
			return json.Number(s)
		}
	case "boolean":
		switch s {
		case "true":
			return true
		case "false":
			return false
		}
	case "null":
		if s == "" {
			return nil
		}
	}
	return s
}
