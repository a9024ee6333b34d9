// Package aks reads the audit logs of Azure Kubernetes Service as Azure
// Monitor exports them (diagnostic categories kube-audit and
// kube-audit-admin):
//
//   - storage-account blobs (insights-logs-kube-audit/…/PT1H.json): one
//     diagnostic record a line, the event as a JSON string in
//     properties.log;
//   - Event Hub bodies, {"records":[record, …]};
//   - Log Analytics rows, as `az monitor log-analytics query -o json`
//     returns them (a JSON array, or one row a line): AzureDiagnostics,
//     with the event as a string in log_s, and AKSAudit/AKSAuditAdmin, with
//     the event split into columns (AuditId, Verb, User, …).
//
// properties.log and log_s hold kube-apiserver's own event: it is read as
// it is. The AKSAudit columns are put back into an event member by member;
// that table has no impersonatedUser column, so it stays absent, and kind
// and apiVersion are written as audit.k8s.io/v1's. Records of other
// categories (the API server's own klog lines) are passed over.
//
// Azure's known damage is reported: a properties.log cut short (archived
// records over Azure Monitor's size limit) as an event that does not
// decode, with its auditID; a request or response body replaced by the
// string "skipped-too-big-size-object" as a warning, before the event,
// which is read with that string as its body.
//
// The origin of each event: Cluster is the managed cluster's name from the
// resourceId (Azure writes it upper-case), Node the API server pod.
package aks

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/auditq/auditq/auditlog"
)

// Format reads Azure Monitor's exports of AKS audit logs. Pass it to
// auditlog.WithFormats.
var Format auditlog.Format = format{}

type format struct{}

func (format) Name() string              { return "aks" }
func (format) Framing() auditlog.Framing { return auditlog.FrameJSON }

// LiteralsVisible: the event's strings are in the record as JSON strings
// (escaped once more, which the prefilter allows for).
func (format) LiteralsVisible() bool { return true }

// Detect: a diagnostic record, an Event Hub body, or a Log Analytics row
// (alone, or the first of an array).
func (format) Detect(head []byte) bool {
	k := auditlog.FirstObjectKeys(head)
	if k == nil {
		return false
	}
	return k.Has("category", "properties") || k.Has("records") || k.Has("log_s") ||
		k.Has("Category") && k.Has("properties") || k.Has("AuditId")
}

// skipped is what Azure Monitor writes for a body too big to keep.
var skipped = []byte(`"skipped-too-big-size-object"`)

var errNoEvent = errors.New("not an AKS audit record: no properties.log, log_s or AuditId")

// Read reads the record at at: a diagnostic record or a row, or, in an
// Event Hub body or an array of rows, the next element.
func (format) Read(rec []byte, at int, buf *[]byte) (auditlog.Item, int) {
	var r auditlog.EnvelopeReader
	r.Reset(rec, at)
	if at == 0 {
		switch r.Peek() {
		case '[':
			// An array of records or rows: at the '['.
			return element(&r, rec, buf)
		case '{':
			item := one(&r, rec, buf)
			if item.Offset < 0 {
				// An Event Hub body: its records array is at -Offset-1.
				r.Reset(rec, -item.Offset-1)
				return element(&r, rec, buf)
			}
			return item, -1
		}
		return auditlog.Item{Err: errNoEvent}, -1
	}
	return element(&r, rec, buf)
}

// element reads the next element of the array r is in.
func element(r *auditlog.EnvelopeReader, rec []byte, buf *[]byte) (auditlog.Item, int) {
	ok, err := r.Element()
	if err != nil {
		return auditlog.Item{Err: err}, -1
	}
	if !ok {
		return auditlog.Item{}, -1
	}
	item := one(r, rec, buf)
	if item.Err != nil {
		// Move past the element, to go on with the next.
		var s auditlog.EnvelopeReader
		s.Reset(rec, item.Offset)
		if s.Skip() != nil {
			return item, -1
		}
		return item, s.Pos()
	}
	return item, r.Pos()
}

// decodeLog decodes the event's JSON string at r into the start of *buf.
func (f *fields) decodeLog(r *auditlog.EnvelopeReader, buf *[]byte, field string) error {
	f.log, f.logField = r.Pos(), field
	b, err := r.AppendString((*buf)[:0])
	*buf, f.logEnd = b, len(b)
	return err
}

// fields are where the parts of one record or row are in it.
type fields struct {
	logEnd            int  // the event's JSON is (*buf)[:logEnd]
	otherCategory     bool // a category other than kube-audit*
	records           int  // an Event Hub body's records array; -1 when absent
	log, pod, cluster int  // offsets of string values; -1 when absent
	logField          string
	columns           map[string]int // AKSAudit: column → offset of its value
}

