package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCredentialErrors checks every credential rule's path and message.
// Each src follows `_format_version: "3.0"`.
func TestCredentialErrors(t *testing.T) {
	const uuid1 = "0b7c9d2e-3f4a-4b5c-8d6e-7f8091a2b3c4"
	tests := []struct {
		name string
		src  string
		want Errors
	}{
		// Consumer references.
		{"nested and top-level accepted", "consumers: [{username: alice, id: " + uuid1 + ", keyauth_credentials: [{key: k1}]}]\nkeyauth_credentials: [{key: k2, consumer: alice}, {key: k3, consumer: " + uuid1 + "}, {key: k4, consumer: {username: alice}}, {key: k5, consumer: {id: " + uuid1 + "}}]", nil},
		{"top-level consumer missing", "keyauth_credentials: [{key: k}]", Errors{
			{Path: "keyauth_credentials[0].consumer", Message: "required field missing"},
		}},
		{"dangling consumer", "consumers: [{username: alice}]\nkeyauth_credentials: [{key: k, consumer: bob}]", Errors{
			{Path: "keyauth_credentials[0].consumer", Message: "consumer 'bob' not found"},
		}},
		{"empty consumer ref", "consumers: [{username: alice}]\nkeyauth_credentials: [{key: k, consumer: {}}]", Errors{
			{Path: "keyauth_credentials[0].consumer", Message: "must set 'id' or 'username'"},
		}},
		{"consumer ref of the wrong type", "consumers: [{username: alice}]\nkeyauth_credentials: [{key: k, consumer: 5}]", Errors{
			{Path: "keyauth_credentials[0].consumer", Message: "expected a string or a map"},
		}},
		{"another consumer set on a nested credential", "consumers: [{username: alice, keyauth_credentials: [{key: k, consumer: bob}, {key: k2, consumer: {id: 0fe87b4a-ce29-515a-88ec-8547e66550b9}}]}, {username: bob}]", Errors{
			{Path: "consumers[0].keyauth_credentials[0].consumer", Message: "value must be null: it may only name the consumer it is nested in"},
			{Path: "consumers[0].keyauth_credentials[1].consumer", Message: "value must be null: it may only name the consumer it is nested in"},
		}},
		{"unknown credential field", "consumers: [{username: alice, keyauth_credentials: [{key: k, name: x}]}]", Errors{
			{Path: "consumers[0].keyauth_credentials[0].name", Message: "unknown field"},
		}},
		{"bad ids", "consumers: [{username: a, keyauth_credentials: [{id: x, key: k}]}]", Errors{
			{Path: "consumers[0].keyauth_credentials[0].id", Message: "expected a valid UUID"},
		}},
		{"duplicate ids", "consumers: [{username: a, keyauth_credentials: [{id: " + uuid1 + ", key: k1}, {id: " + uuid1 + ", key: k2}]}]", Errors{
			{Path: "consumers[0].keyauth_credentials[1].id", Message: "duplicate id '" + uuid1 + "' (first defined at consumers[0].keyauth_credentials[0])"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "_format_version: \"3.0\"\n" + tt.src + "\n"
			_, err := Parse([]byte(src), withKeyAuth)
			if diff := cmp.Diff(tt.want, asErrors(t, err), ignoreLine); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCredentialModel checks what a valid config puts in the model: every
// field, resolved consumers and order (nested first).
func TestCredentialModel(t *testing.T) {
	src := `_format_version: "3.0"
consumers:
  - username: alice
    custom_id: A1
    keyauth_credentials:
      - {id: 11111111-1111-4111-8111-111111111111, key: alice-key, ttl: 60, tags: [t1]}
  - id: 22222222-2222-4222-8222-222222222222
    custom_id: B1
keyauth_credentials:
  - {key: bob-key, consumer: 22222222-2222-4222-8222-222222222222}
`
	m, err := Parse([]byte(src), withKeyAuth)
	if err != nil {
		t.Fatal(err)
	}
	alice, bob := m.Consumers[0], m.Consumers[1]

	type kv struct {
		Path, Key string
		TTL       int
		Consumer  *ConsumerEntry
		Tags      []string
	}
	var gotKA []kv
	for _, e := range m.Credentials {
		f := e.Fields.(*keyAuthFields)
		gotKA = append(gotKA, kv{e.Path, f.Key, f.TTL, e.Consumer, e.Tags})
	}
	wantKA := []kv{
		{"consumers[0].keyauth_credentials[0]", "alice-key", 60, alice, []string{"t1"}},
		{"keyauth_credentials[0]", "bob-key", 0, bob, nil},
	}
	if diff := cmp.Diff(wantKA, gotKA, cmp.Comparer(func(a, b *ConsumerEntry) bool { return a == b })); diff != "" {
		t.Errorf("key-auth (-want +got):\n%s", diff)
	}
	if id := m.Credentials[0].ID; id != "11111111-1111-4111-8111-111111111111" {
		t.Errorf("key-auth id = %q", id)
	}

	if !strings.Contains(m.Summary(), "2 consumers, 2 credentials") {
		t.Errorf("Summary() = %q", m.Summary())
	}
}
