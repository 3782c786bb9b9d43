// Package importer is the core every `turnpike import` format shares:
// reading the inputs (files, directories, standard input, several YAML
// documents per file, all bounded), a typed builder of a Kong 3.0
// declarative configuration that it writes as sorted, stable YAML, and
// the warnings that name what could not be mapped.
//
// Formats live in subpackages (openapi; ingress and istio in later work on
// issue 18) and only fill a Config. Nothing on the gateway's request path
// imports this package: internal/cli does, and the Kubernetes controller
// mode will, to turn cluster objects into the same Config.
package importer
