// Package gwtest is the test harness for end-to-end tests: it builds the
// turnpike binary once, starts it as a real process on free loopback ports
// with a config written from YAML, reads its access log, and stops it.
// Upstreams are real servers on loopback started by the tests themselves.
package gwtest
