package router

import (
	"regexp/syntax"
	"strings"
)

// node is a radix tree node keyed by the literal start of entry paths.
// Walking a request path down the tree visits exactly the nodes whose key is
// a prefix of the path, and so every entry that can match it.
type node struct {
	prefix string // edge label from the parent
	// entries are ranks (indexes into Router.entries) of the entries whose
	// key ends at this node, ascending because they are inserted in rank
	// order; a scan can stop at the first rank that cannot beat the best.
	entries  []int32
	labels   []byte // first byte of each child's prefix, sorted
	children []*node
}

func (n *node) child(c byte) *node {
	if len(n.labels) <= 8 {
		for i, l := range n.labels {
			if l == c {
				return n.children[i]
			}
		}
		return nil
	}
	lo, hi := 0, len(n.labels)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if n.labels[m] < c {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(n.labels) && n.labels[lo] == c {
		return n.children[lo]
	}
	return nil
}

func (n *node) insert(key string, rank int32) {
	for key != "" {
		c := n.child(key[0])
		if c == nil {
			n.addChild(&node{prefix: key, entries: []int32{rank}})
			return
		}
		l := commonPrefixLen(key, c.prefix)
		if l < len(c.prefix) {
			tail := &node{prefix: c.prefix[l:], entries: c.entries, labels: c.labels, children: c.children}
			c.prefix = c.prefix[:l]
			c.entries = nil
			c.labels = []byte{tail.prefix[0]}
			c.children = []*node{tail}
		}
		key = key[l:]
		n = c
	}
	n.entries = append(n.entries, rank)
}

func (n *node) addChild(c *node) {
	b := c.prefix[0]
	i := 0
	for i < len(n.labels) && n.labels[i] < b {
		i++
	}
	n.labels = append(n.labels, 0)
	copy(n.labels[i+1:], n.labels[i:])
	n.labels[i] = b
	n.children = append(n.children, nil)
	copy(n.children[i+1:], n.children[i:])
	n.children[i] = c
}

func commonPrefixLen(a, b string) int {
	n := min(len(a), len(b))
	i := 0
	for i < n && a[i] == b[i] {
		i++
	}
	return i
}

// literalPrefix returns the literal text every match of expr must begin
// with, so that a regex entry can sit in the radix tree next to the prefix
// entries and is only tried for paths that start with it.
func literalPrefix(expr string) string {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return ""
	}
	var b strings.Builder
	appendLiteral(&b, re)
	return b.String()
}

// appendLiteral writes the literal start of re and reports whether re was
// entirely literal, in which case what follows it may extend the prefix.
func appendLiteral(b *strings.Builder, re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return false
		}
		for _, r := range re.Rune {
			b.WriteRune(r)
		}
		return true
	case syntax.OpCapture:
		return appendLiteral(b, re.Sub[0])
	case syntax.OpConcat:
		for _, s := range re.Sub {
			if !appendLiteral(b, s) {
				return false
			}
		}
		return true
	case syntax.OpEmptyMatch, syntax.OpBeginText:
		return true
	}
	return false
}
