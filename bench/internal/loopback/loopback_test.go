package loopback

import "testing"

func TestHostPort(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:80": true, "localhost:1": true, "[::1]:8080": true, "127.9.9.9:1": true,
		"10.0.0.1:80": false, "example.com:80": false, "127.0.0.1": false, "": false,
	} {
		if got := HostPort(addr); got != want {
			t.Errorf("HostPort(%q) = %v, want %v", addr, got, want)
		}
	}
}
