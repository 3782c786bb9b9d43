package snapshot

import (
	"encoding/json"
	"time"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
)

// kongWorkspaceID is the id of the workspace every entity of a Kong DB-less
// node belongs to (Kong's DECLARATIVE_DEFAULT_WORKSPACE_ID), which Kong's
// router hands plugins with each route and service as ws_id.
const kongWorkspaceID = "0dc6f45b-8f8d-40d2-a504-473544ee190b"

// ServiceBody is a service with Kong's field names and defaults, unset
// fields as nil, as the admin API shows it. created stands in for the
// timestamps the file does not give.
func ServiceBody(se *config.ServiceEntry, created int64) map[string]any {
	s := se.Service
	var caCerts any
	if len(s.CACertificates) > 0 {
		caCerts = s.CACertificates
	}
	var tlsDepth any
	if s.TLSVerifyDepth != nil {
		tlsDepth = *s.TLSVerifyDepth
	}
	var tlsVerify any
	if s.TLSVerify != nil {
		tlsVerify = *s.TLSVerify
	}
	var cert any
	if r := s.ClientCert; r != nil && r.Key() != "" {
		cert = map[string]any{"id": r.Key()}
	}
	return map[string]any{
		"id": se.ID, "name": OrNull(s.Name), "protocol": s.Protocol, "host": s.Host, "port": s.Port,
		"path": OrNull(s.Path), "retries": s.Retries, "connect_timeout": s.ConnectTimeout,
		"write_timeout": s.WriteTimeout, "read_timeout": s.ReadTimeout, "enabled": s.Enabled,
		"client_certificate": cert, "tls_verify": tlsVerify, "tls_verify_depth": tlsDepth,
		"ca_certificates": caCerts, "tags": ListOrNull(s.Tags),
		"created_at": stamp(s.CreatedAt, created), "updated_at": stamp(s.UpdatedAt, created),
	}
}

// RouteBody is a route as ServiceBody renders a service; its service is
// `{id: ...}`.
func RouteBody(re *config.RouteEntry, created int64) map[string]any {
	r := re.Route
	var svc any
	if re.Service != nil {
		svc = map[string]any{"id": re.Service.ID}
	}
	var headers any
	if len(r.Headers) > 0 {
		headers = r.Headers
	}
	return map[string]any{
		"id": re.ID, "name": OrNull(r.Name), "protocols": r.Protocols, "methods": ListOrNull(r.Methods),
		"hosts": ListOrNull(r.Hosts), "paths": ListOrNull(r.Paths), "headers": headers, "snis": ListOrNull(r.SNIs),
		"sources": endpointsOrNil(r.Sources), "destinations": endpointsOrNil(r.Destinations),
		"https_redirect_status_code": r.HTTPSRedirectStatusCode, "strip_path": r.StripPathValue(),
		"preserve_host": r.PreserveHost, "request_buffering": r.RequestBuffering,
		"response_buffering": r.ResponseBuffering, "regex_priority": r.RegexPriority,
		"path_handling": r.PathHandling, "service": svc, "tags": ListOrNull(r.Tags),
		"created_at": stamp(r.CreatedAt, created), "updated_at": stamp(r.UpdatedAt, created),
	}
}

// routeEntity and serviceEntity render an entity as Kong's router hands it
// to plugins: read without nulls, so unset fields are left out, and with
// its workspace. Rendered on first use: only request-termination's echo
// reads them.
func (c *compiler) routeEntity(re *config.RouteEntry) *plugin.Rendered {
	created := c.snap.created
	return plugin.NewRendered(func() []byte { return kongJSON(RouteBody(re, created)) })
}

func (c *compiler) serviceEntity(se *config.ServiceEntry) *plugin.Rendered {
	created := c.snap.created
	return plugin.NewRendered(func() []byte { return kongJSON(ServiceBody(se, created)) })
}

// Created is when the snapshot's entities were created (Unix seconds),
// for those the file gives no timestamps.
func (s *Snapshot) Created() int64 { return s.created }

// createdAt is a snapshot's Created: the time of the load, kept by a
// recompile of the same model (a DNS change).
func createdAt(m *config.Model, prev *Snapshot) int64 {
	if prev != nil && prev.Model == m && prev.created != 0 {
		return prev.created
	}
	return time.Now().Unix()
}

func kongJSON(body map[string]any) []byte {
	body = withoutNulls(body)
	body["ws_id"] = kongWorkspaceID
	// Strings, numbers, booleans, lists and maps of them: no error.
	b, _ := json.Marshal(body)
	return b
}

// withoutNulls drops the nil fields of m and of the records in it.
func withoutNulls(m map[string]any) map[string]any {
	for k, v := range m {
		switch v := v.(type) {
		case nil:
			delete(m, k)
		case []map[string]any:
			for _, e := range v {
				withoutNulls(e)
			}
		}
	}
	return m
}

// OrNull renders an empty optional string as JSON null, Kong's rendering
// of an unset field.
func OrNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// ListOrNull renders an empty list as null, as Kong does for unset arrays.
func ListOrNull(s []string) any {
	if len(s) == 0 {
		return nil
	}
	return s
}

func endpointsOrNil(eps []config.Endpoint) any {
	if len(eps) == 0 {
		return nil
	}
	out := make([]map[string]any, len(eps))
	for i, ep := range eps {
		out[i] = map[string]any{"ip": OrNull(ep.IP)}
		if ep.Port != 0 {
			out[i]["port"] = ep.Port
		}
	}
	return out
}

func stamp(v, created int64) int64 {
	if v != 0 {
		return v
	}
	return created
}
