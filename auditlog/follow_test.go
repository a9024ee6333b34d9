package auditlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/auditq/auditq/internal/fixture"
)

// generatedLines returns lines of events as kube-apiserver's log backend
// writes them, and each line's "auditID stage".
var generatedLines = sync.OnceValues(func() ([][]byte, error) {
	var buf bytes.Buffer
	if _, err := fixture.Write(&buf, fixture.Config{Seed: 14, Requests: 3200, ManagedFields: true}); err != nil {
		return nil, err
	}
	lines := bytes.SplitAfter(buf.Bytes(), []byte("\n"))
	return lines[:len(lines)-1], nil // after the last newline: nothing
})

func lineKey(t *testing.T, line []byte) string {
	t.Helper()
	rd, err := NewReader(bytes.NewReader(line))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := rd.Next()
	if err != nil {
		t.Fatalf("fixture line: %v", err)
	}
	return string(ev.AuditID()) + " " + string(ev.Stage())
}

// follower collects what FollowFiles delivers until it has want events.
type follower struct {
	mu     sync.Mutex
	got    []string
	times  []time.Time
	nodes  []string
	errs   []error
	done   chan struct{}
	cancel context.CancelFunc
	// lag, if set, is called after each event (a slow consumer).
	lag func(n int)
}

func startFollower(t *testing.T, paths []string, want int, lag func(int), opts ...Option) *follower {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &follower{done: make(chan struct{}), cancel: cancel, lag: lag}
	opts = append([]Option{WithPollInterval(5 * time.Millisecond)}, opts...)
	go func() {
		defer close(f.done)
		for r := range FollowFiles[struct{}](ctx, paths, nil, opts...) {
			f.mu.Lock()
			if r.Err != nil {
				if !errors.Is(r.Err, context.Canceled) {
					f.errs = append(f.errs, r.Err)
				}
			} else {
				f.got = append(f.got, string(r.Event.AuditID())+" "+string(r.Event.Stage()))
				f.times = append(f.times, r.Event.Time())
				f.nodes = append(f.nodes, filepath.Base(filepath.Dir(r.Event.Pos().File)))
			}
			n := len(f.got)
			f.mu.Unlock()
			if n == want && r.Err == nil {
				cancel()
			}
			if f.lag != nil && r.Err == nil {
				f.lag(n)
			}
		}
	}()
	return f
}

// wait waits for the follower to end (a deadline turns a hang into a
// failure; it measures nothing).
func (f *follower) wait(t *testing.T) ([]string, []error) {
	t.Helper()
	select {
	case <-f.done:
	case <-time.After(time.Minute):
		f.cancel()
		<-f.done
		t.Errorf("follower still waiting after a minute with %d events", len(f.got))
	}
	return f.got, f.errs
}

func compareSequences(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d events, want %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Fatalf("event %d: got %q, want %q (the first difference)", i, got[i], want[i])
		}
	}
}

// TestFollowLumberjack follows a log that a real lumberjack logger writes,
// rotates at 1 MB and gzips, with a writer that goes fast and slow and a
// reader that sometimes falls several rotations behind: every event must come
// exactly once, in the order written.
func TestFollowLumberjack(t *testing.T) {
	lines, err := generatedLines()
	if err != nil {
		t.Fatal(err)
	}
	want := make([]string, len(lines))
	for i, l := range lines {
		want[i] = lineKey(t, l)
	}
	for _, tc := range []struct {
		name     string
		compress bool
		lagging  bool // the consumer stalls while several rotations happen
	}{
		{"gzip", true, false},
		{"plain", false, false},
		{"gzip lagging", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "kube-apiserver-audit.log")
			lj := &lumberjack.Logger{Filename: path, MaxSize: 1, Compress: tc.compress}
			defer lj.Close()
			rng := rand.New(rand.NewPCG(14, 1))
			// A first part, with a rotation, before the follower starts.
			head := len(lines) / 4
			for _, l := range lines[:head] {
				if _, err := lj.Write(l); err != nil {
					t.Fatal(err)
				}
			}
			var lag func(int)
			if tc.lagging {
				lag = func(n int) {
					if n%700 == 0 {
						time.Sleep(300 * time.Millisecond)
					}
				}
			}
			f := startFollower(t, []string{path}, len(lines), lag)
			for i, l := range lines[head:] {
				if _, err := lj.Write(l); err != nil {
					t.Fatal(err)
				}
				switch r := rng.IntN(1000); {
				case r < 3:
					time.Sleep(time.Duration(rng.IntN(80)) * time.Millisecond) // a pause
				case r < 60 && !tc.lagging:
					time.Sleep(time.Duration(rng.IntN(300)) * time.Microsecond)
				}
				_ = i
			}
			got, errs := f.wait(t)
			for _, err := range errs {
				t.Errorf("error: %v", err)
			}
			compareSequences(t, got, want)
			backups, _ := backupsOf(path)
			if len(backups) < 3 {
				t.Errorf("only %d rotations: the test does not exercise rotation", len(backups))
			}
			lj.Close()
			settle(t, path, tc.compress)
		})
	}
}

