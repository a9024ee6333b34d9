package k8saudit

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/internal/audittest"
)

// readAllV1 reads every event of r with this package and converts it.
func readAllV1(t *testing.T, name string, r io.Reader) (events []*auditv1.Event, errs []*auditlog.ParseError) {
	t.Helper()
	rd, err := auditlog.NewReader(r, auditlog.WithName(name))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	for ev, err := range rd.All() {
		if err != nil {
			var pe *auditlog.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("%s: error is not a *ParseError: %v", name, err)
			}
			errs = append(errs, pe)
			continue
		}
		v1, err := ToV1(ev)
		if err != nil {
			t.Fatalf("%s: ToV1 of an accepted event failed: %v", name, err)
		}
		events = append(events, v1)
	}
	return events, errs
}

// TestDifferentialRealData decodes every event of ../shared/realdata both ways.
func TestDifferentialRealData(t *testing.T) {
	root := audittest.Shared(t, "realdata")
	var total, files int
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "cloud" {
			return fs.SkipDir // cloud-export envelopes, not audit lines as written
		}
		if d.IsDir() {
			return nil
		}
		switch filepath.Ext(path) {
		case ".json", ".log", ".jsonl":
		default:
			return nil // SOURCES.md, the YAML reference event
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		rel, _ := filepath.Rel(root, path)
		t.Run(rel, func(t *testing.T) {
			got, errs := readAllV1(t, rel, bytes.NewReader(data))
			if strings.Contains(rel, "legacy") {
				if len(got) != 0 || len(errs) != 1 || !errors.Is(errs[0], auditlog.ErrLegacyFormat) || errs[0].Line != 1 {
					t.Fatalf("legacy file: got %d events, errors %v; want one ErrLegacyFormat at line 1", len(got), errs)
				}
				return
			}
			want, bad := audittest.OracleEvents(t, data)
			if len(errs) != bad {
				t.Errorf("got %d errors %v, encoding/json rejects %d lines", len(errs), errs, bad)
			}
			for _, e := range errs {
				if e.Line < 1 || e.Offset < 0 || e.Offset > int64(len(data)) {
					t.Errorf("error position outside the input: %+v", e)
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("events differ from encoding/json (-want +got):\n%s", diff)
			}
			total += len(got)
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// SOURCES.md counts about 930 events in JSON, 4 of them legacy text lines.
	if files < 60 || total < 900 {
		t.Errorf("read %d events from %d files; realdata has about 930 events", total, files)
	}
	t.Logf("%d events from %d files equal to encoding/json", total, files)
}

// TestDifferentialKubeAPIServer compares the rotated set that a real
// kube-apiserver wrote (../shared/kube-apiserver/gce-like).
func TestDifferentialKubeAPIServer(t *testing.T) {
	dir := audittest.Shared(t, "kube-apiserver", "gce-like")
	files, errs := auditlog.Expand([]string{filepath.Join(dir, "kube-apiserver-audit.log")})
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	if len(files) != 11 || !strings.HasSuffix(files[10], "kube-apiserver-audit.log") {
		t.Fatalf("Expand gave %d files %v; want 10 backups then the active log", len(files), files)
	}
	all := compareFiles(t, files)
	// Facts stated in ../shared/kube-apiserver/README.md.
	ids := map[string]bool{}
	stages := map[string]int{}
	for _, ev := range all {
		ids[string(ev.AuditID)] = true
		stages[string(ev.Stage)]++
	}
	if len(all) != 8125 || len(ids) != 7578 || stages["ResponseComplete"] != 7511 || stages["ResponseStarted"] != 614 {
		t.Errorf("got %d events, %d IDs, stages %v; README says 8125, 7578, ResponseComplete 7511, ResponseStarted 614", len(all), len(ids), stages)
	}

	// The same events through ReadFiles with the set's directory; its
	// policy and client ledger are no audit logs, and are named as such.
	n := 0
	for ev, err := range auditlog.ReadFiles(context.Background(), []string{dir}) {
		var skipped *auditlog.SkippedError
		if errors.As(err, &skipped) && len(skipped.Files) == 2 &&
			filepath.Base(skipped.Files[0]) == "audit-policy.yaml" && filepath.Base(skipped.Files[1]) == "client-ledger.jsonl.gz" {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if string(ev.AuditID()) != string(all[n].AuditID) || string(ev.Stage()) != string(all[n].Stage) {
			t.Fatalf("event %d from the directory is %s/%s, want %s/%s", n, ev.AuditID(), ev.Stage(), all[n].AuditID, all[n].Stage)
		}
		n++
	}
	if n != len(all) {
		t.Errorf("directory read gave %d events, want %d", n, len(all))
	}
}

// compareFiles requires every event of well-formed files to equal encoding/json's
// decoding and returns them in order.
func compareFiles(t *testing.T, files []string) (all []*auditv1.Event) {
	t.Helper()
	for _, f := range files {
		data := audittest.ReadFile(t, f)
		want, bad := audittest.OracleEvents(t, data)
		got, perrs := readAllV1(t, f, bytes.NewReader(data))
		if bad != 0 || len(perrs) != 0 {
			t.Fatalf("%s: %d lines rejected by encoding/json, errors %v", f, bad, perrs)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("%s: events differ (-want +got):\n%s", f, diff)
		}
		all = append(all, got...)
	}
	return all
}

// TestDifferentialFixture compares every event of the repository's fixture
// set with encoding/json.
func TestDifferentialFixture(t *testing.T) {
	files, errs := auditlog.Expand([]string{filepath.Dir(audittest.Rotated())})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if n := len(compareFiles(t, files)); n != len(audittest.OracleLog(t, audittest.Rotated())) || n < 4000 {
		t.Errorf("compared %d events", n)
	}
}
