package auditlog

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Input formats. kube-apiserver's own lines are read natively; the exports
// of managed clusters (CloudWatch, Azure Monitor, Cloud Logging, OpenShift's
// node logs, the legacy text format) wrap the same events in envelopes. A
// Format unwraps one: the Reader cuts the stream into records as the format
// says, the format turns each record into native event JSON, and the Reader
// decodes that as it decodes any line, so positions, errors, filters and
// every analysis work unchanged. Formats are passed explicitly with
// WithFormats and recognised by the content of a stream, never by its name.

// Format reads one export shape of audit events. Its methods must be safe
// for concurrent use: the parallel pipeline calls them from several
// goroutines at once.
//
// A Format whose records hold the events' string values as JSON (or Go)
// strings, findable in the raw bytes, may also have a method
// LiteralsVisible() bool returning true: then WithLiterals skips the chunks
// of its streams that cannot hold a literal. Without it, every chunk is
// decoded (a base64 or compressed payload would hide a literal).
type Format interface {
	// Name names the shape in errors and in Origin.Format ("aks", "eks", …).
	Name() string
	// Detect reports whether a stream in this format starts with head: its
	// first bytes after decompression (up to 64 KiB, cut anywhere), from
	// the first that is not a byte-order mark or whitespace.
	Detect(head []byte) bool
	// Framing says how the stream is cut into records.
	Framing() Framing
	// Read returns the event of rec (one record, without its line end)
	// found at or after byte at, and where to look for the next one; next
	// is -1 when rec holds no more. Event JSON (and Origin values) that are
	// not views of rec are appended to *buf, which belongs to the event
	// being read and lives as long as its views. An Item with Err reports a
	// problem at Item.Offset; Read is called again at next.
	Read(rec []byte, at int, buf *[]byte) (item Item, next int)
}

// An Unwrapper is a Format whose records each hold a record of another
// format, encoded: a Lambda function's event, whose awslogs.data is the
// base64 of a gzipped CloudWatch payload. The Reader calls Unwrap once per
// record, instead of Read, and reads the events of what it returns with
// the format it names; their positions are the record's, at Offset.
type Unwrapper interface {
	Format
	// Unwrap decodes rec's inner record, appending it to dst. A zero
	// Unwrapped (no Format) means the record holds nothing to read.
	Unwrap(rec, dst []byte) (Unwrapped, error)
}

// Unwrapped is the record an Unwrapper found inside another.
type Unwrapped struct {
	Data   []byte // the decoded record
	Format Format // reads Data
	Offset int    // where in the outer record it was encoded
	Field  string // what the envelope calls it, for messages ("awslogs.data")
}

// Framing is how a format's stream is cut into records.
type Framing uint8

const (
	// FrameJSON: each record is one JSON value, a line or the lines of a
	// pretty-printed document; values written one after another on a line
	// (`}{`) are records of their own.
	FrameJSON Framing = iota
	// FrameLines: each line is a record.
	FrameLines
	// FrameYAML: each YAML document (lines up to a `---` line) is a record.
	FrameYAML
)

// Item is one event (or one problem) a Format found in a record.
type Item struct {
	// JSON is the event as kube-apiserver's JSON, a view of the record or
	// of the buffer passed to Read. Empty with Err set, or when the record
	// held nothing to read (a control message, a comment).
	JSON []byte
	// Offset is where in the record the event (or the problem) is.
	Offset int
	// Field names where the event sat in the envelope ("properties.log"),
	// for messages about it.
	Field string
	// Origin is what the envelope says of where the event came from.
	Origin Origin
	// Err is a problem with the record at Offset. An error from
	// EnvelopeReader keeps its own position, relative to the same record.
	Err error
	// Warn is damage an exporter did to an event that is read nonetheless:
	// reported at Offset, then the event delivered. With Placeholder set,
	// only when a body of the event (requestObject, responseObject) is
	// exactly that JSON, the stand-in an exporter writes for what it dropped.
	Warn        error
	Placeholder []byte
}

// Origin is where an event came from, as far as its envelope says: what a
// kube-apiserver line does not carry. Its fields are views with the
// lifetime of the event's other views.
type Origin struct {
	Format  string // the Format's name; "" for kube-apiserver's own lines
	Cluster []byte // the cluster the envelope names (an EKS log group's, an AKS resource's, a GKE cluster_name)
	Node    []byte // the API server: a CloudWatch log stream, an AKS pod, an OpenShift node
}

// WithFormats makes the Reader (and ScanFiles, ScanReader, ReadFiles)
// recognise these export formats besides kube-apiserver's own lines, by
// the content at the start of each stream, trying them in order. The
// default is none: a stream that holds no audit events is refused with an
// error that says what it looks like.
func WithFormats(formats ...Format) Option {
	return func(c *config) error {
		for _, f := range formats {
			if f == nil {
				return errors.New("auditlog: WithFormats: a nil Format")
			}
		}
		c.formats = slices.Clone(formats)
		return nil
	}
}

// DetectHead is how many bytes of the start of a stream Detect gets.
const DetectHead = 64 << 10

// DetectFormat returns the format of a stream that starts with head (its
// first bytes, decompressed), as the Reader chooses it among formats: nil
// for kube-apiserver's own lines, or for anything no format claims.
func DetectFormat(head []byte, formats ...Format) Format {
	return detectFormat(head, formats)
}

