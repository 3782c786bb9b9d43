package proxycache

import (
	"net/http"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// template is a compiled cache_key: literal text and NGINX variables.
type template struct{ parts []part }

type varKind uint8

const (
	varLiteral varKind = iota
	varScheme
	varMethod
	varHost
	varRequestURI
	varURI
	varArgs
	varArg
	varHTTP
	varCookie
)

// part is literal text, or a variable (name is $arg_, $http_ or
// $cookie_'s suffix).
type part struct {
	kind varKind
	text string
	hdr  plugin.HeaderName
}

var plainVars = map[string]varKind{
	"scheme": varScheme, "request_method": varMethod, "host": varHost,
	"request_uri": varRequestURI, "uri": varURI, "args": varArgs,
}

var prefixVars = []struct {
	prefix string
	kind   varKind
}{{"arg_", varArg}, {"http_", varHTTP}, {"cookie_", varCookie}}

// compileTemplate reads a cache_key template; problem is "" when it is
// valid. A variable is $name or ${name}.
func compileTemplate(src string) (*template, string) {
	t := &template{}
	for src != "" {
		i := strings.IndexByte(src, '$')
		if i < 0 {
			t.parts = append(t.parts, part{text: src})
			break
		}
		if i > 0 {
			t.parts = append(t.parts, part{text: src[:i]})
		}
		src = src[i+1:]
		var name string
		if strings.HasPrefix(src, "{") {
			end := strings.IndexByte(src, '}')
			if end < 0 {
				return nil, "unterminated variable '${" + src[1:] + "'"
			}
			name, src = src[1:end], src[end+1:]
		} else {
			n := 0
			for n < len(src) && (src[n] == '_' || 'a' <= src[n] && src[n] <= 'z' || 'A' <= src[n] && src[n] <= 'Z' || '0' <= src[n] && src[n] <= '9') {
				n++
			}
			name, src = src[:n], src[n:]
		}
		p, ok := variable(name)
		if !ok {
			return nil, "unknown variable '$" + name + "'"
		}
		t.parts = append(t.parts, p)
	}
	return t, ""
}

func variable(name string) (part, bool) {
	if k, ok := plainVars[name]; ok {
		return part{kind: k}, true
	}
	for _, pv := range prefixVars {
		if rest, ok := strings.CutPrefix(name, pv.prefix); ok && rest != "" {
			p := part{kind: pv.kind, text: rest}
			if pv.kind == varHTTP {
				// NGINX's $http_x_y reads X-Y: '_' stands for '-'.
				p.hdr = plugin.NewHeaderName(strings.ReplaceAll(rest, "_", "-"))
			}
			return p, true
		}
	}
	return part{}, false
}

// key expands the template for c into buf and hashes it. The consumer's
// id (when one is authenticated) leads, whatever the template says: one
// consumer's response is never another's hit.
func (t *template) key(c *plugin.Ctx, buf []byte) string {
	r := c.Req
	if c.Consumer != nil {
		buf = append(buf, c.Consumer.ID...)
		buf = append(buf, '|')
	}
	for i := range t.parts {
		p := &t.parts[i]
		switch p.kind {
		case varLiteral:
			buf = append(buf, p.text...)
		case varScheme:
			buf = append(buf, c.Scheme...)
		case varMethod:
			buf = append(buf, keyMethod(r.Method)...)
		case varHost:
			start := len(buf)
			buf = append(buf, plugin.HostOnly(r.Host)...)
			lower(buf[start:])
		case varRequestURI:
			buf = append(buf, r.RequestURI...)
		case varURI:
			buf = append(buf, c.ClientPath...)
		case varArgs:
			buf = append(buf, queryOf(r)...)
		case varArg:
			buf = append(buf, rawArg(queryOf(r), p.text)...)
		case varHTTP:
			if v, ok := p.hdr.First(r.Header); ok {
				buf = append(buf, v...)
			}
		case varCookie:
			buf = append(buf, cookie(r.Header, p.text)...)
		}
	}
	return hashHex(buf)
}

// rawArg is NGINX's $arg_name: the first argument's value as sent,
// names compared without case.
func rawArg(q, name string) string {
	for n := 0; q != "" && n < maxArgs; n++ {
		var part string
		part, q, _ = strings.Cut(q, "&")
		k, v, _ := strings.Cut(part, "=")
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// cookie is NGINX's $cookie_name: the first cookie of that name.
func cookie(h http.Header, name string) string {
	for _, line := range h["Cookie"] {
		for line != "" {
			var c string
			c, line, _ = strings.Cut(line, ";")
			k, v, _ := strings.Cut(strings.TrimSpace(c), "=")
			if k == name {
				return v
			}
		}
	}
	return ""
}
