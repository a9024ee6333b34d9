package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/auditq/auditq/auditlog"
)

type indexOptions struct {
	inputFlags
}

func newIndexCommand(e *env) *cobra.Command {
	o := &indexOptions{}
	cmd := &cobra.Command{
		Use:   "index [FILE|DIR]...",
		Short: "Index the rotated backups, so later questions read only those that can answer",
		Long: `Read every rotated backup of the inputs that has no index entry yet, check
every byte, and store what it holds (time range, auditIDs, users, groups,
namespaces, names, verbs, resources, codes) under the user's cache directory
($XDG_CACHE_HOME/auditq/index, never next to the logs). Then get --id and the
filters on IDs, users, service accounts, namespaces, names and time read only
the backups whose entries say they may hold a match.

Any command that reads a whole backup builds its entry as it goes (get,
and filters that name exact values, read only parts of each file and do
not). An entry is used only for the very file it was built from (device,
inode, size, modification time and a hash of its first and last 64 KiB):
a replaced or changed backup is read in full and indexed again. The active
log is never indexed. A backup with a problem gets no entry, so it is read,
and its problem reported, every time. The directory is kept under 256 MiB
($AUDITQ_INDEX_MAX_SIZE), least recently used first out; --no-index on any
command neither uses nor builds entries.

` + inputsHelp,
		Example: `  auditq index /var/log/kubernetes/
  auditq get --id 5fc50ca9-154d-4015-8557-0e6f26924de7 /var/log/kubernetes/`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runIndex(e, o, args)
		},
	}
	cmd.Flags().IntVar(&o.threads, "threads", 0, "goroutines that decompress and decode (0: one per core)")
	cmd.Flags().StringVar(&o.maxLine, "max-line-size", "64MiB", "longest line held in memory")
	return cmd
}

func runIndex(e *env, o *indexOptions, args []string) error {
	if len(args) == 0 {
		return &exitError{exitUsage, "index: give the logs or folders to index"}
	}
	s, err := newSession(e, &o.inputFlags, args)
	if err != nil {
		return err
	}
	if s.store == nil {
		s.close()
		return &exitError{exitUsage, "index: no cache directory (set XDG_CACHE_HOME or HOME)"}
	}
	for range s.events() {
	}
	files, _ := auditlog.Expand(s.paths, formats...)
	var backups, backupBytes int64
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil && isBackup(f) {
			backups++
			backupBytes += fi.Size()
		}
	}
	entries, entryBytes := indexDirSize(s.store.Dir)
	msg := fmt.Sprintf("%d backups (%s): %d indexed now, %d already; the index holds %d entries, %s",
		backups, sizeString(backupBytes), s.indexed.saved.Load(), s.indexed.found.Load(), entries, sizeString(entryBytes))
	s.write([]byte(msg + "\n"))
	return s.finish("the backups read without a problem were indexed")
}

func isBackup(path string) bool {
	_, ok := auditlog.BackupTime(path)
	return ok
}

func indexDirSize(dir string) (n int, size int64) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && !e.IsDir() {
			n++
			size += fi.Size()
		}
	}
	return n, size
}
