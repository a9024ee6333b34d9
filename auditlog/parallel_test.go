package auditlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/auditq/auditq/internal/audittest"
)

// withChunkSize makes chunks small, so that tests cross many chunk boundaries.
func withChunkSize(n int) Option {
	return func(c *config) error { c.chunkSize = n; return nil }
}

// transcript is everything a scan delivers, as text: each event's position,
// bytes and a few decoded fields, and each error.
func transcript(results func(func(Result[struct{}]) bool)) []string {
	var out []string
	for r := range results {
		if r.Err != nil {
			out = append(out, "error: "+r.Err.Error())
			continue
		}
		ev := r.Event
		out = append(out, fmt.Sprintf("event %s:%d@%d id=%s stage=%s code=%d verb=%s raw=%q",
			ev.Pos().File, ev.Pos().Line, ev.Pos().Offset, ev.AuditID(), ev.Stage(), ev.Code(), ev.Verb(), ev.Raw()))
	}
	return out
}

// hostileStream mixes every framing the Reader knows with faults, so that a
// chunk boundary can fall next to each of them.
func hostileStream() string {
	var b strings.Builder
	b.WriteString("\xef\xbb\xbf")
	for i := range 40 {
		id := fmt.Sprintf("id-%02d", i)
		switch i % 10 {
		case 0:
			b.WriteString(ev(id) + "\r\n\r\n")
		case 1:
			b.WriteString(ev(id)[:70] + ev(id+"-after-cut") + "\n") // writer died mid-line
		case 2:
			b.WriteString(pretty(ev(id)) + "\n")
		case 3:
			b.WriteString(`{"kind":"EventList","items":[` + ev(id) + "," + ev(id+"b") + "]}\n")
		case 4:
			b.WriteString(pretty(`{"kind":"EventList","items":[`+ev(id)+","+ev(id+"b")+"]}") + "\n")
		case 5:
			b.WriteString(`{"kind":"Event","auditID":"` + id + `","responseStatus":{"code":"200"}}` + "\n")
		case 6:
			b.WriteString(`{"kind":"Event","auditID":"` + id + `","verb":"}` + "\n") // open string, ends in '}'
		case 7:
			b.WriteString(`{"auditID":"` + id + `","requestObject":"` + strings.Repeat("x", 500) + `"}` + "\n")
		case 8:
			b.WriteString("2017-03-21T03:57:09.106841886-04:00 AUDIT: id=\"" + id + "\" ip=\"127.0.0.1\"\n")
		case 9:
			b.WriteString("[" + ev(id) + ",\n" + ev(id+"b") + "]\n" + "\x00\x00\n" + `{"auditID":` + "\n")
		}
	}
	b.WriteString(ev("last")[:90]) // still being written
	return b.String()
}

// differentialInputs are the inputs the parallel and folded readings are
// held to a sequential one on: the fixture set, hostile streams plain,
// gzipped and truncated, several files with a missing one, the legacy
// format, a pretty-printed list, and ../shared's real logs when present.
func differentialInputs(t *testing.T) map[string][]string {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hostile := hostileStream()
	gzipped := gz(hostile)
	inputs := map[string][]string{
		"fixture set":    {filepath.Join(testdataRotated, "kube-apiserver-audit.log")},
		"hostile":        {write("hostile.log", []byte(hostile))},
		"hostile gzip":   {write("hostile.log.gz", gzipped)},
		"truncated gzip": {write("cut.log.gz", gzipped[:len(gzipped)*2/3])},
		"several files": {write("a.log", []byte(ev("a1")+"\n"+ev("a2")+"\n")), write("missing.log", nil)[:0] + filepath.Join(dir, "nope.log"),
			write("b.log", []byte(hostile[:len(hostile)/2]))},
		"legacy": {write("legacy.log", []byte(strings.Repeat("2017-03-21T03:57:09.106841886-04:00 AUDIT: id=\"x\" ip=\"127.0.0.1\"\n", 50))),
			write("legacy-later.log", []byte(ev("a")+"\n"+strings.Repeat("2017-03-21T03:57:09.106841886-04:00 AUDIT: id=\"x\" ip=\"127.0.0.1\"\n", 50)+ev("b")+"\n"))},
		"pretty list": {write("list.json", []byte(pretty(`{"kind":"EventList","items":[`+
			strings.TrimSuffix(strings.Repeat(ev("i")+",", 300), ",")+"]}")))},
	}
	if files := audittest.RealdataFiles(1 << 30); len(files) > 0 {
		inputs["realdata"] = slices.DeleteFunc(files, func(f string) bool { return strings.HasSuffix(f, ".md") })
	}
	if g, ok := audittest.SharedPath("kube-apiserver", "gce-like"); ok {
		inputs["gce-like"] = []string{g}
	}
	return inputs
}

