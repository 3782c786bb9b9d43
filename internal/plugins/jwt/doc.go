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
// Beyond Kong. A credential may name a JWK Set (`jwks_uri`) instead of a
// PEM key: the instance keeps one MicahParks/keyfunc set per URL, created
// on first use and refreshed in the background; a token whose `kid` is
// not in the set triggers a refresh, rate limited, so a rotated key is
// accepted as soon as the identity provider serves it. A credential may
// also require an `issuer` and an `audience`. claims_to_headers copies
// claims of a verified token to upstream request headers.
//
// Verified-token cache. Verifying an RS256 or ES256 signature costs tens of
// microseconds; clients send the same token for its whole life. Each
// instance remembers tokens whose signature (and issuer and audience) it
// verified, keyed by the token's SHA-256, with the credential they were
// verified for, for at most five minutes, in a bounded sharded map with
// FIFO eviction. The digest rather than the token is the key so that the
// cache holds no token that could be replayed and costs 32 bytes a key
// whatever the token's size. A hit skips decoding and the signature check but still
// requires the same credential object in the current configuration (a
// reload builds new ones, so changed secrets are verified again) and
// still checks `exp`, `nbf` and maximum_expiration against the clock.
package jwt
