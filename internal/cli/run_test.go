package cli

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/zstd"

	"github.com/auditq/auditq/internal/audittest"
)

// TestCatRotatedSet: `auditq cat ACTIVE` prints what `zcat -f` of the backups,
// oldest first, and the active log print.
func TestCatRotatedSet(t *testing.T) {
	dir := filepath.Dir(audittest.Rotated())
	backups, _ := filepath.Glob(filepath.Join(dir, "*.log.gz"))
	if len(backups) < 2 {
		t.Fatalf("fixture backups missing: %v", backups)
	}
	var want bytes.Buffer
	for _, b := range backups { // Glob sorts; lumberjack's UTC names sort by time
		f, _ := os.Open(b)
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(&want, zr)
		f.Close()
	}
	active, _ := os.ReadFile(filepath.Join(dir, "kube-apiserver-audit.log"))
	want.Write(active)

	var out, errOut bytes.Buffer
	if status := Run([]string{"cat", filepath.Join(dir, "kube-apiserver-audit.log")}, nil, &out, &errOut); status != 0 {
		t.Fatalf("status %d: %s", status, errOut.String())
	}
	if !bytes.Equal(want.Bytes(), out.Bytes()) {
		t.Errorf("output (%d bytes, %d lines) differs from zcat -f of the set (%d bytes, %d lines)",
			out.Len(), bytes.Count(out.Bytes(), []byte("\n")), want.Len(), bytes.Count(want.Bytes(), []byte("\n")))
	}
}

