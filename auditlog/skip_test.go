package auditlog

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/auditq/auditq/internal/fixture"
)

// rotatedWithTimes writes a rotated set whose files carry the modification
// times a live lumberjack would have given them (the generator's clock is
// simulated): each backup's is its rotation time.
func rotatedWithTimes(t *testing.T) (string, *fixture.Ledger) {
	t.Helper()
	dir := t.TempDir()
	ledger, err := fixture.WriteRotated(dir, "kube-apiserver-audit.log", 1, true, fixture.Config{Seed: 5, Requests: 3000})
	if err != nil {
		t.Fatal(err)
	}
	backups, _ := backupsOf(filepath.Join(dir, "kube-apiserver-audit.log"))
	if len(backups) != len(ledger.Rotations) || len(backups) < 3 {
		t.Fatalf("%d backups for %d rotations", len(backups), len(ledger.Rotations))
	}
	for i, b := range backups {
		os.Chtimes(b.path, ledger.Rotations[i], ledger.Rotations[i])
	}
	return dir, ledger
}

func keysOf(t *testing.T, paths []string, keep func(*Event) bool, opts ...Option) (keys []string) {
	t.Helper()
	for r := range ScanFiles[struct{}](context.Background(), paths, nil, opts...) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		if keep(r.Event) {
			keys = append(keys, string(r.Event.AuditID())+" "+string(r.Event.Stage()))
		}
	}
	return keys
}

// TestTimeRangeSkipsBackups: the backups that cannot hold an event in the
// range are not opened, and the events in the range are exactly those of a
// full read, for bounds at, between and around every rotation.
func TestTimeRangeSkipsBackups(t *testing.T) {
	dir, ledger := rotatedWithTimes(t)
	active := []string{filepath.Join(dir, "kube-apiserver-audit.log")}
	rot := ledger.Rotations
	var bounds []time.Time
	for _, r := range rot {
		bounds = append(bounds, r.Add(-time.Millisecond), r, r.Add(time.Millisecond), r.Add(20*time.Minute))
	}
	bounds = append(bounds, ledger.Events[0].Time, ledger.Events[len(ledger.Events)-1].Time)
	inRange := func(since, until time.Time) func(*Event) bool {
		return func(ev *Event) bool {
			t := ev.Time()
			return !t.IsZero() && (since.IsZero() || !t.Before(since)) && (until.IsZero() || !t.After(until))
		}
	}
	for _, b := range bounds {
		for _, c := range [][2]time.Time{{b, {}}, {{}, b}, {b.Add(-time.Hour), b}} {
			since, until := c[0], c[1]
			want := keysOf(t, active, inRange(since, until))
			var skipped atomic.Int64 // WithSkip's function runs concurrently
			got := keysOf(t, active, inRange(since, until), WithSkip(func(c *Candidate) bool {
				out := c.OutsideTimes(since, until)
				if out {
					skipped.Add(1)
				}
				return out
			}))
			if len(got) != len(want) {
				t.Fatalf("since %v until %v: %d events, want %d", since, until, len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("since %v until %v: event %d is %s, want %s", since, until, i, got[i], want[i])
				}
			}
			// Every backup rotated before since is skipped.
			before := 0
			for _, r := range rot {
				if !since.IsZero() && r.Before(since) {
					before++
				}
			}
			if skipped.Load() < int64(before) {
				t.Errorf("since %v: skipped %d backups, want at least the %d rotated before it", since, skipped.Load(), before)
			}
		}
	}
}

// TestTimeRangeDistrustsNames: a backup whose name says it was rotated
// before --since but whose file was written after it (a logger that names
// backups in local time west of UTC) is read.
func TestTimeRangeDistrustsNames(t *testing.T) {
	dir, ledger := rotatedWithTimes(t)
	backups, _ := backupsOf(filepath.Join(dir, "kube-apiserver-audit.log"))
	// Shift every name five hours back, as LocalTime at UTC-5 would.
	for _, b := range backups {
		shifted := b.time.Add(-5 * time.Hour).Format(backupTimeFormat)
		name := filepath.Join(dir, "kube-apiserver-audit-"+shifted+".log.gz")
		if err := os.Rename(b.path, name); err != nil {
			t.Fatal(err)
		}
	}
	since := ledger.Rotations[1]
	skip := func(c *Candidate) bool { return c.OutsideTimes(since, time.Time{}) }
	active := []string{filepath.Join(dir, "kube-apiserver-audit.log")}
	keep := func(ev *Event) bool { return !ev.Time().Before(since) }
	if got, want := len(keysOf(t, active, keep, WithSkip(skip))), len(keysOf(t, active, keep)); got != want {
		t.Errorf("%d events with the skip, %d without", got, want)
	}
}
