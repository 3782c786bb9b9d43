package importer

import "testing"

// TestStableIDUnchanged pins a derived id: configs imported earlier name
// their ca_certificates by these ids, so the derivation must not change.
func TestStableIDUnchanged(t *testing.T) {
	if got, want := stableID("ca_certificate:x"), "1d53163a-bd4b-5660-bdcf-35833191d32c"; got != want {
		t.Errorf("stableID = %s, want %s", got, want)
	}
}
