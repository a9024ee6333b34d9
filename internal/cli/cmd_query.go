package cli

import (
	"bytes"
	"errors"
	"fmt"
	"iter"
	"os"
	"slices"
	"strings"

	"github.com/itchyny/gojq"
	"github.com/spf13/cobra"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/jq"
)

type queryOptions struct {
	inputFlags
	compact, raw, join, exitStatus, nullInput, slurp bool
	tab                                              bool
	indent                                           int
	args, argsJSON, slurpFiles, rawFiles             []string
	fromFile, raw0                                   bool
}

func newQueryCommand(e *env) *cobra.Command {
	o := &queryOptions{}
	cmd := &cobra.Command{
		Use:   "query [flags] EXPR [FILE|DIR|-]...",
		Short: "Run a jq expression on each event (gojq)",
		Long: `Run a jq expression on each event that passes the filters, as gojq would on
the same lines: the same results, printed byte for byte as gojq prints them
(object keys sorted, 2-space indent). jq's flags work as in jq; -n is jq's
--null-input here (use --namespace for the namespace filter), and with it the
events are read with input and inputs. input_filename gives an event's file.

` + inputsHelp,
		Example: `  # The setup guides' recipes
  auditq query . audit.log
  auditq query -c '[.auditID,.verb,.requestURI,.user.username,.responseStatus.code,.stageTimestamp]' audit.log
  auditq query 'select(.auditID=="d1053ee5-4d3c-4d86-a2a6-9dfa0e3b1f6b")' audit.log
  auditq query 'select(.user.username=="system:serviceaccount:kube-system:default")' audit.log

  # Filters before the expression are faster and never miss an escaped spelling
  auditq query --sa nnf-system:nnf-clientmount -c '[.verb,.requestURI]' audit.log

  # Count events by verb over all of them
  auditq query -n 'reduce inputs as $e ({}; .[$e.verb] += 1)' audit.log

  # Variables, as in jq
  auditq query --arg ns kube-system -r 'select(.objectRef.namespace==$ns) | .requestURI' audit.log`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			expr := args[0]
			if o.fromFile {
				src, err := os.ReadFile(expr)
				if err != nil {
					return &exitError{exitUsage, fmt.Sprintf("-f: %v", err)}
				}
				expr = string(src)
			}
			return runQuery(e, o, expr, args[1:])
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&o.compact, "compact-output", "c", false, "one value per line, no pretty-printing")
	fs.BoolVarP(&o.raw, "raw-output", "r", false, "print strings without quotes")
	fs.BoolVarP(&o.join, "join-output", "j", false, "like -r, with no newline after each value")
	fs.BoolVarP(&o.exitStatus, "exit-status", "e", false, "exit 1 if the last value is false or null, 4 if there is none")
	fs.BoolVarP(&o.nullInput, "null-input", "n", false, "run once on null; read events with input/inputs")
	fs.BoolVarP(&o.slurp, "slurp", "s", false, "run once on the array of all (filtered) events")
	fs.BoolVar(&o.tab, "tab", false, "indent with tabs")
	fs.IntVar(&o.indent, "indent", 2, "spaces of indentation (0-7)")
	fs.StringArrayVar(&o.args, "arg", nil, "`NAME VALUE`: bind $NAME to the string VALUE")
	fs.StringArrayVar(&o.argsJSON, "argjson", nil, "`NAME JSON`: bind $NAME to the JSON value")
	fs.StringArrayVar(&o.slurpFiles, "slurpfile", nil, "`NAME FILE`: bind $NAME to the array of JSON values in FILE")
	fs.StringArrayVar(&o.rawFiles, "rawfile", nil, "`NAME FILE`: bind $NAME to the contents of FILE")
	fs.BoolVarP(&o.fromFile, "from-file", "f", false, "read the expression from the file EXPR names")
	fs.BoolVar(&o.raw0, "raw-output0", false, "like -r, with a NUL after each value")
	o.addFilterFlags(cmd, false)
	o.addFollowFlags(cmd)
	return cmd
}

