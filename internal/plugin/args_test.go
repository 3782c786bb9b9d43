package plugin

import "testing"

func TestUnescapeArg(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{name: "plain", in: "abc", want: "abc"},
		{name: "plus is space", in: "a+b", want: "a b"},
		{name: "escapes", in: "a%20b%2Fc%7e", want: "a b/c~"},
		{name: "malformed kept", in: "100%zz%4", want: "100%zz%4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := UnescapeArg(tt.in); got != tt.want {
				t.Errorf("UnescapeArg(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
