package index

import (
	"math/bits"
	"slices"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/query"
)

// maxNames bounds the exact set of object names kept; past it, names are
// kept in a Bloom filter only (exact names still prune, globs do not).
const maxNames = 4096

// Entry is what one backup holds.
type Entry struct {
	// Checked: the backup was read with every byte validated (not with
	// auditlog.WithoutBodies), so it holds no damage that a full read reports.
	Checked          bool
	Events           int64
	MinTime, MaxTime int64 // stageTimestamp in unix nanoseconds; 0 when no event has one

	IDs   Bloom
	Names Bloom // every object name, when there are too many to keep exactly

	Usernames, Groups, Verbs, Stages, Levels []string
	Namespaces, ExactNames                   []string
	NamesComplete                            bool
	Resources                                []string // resource "\x00" group "\x00" subresource
	Codes                                    []int32

	rawSets []byte // the value sets as stored, until Contents needs them
}

func (e *Entry) lists() []*[]string {
	return []*[]string{&e.Usernames, &e.Groups, &e.Verbs, &e.Stages, &e.Levels, &e.Namespaces, &e.ExactNames, &e.Resources}
}

// Contents is the entry as query.Matcher.MayMatch reads it. Without values
// (for a matcher that compares none, see query.Matcher.ComparesValues), the
// value sets are not decoded and every value may be there. An entry whose
// sets cannot be decoded says every value may be there.
func (e *Entry) Contents(values bool) *query.Contents {
	c := &query.Contents{MayHoldID: e.IDs.MayContain, AnyValue: true}
	if e.MinTime != 0 {
		c.MinTime, c.MaxTime = time.Unix(0, e.MinTime).UTC(), time.Unix(0, e.MaxTime).UTC()
	}
	if !values {
		return c
	}
	if e.rawSets != nil {
		if err := e.decodeSets(); err != nil {
			return c
		}
	}
	c = &query.Contents{
		MayHoldID:     e.IDs.MayContain,
		Usernames:     e.Usernames,
		Groups:        e.Groups,
		Verbs:         e.Verbs,
		Stages:        e.Stages,
		Levels:        e.Levels,
		Codes:         e.Codes,
		Namespaces:    e.Namespaces,
		Names:         e.ExactNames,
		NamesComplete: e.NamesComplete,
		MayHoldName:   e.Names.MayContain,
	}
	for _, r := range e.Resources {
		c.Resources = append(c.Resources, splitResource(r))
	}
	if e.MinTime != 0 {
		c.MinTime, c.MaxTime = time.Unix(0, e.MinTime).UTC(), time.Unix(0, e.MaxTime).UTC()
	}
	return c
}

func splitResource(s string) [3]string {
	var out [3]string
	for i := range 2 {
		j := 0
		for j < len(s) && s[j] != 0 {
			j++
		}
		out[i] = s[:j]
		if j < len(s) {
			s = s[j+1:]
		} else {
			s = ""
		}
	}
	out[2] = s
	return out
}

// Builder collects an Entry from a backup's events. Add is safe for
// concurrent use (the parallel reader's workers call it).
type Builder struct {
	mu       sync.Mutex
	events   int64
	min, max int64
	idHashes []uint64
	names    map[string]struct{}
	nameHash []uint64
	sets     [8]map[string]struct{}
	codes    map[int32]struct{}
}

const (
	setUsers = iota
	setGroups
	setVerbs
	setStages
	setLevels
	setNamespaces
	setResources
	setNames
)

// NewBuilder returns an empty Builder.
func NewBuilder() *Builder {
	b := &Builder{codes: map[int32]struct{}{}, names: map[string]struct{}{}}
	for i := range b.sets {
		b.sets[i] = map[string]struct{}{}
	}
	return b
}

func (b *Builder) addTo(set int, v []byte) {
	m := b.sets[set]
	if _, ok := m[string(v)]; !ok {
		m[string(v)] = struct{}{}
	}
}

