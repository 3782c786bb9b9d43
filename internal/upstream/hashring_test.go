package upstream

import (
	"math"
	"net/http"
	"net/url"
	"strconv"
	"testing"
)

func mustHash(t *testing.T, targets []*Target, c HashConfig) *ConsistentHash {
	t.Helper()
	ch, err := NewConsistentHash(targets, c)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// request builds a PickRequest with the given headers and query.
func request(rawQuery string, header ...string) *PickRequest {
	req := &http.Request{Header: http.Header{}, URL: &url.URL{Path: "/", RawQuery: rawQuery}}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	return &PickRequest{Req: req}
}

// Every hash_on input selects the target that owns the slot of its value;
// the fallback is read only when the primary input is absent or empty.
func TestConsistentHashInputs(t *testing.T) {
	tests := []struct {
		name string
		cfg  HashConfig
		req  *PickRequest
		key  string // the value the pick must hash
	}{
		{name: "consumer", cfg: HashConfig{Primary: HashInput{On: HashConsumer}},
			req: &PickRequest{ConsumerID: "c-42"}, key: "c-42"},
		{name: "ip", cfg: HashConfig{Primary: HashInput{On: HashIP}},
			req: &PickRequest{ClientIP: "203.0.113.9"}, key: "203.0.113.9"},
		{name: "path", cfg: HashConfig{Primary: HashInput{On: HashPath}},
			req: &PickRequest{Path: "/users/7"}, key: "/users/7"},
		{name: "header", cfg: HashConfig{Primary: HashInput{On: HashHeader, Name: "x-user"}},
			req: request("", "X-User", "alice"), key: "alice"},
		{name: "header repeated: concatenated", cfg: HashConfig{Primary: HashInput{On: HashHeader, Name: "X-User"}},
			req: request("", "X-User", "al", "X-User", "ice"), key: "alice"},
		{name: "cookie", cfg: HashConfig{Primary: HashInput{On: HashCookie}, Cookie: "sticky"},
			req: request("", "Cookie", "a=1; sticky=abc; b=2"), key: "abc"},
		{name: "cookie quoted", cfg: HashConfig{Primary: HashInput{On: HashCookie}, Cookie: "sticky"},
			req: request("", "Cookie", `sticky="abc"`), key: "abc"},
		{name: "query_arg", cfg: HashConfig{Primary: HashInput{On: HashQueryArg, Name: "user"}},
			req: request("a=1&user=bob&b=2"), key: "bob"},
		{name: "query_arg escaped", cfg: HashConfig{Primary: HashInput{On: HashQueryArg, Name: "user id"}},
			req: request("user+id=b%6Fb"), key: "bob"},
		{name: "query_arg repeated: concatenated", cfg: HashConfig{Primary: HashInput{On: HashQueryArg, Name: "u"}},
			req: request("u=b&x=1&u=ob"), key: "bob"},
		{name: "uri_capture named", cfg: HashConfig{Primary: HashInput{On: HashURICapture, Name: "id"}},
			req: &PickRequest{Captures: []string{"/u/77/x", "77", "x"}, CaptureNames: []string{"", "id", "rest"}}, key: "77"},
		{name: "uri_capture positional", cfg: HashConfig{Primary: HashInput{On: HashURICapture, Name: "2"}},
			req: &PickRequest{Captures: []string{"/u/77/x", "77", "x"}, CaptureNames: []string{"", "id", "rest"}}, key: "x"},
		{name: "fallback when header absent", cfg: HashConfig{Primary: HashInput{On: HashHeader, Name: "X-User"}, Fallback: HashInput{On: HashIP}},
			req: &PickRequest{ClientIP: "198.51.100.1", Req: request("").Req}, key: "198.51.100.1"},
		{name: "fallback when header empty", cfg: HashConfig{Primary: HashInput{On: HashHeader, Name: "X-User"}, Fallback: HashInput{On: HashQueryArg, Name: "k"}},
			req: request("k=v1", "X-User", ""), key: "v1"},
		{name: "fallback when consumer absent", cfg: HashConfig{Primary: HashInput{On: HashConsumer}, Fallback: HashInput{On: HashPath}},
			req: &PickRequest{Path: "/p"}, key: "/p"},
		{name: "fallback when capture absent", cfg: HashConfig{Primary: HashInput{On: HashURICapture, Name: "id"}, Fallback: HashInput{On: HashConsumer}},
			req: &PickRequest{ConsumerID: "c-1"}, key: "c-1"},
		{name: "fallback to header", cfg: HashConfig{Primary: HashInput{On: HashIP}, Fallback: HashInput{On: HashHeader, Name: "X-K"}},
			req: request("", "X-K", "k9"), key: "k9"},
		{name: "primary wins over fallback", cfg: HashConfig{Primary: HashInput{On: HashIP}, Fallback: HashInput{On: HashPath}},
			req: &PickRequest{ClientIP: "192.0.2.7", Path: "/other"}, key: "192.0.2.7"},
	}
	weights := make([]int, 10)
	for i := range weights {
		weights[i] = 100
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := mustHash(t, newTargets(weights...), tt.cfg)
			want := ch.Owner(ch.Slot(tt.key))
			for range 5 {
				got, err := ch.Pick(tt.req)
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Fatalf("picked %s, want %s (owner of %q)", got.Addr, want.Addr, tt.key)
				}
			}
			if tt.req.SetCookie != nil {
				t.Errorf("set a cookie %v for a client that had one / for a non-cookie input", tt.req.SetCookie)
			}
		})
	}
}

