// Package eks reads the audit logs of Amazon EKS as CloudWatch Logs hands
// them out (log group /aws/eks/<cluster>/cluster, streams
// kube-apiserver-audit-<id>). Every path keeps kube-apiserver's own event
// JSON in a message, so the events read back exactly:
//
//   - Format: `aws logs filter-log-events` and `get-log-events` output
//     ({"events":[{"logStreamName","timestamp","message"}…]}, one page or
//     several saved one after another); subscription-filter payloads
//     ({"messageType","logGroup","logStream","logEvents":[…]}, gzipped or
//     not, CONTROL_MESSAGE passed over), including Amazon Data Firehose
//     objects, whose gzipped records are concatenated without delimiters
//     (and maybe gzipped again); Logs Insights results as
//     `aws logs get-query-results` prints them ({"results":[[{"field":
//     "@message","value":…}]]}).
//   - Export: the objects `aws logs create-export-task` writes to S3,
//     one `<ISO 8601 time> <message>` line per event.
//   - InsightsCSV: Logs Insights results downloaded as CSV, with a
//     @message column.
//   - Lambda: the events a subscription's Lambda function receives,
//     {"awslogs":{"data":"<base64 of a gzipped payload>"}}.
//
// A message CloudWatch cut at its 256 KB limit ends in "[Truncated...]":
// it is reported as the event it was (its auditID), never read and never
// guessed at. The origin of each event: Cluster from the log group, Node
// the log stream (which API server), where the shape has them.
package eks

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/auditq/auditq/auditlog"
)

// Format reads CloudWatch Logs' JSON output: filter-log-events,
// get-log-events, subscription payloads and Firehose objects, Logs
// Insights results.
var Format auditlog.Format = jsonFormat{}

// Export reads the objects of a CloudWatch Logs export task.
var Export auditlog.Format = exportFormat{}

// InsightsCSV reads Logs Insights results downloaded as CSV.
var InsightsCSV auditlog.Format = csvFormat{}

// Lambda reads what a subscription's Lambda function receives.
var Lambda auditlog.Format = lambdaFormat{}

// truncatedSuffix ends a message CloudWatch cut at 256 KB.
var truncatedSuffix = []byte("[Truncated...]")

// message returns the item for one CloudWatch message whose JSON string is
// at off in rec: the event, appended to *buf, or the damage.
func message(rec []byte, off int, buf *[]byte, o auditlog.Origin, field string) auditlog.Item {
	var r auditlog.EnvelopeReader
	r.Reset(rec, off)
	at := len(*buf)
	b, err := r.AppendString(*buf)
	if err != nil {
		return auditlog.Item{Offset: off, Err: err}
	}
	*buf = b
	msg := bytes.TrimRight(b[at:], " \t\r\n")
	return messageItem(msg, off, o, field)
}

func messageItem(msg []byte, off int, o auditlog.Origin, field string) auditlog.Item {
	if bytes.HasSuffix(msg, truncatedSuffix) {
		id := auditlog.FindAuditID(msg)
		what := "an event"
		if id != nil {
			what = fmt.Sprintf("the event with auditID %s", id)
		}
		return auditlog.Item{Offset: off, Err: fmt.Errorf("%s: CloudWatch Logs cut %s at its 256 KB limit (\"[Truncated...]\"); it cannot be read", field, what)}
	}
	return auditlog.Item{JSON: msg, Offset: off, Field: field, Origin: o}
}

// clusterOf returns the cluster of an EKS log group, /aws/eks/<cluster>/cluster.
func clusterOf(group []byte) []byte {
	if rest, ok := bytes.CutPrefix(group, []byte("/aws/eks/")); ok {
		if name, _, ok := bytes.Cut(rest, []byte("/")); ok {
			return name
		}
	}
	return group
}

type jsonFormat struct{}

func (jsonFormat) Name() string              { return "eks" }
func (jsonFormat) Framing() auditlog.Framing { return auditlog.FrameJSON }
func (jsonFormat) LiteralsVisible() bool     { return true }

func (jsonFormat) Detect(head []byte) bool {
	k := auditlog.FirstKeys(head)
	if k == nil {
		return false
	}
	return k.Has("events") || k.Has("logEvents") || k.Has("messageType") || k.Has("results")
}

