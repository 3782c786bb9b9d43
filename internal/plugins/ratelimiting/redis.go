package ratelimiting

import (
	"crypto/tls"
	"net"
	"strconv"
	"time"

	"github.com/turnpikegw/turnpike/internal/ratelimit"
)

// keyPrefix starts every Redis key of the plugin; the namespace follows,
// in the key.
const keyPrefix = "turnpike:ratelimit:"

// redisOptions turns the redis record into the store's options: one node
// (host, port), Redis Cluster seeds, or sentinels and their master.
func redisOptions(s *settings) ratelimit.RedisOptions {
	r := &s.redisCfg
	o := ratelimit.RedisOptions{
		Username:  r.Username,
		Password:  r.Password,
		Database:  r.Database,
		Timeout:   time.Duration(r.Timeout) * time.Millisecond,
		KeyPrefix: keyPrefix,
	}
	switch {
	case len(r.ClusterNodes) > 0 || len(r.ClusterAddresses) > 0:
		o.Cluster = true
		for _, n := range r.ClusterNodes {
			o.Addrs = append(o.Addrs, net.JoinHostPort(n.IP, strconv.Itoa(n.Port)))
		}
		o.Addrs = append(o.Addrs, r.ClusterAddresses...)
	case len(r.SentinelNodes) > 0 || len(r.SentinelAddresses) > 0:
		o.MasterName = r.SentinelMaster
		o.SentinelUsername, o.SentinelPassword = r.SentinelUsername, r.SentinelPassword
		for _, n := range r.SentinelNodes {
			o.Addrs = append(o.Addrs, net.JoinHostPort(n.Host, strconv.Itoa(n.Port)))
		}
		o.Addrs = append(o.Addrs, r.SentinelAddresses...)
	default:
		o.Addrs = []string{net.JoinHostPort(r.Host, strconv.Itoa(r.Port))}
	}
	if r.SSL {
		// Kong's ssl_verify defaults to false; server_name is the SNI
		// (and the name verified), else the host when it is a name.
		name := r.ServerName
		if name == "" && net.ParseIP(r.Host) == nil {
			name = r.Host
		}
		o.TLS = &tls.Config{ServerName: name, InsecureSkipVerify: !r.SSLVerify, MinVersion: tls.VersionTLS12}
	}
	return o
}
