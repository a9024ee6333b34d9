package index

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/internal/fixture"
	"github.com/auditq/auditq/query"
)

// events returns the fixture's events, cloned.
func events(t *testing.T, requests int) []*auditlog.Event {
	t.Helper()
	var buf bytes.Buffer
	if _, err := fixture.Write(&buf, fixture.Config{Seed: 77, Requests: requests}); err != nil {
		t.Fatal(err)
	}
	rd, err := auditlog.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var out []*auditlog.Event
	for ev, err := range rd.All() {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev.Clone())
	}
	return out
}

// filtersOf are filters that the event itself passes, one per field and
// form (exact, glob, class, bound).
func filtersOf(ev *auditlog.Event) []query.Filter {
	var fs []query.Filter
	add := func(f query.Filter) { fs = append(fs, f) }
	add(query.Filter{AuditIDs: []string{string(ev.AuditID())}})
	add(query.Filter{Verbs: []string{string(ev.Verb())}})
	add(query.Filter{Stages: []string{string(ev.Stage())}})
	add(query.Filter{Levels: []string{string(ev.Level())}})
	if ev.ResponseStatus() != nil {
		add(query.Filter{Codes: []string{fmt.Sprint(ev.Code())}})
		add(query.Filter{Codes: []string{fmt.Sprintf("%dxx", ev.Code()/100)}})
	}
	for _, u := range []*auditlog.UserInfo{ev.User(), ev.ImpersonatedUser()} {
		if u == nil {
			continue
		}
		name := string(u.Username)
		add(query.Filter{Users: []string{name}})
		if len(name) > 3 {
			add(query.Filter{Users: []string{name[:3] + "*"}})
		}
		for _, g := range u.Groups {
			add(query.Filter{Groups: []string{string(g)}})
		}
		if sa, ok := strings.CutPrefix(name, "system:serviceaccount:"); ok {
			add(query.Filter{ServiceAccounts: []string{sa}})
			ns, _, _ := strings.Cut(sa, ":")
			add(query.Filter{ServiceAccounts: []string{ns}})
		}
	}
	if ref := ev.ObjectRef(); ref != nil {
		add(query.Filter{Namespaces: []string{string(ref.Namespace)}})
		add(query.Filter{Names: []string{string(ref.Name)}})
		if len(ref.Name) > 2 {
			add(query.Filter{Names: []string{"*" + string(ref.Name[2:])}})
		}
		r := string(ref.Resource)
		if len(ref.APIGroup) > 0 {
			r += "." + string(ref.APIGroup)
		}
		if len(ref.Subresource) > 0 {
			r += "/" + string(ref.Subresource)
		}
		if len(ref.Resource) > 0 {
			add(query.Filter{Resources: []string{r}})
		}
	}
	if tm := ev.Time(); !tm.IsZero() {
		ts := tm.Format(time.RFC3339Nano)
		add(query.Filter{Since: ts})
		add(query.Filter{Until: ts})
		add(query.Filter{Since: ts, Until: ts})
	}
	return fs
}

// TestNoFalseNegatives: for every event and every filter it passes, the
// entry of a file holding it (after a trip through the store) says the
// file may match, with the exact name set and with names past maxNames.
func TestNoFalseNegatives(t *testing.T) {
	evs := events(t, 1500)
	b := NewBuilder()
	for _, ev := range evs {
		b.Add(ev)
	}
	st := &Store{Dir: t.TempDir()}
	key := Key{Ino: 1, Size: 2}
	if _, err := st.Save(key, b.Build()); err != nil {
		t.Fatal(err)
	}
	e := st.Load(key)
	if e == nil {
		t.Fatal("entry not loaded back")
	}
	e.Contents(true) // decodes the value sets
	if diff := cmp.Diff(b.Build(), e, cmpopts.IgnoreUnexported(Entry{})); diff != "" {
		t.Fatalf("entry changed through the store:\n%s", diff)
	}
	overflow := NewBuilder()
	for i := range maxNames + 10 {
		overflow.names[fmt.Sprint("filler-", i)] = struct{}{}
	}
	for _, ev := range evs {
		overflow.Add(ev)
	}
	entries := map[string]*Entry{"exact names": e, "names past the bound": overflow.Build()}
	if entries["names past the bound"].NamesComplete {
		t.Fatal("the overflow entry should keep names in the Bloom filter only")
	}
	checked := 0
	for what, e := range entries {
		full, lazy := e.Contents(true), e.Contents(false)
		for _, ev := range evs {
			for _, f := range filtersOf(ev) {
				m, err := f.Compile()
				if err != nil {
					t.Fatal(err)
				}
				if !m.Match(ev) {
					t.Fatalf("%+v does not match its own event", f)
				}
				c := full
				if !m.ComparesValues() {
					c = lazy
				}
				if !m.MayMatch(c) {
					t.Fatalf("%s: %+v matches an event of the file, but MayMatch says no", what, f)
				}
				checked++
			}
		}
	}
	t.Logf("%d filter checks", checked)
}

