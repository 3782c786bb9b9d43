// Package session is Kong's session plugin: once an auth plugin has
// authenticated a consumer with a credential, the header filter issues a
// cookie holding the consumer's and credential's ids, and later requests
// carrying the cookie are authenticated from it in the access phase
// (priority 1900, before every auth plugin) without credentials. Auth
// plugins configured with `anonymous` then leave the request alone (Kong's
// logical OR); one without `anonymous` still asks for its credentials, as
// in Kong.
//
// The cookie is the session itself (Kong's `cookie` storage; its `kong`
// storage needs a database and is refused): AES-256-GCM under a key derived
// from `secret` and `audience` with HKDF-SHA256, the cookie's name and the
// audience bound as additional data, so a cookie is unreadable, and any
// change to it, or a cookie of another name or audience, makes it no
// session. Its creation and last issue times travel inside it: the
// absolute, rolling and idling timeouts are checked against them, and a
// cookie in use is issued again once a quarter of its shortest window has
// passed. A cookie that does not open (tampered, expired, too long, of an
// unknown consumer) is no session: the request goes on unauthenticated,
// never a 500.
package session
