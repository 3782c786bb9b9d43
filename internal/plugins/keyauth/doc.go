// Package keyauth is Kong's key-auth plugin: it finds an API key in a
// request header, the query string or the body (form, JSON or multipart),
// looks it up among the configuration's key-auth credentials and either
// authenticates the request as the key's consumer or answers 401 with
// Kong's messages and WWW-Authenticate header. With `anonymous` set it is
// one branch of Kong's logical OR between auth plugins: a request an earlier
// plugin authenticated is left alone, and a failure goes on as the
// anonymous consumer.
//
// Timing. Keys are found through plugin.Directory.Credential, an index keyed
// by the raw key, as Kong's credential cache is. Go's map hashes the whole
// key with a random seed and compares key bytes only against entries whose
// hash bits match, so a client cannot steer which stored key its guess is
// compared with, and response time does not reveal how long a prefix of a
// stored key it guessed. The index could hash keys (SHA-256)
// itself to remove even that comparison; that belongs to the Directory,
// not to this plugin. The plugin checks the found credential against the
// presented key in constant time, so a Directory that normalised keys could
// not widen the match.
package keyauth
