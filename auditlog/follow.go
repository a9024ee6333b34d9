package auditlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// Following: read a set, then keep reading its active log as it grows and
// across lumberjack's rotations. lumberjack rotates by closing the active
// file, renaming it to NAME-<time>.EXT, creating a new active file and,
// with compression on, later writing NAME-<time>.EXT.gz and only then
// removing the renamed file. So once the path names another file, the file
// being followed is complete: it is read to its end from the open
// descriptor, the backups rotated since (if the follower fell behind by
// more than one rotation) are read whole, plain if still there, else
// compressed, and the new active file is followed from its start.

// FollowFiles reads the files Expand(paths) lists, as ScanFiles does, and
// then follows the active logs among them (uncompressed files that are not
// backups): new lines are delivered within about WithPollInterval of being
// written, and when lumberjack rotates a log the follower finishes the old
// file, reads any backup it would otherwise miss, and goes on with the new
// one, so every event is delivered once, in the order of the files. Backups
// and compressed files are read once; a folder's logs are followed as they
// were when FollowFiles began.
//
// Events of several followed logs are delivered as they arrive, each log in
// its own order; with WithMerge, each path is a stream and they are
// interleaved by time. FollowFiles ends when ctx is cancelled (it then
// yields ctx.Err()) or when the caller stops; it also ends after the read if
// there is no active log to follow. An event and its views are valid until
// the iteration continues; work is called on other goroutines, concurrently.
//
// A writer that copies the log and truncates it in place (logrotate's
// copytruncate) is reported when it is seen (a file that shrank) and the
// file is read again from its start; lines written between the last read
// and the truncation are lost to any reader.
func FollowFiles[T any](ctx context.Context, paths []string, work WorkFunc[T], opts ...Option) iter.Seq[Result[T]] {
	return func(yield func(Result[T]) bool) {
		cfg, err := configOf(opts)
		if err != nil {
			yield(Result[T]{Err: err})
			return
		}
		groups := [][]string{paths}
		if cfg.watermark > 0 {
			groups = groups[:0]
			for _, p := range paths {
				groups = append(groups, []string{p})
			}
		}
		waitForPaths(ctx, paths, missingGrace, cfg.pollInterval)
		var plans []*followPlan
		defer func() {
			for _, pl := range plans {
				pl.close()
			}
		}()
		for _, g := range groups {
			pl := planFollow(g, &cfg)
			plans = append(plans, pl)
			for _, err := range pl.errs {
				if !yield(Result[T]{Err: fileError(err)}) {
					return
				}
			}
		}
		if cfg.watermark > 0 {
			followMerged(ctx, plans, work, opts, cfg, yield)
			return
		}
		if !catchUp(ctx, plans, work, opts, yield) {
			return
		}
		followTails(ctx, plans, work, cfg, yield)
	}
}

// followPlan is one stream: the files to read first, then the logs to follow.
type followPlan struct {
	srcs   []source
	tails  []*tail
	opened map[string]*os.File
	errs   []error
}

func (pl *followPlan) close() {
	for _, f := range pl.opened {
		f.Close() // those never read; closing twice is harmless
	}
	for _, t := range pl.tails {
		if t.file != nil {
			t.file.Close()
		}
	}
}

// tail is an active log being followed.
type tail struct {
	path  string
	file  *os.File // nil until the active file is opened
	off   int64    // where reading goes on
	lines int      // lines before off
	// newest is the time of the set's newest backup when file was known
	// to be the active log: backups after it were rotated since.
	newest time.Time
}

