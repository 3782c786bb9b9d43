package transcode

import "testing"

func BenchmarkMatch(b *testing.B) {
	s := userSet(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := s.Match("GET", "/v1/users/42"); !ok {
			b.Fatal("no match")
		}
	}
}

// BenchmarkRequest is the guide's GetUser: match GET /v1/users/{id} and build its request.
func BenchmarkRequest(b *testing.B) {
	s := userSet(b)
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		bd, vars, ok := s.Match("GET", "/v1/users/42")
		if !ok {
			b.Fatal("no match")
		}
		if _, err := bd.Request(buf[:0], vars, "", nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRequestBody is the guide's CreateUser: a JSON body decoded into the message.
func BenchmarkRequestBody(b *testing.B) {
	s := userSet(b)
	body := []byte(`{"name":"Ada Lovelace","email":"ada@example.com","role":"ROLE_ADMIN"}`)
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		bd, vars, _ := s.Match("POST", "/v1/users")
		if _, err := bd.Request(buf[:0], vars, "", body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResponse renders a 5-field User as JSON.
func BenchmarkResponse(b *testing.B) {
	s := userSet(b)
	bd, _, _ := s.Match("GET", "/v1/users/42")
	wire := userWire(b, s)
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := bd.Response(buf[:0], wire, Options{UseProtoNames: true}); err != nil {
			b.Fatal(err)
		}
	}
}
