package gokong

import "encoding/json"

// JSON is v marshalled, for request bodies and messages of the tests that
// fill entities; a value that does not marshal is the test's bug.
func JSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// RoundTrip is v as JSON decodes it (map[string]any, []any, float64): what
// go-kong reads, so values built in Go compare with the gateway's answers.
func RoundTrip(v any) any {
	var out any
	if err := json.Unmarshal([]byte(JSON(v)), &out); err != nil {
		panic(err)
	}
	return out
}

// DeepCopy is a copy of m sharing nothing with it, empty for nil.
func DeepCopy(m map[string]any) map[string]any {
	out, _ := RoundTrip(m).(map[string]any)
	if out == nil {
		out = map[string]any{}
	}
	return out
}
