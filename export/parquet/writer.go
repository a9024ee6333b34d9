package parquet

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	pq "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
)

// Defaults of Options.
const (
	DefaultRowGroupBytes = 6 << 20   // buffered event bytes before a row group is written
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
	// Schema is SchemaNative (the default) or SchemaOCSF.
	Schema string
	// Encoders is how many row groups are encoded and compressed at once
	// (0: half the CPUs, at least 1). With more than one, a partition's
	// consecutive row groups go to that many files, each sorted.
	Encoders int
}

// The schemas a Writer writes: Row, or its OCSF projection (OCSFRow).
const (
	SchemaNative = "k8s_audit"
	SchemaOCSF   = "ocsf"
)

// rowWriter writes a file's row groups in one of the schemas.
type rowWriter interface {
	write(rows []Row) error
	Flush() error
	Close() error
	SetKeyValueMetadata(key, value string)
}

type nativeWriter struct{ *pq.GenericWriter[Row] }

func (w nativeWriter) write(rows []Row) error {
	_, err := w.Write(rows)
	return err
}

// ocsfWriter projects each row group onto OCSF as it writes it.
type ocsfWriter struct {
	*pq.GenericWriter[OCSFRow]
	buf []OCSFRow
}

func (w *ocsfWriter) write(rows []Row) error {
	w.buf = w.buf[:0]
	for i := range rows {
		w.buf = append(w.buf, ToOCSF(&rows[i]))
	}
	_, err := w.Write(w.buf)
	clear(w.buf)
	return err
}

// Writer writes rows into Hive-partitioned Parquet files:
// DIR/dt=YYYY-MM-DD/cluster=NAME/<source>-<first time>-<hash>.parquet, dt
// being the UTC date of stageTimestamp. Each file is sorted by
// stageTimestamp (see reorderSlack). A file is written under a .partial name and renamed when
// complete, so a reader never sees half a file and a crash leaves none.
// A Writer is not safe for concurrent use.
type Writer struct {
	opts  Options
	files map[partition]*openFile
	done  []string

	// Row groups are encoded and compressed on goroutines of their own
	// (Options.Encoders), while the caller fills the next. A file's jobs
	// all go to one encoder, in order.
	jobs    []chan job
	encoded chan error        // each encoder's first error, once it stops
	shard   map[partition]int // the encoder a partition's next row group goes to
	err     error             // the first error seen
	spare   [][]Row           // buffers back from the encoder
	spareMu sync.Mutex
	doneMu  sync.Mutex
}

// job is a row group to write, or a file to finish.
type job struct {
	f      *openFile
	rows   []Row
	bytes  int64
	finish bool // complete the file
	abort  bool // remove the file
}

type partition struct {
	dt, cluster, source string
	shard               int
}

type openFile struct {
	tmp      *os.File
	w        rowWriter
	buf      []Row
	bufBytes int64
	written  int64 // event bytes in the file so far (handed to the encoder)
	first    time.Time
	newest   time.Time // of the rows written
	carry    []Row     // rows held back for the next row group
	sorted   bool      // every row written so far is in order
	hash     *xxhash.Digest
	dir      string
	source   string
	shard    int // its encoder
}

// NewWriter returns a Writer with opts.
func NewWriter(opts Options) *Writer {
	if opts.Schema == "" {
		opts.Schema = SchemaNative
	}
	if opts.RowGroupBytes <= 0 {
		opts.RowGroupBytes = DefaultRowGroupBytes
	}
	if opts.RowGroupRows <= 0 {
		opts.RowGroupRows = DefaultRowGroupRows
	}
	if opts.FileBytes <= 0 {
		opts.FileBytes = DefaultFileBytes
	}
	if opts.Encoders <= 0 {
		opts.Encoders = max(1, runtime.GOMAXPROCS(0)/2)
	}
	w := &Writer{opts: opts, files: map[partition]*openFile{}, encoded: make(chan error, opts.Encoders), shard: map[partition]int{}}
	if opts.Schema != SchemaNative && opts.Schema != SchemaOCSF {
		w.err = fmt.Errorf("schema %q: want %s or %s", opts.Schema, SchemaNative, SchemaOCSF)
	}
	for range opts.Encoders {
		jobs := make(chan job)
		w.jobs = append(w.jobs, jobs)
		go w.encode(jobs)
	}
	return w
}

