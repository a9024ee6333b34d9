package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/index"
	"github.com/auditq/auditq/query"
)

// inputFlags are the filter flags every subcommand shares.
type inputFlags struct {
	filter      query.Filter
	merge       bool
	strict      bool
	maxLine     string
	threads     int
	color, mono bool // jq's -C and -M
	follow      bool
	watermark   time.Duration
	noIndex     bool
}

// addFollowFlags registers --follow, for the commands that stream their output.
func (in *inputFlags) addFollowFlags(cmd *cobra.Command) {
	cmd.Flags().BoolVarP(&in.follow, "follow", "F", false, "after the input, keep reading the active logs as they grow and across rotation, until interrupted")
	cmd.Flags().DurationVar(&in.watermark, "merge-watermark", time.Second, "with --follow --merge: how long an event waits for the other inputs to catch up")
}

// colored reports whether output gets colour: on a terminal unless NO_COLOR
// is set, always with -C, never with -M (which wins, as in gojq).
func (in *inputFlags) colored(e *env) bool {
	return !in.mono && (in.color || e.stdoutTTY && !e.noColor)
}

// palette is the colours for JSON output: gojq's, or noColors.
func (in *inputFlags) palette(e *env) *palette {
	if in.colored(e) {
		return defaultPalette
	}
	return noColors
}

// addFilterFlags registers the filters. query keeps -n for jq's --null-input,
// so there the namespace filter is --namespace only.
func (in *inputFlags) addFilterFlags(cmd *cobra.Command, namespaceShort bool) {
	f := &in.filter
	fs := cmd.Flags()
	fs.BoolVar(&in.merge, "merge", false, "interleave the inputs (say, one per control-plane node) by stageTimestamp")
	fs.BoolVar(&in.strict, "strict", false, "stop at the first bad line or unreadable file (exit status 5)")
	fs.StringVar(&in.maxLine, "max-line-size", "64MiB", "longest line held in memory; longer lines are reported and skipped (bytes, or with KiB, MiB, GiB)")
	fs.BoolVar(&in.noIndex, "no-index", false, "neither use nor build the index of rotated backups (in the user's cache directory)")
	fs.IntVar(&in.threads, "threads", 0, "goroutines that decompress and decode (0: one per core; 1: sequential)")
	fs.BoolVarP(&in.color, "color-output", "C", false, "colour even when not on a terminal")
	fs.BoolVarP(&in.mono, "monochrome-output", "M", false, "no colour (NO_COLOR does the same)")
	fs.StringArrayVar(&f.ServiceAccounts, "sa", nil, "service account `NS:NAME`, NS:* or NS (every SA of the namespace)")
	fs.StringArrayVar(&f.Users, "user", nil, "username (* globs), e.g. system:node:*")
	fs.StringArrayVar(&f.Groups, "group", nil, "user group (* globs), e.g. system:masters")
	fs.StringSliceVar(&f.Verbs, "verb", nil, "verb: get, list, watch, create, update, patch, delete, deletecollection")
	fs.StringSliceVar(&f.Resources, "resource", nil, "`RESOURCE[.GROUP][/SUB]`: pods, deployments.apps, pods/exec, pods/*")
	if namespaceShort {
		fs.StringSliceVarP(&f.Namespaces, "namespace", "n", nil, "objectRef namespace (* globs)")
	} else {
		fs.StringSliceVar(&f.Namespaces, "namespace", nil, "objectRef namespace (* globs); -n is jq's --null-input here")
	}
	fs.StringArrayVar(&f.Names, "name", nil, "objectRef name (* globs)")
	fs.StringSliceVar(&f.Codes, "code", nil, "response code: 403, or a class: 4xx")
	fs.StringSliceVar(&f.Stages, "stage", nil, "stage: RequestReceived, ResponseStarted, ResponseComplete, Panic")
	fs.StringSliceVar(&f.Levels, "level", nil, "level: Metadata, Request, RequestResponse")
	fs.StringVar(&f.Since, "since", "", "events at or after `TIME` (RFC 3339, or a duration back from the newest event: 2h)")
	fs.StringVar(&f.Until, "until", "", "events at or before `TIME` (as --since)")
	fs.StringArrayVar(&f.Sources, "source", nil, "where events came from (* globs): an export's `CLUSTER/NODE`, or a file's rotation set (node1/kube-apiserver-audit.log)")
	complete := func(flag string, values ...string) {
		_ = cmd.RegisterFlagCompletionFunc(flag, func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return values, cobra.ShellCompDirectiveNoFileComp
		})
	}
	complete("verb", "get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
	complete("stage", "RequestReceived", "ResponseStarted", "ResponseComplete", "Panic")
	complete("level", "Metadata", "Request", "RequestResponse")
	complete("code", "2xx", "3xx", "4xx", "5xx", "401", "403", "404", "409", "422", "429", "500")
}

