package requestvalidator

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Config mirrors Kong's request-validator schema.
type Config struct {
	// BodySchema is a JSON Schema (draft 4) as a string.
	BodySchema          string   `yaml:"body_schema"`
	AllowedContentTypes []string `yaml:"allowed_content_types"`
	ParameterSchema     []Param  `yaml:"parameter_schema"`
	VerboseResponse     bool     `yaml:"verbose_response"`
	// Version is the schema dialect: "kong" or "draft4".
	Version                        string `yaml:"version"`
	ContentTypeParameterValidation bool   `yaml:"content_type_parameter_validation"`
}

// Param is one entry of parameter_schema.
type Param struct {
	Name     string `yaml:"name"`
	In       string `yaml:"in"`
	Required *bool  `yaml:"required"`
	Style    string `yaml:"style"`
	Explode  *bool  `yaml:"explode"`
	Schema   string `yaml:"schema"`
}

// SetDefaults applies Kong's defaults.
func (c *Config) SetDefaults() {
	c.AllowedContentTypes = []string{"application/json"}
	c.Version = "kong"
	c.ContentTypeParameterValidation = true
}

const (
	name = "request-validator"

	// maxBody bounds the body read for validation; a longer one is
	// refused with request-size-limiting's 413 rather than held whole.
	maxBody = 1 << 20
	// maxDepth bounds the nesting of a body's JSON, so neither the
	// decoder nor the validator recurses as deep as a client asks.
	maxDepth = 64

	msgBody        = "request body doesn't conform to schema"
	msgParam       = "request param doesn't conform to schema"
	msgContentType = "specified Content-Type is not allowed"
	msgTooLarge    = "Request size limit exceeded"
	errRequired    = "required field missing"
	errDraft4Only  = "only version 'draft4' is supported by Turnpike (Kong's own 'kong' schema dialect is not)"
	errAtLeastOne  = "at least one of these fields must be non-empty: 'body_schema', 'parameter_schema'"
)

// Registration describes the plugin to the registry.
func Registration() plugin.Registration {
	return plugin.Registration{
		Name:      name,
		Priority:  999,
		NewConfig: func() any { return &Config{} },
		New:       New,
	}
}

// The answers that never change are made once; the proxy does not change
// an Exit it is handed.
var (
	exitBody        = plugin.NewExit(http.StatusBadRequest, msgBody)
	exitParam       = plugin.NewExit(http.StatusBadRequest, msgParam)
	exitContentType = plugin.NewExit(http.StatusBadRequest, msgContentType)
	exitTooLarge    = plugin.NewExit(http.StatusRequestEntityTooLarge, msgTooLarge)
)

type instance struct {
	body         *jsonschema.Schema
	contentTypes []mediaType
	ctParams     bool
	params       []param
	verbose      bool
}

// New validates the config as Kong's schema does and compiles the schemas.
func New(cfg any, _ plugin.Env) (plugin.Instance, error) {
	c := cfg.(*Config)
	var errs plugin.Errors
	switch c.Version {
	case "draft4":
	case "kong":
		errs = append(errs, plugin.Problem{Path: "version", Message: errDraft4Only})
	default:
		errs = append(errs, plugin.Problem{Path: "version", Message: "expected one of: kong, draft4"})
	}
	if c.BodySchema == "" && len(c.ParameterSchema) == 0 {
		errs = append(errs, plugin.Problem{Message: errAtLeastOne})
	}
	in := &instance{ctParams: c.ContentTypeParameterValidation, verbose: c.VerboseResponse}
	if c.BodySchema != "" && c.Version == "draft4" {
		sch, err := compile("body_schema", c.BodySchema)
		if err != nil {
			errs = append(errs, plugin.Problem{Path: "body_schema", Message: err.Error()})
		}
		in.body = sch
	}
	for i, ct := range c.AllowedContentTypes {
		mt, ok := parseMediaType(ct)
		if !ok {
			errs = append(errs, plugin.Problem{Path: "allowed_content_types[" + strconv.Itoa(i) + "]", Message: "invalid value: " + ct})
			continue
		}
		in.contentTypes = append(in.contentTypes, mt)
	}
	for i := range c.ParameterSchema {
		p, perrs := newParam(&c.ParameterSchema[i], c.Version == "draft4")
		errs = append(errs, perrs.Under("parameter_schema["+strconv.Itoa(i)+"]")...)
		in.params = append(in.params, p)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return in, nil
}

// compile compiles a draft 4 schema held in a string. Its loader refuses
// every URL (the library's default reads local files), so a $ref to
// anything but the schema itself or a draft's metaschema fails here, at
// load, and nothing is fetched or read.
func compile(field, text string) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
	if err != nil {
		return nil, err
	}
	comp := jsonschema.NewCompiler()
	comp.DefaultDraft(jsonschema.Draft4)
	comp.UseLoader(noLoader{})
	loc := "turnpike:///" + field + ".json"
	if err := comp.AddResource(loc, doc); err != nil {
		return nil, err
	}
	return comp.Compile(loc)
}

type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, errors.New("references to other documents are not allowed")
}

// Access checks the parameters, then the content type and body.
func (in *instance) Access(c *plugin.Ctx) error {
	if len(in.params) > 0 {
		if exit := in.checkParams(c); exit != nil {
			return exit
		}
	}
	if in.body == nil {
		return nil
	}
	if !in.allowedContentType(c.Req.Header.Get("Content-Type")) {
		return exitContentType
	}
	raw, ok := plugin.ReadBody(c.Req, maxBody)
	if !ok {
		return exitTooLarge
	}
	return in.checkBody(raw)
}

// checkBody validates raw against the body schema.
func (in *instance) checkBody(raw []byte) error {
	if !depthWithin(raw, maxDepth) {
		return in.bodyFailure("JSON nested deeper than " + strconv.Itoa(maxDepth))
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return in.bodyFailure(err.Error())
	}
	if err := in.body.Validate(doc); err != nil {
		return in.bodyFailure(err.Error())
	}
	return nil
}

func (in *instance) bodyFailure(reason string) error {
	if !in.verbose {
		return exitBody
	}
	return plugin.NewExit(http.StatusBadRequest, reason)
}

// depthWithin reports whether raw's arrays and objects nest at most max
// deep, skipping over strings; one pass, no allocation.
func depthWithin(raw []byte, max int) bool {
	depth, inString, escaped := 0, false, false
	for _, b := range raw {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case b == '\\':
				escaped = true
			case b == '"':
				inString = false
			}
		case b == '"':
			inString = true
		case b == '[' || b == '{':
			depth++
			if depth > max {
				return false
			}
		case b == ']' || b == '}':
			depth--
		}
	}
	return true
}
