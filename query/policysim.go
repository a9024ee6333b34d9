package query

import (
	"bytes"
	"slices"

	auditinternal "k8s.io/apiserver/pkg/apis/audit"

	"github.com/auditq/auditq/auditlog"
)

// Fate is what a policy does to one logged event.
type Fate uint8

const (
	Kept    Fate = iota // written as it is
	Trimmed             // written at a lower level: bodies or managedFields removed
	Dropped             // not written: level None, or its stage omitted
)

// PolicyOutcome is the fate of one event under a policy.
type PolicyOutcome struct {
	Decision PolicyDecision
	Fate     Fate
	// Underlogged: the policy asks for a higher level than the event was
	// logged at; a log cannot show what that level would add.
	Underlogged bool
}

// ApplyPolicy decides ev under p and appends to dst the event as the policy
// would have kube-apiserver write it (nothing when it is dropped): the level
// set to the policy's, requestObject and responseObject removed below the
// levels that log them, managedFields removed when the policy omits them.
func ApplyPolicy(p *Policy, ev *auditlog.Event, dst []byte) ([]byte, PolicyOutcome) {
	d := p.Decide(EventAttributes(ev))
	out := PolicyOutcome{Decision: d}
	stage := auditinternal.Stage(ev.Stage())
	if d.Level == auditinternal.LevelNone || slices.Contains(d.OmitStages, stage) {
		out.Fate = Dropped
		return dst, out
	}
	logged := auditinternal.Level(ev.Level())
	out.Underlogged = logged.Less(d.Level)
	level := d.Level
	if out.Underlogged {
		level = logged // what the log holds is all there is to write
	}
	if !d.OmitManagedFields && string(level) == string(ev.Level()) {
		return append(dst, ev.Raw()...), out // written as logged: Kept
	}
	start := len(dst)
	dst = rewriteMembers(dst, ev.Raw(), func(key string, value []byte, dst []byte) ([]byte, bool) {
		switch key {
		case "level":
			return append(append(append(dst, '"'), level...), '"'), true
		case "requestObject":
			if level.Less(auditinternal.LevelRequest) {
				return dst, false
			}
		case "responseObject":
			if level.Less(auditinternal.LevelRequestResponse) {
				return dst, false
			}
		default:
			return append(dst, value...), true
		}
		if d.OmitManagedFields {
			return withoutManagedFields(dst, value), true
		}
		return append(dst, value...), true
	})
	if !bytes.Equal(dst[start:], ev.Raw()) {
		out.Fate = Trimmed
	}
	return dst, out
}

// rewriteMembers appends to dst the JSON object obj with each member's value
// replaced by what member appends (or the member left out when it says
// false), keeping the members' order and the bytes between them.
func rewriteMembers(dst, obj []byte, member func(key string, value, dst []byte) ([]byte, bool)) []byte {
	members := objectMembers(obj)
	if members == nil {
		return append(dst, obj...)
	}
	dst = append(dst, '{')
	first := true
	for _, m := range members {
		mark := len(dst)
		if !first {
			dst = append(dst, ',')
		}
		dst = append(dst, obj[m.keyStart:m.valueStart]...) // "key": as written
		var keep bool
		dst, keep = member(m.key, obj[m.valueStart:m.valueEnd], dst)
		if !keep {
			dst = dst[:mark]
			continue
		}
		first = false
	}
	return append(dst, '}')
}

type jsonMember struct {
	key                            string
	keyStart, valueStart, valueEnd int
}

// objectMembers splits a compact JSON object (as the auditlog decoder has
// checked it) into its members; nil when obj is not an object or has
// whitespace between members, which rewriteMembers then leaves as it is.
func objectMembers(obj []byte) []jsonMember {
	if len(obj) < 2 || obj[0] != '{' || obj[len(obj)-1] != '}' {
		return nil
	}
	var ms []jsonMember
	d := fastDecoder{data: obj, pos: 1}
	if obj[1] == '}' {
		return []jsonMember{}
	}
	for {
		if d.pos >= len(obj) || obj[d.pos] != '"' {
			return nil
		}
		m := jsonMember{keyStart: d.pos}
		key, ok := d.str()
		if !ok {
			k, ok := d.escapedKey()
			if !ok {
				return nil
			}
			key = k
		}
		if d.pos >= len(obj) || obj[d.pos] != ':' {
			return nil
		}
		d.pos++
		m.key, m.valueStart = key, d.pos
		if !d.skip() {
			return nil
		}
		m.valueEnd = d.pos
		ms = append(ms, m)
		switch obj[d.pos] {
		case ',':
			d.pos++
		case '}':
			if d.pos != len(obj)-1 {
				return nil
			}
			return ms
		default:
			return nil
		}
	}
}

