// Package openapi imports OpenAPI 3.0/3.1 and Swagger 2.0 documents as
// Kong's openapi2kong does (a service per set of servers, a regex route
// per operation, the x-kong-* extensions), and the AWS API Gateway
// extensions: integrations, CORS, API keys and JWT/Cognito authorizers.
package openapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	yaml "go.yaml.in/yaml/v4"

	"github.com/turnpikegw/turnpike/internal/importer"
)

// Options tune an import.
type Options struct {
	// StageVariables give the values of ${stageVariables.NAME} in AWS
	// integration URIs (the stage's settings are not in the document).
	StageVariables map[string]string
}

// Import adds to cfg what each document describes; each document is one
// OpenAPI description. A document that is not OpenAPI or Swagger at all
// is an error; everything else that cannot be mapped is a warning.
func Import(docs []importer.Document, opts Options, cfg *importer.Config, ws *importer.Warnings) error {
	if len(docs) == 0 {
		return errors.New("no OpenAPI document in the input")
	}
	for _, d := range docs {
		t, err := load(d.Data)
		if err != nil {
			return fmt.Errorf("%s: %w", d.Where(), err)
		}
		c := &conv{doc: t, where: d.Where(), file: d.File, line: d.Line, opts: opts, cfg: cfg, ws: ws, services: map[string]*importer.Service{}}
		c.run()
	}
	return nil
}

// load reads a document of either generation into the OpenAPI 3 model.
// YAML goes through go.yaml.in/yaml/v4, which bounds alias expansion, and
// references outside the document are never followed (the loader's
// default), so an input cannot make the import read files or URLs.
func load(data []byte) (*openapi3.T, error) {
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("not YAML or JSON: %w", err)
	}
	_, quoted := raw["openapi"].(string)
	for _, k := range []string{"swagger", "openapi"} {
		if v, ok := raw[k]; ok {
			raw[k] = version(v)
		}
	}
	js, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	switch {
	case raw["swagger"] != nil:
		if v := raw["swagger"]; v != "2.0" {
			return nil, fmt.Errorf("swagger: %q: only Swagger 2.0 is supported", v)
		}
		var d2 openapi2.T
		if err := json.Unmarshal(js, &d2); err != nil {
			return nil, fmt.Errorf("not a Swagger 2.0 document: %w", err)
		}
		return openapi2conv.ToV3(&d2)
	case raw["openapi"] != nil:
		v := raw["openapi"].(string)
		if !strings.HasPrefix(v, "3.0") && !strings.HasPrefix(v, "3.1") {
			return nil, fmt.Errorf("openapi: %q: only OpenAPI 3.0 and 3.1 are supported", v)
		}
		if quoted {
			// From the source itself, the loader records each operation's
			// line for the warnings.
			l := openapi3.NewLoader()
			l.IncludeOrigin = true
			return l.LoadFromData(data)
		}
		return openapi3.NewLoader().LoadFromData(js)
	}
	return nil, errors.New("neither an OpenAPI 3 (openapi:) nor a Swagger 2.0 (swagger:) document")
}

// version reads a version written as a string or, unquoted, a number
// (`swagger: 2.0` is common though the specifications want a string).
func version(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		s := strconv.FormatFloat(x, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	case int:
		return strconv.Itoa(x) + ".0"
	}
	return fmt.Sprint(v)
}

// conv converts one document.
type conv struct {
	doc      *openapi3.T
	where    string // file:line of the document
	file     string
	line     int // of the document in the file
	opts     Options
	cfg      *importer.Config
	ws       *importer.Warnings
	name     string                       // the document's name: x-kong-name or the title
	services map[string]*importer.Service // by server set or backend origin
	mine     []*importer.Service          // in creation order
	cors     *importer.Plugin
	once     map[string]bool
}

func (c *conv) warn(object, field, format string, args ...any) {
	c.ws.Add(object, field, format, args...)
}

func (c *conv) at(path string) string {
	if path == "" {
		return c.where
	}
	return c.where + " " + path
}

