package audittest

import (
	"path/filepath"
	"testing"
)

// TestRotationSet: the fixture's five backups, oldest first, then the active log.
func TestRotationSet(t *testing.T) {
	set := RotationSet(t, Rotated())
	if len(set) != 6 || set[5] != Rotated() || filepath.Ext(set[0]) != ".gz" {
		t.Fatalf("rotation set %v", set)
	}
	events := OracleLog(t, Rotated())
	if len(events) < 1000 || events[0].AuditID == "" {
		t.Fatalf("oracle read %d events", len(events))
	}
}

func TestCompressRoundTrip(t *testing.T) {
	for _, c := range [][]byte{Gzip([]byte("abc")), Zstd([]byte("abc"))} {
		if out, err := Decompress(c); err != nil || string(out) != "abc" {
			t.Errorf("round trip: %q, %v", out, err)
		}
	}
}
