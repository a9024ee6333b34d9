package auditlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/auditq/auditq/internal/audittest"
)

// fuzzSeeds returns lines and whole files from testdata and, when present,
// ../shared/realdata.
func fuzzSeeds(f *testing.F) (lines, files [][]byte) {
	f.Helper()
	active := audittest.ReadFile(f, filepath.Join(testdataRotated, "kube-apiserver-audit.log"))
	for i, l := range bytes.Split(active, []byte("\n")) {
		if i < 40 {
			lines = append(lines, l)
		}
	}
	files = append(files, active[:min(len(active), 20000)])
	for _, path := range audittest.RealdataFiles(64 << 10) {
		if b, err := os.ReadFile(path); err == nil {
			files = append(files, b)
			if i := bytes.IndexByte(b, '\n'); i > 0 {
				lines = append(lines, b[:i])
			}
		}
	}
	for _, s := range []string{
		ev("a") + "\n" + ev("b")[:60] + ev("c"),
		pretty(`{"kind":"EventList","items":[{"auditID":"a"},{"auditID":"b","responseStatus":{"code":"x"}}]}`),
		"[" + ev("a") + ",\n" + ev("b") + "]",
		"\xef\xbb\xbf" + ev("a") + "\r\n\r\n",
		`2017-03-21T03:57:09.106841886-04:00 AUDIT: id="c9" ip="127.0.0.1"`,
		`{"user":{"extra":{"a":null,"b":[]}},"annotations":{"x":null},"sourceIPs":[null]}`,
	} {
		files = append(files, []byte(s))
	}
	return lines, files
}

// FuzzReader: no input, plain or compressed, makes the Reader panic or hang; every
// event is the bytes of the input at its position; every error position lies
// inside the (decompressed) input; a Clone decodes like the original.
// (k8saudit's FuzzToV1 adds the conversion to the upstream type.)
func FuzzReader(f *testing.F) {
	_, files := fuzzSeeds(f)
	for _, b := range files {
		f.Add(b, uint8(0))
		f.Add(b, uint8(1))
		f.Add(b, uint8(2))
	}
	for _, tc := range corruptGzip() {
		f.Add(tc.data, uint8(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		input := data
		var plain []byte
		switch mode % 4 {
		case 1:
			input, plain = gz(string(data)), data
		case 2:
			input, plain = zst(string(data)), data
		case 3: // raw bytes that may or may not be a compressed stream
		default:
			plain = data
		}
		rd, err := NewReader(bytes.NewReader(input), WithMaxLineSize(4096))
		if err != nil {
			t.Fatal(err)
		}
		defer rd.Close()
		steps := 0
		for {
			ev, err := rd.Next()
			if err == io.EOF {
				break
			}
			if steps++; steps > len(input)+10 {
				t.Fatalf("more results (%d) than input bytes", steps)
			}
			if err != nil {
				var pe *ParseError
				if !errors.As(err, &pe) {
					t.Fatalf("error %v is not a *ParseError", err)
				}
				if pe.Offset < 0 || plain != nil && pe.Offset > int64(len(plain)) || pe.Line < 0 || pe.Column < 0 {
					t.Fatalf("error position outside the input (%d bytes): %+v", len(plain), pe)
				}
				continue
			}
			p := ev.Pos()
			if plain != nil {
				if p.Offset < 0 || p.Offset+int64(len(ev.Raw())) > int64(len(plain)) || !bytes.Equal(plain[p.Offset:p.Offset+int64(len(ev.Raw()))], ev.Raw()) {
					t.Fatalf("event at offset %d is not the input's bytes there", p.Offset)
				}
				if want := 1 + bytes.Count(plain[:p.Offset], []byte("\n")); p.Line != want {
					t.Fatalf("event at offset %d reports line %d, want %d", p.Offset, p.Line, want)
				}
			}
			c := ev.Clone()
			if !bytes.Equal(c.AuditID(), ev.AuditID()) || c.Code() != ev.Code() || !c.StageTimestamp().Equal(ev.StageTimestamp()) {
				t.Fatal("clone differs from the event")
			}
		}
		if ev, err := rd.Next(); ev != nil || err != io.EOF {
			t.Fatalf("Next after io.EOF = %v, %v", ev, err)
		}
	})
}

func TestUnquoteEdgeCases(t *testing.T) {
	for _, s := range []string{
		`\ud800ab\u00e9`, `\ud83d\ude00`, `\ud83d\u0041`, `\ud800`, `a\ud800\ud800b`, `\udc00\ud800`, `x\u0026y\\z\/`,
		"\xff\\n", "é\\t", `\ud83d\ude00\ud83d`, `\"\u0000`,
	} {
		var want string
		if err := json.Unmarshal([]byte(`"`+s+`"`), &want); err != nil {
			t.Fatal(err)
		}
		if got := string(unquoteAppend(nil, []byte(s))); got != want {
			t.Errorf("unquote %q = %q, encoding/json gives %q", s, got, want)
		}
	}
}

// FuzzDepthScanner: the word-at-a-time scan that follows a pretty-printed
// document across lines agrees, wherever the lines are cut, with the plain
// byte-by-byte one.
func FuzzDepthScanner(f *testing.F) {
	f.Add([]byte("{\n  \"a\": \"x\\\\\\\"}\",\n  \"b\": [1, {\"c\": \"]]]\"}]\n}\n{"), uint8(3))
	f.Add([]byte(`["\\", "\u0001}"] `), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, cut uint8) {
		var fast, slow depthScanner
		step := int(cut%17) + 1
		for at := 0; at < len(data); at += step {
			part := data[at:min(at+step, len(data))]
			got := fast.feed(part)
			want := false
			for i, c := range part {
				if slow.feedByte(c) {
					want = true
					part = part[:i+1]
					break
				}
			}
			if got != want || fast != slow {
				t.Fatalf("at %d (%q): closed %v, state %+v; byte by byte %v, %+v", at, part, got, fast, want, slow)
			}
			if got {
				return
			}
		}
	})
}

// feedByte is depthScanner.feed as it was, one byte at a time.
func (s *depthScanner) feedByte(c byte) bool {
	if s.inStr {
		switch {
		case s.esc:
			s.esc = false
		case c == '\\':
			s.esc = true
		case c == '"':
			s.inStr = false
		}
		return false
	}
	switch c {
	case '"':
		s.inStr = true
	case '{', '[':
		s.depth++
		s.sawContainer = true
	case '}', ']':
		s.depth--
		return s.depth <= 0 && s.sawContainer
	}
	return false
}
