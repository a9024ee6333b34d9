package summary

import (
	"bytes"
	"cmp"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/internal/requests"
)

// serviceAccountPrefix starts the username of a service account.
const serviceAccountPrefix = "system:serviceaccount:"

// Builder builds a Report from events. It copies what it keeps, so events
// may be reused after Add. It is not safe for concurrent use.
type Builder struct {
	top     int
	buckets int

	events, requests int64
	from, to         int64 // unix nanoseconds; 0 when unset

	reqs requests.Set

	stages, levels, verbs, codeClasses, codes                   *counter
	users, sas, resources, nonResource, namespaces, agents, ips *counter
	failures, denials                                           *counter
	failureTotal, denialTotal                                   int64
	sensitive                                                   []*counter
	sensitiveTotal                                              []int64

	latency   histogram
	latByVerb map[string]*histogram

	perSecond map[int64]*[4]int64

	corrections int64           // what Merge took back or added: requests that crossed chunks
	all         []*counter      // counters()
	redecoded   *auditlog.Event // Merge's, for corrections
	uncorrected bool            // a correction could not be made: counts approximate

	sources    map[string]*sourceStats
	sourceBuf  []byte
	lastSource *sourceStats // the source of the event before: most events share it

	key, resKey bytes.Buffer // scratch for composite keys
}

// New returns a Builder whose lists keep the top entries (at least 1) and
// whose timeline has at most buckets buckets (at least 1).
func New(top, buckets int) *Builder {
	s := &Builder{top: max(top, 1), buckets: max(buckets, 1),
		latByVerb: map[string]*histogram{}, perSecond: map[int64]*[4]int64{}, sources: map[string]*sourceStats{}}
	for _, c := range []**counter{&s.stages, &s.levels, &s.verbs, &s.codeClasses, &s.codes,
		&s.users, &s.sas, &s.resources, &s.nonResource, &s.namespaces, &s.agents, &s.ips,
		&s.failures, &s.denials} {
		*c = newCounter()
	}
	for range sensitiveCategories {
		s.sensitive = append(s.sensitive, newCounter())
	}
	s.sensitiveTotal = make([]int64, len(sensitiveCategories))
	return s
}

// Request flags in the request set.
const (
	seenCode uint8 = 1 << iota
	seenDenial
)

// Add counts one event.
func (s *Builder) Add(ev *auditlog.Event) { s.add(ev) }

// decision is what add counted of an event as part of its request: the
// request (its first event), its status (its first event with one), its
// denial (its first forbid).
type decision struct {
	hasID, last           bool
	key                   requests.Key
	first, status, denial bool // counted here
	hasStatus, forbid     bool // the event has them
}

func (s *Builder) add(ev *auditlog.Event) (d decision) {
	s.events++
	s.stages.add(ev.Stage())
	s.levels.add(ev.Level())
	start := startOf(ev)
	if !start.IsZero() && (s.from == 0 || start.UnixNano() < s.from) {
		s.from = start.UnixNano()
	}
	end := ev.Time()
	if !end.IsZero() && end.UnixNano() > s.to {
		s.to = end.UnixNano()
	}
	s.addSource(ev, start, end)

	var flags uint8
	first, open := true, false
	if id := ev.AuditID(); len(id) > 0 { // an event without an ID is a request of its own
		d.hasID, d.key, d.last = true, requests.KeyOf(id), requests.Last(ev.Stage())
		flags, first, open = s.reqs.Lookup(d.key)
	}
	st := ev.ResponseStatus()
	dec, ok := ev.Annotation("authorization.k8s.io/decision")
	d.hasStatus, d.forbid = st != nil, ok && string(dec) == "forbid"
	if first {
		d.first = true
		s.countRequest(ev, 1)
	}
	if d.hasStatus && flags&seenCode == 0 {
		d.status = true
		s.countStatus(ev, 1)
	}
	if d.forbid && flags&seenDenial == 0 {
		d.denial = true
		s.countDenial(ev, 1)
	}
	if d.hasID {
		s.reqs.Update(d.key, flags|d.flags(), open, d.last)
	}
	if string(ev.Stage()) == "ResponseComplete" && !longRunning(ev.Verb(), ev.ObjectRef()) {
		received, stage := ev.RequestReceivedTimestamp(), ev.StageTimestamp()
		if lat := stage.Sub(received); !received.IsZero() && !stage.IsZero() && lat >= 0 {
			s.latency.add(lat)
			h := s.latByVerb[string(ev.Verb())]
			if h == nil {
				h = &histogram{}
				s.latByVerb[string(ev.Verb())] = h
			}
			h.add(lat)
		}
	}
	return d
}

