package tokens

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func token(id string, expiresIn int) *Token {
	return &Token{ID: id, CredentialID: "cred", ConsumerID: "cons", ServiceID: "svc",
		AuthenticatedUserID: "user", Scope: "email profile", TokenType: "bearer",
		ExpiresIn: expiresIn, CreatedAt: time.Now().Truncate(time.Millisecond), RefreshTTL: time.Hour}
}

// testStore is what every Store must do, whatever keeps the tokens.
func testStore(t *testing.T, s Store) {
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	t1, t2 := token("id-1", 3600), token("id-2", 3600)
	must(s.Put(ctx, t1, "access-1", "refresh-1"))
	must(s.Put(ctx, t2, "access-2", ""))

	got, err := s.ByAccess(ctx, "access-1")
	must(err)
	if got == nil || got.ID != "id-1" || got.Scope != "email profile" || got.ServiceID != "svc" ||
		got.ConsumerID != "cons" || got.CredentialID != "cred" || got.AuthenticatedUserID != "user" ||
		got.ExpiresIn != 3600 || !got.HasRefresh || got.RefreshTTL != time.Hour || !got.CreatedAt.Equal(t1.CreatedAt) {
		t.Fatalf("ByAccess: %+v", got)
	}
	if got, _ := s.ByRefresh(ctx, "refresh-1"); got == nil || got.ID != "id-1" {
		t.Fatalf("ByRefresh: %+v", got)
	}
	if got, _ := s.ByAccess(ctx, "access-2"); got == nil || got.ID != "id-2" || got.HasRefresh {
		t.Fatalf("ByAccess 2: %+v", got)
	}
	for _, find := range []func(context.Context, string) (*Token, error){s.ByAccess, s.ByRefresh} {
		for _, v := range []string{"nope", "", "id-1"} {
			if got, err := find(ctx, v); got != nil || err != nil {
				t.Fatalf("found %q: %+v %v", v, got, err)
			}
		}
	}
	if got, _ := s.ByRefresh(ctx, "access-1"); got != nil {
		t.Fatal("an access token found as a refresh token")
	}
	if got, _ := s.Get(ctx, "id-2"); got == nil || got.ID != "id-2" {
		t.Fatalf("Get: %+v", got)
	}

	if ok, err := s.Delete(ctx, "id-1"); !ok || err != nil {
		t.Fatalf("Delete: %v %v", ok, err)
	}
	if ok, _ := s.Delete(ctx, "id-1"); ok {
		t.Fatal("deleted twice")
	}
	a, _ := s.ByAccess(ctx, "access-1")
	r, _ := s.ByRefresh(ctx, "refresh-1")
	g, _ := s.Get(ctx, "id-1")
	if a != nil || r != nil || g != nil {
		t.Fatalf("after Delete: %v %v %v", a, r, g)
	}

	testList(t, s)
	testCodes(t, s)
	testTakeRefresh(t, s)
}

// testTakeRefresh: a refresh token is redeemed once, even by requests
// presenting it at once, and its access token goes with it.
func testTakeRefresh(t *testing.T, s Store) {
	ctx := context.Background()
	if err := s.Put(ctx, token("take-1", 3600), "take-access", "take-refresh"); err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			got, err := s.TakeRefresh(ctx, "take-refresh")
			if err != nil {
				t.Error(err)
			}
			if got != nil {
				if got.ID != "take-1" {
					t.Errorf("took %+v", got)
				}
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("refresh token taken %d times", wins.Load())
	}
	a, _ := s.ByAccess(ctx, "take-access")
	r, _ := s.ByRefresh(ctx, "take-refresh")
	g, _ := s.Get(ctx, "take-1")
	if a != nil || r != nil || g != nil {
		t.Fatalf("after TakeRefresh: %v %v %v", a, r, g)
	}
	if got, err := s.TakeRefresh(ctx, "nope"); got != nil || err != nil {
		t.Fatalf("took an unknown refresh token: %v %v", got, err)
	}
}

func testList(t *testing.T, s Store) {
	ctx := context.Background()
	want := map[string]bool{"id-2": true}
	for i := range 25 {
		id := fmt.Sprintf("list-%02d", i)
		want[id] = true
		if err := s.Put(ctx, token(id, 3600), "list-access-"+id, ""); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	offset := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		page, next, err := s.List(ctx, offset, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 10 {
			t.Fatalf("page of %d", len(page))
		}
		for _, tok := range page {
			if seen[tok.ID] {
				t.Fatalf("%s listed twice", tok.ID)
			}
			seen[tok.ID] = true
		}
		if next == "" {
			break
		}
		offset = next
	}
	if len(seen) != len(want) {
		t.Fatalf("listed %d tokens, want %d", len(seen), len(want))
	}
	for id := range want {
		if !seen[id] {
			t.Errorf("%s not listed", id)
		}
	}
}

func testCodes(t *testing.T, s Store) {
	ctx := context.Background()
	c := &Code{CredentialID: "cred", Scope: "email", Challenge: "abc", ChallengeMethod: "S256"}
	if err := s.PutCode(ctx, "code-1", c, time.Minute); err != nil {
		t.Fatal(err)
	}
	got, err := s.TakeCode(ctx, "code-1")
	if err != nil || got == nil || got.Scope != "email" || got.Challenge != "abc" || got.ChallengeMethod != "S256" {
		t.Fatalf("TakeCode: %+v %v", got, err)
	}
	if got, _ := s.TakeCode(ctx, "code-1"); got != nil {
		t.Fatal("a code taken twice")
	}
	// A code is used once even when many requests present it at once.
	if err := s.PutCode(ctx, "code-2", c, time.Minute); err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			if got, err := s.TakeCode(ctx, "code-2"); err == nil && got != nil {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("code taken %d times", wins.Load())
	}
}
