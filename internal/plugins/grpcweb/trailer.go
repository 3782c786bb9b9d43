package grpcweb

import (
	"encoding/binary"
	"net/http"
	"strconv"
	"strings"
)

// appendTrailer appends a gRPC-Web trailer frame (flag 0x80, then
// `name:value` lines ending in CRLF, names lowercase) holding the status
// fields and every other field of the upstream's trailer t. status,
// message and details are those of a trailers-only answer, whose status
// came in the headers; t's own status fields win over them.
func appendTrailer(dst []byte, status, message, details string, t http.Header) []byte {
	if vs := t["Grpc-Status"]; len(vs) > 0 {
		status = vs[0]
		message, details = "", ""
	}
	if vs := t["Grpc-Message"]; len(vs) > 0 {
		message = vs[0]
	}
	if vs := t["Grpc-Status-Details-Bin"]; len(vs) > 0 {
		details = vs[0]
	}
	if status == "" {
		// Neither headers nor trailer held a status: as a gRPC client
		// does, read the call as failed.
		status, message = strconv.Itoa(codeInternal), "grpc-web: upstream sent no grpc-status"
	}
	at := len(dst)
	dst = append(dst, 0x80, 0, 0, 0, 0)
	dst = appendField(dst, "grpc-status", status)
	if message != "" {
		dst = appendField(dst, "grpc-message", message)
	}
	if details != "" {
		dst = appendField(dst, "grpc-status-details-bin", details)
	}
	for k, vs := range t {
		switch k {
		case "Grpc-Status", "Grpc-Message", "Grpc-Status-Details-Bin":
			continue
		}
		for _, v := range vs {
			dst = appendField(dst, k, v)
		}
	}
	binary.BigEndian.PutUint32(dst[at+1:], uint32(len(dst)-at-5))
	return dst
}

// appendField appends one trailer line; a value with a line break, which
// would forge further lines, is left out.
func appendField(dst []byte, name, value string) []byte {
	if strings.ContainsAny(value, "\r\n") {
		return dst
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	dst = append(dst, ':')
	dst = append(dst, value...)
	return append(dst, '\r', '\n')
}
