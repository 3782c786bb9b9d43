// Package grpcweb is Kong's grpc-web plugin: it lets browsers call a gRPC
// service over HTTP/1.1. The access phase turns a gRPC-Web request
// (binary, base64 text, or JSON with a configured .proto) into a gRPC
// request; the body filter turns the gRPC response back into gRPC-Web,
// with the upstream's trailers as the last frame of the body, where a
// browser can read them. Preflights and CORS headers are answered as
// Kong does.
package grpcweb
