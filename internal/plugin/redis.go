package plugin

import (
	"crypto/tls"
	"math"
	"net"
	"strconv"
	"time"

	"github.com/turnpikegw/turnpike/internal/store"
)

// RedisConfig is Kong's redis record (kong/tools/redis/schema.lua) with
// Kong Enterprise's fields (connect, send and read timeouts, Cluster and
// Sentinel), as the plugins that keep their state in Redis take it.
// Kong's scalar fields are pointers, nil when not given: a plugin that
// also takes Kong's deprecated flat fields (redis_host...) must tell a
// field given from a default (Kong refuses the two only when both are
// given and differ). The defaults (port 6379, timeouts 2000 ms, database
// 0, ssl and ssl_verify false) apply where the record is read.
type RedisConfig struct {
	Host *string `yaml:"host,omitempty"`
	Port *int    `yaml:"port,omitempty"`
	// The timeouts are in milliseconds.
	Timeout        *int    `yaml:"timeout,omitempty"`
	ConnectTimeout *int    `yaml:"connect_timeout,omitempty"`
	SendTimeout    *int    `yaml:"send_timeout,omitempty"`
	ReadTimeout    *int    `yaml:"read_timeout,omitempty"`
	Username       *string `yaml:"username,omitempty"`
	Password       *string `yaml:"password,omitempty"`
	Database       *int    `yaml:"database,omitempty"`
	SSL            *bool   `yaml:"ssl,omitempty"`
	SSLVerify      *bool   `yaml:"ssl_verify,omitempty"`
	ServerName     *string `yaml:"server_name,omitempty"`

	// ClusterNodes (or the older ClusterAddresses, "host:port") are the
	// seed nodes of a Redis Cluster.
	ClusterNodes     []RedisClusterNode `yaml:"cluster_nodes,omitempty"`
	ClusterAddresses []string           `yaml:"cluster_addresses,omitempty"`
	// SentinelNodes (or SentinelAddresses, "host:port") are the sentinels
	// watching SentinelMaster.
	SentinelNodes     []RedisSentinelNode `yaml:"sentinel_nodes,omitempty"`
	SentinelAddresses []string            `yaml:"sentinel_addresses,omitempty"`
	SentinelMaster    string              `yaml:"sentinel_master,omitempty"`
	// SentinelRole must be master: the plugins using the record write.
	SentinelRole     string `yaml:"sentinel_role,omitempty"`
	SentinelUsername string `yaml:"sentinel_username,omitempty"`
	SentinelPassword string `yaml:"sentinel_password,omitempty"`
}

// RedisClusterNode is one Redis Cluster seed (Kong Enterprise names it ip).
type RedisClusterNode struct {
	IP   string `yaml:"ip"`
	Port int    `yaml:"port"`
}

// SetDefaults applies Kong Enterprise's defaults.
func (n *RedisClusterNode) SetDefaults() { n.IP, n.Port = "127.0.0.1", 6379 }

// RedisSentinelNode is one sentinel.
type RedisSentinelNode struct {
	Host string `yaml:"host"`
	Port int    `yaml:"port"`
}

// SetDefaults applies Kong Enterprise's defaults.
func (n *RedisSentinelNode) SetDefaults() { n.Host, n.Port = "127.0.0.1", 26379 }

// Kong's defaults of the redis record.
const (
	redisDefaultPort    = 6379
	redisDefaultTimeout = 2000
)

func valueOr[T any](v *T, def T) T {
	if v == nil {
		return def
	}
	return *v
}

// Cluster tells whether the record names Redis Cluster seeds.
func (r *RedisConfig) Cluster() bool { return len(r.ClusterNodes) > 0 || len(r.ClusterAddresses) > 0 }

// Sentinel tells whether the record names sentinels.
func (r *RedisConfig) Sentinel() bool {
	return len(r.SentinelNodes) > 0 || len(r.SentinelAddresses) > 0
}

// Configured tells whether the record names a server: a host, cluster
// seeds or sentinels.
func (r *RedisConfig) Configured() bool {
	return valueOr(r.Host, "") != "" || r.Cluster() || r.Sentinel()
}

