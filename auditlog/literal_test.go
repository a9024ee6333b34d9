package auditlog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/auditq/auditq/internal/audittest"
)

// escapeFirst spells the first character of s as a \u escape.
func escapeFirst(s string) string { return fmt.Sprintf(`\u%04x`, s[0]) + s[1:] }

// TestLiteralsNeverDropAMatch: with the prefilter, every event holding the
// literal is delivered, whether the log spells it plainly or with escapes,
// and chunks without it are skipped.
func TestLiteralsNeverDropAMatch(t *testing.T) {
	plain := audittest.ReadFile(t, filepath.Join(testdataRotated, "kube-apiserver-audit.log"))
	lines := strings.Split(strings.TrimSpace(string(plain)), "\n")
	var ids []string
	var b strings.Builder
	for i, l := range lines {
		if i%97 == 5 { // an auditID written with an escape
			var ev map[string]any
			if err := json.Unmarshal([]byte(l), &ev); err != nil {
				t.Fatal(err)
			}
			id := ev["auditID"].(string)
			l = strings.Replace(l, `"auditID":"`+id+`"`, `"auditID":"`+escapeFirst(id)+`"`, 1)
			ids = append(ids, id)
		}
		if i%501 == 7 {
			var ev map[string]any
			json.Unmarshal([]byte(l), &ev)
			ids = append(ids, ev["auditID"].(string))
		}
		b.WriteString(l + "\n")
	}
	ids = append(ids, "no-such-id")
	path := filepath.Join(t.TempDir(), "audit.log")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	byID := func(id string, opts ...Option) (events []string, delivered int) {
		for r := range ScanFiles[struct{}](context.Background(), []string{path}, nil, opts...) {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			delivered++
			if string(r.Event.AuditID()) == id {
				events = append(events, fmt.Sprintf("%d %s", r.Event.Pos().Line, r.Event.Stage()))
			}
		}
		return events, delivered
	}
	skipped := false
	for _, id := range ids {
		want, all := byID(id, WithConcurrency(1))
		got, delivered := byID(id, WithConcurrency(3), withChunkSize(4096), WithLiterals(id))
		if !reflect.DeepEqual(want, got) {
			t.Errorf("%s: sequential found %v, with the prefilter %v", id, want, got)
		}
		if id != "no-such-id" && len(want) == 0 {
			t.Errorf("%s: not in the log; the test tests nothing", id)
		}
		skipped = skipped || delivered < all/2
	}
	if !skipped {
		t.Error("the prefilter never skipped a chunk")
	}
}

func TestLiteralSet(t *testing.T) {
	tests := []struct {
		lits []string
		data string
		want bool
	}{
		{[]string{"abc-1"}, `{"auditID":"abc-1"}`, true},
		{[]string{"abc-1"}, `{"auditID":"\u0061bc-1"}`, true},
		{[]string{"abc-1"}, `{"auditID":"ab\u0063-1"}`, true},
		{[]string{"abc-1"}, `{"auditID":"abc\u002D1"}`, true},
		{[]string{"abc-1"}, `{"auditID":"abd-1","q":"a\u0026b"}`, false}, // & is not in the literal
		{[]string{"abc-1"}, `{"auditID":"abd-1","reason":"\"x\""}`, false},
		{[]string{"a/b"}, `{"name":"a\/b"}`, true},
		{[]string{"a/b"}, `{"name":"a b\/"}`, true}, // may: the decoder decides
		{[]string{"x"}, `{"name":"y","bad":"\u00`, true},
		{[]string{"😀"}, `{"name":"\ud83d\ude00"}`, true},
		{[]string{"é"}, `{"name":"\u00e9"}`, true},
		{[]string{"é"}, `{"name":"e"}`, false},
		{[]string{"\ufffd"}, `{"name":"\xff"}`, true},
		{[]string{"one", "two"}, `{"name":"two"}`, true},
	}
	for _, tt := range tests {
		if got := newLiteralSet(tt.lits).mayContain([]byte(tt.data)); got != tt.want {
			t.Errorf("%q in %s: %v, want %v", tt.lits, tt.data, got, tt.want)
		}
	}
}

