// Package store holds the state plugins share beyond one request and one
// instance: Redis clients handed out by connection settings (so the
// instances of one configuration, and those of the next after a reload,
// share connections and a circuit breaker), and Memory, a sharded
// in-process map whose entries expire when idle. It knows no plugin: the
// rate-limit engine keeps its counters in it today, the response cache
// and OAuth2 tokens will tomorrow. Plugins reach it through plugin.Env.
package store
