package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const good = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1","stage":"ResponseComplete","verb":"get"}`

func TestRun(t *testing.T) {
	stdinIsTerminal = func(r io.Reader) bool { return r == nil }
	tests := []struct {
		name       string
		args       []string
		stdin      *string
		wantOut    string
		wantErr    string
		wantStatus int
	}{
		{name: "no command", args: nil, wantErr: "auditq: missing command\n", wantStatus: 2},
		{name: "unknown command", args: []string{"frobnicate"}, wantErr: "auditq: unknown command \"frobnicate\"\n", wantStatus: 2},
		{name: "no input on a terminal", args: []string{"cat"}, wantErr: "auditq: no input: give a file or directory, or pipe a log to stdin\n", wantStatus: 2},
		{name: "stdin", args: []string{"cat"}, stdin: ptr(good + "\n\n" + good), wantOut: good + "\n" + good + "\n"},
		{
			name: "bad line on stdin: reported with its position, the rest printed", args: []string{"cat", "-"},
			stdin:   ptr(good + "\n" + `{"auditID":"x","responseStatus":{"code":"200"}}` + "\n" + good + "\n"),
			wantOut: good + "\n" + good + "\n",
			wantErr: "auditq: <stdin>:2:41: field responseStatus.code: cannot decode string into int32 (byte offset 162)\n" +
				"auditq: 1 problem(s) in the input; 2 events printed\n",
			wantStatus: 5,
		},
		{
			name: "missing file", args: []string{"cat", "testdata/nope.log"},
			wantErr:    "auditq: testdata/nope.log: no such file or directory\nauditq: 1 problem(s) in the input; 0 events printed\n",
			wantStatus: 5,
		},
		{
			name: "control characters in errors are escaped", args: []string{"cat"},
			stdin:      ptr("\x1b]0;pwned\x07\n"),
			wantErr:    "auditq: <stdin>:1:1: invalid character '\\x1b' looking for beginning of value (byte offset 0)\nauditq: 1 problem(s) in the input; 0 events printed\n",
			wantStatus: 5,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in io.Reader
			if tt.stdin != nil {
				in = strings.NewReader(*tt.stdin)
			}
			var out, errOut bytes.Buffer
			status := run(tt.args, in, &out, &errOut)
			if status != tt.wantStatus {
				t.Errorf("exit status %d, want %d (stderr %q)", status, tt.wantStatus, errOut.String())
			}
			if out.String() != tt.wantOut && tt.wantOut != "" || tt.wantOut == "" && status == 0 && out.Len() > 0 && tt.args != nil && tt.args[0] == "cat" {
				t.Errorf("stdout:\n%s", cmp.Diff(tt.wantOut, out.String()))
			}
			if !strings.HasPrefix(errOut.String(), tt.wantErr) {
				t.Errorf("stderr does not start as expected:\n%s", cmp.Diff(tt.wantErr, errOut.String()))
			}
		})
	}
}

func ptr(s string) *string { return &s }

// TestCatRotatedSet: `auditq cat ACTIVE` prints what `zcat -f` of the backups,
// oldest first, and the active log print.
func TestCatRotatedSet(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "rotated")
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
	if status := run([]string{"cat", filepath.Join(dir, "kube-apiserver-audit.log")}, nil, &out, &errOut); status != 0 {
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
	} {
		if got := string(escapeForTerminal([]byte(in))); got != want {
			t.Errorf("escapeForTerminal(%q) = %q, want %q", in, got, want)
		}
	}
}
