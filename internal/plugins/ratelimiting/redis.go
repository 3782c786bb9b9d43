package ratelimiting

import (
	"crypto/tls"
	"net"
	"strconv"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugins/ratelimiting/engine"
)

// keyPrefix starts every Redis key of the plugin; the namespace follows,
// in the key.
const keyPrefix = "turnpike:ratelimit:"

// redisOptions turns the redis record into the store's options: one node
// (host, port), Redis Cluster seeds, or sentinels and their master.
func redisOptions(s *settings) engine.RedisOptions {
	r, t := &s.redisCfg, &s.redisCfg.topology
	o := engine.RedisOptions{KeyPrefix: keyPrefix}
	o.Username, o.Password, o.Database = r.username, r.password, r.database
	o.Timeout = time.Duration(r.timeout) * time.Millisecond
	switch {
	case len(t.ClusterNodes) > 0 || len(t.ClusterAddresses) > 0:
		o.Cluster = true
		for _, n := range t.ClusterNodes {
			o.Addrs = append(o.Addrs, net.JoinHostPort(n.IP, strconv.Itoa(n.Port)))
		}
		o.Addrs = append(o.Addrs, t.ClusterAddresses...)
	case len(t.SentinelNodes) > 0 || len(t.SentinelAddresses) > 0:
		o.MasterName = t.SentinelMaster
		o.SentinelUsername, o.SentinelPassword = t.SentinelUsername, t.SentinelPassword
		for _, n := range t.SentinelNodes {
			o.Addrs = append(o.Addrs, net.JoinHostPort(n.Host, strconv.Itoa(n.Port)))
		}
		o.Addrs = append(o.Addrs, t.SentinelAddresses...)
	default:
		o.Addrs = []string{net.JoinHostPort(r.host, strconv.Itoa(r.port))}
	}
	if r.ssl {
		// Kong's ssl_verify defaults to false; server_name is the SNI
		// (and the name verified), else the host when it is a name.
		name := r.serverName
		if name == "" && net.ParseIP(r.host) == nil {
			name = r.host
		}
		o.TLS = &tls.Config{ServerName: name, InsecureSkipVerify: !r.sslVerify, MinVersion: tls.VersionTLS12}
	}
	return o
}
