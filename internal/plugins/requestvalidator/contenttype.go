package requestvalidator

import (
	"maps"
	"mime"
	"strings"
)

// mediaType is a parsed Content-Type: type and subtype lower-cased (either
// may be "*"), parameter names lower-cased, charset's value too (RFC 9110
// makes those case-insensitive), other values as given.
type mediaType struct {
	// raw is the entry as configured: a request sending exactly it is
	// allowed without parsing its header.
	raw      string
	typ, sub string
	params   map[string]string
}

func parseMediaType(s string) (mediaType, bool) {
	full, params, err := mime.ParseMediaType(s)
	if err != nil {
		return mediaType{}, false
	}
	typ, sub, ok := strings.Cut(full, "/")
	if !ok {
		return mediaType{}, false
	}
	if cs, ok := params["charset"]; ok {
		params["charset"] = strings.ToLower(cs)
	}
	return mediaType{raw: s, typ: typ, sub: sub, params: params}, true
}

// allowedContentType reports whether the request's Content-Type is one of
// the allowed ones. With content_type_parameter_validation its parameters
// must be exactly the allowed entry's, as Kong's docs say.
func (in *instance) allowedContentType(header string) bool {
	for _, want := range in.contentTypes {
		if header == want.raw && want.typ != "*" && want.sub != "*" {
			return true
		}
	}
	got, ok := parseMediaType(header)
	if !ok {
		return false
	}
	for _, want := range in.contentTypes {
		if (want.typ != "*" && want.typ != got.typ) || (want.sub != "*" && want.sub != got.sub) {
			continue
		}
		if !in.ctParams || maps.Equal(want.params, got.params) {
			return true
		}
	}
	return false
}