// flags are the request flags an event sets.
func (d *decision) flags() uint8 {
	var f uint8
	if d.hasStatus {
		f |= seenCode
	}
	if d.forbid {
		f |= seenDenial
	}
	return f
}

// startOf is when an event's request was received, else its stage time.
func startOf(ev *auditlog.Event) time.Time {
	if t := ev.RequestReceivedTimestamp(); !t.IsZero() {
		return t
	}
	return ev.StageTimestamp()
}

// countRequest counts (delta 1) or uncounts (-1) ev as its request's first event.
func (s *Builder) countRequest(ev *auditlog.Event, delta int64) {
	s.requests += delta
	ref, user := ev.ObjectRef(), ev.User()
	s.addRequest(ev, ref, user, startOf(ev), delta)
}

// countStatus counts ev's responseStatus as its request's.
func (s *Builder) countStatus(ev *auditlog.Event, delta int64) {
	ref, user, start := ev.ObjectRef(), ev.User(), startOf(ev)
	code := ev.ResponseStatus().Code
	var buf [12]byte
	s.codes.addN(strconv.AppendInt(buf[:0], int64(code), 10), delta)
	s.codeClasses.addN(codeClass(code, buf[:0]), delta)
	if code >= 400 {
		s.failureTotal += delta
		s.failures.addN(s.activityKey(ev, ref, user, code, nil), delta)
		if !start.IsZero() {
			p := s.second(start)
			p[1] += delta
			if code >= 500 {
				p[2] += delta
			}
		}
	}
	if code == 401 {
		s.addSensitive(indexOf("unauthenticated"), ev, ref, user, delta)
	}
}

// countDenial counts ev's forbid decision as its request's.
func (s *Builder) countDenial(ev *auditlog.Event, delta int64) {
	ref, user, start := ev.ObjectRef(), ev.User(), startOf(ev)
	s.denialTotal += delta
	if !start.IsZero() {
		s.second(start)[3] += delta
	}
	reason, _ := ev.Annotation("authorization.k8s.io/reason")
	s.denials.addN(s.activityKey(ev, ref, user, 0, reason), delta)
}

// sourceStats counts the events of one source.
type sourceStats struct {
	key      string
	events   int64
	from, to int64 // unix nanoseconds; 0 when unset
}

// maxSources bounds the sources kept; past it, events count under "(other)".
const maxSources = 1 << 12

func (s *Builder) addSource(ev *auditlog.Event, start, end time.Time) {
	s.sourceBuf = ev.AppendSource(s.sourceBuf[:0])
	st := s.lastSource
	if st == nil || st.key != string(s.sourceBuf) {
		st = s.sources[string(s.sourceBuf)]
		if st == nil {
			st = s.newSource(string(s.sourceBuf))
		}
		s.lastSource = st
	}
	st.events++
	if !start.IsZero() && (st.from == 0 || start.UnixNano() < st.from) {
		st.from = start.UnixNano()
	}
	if !end.IsZero() && end.UnixNano() > st.to {
		st.to = end.UnixNano()
	}
}

// newSource returns the stats of a source not seen yet: its own, or
// "(other)" once maxSources are kept.
func (s *Builder) newSource(key string) *sourceStats {
	if len(s.sources) >= maxSources {
		key = "(other)"
	}
	st := s.sources[key]
	if st == nil {
		st = &sourceStats{key: key}
		s.sources[key] = st
	}
	return st
}

func (s *Builder) addRequest(ev *auditlog.Event, ref *auditlog.ObjectRef, user *auditlog.UserInfo, start time.Time, delta int64) {
	verb := ev.Verb()
	s.verbs.addN(verb, delta)
	s.users.addN(user.Username, delta)
	if rest, ok := bytes.CutPrefix(user.Username, []byte(serviceAccountPrefix)); ok {
		s.sas.addN(rest, delta)
	}
	if ref != nil {
		s.resources.addN(resourceKey(&s.key, ref), delta)
		if len(ref.Namespace) > 0 {
			s.namespaces.addN(ref.Namespace, delta)
		}
	} else {
		s.nonResource.addN(uriPath(ev.RequestURI()), delta)
	}
	s.agents.addN(ev.UserAgent(), delta)
	if ips := ev.SourceIPs(); len(ips) > 0 {
		s.ips.addN(ips[0], delta)
	}
	if !start.IsZero() {
		s.second(start)[0] += delta
	}

	if ref != nil {
		res, sub, group := string(ref.Resource), string(ref.Subresource), string(ref.APIGroup)
		switch {
		case res == "secrets" && sub == "" && (string(verb) == "get" || string(verb) == "list" || string(verb) == "watch"):
			s.addSensitive(indexOf("secret-reads"), ev, ref, user, delta)
		case res == "pods" && (sub == "exec" || sub == "attach" || sub == "portforward"):
			s.addSensitive(indexOf(sub), ev, ref, user, delta)
		case group == "rbac.authorization.k8s.io" && isWrite(verb):
			s.addSensitive(indexOf("rbac-changes"), ev, ref, user, delta)
		case res == "serviceaccounts" && sub == "token" && string(verb) == "create":
			s.addSensitive(indexOf("token-requests"), ev, ref, user, delta)
		}
	}
	if string(verb) == "delete" || string(verb) == "deletecollection" {
		s.addSensitive(indexOf("deletions"), ev, ref, user, delta)
	}
	if ev.ImpersonatedUser() != nil {
		s.addSensitive(indexOf("impersonation"), ev, ref, user, delta)
	}
	if string(user.Username) == "system:anonymous" {
		s.addSensitive(indexOf("anonymous"), ev, ref, user, delta)
	}
}

