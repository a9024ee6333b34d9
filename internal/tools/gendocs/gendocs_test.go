package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCommittedDocsAreCurrent: docs/man and docs/reference are what the
// command definitions generate now; after changing a command's help, run
// `go run ./internal/tools/gendocs`.
func TestCommittedDocsAreCurrent(t *testing.T) {
	fresh := t.TempDir()
	if err := generate(fresh); err != nil {
		t.Fatal(err)
	}
	committed := filepath.Join("..", "..", "..", "docs")
	for _, sub := range []string{"man", "reference"} {
		want := files(t, filepath.Join(fresh, sub))
		got := files(t, filepath.Join(committed, sub))
		if !slices.Equal(names(got), names(want)) {
			t.Errorf("docs/%s holds %v; the commands generate %v (run go run ./internal/tools/gendocs)", sub, names(got), names(want))
			continue
		}
		for name, w := range want {
			if !bytes.Equal(got[name], w) {
				t.Errorf("docs/%s/%s is stale (run go run ./internal/tools/gendocs)", sub, name)
			}
		}
		if len(want) < 10 {
			t.Errorf("only %d files generated in %s", len(want), sub)
		}
	}
	page := files(t, filepath.Join(fresh, "man"))["auditq-summary.1"]
	if !strings.Contains(string(page), "html") || !strings.Contains(string(page), ".SH EXAMPLE") {
		t.Errorf("the summary man page lacks its -o html and examples:\n%.500s", page)
	}
}

func files(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

func names(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