// encode runs the jobs in order; after an error it only discards.
func (w *Writer) encode(jobs chan job) {
	var err error
	for j := range jobs {
		if err != nil || j.abort {
			if j.finish || j.abort {
				j.f.tmp.Close()
				os.Remove(j.f.tmp.Name())
			}
			continue
		}
		if j.finish {
			err = w.finishFile(j.f)
			continue
		}
		err = j.f.writeGroup(j.rows, false)
		clear(j.rows)
		w.spareMu.Lock()
		w.spare = append(w.spare, j.rows[:0])
		w.spareMu.Unlock()
	}
	w.encoded <- err
}

func (w *Writer) buffer() []Row {
	w.spareMu.Lock()
	defer w.spareMu.Unlock()
	if n := len(w.spare); n > 0 {
		b := w.spare[n-1]
		w.spare = w.spare[:n-1]
		return b
	}
	return nil
}

// Files returns the files written so far (complete, renamed).
func (w *Writer) Files() []string {
	w.doneMu.Lock()
	defer w.doneMu.Unlock()
	return slices.Clone(w.done)
}

// Write adds a row; size is the event's size in bytes (its line), which
// bounds row groups and files.
func (w *Writer) Write(r *Row, size int64) error {
	if w.err != nil {
		return w.err
	}
	p := partition{dt: dayOf(r.StageTimestamp), cluster: r.Origin.Cluster, source: sourceName(r)}
	p.shard = w.shard[p]
	f := w.files[p]
	if f == nil {
		var err error
		if f, err = w.open(p); err != nil {
			w.err = err
			return err
		}
		w.files[p] = f
	}
	if f.buf == nil {
		f.buf = w.buffer()
	}
	f.buf = append(f.buf, *r)
	f.bufBytes += size
	if f.bufBytes >= w.opts.RowGroupBytes || int64(len(f.buf)) >= w.opts.RowGroupRows {
		w.flush(f)
		if f.written >= w.opts.FileBytes {
			delete(w.files, p)
			w.jobs[f.shard] <- job{f: f, finish: true}
		}
		if len(w.jobs) > 1 { // the next row group to the next encoder's file
			q := p
			q.shard = 0
			w.shard[q] = (p.shard + 1) % len(w.jobs)
		}
	}
	return nil
}

// flush hands the buffered rows to the encoder.
func (w *Writer) flush(f *openFile) {
	if len(f.buf) == 0 {
		return
	}
	w.jobs[f.shard] <- job{f: f, rows: f.buf, bytes: f.bufBytes}
	f.written += f.bufBytes
	f.buf, f.bufBytes = nil, 0
}

// Roll completes every open file (a long-running exporter calls it at a
// time bound, so that readers get a steady stream of complete files); the
// Writer goes on with new files.
func (w *Writer) Roll() error {
	if w.err != nil {
		return w.err
	}
	w.finishAll()
	return nil
}

// finishAll hands every open file's last rows, then its completion, to
// its encoder.
func (w *Writer) finishAll() {
	for _, p := range w.sortedPartitions() {
		f := w.files[p]
		delete(w.files, p)
		w.flush(f)
		w.jobs[f.shard] <- job{f: f, finish: true}
	}
}

// stopEncoders ends the encoders and returns the first error one met.
func (w *Writer) stopEncoders() error {
	for _, jobs := range w.jobs {
		close(jobs)
	}
	var first error
	for range w.jobs {
		if err := <-w.encoded; first == nil {
			first = err
		}
	}
	return first
}

func (w *Writer) sortedPartitions() []partition {
	keys := make([]partition, 0, len(w.files))
	for p := range w.files {
		keys = append(keys, p)
	}
	slices.SortFunc(keys, func(a, b partition) int {
		return cmp.Or(strings.Compare(a.dt, b.dt), strings.Compare(a.cluster, b.cluster), strings.Compare(a.source, b.source), a.shard-b.shard)
	})
	return keys
}

// Close writes what is buffered and completes every file; it returns the
// first error of any write.
func (w *Writer) Close() error {
	w.finishAll()
	if err := w.stopEncoders(); w.err == nil {
		w.err = err
	}
	return w.err
}

