package policy

import (
	"cmp"
	"slices"

	"github.com/auditq/auditq/auditlog"
)

// Comparison counts where two policies write a log differently: for each
// event, what each policy decided and wrote of it, grouped by the pair of
// rules that decided it. Add takes events on one goroutine; the zero value
// is ready to use.
type Comparison struct {
	bytes [3]int64 // the log, under the first policy, under the second
	pairs map[[2]int]*RulePair
}

// RulePair is the events one rule of the first policy and one rule of the
// second decided differently (a different fate, or a different size).
type RulePair struct {
	Rule       int   `json:"rule"`      // in the first policy, 1-based (0: no rule matched)
	Against    int   `json:"against"`   // in the second policy
	Fate       Fate  `json:"fate"`      // under the first policy
	FateOther  Fate  `json:"fateOther"` // under the second
	Events     int64 `json:"events"`
	Bytes      int64 `json:"bytes"`      // written under the first policy, newlines included
	BytesOther int64 `json:"bytesOther"` // written under the second
}

// Difference is a comparison's result: the bytes of the log and of what each
// policy writes of it (newlines included), and the rule pairs behind the
// difference, the largest difference in bytes first. The pairs account for
// the whole difference: the sum of Bytes−BytesOther over them is
// BytesPolicy−BytesAgainst.
type Difference struct {
	BytesAgainst int64       `json:"bytesAgainst"`
	BytesLog     int64       `json:"bytesLog"`
	BytesPolicy  int64       `json:"bytesPolicy"`
	RulePairs    []*RulePair `json:"rulePairs"`
}

// Add counts one event, given its outcome under each policy and the length
// of what each writes of it (without the newline; ignored when dropped), as
// Policy.Apply returns them.
func (c *Comparison) Add(ev *auditlog.Event, a Outcome, writtenA int, b Outcome, writtenB int) {
	logged, lenA, lenB := int64(len(ev.Raw())+1), int64(writtenA+1), int64(writtenB+1)
	if a.Fate == Dropped {
		lenA = 0
	}
	if b.Fate == Dropped {
		lenB = 0
	}
	c.bytes[0] += logged
	c.bytes[1] += lenA
	c.bytes[2] += lenB
	if a.Fate == b.Fate && lenA == lenB {
		return
	}
	if c.pairs == nil {
		c.pairs = map[[2]int]*RulePair{}
	}
	key := [2]int{a.Decision.Rule + 1, b.Decision.Rule + 1}
	rp := c.pairs[key]
	if rp == nil {
		rp = &RulePair{Rule: key[0], Against: key[1], Fate: a.Fate, FateOther: b.Fate}
		c.pairs[key] = rp
	}
	rp.Events++
	rp.Bytes += lenA
	rp.BytesOther += lenB
}

// Difference returns the counts so far.
func (c *Comparison) Difference() Difference {
	var pairs []*RulePair
	for _, rp := range c.pairs {
		pairs = append(pairs, rp)
	}
	slices.SortFunc(pairs, func(x, y *RulePair) int {
		return cmp.Or(cmp.Compare(abs(y.Bytes-y.BytesOther), abs(x.Bytes-x.BytesOther)),
			cmp.Compare(x.Rule, y.Rule), cmp.Compare(x.Against, y.Against))
	})
	return Difference{BytesLog: c.bytes[0], BytesPolicy: c.bytes[1], BytesAgainst: c.bytes[2], RulePairs: pairs}
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
