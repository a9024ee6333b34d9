package jq

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/itchyny/gojq"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/internal/audittest"
)

// TestProjectionOf: only arrays of member paths run without gojq.
func TestProjectionOf(t *testing.T) {
	for expr, want := range map[string]int{
		`[.auditID,.verb,.requestURI,.user.username,.responseStatus.code,.stageTimestamp]`: 6,
		`[.a]`:                 1,
		`[.a.b.c, .d]`:         2,
		`.a`:                   0,
		`[.a[]]`:               0,
		`[.a?]`:                0,
		`[.a, 1]`:              0,
		`[.a, .]`:              0,
		`[.["a"]]`:             0,
		`[.a[0]]`:              0,
		`[.a | .b]`:            0,
		`[.a] | length`:        0,
		`[.a, $__loc__]`:       0,
		`def f: .; [.a]`:       0,
		`[.a.b?, .c]`:          0,
		`[.a[1:2]]`:            0,
		`[.a] + [.b]`:          0,
		`[.a, (.b)]`:           0,
		`{a: .a}`:              0,
		`[.a as $x | $x]`:      0,
		`[.user.username, .x]`: 2,
	} {
		q, err := gojq.Parse(expr)
		if err != nil {
			t.Fatal(expr, err)
		}
		if got := len(projectionOf(q)); got != want {
			t.Errorf("%s: %d paths, want %d", expr, got, want)
		}
	}
}

// TestProjectionGivesGojqResults: on every event of the corpora, and on
// inputs whose paths go through strings, numbers, arrays and booleans
// (where gojq reports an error), a projection's results are gojq's.
func TestProjectionGivesGojqResults(t *testing.T) {
	exprs := []string{
		`[.auditID,.verb,.requestURI,.user.username,.responseStatus.code,.stageTimestamp]`,
		`[.objectRef.name, .objectRef.namespace, .annotations, .user.groups, .missing.deeper]`,
		`[.verb.x, .auditID]`,             // through a string: gojq's error
		`[.user.groups.x]`,                // through an array
		`[.responseStatus.code.x, .verb]`, // through a number
	}
	gojqOf := func(p *Program, v any) []string {
		saved := p.projection
		p.projection = nil
		defer func() { p.projection = saved }()
		return results(p, v)
	}
	for name, path := range audittest.Corpora(t) {
		for _, expr := range exprs {
			p, err := Compile(expr, Config{})
			if err != nil {
				t.Fatal(err)
			}
			if p.projection == nil {
				t.Fatalf("%s is not run as a projection", expr)
			}
			n, fast := 0, 0
			for ev, err := range auditlog.ReadFiles(context.Background(), []string{path}, auditlog.WithRawFields()) {
				if err != nil {
					t.Fatal(err)
				}
				v, err := p.Input(ev)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(gojqOf(p, v), results(p, v)); diff != "" {
					t.Fatalf("%s: %s at %v (-gojq +projection):\n%s", name, expr, ev.Pos(), diff)
				}
				if out, ok := p.projection.eval(v); ok { // the same Go values, not only the same JSON
					saved := p.projection
					p.projection = nil
					want, _ := p.Run(context.Background(), v).Next()
					p.projection = saved
					if diff := cmp.Diff(want, any(out)); diff != "" {
						t.Fatalf("%s: %s at %v: values (-gojq +projection):\n%s", name, expr, ev.Pos(), diff)
					}
				}
				if _, ok := p.projection.eval(v); ok {
					fast++
				}
				n++
			}
			t.Logf("%s: %s: %d events, %d without gojq", name, expr, n, fast)
			if n < 1000 {
				t.Errorf("%s: only %d events", name, n)
			}
		}
	}
	p, err := Compile(`[.a.b, .c]`, Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []any{nil, map[string]any{}, map[string]any{"a": nil}, map[string]any{"a": "s"}, map[string]any{"a": 1.5},
		map[string]any{"a": []any{1}}, map[string]any{"a": true}, map[string]any{"a": map[string]any{"b": []any{"x"}}, "c": false}, "top", 3} {
		if diff := cmp.Diff(gojqOf(p, v), results(p, v)); diff != "" {
			t.Errorf("on %#v (-gojq +projection):\n%s", v, diff)
		}
	}
}
