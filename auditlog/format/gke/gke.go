// Package gke reads the audit logs of Google Kubernetes Engine as Cloud
// Logging exports them. GKE never hands out kube-apiserver's events: each
// is re-encoded as a LogEntry whose protoPayload is a
// google.cloud.audit.AuditLog. This package puts back what an entry holds
// and leaves out what it does not; docs/formats.md gives the mapping field
// by field. In short:
//
//	auditID                  insertId
//	verb                     the last segment of protoPayload.methodName
//	objectRef                parsed from protoPayload.resourceName
//	                         (<group|core>/<version>[/namespaces/<ns>]/<resource>[/<name>[/<subresource>]])
//	user.username            protoPayload.authenticationInfo.principalEmail
//	sourceIPs                [protoPayload.requestMetadata.callerIp]
//	userAgent                protoPayload.requestMetadata.callerSuppliedUserAgent
//	requestObject            protoPayload.request, without the "@type" Cloud Logging adds
//	responseObject           protoPayload.response, likewise
//	responseStatus           the code, reason and message of a response that is a Status
//	stageTimestamp           timestamp
//	annotations              labels
//
// Absent, because no entry holds them: level, stage, requestURI (only
// approximations could be built), user uid, groups and extra,
// impersonatedUser, the rest of the source IP chain, requestReceivedTimestamp,
// and the HTTP code of a response that is not a Status (the gRPC status in
// protoPayload.status does not tell 200 from 201, or 400 from 422). kind and
// apiVersion are written as audit.k8s.io/v1's. Origin.Cluster is
// resource.labels.cluster_name. Entries of other services than k8s.io are
// passed over.
//
// Shapes: LogEntry JSON, one a line (Cloud Storage and Pub/Sub sinks), or
// an array of them (gcloud logging read --format=json), with Format; the
// YAML documents gcloud logging read prints by default, with YAML.
package gke

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/auditq/auditq/auditlog"
)

// Format reads LogEntry JSON: one entry a line, or an array of entries.
var Format auditlog.Format = jsonFormat{}

// YAML reads the YAML documents gcloud logging read prints by default.
var YAML auditlog.Format = yamlFormat{}

type jsonFormat struct{}

func (jsonFormat) Name() string              { return "gke" }
func (jsonFormat) Framing() auditlog.Framing { return auditlog.FrameJSON }
func (jsonFormat) LiteralsVisible() bool     { return true }

func (jsonFormat) Detect(head []byte) bool {
	k := auditlog.FirstObjectKeys(head)
	return k != nil && (k.Has("protoPayload") || k.Has("insertId") && k.Has("logName"))
}

// Read reads the entry at at: a whole record, or the next element of an
// array of entries.
func (jsonFormat) Read(rec []byte, at int, buf *[]byte) (auditlog.Item, int) {
	var r auditlog.EnvelopeReader
	r.Reset(rec, at)
	if at == 0 && r.Peek() == '{' {
		return entry(rec, 0, buf), -1
	}
	ok, err := r.Element()
	if err != nil {
		return auditlog.Item{Offset: r.Pos(), Err: err}, -1
	}
	if !ok {
		return auditlog.Item{}, -1
	}
	start := r.Pos()
	if err := r.Skip(); err != nil {
		return auditlog.Item{Offset: start, Err: err}, -1
	}
	return entry(rec, start, buf), r.Pos()
}

type yamlFormat struct{}

func (yamlFormat) Name() string              { return "gke-yaml" }
func (yamlFormat) Framing() auditlog.Framing { return auditlog.FrameYAML }
func (yamlFormat) LiteralsVisible() bool     { return true }

// Detect: after comments, YAML whose first key is a LogEntry's.
func (yamlFormat) Detect(head []byte) bool {
	for _, line := range bytes.Split(head, []byte("\n")) {
		line = bytes.TrimRight(line, " \t\r")
		if len(line) == 0 || line[0] == '#' || bytes.Equal(line, []byte("---")) {
			continue
		}
		for _, k := range []string{"insertId:", "logName:", "protoPayload:", "httpRequest:", "labels:"} {
			if bytes.HasPrefix(line, []byte(k)) {
				return bytes.Contains(head, []byte("\nprotoPayload:")) || bytes.HasPrefix(line, []byte("protoPayload:"))
			}
		}
		return false
	}
	return false
}

// Read converts the YAML document to JSON and reads it as an entry.
func (yamlFormat) Read(rec []byte, at int, buf *[]byte) (auditlog.Item, int) {
	if at > 0 {
		return auditlog.Item{}, -1
	}
	start := 0
	for _, line := range bytes.SplitAfter(rec, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			break
		}
		start += len(line)
	}
	if start >= len(rec) {
		return auditlog.Item{}, -1 // comments only
	}
	js, err := yaml.YAMLToJSON(rec)
	if err != nil {
		return auditlog.Item{Offset: start, Err: fmt.Errorf("not a YAML LogEntry: %w", err)}, -1
	}
	item := entry(js, 0, buf) // its views are of buf, not of js
	item.Offset = start
	return item, -1
}

