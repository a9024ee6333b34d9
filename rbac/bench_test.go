package rbac

import (
	"context"
	"testing"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/internal/audittest"
)

// BenchmarkGenerateOfFixture is rbac generate on the repository's rotated
// fixture, decoding included: events added one by one, and folded on the
// workers and merged.
func BenchmarkGenerateOfFixture(b *testing.B) {
	paths := []string{audittest.Rotated()}
	size := audittest.SetSize(b, paths[0])
	b.Run("event-by-event", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			obs := NewObservations(nil)
			for ev, err := range auditlog.ReadFiles(context.Background(), paths, auditlog.WithoutBodies()) {
				if err != nil {
					b.Fatal(err)
				}
				obs.Add(ev)
			}
			if _, err := Generate(obs, GenerateOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("folded", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			obs := NewObservations(nil)
			start, fold := obs.Folding()
			for r := range auditlog.ScanFolded(context.Background(), paths, nil, start, fold, auditlog.WithoutBodies()) {
				switch {
				case r.Err != nil:
					b.Fatal(r.Err)
				case r.Event != nil:
					obs.Add(r.Event)
				default:
					obs.Merge(r.Out)
				}
			}
			if _, err := Generate(obs, GenerateOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