// Abort removes the files not yet complete; those already complete stay,
// each whole. The Writer cannot be used after.
func (w *Writer) Abort() {
	for p, f := range w.files {
		delete(w.files, p)
		w.jobs[f.shard] <- job{f: f, abort: true}
	}
	w.err = errors.New("aborted")
	_ = w.stopEncoders() // what the encoders met no longer matters: the files go
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
	opts := []pq.WriterOption{
		pq.Compression(&zstd.Codec{Level: zstd.SpeedFastest}),
		pq.MaxRowsPerRowGroup(w.opts.RowGroupRows),
		pq.PageBufferSize(256 << 10),
	}
	// JSON blobs: min/max of a body prunes nothing and costs comparisons
	// of kilobytes per row.
	blobs := [][]string{{"requestObject"}, {"responseObject"}, {"authenticationMetadata"}, {"responseStatus", "details"}}
	if w.opts.Schema == SchemaOCSF {
		blobs = [][]string{{"api", "request", "data"}, {"api", "response", "data"}}
	}
	for _, b := range blobs {
		opts = append(opts, pq.SkipPageBounds(b...), pq.SkipPageStatistics(b...))
	}
	var pw rowWriter
	if w.opts.Schema == SchemaOCSF {
		opts = append(opts, pq.BloomFilters(pq.SplitBlockFilter(10, "api", "request", "uid")),
			pq.KeyValueMetadata("auditq.schema", "ocsf "+OCSFVersion+" api_activity"))
		pw = &ocsfWriter{GenericWriter: pq.NewGenericWriter[OCSFRow](tmp, opts...)}
	} else {
		opts = append(opts, pq.BloomFilters(pq.SplitBlockFilter(10, "auditID")),
			pq.KeyValueMetadata("auditq.schema", fmt.Sprintf("%s v%d", SchemaNative, SchemaVersion)))
		pw = nativeWriter{pq.NewGenericWriter[Row](tmp, opts...)}
	}
	pw.SetKeyValueMetadata("auditq.sorted", "true")
	return &openFile{tmp: tmp, w: pw, hash: xxhash.New(), dir: dir, source: p.source, sorted: true, shard: p.shard}, nil
}

// reorderSlack is how far behind the newest event an event may come and
// still be written in order: rows within it of the newest are held back
// for the next row group, so that a whole file is sorted by
// stageTimestamp, not just each row group. The log backend writes events
// a few milliseconds (seconds, under load) out of stage order; an event
// later than this is written where it falls and the file's metadata says
// auditq.sorted=false.
const reorderSlack = 2 * time.Second

// writeGroup sorts rows with those held back by stageTimestamp (stable: one
// request's stages keep their order) and writes them as a row group, but
// for the rows within reorderSlack of the newest, unless last.
func (f *openFile) writeGroup(rows []Row, last bool) error {
	if len(f.carry) > 0 {
		rows = append(f.carry, rows...)
		f.carry = nil
	}
	if len(rows) == 0 {
		return nil
	}
	slices.SortStableFunc(rows, func(a, b Row) int { return a.StageTimestamp.Compare(b.StageTimestamp) })
	if !last {
		limit := rows[len(rows)-1].StageTimestamp.Add(-reorderSlack)
		cut, _ := slices.BinarySearchFunc(rows, limit, func(r Row, t time.Time) int {
			if r.StageTimestamp.After(t) {
				return 1
			}
			return -1
		})
		f.carry = slices.Clone(rows[cut:])
		rows = rows[:cut]
		if len(rows) == 0 {
			return nil
		}
	}
	if !f.newest.IsZero() && rows[0].StageTimestamp.Before(f.newest) && f.sorted {
		f.sorted = false
		f.w.SetKeyValueMetadata("auditq.sorted", "false")
	}
	f.newest = rows[len(rows)-1].StageTimestamp
	if f.first.IsZero() || rows[0].StageTimestamp.Before(f.first) {
		f.first = rows[0].StageTimestamp
	}
	var b [8]byte
	for i := range rows {
		f.hash.WriteString(rows[i].AuditID)
		f.hash.WriteString(rows[i].Stage)
		binary.LittleEndian.PutUint64(b[:], uint64(rows[i].StageTimestamp.UnixNano()))
		f.hash.Write(b[:])
	}
	if err := f.w.write(rows); err != nil {
		return err
	}
	return f.w.Flush()
}

// finishFile closes the file and gives it its final name (on the encoder).
func (w *Writer) finishFile(f *openFile) error {
	if err := f.writeGroup(nil, true); err != nil { // what was held back
		f.tmp.Close()
		os.Remove(f.tmp.Name())
		return err
	}
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
	w.doneMu.Lock()
	w.done = append(w.done, final)
	w.doneMu.Unlock()
	return nil
}

// nullPartition is Hive's name for a NULL partition value: the dt of events
// without a timestamp.
const nullPartition = "__HIVE_DEFAULT_PARTITION__"

func dayOf(t time.Time) string {
	if t.IsZero() {
		return nullPartition
	}
	return t.UTC().Format(time.DateOnly)
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
