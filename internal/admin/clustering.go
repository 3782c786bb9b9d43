package admin

import (
	"context"
	"net/http"
	"time"

	"github.com/turnpikegw/turnpike/internal/configstore"
)

// Cluster is a node's view of the cluster it shares a config store with.
type Cluster interface {
	// Self is this node's own record, as it knows it now.
	Self() configstore.Node
	// Nodes lists the live nodes' records as the store holds them.
	Nodes(ctx context.Context) ([]configstore.Node, error)
	// Stored describes the version in the store: who stored it, and when.
	Stored(ctx context.Context) (configstore.Meta, error)
}

// clusterTimeout bounds the store's answer to GET /clustering/status.
const clusterTimeout = 3 * time.Second

// clusteringStatus is Kong's GET /clustering/status: an object keyed by
// node id, each with config_hash, hostname and last_seen (Unix seconds),
// plus Turnpike's config_version, health and the version that failed.
// This node's entry is its own view (marked this_node), with the store's
// version, who stored it and when (stored), or why the store could not
// be read (store_error); without a store it is the only one. Both go in
// this node's entry, not beside the nodes: Kong's answer is keyed by node
// id alone.
func (a *api) clusteringStatus(w http.ResponseWriter, r *http.Request) {
	out := map[string]any{}
	var self configstore.Node
	var storeErr error
	var stored *configstore.Meta
	if c := a.src.Cluster; c != nil {
		ctx, cancel := context.WithTimeout(r.Context(), clusterTimeout)
		defer cancel()
		var nodes []configstore.Node
		nodes, storeErr = c.Nodes(ctx)
		for _, n := range nodes {
			out[n.ID] = nodeEntry(n)
		}
		if storeErr == nil {
			var m configstore.Meta
			if m, storeErr = c.Stored(ctx); storeErr == nil {
				stored = &m
			}
		}
		self = c.Self()
	} else {
		self = configstore.Node{ID: a.src.NodeID, Hostname: a.hostname, Binary: a.src.Version,
			Health: configstore.HealthOK, LastSeen: time.Now()}
		if snap := a.snapshot(); snap != nil {
			self.ConfigHash = snap.Hash
		}
	}
	e := nodeEntry(self)
	e["this_node"] = true
	if storeErr != nil {
		e["store_error"] = storeErr.Error()
	}
	if stored != nil {
		e["stored"] = stored
	}
	out[self.ID] = e
	writeJSON(w, http.StatusOK, out)
}

func nodeEntry(n configstore.Node) map[string]any {
	e := map[string]any{
		"config_hash":    n.ConfigHash,
		"hostname":       n.Hostname,
		"last_seen":      n.LastSeen.Unix(),
		"version":        n.Binary,
		"config_version": n.ConfigVersion,
		"health":         n.Health,
	}
	if n.FailedVersion != 0 {
		e["failed_version"] = n.FailedVersion
		e["failed_error"] = n.FailedError
	}
	return e
}

// clusterStatus is this node's part of GET /status; the status listener's
// leaves out the error, which may quote the configuration.
func (a *api) clusterStatus() map[string]any {
	e := nodeEntry(a.src.Cluster.Self())
	if a.public {
		delete(e, "failed_error")
	}
	return e
}
