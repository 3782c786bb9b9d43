// Package ldapauth is Kong's ldap-auth plugin: it reads
// `<header_type> base64(username:password)` (header_type `ldap` by
// default) from the Proxy-Authorization or the Authorization header and
// binds to the LDAP server as `<attribute>=<username>,<base_dn>` with the
// password. A bind that succeeds authenticates the request (no consumer;
// X-Credential-Identifier is the username); anything else is Kong's 401
// `Unauthorized` with `WWW-Authenticate: LDAP` (the header_type as
// written when it is not `ldap`, and ` realm="<realm>"` when set), and a
// server that cannot be asked is Kong's 500. With `anonymous` set it is
// one branch of Kong's logical OR between auth plugins.
//
// Verdicts are cached for cache_ttl seconds, as Kong caches them (its
// neg_ttl is cache_ttl too), keyed by an HMAC of username and password
// under a random per-instance key, in two bounded maps (successes,
// failures) so that wrong guesses cannot evict good entries; concurrent
// requests with the same credentials share one bind. Binds run over at
// most 32 connections per instance, kept idle for keepalive milliseconds;
// a request waits for one at most `timeout`.
//
// Differences from Kong: the username is escaped as a DN attribute value
// (RFC 4514), so `einstein,ou=admins` cannot bind outside base_dn (Kong
// pastes it in as it is); an empty username, or one with control
// characters, is refused without asking the server; only a refusal for
// invalid credentials is cached (a busy or unwilling server's is not);
// the credential id kept for logs and later plugins is the username, not
// Kong's cache key (a hash of the password).
package ldapauth
