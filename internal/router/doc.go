// Package router selects the route for a request the way Kong's default
// traditional_compatible router flavor does, and normalises request paths
// the way Kong does before matching.
//
// Kong compiles each (route, path) pair into an ATC route with a 64-bit
// priority and takes the highest-priority route whose criteria all match.
// This package keeps Kong's ordering but replaces the linear ATC scan with an
// index: every entry is ranked once at New, by priority and then by id (the
// route's, or the one Kong gives a group of its paths) as Kong's router
// orders its matchers, and a radix tree over
// the literal start of each path (the prefix itself, or the literal text a
// regex must begin with) yields the only entries that can match a request
// path. Routes whose hosts are all exact names get their own tree per host,
// so a host lookup narrows the search before any path is walked. The best
// match is the lowest-ranked candidate that passes its remaining checks,
// which keeps Match allocation-free for prefix routes.
package router
