package auditlog

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// backupTimeFormat is lumberjack's backupTimeFormat: backups of NAME.EXT are
// NAME-<time>.EXT, plus .gz when compressed. kube-apiserver writes the time in UTC.
const backupTimeFormat = "2006-01-02T15-04-05.000"

// backupName matches a lumberjack backup: prefix, time, extension, compression.
var backupName = regexp.MustCompile(`^(.+)-(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3})(\.[^.]*)?(\.gz|\.zst|\.zstd)?$`)

// backup is a rotated file with the time in its name.
type backup struct {
	path string
	time time.Time
}

// Expand resolves paths into the files to read, in order:
//
//   - An active log (kube-apiserver-audit.log) becomes its lumberjack backups in
//     the same directory (kube-apiserver-audit-2006-01-02T15-04-05.000.log, with or
//     without .gz or .zst), oldest first by the time in their names, then the
//     active file itself. Backups are found for any file name, as lumberjack names
//     them for any --audit-log-path.
//   - A backup, or a file that has no backups, is itself, whatever it holds.
//   - A directory becomes the audit logs in it and in every folder below it,
//     chosen by content, whatever their names: files whose first bytes
//     (decompressed) hold kube-apiserver's events or one of formats. In each
//     folder, rotation sets are kept together (backups oldest first, then
//     the active log, which may itself be compressed, as in an OpenShift
//     must-gather's <node>-audit.log.gz), sets in name order, then the
//     folders below in name order. Symbolic links to folders are followed,
//     once. Files that hold no audit data are left out and named in a
//     *SkippedError.
//
// Arguments are expanded in the order given, and a file reached a second time
// (the same file by os.SameFile, through any path) is skipped, so listing an
// active log and its backups reads each file once. A path that cannot be read is
// reported in errs (a symbolic-link loop, a folder that cannot be listed) and
// the rest are still expanded.
func Expand(paths []string, formats ...Format) (files []string, errs []error) {
	return expand(paths, formats, true)
}

// expand is Expand; without sniff, every file in a folder is listed, which
// costs only the listing (snapshot compares two to see a rotation).
func expand(paths []string, formats []Format, sniff bool) (files []string, errs []error) {
	var seen []os.FileInfo
	add := func(p string) {
		fi, err := os.Stat(p)
		if err != nil {
			errs = append(errs, err)
			return
		}
		for _, s := range seen {
			if os.SameFile(s, fi) {
				return
			}
		}
		seen = append(seen, fi)
		files = append(files, p)
	}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if fi.IsDir() {
			w := dirWalk{formats: formats, sniff: sniff}
			w.walk(p, fi)
			for _, f := range w.files {
				add(f)
			}
			if len(w.skipped) > 0 {
				errs = append(errs, &SkippedError{Dir: p, Files: w.skipped})
			}
			errs = append(errs, w.errs...)
			continue
		}
		if !backupName.MatchString(filepath.Base(p)) {
			backups, err := backupsOf(p)
			if err != nil {
				errs = append(errs, err)
			}
			for _, b := range oneCopyEach(backups) {
				add(b.path)
			}
		}
		add(p)
	}
	return files, errs
}

// SkippedError names the files under a directory that Expand left out
// because they hold no audit data: a notice, not a failure, since every
// file that holds audit data was listed.
type SkippedError struct {
	Dir   string
	Files []string // paths
}

func (e *SkippedError) Error() string {
	names := make([]string, 0, 3)
	for _, f := range e.Files[:min(len(e.Files), 3)] {
		if r, err := filepath.Rel(e.Dir, f); err == nil {
			f = r
		}
		names = append(names, f)
	}
	more := ""
	if len(e.Files) > 3 {
		more = fmt.Sprintf(" and %d more", len(e.Files)-3)
	}
	noun := "files hold"
	if len(e.Files) == 1 {
		noun = "file holds"
	}
	return fmt.Sprintf("%s: %d %s no audit data, skipped: %s%s", e.Dir, len(e.Files), noun, strings.Join(names, ", "), more)
}

// backupsOf returns the lumberjack backups of the active log at path, oldest first.
func backupsOf(path string) ([]backup, error) {
	dir, name := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	ext := filepath.Ext(name)
	prefix := strings.TrimSuffix(name, ext) + "-"
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []backup
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasPrefix(n, prefix) {
			continue
		}
		if t, ok := backupTime(strings.TrimPrefix(n, prefix), ext); ok {
			out = append(out, backup{path: filepath.Join(filepath.Dir(path), n), time: t})
		}
	}
	sortBackups(out)
	return out, nil
}

