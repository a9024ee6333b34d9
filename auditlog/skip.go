package auditlog

import (
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Candidate is a rotated backup that ScanFiles or FollowFiles is about to
// read, offered to WithSkip.
type Candidate struct {
	Path string
	// Rotated is the time in the backup's name: lumberjack rotated the file
	// then, so every event in it was written before it.
	Rotated time.Time
	// Begun is the rotation time of the set's previous backup (zero for the
	// oldest): the file was started then, so its events were written after.
	Begun time.Time

	prev   string // the previous backup's path, "" for the oldest
	file   *os.File
	err    error
	opened bool
}

// Open opens the backup, once: if it is not skipped, the read takes this
// same open file, so what the caller checked (its identity, its bytes) is
// what is read, even if the path is replaced in between.
func (c *Candidate) Open() (*os.File, error) {
	if !c.opened {
		c.opened = true
		c.file, c.err = os.Open(c.Path)
	}
	return c.file, c.err
}

// untilMargin is how much earlier than the previous rotation an event of a
// backup may be stamped. Events are stamped before they are written, and the
// log backend may hold them for a while first: --audit-log-mode=batch buffers
// up to --audit-log-batch-max-wait (seconds by default), and a clock step
// moves stamps too. Fifteen minutes is far beyond either, and costs at most
// one more backup read.
const untilMargin = 15 * time.Minute

// OutsideTimes reports whether the backup cannot hold an event whose
// stageTimestamp is in [since, until] (a zero bound is open), so it need not
// be opened. It asks only the file system, never the file's content.
//
// For since this is exact: an event is stamped before it is written, and
// written before the rotation that ends its file. Both the time in the name
// and the file's modification time (no earlier than its last write) must be
// before since, so a logger that named backups in local time (lumberjack's
// LocalTime; kube-apiserver uses UTC) or a file copied later does not make
// an event disappear. For until, the file must have been begun (by the name
// of the previous backup and that backup's modification time, the earlier
// of the two) more than untilMargin after until.
func (c *Candidate) OutsideTimes(since, until time.Time) bool {
	if !since.IsZero() && !c.Rotated.IsZero() && c.Rotated.Before(since) {
		if fi, err := os.Stat(c.Path); err == nil && fi.ModTime().Before(since) {
			return true
		}
	}
	if !until.IsZero() && c.prev != "" && !c.Begun.IsZero() {
		begun := c.Begun
		if fi, err := os.Stat(c.prev); err == nil && fi.ModTime().Before(begun) {
			begun = fi.ModTime()
		}
		if begun.Add(-untilMargin).After(until) {
			return true
		}
	}
	return false
}

// WithTimeRange leaves unread the backups that cannot hold an event whose
// stageTimestamp is in [since, until], by Candidate.OutsideTimes. It replaces
// a WithSkip given before it; to combine the two, call OutsideTimes in the
// WithSkip function.
func WithTimeRange(since, until time.Time) Option {
	return WithSkip(func(c *Candidate) bool { return c.OutsideTimes(since, until) })
}

// candidates are the backups among files (as Expand lists them: each set's
// backups oldest first), with the times lumberjack's names give.
func candidates(files []string) map[string]*Candidate {
	out := map[string]*Candidate{}
	last := map[string]*Candidate{} // by set: the backup before
	for _, f := range files {
		m := backupName.FindStringSubmatch(filepath.Base(f))
		if m == nil {
			continue
		}
		t, err := time.Parse(backupTimeFormat, m[2])
		if err != nil {
			continue
		}
		c := &Candidate{Path: f, Rotated: t}
		set := SetOf(f)
		if p := last[set]; p != nil {
			c.Begun, c.prev = p.Rotated, p.Path
		}
		last[set] = c
		out[f] = c
	}
	return out
}

// pruneBackups applies cfg.skip to the backups among files: it returns the
// files to read and the ones the skip function opened. The backups are
// judged concurrently: an index lookup is a handful of system calls, and
// archives have hundreds of backups.
func pruneBackups(files []string, skip func(*Candidate) bool) (kept []string, opened map[string]*os.File) {
	opened = map[string]*os.File{}
	if skip == nil {
		return files, opened
	}
	cands := candidates(files)
	list := make([]*Candidate, 0, len(cands))
	for _, f := range files {
		if c := cands[f]; c != nil {
			list = append(list, c)
		}
	}
	skipped := make(map[*Candidate]bool, len(list))
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan *Candidate)
	for range min(len(list), pruneWorkers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range next {
				s := skip(c)
				mu.Lock()
				skipped[c] = s
				mu.Unlock()
			}
		}()
	}
	for _, c := range list {
		next <- c
	}
	close(next)
	wg.Wait()
	for _, f := range files {
		c := cands[f]
		switch {
		case c == nil:
			kept = append(kept, f)
		case skipped[c]:
			if c.file != nil {
				c.file.Close()
			}
		default:
			kept = append(kept, f)
			if c.file != nil {
				opened[f] = c.file
			}
		}
	}
	return kept, opened
}

// pruneWorkers is how many backups are judged at once.
const pruneWorkers = 8
