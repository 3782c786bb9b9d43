package requesttermination

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/jsonw"
	"github.com/turnpikegw/turnpike/internal/plugin"
)

// echoBody renders the request as Kong's echo does. Keys are written in
// sorted order so the output is stable (Kong's is hash order). It reads and
// consumes the request body, which is fine since the request ends here.
func (in *instance) echoBody(c *plugin.Ctx) ([]byte, error) {
	var raw []byte
	if c.Req.Body != nil && c.Req.Body != http.NoBody {
		var err error
		if raw, err = io.ReadAll(c.Req.Body); err != nil {
			return nil, err
		}
	}
	b := make([]byte, 0, 512+len(raw)*2)
	b = append(b, `{"kong":{"hostname":`...)
	b = jsonw.AppendString(b, in.hostname)
	b = append(b, `,"worker_pid":`...)
	b = strconv.AppendInt(b, int64(in.pid), 10)
	b = append(b, '}')
	// The route and service whole, as Kong's router hands them over.
	if r := c.Route; r != nil && r.Entity != nil {
		b = append(b, `,"matched_route":`...)
		b = append(b, r.Entity.Bytes()...)
	}
	if s := c.Service; s != nil && s.Entity != nil {
		b = append(b, `,"matched_service":`...)
		b = append(b, s.Entity.Bytes()...)
	}
	if in.hasMessage {
		b = append(b, `,"message":`...)
		b = jsonw.AppendString(b, in.message)
	}
	b = append(b, `,"request":{`...)
	if parsed := parseBody(c.Req.Header.Get("Content-Type"), raw); parsed != nil {
		b = append(b, `"body":`...)
		b = append(b, parsed...)
		b = append(b, ',')
	}
	b = append(b, `"headers":`...)
	b = appendHeaders(b, c.Req.Header, c.Req.Host)
	b = append(b, `,"host":`...)
	b = jsonw.AppendString(b, requestHost(c.Req.Host))
	b = append(b, `,"method":`...)
	b = jsonw.AppendString(b, c.Method)
	b = append(b, `,"path":`...)
	path := c.ClientPath
	if path == "" {
		path = c.Req.URL.EscapedPath()
	}
	b = jsonw.AppendString(b, path)
	b = append(b, `,"port":`...)
	b = strconv.AppendInt(b, int64(port(c)), 10)
	b = append(b, `,"query":`...)
	b = appendArgs(b, parseArgs(c.RawQuery))
	b = append(b, `,"raw_body":`...)
	b = jsonw.AppendString(b, string(raw))
	scheme := c.Scheme
	if scheme == "" {
		scheme = "http"
	}
	b = append(b, `,"scheme":`...)
	b = jsonw.AppendString(b, scheme)
	b = append(b, `,"uri_captures":`...)
	b = appendCaptures(b, &c.Captures)
	return append(b, "}}"...), nil
}

// requestHost is Kong's kong.request.get_host(): the Host without its port,
// lower-cased.
func requestHost(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	return strings.ToLower(h)
}

// appendHeaders writes the headers as Kong's get_headers() table: lower-case
// names, a string for one value and an array for several.
func appendHeaders(b []byte, h http.Header, host string) []byte {
	type kv struct {
		k  string
		vs []string
	}
	all := make([]kv, 0, len(h)+1)
	if host != "" {
		all = append(all, kv{"host", []string{host}})
	}
	for k, vs := range h {
		if len(vs) > 0 {
			all = append(all, kv{strings.ToLower(k), vs})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].k < all[j].k })
	b = append(b, '{')
	for i, e := range all {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonw.AppendString(b, e.k)
		b = append(b, ':')
		if len(e.vs) == 1 {
			b = jsonw.AppendString(b, e.vs[0])
		} else {
			b = appendStrings(b, e.vs)
		}
	}
	return append(b, '}')
}

// arg is one decoded query or form argument as ngx.decode_args returns it:
// a bare key (no '=') is Lua's true, repeated keys become an array.
type arg struct {
	key  string
	vals []string
	bare []bool
}

