package auditlog

import (
	"bytes"
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

// FuzzAppendString: the one-pass decoding of a string gives what the two
// passes give (scanString, then the value stringAt returns), and the same
// errors at the same offsets.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{`"plain"`, `"a\"b\\c\/d\b\f\n\r\t"`, `"\u00e9\ud83d\ude00\ud800x\udc00"`, "\"\xff\xfe\"", `"\u12"`, `"\x"`, "\"a\x01\"", `"unterminated`, `"\ud83d\u0041"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 || data[0] != '"' {
			return
		}
		var sc1, sc2 []byte
		d1 := decoder{data: data, scratch: &sc1}
		want, err1 := d1.stringValue()
		d2 := decoder{data: data, scratch: &sc2}
		got, err2 := d2.appendString(nil)
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("%q: two passes %v, one pass %v", data, err1, err2)
		}
		if err1 != nil {
			if err1.Error() != err2.Error() || err1.(*decodeError).off != err2.(*decodeError).off {
				t.Fatalf("%q: errors %v at %d, %v at %d", data, err1, err1.(*decodeError).off, err2, err2.(*decodeError).off)
			}
			return
		}
		if !bytes.Equal(want, got) || d1.pos != d2.pos {
			t.Fatalf("%q: %q (pos %d), one pass %q (pos %d)", data, want, d1.pos, got, d2.pos)
		}
	})
}
