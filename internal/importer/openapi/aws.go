package openapi

import (
	"encoding/json"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/importer"
)

// integration is x-amazon-apigateway-integration, the fields imported.
type integration struct {
	Type                string               `json:"type"`
	URI                 string               `json:"uri"`
	HTTPMethod          string               `json:"httpMethod"`
	RequestParameters   map[string]string    `json:"requestParameters"`
	RequestTemplates    map[string]string    `json:"requestTemplates"`
	TimeoutInMillis     int                  `json:"timeoutInMillis"`
	PassthroughBehavior string               `json:"passthroughBehavior"`
	ConnectionType      string               `json:"connectionType"`
	Responses           map[string]awsResult `json:"responses"`
}

type awsResult struct {
	StatusCode         json.RawMessage   `json:"statusCode"`
	ResponseParameters map[string]string `json:"responseParameters"`
	ResponseTemplates  map[string]string `json:"responseTemplates"`
}

func (r awsResult) status() int {
	var n int
	if json.Unmarshal(r.StatusCode, &n) == nil {
		return n
	}
	var s string
	if json.Unmarshal(r.StatusCode, &s) == nil {
		n, _ = strconv.Atoi(s)
	}
	return n
}

const integrationKey = "x-amazon-apigateway-integration"

// integration maps an operation's AWS integration: http and http_proxy to
// a service for the URI's origin (with a request-transformer for what
// differs from a plain proxy), mock to a request-termination on a route
// without service. It returns the route's service (nil for a mock), and
// false when the operation cannot be imported.
func (c *conv) integration(obj, opPath string, v any, method string, captures map[string]string, levels []level, r *importer.Route) (*importer.Service, bool) {
	var in integration
	if err := ext(v, &in); err != nil {
		c.warn(obj, integrationKey, "not an integration object (%v): operation not imported", err)
		return nil, false
	}
	switch t := strings.ToLower(in.Type); t {
	case "mock":
		c.mock(obj, in, r)
		return nil, true
	case "http", "http_proxy":
		return c.httpIntegration(obj, opPath, in, method, captures, levels, r)
	default:
		c.warn(obj, integrationKey+".type", "%q (Lambda or another AWS service) has no Turnpike equivalent: operation not imported; put the function behind an HTTP endpoint (a Lambda function URL) and use http_proxy", in.Type)
		return nil, false
	}
}

func (c *conv) httpIntegration(obj, opPath string, in integration, method string, captures map[string]string, levels []level, r *importer.Route) (*importer.Service, bool) {
	uri, missing := c.stageVars(in.URI)
	if missing != "" {
		c.warn(obj, integrationKey+".uri", "${stageVariables.%s} has no value (give --stage-variable %s=VALUE): operation not imported", missing, missing)
		return nil, false
	}
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		c.warn(obj, integrationKey+".uri", "%q is not an http(s) URL: operation not imported", in.URI)
		return nil, false
	}
	hostPort, path, _ := strings.Cut(rest, "/")
	path = "/" + path
	path, query, _ := strings.Cut(path, "?")
	origin, why := parseOrigin(scheme + "://" + hostPort)
	if why != "" {
		c.warn(obj, integrationKey+".uri", "%s: operation not imported", why)
		return nil, false
	}
	if query != "" {
		c.warn(obj, integrationKey+".uri", "query string %q not imported: the client's query string is sent", query)
	}
	if strings.EqualFold(in.ConnectionType, "VPC_LINK") {
		c.warn(obj, integrationKey+".connectionType", "VPC_LINK: the URI's host must be reachable from Turnpike")
	}
	if len(in.RequestTemplates) > 0 {
		c.warn(obj, integrationKey+".requestTemplates", "mapping templates are not applied: the body is sent as received (passthroughBehavior %q not enforced)", in.PassthroughBehavior)
	}
	for _, k := range slices.Sorted(maps.Keys(in.Responses)) {
		if res := in.Responses[k]; len(res.ResponseTemplates) > 0 || len(res.ResponseParameters) > 0 {
			c.warn(obj, integrationKey+".responses."+k, "response mappings are not applied to an http integration: the backend's answer is sent as received")
		}
	}
	rt := transformer{}
	newPath, ok := c.backendPath(obj, opPath, path, in.RequestParameters, captures)
	if !ok {
		return nil, false
	}
	if newPath != "" {
		rt.replace("uri", newPath)
	}
	if m := strings.ToUpper(in.HTTPMethod); m != "" && m != "ANY" && m != method {
		rt.config()["http_method"] = m
	}
	c.requestParameters(obj, in.RequestParameters, captures, rt)
	if len(rt) > 0 {
		r.Plugins = append(r.Plugins, &importer.Plugin{Name: "request-transformer", Config: rt.config(), Tags: c.tags()})
	}
	return c.backendService(origin, in.TimeoutInMillis, levels), true
}

