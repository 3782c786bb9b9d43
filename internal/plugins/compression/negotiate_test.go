package compression

import "testing"

func TestNegotiate(t *testing.T) {
	all := []coding{zstdCoding, brCoding, gzipCoding}
	brFirst := []coding{brCoding, zstdCoding, gzipCoding}
	gzipOnly := []coding{gzipCoding}
	for _, tc := range []struct {
		ae    []string
		prefs []coding
		want  coding
	}{
		{nil, all, noCoding},
		{[]string{""}, all, noCoding},
		// Browsers: every coding at q=1, the preference order decides.
		{[]string{"gzip, deflate, br, zstd"}, all, zstdCoding},
		{[]string{"gzip, deflate, br, zstd"}, brFirst, brCoding},
		{[]string{"gzip, deflate, br"}, all, brCoding},
		{[]string{"gzip, deflate, br, zstd"}, gzipOnly, gzipCoding},
		{[]string{"deflate"}, all, noCoding},
		{[]string{"identity"}, all, noCoding},
		// q-values win over the preference order.
		{[]string{"zstd;q=0.5, gzip;q=0.8, br;q=0.7"}, all, gzipCoding},
		{[]string{"zstd;q=0.5", "gzip;q=0.8"}, all, gzipCoding},
		{[]string{"gzip;q=1.0, br;q=0.999"}, all, gzipCoding},
		{[]string{"GZIP ; Q=0.5"}, all, gzipCoding},
		{[]string{"x-gzip"}, all, gzipCoding},
		// q=0 refuses.
		{[]string{"gzip;q=0"}, all, noCoding},
		{[]string{"gzip;q=0.000, br"}, all, brCoding},
		// "*" covers what is not named; named entries win over it.
		{[]string{"*"}, all, zstdCoding},
		{[]string{"*;q=0.5, zstd;q=0"}, all, brCoding},
		{[]string{"*;q=0"}, all, noCoding},
		{[]string{"gzip;q=0.3, *;q=0.2"}, all, gzipCoding},
		{[]string{"*, gzip;q=0.9"}, gzipOnly, gzipCoding},
		// Malformed q-values count as 0: no coding the client may not read.
		{[]string{"gzip;q=2"}, all, noCoding},
		{[]string{"gzip;q=1.5"}, all, noCoding},
		{[]string{"gzip;q=abc"}, all, noCoding},
		{[]string{"gzip;q=0.1234"}, all, noCoding},
		{[]string{"gzip;q="}, all, noCoding},
		{[]string{"gzip;level=1"}, all, gzipCoding},
		{[]string{",,, ;;; , gzip"}, all, gzipCoding},
		{[]string{"gzip;q=0.5, gzip;q=0.9"}, all, gzipCoding},
	} {
		if got := negotiate(tc.ae, tc.prefs); got != tc.want {
			t.Errorf("negotiate(%q, %v) = %v, want %v", tc.ae, tc.prefs, got, tc.want)
		}
	}
}

func TestNegotiateAllocatesNothing(t *testing.T) {
	ae := []string{"gzip, deflate, br;q=0.9, zstd;q=0.8, *;q=0.1"}
	prefs := []coding{zstdCoding, brCoding, gzipCoding}
	if n := testing.AllocsPerRun(100, func() { negotiate(ae, prefs) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}