// TestParallelMatchesSequential: the parallel pipeline delivers exactly what a
// sequential Reader does (events, positions, errors, in order) however the
// input is cut into chunks.
func TestParallelMatchesSequential(t *testing.T) {
	inputs := differentialInputs(t)
	for name, paths := range inputs {
		t.Run(name, func(t *testing.T) {
			want := transcript(ScanFiles[struct{}](context.Background(), paths, nil, WithConcurrency(1)))
			if len(want) < 2 {
				t.Fatalf("only %d results: the input tests nothing", len(want))
			}
			for _, chunk := range []int{64, 1000, 64 << 10} {
				for _, opts := range [][]Option{
					{WithConcurrency(3), withChunkSize(chunk)},
					{WithConcurrency(2), withChunkSize(chunk), WithMaxLineSize(300)},
				} {
					want := want
					if len(opts) == 3 {
						want = transcript(ScanFiles[struct{}](context.Background(), paths, nil, WithConcurrency(1), WithMaxLineSize(300)))
					}
					got := transcript(ScanFiles[struct{}](context.Background(), paths, nil, opts...))
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("chunk %d, %d options: parallel differs from sequential (-want +got):\n%s", chunk, len(opts), diff)
					}
				}
			}
		})
	}
}

// TestParallelWork: the WorkFunc runs on every event, may drop events, and
// its slot is delivered with its own event.
func TestParallelWork(t *testing.T) {
	path := filepath.Join(testdataRotated, "kube-apiserver-audit.log")
	type slot struct{ id []byte }
	work := func(ev *Event, out *slot) bool {
		out.id = append(out.id[:0], ev.AuditID()...)
		return string(ev.Stage()) == "ResponseComplete"
	}
	var seq, par []string
	for r := range ScanFiles(context.Background(), []string{path}, work, WithConcurrency(1)) {
		seq = append(seq, string(r.Out.id))
	}
	for r := range ScanFiles(context.Background(), []string{path}, work, WithConcurrency(4), withChunkSize(4096)) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		if string(r.Event.Stage()) != "ResponseComplete" || string(r.Event.AuditID()) != string(r.Out.id) {
			t.Fatalf("event %s (%s) delivered with slot %s", r.Event.AuditID(), r.Event.Stage(), r.Out.id)
		}
		par = append(par, string(r.Out.id))
	}
	if len(seq) < 1000 || !slices.Equal(seq, par) {
		t.Fatalf("sequential kept %d events, parallel %d; equal: %v", len(seq), len(par), slices.Equal(seq, par))
	}
}

