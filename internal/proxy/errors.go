package proxy

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/jsonw"
	"github.com/turnpikegw/turnpike/internal/plugin"
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
	if ct := r.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/grpc") {
		return mediaGRPC
	}
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

// grpcStatus maps an HTTP status of a gateway error to a gRPC status code.
func grpcStatus(status int) string {
	switch status {
	case 400:
		return "3"
	case 401:
		return "16"
	case 403:
		return "7"
	case 404:
		return "12"
	case 429:
		return "8"
	case 502, 503:
		return "14"
	case 504:
		return "4"
	}
	return "2"
}

// writeExit writes a gateway- or plugin-made response. The header filters
// have already run on c.Resp.Header (which is w.Header()). clen is the
// one-value slice Content-Length is given when there is a body.
func writeExit(w http.ResponseWriter, r *http.Request, e *plugin.Exit, requestID string, clen []string) int {
	h := w.Header()
	for k, vs := range e.Header {
		h[k] = vs
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
		m := negotiate(r)
		body = errorBody(m, e.Message, requestID)
		h.Set("Content-Type", contentTypes[m])
		if m == mediaGRPC {
			h.Set("Grpc-Status", grpcStatus(e.Status))
			h.Set("Grpc-Message", e.Message)
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
