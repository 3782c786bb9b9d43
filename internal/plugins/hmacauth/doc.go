// Package hmacauth is Kong's hmac-auth plugin: a client signs chosen
// request headers (and optionally the request line) with a secret it
// shares with the gateway and sends
//
//	Authorization: hmac username="..", algorithm="..", headers="..", signature=".."
//
// (or the same in Proxy-Authorization). The plugin checks that a Date or
// X-Date header is within clock_skew of now, finds the username among the
// configuration's hmacauth_credentials, recomputes the signature over the
// signing string Kong builds, compares it in constant time and, with
// validate_request_body, checks the body against a `Digest: SHA-256=..`
// header. It then authenticates the request as the credential's consumer or
// answers 401 with Kong's messages and `WWW-Authenticate: hmac` (with the
// realm when configured). With `anonymous` set it is one branch of Kong's
// logical OR between auth plugins.
//
// Bounds. The Authorization value is parsed by a linear-time regular
// expression (RE2) over a header the server already bounds; the body is
// read only after the signature has been verified, so only a holder of a
// secret can make the gateway buffer a body, and at most maxBodyBytes of it.
package hmacauth