// session is one command's run: its inputs, its problems and its output.
type session struct {
	env     *env
	ctx     context.Context
	stop    context.CancelFunc
	matcher *query.Matcher
	paths   []string
	stdin   io.Reader // nil when stdin is not an input
	merge   bool      // interleave the inputs by time
	out     *bufio.Writer
	threads int // WithConcurrency
	strict  bool
	maxLine int

	mu          sync.Mutex // orders stderr between reports and the progress line
	problems    int
	stopped     bool        // --strict met a problem: read no further
	writeErr    error       // guarded by mu while following (the flusher writes too)
	writeFailed atomic.Bool // writeErr is set: readable from any goroutine
	progress    *progress
	spool       *os.File // stdin copied to a temporary file, for --since 2h
	// anyEvent: an audit event was read, whether or not it passed the filters.
	anyEvent    atomic.Bool
	consumed    bool // the inputs were read (query -n may never read them)
	interrupted bool

	follow    bool
	watermark time.Duration
	// pruned: backups were left unread (by their times or an index), so
	// finding no event read is not "no audit events in the input".
	pruned atomic.Bool

	store     *index.Store // nil: --no-index, or no cache directory
	noBodies  bool         // the command reads WithoutBodies
	builders  sync.Map     // backup path → *indexBuild, for those read whole without an entry
	building  bool
	indexed   indexStats
	stopFlush func() // ends the follow-mode flusher
}

// newSession checks the filters and the inputs; args are the FILE|DIR|- arguments.
func newSession(e *env, in *inputFlags, args []string) (*session, error) {
	m, err := in.filter.Compile()
	if err != nil {
		return nil, &exitError{exitUsage, string(escapeForTerminal([]byte(err.Error())))}
	}
	if in.threads < 0 {
		return nil, &exitError{exitUsage, fmt.Sprintf("--threads %d: want 0 (one per core) or more", in.threads)}
	}
	maxLine, err := parseSize(in.maxLine)
	if err != nil || maxLine < auditlog.MinMaxLineSize || maxLine > auditlog.MaxMaxLineSize {
		return nil, &exitError{exitUsage, fmt.Sprintf("--max-line-size %q: want a size from 64 bytes to 1GiB, such as 1048576 or 64MiB", in.maxLine)}
	}
	if in.follow && in.watermark <= 0 {
		return nil, &exitError{exitUsage, fmt.Sprintf("--merge-watermark %v: want a positive duration", in.watermark)}
	}
	s := &session{env: e, matcher: m, out: bufio.NewWriterSize(e.stdout, 256<<10), merge: in.merge, threads: in.threads, strict: in.strict, maxLine: maxLine,
		follow: in.follow, watermark: in.watermark}
	if !in.noIndex {
		if dir, err := os.UserCacheDir(); err == nil {
			s.store = &index.Store{Dir: filepath.Join(dir, "auditq", "index"), MaxBytes: indexMaxBytes()}
		}
	}
	useStdin := false
	for _, a := range args {
		if a == "-" {
			useStdin = true
		} else {
			s.paths = append(s.paths, a)
		}
	}
	if len(args) == 0 {
		if e.stdinTTY {
			return nil, &exitError{exitUsage, "no input: give a log file or directory, or pipe a log to stdin (see --help)"}
		}
		useStdin = true
	}
	if useStdin {
		s.stdin = e.stdin
	}
	s.ctx, s.stop = signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if m.Relative() {
		if err := s.resolveRelative(); err != nil {
			s.close()
			return nil, err
		}
	}
	return s, nil
}

