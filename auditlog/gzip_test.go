package auditlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/gzip"
)

// members returns the events ids, one gzip member per group.
func members(groups ...[]string) (data []byte, sizes []int) {
	for _, ids := range groups {
		var b strings.Builder
		for _, id := range ids {
			b.WriteString(ev(id) + "\n")
		}
		m := gz(b.String())
		data = append(data, m...)
		sizes = append(sizes, len(m))
	}
	return data, sizes
}

// corruptGzip returns the multi-member files with one member damaged in the
// ways real damage takes, and the events a reader must still deliver.
func corruptGzip() []struct {
	name string
	data []byte
	want []string
	// lost: ids that may or may not be delivered (decompressed before the
	// damage was noticed).
} {
	groups := [][]string{{"a1", "a2", "a3"}, {"b1", "b2", "b3"}, {"c1", "c2", "c3"}}
	data, sizes := members(groups...)
	second := sizes[0]
	clone := func() []byte { return bytes.Clone(data) }

	badBlock := clone()
	badBlock[second+10] = 0x07 // first deflate block: BFINAL, reserved BTYPE 11

	badCRC := clone()
	badCRC[second+sizes[1]-8] ^= 0xff // the member's CRC-32

	badHeader := clone()
	badHeader[second+2] = 7 // compression method other than deflate

	// A member that ends inside a line, then a good member.
	cutMember := gz(ev("b1") + "\n" + ev("b2")[:60])
	midLine := append(append(clone()[:second], cutMember...), data[second+sizes[1]:]...)
	midLine[second+len(cutMember)-8] ^= 0xff

	garbage := append(clone(), []byte("\x00\x00\x00 trailing garbage")...)

	all := []string{"a1", "a2", "a3", "b1", "b2", "b3", "c1", "c2", "c3"}
	return []struct {
		name string
		data []byte
		want []string
	}{
		{"corrupt deflate block", badBlock, []string{"a1", "a2", "a3", "c1", "c2", "c3"}},
		{"CRC mismatch", badCRC, all},
		{"bad member header", badHeader, []string{"a1", "a2", "a3", "c1", "c2", "c3"}},
		{"member ending mid-line", midLine, []string{"a1", "a2", "a3", "b1", "c1", "c2", "c3"}},
		{"garbage after the last member", garbage, all},
	}
}

// TestGzipCorruptMember: a damaged member in the middle of a multi-member
// file costs only that member; the members after it are read, and the
// damage is reported where it is, without ending the file.
func TestGzipCorruptMember(t *testing.T) {
	for _, tc := range corruptGzip() {
		t.Run(tc.name, func(t *testing.T) {
			rd, err := NewReader(bytes.NewReader(tc.data), WithName("x.log.gz"))
			if err != nil {
				t.Fatal(err)
			}
			ids, errs := readAll(t, rd)
			if diff := cmp.Diff(tc.want, ids); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if len(errs) == 0 {
				t.Fatal("the damage was not reported")
			}
			var ge *GzipMemberError
			found := false
			for _, pe := range errs {
				if errors.As(pe, &ge) {
					found = true
					if pe.File != "x.log.gz" || pe.Line == 0 || pe.Offset == 0 || !pe.Compressed || ge.At == 0 {
						t.Errorf("unpositioned: %+v %+v", pe, ge)
					}
					if !strings.Contains(pe.Error(), "x.log.gz:") || !strings.Contains(pe.Error(), "compressed byte") {
						t.Errorf("message: %s", pe)
					}
					if tc.name != "garbage after the last member" && (pe.Fatal || !ge.Resumed) {
						t.Errorf("the read did not go on: %+v", ge)
					}
				}
			}
			if !found {
				t.Errorf("no GzipMemberError among %v", errs)
			}
		})
	}
}

// TestGzipCorruptMemberParallel: the pipeline delivers the same as the
// sequential Reader around a damaged member, at any chunk size.
func TestGzipCorruptMemberParallel(t *testing.T) {
	// Real damage: a flipped bit in the first of two concatenated backups
	// makes the decompressor write garbage lines up to the CRC check.
	var flipped []byte
	for _, name := range []string{"kube-apiserver-audit-2026-11-20T08-00-08.867.log.gz", "kube-apiserver-audit-2026-11-20T08-00-17.939.log.gz"} {
		b, err := os.ReadFile(filepath.Join(testdataRotated, name))
		if err != nil {
			t.Fatal(err)
		}
		flipped = append(flipped, b...)
	}
	flipped[5000] ^= 0xff
	cases := append(corruptGzip(), struct {
		name string
		data []byte
		want []string
	}{name: "bit flip in a backup", data: flipped})
	for _, tc := range cases {
		seq := transcript(ScanReader[struct{}](context.Background(), bytes.NewReader(tc.data), nil, WithConcurrency(1)))
		for _, chunk := range []int{64, 700, 1 << 16} {
			par := transcript(ScanReader[struct{}](context.Background(), bytes.NewReader(tc.data), nil, WithConcurrency(2), withChunkSize(chunk)))
			if diff := cmp.Diff(seq, par); diff != "" {
				t.Errorf("%s, chunk %d: (-sequential +parallel):\n%s", tc.name, chunk, diff)
			}
		}
		if testing.Verbose() {
			fmt.Println(tc.name, strings.Join(seq, "\n  "))
		}
	}
}

// TestGzipBombBoundedMemory: a tiny file that decompresses to 256 MiB of
// zeros with no newline costs the line limit in memory, not its size; the
// events around it are read and the line is reported once.
func TestGzipBombBoundedMemory(t *testing.T) {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(ev("before") + "\n"))
	zeros := make([]byte, 1<<20)
	for range 256 {
		w.Write(zeros)
	}
	w.Write([]byte("\n" + ev("after") + "\n"))
	w.Close()
	if b.Len() > 1<<20 {
		t.Fatalf("the bomb is %d bytes: not a bomb", b.Len())
	}
	for _, threads := range []int{1, 2} {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		before := ms.TotalAlloc
		var got []string
		for r := range ScanReader[struct{}](context.Background(), bytes.NewReader(b.Bytes()), nil, WithConcurrency(threads), WithMaxLineSize(1<<20)) {
			if r.Err != nil {
				got = append(got, "error: "+r.Err.Error())
				continue
			}
			got = append(got, string(r.Event.AuditID()))
		}
		runtime.ReadMemStats(&ms)
		want := []string{"before", fmt.Sprintf("error: <input>:2:1: line too long: more than 1048576 bytes; skipped (decompressed byte offset %d)", len(ev("before"))+1), "after"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("threads %d (-want +got):\n%s", threads, diff)
		}
		if alloc := ms.TotalAlloc - before; alloc > 32<<20 {
			t.Errorf("threads %d: decompressing 256 MiB allocated %d MiB", threads, alloc>>20)
		}
	}
}

// TestProgressCountsStoredBytes: WithProgress counts the bytes read from the
// source as stored (compressed, for gzip), all of them, at any concurrency.
func TestProgressCountsStoredBytes(t *testing.T) {
	data, _ := members([]string{"a1", "a2"}, []string{"b1"})
	path := filepath.Join(t.TempDir(), "x.log.gz")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, threads := range []int{1, 2} {
		var n atomic.Int64
		events := 0
		for r := range ScanFiles[struct{}](context.Background(), []string{path}, nil, WithConcurrency(threads), WithProgress(&n)) {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			events++
		}
		if events != 3 || n.Load() != int64(len(data)) {
			t.Errorf("threads %d: %d events, progress %d bytes; want 3 events, %d bytes", threads, events, n.Load(), len(data))
		}
	}
}
