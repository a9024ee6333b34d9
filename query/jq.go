package query

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
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
}

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
	return &Program{code: code, vars: values}, nil
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
