// Package all is the one explicit list of Turnpike's built-in plugins.
// Adding a plugin means adding a line here; nothing registers itself.
package all

import (
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/acl"
	"github.com/turnpikegw/turnpike/internal/plugins/adaptiveconcurrency"
	"github.com/turnpikegw/turnpike/internal/plugins/aggregate"
	"github.com/turnpikegw/turnpike/internal/plugins/basicauth"
	"github.com/turnpikegw/turnpike/internal/plugins/botdetection"
	"github.com/turnpikegw/turnpike/internal/plugins/canary"
	"github.com/turnpikegw/turnpike/internal/plugins/circuitbreaker"
	"github.com/turnpikegw/turnpike/internal/plugins/compression"
	"github.com/turnpikegw/turnpike/internal/plugins/correlationid"
	"github.com/turnpikegw/turnpike/internal/plugins/cors"
	"github.com/turnpikegw/turnpike/internal/plugins/grpcgateway"
	"github.com/turnpikegw/turnpike/internal/plugins/grpcweb"
	"github.com/turnpikegw/turnpike/internal/plugins/hmacauth"
	"github.com/turnpikegw/turnpike/internal/plugins/iprestriction"
	"github.com/turnpikegw/turnpike/internal/plugins/jwt"
	"github.com/turnpikegw/turnpike/internal/plugins/keyauth"
	"github.com/turnpikegw/turnpike/internal/plugins/ldapauth"
	"github.com/turnpikegw/turnpike/internal/plugins/logging"
	"github.com/turnpikegw/turnpike/internal/plugins/logs"
	"github.com/turnpikegw/turnpike/internal/plugins/mtlsauth"
	"github.com/turnpikegw/turnpike/internal/plugins/oauth2"
	"github.com/turnpikegw/turnpike/internal/plugins/openidconnect"
	"github.com/turnpikegw/turnpike/internal/plugins/opentelemetry"
	"github.com/turnpikegw/turnpike/internal/plugins/prometheus"
	"github.com/turnpikegw/turnpike/internal/plugins/proxycache"
	"github.com/turnpikegw/turnpike/internal/plugins/ratelimiting"
	"github.com/turnpikegw/turnpike/internal/plugins/redirect"
	"github.com/turnpikegw/turnpike/internal/plugins/requestmirror"
	"github.com/turnpikegw/turnpike/internal/plugins/requestsizelimiting"
	"github.com/turnpikegw/turnpike/internal/plugins/requesttermination"
	"github.com/turnpikegw/turnpike/internal/plugins/requesttransformer"
	"github.com/turnpikegw/turnpike/internal/plugins/requestvalidator"
	"github.com/turnpikegw/turnpike/internal/plugins/responsetransformer"
	"github.com/turnpikegw/turnpike/internal/plugins/session"
	"github.com/turnpikegw/turnpike/internal/plugins/statsd"
	"github.com/turnpikegw/turnpike/internal/plugins/zipkin"
)

// Registrations returns every built-in plugin. The plugins owning
// credential kinds come first, in the order their credentials are checked
// and so their errors reported (key-auth, basic-auth, jwt, acl, as they
// always were: TestCredentialErrorOrder, then hmac-auth and oauth2); the others follow by name.
func Registrations() []plugin.Registration {
	return []plugin.Registration{
		keyauth.Registration(),
		basicauth.Registration(),
		jwt.Registration(),
		acl.Registration(),
		hmacauth.Registration(),
		oauth2.Registration(),
		adaptiveconcurrency.Registration(),
		aggregate.Registration(),
		botdetection.Registration(),
		canary.Registration(),
		circuitbreaker.Registration(),
		compression.Registration(),
		correlationid.Registration(),
		cors.Registration(),
		grpcgateway.Registration(),
		grpcgateway.TranscodeRegistration(),
		grpcweb.Registration(),
		iprestriction.Registration(),
		ldapauth.Registration(),
		logging.Registration(),
		logs.FileLog(),
		logs.HTTPLog(),
		mtlsauth.Registration(),
		openidconnect.Registration(),
		opentelemetry.Registration(),
		prometheus.Registration(),
		proxycache.Registration(),
		proxycache.ResponseCache(),
		proxycache.Invalidate(),
		ratelimiting.Registration(),
		ratelimiting.ResponseRegistration(),
		redirect.Registration(),
		requestsizelimiting.Registration(),
		requestvalidator.Registration(),
		requestmirror.Registration(),
		requesttermination.Registration(),
		requesttransformer.Registration(),
		responsetransformer.Registration(),
		session.Registration(),
		statsd.Registration(),
		zipkin.Registration(),
		logs.Syslog(),
		logs.TCPLog(),
		logs.UDPLog(),
	}
}
