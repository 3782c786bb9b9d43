package configstore

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseRedisURL(t *testing.T) {
	o, err := ParseRedisURL("redis://u:p%40ss@10.0.0.1/3?timeout=500ms&prefix=edge")
	if err != nil {
		t.Fatal(err)
	}
	c := o.Conn
	if !slices.Equal(c.Addrs, []string{"10.0.0.1:6379"}) || c.Username != "u" || c.Password != "p@ss" || c.Database != 3 ||
		c.Timeout != 500*time.Millisecond || o.Prefix != "edge" || c.TLS != nil {
		t.Fatalf("%+v", o)
	}
	o, err = ParseRedisURL("rediss://seed1:7000?addr=seed2:7001&addr=[::1]")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.Conn.Addrs, []string{"seed1:7000", "seed2:7001", "[::1]:6379"}) || o.Conn.TLS == nil || o.Conn.TLS.ServerName != "seed1" {
		t.Fatalf("%+v", o.Conn)
	}
	o, err = ParseRedisURL("redis://s1:26379?master_name=mymaster&sentinel_password=x&cluster=false")
	if err != nil || o.Conn.MasterName != "mymaster" || o.Conn.SentinelPassword != "x" || o.Conn.Cluster {
		t.Fatalf("%+v, %v", o.Conn, err)
	}
	if o, err = ParseRedisURL("redis://c1:7000?cluster=true"); err != nil || !o.Conn.Cluster {
		t.Fatalf("%+v, %v", o.Conn, err)
	}
	if _, err := ParseRedisURL("redis://u:hunter2@h:port"); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("a bad URL's error: %v", err)
	}
	for _, bad := range []string{
		"http://host", "redis://", "redis://h/x", "redis://h?tls=1", "redis://h?timeout=-1s",
		"redis://h?cluster=maybe", "redis://h?prefix={x}", "redis://h?prefix=",
	} {
		if _, err := ParseRedisURL(bad); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}