// resolveRelative fixes --since 2h against the newest event. Standard input
// cannot be read twice, so it is spooled to a temporary file first.
func (s *session) resolveRelative() error {
	newest := query.Newest(s.ctx, s.paths, formats...)
	if s.stdin != nil {
		f, err := os.CreateTemp("", "auditq-stdin-*")
		if err != nil {
			return &exitError{exitBadInput, fmt.Sprintf("spooling stdin for --since/--until: %v", err)}
		}
		s.spool = f
		if _, err := io.Copy(f, s.stdin); err != nil {
			return &exitError{exitBadInput, fmt.Sprintf("spooling stdin for --since/--until: %v", err)}
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return &exitError{exitBadInput, err.Error()}
		}
		if t := query.NewestIn(f, formats...); t.After(newest) {
			newest = t
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return &exitError{exitBadInput, err.Error()}
		}
		s.stdin = f
	}
	if newest.IsZero() {
		newest = time.Now()
	}
	s.matcher.Resolve(newest)
	return nil
}

func (s *session) close() {
	s.stop()
	s.stopFlusher()
	if s.spool != nil {
		s.spool.Close()
		os.Remove(s.spool.Name())
	}
}

// events yields the events that pass the filters, in input order: standard
// input first, then the files; with --merge, interleaved by time. Problems are
// reported on stderr as they are met. Iteration stops early on interrupt or
// when output fails. Each event is valid until the iteration continues.
func (s *session) events(opts ...auditlog.Option) iter.Seq[*auditlog.Event] {
	return func(yield func(*auditlog.Event) bool) {
		for ev := range scanEvents[struct{}](s, nil, opts...) {
			if !yield(ev) {
				return
			}
		}
	}
}

// scanEvents is events with work: the filters and then work run on worker
// goroutines, concurrently (work must be safe for that), and each event comes
// with the slot work filled in for it. work may be nil.
func scanEvents[T any](s *session, work auditlog.WorkFunc[T], opts ...auditlog.Option) iter.Seq2[*auditlog.Event, *T] {
	return func(yield func(*auditlog.Event, *T) bool) {
		s.consumed = true
		s.startProgress()
		defer s.stopProgress()
		s.startFlusher()
		filtered, opts := readWith(s, work, opts)
		sources := sources(s, filtered, opts)
		if s.merge && len(sources) > 1 {
			if drain(s, auditlog.Merge(sources...), yield) {
				s.saveIndexes()
			}
			return
		}
		for _, src := range sources {
			if !drain(s, src, yield) {
				return
			}
		}
		s.saveIndexes()
	}
}

// readWith is work behind the session's filters and the index builders,
// and the reading options the session's flags make.
func readWith[T any](s *session, work auditlog.WorkFunc[T], opts []auditlog.Option) (auditlog.WorkFunc[T], []auditlog.Option) {
	filtered := func(ev *auditlog.Event, out *T) bool {
		if !s.anyEvent.Load() {
			s.anyEvent.Store(true)
		}
		if s.building {
			if b, ok := s.builders.Load(ev.Pos().File); ok {
				b.(*indexBuild).b.Add(ev)
			}
		}
		return s.matcher.Match(ev) && (work == nil || work(ev, out))
	}
	opts = append(opts, auditlog.WithConcurrency(s.threads), auditlog.WithMaxLineSize(s.maxLine), auditlog.WithFormats(formats...))
	if s.progress != nil {
		opts = append(opts, auditlog.WithProgress(&s.progress.done))
	}
	if lits := s.matcher.Literals(); lits != nil {
		opts = append(opts, auditlog.WithLiterals(lits...))
	}
	if skip := s.skipper(); skip != nil {
		opts = append(opts, auditlog.WithSkip(skip))
	}
	return filtered, opts
}

// canFold says whether the session's events may be folded on the workers
// (scanFolded): not when following, merging by time or reading on one
// goroutine, where events come one by one.
func (s *session) canFold() bool { return !s.follow && !s.merge && s.threads != 1 }

