// Package requestmirror is Turnpike's request-mirror plugin (Kong has
// none): a copy of each request, or a sample of them, goes to a shadow
// upstream from a goroutine of its own. The client never waits for the
// copy nor sees its answer; copies in flight are bounded (over the bound
// they are dropped and counted), bodies are mirrored up to a size, and
// every copy has a timeout of its own.
package requestmirror
