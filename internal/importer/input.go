package importer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Limits bound what Read accepts, so that a runaway input (a generated
// file, a pipe that never ends) is refused instead of filling memory.
type Limits struct {
	// MaxBytes is the total size of every input together.
	MaxBytes int64
	// MaxDocuments is the number of YAML documents across every input.
	MaxDocuments int
}

// DefaultLimits fit the largest realistic exports (a cluster's Ingresses
// and Secrets, a vendor's OpenAPI description) with a wide margin.
var DefaultLimits = Limits{MaxBytes: 64 << 20, MaxDocuments: 20000}

// Document is one YAML or JSON document of an input, with where it came
// from so that warnings can point at it.
type Document struct {
	// File is the path given, a file found in a directory given, or "-"
	// for standard input.
	File string
	// Line is the line of the file the document starts on (1-based).
	Line int
	// Data is the document's text, without its `---` marker.
	Data []byte
}

// Where names the document as file:line.
func (d Document) Where() string { return d.File + ":" + strconv.Itoa(d.Line) }

// Read loads every input in order: "-" is standard input (once), a
// directory is every .yaml, .yml and .json file directly in it in name
// order, anything else a file. Each is split into its YAML documents;
// documents holding only comments or blanks are dropped.
func Read(inputs []string, stdin io.Reader, lim Limits) ([]Document, error) {
	if len(inputs) == 0 {
		return nil, errors.New("no input: give -f FILE, -f DIR or -f - (standard input)")
	}
	r := reader{lim: lim, left: lim.MaxBytes}
	for _, in := range inputs {
		if err := r.input(in, stdin); err != nil {
			return nil, err
		}
	}
	return r.docs, nil
}

type reader struct {
	lim       Limits
	left      int64
	docs      []Document
	readStdin bool
}

func (r *reader) input(in string, stdin io.Reader) error {
	if in == "-" {
		if r.readStdin {
			return errors.New("-f -: standard input given twice")
		}
		r.readStdin = true
		return r.read("-", stdin)
	}
	fi, err := os.Stat(in)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return r.file(in)
	}
	entries, err := os.ReadDir(in)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range entries {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if !e.IsDir() && (ext == ".yaml" || ext == ".yml" || ext == ".json") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	if len(names) == 0 {
		return fmt.Errorf("%s: no .yaml, .yml or .json file in the directory", in)
	}
	for _, n := range names {
		if err := r.file(filepath.Join(in, n)); err != nil {
			return err
		}
	}
	return nil
}

func (r *reader) file(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return r.read(name, f)
}

func (r *reader) read(name string, src io.Reader) error {
	data, err := io.ReadAll(io.LimitReader(src, r.left+1))
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if int64(len(data)) > r.left {
		return fmt.Errorf("%s: the inputs exceed %d bytes together", name, r.lim.MaxBytes)
	}
	r.left -= int64(len(data))
	for _, d := range Split(data) {
		if len(r.docs) == r.lim.MaxDocuments {
			return fmt.Errorf("%s:%d: the inputs hold more than %d documents", name, d.Line, r.lim.MaxDocuments)
		}
		d.File = name
		r.docs = append(r.docs, d)
	}
	return nil
}

// Split cuts a YAML stream at its document markers (`---` and `...` at
// the start of a line, which YAML reserves even inside block scalars) and
// drops the documents that hold nothing but comments and blanks. JSON
// never has such a line, so a JSON file is one document.
func Split(data []byte) []Document {
	var (
		docs  []Document
		start = 0 // offset of the current document's first byte
		line  = 1 // line of start
		n     = 1 // line of off
	)
	flush := func(end int) {
		if body := data[start:end]; hasContent(body) {
			docs = append(docs, Document{Line: line, Data: body})
		}
	}
	for off := 0; off < len(data); n++ {
		eol := bytes.IndexByte(data[off:], '\n')
		next := len(data)
		if eol >= 0 {
			next = off + eol + 1
		}
		if marker(data[off:next]) {
			flush(off)
			start, line = next, n+1
			// `--- value` starts a document on the marker's line.
			if rest := bytes.TrimSpace(data[off+3 : next]); len(rest) > 0 && !bytes.HasPrefix(rest, []byte("#")) && data[off] == '-' {
				start, line = off+3, n
			}
		}
		off = next
	}
	flush(len(data))
	return docs
}

func marker(l []byte) bool {
	if !bytes.HasPrefix(l, []byte("---")) && !bytes.HasPrefix(l, []byte("...")) {
		return false
	}
	return len(l) == 3 || l[3] == ' ' || l[3] == '\t' || l[3] == '\n' || l[3] == '\r'
}

func hasContent(b []byte) bool {
	for l := range bytes.SplitSeq(b, []byte("\n")) {
		if t := bytes.TrimSpace(l); len(t) > 0 && t[0] != '#' {
			return true
		}
	}
	return false
}
