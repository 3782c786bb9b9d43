package config

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// cfeServices is a document of n services that each decode with an error
// (an unknown field) and fail validation (no host).
func cfeServices(n int) string {
	return "_format_version: \"3.0\"\nservices:\n" + strings.Repeat("- {x: 1}\n", n)
}

func cfeErrors(t *testing.T, err error) Errors {
	t.Helper()
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error %v is not Errors", err)
	}
	return errs
}

// Thousands of errors are listed up to MaxErrors, with a last line that
// counts the rest, and found in linear time (the filter of validation
// errors that decode errors cover compared every pair: 20,000 services
// took half a minute).
func TestParseErrorsCapped(t *testing.T) {
	start := time.Now()
	_, err := Parse([]byte(cfeServices(20_000)), Options{})
	elapsed := time.Since(start)
	errs := cfeErrors(t, err)
	if len(errs) != MaxErrors+1 {
		t.Fatalf("%d errors listed, want %d and a count", len(errs), MaxErrors)
	}
	if got := errs[0].Error(); got != "services[0].x: unknown field (line 3)" {
		t.Errorf("first error %q", got)
	}
	if got, want := errs[MaxErrors].Message, "and 19000 more errors (only the first 1000 are listed)"; got != want {
		t.Errorf("last error %q, want %q", got, want)
	}
	if elapsed > 5*time.Second {
		t.Errorf("parsing 20,000 broken services took %v", elapsed)
	}
}

// The cap holds for validation errors too, and the filter still drops a
// validation error below a field that failed to decode.
func TestParseValidationErrorsCapped(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("_format_version: \"3.0\"\nservices:\n- {name: bad, host: 1}\n")
	for i := range 5000 {
		fmt.Fprintf(&sb, "- {name: s%d}\n", i)
	}
	_, err := Parse([]byte(sb.String()), Options{})
	errs := cfeErrors(t, err)
	if len(errs) != MaxErrors+1 {
		t.Fatalf("%d errors listed, want %d and a count", len(errs), MaxErrors)
	}
	if got := errs[0].Error(); got != "services[0].host: expected a string (line 3)" {
		t.Errorf("first error %q", got)
	}
	for _, e := range errs[1:MaxErrors] {
		if strings.HasPrefix(e.Path, "services[0]") {
			t.Errorf("an error below the field that failed to decode: %v", e)
		}
	}
	if !strings.HasPrefix(errs[MaxErrors].Message, "and ") {
		t.Errorf("last error %q", errs[MaxErrors].Message)
	}
}

// A map with long unknown keys used through an alias a thousand times:
// thirty thousand errors, each path holding a key of 1,000 bytes (plain
// YAML keys may not be longer), were 30 MB of error text. Now a thousand
// are listed with shortened keys. (Thirty keys keep the expansion under
// MaxAliasBytes.)
func TestParseAliasedLongKeysBounded(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("_format_version: \"3.0\"\n_ignore:\n- &s\n  host: example.com\n")
	for i := range 30 {
		fmt.Fprintf(&sb, "  k%d%s: 1\n", i, strings.Repeat("a", 1000))
	}
	sb.WriteString("services: [*s" + strings.Repeat(", *s", 999) + "]\n")
	_, err := Parse([]byte(sb.String()), Options{})
	errs := cfeErrors(t, err)
	if len(errs) != MaxErrors+1 {
		t.Fatalf("%d errors listed, want %d and a count", len(errs), MaxErrors)
	}
	want := "services[0].k0" + strings.Repeat("a", maxKeyInPath-2) + "…"
	if errs[0].Path != want || errs[0].Message != "unknown field" {
		t.Errorf("first error %v, want %s: unknown field", errs[0], want)
	}
	if n := len(err.Error()); n > 200_000 {
		t.Errorf("%d bytes of error text", n)
	}
	if got := errs[MaxErrors].Message; got != "and 29000 more errors (only the first 1000 are listed)" {
		t.Errorf("last error %q", got)
	}
}

// Values quoted in messages are shortened too.
func TestParseLongValueInMessageShortened(t *testing.T) {
	long := strings.Repeat("n", 100_000)
	doc := "_format_version: \"3.0\"\nservices:\n- {name: " + long + ", host: a}\n- {name: " + long + ", host: b}\n"
	_, err := Parse([]byte(doc), Options{})
	errs := cfeErrors(t, err)
	if len(errs) != 1 || !strings.HasPrefix(errs[0].Message, "duplicate name 'nnn") || len(errs[0].Message) > maxMessage+10 {
		t.Fatalf("errors %.500v", errs)
	}
}

