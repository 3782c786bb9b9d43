// Package mtlsauth is Kong Enterprise's mtls-auth plugin: it authenticates
// a request by the client certificate of its TLS connection. The TLS
// listener only asks for a certificate (on the server names of the routes
// an mtls-auth instance applies to, see snapshot.ClientCertPolicy) and
// never verifies it; this plugin does, in the access phase:
//
//  1. No certificate (or plain HTTP): 401 "No required TLS certificate was
//     sent".
//  2. The chain (leaf first, then whatever intermediates the client sent)
//     must verify against the configured ca_certificates, be current and
//     allow client authentication (an extended key usage, when present,
//     must include clientAuth). Without allow_partial_chain it must end at
//     a self-signed root among them, as OpenSSL demands.
//  3. Revocation (unless revocation_check_mode is SKIP): every certificate
//     of the chain is looked up in the configured CRLs its issuer signed;
//     a listed one fails. STRICT also fails when no current CRL of the
//     leaf's issuer exists. There is no OCSP and no download of CRL
//     distribution points: the CRLs come from the `crl` field, inline or
//     from a file that is re-read when it changes.
//  4. Unless skip_consumer_lookup, the subject names (SANs, then the CN) are
//     matched against consumers' usernames and custom_ids as consumer_by
//     says; no match goes on as default_consumer if set, otherwise 401
//     "TLS certificate failed verification", which is also the answer to
//     every failure of steps 2 and 3.
//
// With `anonymous` set it is one branch of Kong's logical OR between auth
// plugins (plugin.RunAuth).
//
// Verifications that succeeded are cached per presented chain (its
// SHA-256) for cert_cache_ttl, at most until the first certificate of the
// chain expires or the CRL the result relied on reaches its next update; a
// changed CRL file invalidates them all. A cache hit costs one SHA-256 of
// the leaf and a read-locked map lookup.
//
// Differences from Kong: X-Credential-Identifier is the SHA-256 of the
// certificate (Kong clears it); the anonymous fallback also covers a
// default_consumer that does not exist (Kong answers 401 "Unauthorized");
// a certificate whose extended key usage excludes clientAuth fails (Kong
// does not check the purpose); manual subject-name mappings
// (mtls_auth_credentials) and SAN DirectoryName matching are not supported.
package mtlsauth