// TestPrunes: values the file does not hold rule it out.
func TestPrunes(t *testing.T) {
	evs := events(t, 300)
	b := NewBuilder()
	for _, ev := range evs {
		b.Add(ev)
	}
	c := b.Build().Contents(true)
	last := evs[len(evs)-1].Time()
	for _, f := range []query.Filter{
		{AuditIDs: []string{"00000000-0000-0000-0000-000000000000"}},
		{Users: []string{"nobody-at-all"}},
		{ServiceAccounts: []string{"no-such-namespace:x"}},
		{Namespaces: []string{"no-such-namespace"}},
		{Names: []string{"no-such-name"}},
		{Resources: []string{"widgets.example.com"}},
		{Verbs: []string{"escalate"}},
		{Codes: []string{"418"}},
		{Since: last.Add(time.Second).Format(time.RFC3339Nano)},
		{Until: evs[0].Time().Add(-time.Hour).Format(time.RFC3339Nano)},
	} {
		m, err := f.Compile()
		if err != nil {
			t.Fatal(err)
		}
		if m.MayMatch(c) {
			t.Errorf("%+v: MayMatch says yes for a file without it", f)
		}
		if !m.ComparesValues() && m.MayMatch(b.Build().Contents(false)) {
			t.Errorf("%+v: MayMatch without the value sets says yes", f)
		}
	}
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func keyOfPath(t *testing.T, path string) Key {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	k, err := KeyOf(f)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestKeyFollowsTheFile: the key changes when a backup is replaced by
// another of the same name and size, when it is changed in place at either
// end even with its modification time put back, and when it is touched.
func TestKeyFollowsTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kube-apiserver-audit-2026-11-20T08-00-08.867.log")
	data := bytes.Repeat([]byte(`{"kind":"Event","auditID":"x"}`+"\n"), 10000)
	write(t, path, data)
	mtime := time.Date(2026, 11, 20, 8, 0, 8, 0, time.UTC)
	os.Chtimes(path, mtime, mtime)
	k0 := keyOfPath(t, path)
	if keyOfPath(t, path) != k0 {
		t.Fatal("the key of an unchanged file changed")
	}
	// Another file, same name, size, time and bytes: a new inode.
	other := filepath.Join(dir, "other")
	write(t, other, data)
	os.Chtimes(other, mtime, mtime)
	if err := os.Rename(other, path); err != nil {
		t.Fatal(err)
	}
	k1 := keyOfPath(t, path)
	if k1 == k0 {
		t.Error("a replaced file kept its key")
	}
	// Changed in place at the start, then at the end, time put back.
	for _, at := range []int{10, len(data) - 10} {
		f, _ := os.OpenFile(path, os.O_WRONLY, 0)
		f.WriteAt([]byte("Y"), int64(at))
		f.Close()
		os.Chtimes(path, mtime, mtime)
		if k := keyOfPath(t, path); k == k1 {
			t.Errorf("a byte changed at %d kept the key", at)
		} else {
			k1 = k
		}
	}
	now := time.Now()
	os.Chtimes(path, now, now)
	if keyOfPath(t, path) == k1 {
		t.Error("a touched file kept its key")
	}
}

// TestStoreRefusesDamage: an entry cut short, with a byte flipped, of
// another version or written for another key reads as no entry.
func TestStoreRefusesDamage(t *testing.T) {
	st := &Store{Dir: t.TempDir()}
	b := NewBuilder()
	for _, ev := range events(t, 50) {
		b.Add(ev)
	}
	key := Key{Dev: 1, Ino: 2, Size: 3, ModTime: 4, HeadTail: 5}
	if _, err := st.Save(key, b.Build()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(st.Dir, key.name())
	good, _ := os.ReadFile(path)
	for name, data := range map[string][]byte{
		"cut in half":  good[:len(good)/2],
		"empty":        nil,
		"byte flipped": append(append(append([]byte{}, good[:len(good)/2]...), good[len(good)/2]^1), good[len(good)/2+1:]...),
	} {
		write(t, path, data)
		if st.Load(key) != nil {
			t.Errorf("%s: loaded", name)
		}
	}
	write(t, path, good)
	if st.Load(key) == nil {
		t.Fatal("the good entry does not load")
	}
	other := key
	other.ModTime++
	os.Rename(path, filepath.Join(st.Dir, other.name())) // the entry under another key's name
	if st.Load(other) != nil {
		t.Error("an entry written for another key was loaded")
	}
	// Another version, under the right name.
	next, err := encode(Version+1, key, b.Build())
	if err != nil {
		t.Fatal(err)
	}
	write(t, path, next)
	if st.Load(key) != nil {
		t.Error("an entry of another version was loaded")
	}
}

// TestConcurrentSaves: processes (here goroutines, which share nothing but
// the directory) saving the same entry at once never leave one that reads
// damaged: every load is the whole entry or nothing.
func TestConcurrentSaves(t *testing.T) {
	st := &Store{Dir: t.TempDir()}
	b := NewBuilder()
	for _, ev := range events(t, 200) {
		b.Add(ev)
	}
	want := b.Build()
	key := Key{Ino: 9, Size: 9}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range 20 {
				if _, err := st.Save(key, want); err != nil {
					t.Error(err)
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range 50 {
				if e := st.Load(key); e != nil && (e.Contents(true) == nil || !cmp.Equal(e, want, cmpopts.IgnoreUnexported(Entry{}))) {
					t.Error("a load returned a different entry")
				}
			}
		}()
	}
	wg.Wait()
	if st.Load(key) == nil {
		t.Error("no entry after the saves")
	}
	left, _ := filepath.Glob(filepath.Join(st.Dir, ".tmp-*"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestTrimKeepsRecent: the directory stays under its bound, and entries
// used recently are the ones kept.
func TestTrimKeepsRecent(t *testing.T) {
	st := &Store{Dir: t.TempDir()}
	b := NewBuilder()
	for _, ev := range events(t, 100) {
		b.Add(ev)
	}
	e := b.Build()
	size, err := st.Save(Key{Ino: 1000}, e)
	if err != nil {
		t.Fatal(err)
	}
	st.MaxBytes = size * 5
	past := time.Now().Add(-3 * time.Hour)
	for i := range 12 {
		k := Key{Ino: uint64(i)}
		st.Save(k, e)
		os.Chtimes(filepath.Join(st.Dir, k.name()), past.Add(time.Duration(i)*time.Minute), past.Add(time.Duration(i)*time.Minute))
		if i == 0 {
			continue
		}
		st.Load(Key{Ino: 0}) // kept in use
	}
	entries, _ := os.ReadDir(st.Dir)
	var total int64
	for _, d := range entries {
		fi, _ := d.Info()
		total += fi.Size()
	}
	if total > st.MaxBytes {
		t.Errorf("directory holds %d bytes, bound %d", total, st.MaxBytes)
	}
	if st.Load(Key{Ino: 0}) == nil {
		t.Error("the entry used most recently was removed")
	}
	if st.Load(Key{Ino: 1}) != nil {
		t.Error("an entry unused for longest is still there")
	}
}
