package plugin

import "context"

// CredentialKind declares a kind of consumer credential that a plugin owns
// (key-auth's keyauth_credentials). The plugin registers it
// (Registration.Credentials) and everything outside the plugin works from
// the declaration: decoding the kind's entities in a declarative file, at
// the top level and nested in consumers, checking them, deriving their
// ids, indexing them for Directory.Credential, and the admin API's
// read-only endpoints. Adding a kind touches only its plugin.
type CredentialKind struct {
	// Name is the entity's name in a declarative file, at the top level
	// and nested in a consumer, and the admin API's kind
	// ("keyauth_credentials").
	Name string
	// Label is what Credential.Kind says ("key-auth"); not empty.
	Label string
	// Endpoint and ConsumerEndpoint name the admin API's read-only lists:
	// /{Endpoint}[/{id or key}] and /consumers/{c}/{ConsumerEndpoint}[/{id
	// or key}]. Each is one plain path segment, no other kind's, and not a
	// path a core admin route serves (NewRegistry and the admin API refuse
	// them at start-up).
	Endpoint, ConsumerEndpoint string
	// New returns a pointer to a fresh value of the kind's own fields: a
	// struct whose yaml tags are Kong's field names. The fields every
	// credential has (id, consumer, tags, created_at) are not in it. A
	// SetDefaults method on it is called before the entity is decoded over
	// it, as for plugin configs. The admin API shows the fields by the same
	// names; an `admin:"nullzero"` tag shows a zero value as null.
	New func() any
	// Key is the credential's lookup key: what Directory.Credential finds
	// it by and the admin API's endpoint key. No two credentials of a kind
	// share one (Check claims it).
	Key func(fields any) string
	// PerConsumer makes Key unique per consumer instead of per kind (an
	// acl group): Check's Claim claims it within the credential's
	// consumer, Directory.Credential does not find the kind's credentials,
	// Directory.Groups lists the GroupsKind's keys by consumer, the admin
	// API finds one by key only under its consumer, and Render, which
	// needs the indexed credential, is not called. Such entities are
	// memberships: the load summary does not count them as credentials.
	PerConsumer bool
	// KongID derives a credential's missing id as Kong does, from its
	// cache key: "<Name>:*:<Key>" (basic-auth's username), or for a
	// PerConsumer kind "<Name>:*:<consumer as written>:<Key>" (ids the same
	// as Kong's for the same file). Without it the id derives from the
	// consumer and the key (Kong's is random).
	KongID bool
	// Check validates decoded fields, reporting problems to check; false
	// refuses the credential. The fields every credential has are checked
	// before it.
	Check func(fields any, check CredentialCheck) bool
	// Finish, when set, runs once every entity of the file has been
	// checked and only when the file is valid: for slow work (bcrypt
	// hashing) a refused file should not pay for. fields are the kind's
	// credentials in the model's order; a problem with fields[i] is
	// reported through check(i). It stops early once ctx is done (the load
	// was abandoned). It must not change what Key returns: the key was
	// taken when the credential was checked.
	Finish func(ctx context.Context, fields []any, check func(i int) CredentialCheck)
	// Compile, when set, derives what the plugin needs at request time
	// (ExpiresAt, State) once the credential is indexed; it runs at every
	// load, not per request. prev is the credential of the same kind and
	// key in the configuration this one replaces (nil when it had none),
	// so that what a load generated can survive a reload.
	Compile func(c, prev *Credential)
	// Render, when set, adds to the credential's admin API body what only
	// the compiled credential knows (a generated secret, a hash); body
	// already holds its fields by their yaml names.
	Render func(c *Credential, body map[string]any)
}

// GroupsKind is the credential kind whose keys are a consumer's groups
// (Directory.Groups): the acl plugin's, which rate-limiting's
// consumer_group limits read too.
const GroupsKind = "acls"

// CredentialCheck is where a CredentialKind's Check reports; the
// configuration loader implements it, with paths and lines in the file.
type CredentialCheck interface {
	// Error reports a problem with field, a path relative to the
	// credential ("key", "audience[1]").
	Error(field, message string)
	// Claim takes key as the credential's lookup key; when another
	// credential of the kind (of its consumer, for a PerConsumer kind) took
	// it first, ok is false and first is where that one is. A PerConsumer
	// credential whose consumer did not resolve claims nothing.
	Claim(key string) (first string, ok bool)
	// Duplicate reports field's key as one another credential claimed
	// first (Claim's first): message, then a note naming where.
	Duplicate(field, message, first string)
	// Warn reports what the loader accepts but the user should know
	// (Kong accepts it; it may not do what they expect).
	Warn(field, message string)
	// Quote shortens a value from the file for a message, as the loader
	// does in its own: a long value repeated by YAML aliases would
	// otherwise be copied into every message.
	Quote(value string) string
}
