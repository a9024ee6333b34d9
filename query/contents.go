package query

import (
	"slices"
	"strings"
	"time"

	"github.com/auditq/auditq/auditlog"
)

// Contents is what a file is known to hold (as an index records it): for
// each field a filter compares, every value its events have. MayMatch asks it
// whether any event of the file could pass the filters.
type Contents struct {
	// MinTime and MaxTime bound the stageTimestamps; zero when no event has one.
	MinTime, MaxTime time.Time
	// MayHoldID reports whether an auditID may occur (no false negatives).
	MayHoldID func(id string) bool
	// Usernames and Groups are those of user and of impersonatedUser.
	Usernames, Groups     []string
	Verbs, Stages, Levels []string
	Codes                 []int32 // of the events with a responseStatus
	// Of the events with an objectRef: namespaces ("" for cluster-scoped),
	// resources as {resource, apiGroup, subresource}, and names, all of them
	// when NamesComplete, else MayHoldName answers for exact names.
	Namespaces    []string
	Resources     [][3]string
	Names         []string
	NamesComplete bool
	MayHoldName   func(name string) bool
	// AnyValue: the value sets above are not known; only times and IDs judge.
	AnyValue bool
}

// ComparesValues reports whether the matcher filters on values a Contents
// lists (anything but IDs, times and sources), so whether MayMatch needs them.
func (m *Matcher) ComparesValues() bool {
	return len(m.sas)+len(m.users)+len(m.groups)+len(m.verbs)+len(m.resources)+
		len(m.namespaces)+len(m.names)+len(m.codes)+len(m.stages)+len(m.levels) > 0
}

// MayMatch reports whether a file with contents c may hold an event that
// passes the filters: false only when no value of some filtered field can
// match, so a file it rules out holds no matching event. Each field is
// judged on its own, which can only say "may" more often than Match.
func (m *Matcher) MayMatch(c *Contents) bool {
	if m.empty {
		return true
	}
	anyOf := func(vs []string, ok func([]byte) bool) bool {
		return slices.ContainsFunc(vs, func(v string) bool { return ok([]byte(v)) })
	}
	if m.ids != nil && c.MayHoldID != nil {
		found := false
		for id := range m.ids {
			if c.MayHoldID(id) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if c.AnyValue {
		return m.mayMatchTime(c)
	}
	in := func(set []string) func([]byte) bool {
		return func(b []byte) bool { return containsBytes(set, b) }
	}
	if len(m.verbs) > 0 && !anyOf(c.Verbs, in(m.verbs)) ||
		len(m.stages) > 0 && !anyOf(c.Stages, in(m.stages)) ||
		len(m.levels) > 0 && !anyOf(c.Levels, in(m.levels)) {
		return false
	}
	if len(m.codes) > 0 && !slices.ContainsFunc(c.Codes, func(code int32) bool {
		return slices.ContainsFunc(m.codes, func(p codePattern) bool { return code >= p.lo && code <= p.hi })
	}) {
		return false
	}
	if len(m.namespaces) > 0 && !anyOf(c.Namespaces, func(b []byte) bool { return anyGlob(m.namespaces, b) }) {
		return false
	}
	if len(m.resources) > 0 && !slices.ContainsFunc(c.Resources, func(r [3]string) bool {
		return m.matchResource(&auditlog.ObjectRef{Resource: []byte(r[0]), APIGroup: []byte(r[1]), Subresource: []byte(r[2])})
	}) {
		return false
	}
	if len(m.names) > 0 {
		switch {
		case c.NamesComplete:
			if !anyOf(c.Names, func(b []byte) bool { return anyGlob(m.names, b) }) {
				return false
			}
		case c.MayHoldName != nil && !slices.ContainsFunc(m.names, func(n string) bool { return strings.Contains(n, "*") }):
			if !slices.ContainsFunc(m.names, c.MayHoldName) {
				return false
			}
		}
	}
	if len(m.users) > 0 && !anyOf(c.Usernames, func(b []byte) bool { return anyGlob(m.users, b) }) ||
		len(m.groups) > 0 && !anyOf(c.Groups, func(b []byte) bool { return anyGlob(m.groups, b) }) ||
		len(m.sas) > 0 && !anyOf(c.Usernames, m.matchSA) {
		return false
	}
	return m.mayMatchTime(c)
}

func (m *Matcher) mayMatchTime(c *Contents) bool {
	if !m.since.IsZero() || !m.until.IsZero() {
		if c.MinTime.IsZero() || !m.since.IsZero() && c.MaxTime.Before(m.since) || !m.until.IsZero() && c.MinTime.After(m.until) {
			return false
		}
	}
	return true
}
