package importer

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// Object names a Kubernetes object an entity comes from.
type Object struct {
	APIVersion, Kind, Namespace, Name, UID string
}

// Tags are the tags Kong's Kubernetes ingress controller puts on every
// entity an object makes (k8s-name, k8s-namespace, k8s-kind, k8s-uid,
// k8s-group, k8s-version, each only when the object has it), so that
// `GET /routes?tags=k8s-name:NAME` finds what an object made; then
// extra (the user's konghq.com/tags).
func (o Object) Tags(extra ...string) []string {
	group, version, ok := strings.Cut(o.APIVersion, "/")
	if !ok {
		group, version = "", o.APIVersion // the core group: "v1"
	}
	var tags []string
	add := func(prefix, v string) {
		if v != "" && ValidTag(prefix+v) {
			tags = append(tags, prefix+v)
		}
	}
	add("k8s-name:", o.Name)
	add("k8s-namespace:", o.Namespace)
	add("k8s-kind:", o.Kind)
	add("k8s-uid:", o.UID)
	add("k8s-group:", group)
	add("k8s-version:", version)
	for _, t := range extra {
		if !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	return tags
}

// ValidTag reports whether the Admin API's tag filter can name t (ASCII
// letters, digits, `.-_~:`, and non-ASCII UTF-8): a tag it cannot is no
// use for finding an entity.
func ValidTag(t string) bool {
	if t == "" || !utf8.ValidString(t) {
		return false
	}
	for _, c := range t {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '-', c == '_', c == '~', c == ':':
		case c >= 0x80:
		default:
			return false
		}
	}
	return true
}

// UserTags splits a konghq.com/tags value (comma-separated): the tags,
// and the ones ValidTag refuses, for a warning.
func UserTags(v string) (tags, bad []string) {
	for t := range strings.SplitSeq(v, ",") {
		t = strings.TrimSpace(t)
		switch {
		case t == "":
		case !ValidTag(t):
			bad = append(bad, t)
		case !slices.Contains(tags, t):
			tags = append(tags, t)
		}
	}
	return tags, bad
}
