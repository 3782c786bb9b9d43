// Package basicauth is Kong's basic-auth plugin: it reads
// `Basic base64(username:password)` from the Proxy-Authorization or the
// Authorization header, looks the username up among the configuration's
// basic-auth credentials, checks the password against the credential's
// bcrypt hash and either authenticates the request as the credential's
// consumer or answers 401 `Unauthorized` with
// `WWW-Authenticate: Basic realm="<realm>"`. With `anonymous` set it is one
// branch of Kong's logical OR between auth plugins: a request an earlier
// plugin authenticated is left alone, and a failure goes on as the
// anonymous consumer.
//
// Differences from Kong. Kong stores SHA-1(password .. consumer id); Turnpike
// stores bcrypt hashes (plain passwords in the configuration are hashed when
// it is loaded). bcrypt is slow on purpose (tens of milliseconds at the
// default cost), so each instance keeps a bounded cache of verifications
// that succeeded: an HMAC-SHA256, under a random per-instance key, of the
// credential's bcrypt hash and the presented password, valid for a minute.
// A changed password changes the hash and so misses the cache; failures are
// never cached, so guessing costs a bcrypt comparison every time. A request
// naming an unknown username is compared against a dummy hash at the
// default cost, so response time does not tell which usernames exist.
package basicauth
