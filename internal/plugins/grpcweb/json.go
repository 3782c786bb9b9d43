package grpcweb

import (
	"errors"
	"net/http"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// protoSet is the compiled proto of the JSON modes.
type protoSet struct{}

// jsonCodec transcodes one JSON call's messages.
type jsonCodec struct{}

func loadProto(string) (*protoSet, error) {
	return nil, errors.New("JSON transcoding is not available yet (issue 15)")
}

// jsonCall prepares a JSON-mode call.
func (in *instance) jsonCall(c *plugin.Ctx, b *webBody) error {
	return plugin.NewExit(http.StatusBadRequest, "JSON requests need the plugin's proto (a .proto file defining the service)")
}

func (j *jsonCodec) request(body []byte, framed bool) ([]byte, error) { return body, nil }

func (j *jsonCodec) headers(c *plugin.Ctx, b *webBody) {}
