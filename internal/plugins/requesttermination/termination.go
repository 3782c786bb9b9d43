package requesttermination

import (
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/jsonw"
	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Config mirrors Kong's request-termination schema. Pointers tell an absent
// string from an empty one, which Kong's handler treats differently (an
// empty message still produces {"message":""}).
type Config struct {
	StatusCode  int     `yaml:"status_code"`
	Message     *string `yaml:"message"`
	ContentType *string `yaml:"content_type"`
	Body        *string `yaml:"body"`
	Echo        bool    `yaml:"echo"`
	Trigger     *string `yaml:"trigger"`
}

// SetDefaults applies Kong's defaults.
func (c *Config) SetDefaults() { c.StatusCode = http.StatusServiceUnavailable }

// Registration describes the plugin to the registry.
func Registration() plugin.Registration {
	return plugin.Registration{
		Name:      "request-termination",
		Priority:  2,
		NewConfig: func() any { return &Config{} },
		New:       New,
	}
}

// defaultMessages are the messages Kong uses when none is configured; other
// statuses get an empty body.
var defaultMessages = map[int]string{
	401: "Unauthorized",
	404: "Not found",
	405: "Method not allowed",
	500: "An unexpected error occurred",
	502: "Bad Gateway",
	503: "Service unavailable",
}

const jsonContentType = "application/json; charset=utf-8"

type instance struct {
	status int
	// message is the configured or default message; hasMessage is false when
	// neither exists, so the echo omits the field as Kong does.
	message    string
	hasMessage bool
	// body is the complete response body for the non-echo cases; nil means
	// an empty response.
	body        []byte
	contentType string
	rawBody     bool
	echo        bool

	trigger       string
	triggerHeader plugin.HeaderName

	hostname string
	pid      int
}

// addErr appends one validation problem; the path is relative to the
// plugin's config.
func addErr(errs plugin.Errors, path, msg string) plugin.Errors {
	return append(errs, plugin.Errors{{Path: path, Message: msg}}...)
}

func present(s *string) bool { return s != nil && *s != "" }

// New validates the config the way Kong's schema does and precomputes the
// response.
func New(cfg any, _ plugin.Env) (plugin.Instance, error) {
	c := cfg.(*Config)
	var errs plugin.Errors
	if c.StatusCode < 100 || c.StatusCode > 599 {
		errs = addErr(errs, "status_code", "value should be between 100 and 599")
	}
	if c.Trigger != nil && !plugin.ValidHeaderName(*c.Trigger) {
		msg := "no header name provided"
		if *c.Trigger != "" {
			msg = "bad header name '" + *c.Trigger + "', allowed characters are A-Z, a-z, 0-9, '_', and '-'"
		}
		errs = addErr(errs, "trigger", msg)
	}
	// Kong's custom validator reports on the record itself, hence the
	// empty path.
	switch {
	case present(c.Message) && (present(c.ContentType) || present(c.Body)):
		errs = addErr(errs, "", "message cannot be used with content_type or body")
	case present(c.ContentType) && !present(c.Body):
		errs = addErr(errs, "", "content_type requires a body")
	case c.Echo && (present(c.ContentType) || present(c.Body)):
		errs = addErr(errs, "", "echo cannot be used with content_type and body")
	}
	if len(errs) > 0 {
		return nil, errs
	}

	in := &instance{status: c.StatusCode, echo: c.Echo}
	if c.Message != nil {
		in.message, in.hasMessage = *c.Message, true
	} else {
		in.message, in.hasMessage = defaultMessages[c.StatusCode]
	}
	if c.Trigger != nil {
		in.trigger = *c.Trigger
		in.triggerHeader = plugin.NewHeaderName(*c.Trigger)
	}
	switch {
	case c.Echo:
		in.hostname, _ = os.Hostname()
		in.pid = os.Getpid()
	case c.Body != nil:
		in.body = []byte(*c.Body)
		in.rawBody = true
		if c.ContentType != nil {
			in.contentType = *c.ContentType
		}
	case in.hasMessage:
		b := append([]byte(`{"message":`), jsonw.AppendString(nil, in.message)...)
		in.body = append(b, '}')
		in.contentType = jsonContentType
	}
	return in, nil
}

// Access answers the request unless a trigger is configured and absent.
func (in *instance) Access(c *plugin.Ctx) error {
	if in.trigger != "" && !in.triggered(c) {
		return nil
	}
	if in.echo {
		body, err := in.echoBody(c)
		if err != nil {
			return err
		}
		return &plugin.Exit{Status: in.status, Body: body, ContentType: jsonContentType}
	}
	if in.rawBody {
		// Without content_type the body goes out with no Content-Type, as
		// in Kong (writeExit keeps net/http from sniffing one).
		return &plugin.Exit{Status: in.status, Body: in.body, ContentType: in.contentType}
	}
	if in.body == nil {
		return &plugin.Exit{Status: in.status}
	}
	if strings.HasPrefix(c.Req.Header.Get("Content-Type"), "application/grpc") {
		// Kong's exit with a message table: a gRPC call gets the message
		// as its grpc-message (the proxy renders an Exit's Message so).
		return &plugin.Exit{Status: in.status, Message: in.message}
	}
	return &plugin.Exit{Status: in.status, Body: in.body, ContentType: in.contentType}
}

func (in *instance) triggered(c *plugin.Ctx) bool {
	if key, _ := in.triggerHeader.Values(c.Req.Header); key != "" {
		return true
	}
	return hasQueryArg(c.RawQuery, in.trigger)
}

// hasQueryArg reports whether the query has an argument named name, with or
// without a value, without allocating for the common unescaped case.
func hasQueryArg(rawQuery, name string) bool {
	for rawQuery != "" {
		var seg string
		seg, rawQuery, _ = strings.Cut(rawQuery, "&")
		key, _, _ := strings.Cut(seg, "=")
		if key == name {
			return true
		}
		if strings.ContainsAny(key, "%+") && plugin.UnescapeArg(key) == name {
			return true
		}
	}
	return false
}

// port is the local port the request arrived on (Kong's server_port),
// falling back to the Host header or the scheme's default when the server
// did not record the local address.
func port(c *plugin.Ctx) int {
	if a, ok := c.Req.Context().Value(http.LocalAddrContextKey).(interface{ String() string }); ok {
		s := a.String()
		if i := strings.LastIndexByte(s, ':'); i >= 0 {
			if p, err := strconv.Atoi(s[i+1:]); err == nil {
				return p
			}
		}
	}
	if i := strings.LastIndexByte(c.Req.Host, ':'); i >= 0 && !strings.Contains(c.Req.Host[i:], "]") {
		if p, err := strconv.Atoi(c.Req.Host[i+1:]); err == nil {
			return p
		}
	}
	if c.Scheme == "https" {
		return 443
	}
	return 80
}
