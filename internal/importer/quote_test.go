package importer

import (
	"testing"

	yaml4 "go.yaml.in/yaml/v4"
)

// TestScalarsReadBack: every string an input may hand the builder (a
// header value, a regex, a word YAML 1.1 reads as a bool, a number, a
// control character) reads back as that string.
func TestScalarsReadBack(t *testing.T) {
	vals := []string{"true", "null", "~", "3.0", "0755", "yes", "on", "No", ":x", "- a", "#c", "a: b", "a #b", "*x", "&y", "!t", "%p", "@a", "`b", "|", ">", "'q", "\"d", " lead", "trail ", "", "1e3", "0x1F", ".inf", "-.5", "a\nb", "a\tb", "\x00", "é", "{x}", "[y]", "?q", "=", "<<", "2001-12-14", "12:30"}
	c := &Config{Plugins: []*Plugin{{Name: "p", Config: map[string]any{}}}}
	for i, v := range vals {
		c.Plugins[0].Config[string(rune('a'+i%26))+string(rune('a'+i/26))] = v
	}

	out, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Plugins []struct {
			Config map[string]any `yaml:"config"`
		} `yaml:"plugins"`
	}
	if err := yaml4.Unmarshal(out, &back); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for k, v := range c.Plugins[0].Config {
		if back.Plugins[0].Config[k] != v {
			t.Errorf("%q came back as %#v", v, back.Plugins[0].Config[k])
		}
	}
}

// TestKeyWithControlCharacterRefused: the writer refuses a map key it
// would write as something that reads back otherwise, naming its path.
func TestKeyWithControlCharacterRefused(t *testing.T) {
	for key, path := range map[string]string{
		"a\nb": `plugins[0].config.list[1]."a\nb"`,
		"a\tb": `plugins[0].config.list[1]."a\tb"`,
		"\x7f": `plugins[0].config.list[1]."\x7f"`,
	} {
		c := &Config{Plugins: []*Plugin{{Name: "p", Config: map[string]any{"list": []any{"x", map[string]any{key: 1}}}}}}
		_, err := c.YAML()
		if err == nil || err.Error() != path+": a key with a control character cannot be written" {
			t.Errorf("%q: %v", key, err)
		}
	}
	c := &Config{Plugins: []*Plugin{{Name: "p", Config: map[string]any{"é \"q\" #c": 1}}}}
	if _, err := c.YAML(); err != nil {
		t.Errorf("a printable key was refused: %v", err)
	}
}
