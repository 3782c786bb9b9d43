// Package logs holds Kong's log plugins: file-log, http-log, tcp-log,
// udp-log and syslog. Each writes Kong's log object (AppendEntry, built
// from the log phase's Ctx and record, credentials redacted) and hands
// it to a bounded queue (package queue) whose one goroutine writes or
// sends it, so that a slow or dead destination never holds a request.
// Instances with the same destination and queue settings share one
// queue, also across reloads (plugin.Env.Store's Shared registry).
package logs
