package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/internal/audittest"
	"github.com/auditq/auditq/internal/fixture"
)

// archive writes a rotated set of about n backups, with the modification
// times a live lumberjack gives (its backups' rotation times), and returns
// its active log and events.
func archive(t *testing.T, requests int) (string, *fixture.Ledger) {
	t.Helper()
	dir := t.TempDir()
	ledger, err := fixture.WriteRotated(dir, "kube-apiserver-audit.log", 1, true, fixture.Config{Seed: 60, Requests: requests})
	if err != nil {
		t.Fatal(err)
	}
	files, _ := auditlog.Expand([]string{filepath.Join(dir, "kube-apiserver-audit.log")})
	for i, r := range ledger.Rotations {
		os.Chtimes(files[i], r, r)
	}
	return filepath.Join(dir, "kube-apiserver-audit.log"), ledger
}

type indexUse struct{ found, skipped, saved int64 }

// runIndexed runs a command and returns what it printed and did with the index.
func runIndexed(args ...string) (out string, use indexUse) {
	var stdout, stderr bytes.Buffer
	finished = func(s *session) {
		use = indexUse{s.indexed.found.Load(), s.indexed.skipped.Load(), s.indexed.saved.Load()}
	}
	defer func() { finished = nil }()
	code := runEnv(args, &env{stdout: &stdout, stderr: &stderr})
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", code, stdout.String(), stderr.String()), use
}

// questions are filters a responder asks, from values the log holds.
func questions(t *testing.T, active string) [][]string {
	t.Helper()
	files, _ := auditlog.Expand([]string{active})
	pick := func(file string, n int) map[string]any {
		var ev map[string]any
		lines := bytes.Split(audittest.ReadFile(t, file), []byte("\n"))
		json.Unmarshal(lines[n%len(lines)], &ev)
		return ev
	}
	ev := pick(files[len(files)/3], 7)
	late := pick(files[len(files)-2], 3)
	user := ev["user"].(map[string]any)["username"].(string)
	q := [][]string{
		{"--id", ev["auditID"].(string)},
		{"--user", user},
		{"--user", "system:node:*"},
		{"--sa", "kube-system"},
		{"--namespace", "kube-system", "--verb", "create"},
		{"--name", "nonexistent-name"},
		{"--name", "*-7"},
		{"--code", "403"},
		{"--resource", "secrets"},
		{"--since", late["stageTimestamp"].(string)},
		{"--until", ev["stageTimestamp"].(string)},
		{"--since", ev["stageTimestamp"].(string), "--until", late["stageTimestamp"].(string), "--verb", "get"},
	}
	if ref, ok := ev["objectRef"].(map[string]any); ok && ref["name"] != nil {
		q = append(q, []string{"--name", ref["name"].(string)})
	}
	return q
}

// TestIndexGivesTheSameOutput: on a generated archive of about 60 gzipped
// backups (one of them damaged) and on the fixture, every command prints
// the same bytes and exits the same with the index and without it, whether
// the index was built by an earlier command or by `auditq index`, and the
// index leaves backups unread.
func TestIndexGivesTheSameOutput(t *testing.T) {
	if testing.Short() {
		t.Skip("reads a 60-backup archive many times")
	}
	big, _ := archive(t, 31000)
	files, _ := auditlog.Expand([]string{big})
	if len(files) < 55 {
		t.Fatalf("archive of %d files, want about 60", len(files))
	}
	// Damage one backup: a problem must be reported every time, so it is never indexed.
	damaged := files[10]
	raw, _ := os.ReadFile(damaged)
	os.WriteFile(damaged, raw[:len(raw)-100], 0o644)

	for _, set := range []struct {
		name, active string
		prime        []string
	}{
		{"archive, indexed by cat", big, []string{"cat", big}},
		{"fixture, indexed by auditq index", audittest.Rotated(), []string{"index", audittest.Rotated()}},
	} {
		t.Run(set.name, func(t *testing.T) {
			t.Setenv("XDG_CACHE_HOME", t.TempDir())
			if _, use := runIndexed(set.prime...); use.saved == 0 {
				t.Fatalf("%v saved no index entry", set.prime)
			}
			skipped, runs := int64(0), 0
			for _, q := range questions(t, set.active) {
				for _, cmd := range [][]string{{"cat"}, {"summary", "-o", "json"}, {"query", "-c", "[.auditID,.stage,.user.username]"}, {"get", "--id", "x"}} {
					if (cmd[0] == "get") != (q[0] == "--id") {
						continue // --id is get's alone
					}
					args := append(append(append([]string{}, cmd...), q...), set.active)
					if cmd[0] == "get" {
						args = append([]string{"get"}, append(q, set.active)...)
					}
					want, _ := runIndexed(append(args, "--no-index")...)
					got, use := runIndexed(args...)
					if got != want {
						t.Fatalf("auditq %s: with the index\n%.2000s\nwithout\n%.2000s", strings.Join(args, " "), got, want)
					}
					skipped += use.skipped
					runs++
					if !strings.HasPrefix(want, "exit ") || strings.Contains(want, "unknown flag") {
						t.Fatalf("auditq %s: %s", strings.Join(args, " "), want)
					}
					if cmd[0] != "get" && strings.Contains(want, filepath.Base(damaged)) != (set.active == big) {
						t.Fatalf("auditq %s: the damaged backup is not reported:\n%.1000s", strings.Join(args, " "), want)
					}
				}
			}
			t.Logf("%d commands, %d backups left unread by the index", runs, skipped)
			if skipped == 0 {
				t.Error("the index left no backup unread")
			}
		})
	}
}

// TestIndexReplacedBackup: a backup replaced by another of the same name
// and size (an auditID changed in place, a new file renamed over it) is read
// in full, not answered from the old entry.
func TestIndexReplacedBackup(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir := t.TempDir()
	lj := filepath.Join(dir, "kube-apiserver-audit.log")
	if _, err := fixture.WriteRotated(dir, "kube-apiserver-audit.log", 1, false, fixture.Config{Seed: 3, Requests: 1500}); err != nil {
		t.Fatal(err)
	}
	files, _ := auditlog.Expand([]string{lj})
	backup := files[0]
	if _, use := runIndexed("index", lj); use.saved == 0 {
		t.Fatal("nothing indexed")
	}
	data, _ := os.ReadFile(backup)
	var ev struct{ AuditID string }
	json.Unmarshal(data[:bytes.IndexByte(data, '\n')], &ev)
	newID := "f" + ev.AuditID[1:]
	replaced := bytes.ReplaceAll(data, []byte(ev.AuditID), []byte(newID))
	fi, _ := os.Stat(backup)
	tmp := filepath.Join(dir, "replacement")
	os.WriteFile(tmp, replaced, 0o644)
	os.Chtimes(tmp, fi.ModTime(), fi.ModTime())
	if err := os.Rename(tmp, backup); err != nil {
		t.Fatal(err)
	}
	out, _ := runIndexed("get", "--id", newID, lj)
	if !strings.HasPrefix(out, "exit 0") || !strings.Contains(out, newID) {
		t.Errorf("the ID in the replaced backup was not found:\n%s", out)
	}
}
