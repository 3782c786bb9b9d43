package tracing

import (
	"encoding/binary"
	"math/rand/v2"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Propagation is Kong's propagation record. A nil list is one not given
// (Kong then falls back on header_type); an empty one turns the step off.
type Propagation struct {
	Extract       []string `yaml:"extract"`
	Inject        []string `yaml:"inject"`
	Clear         []string `yaml:"clear"`
	DefaultFormat string   `yaml:"default_format"`
}

// Params is a resolved propagation record.
type Params struct {
	Extract       []Format
	Inject        []Format // Preserve: the extracted format, else DefaultFormat
	Clear         []string // canonical header keys
	DefaultFormat Format
}

// Resolve is Kong's get_plugin_params: the propagation record as given,
// or, when none of extract, inject and clear is, what the deprecated
// header_type and default_header_type ("" when the plugin has none or it
// is unset) say. Problems are reported through add, with paths relative
// to the plugin's config.
func Resolve(p Propagation, headerType, defaultHeaderType string, add func(path, msg string)) Params {
	var s Params
	var ok bool
	legacy := p.Extract == nil && p.Inject == nil && p.Clear == nil
	def, defPath := p.DefaultFormat, "propagation.default_format"
	if legacy && defaultHeaderType != "" {
		def, defPath = defaultHeaderType, "default_header_type"
	}
	if s.DefaultFormat, ok = FormatNames[def]; !ok {
		badFormat(add, defPath, def, false)
	}
	if legacy {
		switch headerType {
		case "preserve":
			s.Extract, s.Inject = KongExtractOrder, []Format{Preserve}
		case "ignore":
			s.Inject = []Format{s.DefaultFormat}
		default:
			f, ok := FormatNames[headerType]
			if !ok {
				badFormat(add, "header_type", headerType, false)
			}
			s.Extract, s.Inject = KongExtractOrder, []Format{Preserve, f}
		}
		return s
	}
	for i, name := range p.Extract {
		path := "propagation.extract[" + strconv.Itoa(i) + "]"
		switch f, ok := FormatNames[name]; {
		case !ok || f == B3Single:
			badFormat(add, path, name, false)
		default:
			s.Extract = append(s.Extract, f)
		}
	}
	for i, name := range p.Inject {
		path := "propagation.inject[" + strconv.Itoa(i) + "]"
		if name == "preserve" {
			s.Inject = append(s.Inject, Preserve)
			continue
		}
		f, ok := FormatNames[name]
		if !ok {
			badFormat(add, path, name, true)
		}
		s.Inject = append(s.Inject, f)
	}
	for i, name := range p.Clear {
		if !plugin.ValidHeaderName(name) {
			add("propagation.clear["+strconv.Itoa(i)+"]", "bad header name '"+name+"', allowed characters are A-Z, a-z, 0-9, '_', and '-'")
			continue
		}
		s.Clear = append(s.Clear, textproto.CanonicalMIMEHeaderKey(name))
	}
	return s
}

func badFormat(add func(path, msg string), path, name string, preserve bool) {
	if name == "instana" {
		add(path, "the instana format is not supported")
		return
	}
	list := "w3c, b3, jaeger, ot, aws, gcp, datadog"
	if strings.HasPrefix(path, "propagation.inject") || strings.HasSuffix(path, "default_format") ||
		path == "header_type" || path == "default_header_type" {
		list = "w3c, b3, b3-single, jaeger, ot, aws, gcp, datadog"
	}
	if preserve {
		list = "preserve, " + list
	}
	if path == "header_type" {
		list = "preserve, ignore, " + list
	}
	add(path, "expected one of: "+list)
}

// Propagate clears p's headers from h and injects sc in p's formats,
// Preserve resolved to parent's format (B3 as it came, single or multi),
// else the default. buf is scratch space; the grown buffer is returned.
func (p *Params) Propagate(h http.Header, sc *SpanContext, parent *SpanContext, buf []byte) []byte {
	for _, k := range p.Clear {
		delete(h, k)
	}
	for _, f := range p.Inject {
		if f == Preserve {
			f = parent.From
			if f == None {
				f = p.DefaultFormat
			}
			if f == B3 && parent.Single {
				f = B3Single
			}
		}
		buf = sc.Inject(h, f, buf[:0])
	}
	return buf
}

// RandomID fills b (a multiple of 8 bytes long) with random bytes, never
// all zeros (an invalid id). math/rand/v2's generator is per thread and
// seeded from the system's: no lock, and not predictable from the ids a
// client sees.
func RandomID(b []byte) {
	for {
		for i := 0; i < len(b); i += 8 {
			binary.LittleEndian.PutUint64(b[i:], rand.Uint64())
		}
		for _, c := range b {
			if c != 0 {
				return
			}
		}
	}
}
