package index

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/gob"
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

// hashSpan is how much of each end of a file its key hashes.
const hashSpan = 64 << 10

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

// Store keeps entries in a directory, one file each.
type Store struct {
	Dir      string
	MaxBytes int64
}

// DefaultDir is $XDG_CACHE_HOME/auditq/index (os.UserCacheDir): never next
// to the logs, which may be on a control plane's disk or a read-only mount.
func DefaultDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "auditq", "index"), nil
}

// stored is the encoded form: the key again (a file name collision, however
// unlikely, is then caught), and the entry.
type stored struct {
	Version int
	Key     Key
	Entry   *Entry
}

// Load returns the entry for key, or nil when there is none that can be
// trusted: missing, of another version or key, cut short or damaged.
func (s *Store) Load(key Key) *Entry {
	path := filepath.Join(s.Dir, key.name())
	b, err := os.ReadFile(path)
	if err != nil || len(b) < len(magic)+8 || !bytes.HasPrefix(b, magic) {
		return nil
	}
	body, sum := b[len(magic):len(b)-8], binary.LittleEndian.Uint64(b[len(b)-8:])
	if xxhash.Sum64(body) != sum {
		return nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil
	}
	var st stored
	if err := gob.NewDecoder(zr).Decode(&st); err != nil || st.Version != Version || st.Key != key || st.Entry == nil {
		return nil
	}
	now := time.Now()
	os.Chtimes(path, now, now) // least recently used goes first
	return st.Entry
}

// Save stores the entry for key, atomically (a reader sees the old file or
// the new, whole), and then trims the directory to MaxBytes. Processes that
// save the same entry at once each write their own file and rename it.
func (s *Store) Save(key Key, e *Entry) (size int64, err error) {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return 0, err
	}
	out, err := encode(stored{Version, key, e})
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

// encode frames an entry: magic, gzipped gob (value sets are mostly
// repeated text: compressed, an entry is about half its gob size), checksum.
func encode(st stored) ([]byte, error) {
	var body bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&body, gzip.BestSpeed)
	if err := gob.NewEncoder(zw).Encode(st); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	out := append(slices.Clone(magic), body.Bytes()...)
	return binary.LittleEndian.AppendUint64(out, xxhash.Sum64(body.Bytes())), nil
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
