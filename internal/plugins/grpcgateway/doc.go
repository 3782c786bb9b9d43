// Package grpcgateway is Kong's grpc-gateway plugin, also registered under
// the patterns guide's name grpc-transcode: REST/JSON requests are sent to
// a gRPC upstream as the method a google.api.http rule maps them to, and
// its answers come back as JSON. The descriptors come from the configured
// .proto file, or, without one, from the upstream's server reflection.
// The rules and the JSON<->protobuf work are internal/transcode's; this
// package is the request lifecycle around them.
package grpcgateway
