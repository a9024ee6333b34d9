// Package legacy reads audit logs in kube-apiserver's legacy text format:
// the lines --audit-log-format=legacy writes (k8s.io/apiserver's
// audit.EventString),
//
//	2017-06-15T21:50:50.259470834Z AUDIT: id="591e…" stage="ResponseComplete" ip="10.2.1.3" method="update" user="…" groups="\"system:authenticated\"" as="<self>" asgroups="<lookup>" user-agent="…" namespace="kube-system" uri="/api/v1/…" response="200"
//
// and the two-line form of Kubernetes 1.6 and before, a request line
// without stage (and without user-agent) followed by `id="…" response="200"`.
//
// Lines of JSON events (the log went on after --audit-log-format=json was
// set) are read as they are. Each legacy line becomes an audit.k8s.io/v1
// event with what the line holds:
// auditID, stage, verb, the user and groups, the impersonated user and
// groups, the first source IP, the user agent, objectRef.namespace, the URI,
// responseStatus.code and requestReceivedTimestamp (for a 1.6 response line,
// stageTimestamp: the time it was written). The format has no level, no
// resource, no bodies and no annotations: they are left absent, as are the
// placeholders the writer uses for nothing (<none>, <self>, <lookup>,
// <unknown>, <deferred>).
package legacy

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/auditq/auditq/auditlog"
)

// Format reads the legacy text format. Pass it to auditlog.WithFormats.
var Format auditlog.Format = format{}

type format struct{}

func (format) Name() string              { return "legacy" }
func (format) Framing() auditlog.Framing { return auditlog.FrameLines }

// LiteralsVisible: the values of a line are quoted in it, so the reader's
// prefilter may skip chunks that do not hold a literal.
func (format) LiteralsVisible() bool { return true }

var marker = []byte(" AUDIT: ")

// Detect: the first non-blank line is `<RFC 3339 time> AUDIT: id="`.
func (format) Detect(head []byte) bool {
	line, _, _ := bytes.Cut(head, []byte("\n"))
	i := bytes.Index(line, marker)
	if i < 10 || !bytes.HasPrefix(line[i+len(marker):], []byte(`id="`)) {
		return false
	}
	_, err := time.Parse(time.RFC3339Nano, string(line[:i]))
	return err == nil
}

// fields of a line, by key, as the writer puts them (already unquoted).
type fields struct {
	id, stage, ip, method, user, groups, as, asgroups, agent, namespace, uri, response []byte
	hasStage, hasResponse                                                              bool
}

var errNotLegacy = errors.New("not a legacy audit line (<time> AUDIT: key=\"value\" …)")

func (format) Read(rec []byte, at int, buf *[]byte) (auditlog.Item, int) {
	if at > 0 {
		return auditlog.Item{}, -1
	}
	line := bytes.TrimRight(rec, " \t\r")
	start := len(line) - len(bytes.TrimLeft(line, " \t"))
	if start < len(line) && line[start] == '{' {
		// A JSON line: the log went on after --audit-log-format=json was set.
		return auditlog.Item{JSON: line[start:], Offset: start}, -1
	}
	i := bytes.Index(line[start:], marker)
	if i <= 0 {
		return auditlog.Item{Offset: start, Err: errNotLegacy}, -1
	}
	i += start
	ts, err := time.Parse(time.RFC3339Nano, string(line[start:i]))
	if err != nil {
		return auditlog.Item{Offset: start, Err: fmt.Errorf("legacy audit line: time %q: %w", line[start:i], err)}, -1
	}
	var f fields
	if off, err := parse(line, i+len(marker), &f); err != nil {
		return auditlog.Item{Offset: off, Err: err}, -1
	}
	if len(f.id) == 0 {
		return auditlog.Item{Offset: start, Err: errors.New("legacy audit line without an id")}, -1
	}
	*buf = appendEvent((*buf)[:0], &f, ts)
	return auditlog.Item{JSON: *buf, Offset: start}, -1
}

