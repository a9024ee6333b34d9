package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"
)

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
		"line separator \u2028":      `line separator \u2028`,
	} {
		if got := string(escapeForTerminal([]byte(in))); got != want {
			t.Errorf("escapeForTerminal(%q) = %q, want %q", in, got, want)
		}
	}
}