// planFollow lists paths, opens them, and chooses the logs to follow: the
// active log of every set, read first up to its last whole line.
func planFollow(paths []string, cfg *config) *followPlan {
	files, opened, listing, errs := snapshot(paths, cfg)
	pl := &followPlan{opened: opened, errs: errs}
	sets := map[string]bool{}
	for _, f := range files {
		sets[SetOf(f)] = true
	}
	followed := map[string]bool{}
	var order []string
	for _, f := range listing {
		if backupName.MatchString(filepath.Base(f)) || trimCompression(f) != f || !sets[SetOf(f)] || followed[f] {
			continue
		}
		followed[f] = true
		order = append(order, f)
	}
	// A log that does not exist (yet) is followed from when it appears, as
	// tail -F does; all its backups are read then.
	for _, p := range paths {
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) && !backupName.MatchString(filepath.Base(p)) && !followed[p] {
			followed[p] = true
			order = append(order, p)
		}
	}
	tails := map[string]*tail{}
	for _, f := range order {
		t := &tail{path: f, newest: newestBackup(listing, f)}
		if file := opened[f]; file != nil {
			if isCompressedFile(file) {
				continue // read whole, not followed
			}
			end, lines, err := lineBoundary(file)
			if err != nil {
				pl.errs = append(pl.errs, &os.PathError{Op: "read", Path: f, Err: err})
				continue
			}
			t.file, t.off, t.lines = file, end, lines
			delete(pl.opened, f)
		}
		tails[f] = t
		pl.tails = append(pl.tails, t)
	}
	for _, f := range files {
		if t := tails[f]; t != nil && t.file != nil {
			file, end := t.file, t.off
			pl.srcs = append(pl.srcs, source{name: f, open: func() (io.Reader, func(), error) {
				return io.NewSectionReader(file, 0, end), func() {}, nil
			}})
			continue
		}
		if t := tails[f]; t != nil {
			continue // not open yet: followed from its start
		}
		pl.srcs = append(pl.srcs, fileSource(f, opened[f]))
		delete(pl.opened, f) // its source closes it
	}
	return pl
}

// missingGrace is how long FollowFiles waits for a path that does not
// exist: lumberjack renames the active log before it creates the next.
const missingGrace = 500 * time.Millisecond

// waitForPaths waits, up to grace, until every path exists.
func waitForPaths(ctx context.Context, paths []string, grace, poll time.Duration) {
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		missing := false
		for _, p := range paths {
			if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
				missing = true
			}
		}
		if !missing || !sleepCtx(ctx, min(poll, 10*time.Millisecond)) {
			return
		}
	}
}

// newestBackup is the time of the newest backup of active's set in listing.
func newestBackup(listing []string, active string) time.Time {
	var newest time.Time
	set := SetOf(active)
	for _, f := range listing {
		if m := backupName.FindStringSubmatch(filepath.Base(f)); m != nil && SetOf(f) == set {
			if t, err := time.Parse(backupTimeFormat, m[2]); err == nil && t.After(newest) {
				newest = t
			}
		}
	}
	return newest
}

func isCompressedFile(f *os.File) bool {
	var magic [4]byte
	n, _ := f.ReadAt(magic[:], 0)
	return bytes.HasPrefix(magic[:n], []byte{0x1f, 0x8b}) || bytes.HasPrefix(magic[:n], []byte{0x28, 0xb5, 0x2f, 0xfd})
}

// lineBoundary returns the offset after the file's last newline and the
// number of lines before it: a line still being written is left for the
// follower.
func lineBoundary(f *os.File) (end int64, lines int, err error) {
	buf := make([]byte, 1<<20)
	var off int64
	for {
		n, err := f.ReadAt(buf, off)
		chunk := buf[:n]
		lines += bytes.Count(chunk, []byte{'\n'})
		if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
			end = off + int64(i) + 1
		}
		off += int64(n)
		if err == io.EOF {
			return end, lines, nil
		}
		if err != nil {
			return 0, 0, err
		}
	}
}

// catchUp reads what the plans' files hold now, and reports whether to go on.
func catchUp[T any](ctx context.Context, plans []*followPlan, work WorkFunc[T], opts []Option, yield func(Result[T]) bool) bool {
	halted := false
	var all []source
	for _, pl := range plans {
		all = append(all, pl.srcs...)
	}
	scan(ctx, all, work, opts, func(r Result[T]) bool {
		ok := yield(r)
		halted = !ok
		return ok
	})
	return !halted && ctx.Err() == nil
}