// scanFolded is scanEvents for a command that folds the events that pass
// the filters into partial results on the workers (auditlog.ScanFolded):
// it yields each chunk's partial (with a nil event), in input order, and
// the events of an input read sequentially one by one (with their slot),
// reporting errors as scanEvents does.
func scanFolded[T any](s *session, start func(*T), fold func(*auditlog.Event, *T), opts ...auditlog.Option) iter.Seq2[*auditlog.Event, *T] {
	return func(yield func(*auditlog.Event, *T) bool) {
		s.consumed = true
		s.startProgress()
		defer s.stopProgress()
		s.startFlusher()
		keep, opts := readWith[T](s, nil, opts)
		var srcs []iter.Seq[auditlog.Result[T]]
		if s.stdin != nil {
			srcs = append(srcs, auditlog.ScanReaderFolded(s.ctx, s.stdin, keep, start, fold, append(opts, auditlog.WithName("<stdin>"))...))
		}
		if len(s.paths) > 0 {
			srcs = append(srcs, auditlog.ScanFolded(s.ctx, s.paths, keep, start, fold, opts...))
		}
		for _, src := range srcs {
			if !drain(s, src, yield) {
				return
			}
		}
		s.saveIndexes()
	}
}

// foldEvents reads the session's events into one result: on the workers
// into partials (start, fold) that merge takes in input order when the
// session can fold, else one by one; the events of an input read in order
// go to add either way.
func foldEvents[T any](s *session, start func(*T), fold func(*auditlog.Event, *T), add func(*auditlog.Event), merge func(*T), opts ...auditlog.Option) {
	if !s.canFold() {
		for ev := range s.events(opts...) {
			add(ev)
		}
		return
	}
	for ev, p := range scanFolded(s, start, fold, opts...) {
		if ev != nil {
			add(ev)
		} else {
			merge(p)
		}
	}
}

// skipper leaves unread the backups that cannot hold a matching event: by
// the times in their names (--since, --until), or by their index entries.
// It notes the backups read whole without an entry, to index them.
func (s *session) skipper() func(*auditlog.Candidate) bool {
	since, until := s.matcher.TimeRange()
	byTime := !since.IsZero() || !until.IsZero()
	// A read with literals skips chunks: it sees too little to index.
	literals := s.matcher.Literals() != nil
	s.building = s.store != nil && !literals && !s.follow
	useIndex := s.store != nil && !s.matcher.MatchesAll()
	// A read that validates every byte may skip a backup only by an entry
	// built the same way, so that it reports the same damage.
	light := s.noBodies || literals
	if !byTime && !s.building && !useIndex {
		return nil
	}
	return func(c *auditlog.Candidate) bool {
		if byTime && c.OutsideTimes(since, until) {
			s.pruned.Store(true)
			return true
		}
		if !s.building && !useIndex {
			return false
		}
		f, err := c.Open()
		if err != nil {
			return false // the read reports it
		}
		key, err := index.KeyOf(f)
		if err != nil {
			return false
		}
		if e := s.store.Load(key); e != nil && (e.Checked || light) {
			s.indexed.found.Add(1)
			if useIndex && !s.matcher.MayMatch(e.Contents(s.matcher.ComparesValues())) {
				s.indexed.skipped.Add(1)
				if e.Events > 0 {
					s.anyEvent.Store(true)
				}
				return true
			}
			return false
		}
		if s.building {
			s.builders.Store(c.Path, &indexBuild{b: index.NewBuilder(), key: key})
		}
		return false
	}
}

// indexBuild is the entry of one backup being read whole.
type indexBuild struct {
	b   *index.Builder
	key index.Key
	bad atomic.Bool
}

type indexStats struct {
	found, skipped, saved atomic.Int64
	savedBytes            atomic.Int64
}

// saveIndexes stores the entries of the backups read whole without a
// problem, once the whole input was read.
func (s *session) saveIndexes() {
	if !s.building || s.stopped || s.interrupted || s.writeFailed.Load() || s.ctx.Err() != nil {
		return
	}
	s.builders.Range(func(path, v any) bool {
		b := v.(*indexBuild)
		if b.bad.Load() {
			return true
		}
		e := b.b.Build()
		e.Checked = !s.noBodies
		if n, err := s.store.Save(b.key, e); err == nil { // a cache that cannot be written only costs speed
			s.indexed.saved.Add(1)
			s.indexed.savedBytes.Add(n)
		}
		return true
	})
}

// indexMaxBytes is $AUDITQ_INDEX_MAX_SIZE (as --max-line-size takes it), or the default.
func indexMaxBytes() int64 {
	if v := os.Getenv("AUDITQ_INDEX_MAX_SIZE"); v != "" {
		if n, err := parseSize(v); err == nil && n > 0 {
			return int64(n)
		}
	}
	return index.DefaultMaxBytes
}