// Read: at 0, the record's shape is found and its first event read; after
// that, at is just after the event before, in the shape's array.
func (jsonFormat) Read(rec []byte, at int, buf *[]byte) (auditlog.Item, int) {
	top := topLevel(rec)
	if top.err != nil {
		return auditlog.Item{Err: top.err}, -1
	}
	if top.control {
		return auditlog.Item{}, -1 // CloudWatch's test message when a subscription is made
	}
	if top.array < 0 {
		return auditlog.Item{Err: errors.New("not CloudWatch Logs output: no events, logEvents or results")}, -1
	}
	if at == 0 {
		at = top.array
	}
	var r auditlog.EnvelopeReader
	r.Reset(rec, at)
	ok, err := r.Element()
	if err != nil {
		return auditlog.Item{Offset: r.Pos(), Err: err}, -1
	}
	if !ok {
		return auditlog.Item{}, -1
	}
	start := r.Pos()
	var item auditlog.Item
	if top.results {
		item = insightsRow(&r, rec, buf)
	} else {
		item = logEvent(&r, rec, buf, top)
	}
	if item.Err != nil {
		// Move past the element, whatever it held.
		r.Reset(rec, start)
		if err := r.Skip(); err != nil {
			return auditlog.Item{Offset: start, Err: err}, -1
		}
	}
	return item, r.Pos()
}

// top is what a record says before its events.
type top struct {
	array         int // offset of the events (logEvents, results) array; -1 if none
	results       bool
	control       bool
	group, stream int // offsets of logGroup and logStream; -1 if none
	err           error
}

// errFound ends the walk of a record's members at its array of events.
var errFound = errors.New("found")

// topLevel reads the members of a record up to its array of events (the
// members of a payload that name the group and stream come before it).
func topLevel(rec []byte) top {
	t := top{array: -1, group: -1, stream: -1}
	var r auditlog.EnvelopeReader
	r.Reset(rec, 0)
	payload := false
	err := r.Object(func(key []byte) error {
		switch string(key) {
		case "events", "logEvents":
			t.array, payload = r.Pos(), string(key) == "logEvents"
			return errFound
		case "results":
			t.array, t.results = r.Pos(), true
			return errFound
		case "messageType":
			v, err := r.String()
			t.control = string(v) == "CONTROL_MESSAGE"
			return err
		case "logGroup":
			t.group = r.Pos()
		case "logStream":
			t.stream = r.Pos()
		}
		return r.Skip()
	})
	if err != nil && err != errFound {
		t.err = err
	}
	if payload {
		// A payload re-encoded with sorted keys has logGroup and logStream
		// after logEvents. Keys cannot occur inside the messages (their
		// quotes are escaped), so the last one in the record is the
		// payload's; searching from the end finds it at once.
		if t.group < 0 {
			t.group = valueAfter(rec, `"logGroup":`, t.array)
		}
		if t.stream < 0 {
			t.stream = valueAfter(rec, `"logStream":`, t.array)
		}
	}
	return t
}

// valueAfter returns the offset of the value of the last key in rec after
// from, or -1.
func valueAfter(rec []byte, key string, from int) int {
	i := bytes.LastIndex(rec, []byte(key))
	if i <= from {
		return -1
	}
	i += len(key)
	for i < len(rec) && (rec[i] == ' ' || rec[i] == '\t' || rec[i] == '\n' || rec[i] == '\r') {
		i++
	}
	return i
}

// logEvent reads one element of events (filter-log-events, get-log-events)
// or logEvents (a subscription payload).
func logEvent(r *auditlog.EnvelopeReader, rec []byte, buf *[]byte, t top) auditlog.Item {
	start := r.Pos()
	msg, stream := -1, t.stream
	b := (*buf)[:0]
	err := r.Object(func(key []byte) error {
		switch string(key) {
		case "message":
			// Decoded here, in the one pass over it; the origin goes after it.
			msg = r.Pos()
			var err error
			b, err = r.AppendString(b[:0])
			return err
		case "logStreamName":
			stream = r.Pos()
		}
		return r.Skip()
	})
	if err != nil {
		return auditlog.Item{Offset: start, Err: err}
	}
	if msg < 0 {
		return auditlog.Item{Offset: start, Err: errors.New("a CloudWatch log event without a message")}
	}
	end := len(b)
	var o auditlog.Origin
	b, o.Node = auditlog.AppendStringAt(b, rec, stream)
	var group []byte
	b, group = auditlog.AppendStringAt(b, rec, t.group)
	if group != nil {
		o.Cluster = clusterOf(group)
	}
	*buf = b
	return messageItem(bytes.TrimRight(b[:end], " \t\r\n"), msg, o, "message")
}

