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

// BenchmarkRequestBody is the guide's CreateUser: a JSON body encoded straight to the wire, and
// through protojson and a dynamic message (the path of the bodies the direct encoder declines).
func BenchmarkRequestBody(b *testing.B) {
	s := userSet(b)
	body := []byte(`{"name":"Ada Lovelace","email":"ada@example.com","role":"ROLE_ADMIN"}`)
	buf := make([]byte, 0, 64)
	bd, vars, _ := s.Match("POST", "/v1/users")
	general := *bd
	general.directBody = false
	for _, c := range []struct {
		name string
		b    *Binding
	}{{"direct", bd}, {"protojson", &general}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.b.Request(buf[:0], vars, "", body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkResponse renders a 5-field User as JSON: straight from the wire, and through a dynamic
// message and protojson (the path of the shapes the direct renderer does not cover).
func BenchmarkResponse(b *testing.B) {
	s := userSet(b)
	bd, _, _ := s.Match("GET", "/v1/users/42")
	wire := userWire(b, s)
	buf := make([]byte, 0, 256)
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := bd.Response(buf[:0], wire, Options{UseProtoNames: true}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("protojson", func(b *testing.B) {
		m := *bd.Method
		m.plan = nil
		b.ReportAllocs()
		for b.Loop() {
			if _, err := m.ResponseJSON(buf[:0], wire, Options{UseProtoNames: true}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