// backupTime parses "<time><ext>[.gz|.zst|.zstd]" as lumberjack's timeFromName does.
func backupTime(rest, ext string) (time.Time, bool) {
	for _, c := range []string{".gz", ".zst", ".zstd", ""} {
		if r, ok := strings.CutSuffix(rest, ext+c); ok && len(r) == len(backupTimeFormat) {
			t, err := time.Parse(backupTimeFormat, r)
			return t, err == nil
		}
	}
	return time.Time{}, false
}

func sortBackups(bs []backup) {
	slices.SortStableFunc(bs, func(a, b backup) int {
		return cmp.Or(a.time.Compare(b.time), strings.Compare(a.path, b.path))
	})
}

// oneCopyEach keeps one file of each backup (sorted by sortBackups): the
// plain one while lumberjack is still writing its compressed copy, which is
// complete only once the plain file is removed.
func oneCopyEach(bs []backup) []backup {
	out := bs[:0:0]
	for _, b := range bs {
		if n := len(out); n > 0 && out[n-1].time.Equal(b.time) && trimCompression(out[n-1].path) == trimCompression(b.path) {
			continue
		}
		out = append(out, b)
	}
	return out
}

// dirWalk collects the audit logs of a directory tree.
type dirWalk struct {
	formats []Format
	sniff   bool          // judge files by content
	visited []os.FileInfo // folders entered, against symbolic-link loops
	files   []string
	skipped []string
	errs    []error
}

// walk lists the audit logs of dir and then of the folders below it.
func (w *dirWalk) walk(dir string, fi os.FileInfo) {
	for _, v := range w.visited {
		if os.SameFile(v, fi) {
			w.errs = append(w.errs, &os.PathError{Op: "open", Path: dir, Err: errors.New("a symbolic link loops back to a folder above it; not entered again")})
			return
		}
	}
	w.visited = append(w.visited, fi)
	entries, err := os.ReadDir(dir)
	if err != nil {
		w.errs = append(w.errs, err)
		return
	}
	type set struct {
		active  string
		backups []backup
	}
	sets := map[string]*set{} // by active name, without a compression suffix
	get := func(name string) *set {
		if sets[name] == nil {
			sets[name] = &set{}
		}
		return sets[name]
	}
	var loose, subdirs []string
	subInfo := map[string]os.FileInfo{}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		info, err := os.Stat(p) // follows symbolic links
		switch {
		case err != nil:
			w.errs = append(w.errs, err)
			continue
		case info.IsDir():
			subdirs = append(subdirs, p)
			subInfo[p] = info
			continue
		case !info.Mode().IsRegular():
			continue // a pipe or device: reading it could block
		}
		n := e.Name()
		if m := backupName.FindStringSubmatch(n); m != nil {
			if t, err := time.Parse(backupTimeFormat, m[2]); err == nil {
				s := get(m[1] + m[3])
				s.backups = append(s.backups, backup{path: p, time: t})
				continue
			}
		}
		loose = append(loose, n)
	}
	for _, n := range loose {
		if s, ok := sets[trimCompression(n)]; ok && s.active == "" {
			s.active = filepath.Join(dir, n)
			continue
		}
		get(n).active = filepath.Join(dir, n)
	}
	for _, name := range slices.Sorted(maps.Keys(sets)) {
		s := sets[name]
		sortBackups(s.backups)
		s.backups = oneCopyEach(s.backups)
		members := make([]string, 0, len(s.backups)+1)
		for _, b := range s.backups {
			members = append(members, b.path)
		}
		if s.active != "" {
			members = append(members, s.active)
		}
		for _, p := range members {
			if !w.sniff {
				w.files = append(w.files, p)
				continue
			}
			holds, empty, err := holdsAuditData(p, w.formats)
			switch {
			case err != nil:
				w.errs = append(w.errs, err)
			case holds:
				w.files = append(w.files, p)
			case empty && len(members) > 1:
				// the active log just after a rotation: nothing to read, nothing to say
			default:
				w.skipped = append(w.skipped, p)
			}
		}
	}
	for _, sub := range subdirs {
		w.walk(sub, subInfo[sub])
	}
}

func trimCompression(name string) string {
	for _, c := range []string{".gz", ".zst", ".zstd"} {
		if n, ok := strings.CutSuffix(name, c); ok {
			return n
		}
	}
	return name
}

