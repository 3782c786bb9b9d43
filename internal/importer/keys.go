package importer

import (
	"fmt"
	"strconv"

	"github.com/goccy/go-yaml"
)

// BadKey finds a map key under v that the YAML writer cannot carry: one
// with a control character (a line break is written as a block scalar
// key that reads back as another document shape, a tab as a key that
// reads back as another string). It returns the key's path below v, in
// the form config errors use, and false when every key is fine. No
// plugin or entity field has such a name; an input that has one is
// refused rather than written wrong.
func BadKey(v any) (string, bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if p, bad := badKeyAt(k, e); bad {
				return p, true
			}
		}
	case Fields:
		return BadKey(map[string]any(x))
	case yaml.MapSlice:
		for _, it := range x {
			k, _ := it.Key.(string)
			if p, bad := badKeyAt(k, it.Value); bad {
				return p, true
			}
		}
	case []any:
		for i, e := range x {
			if p, bad := BadKey(e); bad {
				return joinPath("["+strconv.Itoa(i)+"]", p), true
			}
		}
	}
	return "", false
}

func badKeyAt(k string, v any) (string, bool) {
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] == 0x7f {
			return strconv.Quote(k), true
		}
	}
	if p, bad := BadKey(v); bad {
		return joinPath(k, p), true
	}
	return "", false
}

// keyError is YAML's refusal of a document with a key BadKey finds.
func keyError(path string) error {
	return fmt.Errorf("%s: a key with a control character cannot be written", path)
}
