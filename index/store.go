package index

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/klauspost/compress/gzip"
)

// Version changes whenever the meaning or the encoding of an Entry does;
// entries of another version are not read.
const Version = 1

// DefaultMaxBytes bounds a Store's directory: past it, the entries used
// least recently are removed.
const DefaultMaxBytes = 256 << 20

// maxEntryBytes bounds what Load reads: an entry is tens of KiB.
const maxEntryBytes = 64 << 20

// hashSpan is how much of each end of a file its key hashes: a gzip
// file's last bytes hold the CRC-32 and length of all it decompresses to.
const hashSpan = 4 << 10

var magic = []byte("AUDITQ-INDEX\n")

// Key identifies a file by what it is and holds, not by its name.
type Key struct {
	Dev, Ino uint64
	Size     int64
	ModTime  int64  // unix nanoseconds
	HeadTail uint64 // xxhash of the first and last hashSpan bytes
}

// KeyOf reads the key of an open file. Reading uses ReadAt: the file's
// offset is left where it was.
func KeyOf(f *os.File) (Key, error) {
	fi, err := f.Stat()
	if err != nil {
		return Key{}, err
	}
	k := Key{Size: fi.Size(), ModTime: fi.ModTime().UnixNano()}
	k.Dev, k.Ino = fileID(fi)
	h := xxhash.New()
	buf := make([]byte, hashSpan)
	n, err := f.ReadAt(buf[:min(int64(hashSpan), k.Size)], 0)
	if err != nil && err != io.EOF {
		return Key{}, err
	}
	h.Write(buf[:n])
	if k.Size > hashSpan {
		from := max(k.Size-hashSpan, hashSpan)
		n, err = f.ReadAt(buf[:k.Size-from], from)
		if err != nil && err != io.EOF {
			return Key{}, err
		}
		h.Write(buf[:n])
	}
	k.HeadTail = h.Sum64()
	return k, nil
}

func (k Key) name() string {
	var b [48]byte
	binary.LittleEndian.PutUint64(b[0:], k.Dev)
	binary.LittleEndian.PutUint64(b[8:], k.Ino)
	binary.LittleEndian.PutUint64(b[16:], uint64(k.Size))
	binary.LittleEndian.PutUint64(b[24:], uint64(k.ModTime))
	binary.LittleEndian.PutUint64(b[32:], k.HeadTail)
	sum := sha256.Sum256(b[:40])
	return hex.EncodeToString(sum[:16]) + ".idx"
}

// Store keeps entries in a directory, one file each. The command keeps
// them in $XDG_CACHE_HOME/auditq/index (os.UserCacheDir): never next to the
// logs, which may be on a control plane's disk or a read-only mount.
type Store struct {
	Dir      string
	MaxBytes int64
}

// Load returns the entry for key, or nil when there is none that can be
// trusted: missing, of another version or key, cut short or damaged. The
// value sets are decoded when Contents first asks for them: a lookup by ID
// reads only the header and the Bloom filter.
func (s *Store) Load(key Key) *Entry {
	path := filepath.Join(s.Dir, key.name())
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() > maxEntryBytes {
		return nil
	}
	b := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, b); err != nil {
		return nil
	}
	e, err := decode(b, key)
	if err != nil {
		return nil
	}
	// Least recently used goes first; a use within the hour need not be noted.
	if now := time.Now(); now.Sub(fi.ModTime()) > time.Hour {
		os.Chtimes(path, now, now)
	}
	return e
}

// Save stores the entry for key, atomically (a reader sees the old file or
// the new, whole), and then trims the directory to MaxBytes. Processes that
// save the same entry at once each write their own file and rename it.
func (s *Store) Save(key Key, e *Entry) (size int64, err error) {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return 0, err
	}
	out, err := encode(Version, key, e)
	if err != nil {
		return 0, err
	}
	tmp, err := os.CreateTemp(s.Dir, ".tmp-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(out); err != nil {
		tmp.Close()
		return 0, err
	}
	if err := tmp.Close(); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(s.Dir, key.name())); err != nil {
		return 0, err
	}
	return int64(len(out)), s.trim()
}

// The encoding: magic, version, key, flags, counts and times, the two Bloom
// filters, the value sets (gzipped: they are mostly repeated text), and an
// xxhash of everything after the magic.

const (
	flagChecked = 1 << iota
	flagNamesComplete
)

