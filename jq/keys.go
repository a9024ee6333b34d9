package jq

import (
	"slices"
	"strings"

	"github.com/itchyny/gojq"
)

// Most of an event's bytes are its bodies, and building map[string]any for
// whole events is most of a query's cost. A program that reads only some of
// the event's top-level keys gets a map of those keys alone: inputKeys walks
// the program and finds them, and answers "all" for anything it does not
// understand (the event as a whole reaches the output or a function, `..`,
// `keys`, a dynamic index, a function definition...).

// keyAnalysis collects the top-level keys a program reads from its input
// and, for a key read only as `.key.sub`, the subkeys.
type keyAnalysis struct {
	keys  map[string]*subkeys
	whole bool // the program may see more of the input than keys
}

// subkeys are the members of a top-level object value that a program reads.
type subkeys struct {
	all   bool // the value is read as a whole
	names map[string]bool
}

// read notes that the program reads .key, or with sub, .key.sub only.
func (a *keyAnalysis) read(key, sub string) {
	k := a.keys[key]
	if k == nil {
		k = &subkeys{names: map[string]bool{}}
		a.keys[key] = k
	}
	if sub == "" {
		k.all = true
	} else {
		k.names[sub] = true
	}
}

// field is a top-level key of the event a program reads, and, when it reads
// only some members of that key's object, their names.
type field struct {
	Key string
	Sub []string // nil: the whole value
}

// inputFields returns the top-level keys of its input that q reads, sorted,
// each with the members read when only .key.member is read of it; false when
// q may read the input in another way.
func inputFields(q *gojq.Query) ([]field, bool) {
	a := &keyAnalysis{keys: map[string]*subkeys{}}
	if a.query(q, true) {
		a.whole = true // the output holds the input itself
	}
	if a.whole {
		return nil, false
	}
	fields := make([]field, 0, len(a.keys))
	for k, sk := range a.keys {
		f := field{Key: k}
		if !sk.all {
			for n := range sk.names {
				f.Sub = append(f.Sub, n)
			}
			slices.Sort(f.Sub)
		}
		fields = append(fields, f)
	}
	slices.SortFunc(fields, func(x, y field) int { return strings.Compare(x.Key, y.Key) })
	return fields, true
}

// query analyses q run with `.` the input when in is true, and reports
// whether q's output may be the input itself.
func (a *keyAnalysis) query(q *gojq.Query, in bool) bool {
	if q == nil || a.whole {
		return false
	}
	if len(q.FuncDefs) > 0 || len(q.Imports) > 0 {
		a.whole = true
		return false
	}
	if q.Term != nil {
		return a.term(q.Term, in)
	}
	if len(q.Patterns) > 0 { // Left as $x | Right: Right runs on the same input
		if a.query(q.Left, in) && in {
			a.whole = true // $x is the input
		}
		return a.query(q.Right, in)
	}
	switch q.Op {
	case gojq.OpPipe:
		left := a.query(q.Left, in)
		return a.query(q.Right, in && left)
	case gojq.OpComma, gojq.OpAlt:
		l := a.query(q.Left, in)
		r := a.query(q.Right, in)
		return l || r
	case gojq.OpAnd, gojq.OpOr:
		a.query(q.Left, in) // truthiness only
		a.query(q.Right, in)
		return false
	case gojq.OpAssign, gojq.OpModify, gojq.OpUpdateAdd, gojq.OpUpdateSub, gojq.OpUpdateMul,
		gojq.OpUpdateDiv, gojq.OpUpdateMod, gojq.OpUpdateAlt:
		if in {
			a.whole = true // the output is the input, updated
		}
		return false
	}
	// Arithmetic and comparison: the input as an operand is read whole.
	l := a.query(q.Left, in)
	r := a.query(q.Right, in)
	if l || r {
		a.whole = true
	}
	return false
}

// passThrough are functions whose output is what their argument f outputs
// on the same input, and which read nothing else of it.
var passThrough = map[string]bool{"first": true, "last": true, "limit": true}

// ignoresInput are functions that do not read `.`.
var ignoresInput = map[string]bool{"empty": true, "now": true, "env": true, "input_line_number": true,
	"halt": true, "not": true}

