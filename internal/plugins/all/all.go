// Package all is the one explicit list of Turnpike's built-in plugins.
// Adding a plugin means adding a line here; nothing registers itself.
package all

import (
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/acl"
	"github.com/turnpikegw/turnpike/internal/plugins/adaptiveconcurrency"
	"github.com/turnpikegw/turnpike/internal/plugins/basicauth"
	"github.com/turnpikegw/turnpike/internal/plugins/circuitbreaker"
	"github.com/turnpikegw/turnpike/internal/plugins/compression"
	"github.com/turnpikegw/turnpike/internal/plugins/correlationid"
	"github.com/turnpikegw/turnpike/internal/plugins/cors"
	"github.com/turnpikegw/turnpike/internal/plugins/grpcgateway"
	"github.com/turnpikegw/turnpike/internal/plugins/grpcweb"
	"github.com/turnpikegw/turnpike/internal/plugins/jwt"
	"github.com/turnpikegw/turnpike/internal/plugins/keyauth"
	"github.com/turnpikegw/turnpike/internal/plugins/logging"
	"github.com/turnpikegw/turnpike/internal/plugins/logs"
	"github.com/turnpikegw/turnpike/internal/plugins/mtlsauth"
	"github.com/turnpikegw/turnpike/internal/plugins/opentelemetry"
	"github.com/turnpikegw/turnpike/internal/plugins/prometheus"
	"github.com/turnpikegw/turnpike/internal/plugins/proxycache"
	"github.com/turnpikegw/turnpike/internal/plugins/ratelimiting"
	"github.com/turnpikegw/turnpike/internal/plugins/requesttermination"
	"github.com/turnpikegw/turnpike/internal/plugins/requesttransformer"
)

// Registrations returns every built-in plugin. The plugins owning
// credential kinds come first, in the order their credentials are checked
// and so their errors reported (key-auth, basic-auth, jwt, acl, as they
// always were: TestCredentialErrorOrder); the others follow by name.
func Registrations() []plugin.Registration {
	return []plugin.Registration{
		keyauth.Registration(),
		basicauth.Registration(),
		jwt.Registration(),
		acl.Registration(),
		adaptiveconcurrency.Registration(),
		circuitbreaker.Registration(),
		compression.Registration(),
		correlationid.Registration(),
		cors.Registration(),
		grpcgateway.Registration(),
		grpcgateway.TranscodeRegistration(),
		grpcweb.Registration(),
		logging.Registration(),
		logs.FileLog(),
		logs.HTTPLog(),
		mtlsauth.Registration(),
		opentelemetry.Registration(),
		prometheus.Registration(),
		proxycache.Registration(),
		proxycache.ResponseCache(),
		proxycache.Invalidate(),
		ratelimiting.Registration(),
		requesttermination.Registration(),
		requesttransformer.Registration(),
		logs.Syslog(),
		logs.TCPLog(),
		logs.UDPLog(),
	}
}
