package auditlog

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/natefinch/lumberjack.v2"
)

// layout creates files (name -> content) in a new directory.
func layout(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func rel(dir string, paths []string) []string {
	var out []string
	for _, p := range paths {
		r, _ := filepath.Rel(dir, p)
		out = append(out, r)
	}
	return out
}

func TestExpand(t *testing.T) {
	event := ev("x") + "\n"
	dir := layout(t, map[string]string{
		// Node A: lumberjack names, one backup not yet compressed, times out of name order.
		"kube-apiserver-audit.log":                             event,
		"kube-apiserver-audit-2026-11-20T08-00-09.161.log.gz":  string(gz(event)),
		"kube-apiserver-audit-2026-11-19T23-59-59.999.log.gz":  string(gz(event)),
		"kube-apiserver-audit-2026-11-20T10-30-00.000.log":     event,
		"kube-apiserver-audit-2026-11-20T08-00-09.162.log.zst": string(zst(event)),
		// Not backups of it, but audit logs.
		"kube-apiserver-audit-2026-11-20.log":  event,
		"kube-apiserver-audit-old.log.gz":      string(gz(event)),
		"other-2026-11-20T08-00-09.161.log.gz": string(gz(event)),
		"body-000001.json":                     `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[` + ev("w") + `]}`,
		// Not audit logs, whatever their names.
		"audit-policy.yaml":      "apiVersion: audit.k8s.io/v1\nkind: Policy\n",
		"README.md":              "# notes\n",
		"client-ledger.jsonl.gz": string(gz(`{"request":1}` + "\n")),
		"audit.json":             `{"level":"info","msg":"not an audit event"}` + "\n",
		"empty-audit.log":        "",
		// Folders below, in name order, and a rotation set whose active log is gone.
		"sub/kube-apiserver-audit.log":                event,
		"audit-2021-03-09T00-12-19.834.log":           event,
		"openshift/audit.log":                         event,
		"openshift/audit-2021-03-09T00-12-19.834.log": event,
		// An OpenShift must-gather: several nodes a folder, every file gzipped.
		"must-gather/audit_logs/kube-apiserver/master-0-audit.log.gz":                         string(gz(event)),
		"must-gather/audit_logs/kube-apiserver/master-0-audit-2021-08-14T07-53-24.208.log.gz": string(gz(event)),
		"must-gather/audit_logs/kube-apiserver/master-1-audit.log.gz":                         string(gz(event)),
		"must-gather/audit_logs/kube-apiserver.audit_logs_listing":                            "master-0 audit.log\nmaster-1 audit.log\n",
	})
	active := filepath.Join(dir, "kube-apiserver-audit.log")
	wantA := []string{
		"kube-apiserver-audit-2026-11-19T23-59-59.999.log.gz",
		"kube-apiserver-audit-2026-11-20T08-00-09.161.log.gz",
		"kube-apiserver-audit-2026-11-20T08-00-09.162.log.zst",
		"kube-apiserver-audit-2026-11-20T10-30-00.000.log",
		"kube-apiserver-audit.log",
	}
	mustGather := []string{
		"must-gather/audit_logs/kube-apiserver/master-0-audit-2021-08-14T07-53-24.208.log.gz",
		"must-gather/audit_logs/kube-apiserver/master-0-audit.log.gz",
		"must-gather/audit_logs/kube-apiserver/master-1-audit.log.gz",
	}
	tests := []struct {
		name    string
		paths   []string
		want    []string
		skipped []string
	}{
		{"active log finds its backups oldest first", []string{active}, wantA, nil},
		{"a backup is only itself", []string{filepath.Join(dir, wantA[1])}, wantA[1:2], nil},
		{"backups listed before the active log are read once", []string{filepath.Join(dir, wantA[1]), active}, append(wantA[1:2], wantA[0], wantA[2], wantA[3], wantA[4]), nil},
		{"same file twice through different paths", []string{active, filepath.Join(dir, ".", "kube-apiserver-audit.log")}, wantA, nil},
		{"a file named is read whatever it holds", []string{filepath.Join(dir, "README.md")}, []string{"README.md"}, nil},
		{"directory: chosen by content, sets together, then the folders below", []string{dir}, slices.Concat([]string{
			"audit-2021-03-09T00-12-19.834.log", // the set of audit.log, which is gone
			"body-000001.json",
			"kube-apiserver-audit-2026-11-20.log",
			"kube-apiserver-audit-old.log.gz",
		}, wantA, []string{"other-2026-11-20T08-00-09.161.log.gz"}, mustGather, []string{
			"openshift/audit-2021-03-09T00-12-19.834.log", "openshift/audit.log", "sub/kube-apiserver-audit.log",
		}), []string{"README.md", "audit-policy.yaml", "audit.json", "client-ledger.jsonl.gz", "empty-audit.log",
			"must-gather/audit_logs/kube-apiserver.audit_logs_listing"}},
		{"two nodes' directories, one after the other", []string{filepath.Join(dir, "openshift"), filepath.Join(dir, "sub")}, []string{
			"openshift/audit-2021-03-09T00-12-19.834.log", "openshift/audit.log", "sub/kube-apiserver-audit.log",
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := Expand(tt.paths)
			var skipped []string
			for _, err := range errs {
				var se *SkippedError
				if !errors.As(err, &se) {
					t.Fatal(err)
				}
				skipped = append(skipped, rel(dir, se.Files)...)
			}
			if diff := cmp.Diff(tt.want, rel(dir, got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			slices.Sort(skipped)
			if diff := cmp.Diff(tt.skipped, skipped); diff != "" {
				t.Errorf("skipped (-want +got):\n%s", diff)
			}
		})
	}
	if got := SetOf(filepath.Join(dir, mustGather[0])); got != filepath.Join(dir, "must-gather/audit_logs/kube-apiserver/master-0-audit.log") {
		t.Errorf("SetOf a must-gather backup: %s", got)
	}
	if got := SetOf(filepath.Join(dir, mustGather[1])); got != filepath.Join(dir, "must-gather/audit_logs/kube-apiserver/master-0-audit.log") {
		t.Errorf("SetOf a must-gather active log: %s", got)
	}
}

// TestExpandSymlinkLoop: a link back to a folder above is reported once and
// not followed; the rest of the tree is listed.
func TestExpandSymlinkLoop(t *testing.T) {
	dir := layout(t, map[string]string{"a/audit.log": ev("a") + "\n", "b/audit.log": ev("b") + "\n"})
	if err := os.Symlink(dir, filepath.Join(dir, "a", "up")); err != nil {
		t.Skip("no symlinks:", err)
	}
	got, errs := Expand([]string{dir})
	if diff := cmp.Diff([]string{"a/audit.log", "b/audit.log"}, rel(dir, got)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "loops back") {
		t.Errorf("errors %v", errs)
	}
}

func TestExpandErrors(t *testing.T) {
	dir := layout(t, map[string]string{"audit.log": ev("a") + "\n"})
	loop := filepath.Join(dir, "loop.log")
	if err := os.Symlink(loop, loop); err != nil {
		t.Skip("no symlinks:", err)
	}
	missing := filepath.Join(dir, "missing.log")
	got, errs := Expand([]string{missing, loop, filepath.Join(dir, "audit.log")})
	if diff := cmp.Diff([]string{"audit.log"}, rel(dir, got)); diff != "" {
		t.Errorf("readable files still expanded (-want +got):\n%s", diff)
	}
	if len(errs) != 2 || !errors.Is(errs[0], fs.ErrNotExist) || !strings.Contains(errs[1].Error(), "loop.log") {
		t.Errorf("want not-exist and symlink-loop errors, got %v", errs)
	}

	// ReadFiles reports them with the path and still reads the good file.
	var ids []string
	var perrs []*ParseError
	for ev, err := range ReadFiles(context.Background(), []string{missing, loop, filepath.Join(dir, "audit.log")}) {
		if err != nil {
			perrs = append(perrs, err.(*ParseError))
			continue
		}
		ids = append(ids, string(ev.AuditID()))
	}
	if len(ids) != 1 || len(perrs) != 2 || perrs[0].File != missing || perrs[1].File != loop || !perrs[0].Fatal {
		t.Errorf("ids %v, errors %v", ids, perrs)
	}
}

// TestExpandUnreadableInFolder: a file in a folder that cannot be read is
// an error naming it, never "holds no audit data"; the others are listed.
func TestExpandUnreadableInFolder(t *testing.T) {
	dir := layout(t, map[string]string{"master-0-audit.log": ev("a") + "\n", "master-2-audit.log": ev("b") + "\n"})
	bad := filepath.Join(dir, "master-1-audit.log")
	if err := os.Symlink("/proc/self/mem", bad); err != nil {
		t.Skip("no symlinks:", err)
	}
	got, errs := Expand([]string{dir})
	if diff := cmp.Diff([]string{"master-0-audit.log", "master-2-audit.log"}, rel(dir, got)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), bad) {
		t.Errorf("want one error naming %s, got %v", bad, errs)
	}
}

func TestReadFilesUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads files whatever their mode")
	}
	dir := layout(t, map[string]string{"audit.log": ev("a") + "\n"})
	p := filepath.Join(dir, "audit.log")
	os.Chmod(p, 0)
	for _, err := range ReadFiles(context.Background(), []string{p}) {
		if err == nil || !errors.Is(err, fs.ErrPermission) {
			t.Errorf("want a permission error, got %v", err)
		}
	}
}

