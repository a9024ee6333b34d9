package gke

import (
	"bytes"
	"encoding/json"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/auditq/auditq/auditlog/format/internal/formattest"
	"github.com/auditq/auditq/internal/audittest"
)

// entries re-encodes the benchmark events as Cloud Logging LogEntries
// (those it can: a resourceName needs the API version); size is of those
// events as kube-apiserver wrote them.
func entries(b *testing.B) (out []map[string]any, size int64) {
	events, _ := audittest.BenchEvents(b)
	for _, l := range events {
		var ev event
		if err := json.Unmarshal(l, &ev); err != nil {
			b.Fatal(err)
		}
		if ev.ObjectRef != nil && ev.ObjectRef.APIVersion == "" {
			continue
		}
		out = append(out, cloudLogging(ev))
		size += int64(len(l) + 1)
	}
	return out, size
}

// BenchmarkLines reads LogEntry lines, as sinks and Pub/Sub deliver them.
func BenchmarkLines(b *testing.B) {
	es, size := entries(b)
	var data bytes.Buffer
	for _, e := range es {
		j, _ := json.Marshal(e)
		data.Write(append(j, '\n'))
	}
	formattest.BenchRead(b, data.Bytes(), size, len(es), Format)
}

// BenchmarkYAML reads `gcloud logging read` output in its default YAML.
func BenchmarkYAML(b *testing.B) {
	es, size := entries(b)
	es = es[:len(es)/8] // YAML is slow to write too: an eighth of the events
	size /= 8
	var data bytes.Buffer
	for i, e := range es {
		y, _ := yaml.Marshal(e)
		if i > 0 {
			data.WriteString("---\n")
		}
		data.Write(y)
	}
	formattest.BenchRead(b, data.Bytes(), size, len(es), YAML)
}

// BenchmarkPlain reads the benchmark events as kube-apiserver writes them.
func BenchmarkPlain(b *testing.B) {
	events, size := audittest.BenchEvents(b)
	formattest.BenchPlain(b, events, size)
}