// With no input (hash_on none, or nothing to read and no fallback) the
// picks rotate through the table, so they spread by weight rather than
// landing on one target as Kong's hash of "nil" does.
func TestConsistentHashNoInputSpreads(t *testing.T) {
	tests := []struct {
		name string
		cfg  HashConfig
	}{
		{name: "none", cfg: HashConfig{}},
		{name: "absent input without fallback", cfg: HashConfig{Primary: HashInput{On: HashHeader, Name: "X-None"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			targets := newTargets(100, 100, 200)
			ch := mustHash(t, targets, tt.cfg)
			counts := map[*Target]int{}
			for range 10000 {
				tg, err := ch.Pick(request(""))
				if err != nil {
					t.Fatal(err)
				}
				counts[tg]++
			}
			for i, want := range []float64{2500, 2500, 5000} {
				if got := float64(counts[targets[i]]); math.Abs(got-want) > 300 {
					t.Errorf("target %d: %v picks, want about %v", i, got, want)
				}
			}
		})
	}
}

// A client without the hash cookie gets a new value (a UUID, Kong's form)
// in SetCookie, is routed by it, and sticks once it sends it back; a retry
// of the same request reuses the value it was handed.
func TestConsistentHashCookie(t *testing.T) {
	targets := newTargets(100, 100, 100, 100, 100)
	ch := mustHash(t, targets, HashConfig{Primary: HashInput{On: HashCookie}, Cookie: "tp-sticky", CookiePath: "/shop"})
	seen := map[string]bool{}
	for i := range 50 {
		r := request("")
		first, err := ch.Pick(r)
		if err != nil {
			t.Fatal(err)
		}
		c := r.SetCookie
		if c == nil {
			t.Fatal("no cookie set for a client without one")
		}
		if c.Name != "tp-sticky" || c.Path != "/shop" || !c.HttpOnly || len(c.Value) != 36 || c.Value[14] != '4' {
			t.Fatalf("cookie %v: want tp-sticky, Path=/shop, HttpOnly, a v4 UUID", c)
		}
		if seen[c.Value] {
			t.Fatalf("cookie value %q handed out twice", c.Value)
		}
		seen[c.Value] = true
		if first != ch.Owner(ch.Slot(c.Value)) {
			t.Fatalf("first pick %s is not the owner of the cookie it set", first.Addr)
		}
		// The retry of that request (no cookie yet) keeps the value.
		r.Prev = first
		if _, err := ch.Pick(r); err != nil || r.SetCookie != c {
			t.Fatalf("retry replaced the cookie: %v -> %v (%v)", c, r.SetCookie, err)
		}
		// Sent back, it sticks and nothing new is set.
		for range 3 {
			back := request("", "Cookie", "other=x; tp-sticky="+c.Value)
			tg, err := ch.Pick(back)
			if err != nil || tg != first || back.SetCookie != nil {
				t.Fatalf("request %d with the cookie: %v, %v, set %v; want %s and no new cookie", i, tg, err, back.SetCookie, first.Addr)
			}
		}
	}
}

// Same slots, addresses and weights give the same table whatever order
// the targets are listed in, so every node sends a key to the same place.
func TestConsistentHashDeterministic(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		slots   int
	}{
		{name: "equal weights, default slots", weights: []int{100, 100, 100, 100, 100, 100, 100}},
		{name: "weighted", weights: []int{10, 50, 100, 3, 65535}, slots: 65536},
		{name: "minimum slots", weights: []int{1, 2}, slots: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTargets(tt.weights...)
			b := newTargets(tt.weights...)
			for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
				b[i], b[j] = b[j], b[i]
			}
			ra := mustHash(t, a, HashConfig{Primary: HashInput{On: HashIP}, Slots: tt.slots})
			rb := mustHash(t, b, HashConfig{Primary: HashInput{On: HashIP}, Slots: tt.slots})
			wantSlots := tt.slots
			if wantSlots == 0 {
				wantSlots = DefaultSlots
			}
			if len(ra.table) != wantSlots {
				t.Fatalf("table has %d slots, want %d", len(ra.table), wantSlots)
			}
			for i := range 10000 {
				key := "client-" + strconv.Itoa(i)
				ta, _ := ra.Pick(&PickRequest{ClientIP: key})
				tb, _ := rb.Pick(&PickRequest{ClientIP: key})
				if ta.Addr != tb.Addr {
					t.Fatalf("key %q: %s on one node, %s on the other", key, ta.Addr, tb.Addr)
				}
			}
		})
	}
}