func TestReadFilesCancel(t *testing.T) {
	var lines strings.Builder
	for range 3000 {
		lines.WriteString(ev("x") + "\n")
	}
	dir := layout(t, map[string]string{"a-audit.log": lines.String(), "b-audit.log": lines.String()})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	var last error
	for ev, err := range ReadFiles(ctx, []string{dir}) {
		if err != nil {
			last = err
			continue
		}
		_ = ev
		if n++; n == 1000 {
			cancel()
		}
	}
	if !errors.Is(last, context.Canceled) || n >= 6000 || n < 1000 {
		t.Errorf("read %d events after cancelling at 1000, last error %v", n, last)
	}
}

// TestReadFilesDuringRotation: lumberjack rotating (renaming the active log to
// a backup, compressing that, deleting the oldest backup) while the set is
// read loses nothing and duplicates nothing: the read sees the set as it was
// when it began.
func TestReadFilesDuringRotation(t *testing.T) {
	for _, threads := range []int{1, 2} {
		t.Run(fmt.Sprint("threads ", threads), func(t *testing.T) {
			dir := t.TempDir()
			active := filepath.Join(dir, "kube-apiserver-audit.log")
			logger := &lumberjack.Logger{Filename: active, MaxSize: 1, MaxBackups: 1, Compress: true}
			defer logger.Close()
			var want []string
			write := func(prefix string, n int) {
				for i := range n {
					id := fmt.Sprintf("%s-%05d", prefix, i)
					want = append(want, id)
					if _, err := logger.Write([]byte(ev(id) + "\n")); err != nil {
						t.Fatal(err)
					}
				}
			}
			write("first", 2500) // over 1 MiB: one rotation, so a backup and the active log
			waitForGzip(t, dir, 1)
			var got []string
			n := 0
			for ev, err := range ReadFiles(context.Background(), []string{active}, WithConcurrency(threads), withChunkSize(4096)) {
				if err != nil {
					t.Fatalf("error during rotation: %v", err)
				}
				got = append(got, string(ev.AuditID()))
				if n++; n == 10 {
					// Rotate twice: the active log becomes a backup and is gzipped,
					// and the backup being read is the oldest, so it is deleted.
					logger.Rotate()
					before := len(want)
					write("later", 100)
					logger.Rotate()
					want = want[:before]
					waitForGzip(t, dir, 1)
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("events (-present when the read began +read):\n%s", diff)
			}
		})
	}
}

// waitForGzip waits for lumberjack's background compression and pruning to
// leave n .gz backups and no uncompressed one in dir.
func waitForGzip(t *testing.T, dir string, n int) {
	t.Helper()
	for range 500 {
		gz, _ := filepath.Glob(filepath.Join(dir, "*-*.log.gz"))
		plain, _ := filepath.Glob(filepath.Join(dir, "*-*T*.log"))
		if len(gz) == n && len(plain) == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	t.Fatalf("lumberjack did not settle on %d backups: %v", n, names)
}
