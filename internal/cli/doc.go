// Package cli is the turnpike command line: run, demo, validate and
// version. It wires the gateway's parts together (snapshot, server, proxy,
// admin) and holds no request logic of its own.
package cli