func (s *Builder) addSensitive(i int, ev *auditlog.Event, ref *auditlog.ObjectRef, user *auditlog.UserInfo, delta int64) {
	s.sensitiveTotal[i] += delta
	s.sensitive[i].addN(s.activityKey(ev, ref, user, 0, nil), delta)
}

func indexOf(category string) int { return slices.Index(sensitiveCategories, category) }

func isWrite(verb []byte) bool {
	switch string(verb) {
	case "create", "update", "patch", "delete", "deletecollection":
		return true
	}
	return false
}

func longRunning(verb []byte, ref *auditlog.ObjectRef) bool {
	if string(verb) == "watch" {
		return true
	}
	if ref == nil {
		return false
	}
	switch string(ref.Subresource) {
	case "exec", "attach", "portforward", "proxy", "log":
		return true
	}
	return false
}

func codeClass(code int32, buf []byte) []byte {
	if code < 100 || code > 999 {
		return append(buf, "other"...)
	}
	return append(buf, byte('0'+code/100), 'x', 'x')
}

// resourceKey writes RESOURCE[.GROUP][/SUBRESOURCE] into b and returns its bytes.
func resourceKey(b *bytes.Buffer, ref *auditlog.ObjectRef) []byte {
	b.Reset()
	b.Write(ref.Resource)
	if len(ref.APIGroup) > 0 {
		b.WriteByte('.')
		b.Write(ref.APIGroup)
	}
	if len(ref.Subresource) > 0 {
		b.WriteByte('/')
		b.Write(ref.Subresource)
	}
	return b.Bytes()
}

func uriPath(uri []byte) []byte {
	if i := bytes.IndexByte(uri, '?'); i >= 0 {
		return uri[:i]
	}
	return uri
}

// activityKey encodes an Activity as NUL-separated fields in s.key.
func (s *Builder) activityKey(ev *auditlog.Event, ref *auditlog.ObjectRef, user *auditlog.UserInfo, code int32, reason []byte) []byte {
	var res, ns, name []byte
	if ref != nil {
		res = resourceKey(&s.resKey, ref)
		ns, name = ref.Namespace, ref.Name
	} else {
		res = uriPath(ev.RequestURI())
	}
	var as []byte
	if imp := ev.ImpersonatedUser(); imp != nil {
		as = imp.Username
	}
	b := &s.key
	b.Reset()
	for i, f := range [][]byte{user.Username, as, ev.Verb(), res, ns, name, reason} {
		if i > 0 {
			b.WriteByte(0)
		}
		if bytes.IndexByte(f, 0) >= 0 {
			f = bytes.ReplaceAll(f, []byte{0}, []byte{1}) // keep the separator unambiguous
		}
		b.Write(f)
	}
	b.WriteByte(0)
	b.Write(strconv.AppendInt(b.AvailableBuffer(), int64(code), 10))
	return b.Bytes()
}

func parseActivity(key string, count int64) Activity {
	f := strings.Split(key, "\x00")
	code, _ := strconv.Atoi(f[7])
	return Activity{Count: count, User: f[0], As: f[1], Verb: f[2], Resource: f[3],
		Namespace: f[4], Name: f[5], Reason: f[6], Code: int32(code)}
}

func (s *Builder) second(t time.Time) *[4]int64 { return s.secondAt(t.Unix()) }

func (s *Builder) secondAt(sec int64) *[4]int64 {
	p := s.perSecond[sec]
	if p == nil {
		p = new([4]int64)
		s.perSecond[sec] = p
	}
	return p
}

