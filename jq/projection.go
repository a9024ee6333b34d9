package jq

import "github.com/itchyny/gojq"

// projection is a program of the form [.a, .b.c, …]: member names only,
// the commonest query over audit logs. Its run walks the input without
// gojq while every value on a path is an object or null (where jq gives
// the member, or null); anything else is left to gojq, so that errors
// and their wording stay gojq's.
type projection [][]string

// projectionOf returns q's paths when q is a projection, else nil.
func projectionOf(q *gojq.Query) projection {
	if q.Meta != nil || len(q.Imports) > 0 || len(q.FuncDefs) > 0 || q.Left != nil || q.Right != nil || len(q.Patterns) > 0 {
		return nil
	}
	t := q.Term
	if t == nil || t.Type != gojq.TermTypeArray || t.Array == nil || t.Array.Query == nil || len(t.SuffixList) > 0 {
		return nil
	}
	var paths projection
	var elements func(q *gojq.Query) bool
	elements = func(q *gojq.Query) bool {
		if q.Op == gojq.OpComma {
			return elements(q.Left) && elements(q.Right)
		}
		if q.Left != nil || q.Right != nil || q.Meta != nil || len(q.Imports) > 0 || len(q.FuncDefs) > 0 || len(q.Patterns) > 0 || q.Term == nil {
			return false
		}
		path, ok := pathOf(q.Term)
		paths = append(paths, path)
		return ok
	}
	if !elements(t.Array.Query) || len(paths) == 0 {
		return nil
	}
	return paths
}

// pathOf reads .a.b.c: an index by name, then indexes by name only.
func pathOf(t *gojq.Term) ([]string, bool) {
	if t.Type != gojq.TermTypeIndex || !nameIndex(t.Index) {
		return nil, false
	}
	path := []string{t.Index.Name}
	for _, s := range t.SuffixList {
		if s.Iter || s.Optional || !nameIndex(s.Index) {
			return nil, false
		}
		path = append(path, s.Index.Name)
	}
	return path, true
}

func nameIndex(ix *gojq.Index) bool {
	return ix != nil && ix.Name != "" && ix.Str == nil && ix.Start == nil && ix.End == nil && !ix.IsSlice
}

// eval is the projection's one result on v, or false where gojq must run.
func (p projection) eval(v any) ([]any, bool) {
	out := make([]any, len(p))
	for i, path := range p {
		cur := v
		for _, k := range path {
			switch m := cur.(type) {
			case nil: // null.k is null
			case map[string]any:
				cur = m[k]
			default:
				return nil, false
			}
		}
		out[i] = cur
	}
	return out, true
}

// oneResult is a gojq.Iter of one value.
type oneResult struct {
	v    any
	done bool
}

func (r *oneResult) Next() (any, bool) {
	if r.done {
		return nil, false
	}
	r.done = true
	return r.v, true
}
