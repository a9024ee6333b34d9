package policy

import (
	"bytes"
	"slices"
	"strconv"

	auditinternal "k8s.io/apiserver/pkg/apis/audit"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/internal/jsonscan"
)

// Fate is what a policy does to one logged event.
type Fate uint8

const (
	Kept    Fate = iota // written as it is
	Trimmed             // written at a lower level: bodies or managedFields removed
	Dropped             // not written: level None, or its stage omitted
)

// String is kept, trimmed or dropped.
func (f Fate) String() string {
	switch f {
	case Kept:
		return "kept"
	case Trimmed:
		return "trimmed"
	case Dropped:
		return "dropped"
	}
	return "Fate(" + strconv.Itoa(int(f)) + ")"
}

// MarshalText writes the fate as String does, in JSON reports.
func (f Fate) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// Outcome is the fate of one event under a policy.
type Outcome struct {
	Decision Decision
	Fate     Fate
	// Underlogged: the policy asks for a higher level than the event was
	// logged at; a log cannot show what that level would add.
	Underlogged bool
	// NoLevel: the event records no level (GKE's entries and legacy lines
	// do not keep one): it is written as it is, whatever the policy's level.
	NoLevel bool
}

// Apply decides ev under p and appends to dst the event as the policy would
// have kube-apiserver write it (nothing when it is dropped): the level set to
// the policy's, requestObject and responseObject removed below the levels
// that log them, managedFields removed when the policy omits them. An event
// that records no level (Outcome.NoLevel) keeps its level and bodies. It is
// safe for concurrent use, so workers may apply a policy to many events.
func (p *Policy) Apply(ev *auditlog.Event, dst []byte) ([]byte, Outcome) {
	d := p.Decide(Attributes(ev))
	out := Outcome{Decision: d}
	stage := auditinternal.Stage(ev.Stage())
	if d.Level == auditinternal.LevelNone || slices.Contains(d.OmitStages, stage) {
		out.Fate = Dropped
		return dst, out
	}
	logged := auditinternal.Level(ev.Level())
	out.NoLevel = logged == ""
	out.Underlogged = !out.NoLevel && logged.Less(d.Level)
	level := d.Level
	if out.Underlogged || out.NoLevel {
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
			if !out.NoLevel && level.Less(auditinternal.LevelRequest) {
				return dst, false
			}
		case "responseObject":
			if !out.NoLevel && level.Less(auditinternal.LevelRequestResponse) {
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
	members := jsonscan.Members(obj)
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
		dst = append(dst, obj[m.KeyStart:m.ValueStart]...) // "key": as written
		var keep bool
		dst, keep = member(m.Key, obj[m.ValueStart:m.ValueEnd], dst)
		if !keep {
			dst = dst[:mark]
			continue
		}
		first = false
	}
	return append(dst, '}')
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
	spans, ok := jsonscan.Elements(arr)
	if !ok {
		return append(dst, arr...) // not the shape expected: as it is
	}
	dst = append(dst, '[')
	for i, sp := range spans {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = f(dst, arr[sp[0]:sp[1]])
	}
	return append(dst, ']')
}
