// Package openidconnect is the core of Kong's (paid) openid-connect
// plugin: the gateway as an OpenID Connect relying party in front of a
// provider it discovers from `issuer`.
//
// Browsers (a GET accepting text/html, without credentials) are sent to
// the provider's authorization endpoint (code flow with state, nonce and
// PKCE S256, remembered in a short-lived encrypted authorization cookie);
// the provider's redirect back exchanges the code, verifies the ID token
// (signature against the provider's key set, issuer, audience, expiry,
// nonce) and starts a session: an AES-256-GCM cookie (internal/plugin/cookie,
// key from session_secret by HKDF, bound to the cookie's name, issuer and
// client), split into numbered chunks when the tokens make it long,
// renewed with a fresh nonce once a quarter of its idling or rolling
// window has passed, refused past its idling, rolling or absolute
// timeout. A cookie that does not open is no session: the browser logs in
// again, never a 500. Logout removes the cookie and sends the browser to
// the provider's end_session_endpoint (RP-initiated logout).
//
// APIs on the same route send `Authorization: Bearer`: JWTs are verified
// against the key set, opaque tokens introspected (internal/plugin/oidc,
// whose cache makes a known token cost a hash and a lookup). A session's
// or a token's claims pass the same checks (audience_required,
// scopes_required: 403), map to a consumer (consumer_claim, consumer_by),
// become upstream headers (upstream_headers_claims) and c.Claims for later
// plugins.
package openidconnect