// settle waits for lumberjack's background compression to finish, so that
// the test's directory can be removed.
func settle(t *testing.T, active string, compress bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); compress && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		backups, _ := backupsOf(active)
		plain := false
		for _, b := range backups {
			plain = plain || trimCompression(b.path) == b.path
		}
		if !plain {
			return
		}
	}
}

// TestFollowPartialLines: a line written in pieces is delivered once whole,
// and the events of a followed file keep their lines and offsets.
func TestFollowPartialLines(t *testing.T) {
	lines, err := generatedLines()
	if err != nil {
		t.Fatal(err)
	}
	lines = lines[:200]
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	w, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, l := range lines[:50] {
		w.Write(l)
	}
	w.Write(lines[50][:10]) // a line being written when the follower starts
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type pos struct {
		line int
		off  int64
	}
	var got []pos
	var errs []error
	done := make(chan struct{})
	go func() {
		defer close(done)
		for r := range FollowFiles[struct{}](ctx, []string{path}, nil, WithPollInterval(2*time.Millisecond)) {
			if r.Err != nil {
				if !errors.Is(r.Err, context.Canceled) {
					errs = append(errs, r.Err)
				}
				continue
			}
			got = append(got, pos{r.Event.Pos().Line, r.Event.Pos().Offset})
			if len(got) == len(lines) {
				cancel()
			}
		}
	}()
	time.Sleep(20 * time.Millisecond)
	w.Write(lines[50][10:])
	for _, l := range lines[51:] {
		half := len(l) / 2
		w.Write(l[:half])
		time.Sleep(100 * time.Microsecond)
		w.Write(l[half:])
	}
	select {
	case <-done:
	case <-time.After(time.Minute):
		cancel()
		<-done
		t.Fatalf("follower did not finish: %d of %d events", len(got), len(lines))
	}
	for _, err := range errs {
		t.Errorf("error: %v", err)
	}
	var off int64
	for i, l := range lines {
		if i >= len(got) {
			break
		}
		if got[i] != (pos{i + 1, off}) {
			t.Fatalf("event %d at line %d offset %d, want line %d offset %d", i, got[i].line, got[i].off, i+1, off)
		}
		off += int64(len(l))
	}
	if len(got) != len(lines) {
		t.Errorf("got %d events, want %d", len(got), len(lines))
	}
}