// sources are the result streams: standard input, then the files, all as one
// stream, or, to be merged, one per argument.
func sources[T any](s *session, work auditlog.WorkFunc[T], opts []auditlog.Option) []iter.Seq[auditlog.Result[T]] {
	var srcs []iter.Seq[auditlog.Result[T]]
	if s.stdin != nil {
		srcs = append(srcs, auditlog.ScanReader(s.ctx, s.stdin, work, append(opts, auditlog.WithName("<stdin>"))...))
	}
	switch {
	case len(s.paths) == 0:
	case s.follow:
		fopts := opts
		if s.merge {
			fopts = append(fopts[:len(fopts):len(fopts)], auditlog.WithMerge(s.watermark))
		}
		srcs = append(srcs, auditlog.FollowFiles(s.ctx, s.paths, work, fopts...))
	case s.merge:
		for _, p := range s.paths {
			srcs = append(srcs, auditlog.ScanFiles(s.ctx, []string{p}, work, opts...))
		}
	default:
		srcs = append(srcs, auditlog.ScanFiles(s.ctx, s.paths, work, opts...))
	}
	return srcs
}

// drain yields the events of one stream and reports its errors; it reports
// false when iteration must stop.
func drain[T any](s *session, results iter.Seq[auditlog.Result[T]], yield func(*auditlog.Event, *T) bool) bool {
	for r := range results {
		if r.Err != nil {
			var pe *auditlog.ParseError
			if errors.As(r.Err, &pe) {
				if b, ok := s.builders.Load(pe.File); ok {
					b.(*indexBuild).bad.Store(true) // a backup with a problem is read again, to report it again
				}
			}
			if errors.Is(r.Err, context.Canceled) {
				s.interrupted = true
				if !s.follow { // following ends this way
					s.report(errors.New("interrupted"))
				}
				return false
			}
			if s.report(r.Err); s.stopped {
				return false
			}
			continue
		}
		if s.writeFailed.Load() {
			return false
		}
		if !yield(r.Event, r.Out) {
			return false
		}
	}
	return !s.writeFailed.Load()
}

// report prints one problem with the input, as it is met. Files a folder
// held that are no audit logs are a notice: named, not counted.
func (s *session) report(err error) {
	var skipped *auditlog.SkippedError
	if errors.As(err, &skipped) {
		s.printError(err)
		return
	}
	s.mu.Lock()
	s.problems++
	s.mu.Unlock()
	s.printError(err)
	s.stopped = s.strict
}

// printError prints err on stderr, after the output so far.
func (s *session) printError(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.out.Flush()
	s.clearProgressLocked()
	fmt.Fprintf(s.env.stderr, "auditq: %s\n", escapeForTerminal([]byte(err.Error())))
}

// write sends data to stdout, remembering the first failure.
func (s *session) write(b []byte) {
	if s.follow {
		s.mu.Lock()
		defer s.mu.Unlock()
	}
	if s.writeErr != nil {
		return
	}
	if _, err := s.out.Write(b); err != nil {
		s.writeErr = err
		s.writeFailed.Store(true)
	}
}

// followFlushInterval bounds how long followed output waits in the buffer.
const followFlushInterval = 50 * time.Millisecond

// startFlusher, when following, flushes the output every
// followFlushInterval, so a line appears as soon as its event is read
// without a write per event while the backlog is read. A failed write (a
// closed pipe) ends the session.
func (s *session) startFlusher() {
	if !s.follow || s.stopFlush != nil {
		return
	}
	s.stopFlush = every(followFlushInterval, func() {
		s.mu.Lock()
		if s.out.Buffered() > 0 && s.writeErr == nil {
			if err := s.out.Flush(); err != nil {
				s.writeErr = err
				s.writeFailed.Store(true)
			}
		}
		failed := s.writeErr != nil
		s.mu.Unlock()
		if failed {
			s.stop()
		}
	})
}

func (s *session) stopFlusher() {
	if s.stopFlush != nil {
		s.stopFlush()
		s.stopFlush = nil
	}
}

// every calls f every d, on a goroutine of its own, until the stop it
// returns is called; stop waits for a call in progress to end.
func every(d time.Duration, f func()) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(d)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
				f()
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

// finish flushes the output and turns what happened into the command's result.
// A broken pipe (auditq … | head) is a normal end.
// finished, when set (by tests), sees each session as it ends.
var finished func(*session)

