package ldapauth

import "testing"

// BenchmarkAccessCached is the access phase of a request whose
// credentials were verified before (the steady state): parse, HMAC, one
// map lookup, the identity headers.
func BenchmarkAccessCached(b *testing.B) {
	in := newInstance(b, slapd(b), nil)
	c := request("Authorization", ldapHeader("einstein:password"))
	if err := in.Access(c); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := in.Access(c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAccessRefused is a request refused without asking the
// directory (no credentials): Kong's 401.
func BenchmarkAccessRefused(b *testing.B) {
	in := newInstance(b, slapd(b), nil)
	c := request()
	b.ReportAllocs()
	for b.Loop() {
		if err := in.Access(c); err == nil {
			b.Fatal("authenticated")
		}
	}
}
