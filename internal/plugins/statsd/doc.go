// Package statsd is Kong's statsd plugin: in the log phase it turns each
// request into Kong's StatsD lines (`kong.service.<name>.request.count:1|c`,
// `...latency:<ms>|ms`, `...status.<code>:1|c`, per-consumer and per-route
// counts, or Kong's four tag styles) and queues them as one entry on the
// SDK's bounded queue (internal/plugin/queue, with Kong's `queue`
// settings); the queue's goroutine sends them over UDP, one datagram a
// line or joined up to udp_packet_size bytes, or over TCP.
//
// Differences from Kong: shdict_usage sends nothing (Turnpike has no
// NGINX shared dictionaries); workspace_id and workspace_name are both
// `default` (one workspace); the deprecated retry_count, queue_size and
// flush_timeout are accepted and ignored, as in Kong 3.x.
package statsd
