package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// errNotJSON is why parseJSONTree gives a document back to the YAML parser.
var errNotJSON = errors.New("not JSON")

// jsonSyntaxError is errNotJSON with where and why the tokenizer stopped,
// reported when the YAML parser cannot read the document either and it
// was meant as JSON.
type jsonSyntaxError struct {
	line int
	msg  string
}

func (e *jsonSyntaxError) Error() string {
	return fmt.Sprintf("line %d: invalid JSON: %s", e.line, e.msg)
}

func (e *jsonSyntaxError) Is(target error) bool { return target == errNotJSON }

// parseJSONTree builds the value tree of a JSON document (what decK and
// most POST /config clients send) with encoding/json's tokenizer, which
// costs a fraction of what the YAML parser does and reads every JSON escape
// (`\/`, surrogate pairs) that YAML does not. A document that is not JSON
// gives errNotJSON: flow-style YAML such as `{a: 1}` looks the same at
// first.
func parseJSONTree(data []byte) (*value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	p := jsonTree{dec: dec, data: data, line: 1}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errNotJSON
	}
	return v, nil
}

type jsonTree struct {
	dec  *json.Decoder
	data []byte
	// line is the line of offset: the decoder only moves forward.
	line, offset int
}

// token reads the next token and the line it ends on (JSON tokens do not
// span lines).
func (p *jsonTree) token() (json.Token, int, error) {
	tok, err := p.dec.Token()
	if err != nil {
		var se *json.SyntaxError
		if !errors.As(err, &se) {
			return nil, 0, errNotJSON
		}
		end := min(int(se.Offset), len(p.data))
		return nil, 0, &jsonSyntaxError{line: p.line + bytes.Count(p.data[p.offset:end], []byte{'\n'}), msg: se.Error()}
	}
	end := int(p.dec.InputOffset())
	p.line += bytes.Count(p.data[p.offset:end], []byte{'\n'})
	p.offset = end
	return tok, p.line, nil
}

func (p *jsonTree) value() (*value, error) {
	tok, ln, err := p.token()
	if err != nil {
		return nil, err
	}
	var v *value
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			v = &value{kind: kindMap, line: ln}
			var ix keyIndex
			for p.dec.More() {
				kt, kln, err := p.token()
				if err != nil {
					return nil, err
				}
				key := kt.(string)
				if j := ix.find(v, key); j >= 0 {
					return nil, fmt.Errorf("line %d: mapping key %q already defined at line %d", kln, key, v.vals[j].line)
				}
				val, err := p.value()
				if err != nil {
					return nil, err
				}
				ix.set(v, key, val)
			}
		case '[':
			v = &value{kind: kindSeq, items: []*value{}, line: ln}
			for p.dec.More() {
				item, err := p.value()
				if err != nil {
					return nil, err
				}
				v.items = append(v.items, item)
			}
		}
		if _, _, err := p.token(); err != nil {
			return nil, err
		}
	case string:
		v = &value{kind: kindString, str: t, line: ln}
	case json.Number:
		if i, err := strconv.ParseInt(string(t), 10, 64); err == nil {
			v = &value{kind: kindInt, i: i, line: ln}
		} else if f, err := strconv.ParseFloat(string(t), 64); err == nil || errors.Is(err, strconv.ErrRange) {
			v = &value{kind: kindFloat, f: f, line: ln}
		} else {
			return nil, errNotJSON
		}
	case bool:
		v = &value{kind: kindBool, b: t, line: ln}
	case nil:
		v = &value{kind: kindNull, line: ln}
	}
	return v, measure(v)
}

// meantAsJSON reports a document that opens as JSON does, with a quoted
// key or an array of JSON values, rather than as flow YAML (`{a: 1}`): when
// neither parser reads it, the JSON tokenizer's error is the one to report.
func meantAsJSON(t []byte) bool {
	if t[0] == '[' {
		return true
	}
	t = bytes.TrimLeft(t[1:], " \t\r\n")
	return len(t) > 0 && (t[0] == '"' || t[0] == '}')
}