func (a *keyAnalysis) term(t *gojq.Term, in bool) bool {
	passes := false
	switch t.Type {
	case gojq.TermTypeIdentity:
		passes = in
	case gojq.TermTypeRecurse:
		if in {
			a.whole = true
		}
	case gojq.TermTypeIndex:
		if in && len(t.SuffixList) > 0 && t.SuffixList[0].Index != nil {
			// .key.sub: only sub of key's value is read, unless more suffixes
			// or other uses say otherwise.
			if key, sub := constKey(t.Index), constKey(t.SuffixList[0].Index); key != "" && sub != "" {
				a.read(key, sub)
				a.index(t.Index, false, in)
				a.index(t.SuffixList[0].Index, false, in)
				for _, s := range t.SuffixList[1:] {
					if s.Index != nil {
						a.index(s.Index, false, in)
					}
				}
				return false
			}
		}
		a.index(t.Index, in, in)
	case gojq.TermTypeFunc:
		passes = a.function(t.Func, in)
	case gojq.TermTypeObject:
		for _, kv := range t.Object.KeyVals {
			switch {
			case kv.Val == nil && kv.KeyString == nil && kv.KeyQuery == nil && !strings.HasPrefix(kv.Key, "$"):
				if in {
					a.read(kv.Key, "") // {verb} is {verb: .verb}
				}
			case kv.Val == nil && !strings.HasPrefix(kv.Key, "$"):
				if in {
					a.whole = true // {"\(x)"} and {(x)}: a key computed from the input
				}
			}
			a.str(kv.KeyString, in)
			if a.query(kv.KeyQuery, in) || a.query(kv.Val, in) {
				a.whole = true
			}
		}
	case gojq.TermTypeArray:
		if t.Array.Query != nil && a.query(t.Array.Query, in) {
			a.whole = true
		}
	case gojq.TermTypeString:
		a.str(t.Str, in)
	case gojq.TermTypeFormat:
		if in {
			a.whole = true // @base64 and the like format `.`
		}
		a.str(t.Str, in)
	case gojq.TermTypeUnary:
		if a.term(t.Unary.Term, in) {
			a.whole = true
		}
	case gojq.TermTypeIf:
		a.query(t.If.Cond, in) // truthiness only
		passes = a.query(t.If.Then, in)
		for _, e := range t.If.Elif {
			a.query(e.Cond, in)
			passes = a.query(e.Then, in) || passes
		}
		if t.If.Else == nil {
			passes = passes || in
		} else {
			passes = a.query(t.If.Else, in) || passes
		}
	case gojq.TermTypeTry:
		passes = a.query(t.Try.Body, in)
		a.query(t.Try.Catch, false) // `.` is the error
	case gojq.TermTypeReduce:
		if a.query(t.Reduce.Query, in) || a.query(t.Reduce.Start, in) {
			a.whole = true
		}
		a.query(t.Reduce.Update, false)
	case gojq.TermTypeForeach:
		if a.query(t.Foreach.Query, in) || a.query(t.Foreach.Start, in) {
			a.whole = true
		}
		a.query(t.Foreach.Update, false)
		a.query(t.Foreach.Extract, false)
	case gojq.TermTypeLabel:
		passes = a.query(t.Label.Body, in)
	case gojq.TermTypeQuery:
		passes = a.query(t.Query, in)
	case gojq.TermTypeNull, gojq.TermTypeTrue, gojq.TermTypeFalse, gojq.TermTypeNumber, gojq.TermTypeBreak:
	default:
		if in {
			a.whole = true
		}
	}
	for _, s := range t.SuffixList {
		switch {
		case s.Index != nil:
			a.index(s.Index, passes && in, in)
			passes = false
		case s.Iter:
			if passes && in {
				a.whole = true // .[] over the input
			}
			passes = false
		}
	}
	return passes
}

// index records .key applied to the input (onInput); in is the context of
// the index's own expressions.
func (a *keyAnalysis) index(ix *gojq.Index, onInput, in bool) {
	if a.query(ix.Start, in) || a.query(ix.End, in) {
		a.whole = true
	}
	if !onInput {
		return
	}
	if k := constKey(ix); k != "" {
		a.read(k, "")
	} else {
		a.whole = true
	}
}

// constKey returns the key of .key, ."key" or .["key"], or "".
func constKey(ix *gojq.Index) string {
	switch {
	case ix.Name != "":
		return ix.Name
	case ix.Str != nil && len(ix.Str.Queries) == 0 && !ix.IsSlice && ix.Start == nil:
		return ix.Str.Str
	case !ix.IsSlice && ix.End == nil && constString(ix.Start) != nil: // .["key"]
		return constString(ix.Start).Str
	}
	return ""
}

// constString returns the string of a query that is a string literal.
func constString(q *gojq.Query) *gojq.String {
	if q == nil || q.Term == nil || q.Term.Type != gojq.TermTypeString || len(q.Term.SuffixList) > 0 ||
		q.Term.Str == nil || len(q.Term.Str.Queries) > 0 {
		return nil
	}
	return q.Term.Str
}

func (a *keyAnalysis) str(s *gojq.String, in bool) {
	if s == nil {
		return
	}
	for _, q := range s.Queries {
		if a.query(q, in) {
			a.whole = true // "\(.)" prints the input
		}
	}
}

// function analyses a call; it reports whether the call may output the input.
func (a *keyAnalysis) function(f *gojq.Func, in bool) bool {
	if strings.HasPrefix(f.Name, "$") {
		return false // a variable
	}
	switch {
	case !in:
		for _, arg := range f.Args {
			a.query(arg, false)
		}
		return false
	case f.Name == "select" && len(f.Args) == 1:
		a.query(f.Args[0], true)
		return true
	case passThrough[f.Name] && len(f.Args) > 0:
		passes := false
		for _, arg := range f.Args {
			passes = a.query(arg, true) || passes
		}
		return passes
	case ignoresInput[f.Name]:
		return false
	case (f.Name == "error" || f.Name == "halt_error") && len(f.Args) > 0:
		for _, arg := range f.Args {
			if a.query(arg, true) {
				a.whole = true
			}
		}
		return false
	}
	a.whole = true // a function of `.`, which may look at every key
	return false
}
