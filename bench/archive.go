package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/internal/fixture"
)

// The archive tasks: a control plane's 60 gzipped backups of 10 MB
// (--audit-log-maxsize=10 --audit-log-compress, about 600 MiB of events),
// asked one question again and again: how much a time range that covers the
// last two backups and the index save.

// archiveBackups is how many backups the archive has.
const archiveBackups = 60

// ensureArchive writes the archive unless it exists, with each backup's
// modification time its rotation time, as a live lumberjack leaves it.
func ensureArchive(active string, stderr io.Writer) error {
	dir := filepath.Dir(active)
	if m, _ := filepath.Glob(filepath.Join(dir, "*.gz")); len(m) >= archiveBackups {
		return nil
	}
	os.RemoveAll(dir)
	fmt.Fprintf(stderr, "bench: generating the archive in %s\n", dir)
	requests := int(float64(archiveBackups)*10.05e6) / bytesPerRequest
	ledger, err := fixture.WriteRotated(dir, filepath.Base(active), 10, true, fixture.Config{Seed: 61, Requests: requests,
		Policy: fixture.BenchPolicy, ManagedFields: true})
	if err != nil {
		return err
	}
	files, _ := auditlog.Expand([]string{active})
	for i, r := range ledger.Rotations {
		if err := os.Chtimes(files[i], r, r); err != nil {
			return err
		}
	}
	return nil
}

// archiveTasks times the questions, with the index in a cache of its own.
func (h *harness) archiveTasks(active string, stderr io.Writer) {
	cache := filepath.Join(h.dir, "cache")
	os.RemoveAll(cache)
	os.Setenv("XDG_CACHE_HOME", cache) // the commands below inherit it
	files, _ := auditlog.Expand([]string{active})
	warm(files...)
	var archiveBytes int64
	for _, f := range files[:len(files)-1] {
		if fi, err := os.Stat(f); err == nil {
			archiveBytes += fi.Size()
		}
	}
	backups := len(files) - 1
	since := ""
	if t, ok := auditlog.BackupTime(files[backups-2]); ok {
		// Just after the third-last rotation: the last two backups and the active log hold it.
		since = t.Add(time.Millisecond).Format(time.RFC3339Nano)
	}
	id, name := firstID(files[backups/2])
	run := func(task string, cmds ...[]string) {
		var base time.Duration
		for _, argv := range cmds {
			fmt.Fprintf(stderr, "bench: %s: %v\n", task, argv[1:3])
			r := h.time(argv)
			r.task, r.tool = task, "auditq "+argv[1]
			if base == 0 {
				base = r.median
			} else if base > 0 && r.median > 0 {
				r.ratio = fmt.Sprintf("%.3f", float64(r.median)/float64(base))
			}
			h.rows = append(h.rows, r)
		}
	}
	run(fmt.Sprintf("%d gzipped backups: --since covering the last two", backups),
		[]string{h.auditq, "summary", "-o", "json", "--no-index", active},
		[]string{h.auditq, "summary", "-o", "json", "--no-index", "--since", since, active})
	start := time.Now()
	out, err := exec.Command(h.auditq, "index", active).CombinedOutput()
	if err != nil {
		h.notes = append(h.notes, fmt.Sprintf("auditq index failed: %v: %s", err, out))
		return
	}
	took := time.Since(start)
	entries, _ := filepath.Glob(filepath.Join(cache, "auditq", "index", "*.idx"))
	var indexBytes int64
	for _, e := range entries {
		if fi, err := os.Stat(e); err == nil {
			indexBytes += fi.Size()
		}
	}
	h.notes = append(h.notes, fmt.Sprintf("Archive: %d gzipped backups, %.0f MiB compressed. `auditq index` took %.2f s (once); its %d entries hold %.1f KiB, %.2f%% of the gzipped backups.",
		backups, float64(archiveBytes)/(1<<20), took.Seconds(), len(entries), float64(indexBytes)/1024, 100*float64(indexBytes)/float64(archiveBytes)))
	run(fmt.Sprintf("%d gzipped backups: get --id, repeated", backups),
		[]string{h.auditq, "get", "--id", id, "--no-index", active},
		[]string{h.auditq, "get", "--id", id, active})
	if name != "" {
		run(fmt.Sprintf("%d gzipped backups: summary of one object's requests (--name)", backups),
			[]string{h.auditq, "summary", "-o", "json", "--name", name, "--no-index", active},
			[]string{h.auditq, "summary", "-o", "json", "--name", name, active})
	}
}

// firstID is the auditID and object name of the first event of a
// (compressed) file that names an object.
func firstID(path string) (id, name string) {
	rd, err := os.Open(path)
	if err != nil {
		return "", ""
	}
	defer rd.Close()
	r, err := auditlog.NewReader(bufio.NewReader(rd))
	if err != nil {
		return "", ""
	}
	for ev, err := range r.All() {
		if err != nil {
			return "", ""
		}
		if ref := ev.ObjectRef(); ref != nil && len(ref.Name) > 0 {
			return string(bytes.Clone(ev.AuditID())), string(bytes.Clone(ref.Name))
		}
	}
	return "", ""
}
