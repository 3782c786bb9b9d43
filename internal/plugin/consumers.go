package plugin

import "time"

// Credential is a consumer's credential as the auth plugins see it: the
// fields every kind has, the kind's own in Fields.
type Credential struct {
	// ID is the credential's id (configured, or a stable generated one).
	ID       string
	Kind     string // "key-auth", "basic-auth", "jwt"
	Consumer *Consumer
	// Key is what the credential is found by: a declared kind's key
	// (CredentialKind.Key).
	Key string
	// ExpiresAt is when a credential with a ttl stops working (zero: never).
	ExpiresAt time.Time
	Tags      []string
	// Fields are a declared kind's own fields (CredentialKind.New).
	Fields any
	// State is what the kind's Compile derived for the request path
	// (parsed keys, a generated secret); nil when it derives nothing.
	State any
	// LoadedAt is when the first configuration holding the credential was
	// loaded: a reload that keeps it (same kind, key, id and consumer)
	// keeps this time, a restart does not.
	LoadedAt time.Time
}

// Expired reports whether the credential's ttl has run out at now.
func (c *Credential) Expired(now time.Time) bool {
	return !c.ExpiresAt.IsZero() && !now.Before(c.ExpiresAt)
}

// Directory is the read-only view of the configuration's consumers and
// credentials that auth plugins look things up in. Every lookup is O(1)
// from indexes built when the configuration was compiled.
type Directory interface {
	// Consumer finds a consumer by id or username (Kong's `anonymous`
	// accepts either), by id first.
	Consumer(idOrUsername string) (*Consumer, bool)
	// ConsumerByID finds a consumer by id only; ConsumerByUsername by
	// username only (a username may be another consumer's id).
	ConsumerByID(id string) (*Consumer, bool)
	ConsumerByUsername(username string) (*Consumer, bool)
	// ConsumerByCustomID finds a consumer by custom_id.
	ConsumerByCustomID(customID string) (*Consumer, bool)
	// Credential finds a credential of a declared kind (its
	// CredentialKind.Name) by its key.
	Credential(kind, key string) (*Credential, bool)
	// Credentials lists the credentials of a declared kind in
	// configuration order (nil when no plugin declares it). The slice is
	// the directory's own: not modified, and not called per request.
	Credentials(kind string) []*Credential
	// Groups lists a consumer's ACL groups (the keys of its GroupsKind
	// credentials), in configuration order.
	Groups(consumerID string) []string
}

// Authenticate records that cred authenticated its consumer and sets the
// upstream headers Kong sets: X-Consumer-ID, X-Consumer-Custom-ID,
// X-Consumer-Username, X-Credential-Identifier. Client-sent copies were
// removed before any plugin ran.
func Authenticate(c *Ctx, cred *Credential) {
	c.Consumer = cred.Consumer
	c.Credential = cred.ID
	h := c.Req.Header
	setConsumerHeaders(c, cred.Consumer)
	h["X-Credential-Identifier"] = c.identityValue(3, cred.ID)
	delete(h, "X-Anonymous-Consumer")
}

// AuthenticateAnonymous records that the request goes on as the anonymous
// consumer (Kong's `anonymous` config: logical OR across auth plugins).
func AuthenticateAnonymous(c *Ctx, consumer *Consumer) {
	c.Consumer = consumer
	c.Credential = ""
	setConsumerHeaders(c, consumer)
	delete(c.Req.Header, "X-Credential-Identifier")
	c.Req.Header["X-Anonymous-Consumer"] = c.identityValue(3, "true")
}

func setConsumerHeaders(c *Ctx, consumer *Consumer) {
	h := c.Req.Header
	h["X-Consumer-Id"] = c.identityValue(0, consumer.ID)
	if consumer.CustomID != "" {
		h["X-Consumer-Custom-Id"] = c.identityValue(1, consumer.CustomID)
	} else {
		delete(h, "X-Consumer-Custom-Id")
	}
	if consumer.Username != "" {
		h["X-Consumer-Username"] = c.identityValue(2, consumer.Username)
	} else {
		delete(h, "X-Consumer-Username")
	}
}

// identityValue is v as a header's values, in slot i of c.identity.
func (c *Ctx) identityValue(i int, v string) []string {
	c.identity[i] = v
	return c.identity[i : i+1 : i+1]
}

// CredentialChecker is an auth plugin's own check: it authenticates the
// request (calling Authenticate) or says why not.
type CredentialChecker interface {
	CheckCredentials(c *Ctx) *Exit
}

// RunAuth applies Kong's rules for combining auth plugins around a
// plugin's check. Without an anonymous consumer every failure is answered
// (logical AND between auth plugins). With one, a request an earlier
// plugin already authenticated is left alone, and a failure goes on as the
// anonymous consumer (logical OR); a missing anonymous consumer is a 500,
// as in Kong.
func RunAuth(c *Ctx, anonymous string, check CredentialChecker) error {
	if anonymous == "" {
		if e := check.CheckCredentials(c); e != nil {
			return e
		}
		return nil
	}
	if c.Credential != "" || check.CheckCredentials(c) == nil {
		return nil
	}
	var consumer *Consumer
	ok := false
	if c.Directory != nil {
		consumer, ok = c.Directory.Consumer(anonymous)
	}
	if !ok {
		return NewExit(500, "anonymous consumer "+anonymous+" is configured but doesn't exist")
	}
	AuthenticateAnonymous(c, consumer)
	return nil
}
