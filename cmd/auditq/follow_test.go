package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	pqgo "github.com/parquet-go/parquet-go"
	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/auditq/auditq/export/parquet"
	"github.com/auditq/auditq/internal/fixture"
)

// These tests run the built command as a user would: a real process
// following a log that a real lumberjack logger writes and rotates, ended by
// a signal or a closed pipe.

var binary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "auditq-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "auditq")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", &exec.ExitError{Stderr: out}
	}
	return bin, nil
})

func eventLines(t *testing.T, requests int) [][]byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := fixture.Write(&buf, fixture.Config{Seed: 1414, Requests: requests, ManagedFields: true}); err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(buf.Bytes(), []byte("\n"))
	return lines[:len(lines)-1]
}

type running struct {
	cmd    *exec.Cmd
	stdout *bufio.Reader
	pipe   io.ReadCloser
	stderr bytes.Buffer
}

func start(t *testing.T, args ...string) *running {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	r := &running{cmd: exec.Command(bin, args...)}
	r.cmd.Stderr = &r.stderr
	if r.pipe, err = r.cmd.StdoutPipe(); err != nil {
		t.Fatal(err)
	}
	r.stdout = bufio.NewReaderSize(r.pipe, 1<<20)
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.cmd.Process.Kill(); r.cmd.Wait() })
	return r
}

// readLines reads n lines of output, failing (not hanging) if they do not come.
func (r *running) readLines(t *testing.T, n int) []string {
	t.Helper()
	out := make(chan []string, 1)
	go func() {
		var lines []string
		for len(lines) < n {
			l, err := r.stdout.ReadString('\n')
			if err != nil {
				break
			}
			lines = append(lines, l)
		}
		out <- lines
	}()
	select {
	case lines := <-out:
		return lines
	case <-time.After(time.Minute):
		r.cmd.Process.Kill()
		t.Fatalf("fewer than %d lines of output after a minute; stderr: %s", n, r.stderr.String())
		return nil
	}
}

func (r *running) interrupt(t *testing.T, sig os.Signal) int {
	t.Helper()
	r.cmd.Process.Signal(sig)
	return r.wait(t)
}

func (r *running) wait(t *testing.T) int {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		io.Copy(io.Discard, r.stdout)
		done <- r.cmd.Wait()
	}()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(time.Minute):
		r.cmd.Process.Kill()
		t.Fatalf("still running a minute after the signal")
		return -1
	}
}

// TestCatFollowRotation: cat -F prints every line lumberjack writes, once and
// in order, across rotations and gzip, as the lines are written; SIGINT ends
// it with status 0.
func TestCatFollowRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	lines := eventLines(t, 2600)
	dir := t.TempDir()
	path := filepath.Join(dir, "kube-apiserver-audit.log")
	lj := &lumberjack.Logger{Filename: path, MaxSize: 1, Compress: true}
	defer lj.Close()
	head := len(lines) / 3
	for _, l := range lines[:head] {
		lj.Write(l)
	}
	r := start(t, "cat", "-F", path)
	got := r.readLines(t, head) // the backlog first
	for i, l := range lines[head:] {
		lj.Write(l)
		if i%500 == 0 {
			time.Sleep(30 * time.Millisecond)
		}
	}
	got = append(got, r.readLines(t, len(lines)-head)...)
	if code := r.interrupt(t, os.Interrupt); code != 0 {
		t.Errorf("exit status %d after SIGINT, want 0; stderr: %s", code, r.stderr.String())
	}
	if r.stderr.Len() > 0 {
		t.Errorf("stderr: %s", r.stderr.String())
	}
	lj.Close()
	waitForCompression(t, dir)
	if len(got) != len(lines) {
		t.Fatalf("%d lines, want %d", len(got), len(lines))
	}
	for i := range lines {
		if got[i] != string(lines[i]) {
			t.Fatalf("line %d differs:\n got %.200s\nwant %.200s", i, got[i], lines[i])
		}
	}
}

