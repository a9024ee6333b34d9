package query

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"hash/maphash"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/auditq/auditq/auditlog"
)

// Summary is what a responder reads first about a log. Its JSON keys are stable
// (see the README); lists are sorted by count, largest first, then by key.
//
// Counting rules: events counts every event; requests counts distinct auditIDs.
// Request attributes (verb, user, resource…) are counted once per request, from
// its first event; codes once per request, from its first event with a
// responseStatus; latency from each ResponseComplete event.
type Summary struct {
	From        time.Time `json:"from"` // earliest requestReceivedTimestamp (or stageTimestamp)
	To          time.Time `json:"to"`   // latest stageTimestamp
	Events      int64     `json:"events"`
	Requests    int64     `json:"requests"`
	Approximate bool      `json:"approximate"` // a top list outgrew its memory bound and was pruned

	Stages      []Count `json:"stages"` // events
	Levels      []Count `json:"levels"` // events
	Verbs       []Count `json:"verbs"`  // requests, as all the lists below
	CodeClasses []Count `json:"codeClasses"`
	Codes       []Count `json:"codes"`

	Users           []Count `json:"users"`
	ServiceAccounts []Count `json:"serviceAccounts"` // NAMESPACE:NAME
	Resources       []Count `json:"resources"`       // RESOURCE[.GROUP][/SUBRESOURCE]
	NonResourceURLs []Count `json:"nonResourceURLs"` // path of requests without objectRef
	Namespaces      []Count `json:"namespaces"`
	UserAgents      []Count `json:"userAgents"`
	SourceIPs       []Count `json:"sourceIPs"` // first source IP

	Failures Activities `json:"failures"` // requests answered 4xx or 5xx
	Denials  Activities `json:"denials"`  // authorization.k8s.io/decision=forbid

	Latency       Latency       `json:"latency"`
	LatencyByVerb []VerbLatency `json:"latencyByVerb"`
	Sensitive     []Sensitive   `json:"sensitive"`
	Timeline      Timeline      `json:"timeline"`
}

// Count is one row of a breakdown.
type Count struct {
	Key   string `json:"key"`
	Count int64  `json:"count"`
}

// Activities is a total and its most frequent who-did-what rows.
type Activities struct {
	Requests int64      `json:"requests"`
	Top      []Activity `json:"top"`
}

// Activity is who did what, and how often. Fields that do not apply are empty.
type Activity struct {
	Count     int64  `json:"count"`
	User      string `json:"user"`
	As        string `json:"as,omitempty"` // impersonated user
	Verb      string `json:"verb"`
	Resource  string `json:"resource"` // RESOURCE[.GROUP][/SUBRESOURCE], or the path of a non-resource request
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
	Code      int32  `json:"code,omitempty"`
	Reason    string `json:"reason,omitempty"` // authorization.k8s.io/reason, for denials
}

// Latency is the distribution of stageTimestamp − requestReceivedTimestamp over
// completed requests, without long-running ones (watch; exec, attach,
// portforward, proxy and log subresources). Percentiles are exact to within 2%.
type Latency struct {
	Requests int64   `json:"requests"`
	P50ms    float64 `json:"p50ms"`
	P90ms    float64 `json:"p90ms"`
	P99ms    float64 `json:"p99ms"`
	Maxms    float64 `json:"maxms"`
}

// VerbLatency is the Latency of one verb.
type VerbLatency struct {
	Verb string `json:"verb"`
	Latency
}

// Sensitive is one kind of activity a responder checks first.
type Sensitive struct {
	Category string `json:"category"`
	Activities
}

// Sensitive categories, in the order they are reported.
var sensitiveCategories = []string{
	"secret-reads",    // get/list/watch of secrets
	"exec",            // pods/exec
	"attach",          // pods/attach
	"portforward",     // pods/portforward
	"rbac-changes",    // writes to rbac.authorization.k8s.io
	"impersonation",   // requests with impersonatedUser
	"anonymous",       // system:anonymous
	"unauthenticated", // 401
	"token-requests",  // serviceaccounts/token create
	"deletions",       // delete and deletecollection
}

