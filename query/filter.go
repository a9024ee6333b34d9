package query

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/auditq/auditq/auditlog"
)

// Filter selects events. Each field holds the values of one repeated flag:
// values of one field are ORed, fields are ANDed, and an empty field matches
// everything. Values are compared with the decoded (unescaped) strings of the
// event, so the JSON spelling in the log never hides a match.
type Filter struct {
	AuditIDs []string
	// ServiceAccounts are NS:NAME, NS:* or NS (every SA of a namespace), or a
	// full system:serviceaccount:NS:NAME username.
	ServiceAccounts []string
	// Users and Groups match the authenticated user or the user it impersonated.
	// A * in a value matches any run of characters, as in a shell glob.
	Users, Groups []string
	Verbs         []string // get, list, watch, create, update, patch, delete, deletecollection…
	// Resources are RESOURCE[.GROUP][/SUBRESOURCE] with audit-policy meaning:
	// "pods" is pods itself in any group, "deployments.apps" needs the group,
	// "pods/exec" a subresource, "pods/*" any subresource, "*/exec" any resource.
	Resources  []string
	Namespaces []string // objectRef.namespace; * globs
	Names      []string // objectRef.name; * globs
	Codes      []string // 403, or a class: 4xx
	Stages     []string // RequestReceived, ResponseStarted, ResponseComplete, Panic (any case)
	Levels     []string // None, Metadata, Request, RequestResponse (any case)
	// Since and Until bound stageTimestamp: an RFC 3339 time, or a duration
	// (90s, 15m, 2h, 7d) back from the newest event of the input.
	Since, Until string
	// Sources match Event.Source, * globs: the cluster and node an export
	// names ("prod/kube-apiserver-audit-1a2b", "*/master-0"), or the
	// rotation set of a file ("node1/kube-apiserver-audit.log").
	Sources []string
}

// Matcher is a compiled Filter. It is safe for concurrent use once built and,
// if relative times are used, resolved.
type Matcher struct {
	ids        map[string]struct{}
	sas        []saPattern
	users      []string
	groups     []string
	verbs      []string
	resources  []resourcePattern
	namespaces []string
	names      []string
	codes      []codePattern
	stages     []string
	levels     []string
	sources    []string

	since, until       time.Time
	sinceAgo, untilAgo time.Duration
	relative           bool // since or until waits for Resolve
	empty              bool
}

type saPattern struct{ namespace, name string }

func parseSA(sa string) (saPattern, error) {
	s := strings.TrimPrefix(sa, saPrefix)
	ns, name, found := strings.Cut(s, ":")
	if !found {
		name = "*"
	}
	if ns == "" || name == "" || strings.Contains(name, ":") {
		return saPattern{}, fmt.Errorf("--sa %q: want NAMESPACE:NAME, NAMESPACE:* or NAMESPACE", sa)
	}
	return saPattern{ns, name}, nil
}

type resourcePattern struct {
	resource, group, subresource string
	anyGroup                     bool
}

type codePattern struct{ lo, hi int32 }

// Compile checks f and returns its Matcher. Errors name the flag value at fault.
func (f Filter) Compile() (*Matcher, error) {
	m := &Matcher{
		users:      f.Users,
		groups:     f.Groups,
		namespaces: f.Namespaces,
		names:      f.Names,
		sources:    f.Sources,
	}
	if len(f.AuditIDs) > 0 {
		m.ids = make(map[string]struct{}, len(f.AuditIDs))
		for _, id := range f.AuditIDs {
			m.ids[id] = struct{}{}
		}
	}
	for _, sa := range f.ServiceAccounts {
		p, err := parseSA(sa)
		if err != nil {
			return nil, err
		}
		m.sas = append(m.sas, p)
	}
	for _, v := range f.Verbs {
		m.verbs = append(m.verbs, strings.ToLower(v))
	}
	for _, r := range f.Resources {
		p, err := parseResource(r)
		if err != nil {
			return nil, err
		}
		m.resources = append(m.resources, p)
	}
	for _, c := range f.Codes {
		p, err := parseCode(c)
		if err != nil {
			return nil, err
		}
		m.codes = append(m.codes, p)
	}
	for _, s := range f.Stages {
		v, ok := canonical(s, "RequestReceived", "ResponseStarted", "ResponseComplete", "Panic")
		if !ok {
			return nil, fmt.Errorf("--stage %q: want RequestReceived, ResponseStarted, ResponseComplete or Panic", s)
		}
		m.stages = append(m.stages, v)
	}
	for _, l := range f.Levels {
		v, ok := canonical(l, "None", "Metadata", "Request", "RequestResponse")
		if !ok {
			return nil, fmt.Errorf("--level %q: want None, Metadata, Request or RequestResponse", l)
		}
		m.levels = append(m.levels, v)
	}
	var err error
	if m.since, m.sinceAgo, err = parseTime("--since", f.Since); err != nil {
		return nil, err
	}
	if m.until, m.untilAgo, err = parseTime("--until", f.Until); err != nil {
		return nil, err
	}
	m.relative = m.sinceAgo != 0 || m.untilAgo != 0
	m.empty = m.ids == nil && len(m.sas)+len(m.users)+len(m.groups)+len(m.verbs)+len(m.resources)+
		len(m.namespaces)+len(m.names)+len(m.codes)+len(m.stages)+len(m.levels)+len(m.sources) == 0 &&
		m.since.IsZero() && m.until.IsZero() && !m.relative
	return m, nil
}

