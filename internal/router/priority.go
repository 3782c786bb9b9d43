package router

import (
	"strings"

	"github.com/turnpikegw/turnpike/internal/ident"
)

// Priority holds the components of Kong's traditional_compatible route
// priority (kong/router/transform.lua get_priority) for one (route, path)
// entry, most significant first.
type Priority struct {
	// Weight counts the non-empty criteria among methods, hosts, headers,
	// snis and paths.
	Weight int
	// PlainHostOnly is set when the route has hosts and none is a wildcard.
	PlainHostOnly bool
	// HeaderCount is the number of distinct header names, capped at 255.
	HeaderCount int
	// Regex is set when the entry's path is a regex.
	Regex bool
	// RegexPriority is the route's regex_priority; zero for non-regex entries
	// because Kong only counts it for regex paths.
	RegexPriority int
	// PathLength is the length of the prefix path; zero for regex entries
	// and entries without a path.
	PathLength int
}

// maxHeaderCount and maxPathLength are the widths of Kong's bit fields.
const (
	maxHeaderCount = 255
	maxPathLength  = 1<<19 - 1
)

// Compare returns a negative number when p ranks below q, zero when they
// tie (the higher id then wins) and a positive number when p ranks
// above q. Kong packs the components into one integer and the highest wins;
// comparing field by field gives the same order without Kong's overflow of a
// negative regex_priority into the neighbouring bits.
func (p Priority) Compare(q Priority) int {
	switch {
	case p.Weight != q.Weight:
		return p.Weight - q.Weight
	case p.PlainHostOnly != q.PlainHostOnly:
		return boolCmp(p.PlainHostOnly)
	case p.HeaderCount != q.HeaderCount:
		return p.HeaderCount - q.HeaderCount
	case p.Regex != q.Regex:
		return boolCmp(p.Regex)
	case p.RegexPriority != q.RegexPriority:
		if p.RegexPriority < q.RegexPriority {
			return -1
		}
		return 1
	default:
		return p.PathLength - q.PathLength
	}
}

// Less reports whether p ranks below q.
func (p Priority) Less(q Priority) bool { return p.Compare(q) < 0 }

// Reason names the most significant component in which p and q differ, for
// explaining why one entry beat another: "more criteria", "plain host",
// "header count", "regex", "regex_priority", "longer prefix", or
// "route id" when they tie.
func (p Priority) Reason(q Priority) string {
	switch {
	case p.Weight != q.Weight:
		return "more criteria"
	case p.PlainHostOnly != q.PlainHostOnly:
		return "plain host"
	case p.HeaderCount != q.HeaderCount:
		return "header count"
	case p.Regex != q.Regex:
		return "regex"
	case p.RegexPriority != q.RegexPriority:
		return "regex_priority"
	case p.PathLength != q.PathLength:
		return "longer prefix"
	default:
		return "route id"
	}
}

func boolCmp(set bool) int {
	if set {
		return 1
	}
	return -1
}

// splitNS is the namespace of the ids Kong gives the parts of a split route
// (kong/router/transform.lua).
var splitNS = ident.MustParse("7f145bf9-0dce-4f91-98eb-debbce4b9f6b")

// pathGroups numbers each path's group from 1, in order of first
// appearance, or is nil when there is one group. Kong's router splits a
// route whose paths differ in priority into one matcher per group, all
// regexes in one and the prefixes of each length in another, and gives
// each the id of its route id and number; that id, not the route's, then
// breaks ties.
func pathGroups(paths []string) []int {
	if len(paths) < 2 {
		return nil
	}
	out := make([]int, len(paths))
	seen := map[int]int{}
	for j, p := range paths {
		key := 0 // regex
		if !strings.HasPrefix(p, "~") {
			key = len(p)
		}
		n, ok := seen[key]
		if !ok {
			n = len(seen) + 1
			seen[key] = n
		}
		out[j] = n
	}
	if len(seen) == 1 {
		return nil
	}
	return out
}