func (s *session) finish(what string) error {
	defer s.close()
	s.stopFlusher()
	if finished != nil {
		finished(s)
	}
	if err := s.out.Flush(); err != nil && s.writeErr == nil {
		s.writeErr = err
	}
	if s.writeErr != nil {
		if errors.Is(s.writeErr, syscall.EPIPE) {
			return nil
		}
		return &exitError{exitBadInput, fmt.Sprintf("write: %v", s.writeErr)}
	}
	if s.stopped {
		return &exitError{exitBadInput, "stopped at the first problem (--strict): the output covers only the input before it"}
	}
	if s.consumed && !s.anyEvent.Load() && !s.interrupted && !s.pruned.Load() {
		// Nothing read is not an empty result: say so.
		msg := "no audit events in the input"
		if s.problems > 0 {
			msg = fmt.Sprintf("%d problem(s) in the input, and no audit events in it", s.problems)
		}
		return &exitError{exitBadInput, msg}
	}
	if s.problems > 0 {
		return &exitError{exitBadInput, fmt.Sprintf("%d problem(s) in the input; %s", s.problems, what)}
	}
	return nil
}

// progress shows how far reading has gone on a terminal's stderr.
type progress struct {
	done  atomic.Int64
	total int64
	stop  func() // ends the updates
	shown bool
}

// progressThreshold is the input size below which no progress is shown: small
// inputs finish before a person would read it.
const progressThreshold = 64 << 20

func (s *session) startProgress() {
	if !s.env.stderrTTY || len(s.paths) == 0 {
		return
	}
	files, _ := auditlog.Expand(s.paths)
	var total int64
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			total += fi.Size()
		}
	}
	if total < progressThreshold {
		return
	}
	p := &progress{total: total}
	s.progress = p
	start := time.Now()
	p.stop = every(250*time.Millisecond, func() { s.showProgress(time.Since(start)) })
}

// showProgress rewrites the progress line in place.
func (s *session) showProgress(elapsed time.Duration) {
	p := s.progress
	done := p.done.Load()
	rate := float64(done) / max(elapsed.Seconds(), 1e-9) / (1 << 20)
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.env.stderr, "\r\x1b[Kauditq: read %s of %s (%d%%), %.0f MiB/s",
		sizeString(done), sizeString(p.total), done*100/max(p.total, 1), rate)
	p.shown = true
}

func (s *session) stopProgress() {
	if s.progress == nil {
		return
	}
	s.progress.stop()
	s.mu.Lock()
	s.clearProgressLocked()
	s.mu.Unlock()
	s.progress = nil
}

func (s *session) clearProgressLocked() {
	if s.progress != nil && s.progress.shown {
		fmt.Fprint(s.env.stderr, "\r\x1b[K")
		s.progress.shown = false
	}
}

func sizeString(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

// outputFlag registers -o with its choices and completion.
func outputFlag(cmd *cobra.Command, p *string, def string, choices ...string) {
	cmd.Flags().StringVarP(p, "output", "o", def, "output format: "+strings.Join(choices, ", "))
	_ = cmd.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return choices, cobra.ShellCompDirectiveNoFileComp
	})
}

func checkChoice(flag, v string, choices ...string) error {
	for _, c := range choices {
		if v == c {
			return nil
		}
	}
	return &exitError{exitUsage, fmt.Sprintf("%s %s: want one of %s", flag, quoteArg(v), strings.Join(choices, ", "))}
}

// parseSize reads a byte count: 4096, 512KiB, 64MiB, 1GiB (KB, MB, GB and
// K, M, G are taken as the same powers of 1024).
func parseSize(v string) (int, error) {
	num := strings.TrimRight(v, "KMGiBb")
	unit := strings.ToUpper(strings.TrimSuffix(strings.TrimSuffix(v[len(num):], "B"), "b"))
	n, err := strconv.Atoi(strings.TrimSpace(num))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("not a size: %q", v)
	}
	shift := map[string]int{"": 0, "K": 10, "KI": 10, "M": 20, "MI": 20, "G": 30, "GI": 30}
	sh, ok := shift[unit]
	if !ok || n > (1<<40)>>sh {
		return 0, fmt.Errorf("not a size: %q", v)
	}
	return n << sh, nil
}
