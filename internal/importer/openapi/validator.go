package openapi

import (
	"encoding/json"
	"regexp"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/turnpikegw/turnpike/internal/importer"
)

const (
	extValidator  = "x-amazon-apigateway-request-validator"
	extValidators = "x-amazon-apigateway-request-validators"
)

// awsValidator is one entry of x-amazon-apigateway-request-validators.
type awsValidator struct {
	Body   bool `json:"validateRequestBody"`
	Params bool `json:"validateRequestParameters"`
}

// requestValidator maps the AWS request validator in force on an
// operation (its own, else the document's) to a request-validator plugin:
// validateRequestBody checks the body against the operation's JSON
// request body schema, validateRequestParameters checks the required
// query and header parameters are present, as API Gateway does (it checks
// presence, not the parameters' schemas). Path parameters are not
// listed: the route's regex already requires them.
func (c *conv) requestValidator(obj string, pi *openapi3.PathItem, op *openapi3.Operation) *importer.Plugin {
	name := extString(op.Extensions, extValidator)
	if name == "" {
		name = extString(c.doc.Extensions, extValidator)
	}
	if name == "" {
		return nil
	}
	var all map[string]awsValidator
	if err := ext(c.doc.Extensions[extValidators], &all); err != nil {
		c.warn(obj, extValidator, "%q: %s is not a map of validators (%v): requests reach the backend unvalidated", name, extValidators, err)
		return nil
	}
	v, ok := all[name]
	if !ok {
		c.warn(obj, extValidator, "%q is not in %s: requests reach the backend unvalidated", name, extValidators)
		return nil
	}
	cfg := map[string]any{"version": "draft4"}
	if v.Body {
		if schema := c.bodySchema(op); schema != "" {
			cfg["body_schema"] = schema
			// API Gateway takes application/json with parameters
			// (charset=utf-8): so does the import.
			cfg["content_type_parameter_validation"] = false
		}
	}
	if v.Params {
		if params := requiredParams(pi, op); len(params) > 0 {
			cfg["parameter_schema"] = params
		}
	}
	if len(cfg) == 1 {
		return nil
	}
	return &importer.Plugin{Name: "request-validator", Config: cfg, Tags: c.tags()}
}

// bodySchema is the operation's application/json request body schema as
// a self-contained JSON Schema string: a reference to the document's
// components is resolved by carrying them along.
func (c *conv) bodySchema(op *openapi3.Operation) string {
	if op.RequestBody == nil || op.RequestBody.Value == nil {
		return ""
	}
	mt := op.RequestBody.Value.Content.Get("application/json")
	if mt == nil || mt.Schema == nil {
		return ""
	}
	raw, err := json.Marshal(mt.Schema)
	if err != nil || c.doc.Components == nil {
		return string(raw)
	}
	reached := c.reachedSchemas(raw)
	if len(reached) == 0 {
		return string(raw)
	}
	wrapped, err := json.Marshal(map[string]any{
		"allOf":      []json.RawMessage{raw},
		"components": map[string]any{"schemas": reached},
	})
	if err != nil {
		return string(raw)
	}
	return string(wrapped)
}

var schemaRef = regexp.MustCompile(`"#/components/schemas/((?:[^"\\]|\\.)*)"`)

// reachedSchemas are the components' schemas raw refers to, directly or
// through one another: only those are carried along, not every schema of
// the document into every operation.
func (c *conv) reachedSchemas(raw []byte) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	queue := [][]byte{raw}
	for len(queue) > 0 {
		next := queue[0]
		queue = queue[1:]
		for _, m := range schemaRef.FindAllSubmatch(next, -1) {
			var token string
			if json.Unmarshal([]byte(`"`+string(m[1])+`"`), &token) != nil {
				continue
			}
			name := strings.NewReplacer("~1", "/", "~0", "~").Replace(token)
			if _, done := out[name]; done {
				continue
			}
			ref := c.doc.Components.Schemas[name]
			if ref == nil {
				continue
			}
			def, err := json.Marshal(ref)
			if err != nil {
				continue
			}
			out[name] = def
			queue = append(queue, def)
		}
	}
	return out
}

// requiredParams lists the required query and header parameters of an
// operation and its path item (the operation's winning on a name clash).
func requiredParams(pi *openapi3.PathItem, op *openapi3.Operation) []any {
	var out []any
	seen := map[string]bool{}
	for _, ps := range []openapi3.Parameters{op.Parameters, pi.Parameters} {
		for _, ref := range ps {
			p := ref.Value
			if p == nil || !p.Required || (p.In != "query" && p.In != "header") || seen[p.In+" "+p.Name] {
				continue
			}
			seen[p.In+" "+p.Name] = true
			out = append(out, map[string]any{"name": p.Name, "in": p.In, "required": true})
		}
	}
	return out
}
