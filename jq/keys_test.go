package jq

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/internal/audittest"
)

func TestInputKeys(t *testing.T) {
	tests := []struct {
		expr string
		keys []string // nil: the whole input
	}{
		{`[.auditID,.verb,.requestURI,.user.username,.responseStatus.code,.stageTimestamp]`,
			[]string{"auditID", "requestURI", "responseStatus", "stageTimestamp", "user", "verb"}},
		{`.user.username`, []string{"user"}},
		{`{verb, who: .user.username, n: (.objectRef.name // "-")}`, []string{"objectRef", "user", "verb"}},
		{`select(.verb == "delete") | .objectRef`, []string{"objectRef", "verb"}},
		{`select(.verb == "delete") | .objectRef | keys`, []string{"objectRef", "verb"}},
		{`.["auditID"]`, []string{"auditID"}},
		{`if .responseStatus.code >= 400 then .auditID else empty end`, []string{"auditID", "responseStatus"}},
		{`"\(.verb) \(.requestURI)"`, []string{"requestURI", "verb"}},
		{`.annotations | to_entries[] | .key`, []string{"annotations"}},
		{`.verb as $v | .auditID + $v`, []string{"auditID", "verb"}},
		{`first(.sourceIPs[])`, []string{"sourceIPs"}},
		{`reduce .sourceIPs[] as $ip (0; . + 1)`, []string{"sourceIPs"}},
		{`try .a catch .`, []string{"a"}},
		{`.`, nil},
		{`select(.verb == "delete")`, nil}, // prints the event
		{`keys`, nil},
		{`..`, nil},
		{`.[]`, nil},
		{`to_entries`, nil},
		{`{(.k): 1}`, []string{"k"}},
		{`.[.k]`, nil},
		{`.["a", "b"]`, nil},
		{`. as $e | $e.verb`, nil},
		{`def f: .verb; f`, nil},
		{`.verb |= ascii_upcase`, nil},
		{`[.]`, nil},
		{`{e: .}`, nil},
		{`"\(.)"`, nil},
		{`@json`, nil},
		{`length`, nil},
		{`. == {}`, nil},
		{`if .verb then . end`, nil},
		{`has("verb")`, nil},
		{`del(.requestObject)`, nil},
		{`first`, nil},
		{`tojson`, nil},
		{`getpath(["verb"])`, nil},
	}
	for _, tt := range tests {
		p, err := Compile(tt.expr, Config{})
		if err != nil {
			t.Fatalf("%s: %v", tt.expr, err)
		}
		keys, ok := p.Keys()
		if (tt.keys == nil) != !ok || !slices.Equal(keys, tt.keys) {
			t.Errorf("%s: keys %q (known %v), want %q", tt.expr, keys, ok, tt.keys)
		}
	}
}

// TestValueOfGivesTheSameResults: on every event of the fixture and gce-like,
// a program run on ValueOf(ev, keys) gives exactly what it gives on the whole
// event.
func TestValueOfGivesTheSameResults(t *testing.T) {
	exprs := []string{
		`[.auditID,.verb,.requestURI,.user.username,.responseStatus.code,.stageTimestamp]`,
		`{verb, who: .user.username, n: (.objectRef.name // "-"), g: (.user.groups | length)}`,
		`select(.responseStatus.code >= 400) | [.auditID, .annotations["authorization.k8s.io/reason"]]`,
		`select(.objectRef.resource == "secrets") | .objectRef | keys`,
		`"\(.verb) \(.requestURI) \(.sourceIPs)"`,
		`.requestObject.metadata.name // .responseObject.kind`,
		`if .impersonatedUser then .impersonatedUser.username else .missing end`,
		`[.user.groups[0], .user.extra, .objectRef.name, .objectRef.namespace?, .responseStatus["code"]]`,
		`select(.objectRef.name) | [.objectRef.name, (.objectRef | length), .user.username.x?]`,
		`.annotations["authorization.k8s.io/decision"], .requestObject.kind, .verb.x?`,
	}
	for name, path := range audittest.Corpora(t) {
		for _, expr := range exprs {
			p, err := Compile(expr, Config{})
			if err != nil {
				t.Fatal(err)
			}
			keys, ok := p.Keys()
			if !ok {
				t.Fatalf("%s: keys unknown", expr)
			}
			n, outputs := 0, 0
			for ev, err := range auditlog.ReadFiles(context.Background(), []string{path}) {
				if err != nil {
					t.Fatal(err)
				}
				whole, err := Value(ev)
				if err != nil {
					t.Fatal(err)
				}
				part, err := ValueOf(ev, keys)
				if err != nil {
					t.Fatal(err)
				}
				members, err := p.Input(ev)
				if err != nil {
					t.Fatal(err)
				}
				want := results(p, whole)
				if diff := cmp.Diff(want, results(p, part)); diff != "" {
					t.Fatalf("%s: %s at %v: (-whole +keys):\n%s", name, expr, ev.Pos(), diff)
				}
				if diff := cmp.Diff(want, results(p, members)); diff != "" {
					t.Fatalf("%s: %s at %v: (-whole +members):\n%s", name, expr, ev.Pos(), diff)
				}
				n++
				outputs += len(want)
			}
			if n < 1000 || outputs == 0 {
				t.Errorf("%s: %s: %d events, %d outputs: the test compares too little", name, expr, n, outputs)
			}
		}
	}
}

func results(p *Program, v any) []string {
	var out []string
	it := p.Run(context.Background(), v)
	for {
		r, ok := it.Next()
		if !ok {
			return out
		}
		if err, isErr := r.(error); isErr {
			out = append(out, "error: "+err.Error())
			continue
		}
		b, _ := json.Marshal(r)
		out = append(out, fmt.Sprint(string(b)))
	}
}

// TestDecodeScalar: the values of top-level members decode exactly as
// encoding/json decodes them, whichever path they take.
func TestDecodeScalar(t *testing.T) {
	for _, raw := range []string{
		`"plain"`, `"esc\"aped"`, `"\u00e9"`, `"é"`, "\"\xff\"", `""`, `0`, `-1.5e3`, `200`, `null`, `true`, `false`,
		`{}`, `[]`, `{"a":1,"a":2}`, `{"username":"system:node:n1","groups":["system:nodes","system:authenticated"],"extra":{"k":["v"]}}`,
		`{"metadata":{},"code":200}`, `[1,"two",null,[{}]]`, `{"a":[1,2,{"b":"c"}]}`, `{"a" : 1}`, `[1, 2]`,
		`{"deep":` + strings.Repeat(`[`, 40) + strings.Repeat(`]`, 40) + `}`,
	} {
		want, err := decodeStd([]byte(raw))
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if v, err := decodeScalar([]byte(raw)); err != nil || !reflect.DeepEqual(v, want) {
			t.Errorf("%s: decodeScalar gives %#v, %v; encoding/json %#v", raw, v, err, want)
		}
	}
}
