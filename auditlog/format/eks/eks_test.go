package eks

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/internal/audittest"
)

// Shapes are built around a real kube-apiserver's events, as CloudWatch
// Logs and the AWS CLI write them (field names and order from the API
// reference; the CLI prints JSON indented by 4).

type cwEvent struct {
	LogStreamName string `json:"logStreamName,omitempty"`
	Timestamp     int64  `json:"timestamp"`
	Message       string `json:"message"`
	IngestionTime int64  `json:"ingestionTime,omitempty"`
	EventID       string `json:"eventId,omitempty"`
	ID            string `json:"id,omitempty"`
}

func streamOf(i int) string { return fmt.Sprintf("kube-apiserver-audit-%032x", i%3) }

func pages(lines [][]byte, perPage int, withStream bool) string {
	var b strings.Builder
	for start := 0; start < len(lines); start += perPage {
		var evs []cwEvent
		for i, l := range lines[start:min(start+perPage, len(lines))] {
			e := cwEvent{Timestamp: 1700000000000 + int64(start+i), Message: string(l), IngestionTime: 1700000000500}
			if withStream {
				e.LogStreamName, e.EventID = streamOf(start+i), fmt.Sprint(start+i)
			}
			evs = append(evs, e)
		}
		var doc any = map[string]any{"events": evs, "searchedLogStreams": []any{}, "nextToken": "abc"}
		if !withStream {
			doc = map[string]any{"events": evs, "nextForwardToken": "f/1", "nextBackwardToken": "b/1"}
		}
		out, _ := json.MarshalIndent(doc, "", "    ")
		b.Write(out)
		b.WriteByte('\n')
	}
	return b.String()
}

func payload(lines [][]byte, stream string) []byte {
	var evs []cwEvent
	for i, l := range lines {
		evs = append(evs, cwEvent{ID: fmt.Sprint(i), Timestamp: 1700000000000, Message: string(l)})
	}
	// The members in the order of CloudWatch's documented example.
	out, _ := json.Marshal(struct {
		MessageType         string    `json:"messageType"`
		Owner               string    `json:"owner"`
		LogGroup            string    `json:"logGroup"`
		LogStream           string    `json:"logStream"`
		SubscriptionFilters []string  `json:"subscriptionFilters"`
		LogEvents           []cwEvent `json:"logEvents"`
	}{"DATA_MESSAGE", "123456789012", "/aws/eks/prod/cluster", stream, []string{"audit"}, evs})
	return out
}

// sortedPayload is a payload re-encoded with its keys sorted, as some
// pipelines write it: logEvents before logGroup and logStream.
func sortedPayload(lines [][]byte, stream string) []byte {
	var m map[string]any
	json.Unmarshal(payload(lines, stream), &m)
	out, _ := json.Marshal(m)
	return out
}

type read struct {
	raw, nodes []string
	pos        []auditlog.Position
	errs       []string
}

func readAll(t *testing.T, data []byte, threads int, f auditlog.Format) read {
	t.Helper()
	var r read
	for res := range auditlog.ScanReader[struct{}](context.Background(), bytes.NewReader(data), nil,
		auditlog.WithFormats(Format, Export, InsightsCSV, Lambda), auditlog.WithConcurrency(threads)) {
		if res.Err != nil {
			r.errs = append(r.errs, res.Err.Error())
			continue
		}
		if got := res.Event.Origin().Format; got != f.Name() {
			t.Fatalf("read as %q, want %q", got, f.Name())
		}
		r.raw = append(r.raw, string(res.Event.Raw()))
		r.pos = append(r.pos, res.Event.Pos())
		o := res.Event.Origin()
		r.nodes = append(r.nodes, string(o.Cluster)+"/"+string(o.Node))
	}
	return r
}