// TestRawField: each top-level member's raw JSON decodes to what encoding/json
// finds under that key, whether the Reader notes members as it decodes or
// RawField finds them later.
func TestRawField(t *testing.T) {
	path := filepath.Join(testdataRotated, "kube-apiserver-audit.log")
	for _, opts := range [][]Option{nil, {WithRawFields()}, {WithRawFields(), WithoutBodies()}} {
		n := 0
		for ev, err := range ReadFiles(context.Background(), []string{path}, opts...) {
			if err != nil {
				t.Fatal(err)
			}
			var want map[string]json.RawMessage
			if err := json.Unmarshal(ev.Raw(), &want); err != nil {
				t.Fatal(err)
			}
			for k, v := range want {
				got, ok := ev.RawField(k)
				if !ok && len(opts) == 2 && (k == "requestObject" || k == "responseObject") {
					continue // stepped over
				}
				if !ok || !bytes.Equal(got, v) {
					t.Fatalf("%v: RawField(%q) = %s, %v; want %s", ev.Pos(), k, got, ok, v)
				}
			}
			if _, ok := ev.RawField("noSuchKey"); ok {
				t.Fatal("RawField found a key that is not there")
			}
			n++
		}
		if n < 4000 {
			t.Fatalf("%d events", n)
		}
	}
}

// TestPairSearch: the shift table never skips an occurrence.
func TestPairSearch(t *testing.T) {
	hay := []byte(strings.Repeat("a7c-5b2e4a0d1f7c5b-", 50))
	for i := 0; i+3 <= len(hay); i += 7 {
		for _, n := range []int{3, 5, 12, 36} {
			if i+n > len(hay) {
				continue
			}
			lit := hay[i : i+n]
			ps := newPairSearch(lit)
			for _, cut := range []int{len(hay), i + n, i + n + 1} {
				if cut > len(hay) {
					continue
				}
				if got, want := ps.in(hay[:cut]), bytes.Contains(hay[:cut], lit); got != want {
					t.Fatalf("%q in the first %d bytes: %v, want %v", lit, cut, got, want)
				}
			}
		}
	}
	for _, tt := range []struct {
		lit, data string
		want      bool
	}{{"aab", "aaab", true}, {"abab", "aabbaba", false}, {"abab", "aababab", true}, {"xyz", "xy", false}, {"xyz", "", false}} {
		if got := newPairSearch([]byte(tt.lit)).in([]byte(tt.data)); got != tt.want {
			t.Errorf("%q in %q: %v", tt.lit, tt.data, got)
		}
	}
}

// TestPairSearchLanes puts the literal across each boundary of the four
// interleaved searches of a large input, and at both ends.
func TestPairSearchLanes(t *testing.T) {
	lit := []byte("7c5b2e4a-0d1f-4c3e-9a8b-6f5e4d3c2b1a")
	ps := newPairSearch(lit)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{1 << 12, 1<<12 + 37, 50_001} {
		hay := make([]byte, size)
		for i := range hay {
			hay[i] = "0123456789abcdef-"[rng.IntN(17)]
		}
		if ps.in(hay) {
			t.Fatalf("found in random bytes of size %d", size)
		}
		m := len(lit)
		q := (size - m + 1) / 4
		var at []int
		for _, b := range []int{0, q, 2 * q, 3 * q, size - m} {
			for d := -m; d <= m; d++ {
				if p := b + d; p >= 0 && p+m <= size {
					at = append(at, p)
				}
			}
		}
		for _, p := range at {
			h := bytes.Clone(hay)
			copy(h[p:], lit)
			if !ps.in(h) {
				t.Fatalf("size %d: not found at %d", size, p)
			}
			if ps.in(h[:p+m-1]) || ps.in(h[p+1:]) {
				t.Fatalf("size %d: found a cut copy at %d", size, p)
			}
		}
	}
}