// TestParallelStop: stopping early or cancelling ends every goroutine.
func TestParallelStop(t *testing.T) {
	path := filepath.Join(testdataRotated, "kube-apiserver-audit.log")
	before := runtime.NumGoroutine()
	n := 0
	for r := range ScanFiles[struct{}](context.Background(), []string{path}, nil, withChunkSize(2048)) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		if n++; n == 10 {
			break
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var last error
	n = 0
	for r := range ScanFiles[struct{}](ctx, []string{path}, nil, withChunkSize(2048)) {
		if n++; n == 10 {
			cancel()
		}
		last = r.Err
	}
	if !errors.Is(last, context.Canceled) {
		t.Errorf("after cancel, the last result is %v, want context.Canceled", last)
	}
	if n > 4000 {
		t.Errorf("read %d results after cancelling at 10", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > before {
		t.Errorf("%d goroutines before, %d after", before, g)
	}
}

// TestParallelBoundedMemory: memory does not grow with the input. Reading 64
// MiB allocates no more than reading 16 MiB, up to a small constant: chunks
// and their event slots are recycled, never one per line.
func TestParallelBoundedMemory(t *testing.T) {
	line := ev("x") + "\n"
	allocated := func(size int) (uint64, int) {
		data := bytes.Repeat([]byte(line), size/len(line))
		path := filepath.Join(t.TempDir(), "big.log")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		before := ms.TotalAlloc
		n := 0
		for r := range ScanFiles[struct{}](context.Background(), []string{path}, nil, WithConcurrency(2)) {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			n++
		}
		runtime.ReadMemStats(&ms)
		if want := bytes.Count(data, []byte("\n")); n != want {
			t.Fatalf("read %d events of %d", n, want)
		}
		return ms.TotalAlloc - before, n
	}
	small, _ := allocated(16 << 20)
	big, n := allocated(64 << 20)
	if big > small+8<<20 {
		t.Errorf("reading 16 MiB allocated %d MiB, 64 MiB %d MiB (%d events): memory grows with the input", small>>20, big>>20, n)
	}
}

// FuzzParallel: on any input, the parallel pipeline gives what the sequential
// Reader gives.
func FuzzParallel(f *testing.F) {
	lines, files := fuzzSeeds(f)
	for _, l := range lines {
		f.Add(l)
	}
	for _, b := range files {
		f.Add(b)
	}
	f.Add([]byte(hostileStream()))
	for _, tc := range corruptGzip() {
		f.Add(tc.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<20 {
			return
		}
		want := transcript(ScanReader[struct{}](context.Background(), bytes.NewReader(data), nil, WithConcurrency(1), WithMaxLineSize(200)))
		got := transcript(ScanReader[struct{}](context.Background(), bytes.NewReader(data), nil, WithConcurrency(3), withChunkSize(64), WithMaxLineSize(200)))
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("parallel differs from sequential (-want +got):\n%s", diff)
		}
	})
}

// TestFoldedMatchesSequential: ScanFolded folds exactly the events a
// sequential read delivers, in order (through the partials, and one by one
// for an input read in order), and reports the same errors, however the
// input is cut into chunks.
func TestFoldedMatchesSequential(t *testing.T) {
	inputs := differentialInputs(t)
	describe := func(ev *Event) string {
		return fmt.Sprintf("%s@%d id=%s stage=%s raw=%q", ev.Pos().File, ev.Pos().Offset, ev.AuditID(), ev.Stage(), ev.Raw())
	}
	type folded struct{ events []string }
	for name, paths := range inputs {
		t.Run(name, func(t *testing.T) {
			var wantEvents, wantErrs []string
			for r := range ScanFiles[struct{}](context.Background(), paths, nil, WithConcurrency(1)) {
				if r.Err != nil {
					wantErrs = append(wantErrs, r.Err.Error())
				} else {
					wantEvents = append(wantEvents, describe(r.Event))
				}
			}
			if len(wantEvents) < 2 {
				t.Fatalf("only %d events: the input tests nothing", len(wantEvents))
			}
			for _, chunk := range []int{64, 1000, 64 << 10} {
				for _, workers := range []int{1, 3} {
					var gotEvents, gotErrs []string
					partials := 0
					start := func(f *folded) { f.events = f.events[:0] }
					fold := func(ev *Event, f *folded) { f.events = append(f.events, describe(ev)) }
					for r := range ScanFolded(context.Background(), paths, nil, start, fold, WithConcurrency(workers), withChunkSize(chunk)) {
						switch {
						case r.Err != nil:
							gotErrs = append(gotErrs, r.Err.Error())
						case r.Event != nil:
							gotEvents = append(gotEvents, describe(r.Event))
						default:
							gotEvents = append(gotEvents, r.Out.events...)
							partials++
						}
					}
					if diff := cmp.Diff(wantEvents, gotEvents); diff != "" {
						t.Errorf("chunk %d, %d workers: folded events differ (-sequential +folded):\n%s", chunk, workers, diff)
					}
					if diff := cmp.Diff(wantErrs, gotErrs); diff != "" {
						t.Errorf("chunk %d, %d workers: errors differ (-sequential +folded):\n%s", chunk, workers, diff)
					}
					if partials == 0 && chunk >= 1000 && name != "pretty list" { // 64-byte chunks cannot reach a line end: read in order
						t.Errorf("chunk %d: no partial", chunk)
					}
				}
			}
		})
	}
}
