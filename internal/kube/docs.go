package kube

import (
	"strings"

	"github.com/turnpikegw/turnpike/internal/importer"
)

// docCache keeps each object's document (and the names it mentions) while
// its resourceVersion stays the same, so that a reconcile marshals only
// the objects that changed. Only the controller's loop uses it.
type docCache struct {
	entries map[string]*cachedDoc
	pass    uint64
}

type cachedDoc struct {
	version string
	doc     importer.Document
	refs    []string
	pass    uint64 // the last snapshot that used it
}

func newDocCache() *docCache { return &docCache{entries: map[string]*cachedDoc{}} }

// get is the document of the object kind/uid at version, if cached.
// Objects without a uid or version (not from an API server) are not.
func (c *docCache) get(kind, uid, version string) (*cachedDoc, bool) {
	if c == nil || uid == "" || version == "" {
		return nil, false
	}
	e, ok := c.entries[kind+" "+uid]
	if !ok || e.version != version {
		return nil, false
	}
	e.pass = c.pass
	return e, true
}

func (c *docCache) put(kind, uid, version string, e *cachedDoc) {
	if c == nil || uid == "" || version == "" {
		return
	}
	e.version, e.pass = version, c.pass
	c.entries[kind+" "+uid] = e
}

// begin starts a snapshot; end forgets the objects it did not see
// (deleted ones).
func (c *docCache) begin() {
	if c != nil {
		c.pass++
	}
}

func (c *docCache) end() {
	if c == nil {
		return
	}
	for k, e := range c.entries {
		if e.pass != c.pass {
			delete(c.entries, k)
		}
	}
}

// maxNameLen is the longest Kubernetes object name (a DNS subdomain): no
// longer word can name a Secret.
const maxNameLen = 253

// mentions are the words of every string in a document's fields (values,
// not keys), split on "," and "/" as annotations list and qualify names
// ("konghq.com/plugins: a,b", "auth-secret: ns/name"): every name that
// could be a Secret's the object refers to, and more.
func mentions(v any) []string {
	seen := map[string]bool{}
	var walk func(any)
	words := func(s string) {
		for w := range strings.FieldsFuncSeq(s, func(r rune) bool { return r == ',' || r == '/' || r == ' ' }) {
			if len(w) <= maxNameLen {
				seen[w] = true
			}
		}
	}
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			words(x)
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		case map[string]string:
			for _, e := range x {
				words(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	out := make([]string, 0, len(seen))
	for w := range seen {
		out = append(out, w)
	}
	return out
}
