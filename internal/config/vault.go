package config

import (
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
)

// Kong's secret references, `{vault://<vault>/<resource>[/<key>]}`, read
// from its `env` vault: the resource, after the vault's prefix, upper-cased
// with `-` as `_`, names an environment variable; a key picks a string
// field of the variable's JSON object. <vault> is `env` or the prefix of a
// `vaults` entity of name `env`, whose `config.prefix` goes in front of
// every resource. A reference is resolved wherever it is a whole string
// value of the document (Kong resolves only in the fields its schemas mark
// referenceable and keeps it as text elsewhere); see docs/secrets.md.

// Bounds on the work a document can ask for: each reference is a lookup
// and maybe a JSON decode of an environment variable.
const (
	// MaxVaultRefs is the most references one document may hold.
	MaxVaultRefs = 10000
	// maxVaultRef is the longest reference, in bytes.
	maxVaultRef = 512
)

// Vault is a vault entity (Kong `vaults`): a prefix of its own for a vault,
// with that vault's config. Only Kong's bundled `env` vault exists.
type Vault struct {
	Meta        `yaml:",inline"`
	ID          string   `yaml:"id"`
	Prefix      string   `yaml:"prefix"`
	Name        string   `yaml:"name"`
	Description string   `yaml:"description"`
	Config      Raw      `yaml:"config"`
	Tags        []string `yaml:"tags"`
	CreatedAt   int64    `yaml:"created_at"`
	UpdatedAt   int64    `yaml:"updated_at"`
}

// envVaultConfig is the config of the `env` vault.
type envVaultConfig struct {
	Prefix string `yaml:"prefix"`
}

var (
	// vaultPrefixRE is what Kong allows as a vault entity's prefix: it must
	// also be the host of a reference URL.
	vaultPrefixRE = regexp.MustCompile(`^[a-z][a-z0-9-]*[a-z0-9]$`)
	// envPrefixRE is what Kong allows as the env vault's variable prefix.
	envPrefixRE = regexp.MustCompile(`^[A-Za-z_-][A-Za-z0-9_-]*$`)
)

// buildVaults checks the vault entities as Kong's vaults schema does: a
// vault that is not installed has no schema, so nothing else of it is.
func (b *builder) buildVaults() {
	var prefixes index[*Vault]
	ids := idSet{}
	for i := range b.cfg.Vaults {
		v, path := &b.cfg.Vaults[i], at("vaults", i)
		if v.Name != "" && v.Name != "env" {
			b.errf(JoinPath(path, "name"), "vault '%s' is not installed", v.Name)
			continue
		}
		b.checkID(v.ID, path)
		b.claimID(ids, v.ID, v.ID, path)
		switch {
		case v.Prefix == "":
			b.err(JoinPath(path, "prefix"), "required field missing")
		case v.Prefix == "env":
			b.err(JoinPath(path, "prefix"), "must not be one of: env")
		case !vaultPrefixRE.MatchString(v.Prefix):
			b.errf(JoinPath(path, "prefix"), "invalid value: %s", v.Prefix)
		default:
			register(b, &prefixes, "prefix", v.Prefix, path, v)
		}
		if v.Name == "" {
			b.err(JoinPath(path, "name"), "required field missing")
			continue
		}
		var c envVaultConfig
		b.errs.AddAll(v.Config.Decode(&c))
		if c.Prefix != "" && !envPrefixRE.MatchString(c.Prefix) {
			b.errf(JoinPath(path, "config.prefix"), "invalid value: %s", c.Prefix)
		}
	}
}

// envVaults reads the env vaults' prefixes from the document before it is
// decoded, since references are resolved first; an entity that is not
// valid is left out (the build reports it).
func envVaults(root *value) map[string]string {
	seq := root.get("vaults")
	if seq == nil || seq.kind != kindSeq {
		return nil
	}
	var vs []Vault
	d := decoder{errs: &ErrorList{}}
	d.decodeSlice(seq, reflect.ValueOf(&vs).Elem(), "vaults")
	out := map[string]string{}
	for _, v := range vs {
		var c envVaultConfig
		if v.Name != "env" || v.Prefix == "env" || !vaultPrefixRE.MatchString(v.Prefix) || len(v.Config.Decode(&c)) > 0 {
			continue
		}
		if _, dup := out[v.Prefix]; !dup && (c.Prefix == "" || envPrefixRE.MatchString(c.Prefix)) {
			out[v.Prefix] = c.Prefix
		}
	}
	return out
}

// isVaultRef reports whether s is a reference as Kong tells one: the whole
// string, `{vault://` to `}`.
func isVaultRef(s string) bool {
	return len(s) > len("{vault://}") && strings.HasPrefix(s, "{vault://") && s[len(s)-1] == '}'
}

