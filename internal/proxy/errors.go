package proxy

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/jsonw"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/transcode"
)

// Kong's proxy error texts (kong/error_handlers.lua) and default exit
// messages (kong/tools/http.lua), so clients see the same bodies.
const (
	msgNoRoute        = "no Route matched with those values"
	msgBadRequest     = "Bad request"
	msgRequestTimeout = "Request timeout"
	msgTooLarge       = "Payload too large"
	msgURITooLong     = "URI too long"
	msgBadGateway     = "An invalid response was received from the upstream server"
	msgTimeout        = "The upstream server is timing out"
	msgNoService      = "no Service found with those values"
	msgUnexpected     = "An unexpected error occurred"
	msgNoPeer         = "failure to get a peer from the ring-balancer"
	msgNameResolution = "name resolution failed"
)

type mediaType uint8

const (
	mediaJSON mediaType = iota
	mediaHTML
	mediaXML
	mediaPlain
	mediaGRPC
)

var contentTypes = [...]string{
	mediaJSON:  "application/json; charset=utf-8",
	mediaHTML:  "text/html; charset=utf-8",
	mediaXML:   "application/xml; charset=utf-8",
	mediaPlain: "text/plain; charset=utf-8",
	mediaGRPC:  "application/grpc",
}

// negotiate picks the error format from Accept the way Kong does: the
// highest q wins, `type/*` maps by type, anything unknown keeps JSON.
func negotiate(r *http.Request) mediaType {
	accept := r.Header.Get("Accept")
	if accept == "" {
		return mediaJSON
	}
	best, bestQ := mediaJSON, 0.0
	for part := range strings.SplitSeq(accept, ",") {
		mt, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		for p := range strings.SplitSeq(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				}
			}
		}
		if q <= bestQ {
			continue
		}
		if m, ok := mediaFor(strings.ToLower(strings.TrimSpace(mt))); ok {
			best, bestQ = m, q
		} else {
			bestQ = q
		}
	}
	return best
}

func mediaFor(mt string) (mediaType, bool) {
	switch mt {
	case "application/json", "application/*", "*/*":
		return mediaJSON, true
	case "text/html":
		return mediaHTML, true
	case "application/xml":
		return mediaXML, true
	case "text/plain", "text/*":
		return mediaPlain, true
	case "application/grpc":
		return mediaGRPC, true
	}
	return mediaJSON, false
}

// errorBody renders Kong's error template for msg.
func errorBody(m mediaType, msg, requestID string) []byte {
	switch m {
	case mediaHTML:
		return []byte("<!doctype html>\n<html>\n  <head>\n    <meta charset=\"utf-8\">\n    <title>Error</title>\n  </head>\n  <body>\n    <h1>Error</h1>\n    <p>" +
			htmlEscape(msg) + ".</p>\n    <p>request_id: " + htmlEscape(requestID) + "</p>\n  </body>\n</html>\n")
	case mediaXML:
		return []byte("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<error>\n  <message>" +
			htmlEscape(msg) + "</message>\n  <requestid>" + htmlEscape(requestID) + "</requestid>\n</error>\n")
	case mediaPlain:
		return []byte(msg + "\nrequest_id: " + requestID + "\n")
	case mediaGRPC:
		return nil
	}
	b := make([]byte, 0, 48+len(msg)+len(requestID))
	b = append(b, "{\n  \"message\":"...)
	b = jsonw.AppendString(b, msg)
	b = append(b, ",\n  \"request_id\":"...)
	b = jsonw.AppendString(b, requestID)
	return append(b, "\n}"...)
}

var htmlReplacer = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;")

func htmlEscape(s string) string { return htmlReplacer.Replace(s) }

// grpcCodes is Kong's HTTP_TO_GRPC_STATUS (kong/pdk/response.lua) for the
// statuses it names, as strings ready for the header. 502 is the one
// departure: Kong's table leaves it to the 5xx default (INTERNAL), but a
// grpc-go client of Kong sees UNAVAILABLE there (Kong's 502 has no gRPC
// Content-Type, so grpc-go maps the HTTP status), and UNAVAILABLE is the
// code gRPC clients retry on.
var grpcCodes = map[int][]string{
	200: {"0"}, 400: {"3"}, 401: {"16"}, 403: {"7"}, 404: {"5"}, 409: {"6"}, 429: {"8"},
	499: {"1"}, 500: {"13"}, 501: {"12"}, 502: {"14"}, 503: {"14"}, 504: {"4"},
}