// stageVars substitutes ${stageVariables.NAME}, scanning forward only (a
// value is not expanded again); it returns the first name without a
// value.
func (c *conv) stageVars(s string) (string, string) {
	const pre = "${stageVariables."
	var b strings.Builder
	for {
		i := strings.Index(s, pre)
		if i < 0 {
			b.WriteString(s)
			return b.String(), ""
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return "", s[i+len(pre):]
		}
		name := s[i+len(pre) : i+j]
		v, ok := c.opts.StageVariables[name]
		if !ok {
			return "", name
		}
		b.WriteString(s[:i])
		b.WriteString(v)
		s = s[i+j+1:]
	}
}

// backendPath is the replace.uri template that sends the request to the
// integration's path, or "" when the path is sent unchanged (the backend
// path is the operation's own, parameter for parameter).
func (c *conv) backendPath(obj, opPath, path string, params map[string]string, captures map[string]string) (string, bool) {
	if strings.Contains(path, "$(") {
		c.warn(obj, integrationKey+".uri", "a path holding $( cannot be rewritten: operation not imported")
		return "", false
	}
	var tmpl, norm strings.Builder
	rest := path
	for {
		i := strings.IndexByte(rest, '{')
		j := strings.IndexByte(rest[max(i, 0):], '}')
		if i < 0 || j < 0 {
			tmpl.WriteString(rest)
			norm.WriteString(rest)
			break
		}
		tmpl.WriteString(rest[:i])
		norm.WriteString(rest[:i])
		name := strings.TrimSuffix(rest[i+1:i+j], "+")
		src := strings.TrimPrefix(params["integration.request.path."+name], "method.request.path.")
		if src == "" {
			src = name // unmapped: the parameter of the same name, as AWS's proxy resources do
		}
		group, ok := captures[src]
		if !ok {
			c.warn(obj, integrationKey+".uri", "path parameter {%s} has no source among the operation's path parameters: operation not imported", name)
			return "", false
		}
		tmpl.WriteString(`$(uri_captures["` + group + `"])`)
		norm.WriteString("{" + src + "}")
		rest = rest[i+j+1:]
	}
	if norm.String() == strings.ReplaceAll(opPath, "+}", "}") {
		return "", true
	}
	return tmpl.String(), true
}

// transformer is a request-transformer config under construction.
type transformer map[string]any

func (t transformer) config() map[string]any { return t }

func (t transformer) list(action, kind string, entry string) {
	m, _ := t[action].(map[string]any)
	if m == nil {
		m = map[string]any{}
		t[action] = m
	}
	l, _ := m[kind].([]any)
	m[kind] = append(l, entry)
}

func (t transformer) replace(kind, v string) {
	m, _ := t["replace"].(map[string]any)
	if m == nil {
		m = map[string]any{}
		t["replace"] = m
	}
	m[kind] = v
}