func TestShapesAroundKubeAPIServerEvents(t *testing.T) {
	lines, name := audittest.KubeAPIServerLines(t)
	lines = lines[:min(len(lines), 2400)]
	want := make([]string, len(lines))
	for i, l := range lines {
		want[i] = string(l)
	}
	// Firehose: each record a gzip member, concatenated without delimiters,
	// with a control message among them; and the whole object gzipped again.
	var firehose []byte
	for start := 0; start < len(lines); start += 100 {
		firehose = append(firehose, audittest.Gzip(payload(lines[start:min(start+100, len(lines))], streamOf(start/100)))...)
		if start == 300 {
			firehose = append(firehose, audittest.Gzip([]byte(`{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}`))...)
		}
	}
	// One payload split over two gzip members: the boundary falls inside it.
	one := payload(lines[:300], "s")
	split := append(audittest.Gzip(one[:len(one)/2]), audittest.Gzip(one[len(one)/2:])...)
	var export, insights strings.Builder
	for i, l := range lines {
		fmt.Fprintf(&export, "%s %s\n", time.UnixMilli(1700000000000+int64(i)).UTC().Format("2006-01-02T15:04:05.000Z"), l)
	}
	var rows [][]map[string]string
	for i, l := range lines[:500] {
		rows = append(rows, []map[string]string{{"field": "@timestamp", "value": "2023-12-05 22:14:43.877"},
			{"field": "@logStream", "value": streamOf(i)}, {"field": "@message", "value": string(l)}, {"field": "@ptr", "value": "Cm4K"}})
	}
	insightsJSON, _ := json.MarshalIndent(map[string]any{"results": rows, "statistics": map[string]int{"recordsMatched": 500}, "status": "Complete"}, "", "    ")
	var csvOut bytes.Buffer
	cw := csv.NewWriter(&csvOut)
	cw.Write([]string{"@timestamp", "@logStream", "@message"})
	for i, l := range lines[:500] {
		cw.Write([]string{"2023-12-05 22:14:43.877", streamOf(i), string(l)})
	}
	cw.Flush()
	var lambda strings.Builder
	for start := 0; start < 600; start += 200 {
		lambda.WriteString(`{"awslogs":{"data":"` + base64.StdEncoding.EncodeToString(audittest.Gzip(payload(lines[start:start+200], "s"))) + `"}}` + "\n")
	}
	insights.Write(insightsJSON)

	for _, tc := range []struct {
		shape  string
		data   []byte
		format auditlog.Format
		n      int
		node   string // of the last event
	}{
		{"filter-log-events, pages of 1000", []byte(pages(lines, 1000, true)), Format, len(lines), "/" + streamOf(len(lines)-1)},
		{"get-log-events", []byte(pages(lines, 700, false)), Format, len(lines), "/"},
		{"subscription payloads, Firehose", firehose, Format, len(lines), "prod/" + streamOf((len(lines)-1)/100)},
		{"Firehose, gzipped again", audittest.Gzip(firehose), Format, len(lines), "prod/" + streamOf((len(lines)-1)/100)},
		{"a payload over two gzip members", split, Format, 300, "prod/s"},
		{"a payload with sorted keys", sortedPayload(lines[:400], "sorted"), Format, 400, "prod/sorted"},
		{"export task", []byte(export.String()), Export, len(lines), "/"},
		{"Logs Insights, get-query-results", []byte(insights.String()), Format, 500, "/" + streamOf(499)},
		{"Logs Insights, CSV", csvOut.Bytes(), InsightsCSV, 500, "/" + streamOf(499)},
		{"Lambda", []byte(lambda.String()), Lambda, 600, "prod/s"},
	} {
		for _, threads := range []int{1, 3} {
			got := readAll(t, tc.data, threads, tc.format)
			if len(got.errs) > 0 {
				t.Fatalf("%s: %v", tc.shape, got.errs[0])
			}
			if diff := cmp.Diff(want[:tc.n], got.raw); diff != "" {
				t.Errorf("%s (%s, %d threads): (-want +got):\n%.2000s", tc.shape, name, threads, diff)
				continue
			}
			if !bytes.HasPrefix(tc.data, []byte{0x1f, 0x8b}) {
				// Each event is at its message: the line and offset of its
				// string in the stream (on later lines of a pretty-printed page).
				for i, p := range got.pos {
					if line := bytes.Count(tc.data[:p.Offset], []byte("\n")) + 1; line != p.Line || !bytes.ContainsAny(tc.data[p.Offset:p.Offset+1], `"{`) {
						t.Fatalf("%s: event %d at line %d offset %d; the offset is on line %d: %.60q", tc.shape, i, p.Line, p.Offset, line, tc.data[p.Offset:])
					}
				}
			}
			if got.nodes[len(got.nodes)-1] != tc.node {
				t.Errorf("%s: origin %q, want %q", tc.shape, got.nodes[len(got.nodes)-1], tc.node)
			}
		}
	}
}