func canonical(s string, names ...string) (string, bool) {
	for _, n := range names {
		if strings.EqualFold(s, n) {
			return n, true
		}
	}
	return "", false
}

func parseResource(s string) (resourcePattern, error) {
	var p resourcePattern
	rest, sub, hasSub := strings.Cut(s, "/")
	if rest == "" || hasSub && sub == "" {
		return p, fmt.Errorf("--resource %q: want RESOURCE[.GROUP][/SUBRESOURCE], e.g. pods, deployments.apps, pods/exec", s)
	}
	p.resource, p.group, _ = strings.Cut(rest, ".")
	p.anyGroup = !strings.Contains(rest, ".")
	p.subresource = sub
	return p, nil
}

func parseCode(s string) (codePattern, error) {
	if len(s) == 3 && (s[1] == 'x' || s[1] == 'X') && (s[2] == 'x' || s[2] == 'X') && s[0] >= '1' && s[0] <= '5' {
		lo := int32(s[0]-'0') * 100
		return codePattern{lo, lo + 99}, nil
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil || n < 100 || n > 599 {
		return codePattern{}, fmt.Errorf("--code %q: want an HTTP status (403) or a class (4xx)", s)
	}
	return codePattern{int32(n), int32(n)}, nil
}

// parseTime reads an RFC 3339 time (date only, or without seconds, also taken),
// or a duration back from the newest event.
func parseTime(flag, s string) (time.Time, time.Duration, error) {
	if s == "" {
		return time.Time{}, 0, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00", "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, 0, nil
		}
	}
	d, err := parseDuration(s)
	if err != nil || d <= 0 {
		return time.Time{}, 0, fmt.Errorf("%s %q: want an RFC 3339 time (2026-11-23T01:50:00Z) or a duration back from the newest event (30m, 2h, 1d)", flag, s)
	}
	return time.Time{}, d, nil
}

// parseDuration is time.ParseDuration plus a d (24h) unit.
func parseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil {
			return 0, err
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	return time.ParseDuration(s)
}

// Relative reports whether the matcher needs Resolve: --since or --until was a
// duration, which counts back from the newest event.
func (m *Matcher) Relative() bool { return m.relative }

// Resolve fixes relative times against the newest event's stageTimestamp.
func (m *Matcher) Resolve(newest time.Time) {
	if m.sinceAgo != 0 {
		m.since = newest.Add(-m.sinceAgo)
	}
	if m.untilAgo != 0 {
		m.until = newest.Add(-m.untilAgo)
	}
	m.relative = false
}

// maxLiterals bounds the prefilter: searching for more literals than this
// costs more than decoding.
const maxLiterals = 8

