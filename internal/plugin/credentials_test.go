package plugin

import (
	"strings"
	"testing"
)

func kindRegistration(name string, kinds ...CredentialKind) Registration {
	return Registration{
		Name: name, NewConfig: func() any { return &struct{}{} },
		New:         func(any, Env) (Instance, error) { return struct{}{}, nil },
		Credentials: kinds,
	}
}

func kind(name string) CredentialKind {
	return CredentialKind{
		Name: name, New: func() any { return &struct{}{} },
		Key:   func(any) string { return "" },
		Check: func(any, CredentialCheck) bool { return true },
	}
}

func TestRegistryCredentialKinds(t *testing.T) {
	r, err := NewRegistry([]Registration{kindRegistration("b", kind("b_creds"), kind("b_more")), kindRegistration("a", kind("a_creds"))})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, k := range r.CredentialKinds() {
		names = append(names, k.Name)
	}
	if got := strings.Join(names, ","); got != "b_creds,b_more,a_creds" {
		t.Errorf("kinds %s, want registration order", got)
	}
	if (*Registry)(nil).CredentialKinds() != nil {
		t.Error("a nil registry declares kinds")
	}
}

func TestRegistryCredentialKindErrors(t *testing.T) {
	incomplete := kind("x")
	incomplete.Check = nil
	for _, tt := range []struct {
		regs []Registration
		want string
	}{
		{[]Registration{kindRegistration("a", kind("x")), kindRegistration("b", kind("x"))}, `credential kind "x" declared twice`},
		{[]Registration{kindRegistration("a", kind("y"), incomplete)}, `plugin "a": credential kind 1 is incomplete`},
	} {
		if _, err := NewRegistry(tt.regs); err == nil || err.Error() != tt.want {
			t.Errorf("err = %v, want %s", err, tt.want)
		}
	}
}
