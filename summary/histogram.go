package summary

import (
	"math"
	"math/bits"
	"time"
)

// histogram is a log-bucketed histogram of durations in microseconds: 64
// sub-buckets per power of two keep every value within 1.6% of its bucket.
type histogram struct {
	counts [64 * 42]int64
	n      int64
	max    time.Duration
	lo, hi int // the buckets in use, when n > 0: merging and resetting touch only them
}

func (h *histogram) add(d time.Duration) {
	us := uint64(d / time.Microsecond)
	i := bucketOf(us)
	h.counts[i]++
	if h.n == 0 {
		h.lo, h.hi = i, i
	} else {
		h.lo, h.hi = min(h.lo, i), max(h.hi, i)
	}
	h.n++
	h.max = max(h.max, d)
}

// merge adds o's durations to h.
func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	for i := o.lo; i <= o.hi; i++ {
		h.counts[i] += o.counts[i]
	}
	if h.n == 0 {
		h.lo, h.hi = o.lo, o.hi
	} else {
		h.lo, h.hi = min(h.lo, o.lo), max(h.hi, o.hi)
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

func (h *histogram) reset() {
	if h.n > 0 {
		clear(h.counts[h.lo : h.hi+1])
	}
	h.n, h.max, h.lo, h.hi = 0, 0, 0, 0
}

func bucketOf(us uint64) int {
	if us < 64 {
		return int(us)
	}
	e := bits.Len64(us) - 7 // us>>e is in [64, 128)
	return min((e+1)*64+int(us>>e)-64, 64*42-1)
}

// bucketMid is the middle of bucket i, in microseconds.
func bucketMid(i int) float64 {
	if i < 64 {
		return float64(i)
	}
	e := i/64 - 1
	lo := uint64(i%64+64) << e
	return float64(lo) + float64(uint64(1)<<e)/2
}

func (h *histogram) quantile(q float64) float64 {
	rank := int64(math.Ceil(q * float64(h.n)))
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen >= rank && c > 0 {
			return math.Min(bucketMid(i), float64(h.max/time.Microsecond))
		}
	}
	return 0
}

func (h *histogram) summary() Latency {
	if h.n == 0 {
		return Latency{}
	}
	ms := func(us float64) float64 { return math.Round(us) / 1000 }
	return Latency{
		Requests: h.n,
		P50ms:    ms(h.quantile(0.50)),
		P90ms:    ms(h.quantile(0.90)),
		P99ms:    ms(h.quantile(0.99)),
		Maxms:    float64(h.max/time.Microsecond) / 1000,
	}
}
