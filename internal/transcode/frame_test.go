package transcode

import (
	"bytes"
	"errors"
	"io"
	"math"
	"testing"
	"time"
)

func TestFrames(t *testing.T) {
	var stream []byte
	stream = AppendFrame(stream, false, []byte("hello"))
	stream = AppendFrame(stream, true, nil)
	stream = AppendFrame(stream, false, bytes.Repeat([]byte{7}, 100))
	if !bytes.Equal(stream[:10], []byte{0, 0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o'}) {
		t.Fatalf("frame bytes %x", stream[:10])
	}
	fr := NewFrameReader(bytes.NewReader(stream), 100)
	want := []struct {
		flags byte
		n     int
	}{{0, 5}, {1, 0}, {0, 100}}
	for i, w := range want {
		flags, msg, err := fr.Next()
		if err != nil || flags != w.flags || len(msg) != w.n {
			t.Fatalf("frame %d: flags %d, %d bytes, %v", i, flags, len(msg), err)
		}
	}
	if _, _, err := fr.Next(); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

func TestFrameErrors(t *testing.T) {
	tests := []struct {
		name  string
		input []byte
		max   int
		want  error
	}{
		{name: "over the limit", input: []byte{0, 0, 0, 0, 101}, max: 100, want: ErrFrameTooLarge},
		{name: "4 GiB announced", input: []byte{0, 0xff, 0xff, 0xff, 0xff}, max: 4 << 20, want: ErrFrameTooLarge},
		{name: "short header", input: []byte{0, 0, 0}, max: 100, want: io.ErrUnexpectedEOF},
		{name: "short body", input: []byte{0, 0, 0, 0, 5, 'a'}, max: 100, want: io.ErrUnexpectedEOF},
		{name: "header without body", input: []byte{0, 0, 0, 0, 5}, max: 100, want: io.ErrUnexpectedEOF},
		{name: "empty", input: nil, max: 100, want: io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := NewFrameReader(bytes.NewReader(tt.input), tt.max).Next()
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
		})
	}
}

func TestParseTimeout(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"1H", time.Hour, true}, {"2M", 2 * time.Minute, true}, {"3S", 3 * time.Second, true},
		{"4m", 4 * time.Millisecond, true}, {"5u", 5 * time.Microsecond, true}, {"6n", 6, true},
		{"99999999S", 99999999 * time.Second, true}, {"0m", 0, true},
		{"99999999H", math.MaxInt64, true},
		{"", 0, false}, {"S", 0, false}, {"1", 0, false}, {"123456789S", 0, false},
		{"1s", 0, false}, {"-1S", 0, false}, {"1.5S", 0, false}, {"1 S", 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseTimeout(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseTimeout(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestAppendTimeout(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0n"}, {-time.Second, "0n"}, {1, "1n"}, {99999999, "99999999n"},
		{100000000, "100000u"}, {100000001, "100001u"}, {time.Second, "1000000u"},
		{time.Hour, "3600000m"}, {30 * 24 * time.Hour, "2592000S"},
		{math.MaxInt64, "2562048H"},
	}
	for _, tt := range tests {
		got := string(AppendTimeout(nil, tt.d))
		if got != tt.want {
			t.Errorf("AppendTimeout(%v) = %q, want %q", tt.d, got, tt.want)
		}
		if back, ok := ParseTimeout(got); !ok || back < tt.d {
			t.Errorf("%q parses back to %v, %v: shorter than %v", got, back, ok, tt.d)
		}
	}
}

func TestIsGRPCType(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/grpc": true, "application/grpc+proto": true, "application/grpc; charset=x": true,
		"Application/gRPC+json": true, " application/grpc ": true,
		"application/grpc-web": false, "application/grpc-web-text+proto": false, "application/grpcx": false,
		"application/json": false, "": false,
	} {
		if IsGRPCType(ct) != want {
			t.Errorf("IsGRPCType(%q) = %v", ct, !want)
		}
	}
}