func parseArgs(s string) []arg {
	var out []arg
	for s != "" {
		var seg string
		seg, s, _ = strings.Cut(s, "&")
		k, v, hasEq := strings.Cut(seg, "=")
		if k == "" {
			continue
		}
		k, v = plugin.UnescapeArg(k), plugin.UnescapeArg(v)
		i := 0
		for i < len(out) && out[i].key != k {
			i++
		}
		if i == len(out) {
			out = append(out, arg{key: k})
		}
		out[i].vals = append(out[i].vals, v)
		out[i].bare = append(out[i].bare, !hasEq)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

func appendArgs(b []byte, args []arg) []byte {
	b = append(b, '{')
	for i, a := range args {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonw.AppendString(b, a.key)
		b = append(b, ':')
		if len(a.vals) > 1 {
			b = append(b, '[')
		}
		for j, v := range a.vals {
			if j > 0 {
				b = append(b, ',')
			}
			if a.bare[j] {
				b = append(b, "true"...)
			} else {
				b = jsonw.AppendString(b, v)
			}
		}
		if len(a.vals) > 1 {
			b = append(b, ']')
		}
	}
	return append(b, '}')
}

// parseBody is Kong's kong.request.get_body() rendered as JSON, or nil when
// Kong returns nothing (unknown type, invalid content).
func parseBody(contentType string, raw []byte) []byte {
	ct := strings.ToLower(contentType)
	switch {
	case strings.Contains(ct, "application/x-www-form-urlencoded"):
		return appendArgs(nil, parseArgs(string(raw)))
	case strings.Contains(ct, "application/json"):
		t := bytes.TrimLeft(raw, " \t\r\n")
		if len(t) == 0 || (t[0] != '{' && t[0] != '[') || !json.Valid(raw) {
			return nil
		}
		var buf bytes.Buffer
		if json.Compact(&buf, raw) != nil {
			return nil
		}
		return buf.Bytes()
	case strings.Contains(ct, "multipart/form-data"):
		return multipartBody(contentType, raw)
	}
	return nil
}

func multipartBody(contentType string, raw []byte) []byte {
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil || params["boundary"] == "" {
		return nil
	}
	values := map[string]string{}
	r := multipart.NewReader(bytes.NewReader(raw), params["boundary"])
	for {
		p, err := r.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil
		}
		v, err := io.ReadAll(p)
		if err != nil {
			return nil
		}
		if name := p.FormName(); name != "" {
			values[name] = string(v)
		}
	}
	names := make([]string, 0, len(values))
	for k := range values {
		names = append(names, k)
	}
	sort.Strings(names)
	b := []byte{'{'}
	for i, k := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonw.AppendString(b, k)
		b = append(b, ':')
		b = jsonw.AppendString(b, values[k])
	}
	return append(b, '}')
}

func appendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonw.AppendString(b, s)
	}
	return append(b, ']')
}

// appendCaptures writes Kong's get_uri_captures(): named groups by name and
// all groups by number, without the whole match; a group that took no part
// is false, as ngx.re.match gives it.
func appendCaptures(b []byte, c *plugin.Captures) []byte {
	b = append(b, `{"named":{`...)
	var names []string
	for i := 1; i < len(c.Names) && i < len(c.Positional); i++ {
		if n := c.Names[i]; n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for i, n := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonw.AppendString(b, n)
		b = append(b, ':')
		g, _ := c.Group(n)
		b = appendCapture(b, c, g)
	}
	b = append(b, `},"unnamed":[`...)
	for i := 1; i < len(c.Positional); i++ {
		if i > 1 {
			b = append(b, ',')
		}
		b = appendCapture(b, c, i)
	}
	return append(b, "]}"...)
}

func appendCapture(b []byte, c *plugin.Captures, i int) []byte {
	if !c.Matched(i) {
		return append(b, "false"...)
	}
	return jsonw.AppendString(b, c.Positional[i])
}
