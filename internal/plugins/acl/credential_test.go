package acl

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/credtest"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

// load parses src with acl's credential kind declared, as the gateway
// does, and indexes it.
func load(t *testing.T, src string) (*config.Model, *snapshot.Directory, error) {
	return credtest.Load(t, Registration(), src, time.Now(), nil)
}

// TestCredentialErrors checks every rule of an acl, with the fields all
// credentials have, through the real loader: path and message.
func TestCredentialErrors(t *testing.T) {
	long := strings.Repeat("g", 300)
	tests := []struct {
		name string
		src  string
		want config.Errors
	}{
		{"top-level consumer missing", "acls: [{group: g}]", config.Errors{
			{Path: "acls[0].consumer", Message: "required field missing"},
		}},
		{"dangling consumer", "consumers: [{username: alice}]\nacls: [{group: g, consumer: dave}]", config.Errors{
			{Path: "acls[0].consumer", Message: "consumer 'dave' not found"},
		}},
		{"empty consumer ref", "consumers: [{username: alice}]\nacls: [{group: g, consumer: {}}]", config.Errors{
			{Path: "acls[0].consumer", Message: "must set 'id' or 'username'"},
		}},
		{"consumer ref of the wrong type", "consumers: [{username: alice}]\nacls: [{group: g, consumer: 5}]", config.Errors{
			{Path: "acls[0].consumer", Message: "expected a string or a map"},
		}},
		{"another consumer set on a nested credential", "consumers: [{username: alice, acls: [{group: g, consumer: {id: 0fe87b4a-ce29-515a-88ec-8547e66550b9}}]}, {username: bob}]", config.Errors{
			{Path: "consumers[0].acls[0].consumer", Message: "value must be null: it may only name the consumer it is nested in"},
		}},
		{"bad id", "consumers: [{username: a, acls: [{id: x, group: g}]}]", config.Errors{
			{Path: "consumers[0].acls[0].id", Message: "expected a valid UUID"},
		}},
		{"a written id taken by a derived one", "consumers: [{username: alice, acls: [{group: g}]}, {custom_id: c3, acls: [{group: h, id: 1b96d7a2-960b-51bb-aed5-5c95097c3ba4}]}]", config.Errors{
			{Path: "consumers[1].acls[0].id", Message: "duplicate id '1b96d7a2-960b-51bb-aed5-5c95097c3ba4' (first derived for consumers[0].acls[0])"},
		}},
		{"group required", "consumers: [{username: a, acls: [{}]}]", config.Errors{
			{Path: "consumers[0].acls[0].group", Message: "required field missing"},
		}},
		{"group unique per consumer", "consumers: [{username: a, acls: [{group: g}]}, {username: b, acls: [{group: g}]}]\nacls: [{group: g, consumer: a}]", config.Errors{
			{Path: "acls[0].group", Message: "duplicate group 'g' for this consumer (first defined at consumers[0].acls[0])"},
		}},
		{"long group shortened in the duplicate message", "consumers: [{username: a, acls: [{group: " + long + "}, {group: " + long + "}]}]", config.Errors{
			{Path: "consumers[0].acls[1].group", Message: "duplicate group '" + long[:256] + "…' for this consumer (first defined at consumers[0].acls[0])"},
		}},
		{"no duplicate without a consumer", "consumers: [{username: a, acls: [{group: g}]}]\nacls: [{group: g, consumer: nobody}, {group: g, consumer: nobody}]", config.Errors{
			{Path: "acls[0].consumer", Message: "consumer 'nobody' not found"},
			{Path: "acls[1].consumer", Message: "consumer 'nobody' not found"},
		}},
		{"consumers sharing an id: no duplicate group", "consumers: [{username: a, id: 0b7c9d2e-3f4a-4b5c-8d6e-7f8091a2b3c4, acls: [{group: g}]}, {username: b, id: 0b7c9d2e-3f4a-4b5c-8d6e-7f8091a2b3c4, acls: [{group: g}]}]", config.Errors{
			{Path: "consumers[1].id", Message: "duplicate id '0b7c9d2e-3f4a-4b5c-8d6e-7f8091a2b3c4' (first defined at consumers[0])"},
			{Path: "consumers[1].acls[0]", Message: "duplicate derived id 'fab332cf-aa92-5cd5-b186-9b3075add45f' (first derived for consumers[0].acls[0])"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := load(t, tt.src)
			credtest.CheckErrors(t, tt.want, err)
		})
	}
}

// TestCredentialModel checks what a valid file gives: consumers resolved,
// order (nested first), Kong's ids from the consumer as written, and
// Directory.Groups by consumer id.
func TestCredentialModel(t *testing.T) {
	m, d, err := load(t, `consumers:
  - username: alice
    custom_id: A1
    acls:
      - {group: admins, tags: [t3]}
  - id: 22222222-2222-4222-8222-222222222222
    custom_id: B1
    acls:
      - {group: nested}
  - custom_id: C1
    acls:
      - {group: solo}
acls:
  - {group: users, consumer: alice}
  - {group: users, consumer: 22222222-2222-4222-8222-222222222222}
  - {group: ops, consumer: {id: 22222222-2222-4222-8222-222222222222}}`)
	if err != nil {
		t.Fatal(err)
	}
	var groups []string
	for _, e := range m.Credentials {
		groups = append(groups, e.Consumer.Path+":"+e.Fields.(*Credential).Group)
	}
	if diff := cmp.Diff([]string{"consumers[0]:admins", "consumers[1]:nested", "consumers[2]:solo", "consumers[0]:users", "consumers[1]:users", "consumers[1]:ops"}, groups); diff != "" {
		t.Errorf("acls (-want +got):\n%s", diff)
	}
	aliceID, bobID := config.ConsumerID(m.Consumers[0].Consumer), "22222222-2222-4222-8222-222222222222"
	wantIDs := []string{
		config.KongID("acls", "acls:*:"+aliceID+":admins"),
		config.KongID("acls", "acls:*:"+bobID+":nested"),
		config.EntityID("acls", "", config.ConsumerID(m.Consumers[2].Consumer)+"|solo"),
		config.KongID("acls", "acls:*:alice:users"),
		config.KongID("acls", "acls:*:"+bobID+":users"),
		config.KongID("acls", "acls:*:ops"),
	}
	var ids []string
	for _, e := range m.Credentials {
		ids = append(ids, e.ID)
	}
	if diff := cmp.Diff(wantIDs, ids); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
	if g := d.Groups(aliceID); strings.Join(g, ",") != "admins,users" {
		t.Errorf("Groups(alice) = %v", g)
	}
	if g := d.Groups(bobID); strings.Join(g, ",") != "nested,users,ops" {
		t.Errorf("Groups(bob) = %v", g)
	}
	if g := d.Groups("alice"); g != nil {
		t.Errorf("Groups by username = %v, want nil (ids only)", g)
	}
	if s := m.Summary(); strings.Contains(s, "credential") {
		t.Errorf("Summary() = %q: acls are memberships, not credentials", s)
	}
	if _, ok := d.Credential(plugin.GroupsKind, "users"); ok {
		t.Error("an acl found by group alone, which is unique per consumer only")
	}
	if n := testing.AllocsPerRun(100, func() { d.Groups(aliceID) }); n != 0 {
		t.Errorf("%v allocations per Groups", n)
	}
}
