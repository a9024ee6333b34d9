package auditlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// ev returns one event line as kube-apiserver writes it, without the newline.
func ev(id string) string {
	return `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"` + id +
		`","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods?limit=500","verb":"list",` +
		`"user":{"username":"alice","groups":["dev","system:authenticated"]},"sourceIPs":["10.0.0.1"],` +
		`"userAgent":"kubectl/v1.34.4","objectRef":{"resource":"pods","namespace":"default","apiVersion":"v1"},` +
		`"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-20T08:00:00.000001Z",` +
		`"stageTimestamp":"2026-11-20T08:00:00.004567Z","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""}}`
}

func pretty(line string) string {
	var b bytes.Buffer
	if err := json.Indent(&b, []byte(line), "", "  "); err != nil {
		panic(err)
	}
	return b.String()
}

const marker = "∑"

// errWant is the expected error at one marker.
type errWant struct {
	is    error  // errors.Is target, or nil
	as    string // "syntax", "field" or "" (no type check)
	fatal bool
}

var (
	syntaxErr = errWant{as: "syntax"}
	fieldErr  = errWant{as: "field"}
)

// readAll reads rd to io.EOF: the events' auditIDs, and the errors, each of
// which must be a *ParseError.
func readAll(t *testing.T, rd *Reader) (ids []string, errs []*ParseError) {
	t.Helper()
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			return ids, errs
		}
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			if errs = append(errs, pe); len(errs) > 100 {
				t.Fatal("too many errors")
			}
			continue
		}
		ids = append(ids, string(ev.AuditID()))
	}
}

