package openshift

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/auditq/auditq/auditlog/format/internal/formattest"
	"github.com/auditq/auditq/internal/audittest"
)

// BenchmarkRead reads `oc adm node-logs` output of the benchmark events
// over three nodes.
func BenchmarkRead(b *testing.B) {
	events, size := audittest.BenchEvents(b)
	var data bytes.Buffer
	for i, l := range events {
		fmt.Fprintf(&data, "master-%d.ocp.example.com %s\n", i%3, l)
	}
	formattest.BenchRead(b, data.Bytes(), size, len(events), Format)
}

// BenchmarkPlain reads the same events as kube-apiserver writes them.
func BenchmarkPlain(b *testing.B) {
	events, size := audittest.BenchEvents(b)
	formattest.BenchPlain(b, events, size)
}
