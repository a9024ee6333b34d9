package query

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/bytedance/sonic"

	"github.com/itchyny/gojq"

	"github.com/auditq/auditq/auditlog"
)

// Var is a named value bound to $Name in a jq program (jq's --arg and --argjson).
type Var struct {
	Name  string
	Value any
}

// Config is what a jq Program may use besides its input.
type Config struct {
	Vars []Var // bound in order; also listed in $ARGS.named
	// Inputs serves jq's input and inputs. Nil means there are none.
	Inputs gojq.Iter
	// Environ serves $ENV and env. Nil leaves the environment out, as gojq's library does.
	Environ func() []string
	// Filename serves input_filename: the file of the current input, or nil.
	Filename func() any
}

// Program is a compiled jq program. Run may be called from several goroutines
// at once (gojq's compiled code is safe to share).
type Program struct {
	code *gojq.Code
	vars []any

	keys       []string // the top-level keys of the input the program reads
	fields     []field  // keys, with the members read of each
	keysKnown  bool     // false: it may read the whole input
	sequential bool     // it reads other inputs, or prints in its own order
}

// Keys returns the top-level keys of its input that the program reads, and
// true; or nil and false when it may read the input as a whole (`.`, keys,
// `..`, a function of the input...). ValueOf(ev, keys) is then all it needs.
func (p *Program) Keys() ([]string, bool) { return p.keys, p.keysKnown }

// Sequential reports whether the program must see the inputs one at a time in
// order: it calls input, inputs, input_filename, input_line_number, debug or
// stderr. Other programs may run on many inputs at once.
func (p *Program) Sequential() bool { return p.sequential }

var orderedFuncs = regexp.MustCompile(`\b(inputs?|input_filename|input_line_number|debug|stderr)\b`)

// CompileError is a jq program that does not parse or compile.
type CompileError struct {
	Expr string
	Err  error
}

func (e *CompileError) Error() string {
	if pe, ok := e.Err.(*gojq.ParseError); ok {
		// Point at the offending token as jq does.
		col := max(pe.Offset-len(pe.Token), 0)
		line := e.Expr
		if i := strings.LastIndexByte(line[:min(col, len(line))], '\n'); i >= 0 {
			line, col = line[i+1:], col-i-1
		}
		if i := strings.IndexByte(line, '\n'); i >= 0 {
			line = line[:i]
		}
		return fmt.Sprintf("invalid query: %s\n    %s\n    %*c  %v", e.Expr, line, col+1, '^', pe)
	}
	return fmt.Sprintf("compile error: %v", e.Err)
}

func (e *CompileError) Unwrap() error { return e.Err }

// Compile parses and compiles expr, a jq program, with gojq.
func Compile(expr string, cfg Config) (*Program, error) {
	q, err := gojq.Parse(expr)
	if err != nil {
		return nil, &CompileError{expr, err}
	}
	names := make([]string, 0, len(cfg.Vars)+1)
	values := make([]any, 0, len(cfg.Vars)+1)
	named := make(map[string]any, len(cfg.Vars))
	for _, v := range cfg.Vars {
		names = append(names, "$"+v.Name)
		values = append(values, v.Value)
		named[v.Name] = v.Value
	}
	names = append(names, "$ARGS")
	values = append(values, map[string]any{"named": named, "positional": []any{}})
	opts := []gojq.CompilerOption{gojq.WithVariables(names)}
	if cfg.Inputs != nil {
		opts = append(opts, gojq.WithInputIter(cfg.Inputs))
	}
	if cfg.Environ != nil {
		opts = append(opts, gojq.WithEnvironLoader(cfg.Environ))
	}
	if cfg.Filename != nil {
		opts = append(opts, gojq.WithFunction("input_filename", 0, 0, func(any, []any) any { return cfg.Filename() }))
	}
	code, err := gojq.Compile(q, opts...)
	if err != nil {
		return nil, &CompileError{expr, err}
	}
	fields, known := inputFields(q)
	keys := make([]string, len(fields))
	for i, f := range fields {
		keys[i] = f.Key
	}
	return &Program{code: code, vars: values, keys: keys, fields: fields, keysKnown: known,
		sequential: orderedFuncs.MatchString(q.String())}, nil
}