func TestReaderTable(t *testing.T) {
	long := `{"auditID":"long","requestObject":"` + strings.Repeat("x", 300) + `"}`
	deep := `{"auditID":"deep","requestObject":` + strings.Repeat("[", 9999) + marker + strings.Repeat("[", 4) + strings.Repeat("]", 10003) + "}"
	tests := []struct {
		name  string
		input string
		opts  []Option
		ids   []string
		errs  []errWant
	}{
		{name: "empty"},
		{name: "only blank lines", input: "\n \r\n\t\n"},
		{name: "one event", input: ev("a") + "\n", ids: []string{"a"}},
		{name: "final line without newline", input: ev("a") + "\n" + ev("b"), ids: []string{"a", "b"}},
		{name: "CRLF and blank lines", input: ev("a") + "\r\n\r\n  \n" + ev("b") + "\r\n", ids: []string{"a", "b"}},
		{name: "UTF-8 BOM", input: "\xef\xbb\xbf" + ev("a") + "\n" + ev("b") + "\n", ids: []string{"a", "b"}},
		{
			name:  "malformed line between good ones",
			input: ev("a") + "\n" + `{"kind":"Event",` + marker + `x}` + "\n" + ev("b") + "\n",
			ids:   []string{"a", "b"}, errs: []errWant{syntaxErr},
		},
		{
			name:  "code as a string",
			input: ev("a") + "\n" + `{"auditID":"c","responseStatus":{"code":` + marker + `"200"}}` + "\n" + ev("b") + "\n",
			ids:   []string{"a", "b"}, errs: []errWant{fieldErr},
		},
		{name: "kind as a number", input: `{"kind": ` + marker + `0}`, errs: []errWant{fieldErr}},
		{
			name:  "syntax error wins over an earlier type error",
			input: `{"verb":1,"auditID":"x"` + marker + `]` + "\n" + ev("b"),
			ids:   []string{"b"}, errs: []errWant{syntaxErr},
		},
		{
			name:  "truncated last line",
			input: ev("a") + "\n" + marker + ev("b")[:50],
			ids:   []string{"a"}, errs: []errWant{{is: ErrTruncated}},
		},
		{
			name:  "event cut short, next event on the same line",
			input: ev("a") + "\n" + marker + ev("b")[:70] + ev("c") + "\n" + ev("d") + "\n",
			ids:   []string{"a", "c", "d"}, errs: []errWant{{is: ErrIncomplete}},
		},
		{
			name:  "event cut short at a newline",
			input: ev("a") + "\n" + marker + ev("b")[:70] + "\n" + ev("c") + "\n",
			ids:   []string{"a", "c"}, errs: []errWant{{is: ErrIncomplete}},
		},
		{
			name:  "NUL bytes where a line was",
			input: ev("a") + "\n" + marker + "\x00\x00\x00\x00\n" + ev("b") + "\n",
			ids:   []string{"a", "b"}, errs: []errWant{{is: ErrZeroFilled}},
		},
		{
			name:  "NUL bytes, then an event on the same line",
			input: ev("a") + "\n" + marker + strings.Repeat("\x00", 4096) + ev("b") + "\n" + "\x00\x00" + marker + "x\n" + ev("c"),
			ids:   []string{"a", "b", "c"}, errs: []errWant{{is: ErrZeroFilled}, {is: ErrZeroFilled}},
		},
		{
			name:  "pretty-printed events",
			input: pretty(ev("a")) + "\n" + pretty(ev("b")) + "\n" + ev("c") + "\n",
			ids:   []string{"a", "b", "c"},
		},
		{
			name:  "pretty-printed event truncated",
			input: ev("a") + "\n" + marker + pretty(ev("b"))[:400],
			ids:   []string{"a"}, errs: []errWant{{is: ErrTruncated}},
		},
		{
			name: "EventList on one line with a bad item",
			input: `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[` + ev("a") +
				`,{"auditID":"x","responseStatus":{"code":` + marker + `true}},` + ev("b") + `]}` + "\n" + ev("c"),
			ids: []string{"a", "b", "c"}, errs: []errWant{fieldErr},
		},
		{
			name:  "pretty EventList, items without kind",
			input: pretty(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"a","stage":"ResponseComplete"},{"auditID":"b"}]}`) + "\n",
			ids:   []string{"a", "b"},
		},
		{
			name:  "EventList with a syntax error inside: items before it delivered",
			input: `{"kind":"EventList","items":[` + ev("a") + `,{"auditID":` + marker + `}]}` + "\n" + ev("b") + "\n",
			ids:   []string{"a", "b"}, errs: []errWant{syntaxErr},
		},
		{name: "empty EventList", input: `{"kind":"EventList","items":[]}` + "\n" + ev("a"), ids: []string{"a"}},
		{name: "JSON array of events", input: "[" + ev("a") + ",\n" + ev("b") + "]\n", ids: []string{"a", "b"}},
		{name: "JSON value that is not an event", input: marker + "42\n" + ev("a") + "\n" + marker + `"text"`, ids: []string{"a"}, errs: []errWant{{is: ErrNotEvent}, {is: ErrNotEvent}}},
		{name: "event nested in a list item is refused", input: `[` + marker + `[` + ev("a") + `]]`, errs: []errWant{{is: ErrNotEvent}}},
		{
			name:  "legacy format refused once for the whole stream",
			input: marker + `2017-03-21T03:57:09.106841886-04:00 AUDIT: id="c939d2a7-1c37-4ef1-b2f7-4ba9b1e43b53" ip="127.0.0.1" method="GET" user="admin" groups="\"system:masters\",\"system:authenticated\"" as="<self>" asgroups="<lookup>" namespace="default" uri="/api/v1/namespaces/default/pods"` + "\n" + `2017-03-21T03:57:09.108403639-04:00 AUDIT: id="c939d2a7-1c37-4ef1-b2f7-4ba9b1e43b53" response="200"` + "\n",
			errs:  []errWant{{is: ErrLegacyFormat, fatal: true}},
		},
		{
			name:  "legacy line inside a JSON log",
			input: ev("a") + "\n" + marker + `2017-03-21T03:57:09.108403639-04:00 AUDIT: id="c939d2a7" response="200"` + "\n" + ev("b") + "\n",
			ids:   []string{"a", "b"}, errs: []errWant{{is: ErrLegacyFormat}},
		},
		{
			name:  "line over the limit is skipped",
			input: ev("a")[:150] + "}\n" + marker + long + "\n" + `{"auditID":"b"}` + "\n",
			opts:  []Option{WithMaxLineSize(200)},
			ids:   []string{"a", "b"}, errs: []errWant{{is: ErrLineTooLong}},
		},
		{
			name:  "last line over the limit",
			input: `{"auditID":"a"}` + "\n" + marker + long,
			opts:  []Option{WithMaxLineSize(200)},
			ids:   []string{"a"}, errs: []errWant{{is: ErrLineTooLong}},
		},
		{name: "deep nesting", input: deep + "\n" + ev("b"), ids: []string{"b"}, errs: []errWant{syntaxErr}},
		{name: "trailing garbage", input: `{"auditID":"a"}` + marker + `x` + "\n", errs: []errWant{syntaxErr}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			input, positions := markers(tt.input)
			if len(positions) != len(tt.errs) {
				t.Fatalf("test has %d markers and %d expected errors", len(positions), len(tt.errs))
			}
			if tt.name == "line over the limit is skipped" {
				tt.input = strings.Replace(tt.input, ev("a")[:150]+"}", `{"auditID":"a"}`, 1)
				input, positions = markers(tt.input)
			}
			rd, err := NewReader(strings.NewReader(input), append([]Option{WithName("t.log")}, tt.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			ids, errs := readAll(t, rd)
			if ev, err := rd.Next(); ev != nil || err != io.EOF {
				t.Errorf("Next after io.EOF = %v, %v; want nil, io.EOF", ev, err)
			}
			if diff := cmp.Diff(tt.ids, ids); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if len(errs) != len(tt.errs) {
				t.Fatalf("got %d errors %v, want %d", len(errs), errs, len(tt.errs))
			}
			for i, want := range tt.errs {
				got := errs[i]
				p := positions[i]
				if got.File != "t.log" || got.Line != p.line || got.Column != p.col || got.Offset != p.off {
					t.Errorf("error %d %q at %s:%d:%d offset %d, want line %d column %d offset %d",
						i, got.Err, got.File, got.Line, got.Column, got.Offset, p.line, p.col, p.off)
				}
				if want.is != nil && !errors.Is(got, want.is) {
					t.Errorf("error %d is %v, want %v", i, got, want.is)
				}
				switch want.as {
				case "syntax":
					var se *SyntaxError
					if !errors.As(got, &se) {
						t.Errorf("error %d is %v, want a *SyntaxError", i, got)
					}
				case "field":
					var fe *FieldError
					if !errors.As(got, &fe) {
						t.Errorf("error %d is %v, want a *FieldError", i, got)
					}
				}
				if got.Fatal != want.fatal {
					t.Errorf("error %d Fatal = %v, want %v", i, got.Fatal, want.fatal)
				}
				if !strings.HasPrefix(got.Error(), fmt.Sprintf("t.log:%d:%d: ", p.line, p.col)) {
					t.Errorf("error text %q does not start with file:line:column", got.Error())
				}
			}
		})
	}
}

type pos struct {
	line, col int
	off       int64
}

// markers removes the ∑ markers from s and returns where each one was.
func markers(s string) (string, []pos) {
	var out strings.Builder
	var ps []pos
	line, col := 1, 1
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], marker) {
			ps = append(ps, pos{line, col, int64(out.Len())})
			i += len(marker)
			continue
		}
		c := s[i]
		out.WriteByte(c)
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		i++
	}
	return out.String(), ps
}

func gz(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

func zst(s string) []byte {
	enc, _ := zstd.NewWriter(nil)
	defer enc.Close()
	return enc.EncodeAll([]byte(s), nil)
}

func readIDs(t *testing.T, data []byte) (ids []string, errs []*ParseError) {
	t.Helper()
	rd, err := NewReader(bytes.NewReader(data), WithName("c"))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	for ev, err := range rd.All() {
		if err != nil {
			pe := err.(*ParseError)
			errs = append(errs, pe)
			continue
		}
		ids = append(ids, string(ev.AuditID()))
	}
	return ids, errs
}

func TestCompressedInput(t *testing.T) {
	lines := func(ids ...string) string {
		var b strings.Builder
		for _, id := range ids {
			b.WriteString(ev(id) + "\n")
		}
		return b.String()
	}
	t.Run("gzip", func(t *testing.T) {
		ids, errs := readIDs(t, gz(lines("a", "b")))
		if diff := cmp.Diff([]string{"a", "b"}, ids); diff != "" || errs != nil {
			t.Errorf("ids diff %s, errors %v", diff, errs)
		}
	})
	t.Run("gzip multi-member", func(t *testing.T) {
		data := append(gz(lines("a", "b")), gz(lines("c"))...)
		data = append(data, gz(ev("d"))...) // last member without a final newline
		ids, errs := readIDs(t, data)
		if diff := cmp.Diff([]string{"a", "b", "c", "d"}, ids); diff != "" || errs != nil {
			t.Errorf("ids diff %s, errors %v", diff, errs)
		}
	})
	t.Run("zstd", func(t *testing.T) {
		ids, errs := readIDs(t, zst(lines("a", "b", "c")))
		if diff := cmp.Diff([]string{"a", "b", "c"}, ids); diff != "" || errs != nil {
			t.Errorf("ids diff %s, errors %v", diff, errs)
		}
	})
	var many []string
	for i := range 2000 {
		many = append(many, fmt.Sprintf("id-%04d", i))
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"gzip truncated", gz(lines(many...))},
		{"zstd truncated", zst(lines(many...))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cut := tc.data[:len(tc.data)*2/3]
			ids, errs := readIDs(t, cut)
			if len(ids) == 0 || len(ids) >= len(many) {
				t.Fatalf("got %d events from two thirds of the stream", len(ids))
			}
			if diff := cmp.Diff(many[:len(ids)], ids); diff != "" {
				t.Errorf("events before the fault differ:\n%s", diff)
			}
			if len(errs) != 1 || !errs[0].Fatal || !errs[0].Compressed || errs[0].Line != len(ids)+1 {
				t.Fatalf("want one fatal error at line %d, got %v", len(ids)+1, errs)
			}
			// The error points at the first byte not delivered.
			if want := int64(len(lines(many[:len(ids)]...))); errs[0].Offset != want {
				t.Errorf("error offset %d, want %d", errs[0].Offset, want)
			}
		})
	}
	t.Run("corrupt gzip member", func(t *testing.T) {
		bad := gz(lines("b"))
		bad[len(bad)-10] ^= 0xff // CRC
		data := append(append(gz(lines("a")), bad...), gz(lines("c"))...)
		// gzip checks a member's CRC at its end, so what was decoded before the
		// check is delivered; the stream stops there and "c" is never read.
		ids, errs := readIDs(t, data)
		last := errs[len(errs)-1]
		if ids[0] != "a" || slices.Contains(ids, "c") || !last.Fatal || !strings.Contains(last.Error(), "checksum") {
			t.Fatalf("ids %v errors %v; want a first, no c, and a fatal checksum error last", ids, errs)
		}
	})
	for _, tc := range []struct{ name, data, want string }{
		{"xz", "\xfd7zXZ\x00rest", "xz"},
		{"bzip2", "BZh91AY&SY", "bzip2"},
		{"gzip header only", "\x1f\x8b", "gzip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ids, errs := readIDs(t, []byte(tc.data))
			if len(ids) != 0 || len(errs) != 1 || !errs[0].Fatal || !strings.Contains(errs[0].Error(), tc.want) {
				t.Errorf("got ids %v errors %v; want one fatal error mentioning %s", ids, errs, tc.want)
			}
		})
	}
}

// TestFieldsAndViews checks accessors on one event and the unescaping rules
// (k8saudit's TestToV1OfEveryField checks the same line against encoding/json).
func TestFieldsAndViews(t *testing.T) {
	line := `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"id-1","stage":"ResponseComplete",` +
		`"requestURI":"/api/v1/pods?a=1\u0026b=2","verb":"create","user":{"username":"system:serviceaccount:ns:sa","uid":"u1","groups":["g1","g2"],` +
		`"extra":{"authentication.kubernetes.io/pod-name":["p-1"],"empty":[],"nil":null}},"impersonatedUser":{"username":"bob"},` +
		`"sourceIPs":["10.0.0.1","::1"],"userAgent":"bad\u001b[31mred\ud800","objectRef":{"resource":"pods","namespace":"ns","name":"p",` +
		`"apiGroup":"","apiVersion":"v1","subresource":"exec"},"responseStatus":{"metadata":{},"status":"Failure","reason":"Forbidden","message":"no \"way\"","code":403},` +
		`"requestObject":{"kind":"Pod","spec":{}},"responseObject":null,"requestReceivedTimestamp":"2026-11-20T08:00:00.000001Z",` +
		`"stageTimestamp":"2026-11-20T10:00:00.123456+02:00","annotations":{"k":"v1","k":"v2","authorization.k8s.io/decision":"forbid"}}`
	rd, _ := NewReader(strings.NewReader(line))
	e, err := rd.Next()
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct{ got, want string }{
		{string(e.RequestURI()), "/api/v1/pods?a=1&b=2"},
		{string(e.UserAgent()), "bad\x1b[31mred\uFFFD"},
		{string(e.User().Username), "system:serviceaccount:ns:sa"},
		{string(bytes.Join(e.User().Groups, []byte(","))), "g1,g2"},
		{string(e.ImpersonatedUser().Username), "bob"},
		{string(e.ObjectRef().Subresource), "exec"},
		{string(e.ResponseStatus().Message), `no "way"`},
		{string(e.RequestObject()), `{"kind":"Pod","spec":{}}`},
		{e.RequestReceivedTimestamp().Format("2006-01-02T15:04:05.000000Z07:00"), "2026-11-20T08:00:00.000001Z"},
		{e.StageTimestamp().Format("2006-01-02T15:04:05.000000Z07:00"), "2026-11-20T08:00:00.123456Z"},
		{fmt.Sprint(e.Code()), "403"},
		{fmt.Sprint(len(e.SourceIPs())), "2"},
		{fmt.Sprint(e.ResponseObject() == nil), "true"},
	}
	for i, c := range checks {
		if c.got != c.want {
			t.Errorf("check %d: got %q, want %q", i, c.got, c.want)
		}
	}
	if v, ok := e.Annotation("k"); !ok || string(v) != "v2" {
		t.Errorf(`Annotation("k") = %q, %v; want the last value "v2"`, v, ok)
	}
	if _, ok := e.Annotation("missing"); ok {
		t.Error("Annotation of a missing key reported ok")
	}
	x := e.User().Extra
	if len(x) != 3 || x[1].Values == nil || len(x[1].Values) != 0 || x[2].Values != nil {
		t.Errorf("extra: empty list must be non-nil and empty, null must be nil: %+v", x)
	}

	// Clone survives the Reader moving on; the original's views do not have to.
	c := e.Clone()
	rd.Reset(strings.NewReader(ev("other") + "\n"))
	if _, err := rd.Next(); err != nil {
		t.Fatal(err)
	}
	if string(c.AuditID()) != "id-1" || string(c.UserAgent()) != "bad\x1b[31mred\uFFFD" || c.Code() != 403 {
		t.Errorf("clone changed after the reader moved on: %s %q %d", c.AuditID(), c.UserAgent(), c.Code())
	}
}

// TestZeroAllocsPerEvent: decoding a typical line reuses the Event's storage.
func TestZeroAllocsPerEvent(t *testing.T) {
	line := []byte(ev("a") + "\n")
	data := bytes.Repeat(line, 1000)
	rd, _ := NewReader(bytes.NewReader(data))
	for range 10 { // warm up buffers
		rd.Next()
	}
	allocs := testing.AllocsPerRun(500, func() {
		if _, err := rd.Next(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per event, want 0", allocs)
	}
}

// TestLegacyTimestamps: upstream's v1beta1 conversion fills zero v1 timestamps
// from timestamp and metadata.creationTimestamp; present v1 timestamps win.
func TestLegacyTimestamps(t *testing.T) {
	const format = "2006-01-02T15:04:05.000000Z07:00"
	for _, tc := range []struct {
		line, received, stage string
	}{
		{`{"apiVersion":"audit.k8s.io/v1beta1","metadata":{"creationTimestamp":"2017-09-11T19:55:06Z"},"timestamp":"2017-09-11T19:55:05Z"}`,
			"2017-09-11T19:55:05.000000Z", "2017-09-11T19:55:06.000000Z"},
		{`{"auditID":"a","metadata":{"creationTimestamp":null},"timestamp":"2017-06-15T23:07:40.123Z"}`, // v1alpha1 webhook item
			"2017-06-15T23:07:40.123000Z", "0001-01-01T00:00:00.000000Z"},
		{`{"auditID":"a","timestamp":"2017-09-11T19:55:05Z","requestReceivedTimestamp":"2020-01-01T00:00:00.000001Z","stageTimestamp":"2020-01-01T00:00:00.000002Z"}`,
			"2020-01-01T00:00:00.000001Z", "2020-01-01T00:00:00.000002Z"},
		{`{"auditID":"a","timestamp":12,"metadata":{"creationTimestamp":"not a time"}}`, // ignored, as the v1 decoder ignores them
			"0001-01-01T00:00:00.000000Z", "0001-01-01T00:00:00.000000Z"},
	} {
		rd, _ := NewReader(strings.NewReader(tc.line))
		e, err := rd.Next()
		if err != nil {
			t.Fatalf("%s: %v", tc.line, err)
		}
		if got := e.RequestReceivedTimestamp().Format(format); got != tc.received {
			t.Errorf("%s: requestReceived %s, want %s", tc.line, got, tc.received)
		}
		if got := e.StageTimestamp().Format(format); got != tc.stage {
			t.Errorf("%s: stage %s, want %s", tc.line, got, tc.stage)
		}
	}
}

func TestZstdConcatenatedFrames(t *testing.T) {
	data := append(zst(ev("a")+"\n"), zst(ev("b")+"\n"+ev("c"))...)
	ids, errs := readIDs(t, data)
	if diff := cmp.Diff([]string{"a", "b", "c"}, ids); diff != "" || errs != nil {
		t.Errorf("ids diff %s, errors %v", diff, errs)
	}
}

// TestLargePrettyEventList: items of a big pretty-printed EventList get their
// own line numbers, and finding them does not rescan the document per item.
func TestLargePrettyEventList(t *testing.T) {
	var items []string
	for i := range 20000 {
		items = append(items, fmt.Sprintf(`{"auditID":"id-%d","stage":"ResponseComplete","verb":"get"}`, i))
	}
	doc := pretty(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[` + strings.Join(items, ",") + `]}`)
	rd, _ := NewReader(strings.NewReader(doc + "\n"))
	n := 0
	for ev, err := range rd.All() {
		if err != nil {
			t.Fatal(err)
		}
		// json.Indent: 5 header lines, then 5 lines per item.
		if want := 6 + 5*n; ev.Pos().Line != want || string(ev.AuditID()) != fmt.Sprintf("id-%d", n) {
			t.Fatalf("item %d: %s at line %d, want line %d", n, ev.AuditID(), ev.Pos().Line, want)
		}
		n++
	}
	if n != len(items) {
		t.Errorf("%d items, want %d", n, len(items))
	}
}
