package e2e

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

const importSpec = `
openapi: 3.0.1
info: {title: Pets, version: "1"}
components:
  securitySchemes:
    api_key: {type: apiKey, name: x-api-key, in: header}
paths:
  /orders:
    post:
      security: [{api_key: []}]
      responses: {"200": {description: ok}}
      x-amazon-apigateway-integration: {type: http_proxy, httpMethod: POST, uri: "${stageVariables.backend}/orders"}
  /pets/{petId}:
    get:
      operationId: getPet
      parameters:
        - {name: petId, in: path, required: true, schema: {type: string}}
      responses: {"200": {description: ok}}
      x-amazon-apigateway-integration:
        type: http_proxy
        httpMethod: GET
        uri: ${stageVariables.backend}/v1/animals/{id}
        requestParameters:
          integration.request.path.id: method.request.path.petId
          integration.request.header.X-Source: "'turnpike'"
  /health:
    get:
      responses: {"200": {description: ok}}
      x-amazon-apigateway-integration:
        type: mock
        requestTemplates: {application/json: '{"statusCode": 200}'}
        responses:
          default:
            statusCode: "200"
            responseTemplates: {application/json: '{"status": "ok"}'}
  /reports:
    get:
      responses: {"200": {description: ok}}
      x-amazon-apigateway-integration:
        type: aws_proxy
        uri: arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:1:function:r/invocations
`

// TestImportOpenAPI runs the built binary's import on an AWS API Gateway
// description, validates the output with turnpike validate, and proxies
// through a gateway started on it to a real upstream: the integration's
// path, parameter and header mapping, and the mock answered by the
// gateway.
func TestImportOpenAPI(t *testing.T) {
	up := gwtest.StartEcho(t, "pets")
	spec, out, stderr := importValid(t, "openapi", "pets.yaml", importSpec, "--stage-variable", "backend="+up.URL)
	if !strings.Contains(stderr, `warning: `+spec+`:37 paths./reports.get: x-amazon-apigateway-integration.type: "aws_proxy"`) {
		t.Errorf("no warning for the Lambda integration:\n%s", stderr)
	}

	gw := gwtest.Start(t, "", gwtest.Options{ConfigPath: out})
	resp, body := gw.Get("/pets/42")
	if resp.StatusCode != 200 {
		t.Fatalf("GET /pets/42: %d %s", resp.StatusCode, body)
	}
	seen := gwtest.DecodeSeen(t, body)
	if seen.Path != "/v1/animals/42" || seen.Method != "GET" || fmt.Sprint(seen.Header["X-Source"]) != "[turnpike]" {
		t.Errorf("the upstream saw %s %s with X-Source %v, want GET /v1/animals/42 with turnpike", seen.Method, seen.Path, seen.Header["X-Source"])
	}
	resp, body = gw.Get("/health")
	if resp.StatusCode != 200 || body != `{"status": "ok"}` || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("GET /health: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if resp, _ := gw.Get("/reports"); resp.StatusCode != 404 {
		t.Errorf("GET /reports (not imported): %d, want 404", resp.StatusCode)
	}
	req, _ := http.NewRequest("POST", gw.URL+"/orders", nil)
	if resp, body := gwtest.Do(t, req); resp.StatusCode != 401 {
		t.Errorf("POST /orders without the API key: %d %s, want 401 (key-auth from the apiKey scheme)", resp.StatusCode, body)
	}
	if n := up.Count.Load(); n != 1 {
		t.Errorf("the upstream got %d requests, want 1", n)
	}
}

// TestImportCommand: standard input, --strict, exit codes, and the
// formats still to come.
func TestImportCommand(t *testing.T) {
	cmd := exec.Command(gwtest.Binary(t), "import", "openapi", "-f", "-", "--stage-variable", "backend=http://127.0.0.1:9")
	cmd.Stdin = strings.NewReader(importSpec)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("-f -: %v\n%s", err, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "_format_version: \"3.0\"\n") || !strings.Contains(stdout.String(), "name: pets_getpet") {
		t.Errorf("-f - wrote:\n%s", stdout.String())
	}

	spec := writeFile(t, "pets.yaml", importSpec)
	out := filepath.Join(t.TempDir(), "kong.yml")
	_, errOut, code := runCLI(t, nil, "import", "openapi", "-f", spec, "-o", out, "--strict", "--stage-variable", "backend=http://127.0.0.1:9")
	if code != 1 || !strings.Contains(errOut, "2 warnings with --strict: nothing written") {
		t.Errorf("--strict: exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("--strict wrote %s: %v", out, err)
	}
	_, errOut, code = runCLI(t, nil, "import", "openapi", "-f", writeFile(t, "svc.yaml", "apiVersion: v1\nkind: Service\n"))
	if code != 1 || !strings.Contains(errOut, "svc.yaml:1: neither an OpenAPI 3") {
		t.Errorf("not OpenAPI: exit %d %q", code, errOut)
	}
}

// importValid writes doc to a file named name, runs the built binary's
// `import kind` on it (with args) and `turnpike validate` on the output,
// failing the test unless both succeed; it returns the input's and the
// output's paths and import's standard error, whose warnings each test
// checks.
func importValid(t *testing.T, kind, name, doc string, args ...string) (in, out, stderr string) {
	t.Helper()
	in = writeFile(t, name, doc)
	out = filepath.Join(t.TempDir(), "kong.yml")
	_, stderr, code := runCLI(t, nil, append([]string{"import", kind, "-f", in, "-o", out}, args...)...)
	if code != 0 {
		t.Fatalf("import: exit %d\n%s", code, stderr)
	}
	if vout, verr, code := runCLI(t, nil, "validate", "-c", out); code != 0 || !strings.Contains(vout, "OK:") {
		t.Fatalf("validate: exit %d\n%s%s", code, vout, verr)
	}
	return in, out, stderr
}

// b64 is s as a Kubernetes Secret's data holds it.
func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
