package loki

import (
	"bytes"
	"testing"

	"github.com/auditq/auditq/auditlog/format/internal/formattest"
	"github.com/auditq/auditq/internal/audittest"
)

// BenchmarkRead reads logcli JSONL (with labels) of the benchmark events.
func BenchmarkRead(b *testing.B) {
	events, size := audittest.BenchEvents(b)
	var data bytes.Buffer
	for i, l := range events {
		data.Write(append(entry(l, i, true), '\n'))
	}
	formattest.BenchRead(b, data.Bytes(), size, len(events), Format)
}

// BenchmarkPlain reads the same events as kube-apiserver writes them.
func BenchmarkPlain(b *testing.B) {
	events, size := audittest.BenchEvents(b)
	formattest.BenchPlain(b, events, size)
}