func runQuery(e *env, o *queryOptions, expr string, inputs []string) error {
	if o.indent < 0 || o.indent > 7 {
		return &exitError{exitUsage, fmt.Sprintf("--indent %d: want 0 to 7", o.indent)}
	}
	var vars []jq.Var
	for _, a := range o.args {
		name, value, _ := strings.Cut(a, "=")
		vars = append(vars, jq.Var{Name: name, Value: value})
	}
	for _, a := range o.argsJSON {
		name, value, _ := strings.Cut(a, "=")
		v, err := jq.ParseJSON([]byte(value))
		if err != nil {
			return &exitError{exitUsage, fmt.Sprintf("--argjson %s: invalid JSON text: %s", name, quoteArg(value))}
		}
		vars = append(vars, jq.Var{Name: name, Value: v})
	}

	for _, a := range o.slurpFiles {
		name, file, _ := strings.Cut(a, "=")
		data, err := os.ReadFile(file)
		if err != nil {
			return &exitError{exitUsage, fmt.Sprintf("--slurpfile %s: %v", name, err)}
		}
		values, err := jq.ParseJSONStream(data)
		if err != nil {
			return &exitError{exitUsage, fmt.Sprintf("--slurpfile %s: %s: %v", name, quoteArg(file), err)}
		}
		vars = append(vars, jq.Var{Name: name, Value: values})
	}
	for _, a := range o.rawFiles {
		name, file, _ := strings.Cut(a, "=")
		data, err := os.ReadFile(file)
		if err != nil {
			return &exitError{exitUsage, fmt.Sprintf("--rawfile %s: %v", name, err)}
		}
		vars = append(vars, jq.Var{Name: name, Value: string(data)})
	}

	// Compile before reading anything: a typo costs nothing.
	src := &eventInputs{}
	prog, err := jq.Compile(expr, jq.Config{
		Vars:     vars,
		Inputs:   src,
		Environ:  e.environ,
		Filename: src.filename,
	})
	if err != nil {
		msg := escapeLines(err.Error())
		if o.nullInput && looksLikeNamespace(expr) {
			msg += "\nauditq: hint: in query, -n is jq's --null-input; filter a namespace with --namespace " + expr
		}
		return &exitError{exitCompile, msg}
	}

	if o.follow && (o.slurp || o.nullInput) {
		return &exitError{exitUsage, "--follow reads without end: it cannot be used with --slurp or --null-input"}
	}
	s, err := newSession(e, &o.inputFlags, inputs)
	if err != nil {
		return err
	}
	enc := jsonEncoder{indent: o.indent, tab: o.tab, terminal: e.stdoutTTY, colors: o.palette(e)}
	if o.compact {
		enc.indent = -1
	} else if o.tab {
		enc.indent = 1
	}
	r := &queryRun{s: s, prog: prog, enc: enc, raw: o.raw || o.join || o.raw0}
	switch {
	case o.raw0:
		r.sep = []byte{0}
	case !o.join:
		r.sep = []byte{'\n'}
	}

	if !o.nullInput && !o.slurp && !prog.Sequential() {
		r.runParallel()
	} else {
		next, stop := iter.Pull(s.events())
		src.next, src.session, src.prog = next, s, prog
		res := &eventResult{}
		switch {
		case o.nullInput:
			r.emit(r.evaluate(nil, nil, res))
		case o.slurp:
			all := []any{}
			for v := range src.values() {
				all = append(all, v)
			}
			if !s.stopped {
				r.emit(r.evaluate(all, nil, res))
			}
		default:
			for v := range src.values() {
				if r.emit(r.evaluate(v, src.source, res)); r.halted || s.writeFailed.Load() || s.stopped {
					break
				}
			}
		}
		stop()
	}

	err = s.finish("the results of the other events were printed")
	var ee *exitError
	switch {
	case r.halted:
		return &exitError{r.haltCode, ""}
	case errors.As(err, &ee) && ee.code != exitOK:
		return err
	case r.runtimeErrors > 0:
		return &exitError{exitBadInput, ""}
	case o.exitStatus && !r.anyValue:
		return &exitError{exitNotFound, ""}
	case o.exitStatus && r.lastFalsy:
		return &exitError{exitFalsy, ""}
	}
	return err
}