// waitForCompression waits until lumberjack's background compression has
// left no plain backup in dir, so the test's directory can be removed.
func waitForCompression(t *testing.T, dir string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		plain, _ := filepath.Glob(filepath.Join(dir, "kube-apiserver-audit-*.log"))
		if len(plain) == 0 {
			return
		}
	}
}

// TestFollowFiltersAndSigterm: filters apply to followed events; SIGTERM
// ends the command with status 0 and the output flushed.
func TestFollowFiltersAndSigterm(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	lines := eventLines(t, 800)
	var want []string
	for _, l := range lines {
		var ev struct{ Verb string }
		json.Unmarshal(l, &ev)
		if ev.Verb == "get" {
			want = append(want, string(l))
		}
	}
	path := filepath.Join(t.TempDir(), "audit.log")
	w, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r := start(t, "cat", "-F", "--verb", "get", path)
	for _, l := range lines {
		w.Write(l)
	}
	got := r.readLines(t, len(want))
	if code := r.interrupt(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0; stderr: %s", code, r.stderr.String())
	}
	if strings.Join(got, "") != strings.Join(want, "") {
		t.Errorf("got %d lines, want the %d get events in order", len(got), len(want))
	}
}

// TestSummaryFollowToPipe: to a pipe, summary -F prints one JSON summary per
// interval, and a last one at the end, counting every event written.
func TestSummaryFollowToPipe(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	lines := eventLines(t, 600)
	path := filepath.Join(t.TempDir(), "audit.log")
	w, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, l := range lines[:300] {
		w.Write(l)
	}
	r := start(t, "summary", "-F", "--interval", "100ms", path)
	var doc struct {
		Events int64 `json:"events"`
	}
	first := r.readLines(t, 1)
	if err := json.Unmarshal([]byte(first[0]), &doc); err != nil || doc.Events != 300 {
		t.Fatalf("first summary: %v, events %d, want 300: %.200s", err, doc.Events, first[0])
	}
	for _, l := range lines[300:] {
		w.Write(l)
	}
	for doc.Events != int64(len(lines)) {
		l := r.readLines(t, 1)
		if err := json.Unmarshal([]byte(l[0]), &doc); err != nil {
			t.Fatalf("not a JSON line: %v: %.200s", err, l[0])
		}
	}
	if code := r.interrupt(t, os.Interrupt); code != 0 {
		t.Errorf("exit status %d, want 0; stderr: %s", code, r.stderr.String())
	}
}

// TestGetFollowWaits: get -F --id waits for a request that is not yet in the
// log and ends by itself once its last stage is written.
func TestGetFollowWaits(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	lines := eventLines(t, 300)
	var id string
	var stages []string
	for _, l := range lines[200:] {
		var ev struct{ AuditID, Stage string }
		json.Unmarshal(l, &ev)
		if id == "" && ev.Stage == "ResponseStarted" {
			id = ev.AuditID
		}
	}
	for _, l := range lines {
		if bytes.Contains(l, []byte(id)) {
			stages = append(stages, string(l))
		}
	}
	path := filepath.Join(t.TempDir(), "audit.log")
	w, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, l := range lines[:100] {
		w.Write(l)
	}
	r := start(t, "get", "-F", "--id", id, path)
	for _, l := range lines[100:] {
		w.Write(l)
	}
	got := r.readLines(t, len(stages))
	if code := r.wait(t); code != 0 {
		t.Errorf("exit status %d, want 0; stderr: %s", code, r.stderr.String())
	}
	if strings.Join(got, "") != strings.Join(stages, "") {
		t.Errorf("got %q, want the request's %d stages", got, len(stages))
	}
}

// TestFollowBrokenPipe: when the reader of the output goes away, the
// follower ends at its next write, with status 0.
func TestFollowBrokenPipe(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	lines := eventLines(t, 300)
	path := filepath.Join(t.TempDir(), "audit.log")
	w, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Write(lines[0])
	r := start(t, "cat", "-F", path)
	r.readLines(t, 1)
	r.pipe.Close()
	for _, l := range lines[1:] {
		w.Write(l)
	}
	if code := r.wait(t); code != 0 {
		t.Errorf("exit status %d, want 0; stderr: %s", code, r.stderr.String())
	}
}