// Input decodes of ev what the program reads: ValueOf its keys, with only the
// members it reads of an object it reads as .key.member, when Keys knows
// them; otherwise Value(ev). The program's results on it are its results on
// Value(ev). Input is fastest on events read WithRawFields.
func (p *Program) Input(ev *auditlog.Event) (any, error) {
	if !p.keysKnown {
		return Value(ev)
	}
	m := make(map[string]any, len(p.fields))
	for _, f := range p.fields {
		raw, ok := ev.RawField(f.Key)
		if !ok {
			continue
		}
		var v any
		decoded := false
		if f.Sub != nil {
			v, decoded = fastMembers(raw, f.Sub)
		}
		if !decoded {
			var err error
			if v, err = decodeScalar(raw); err != nil {
				return nil, err
			}
		}
		m[f.Key] = v
	}
	return m, nil
}

// Run runs the program on v and returns its results; an error result is a
// value of type error, as with gojq.
func (p *Program) Run(ctx context.Context, v any) gojq.Iter {
	return p.code.RunWithContext(ctx, v, p.vars...)
}

// Value decodes ev into the value gojq works on: map[string]any with numbers
// as json.Number, exactly as the gojq command reads its input, so a program's
// results print as gojq prints them.
func Value(ev *auditlog.Event) (any, error) {
	return decodeJSON(ev.Raw())
}

// ValueOf is Value for a program that reads only keys (see Program.Keys): a
// map of those of the event's top-level members, decoded as Value decodes
// them, without decoding the rest.
func ValueOf(ev *auditlog.Event, keys []string) (any, error) {
	m := make(map[string]any, len(keys))
	for _, k := range keys {
		raw, ok := ev.RawField(k)
		if !ok {
			continue
		}
		v, err := decodeScalar(raw)
		if err != nil {
			return nil, err
		}
		m[k] = v
	}
	return m, nil
}

// decodeScalar is decodeJSON with a fast path for the values most keys hold:
// a string without escapes, a literal, a number.
func decodeScalar(raw []byte) (any, error) {
	switch {
	case len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"':
		body := raw[1 : len(raw)-1]
		if bytes.IndexByte(body, '\\') < 0 && bytes.IndexByte(body, '"') < 0 && utf8.Valid(body) && !hasControl(body) {
			return string(body), nil
		}
	case string(raw) == "null":
		return nil, nil
	case string(raw) == "true":
		return true, nil
	case string(raw) == "false":
		return false, nil
	}
	if v, ok := fastValue(raw); ok {
		return v, nil
	}
	return decodeJSON(raw)
}

func hasControl(b []byte) bool {
	for _, c := range b {
		if c < 0x20 {
			return true
		}
	}
	return false
}

// ParseJSON decodes one JSON value as the gojq command does (for --argjson).
func ParseJSON(data []byte) (any, error) {
	return decodeJSON(data)
}

// sonicAPI decodes as encoding/json with UseNumber does. CopyString: the
// values outlive the Reader's buffer (-s keeps them all).
var sonicAPI = sonic.Config{UseNumber: true, CopyString: true}.Froze()

// ParseJSONStream decodes the JSON values in data, one after another, as the
// gojq command does for --slurpfile.
func ParseJSONStream(data []byte) ([]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	values := []any{}
	for {
		var v any
		err := dec.Decode(&v)
		if err == io.EOF {
			return values, nil
		}
		if err != nil {
			return nil, err
		}
		values = append(values, v)
	}
}

func decodeJSON(data []byte) (any, error) {
	// sonic is ~2x faster into map[string]any (BenchmarkValue). Invalid UTF-8 goes to
	// encoding/json, whose U+FFFD replacement gojq's output depends on, and so
	// does anything sonic rejects, for encoding/json's error message.
	if utf8.Valid(data) {
		var v any
		if err := sonicAPI.Unmarshal(data, &v); err == nil {
			return v, nil
		}
	}
	return decodeStd(data)
}

func decodeStd(data []byte) (any, error) {
	values, err := ParseJSONStream(data)
	switch {
	case err != nil:
		return nil, err
	case len(values) != 1:
		return nil, fmt.Errorf("want one JSON value, found %d", len(values))
	}
	return values[0], nil
}