// insightsRow reads one result of get-query-results: a list of
// {"field","value"} pairs.
func insightsRow(r *auditlog.EnvelopeReader, rec []byte, buf *[]byte) auditlog.Item {
	start := r.Pos()
	msg, stream := -1, -1
	err := r.Array(func() error {
		var field []byte
		value := -1
		err := r.Object(func(key []byte) error {
			switch string(key) {
			case "field":
				v, err := r.String()
				field = bytes.Clone(v)
				return err
			case "value":
				value = r.Pos()
			}
			return r.Skip()
		})
		switch string(field) {
		case "@message":
			msg = value
		case "@logStream":
			stream = value
		}
		return err
	})
	if err != nil {
		return auditlog.Item{Offset: start, Err: err}
	}
	if msg < 0 {
		return auditlog.Item{Offset: start, Err: errors.New("a Logs Insights result without @message: add `fields @message` to the query")}
	}
	var o auditlog.Origin
	*buf, o.Node = auditlog.AppendStringAt((*buf)[:0], rec, stream)
	return message(rec, msg, buf, o, "@message")
}

type exportFormat struct{}

func (exportFormat) Name() string              { return "eks-export" }
func (exportFormat) Framing() auditlog.Framing { return auditlog.FrameLines }
func (exportFormat) LiteralsVisible() bool     { return true }

// Detect: `<ISO 8601 time> {` on the first line.
func (exportFormat) Detect(head []byte) bool {
	ts, rest, ok := bytes.Cut(head, []byte(" "))
	if !ok || !bytes.HasPrefix(rest, []byte("{")) {
		return false
	}
	_, err := time.Parse(time.RFC3339Nano, string(ts))
	return err == nil
}

func (exportFormat) Read(rec []byte, at int, buf *[]byte) (auditlog.Item, int) {
	if at > 0 {
		return auditlog.Item{}, -1
	}
	sp := bytes.IndexByte(rec, ' ')
	if sp < 0 {
		return auditlog.Item{Err: errors.New("not a CloudWatch export line (<time> <message>)")}, -1
	}
	if _, err := time.Parse(time.RFC3339Nano, string(rec[:sp])); err != nil {
		return auditlog.Item{Err: fmt.Errorf("not a CloudWatch export line: %q is not a time", rec[:sp])}, -1
	}
	msg := bytes.TrimRight(rec[sp+1:], " \t\r")
	return messageItem(msg, sp+1, auditlog.Origin{}, "message"), -1
}

type csvFormat struct{}

func (csvFormat) Name() string              { return "eks-insights-csv" }
func (csvFormat) Framing() auditlog.Framing { return auditlog.FrameLines }
func (csvFormat) LiteralsVisible() bool     { return true }

// Detect: a header line naming @message.
func (csvFormat) Detect(head []byte) bool {
	line, _, _ := bytes.Cut(head, []byte("\n"))
	fields, err := csv.NewReader(bytes.NewReader(line)).Read()
	if err != nil {
		return false
	}
	for _, f := range fields {
		if f == "@message" {
			return true
		}
	}
	return false
}

// Read reads a line of the CSV: the header is passed over; in a row, the
// event is the field holding a JSON object, the log stream the field that
// names an API server's audit stream.
func (csvFormat) Read(rec []byte, at int, buf *[]byte) (auditlog.Item, int) {
	if at > 0 {
		return auditlog.Item{}, -1
	}
	cr := csv.NewReader(bytes.NewReader(rec))
	cr.LazyQuotes = false
	fields, err := cr.Read()
	if err != nil {
		return auditlog.Item{Err: fmt.Errorf("a Logs Insights CSV row: %w", err)}, -1
	}
	var msg, stream string
	for _, f := range fields {
		switch {
		case f == "@message":
			return auditlog.Item{}, -1 // the header
		case len(f) > 0 && f[0] == '{':
			msg = f
		case bytes.HasPrefix([]byte(f), []byte("kube-apiserver-audit")):
			stream = f
		}
	}
	if msg == "" {
		return auditlog.Item{Err: errors.New("a Logs Insights CSV row without a JSON @message")}, -1
	}
	b := append((*buf)[:0], stream...)
	var o auditlog.Origin
	if stream != "" {
		o.Node = b[:len(stream):len(stream)]
	}
	at0 := len(b)
	b = append(b, msg...)
	*buf = b
	// Where the message starts in the line, for positions.
	off := max(bytes.Index(rec, []byte(`{`)), 0)
	return messageItem(bytes.TrimRight(b[at0:], " \r\n"), off, o, "@message"), -1
}