// tailMsg is a result of one tail, valid until ack is sent.
type tailMsg[T any] struct {
	idx int
	r   Result[T]
	at  time.Time
	ack chan struct{}
}

// followTails runs a goroutine per tail and delivers their results as they come.
func followTails[T any](ctx context.Context, plans []*followPlan, work WorkFunc[T], cfg config, yield func(Result[T]) bool) {
	var tails []*tail
	for _, pl := range plans {
		tails = append(tails, pl.tails...)
	}
	if len(tails) == 0 {
		return
	}
	inner, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	out := make(chan tailMsg[T])
	for i, t := range tails {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runTail(inner, t, i, cfg, work, out)
		}()
	}
	for {
		select {
		case m := <-out:
			if !yield(m.r) {
				return
			}
			m.ack <- struct{}{}
		case <-ctx.Done():
			yield(Result[T]{Err: ctx.Err()})
			return
		}
	}
}

// followMerged delivers the plans' streams (each the files read, then its
// logs followed) interleaved by time. The earliest event held goes out when
// every other stream holds one too, or has sent nothing for the watermark
// (it is quiet; its events may then come late).
func followMerged[T any](ctx context.Context, plans []*followPlan, work WorkFunc[T], opts []Option, cfg config, yield func(Result[T]) bool) {
	inner, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	out := make(chan tailMsg[T])
	ended := make(chan int)
	for i, pl := range plans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			send := handOff(inner, i, out)
			scan(inner, pl.srcs, work, opts, func(r Result[T]) bool {
				return inner.Err() == nil && send(r)
			})
			var tails sync.WaitGroup
			for _, t := range pl.tails {
				tails.Add(1)
				go func() {
					defer tails.Done()
					runTail(inner, t, i, cfg, work, out)
				}()
			}
			tails.Wait()
			select {
			case ended <- i:
			case <-inner.Done():
			}
		}()
	}
	queues := make([][]tailMsg[T], len(plans))
	lastSeen := make([]time.Time, len(plans))
	done := make([]bool, len(plans))
	for i := range lastSeen {
		lastSeen[i] = time.Now()
	}
	running := len(plans)
	for {
		for { // deliver the earliest event held, while it may go
			best := -1
			for i, q := range queues {
				if len(q) > 0 && (best < 0 || timeKey(q[0].r.Event) < timeKey(queues[best][0].r.Event)) {
					best = i
				}
			}
			if best < 0 {
				break
			}
			ready := true
			for i, q := range queues {
				if len(q) == 0 && !done[i] && time.Since(lastSeen[i]) < cfg.watermark {
					ready = false
				}
			}
			if !ready {
				break
			}
			m := queues[best][0]
			queues[best] = queues[best][1:]
			if !yield(m.r) {
				return
			}
			m.ack <- struct{}{}
		}
		held := false
		for _, q := range queues {
			held = held || len(q) > 0
		}
		if running == 0 && !held {
			return
		}
		var due <-chan time.Time
		var timer *time.Timer
		if held {
			var first time.Time
			for i, q := range queues {
				if len(q) == 0 && !done[i] && (first.IsZero() || lastSeen[i].Before(first)) {
					first = lastSeen[i]
				}
			}
			if !first.IsZero() {
				timer = time.NewTimer(time.Until(first.Add(cfg.watermark)))
				due = timer.C
			}
		}
		select {
		case m := <-out:
			lastSeen[m.idx] = time.Now()
			if m.r.Err != nil {
				if !yield(m.r) {
					return
				}
				m.ack <- struct{}{}
			} else {
				queues[m.idx] = append(queues[m.idx], m)
			}
		case i := <-ended:
			done[i] = true
			running--
		case <-due:
		case <-ctx.Done():
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			yield(Result[T]{Err: ctx.Err()})
			return
		}
	}
}