var (
	grpcUnknown     = []string{"2"}
	grpcInternal    = grpcCodes[500]
	grpcInvalidArg  = grpcCodes[400]
	grpcOK          = grpcCodes[200]
	grpcContentType = []string{"application/grpc"}
	// grpcNames are the default messages Kong sends with a status that
	// came without one (GRPC_MESSAGES), by code.
	grpcNames = [...][]string{{"OK"}, {"Canceled"}, {"Unknown"}, {"InvalidArgument"}, {"DeadlineExceeded"},
		{"NotFound"}, {"AlreadyExists"}, {"PermissionDenied"}, {"ResourceExhausted"}, {"FailedPrecondition"},
		{"Aborted"}, {"OutOfRange"}, {"Unimplemented"}, {"Internal"}, {"Unavailable"}, {"DataLoss"},
		{"Unauthenticated"}}
)

// grpcStatus maps the HTTP status of a gateway answer to a gRPC status code
// the way Kong does: its table, else by class.
func grpcStatus(status int) []string {
	if c, ok := grpcCodes[status]; ok {
		return c
	}
	switch {
	case status >= 500 && status <= 599:
		return grpcInternal
	case status >= 400:
		return grpcInvalidArg
	case status >= 200 && status <= 299:
		return grpcOK
	}
	return grpcUnknown
}

// grpcKind is what a request's Content-Type, as the client sent it, says
// about the answers it can read. Taken before the plugins run: one that
// turns a REST request into a gRPC call upstream (grpc-gateway) rewrites
// the request's Content-Type, and its client still wants HTTP errors.
type grpcKind uint8

const (
	notGRPC grpcKind = iota
	// grpcNative is a gRPC call (application/grpc, +codec, ;params) over
	// HTTP/2 or later, what Kong answers in gRPC's terms.
	grpcNative
	// grpcOther is gRPC-Web (the grpc-web plugin's) or gRPC over HTTP/1.x,
	// which does not exist (a 426 names what to use instead): the HTTP
	// answer, with the status also in grpc-status and no body.
	grpcOther
)

func grpcKindOf(r *http.Request) grpcKind {
	ct := r.Header["Content-Type"]
	switch {
	case len(ct) == 0:
		return notGRPC
	case transcode.IsGRPCType(ct[0]):
		if r.ProtoMajor >= 2 {
			return grpcNative
		}
		return grpcOther
	case grpcWebType(ct[0]):
		return grpcOther
	}
	return notGRPC
}

// grpcWebType says ct is gRPC-Web's, binary or text.
func grpcWebType(ct string) bool {
	rest, ok := strings.CutPrefix(ct, "application/grpc-web")
	if !ok {
		return false
	}
	rest = strings.TrimPrefix(rest, "-text")
	return rest == "" || rest[0] == '+' || rest[0] == ';'
}

// grpcExit says e goes to a gRPC call as a gRPC status, Kong's rule: an
// answer with a message or without a body, or whose body has no
// Content-Type (the body is the message then). A body with a Content-Type
// goes out as it is, with its status.
func grpcExit(e *plugin.Exit, h http.Header) bool {
	return e.Body == nil || e.Message != "" || e.ContentType == "" && len(h["Content-Type"]) == 0
}

// writeGRPCExit writes e as gRPC's trailers-only response: HTTP 200, no
// body, the status in grpc-status and grpc-message. Kong keeps its HTTP
// status there, which grpc-go reads past when the Content-Type is gRPC's,
// but grpc-java and older grpc-go read a non-200 answer by its HTTP status
// and lose the message. A grpc-status the plugin or a header filter set is
// kept, as Kong keeps it. msg is a one-value slice for the message.
func writeGRPCExit(w http.ResponseWriter, e *plugin.Exit, msg []string) {
	h := w.Header()
	code, ok := h["Grpc-Status"]
	if !ok {
		code = grpcStatus(e.Status)
		h["Grpc-Status"] = code
	}
	if _, ok := h["Grpc-Message"]; !ok {
		switch {
		case e.Message != "":
			msg[0] = grpcMessage(e.Message)
			h["Grpc-Message"] = msg
		case len(e.Body) > 0:
			msg[0] = grpcMessage(string(e.Body))
			h["Grpc-Message"] = msg
		case len(code) == 1:
			if n, err := strconv.Atoi(code[0]); err == nil && n >= 0 && n < len(grpcNames) {
				h["Grpc-Message"] = grpcNames[n]
			}
		}
	}
	h["Content-Type"] = grpcContentType
	delete(h, "Content-Length")
	delete(h, "Transfer-Encoding")
	w.WriteHeader(http.StatusOK)
}