// looksLikeNamespace spots `query -n kube-system …`, where a kubectl user meant --namespace.
func looksLikeNamespace(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// queryRun prints a program's results as the gojq command does.
type queryRun struct {
	s                   *session
	prog                *jq.Program
	enc                 jsonEncoder // copied for each result
	raw                 bool
	sep                 []byte // after each value: newline, NUL (--raw-output0) or none (-j)
	anyValue, lastFalsy bool
	runtimeErrors       int
	halted              bool
	haltCode            int
}

// metadataKeys are the members of an audit.k8s.io/v1 Event but its bodies.
var metadataKeys = []string{"kind", "apiVersion", "level", "auditID", "stage", "requestURI", "verb", "user",
	"impersonatedUser", "authenticationMetadata", "sourceIPs", "userAgent", "objectRef", "responseStatus",
	"requestReceivedTimestamp", "stageTimestamp", "annotations"}

// eventResult is what the program gave for one input: its output, printed,
// then the error or halt that ended it.
type eventResult struct {
	out            bytes.Buffer
	err            error // a runtime error in the query, or an event that did not decode
	badInput       bool  // err is a problem with the input
	halt           *gojq.HaltError
	any, lastFalsy bool
	enc            jsonEncoder
}

// runParallel runs the program on the events on every core: workers decode
// each event (only the keys the program reads) and run the compiled program,
// which is safe to share; results are printed in input order.
func (r *queryRun) runParallel() {
	keys, known := r.prog.Keys()
	var opts []auditlog.Option
	if known {
		opts = append(opts, auditlog.WithRawFields())
		// Stepping over the bodies may also step over a member that is not
		// the v1 Event's; read them all when the program reads one.
		if !slices.ContainsFunc(keys, func(k string) bool { return !slices.Contains(metadataKeys, k) }) {
			opts = append(opts, auditlog.WithoutBodies())
			r.s.noBodies = true
		}
	}
	work := func(ev *auditlog.Event, res *eventResult) bool {
		v, err := r.prog.Input(ev)
		if err != nil {
			pos := ev.Pos()
			res.reset()
			res.err = &auditlog.ParseError{File: pos.File, Line: pos.Line, Offset: pos.Offset, Err: err}
			res.badInput = true
			return true
		}
		var source map[string]any
		if r.prog.WantsSource() {
			source = jq.SourceOf(ev)
		}
		r.evaluate(v, source, res)
		return true
	}
	for _, res := range scanEvents(r.s, work, opts...) {
		if r.emit(res); r.halted || r.s.writeFailed.Load() || r.s.stopped {
			return
		}
	}
}

func (res *eventResult) reset() {
	res.out.Reset()
	res.err, res.badInput, res.halt, res.any, res.lastFalsy = nil, false, nil, false, false
}

// evaluate runs the program on v into res. It prints nothing, so workers may
// call it concurrently, each with its own res.
func (r *queryRun) evaluate(v any, source map[string]any, res *eventResult) *eventResult {
	res.reset()
	res.enc = r.enc
	it := r.prog.RunEvent(r.s.ctx, v, source)
	for {
		out, ok := it.Next()
		if !ok {
			return res
		}
		if err, isErr := out.(error); isErr {
			var halt *gojq.HaltError
			if errors.As(err, &halt) {
				res.halt = halt
			} else {
				res.err = err
			}
			return res
		}
		if str, isStr := out.(string); isStr && r.raw {
			if res.enc.terminal {
				res.out.Write(escapeForTerminal([]byte(str)))
			} else {
				res.out.WriteString(str)
			}
		} else if err := res.enc.encode(&res.out, out); err != nil {
			res.err = err
			return res
		}
		res.out.Write(r.sep)
		res.any = true
		res.lastFalsy = out == nil || out == false
	}
}

// emit prints one input's result, in input order.
func (r *queryRun) emit(res *eventResult) {
	r.s.write(res.out.Bytes())
	if res.any {
		r.anyValue, r.lastFalsy = true, res.lastFalsy
	}
	switch {
	case res.err != nil && res.badInput:
		r.s.report(res.err)
	case res.err != nil:
		r.runtimeErrors++
		r.s.printError(res.err) // a query error, not a problem with the input
	case res.halt != nil:
		r.halt(res.halt)
	}
}

func (r *queryRun) halt(h *gojq.HaltError) {
	r.halted = true
	r.haltCode = h.ExitCode()
	r.s.out.Flush()
	if v := h.Value(); v != nil {
		if str, ok := v.(string); ok {
			r.s.env.stderr.Write([]byte(escapeLines(str)))
		} else {
			var b bytes.Buffer
			(&jsonEncoder{indent: -1, colors: noColors}).encode(&b, v)
			b.WriteByte('\n')
			r.s.env.stderr.Write(escapeForTerminal(b.Bytes()))
		}
	}
}

// eventInputs is the event stream as jq values: the main loop and jq's
// input/inputs both draw from it, as in jq.
type eventInputs struct {
	next    func() (*auditlog.Event, bool)
	session *session
	current string
	source  map[string]any // $__source__ of the event last read, when the program reads it
	prog    *jq.Program
}

func (in *eventInputs) Next() (any, bool) {
	if in.next == nil {
		return nil, false
	}
	ev, ok := in.next()
	if !ok {
		return nil, false
	}
	in.current = ev.Pos().File
	if in.prog != nil && in.prog.WantsSource() {
		in.source = jq.SourceOf(ev)
	}
	v, err := jq.Value(ev)
	if err != nil {
		pos := ev.Pos()
		return &auditlog.ParseError{File: pos.File, Line: pos.Line, Offset: pos.Offset, Err: err}, true
	}
	return v, true
}

// values yields the events as jq values for the main loop, reporting the
// (rare) event that does not decode as a problem with the input.
func (in *eventInputs) values() iter.Seq[any] {
	return func(yield func(any) bool) {
		for {
			v, ok := in.Next()
			if !ok {
				return
			}
			if err, isErr := v.(error); isErr {
				if in.session.report(err); in.session.stopped {
					return
				}
				continue
			}
			if !yield(v) {
				return
			}
		}
	}
}

func (in *eventInputs) filename() any {
	if in.current == "" {
		return nil
	}
	return in.current
}
