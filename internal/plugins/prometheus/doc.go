// Package prometheus is Kong's prometheus plugin: in the log phase it
// counts each routed request into Kong's series (kong_http_requests_total,
// the kong, upstream and request latency histograms, kong_bandwidth_bytes),
// with Kong's names, labels and buckets, so that dashboards built for Kong
// (Grafana 7424) work unchanged. The node-wide series (connections,
// requests, target health, datastore, node info) are read from
// plugin.Env.Node when /metrics is scraped, never per request.
//
// Every instance, of one configuration and across reloads, records into
// one shared exporter, registered once in the gateway's registry. The
// exporter shows its series only while at least one instance is in
// force, as Kong shows them only while the plugin is enabled: a reload
// that removes the last instance hides them, one that adds it back shows
// them again with their counts.
//
// Label values come from the configuration (service, route and consumer
// names or ids) and from the status code, never from what a client sends
// beyond that: requests matching no route are not counted (as in Kong).
// The label children of each (service, route, consumer) are cached in a
// bounded copy-on-write map, so the request path takes no lock and
// formats nothing.
package prometheus
