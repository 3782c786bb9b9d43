package snapshot

import (
	"net/http"
	"sort"
	"strings"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/router"
)

// RouterRoute is r's matching criteria as the router takes them; id is the
// route's id. Headers are sorted by name (r.Headers is a map), so every
// call gives the same order: explain reads the names that
// router.RouteCheck's HeaderFailed indexes from here.
func RouterRoute(id string, r *config.Route) router.Route {
	names := make([]string, 0, len(r.Headers))
	for name := range r.Headers {
		names = append(names, name)
	}
	sort.Strings(names)
	headers := make([]router.Header, 0, len(r.Headers))
	for _, name := range names {
		headers = append(headers, router.Header{Name: name, Values: r.Headers[name]})
	}
	return router.Route{
		ID:    id,
		Paths: r.Paths, Hosts: r.Hosts, Methods: r.Methods, Headers: headers,
		SNIs: r.SNIs, RegexPriority: r.RegexPriority,
	}
}

// Protocol is what a route's protocols make of a request that matched it
// (Kong's runloop).
type Protocol uint8

const (
	ProtocolOK Protocol = iota
	// ProtocolUseHTTP2: a gRPC-only route over HTTP/1.x gets 426.
	ProtocolUseHTTP2
	// ProtocolUseHTTPS: an https-only or grpcs-only route over plain
	// HTTP gets 426.
	ProtocolUseHTTPS
	// ProtocolRedirect: an https-only route over plain HTTP whose
	// https_redirect_status_code is not 426 is redirected to https with
	// that status.
	ProtocolRedirect
)

// CheckProtocol decides whether the route's protocols let a request in.
// trusted says the client may vouch for https with X-Forwarded-Proto
// (--trusted-ips); h is read only for an https-only route over plain HTTP.
func (rt *Route) CheckProtocol(http2, https, trusted bool, h http.Header) Protocol {
	if (rt.GRPC || rt.GRPCS) && !rt.HTTP && !rt.HTTPS {
		if !http2 {
			return ProtocolUseHTTP2
		}
		if rt.GRPCS && !rt.GRPC && !https {
			return ProtocolUseHTTPS
		}
		return ProtocolOK
	}
	if !rt.HTTP && rt.HTTPS && !https {
		if trusted && h.Get("X-Forwarded-Proto") == "https" {
			return ProtocolOK
		}
		if rt.HTTPSRedirectStatus != http.StatusUpgradeRequired && rt.HTTPSRedirectStatus != 0 {
			return ProtocolRedirect
		}
		return ProtocolUseHTTPS
	}
	return ProtocolOK
}

// MsgGRPCOverPlain is Kong's grpc-message for a gRPC call over plain
// HTTP/2 to a grpcs-only route.
const MsgGRPCOverPlain = "gRPC request matched gRPCs route"

// ProtocolExit is the proxy's answer when the route's protocols refuse r
// (CheckProtocol), nil when they let it in.
func (rt *Route) ProtocolExit(r *http.Request, https, trusted bool) *plugin.Exit {
	switch rt.CheckProtocol(r.ProtoMajor >= 2, https, trusted, r.Header) {
	case ProtocolUseHTTP2:
		return &plugin.Exit{Status: http.StatusUpgradeRequired, Message: "Please use HTTP2 protocol",
			Header: http.Header{"Connection": {"Upgrade"}, "Upgrade": {"HTTP/2"}}}
	case ProtocolUseHTTPS:
		if rt.GRPCS && !rt.HTTP && !rt.HTTPS && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
			// Kong's answer to a gRPC call on a grpcs-only route over plain
			// HTTP/2: a CANCELLED status, which it logs as 200.
			return &plugin.Exit{Status: http.StatusOK, Message: MsgGRPCOverPlain, Header: http.Header{"Grpc-Status": {"1"}}}
		}
		return &plugin.Exit{Status: http.StatusUpgradeRequired, Message: "Please use HTTPS protocol",
			Header: http.Header{"Connection": {"Upgrade"}, "Upgrade": {"TLS/1.2, HTTP/1.1"}}}
	case ProtocolRedirect:
		host := r.Host
		if trusted {
			if fh := r.Header.Get("X-Forwarded-Host"); fh != "" {
				host = fh
			}
		}
		return &plugin.Exit{Status: rt.HTTPSRedirectStatus, Message: http.StatusText(rt.HTTPSRedirectStatus),
			Header: http.Header{"Location": {"https://" + host + r.RequestURI}}}
	}
	return nil
}