// counters are every counter of s, in a fixed order.
func (s *Builder) counters() []*counter {
	if s.all == nil {
		s.all = append([]*counter{s.stages, s.levels, s.verbs, s.codeClasses, s.codes,
			s.users, s.sas, s.resources, s.nonResource, s.namespaces, s.agents, s.ips,
			s.failures, s.denials}, s.sensitive...)
	}
	return s.all
}

// Report returns the summary of the events added so far.
func (s *Builder) Report() *Report {
	sum := &Report{
		Events:          s.events,
		Requests:        s.requests,
		Stages:          s.stages.top(0),
		Levels:          s.levels.top(0),
		Verbs:           s.verbs.top(0),
		CodeClasses:     s.codeClasses.top(0),
		Codes:           s.codes.top(0),
		Users:           s.users.top(s.top),
		ServiceAccounts: s.sas.top(s.top),
		Resources:       s.resources.top(s.top),
		NonResourceURLs: s.nonResource.top(s.top),
		Namespaces:      s.namespaces.top(s.top),
		UserAgents:      s.agents.top(s.top),
		SourceIPs:       s.ips.top(s.top),
		Failures:        s.activities(s.failures, s.failureTotal),
		Denials:         s.activities(s.denials, s.denialTotal),
		Latency:         s.latency.summary(),
		LatencyByVerb:   []VerbLatency{},
		Sensitive:       []Sensitive{},
	}
	if s.from != 0 {
		sum.From = time.Unix(0, s.from).UTC()
	}
	if s.to != 0 {
		sum.To = time.Unix(0, s.to).UTC()
	}
	for verb, h := range s.latByVerb {
		sum.LatencyByVerb = append(sum.LatencyByVerb, VerbLatency{verb, h.summary()})
	}
	slices.SortFunc(sum.LatencyByVerb, func(a, b VerbLatency) int {
		return cmp.Or(cmp.Compare(b.Requests, a.Requests), strings.Compare(a.Verb, b.Verb))
	})
	for i, c := range sensitiveCategories {
		sum.Sensitive = append(sum.Sensitive, Sensitive{c, s.activities(s.sensitive[i], s.sensitiveTotal[i])})
	}
	for _, c := range append([]*counter{s.users, s.sas, s.resources, s.nonResource, s.namespaces, s.agents, s.ips, s.failures, s.denials}, s.sensitive...) {
		sum.Approximate = sum.Approximate || c.pruned
	}
	sum.Approximate = sum.Approximate || s.reqs.Evicted() || s.uncorrected
	sum.Timeline = s.timeline()
	sum.Sources = []Source{}
	for _, key := range slices.Sorted(maps.Keys(s.sources)) {
		st := s.sources[key]
		src := Source{Source: key, Events: st.events}
		if st.from != 0 {
			src.From = time.Unix(0, st.from).UTC()
		}
		if st.to != 0 {
			src.To = time.Unix(0, st.to).UTC()
		}
		sum.Sources = append(sum.Sources, src)
	}
	return sum
}

func (s *Builder) activities(c *counter, total int64) Activities {
	a := Activities{Requests: total, Top: []Activity{}}
	for _, row := range c.top(s.top) {
		a.Top = append(a.Top, parseActivity(row.Key, row.Count))
	}
	return a
}

// niceBuckets are the timeline bucket widths, in seconds.
var niceBuckets = []int64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 7 * 86400}

func (s *Builder) timeline() Timeline {
	t := Timeline{Requests: []int64{}, Errors: []int64{}, ServerErrors: []int64{}, Denials: []int64{}}
	if len(s.perSecond) == 0 {
		return t
	}
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for sec := range s.perSecond {
		lo, hi = min(lo, sec), max(hi, sec)
	}
	width := niceBuckets[len(niceBuckets)-1]
	for _, w := range niceBuckets {
		if (hi/w-lo/w)+1 <= int64(s.buckets) {
			width = w
			break
		}
	}
	// Align buckets to multiples of the width, as a person reads a clock.
	start := lo / width * width
	n := (hi-start)/width + 1
	t.Start = time.Unix(start, 0).UTC()
	t.BucketSeconds = width
	t.Requests = make([]int64, n)
	t.Errors = make([]int64, n)
	t.ServerErrors = make([]int64, n)
	t.Denials = make([]int64, n)
	for sec, c := range s.perSecond {
		i := (sec - start) / width
		t.Requests[i] += c[0]
		t.Errors[i] += c[1]
		t.ServerErrors[i] += c[2]
		t.Denials[i] += c[3]
	}
	return t
}
