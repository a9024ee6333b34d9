package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/auditq/auditq/internal/audittest"
)

// TestVersionNamesTheBuild: a binary built in a clone says which commit it
// was built from, whether the tree had changes, and the Go that built it.
func TestVersionNamesTheBuild(t *testing.T) {
	rev, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not a git work tree (%v): no commit to expect", err)
	}
	status, err := exec.Command("git", "status", "--porcelain").Output()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "auditq")
	if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	want := "(commit " + string(rev[:12])
	if len(bytes.TrimSpace(status)) > 0 {
		want += "-dirty"
	}
	for _, args := range [][]string{{"--version"}, {"version"}} {
		out, err := exec.Command(bin, args...).Output()
		if err != nil {
			t.Fatal(err)
		}
		got := string(out)
		if !strings.HasPrefix(got, "auditq ") || !strings.Contains(got, want) || !strings.Contains(got, runtime.Version()) {
			t.Errorf("auditq %s = %q; want the commit %q and %s", args[0], got, want, runtime.Version())
		}
	}
}

// TestKubectlPlugin: installed as kubectl-auditq the binary is found by
// kubectl, runs as `kubectl auditq`, speaks as it in help, and answers
// kubectl's completion requests through kubectl_complete-auditq.
func TestKubectlPlugin(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("no kubectl on PATH")
	}
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	plugin := filepath.Join(dir, "kubectl-auditq")
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(plugin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("kubectl-auditq", filepath.Join(dir, "kubectl_complete-auditq")); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"), "KUBECONFIG="+filepath.Join(dir, "none"))
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(kubectl, args...)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.Bytes())
		}
		return string(out)
	}

	if list := run("plugin", "list"); !strings.Contains(list, plugin) {
		t.Errorf("kubectl plugin list does not find %s:\n%s", plugin, list)
	}
	log := audittest.Rotated()
	direct, err := exec.Command(bin, "summary", "-o", "json", "--no-index", log).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := run("auditq", "summary", "-o", "json", "--no-index", log); got != string(direct) || !strings.Contains(got, `"events": 4324`) {
		t.Errorf("kubectl auditq summary differs from auditq summary:\n%.300s", got)
	}
	help := run("auditq", "summary", "--help")
	if !strings.Contains(help, "Usage:\n  kubectl auditq summary [FILE|DIR|-]...") || !strings.Contains(help, "\n  kubectl auditq summary -o json audit.log") {
		t.Errorf("kubectl auditq summary --help does not speak as kubectl auditq:\n%s", help)
	}
	if strings.Contains(help, "\n  auditq ") {
		t.Errorf("kubectl auditq summary --help still says auditq:\n%s", help)
	}
	if v := run("auditq", "version"); !strings.HasPrefix(v, "kubectl auditq ") {
		t.Errorf("kubectl auditq version = %q", v)
	}
	if c := run("auditq", "completion", "bash"); !strings.Contains(c, "kubectl_complete-auditq") || strings.Contains(c, "complete -F") {
		t.Errorf("kubectl auditq completion bash gives a script for auditq, not how kubectl completes the plugin:\n%.300s", c)
	}
	if c := run("__complete", "auditq", "su"); !strings.Contains(c, "summary\t") {
		t.Errorf("kubectl completes `kubectl auditq su` as:\n%s", c)
	}
	if c := run("__complete", "auditq", "summary", "-o", ""); !strings.Contains(c, "html") || !strings.Contains(c, "json") {
		t.Errorf("kubectl completes `kubectl auditq summary -o` as:\n%s", c)
	}
}