// BackupTime reports whether path names a lumberjack backup
// (NAME-2006-01-02T15-04-05.000.EXT, maybe compressed), and its rotation time.
func BackupTime(path string) (time.Time, bool) {
	m := backupName.FindStringSubmatch(filepath.Base(path))
	if m == nil {
		return time.Time{}, false
	}
	t, err := time.Parse(backupTimeFormat, m[2])
	return t, err == nil
}

// SetOf returns the rotation set a file belongs to, as the path of its
// active log without a compression suffix: the path itself for a file
// outside a set. Backups of one log, gzipped or not, and the log share a set.
func SetOf(path string) string {
	dir, name := filepath.Split(path)
	if m := backupName.FindStringSubmatch(name); m != nil {
		if _, err := time.Parse(backupTimeFormat, m[2]); err == nil {
			return dir + m[1] + m[3]
		}
	}
	return dir + trimCompression(name)
}

// holdsAuditData reports whether the file at path starts with audit data:
// kube-apiserver's events, or a stream one of formats reads. Compressed
// files are judged by their decompressed start; a compression the Reader
// does not take is left for the Reader to report.
func holdsAuditData(path string, formats []Format) (holds, empty bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return false, false, err
	}
	defer f.Close()
	// A failure to read the file is the file's error, never "no audit
	// data"; a damaged compressed stream is for the Reader to report.
	fr := &readErr{r: f}
	br := bufio.NewReaderSize(fr, peekBufSize)
	magic, _ := br.Peek(6)
	if fr.err != nil {
		return false, false, fr.err
	}
	var in io.Reader = br
	switch {
	case len(magic) == 0:
		return false, true, nil
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return true, false, nil // damaged: the Reader reports it
		}
		var n nestedGzip
		in = n.over(zr)
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(DefaultMaxZstdWindow))
		if err != nil {
			return true, false, nil
		}
		defer zr.Close()
		in = zr
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0}), bytes.HasPrefix(magic, []byte("BZh")),
		bytes.HasPrefix(magic, []byte{0x04, 0x22, 0x4d, 0x18}):
		return true, false, nil // a compression the Reader names when it refuses it
	}
	head := make([]byte, DetectHead)
	n, _ := io.ReadFull(in, head)
	head = head[:n]
	if fr.err != nil {
		return false, false, fr.err
	}
	if len(bytes.TrimSpace(head)) == 0 {
		return false, true, nil
	}
	// Read the head as the Reader would: an audit event in it decides.
	rd, err := NewReader(bytes.NewReader(head), WithFormats(formats...))
	if err != nil {
		return false, false, err
	}
	defer rd.Close()
	for range 64 {
		ev, err := rd.Next()
		switch {
		case ev != nil:
			return true, false, nil
		case err == io.EOF:
			return false, false, nil
		case errors.Is(err, ErrTruncated) || errors.Is(err, ErrIncomplete):
			// A first event longer than the head: judge by its start.
			return looksNative(trimHead(head)) || detectFormat(head, formats) != nil, false, nil
		}
		var pe *ParseError
		if errors.As(err, &pe) && pe.Fatal {
			return false, false, nil // refused as a whole: not audit data
		}
	}
	return false, false, nil
}

// readErr keeps the first error of reading r other than io.EOF.
type readErr struct {
	r   io.Reader
	err error
}

func (e *readErr) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// ReadFiles returns a single-use iterator over the events of the files that
// Expand(paths) lists, file after file. Each event's Pos().File is its path.
// Files are decompressed and decoded by WithConcurrency goroutines (all cores
// by default); events come in file order, as a sequential read gives them.
//
// Errors are yielded as they happen and reading goes on: a path that cannot be
// opened or expanded, a bad line, a broken compressed stream (which ends only that
// file). When ctx is cancelled, the iterator yields ctx.Err() and stops.
// An event and its views are valid until the iteration continues.
func ReadFiles(ctx context.Context, paths []string, opts ...Option) iter.Seq2[*Event, error] {
	return func(yield func(*Event, error) bool) {
		for r := range ScanFiles[struct{}](ctx, paths, nil, opts...) {
			if !yield(r.Event, r.Err) {
				return
			}
		}
	}
}

// fileError reports a file that cannot be read, naming it once:
// "x.log: permission denied" rather than "x.log: open x.log: permission denied".
// A *SkippedError passes as it is.
func fileError(err error) error {
	if _, ok := err.(*SkippedError); ok {
		return err
	}
	if pe, ok := err.(*os.PathError); ok {
		return &ParseError{File: pe.Path, Err: pe.Err, Fatal: true}
	}
	return &ParseError{Err: err, Fatal: true}
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
