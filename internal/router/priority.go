package router

import (
	"math/bits"
	"strings"

	"github.com/turnpikegw/turnpike/internal/ident"
)

// Priority holds the components of Kong's traditional_compatible route
// priority (kong/router/transform.lua get_priority) for one (route, path)
// entry; KongKey packs them as Kong does.
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

// Kong packs a route's priority into one integer (get_priority in
// kong/router/transform.lua) and its router tries the highest first. Its
// shifts go through lshift_uint64, which is meant to shift in 64 bits but
// rebinds its argument instead of converting it, so for a Lua number
// LuaJIT's 32-bit bit.lshift runs, with the shift count taken mod 32: the
// criteria count lands in bits 29-31 rather than 61-63, the header count
// in bits 20-27 rather than 52-59, overlapping regex_priority (bits 19-31).
// Only the plain-host and regex flags, built from 64-bit constants, are
// where the comments say (bits 60 and 51). A number that comes out
// negative (four or more criteria, a negative or large regex_priority)
// becomes 1<<63 when LuaJIT's interpreter converts it to a uint64 (for bor
// with a 64-bit operand, or for the router's priority argument); compiled
// code sign-extends instead, which only reorders routes within that top
// band. Kong 3.x routes by the integer this produces, so Turnpike computes
// the same one: KongKey.
const (
	plainHostBit = uint64(1) << 60
	regexBit     = uint64(1) << 51
	topBit       = uint64(1) << 63
)

// parts are the 32-bit words get_priority ORs together, as LuaJIT computes
// them: criteria count, header count, regex_priority, prefix length.
func (p Priority) parts() [4]int32 {
	hc := p.HeaderCount
	if hc > maxHeaderCount {
		hc = maxHeaderCount
	}
	var rp int32
	if p.Regex {
		rp = int32(uint32(int32(p.RegexPriority)) << 19)
	}
	return [4]int32{int32(uint32(p.Weight) << 29), int32(uint32(hc) << 20), rp, int32(p.PathLength & maxPathLength)}
}

// to64 is LuaJIT's conversion of a Lua number to uint64: a negative one
// saturates to 1<<63.
func to64(n int32) uint64 {
	if n < 0 {
		return topBit
	}
	return uint64(n)
}

// KongKey is the priority Kong 3.x's traditional_compatible router gives
// the entry; the higher wins.
func (p Priority) KongKey() uint64 {
	w := p.parts()
	if !p.PlainHostOnly && !p.Regex {
		// Every operand of bor is a Lua number: a 32-bit result.
		return to64(w[0] | w[1] | w[2] | w[3])
	}
	k := to64(w[0]) | to64(w[1]) | to64(w[2]) | to64(w[3])
	if p.PlainHostOnly {
		k |= plainHostBit
	}
	if p.Regex {
		k |= regexBit
	}
	return k
}

// Compare returns a negative number when p ranks below q, zero when they
// tie (the higher id then wins) and a positive number when p ranks above q,
// by Kong's priority integer.
func (p Priority) Compare(q Priority) int {
	a, b := p.KongKey(), q.KongKey()
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Less reports whether p ranks below q.
func (p Priority) Less(q Priority) bool { return p.Compare(q) < 0 }

// Reason names the component that decided between p and q, for explaining
// why one entry beat another: the one that sets the highest bit in which
// their priority integers differ ("more criteria", "plain host", "header
// count", "regex", "regex_priority", "longer prefix"), or "route id" when
// they tie.
func (p Priority) Reason(q Priority) string {
	a, b := p.KongKey(), q.KongKey()
	if a == b {
		return "route id"
	}
	bit := uint64(1) << (63 - bits.LeadingZeros64(a^b))
	pp, qp := p.parts(), q.parts()
	names := [4]string{"more criteria", "header count", "regex_priority", "longer prefix"}
	for i, name := range names {
		if (contribution(p, pp[i])^contribution(q, qp[i]))&bit != 0 {
			return name
		}
	}
	switch {
	case bit == plainHostBit && p.PlainHostOnly != q.PlainHostOnly:
		return "plain host"
	case bit == regexBit && p.Regex != q.Regex:
		return "regex"
	}
	// A bit set by one entry's saturated word and by the other's flag.
	switch {
	case p.Weight != q.Weight:
		return "more criteria"
	case p.PlainHostOnly != q.PlainHostOnly:
		return "plain host"
	case p.Regex != q.Regex:
		return "regex"
	case p.HeaderCount != q.HeaderCount:
		return "header count"
	case p.RegexPriority != q.RegexPriority:
		return "regex_priority"
	}
	return "longer prefix"
}

// contribution is what one 32-bit word adds to the entry's priority
// integer.
func contribution(p Priority, w int32) uint64 {
	if !p.PlainHostOnly && !p.Regex {
		return uint64(uint32(w))
	}
	return to64(w)
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
