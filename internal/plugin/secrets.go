package plugin

import "strings"

// Credentials must never leave the gateway in logs. The headers that
// carry them by their nature are redacted always; auth plugins mark the
// header or query argument a request's credential came in (key-auth's
// key names, jwt's uri_param_names), and log plugins ask before they
// write a value.

// Redacted is what a log writes in place of a secret value (Kong's).
const Redacted = "REDACTED"

// alwaysSecret are the headers whose values are credentials whatever
// plugins run: HTTP authentication and cookies, both ways.
var alwaysSecret = [...]string{"authorization", "proxy-authorization", "cookie", "set-cookie"}

// MarkSecretHeader notes that the request's credential came in header
// name.
func (c *Ctx) MarkSecretHeader(name string) { c.secretHeader = name }

// MarkSecretQuery notes that the request's credential came in query
// argument name.
func (c *Ctx) MarkSecretQuery(name string) { c.secretQuery = name }

// SecretHeader reports whether header name (any case) carries a
// credential: always for authentication and cookie headers, and for the
// header an auth plugin read this request's credential from.
func (c *Ctx) SecretHeader(name string) bool {
	for _, s := range alwaysSecret {
		if strings.EqualFold(name, s) {
			return true
		}
	}
	return c.secretHeader != "" && strings.EqualFold(name, c.secretHeader)
}

// SecretQuery reports whether query argument name carries this
// request's credential.
func (c *Ctx) SecretQuery(name string) bool {
	return c.secretQuery != "" && name == c.secretQuery
}
