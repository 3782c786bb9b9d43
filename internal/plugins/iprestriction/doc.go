// Package iprestriction is Kong's ip-restriction plugin: it refuses
// requests whose client address (the real-IP header's when the peer is a
// trusted proxy, else the peer's) is on the deny list or off the allow
// list. The lists are compiled at load into sorted, merged address ranges,
// so a request is answered by two binary searches without allocating.
package iprestriction
