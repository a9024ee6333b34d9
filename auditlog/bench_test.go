package auditlog

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/auditq/auditq/internal/audittest"
)

func benchRead(b *testing.B, input []byte, plainSize int64, events int, opts ...Option) {
	b.SetBytes(plainSize) // MB/s of decompressed log, comparable across codecs
	b.ReportAllocs()
	rd, err := NewReader(bytes.NewReader(input), opts...)
	if err != nil {
		b.Fatal(err)
	}
	defer rd.Close()
	for b.Loop() {
		rd.Reset(bytes.NewReader(input))
		n := 0
		for {
			_, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != events {
			b.Fatalf("read %d events, want %d", n, events)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*events), "ns/event")
}

func BenchmarkReaderPlain(b *testing.B) {
	plain, events := audittest.BenchLog(b)
	benchRead(b, plain, int64(len(plain)), events)
}

func BenchmarkReaderGzip(b *testing.B) {
	plain, events := audittest.BenchLog(b)
	benchRead(b, gz(string(plain)), int64(len(plain)), events)
}

func BenchmarkReaderZstd(b *testing.B) {
	plain, events := audittest.BenchLog(b)
	enc, _ := zstd.NewWriter(nil)
	benchRead(b, enc.EncodeAll(plain, nil), int64(len(plain)), events)
}

// BenchmarkReaderWithoutBodies is the summary's read: bodies stepped over.
func BenchmarkReaderWithoutBodies(b *testing.B) {
	plain, events := audittest.BenchLog(b)
	benchRead(b, plain, int64(len(plain)), events, WithoutBodies())
}

// BenchmarkScanFiles is the whole pipeline on a file (plain, then gzip):
// reading, chunking, decoding by workers, delivery in order.
func BenchmarkScanFiles(b *testing.B) {
	plain, events := audittest.BenchLog(b)
	dir := b.TempDir()
	files := map[string][]byte{"plain": plain, "gzip": gz(string(plain))}
	for _, kind := range []string{"plain", "gzip"} {
		path := filepath.Join(dir, "audit.log."+kind)
		if err := os.WriteFile(path, files[kind], 0o644); err != nil {
			b.Fatal(err)
		}
		for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
			b.Run(fmt.Sprintf("%s/workers=%d", kind, workers), func(b *testing.B) {
				b.SetBytes(int64(len(plain)))
				b.ReportAllocs()
				for b.Loop() {
					n := 0
					for r := range ScanFiles[struct{}](context.Background(), []string{path}, nil, WithConcurrency(workers)) {
						if r.Err != nil {
							b.Fatal(r.Err)
						}
						n++
					}
					if n != events {
						b.Fatalf("read %d events, want %d", n, events)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*events), "ns/event")
			})
		}
	}
}

// BenchmarkLiteralPrefilter is the search that lets get skip a chunk.
func BenchmarkLiteralPrefilter(b *testing.B) {
	plain, _ := audittest.BenchLog(b)
	ls := newLiteralSet([]string{"7c5b2e4a-0d1f-4c3e-9a8b-6f5e4d3c2b1a"})
	b.SetBytes(int64(len(plain)))
	b.ReportAllocs()
	for b.Loop() {
		for c := plain; len(c) > 0; c = c[min(len(c), defaultChunkSize):] {
			if ls.mayContain(c[:min(len(c), defaultChunkSize)]) {
				b.Fatal("the literal is not in the fixture")
			}
		}
	}
}

func BenchmarkPairSearch(b *testing.B) {
	plain, _ := audittest.BenchLog(b)
	lit := []byte("7c5b2e4a-0d1f-4c3e-9a8b-6f5e4d3c2b1a")
	ps := newPairSearch(lit)
	b.Run("pair", func(b *testing.B) {
		b.SetBytes(int64(len(plain)))
		for b.Loop() {
			if ps.in(plain) {
				b.Fatal("found")
			}
		}
	})
	b.Run("bytes.Index", func(b *testing.B) {
		b.SetBytes(int64(len(plain)))
		for b.Loop() {
			if bytes.Contains(plain, lit) {
				b.Fatal("found")
			}
		}
	})
}
