package plugin

import (
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/observe"
	"github.com/turnpikegw/turnpike/internal/ratelimit"
)

// Registration describes one plugin to the registry.
type Registration struct {
	// Name is the Kong plugin name (`rate-limiting`, `cors`...).
	Name string
	// Priority orders plugins within a phase, highest first (Kong's table).
	Priority int
	// NewConfig returns a pointer to a fresh typed config. Structs in it may
	// implement SetDefaults(); the loader calls it before decoding the user's
	// values over it, so absent fields keep their defaults.
	NewConfig func() any
	// New validates the decoded config and builds the runnable instance.
	// Validation problems are returned as config.Errors with paths relative to
	// the plugin's `config` (e.g. "origins[1]"); the caller prefixes them.
	New func(cfg any, env Env) (Instance, error)
	// NoConsumer forbids consumer-scoped instances (Kong's no_consumer).
	NoConsumer bool
	// Credentials are the credential kinds the plugin owns.
	Credentials []CredentialKind
}

// Env carries what a plugin instance may depend on. Dependencies are passed
// explicitly; there is no package-level state.
type Env struct {
	// PluginID is the id of the plugin entry being built (configured, or
	// derived from its name and scope: the same on every node running the
	// same file, and across reloads).
	PluginID string
	Logger   *slog.Logger
	// Metrics is the gateway's Prometheus registry and shared series (nil
	// in dry runs and unit tests: record nothing then).
	Metrics *observe.Metrics
	// Redis hands out shared Redis clients by connection options, so the
	// instances of one configuration and of the next after a reload share
	// connections (nil in dry runs: instances make their own).
	Redis *ratelimit.Shared
	// CACertificate finds a `ca_certificates` entity of the configuration
	// being compiled by id (set by the compiler; nil finds nothing).
	CACertificate func(id string) (*x509.Certificate, bool)
}

// CACertificateUser is implemented by instances built from CA
// certificates found through Env.CACertificate: a reload that changes one
// of them builds the instance anew even when its config is unchanged.
type CACertificateUser interface {
	CACertificateIDs() []string
}

// ClientCertAuthenticator is implemented by instances that read the TLS
// client certificate (mtls-auth): the TLS listener asks clients for one on
// the server names of the routes such an instance applies to (it only asks;
// the instance verifies). ClientCAHints are the CA certificates whose names
// the request carries (nil: none).
type ClientCertAuthenticator interface {
	ClientCAHints() []*x509.Certificate
}

// Instance is a configured plugin. It implements one or more of Accessor,
// HeaderFilter, BodyFilter and Logger.
type Instance any

// Closer is implemented by instances that hold resources (goroutines,
// connections). The gateway calls Close once, when no snapshot it will
// route new requests through uses the instance any more: after a reload
// replaced it, after a dry run built it, when a config failed to compile
// and at shutdown. Requests already in flight may still call the instance
// afterwards; it must answer them without its resources (fail open or
// closed as its config says) rather than panic.
type Closer interface {
	Close()
}

// JWKSUser is implemented by instances that hold the JWK Sets of jwt
// credentials. When a reload keeps such an instance, it is told the JWKS
// URIs the new configuration names (in configuration order), after the
// new configuration is in force: it drops the sets of other URIs and
// fetches the rest again, so a reload refreshes keys an identity provider
// withdrew.
type JWKSUser interface {
	JWKSReload(uris []string)
}

// Accessor runs in the access phase, before the request is proxied. It may
// change the upstream request through the Ctx, or answer the request itself
// by returning an *Exit (any other error is answered as a 500).
type Accessor interface {
	Access(c *Ctx) error
}

// HeaderFilter runs when the response status and headers are known (from the
// upstream or from an Exit), before they are sent to the client.
type HeaderFilter interface {
	HeaderFilter(c *Ctx)
}

// BodyFilter wraps the response body stream. It is called after every
// HeaderFilter; a filter that changes the length must delete Content-Length
// from c.Resp.Header in its HeaderFilter.
type BodyFilter interface {
	BodyFilter(c *Ctx, body io.Reader) io.Reader
}

// Logger runs after the response has been written to the client.
type Logger interface {
	Log(c *Ctx)
}

// FieldError builds a validation error for a plugin config field.
func FieldError(path, msg string) error {
	return config.Errors{{Path: path, Message: msg}}
}

// Errors collects validation problems of one plugin config.
type Errors = config.Errors

// Exit is a response produced by the gateway or a plugin instead of the
// upstream. It is rendered in one place, Kong's way.
type Exit struct {
	Status int
	// Message is rendered with Kong's error template, content-negotiated by
	// the request's Accept header, with the request id
	// (kong.response.error semantics).
	Message string
	// Body, when non-nil, is sent as is with ContentType
	// (kong.response.exit semantics, no request id).
	Body        []byte
	ContentType string
	// Header is added to the response.
	Header http.Header
}

func (e *Exit) Error() string {
	if e.Message != "" {
		return http.StatusText(e.Status) + ": " + e.Message
	}
	return http.StatusText(e.Status)
}

// NewExit returns an Exit rendered with Kong's error template.
func NewExit(status int, message string) *Exit {
	return &Exit{Status: status, Message: message}
}
