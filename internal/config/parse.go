package config

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"reflect"
	"strings"
)

// Options tune Parse and Load.
type Options struct {
	// LookupEnv reads the environment for vault references
	// (`{vault://env/name}`) and `${NAME}`; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// ExpandEnv expands `${NAME}` in strings (--expand-env); without it
	// `${...}` is text, as in Kong.
	ExpandEnv bool
	// MaxValues bounds the values a document may hold, counted before
	// parsing (see MaxNodes): 0 means MaxNodes, negative no bound.
	MaxValues int
	// Credentials are the credential kinds the plugins declare, in the
	// order their entities are checked; a file holding a kind not listed
	// is refused (unknown field). A kind named as a field of Config or
	// Consumer fails every parse.
	Credentials []CredentialKind
}

// Load reads a declarative config file and parses it.
func Load(path string, opts Options) (*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, opts)
}

// Parse decodes, expands, validates and flattens a declarative config in
// YAML or JSON. When the config is invalid the error is an Errors holding
// the problems found, each with its field path (the first MaxErrors, then
// how many more).
func Parse(data []byte, opts Options) (*Model, error) {
	return ParseContext(context.Background(), data, opts)
}

// ParseContext is Parse that gives up, with the error Abandoned returns,
// once ctx is done.
func ParseContext(ctx context.Context, data []byte, opts Options) (*Model, error) {
	lookup := opts.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	if err := Abandoned(ctx); err != nil {
		return nil, err
	}
	if err := checkKindNames(opts.Credentials); err != nil {
		return nil, err
	}
	root, err := parseTree(data, opts.MaxValues)
	if err != nil {
		return nil, Errors{{Message: "invalid YAML/JSON: " + err.Error()}}
	}
	if root.kind == kindNull {
		root = &value{kind: kindMap, line: root.line}
	}
	if root.kind != kindMap {
		return nil, Errors{{Message: "expected a map at the top level, got " + root.kind.String(), Line: root.line}}
	}
	if bad := invalidUTF8Lines(data); bad != nil {
		return nil, utf8Errors(root, bad)
	}

	// Metadata is free-form prose; a `${` in a comment must not fail a load.
	// Expansion stops at the metadata key, so only its own path is tested.
	// Vault entities are read before references are resolved.
	skip := func(path string) bool {
		key := path[strings.LastIndexByte(path, '.')+1:]
		return key == "_comment" || key == "_ignore" || path == "_info" || path == "vaults"
	}
	var errs ErrorList
	env := envSubst{lookup: lookup, expand: opts.ExpandEnv, vaults: envVaults(root), errs: &errs, cp: checkpoint{ctx: ctx}}
	env.walk(root, "", skip)
	red := newRedaction(&env)

	var cfg Config
	applyDefaults(reflect.ValueOf(&cfg).Elem())
	lines := map[string]int{}
	kinds := make(map[string]*CredentialKind, len(opts.Credentials))
	for i := range opts.Credentials {
		kinds[opts.Credentials[i].Name] = &opts.Credentials[i]
	}
	d := decoder{errs: &errs, lines: lines, cp: checkpoint{ctx: ctx}, kinds: kinds}
	d.decode(root, reflect.ValueOf(&cfg).Elem(), "")
	if err := Abandoned(ctx); err != nil {
		return nil, err
	}
	// Validating a document that already has more errors than are listed
	// would only count more.
	if errs.Full() {
		return nil, red.apply(errs.Errors(), errorText)
	}

	b := newBuilder(ctx, &cfg, lines, &errs)
	for i := range opts.Credentials {
		b.kinds = append(b.kinds, &opts.Credentials[i])
	}
	b.m.Hash = SourceHash(data)
	b.m.Source = data
	b.m.redaction = red
	b.build()
	if err := Abandoned(ctx); err != nil {
		return nil, err
	}
	if errs.Len() > 0 {
		return nil, red.apply(errs.Errors(), errorText)
	}
	b.m.Warnings = red.apply(b.m.Warnings, warningText)
	return b.m, nil
}

// Abandoned is the error for a load whose ctx is done (the cause says
// why: a time or memory budget, shutdown), or nil while it may go on.
func Abandoned(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	return Errors{{Message: "configuration load abandoned: " + context.Cause(ctx).Error()}}
}

// lineOf finds the line of a field path, or of its nearest ancestor present
// in the document (entity-level errors point at the entity).
func lineOf(lines map[string]int, path string) int {
	for path != "" {
		if ln, ok := lines[path]; ok {
			return ln
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// Summary is a one-line description of the model for logs.
func (m *Model) Summary() string {
	parts := []string{
		count(len(m.Services), "service", "services"),
		count(len(m.Routes), "route", "routes"),
		count(len(m.Plugins), "plugin", "plugins"),
		count(len(m.Consumers), "consumer", "consumers"),
	}
	if n := len(m.Credentials) - m.memberships; n > 0 {
		parts = append(parts, count(n, "credential", "credentials"))
	}
	targets := 0
	for _, u := range m.Upstreams {
		targets += len(u.Targets)
	}
	if len(m.Upstreams) > 0 {
		parts = append(parts, count(len(m.Upstreams), "upstream", "upstreams"), count(targets, "target", "targets"))
	}
	if len(m.Certificates) > 0 {
		parts = append(parts, count(len(m.Certificates), "certificate", "certificates"))
	}
	if len(m.CACerts) > 0 {
		parts = append(parts, count(len(m.CACerts), "CA certificate", "CA certificates"))
	}
	return strings.Join(parts, ", ")
}

func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// SourceHash is a document's Model.Hash, computed without parsing it: the
// admin API's ?check_hash and the loader's skipping of an unchanged file
// compare it before any parse.
func SourceHash(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:16])
}
