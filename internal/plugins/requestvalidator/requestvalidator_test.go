package requestvalidator

import (
	"errors"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

const personSchema = `{"type":"object","required":["name"],"properties":{"name":{"type":"string"},"age":{"type":"integer","minimum":0}}}`

func newInstance(t testing.TB, c Config) *instance {
	t.Helper()
	in, err := New(&c, plugin.Env{})
	if err != nil {
		t.Fatal(err)
	}
	return in.(*instance)
}

// draft4 is c with Kong's defaults for the fields c leaves unset, and
// version draft4.
func draft4(c Config) Config {
	base := Config{}
	base.SetDefaults()
	base.Version = "draft4"
	if c.AllowedContentTypes != nil {
		base.AllowedContentTypes = c.AllowedContentTypes
	}
	base.BodySchema, base.ParameterSchema, base.VerboseResponse = c.BodySchema, c.ParameterSchema, c.VerboseResponse
	return base
}

// run sends one request through the plugin; the answer is the Exit, or
// nil when the request goes on upstream.
func run(in *instance, method, target, contentType, body string, captures plugin.Captures) *plugin.Exit {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if body == "" {
		r = httptest.NewRequest(method, target, nil)
	}
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	r.Header.Set("X-Count", "7")
	err := in.Access(&plugin.Ctx{Req: r, Captures: captures})
	if err == nil {
		return nil
	}
	var exit *plugin.Exit
	if !errors.As(err, &exit) {
		panic(err)
	}
	return exit
}

func TestRegistration(t *testing.T) {
	reg := Registration()
	c := reg.NewConfig().(*Config)
	c.SetDefaults()
	if reg.Name != "request-validator" || reg.Priority != 999 || c.Version != "kong" ||
		len(c.AllowedContentTypes) != 1 || c.AllowedContentTypes[0] != "application/json" ||
		!c.ContentTypeParameterValidation || c.VerboseResponse {
		t.Fatalf("got %+v %+v", reg, c)
	}
}

func TestSchema(t *testing.T) {
	yes, no := true, false
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"draft4 body", draft4(Config{BodySchema: personSchema}), ""},
		{"params only", draft4(Config{ParameterSchema: []Param{{Name: "x", In: "query", Required: &yes}}}), ""},
		{"kong dialect", func() Config {
			c := draft4(Config{BodySchema: `[{"name":{"type":"string"}}]`})
			c.Version = "kong"
			return c
		}(), "version: " + errDraft4Only},
		{"bad version", func() Config { c := draft4(Config{BodySchema: personSchema}); c.Version = "draft7"; return c }(), "version: expected one of: kong, draft4"},
		{"neither schema", draft4(Config{}), errAtLeastOne},
		{"body not JSON", draft4(Config{BodySchema: `{"type":`}), "body_schema: "},
		{"body bad schema", draft4(Config{BodySchema: `{"type":"strin"}`}), "body_schema: "},
		{"remote ref", draft4(Config{BodySchema: `{"$ref":"http://127.0.0.1:1/s.json"}`}), "body_schema: "},
		{"file ref", draft4(Config{BodySchema: `{"$ref":"file://` + schemaFile(t) + `"}`}), "body_schema: "},
		{"bad content type", draft4(Config{BodySchema: personSchema, AllowedContentTypes: []string{"application/json", "json"}}), "allowed_content_types[1]: invalid value: json"},
		{"param in", draft4(Config{ParameterSchema: []Param{{Name: "x", In: "body", Required: &yes}}}), "parameter_schema[0].in: expected one of: query, header, path"},
		{"param required", draft4(Config{ParameterSchema: []Param{{Name: "x", In: "query"}}}), "parameter_schema[0].required: required field missing"},
		{"param name", draft4(Config{ParameterSchema: []Param{{In: "query", Required: &no}}}), "parameter_schema[0].name: required field missing"},
		{"schema without style", draft4(Config{ParameterSchema: []Param{{Name: "x", In: "query", Required: &no, Schema: `{"type":"string"}`}}}), "parameter_schema[0]: 'style' and 'explode' are required when 'schema' is set"},
		{"style matrix", draft4(Config{ParameterSchema: []Param{{Name: "x", In: "path", Required: &no, Style: "matrix", Explode: &no, Schema: `{"type":"string"}`}}}), "parameter_schema[0].style: style 'matrix' is not supported"},
		{"param bad schema", draft4(Config{ParameterSchema: []Param{{Name: "x", In: "query", Required: &no, Style: "form", Explode: &no, Schema: `{"minimum":"a"}`}}}), "parameter_schema[0].schema: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(&tc.cfg, plugin.Env{})
			var errs plugin.Errors
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (!errors.As(err, &errs) || !strings.HasPrefix(err.Error(), tc.want)):
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// schemaFile is a valid schema on disk, which a $ref must still not read.
func schemaFile(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "s.json")
	if err := os.WriteFile(path, []byte(`{"type":"string"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBody(t *testing.T) {
	in := newInstance(t, draft4(Config{BodySchema: personSchema}))
	verbose := newInstance(t, draft4(Config{BodySchema: personSchema, VerboseResponse: true}))
	// Valid but for its depth: "x" is unconstrained.
	deep := `{"name":"a","x":` + strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth) + "}"
	for _, tc := range []struct {
		name, ct, body string
		status         int
		msg            string
	}{
		{"valid", "application/json", `{"name":"ann","age":3}`, 0, ""},
		{"missing field", "application/json", `{"age":3}`, 400, msgBody},
		{"wrong type", "application/json", `{"name":1}`, 400, msgBody},
		{"not JSON", "application/json", `{"name":`, 400, msgBody},
		{"trailing data", "application/json", `{"name":"a"} {}`, 400, msgBody},
		{"empty", "application/json", ``, 400, msgBody},
		{"too deep", "application/json", deep, 400, msgBody},
		{"deep in a string is fine", "application/json", `{"name":"` + strings.Repeat("[", 200) + `"}`, 0, ""},
		{"no content type", "", `{"name":"a"}`, 400, msgContentType},
		{"other content type", "text/plain", `{"name":"a"}`, 400, msgContentType},
		{"case-insensitive type", "Application/JSON", `{"name":"a"}`, 0, ""},
		{"parameter not allowed", "application/json; charset=utf-8", `{"name":"a"}`, 400, msgContentType},
		{"too large", "application/json", `{"name":"` + strings.Repeat("a", maxBody) + `"}`, 413, msgTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exit := run(in, "POST", "/", tc.ct, tc.body, plugin.Captures{})
			switch {
			case tc.status == 0 && exit != nil:
				t.Fatalf("refused: %+v", exit)
			case tc.status != 0 && (exit == nil || exit.Status != tc.status || exit.Message != tc.msg):
				t.Fatalf("got %+v, want %d %q", exit, tc.status, tc.msg)
			}
		})
	}
	exit := run(verbose, "POST", "/", "application/json", `{"name":"a","age":-1}`, plugin.Captures{})
	if exit == nil || exit.Status != 400 || !strings.Contains(exit.Message, "minimum") {
		t.Fatalf("verbose: %+v", exit)
	}
}

func TestContentTypeParameters(t *testing.T) {
	strict := newInstance(t, draft4(Config{BodySchema: `{}`, AllowedContentTypes: []string{"application/json; charset=UTF-8", "text/*"}}))
	looseCfg := draft4(Config{BodySchema: `{}`})
	looseCfg.ContentTypeParameterValidation = false
	loose := newInstance(t, looseCfg)
	for _, tc := range []struct {
		in   *instance
		ct   string
		want bool
	}{
		{strict, "application/json; charset=utf-8", true},
		{strict, "application/json;CHARSET=\"UTF-8\"", true},
		{strict, "application/json", false},
		{strict, "application/json; charset=utf-8; v=1", false},
		{strict, "text/plain", true},
		{loose, "application/json; charset=latin1", true},
		{loose, "application/xml", false},
	} {
		if got := tc.in.allowedContentType(tc.ct); got != tc.want {
			t.Errorf("%q: got %v", tc.ct, got)
		}
	}
}

func TestParams(t *testing.T) {
	yes, no := true, false
	params := []Param{
		{Name: "limit", In: "query", Required: &yes, Style: "form", Explode: &no, Schema: `{"type":"integer","maximum":100}`},
		{Name: "ids", In: "query", Required: &no, Style: "form", Explode: &no, Schema: `{"type":"array","items":{"type":"integer"},"maxItems":3}`},
		{Name: "tag", In: "query", Required: &no, Style: "form", Explode: &yes, Schema: `{"type":"array","items":{"type":"string","enum":["a","b"]}}`},
		{Name: "ratio", In: "query", Required: &no, Style: "form", Explode: &no, Schema: `{"type":"number","maximum":10}`},
		{Name: "X-Count", In: "header", Required: &yes, Style: "simple", Explode: &no, Schema: `{"type":"integer","minimum":5}`},
		{Name: "id", In: "path", Required: &yes, Style: "simple", Explode: &no, Schema: `{"type":"string","pattern":"^[0-9]+$"}`},
	}
	in := newInstance(t, draft4(Config{ParameterSchema: params}))
	verbose := newInstance(t, draft4(Config{ParameterSchema: params, VerboseResponse: true}))
	id := func(v string) plugin.Captures {
		return plugin.Captures{Positional: []string{"/u/" + v, v}, Names: []string{"", "id"}}
	}
	for _, tc := range []struct {
		name, target string
		caps         plugin.Captures
		verbose      string
	}{
		{"valid", "/?limit=10&ids=1,2&tag=a&tag=b", id("42"), ""},
		{"no limit", "/", id("42"), "query 'limit' validation failed, [error: required parameter value not found in request]"},
		{"limit too big", "/?limit=101", id("42"), "query 'limit' validation failed, [error: "},
		{"limit not a number", "/?limit=ten", id("42"), "query 'limit' validation failed, [error: "},
		{"limit NaN", "/?limit=NaN", id("42"), "query 'limit' validation failed, [error: "},
		{"limit Inf", "/?limit=-Inf", id("42"), "query 'limit' validation failed, [error: "},
		{"limit hex", "/?limit=0x10", id("42"), "query 'limit' validation failed, [error: "},
		{"limit too large a float", "/?limit=1e400", id("42"), "query 'limit' validation failed, [error: "},
		{"ratio NaN", "/?limit=1&ratio=NaN", id("42"), "query 'ratio' validation failed, [error: "},
		{"ratio Inf", "/?limit=1&ratio=Inf", id("42"), "query 'ratio' validation failed, [error: "},
		{"too many ids", "/?limit=1&ids=1,2,3,4", id("42"), "query 'ids' validation failed, [error: "},
		{"id not integer", "/?limit=1&ids=1,x", id("42"), "query 'ids' validation failed, [error: "},
		{"tag not allowed", "/?limit=1&tag=a&tag=c", id("42"), "query 'tag' validation failed, [error: "},
		{"path bad", "/?limit=1", id("4x"), "path 'id' validation failed, [error: "},
		{"path missing", "/?limit=1", plugin.Captures{}, "path 'id' validation failed, [error: required parameter value not found in request]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exit := run(in, "GET", tc.target, "", "", tc.caps)
			vexit := run(verbose, "GET", tc.target, "", "", tc.caps)
			if tc.verbose == "" {
				if exit != nil || vexit != nil {
					t.Fatalf("refused: %+v %+v", exit, vexit)
				}
				return
			}
			if exit == nil || exit.Status != 400 || exit.Message != msgParam {
				t.Fatalf("got %+v", exit)
			}
			if vexit == nil || vexit.Status != 400 || !strings.HasPrefix(vexit.Message, tc.verbose) {
				t.Fatalf("verbose got %+v, want %q", vexit, tc.verbose)
			}
		})
	}
	low := httptest.NewRequest("GET", "/?limit=1", nil)
	low.Header.Set("X-Count", "2")
	if exit, _ := verbose.Access(&plugin.Ctx{Req: low, Captures: id("1")}).(*plugin.Exit); exit == nil || !strings.HasPrefix(exit.Message, "header 'X-Count' validation failed") {
		t.Fatalf("header: %+v", exit)
	}
	if exit := run(in, "GET", "/?limit=1", "", "", id("1")); exit != nil {
		t.Fatalf("valid body-less request refused: %+v", exit)
	}
}

func TestBodyPassesUpstreamWhole(t *testing.T) {
	in := newInstance(t, draft4(Config{BodySchema: personSchema}))
	r := httptest.NewRequest("POST", "/", strings.NewReader(`{"name":"ann"}`))
	r.Header.Set("Content-Type", "application/json")
	if err := in.Access(&plugin.Ctx{Req: r}); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r.Body)
	if err != nil || string(got) != `{"name":"ann"}` || r.ContentLength != 14 {
		t.Fatalf("upstream body %q %d %v", got, r.ContentLength, err)
	}
}

func BenchmarkValidBody(b *testing.B) {
	in := newInstance(b, draft4(Config{BodySchema: personSchema}))
	body := `{"name":"ann","age":3}`
	r := httptest.NewRequest("POST", "/", nil)
	r.Header.Set("Content-Type", "application/json")
	c := &plugin.Ctx{Req: r}
	b.ReportAllocs()
	for b.Loop() {
		r.Body = readerBody{strings.NewReader(body)}
		r.ContentLength = int64(len(body))
		if err := in.Access(c); err != nil {
			b.Fatal(err)
		}
	}
}

type readerBody struct{ *strings.Reader }

func (readerBody) Close() error { return nil }

func TestHeaderParamName(t *testing.T) {
	yes := true
	_, errs := newParam(&Param{Name: "X Count", In: "header", Required: &yes}, false)
	if len(errs) != 1 || errs[0].Path != "name" || !strings.Contains(errs[0].Message, "bad header name 'X Count'") {
		t.Errorf("errors %v", errs)
	}
}