// handOff returns a function that passes a result to the consumer and waits
// until it is done with it (the result's event is valid until then); false
// when ctx ends first.
func handOff[T any](ctx context.Context, idx int, out chan<- tailMsg[T]) func(Result[T]) bool {
	ack := make(chan struct{}, 1)
	return func(r Result[T]) bool {
		select {
		case out <- tailMsg[T]{idx: idx, r: r, at: time.Now(), ack: ack}:
		case <-ctx.Done():
			return false
		}
		select {
		case <-ack:
			return true
		case <-ctx.Done():
			return false
		}
	}
}

// runTail follows one active log through its rotations until ctx ends.
func runTail[T any](ctx context.Context, t *tail, idx int, cfg config, work WorkFunc[T], out chan<- tailMsg[T]) {
	var slot T
	send := handOff(ctx, idx, out)
	cfg.progress = nil
	rd := &Reader{cfg: cfg}
	rd.evp = &rd.ev
	defer rd.Close()
	// read delivers the events of one stream, and reports whether to go on.
	read := func() bool {
		for {
			ev, err := rd.Next()
			if ctx.Err() != nil {
				return false
			}
			if err == io.EOF {
				return true
			}
			if err != nil {
				if !send(Result[T]{Err: err}) {
					return false
				}
				continue
			}
			if work != nil && !work(ev, &slot) {
				continue
			}
			if !send(Result[T]{Event: ev, Out: &slot}) {
				return false
			}
		}
	}
	var finished os.FileInfo // the file just followed to its end
	var finishedFile *os.File
	defer func() {
		if finishedFile != nil {
			finishedFile.Close()
		}
	}()
	for {
		if t.file == nil {
			missed, err := t.reopen(ctx, cfg.pollInterval, finished)
			if finishedFile != nil {
				finishedFile.Close()
				finishedFile = nil
			}
			if err != nil {
				return // ctx ended
			}
			for _, b := range missed {
				f, path, err := openBackup(b)
				if err != nil {
					if !send(Result[T]{Err: &ParseError{File: path, Err: fmt.Errorf("rotated away before it could be read: its events are missing (%w)", err), Fatal: true}}) {
						return
					}
					continue
				}
				rd.cfg.follow, rd.cfg.name = false, path
				rd.Reset(f)
				ok := read()
				f.Close()
				if !ok {
					return
				}
			}
		}
		tr := &tailReader{ctx: ctx, f: t.file, path: t.path, poll: cfg.pollInterval, pos: t.off}
		if fi, err := t.file.Stat(); err == nil {
			tr.fi = fi
		}
		if _, err := t.file.Seek(t.off, io.SeekStart); err != nil {
			if !send(Result[T]{Err: fileError(&os.PathError{Op: "seek", Path: t.path, Err: err})}) {
				return
			}
		}
		rd.cfg.follow, rd.cfg.name = true, t.path
		rd.Reset(tr)
		rd.base, rd.line = t.off, t.lines
		if t.off > 0 {
			rd.bomDone, rd.started = true, true
		}
		if !read() {
			return
		}
		// Kept open until the next file is found: while it is open, its
		// inode cannot be reused by a later backup and mistaken for it.
		if finishedFile != nil {
			finishedFile.Close()
		}
		finished, finishedFile = tr.fi, t.file
		t.file = nil
		if tr.truncated {
			err := fmt.Errorf("truncated while followed (copied and truncated in place?): read again from its start; lines written between the last read and the truncation are lost")
			if !send(Result[T]{Err: &ParseError{File: t.path, Offset: tr.pos, Err: err}}) {
				return
			}
		}
	}
}

// backupGroup is one rotation's backup: its plain file and compressed copies.
type backupGroup struct {
	time  time.Time
	paths []string // plain first
}

