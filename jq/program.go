package jq

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/itchyny/gojq"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/internal/jsonscan"
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

	keys        []string   // the top-level keys of the input the program reads
	fields      []field    // keys, with the members read of each
	keysKnown   bool       // false: it may read the whole input
	sequential  bool       // it reads other inputs, or prints in its own order
	wantsSource bool       // it reads $__source__
	projection  projection // [.a, .b.c, …]: run without gojq where it can
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
	names = append(names, "$ARGS", sourceVar)
	values = append(values, map[string]any{"named": named, "positional": []any{}}, nil)
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
		sequential: orderedFuncs.MatchString(q.String()), wantsSource: strings.Contains(q.String(), sourceVar),
		projection: projectionOf(q)}, nil
}

// sourceVar is the variable that holds where the event a program runs on
// came from: {source, format, cluster, node, file} (see SourceOf).
const sourceVar = "$__source__"

// SourceOf is the value of $__source__ for ev: its Source, the format of
// its export (null for kube-apiserver's lines), the cluster and node its
// envelope names (or null), and its file.
func SourceOf(ev *auditlog.Event) map[string]any {
	o := ev.Origin()
	orNull := func(b []byte) any {
		if len(b) == 0 {
			return nil
		}
		return string(b)
	}
	m := map[string]any{"source": ev.Source(), "format": orNull([]byte(o.Format)), "cluster": orNull(o.Cluster),
		"node": orNull(o.Node), "file": orNull([]byte(ev.Pos().File))}
	return m
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
			v, decoded = jsonscan.Select(raw, f.Sub)
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
	if p.projection != nil {
		if out, ok := p.projection.eval(v); ok {
			return &oneResult{v: out}
		}
	}
	return p.code.RunWithContext(ctx, v, p.vars...)
}

// RunEvent is Run with $__source__ bound to source (SourceOf an event, or
// nil), for the program's run on that event.
func (p *Program) RunEvent(ctx context.Context, v any, source map[string]any) gojq.Iter {
	if !p.wantsSource || source == nil {
		return p.Run(ctx, v)
	}
	vars := slices.Clone(p.vars)
	vars[len(vars)-1] = source
	return p.code.RunWithContext(ctx, v, vars...)
}

// WantsSource reports whether the program reads $__source__, so that the
// caller builds SourceOf only then.
func (p *Program) WantsSource() bool { return p.wantsSource }
