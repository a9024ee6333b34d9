package requests

import (
	"fmt"
	"testing"
)

// TestSetForgetsCompletedRequests: memory follows the requests in flight, and
// an event written twice after its request ended is still not a first event.
func TestSetForgetsCompletedRequests(t *testing.T) {
	var s Set
	key := func(i int) Key { return KeyOf(fmt.Appendf(nil, "req-%d", i)) }
	for i := range 3 * MaxDone {
		_, first, open := s.Lookup(key(i))
		if !first || open {
			t.Fatalf("request %d seen before", i)
		}
		s.Update(key(i), 1, false, false) // RequestReceived
		if _, first, open = s.Lookup(key(i)); first || !open {
			t.Fatalf("request %d forgotten while open", i)
		}
		s.Update(key(i), 1, true, true) // ResponseComplete
		if _, first, open = s.Lookup(key(i)); first || open {
			t.Fatalf("request %d forgotten just after it ended, or still open", i)
		}
		if i >= MaxDone {
			if _, first, _ := s.Lookup(key(i - MaxDone)); !first {
				t.Fatalf("request %d remembered past the window", i-MaxDone)
			}
		}
	}
	if len(s.open) != 0 || len(s.done) != MaxDone {
		t.Errorf("%d requests open, %d done remembered; want 0 and %d", len(s.open), len(s.done), MaxDone)
	}
	if s.Evicted() {
		t.Error("marked approximate without forgetting an open request")
	}
}

// TestSetBoundsOpenRequests: requests that never end cannot grow the set past
// MaxOpen, and the set says it forgot some.
func TestSetBoundsOpenRequests(t *testing.T) {
	var s Set
	for i := range MaxOpen + 10 {
		k := KeyOf(fmt.Appendf(nil, "open-%d", i))
		_, _, open := s.Lookup(k)
		s.Update(k, 0, open, false)
	}
	if len(s.open) > MaxOpen || !s.Evicted() {
		t.Errorf("%d open, evicted %v; want at most %d and true", len(s.open), s.Evicted(), MaxOpen)
	}
}

func TestFlagsAreKept(t *testing.T) {
	var s Set
	k := KeyOf([]byte("0129dd54-a20e-4dbb-bdbe-89a9606e173a"))
	s.Update(k, 3, false, false)
	if f, _, _ := s.Lookup(k); f != 3 {
		t.Errorf("flags %d, want 3", f)
	}
	s.Update(k, 7, true, true)
	if f, first, open := s.Lookup(k); f != 7 || first || open {
		t.Errorf("after the last stage: flags %d, first %v, open %v", f, first, open)
	}
}

func TestParseUUID(t *testing.T) {
	u, ok := parseUUID([]byte("0129dd54-a20e-4dbb-bdbe-89a9606e173a"))
	if want := (Key{0x01, 0x29, 0xdd, 0x54, 0xa2, 0x0e, 0x4d, 0xbb, 0xbd, 0xbe, 0x89, 0xa9, 0x60, 0x6e, 0x17, 0x3a}); !ok || u != want {
		t.Errorf("got %x, %v", u, ok)
	}
	for _, bad := range []string{"0129DD54-a20e-4dbb-bdbe-89a9606e173a", "0129dd54-a20e-4dbb-bdbe-89a9606e173", "0129dd54xa20e-4dbb-bdbe-89a9606e173a", "0129dd54-a20e-4dbb-bdbe-89a9606e17g3"} {
		if _, ok := parseUUID([]byte(bad)); ok {
			t.Errorf("%s parsed", bad)
		}
	}
	if KeyOf([]byte("a")) == KeyOf([]byte("b")) {
		t.Error("two IDs, one key")
	}
}

func TestLast(t *testing.T) {
	for stage, want := range map[string]bool{"ResponseComplete": true, "Panic": true, "RequestReceived": false, "ResponseStarted": false, "": true} {
		if Last([]byte(stage)) != want {
			t.Errorf("Last(%q) = %v", stage, !want)
		}
	}
}