// openBackup opens the plain file of a backup if lumberjack has not yet
// removed it (its compressed copy may still be being written), else the
// compressed one, which is complete once the plain file is gone.
func openBackup(b backupGroup) (*os.File, string, error) {
	var firstErr error
	paths := b.paths
	if p := b.paths[0]; trimCompression(p) == p {
		// Compressed since it was listed.
		paths = append(paths[:len(paths):len(paths)], p+".gz", p+".zst", p+".zstd")
	}
	for _, p := range paths {
		f, err := os.Open(p)
		if err == nil {
			return f, p, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, b.paths[0], firstErr
}

// reopen waits for the active log to exist and opens it, returning the
// backups rotated since t.newest that were not the file just finished.
func (t *tail) reopen(ctx context.Context, poll time.Duration, finished os.FileInfo) ([]backupGroup, error) {
	for {
		before, _ := backupsOf(t.path)
		f, err := os.Open(t.path)
		if err != nil {
			if !sleepCtx(ctx, poll) {
				return nil, ctx.Err()
			}
			continue // mid-rotation (renamed, not yet created), or gone for now
		}
		after, _ := backupsOf(t.path)
		if !slices.Equal(before, after) {
			f.Close()
			continue // rotated again while opening
		}
		groups := groupBackups(after, t.newest)
		skip := 0
		if len(groups) > 0 {
			skip = 1 // the earliest rotation since is the file just finished…
			for i, g := range groups {
				if fi, err := os.Stat(g.paths[0]); err == nil && finished != nil && os.SameFile(fi, finished) {
					skip = i + 1 // …unless the file itself says otherwise
				}
			}
			t.newest = groups[len(groups)-1].time
		}
		if finished == nil {
			skip = 0 // an active log that did not exist before: nothing was read
		}
		t.file, t.off, t.lines = f, 0, 0
		return groups[skip:], nil
	}
}

// groupBackups groups the backups after since by rotation time, plain file first.
func groupBackups(bs []backup, since time.Time) []backupGroup {
	var out []backupGroup
	for _, b := range bs {
		if !b.time.After(since) {
			continue
		}
		if n := len(out); n > 0 && out[n-1].time.Equal(b.time) {
			out[n-1].paths = append(out[n-1].paths, b.path)
		} else {
			out = append(out, backupGroup{time: b.time, paths: []string{b.path}})
		}
	}
	for i := range out {
		slices.SortStableFunc(out[i].paths, func(a, b string) int {
			return boolInt(trimCompression(a) != a) - boolInt(trimCompression(b) != b)
		})
	}
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// tailReader reads a followed file: at its end it waits for more, until
// the path names another file (a rotation), then reads what is left and
// ends.
type tailReader struct {
	ctx       context.Context
	f         *os.File
	fi        os.FileInfo
	path      string
	poll      time.Duration
	pos       int64
	final     bool // rotated: read to the end and stop
	graced    bool // looked once more after a pause, for a late write
	truncated bool
}

func (tr *tailReader) Read(p []byte) (int, error) {
	for {
		n, err := tr.f.Read(p)
		tr.pos += int64(n)
		if n > 0 {
			return n, nil
		}
		if err != nil && err != io.EOF {
			return 0, err
		}
		if tr.ctx.Err() != nil {
			return 0, tr.ctx.Err()
		}
		if tr.final {
			if tr.graced {
				return 0, io.EOF
			}
			// lumberjack closes before it renames; a writer that reopens
			// on a signal may still append for a moment.
			tr.graced = true
		} else if tr.rotated() {
			tr.final = true
			continue
		} else if fi, err := tr.f.Stat(); err == nil && fi.Size() < tr.pos {
			tr.truncated = true
			return 0, io.EOF
		}
		if !sleepCtx(tr.ctx, tr.poll) {
			return 0, tr.ctx.Err()
		}
	}
}

// rotated reports whether the path now names another file. A missing path
// is a rotation in progress (or a deleted log): wait for what comes next.
func (tr *tailReader) rotated() bool {
	if tr.fi == nil {
		return false
	}
	fi, err := os.Stat(tr.path)
	return err == nil && !os.SameFile(fi, tr.fi)
}
