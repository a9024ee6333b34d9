package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/itchyny/gojq"

	"github.com/auditq/auditq/internal/audittest"
)

// FuzzEncoder: on any JSON value, the compact uncoloured encoder prints what
// gojq.Marshal prints; on a terminal, with colour or not and at any indent,
// its output has no control character but its own colours, and means the
// same value.
func FuzzEncoder(f *testing.F) {
	small, err := os.ReadFile(filepath.Join("testdata", "small.jsonl"))
	if err != nil {
		f.Fatal(err)
	}
	for _, l := range bytes.Split(small, []byte("\n")) {
		f.Add(l)
	}
	// The first line of each real sample, when ../shared is there.
	for _, path := range audittest.RealdataFiles(64 << 10) {
		if b, err := os.ReadFile(path); err == nil {
			f.Add(bytes.SplitN(b, []byte("\n"), 2)[0])
		}
	}
	for _, s := range []string{`"\u001b]0;x\u0007"`, "\"\xff\u009b\u2028\"", `[1e500,-0,0.1,1E-7,123456789012345678901]`, `{"":{"a":[null,true]}}`, `"\ud800"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) != nil {
			return
		}
		want, err := gojq.Marshal(v)
		if err != nil {
			return
		}
		var got bytes.Buffer
		enc := jsonEncoder{indent: -1, colors: noColors}
		if err := enc.encode(&got, v); err != nil {
			t.Fatalf("encode: %v", err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("compact output differs from gojq.Marshal:\n got %q\nwant %q", got.Bytes(), want)
		}
		for _, colors := range []*palette{noColors, defaultPalette} {
			for _, indent := range []int{-1, 2} {
				var term bytes.Buffer
				enc := jsonEncoder{indent: indent, terminal: true, colors: colors}
				if err := enc.encode(&term, v); err != nil {
					t.Fatal(err)
				}
				plain := term.Bytes()
				for _, c := range [][]byte{colorReset, defaultPalette.null, defaultPalette.boolean, defaultPalette.number, defaultPalette.str, defaultPalette.key} {
					plain = bytes.ReplaceAll(plain, c, nil)
				}
				s := string(plain)
				if i := strings.IndexFunc(s, func(r rune) bool {
					return r < 0x20 && r != '\n' && r != ' ' || r >= 0x7f && r <= 0x9f || r == 0x2028 || r == 0x2029
				}); i >= 0 || strings.ToValidUTF8(s, "?") != s {
					t.Fatalf("control character or invalid UTF-8 on a terminal at %d: %q", i, s)
				}
				if colors == noColors && !json.Valid(plain) {
					t.Fatalf("terminal output is not JSON: %q", plain)
				}
			}
		}
	})
}
