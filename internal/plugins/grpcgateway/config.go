package grpcgateway

import (
	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Config is Kong's grpc-gateway schema (proto) plus the guide's
// request_type and Turnpike's JSON options.
type Config struct {
	// Proto is the .proto file describing the service; empty: ask the
	// upstream's server reflection.
	Proto string `yaml:"proto"`
	// RequestType is the guide's field; http_json is the only value.
	RequestType string `yaml:"request_type"`
	// UseProtoNames writes JSON field names as the .proto spells them, as
	// Kong's plugin does (false: lowerCamelCase, protojson's default).
	UseProtoNames bool `yaml:"use_proto_names"`
	// EmitUnpopulated writes fields that hold their zero value.
	EmitUnpopulated bool `yaml:"emit_unpopulated"`
	// EnumsAsInts writes enum values as numbers.
	EnumsAsInts bool `yaml:"enums_as_ints"`
	// MaxMessageSize bounds the request's JSON body and each response
	// message (gRPC's own default, 4 MiB).
	MaxMessageSize int `yaml:"max_message_size"`
}

const defaultMaxMessage = 4 << 20

// SetDefaults applies the defaults.
func (c *Config) SetDefaults() {
	c.RequestType = "http_json"
	c.UseProtoNames = true
	c.MaxMessageSize = defaultMaxMessage
}

func (c *Config) validate() plugin.Errors {
	var errs plugin.Errors
	if c.RequestType != "http_json" {
		errs = append(errs, plugin.Problem{Path: "request_type", Message: "expected one of: http_json"})
	}
	if c.MaxMessageSize < 1 || c.MaxMessageSize > 64<<20 {
		errs = append(errs, plugin.Problem{Path: "max_message_size", Message: "value should be between 1 and 67108864"})
	}
	return errs
}