// grpcResponse says the response under way is the upstream's answer to a
// native gRPC call.
func grpcResponse(k grpcKind, hdr http.Header) bool {
	ct := hdr["Content-Type"]
	return k == grpcNative && len(ct) > 0 && transcode.IsGRPCType(ct[0])
}

var (
	grpcMsgBadGateway = []string{msgBadGateway}
	grpcMsgTimeout    = []string{msgTimeout}
)

// endGRPC ends a gRPC response the upstream broke off (err) with the
// status of the gateway's 502 or 504 in trailers, rather than the stream
// reset that cuts other responses, which a gRPC client can only call
// INTERNAL. A server stream cut between two messages then ends UNAVAILABLE
// or DEADLINE_EXCEEDED; a message cut short still shows as one, by its
// length prefix.
func endGRPC(hdr http.Header, err error) {
	code, msg := grpcCodes[http.StatusBadGateway], grpcMsgBadGateway
	if isTimeout(err) {
		code, msg = grpcCodes[http.StatusGatewayTimeout], grpcMsgTimeout
	}
	hdr[http.TrailerPrefix+"Grpc-Status"] = code
	hdr[http.TrailerPrefix+"Grpc-Message"] = msg
}

// grpcMessage percent-encodes what gRPC's grpc-message may not carry as
// is: bytes outside printable ASCII, and '%' itself.
func grpcMessage(s string) string {
	i := 0
	for i < len(s) && s[i] >= 0x20 && s[i] <= 0x7e && s[i] != '%' {
		i++
	}
	if i == len(s) {
		return s
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, i, len(s)+16)
	copy(b, s)
	for ; i < len(s); i++ {
		if c := s[i]; c >= 0x20 && c <= 0x7e && c != '%' {
			b = append(b, c)
		} else {
			b = append(b, '%', hex[c>>4], hex[c&15])
		}
	}
	return string(b)
}

// writeExit writes a gateway- or plugin-made response. The header filters
// have already run on c.Resp.Header (which is w.Header()). clen is the
// one-value slice Content-Length is given when there is a body (or, to a
// gRPC call, grpc-message). e.Status stays the request's status in the
// record and the log even where a gRPC call gets HTTP 200: Kong's log
// shows the status it decided (401, 429, 502), and so do dashboards.
func writeExit(w http.ResponseWriter, r *http.Request, kind grpcKind, e *plugin.Exit, requestID string, clen []string) int {
	h := w.Header()
	for k, vs := range e.Header {
		h[k] = vs
	}
	if kind == grpcNative && grpcExit(e, h) {
		writeGRPCExit(w, e, clen)
		return 0
	}
	var body []byte
	switch {
	case e.Body != nil:
		body = e.Body
		if e.ContentType != "" {
			h.Set("Content-Type", e.ContentType)
		} else if _, ok := h["Content-Type"]; !ok {
			// Kong sends a raw body without Content-Type (its proxy
			// default_type is empty); net/http would sniff one.
			h["Content-Type"] = nil
		}
	case e.Status == http.StatusNoContent || e.Status == http.StatusNotModified || e.Status < 200:
	case e.Message != "":
		m := mediaGRPC
		if kind == notGRPC {
			m = negotiate(r)
		}
		body = errorBody(m, e.Message, requestID)
		h.Set("Content-Type", contentTypes[m])
		if m == mediaGRPC {
			if _, ok := h["Grpc-Status"]; !ok {
				h["Grpc-Status"] = grpcStatus(e.Status)
			}
			h.Set("Grpc-Message", grpcMessage(e.Message))
		}
	}
	if body != nil {
		clen[0] = strconv.Itoa(len(body))
		h["Content-Length"] = clen
	}
	w.WriteHeader(e.Status)
	if len(body) > 0 && r.Method != http.MethodHead {
		n, _ := w.Write(body)
		return n
	}
	return 0
}
