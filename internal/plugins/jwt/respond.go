package jwt

import (
	"net/http"
	"strings"

	"github.com/turnpikegw/turnpike/internal/jsonw"
	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Kong's messages (kong/plugins/jwt/handler.lua and jwt_parser.lua).
const (
	msgUnauthorized     = "Unauthorized"
	msgMultiple         = "Multiple tokens provided"
	msgUnrecognizable   = "Unrecognizable token"
	msgBadToken         = "Bad token; "
	msgInvalidAlgorithm = "Invalid algorithm"
	msgInvalidKey       = "Invalid key/secret"
	msgInvalidSignature = "Invalid signature"
	msgUnexpected       = "An unexpected error occurred"
	// grpcUnauthenticated is what Kong sends as grpc-message for a body
	// that is a map of claim errors.
	grpcUnauthenticated = "Unauthenticated"
	contentTypeJSON     = "application/json; charset=utf-8"
)

// Kong's decoding errors ("Bad token; <err>").
const (
	errJSON      = "invalid JSON"
	errAlg       = "invalid alg"
	errClaims    = "invalid claims"
	errSignature = "invalid signature"
)

// failure is one 401 answer. Kong's jwt answers with kong.response.exit
// and a Lua table, so the body is compact JSON without a request id:
// {"message":"..."} or, for claim errors, the map of claim to error.
type failure struct {
	// plain leaves error="invalid_token" out of WWW-Authenticate (no
	// token at all).
	plain bool
	// message is the body's message, or what a gRPC client gets as
	// grpc-message.
	message string
	body    []byte
}

func messageFailure(msg string, plain bool) *failure {
	b := append([]byte(`{"message":`), jsonw.AppendCJSONString(nil, msg)...)
	return &failure{plain: plain, message: msg, body: append(b, '}')}
}

type claimError struct{ claim, err string }

// claimsFailure renders Kong's map of claim errors, in claims_to_verify
// order.
func claimsFailure(errs []claimError) *failure {
	b := []byte{'{'}
	for i, e := range errs {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonw.AppendCJSONString(b, e.claim)
		b = append(b, ':')
		b = jsonw.AppendCJSONString(b, e.err)
	}
	return &failure{message: grpcUnauthenticated, body: append(b, '}')}
}

func (in *instance) renderFailures() {
	in.unauthorized = messageFailure(msgUnauthorized, true)
	in.multiple = messageFailure(msgMultiple, false)
	in.unrecognizable = messageFailure(msgUnrecognizable, false)
	in.noKeyClaim = messageFailure("No mandatory '"+in.keyClaim+"' in claims", false)
	in.emptyKeyClaim = messageFailure("Invalid '"+in.keyClaim+"' in claims", false)
	in.noCredentials = messageFailure("No credentials found for given '"+in.keyClaim+"'", false)
	in.badAlgorithm = messageFailure(msgInvalidAlgorithm, false)
	in.badKey = messageFailure(msgInvalidKey, false)
	in.badSignature = messageFailure(msgInvalidSignature, false)
	in.tooLate = claimsFailure([]claimError{{"exp", "exceeds maximum allowed expiration"}})
	in.badIssuer = claimsFailure([]claimError{{"iss", "invalid issuer"}})
	in.badAudience = claimsFailure([]claimError{{"aud", "invalid audience"}})
	in.badToken = map[string]*failure{}
	for _, e := range []string{errJSON, errAlg, errClaims, errSignature} {
		in.badToken[e] = messageFailure(msgBadToken+e, false)
	}
}

// exit answers 401 with f. A gRPC client gets the message in grpc-message
// (the proxy renders an Exit's Message for gRPC), as Kong's
// kong.response.exit does for a gRPC request.
func (in *instance) exit(c *plugin.Ctx, f *failure) *plugin.Exit {
	www := in.wwwAuthErr
	if f.plain {
		www = in.wwwAuth
	}
	e := &plugin.Exit{Status: http.StatusUnauthorized, Header: http.Header{"Www-Authenticate": {www}}}
	if strings.HasPrefix(c.Req.Header.Get("Content-Type"), "application/grpc") {
		e.Message = f.message
	} else {
		e.Body, e.ContentType = f.body, contentTypeJSON
	}
	return e
}