// TestTruncated: a message CloudWatch cut at 256 KB is an error that names
// the event; the events around it are read.
func TestTruncated(t *testing.T) {
	lines, _ := audittest.KubeAPIServerLines(t)
	cut := append(bytes.Clone(lines[1][:200]), "[Truncated...]"...)
	for _, tc := range []struct {
		name   string
		data   []byte
		format auditlog.Format
	}{
		{"filter-log-events", []byte(pages([][]byte{lines[0], cut, lines[2]}, 10, true)), Format},
		{"export", []byte("2024-05-01T12:00:00.123Z " + string(lines[0]) + "\n2024-05-01T12:00:00.124Z " + string(cut) + "\n2024-05-01T12:00:00.125Z " + string(lines[2]) + "\n"), Export},
		{"Lambda", []byte(`{"awslogs":{"data":"` + base64.StdEncoding.EncodeToString(audittest.Gzip(payload([][]byte{lines[0], cut, lines[2]}, "s"))) + `"}}` + "\n"), Lambda},
	} {
		got := readAll(t, tc.data, 1, tc.format)
		if diff := cmp.Diff([]string{string(lines[0]), string(lines[2])}, got.raw); diff != "" {
			t.Errorf("%s: events (-want +got):\n%s", tc.name, diff)
		}
		var id struct{ AuditID string }
		json.Unmarshal(lines[1], &id)
		if len(got.errs) != 1 || !strings.Contains(got.errs[0], "cut the event with auditID "+id.AuditID+" at its 256 KB limit") ||
			tc.format == Lambda && !strings.Contains(got.errs[0], "<input>:1:20: awslogs.data: message: CloudWatch") {
			t.Errorf("%s: problems %q", tc.name, got.errs)
		}
	}
}

// TestBroken: a message that is not an event, a log event without a
// message, and output that is not CloudWatch's are errors at their place.
func TestBroken(t *testing.T) {
	lines, _ := audittest.KubeAPIServerLines(t)
	doc := `{"events":[{"logStreamName":"s","message":` + mustQuote(lines[0]) + `},{"logStreamName":"s"},{"message":"I1115 klog line"},{"message":` + mustQuote(lines[1]) + `}],"searchedLogStreams":[]}`
	got := readAll(t, []byte(doc), 1, Format)
	if len(got.raw) != 2 || len(got.errs) != 2 || !strings.Contains(got.errs[0], "without a message") || !strings.Contains(got.errs[1], "message: invalid character") {
		t.Errorf("events %d, problems %q", len(got.raw), got.errs)
	}
	var pe *auditlog.ParseError
	rd, _ := auditlog.NewReader(strings.NewReader(doc), auditlog.WithFormats(Format), auditlog.WithName("dump.json"))
	for _, err := range rd.All() {
		if err != nil && errors.As(err, &pe) {
			break
		}
	}
	if pe == nil || pe.File != "dump.json" || pe.Line != 1 || pe.Column < 10 {
		t.Errorf("position %+v", pe)
	}
}

// TestLambdaDamage: a Lambda event whose data is not base64, not gzip, or
// cut, is an error at its awslogs.data; the events of the next are read.
func TestLambdaDamage(t *testing.T) {
	lines, _ := audittest.KubeAPIServerLines(t)
	good := `{"awslogs":{"data":"` + base64.StdEncoding.EncodeToString(audittest.Gzip(payload(lines[:3], "s"))) + `"}}`
	whole := audittest.Gzip(payload(lines[:3], "s"))
	for _, tc := range []struct{ name, rec, msg string }{
		{"not base64", `{"awslogs":{"data":"%%%"}}`, "<input>:1:20: awslogs.data: illegal base64"},
		{"not gzip", `{"awslogs":{"data":"` + base64.StdEncoding.EncodeToString([]byte("plain text")) + `"}}`, "<input>:1:20: awslogs.data: gzip: invalid header"},
		{"gzip cut", `{"awslogs":{"data":"` + base64.StdEncoding.EncodeToString(whole[:len(whole)/2]) + `"}}`, "<input>:1:20: awslogs.data: unexpected EOF"},
		{"no data", `{"awslogs":{}}`, "<input>:1:1: a Lambda event without awslogs.data"},
		{"a message that is no event", `{"awslogs":{"data":"` + base64.StdEncoding.EncodeToString(audittest.Gzip(payload([][]byte{lines[0][:50]}, "s"))) + `"}}`, "<input>:1:20: awslogs.data: message: event cut short"},
		{"a payload that is no payload", `{"awslogs":{"data":"` + base64.StdEncoding.EncodeToString(audittest.Gzip([]byte(`{"a":1}`))) + `"}}`, "<input>:1:20: awslogs.data: not CloudWatch Logs output"},
	} {
		got := readAll(t, []byte(tc.rec+"\n"+good+"\n"), 1, Lambda)
		if len(got.raw) != 3 || len(got.errs) != 1 || !strings.Contains(got.errs[0], tc.msg) {
			t.Errorf("%s: %d events, problems %q, want %q", tc.name, len(got.raw), got.errs, tc.msg)
		}
	}
}

