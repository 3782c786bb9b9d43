package zipkin

import (
	"strconv"
	"strings"
	"testing"
)

// The cap on a client's tags holds across every value of the header.
func TestRequestTagsCappedPerRequest(t *testing.T) {
	var many []string
	for i := range maxRequestTags {
		many = append(many, "k"+strconv.Itoa(i)+"=v")
	}
	one := strings.Join(many, ";")
	got := appendRequestTags(nil, []string{one, one, one})
	if len(got) != maxRequestTags {
		t.Errorf("%d tags from three full values, want %d", len(got), maxRequestTags)
	}
	if got := appendRequestTags(nil, []string{"a=1;bad;b = 2", "c=3"}); len(got) != 3 || got[1] != [2]string{"b", "2"} {
		t.Errorf("tags %v", got)
	}
}
