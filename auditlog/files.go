package auditlog

import (
	"cmp"
	"context"
	"io"
	"iter"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// backupTimeFormat is lumberjack's backupTimeFormat: backups of NAME.EXT are
// NAME-<time>.EXT, plus .gz when compressed. kube-apiserver writes the time in UTC.
const backupTimeFormat = "2006-01-02T15-04-05.000"

// backupName matches a lumberjack backup: prefix, time, extension, compression.
var backupName = regexp.MustCompile(`^(.+)-(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3})(\.[^.]*)?(\.gz|\.zst|\.zstd)?$`)

// logExtensions are the extensions a file in a directory may have to be taken as an
// audit log (before any compression suffix).
var logExtensions = []string{".log", ".json", ".jsonl", ".ndjson", ""}

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
//   - A backup, or a file that has no backups, is itself.
//   - A directory becomes the audit logs directly in it: every rotation set (the
//     backups of one name and its active file, ordered as above), one set after
//     another in name order. Outside rotation sets, only files whose name contains
//     "audit" and ends in .log, .json, .jsonl or .ndjson (optionally compressed)
//     are taken; other files (policies, notes) are left out. Subdirectories are
//     not entered.
//
// Arguments are expanded in the order given, and a file reached a second time
// (the same file by os.SameFile, through any path) is skipped, so listing an
// active log and its backups reads each file once. A path that cannot be read is
// reported in errs and the rest are still expanded.
func Expand(paths []string) (files []string, errs []error) {
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
			set, err := dirLogs(p)
			if err != nil {
				errs = append(errs, err)
			}
			for _, f := range set {
				add(f)
			}
			continue
		}
		if !backupName.MatchString(filepath.Base(p)) {
			backups, err := backupsOf(p)
			if err != nil {
				errs = append(errs, err)
			}
			for _, b := range backups {
				add(b.path)
			}
		}
		add(p)
	}
	return files, errs
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

// dirLogs lists the audit logs directly in dir, grouped into rotation sets.
func dirLogs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	type set struct {
		active  string
		backups []backup
	}
	sets := map[string]*set{} // by active name
	get := func(name string) *set {
		if sets[name] == nil {
			sets[name] = &set{}
		}
		return sets[name]
	}
	var loose []string
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() {
			continue
		}
		if e.Type()&os.ModeSymlink != 0 {
			if fi, err := os.Stat(filepath.Join(dir, n)); err == nil && fi.IsDir() {
				continue
			}
		}
		if m := backupName.FindStringSubmatch(n); m != nil {
			if t, err := time.Parse(backupTimeFormat, m[2]); err == nil {
				s := get(m[1] + m[3])
				s.backups = append(s.backups, backup{path: filepath.Join(dir, n), time: t})
				continue
			}
		}
		loose = append(loose, n)
	}
	for _, n := range loose {
		if s, ok := sets[n]; ok {
			s.active = filepath.Join(dir, n)
			continue
		}
		if looksLikeAuditLog(n) {
			get(n).active = filepath.Join(dir, n)
		}
	}
	var out []string
	for _, name := range slices.Sorted(maps.Keys(sets)) {
		s := sets[name]
		sortBackups(s.backups)
		for _, b := range s.backups {
			out = append(out, b.path)
		}
		if s.active != "" {
			out = append(out, s.active)
		}
	}
	return out, nil
}

func looksLikeAuditLog(name string) bool {
	lower := strings.ToLower(name)
	if !strings.Contains(lower, "audit") {
		return false
	}
	for _, c := range []string{".gz", ".zst", ".zstd"} {
		lower = strings.TrimSuffix(lower, c)
	}
	return slices.Contains(logExtensions, filepath.Ext(lower))
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
func fileError(err error) *ParseError {
	if pe, ok := err.(*os.PathError); ok {
		return &ParseError{File: pe.Path, Err: pe.Err, Fatal: true}
	}
	return &ParseError{Err: err, Fatal: true}
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
