// Package server owns the listeners: parsing Kong-style listen addresses,
// TLS with SNI-selected certificates from the snapshot in force, HTTP/2
// (ALPN, h2c opt-in), the edge timeouts and limits that net/http leaves
// off by default, connection accounting, and graceful shutdown.
package server