// requestParameters maps AWS's header and query string mappings: a value
// from the request becomes a template, a 'literal' a fixed value set
// whether or not the client sent one (replace and add).
func (c *conv) requestParameters(obj string, params map[string]string, captures map[string]string, rt transformer) {
	for _, dst := range slices.Sorted(maps.Keys(params)) {
		field := integrationKey + ".requestParameters." + dst
		var kind, name string
		switch {
		case strings.HasPrefix(dst, "integration.request.path."):
			continue // the path, in backendPath
		case strings.HasPrefix(dst, "integration.request.header."):
			kind, name = "headers", strings.TrimPrefix(dst, "integration.request.header.")
		case strings.HasPrefix(dst, "integration.request.querystring."):
			kind, name = "querystring", strings.TrimPrefix(dst, "integration.request.querystring.")
		default:
			c.warn(obj, field, "destination not imported: only header, querystring and path")
			continue
		}
		if !token.MatchString(name) {
			c.warn(obj, field, "%q is not a valid header or query parameter name (an HTTP token): not imported", name)
			continue
		}
		src := params[dst]
		if v, ok := c.literal(src); ok {
			if strings.Contains(v, "$(") || strings.ContainsAny(v, "\r\n") {
				c.warn(obj, field, "literal holds $( or a line break: not imported")
				continue
			}
			rt.list("replace", kind, name+":"+v)
			rt.list("add", kind, name+":"+v)
			continue
		}
		tmpl, same, ok := sourceTemplate(src, kind, name, captures)
		if !ok {
			c.warn(obj, field, "source %q not imported: only method.request header, querystring and path parameters, stage variables and 'literals'", src)
			continue
		}
		if same {
			continue // Turnpike forwards the client's headers and query string as they are
		}
		rt.list("add", kind, name+":"+tmpl)
	}
}

// literal is a 'quoted' value or a resolved stage variable.
func (c *conv) literal(src string) (string, bool) {
	if len(src) >= 2 && src[0] == '\'' && src[len(src)-1] == '\'' {
		return src[1 : len(src)-1], true
	}
	if name, ok := strings.CutPrefix(src, "stageVariables."); ok {
		v, ok := c.opts.StageVariables[name]
		return v, ok
	}
	return "", false
}

// sourceTemplate is the request-transformer template reading src; same
// when src is the destination itself.
func sourceTemplate(src, kind, name string, captures map[string]string) (string, bool, bool) {
	switch {
	case strings.HasPrefix(src, "method.request.header."):
		h := strings.TrimPrefix(src, "method.request.header.")
		return "$(headers[\"" + strings.ToLower(h) + "\"])", kind == "headers" && strings.EqualFold(h, name), validName(h)
	case strings.HasPrefix(src, "method.request.querystring."):
		q := strings.TrimPrefix(src, "method.request.querystring.")
		return "$(query_params[\"" + q + "\"])", kind == "querystring" && q == name, validName(q)
	case strings.HasPrefix(src, "method.request.path."):
		g, ok := captures[strings.TrimPrefix(src, "method.request.path.")]
		return `$(uri_captures["` + g + `"])`, false, ok
	}
	return "", false, false
}

// token is an HTTP token (RFC 9110), what a header name and, here, a
// query parameter name must be for request-transformer's name:value.
var token = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

// validName keeps a name that a template's ["..."] can quote.
func validName(s string) bool {
	return s != "" && !strings.ContainsAny(s, "\"\\()$\r\n")
}

// mock answers the operation from the gateway: the status the request
// template selects ({"statusCode": N}, else 200), with the body of that
// response's template (application/json preferred).
func (c *conv) mock(obj string, in integration, r *importer.Route) {
	status := 200
	if tmpl, ok := in.RequestTemplates["application/json"]; ok {
		var sel struct {
			StatusCode int `json:"statusCode"`
		}
		if json.Unmarshal([]byte(tmpl), &sel) == nil && sel.StatusCode != 0 {
			status = sel.StatusCode
		} else {
			c.warn(obj, integrationKey+".requestTemplates.application/json", "not a {\"statusCode\": N} selection: answering %d", status)
		}
	}
	var res *awsResult
	for _, k := range slices.Sorted(maps.Keys(in.Responses)) {
		if v := in.Responses[k]; v.status() == status || (res == nil && k == "default") {
			res = &v
		}
	}
	cfg := map[string]any{"status_code": status}
	if res != nil && res.status() >= 100 && res.status() <= 599 {
		cfg["status_code"] = res.status()
	}
	if res != nil && len(res.ResponseTemplates) > 0 {
		ct := "application/json"
		if _, ok := res.ResponseTemplates[ct]; !ok {
			ct = slices.Sorted(maps.Keys(res.ResponseTemplates))[0]
		}
		body := res.ResponseTemplates[ct]
		if strings.ContainsAny(body, "$#") {
			c.warn(obj, integrationKey+".responses", "the response template is sent as written: VTL ($, #) is not evaluated")
		}
		if body != "" {
			cfg["body"], cfg["content_type"] = body, ct
		}
	}
	if res != nil {
		c.responseHeaders(obj, res.ResponseParameters, r)
	}
	r.Plugins = append(r.Plugins, &importer.Plugin{Name: "request-termination", Config: cfg, Tags: c.tags()})
}

