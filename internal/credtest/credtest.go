// Package credtest loads configurations the way the gateway does, with a
// plugin's credential kinds declared, for the plugins' tests of their
// declarations (decoding, checks, ids, the directory). Plugins may import
// it from their tests only: it names config and snapshot, which a plugin's
// code may not (internal/archtest).
package credtest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

// Load parses src (after `_format_version: "3.0"`) with reg's credential
// kinds declared and, when it is valid, indexes it at now over prev (nil:
// a first load).
func Load(t testing.TB, reg plugin.Registration, src string, now time.Time, prev *snapshot.Directory) (*config.Model, *snapshot.Directory, error) {
	t.Helper()
	r, err := plugin.NewRegistry([]plugin.Registration{reg})
	if err != nil {
		t.Fatal(err)
	}
	m, err := config.Parse([]byte("_format_version: \"3.0\"\n"+src+"\n"), config.Options{Credentials: snapshot.CredentialKinds(r)})
	if err != nil {
		return nil, nil, err
	}
	return m, snapshot.NewDirectory(m, now, prev, r.CredentialKinds()), nil
}

// CheckErrors fails t unless err is nil and want empty, or err is a
// config.Errors equal to want (lines and a duplicate's first place not
// compared).
func CheckErrors(t testing.TB, want config.Errors, err error) {
	t.Helper()
	var got config.Errors
	if err != nil {
		var ok bool
		if got, ok = err.(config.Errors); !ok {
			t.Fatalf("error is %T, want config.Errors: %v", err, err)
		}
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(config.FieldError{}, "Line", "First", "Note"), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}
