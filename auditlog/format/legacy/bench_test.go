package legacy

import (
	"bytes"
	"testing"

	"github.com/auditq/auditq/auditlog/format/internal/formattest"
	"github.com/auditq/auditq/internal/fixture"
)

// events writes the same events in both of the log backend's formats.
func events(b *testing.B) (js, legacy []byte, n int) {
	var j, l bytes.Buffer
	if _, err := fixture.Write(&j, fixture.Config{Seed: 7, Requests: 20000, Legacy: &l}); err != nil {
		b.Fatal(err)
	}
	return j.Bytes(), l.Bytes(), bytes.Count(j.Bytes(), []byte("\n"))
}

// BenchmarkRead reads legacy lines; bytes/s are of the same events in
// JSON, to compare with BenchmarkPlain.
func BenchmarkRead(b *testing.B) {
	js, legacy, n := events(b)
	formattest.BenchRead(b, legacy, int64(len(js)), n, Format)
}

// BenchmarkPlain reads the events as JSON lines.
func BenchmarkPlain(b *testing.B) {
	js, _, n := events(b)
	formattest.BenchRead(b, js, int64(len(js)), n, nil)
}
