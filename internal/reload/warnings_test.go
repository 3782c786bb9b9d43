package reload

import (
	"strconv"
	"strings"
	"testing"
)

// The warnings of an applied configuration are in its result (and so in
// /status), at most maxWarnings of them and then how many more.
func TestAppliedWarningsAreBounded(t *testing.T) {
	l, _ := newLoader(t, "")
	var b strings.Builder
	b.WriteString("_format_version: \"3.0\"\nroutes:\n")
	n := maxWarnings + 5
	for i := range n {
		b.WriteString("- name: r" + strconv.Itoa(i) + "\n  paths: [/r" + strconv.Itoa(i) + "]\n  path_handling: v1\n")
	}
	if _, err := l.Apply([]byte(b.String()), "test"); err != nil {
		t.Fatal(err)
	}
	w := l.Last().Warnings
	if len(w) != maxWarnings+1 || !strings.HasPrefix(w[0], "routes[0].path_handling: route 'r0': v1 does not work") ||
		w[maxWarnings] != "5 more warnings" {
		t.Errorf("warnings %q", w)
	}
}
