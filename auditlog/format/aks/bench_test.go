package aks

import (
	"bytes"
	"testing"

	"github.com/auditq/auditq/auditlog/format/internal/formattest"
	"github.com/auditq/auditq/internal/audittest"
)

// BenchmarkRead reads a storage-account blob (PT1H.json) of the benchmark
// events.
func BenchmarkRead(b *testing.B) {
	events, size := audittest.BenchEvents(b)
	var blob bytes.Buffer
	for _, ev := range events {
		blob.WriteString(record(ev, "kube-apiserver-a", true) + "\n")
	}
	formattest.BenchRead(b, blob.Bytes(), size, len(events), Format)
}

// BenchmarkPlain reads the same events as kube-apiserver writes them.
func BenchmarkPlain(b *testing.B) {
	events, size := audittest.BenchEvents(b)
	formattest.BenchPlain(b, events, size)
}