// Add records one event. The event's views are read during the call only.
func (b *Builder) Add(ev *auditlog.Event) {
	var key [256]byte
	b.mu.Lock()
	defer b.mu.Unlock()
	b.events++
	if t := ev.Time(); !t.IsZero() {
		n := t.UnixNano()
		if b.min == 0 || n < b.min {
			b.min = n
		}
		if n > b.max {
			b.max = n
		}
	}
	b.idHashes = append(b.idHashes, xxhash.Sum64(ev.AuditID()))
	b.addTo(setVerbs, ev.Verb())
	b.addTo(setStages, ev.Stage())
	b.addTo(setLevels, ev.Level())
	if ev.ResponseStatus() != nil {
		b.codes[ev.Code()] = struct{}{}
	}
	for _, u := range []*auditlog.UserInfo{ev.User(), ev.ImpersonatedUser()} {
		if u == nil {
			continue
		}
		b.addTo(setUsers, u.Username)
		for _, g := range u.Groups {
			b.addTo(setGroups, g)
		}
	}
	if ref := ev.ObjectRef(); ref != nil {
		b.addTo(setNamespaces, ref.Namespace)
		k := append(key[:0], ref.Resource...)
		k = append(k, 0)
		k = append(k, ref.APIGroup...)
		k = append(k, 0)
		k = append(k, ref.Subresource...)
		b.addTo(setResources, k)
		if _, ok := b.names[string(ref.Name)]; !ok {
			b.nameHash = append(b.nameHash, xxhash.Sum64(ref.Name))
			if len(b.names) <= maxNames {
				b.names[string(ref.Name)] = struct{}{}
			}
		}
	}
}

// Build returns the Entry of the events added.
func (b *Builder) Build() *Entry {
	b.mu.Lock()
	defer b.mu.Unlock()
	slices.Sort(b.idHashes)
	b.idHashes = slices.Compact(b.idHashes)
	slices.Sort(b.nameHash)
	b.nameHash = slices.Compact(b.nameHash)
	e := &Entry{Events: b.events, MinTime: b.min, MaxTime: b.max, IDs: newBloom(b.idHashes)}
	sorted := func(m map[string]struct{}) []string {
		out := make([]string, 0, len(m))
		for k := range m {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	e.Usernames, e.Groups = sorted(b.sets[setUsers]), sorted(b.sets[setGroups])
	e.Verbs, e.Stages, e.Levels = sorted(b.sets[setVerbs]), sorted(b.sets[setStages]), sorted(b.sets[setLevels])
	e.Namespaces, e.Resources = sorted(b.sets[setNamespaces]), sorted(b.sets[setResources])
	e.NamesComplete = len(b.names) <= maxNames
	if e.NamesComplete {
		e.ExactNames = sorted(b.names)
	} else {
		e.Names = newBloom(b.nameHash) // only when the exact set is not kept
	}
	for c := range b.codes {
		e.Codes = append(e.Codes, c)
	}
	slices.Sort(e.Codes)
	return e
}

// Bloom is a Bloom filter over 64-bit hashes: no false negatives; about
// one false positive in 15,000 at 20 bits and 14 probes per value. A false
// positive costs a whole backup read (tens of ms), the bits 2.5 bytes per
// request: about 1% of the gzipped log.
type Bloom struct {
	Bits []uint64
	K    uint8
}

const bitsPerValue = 20

func newBloom(hashes []uint64) Bloom {
	n := max(len(hashes)*bitsPerValue, 64)
	bl := Bloom{Bits: make([]uint64, (n+63)/64), K: 14}
	for _, h := range hashes {
		bl.add(h)
	}
	return bl
}

func (bl *Bloom) probes(h uint64, f func(i uint64) bool) bool {
	m := uint64(len(bl.Bits)) * 64
	h1, h2 := h, bits.RotateLeft64(h, 32)|1
	for i := range uint64(bl.K) {
		if !f((h1 + i*h2) % m) {
			return false
		}
	}
	return true
}

func (bl *Bloom) add(h uint64) {
	bl.probes(h, func(i uint64) bool { bl.Bits[i/64] |= 1 << (i % 64); return true })
}

// MayContain reports whether v may have been added (false: it was not).
func (bl *Bloom) MayContain(v string) bool {
	if len(bl.Bits) == 0 {
		return true // no filter: anything may be there
	}
	return bl.probes(xxhash.Sum64String(v), func(i uint64) bool { return bl.Bits[i/64]&(1<<(i%64)) != 0 })
}
