package auditlog

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/auditq/auditq/internal/audittest"
	"github.com/auditq/auditq/internal/fixture"
)

var testdataRotated = filepath.Dir(audittest.Rotated())

// regenerated writes the testdata set again, once per test binary.
var regenerated = sync.OnceValues(func() (struct {
	dir    string
	ledger *fixture.Ledger
}, error) {
	dir, err := os.MkdirTemp("", "auditq-fixture-")
	var out struct {
		dir    string
		ledger *fixture.Ledger
	}
	if err != nil {
		return out, err
	}
	regeneratedDir = dir
	l, err := fixture.Testdata.Write(dir)
	out.dir, out.ledger = dir, l
	return out, err
})

var regeneratedDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if regeneratedDir != "" {
		os.RemoveAll(regeneratedDir)
	}
	os.Exit(code)
}

// TestFixtureIsGeneratorOutput proves testdata/rotated is exactly what the
// generator writes (through kube-apiserver's audit code and lumberjack).
func TestFixtureIsGeneratorOutput(t *testing.T) {
	gen, err := regenerated()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := filepath.Glob(filepath.Join(gen.dir, "*"))
	got, _ := filepath.Glob(filepath.Join(testdataRotated, "*"))
	base := func(ps []string) (out []string) {
		for _, p := range ps {
			out = append(out, filepath.Base(p))
		}
		return out
	}
	if diff := cmp.Diff(base(want), base(got)); diff != "" {
		t.Fatalf("testdata/rotated files differ from the generator's (-want +got); run `go run ./bench fixtures`:\n%s", diff)
	}
	// Contents are compared decompressed: gzip's bytes belong to the toolchain's
	// compress/flate, which may change between Go releases.
	for _, w := range want {
		a := audittest.ReadFile(t, w)
		b := audittest.ReadFile(t, filepath.Join(testdataRotated, filepath.Base(w)))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from the generator's output; run `go run ./bench fixtures`", filepath.Base(w))
		}
	}
	if len(want) < 4 || !slices.ContainsFunc(want, func(p string) bool { return strings.HasSuffix(p, ".log.gz") }) {
		t.Errorf("fixture set should have several gzipped backups, has %v", base(want))
	}
}

// TestRotatedSetInOrder reads the set from its active log and checks every event
// against the generator's record: none lost, none duplicated, in write order.
func TestRotatedSetInOrder(t *testing.T) {
	gen, err := regenerated()
	if err != nil {
		t.Fatal(err)
	}
	type rec struct {
		ID, Stage string
		Time      time.Time
	}
	var want []rec
	for _, w := range gen.ledger.Events {
		want = append(want, rec{w.AuditID, w.Stage, w.Time})
	}
	for _, input := range [][]string{
		{filepath.Join(testdataRotated, fixture.Testdata.Name)}, // active log: backups found
		{testdataRotated}, // the directory
		append(mustGlob(t, filepath.Join(testdataRotated, "*.gz")), filepath.Join(testdataRotated, fixture.Testdata.Name)), // explicit list, with the active log's backups found again
	} {
		var got []rec
		var lastFile string
		files := 0
		for ev, err := range ReadFiles(context.Background(), input) {
			if err != nil {
				t.Fatalf("%v: %v", input, err)
			}
			if ev.Pos().File != lastFile {
				files++
				lastFile = ev.Pos().File
			}
			got = append(got, rec{string(ev.AuditID()), string(ev.Stage()), ev.StageTimestamp()})
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%v: events differ from the generator's record (-want +got):\n%s", input, diff)
		}
		if files != len(gen.ledger.Rotations)+1 {
			t.Errorf("%v: read %d files, want %d backups and the active log", input, files, len(gen.ledger.Rotations))
		}
	}
	// Backup names carry the rotation times, oldest first.
	files, _ := Expand([]string{filepath.Join(testdataRotated, fixture.Testdata.Name)})
	for i, rt := range gen.ledger.Rotations {
		if want := rt.UTC().Format(backupTimeFormat); !strings.Contains(files[i], want) {
			t.Errorf("backup %d is %s, want time %s", i, files[i], want)
		}
	}
}

func mustGlob(t *testing.T, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	if err != nil || len(m) == 0 {
		t.Fatalf("glob %s: %v %v", pattern, m, err)
	}
	return m
}