// atOp names an operation: file:line of the operation when the loader
// recorded it, else of the document, and its place in the document.
func (c *conv) atOp(path string, op *openapi3.Operation) string {
	if op.Origin != nil && op.Origin.Key != nil && op.Origin.Key.Line > 0 {
		return c.file + ":" + strconv.Itoa(c.line-1+op.Origin.Key.Line) + " " + path
	}
	return c.at(path)
}

func (c *conv) tags() []string {
	return []string{"OAS3_import", "OAS3file_" + importer.Slug(filepath.Base(c.file))}
}

func (c *conv) run() {
	c.name = extString(c.doc.Extensions, "x-kong-name")
	if c.name == "" && c.doc.Info != nil {
		c.name = c.doc.Info.Title
	}
	if c.name = slug(c.name); c.name == "" {
		c.name = "openapi"
	}
	c.docExtensions()
	if c.doc.Paths == nil || c.doc.Paths.Len() == 0 {
		c.warn(c.at(""), "paths", "no operation: nothing imported")
		return
	}
	paths := c.doc.Paths.Map()
	for _, p := range slices.Sorted(maps.Keys(paths)) {
		c.pathItem(p, paths[p])
	}
	for _, s := range c.mine {
		c.servicePlugins(s)
	}
}

// docExtensions reads the document-level AWS extensions and warns about
// the ones not imported.
func (c *conv) docExtensions() {
	for _, k := range slices.Sorted(maps.Keys(c.doc.Extensions)) {
		switch {
		case k == "x-amazon-apigateway-cors":
			c.cors = c.corsPlugin(c.doc.Extensions[k])
		case k == "x-amazon-apigateway-api-key-source":
			if src := strings.ToUpper(extString(c.doc.Extensions, k)); src == "AUTHORIZER" {
				c.warn(c.at(""), k, "AUTHORIZER: keys returned by a Lambda authorizer cannot be imported; key-auth reads the key from the request")
			}
		case k == "x-amazon-apigateway-request-validators", k == "x-amazon-apigateway-request-validator":
			// Warned per operation where one is in force.
		case strings.HasPrefix(k, "x-amazon-apigateway-"):
			c.warn(c.at(""), k, "not imported: Turnpike has no equivalent")
		}
	}
}

// servicePlugins puts the document's x-kong-plugin-* and CORS on a
// service the document made.
func (c *conv) servicePlugins(s *importer.Service) {
	if c.cors != nil {
		s.Plugins = append(s.Plugins, clonePlugin(c.cors))
	}
	s.Plugins = overlay(s.Plugins, c.kongPlugins(c.doc.Extensions, ""))
}

func clonePlugin(p *importer.Plugin) *importer.Plugin {
	q := *p
	return &q
}

// ext decodes an extension's value (as the loader left it: decoded JSON
// or raw bytes) into out.
func ext(v any, out any) error {
	var data []byte
	switch x := v.(type) {
	case json.RawMessage:
		data = x
	case []byte:
		data = x
	default:
		var err error
		if data, err = json.Marshal(v); err != nil {
			return err
		}
	}
	return json.Unmarshal(data, out)
}

func extString(exts map[string]any, key string) string {
	v, ok := exts[key]
	if !ok {
		return ""
	}
	var s string
	if ext(v, &s) != nil {
		return ""
	}
	return s
}

// extMap decodes an object-valued extension with whole numbers as ints,
// so that plugin configs and defaults come out as the user wrote them.
func extMap(v any) (map[string]any, error) {
	var m map[string]any
	if err := ext(v, &m); err != nil {
		return nil, err
	}
	return normalize(m).(map[string]any), nil
}

func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, el := range x {
			x[k] = normalize(el)
		}
	case []any:
		for i, el := range x {
			x[i] = normalize(el)
		}
	case float64:
		if x == float64(int64(x)) && x < 1<<53 && x > -(1<<53) {
			return int(x)
		}
	}
	return v
}
