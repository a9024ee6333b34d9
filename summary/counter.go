package summary

import (
	"bytes"
	"cmp"
	"slices"
	"strings"
)

// counter counts keys, copying each key the first time it is seen: the bytes
// passed to add are views that change after the next event (see CONTRIBUTING.md).
type counter struct {
	m      map[string]*int64
	pruned bool
}

// maxCounterKeys bounds a counter's memory; past it the least frequent half of
// the keys is dropped and the summary is marked approximate.
const maxCounterKeys = 1 << 17

func newCounter() *counter { return &counter{m: map[string]*int64{}} }

func (c *counter) add(key []byte) { c.addN(key, 1) }

// addN adds n (which may be negative: a merge taking back what a chunk
// counted) to key's count; a count that reaches 0 is removed.
func (c *counter) addN(key []byte, n int64) {
	if p := c.m[string(key)]; p != nil {
		*p += n
		if *p == 0 {
			delete(c.m, string(key))
		}
		return
	}
	if n == 0 {
		return
	}
	if len(c.m) >= maxCounterKeys {
		c.prune()
	}
	v := n // not &n: n would move to the heap on every call
	c.m[string(bytes.Clone(key))] = &v
}

// merge adds o's counts into c.
func (c *counter) merge(o *counter) {
	for k, p := range o.m {
		if q := c.m[k]; q != nil {
			*q += *p
			if *q == 0 {
				delete(c.m, k)
			}
			continue
		}
		if len(c.m) >= maxCounterKeys {
			c.prune()
		}
		n := *p
		c.m[k] = &n
	}
	c.pruned = c.pruned || o.pruned
}

// reset empties c, keeping its map's room.
func (c *counter) reset() {
	clear(c.m)
	c.pruned = false
}

func (c *counter) prune() {
	counts := make([]int64, 0, len(c.m))
	for _, p := range c.m {
		counts = append(counts, *p)
	}
	slices.Sort(counts)
	cut := counts[len(counts)/2]
	for k, p := range c.m {
		if *p <= cut {
			delete(c.m, k)
		}
	}
	c.pruned = true
}

// top returns the n largest counts (all when n is 0), largest first, ties by key.
func (c *counter) top(n int) []Row {
	rows := make([]Row, 0, len(c.m))
	for k, p := range c.m {
		rows = append(rows, Row{k, *p})
	}
	slices.SortFunc(rows, func(a, b Row) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Key, b.Key))
	})
	if n > 0 && len(rows) > n {
		rows = rows[:n]
	}
	return rows
}
