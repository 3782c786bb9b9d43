package proxy

import (
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/record"
	"github.com/turnpikegw/turnpike/internal/router"
	"github.com/turnpikegw/turnpike/internal/snapshot"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// reqState is the pooled per-request state.
type reqState struct {
	plugin.Ctx
	rec   record.Record
	match router.Match
	rreq  router.Request
	route *snapshot.Route
	// svc is where the request goes: the route's service, or what a
	// plugin's Ctx.Target made of it (retarget).
	svc *snapshot.Service
	// chain is the plugins whose response phases run: the route's, or
	// the global ones when no route matched (nil: none).
	chain    *snapshot.Chain
	pick     upstream.PickRequest
	x        exchange
	body     bodyReader // the upstream response body of an HTTP/1.1 attempt
	trusted  bool
	abort    bool
	grpc     grpcKind // the client's Content-Type, before the plugins
	filtered bool     // the header filters have run
	// cont watches the body of an HTTP/1.1 request that expects
	// 100 Continue, which net/http sends on the first read. cont and dbody
	// are the request bodies the proxy wraps; they are not pooled with the
	// rest: an HTTP/2 upstream's transport may read or close them after
	// the handler returned, when this state serves another request.
	cont  *continueBody
	dbody *readBody
	// cw is the client's response writer as the proxy writes to it.
	cw countingWriter
	// The values of the headers the proxy sets, one full-capacity slice
	// each (an append copies): the request's, setForwarded's, and the
	// response's, responseHeaders' or exit's. They are the request's own
	// header maps' and live as long as the request: the request's are
	// written upstream before the handler returns, and the response's
	// head is out at WriteHeader, when net/http copies the header map.
	fwdVals  [9]string
	respVals [4]string
	exitVals [4]string
	// headVals holds the single values of the upstream response head,
	// which are the client response's.
	headVals [16]string
}
