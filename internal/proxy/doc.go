// Package proxy is the request lifecycle: it takes the snapshot in force,
// matches the route, runs the plugin phases (each plugin run timed), sends
// the request upstream through one retry loop over a transport interface
// (its own HTTP/1.1 exchange on pooled connections, HTTP/2 for gRPC
// services, WebSocket tunnels), with one attempt value reporting each try
// to the balancer, the passive health checks and the request's record,
// streams the response back through the header and body filters, renders
// every gateway-made error in one place, Kong's way, and hands the record
// to the registered observers.
package proxy