// TestConcurrentIndexers: several auditq processes indexing the same
// archive at once leave entries that every later question can trust: get
// answers from them exactly as without them.
func TestConcurrentIndexers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ledger, err := fixture.WriteRotated(dir, "kube-apiserver-audit.log", 1, true, fixture.Config{Seed: 8, Requests: 4000})
	if err != nil {
		t.Fatal(err)
	}
	active := filepath.Join(dir, "kube-apiserver-audit.log")
	env := append(os.Environ(), "XDG_CACHE_HOME="+t.TempDir())
	var cmds []*exec.Cmd
	for range 4 {
		c := exec.Command(bin, "index", active)
		c.Env = env
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, c)
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("auditq index: %v", err)
		}
	}
	for i := 0; i < len(ledger.Events); i += len(ledger.Events) / 25 {
		id := ledger.Events[i].AuditID
		run := func(extra ...string) string {
			c := exec.Command(bin, append([]string{"get", "--id", id}, append(extra, active)...)...)
			c.Env = env
			out, err := c.CombinedOutput()
			if err != nil {
				t.Fatalf("auditq get --id %s %v: %v\n%s", id, extra, err, out)
			}
			return string(out)
		}
		if with, without := run(), run("--no-index"); with != without {
			t.Fatalf("get --id %s differs with the index:\n%s\nwithout:\n%s", id, with, without)
		}
	}
}

// TestExportFollow: export -F writes complete Parquet files every --roll
// while lumberjack rotates the log under it, and on SIGINT completes the
// last; together they hold every event written, once.
func TestExportFollow(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	lines := eventLines(t, 1500)
	dir := t.TempDir()
	path := filepath.Join(dir, "kube-apiserver-audit.log")
	lj := &lumberjack.Logger{Filename: path, MaxSize: 1, Compress: true}
	defer lj.Close()
	for _, l := range lines[:500] {
		lj.Write(l)
	}
	out := t.TempDir()
	r := start(t, "export", "-F", "--roll", "1s", "--out", out, "--cluster", "c", path)
	// Complete files appear while it runs.
	deadline := time.Now().Add(time.Minute)
	for {
		done, _ := filepath.Glob(filepath.Join(out, "*", "*", "*.parquet"))
		if len(done) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no complete file a minute after start; stderr: %s", r.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, l := range lines[500:] {
		lj.Write(l)
	}
	time.Sleep(1500 * time.Millisecond) // the follower reads the rest
	if code := r.interrupt(t, os.Interrupt); code != 0 {
		t.Fatalf("exit status %d, want 0; stderr: %s", code, r.stderr.String())
	}
	lj.Close()
	waitForCompression(t, dir)
	partial, _ := filepath.Glob(filepath.Join(out, "*", "*", "*.partial"))
	if len(partial) > 0 {
		t.Errorf("partial files left: %v", partial)
	}
	files, _ := filepath.Glob(filepath.Join(out, "*", "*", "*.parquet"))
	seen := map[string]int{}
	for _, f := range files {
		rows, err := pqgo.ReadFile[parquet.Row](f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, row := range rows {
			seen[row.AuditID+" "+row.Stage]++
		}
	}
	for _, l := range lines {
		var ev struct{ AuditID, Stage string }
		json.Unmarshal(l, &ev)
		if seen[ev.AuditID+" "+ev.Stage] != 1 {
			t.Fatalf("%s %s in %d rows, want 1 (%d files)", ev.AuditID, ev.Stage, seen[ev.AuditID+" "+ev.Stage], len(files))
		}
	}
	if len(files) < 2 {
		t.Errorf("%d files: --roll did not complete files while following", len(files))
	}
}
