package cookie

import (
	"net/http"
	"strconv"
	"strings"
)

// ChunkSize is the longest value one cookie of a chunked value carries:
// browsers keep cookies of about 4096 bytes, name and attributes included.
const ChunkSize = 3800

// MaxChunks bounds the chunks a value is read from (and written to).
const MaxChunks = 8

// chunkName is the name of chunk i (0-based): name, name_2, name_3...
func chunkName(name string, i int) string {
	if i == 0 {
		return name
	}
	return name + "_" + strconv.Itoa(i+1)
}

// SetChunked adds to h the Set-Cookie lines that store value under name in
// chunks of at most ChunkSize bytes, each followed by attrs, and that
// remove the further chunks the request (reqHeader) carries, left by a
// longer value. ok is false when the value needs more than MaxChunks.
func SetChunked(h, reqHeader http.Header, name, value, attrs string) bool {
	n := (len(value) + ChunkSize - 1) / ChunkSize
	if n > MaxChunks {
		return false
	}
	n = max(n, 1)
	lines := h["Set-Cookie"]
	for i := range n {
		part := value[i*ChunkSize : min(len(value), (i+1)*ChunkSize)]
		lines = append(lines, chunkName(name, i)+"="+part+attrs)
	}
	for i := n; i < MaxChunks; i++ {
		stale := chunkName(name, i)
		if _, ok := Get(reqHeader, stale); !ok {
			break
		}
		lines = append(lines, stale+"="+attrs+Expired)
	}
	h["Set-Cookie"] = lines
	return true
}

// ClearChunked adds to h the Set-Cookie lines that remove every chunk of
// name the request (reqHeader) carries.
func ClearChunked(h, reqHeader http.Header, name, attrs string) {
	lines := h["Set-Cookie"]
	for i := range MaxChunks {
		n := chunkName(name, i)
		if _, ok := Get(reqHeader, n); !ok && i > 0 {
			break
		}
		lines = append(lines, n+"="+attrs+Expired)
	}
	h["Set-Cookie"] = lines
}

// GetChunked joins the chunks of name the request carries (name, name_2,
// ... up to the first missing one, at most MaxChunks); ok is false when
// there is no first chunk.
func GetChunked(h http.Header, name string) (string, bool) {
	first, ok := Get(h, name)
	if !ok {
		return "", false
	}
	if len(first) < ChunkSize {
		return first, true
	}
	var b strings.Builder
	b.WriteString(first)
	for i := 1; i < MaxChunks; i++ {
		part, ok := Get(h, chunkName(name, i))
		if !ok {
			break
		}
		b.WriteString(part)
		if len(part) < ChunkSize {
			break
		}
	}
	return b.String(), true
}