// responseHeaders sets a mock's literal response headers with a
// response-transformer (header filters run on a plugin's answer).
func (c *conv) responseHeaders(obj string, params map[string]string, r *importer.Route) {
	var add []any
	for _, k := range slices.Sorted(maps.Keys(params)) {
		name, ok := strings.CutPrefix(k, "method.response.header.")
		v, lit := c.literal(params[k])
		if !ok || !lit || !token.MatchString(name) || strings.ContainsAny(v, "\r\n") || strings.Contains(v, "$(") {
			c.warn(obj, integrationKey+".responses.responseParameters."+k, "only literal header values are imported")
			continue
		}
		add = append(add, name+":"+v)
	}
	if len(add) > 0 {
		r.Plugins = append(r.Plugins, &importer.Plugin{Name: "response-transformer", Config: map[string]any{"add": map[string]any{"headers": add}}, Tags: c.tags()})
	}
}

// plainOrigin is an origin the cors plugin compares as text.
var plainOrigin = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://[A-Za-z0-9.-]+(:[0-9]+)?$`)

// corsPlugin maps x-amazon-apigateway-cors (HTTP APIs) to Kong's cors.
func (c *conv) corsPlugin(v any) *importer.Plugin {
	var in struct {
		AllowOrigins     []string `json:"allowOrigins"`
		AllowMethods     []string `json:"allowMethods"`
		AllowHeaders     []string `json:"allowHeaders"`
		ExposeHeaders    []string `json:"exposeHeaders"`
		MaxAge           *int     `json:"maxAge"`
		AllowCredentials bool     `json:"allowCredentials"`
	}
	if err := ext(v, &in); err != nil {
		c.warn(c.at(""), "x-amazon-apigateway-cors", "not a CORS object (%v): not imported", err)
		return nil
	}
	cfg := map[string]any{"credentials": in.AllowCredentials}
	setList := func(key string, l []string, upper bool) {
		if len(l) == 0 || slices.Contains(l, "*") {
			return // Kong's default: every method, or the headers the preflight asks for
		}
		out := make([]any, len(l))
		for i, s := range l {
			if upper {
				s = strings.ToUpper(s)
			}
			out[i] = s
		}
		cfg[key] = out
	}
	var origins []any
	for _, o := range in.AllowOrigins {
		// The cors plugin reads an origin that is not a plain one as a
		// regex: a pattern in AWS's list would let other sites in.
		if o != "*" && !plainOrigin.MatchString(o) {
			c.warn(c.at(""), "x-amazon-apigateway-cors.allowOrigins", "%q is not an origin (scheme://host[:port]): left out", o)
			continue
		}
		origins = append(origins, o)
	}
	if len(origins) > 0 {
		cfg["origins"] = origins
	}
	if in.AllowCredentials && (len(origins) == 0 || slices.Contains(origins, any("*"))) {
		// AWS refuses this pair; the cors plugin would echo any site's
		// Origin with credentials allowed.
		c.warn(c.at(""), "x-amazon-apigateway-cors.allowCredentials", "credentials with every origin allowed would let any site send credentialed requests: credentials off")
		cfg["credentials"] = false
	}
	setList("methods", in.AllowMethods, true)
	setList("headers", in.AllowHeaders, false)
	setList("exposed_headers", in.ExposeHeaders, false)
	if in.MaxAge != nil {
		cfg["max_age"] = *in.MaxAge
	}
	return &importer.Plugin{Name: "cors", Config: cfg, Tags: c.tags()}
}
