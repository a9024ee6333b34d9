package summary

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/internal/audittest"
)

// folded is the summary of path built from partials on workers.
func folded(t *testing.T, paths []string, top int, opts ...auditlog.Option) (*Report, int, int64) {
	t.Helper()
	b := New(top, 60)
	start, add := Folding(top, 60)
	partials := 0
	for r := range auditlog.ScanFolded(context.Background(), paths, nil, start, add, append(opts, auditlog.WithoutBodies())...) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		if r.Event != nil {
			b.Add(r.Event)
			continue
		}
		b.Merge(*r.Out)
		partials++
	}
	return b.Report(), partials, b.corrections
}

func sequential(t *testing.T, paths []string, top int) *Report {
	t.Helper()
	b := New(top, 60)
	for ev, err := range auditlog.ReadFiles(context.Background(), paths, auditlog.WithoutBodies(), auditlog.WithConcurrency(1)) {
		if err != nil {
			t.Fatal(err)
		}
		b.Add(ev)
	}
	return b.Report()
}

// TestPartialsMergeExactly: a summary folded on 1, 2, 5 and 16 workers, in
// chunks from 4 KiB (requests cross chunks all the time) to the default,
// and merged, is byte for byte the summary of one sequential reading, on
// every corpus.
func TestPartialsMergeExactly(t *testing.T) {
	for name, path := range audittest.Corpora(t) {
		for _, top := range []int{5, 1000000} {
			want, err := json.Marshal(sequential(t, []string{path}, top))
			if err != nil {
				t.Fatal(err)
			}
			for _, workers := range []int{1, 2, 5, 16} {
				for _, chunk := range []int{4 << 10, 64 << 10, 512 << 10} {
					t.Run(fmt.Sprintf("%s/top%d/%dworkers/%dKiB", name, top, workers, chunk>>10), func(t *testing.T) {
						rep, partials, corrections := folded(t, []string{path}, top, auditlog.WithConcurrency(workers), auditlog.WithChunkSize(chunk))
						got, _ := json.Marshal(rep)
						if !bytes.Equal(got, want) {
							t.Fatalf("%d partials merged differ from the sequential summary:\n%s\nwant\n%s", partials, diffHint(got, want), "")
						}
						if chunk == 4<<10 && (partials < 50 || corrections == 0) {
							t.Errorf("%d partials, %d corrections at 4 KiB chunks: boundaries not exercised", partials, corrections)
						}
						if chunk == 4<<10 && workers == 2 && top == 5 {
							t.Logf("%d partials, %d corrections", partials, corrections)
						}
					})
				}
			}
		}
	}
}

// diffHint shows where two JSON documents part.
func diffHint(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	lo := max(0, i-200)
	return fmt.Sprintf("…%s\n  vs\n…%s", a[lo:min(len(a), i+200)], b[lo:min(len(b), i+200)])
}

// BenchmarkSummaryOfFixture is the whole summary of the fixture set,
// decoding included: the parallel reader handing every event to Add
// (event-by-event) against folding on the workers and merging (folded),
// both on as many workers as cores.
func BenchmarkSummaryOfFixture(b *testing.B) {
	paths := []string{audittest.Rotated()}
	size := audittest.SetSize(b, paths[0])
	b.Run("event-by-event", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			s := New(5, 60)
			for ev, err := range auditlog.ReadFiles(context.Background(), paths, auditlog.WithoutBodies()) {
				if err != nil {
					b.Fatal(err)
				}
				s.Add(ev)
			}
			s.Report()
		}
	})
	b.Run("folded", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		start, add := Folding(5, 60)
		for b.Loop() {
			s := New(5, 60)
			for r := range auditlog.ScanFolded(context.Background(), paths, nil, start, add, auditlog.WithoutBodies()) {
				switch {
				case r.Err != nil:
					b.Fatal(r.Err)
				case r.Event != nil:
					s.Add(r.Event)
				default:
					s.Merge(*r.Out)
				}
			}
			s.Report()
		}
	})
}
