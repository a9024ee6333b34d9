// Package openshift reads the audit logs OpenShift's `oc adm node-logs`
// prints for several nodes (--role=master, a selector): kube-apiserver's
// own lines, each after the name of the node it came from and a space,
//
//	master-0 {"kind":"Event","apiVersion":"audit.k8s.io/v1",…}
//
// The event is read as it is; the node name becomes its Origin.Node. Lines
// without a prefix (one named node's output) are read as they are. A
// must-gather's audit_logs folders hold files without prefixes, one node per
// file name (<node>-audit-….log.gz): auditlog reads those natively.
package openshift

import (
	"bytes"
	"errors"

	"github.com/auditq/auditq/auditlog"
)

// Format reads `oc adm node-logs` output. Pass it to auditlog.WithFormats.
var Format auditlog.Format = format{}

type format struct{}

func (format) Name() string              { return "openshift-node-logs" }
func (format) Framing() auditlog.Framing { return auditlog.FrameLines }
func (format) LiteralsVisible() bool     { return true }

// Detect: the first line is a token without spaces or braces, a space,
// then a JSON object.
func (format) Detect(head []byte) bool {
	line, _, _ := bytes.Cut(head, []byte("\n"))
	node, rest, ok := bytes.Cut(line, []byte(" "))
	return ok && validNode(node) && bytes.HasPrefix(rest, []byte("{\""))
}

// validNode: a node name as Kubernetes allows it (a DNS subdomain).
func validNode(b []byte) bool {
	if len(b) == 0 || len(b) > 253 {
		return false
	}
	for _, c := range b {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

var errNoEvent = errors.New(`not a node-logs line: want "<node> {…event…}"`)

func (format) Read(rec []byte, at int, buf *[]byte) (auditlog.Item, int) {
	if at > 0 {
		return auditlog.Item{}, -1
	}
	line := bytes.TrimRight(rec, " \t\r")
	if len(line) > 0 && line[0] == '{' {
		return auditlog.Item{JSON: line}, -1
	}
	node, rest, ok := bytes.Cut(line, []byte(" "))
	if !ok || !validNode(node) || !bytes.HasPrefix(rest, []byte("{")) {
		return auditlog.Item{Err: errNoEvent}, -1
	}
	return auditlog.Item{JSON: rest, Offset: len(node) + 1, Origin: auditlog.Origin{Node: node[:len(node):len(node)]}}, -1
}