// logEntry is where the parts of a LogEntry are in its JSON.
type logEntry struct {
	insertID, timestamp, labels, cluster                      int
	service, method, resource, principal, callerIP, userAgent int
	request, response                                         int
}

var errNotEntry = errors.New("not a Cloud Logging LogEntry with an AuditLog protoPayload")

// entry converts the LogEntry at off in rec.
func entry(rec []byte, off int, buf *[]byte) auditlog.Item {
	e := logEntry{-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1}
	var r auditlog.EnvelopeReader
	r.Reset(rec, off)
	if r.Peek() != '{' {
		return auditlog.Item{Offset: off, Err: errNotEntry}
	}
	mark := func(p *int) error { *p = r.Pos(); return r.Skip() }
	err := r.Object(func(key []byte) error {
		switch string(key) {
		case "insertId":
			return mark(&e.insertID)
		case "timestamp":
			return mark(&e.timestamp)
		case "labels":
			return mark(&e.labels)
		case "resource":
			return object(&r, func(key []byte) error {
				if string(key) != "labels" {
					return r.Skip()
				}
				return object(&r, func(key []byte) error {
					if string(key) == "cluster_name" {
						return mark(&e.cluster)
					}
					return r.Skip()
				})
			})
		case "protoPayload":
			return object(&r, func(key []byte) error {
				switch string(key) {
				case "serviceName":
					return mark(&e.service)
				case "methodName":
					return mark(&e.method)
				case "resourceName":
					return mark(&e.resource)
				case "request":
					return mark(&e.request)
				case "response":
					return mark(&e.response)
				case "authenticationInfo":
					return object(&r, func(key []byte) error {
						if string(key) == "principalEmail" {
							return mark(&e.principal)
						}
						return r.Skip()
					})
				case "requestMetadata":
					return object(&r, func(key []byte) error {
						switch string(key) {
						case "callerIp":
							return mark(&e.callerIP)
						case "callerSuppliedUserAgent":
							return mark(&e.userAgent)
						}
						return r.Skip()
					})
				}
				return r.Skip()
			})
		}
		return r.Skip()
	})
	if err != nil {
		return auditlog.Item{Offset: off, Err: err}
	}
	if e.method < 0 || e.insertID < 0 {
		return auditlog.Item{Offset: off, Err: errNotEntry}
	}
	if service := stringAt(rec, e.service); service != nil && string(service) != "k8s.io" {
		return auditlog.Item{Offset: off} // another service's audit log
	}
	b := (*buf)[:0]
	var origin auditlog.Origin
	if c := stringAt(rec, e.cluster); c != nil {
		b = append(b, c...)
		origin.Cluster = b[:len(c):len(c)]
	}
	at := len(b)
	b, err = appendEvent(b, rec, &e)
	if err != nil {
		return auditlog.Item{Offset: off, Err: err}
	}
	*buf = b
	return auditlog.Item{JSON: b[at:], Offset: off, Field: "LogEntry", Origin: origin}
}

// object reads an object with fn, or skips a value of another type.
func object(r *auditlog.EnvelopeReader, fn func(key []byte) error) error {
	if r.Peek() != '{' {
		return r.Skip()
	}
	return r.Object(fn)
}

// stringAt returns the string at off, or nil when it is absent or empty:
// a view of rec, or of a copy when it has escapes.
func stringAt(rec []byte, off int) []byte {
	if off < 0 {
		return nil
	}
	var r auditlog.EnvelopeReader
	r.Reset(rec, off)
	if r.Peek() != '"' {
		return nil
	}
	s, err := r.String()
	if err != nil || len(s) == 0 {
		return nil
	}
	return s
}

