// Package formattest holds what the format packages' tests share.
package formattest

import (
	"bytes"
	"testing"

	"github.com/auditq/auditq/auditlog"
)

// BenchRead reads data, which must hold n events, with f, once per
// iteration. size is the bytes of those events as kube-apiserver writes
// them, so that MB/s compare with the same events read plain (see
// BenchPlain) whatever the envelope adds.
func BenchRead(b *testing.B, data []byte, size int64, n int, f auditlog.Format) {
	b.SetBytes(size)
	b.ReportAllocs()
	var opts []auditlog.Option
	if f != nil {
		opts = append(opts, auditlog.WithFormats(f))
	}
	rd, err := auditlog.NewReader(bytes.NewReader(data), opts...)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		rd.Reset(bytes.NewReader(data))
		got := 0
		for _, err := range rd.All() {
			if err != nil {
				b.Fatal(err)
			}
			got++
		}
		if got != n {
			b.Fatalf("%d events, want %d", got, n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
}

// BenchPlain reads events as kube-apiserver writes them: the baseline
// for a format's BenchRead on the same events.
func BenchPlain(b *testing.B, events [][]byte, size int64) {
	BenchRead(b, append(bytes.Join(events, []byte("\n")), '\n'), size, len(events), nil)
}
