package requesttransformer

import (
	"errors"
	"fmt"
	"math/rand"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// quadraticSpans is the old split, kept as the reference: each `$(` scans
// ahead for its ')' and an unclosed one is literal text.
func quadraticSpans(s string) [][2]int {
	var out [][2]int
	for i := 0; i+1 < len(s); i++ {
		if s[i] != '$' || s[i+1] != '(' {
			continue
		}
		depth, end := 0, -1
		for j := i + 1; j < len(s) && end < 0; j++ {
			switch s[j] {
			case '(':
				depth++
			case ')':
				if depth--; depth == 0 {
					end = j
				}
			}
		}
		if end >= 0 {
			out = append(out, [2]int{i, end})
			i = end
		}
	}
	return out
}

// TestRtxcapSpansMatchPenlight: the one-pass split finds the same `$(...)`
// as the scan-ahead one on random mixes of '$', '(', ')' and text.
func TestRtxcapSpansMatchPenlight(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	const alphabet = "$$(()a"
	for n := 0; n < 20000; n++ {
		b := make([]byte, rng.Intn(24))
		for i := range b {
			b[i] = alphabet[rng.Intn(len(alphabet))]
		}
		s := string(b)
		got, want := exprSpans(s), quadraticSpans(s)
		if len(got) != len(want) {
			t.Fatalf("%q: got %v, want %v", s, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%q: got %v, want %v", s, got, want)
			}
		}
	}
}

// TestRtxcapUnclosedCompileLinear: a value of 300,000 unclosed `$(` (600
// KB) took about 45 s to compile when every `$(` scanned to the end. As
// text it loads; with an expression after it, its text is over the bound.
func TestRtxcapUnclosedCompileLinear(t *testing.T) {
	unclosed := strings.Repeat("$(", 300000)
	done := make(chan error, 1)
	go func() {
		in, err := build(t, func(c *Config) { c.Add.Headers = []string{"x:" + unclosed} })
		if err == nil && (len(in.add.headers[0].val.parts) != 1 || in.add.headers[0].val.parts[0].expr != nil) {
			err = errors.New("want one literal")
		}
		if err == nil {
			_, err = build(t, func(c *Config) { c.Add.Headers = []string{"x:" + unclosed + "$(headers.a)"} })
			if err == nil || !strings.Contains(err.Error(), "text outside $(...) is longer than 65536 bytes") {
				err = errors.New("with an expression: got " + fmt.Sprint(err))
			} else {
				err = nil
			}
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("compiling 600 KB of unclosed $( took more than 10 s")
	}
}

// TestRtxcapRenderedTotalCap: the bound holds for all the values one
// instance renders for a request, not each value alone.
func TestRtxcapRenderedTotalCap(t *testing.T) {
	big := strings.Repeat("a", 40000)
	set := func(c *Config) { c.Add.Headers = []string{"y1:$(headers.x)", "y2:$(headers.x)"} }
	c, err := accessErr(t, set, "/", big)
	var ex *plugin.Exit
	if !errors.As(err, &ex) || ex.Status != 400 {
		t.Fatalf("got %v, want a 400 exit", err)
	}
	if c.Req.Header.Get("Y2") != "" {
		t.Error("the value past the total was applied")
	}
	// Across kinds of value too: a header and the query string.
	c, err = accessErr(t, func(c *Config) {
		c.Add.Headers = []string{"y1:$(headers.x)"}
		c.Add.Querystring = []string{"q:$(headers.x)"}
	}, "/", big)
	if err == nil || c.RawQuery != "" {
		t.Fatalf("header and query: %v, query %d bytes", err, len(c.RawQuery))
	}
	// Literal values are not rendered and do not count.
	c, err = accessErr(t, func(c *Config) {
		c.Add.Headers = []string{"y1:$(headers.x)", "y2:" + big}
	}, "/", big)
	if err != nil || len(c.Req.Header.Get("Y1")) != 40000 {
		t.Fatalf("one template and a literal: %v", err)
	}
}

// TestRtxcapTemplateTextTotal: templates whose own text alone would pass
// the per-request total can never render, so they are refused at load.
func TestRtxcapTemplateTextTotal(t *testing.T) {
	half := strings.Repeat("a", maxRendered/2)
	_, err := build(t, func(c *Config) {
		c.Add.Headers = []string{"y1:" + half + "$(headers.x)", "y2:" + half + "-$(headers.x)"}
	})
	if err == nil || !strings.Contains(err.Error(), "add.headers[1]") || !strings.Contains(err.Error(), "65536") {
		t.Fatalf("got %v", err)
	}
}

// TestRtxcapRenderErrorNamesField: a failed rendering names the field, not
// the template's text, which may hold a value resolved from a vault.
func TestRtxcapRenderErrorNamesField(t *testing.T) {
	in, err := build(t, func(c *Config) {
		c.Add.Headers = []string{"a:1", "authorization:Bearer S3cret-$(headers.x:sub(headers.y))"}
	})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X", "abc")
	r.Header.Set("Y", "zz")
	err = in.Access(&plugin.Ctx{Req: r, Method: "GET", Path: "/"})
	want := "[request-transformer] failed to render the template in config.add.headers[1], error:bad argument #1 to 'sub' (number expected, got string)"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}
