// Package observe is what the gateway tells operators: the structured JSON
// access log, the first observer of the request record (internal/record),
// and the core metrics registry that plugins register their series into.
// Nothing here may block a request: output goes through bounded queues
// with counted drops.
package observe
