package configstore

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ParseRedisURL reads --config-store's Redis form into the options of
// NewRedis (all but MaxSize and Poll):
//
//	redis://[user:password@]host[:port][/db][?options]   plain
//	rediss://...                                         TLS, verified against the system's roots
//
// with the options
//
//	addr=host:port        another seed (repeat it); several addresses are a Redis Cluster
//	cluster=true          a Redis Cluster even with one seed
//	master_name=NAME      the addresses are sentinels watching master NAME
//	sentinel_username=U, sentinel_password=P   the sentinels' own credentials
//	timeout=2s            bounds every call, connecting included
//	prefix=NAME           the keys' hash tag (default turnpike)
func ParseRedisURL(s string) (RedisOptions, error) {
	var o RedisOptions
	u, err := url.Parse(s)
	if err != nil {
		// Not url.Error's text: it quotes the URL, password included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return o, fmt.Errorf("not a URL: %v", err)
	}
	switch u.Scheme {
	case "redis":
	case "rediss":
		o.Conn.TLS = &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
	default:
		return o, fmt.Errorf("%q: the scheme must be redis or rediss", u.Scheme)
	}
	if u.Host == "" {
		return o, errors.New("no host")
	}
	o.Conn.Addrs = []string{withPort(u.Host)}
	if u.User != nil {
		o.Conn.Username = u.User.Username()
		o.Conn.Password, _ = u.User.Password()
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 {
			return o, fmt.Errorf("database %q: must be a number", db)
		}
		o.Conn.Database = n
	}
	for k, vs := range u.Query() {
		v := vs[len(vs)-1]
		switch k {
		case "addr":
			for _, a := range vs {
				o.Conn.Addrs = append(o.Conn.Addrs, withPort(a))
			}
		case "cluster":
			if o.Conn.Cluster, err = strconv.ParseBool(v); err != nil {
				return o, fmt.Errorf("cluster=%q: %v", v, err)
			}
		case "master_name":
			o.Conn.MasterName = v
		case "sentinel_username":
			o.Conn.SentinelUsername = v
		case "sentinel_password":
			o.Conn.SentinelPassword = v
		case "timeout":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return o, fmt.Errorf("timeout=%q: must be a positive duration such as 2s", v)
			}
			o.Conn.Timeout = d
		case "prefix":
			if v == "" || strings.ContainsAny(v, "{}") {
				return o, fmt.Errorf("prefix=%q: must be non-empty, without braces", v)
			}
			o.Prefix = v
		default:
			return o, fmt.Errorf("unknown option %q", k)
		}
	}
	return o, nil
}

// withPort adds Redis's port to an address without one.
func withPort(a string) string {
	if _, _, err := net.SplitHostPort(a); err == nil {
		return a
	}
	return net.JoinHostPort(strings.Trim(a, "[]"), "6379")
}
