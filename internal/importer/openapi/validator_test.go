package openapi

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/importer"
	"github.com/turnpikegw/turnpike/internal/importer/importertest"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/requestvalidator"
)

const validatorsDoc = `
openapi: 3.0.0
info: {title: t, version: "1"}
servers: [{url: "http://backend.example.com"}]
x-amazon-apigateway-request-validator: params
x-amazon-apigateway-request-validators:
  all: {validateRequestBody: true, validateRequestParameters: true}
  params: {validateRequestBody: false, validateRequestParameters: true}
  none: {validateRequestBody: false, validateRequestParameters: false}
components:
  schemas:
    Pet:
      type: object
      required: [name]
      properties:
        name: {type: string}
        owner: {$ref: '#/components/schemas/Owner'}
    Owner:
      type: object
      required: [id]
      properties: {id: {type: integer}}
    Unrelated:
      type: object
      properties: {blob: {type: string, description: only the schemas a body reaches travel with it}}
paths:
  /pets/{id}:
    parameters:
    - {name: X-Trace, in: header, required: true, schema: {type: string}}
    post:
      operationId: addPet
      x-amazon-apigateway-request-validator: all
      parameters:
      - {name: id, in: path, required: true, schema: {type: integer}}
      - {name: dry, in: query, required: true, schema: {type: boolean}}
      - {name: page, in: query, required: false, schema: {type: integer}}
      requestBody:
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Pet'}
      responses: {"200": {description: ok}}
    get:
      operationId: getPet
      parameters:
      - {name: q, in: query, required: true, schema: {type: string}}
      responses: {"200": {description: ok}}
    put:
      operationId: putPet
      x-amazon-apigateway-request-validator: none
      responses: {"200": {description: ok}}
    delete:
      operationId: delPet
      x-amazon-apigateway-request-validator: missing
      responses: {"200": {description: ok}}
`

// AWS request validators become request-validator plugins: the body's
// schema with the components it refers to, the required query and header
// parameters; the document's validator is the default; an unknown one is
// warned about. The output validates, and the body schema it carries
// accepts and refuses as the document's schema does.
func TestRequestValidators(t *testing.T) {
	out, warnings := importertest.Run(t, importer.Split([]byte(validatorsDoc)), with(Options{}))
	importertest.Validate(t, out)
	if !strings.Contains(warnings, `x-amazon-apigateway-request-validator: "missing" is not in x-amazon-apigateway-request-validators`) {
		t.Errorf("warnings:\n%s", warnings)
	}
	cfg, _ := run(t, validatorsDoc, Options{})
	rs := routes(cfg)
	find := func(route string) *importer.Plugin {
		for _, p := range rs[route].Plugins {
			if p.Name == "request-validator" {
				return p
			}
		}
		return nil
	}
	if find("t_putpet") != nil || find("t_delpet") != nil {
		t.Error("a validator checking nothing, or unknown, made a plugin")
	}
	get := find("t_getpet")
	if get == nil || get.Config["body_schema"] != nil || len(get.Config["parameter_schema"].([]any)) != 2 {
		t.Fatalf("getPet (document's default validator): %+v", get)
	}
	add := find("t_addpet")
	if add == nil {
		t.Fatalf("addPet: no plugin in %+v", rs)
	}
	params := add.Config["parameter_schema"].([]any)
	if len(params) != 2 || params[0].(map[string]any)["name"] != "dry" || params[1].(map[string]any)["name"] != "X-Trace" {
		t.Fatalf("addPet params %v", params)
	}
	if schema := add.Config["body_schema"].(string); strings.Contains(schema, "Unrelated") || !strings.Contains(schema, `"Owner"`) {
		t.Errorf("the body schema carries %s: want Pet and Owner only", schema)
	}
	rvc := &requestvalidator.Config{}
	rvc.SetDefaults()
	rvc.Version = "draft4"
	rvc.BodySchema = add.Config["body_schema"].(string)
	in, err := requestvalidator.New(rvc, plugin.Env{})
	if err != nil {
		t.Fatalf("body schema %s: %v", rvc.BodySchema, err)
	}
	for body, ok := range map[string]bool{
		`{"name":"rex"}`:                    true,
		`{"name":"rex","owner":{"id":1}}`:   true,
		`{}`:                                false,
		`{"name":"rex","owner":{"id":"x"}}`: false,
	} {
		r := httptest.NewRequest("POST", "/pets/1", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		var exit *plugin.Exit
		if refused := errors.As(in.(interface{ Access(*plugin.Ctx) error }).Access(&plugin.Ctx{Req: r}), &exit); refused == ok {
			t.Errorf("%s: refused %v", body, refused)
		}
	}
}
