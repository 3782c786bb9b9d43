package keyauth

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/credtest"
)

// TestCredentialErrors checks every key-auth credential rule's path and
// message.
func TestCredentialErrors(t *testing.T) {
	const uuid1 = "0b7c9d2e-3f4a-4b5c-8d6e-7f8091a2b3c4"
	tests := []struct {
		name string
		src  string
		want config.Errors
	}{
		{"nested and top-level accepted", "consumers: [{username: alice, id: " + uuid1 + ", keyauth_credentials: [{key: k1}]}]\nkeyauth_credentials: [{key: k2, consumer: alice}, {key: k3, consumer: " + uuid1 + "}, {key: k4, consumer: {username: alice}}, {key: k5, consumer: {id: " + uuid1 + "}}]", nil},
		{"unknown credential field", "consumers: [{username: alice, keyauth_credentials: [{key: k, name: x}]}]", config.Errors{
			{Path: "consumers[0].keyauth_credentials[0].name", Message: "unknown field"},
		}},
		{"duplicate ids", "consumers: [{username: a, keyauth_credentials: [{id: " + uuid1 + ", key: k1}, {id: " + uuid1 + ", key: k2}]}]", config.Errors{
			{Path: "consumers[0].keyauth_credentials[1].id", Message: "duplicate id '" + uuid1 + "' (first defined at consumers[0].keyauth_credentials[0])"},
		}},
		{"key required", "consumers: [{username: a, keyauth_credentials: [{}, {key: ''}]}]", config.Errors{
			{Path: "consumers[0].keyauth_credentials[0].key", Message: "required field missing"},
			{Path: "consumers[0].keyauth_credentials[1].key", Message: "required field missing"},
		}},
		{"key unique across consumers, not echoed", "consumers: [{username: a, keyauth_credentials: [{key: s3cret}]}, {username: b, keyauth_credentials: [{key: s3cret}]}]\nkeyauth_credentials: [{key: s3cret, consumer: a}]", config.Errors{
			{Path: "consumers[1].keyauth_credentials[0].key", Message: "duplicate key (first defined at consumers[0].keyauth_credentials[0])"},
			{Path: "keyauth_credentials[0].key", Message: "duplicate key (first defined at consumers[0].keyauth_credentials[0])"},
		}},
		{"ttl", "consumers: [{username: a, keyauth_credentials: [{key: k1, ttl: -1}, {key: k2, ttl: 100000001}, {key: k3, ttl: 0}, {key: k4, ttl: 100000000}, {key: k5, ttl: soon}]}]", config.Errors{
			{Path: "consumers[0].keyauth_credentials[4].ttl", Message: "expected an integer"},
			{Path: "consumers[0].keyauth_credentials[0].ttl", Message: "value should be between 0 and 100000000"},
			{Path: "consumers[0].keyauth_credentials[1].ttl", Message: "value should be between 0 and 100000000"},
		}},
		{"key type", "consumers: [{username: a, keyauth_credentials: [{key: [x]}]}]", config.Errors{
			{Path: "consumers[0].keyauth_credentials[0].key", Message: "expected a string"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := credtest.Load(t, Registration(), tt.src, now, nil)
			credtest.CheckErrors(t, tt.want, err)
		})
	}
}

// TestCredentialModel checks what a valid config puts in the model and
// the directory: fields, consumers, order (nested first), ids, and a ttl
// counted from the load.
func TestCredentialModel(t *testing.T) {
	m, d, err := credtest.Load(t, Registration(), `consumers:
  - username: alice
    keyauth_credentials:
      - {id: 11111111-1111-4111-8111-111111111111, key: alice-key, ttl: 60, tags: [t1]}
  - {id: 22222222-2222-4222-8222-222222222222, custom_id: B1}
keyauth_credentials:
  - {key: bob-key, consumer: 22222222-2222-4222-8222-222222222222}`, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	type kv struct {
		Path, ID, Key, Consumer string
		TTL                     int
		Tags                    []string
	}
	var got []kv
	for _, e := range m.Credentials {
		f := e.Fields.(*Credential)
		got = append(got, kv{e.Path, e.ID, f.Key, e.Consumer.Path, f.TTL, e.Tags})
	}
	want := []kv{
		{"consumers[0].keyauth_credentials[0]", "11111111-1111-4111-8111-111111111111", "alice-key", "consumers[0]", 60, []string{"t1"}},
		{"keyauth_credentials[0]", config.EntityID(kindName, "", "22222222-2222-4222-8222-222222222222|bob-key"), "bob-key", "consumers[1]", 0, nil},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("credentials (-want +got):\n%s", diff)
	}

	a, ok := d.Credential(kindName, "alice-key")
	if !ok || a.Kind != "key-auth" || a.ID != "11111111-1111-4111-8111-111111111111" || a.Consumer.Username != "alice" ||
		!a.ExpiresAt.Equal(now.Add(time.Minute)) {
		t.Errorf("alice-key = %+v, %v", a, ok)
	}
	if b, ok := d.Credential(kindName, "bob-key"); !ok || !b.ExpiresAt.IsZero() || b.Expired(now.Add(1000*time.Hour)) {
		t.Errorf("bob-key = %+v, %v", b, ok)
	}
}
