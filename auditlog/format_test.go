package auditlog

import (
	"encoding/json"
	"testing"
)

// TestAppendQuoted: what AppendQuoted writes reads back as the same string
// through encoding/json, for every awkward character.
func TestAppendQuoted(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\s`, "\x00\x01\x1f\x7f", "tab\tnl\ncr\r\b\f", "é ü 日本", "\xff\xfeok", "\u2028\u2029", "</script>&"} {
		got := AppendQuoted(nil, []byte(s))
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%q -> %s: %v", s, got, err)
		}
		want, _ := json.Marshal(s)
		var wantBack string
		json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Errorf("%q -> %s reads back %q, encoding/json's %q", s, got, back, wantBack)
		}
	}
}

func FuzzAppendQuoted(f *testing.F) {
	f.Add([]byte("a\"\\\x00\xff\u2028"))
	f.Fuzz(func(t *testing.T, s []byte) {
		got := AppendQuoted(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%q -> %s: %v", s, got, err)
		}
		want, _ := json.Marshal(string(s))
		var wantBack string
		json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Fatalf("%q reads back %q, want %q", s, back, wantBack)
		}
	})
}
