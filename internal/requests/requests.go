// Package requests tells the first event of each request (an auditID) from the
// ones after it, in memory bounded by the requests in flight rather than by
// the length of the log. The summary and the policy simulation count requests
// with it.
package requests

import (
	"encoding/binary"
	"hash/maphash"
)

// Key identifies a request: the 16 bytes of the UUID kube-apiserver writes,
// or a 128-bit hash of any other ID.
type Key [16]byte

// KeyOf returns the key of an auditID.
func KeyOf(id []byte) Key {
	if u, ok := parseUUID(id); ok {
		return u
	}
	var k Key
	binary.LittleEndian.PutUint64(k[:8], maphash.Bytes(idSeeds[0], id))
	binary.LittleEndian.PutUint64(k[8:], maphash.Bytes(idSeeds[1], id))
	return k
}

var idSeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

// Last reports whether stage is a request's last: ResponseComplete or
// Panic; or none at all, as in the events exports rebuild without a stage
// (GKE's, the legacy format of Kubernetes 1.6), each of which is all there
// is of its request.
func Last(stage []byte) bool {
	return len(stage) == 0 || string(stage) == "ResponseComplete" || string(stage) == "Panic"
}

// Set remembers the requests seen, with a few caller-defined flag bits each.
// A request is forgotten at its last stage, after which only the last
// MaxDone completed keys are kept, to recognise an event written twice.
// Should more than MaxOpen requests be open at once, the open ones are
// forgotten and Evicted reports it. The zero Set is empty and ready to use;
// it is not safe for concurrent use.
type Set struct {
	open    map[Key]uint8
	done    map[Key]uint8
	ring    []Key // the keys of done, oldest at next
	next    int
	evicted bool
}

// Bounds of a Set's memory.
const (
	MaxOpen = 1 << 20
	MaxDone = 1 << 16
)

// Lookup returns the flags of the request with this key, whether the event
// is the request's first, and whether the request is open.
func (s *Set) Lookup(key Key) (flags uint8, first, open bool) {
	if f, ok := s.open[key]; ok {
		return f, false, true
	}
	if f, ok := s.done[key]; ok {
		return f, false, false
	}
	return 0, true, false
}

// Update records the flags of a request; wasOpen is what Lookup said, last
// says the request has ended.
func (s *Set) Update(key Key, flags uint8, wasOpen, last bool) {
	if s.open == nil {
		s.open, s.done = map[Key]uint8{}, map[Key]uint8{}
		s.ring = make([]Key, 0, 1024)
	}
	if !last {
		if !wasOpen && len(s.open) >= MaxOpen {
			clear(s.open) // a log of requests that never end: bound the memory, say so
			s.evicted = true
		}
		s.open[key] = flags
		return
	}
	if wasOpen {
		delete(s.open, key)
	}
	if _, ok := s.done[key]; ok {
		s.done[key] = flags
		return
	}
	if len(s.ring) < MaxDone {
		s.ring = append(s.ring, key)
	} else {
		delete(s.done, s.ring[s.next])
		s.ring[s.next] = key
		s.next = (s.next + 1) % MaxDone
	}
	s.done[key] = flags
}

// Reset empties s, keeping its memory.
func (s *Set) Reset() {
	clear(s.open)
	clear(s.done)
	s.ring = s.ring[:0]
	s.next = 0
	s.evicted = false
}

// Evicted reports whether open requests were forgotten, so that request
// counts may be high.
func (s *Set) Evicted() bool { return s.evicted }

// parseUUID reads the canonical 36-byte lower-case form only, so that two
// spellings of one ID never collapse into one key by accident.
func parseUUID(id []byte) (u Key, ok bool) {
	if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-' {
		return u, false
	}
	var bad byte
	n := 0
	for i := 0; i < 36; i += 2 {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i-- // the dash; the next pair starts after it
			continue
		}
		hi, lo := hexValue[id[i]], hexValue[id[i+1]]
		bad |= hi | lo
		u[n] = hi<<4 | lo&0x0f
		n++
	}
	return u, bad&0x80 == 0 && n == 16
}

// hexValue maps '0'-'9' and 'a'-'f' to their values, every other byte to 0xff.
var hexValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c - 'a' + 10)
	}
	return t
}()
