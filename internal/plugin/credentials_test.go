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
		Name: name, Label: name, Endpoint: name + "s", ConsumerEndpoint: name,
		New:   func() any { return &struct{}{} },
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
	with := func(name string, set func(*CredentialKind)) CredentialKind {
		k := kind(name)
		set(&k)
		return k
	}
	for _, tt := range []struct {
		regs []Registration
		want string
	}{
		{[]Registration{kindRegistration("a", kind("x")), kindRegistration("b", kind("x"))}, `credential kind "x" declared twice`},
		{[]Registration{kindRegistration("a", kind("y"), incomplete)}, `plugin "a": credential kind 1 is incomplete`},
		{[]Registration{kindRegistration("a", with("x", func(k *CredentialKind) { k.Label = "" }))},
			`plugin "a": credential kind "x": Label is empty`},
		{[]Registration{kindRegistration("a", with("x", func(k *CredentialKind) { k.Endpoint = "" }))},
			`plugin "a": credential kind "x": Endpoint "" is not a plain path segment (letters, digits, - and _)`},
		{[]Registration{kindRegistration("a", with("x", func(k *CredentialKind) { k.Endpoint = "x/{id}" }))},
			`plugin "a": credential kind "x": Endpoint "x/{id}" is not a plain path segment (letters, digits, - and _)`},
		{[]Registration{kindRegistration("a", with("x", func(k *CredentialKind) { k.ConsumerEndpoint = "{c}" }))},
			`plugin "a": credential kind "x": ConsumerEndpoint "{c}" is not a plain path segment (letters, digits, - and _)`},
		{[]Registration{kindRegistration("a", kind("x")), kindRegistration("b", with("y", func(k *CredentialKind) { k.Endpoint = "xs" }))},
			`plugin "b": credential kind "y": Endpoint "xs" is credential kind "x"'s too`},
		{[]Registration{kindRegistration("a", kind("x"), with("y", func(k *CredentialKind) { k.ConsumerEndpoint = "x" }))},
			`plugin "a": credential kind "y": ConsumerEndpoint "x" is credential kind "x"'s too`},
	} {
		if _, err := NewRegistry(tt.regs); err == nil || err.Error() != tt.want {
			t.Errorf("err = %v, want %s", err, tt.want)
		}
	}
}
