package grpcweb

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"testing/iotest"
)

func decodeAll(t testing.TB, chunks []string, max int) ([]byte, error) {
	t.Helper()
	d := textDecoder{max: max}
	for _, c := range chunks {
		if err := d.Write([]byte(c)); err != nil {
			return nil, err
		}
	}
	return d.out, d.Close()
}

func TestTextDecoder(t *testing.T) {
	hello := []byte("\x00\x00\x00\x00\x06\x0a\x04heya")
	tests := []struct {
		name   string
		chunks []string
		max    int
		want   []byte
		err    error
	}{
		{name: "one string", chunks: []string{"AAAAAAYKBGhleWE="}, want: hello},
		{name: "padded pieces back to back", chunks: []string{"AA==" + "AA==" + "AAAGCgRoZXlh"}, want: hello},
		{name: "split inside quanta", chunks: []string{"AAA", "AAAY", "K", "BGhleWE", "="}, want: hello},
		{name: "empty", chunks: nil, want: nil},
		{name: "ends inside a quantum", chunks: []string{"AAAAAAY"}, err: errBadText},
		{name: "padding too early", chunks: []string{"A==="}, err: errBadText},
		{name: "not base64", chunks: []string{"AA*AAAAA"}, err: errBadText},
		{name: "line break in bulk", chunks: []string{"AAAA\nAAAAAAA"}, err: errBadText},
		{name: "line break in a quantum", chunks: []string{"AA\nA"}, err: errBadText},
		{name: "line breaks only", chunks: []string{"\n\n\n\n"}, err: errBadText},
		{name: "over the limit", chunks: []string{"AAAAAAYKBGhleWE="}, max: 8, err: errTooLarge},
		{name: "over the limit by a padded quantum", chunks: []string{"AAAA", "AA=="}, max: 3, err: errTooLarge},
		{name: "exactly the limit", chunks: []string{"AAAA", "AA=="}, max: 4, want: []byte{0, 0, 0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			max := tc.max
			if max == 0 {
				max = 1 << 20
			}
			got, err := decodeAll(t, tc.chunks, max)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err == nil && !bytes.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReadBody(t *testing.T) {
	scratch := make([]byte, 7) // small, so that quanta straddle reads
	text := base64.StdEncoding.EncodeToString([]byte("first")) + base64.StdEncoding.EncodeToString([]byte("second message"))
	got, err := readBody(iotest.HalfReader(strings.NewReader(text)), true, -1, 100, scratch)
	if err != nil || string(got) != "firstsecond message" {
		t.Fatalf("text: %q, %v", got, err)
	}
	if _, err := readBody(strings.NewReader(text), true, int64(len(text)), 10, scratch); err != errTooLarge {
		t.Errorf("declared text length over the limit: %v", err)
	}
	if _, err := readBody(strings.NewReader(strings.Repeat("x", 11)), false, -1, 10, scratch); err != errTooLarge {
		t.Errorf("binary body of unknown length over the limit: %v", err)
	}
	if got, err := readBody(strings.NewReader("0123456789"), false, -1, 10, scratch); err != nil || string(got) != "0123456789" {
		t.Errorf("binary body at the limit: %q, %v", got, err)
	}
	if _, err := readBody(iotest.ErrReader(errors.New("reset")), false, -1, 10, scratch); err == nil {
		t.Error("a failing body read is no error")
	}
}

// FuzzTextDecoder checks that the decoder never panics nor exceeds its
// limit, that how the body is cut into writes does not change the result,
// and that padded base64 pieces back to back decode to their bytes.
func FuzzTextDecoder(f *testing.F) {
	f.Add([]byte("AAAAAAYKBGhleWE="), uint8(3), uint8(5))
	f.Add([]byte("AA==AA==AAAGCgRoZXlh"), uint8(1), uint8(2))
	f.Add([]byte("\x00\x01\x02\x03\x04"), uint8(0), uint8(2))
	f.Add([]byte("A\nA=A==="), uint8(2), uint8(0))
	f.Fuzz(func(t *testing.T, in []byte, cut, pieces uint8) {
		const max = 64
		one, err1 := decodeAll(t, []string{string(in)}, max)
		var chunks []string
		step := int(cut)%7 + 1
		for i := 0; i < len(in); i += step {
			chunks = append(chunks, string(in[i:min(i+step, len(in))]))
		}
		split, err2 := decodeAll(t, chunks, max)
		if (err1 == nil) != (err2 == nil) || !bytes.Equal(one, split) {
			t.Fatalf("whole: %q %v; in pieces of %d: %q %v", one, err1, step, split, err2)
		}
		if len(one) > max {
			t.Fatalf("decoded %d bytes over the limit %d", len(one), max)
		}
		// The input's bytes as padded base64 pieces.
		var enc strings.Builder
		n := int(pieces)%5 + 1
		for i := 0; i < len(in); i += n {
			enc.WriteString(base64.StdEncoding.EncodeToString(in[i:min(i+n, len(in))]))
		}
		got, err := decodeAll(t, []string{enc.String()}, 1<<20)
		if err != nil || !bytes.Equal(got, in) {
			t.Fatalf("pieces of %d: got %q, %v; want %q", n, got, err, in)
		}
	})
}