// unquotedRefHint explains a map where a string was expected that is a
// reference YAML read as a flow map: `key: {vault://env/x}` unquoted.
func unquotedRefHint(v *value) string {
	if v.kind == kindMap && len(v.keys) == 1 && strings.HasPrefix(v.keys[0], "vault://") && v.vals[0].kind == kindNull {
		return `; quote a vault reference: "{` + Shorten(v.keys[0], maxQuoted) + `}"`
	}
	return ""
}

// vaultRef is a parsed reference.
type vaultRef struct {
	vault    string // `env` or a vault entity's prefix
	resource string
	key      string // "" unless a field of a JSON value is wanted
	prefix   *string
	version  int
}

// parseVaultRef splits a reference as Kong does: the host is the vault;
// the last path segment is a key into a JSON value unless it is the only
// one or the path ends with `/`; `?prefix=` overrides the vault's prefix;
// `#2` asks for the previous version.
func parseVaultRef(ref string) (vaultRef, error) {
	u, err := url.Parse(ref[1 : len(ref)-1])
	if err != nil {
		return vaultRef{}, errors.New("reference is not url")
	}
	r := vaultRef{vault: u.Host}
	if r.vault == "" {
		return r, errors.New("reference url is missing host")
	}
	if u.EscapedPath() == "" {
		return r, errors.New("reference url is missing path")
	}
	p := strings.TrimPrefix(u.EscapedPath(), "/")
	if p == "" {
		return r, errors.New("reference url has empty path")
	}
	if u.Fragment != "" {
		if r.version, err = strconv.Atoi(u.Fragment); err != nil {
			return r, errors.New("reference url has invalid version")
		}
	}
	var parts []string
	for _, s := range strings.Split(p, "/") {
		if s == "" {
			continue
		}
		s, err := url.PathUnescape(s)
		if err != nil {
			return r, errors.New("reference url has invalid path")
		}
		parts = append(parts, s)
	}
	switch {
	case len(parts) == 0:
		return r, errors.New("reference url has invalid path")
	case len(parts) == 1 || strings.HasSuffix(p, "/"):
		r.resource = strings.Join(parts, "/")
	default:
		r.resource = strings.Join(parts[:len(parts)-1], "/")
		r.key = parts[len(parts)-1]
	}
	if q := u.Query(); q.Has("prefix") {
		pre := q.Get("prefix")
		if !envPrefixRE.MatchString(pre) {
			return r, errors.New("invalid value for prefix: " + Shorten(pre, maxQuoted))
		}
		r.prefix = &pre
	}
	return r, nil
}

// envName is the variable the env vault reads for a resource: the prefix
// and resource upper-cased (ASCII only, as Lua's upper), `-` as `_`, and
// `_PREVIOUS` for version 2.
func envName(prefix, resource string, version int) string {
	b := []byte(prefix + resource)
	for i, c := range b {
		switch {
		case c == '-':
			b[i] = '_'
		case c >= 'a' && c <= 'z':
			b[i] = c - 'a' + 'A'
		}
	}
	if version == 2 {
		b = append(b, "_PREVIOUS"...)
	}
	return string(b)
}

// resolveRef returns the secret a reference names.
func (s *envSubst) resolveRef(ref string) (string, error) {
	if len(ref) > maxVaultRef {
		return "", errors.New("reference longer than " + strconv.Itoa(maxVaultRef) + " bytes")
	}
	if s.refs++; s.refs > MaxVaultRefs {
		return "", errors.New("more than " + strconv.Itoa(MaxVaultRefs) + " vault references in the document")
	}
	r, err := parseVaultRef(ref)
	if err != nil {
		return "", err
	}
	prefix, ok := s.vaults[r.vault]
	if !ok && r.vault != "env" {
		return "", errors.New("could not find vault (" + r.vault + ")")
	}
	if r.prefix != nil {
		prefix = *r.prefix
	}
	name := envName(prefix, r.resource, r.version)
	val, ok := s.lookup(name)
	if !ok {
		return "", errors.New("environment variable " + Shorten(name, maxQuoted) + " is not set")
	}
	if r.key == "" {
		return val, nil
	}
	obj, ok := s.objects[name]
	if !ok {
		// Decoded once per load however many keys are read from it.
		if json.Unmarshal([]byte(val), &obj) != nil {
			obj = nil
		}
		if s.objects == nil {
			s.objects = map[string]map[string]any{}
		}
		s.objects[name] = obj
	}
	if obj == nil {
		return "", errors.New("could not get subfield value: environment variable " + name + " is not a JSON object")
	}
	field, ok := obj[r.key]
	if !ok {
		return "", errors.New("could not get subfield value: subfield " + Shorten(r.key, maxQuoted) + " not found in JSON secret")
	}
	str, ok := field.(string)
	if !ok {
		return "", errors.New("could not get subfield value: unexpected " + jsonType(field) + " value in JSON secret for subfield " + Shorten(r.key, maxQuoted))
	}
	return str, nil
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case []any:
		return "array"
	}
	return "object"
}