func TestEscapeForTerminal(t *testing.T) {
	for in, want := range map[string]string{
		"plain ascii, tab\tok":       "plain ascii, tab\tok",
		"ünïcödé stays":              "ünïcödé stays",
		"esc \x1b[31mred":            `esc \u001b[31mred`,
		"osc \x1b]8;;http://x\x07":   `osc \u001b]8;;http://x\u0007`,
		"c1 csi \u009b31m, del \x7f": `c1 csi \u009b31m, del \u007f`,
		"bad utf-8 \x9b\xff":         `bad utf-8 \x9b\xff`,
		"newline\nand cr\r":          `newline\u000aand cr\u000d`,
		"line separator \u2028":      `line separator \u2028`,
	} {
		if got := string(escapeForTerminal([]byte(in))); got != want {
			t.Errorf("escapeForTerminal(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCompressedStdinAndSeveralNodes: gzip and zstd on stdin are detected from
// the content, and several nodes' directories given together are all read.
func TestCompressedStdinAndSeveralNodes(t *testing.T) {
	small, err := os.ReadFile(filepath.Join("testdata", "small.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var gz, zst bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(small)
	zw.Close()
	enc, _ := zstd.NewWriter(&zst)
	enc.Write(small)
	enc.Close()
	for name, in := range map[string][]byte{"gzip": gz.Bytes(), "zstd": zst.Bytes()} {
		var out, errOut bytes.Buffer
		code := runEnv([]string{"query", "-r", ".auditID[:2]"}, &env{stdin: bytes.NewReader(in), stdout: &out, stderr: &errOut})
		if code != 0 || out.String() != "11\n22\n33\n44\n44\n55\n" {
			t.Errorf("%s stdin: exit %d, stdout %q, stderr %q", name, code, out.String(), errOut.String())
		}
	}

	// Two control-plane nodes, each with its own rotated set.
	src := filepath.Dir(audittest.Rotated())
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	for _, node := range []string{"node-a", "node-b"} {
		os.Mkdir(filepath.Join(tmp, node), 0o755)
		for _, e := range entries {
			data, err := os.ReadFile(filepath.Join(src, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(tmp, node, e.Name()), data, 0o644)
		}
	}
	one := summaryJSON(t, filepath.Join(src, "kube-apiserver-audit.log"))
	two := summaryJSON(t, filepath.Join(tmp, "node-a"), filepath.Join(tmp, "node-b", "kube-apiserver-audit.log"))
	if one.Events == 0 || two.Events != 2*one.Events || two.Requests != one.Requests {
		t.Errorf("one node: %d events, %d requests; two copies: %d events, %d requests",
			one.Events, one.Requests, two.Events, two.Requests)
	}
}

func summaryJSON(t *testing.T, paths ...string) (s struct{ Events, Requests int64 }) {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := runEnv(append([]string{"summary", "-o", "json"}, paths...), &env{stdin: bytes.NewReader(nil), stdout: &out, stderr: &errOut}); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestProgressLine: the progress line is rewritten in place, and a problem
// reported while it shows first erases it, so messages stay one per line.
func TestProgressLine(t *testing.T) {
	var errOut bytes.Buffer
	s := &session{env: &env{stderr: &errOut}, out: bufio.NewWriter(io.Discard),
		progress: &progress{total: 300 << 20}}
	s.progress.done.Store(150 << 20)
	s.showProgress(2 * time.Second)
	s.report(errors.New("x.log:3:1: bad line"))
	want := "\r\x1b[Kauditq: read 150 MiB of 300 MiB (50%), 75 MiB/s\r\x1b[Kauditq: x.log:3:1: bad line\n"
	if got := errOut.String(); got != want {
		t.Errorf("stderr %q, want %q", got, want)
	}
}

// TestMergeByTime: two nodes' logs, each in time order, come out as one
// time-ordered stream with --merge, and one after the other without it.
func TestMergeByTime(t *testing.T) {
	small, err := os.ReadFile(filepath.Join("testdata", "small.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(small), "\n")
	var a, b strings.Builder
	for i, l := range lines {
		if i%2 == 0 {
			a.WriteString(l)
		} else {
			b.WriteString(l)
		}
	}
	dir := t.TempDir()
	nodeA, nodeB := filepath.Join(dir, "node-a-audit.log"), filepath.Join(dir, "node-b-audit.log")
	os.WriteFile(nodeA, []byte(a.String()), 0o644)
	os.WriteFile(nodeB, []byte(b.String()+"{broken\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"cat", "--merge", nodeB, nodeA}, string(small)},
		{[]string{"cat", nodeA, nodeB}, a.String() + b.String()},
	} {
		var out, errOut bytes.Buffer
		code := runEnv(tc.args, &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut})
		if code != exitBadInput || !strings.Contains(errOut.String(), "node-b-audit.log:4:2:") {
			t.Errorf("%v: exit %d, stderr %q: the broken line must be reported", tc.args, code, errOut.String())
		}
		if out.String() != tc.want {
			t.Errorf("%v:\n%s", tc.args, cmp.Diff(tc.want, out.String()))
		}
	}
}

// TestColorizeJSONMatchesEncoder: colouring bytes in place gives exactly what
// the gojq-style encoder gives when it colours the values itself.
func TestColorizeJSONMatchesEncoder(t *testing.T) {
	for _, indent := range []string{"-c", "--indent=2"} {
		var mono, color, errOut bytes.Buffer
		path := audittest.Rotated()
		if runEnv([]string{"query", "-M", indent, ".", path}, &env{stdout: &mono, stderr: &errOut}) != 0 ||
			runEnv([]string{"query", "-C", indent, ".", path}, &env{stdout: &color, stderr: &errOut}) != 0 {
			t.Fatal(errOut.String())
		}
		if got := colorizeJSON(nil, mono.Bytes(), defaultPalette); !bytes.Equal(got, color.Bytes()) {
			t.Errorf("%s: colorizeJSON differs from the encoder at byte %d", indent, firstDiff(got, color.Bytes()))
		}
	}
}

// TestThreadsGiveTheSameOutput: every command prints the same bytes, the same
// problems and the same exit status whether it reads on one goroutine or on
// many, over a rotated set with bad lines in it (so that output, errors and
// halts from many chunks in flight must come out in input order).
func TestThreadsGiveTheSameOutput(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Dir(audittest.Rotated())
	backups, _ := filepath.Glob(filepath.Join(src, "*.log.gz"))
	for _, b := range backups {
		data, _ := os.ReadFile(b)
		os.WriteFile(filepath.Join(dir, filepath.Base(b)), data, 0o644)
	}
	active, _ := os.ReadFile(filepath.Join(src, "kube-apiserver-audit.log"))
	lines := bytes.SplitAfter(active, []byte("\n"))
	var broken bytes.Buffer
	for i, l := range lines {
		broken.Write(l)
		if i%20 == 10 {
			broken.WriteString(`{"kind":"Event","auditID":` + "\n") // cut short
			broken.WriteString(`{"kind":"Event","auditID":"x","responseStatus":{"code":"200"}}` + "\n")
		}
	}
	var first struct{ AuditID string }
	json.Unmarshal(lines[0], &first)
	activePath := filepath.Join(dir, "kube-apiserver-audit.log")
	os.WriteFile(activePath, broken.Bytes(), 0o644)
	for _, args := range [][]string{
		{"cat", activePath},
		{"cat", "--verb", "delete", "--code", "2xx", activePath},
		{"summary", "-o", "json", activePath},
		{"get", "--id", first.AuditID, "--id", "x", activePath},
		{"query", "-c", `[.auditID,.verb,.requestURI,.user.username,.responseStatus.code,.stageTimestamp]`, activePath},
		{"query", "-c", `select(.verb == "delete")`, activePath},
		{"query", "-r", `if .verb == "delete" then error("stop at \(.auditID)") else .stage end`, activePath},
		{"query", "-e", `.responseStatus.code == 200`, activePath},
		{"query", `if .verb == "patch" then halt_error else .auditID end`, activePath},
		{"query", "-c", "--merge", `.auditID`, activePath, filepath.Join(src, "kube-apiserver-audit.log")},
	} {
		type result struct {
			Status      int
			Out, Stderr string
		}
		runWith := func(threads string) result {
			var out, errOut bytes.Buffer
			a := append([]string{args[0], "--threads", threads}, args[1:]...)
			status := Run(a, nil, &out, &errOut)
			return result{status, out.String(), errOut.String()}
		}
		want := runWith("1")
		if len(want.Out) == 0 || want.Stderr == "" {
			t.Errorf("%q: sequential output %d bytes, stderr %q: the case tests too little", args, len(want.Out), want.Stderr)
		}
		for _, threads := range []string{"2", "5"} {
			if diff := cmp.Diff(want, runWith(threads)); diff != "" {
				t.Errorf("%q: --threads %s differs from --threads 1 (-1 +%s):\n%s", args, threads, threads, diff)
			}
		}
	}
}
