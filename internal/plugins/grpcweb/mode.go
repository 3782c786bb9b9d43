package grpcweb

import "strings"

// mode is what a gRPC-Web request's Content-Type asks for.
type mode struct {
	// contentType is the answer's Content-Type, the request's own type.
	contentType []string
	// text is base64 in both directions; json carries JSON messages
	// transcoded with the plugin's proto; framed is false for plain
	// application/json (one message, no frames, no trailer).
	text, json, framed bool
}

var modes = [...]struct {
	name string
	m    mode
}{
	{"application/grpc-web", mode{contentType: []string{"application/grpc-web"}, framed: true}},
	{"application/grpc-web+proto", mode{contentType: []string{"application/grpc-web+proto"}, framed: true}},
	{"application/grpc-web-text", mode{contentType: []string{"application/grpc-web-text"}, text: true, framed: true}},
	{"application/grpc-web-text+proto", mode{contentType: []string{"application/grpc-web-text+proto"}, text: true, framed: true}},
	{"application/grpc-web+json", mode{contentType: []string{"application/grpc-web+json"}, json: true, framed: true}},
	{"application/grpc-web-text+json", mode{contentType: []string{"application/grpc-web-text+json"}, text: true, json: true, framed: true}},
	{"application/json", mode{contentType: []string{"application/json"}, json: true}},
}

// mediaType is ct without parameters and surrounding blanks.
func mediaType(ct string) string {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.TrimSpace(ct)
}

// modeOf returns the mode of a request's Content-Type, nil when it names
// none. The values are shared: callers must not change them.
func modeOf(ct string) *mode {
	mt := mediaType(ct)
	for i := range modes {
		if strings.EqualFold(mt, modes[i].name) {
			return &modes[i].m
		}
	}
	return nil
}
