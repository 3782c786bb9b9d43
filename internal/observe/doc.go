// Package observe is what the gateway tells operators: the structured JSON
// access log now, metrics and traces in their own issues. Nothing here may
// block a request: output goes through bounded queues with counted drops.
package observe