// appendEvent writes the audit.k8s.io/v1 event an entry stands for, its
// members in kube-apiserver's order.
func appendEvent(b, rec []byte, e *logEntry) ([]byte, error) {
	str := func(key string, v []byte) {
		b = auditlog.AppendQuoted(auditlog.AppendMemberKey(b, key), v)
	}
	b = append(b, `{"kind":"Event","apiVersion":"audit.k8s.io/v1"`...)
	str("auditID", stringAt(rec, e.insertID))
	method := stringAt(rec, e.method)
	verb := method[bytes.LastIndexByte(method, '.')+1:]
	str("verb", verb)
	if user := stringAt(rec, e.principal); user != nil {
		b = append(b, `,"user":{"username":`...)
		b = auditlog.AppendQuoted(b, user)
		b = append(b, '}')
	}
	if ip := stringAt(rec, e.callerIP); ip != nil {
		b = append(b, `,"sourceIPs":[`...)
		b = auditlog.AppendQuoted(b, ip)
		b = append(b, ']')
	}
	if ua := stringAt(rec, e.userAgent); ua != nil {
		str("userAgent", ua)
	}
	if ref, ok := parseResourceName(string(stringAt(rec, e.resource))); ok {
		b = append(b, `,"objectRef":{`...)
		first := true
		for _, kv := range [][2]string{{"resource", ref.resource}, {"namespace", ref.namespace}, {"name", ref.name},
			{"apiGroup", ref.group}, {"apiVersion", ref.version}, {"subresource", ref.subresource}} {
			if kv[1] == "" && kv[0] != "apiGroup" {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = append(b, '"')
			b = append(b, kv[0]...)
			b = append(b, '"', ':')
			b = auditlog.AppendQuoted(b, []byte(kv[1]))
		}
		b = append(b, '}')
	}
	var err error
	if status, ok := statusOf(rec, e.response); ok {
		b = append(b, `,"responseStatus":`...)
		b = append(b, status...)
	}
	for _, body := range []struct {
		key string
		off int
	}{{"requestObject", e.request}, {"responseObject", e.response}} {
		if body.off < 0 {
			continue
		}
		b = auditlog.AppendMemberKey(b, body.key)
		if b, err = appendWithoutType(b, rec, body.off); err != nil {
			return b, err
		}
	}
	if ts := stringAt(rec, e.timestamp); ts != nil {
		t, err := time.Parse(time.RFC3339Nano, string(ts))
		if err != nil {
			return b, fmt.Errorf("timestamp %q: %w", ts, err)
		}
		var tb [40]byte
		str("stageTimestamp", t.UTC().AppendFormat(tb[:0], auditlog.RFC3339Micro))
	}
	if e.labels >= 0 {
		var r auditlog.EnvelopeReader
		r.Reset(rec, e.labels)
		raw, err := r.Raw()
		if err != nil {
			return b, err
		}
		if raw[0] == '{' {
			b = append(b, `,"annotations":`...)
			b = append(b, raw...)
		}
	}
	return append(b, '}'), nil
}

// appendWithoutType appends the object at off without the "@type" member
// Cloud Logging puts into request and response bodies.
func appendWithoutType(b, rec []byte, off int) ([]byte, error) {
	var r auditlog.EnvelopeReader
	r.Reset(rec, off)
	if r.Peek() != '{' {
		raw, err := r.Raw()
		return append(b, raw...), err
	}
	b = append(b, '{')
	first := true
	err := r.Object(func(key []byte) error {
		if string(key) == "@type" {
			return r.Skip()
		}
		raw, err := r.Raw()
		if err != nil {
			return err
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = auditlog.AppendQuoted(b, key)
		b = append(b, ':')
		b = append(b, raw...)
		return nil
	})
	return append(b, '}'), err
}

// statusOf returns the responseStatus of a response that is a
// core.k8s.io/v1.Status: its status, reason, message and code.
func statusOf(rec []byte, off int) ([]byte, bool) {
	if off < 0 {
		return nil, false
	}
	var r auditlog.EnvelopeReader
	r.Reset(rec, off)
	if r.Peek() != '{' {
		return nil, false
	}
	var typ, kind []byte
	parts := map[string][]byte{}
	r.Object(func(key []byte) error {
		switch string(key) {
		case "@type":
			v, err := r.String()
			typ = bytes.Clone(v)
			return err
		case "kind":
			v, err := r.String()
			kind = bytes.Clone(v)
			return err
		case "status", "reason", "message":
			raw, err := r.Raw()
			parts[string(key)] = raw
			return err
		case "code":
			raw, err := r.Raw()
			// A protobuf Struct holds numbers as doubles: 403 may come as 403.0.
			if f, perr := strconv.ParseFloat(string(raw), 64); perr == nil && f == float64(int32(f)) {
				parts["code"] = strconv.AppendInt(nil, int64(f), 10)
			}
			return err
		}
		return r.Skip()
	})
	if !bytes.HasSuffix(typ, []byte("v1.Status")) && string(kind) != "Status" || parts["code"] == nil {
		return nil, false
	}
	out := []byte("{")
	for _, k := range []string{"status", "message", "reason", "code"} {
		if v := parts[k]; v != nil {
			if len(out) > 1 {
				out = append(out, ',')
			}
			out = append(out, '"')
			out = append(out, k...)
			out = append(out, '"', ':')
			out = append(out, v...)
		}
	}
	return append(out, '}'), true
}

// ref is an objectRef parsed from a resourceName.
type ref struct{ group, version, namespace, resource, name, subresource string }

// parseResourceName reads <group|core>/<version>/<path>, the path as
// kube-apiserver's RequestInfoFactory reads it: namespaces/<ns>/<resource>…
// is a namespaced resource, unless what follows the namespace is one of a
// Namespace's own subresources (status, finalize).
func parseResourceName(name string) (ref, bool) {
	parts := strings.Split(name, "/")
	if len(parts) < 3 || parts[0] == "" || !strings.HasPrefix(parts[1], "v") || parts[2] == "" {
		return ref{}, false // a non-resource request
	}
	r := ref{group: parts[0], version: parts[1]}
	if r.group == "core" {
		r.group = ""
	}
	rest := parts[2:]
	if rest[0] == "namespaces" && len(rest) > 1 {
		r.namespace = rest[1]
		if len(rest) > 2 && rest[2] != "status" && rest[2] != "finalize" {
			rest = rest[2:]
		}
	}
	r.resource = rest[0]
	if len(rest) > 1 {
		r.name = rest[1]
	}
	if len(rest) > 2 {
		r.subresource = strings.Join(rest[2:], "/")
	}
	return r, true
}
