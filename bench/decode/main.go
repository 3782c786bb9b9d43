// Command decode is bench/run.sh's check of the compression targets: it
// decodes standard input in the coding named by -coding (gzip, br, zstd)
// with the reference Go decoders and writes the result to standard
// output, so that the script compares it with the backend's bytes.
package main

import (
	"compress/gzip"
	"flag"
	"io"
	"log"
	"os"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
)

func main() {
	coding := flag.String("coding", "gzip", "gzip, br or zstd")
	flag.Parse()
	var r io.Reader
	switch *coding {
	case "gzip":
		gr, err := gzip.NewReader(os.Stdin)
		if err != nil {
			log.Fatalf("decode: %v", err)
		}
		r = gr
	case "br":
		r = brotli.NewReader(os.Stdin)
	case "zstd":
		zr, err := zstd.NewReader(os.Stdin)
		if err != nil {
			log.Fatalf("decode: %v", err)
		}
		defer zr.Close()
		r = zr
	default:
		log.Fatalf("decode: unknown coding %q", *coding)
	}
	if _, err := io.Copy(os.Stdout, r); err != nil {
		log.Fatalf("decode: %v", err)
	}
}
