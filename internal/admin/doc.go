// Package admin is the admin API, served on its own listener (loopback by
// default) and never through the proxy. This first part has the health
// endpoints load balancers and Kubernetes probe: GET /status and
// GET /status/ready.
package admin