// TestFollowMerge follows three nodes' logs at once, merged by time with a
// watermark: every event once, each node's in its order, and the whole in
// time order when the nodes write in step.
func TestFollowMerge(t *testing.T) {
	lines, err := generatedLines()
	if err != nil {
		t.Fatal(err)
	}
	lines = lines[:900]
	dir := t.TempDir()
	var paths []string
	var writers []*os.File
	for n := range 3 {
		p := filepath.Join(dir, fmt.Sprintf("node%d", n), "audit.log")
		os.MkdirAll(filepath.Dir(p), 0o755)
		w, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		paths = append(paths, p)
		writers = append(writers, w)
	}
	// Node n writes every third line: in step, the merge restores the order.
	for i, l := range lines[:300] {
		writers[i%3].Write(l)
	}
	want := make([]string, len(lines))
	for i, l := range lines {
		want[i] = lineKey(t, l)
	}
	f := startFollower(t, paths, len(lines), nil, WithMerge(2*time.Second))
	for i := 300; i < len(lines); i += 3 {
		for n := range 3 {
			writers[n].Write(lines[i+n])
		}
		if i%60 == 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	got, errs := f.wait(t)
	for _, err := range errs {
		t.Errorf("error: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	// Each node's events in its own order, all of them once.
	seen := map[string]int{}
	for _, k := range got {
		seen[k]++
	}
	for _, k := range want {
		if seen[k] != 1 {
			t.Fatalf("%s delivered %d times", k, seen[k])
		}
	}
	// Each node's own order is kept, and, as the nodes write in step and the
	// watermark is longer than any stall here, the whole is in time order.
	for n := range 3 {
		var mine, wantMine []string
		for i, k := range got {
			if f.nodes[i] == fmt.Sprintf("node%d", n) {
				mine = append(mine, k)
			}
		}
		for i := n; i < len(want); i += 3 {
			wantMine = append(wantMine, want[i])
		}
		compareSequences(t, mine, wantMine)
	}
	for i := 1; i < len(f.times); i++ {
		if f.times[i].Before(f.times[i-1]) {
			t.Fatalf("event %d (%v) delivered after a later one (%v)", i, f.times[i], f.times[i-1])
		}
	}
}

// collect follows paths until want events came, or a minute passed.
func collect(t *testing.T, paths []string, want int, write func()) (got []string, errs []error) {
	t.Helper()
	f := startFollower(t, paths, want, nil)
	write()
	return f.wait(t)
}

// TestFollowFolder: a folder's active logs are followed, the empty one
// just after a rotation included, each in its own order.
func TestFollowFolder(t *testing.T) {
	lines, err := generatedLines()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	a, _ := os.Create(filepath.Join(dir, "node-a-audit.log"))
	defer a.Close()
	for _, l := range lines[:10] {
		a.Write(l)
	}
	// node b: a backup and an empty active log, as right after a rotation.
	os.WriteFile(filepath.Join(dir, "node-b-audit-2026-11-20T08-00-00.000.log"), bytes.Join(lines[10:20], nil), 0o644)
	b, _ := os.Create(filepath.Join(dir, "node-b-audit.log"))
	defer b.Close()
	got, errs := collect(t, []string{dir}, 60, func() {
		for i, l := range lines[20:60] {
			if i%2 == 0 {
				a.Write(l)
			} else {
				b.Write(l)
			}
		}
	})
	for _, err := range errs {
		t.Errorf("error: %v", err)
	}
	if len(got) != 60 {
		t.Fatalf("%d events, want 60", len(got))
	}
	seen := map[string]bool{}
	for _, k := range got {
		seen[k] = true
	}
	for _, l := range lines[:60] {
		if !seen[lineKey(t, l)] {
			t.Fatalf("%s not delivered", lineKey(t, l))
		}
	}
}

// TestFollowTruncated: a log truncated in place (copytruncate) is reported
// and read again from its start.
func TestFollowTruncated(t *testing.T) {
	lines, err := generatedLines()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "audit.log")
	w, _ := os.Create(path)
	defer w.Close()
	for _, l := range lines[:20] {
		w.Write(l)
	}
	f := startFollower(t, []string{path}, 30, nil)
	for {
		f.mu.Lock()
		n := len(f.got)
		f.mu.Unlock()
		if n == 20 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	w.Truncate(0)
	w.Seek(0, 0)
	for _, l := range lines[20:30] {
		w.Write(l)
	}
	got, errs := f.wait(t)
	want := make([]string, 30)
	for i, l := range lines[:30] {
		want[i] = lineKey(t, l)
	}
	compareSequences(t, got, want)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "truncated while followed") {
		t.Errorf("errors %v, want one about the truncation", errs)
	}
}
