package router

import "testing"

func TestValidHost(t *testing.T) {
	tests := []struct {
		name string
		host string
		ok   bool
	}{
		{name: "absent", host: "", ok: true},
		{name: "name", host: "admin.example.com", ok: true},
		{name: "upper case", host: "ADMIN.Example.COM", ok: true},
		{name: "name and port", host: "admin.example.com:8080", ok: true},
		{name: "root dot", host: "admin.example.com.", ok: true},
		{name: "root dot and port", host: "admin.example.com.:443", ok: true},
		{name: "underscore and dash", host: "my_svc-1", ok: true},
		{name: "port 0", host: "a:0", ok: true},
		{name: "port 65535", host: "a:65535", ok: true},
		{name: "ipv4", host: "127.0.0.1:8000", ok: true},
		{name: "ipv6", host: "[::1]", ok: true},
		{name: "ipv6 and port", host: "[2001:db8::1]:443", ok: true},
		{name: "ipv4-mapped ipv6", host: "[::ffff:10.0.0.1]", ok: true},
		{name: "two ports", host: "admin.example.com:80:80"},
		{name: "two ports upper", host: "ADMIN.example.com:1:2"},
		{name: "trailing colon after port", host: "admin.example.com:8080:"},
		{name: "empty port", host: "admin.example.com:"},
		{name: "port too big", host: "a:65536"},
		{name: "port too long", host: "a:000080"},
		{name: "port leading zero", host: "admin.example.com:08000"},
		{name: "port leading zeros", host: "a:0080"},
		{name: "port 00", host: "a:00"},
		{name: "ipv6 port leading zero", host: "[::1]:0443"},
		{name: "ipv4 port leading zero", host: "127.0.0.1:08000"},
		{name: "negative port", host: "a:-1"},
		{name: "letter in port", host: "a:8o"},
		{name: "no name", host: ":80"},
		{name: "empty label", host: "admin..example.com"},
		{name: "leading dot", host: ".admin.example.com"},
		{name: "only a dot", host: "."},
		{name: "percent escape", host: "admin.example.com%2e"},
		{name: "comma", host: "admin.example.com,evil.example.com"},
		{name: "semicolon", host: "admin.example.com;x"},
		{name: "userinfo", host: "user@admin.example.com"},
		{name: "slash", host: "admin.example.com/x"},
		{name: "space", host: "admin example.com"},
		{name: "control byte", host: "admin\x00.example.com"},
		{name: "non-ascii", host: "ädmin.example.com"},
		{name: "unterminated ipv6", host: "[::1"},
		{name: "ipv6 two ports", host: "[::1]:80:80"},
		{name: "junk after ipv6", host: "[::1]x"},
		{name: "name in brackets", host: "[admin.example.com]"},
		{name: "ipv4 in brackets", host: "[127.0.0.1]"},
		{name: "ipvfuture", host: "[v1.x]"},
		{name: "ipv6 zone", host: "[fe80::1%25eth0]"},
		{name: "bare ipv6", host: "::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidHost(tt.host); got != tt.ok {
				t.Errorf("ValidHost(%q) = %v, want %v", tt.host, got, tt.ok)
			}
		})
	}
}

func TestValidHostDoesNotAllocate(t *testing.T) {
	for _, h := range []string{"admin.example.com:8080", "[2001:db8::1]:443", "admin.example.com:80:80"} {
		if n := testing.AllocsPerRun(100, func() { ValidHost(h) }); n != 0 {
			t.Errorf("ValidHost(%q): %v allocations", h, n)
		}
	}
}
