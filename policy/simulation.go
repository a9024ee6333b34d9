package policy

import (
	"slices"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/internal/requests"
)

// RuleStats are what one rule of a policy decided over a log.
type RuleStats struct {
	Rule  int    `json:"rule"` // 1-based as in the file; 0: no rule matched (level None)
	Level string `json:"level"`
	// Requests and Events the rule decided (matched first).
	Requests int64 `json:"requests"`
	Events   int64 `json:"events"`
	// Bytes of those events in the log (lines with their newline), and
	// under the policy.
	BytesBefore int64 `json:"bytesBefore"`
	BytesAfter  int64 `json:"bytesAfter"`
	Kept        int64 `json:"eventsKept"`
	Trimmed     int64 `json:"eventsTrimmed"`
	Dropped     int64 `json:"eventsDropped"`
	// Underlogged events were logged at a lower level than the rule asks:
	// what the higher level would add is not in the log.
	Underlogged int64 `json:"eventsUnderlogged"`
	// NoLevel events record no level (see Outcome.NoLevel).
	NoLevel int64 `json:"eventsWithoutLevel"`
}

func (r *RuleStats) add(o Outcome, before, after int64, first bool) {
	r.Events++
	if first {
		r.Requests++
	}
	r.BytesBefore += before
	r.BytesAfter += after
	switch o.Fate {
	case Kept:
		r.Kept++
	case Trimmed:
		r.Trimmed++
	case Dropped:
		r.Dropped++
	}
	if o.Underlogged {
		r.Underlogged++
	}
	if o.NoLevel {
		r.NoLevel++
	}
}

// Simulation counts, rule by rule, what a policy would keep, trim and drop
// of a log. Add takes events in log order, on one goroutine; the outcomes
// may be computed on others (Policy.Apply is safe for that).
type Simulation struct {
	policy *Policy
	rules  []RuleStats // one per rule, then "no rule"
	total  RuleStats
	reqs   requests.Set
}

// NewSimulation returns an empty simulation of p.
func NewSimulation(p *Policy) *Simulation {
	s := &Simulation{policy: p, rules: make([]RuleStats, len(p.Spec.Rules)+1)}
	for i, r := range p.Spec.Rules {
		s.rules[i].Rule, s.rules[i].Level = i+1, string(r.Level)
	}
	s.rules[len(p.Spec.Rules)].Level = "None"
	return s
}

// Add counts one event, given its outcome under the policy and the length
// of what the policy writes of it (without the newline; ignored if dropped).
func (s *Simulation) Add(ev *auditlog.Event, o Outcome, written int) {
	key := requests.KeyOf(ev.AuditID())
	_, first, open := s.reqs.Lookup(key)
	s.reqs.Update(key, 0, open, requests.Last(ev.Stage()))
	before, after := int64(len(ev.Raw())+1), int64(0)
	if o.Fate != Dropped {
		after = int64(written + 1)
	}
	r := &s.rules[len(s.rules)-1]
	if o.Decision.Rule >= 0 {
		r = &s.rules[o.Decision.Rule]
	}
	r.add(o, before, after, first)
	s.total.add(o, before, after, first)
}

// Report is a simulation's result.
type Report struct {
	Policy     string      `json:"policy"`
	APIVersion string      `json:"apiVersion"`
	Notes      []string    `json:"notes,omitempty"`
	Rules      []RuleStats `json:"rules"` // in file order, then rule 0 (no rule matched)
	Total      RuleStats   `json:"total"`
	// Dead rules never decided an event of the log; shadowed rules can never
	// decide one, because an earlier rule matches every request they match.
	Dead     []int       `json:"deadRules"`
	Shadowed []Shadowing `json:"shadowedRules"`
	// Approximate: more requests were open at once than are remembered, so
	// request counts may be high.
	Approximate bool `json:"approximate"`
}

// Report returns the counts so far.
func (s *Simulation) Report() Report {
	rep := Report{Policy: s.policy.Name, APIVersion: s.policy.APIVersion, Notes: s.policy.Notes,
		Rules: slices.Clone(s.rules), Total: s.total, Approximate: s.reqs.Evicted()}
	rep.Total.Rule, rep.Total.Level = -1, ""
	rep.Shadowed = s.policy.Shadowed()
	for _, r := range s.rules[:len(s.rules)-1] {
		if r.Events == 0 && !slices.ContainsFunc(rep.Shadowed, func(sh Shadowing) bool { return sh.Rule == r.Rule }) {
			rep.Dead = append(rep.Dead, r.Rule)
		}
	}
	return rep
}