func encode(version uint32, key Key, e *Entry) ([]byte, error) {
	b := slices.Clone(magic)
	b = binary.LittleEndian.AppendUint32(b, version)
	for _, v := range []uint64{key.Dev, key.Ino, uint64(key.Size), uint64(key.ModTime), key.HeadTail} {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	var flags byte
	if e.Checked {
		flags |= flagChecked
	}
	if e.NamesComplete {
		flags |= flagNamesComplete
	}
	b = append(b, flags)
	for _, v := range []int64{e.Events, e.MinTime, e.MaxTime} {
		b = binary.LittleEndian.AppendUint64(b, uint64(v))
	}
	for _, bl := range []Bloom{e.IDs, e.Names} {
		b = append(b, bl.K)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(bl.Bits)))
		for _, w := range bl.Bits {
			b = binary.LittleEndian.AppendUint64(b, w)
		}
	}
	var sets bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&sets, gzip.BestSpeed)
	var tmp []byte
	for _, list := range e.lists() {
		tmp = binary.AppendUvarint(tmp[:0], uint64(len(*list)))
		for _, v := range *list {
			tmp = binary.AppendUvarint(tmp, uint64(len(v)))
			tmp = append(tmp, v...)
		}
		zw.Write(tmp)
	}
	tmp = binary.AppendUvarint(tmp[:0], uint64(len(e.Codes)))
	for _, c := range e.Codes {
		tmp = binary.AppendVarint(tmp, int64(c))
	}
	zw.Write(tmp)
	if err := zw.Close(); err != nil {
		return nil, err
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(sets.Len()))
	b = append(b, sets.Bytes()...)
	return binary.LittleEndian.AppendUint64(b, xxhash.Sum64(b[len(magic):])), nil
}

var errDamaged = errors.New("index: entry damaged")

// decode reads an entry written for key; the value sets stay compressed.
func decode(b []byte, key Key) (*Entry, error) {
	if len(b) < len(magic)+8 || !bytes.HasPrefix(b, magic) {
		return nil, errDamaged
	}
	body, sum := b[len(magic):len(b)-8], binary.LittleEndian.Uint64(b[len(b)-8:])
	if xxhash.Sum64(body) != sum {
		return nil, errDamaged
	}
	r := reader{b: body}
	if r.u32() != Version {
		return nil, errDamaged
	}
	got := Key{Dev: r.u64(), Ino: r.u64(), Size: int64(r.u64()), ModTime: int64(r.u64()), HeadTail: r.u64()}
	flags := r.byte()
	e := &Entry{Checked: flags&flagChecked != 0, NamesComplete: flags&flagNamesComplete != 0}
	e.Events, e.MinTime, e.MaxTime = int64(r.u64()), int64(r.u64()), int64(r.u64())
	for _, bl := range []*Bloom{&e.IDs, &e.Names} {
		bl.K = r.byte()
		n := int(r.u32())
		if n > len(r.b)/8 {
			return nil, errDamaged
		}
		if n > 0 {
			bl.Bits = make([]uint64, n)
		}
		for i := range bl.Bits {
			bl.Bits[i] = r.u64()
		}
	}
	n := int(r.u32())
	if r.bad || got != key || n != len(r.b) {
		return nil, errDamaged
	}
	e.rawSets = slices.Clone(r.b)
	return e, nil
}

// decodeSets fills the value sets from their encoded form.
func (e *Entry) decodeSets() error {
	raw := e.rawSets
	e.rawSets = nil
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return err
	}
	r := reader{b: data}
	for _, list := range e.lists() {
		n := r.uvarint()
		if n > uint64(len(r.b)) {
			return errDamaged
		}
		*list = make([]string, n)
		for i := range *list {
			l := r.uvarint()
			if l > uint64(len(r.b)) {
				return errDamaged
			}
			(*list)[i] = string(r.b[:l])
			r.b = r.b[l:]
		}
	}
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		return errDamaged
	}
	e.Codes = make([]int32, n)
	for i := range e.Codes {
		v, k := binary.Varint(r.b)
		if k <= 0 {
			return errDamaged
		}
		e.Codes[i], r.b = int32(v), r.b[k:]
	}
	if r.bad {
		return errDamaged
	}
	return nil
}

// reader reads the fixed-size fields of an entry, noting a short read.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) take(n int) []byte {
	if len(r.b) < n {
		r.bad = true
		r.b = nil
		return make([]byte, n)
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) byte() byte  { return r.take(1)[0] }
func (r *reader) u32() uint32 { return binary.LittleEndian.Uint32(r.take(4)) }
func (r *reader) u64() uint64 { return binary.LittleEndian.Uint64(r.take(8)) }
func (r *reader) uvarint() uint64 {
	v, k := binary.Uvarint(r.b)
	if k <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[k:]
	return v
}

// trim removes the least recently used entries while the directory holds
// more than MaxBytes.
func (s *Store) trim() error {
	limit := s.MaxBytes
	if limit <= 0 {
		limit = DefaultMaxBytes
	}
	entries, err := os.ReadDir(s.Dir)
	if err != nil {
		return err
	}
	type file struct {
		name string
		size int64
		used time.Time
	}
	var files []file
	var total int64
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".idx") {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		files = append(files, file{e.Name(), fi.Size(), fi.ModTime()})
		total += fi.Size()
	}
	slices.SortFunc(files, func(a, b file) int { return a.used.Compare(b.used) })
	var errs []error
	for _, f := range files {
		if total <= limit {
			break
		}
		if err := os.Remove(filepath.Join(s.Dir, f.name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
		total -= f.size
	}
	if len(errs) > 0 {
		return fmt.Errorf("index: trimming %s: %w", s.Dir, errors.Join(errs...))
	}
	return nil
}
