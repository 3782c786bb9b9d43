package plugin

import "context"

// Node reads facts of the gateway node as a whole, for plugins that
// report on it (prometheus). Every method reads the current value; they
// are meant for scrape time, not for the request path.
type Node interface {
	// ID is the node's id (the admin API's node_id).
	ID() string
	// Version is the gateway's version.
	Version() string
	// Connections counts the proxy listeners' client connections and
	// requests.
	Connections() Connections
	// Targets reports the health of every upstream's targets, address by
	// address, in configuration order.
	Targets() []TargetHealth
	// DatastoreReachable reports whether the shared state the gateway
	// depends on answers within ctx: true when it holds none (DB-less),
	// else whether every shared Redis answers.
	DatastoreReachable(ctx context.Context) bool
}

// Connections are the NGINX stub_status counts as Turnpike keeps them:
// Active = Reading + Writing + Waiting.
type Connections struct {
	Accepted uint64 // connections accepted since start
	Handled  uint64 // connections handled since start (= Accepted: none is refused for lack of resources)
	Active   uint64 // connections open now
	Reading  uint64 // reading a request head (not seen apart from Writing: 0)
	Writing  uint64 // with a request in progress
	Waiting  uint64 // idle, or not yet sent a request
	Requests uint64 // requests since start
}

// TargetHealth is the health of one address of an upstream's target.
type TargetHealth struct {
	Upstream string
	// Target is the target as configured (host:port).
	Target string
	// Address is the resolved ip:port ("" when the name has none).
	Address string
	// State is one of the Target* states below.
	State string
}

// The states of TargetHealth.State (Kong's, lower case).
const (
	TargetHealthy         = "healthy"
	TargetUnhealthy       = "unhealthy"
	TargetHealthchecksOff = "healthchecks_off"
	TargetDNSError        = "dns_error"
)