// escapedKey reads a key with escapes (rare in logs) through the full decoder.
func (d *fastDecoder) escapedKey() (string, bool) {
	i := d.pos + 1
	for i < len(d.data) {
		switch d.data[i] {
		case '\\':
			i += 2
			continue
		case '"':
			v, err := decodeStd(d.data[d.pos : i+1])
			s, ok := v.(string)
			if err != nil || !ok {
				return "", false
			}
			d.pos = i + 1
			return s, true
		}
		i++
	}
	return "", false
}

// withoutManagedFields appends obj (a logged request or response object)
// without metadata.managedFields, in the object or, for a list, in each
// item, as kube-apiserver's audit code removes them for omitManagedFields.
func withoutManagedFields(dst, obj []byte) []byte {
	return rewriteMembers(dst, obj, func(key string, value, dst []byte) ([]byte, bool) {
		switch key {
		case "metadata":
			return rewriteMembers(dst, value, func(key string, value, dst []byte) ([]byte, bool) {
				return append(dst, value...), key != "managedFields"
			}), true
		case "items":
			return eachElement(dst, value, withoutManagedFields), true
		}
		return append(dst, value...), true
	})
}

// eachElement appends the JSON array arr with f applied to each element.
func eachElement(dst, arr []byte, f func(dst, elem []byte) []byte) []byte {
	if len(arr) < 2 || arr[0] != '[' {
		return append(dst, arr...)
	}
	mark := len(dst)
	dst = append(dst, '[')
	d := fastDecoder{data: arr, pos: 1}
	for d.pos < len(arr) && arr[d.pos] != ']' {
		start := d.pos
		if !d.skip() {
			return append(dst[:mark], arr...) // not the shape expected: as it is
		}
		dst = f(dst, arr[start:d.pos])
		if d.pos < len(arr) && arr[d.pos] == ',' {
			dst = append(dst, ',')
			d.pos++
		}
	}
	return append(dst, ']')
}

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
}

func (r *RuleStats) add(o PolicyOutcome, before, after int64, first bool) {
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
}

// PolicySimulation counts, rule by rule, what a policy would keep, trim and
// drop of a log. Add takes events in log order, on one goroutine; the
// outcomes may be computed on others (ApplyPolicy is safe for that).
type PolicySimulation struct {
	policy *Policy
	rules  []RuleStats // one per rule, then "no rule"
	total  RuleStats
	reqs   requestSet
}

// NewPolicySimulation returns an empty simulation of p.
func NewPolicySimulation(p *Policy) *PolicySimulation {
	s := &PolicySimulation{policy: p, rules: make([]RuleStats, len(p.Policy.Rules)+1)}
	for i, r := range p.Policy.Rules {
		s.rules[i].Rule, s.rules[i].Level = i+1, string(r.Level)
	}
	s.rules[len(p.Policy.Rules)].Level = "None"
	return s
}

// Add counts one event, given its outcome under the policy and the length
// of what the policy writes of it (without the newline; ignored if dropped).
func (s *PolicySimulation) Add(ev *auditlog.Event, o PolicyOutcome, written int) {
	key := requestKey(ev.AuditID())
	_, first, open := s.reqs.lookup(key)
	stage := string(ev.Stage())
	s.reqs.update(key, 0, open, stage == "ResponseComplete" || stage == "Panic")
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

// PolicyReport is a simulation's result.
type PolicyReport struct {
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
func (s *PolicySimulation) Report() PolicyReport {
	rep := PolicyReport{Policy: s.policy.Name, APIVersion: s.policy.APIVersion, Notes: s.policy.Notes,
		Rules: slices.Clone(s.rules), Total: s.total, Approximate: s.reqs.evicted}
	rep.Total.Rule, rep.Total.Level = -1, ""
	rep.Shadowed = ShadowedRules(s.policy.Policy)
	for _, r := range s.rules[:len(s.rules)-1] {
		if r.Events == 0 && !slices.ContainsFunc(rep.Shadowed, func(sh Shadowing) bool { return sh.Rule == r.Rule }) {
			rep.Dead = append(rep.Dead, r.Rule)
		}
	}
	return rep
}
