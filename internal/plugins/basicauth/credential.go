package basicauth

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// kindName is basic-auth's credential entity (Kong `basicauth_credentials`).
const kindName = "basicauth_credentials"

// Credential is a basic-auth credential's own fields. A plain password is
// bcrypt-hashed when the configuration is loaded; one given as a bcrypt
// hash ($2a$, $2b$, $2y$) is kept as it is. The admin API shows the hash,
// never the password as given (Render).
type Credential struct {
	Username string `yaml:"username"`
	Password string `yaml:"password" admin:"-"`

	// hash is the bcrypt hash the request path verifies against: Password
	// when given hashed (Check), else Password hashed (Finish).
	hash string
}

// bcryptPrefixes mark a password given already hashed.
var bcryptPrefixes = []string{"$2a$", "$2b$", "$2y$"}

func credentialKind() plugin.CredentialKind {
	return plugin.CredentialKind{
		Name: kindName, Label: name, Endpoint: "basic-auths", ConsumerEndpoint: "basic-auth",
		New: func() any { return &Credential{} },
		Key: func(fields any) string { return fields.(*Credential).Username },
		// Kong's cache key is the username, so its id is derived from it.
		KongID: true,
		Check:  checkCredential,
		Finish: hashPasswords,
		Render: func(c *plugin.Credential, body map[string]any) {
			body["password"] = c.Fields.(*Credential).hash
		},
	}
}

func checkCredential(fields any, check plugin.CredentialCheck) bool {
	c := fields.(*Credential)
	ok := true
	if c.Username == "" {
		check.Error("username", "required field missing")
		ok = false
	} else if first, free := check.Claim(c.Username); !free {
		check.Duplicate("username", "duplicate username '"+check.Quote(c.Username)+"'", first)
		ok = false
	}
	switch {
	case c.Password == "":
		check.Error("password", "required field missing")
		ok = false
	case IsHash(c.Password):
		if msg := CheckHash(c.Password); msg != "" {
			check.Error("password", msg)
			ok = false
		}
		c.hash = c.Password
	case len(c.Password) > 72:
		check.Error("password", "length must be at most 72 bytes (bcrypt's limit)")
		ok = false
	}
	return ok
}

// maxCost bounds the bcrypt cost of a hash given in the file: a request
// with a wrong password runs one full comparison (a few hundred
// milliseconds at 14, doubling with each step), which the cache of
// successful checks cannot spare.
const maxCost = 14

// CheckHash says why a bcrypt hash given as a password is refused ("":
// it is taken); the importers that turn htpasswd files into credentials
// ask it too, so that they pass on only what loads.
func CheckHash(h string) string {
	cost, err := bcrypt.Cost([]byte(h))
	switch {
	case err != nil:
		return "invalid bcrypt hash: " + err.Error()
	case cost > maxCost:
		return "bcrypt cost " + strconv.Itoa(cost) + " is above " + strconv.Itoa(maxCost) + ": every wrong password would cost a request that much CPU"
	}
	return ""
}

// IsHash reports whether a password is given already hashed (bcrypt).
func IsHash(s string) bool {
	for _, p := range bcryptPrefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// hashPasswords bcrypt-hashes the plain passwords with bcrypt.DefaultCost,
// on every CPU: at cost 10 one hash takes tens of milliseconds, so a file
// with many plain passwords loads slowly (give them pre-hashed to skip
// this).
func hashPasswords(ctx context.Context, fields []any, check func(i int) plugin.CredentialCheck) {
	var plain []*Credential
	var at []int
	for i, f := range fields {
		if c := f.(*Credential); c.hash == "" {
			plain, at = append(plain, c), append(at, i)
		}
	}
	if len(plain) == 0 {
		return
	}
	errs := make([]error, len(plain))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(runtime.GOMAXPROCS(0), len(plain)) {
		wg.Go(func() {
			for i := range next {
				if ctx.Err() != nil {
					continue
				}
				h, err := bcrypt.GenerateFromPassword([]byte(plain[i].Password), bcrypt.DefaultCost)
				plain[i].hash, errs[i] = string(h), err
			}
		})
	}
	for i := range plain {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			check(at[i]).Error("password", "cannot hash password: "+err.Error())
		}
	}
}