// detectFormat chooses the format of a stream from its head.
func detectFormat(head []byte, formats []Format) Format {
	head = trimHead(head)
	if len(formats) == 0 || looksNative(head) {
		return nil
	}
	for _, f := range formats {
		if f.Detect(head) {
			return f
		}
	}
	return nil
}

// trimHead drops a byte-order mark and whitespace from the start of a
// stream's head, once for every Format's Detect.
func trimHead(head []byte) []byte {
	return bytes.TrimLeft(head, "\xef\xbb\xbf \t\r\n")
}

// looksNative reports whether a trimmed head starts with an audit event, an
// EventList or an array of events.
func looksNative(head []byte) bool {
	keys := FirstObjectKeys(head)
	if keys == nil {
		return false
	}
	if _, ok := keys["auditID"]; ok {
		return true
	}
	kind, _ := keys.String("kind")
	version, _ := keys.String("apiVersion")
	return kind == "EventList" || strings.HasPrefix(version, "audit.k8s.io/")
}

// Keys are the top-level members of a JSON object, by key: the raw JSON of
// each value that FirstKeys saw whole, nil for one cut off.
type Keys map[string][]byte

// String returns the value of key when it is a JSON string.
func (k Keys) String(key string) (string, bool) {
	raw := k[key]
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	s, err := strconv.Unquote(string(raw))
	if err != nil {
		return "", false
	}
	return s, true
}

// Has reports whether every one of keys is there.
func (k Keys) Has(keys ...string) bool {
	for _, key := range keys {
		if _, ok := k[key]; !ok {
			return false
		}
	}
	return true
}

// FirstObjectKeys is FirstKeys of the object data starts with, or of the
// first element of the array it starts with (a JSON array of records).
func FirstObjectKeys(data []byte) Keys {
	data = bytes.TrimLeft(data, " \t\r\n")
	if len(data) > 0 && data[0] == '[' {
		data = data[1:]
	}
	return FirstKeys(data)
}

// FirstKeys returns the members of the JSON object that data starts with
// (after whitespace), as far as data holds them: for recognising a format
// from the head of a stream. It returns nil when data does not start with
// an object.
func FirstKeys(data []byte) Keys {
	d := decoder{data: data, itemsOff: -1}
	d.ws()
	if !d.isObject() {
		return nil
	}
	keys := Keys{}
	d.object(func(key []byte) error {
		start := d.pos
		if err := d.skip(); err != nil {
			keys[string(key)] = nil
			return err
		}
		keys[string(key)] = data[start:d.pos:d.pos]
		return nil
	})
	return keys
}

// notEventError says what a JSON record that is not an audit event looks
// like, so that nothing is read as an empty event.
func notEventError(rec []byte) error {
	keys := FirstKeys(rec)
	what := describe(rec, keys)
	return fmt.Errorf("%w: %s", ErrNotEvent, what)
}

// describe names what a JSON value looks like.
func describe(rec []byte, keys Keys) string {
	rec = bytes.TrimLeft(rec, " \t\r\n")
	if keys == nil {
		switch {
		case len(rec) > 0 && rec[0] == '[':
			return "a JSON array whose items are not audit events"
		case len(rec) > 0:
			return "a JSON " + jsonKind(rec[0])
		}
		return "nothing"
	}
	kind, _ := keys.String("kind")
	version, _ := keys.String("apiVersion")
	switch {
	case kind == "Event" && (version == "v1" || strings.HasPrefix(version, "events.k8s.io/")):
		return "a Kubernetes Event (" + version + ", as kubectl get events prints), not an audit event"
	case kind == "List" || strings.HasSuffix(kind, "List") && keys.Has("items"):
		return "a Kubernetes " + kind + " (as kubectl get -o json prints), not audit events"
	case kind != "" && version != "":
		return fmt.Sprintf("a Kubernetes object (kind %s, apiVersion %s)", kind, version)
	case keys.Has("category", "properties") || keys.Has("records"):
		return "an Azure Monitor (AKS) diagnostic record, which needs the aks format"
	case keys.Has("events") && (keys.Has("searchedLogStreams") || keys.Has("nextForwardToken")):
		return "CloudWatch Logs output (aws logs filter-log-events or get-log-events), which needs the eks format"
	case keys.Has("messageType") || keys.Has("logEvents") || keys.Has("awslogs"):
		return "a CloudWatch Logs subscription payload, which needs the eks format"
	case keys.Has("protoPayload") || keys.Has("insertId"):
		return "a Google Cloud Logging LogEntry, which needs the gke format"
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, strconv.Quote(k))
	}
	slices.Sort(names)
	more := ""
	if len(names) > 6 {
		more = fmt.Sprintf(" and %d more", len(names)-6)
		names = names[:6]
	}
	if len(names) == 0 {
		return "an empty JSON object"
	}
	return "a JSON object with keys " + strings.Join(names, ", ") + more + ", and no auditID"
}

// isAuditEvent reports whether the object just decoded is an audit event:
// it has an audit.k8s.io apiVersion and no other kind, or an auditID with
// another member of the audit Event, or with nothing else at all. An object
// of someone else's that records auditIDs (a client's ledger) is not.
func (d *decoder) isAuditEvent() bool {
	e := d.ev
	if bytes.HasPrefix(e.apiVersion, []byte("audit.k8s.io/")) && (len(e.kind) == 0 || string(e.kind) == "Event") {
		return true
	}
	if len(e.auditID) == 0 {
		return false
	}
	others := d.seen &^ (1<<mAuditID | 1<<mKind | 1<<mAPIVersion | 1<<mOther)
	return others != 0 || d.seen&(1<<mOther) == 0
}
