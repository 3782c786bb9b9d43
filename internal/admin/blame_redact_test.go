package admin

import (
	"encoding/json"
	"strings"
	"testing"
)

// A duplicate found on a field from the environment is redacted after
// the load, which moves its message; the write's blame must not cut the
// redacted message at the loader's offset (it panicked, or garbled it).
func TestBlameWrittenAfterRedaction(t *testing.T) {
	t.Setenv("TP_USER", "someone-from-the-environment")
	f := newWriteFixture(t)
	cfg := map[string]any{"_format_version": "3.0", "consumers": []any{map[string]any{
		"username":              "carol",
		"basicauth_credentials": []any{map[string]any{"username": "{vault://env/tp-user}", "password": "pw"}},
	}}}
	doc, _ := json.Marshal(cfg)
	body, _ := json.Marshal(map[string]string{"config": string(doc)})
	f.expect(201, "POST", "/config", js, string(body))
	code, out := f.send("POST", "/consumers", js,
		`{"username":"dave","basicauth_credentials":[{"username":"someone-from-the-environment","password":"x"}]}`)
	text, _ := json.Marshal(out)
	if code != 400 || strings.Contains(string(text), "someone-from-the-environment") {
		t.Errorf("got %d %s; want 400 without the environment's value", code, text)
	}
}
