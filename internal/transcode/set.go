package transcode

import (
	"net/url"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Options are the JSON rendering choices of a route: field names as written in the .proto or
// lowerCamelCase, fields at their zero value emitted or left out, enums as numbers or names.
type Options struct{ UseProtoNames, EmitUnpopulated, EnumsAsInts bool }

// Set is the compiled form of a group of .proto files: their methods by gRPC path and their
// google.api.http bindings by HTTP method, in the order Match tries them.
type Set struct {
	files    *protoregistry.Files
	types    resolver
	methods  map[string]*Method
	standard [numStdMethods][]*Binding
	custom   map[string][]*Binding
}

// Standard HTTP methods index an array, so Match costs no map lookup on the usual verbs.
const (
	stdGet = iota
	stdPost
	stdPut
	stdDelete
	stdPatch
	numStdMethods
)

func stdIndex(m string) int {
	switch m {
	case "GET":
		return stdGet
	case "POST":
		return stdPost
	case "PUT":
		return stdPut
	case "DELETE":
		return stdDelete
	case "PATCH":
		return stdPatch
	}
	return -1
}

// Method is one gRPC method of the set.
type Method struct {
	FullPath                         string // "/pkg.Service/Method"
	Desc                             protoreflect.MethodDescriptor
	ClientStreaming, ServerStreaming bool

	set           *Set
	input, output protoreflect.MessageType
	plan          *plan // renders the output without protojson; nil when its shape is not covered
	inPlan        *plan // encodes a JSON body without protojson; nil when its shape is not covered
	noRequired    bool  // the input type and those it holds have no proto2 required field
}

// Binding is one google.api.http rule of a method (its own or one of its additional_bindings).
type Binding struct {
	Method               *Method
	HTTPMethod, Template string
	Body, ResponseBody   string

	tmpl      *template
	vars      []pathVar
	bodyField protoreflect.FieldDescriptor // nil for no body and for "*"
	respField protoreflect.FieldDescriptor
	// direct is set when the message is only the template's variables, each a top-level scalar:
	// then a request without a query is encoded straight to the wire, with no message built.
	direct bool
	// directBody is set for body "*" into a message the direct encoder covers, with the same
	// kind of variables: the body's wire form is written from the JSON, the variables after it
	// (the last occurrence of a field wins on decoding, so they override the body as they must).
	directBody bool
}

// pathVar is a template variable resolved at construction to its chain of fields.
type pathVar struct {
	name   string
	label  string // "path variable <name>", for the client's error messages
	fields []protoreflect.FieldDescriptor
	deep   bool // captures several segments: %2F stays escaped when decoding
}

// Vars holds the raw text of the path variables a match captured, slices of the request's path.
// Up to four are held inline, so the usual match allocates nothing.
type Vars struct {
	b    *Binding
	vals [4]string
	more []string
}

func (v *Vars) set(i int, raw string) {
	if v.more != nil {
		v.more[i] = raw
		return
	}
	v.vals[i] = raw
}

// Len is the number of captured variables.
func (v *Vars) Len() int {
	if v.b == nil {
		return 0
	}
	return len(v.b.vars)
}

// Field is the field path of the i-th variable, as written in the template.
func (v *Vars) Field(i int) string { return v.b.vars[i].name }

// Raw is the i-th variable's text as it stood in the path, still percent-encoded.
func (v *Vars) Raw(i int) string {
	if v.more != nil {
		return v.more[i]
	}
	return v.vals[i]
}

// Value is the i-th variable decoded: a single-segment variable is percent-decoded whole; a
// multi-segment one keeps %2F escaped, so its slashes still separate what the client separated
// (grpc-gateway's rule). An invalid escape is an *Error.
func (v *Vars) Value(i int) (string, error) {
	raw := v.Raw(i)
	if strings.IndexByte(raw, '%') < 0 {
		return raw, nil
	}
	pv := &v.b.vars[i]
	if !pv.deep {
		s, err := url.PathUnescape(raw)
		if err != nil {
			return "", badRequest(pv.label + ": invalid percent-encoding")
		}
		return s, nil
	}
	var b strings.Builder
	for len(raw) > 0 {
		j := strings.IndexByte(raw, '%')
		if j < 0 {
			b.WriteString(raw)
			break
		}
		b.WriteString(raw[:j])
		if j+2 >= len(raw) || !isHex(raw[j+1]) || !isHex(raw[j+2]) {
			return "", badRequest(pv.label + ": invalid percent-encoding")
		}
		if c := unhex(raw[j+1])<<4 | unhex(raw[j+2]); c == '/' {
			b.WriteString(raw[j : j+3])
		} else {
			b.WriteByte(c)
		}
		raw = raw[j+3:]
	}
	return b.String(), nil
}

// Method finds a method by its gRPC path, "/pkg.Service/Method".
func (s *Set) Method(fullPath string) (*Method, bool) {
	m, ok := s.methods[fullPath]
	return m, ok
}

// Files is the registry of the set's files and everything they import. It is the set's own and
// read-only: the set's type resolver reads it on every Any.
func (s *Set) Files() *protoregistry.Files { return s.files }

// Match finds the binding for a request's method and path (which starts with "/" and has no
// query). When several templates fit, the most specific wins: segment by segment a literal beats
// "*" and "*" beats "**", then a longer template beats a shorter one, then a verb beats none, then
// the first declared; the order is fixed at construction, so the first fit is the answer.
func (s *Set) Match(httpMethod, path string) (*Binding, Vars, bool) {
	var list []*Binding
	if i := stdIndex(httpMethod); i >= 0 {
		list = s.standard[i]
	} else {
		list = s.custom[httpMethod]
	}
	var vars Vars
	if len(list) == 0 || len(path) == 0 || path[0] != '/' {
		return nil, vars, false
	}
	nseg := strings.Count(path, "/")
	for _, b := range list {
		if b.tmpl.match(path, nseg, &vars) {
			vars.b = b
			return b, vars, true
		}
	}
	return nil, Vars{}, false
}

// resolver finds types in the set first, then among those linked into the binary (the google.rpc
// error details above all), for Any fields and error details.
type resolver struct{ local *dynamicpb.Types }

func (r resolver) FindMessageByName(n protoreflect.FullName) (protoreflect.MessageType, error) {
	if mt, err := r.local.FindMessageByName(n); err == nil {
		return mt, nil
	}
	return protoregistry.GlobalTypes.FindMessageByName(n)
}

func (r resolver) FindMessageByURL(u string) (protoreflect.MessageType, error) {
	if mt, err := r.local.FindMessageByURL(u); err == nil {
		return mt, nil
	}
	return protoregistry.GlobalTypes.FindMessageByURL(u)
}

func (r resolver) FindExtensionByName(n protoreflect.FullName) (protoreflect.ExtensionType, error) {
	if xt, err := r.local.FindExtensionByName(n); err == nil {
		return xt, nil
	}
	return protoregistry.GlobalTypes.FindExtensionByName(n)
}

func (r resolver) FindExtensionByNumber(m protoreflect.FullName, f protoreflect.FieldNumber) (protoreflect.ExtensionType, error) {
	if xt, err := r.local.FindExtensionByNumber(m, f); err == nil {
		return xt, nil
	}
	return protoregistry.GlobalTypes.FindExtensionByNumber(m, f)
}

func (s *Set) marshalOptions(o Options) protojson.MarshalOptions {
	return protojson.MarshalOptions{
		UseProtoNames:   o.UseProtoNames,
		EmitUnpopulated: o.EmitUnpopulated,
		UseEnumNumbers:  o.EnumsAsInts,
		Resolver:        s.types,
		// proto3 has no required fields; proto2 ones are the upstream's business, and the check
		// walks every message again.
		AllowPartial: true,
	}
}