func mustQuote(b []byte) string {
	q, _ := json.Marshal(string(b))
	return string(q)
}

func TestDetect(t *testing.T) {
	cases := []struct {
		f    auditlog.Format
		head string
		want bool
	}{
		{Format, "{\n    \"events\": [\n        {\n", true},
		{Format, `{"messageType":"DATA_MESSAGE","owner":"1"`, true},
		{Format, `{"results":[[{"field":"@message"`, true},
		{Format, `{"kind":"Event","auditID":"a"}`, false},
		{Export, `2024-05-01T12:00:00.123Z {"kind":"Event"}`, true},
		{Export, `2024-05-01T12:00:00.123Z AUDIT: id="a"`, false},
		{InsightsCSV, "@timestamp,@message\n", true},
		{InsightsCSV, "time,message\n", false},
		{Lambda, `{"awslogs":{"data":"H4sI`, true},
	}
	for _, c := range cases {
		if got := c.f.Detect([]byte(c.head)); got != c.want {
			t.Errorf("%s.Detect(%q) = %v", c.f.Name(), c.head, got)
		}
	}
}

// FuzzRead: no record makes a format panic or loop.
func FuzzRead(f *testing.F) {
	lines, _ := audittest.KubeAPIServerLines(f)
	f.Add([]byte(pages(lines[:3], 10, true)), uint8(0))
	f.Add(payload(lines[:2], "s"), uint8(0))
	f.Add([]byte(`{"results":[[{"field":"@message","value":"{}"}]]}`), uint8(0))
	f.Add([]byte("2024-05-01T12:00:00.123Z "+string(lines[0])), uint8(1))
	f.Add([]byte(`2023-12-05,"{""auditID"":""a""}",kube-apiserver-audit-1`), uint8(2))
	f.Add([]byte(`{"awslogs":{"data":"`+base64.StdEncoding.EncodeToString(audittest.Gzip(payload(lines[:2], "s")))+`"}}`), uint8(3))
	formats := []auditlog.Format{Format, Export, InsightsCSV, Lambda}
	f.Fuzz(func(t *testing.T, rec []byte, which uint8) {
		format := formats[int(which)%len(formats)]
		if format.Framing() == auditlog.FrameJSON && !json.Valid(rec) {
			return
		}
		var buf []byte
		at := 0
		for n := 0; at >= 0; n++ {
			if n > len(rec)+2 {
				t.Fatalf("no progress at %d", at)
			}
			_, next := format.Read(rec, at, &buf)
			if next >= 0 && next <= at {
				t.Fatalf("%s: next %d after %d", format.Name(), next, at)
			}
			at = next
		}
		// Through a Reader too (which unwraps a Lambda record once): errors
		// are positioned inside the input, and the read ends.
		rd, err := auditlog.NewReader(bytes.NewReader(rec), auditlog.WithFormats(format))
		if err != nil {
			t.Fatal(err)
		}
		steps := 0
		for _, err := range rd.All() {
			if steps++; steps > 64*len(rec)+10 {
				t.Fatal("more results than the input can hold")
			}
			var pe *auditlog.ParseError
			if err != nil && (!errors.As(err, &pe) || pe.Offset < 0 || pe.Offset > int64(len(rec))) {
				t.Fatalf("error %v outside the input", err)
			}
		}
	})
}