// Validate checks the record: a host, or cluster seeds, or sentinels with
// their master, never two of them, and with required (the plugin uses
// Redis) one of them. written names what the plugin writes ("counters"),
// in the reason only a master will do. Paths are relative to the record
// ("" for the record itself).
func (r *RedisConfig) Validate(written string, required bool) Errors {
	var errs Errors
	add := func(path, msg string) { errs = append(errs, Problem{Path: path, Message: msg}) }
	cluster, sentinel, host := r.Cluster(), r.Sentinel(), valueOr(r.Host, "")
	switch {
	case cluster && sentinel:
		add("", "cluster_nodes/cluster_addresses and sentinel_nodes/sentinel_addresses are mutually exclusive")
	case required && !cluster && !sentinel && host == "":
		add("host", "required field missing")
	}
	if host != "" && (cluster || sentinel) {
		add("host", "must not be set with cluster or sentinel nodes")
	}
	if sentinel && r.SentinelMaster == "" {
		add("sentinel_master", "required field missing")
	}
	if !sentinel && r.SentinelMaster != "" {
		add("sentinel_master", "only used with sentinel_nodes or sentinel_addresses")
	}
	if r.SentinelRole != "" && r.SentinelRole != "master" {
		add("sentinel_role", "expected one of: master ("+written+" are written, so only the master can hold them)")
	}
	database := valueOr(r.Database, 0)
	if cluster && database != 0 {
		add("database", "Redis Cluster has only database 0")
	}
	checkPort := func(path string, p, least int) {
		if p < least || p > 65535 {
			add(path, "value should be between "+strconv.Itoa(least)+" and 65535")
		}
	}
	// The single port keeps Kong's rule (0-65535). A node's port is
	// dialled as given and port 0 cannot be dialled, so nodes need
	// 1-65535, as cluster_addresses and sentinel_addresses do.
	checkPort("port", valueOr(r.Port, redisDefaultPort), 0)
	for i, n := range r.ClusterNodes {
		at := "cluster_nodes[" + strconv.Itoa(i) + "]"
		if n.IP == "" {
			add(at+".ip", "required field missing")
		}
		checkPort(at+".port", n.Port, 1)
	}
	for i, n := range r.SentinelNodes {
		at := "sentinel_nodes[" + strconv.Itoa(i) + "]"
		if n.Host == "" {
			add(at+".host", "required field missing")
		}
		checkPort(at+".port", n.Port, 1)
	}
	for i, a := range r.ClusterAddresses {
		if !validAddress(a) {
			add("cluster_addresses["+strconv.Itoa(i)+"]", "invalid address '"+a+"': expected host:port")
		}
	}
	for i, a := range r.SentinelAddresses {
		if !validAddress(a) {
			add("sentinel_addresses["+strconv.Itoa(i)+"]", "invalid address '"+a+"': expected host:port")
		}
	}
	for _, t := range []struct {
		path string
		ms   *int
	}{{"timeout", r.Timeout}, {"connect_timeout", r.ConnectTimeout}, {"send_timeout", r.SendTimeout}, {"read_timeout", r.ReadTimeout}} {
		if ms := valueOr(t.ms, redisDefaultTimeout); ms < 0 || ms > math.MaxInt32-1 {
			add(t.path, "value should be between 0 and 2147483646")
		}
	}
	if database < 0 {
		add("database", "value must be greater than or equal to 0")
	}
	return errs
}

func validAddress(a string) bool {
	host, port, err := net.SplitHostPort(a)
	if err != nil || host == "" {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n > 0 && n <= 65535
}

// Options turns a validated record into the store's options: one node
// (host, port), Redis Cluster seeds, or sentinels and their master.
func (r *RedisConfig) Options() store.RedisOptions {
	o := store.RedisOptions{
		Username: valueOr(r.Username, ""), Password: valueOr(r.Password, ""), Database: valueOr(r.Database, 0),
		Timeout: time.Duration(r.timeoutMs()) * time.Millisecond,
	}
	host := valueOr(r.Host, "")
	switch {
	case r.Cluster():
		o.Cluster = true
		for _, n := range r.ClusterNodes {
			o.Addrs = append(o.Addrs, net.JoinHostPort(n.IP, strconv.Itoa(n.Port)))
		}
		o.Addrs = append(o.Addrs, r.ClusterAddresses...)
	case r.Sentinel():
		o.MasterName = r.SentinelMaster
		o.SentinelUsername, o.SentinelPassword = r.SentinelUsername, r.SentinelPassword
		for _, n := range r.SentinelNodes {
			o.Addrs = append(o.Addrs, net.JoinHostPort(n.Host, strconv.Itoa(n.Port)))
		}
		o.Addrs = append(o.Addrs, r.SentinelAddresses...)
	default:
		o.Addrs = []string{net.JoinHostPort(host, strconv.Itoa(valueOr(r.Port, redisDefaultPort)))}
	}
	if valueOr(r.SSL, false) {
		// Kong's ssl_verify defaults to false; server_name is the SNI
		// (and the name verified), else the host when it is a name.
		name := valueOr(r.ServerName, "")
		if name == "" && net.ParseIP(host) == nil {
			name = host
		}
		o.TLS = &tls.Config{ServerName: name, InsecureSkipVerify: !valueOr(r.SSLVerify, false), MinVersion: tls.VersionTLS12}
	}
	return o
}

// timeoutMs is the one bound the store puts on a call. Kong Enterprise's
// connect, send and read timeouts supersede the older timeout, so the
// longest of them applies unless timeout was moved off its default.
func (r *RedisConfig) timeoutMs() int {
	if t := valueOr(r.Timeout, redisDefaultTimeout); t != redisDefaultTimeout {
		return t
	}
	return max(valueOr(r.ConnectTimeout, redisDefaultTimeout), valueOr(r.SendTimeout, redisDefaultTimeout),
		valueOr(r.ReadTimeout, redisDefaultTimeout))
}

// redisRecord is RedisConfig without its methods, to marshal.
type redisRecord RedisConfig

// MarshalYAML renders the record with the defaults of Kong's record
// filled in, as Kong shows a plugin's config (the admin API lists plugins
// this way). The Enterprise timeouts show only when given.
func (r RedisConfig) MarshalYAML() (any, error) {
	shown := redisRecord(r)
	shown.Port = orDefault(shown.Port, redisDefaultPort)
	shown.Timeout = orDefault(shown.Timeout, redisDefaultTimeout)
	shown.Database = orDefault(shown.Database, 0)
	shown.SSL = orDefault(shown.SSL, false)
	shown.SSLVerify = orDefault(shown.SSLVerify, false)
	return shown, nil
}

func orDefault[T any](v *T, def T) *T {
	if v == nil {
		return &def
	}
	return v
}