// ownersOf maps 10,000 keys to the address that serves them.
func ownersOf(t *testing.T, targets []*Target) []string {
	t.Helper()
	ch := mustHash(t, targets, HashConfig{Primary: HashInput{On: HashIP}})
	out := make([]string, 10000)
	for i := range out {
		tg, err := ch.Pick(&PickRequest{ClientIP: "key-" + strconv.Itoa(i)})
		if err != nil {
			t.Fatal(err)
		}
		out[i] = tg.Addr
	}
	return out
}

// Removing one of 10 targets moves only the keys it had, every other key
// stays on its target; adding an 11th moves about 1/11 of the keys, all to
// the new one.
func TestConsistentHashMinimalMovement(t *testing.T) {
	tests := []struct {
		name    string
		weights []int // of the 10; the added 11th has the last weight
		added   int
	}{
		{name: "equal weights", weights: []int{100, 100, 100, 100, 100, 100, 100, 100, 100, 100}, added: 100},
		{name: "weighted", weights: []int{100, 200, 50, 100, 300, 100, 80, 120, 100, 100}, added: 150},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ten := newTargets(tt.weights...)
			before := ownersOf(t, ten)
			for removed := range ten {
				nine := append(append([]*Target{}, newTargets(tt.weights...)[:removed]...), newTargets(tt.weights...)[removed+1:]...)
				after := ownersOf(t, nine)
				moved := 0
				for i := range before {
					switch {
					case before[i] == ten[removed].Addr:
						moved++
						if after[i] == ten[removed].Addr {
							t.Fatalf("key %d still on the removed target", i)
						}
					case after[i] != before[i]:
						t.Fatalf("removing %s moved key %d from %s to %s", ten[removed].Addr, i, before[i], after[i])
					}
				}
				if moved == 0 {
					t.Fatalf("target %s had no keys", ten[removed].Addr)
				}
			}

			eleven := append(newTargets(tt.weights...), NewTarget("10.0.1.1", 80, tt.added, nil))
			after := ownersOf(t, eleven)
			moved := 0
			for i := range before {
				if after[i] != before[i] {
					moved++
					if after[i] != "10.0.1.1:80" {
						t.Fatalf("adding a target moved key %d from %s to %s", i, before[i], after[i])
					}
				}
			}
			total := tt.added
			for _, w := range tt.weights {
				total += w
			}
			want := 10000 * float64(tt.added) / float64(total)
			if math.Abs(float64(moved)-want) > 0.25*want {
				t.Errorf("adding moved %d keys, want about %.0f", moved, want)
			}
		})
	}
}

// Slots are shared out by weight.
func TestConsistentHashWeights(t *testing.T) {
	weights := []int{100, 300, 600}
	ch := mustHash(t, newTargets(weights...), HashConfig{Primary: HashInput{On: HashIP}})
	counts := make([]int, len(weights))
	for _, ti := range ch.table {
		counts[ti]++
	}
	for i, w := range weights {
		want := float64(DefaultSlots) * float64(w) / 1000
		if math.Abs(float64(counts[i])-want) > 0.05*want+50 {
			t.Errorf("target %d owns %d slots, want about %.0f", i, counts[i], want)
		}
	}
}

// An unhealthy target's keys walk to other targets (spread, not piled on
// one) while every other key stays; they come back when it recovers.
func TestConsistentHashUnhealthyWalks(t *testing.T) {
	targets := newTargets(100, 100, 100, 100, 100, 100, 100, 100, 100, 100)
	ch := mustHash(t, targets, HashConfig{Primary: HashInput{On: HashIP}})
	pick := func(i int) *Target {
		tg, err := ch.Pick(&PickRequest{ClientIP: "k" + strconv.Itoa(i)})
		if err != nil {
			t.Fatal(err)
		}
		return tg
	}
	before := make([]*Target, 5000)
	for i := range before {
		before[i] = pick(i)
	}
	down := targets[3]
	down.State.SetHealth(false, "test")
	spread := map[*Target]int{}
	for i, was := range before {
		now := pick(i)
		switch {
		case now == down:
			t.Fatal("picked the unhealthy target")
		case was == down:
			spread[now]++
		case now != was:
			t.Fatalf("key %d moved from healthy %s to %s", i, was.Addr, now.Addr)
		}
	}
	if len(spread) < 5 {
		t.Errorf("the unhealthy target's keys went to only %d targets", len(spread))
	}
	down.State.SetHealth(true, "")
	for i, was := range before {
		if pick(i) != was {
			t.Fatalf("key %d did not come back", i)
		}
	}
}

func TestConsistentHashConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  HashConfig
	}{
		{name: "unknown input", cfg: HashConfig{Primary: HashInput{On: "body"}}},
		{name: "header without name", cfg: HashConfig{Primary: HashInput{On: HashHeader}}},
		{name: "query_arg fallback without name", cfg: HashConfig{Primary: HashInput{On: HashIP}, Fallback: HashInput{On: HashQueryArg}}},
		{name: "cookie without name", cfg: HashConfig{Primary: HashInput{On: HashCookie}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewConsistentHash(newTargets(100), tt.cfg); err == nil {
				t.Fatal("no error")
			}
		})
	}
}
