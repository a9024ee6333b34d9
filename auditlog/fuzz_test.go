package auditlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// fuzzSeeds returns lines and whole files from testdata and, when present,
// ../shared/realdata.
func fuzzSeeds(f *testing.F) (lines, files [][]byte) {
	f.Helper()
	active := readMaybeGzip(f, filepath.Join(testdataRotated, "kube-apiserver-audit.log"))
	for i, l := range bytes.Split(active, []byte("\n")) {
		if i < 40 {
			lines = append(lines, l)
		}
	}
	files = append(files, active[:min(len(active), 20000)])
	root := filepath.Join("..", "..", "shared", "realdata")
	filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || info.Size() > 64<<10 {
			return nil
		}
		if b, err := os.ReadFile(path); err == nil {
			files = append(files, b)
			if i := bytes.IndexByte(b, '\n'); i > 0 {
				lines = append(lines, b[:i])
			}
		}
		return nil
	})
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
			if _, err := ev.ToV1(); err != nil {
				t.Fatalf("ToV1 of an accepted event: %v", err)
			}
		}
		if ev, err := rd.Next(); ev != nil || err != io.EOF {
			t.Fatalf("Next after io.EOF = %v, %v", ev, err)
		}
	})
}

// knownKeys are the JSON names of auditv1.Event and the types inside it that
// this package decodes itself.
var knownKeys = strings.Fields(`kind apiversion level auditid stage requesturi verb user impersonateduser
	authenticationmetadata sourceips useragent objectref responsestatus requestobject responseobject
	requestreceivedtimestamp stagetimestamp annotations username uid groups extra resource namespace name
	apigroup resourceversion subresource status message reason details code metadata timestamp creationtimestamp causes retryafterseconds field group`)

// foldedKey reports whether data has an object key that encoding/json would match
// case-insensitively to a known field but that is not spelled exactly: keys match
// case-sensitively here, as in Kubernetes' own decoder.
func foldedKey(data []byte) bool {
	var walk func(v any) bool
	exact := map[string]bool{}
	for _, k := range strings.Fields(`kind apiVersion level auditID stage requestURI verb user impersonatedUser
		authenticationMetadata sourceIPs userAgent objectRef responseStatus requestObject responseObject
		requestReceivedTimestamp stageTimestamp annotations username uid groups extra resource namespace name
		apiGroup resourceVersion subresource status message reason details code metadata timestamp creationTimestamp causes retryAfterSeconds field group`) {
		exact[k] = true
	}
	walk = func(v any) bool {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				for _, kk := range knownKeys {
					if strings.EqualFold(k, kk) && !exact[k] {
						return true
					}
				}
				if walk(x) {
					return true
				}
			}
		case []any:
			for _, x := range v {
				if walk(x) {
					return true
				}
			}
		}
		return false
	}
	var v any
	if json.Unmarshal(data, &v) != nil {
		return false
	}
	return walk(v)
}

// FuzzDecodeDifferential: a line is accepted exactly when encoding/json accepts it
// into auditv1.Event, and then ToV1 equals encoding/json's result.
func FuzzDecodeDifferential(f *testing.F) {
	lines, _ := fuzzSeeds(f)
	for _, l := range lines {
		f.Add(l)
	}
	for _, s := range []string{
		`{"user":{"username":"a"},"user":{"uid":"u"}}`, `{"sourceIPs":[]}`, `{"annotations":{"a":"1","a":"2"}}`,
		`{"responseStatus":{"code":200.0}}`, `{"responseStatus":{"code":-0}}`, `{"verb":"\ud83d\ude00 \ud800\u0041"}`,
		"{\"verb\":\"\xff\xfe\"}", `{"stageTimestamp":"2017-02-30T19:55:05.123456Z"}`, `{"timestamp":"2017-09-11T19:55:05Z","metadata":{"creationTimestamp":"2017-09-11T19:55:06Z"}}`,
		`{"responseStatus":{"details":{"causes":[{"field":1}]}}}`, `{"timestamp":"2017-09-11T19:55:05Z","timestamp":null,"metadata":{"creationTimestamp":"2017-09-11T19:55:05Z"},"metadata":{}}`, `{"responseStatus":{"details":{"causes":[null,{"reason":null}],"retryAfterSeconds":1.5}}}`,
		`{"responseStatus":{"details":{"name":"a","uid":"u","causes":null,"kind":"pods","group":"","retryAfterSeconds":-2147483648}}}`, `{"impersonatedUser":null,"objectRef":{},"requestObject":{"a":[1,2,{"b":null}]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		trimmed := bytes.TrimSpace(line)
		if len(trimmed) == 0 || trimmed[0] != '{' || bytes.ContainsAny(line, "\n") || foldedKey(trimmed) {
			return // framing, non-objects and case-folded keys are covered elsewhere
		}
		var want auditv1.Event
		wantErr := json.Unmarshal(line, &want)
		var e Event
		_, gotErr := decodeEvent(&e, line, false, false)
		if (wantErr == nil) != (gotErr == nil) {
			t.Fatalf("encoding/json error %v, this package %v, for %q", wantErr, gotErr, line)
		}
		if gotErr != nil {
			if de := gotErr.(*decodeError); de.off < 0 || de.off > len(line) {
				t.Fatalf("error offset %d outside %d bytes", de.off, len(line))
			}
			return
		}
		got, err := e.ToV1()
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(oracleOne(t, line), got); diff != "" {
			t.Fatalf("differs from encoding/json for %q (-want +got):\n%s", line, diff)
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
