// Package loki reads audit logs shipped to Grafana Loki as
// `logcli query --output=jsonl` prints them: one entry a line,
//
//	{"labels":{"cluster":"prod","node_name":"cp-1",…},"line":"{\"kind\":\"Event\",…}","timestamp":"2024-05-01T10:00:00.123456789Z"}
//
// (labels absent with --no-labels). The line is what the shipper (Promtail,
// Alloy, Fluent Bit) read from --audit-log-path: kube-apiserver's own event,
// read as it is. A line Loki cut at its max_line_size (with
// max_line_size_truncate) does not decode, and is reported with its
// auditID. `--output=raw` prints the lines alone: plain audit lines, which
// auditlog reads without this package.
//
// The origin of each event comes from its stream labels: Cluster from
// cluster or cluster_name; Node from node_name, nodename, node, host,
// hostname or instance, the first present.
package loki

import (
	"bytes"
	"errors"

	"github.com/auditq/auditq/auditlog"
)

// Format reads logcli's JSON lines. Pass it to auditlog.WithFormats.
var Format auditlog.Format = format{}

type format struct{}

func (format) Name() string              { return "loki" }
func (format) Framing() auditlog.Framing { return auditlog.FrameJSON }
func (format) LiteralsVisible() bool     { return true }

// Detect: an object with a line and a timestamp or labels.
func (format) Detect(head []byte) bool {
	k := auditlog.FirstKeys(head)
	return k.Has("line") && (k.Has("timestamp") || k.Has("labels"))
}

var errNoLine = errors.New(`not a Loki entry: want {"labels":{…},"line":"…","timestamp":"…"}`)

// The labels that name the cluster and the node, in order of preference.
var (
	clusterLabels = []string{"cluster", "cluster_name"}
	nodeLabels    = []string{"node_name", "nodename", "node", "host", "hostname", "instance"}
)

func (format) Read(rec []byte, at int, buf *[]byte) (auditlog.Item, int) {
	if at > 0 {
		return auditlog.Item{}, -1
	}
	var r auditlog.EnvelopeReader
	r.Reset(rec, 0)
	if r.Peek() != '{' {
		return auditlog.Item{Err: errNoLine}, -1
	}
	line, lineEnd := -1, 0
	cluster, node := -1, -1 // offsets of label values
	clusterRank, nodeRank := len(clusterLabels), len(nodeLabels)
	b := (*buf)[:0]
	err := r.Object(func(key []byte) error {
		switch string(key) {
		case "line":
			// Decoded here, in the one pass over it; the origin goes after it.
			line = r.Pos()
			var err error
			b, err = r.AppendString(b[:0])
			lineEnd = len(b)
			return err
		case "labels":
			if r.Peek() != '{' {
				return r.Skip()
			}
			return r.Object(func(key []byte) error {
				if i := rank(clusterLabels, key); i < clusterRank && r.Peek() == '"' {
					cluster, clusterRank = r.Pos(), i
				}
				if i := rank(nodeLabels, key); i < nodeRank && r.Peek() == '"' {
					node, nodeRank = r.Pos(), i
				}
				return r.Skip()
			})
		}
		return r.Skip()
	})
	if err != nil {
		return auditlog.Item{Err: err}, -1
	}
	if line < 0 {
		return auditlog.Item{Err: errNoLine}, -1
	}
	var o auditlog.Origin
	b, o.Cluster = auditlog.AppendStringAt(b, rec, cluster)
	b, o.Node = auditlog.AppendStringAt(b, rec, node)
	*buf = b
	return auditlog.Item{JSON: bytes.TrimRight(b[:lineEnd], " \t\r\n"), Offset: line, Field: "line", Origin: o}, -1
}

func rank(labels []string, key []byte) int {
	for i, l := range labels {
		if string(key) == l {
			return i
		}
	}
	return len(labels)
}
