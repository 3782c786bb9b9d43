// Package proxy is the forwarding loop: it takes the snapshot in force,
// matches the route, runs the plugin chain, sends the request upstream over
// pooled connections (its own HTTP/1.1 exchange, HTTP/2 for gRPC services,
// WebSocket tunnels), streams the response back through the header and body
// filters, and renders every gateway-made error in one place, Kong's way.
package proxy