// Timeline is the request rate: Requests[i] requests (Errors[i] of them
// answered 4xx/5xx) were received in [Start+i·BucketSeconds, Start+(i+1)·BucketSeconds).
type Timeline struct {
	Start         time.Time `json:"start"`
	BucketSeconds int64     `json:"bucketSeconds"`
	Requests      []int64   `json:"requests"`
	Errors        []int64   `json:"errors"`
}

// Summarizer builds a Summary from events. It copies what it keeps, so events
// may be reused after Add. It is not safe for concurrent use.
type Summarizer struct {
	top     int
	buckets int

	events, requests int64
	from, to         int64 // unix nanoseconds; 0 when unset

	reqs requestSet

	stages, levels, verbs, codeClasses, codes                   *counter
	users, sas, resources, nonResource, namespaces, agents, ips *counter
	failures, denials                                           *counter
	failureTotal, denialTotal                                   int64
	sensitive                                                   []*counter
	sensitiveTotal                                              []int64

	latency   histogram
	latByVerb map[string]*histogram

	perSecond map[int64]*[2]int64

	key, resKey bytes.Buffer // scratch for composite keys
}

// NewSummarizer returns a Summarizer whose lists keep the top entries (at least 1)
// and whose timeline has at most buckets buckets (at least 1).
func NewSummarizer(top, buckets int) *Summarizer {
	s := &Summarizer{top: max(top, 1), buckets: max(buckets, 1),
		latByVerb: map[string]*histogram{}, perSecond: map[int64]*[2]int64{}}
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

// Request flags in requestSet.
const (
	seenCode uint8 = 1 << iota
	seenDenial
)

// Add counts one event.
func (s *Summarizer) Add(ev *auditlog.Event) {
	s.events++
	s.stages.add(ev.Stage())
	s.levels.add(ev.Level())
	received, stage := ev.RequestReceivedTimestamp(), ev.StageTimestamp()
	start := received
	if start.IsZero() {
		start = stage
	}
	if !start.IsZero() && (s.from == 0 || start.UnixNano() < s.from) {
		s.from = start.UnixNano()
	}
	if end := EventTime(ev); !end.IsZero() && end.UnixNano() > s.to {
		s.to = end.UnixNano()
	}

	id := ev.AuditID()
	var key [16]byte
	var flags uint8
	first, open := true, false
	if len(id) > 0 { // an event without an ID is a request of its own
		key = requestKey(id)
		flags, first, open = s.reqs.lookup(key)
	}
	ref := ev.ObjectRef()
	user := ev.User()
	if first {
		s.requests++
		s.addRequest(ev, ref, user, start)
	}
	if st := ev.ResponseStatus(); st != nil && flags&seenCode == 0 {
		flags |= seenCode
		code := st.Code
		var buf [12]byte
		s.codes.add(strconv.AppendInt(buf[:0], int64(code), 10))
		s.codeClasses.add(codeClass(code, buf[:0]))
		if code >= 400 {
			s.failureTotal++
			s.failures.add(s.activityKey(ev, ref, user, code, nil))
			if !start.IsZero() {
				s.second(start)[1]++
			}
		}
		if code == 401 {
			s.addSensitive(indexOf("unauthenticated"), ev, ref, user)
		}
	}
	if d, ok := ev.Annotation("authorization.k8s.io/decision"); ok && string(d) == "forbid" && flags&seenDenial == 0 {
		flags |= seenDenial
		s.denialTotal++
		reason, _ := ev.Annotation("authorization.k8s.io/reason")
		s.denials.add(s.activityKey(ev, ref, user, 0, reason))
	}
	if len(id) > 0 {
		stage := string(ev.Stage())
		s.reqs.update(key, flags, open, stage == "ResponseComplete" || stage == "Panic")
	}
	if string(ev.Stage()) == "ResponseComplete" && !received.IsZero() && !stage.IsZero() && !longRunning(ev.Verb(), ref) {
		if d := stage.Sub(received); d >= 0 {
			s.latency.add(d)
			h := s.latByVerb[string(ev.Verb())]
			if h == nil {
				h = &histogram{}
				s.latByVerb[string(ev.Verb())] = h
			}
			h.add(d)
		}
	}
}

func (s *Summarizer) addRequest(ev *auditlog.Event, ref *auditlog.ObjectRef, user *auditlog.UserInfo, start time.Time) {
	verb := ev.Verb()
	s.verbs.add(verb)
	s.users.add(user.Username)
	if rest, ok := bytes.CutPrefix(user.Username, []byte(saPrefix)); ok {
		s.sas.add(rest)
	}
	if ref != nil {
		s.resources.add(resourceKey(&s.key, ref))
		if len(ref.Namespace) > 0 {
			s.namespaces.add(ref.Namespace)
		}
	} else {
		s.nonResource.add(uriPath(ev.RequestURI()))
	}
	s.agents.add(ev.UserAgent())
	if ips := ev.SourceIPs(); len(ips) > 0 {
		s.ips.add(ips[0])
	}
	if !start.IsZero() {
		s.second(start)[0]++
	}

	if ref != nil {
		res, sub, group := string(ref.Resource), string(ref.Subresource), string(ref.APIGroup)
		switch {
		case res == "secrets" && sub == "" && (string(verb) == "get" || string(verb) == "list" || string(verb) == "watch"):
			s.addSensitive(indexOf("secret-reads"), ev, ref, user)
		case res == "pods" && (sub == "exec" || sub == "attach" || sub == "portforward"):
			s.addSensitive(indexOf(sub), ev, ref, user)
		case group == "rbac.authorization.k8s.io" && isWrite(verb):
			s.addSensitive(indexOf("rbac-changes"), ev, ref, user)
		case res == "serviceaccounts" && sub == "token" && string(verb) == "create":
			s.addSensitive(indexOf("token-requests"), ev, ref, user)
		}
	}
	if string(verb) == "delete" || string(verb) == "deletecollection" {
		s.addSensitive(indexOf("deletions"), ev, ref, user)
	}
	if ev.ImpersonatedUser() != nil {
		s.addSensitive(indexOf("impersonation"), ev, ref, user)
	}
	if string(user.Username) == "system:anonymous" {
		s.addSensitive(indexOf("anonymous"), ev, ref, user)
	}
}

func (s *Summarizer) addSensitive(i int, ev *auditlog.Event, ref *auditlog.ObjectRef, user *auditlog.UserInfo) {
	s.sensitiveTotal[i]++
	s.sensitive[i].add(s.activityKey(ev, ref, user, 0, nil))
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
func (s *Summarizer) activityKey(ev *auditlog.Event, ref *auditlog.ObjectRef, user *auditlog.UserInfo, code int32, reason []byte) []byte {
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

func (s *Summarizer) second(t time.Time) *[2]int64 {
	sec := t.Unix()
	p := s.perSecond[sec]
	if p == nil {
		p = new([2]int64)
		s.perSecond[sec] = p
	}
	return p
}

// Summary returns the summary of the events added so far.
func (s *Summarizer) Summary() *Summary {
	sum := &Summary{
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
	sum.Approximate = sum.Approximate || s.reqs.evicted
	sum.Timeline = s.timeline()
	return sum
}

func (s *Summarizer) activities(c *counter, total int64) Activities {
	a := Activities{Requests: total, Top: []Activity{}}
	for _, row := range c.top(s.top) {
		a.Top = append(a.Top, parseActivity(row.Key, row.Count))
	}
	return a
}

// niceBuckets are the timeline bucket widths, in seconds.
var niceBuckets = []int64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 7 * 86400}

func (s *Summarizer) timeline() Timeline {
	t := Timeline{Requests: []int64{}, Errors: []int64{}}
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
	for sec, c := range s.perSecond {
		i := (sec - start) / width
		t.Requests[i] += c[0]
		t.Errors[i] += c[1]
	}
	return t
}

// counter counts keys, copying each key the first time it is seen: the bytes
// passed to add are views that change after the next event (see STYLE.md).
type counter struct {
	m      map[string]*int64
	pruned bool
}

// maxCounterKeys bounds a counter's memory; past it the least frequent half of
// the keys is dropped and the summary is marked approximate.
const maxCounterKeys = 1 << 17

func newCounter() *counter { return &counter{m: map[string]*int64{}} }

func (c *counter) add(key []byte) {
	if p := c.m[string(key)]; p != nil {
		*p++
		return
	}
	if len(c.m) >= maxCounterKeys {
		c.prune()
	}
	n := int64(1)
	c.m[string(bytes.Clone(key))] = &n
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
func (c *counter) top(n int) []Count {
	rows := make([]Count, 0, len(c.m))
	for k, p := range c.m {
		rows = append(rows, Count{k, *p})
	}
	slices.SortFunc(rows, func(a, b Count) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Key, b.Key))
	})
	if n > 0 && len(rows) > n {
		rows = rows[:n]
	}
	return rows
}

// requestSet remembers the requests seen, with a few flags each, in memory
// bounded by the requests in flight rather than by the log: a request is
// forgotten at its last stage (ResponseComplete or Panic), after which only
// the last maxDoneRequests completed IDs are kept, to recognise an event
// written twice. Keys are 16 bytes: the UUID kube-apiserver writes, or a
// 128-bit hash of any other ID.
type requestSet struct {
	open    map[[16]byte]uint8
	done    map[[16]byte]uint8
	ring    [][16]byte // the keys of done, oldest at next
	next    int
	evicted bool // open requests were forgotten: counts may be approximate
}

const (
	maxOpenRequests = 1 << 20
	maxDoneRequests = 1 << 16
)

var idSeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

func requestKey(id []byte) [16]byte {
	if u, ok := parseUUID(id); ok {
		return u
	}
	var k [16]byte
	binary.LittleEndian.PutUint64(k[:8], maphash.Bytes(idSeeds[0], id))
	binary.LittleEndian.PutUint64(k[8:], maphash.Bytes(idSeeds[1], id))
	return k
}

// lookup returns the flags of the request with this key, whether the event
// is the request's first, and whether the request is open.
func (r *requestSet) lookup(key [16]byte) (flags uint8, first, open bool) {
	if f, ok := r.open[key]; ok {
		return f, false, true
	}
	if f, ok := r.done[key]; ok {
		return f, false, false
	}
	return 0, true, false
}

// update records the flags of a request; last says it has ended.
func (r *requestSet) update(key [16]byte, flags uint8, wasOpen, last bool) {
	if r.open == nil {
		r.open, r.done = map[[16]byte]uint8{}, map[[16]byte]uint8{}
		r.ring = make([][16]byte, 0, 1024)
	}
	if !last {
		if !wasOpen && len(r.open) >= maxOpenRequests {
			clear(r.open) // a log of requests that never end: bound the memory, say so
			r.evicted = true
		}
		r.open[key] = flags
		return
	}
	if wasOpen {
		delete(r.open, key)
	}
	if _, ok := r.done[key]; ok {
		r.done[key] = flags
		return
	}
	if len(r.ring) < maxDoneRequests {
		r.ring = append(r.ring, key)
	} else {
		delete(r.done, r.ring[r.next])
		r.ring[r.next] = key
		r.next = (r.next + 1) % maxDoneRequests
	}
	r.done[key] = flags
}

// parseUUID reads the canonical 36-byte lower-case form only, so that two
// spellings of one ID never collapse into one key by accident.
func parseUUID(id []byte) (u [16]byte, ok bool) {
	if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-' {
		return u, false
	}
	var bad byte
	n := 0
	for i := 0; i < 36; i += 2 {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i-- // the dash; the next pair starts after it
			continue
		}
		hi, lo := hexValue[id[i]], hexValue[id[i+1]]
		bad |= hi | lo
		u[n] = hi<<4 | lo&0x0f
		n++
	}
	return u, bad&0x80 == 0 && n == 16
}

// hexValue maps '0'-'9' and 'a'-'f' to their values, every other byte to 0xff.
var hexValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c - 'a' + 10)
	}
	return t
}()

// histogram is a log-bucketed histogram of durations in microseconds: 64
// sub-buckets per power of two keep every value within 1.6% of its bucket.
type histogram struct {
	counts [64 * 42]int64
	n      int64
	max    time.Duration
}

func (h *histogram) add(d time.Duration) {
	us := uint64(d / time.Microsecond)
	h.counts[bucketOf(us)]++
	h.n++
	h.max = max(h.max, d)
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