func TestErrorListMessageBounded(t *testing.T) {
	var l ErrorList
	l.Add(FieldError{Path: "a", Message: strings.Repeat("é", maxMessage)})
	got := l.Errors()[0].Message
	if len(got) > maxMessage+len("…") || !strings.HasSuffix(got, "é…") {
		t.Errorf("message of %d bytes ending %q", len(got), got[len(got)-8:])
	}
	if l.Len() != 1 || len(l.Errors()) != 1 {
		t.Errorf("Len %d, %d listed", l.Len(), len(l.Errors()))
	}
}

func cfeCancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// Decoding an abandoned load stops within a few hundred values, whatever
// the aliases make it walk.
func TestDecodeStopsWhenAbandoned(t *testing.T) {
	root, err := parseTree([]byte(cfeServices(10_000)), 0)
	if err != nil {
		t.Fatal(err)
	}
	walked := func(ctx context.Context) int {
		var cfg Config
		lines := map[string]int{}
		d := decoder{errs: &ErrorList{}, lines: lines, cp: checkpoint{ctx: ctx}}
		d.decode(root, reflect.ValueOf(&cfg).Elem(), "")
		return len(lines) + d.errs.Len()
	}
	if n := walked(context.Background()); n < 10_000 {
		t.Fatalf("a live load walked %d values", n)
	}
	if n := walked(cfeCancelled()); n > 2*checkEvery {
		t.Errorf("an abandoned load walked %d values", n)
	}
}

// Validating an abandoned load stops within a few hundred entities.
func TestBuildStopsWhenAbandoned(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("_format_version: \"3.0\"\nservices:\n")
	for i := range 10_000 {
		fmt.Fprintf(&sb, "- {name: s%d, host: h, routes: [{paths: [/%d]}]}\n", i, i)
	}
	root, err := parseTree([]byte(sb.String()), 0)
	if err != nil {
		t.Fatal(err)
	}
	built := func(ctx context.Context) int {
		var cfg Config
		applyDefaults(reflect.ValueOf(&cfg).Elem())
		lines := map[string]int{}
		var errs ErrorList
		d := decoder{errs: &errs, lines: lines}
		d.decode(root, reflect.ValueOf(&cfg).Elem(), "")
		b := newBuilder(ctx, &cfg, lines, &errs)
		b.build()
		if errs.Len() > 0 {
			t.Fatal(errs.Errors())
		}
		return len(b.m.Services) + len(b.m.Routes)
	}
	if n := built(context.Background()); n != 20_000 {
		t.Fatalf("a live load built %d services and routes", n)
	}
	if n := built(cfeCancelled()); n > 2*checkEvery {
		t.Errorf("an abandoned load built %d services and routes", n)
	}
}

// Total counts what a cut list left out, also when the list is added to
// another (a plugin's config errors to a compile's).
func TestErrorsTotal(t *testing.T) {
	var inner ErrorList
	for range MaxErrors + 5 {
		inner.Add(FieldError{Path: "x", Message: "bad"})
	}
	es := inner.Errors()
	if es.Total() != MaxErrors+5 || len(es) != MaxErrors+1 {
		t.Fatalf("Total %d of %d listed", es.Total(), len(es))
	}
	if p := es.Prefix("plugins[0].config"); p.Total() != MaxErrors+5 || p[0].Path != "plugins[0].config.x" {
		t.Errorf("prefixed: Total %d, first %v", p.Total(), p[0])
	}
	var outer ErrorList
	outer.Add(FieldError{Path: "y", Message: "bad"})
	outer.AddAll(es)
	if got := outer.Errors(); got.Total() != MaxErrors+6 || len(got) != MaxErrors+1 {
		t.Errorf("Total %d of %d listed", got.Total(), len(got))
	}
	if (Errors{{Message: "a"}, {Message: "b"}}).Total() != 2 {
		t.Error("Total of an uncut list")
	}
}

// A route's header names are shortened in validation errors as decoding
// shortens them, so that both find the same line.
func TestRouteHeaderPathShortened(t *testing.T) {
	name := "Host" + strings.Repeat("x", 100)
	doc := "_format_version: \"3.0\"\nroutes:\n- paths: [/]\n  headers:\n    " + name + ": []\n"
	_, err := Parse([]byte(doc), Options{})
	errs := cfeErrors(t, err)
	want := "routes[0].headers." + Shorten(name, maxKeyInPath)
	if len(errs) != 1 || errs[0].Path != want || errs[0].Line != 5 {
		t.Fatalf("errors %v, want one at %s (line 5)", errs, want)
	}
}