// fastValue decodes the common shape of a small audit value (objects, arrays,
// strings without escapes, numbers, literals) without sonic's per-call cost.
// It reports false for anything else, which decodeJSON then decodes. Values
// come from the auditlog decoder, which has checked their syntax.
func fastValue(raw []byte) (any, bool) {
	d := fastDecoder{data: raw}
	v, ok := d.value(0)
	if !ok || d.pos != len(raw) {
		return nil, false
	}
	return v, true
}

// fastMembers decodes of the object raw only the members named in names, as
// fastValue would; false for anything fastValue would decline (an escaped
// key, whitespace), so that the caller decodes the whole value.
func fastMembers(raw []byte, names []string) (map[string]any, bool) {
	if len(raw) < 2 || raw[0] != '{' {
		return nil, false
	}
	d := fastDecoder{data: raw, pos: 1}
	m, ok := d.object(0, names)
	return m, ok && d.pos == len(raw)
}

// object decodes the members of an object whose '{' has been read, through
// its '}': all of them, or with only set, those named there (the others are
// skipped).
func (d *fastDecoder) object(depth int, only []string) (map[string]any, bool) {
	m := make(map[string]any, len(only))
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		return m, true
	}
	for {
		if d.pos >= len(d.data) || d.data[d.pos] != '"' {
			return nil, false
		}
		k, ok := d.str()
		if !ok || d.pos >= len(d.data) || d.data[d.pos] != ':' {
			return nil, false
		}
		d.pos++
		if only == nil || slices.Contains(only, k) {
			v, ok := d.value(depth + 1)
			if !ok {
				return nil, false
			}
			m[k] = v
		} else if !d.skip() {
			return nil, false
		}
		if d.pos >= len(d.data) {
			return nil, false
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case '}':
			d.pos++
			return m, true
		default:
			return nil, false
		}
	}
}

// skip moves past one value, which the auditlog decoder has checked, to the
// ',' or '}' or ']' after it.
func (d *fastDecoder) skip() bool {
	depth := 0
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case '"':
			i := d.pos + 1
			for {
				j := bytes.IndexByte(d.data[i:], '"')
				if j < 0 {
					return false
				}
				i += j
				backslashes := 0
				for k := i - 1; d.data[k] == '\\'; k-- {
					backslashes++
				}
				i++
				if backslashes%2 == 0 {
					break
				}
			}
			d.pos = i
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return true
			}
			depth--
		case ',':
			if depth == 0 {
				return true
			}
		}
		d.pos++
	}
	return false
}

type fastDecoder struct {
	data []byte
	pos  int
}

func (d *fastDecoder) value(depth int) (any, bool) {
	if d.pos >= len(d.data) || depth > 32 {
		return nil, false
	}
	switch c := d.data[d.pos]; {
	case c == '"':
		s, ok := d.str()
		return s, ok
	case c == '{':
		d.pos++
		m, ok := d.object(depth, nil)
		return m, ok
	case c == '[':
		d.pos++
		a := []any{}
		if d.pos < len(d.data) && d.data[d.pos] == ']' {
			d.pos++
			return a, true
		}
		for {
			v, ok := d.value(depth + 1)
			if !ok || d.pos >= len(d.data) {
				return nil, false
			}
			a = append(a, v)
			switch d.data[d.pos] {
			case ',':
				d.pos++
			case ']':
				d.pos++
				return a, true
			default:
				return nil, false
			}
		}
	case c == '-' || '0' <= c && c <= '9':
		start := d.pos
		for d.pos < len(d.data) && strings.IndexByte("+-.eE0123456789", d.data[d.pos]) >= 0 {
			d.pos++
		}
		return json.Number(d.data[start:d.pos]), true
	}
	for _, lit := range [...]struct {
		s string
		v any
	}{{"null", nil}, {"true", true}, {"false", false}} {
		if bytes.HasPrefix(d.data[d.pos:], []byte(lit.s)) {
			d.pos += len(lit.s)
			return lit.v, true
		}
	}
	return nil, false
}

// str reads a string without escapes, control bytes or invalid UTF-8.
func (d *fastDecoder) str() (string, bool) {
	body := d.data[d.pos+1:]
	end := bytes.IndexByte(body, '"')
	if end < 0 {
		return "", false
	}
	body = body[:end]
	if bytes.IndexByte(body, '\\') >= 0 || hasControl(body) || !utf8.Valid(body) {
		return "", false
	}
	d.pos += end + 2
	return string(body), true
}
