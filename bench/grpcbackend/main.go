// Command grpcbackend is the origin of the transcoding benchmark
// (bench/grpc.sh): the grpcdemo UserService on -grpc, and on -http a plain
// HTTP/1.1 endpoint GET /user whose precomputed JSON body is the seeded
// user 1 as the transcoder renders it with proto names, so the gateway's two
// routes return bodies of the same size. It listens on loopback only.
package main

import (
	"flag"
	"log"
	"net"
	"net/http"
	"strconv"

	"github.com/turnpikegw/turnpike/internal/grpcdemo"
)

// userJSON is GET /v1/users/1 through grpc-gateway with its default options.
const userJSON = `{"id":"1","name":"Alice","email":"alice@example.com","role":"ROLE_ADMIN",` +
	`"created_at":"2024-01-02T03:04:05Z","tags":["staff","ops"]}`

func main() {
	grpcAddr := flag.String("grpc", "127.0.0.1:18400", "gRPC listen address (loopback)")
	httpAddr := flag.String("http", "127.0.0.1:18401", "HTTP listen address (loopback)")
	flag.Parse()
	for _, a := range []string{*grpcAddr, *httpAddr} {
		host, _, err := net.SplitHostPort(a)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			log.Fatalf("grpcbackend: %s is not a loopback address", a)
		}
	}
	srv, err := grpcdemo.Start(*grpcAddr)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Stop()
	ctype, clen, body := []string{"application/json"}, []string{strconv.Itoa(len(userJSON))}, []byte(userJSON)
	log.Fatal(http.ListenAndServe(*httpAddr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/user" {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h["Content-Type"] = ctype
		h["Content-Length"] = clen
		w.Write(body)
	})))
}
