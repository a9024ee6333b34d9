package jsonscan

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func decodeStd(t *testing.T, raw string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return v
}

// TestValue: the fast path decodes exactly as encoding/json, or declines.
func TestValue(t *testing.T) {
	for _, raw := range []string{
		`"plain"`, `"esc\"aped"`, `"\u00e9"`, `"é"`, "\"\xff\"", `""`, `0`, `-1.5e3`, `200`, `null`, `true`, `false`,
		`{}`, `[]`, `{"a":1,"a":2}`, `{"username":"system:node:n1","groups":["system:nodes","system:authenticated"],"extra":{"k":["v"]}}`,
		`{"metadata":{},"code":200}`, `[1,"two",null,[{}]]`, `{"a":[1,2,{"b":"c"}]}`, `{"a" : 1}`, `[1, 2]`,
		`{"deep":` + strings.Repeat(`[`, 40) + strings.Repeat(`]`, 40) + `}`,
	} {
		want := decodeStd(t, raw)
		got, ok := Value([]byte(raw))
		if ok && !reflect.DeepEqual(got, want) {
			t.Errorf("%s: fast path gives %#v, encoding/json %#v", raw, got, want)
		}
		if !ok && !strings.ContainsAny(raw, "\\ ") && utf8.ValidString(raw) && !strings.Contains(raw, "deep") {
			t.Errorf("%s: declined a common shape", raw)
		}
	}
}

// TestSelect: the members asked for decode exactly as encoding/json decodes
// them, whatever is skipped around them, or Select declines.
func TestSelect(t *testing.T) {
	names := []string{"username", "code"}
	for _, raw := range []string{
		`{}`, `{"username":"u"}`, `{"uid":"x","username":"u","groups":["a","b"]}`,
		`{"extra":{"k":["v\"}",","]},"username":"u"}`, `{"skip":"a\\","username":"u"}`,
		`{"skip":"a\\\"","code":200,"username":{"nested":[1,{"x":"]"}]}}`,
		`{"username":"a","username":"b"}`, `{"user\u006eame":"u"}`, `{"username" : "u"}`,
		`{"a":[[[{}]]],"code":-1.5e3}`, `{"username":"\u00e9"}`, `{"username":null,"other":true}`,
	} {
		want := map[string]any{}
		for k, v := range decodeStd(t, raw).(map[string]any) {
			if slices.Contains(names, k) {
				want[k] = v
			}
		}
		got, ok := Select([]byte(raw), names)
		if !ok {
			if !strings.Contains(raw, `\u`) && !strings.Contains(raw, ` `) {
				t.Errorf("%s: declined", raw)
			}
			continue
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: (-encoding/json +Select):\n%s", raw, diff)
		}
	}
}

// TestMembers: the members' keys decode as encoding/json decodes them, and
// their spans put the object back together byte for byte.
func TestMembers(t *testing.T) {
	for _, raw := range []string{
		`{}`, `{"a":1}`, `{"a":"x,}","b":{"c":[1,{"d":"]"}]},"e":null}`, `{"k\u0065y":"v","q\"":1}`,
		`{"s":"a\\","t":"b\\\""}`,
	} {
		ms := Members([]byte(raw))
		if ms == nil {
			t.Fatalf("%s: not split", raw)
		}
		var b bytes.Buffer
		b.WriteByte('{')
		for i, m := range ms {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(raw[m.KeyStart:m.ValueEnd])
			var k string
			if err := json.Unmarshal([]byte(raw[m.KeyStart:m.ValueStart-1]), &k); err != nil || k != m.Key {
				t.Errorf("%s: key %q, encoding/json %q (%v)", raw, m.Key, k, err)
			}
		}
		b.WriteByte('}')
		if b.String() != raw {
			t.Errorf("members of %s put back together: %s", raw, b.String())
		}
	}
	for _, raw := range []string{``, `[]`, `{ "a":1}`, `{"a" :1}`, `{"a":1}x`} {
		if ms := Members([]byte(raw)); ms != nil {
			t.Errorf("%q split into %v", raw, ms)
		}
	}
}

func TestElements(t *testing.T) {
	raw := `[{"a":[1,2]},"x]",3,[]]`
	spans, ok := Elements([]byte(raw))
	if !ok {
		t.Fatal("not split")
	}
	var got []string
	for _, s := range spans {
		got = append(got, raw[s[0]:s[1]])
	}
	if want := []string{`{"a":[1,2]}`, `"x]"`, `3`, `[]`}; !slices.Equal(got, want) {
		t.Errorf("elements %q, want %q", got, want)
	}
	if spans, ok := Elements([]byte(`[]`)); !ok || len(spans) != 0 {
		t.Errorf("empty array: %v, %v", spans, ok)
	}
	if _, ok := Elements([]byte(`{}`)); ok {
		t.Error("an object split as an array")
	}
}
