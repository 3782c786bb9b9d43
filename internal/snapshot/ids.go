package snapshot

import (
	"crypto/sha1"
	"encoding/hex"

	"github.com/turnpikegw/turnpike/internal/config"
)

// ConsumerID is the id of a consumer: its configured id, or a stable id
// derived from its username or custom_id (Kong generates ids for
// declarative entities the same deterministic way, so they survive reloads).
func ConsumerID(co *config.Consumer) string {
	key := co.Username
	if key == "" {
		key = "custom_id:" + co.CustomID
	}
	return EntityID("consumers", co.ID, key)
}

// ServiceID is a service's id: its configured one, or a name-based UUID
// of its name and place in the file.
func ServiceID(se *config.ServiceEntry) string {
	return EntityID("services", se.Service.ID, se.Service.Name+"|"+se.Path)
}

// RouteID is a route's id, as ServiceID.
func RouteID(re *config.RouteEntry) string {
	return EntityID("routes", re.Route.ID, re.Route.Name+"|"+re.Path)
}

// PluginID is a plugin's id: its configured one, or a name-based UUID of
// its name and scope (a plugin name appears once per scope, so the id
// survives edits elsewhere in the file and is the same on every node
// running the file).
func PluginID(pe *config.PluginEntry) string {
	var svc, route, consumer string
	if pe.Service != nil {
		svc = ServiceID(pe.Service)
	}
	if pe.Route != nil {
		route = RouteID(pe.Route)
	}
	if pe.Consumer != nil {
		consumer = ConsumerID(pe.Consumer.Consumer)
	}
	return EntityID("plugins", pe.Plugin.ID, pe.Plugin.Name+"|"+svc+"|"+route+"|"+consumer)
}

// EntityID returns id, or a name-based UUID (version 5 layout) of kind and
// key when id is empty.
func EntityID(kind, id, key string) string {
	if id != "" {
		return id
	}
	sum := sha1.Sum([]byte("turnpike:" + kind + ":" + key))
	sum[6] = sum[6]&0x0f | 0x50
	sum[8] = sum[8]&0x3f | 0x80
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