// parse reads the key="value" pairs of a line from at.
func parse(line []byte, at int, f *fields) (int, error) {
	for at < len(line) {
		for at < len(line) && line[at] == ' ' {
			at++
		}
		if at == len(line) {
			break
		}
		eq := bytes.IndexByte(line[at:], '=')
		if eq <= 0 {
			return at, errNotLegacy
		}
		key := line[at : at+eq]
		vstart := at + eq + 1
		end, err := quotedEnd(line, vstart)
		if err != nil {
			return vstart, err
		}
		value := line[vstart+1 : end-1]
		if bytes.IndexByte(value, '\\') >= 0 || !utf8.Valid(value) {
			v, err := strconv.Unquote(string(line[vstart:end]))
			if err != nil {
				return vstart, fmt.Errorf("legacy audit line: %s=: %w", key, err)
			}
			value = []byte(v)
		}
		switch string(key) {
		case "id":
			f.id = value
		case "stage":
			f.stage, f.hasStage = value, true
		case "ip":
			f.ip = value
		case "method":
			f.method = value
		case "user":
			f.user = value
		case "groups":
			f.groups = value
		case "as":
			f.as = value
		case "asgroups":
			f.asgroups = value
		case "user-agent":
			f.agent = value
		case "namespace":
			f.namespace = value
		case "uri":
			f.uri = value
		case "response":
			f.response, f.hasResponse = value, true
		} // other keys: a later writer's; not part of the event
		at = end
	}
	return at, nil
}

// quotedEnd returns the end of the Go-quoted string at line[at].
func quotedEnd(line []byte, at int) (int, error) {
	if at >= len(line) || line[at] != '"' {
		return at, errors.New(`legacy audit line: a value that is not a "quoted string"`)
	}
	for i := at + 1; i < len(line); i++ {
		switch line[i] {
		case '\\':
			i++
		case '"':
			return i + 1, nil
		}
	}
	return at, errors.New("legacy audit line: a quoted value is not closed")
}

// placeholder reports whether v is one of the writer's stand-ins for nothing.
func placeholder(v []byte) bool {
	switch string(v) {
	case "<none>", "<self>", "<lookup>", "<unknown>", "<deferred>":
		return true
	}
	return false
}

// appendList appends the groups of a groups= value (`"a","b"`) as a JSON
// array of strings.
func appendList(dst, v []byte) []byte {
	dst = append(dst, '[')
	first := true
	for len(v) > 0 {
		end, err := quotedEnd(v, 0)
		if err != nil {
			break
		}
		s, err := strconv.Unquote(string(v[:end]))
		if err != nil {
			break
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = auditlog.AppendQuoted(dst, []byte(s))
		v = bytes.TrimPrefix(v[end:], []byte(","))
	}
	return append(dst, ']')
}

// appendEvent writes the event of a line as audit.k8s.io/v1 JSON, its
// members in kube-apiserver's order.
func appendEvent(dst []byte, f *fields, ts time.Time) []byte {
	str := func(key string, v []byte) {
		dst = auditlog.AppendQuoted(auditlog.AppendMemberKey(dst, key), v)
	}
	dst = append(dst, `{"kind":"Event","apiVersion":"audit.k8s.io/v1"`...)
	str("auditID", f.id)
	if f.hasStage {
		str("stage", f.stage)
	}
	if f.uri != nil {
		str("requestURI", f.uri)
	}
	if f.method != nil {
		str("verb", f.method)
	}
	if f.user != nil && !placeholder(f.user) {
		dst = append(dst, `,"user":{"username":`...)
		dst = auditlog.AppendQuoted(dst, f.user)
		if f.groups != nil && !placeholder(f.groups) {
			dst = append(dst, `,"groups":`...)
			dst = appendList(dst, f.groups)
		}
		dst = append(dst, '}')
	}
	if f.as != nil && !placeholder(f.as) {
		dst = append(dst, `,"impersonatedUser":{"username":`...)
		dst = auditlog.AppendQuoted(dst, f.as)
		if f.asgroups != nil && !placeholder(f.asgroups) {
			dst = append(dst, `,"groups":`...)
			dst = appendList(dst, f.asgroups)
		}
		dst = append(dst, '}')
	}
	if f.ip != nil && !placeholder(f.ip) {
		dst = append(dst, `,"sourceIPs":[`...)
		dst = auditlog.AppendQuoted(dst, f.ip)
		dst = append(dst, ']')
	}
	if f.agent != nil {
		str("userAgent", f.agent)
	}
	if f.namespace != nil && !placeholder(f.namespace) {
		dst = append(dst, `,"objectRef":{"namespace":`...)
		dst = auditlog.AppendQuoted(dst, f.namespace)
		dst = append(dst, '}')
	}
	if f.hasResponse && !placeholder(f.response) {
		if code, err := strconv.ParseInt(string(f.response), 10, 32); err == nil {
			dst = append(dst, `,"responseStatus":{"code":`...)
			dst = strconv.AppendInt(dst, code, 10)
			dst = append(dst, '}')
		}
	}
	t := ts.UTC().Format(auditlog.RFC3339Micro)
	if !f.hasStage && f.hasResponse && f.method == nil {
		// A 1.6 response line: written when the response was.
		str("stageTimestamp", []byte(t))
	} else {
		str("requestReceivedTimestamp", []byte(t))
	}
	return append(dst, '}')
}