// one reads the record or row at r's position.
func one(r *auditlog.EnvelopeReader, rec []byte, buf *[]byte) auditlog.Item {
	start := r.Pos()
	if r.Peek() != '{' {
		err := r.Skip()
		if err == nil {
			err = errNoEvent
		}
		return auditlog.Item{Offset: start, Err: err}
	}
	f := fields{records: -1, log: -1, pod: -1, cluster: -1}
	err := r.Object(func(key []byte) error {
		switch string(key) {
		case "category", "Category":
			v, err := r.String()
			f.otherCategory = !bytes.HasPrefix(v, []byte("kube-audit"))
			return err
		case "records":
			if r.Peek() == '[' {
				f.records = r.Pos()
			}
		case "properties":
			if r.Peek() != '{' {
				return r.Skip()
			}
			return r.Object(func(key []byte) error {
				switch string(key) {
				case "log":
					return f.decodeLog(r, buf, "properties.log")
				case "pod":
					f.pod = r.Pos()
				}
				return r.Skip()
			})
		case "log_s":
			return f.decodeLog(r, buf, "log_s")
		case "pod_s", "PodName":
			f.pod = r.Pos()
		case "resourceId", "ResourceId", "_ResourceId":
			f.cluster = r.Pos()
		default:
			if column(key) != "" {
				if f.columns == nil {
					f.columns = map[string]int{}
				}
				f.columns[string(key)] = r.Pos()
			}
		}
		return r.Skip()
	})
	if err != nil {
		return auditlog.Item{Offset: start, Err: err}
	}
	if f.records >= 0 && f.log < 0 && f.columns == nil {
		return auditlog.Item{Offset: -f.records - 1} // an Event Hub body: Read walks its records
	}
	if f.otherCategory {
		return auditlog.Item{Offset: start} // another category: the API server's klog lines, not audit events
	}
	b := *buf
	item := auditlog.Item{Offset: start, Field: f.logField}
	switch {
	case f.log >= 0:
		item.Offset = f.log
		item.JSON = bytes.TrimRight(b[:f.logEnd], " \t\r\n")
	case f.columns != nil:
		item.Field = "AKSAudit row"
		b = b[:0]
		at := len(b)
		if b, err = appendColumns(b, rec, f.columns); err != nil {
			return auditlog.Item{Offset: start, Err: err}
		}
		item.JSON = b[at:]
	default:
		return auditlog.Item{Offset: start, Err: errNoEvent}
	}
	// The origin after the event: views of the event stay valid if b grows.
	b, item.Origin = appendOrigin(b, rec, &f)
	*buf = b
	item.Warn, item.Placeholder = errSkipped, skipped
	return item
}

var errSkipped = errors.New(`body replaced by Azure Monitor ("skipped-too-big-size-object": too big to export); the event is read without it`)

// appendOrigin appends the cluster and pod names to b and returns views of
// them.
func appendOrigin(b, rec []byte, f *fields) ([]byte, auditlog.Origin) {
	var o auditlog.Origin
	var r auditlog.EnvelopeReader
	if f.cluster >= 0 {
		r.Reset(rec, f.cluster)
		if id, err := r.String(); err == nil {
			if i := bytes.LastIndexByte(bytes.TrimRight(id, "/"), '/'); i >= 0 {
				id = bytes.TrimRight(id, "/")[i+1:]
			}
			at := len(b)
			b = append(b, id...)
			o.Cluster = b[at:len(b):len(b)]
		}
	}
	b, o.Node = auditlog.AppendStringAt(b, rec, f.pod)
	return b, o
}

// columnNames maps the columns of the AKSAudit and AKSAuditAdmin tables to
// the members of the event.
var columnNames = map[string]string{
	"Level": "level", "AuditId": "auditID", "Stage": "stage", "RequestUri": "requestURI", "Verb": "verb",
	"User": "user", "SourceIps": "sourceIPs", "UserAgent": "userAgent", "ObjectRef": "objectRef",
	"ResponseStatus": "responseStatus", "RequestObject": "requestObject", "ResponseObject": "responseObject",
	"RequestReceivedTime": "requestReceivedTimestamp", "StageReceivedTime": "stageTimestamp",
	"Annotations": "annotations",
}

// eventOrder is kube-apiserver's member order, for the rebuilt event.
var eventOrder = []string{"Level", "AuditId", "Stage", "RequestUri", "Verb", "User", "SourceIps", "UserAgent",
	"ObjectRef", "ResponseStatus", "RequestObject", "ResponseObject", "RequestReceivedTime", "StageReceivedTime", "Annotations"}

func column(key []byte) string { return columnNames[string(key)] }

// appendColumns writes an AKSAudit row as an event. Columns of the dynamic
// type arrive as JSON, or as JSON in a string; times are normalized to
// microseconds, as the event's MicroTime has them.
func appendColumns(b, rec []byte, cols map[string]int) ([]byte, error) {
	b = append(b, `{"kind":"Event","apiVersion":"audit.k8s.io/v1"`...)
	var r auditlog.EnvelopeReader
	for _, col := range eventOrder {
		off, ok := cols[col]
		if !ok {
			continue
		}
		r.Reset(rec, off)
		if r.Null() {
			continue
		}
		b = auditlog.AppendMemberKey(b, columnNames[col])
		switch col {
		case "User", "SourceIps", "ObjectRef", "ResponseStatus", "RequestObject", "ResponseObject", "Annotations":
			if r.Peek() == '"' {
				s, err := r.String()
				if err != nil {
					return b, err
				}
				b = append(b, s...) // JSON written into a string column
				continue
			}
			raw, err := r.Raw()
			if err != nil {
				return b, err
			}
			b = append(b, raw...)
		case "RequestReceivedTime", "StageReceivedTime":
			s, err := r.String()
			if err != nil {
				return b, err
			}
			t, err := time.Parse(time.RFC3339Nano, string(s))
			if err != nil {
				return b, r.Errorf(col, fmt.Sprintf("not an RFC 3339 time: %q", s))
			}
			b = auditlog.AppendQuoted(b, []byte(t.UTC().Format(auditlog.RFC3339Micro)))
		default:
			s, err := r.String()
			if err != nil {
				return b, err
			}
			b = auditlog.AppendQuoted(b, s)
		}
	}
	return append(b, '}'), nil
}
