package oauth2

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// kindName is oauth2's credential entity (Kong `oauth2_credentials`).
const kindName = "oauth2_credentials"

// Client types (Kong's client_type).
const (
	clientConfidential = "confidential"
	clientPublic       = "public"
)

// generatedByKong is added to the message of a field Kong generates when
// it is missing: a declarative file is loaded by every node and every
// restart, so a generated value would differ between them.
const generatedByKong = "required field missing (Kong generates it in its database; a declarative file must set it)"

// Credential is an oauth2 client application's own fields. With
// hash_secret a plain client_secret is hashed when the configuration is
// loaded (PBKDF2-SHA512, Kong's format) and one given hashed, as Kong
// exports it, is kept; the admin API shows the hash, never the secret as
// given.
type Credential struct {
	Name         string   `yaml:"name"`
	ClientID     string   `yaml:"client_id"`
	ClientSecret string   `yaml:"client_secret" admin:"-"`
	HashSecret   bool     `yaml:"hash_secret"`
	RedirectURIs []string `yaml:"redirect_uris" admin:"nullzero"`
	ClientType   string   `yaml:"client_type"`

	// hash is the PHC string with hash_secret (given, or made by Finish),
	// phc its parsed form; plainSum is the SHA-256 of a plain secret, so
	// that comparing takes the same time whatever the lengths.
	hash     string
	phc      *phc
	plainSum [sha256.Size]byte
	// verified is the SHA-256 of the last secret that matched the hash:
	// a client presenting its secret again skips the slow derivation.
	verified atomic.Pointer[[sha256.Size]byte]
}

// SetDefaults applies Kong's defaults.
func (c *Credential) SetDefaults() { c.ClientType = clientConfidential }

// CheckSecret says secret is the client's secret, in constant time. A
// client without a secret (a public one given none) matches nothing. A
// hashed secret's derivation waits for a free CPU at most until ctx
// ends, then gives ctx's error.
func (c *Credential) CheckSecret(ctx context.Context, secret string) (bool, error) {
	sum := sha256.Sum256([]byte(secret))
	if !c.HashSecret {
		return c.ClientSecret != "" && subtle.ConstantTimeCompare(sum[:], c.plainSum[:]) == 1, nil
	}
	if c.phc == nil {
		return false, nil
	}
	if v := c.verified.Load(); v != nil && subtle.ConstantTimeCompare(sum[:], v[:]) == 1 {
		return true, nil
	}
	if ok, err := c.phc.verify(ctx, secret); !ok {
		return false, err
	}
	// A copy, so that only a successful derivation allocates: taking
	// sum's own address would move it to the heap on every call.
	ok := sum
	c.verified.Store(&ok)
	return true, nil
}

// Public says the client is a public one (RFC 6749 2.1): it cannot keep a
// secret, so PKCE stands in for it.
func (c *Credential) Public() bool { return c.ClientType == clientPublic }

func credentialKind() plugin.CredentialKind {
	return plugin.CredentialKind{
		Name: kindName, Label: "oauth2", Endpoint: "oauth2", ConsumerEndpoint: "oauth2",
		New: func() any { return &Credential{} },
		Key: func(fields any) string { return fields.(*Credential).ClientID },
		// Kong's cache key is the client_id, so its id is derived from it.
		KongID: true,
		Check:  checkCredential,
		Finish: hashSecrets,
		Render: func(c *plugin.Credential, body map[string]any) {
			f := c.Fields.(*Credential)
			switch {
			case f.HashSecret:
				body["client_secret"] = f.hash
			case f.ClientSecret != "":
				// Kong stores and shows an unhashed secret as it is.
				body["client_secret"] = f.ClientSecret
			default:
				body["client_secret"] = nil
			}
		},
	}
}

func checkCredential(fields any, check plugin.CredentialCheck) bool {
	c := fields.(*Credential)
	ok := true
	if c.Name == "" {
		check.Error("name", "required field missing")
		ok = false
	}
	if c.ClientID == "" {
		check.Error("client_id", generatedByKong)
		ok = false
	} else if first, free := check.Claim(c.ClientID); !free {
		check.Duplicate("client_id", "duplicate client_id '"+check.Quote(c.ClientID)+"'", first)
		ok = false
	}
	if c.ClientType != clientConfidential && c.ClientType != clientPublic {
		check.Error("client_type", "expected one of: confidential, public")
		ok = false
	}
	ok = checkSecret(c, check) && ok
	for i, u := range c.RedirectURIs {
		if msg := checkRedirectURI(u, check); msg != "" {
			check.Error("redirect_uris["+strconv.Itoa(i)+"]", msg)
			ok = false
		}
	}
	return ok
}

func checkSecret(c *Credential, check plugin.CredentialCheck) bool {
	switch {
	case c.ClientSecret == "":
		if c.ClientType == clientPublic {
			return true
		}
		check.Error("client_secret", generatedByKong)
		return false
	case !c.HashSecret:
		c.plainSum = sha256.Sum256([]byte(c.ClientSecret))
		if isHashed(c.ClientSecret) {
			check.Warn("client_secret", "looks hashed but hash_secret is false: clients must send this very string "+
				"as their secret; set hash_secret: true if it is Kong's hash of the secret")
		}
	case isHashed(c.ClientSecret):
		p, err := parsePHC(c.ClientSecret)
		if err != nil {
			check.Error("client_secret", "invalid hashed secret: "+err.Error())
			return false
		}
		c.hash, c.phc = c.ClientSecret, p
	}
	return true
}

// checkRedirectURI returns Kong's message for a redirect URI that is not
// absolute (scheme and host) or has a fragment, "" for a good one.
func checkRedirectURI(uri string, check plugin.CredentialCheck) string {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "cannot parse '" + check.Quote(uri) + "'"
	}
	if strings.Contains(uri, "#") {
		return "fragment not allowed in '" + check.Quote(uri) + "'"
	}
	return ""
}

// hashSecrets hashes the plain secrets of hash_secret credentials, on
// every CPU: a hash costs milliseconds, so a file of many plain secrets
// loads slowly (give them hashed, as Kong exports them, to skip this).
func hashSecrets(ctx context.Context, fields []any, check func(i int) plugin.CredentialCheck) {
	var plain []int
	for i, f := range fields {
		if c := f.(*Credential); c.HashSecret && c.ClientSecret != "" && c.phc == nil {
			plain = append(plain, i)
		}
	}
	errs := make([]error, len(fields))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(runtime.GOMAXPROCS(0), len(plain)) {
		wg.Go(func() {
			for i := range next {
				if ctx.Err() != nil {
					continue
				}
				c := fields[i].(*Credential)
				h, err := hashSecret(c.ClientSecret)
				if err == nil {
					c.phc, err = parsePHC(h)
				}
				c.hash, errs[i] = h, err
			}
		})
	}
	for _, i := range plain {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			check(i).Error("client_secret", "cannot hash secret: "+err.Error())
		}
	}
}
