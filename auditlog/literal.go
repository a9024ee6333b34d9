package auditlog

import (
	"bytes"
	"unicode/utf8"
)

// literalSet finds the chunks that may hold one of some strings as (part of)
// a JSON string value, in any spelling: plainly, or with a character written
// as an escape (`\u0061` for "a", `\/` for "/").
type literalSet struct {
	lits     []*pairSearch
	runes    map[rune]bool // the characters of the literals
	short    [256]bool     // escape letters (n, t, /, "...) that stand for one of them
	astral   bool          // a character beyond U+FFFF, escaped as a surrogate pair
	hasShort bool
	any      bool // U+FFFD: any invalid UTF-8 decodes to it, so every chunk may match
}

func newLiteralSet(lits []string) *literalSet {
	ls := &literalSet{runes: map[rune]bool{}}
	shortOf := map[rune]byte{'"': '"', '\\': '\\', '/': '/', '\b': 'b', '\f': 'f', '\n': 'n', '\r': 'r', '\t': 't'}
	for _, l := range lits {
		ls.lits = append(ls.lits, newPairSearch([]byte(l)))
		for _, r := range l {
			ls.runes[r] = true
			if r == utf8.RuneError {
				ls.any = true
			}
			if r > 0xFFFF {
				ls.astral = true
			}
			if c, ok := shortOf[r]; ok {
				ls.short[c], ls.hasShort = true, true
			}
		}
	}
	return ls
}

var escU = []byte(`\u`)

// mayContain reports whether data may hold one of the literals.
func (ls *literalSet) mayContain(data []byte) bool {
	if ls.any {
		return true
	}
	for _, l := range ls.lits {
		if l.in(data) {
			return true
		}
	}
	// An escaped character of a literal: \uXXXX anywhere, or a short escape.
	for rest := data; ; {
		i := bytes.Index(rest, escU)
		if i < 0 {
			break
		}
		rest = rest[i+2:]
		if len(rest) < 4 {
			return true // cut short: let the decoder judge
		}
		r, ok := hex4(rest)
		if !ok {
			continue
		}
		if ls.runes[r] || ls.astral && r >= 0xD800 && r < 0xE000 {
			return true
		}
	}
	if ls.hasShort {
		for rest := data; ; {
			i := bytes.IndexByte(rest, '\\')
			if i < 0 || i+1 >= len(rest) {
				break
			}
			if ls.short[rest[i+1]] {
				return true
			}
			rest = rest[i+2:]
		}
	}
	return false
}

func hex4(b []byte) (rune, bool) {
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// pairSearch is Horspool's search with a shift table on the last two bytes
// of the window. bytes.Index looks for a literal's first byte and compares
// from there, but a hex auditID's first byte is everywhere in a log (in
// every UID and timestamp); pairs of bytes of the literal are rarer, so most
// windows shift by nearly the whole literal.
type pairSearch struct {
	lit   []byte
	shift *[1 << 16]uint8
}

func newPairSearch(lit []byte) *pairSearch {
	ps := &pairSearch{lit: lit}
	m := len(lit)
	if m < 3 || m > 255 {
		return ps // bytes.Index does as well
	}
	ps.shift = new([1 << 16]uint8)
	for i := range ps.shift {
		ps.shift[i] = uint8(m - 1)
	}
	// A window whose last two bytes are lit[k:k+2] may hold lit shifted by m-2-k.
	for k := 0; k+2 < m; k++ {
		ps.shift[int(lit[k])<<8|int(lit[k+1])] = uint8(m - 2 - k)
	}
	return ps
}

func (ps *pairSearch) in(data []byte) bool {
	if ps.shift == nil {
		return bytes.Contains(data, ps.lit)
	}
	m := len(ps.lit)
	if len(data) < 1<<12 {
		return ps.within(data, m-1, len(data))
	}
	// Four searches, over the windows ending in each quarter, advance in one
	// loop: each step waits on two dependent loads, and the other searches'
	// steps run in that time.
	q := (len(data) - m + 1) / 4
	e1, e2, e3 := m-1+q, m-1+2*q, m-1+3*q
	j1, j2, j3, j4 := m-1, e1, e2, e3
	last, shift := ps.lit[m-1], ps.shift
	for j1 < e1 && j2 < e2 && j3 < e3 && j4 < len(data) {
		if data[j1] == last && bytes.Equal(data[j1-m+1:j1+1], ps.lit) ||
			data[j2] == last && bytes.Equal(data[j2-m+1:j2+1], ps.lit) ||
			data[j3] == last && bytes.Equal(data[j3-m+1:j3+1], ps.lit) ||
			data[j4] == last && bytes.Equal(data[j4-m+1:j4+1], ps.lit) {
			return true
		}
		j1 += int(shift[int(data[j1-1])<<8|int(data[j1])])
		j2 += int(shift[int(data[j2-1])<<8|int(data[j2])])
		j3 += int(shift[int(data[j3-1])<<8|int(data[j3])])
		j4 += int(shift[int(data[j4-1])<<8|int(data[j4])])
	}
	return ps.within(data, j1, e1) || ps.within(data, j2, e2) || ps.within(data, j3, e3) || ps.within(data, j4, len(data))
}

// within searches the windows of data ending at j and up to end (exclusive).
func (ps *pairSearch) within(data []byte, j, end int) bool {
	m := len(ps.lit)
	last := ps.lit[m-1]
	for j < end {
		if data[j] == last && bytes.Equal(data[j-m+1:j+1], ps.lit) {
			return true
		}
		j += int(ps.shift[int(data[j-1])<<8|int(data[j])])
	}
	return false
}