// Literals returns strings of which every matching event holds at least one
// as a string value (an auditID, a name, a username), for a prefilter such as
// auditlog.WithLiterals; nil when the filters give none that help.
func (m *Matcher) Literals() []string {
	exact := func(vs []string) []string {
		if len(vs) == 0 || len(vs) > maxLiterals {
			return nil
		}
		for _, v := range vs {
			if v == "" || strings.Contains(v, "*") {
				return nil
			}
		}
		return vs
	}
	if m.empty {
		return nil
	}
	if len(m.ids) > 0 && len(m.ids) <= maxLiterals {
		ids := make([]string, 0, len(m.ids))
		for id := range m.ids {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		return ids
	}
	if l := exact(m.names); l != nil {
		return l
	}
	if len(m.groups)+len(m.sas) == 0 {
		if l := exact(m.users); l != nil {
			return l
		}
	}
	if len(m.groups)+len(m.users) == 0 && len(m.sas) > 0 && len(m.sas) <= maxLiterals {
		var l []string
		for _, sa := range m.sas {
			if sa.namespace == "" || sa.name == "" || strings.Contains(sa.namespace+sa.name, "*") {
				return nil
			}
			l = append(l, saPrefix+sa.namespace+":"+sa.name)
		}
		return l
	}
	return nil
}

// TimeRange returns the bounds on stageTimestamp (zero when open), resolved.
func (m *Matcher) TimeRange() (since, until time.Time) { return m.since, m.until }

// MatchesAll reports whether the matcher lets every event through.
func (m *Matcher) MatchesAll() bool { return m.empty }

// AuditIDs reports whether ID selects the event (true when no IDs were given).
func (m *Matcher) matchID(id []byte) bool {
	if m.ids == nil {
		return true
	}
	_, ok := m.ids[string(id)]
	return ok
}

// Match reports whether ev passes every filter. Before Resolve, relative time
// bounds are not applied. After it, Match is safe for concurrent use.
func (m *Matcher) Match(ev *auditlog.Event) bool {
	if m.empty {
		return true
	}
	if !m.matchID(ev.AuditID()) {
		return false
	}
	if len(m.verbs) > 0 && !containsBytes(m.verbs, ev.Verb()) {
		return false
	}
	if len(m.stages) > 0 && !containsBytes(m.stages, ev.Stage()) {
		return false
	}
	if len(m.levels) > 0 && !containsBytes(m.levels, ev.Level()) {
		return false
	}
	if len(m.codes) > 0 && !m.matchCode(ev) {
		return false
	}
	if len(m.namespaces)+len(m.names)+len(m.resources) > 0 && !m.matchObject(ev.ObjectRef()) {
		return false
	}
	if len(m.users)+len(m.groups)+len(m.sas) > 0 {
		if !m.matchUser(ev.User()) && (ev.ImpersonatedUser() == nil || !m.matchUser(ev.ImpersonatedUser())) {
			return false
		}
	}
	if len(m.sources) > 0 {
		var buf [256]byte
		if !anyGlob(m.sources, ev.AppendSource(buf[:0])) {
			return false
		}
	}
	if !m.since.IsZero() || !m.until.IsZero() {
		t := ev.Time()
		if t.IsZero() || !m.since.IsZero() && t.Before(m.since) || !m.until.IsZero() && t.After(m.until) {
			return false
		}
	}
	return true
}

func (m *Matcher) matchCode(ev *auditlog.Event) bool {
	if ev.ResponseStatus() == nil {
		return false
	}
	c := ev.Code()
	for _, p := range m.codes {
		if c >= p.lo && c <= p.hi {
			return true
		}
	}
	return false
}

func (m *Matcher) matchObject(ref *auditlog.ObjectRef) bool {
	if ref == nil {
		return false
	}
	if len(m.namespaces) > 0 && !anyGlob(m.namespaces, ref.Namespace) {
		return false
	}
	if len(m.names) > 0 && !anyGlob(m.names, ref.Name) {
		return false
	}
	return len(m.resources) == 0 || m.matchResource(ref)
}

func (m *Matcher) matchResource(ref *auditlog.ObjectRef) bool {
	for _, p := range m.resources {
		if p.resource != "*" && string(ref.Resource) != p.resource {
			continue
		}
		if !p.anyGroup && string(ref.APIGroup) != p.group {
			continue
		}
		switch p.subresource {
		case "":
			if len(ref.Subresource) != 0 {
				continue
			}
		case "*":
			if len(ref.Subresource) == 0 {
				continue
			}
		default:
			if string(ref.Subresource) != p.subresource {
				continue
			}
		}
		return true
	}
	return false
}

const saPrefix = "system:serviceaccount:"

func (m *Matcher) matchUser(u *auditlog.UserInfo) bool {
	if len(m.users) > 0 && !anyGlob(m.users, u.Username) {
		return false
	}
	if len(m.groups) > 0 {
		found := false
		for _, g := range u.Groups {
			if anyGlob(m.groups, g) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return len(m.sas) == 0 || m.matchSA(u.Username)
}

func (m *Matcher) matchSA(username []byte) bool { return matchSA(m.sas, username) }

func matchSA(sas []saPattern, username []byte) bool {
	rest, ok := bytes.CutPrefix(username, []byte(saPrefix))
	if !ok {
		return false
	}
	ns, name, ok := bytes.Cut(rest, []byte(":"))
	if !ok {
		return false
	}
	for _, p := range sas {
		if glob(p.namespace, ns) && glob(p.name, name) {
			return true
		}
	}
	return false
}

func containsBytes(set []string, b []byte) bool {
	for _, s := range set {
		if s == string(b) {
			return true
		}
	}
	return false
}

func anyGlob(patterns []string, b []byte) bool {
	for _, p := range patterns {
		if glob(p, b) {
			return true
		}
	}
	return false
}

// glob matches b against a pattern in which * stands for any run of bytes
// and every other byte stands for itself.
func glob(pattern string, b []byte) bool {
	star := strings.IndexByte(pattern, '*')
	if star < 0 {
		return pattern == string(b)
	}
	if !bytes.HasPrefix(b, []byte(pattern[:star])) {
		return false
	}
	b = b[star:]
	pattern = pattern[star+1:]
	for {
		star = strings.IndexByte(pattern, '*')
		if star < 0 {
			return bytes.HasSuffix(b, []byte(pattern))
		}
		i := bytes.Index(b, []byte(pattern[:star]))
		if i < 0 {
			return false
		}
		b = b[i+star:]
		pattern = pattern[star+1:]
	}
}
