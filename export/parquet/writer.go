package parquet

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
	pq "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
)

// Defaults of Options.
const (
	DefaultRowGroupBytes = 32 << 20  // buffered event bytes before a row group is written
	DefaultRowGroupRows  = 131072    // rows in a row group at most
	DefaultFileBytes     = 256 << 20 // event bytes in a file before it is closed
)

// Options configure a Writer.
type Options struct {
	Dir     string // the root of the Hive layout
	Cluster string // the cluster= partition and origin.cluster
	// RowGroupBytes, RowGroupRows and FileBytes bound memory and file size
	// (0: the defaults).
	RowGroupBytes, RowGroupRows, FileBytes int64
}

// Writer writes rows into Hive-partitioned Parquet files:
// DIR/dt=YYYY-MM-DD/cluster=NAME/<source>-<first time>-<hash>.parquet, dt
// being the UTC date of stageTimestamp. Each row group is sorted by
// stageTimestamp. A file is written under a .partial name and renamed when
// complete, so a reader never sees half a file and a crash leaves none.
// A Writer is not safe for concurrent use.
type Writer struct {
	opts  Options
	files map[partition]*openFile
	done  []string
}

type partition struct{ dt, cluster, source string }

type openFile struct {
	tmp      *os.File
	w        *pq.GenericWriter[Row]
	buf      []Row
	bufBytes int64
	written  int64 // event bytes in the file so far
	first    time.Time
	hash     *xxhash.Digest
	dir      string
	source   string
}

// NewWriter returns a Writer with opts.
func NewWriter(opts Options) *Writer {
	if opts.RowGroupBytes <= 0 {
		opts.RowGroupBytes = DefaultRowGroupBytes
	}
	if opts.RowGroupRows <= 0 {
		opts.RowGroupRows = DefaultRowGroupRows
	}
	if opts.FileBytes <= 0 {
		opts.FileBytes = DefaultFileBytes
	}
	return &Writer{opts: opts, files: map[partition]*openFile{}}
}

// Files returns the files written so far (complete, renamed).
func (w *Writer) Files() []string { return w.done }

// Write adds a row; size is the event's size in bytes (its line), which
// bounds row groups and files.
func (w *Writer) Write(r *Row, size int64) error {
	p := partition{dt: r.StageTimestamp.UTC().Format(time.DateOnly), cluster: r.Origin.Cluster, source: sourceName(r)}
	f := w.files[p]
	if f == nil {
		var err error
		if f, err = w.open(p); err != nil {
			return err
		}
		w.files[p] = f
	}
	f.buf = append(f.buf, *r)
	f.bufBytes += size
	if f.bufBytes >= w.opts.RowGroupBytes || int64(len(f.buf)) >= w.opts.RowGroupRows {
		if err := f.flush(); err != nil {
			return err
		}
		if f.written >= w.opts.FileBytes {
			delete(w.files, p)
			return w.finish(f)
		}
	}
	return nil
}

// Close writes what is buffered and completes every file.
func (w *Writer) Close() error {
	var firstErr error
	keys := make([]partition, 0, len(w.files))
	for p := range w.files {
		keys = append(keys, p)
	}
	slices.SortFunc(keys, func(a, b partition) int {
		return cmp.Or(strings.Compare(a.dt, b.dt), strings.Compare(a.cluster, b.cluster), strings.Compare(a.source, b.source))
	})
	for _, p := range keys {
		f := w.files[p]
		delete(w.files, p)
		if err := f.flush(); err != nil && firstErr == nil {
			firstErr = err
		}
		if err := w.finish(f); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// Abort removes the files not yet complete.
func (w *Writer) Abort() {
	for p, f := range w.files {
		f.tmp.Close()
		os.Remove(f.tmp.Name())
		delete(w.files, p)
	}
}

func (w *Writer) open(p partition) (*openFile, error) {
	dir := filepath.Join(w.opts.Dir, "dt="+p.dt, "cluster="+pathSafe(p.cluster))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(dir, ".auditq-*.parquet.partial")
	if err != nil {
		return nil, err
	}
	pw := pq.NewGenericWriter[Row](tmp,
		pq.Compression(&zstd.Codec{Level: zstd.SpeedDefault}),
		pq.BloomFilters(pq.SplitBlockFilter(10, "auditID")),
		pq.MaxRowsPerRowGroup(w.opts.RowGroupRows),
		pq.PageBufferSize(1<<20),
		pq.KeyValueMetadata("auditq.schema", fmt.Sprintf("k8s_audit v%d", SchemaVersion)),
	)
	return &openFile{tmp: tmp, w: pw, hash: xxhash.New(), dir: dir, source: p.source}, nil
}

// flush sorts the buffered rows by stageTimestamp (stable: one request's
// stages keep their order) and writes them as a row group.
func (f *openFile) flush() error {
	if len(f.buf) == 0 {
		return nil
	}
	slices.SortStableFunc(f.buf, func(a, b Row) int { return a.StageTimestamp.Compare(b.StageTimestamp) })
	if f.first.IsZero() || f.buf[0].StageTimestamp.Before(f.first) {
		f.first = f.buf[0].StageTimestamp
	}
	var b [8]byte
	for i := range f.buf {
		f.hash.WriteString(f.buf[i].AuditID)
		f.hash.WriteString(f.buf[i].Stage)
		binary.LittleEndian.PutUint64(b[:], uint64(f.buf[i].StageTimestamp.UnixNano()))
		f.hash.Write(b[:])
	}
	if _, err := f.w.Write(f.buf); err != nil {
		return err
	}
	if err := f.w.Flush(); err != nil {
		return err
	}
	f.written += f.bufBytes
	clear(f.buf)
	f.buf, f.bufBytes = f.buf[:0], 0
	return nil
}

// finish closes the file and gives it its final name.
func (w *Writer) finish(f *openFile) error {
	if err := f.w.Close(); err != nil {
		f.tmp.Close()
		os.Remove(f.tmp.Name())
		return err
	}
	if err := f.tmp.Sync(); err != nil {
		f.tmp.Close()
		os.Remove(f.tmp.Name())
		return err
	}
	if err := f.tmp.Close(); err != nil {
		os.Remove(f.tmp.Name())
		return err
	}
	name := fmt.Sprintf("%s-%s-%08x.parquet", f.source, f.first.UTC().Format("20060102T150405.000000Z"), uint32(f.hash.Sum64()))
	final := filepath.Join(f.dir, name)
	if err := os.Rename(f.tmp.Name(), final); err != nil {
		os.Remove(f.tmp.Name())
		return err
	}
	w.done = append(w.done, final)
	return nil
}

// sourceName names a file after the API server its events came from (Row.Source).
func sourceName(r *Row) string {
	if r.Source == "" {
		return "stdin"
	}
	return pathSafe(r.Source)
}

// pathSafe keeps a name to letters, digits, '.', '_' and '-': names come
// from logs, which are attacker-controlled.
func pathSafe(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	out := strings.TrimLeft(string(b), ".")
	if out == "" {
		out = "_"
	}
	return out[:min(len(out), 100)]
}