type lambdaFormat struct{}

func (lambdaFormat) Name() string              { return "eks-lambda" }
func (lambdaFormat) Framing() auditlog.Framing { return auditlog.FrameJSON }

func (lambdaFormat) Detect(head []byte) bool {
	k := auditlog.FirstKeys(head)
	return k != nil && k.Has("awslogs")
}

// maxPayload bounds what one base64 payload may inflate to.
const maxPayload = 64 << 20

// Unwrap decodes awslogs.data (base64 of a gzipped subscription payload):
// the Reader reads its events with Format, once per record.
func (lambdaFormat) Unwrap(rec, dst []byte) (auditlog.Unwrapped, error) {
	var r auditlog.EnvelopeReader
	r.Reset(rec, 0)
	data := -1
	err := r.Object(func(key []byte) error {
		if string(key) != "awslogs" || r.Peek() != '{' {
			return r.Skip()
		}
		return r.Object(func(key []byte) error {
			if string(key) == "data" {
				data = r.Pos()
			}
			return r.Skip()
		})
	})
	if err != nil {
		return auditlog.Unwrapped{}, err
	}
	if data < 0 {
		return auditlog.Unwrapped{}, errors.New("a Lambda event without awslogs.data")
	}
	r.Reset(rec, data)
	b64, err := r.String()
	if err != nil {
		return auditlog.Unwrapped{Offset: data}, err
	}
	fail := func(err error) (auditlog.Unwrapped, error) {
		return auditlog.Unwrapped{Offset: data}, fmt.Errorf("awslogs.data: %w", err)
	}
	gz := make([]byte, base64.StdEncoding.DecodedLen(len(b64)))
	n, err := base64.StdEncoding.Decode(gz, b64)
	if err != nil {
		return fail(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz[:n]))
	if err != nil {
		return fail(err)
	}
	buf := bytes.NewBuffer(dst[:0])
	if _, err := buf.ReadFrom(io.LimitReader(zr, maxPayload+1)); err != nil {
		return fail(err)
	}
	if buf.Len() > maxPayload {
		return fail(fmt.Errorf("inflates to more than %d bytes", maxPayload))
	}
	return auditlog.Unwrapped{Data: buf.Bytes(), Format: Format, Offset: data, Field: "awslogs.data"}, nil
}

// Read reads the at'th event of the payload. The Reader unwraps a record
// once (Unwrap); Read, for other callers, unwraps it at each call.
func (f lambdaFormat) Read(rec []byte, at int, buf *[]byte) (auditlog.Item, int) {
	w, err := f.Unwrap(rec, nil)
	if err != nil {
		off := w.Offset
		if o, ok := auditlog.ErrorOffset(err); ok {
			off = o
		}
		return auditlog.Item{Offset: off, Err: err}, -1
	}
	var inner []byte
	pos := 0
	for i := 0; ; i++ {
		item, next := Format.Read(w.Data, pos, &inner)
		if i < at {
			if next < 0 {
				return auditlog.Item{}, -1
			}
			pos = next
			continue
		}
		// Views of the payload or inner would not outlive this call: copy
		// the event and its origin into buf.
		b := (*buf)[:0]
		item.Offset = w.Offset
		if item.JSON != nil {
			var o auditlog.Origin
			b, o.Node = appendView(b, item.Origin.Node)
			b, o.Cluster = appendView(b, item.Origin.Cluster)
			j := len(b)
			b = append(b, item.JSON...)
			item.JSON, item.Origin = b[j:], o
		}
		*buf = b
		if next < 0 {
			return item, -1
		}
		return item, at + 1
	}
}

func appendView(b, v []byte) ([]byte, []byte) {
	if v == nil {
		return b, nil
	}
	at := len(b)
	b = append(b, v...)
	return b, b[at:len(b):len(b)]
}
