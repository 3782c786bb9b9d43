package oauth2

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"hash"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Kong's hashed client secrets are PHC strings: what its secret module
// writes is `$pbkdf2-sha512$i=10000,l=32$<salt>$<hash>` (base64 without
// padding); older Kongs wrote `$argon2id$v=19$m=4096,t=1,p=1$<salt>$<hash>`.
// Both are accepted as given; a plain secret with hash_secret is hashed
// the way Kong hashes today.
const (
	pbkdf2Prefix     = "$pbkdf2-"
	argon2Prefix     = "$argon2"
	pbkdf2Iterations = 10000
	pbkdf2KeyLen     = 32
	saltLen          = 16
)

// Bounds on the work a hash given in the file may ask of every token
// request that presents a wrong secret (a right one is cached): above
// them a client could make the gateway burn a core per request.
const (
	maxPBKDF2Iterations = 200000
	maxArgon2Time       = 10
	maxArgon2MemoryKiB  = 64 * 1024
	maxArgon2Threads    = 16
	minKeyLen, maxKey   = 16, 128
)

// phc is a parsed hashed secret: everything verification needs.
type phc struct {
	argon   bool
	digest  func() hash.Hash
	iter    int    // PBKDF2 iterations or argon2's t
	memory  uint32 // argon2's m, KiB
	threads uint8  // argon2's p
	salt    []byte
	sum     []byte
}

// isHashed says s is a PHC string of an algorithm Kong writes.
func isHashed(s string) bool {
	return strings.HasPrefix(s, pbkdf2Prefix) || strings.HasPrefix(s, argon2Prefix)
}

// parsePHC reads a hashed secret, refusing what Kong could not verify
// and parameters past the bounds above.
func parsePHC(s string) (*phc, error) {
	parts := strings.Split(s, "$")
	if len(parts) < 5 || parts[0] != "" {
		return nil, errors.New("invalid phc string format")
	}
	id, params, salt, sum := parts[1], parts[len(parts)-3], parts[len(parts)-2], parts[len(parts)-1]
	p := &phc{salt: decodeB64(salt)}
	var err error
	if p.sum, err = decodeStrict(sum); err != nil || len(p.sum) < minKeyLen || len(p.sum) > maxKey {
		return nil, errors.New("invalid hash in phc string")
	}
	kv := parseParams(params)
	switch {
	case strings.HasPrefix(id, "pbkdf2-"):
		if len(parts) != 5 {
			return nil, errors.New("invalid phc string format")
		}
		if p.digest = digestByName(id[len("pbkdf2-"):]); p.digest == nil {
			return nil, errors.New("unsupported pbkdf2 digest '" + id[len("pbkdf2-"):] + "'")
		}
		if p.iter = kv["i"]; p.iter < 1 || p.iter > maxPBKDF2Iterations {
			return nil, errors.New("pbkdf2 iterations (i) must be between 1 and " + strconv.Itoa(maxPBKDF2Iterations))
		}
		if l, ok := kv["l"]; ok && l != len(p.sum) {
			return nil, errors.New("pbkdf2 length (l) does not match the hash")
		}
	case id == "argon2id":
		if len(parts) != 6 || parts[2] != "v=19" {
			return nil, errors.New("unsupported argon2 version (v=19 expected)")
		}
		p.argon = true
		p.iter = kv["t"]
		m, t := kv["m"], kv["p"]
		if p.iter < 1 || p.iter > maxArgon2Time || m < 8 || m > maxArgon2MemoryKiB || t < 1 || t > maxArgon2Threads {
			return nil, errors.New("argon2 parameters out of range (t 1-" + strconv.Itoa(maxArgon2Time) +
				", m 8-" + strconv.Itoa(maxArgon2MemoryKiB) + ", p 1-" + strconv.Itoa(maxArgon2Threads) + ")")
		}
		p.memory, p.threads = uint32(m), uint8(t)
	default:
		return nil, errors.New("unsupported hash algorithm '" + id + "'")
	}
	return p, nil
}

// deriving bounds the derivations running at once to the CPUs: each is
// CPU-bound, and an argon2id one holds its m KiB, so wrong secrets sent
// in parallel queue instead of taking the gateway's memory.
var deriving = make(chan struct{}, runtime.GOMAXPROCS(0))

// verify derives secret's hash with p's parameters and compares it in
// constant time; ctx's error when ctx ends before a derivation slot is
// free.
func (p *phc) verify(ctx context.Context, secret string) (bool, error) {
	select {
	case deriving <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-deriving }()
	var got []byte
	if p.argon {
		got = argon2.IDKey([]byte(secret), p.salt, uint32(p.iter), p.memory, p.threads, uint32(len(p.sum)))
	} else {
		var err error
		if got, err = pbkdf2.Key(p.digest, secret, p.salt, p.iter, len(p.sum)); err != nil {
			return false, nil
		}
	}
	return subtle.ConstantTimeCompare(got, p.sum) == 1, nil
}

// hashSecret hashes a plain secret as Kong does: PBKDF2-SHA512, 10000
// iterations, a random 16-byte salt, 32 bytes.
func hashSecret(secret string) (string, error) {
	salt := make([]byte, saltLen)
	rand.Read(salt) // never fails: it crashes the process instead
	return hashWithSalt(secret, salt)
}

func hashWithSalt(secret string, salt []byte) (string, error) {
	sum, err := pbkdf2.Key(sha512.New, secret, salt, pbkdf2Iterations, pbkdf2KeyLen)
	if err != nil {
		return "", err
	}
	return pbkdf2Prefix + "sha512$i=" + strconv.Itoa(pbkdf2Iterations) + ",l=" + strconv.Itoa(pbkdf2KeyLen) +
		"$" + base64.RawStdEncoding.EncodeToString(salt) + "$" + base64.RawStdEncoding.EncodeToString(sum), nil
}

func digestByName(name string) func() hash.Hash {
	switch name {
	case "sha512":
		return sha512.New
	case "sha384":
		return sha512.New384
	case "sha256":
		return sha256.New
	case "sha1":
		return sha1.New
	}
	return nil
}

// parseParams reads "k=v,k=v" with integer values; a value that is not
// one is left out, so the range checks refuse it.
func parseParams(s string) map[string]int {
	kv := map[string]int{}
	for f := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
			kv[strings.TrimSpace(k)] = n
		}
	}
	return kv
}

func decodeStrict(s string) ([]byte, error) {
	if b, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.StdEncoding.DecodeString(s)
}

// decodeB64 decodes a salt, or takes it as it is when it is not base64,
// as Kong's secret module does.
func decodeB64(s string) []byte {
	if b, err := decodeStrict(s); err == nil {
		return b
	}
	return []byte(s)
}
