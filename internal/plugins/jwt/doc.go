// Package jwt is Kong's jwt plugin: it finds a JSON Web Token in the query
// string, a cookie or a header (`Bearer <token>`), decodes it the way Kong
// does, finds the jwt credential named by the token's key claim (`iss` by
// default, looked up in the payload first and then in the JOSE header, so
// `kid` works), checks the signature with the credential's algorithm and
// key, then the registered claims Kong checks (`exp`, `nbf`,
// maximum_expiration), and authenticates the request as the credential's
// consumer. Every failure is Kong's: status, body and WWW-Authenticate.
// With `anonymous` set it is one branch of Kong's logical OR between auth
// plugins.
//
// The algorithm comes from the credential, never from the token: a token
// whose `alg` differs from its credential's is refused before any key is
// used, so `alg: none`, an HS256 token signed with an RSA public key as the
// HMAC secret, or a key named by the token (`jku`, `x5u`, `jwk`, `kid`
// pointing elsewhere) cannot choose how it is verified. Signatures are
// checked with golang-jwt's signing methods, chosen by the credential's
// algorithm.
//
// Beyond Kong. A credential may name a JWK Set (`jwks_uri`, which needs
// an `audience`) instead of a PEM key: the instance keeps one set per URL
// (parsed with MicahParks/jwkset), created on first use, with one
// goroutine that makes all of its fetches: the first, a periodic refresh,
// and the ones asked for by tokens whose `kid` the set lacks (or, without
// a `kid`, that no key verifies) — detached from the request, shared by
// concurrent requests, and rate limited from the end of the last one — so
// a rotated key is accepted as soon as the identity provider serves it.
// A reload that keeps the instance closes the sets of URLs no credential
// names any more and fetches the others again (Reloaded). A credential
// may also require an `issuer`. claims_to_headers copies claims of a
// verified token to upstream request headers, after removing the
// client's copies under any spelling ('_' for '-', any case).
//
// Token encoding. Kong ignores what follows the first '=' of a segment and
// the unused bits of its last character; for the signature, Turnpike does
// not: it must be canonical base64url, optionally with exact padding, so
// that one token has one spelling (two with padding, which share a cache
// entry).
//
// Verified-token cache. Verifying an RS256 or ES256 signature costs tens of
// microseconds; clients send the same token for its whole life. Each
// instance remembers tokens whose signature (and issuer and audience) it
// verified, keyed by the SHA-256 of the token without its signature's
// padding, with the credential they were verified for, for at most five
// minutes, in a bounded sharded map with FIFO eviction. The digest rather
// than the token is the key so that the cache holds no token that could
// be replayed and costs 32 bytes a key whatever the token's size. A hit
// skips decoding and the signature check but still requires the same
// credential object in the current configuration (a reload builds new
// ones, so changed secrets are verified again, against JWK Sets fetched
// again) and still checks `exp`, `nbf` and maximum_expiration against the
// clock.
package jwt
