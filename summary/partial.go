package summary

import (
	"github.com/auditq/auditq/auditlog"
)

// Partial is the summary of a run of events (a reader's chunk) built on a
// worker, for Builder.Merge to add in input order: the summary then uses
// every core (auditlog.ScanFolded), and comes out as Add would make it.
//
// A chunk cannot know which of its requests began before it, so it counts
// each request it sees as starting there. Merge replays the chunk's request
// keys against the requests seen so far, in order, and takes back (or adds)
// what the chunk counted differently from a sequential reading: only
// requests that cross a chunk boundary, such as watches. The events it
// Raw bytes must stay valid until the Partial is merged (ScanFolded keeps
// them so).
type Partial struct {
	b     *Builder
	steps []step
}

// step is one event with an auditID and what the chunk counted at it; its
// raw JSON is decoded again only if the merge must correct it.
type step struct {
	decision
	raw []byte
}

// NewPartial returns an empty Partial for a Builder made with New(top,
// buckets); Reset empties it for the next chunk.
func NewPartial(top, buckets int) *Partial { return &Partial{b: New(top, buckets)} }

// Folding returns auditlog.ScanFolded's start and fold for the partials of
// a Builder made with New(top, buckets): each slot's Partial is made once
// and reset for every chunk after.
func Folding(top, buckets int) (start func(**Partial), fold func(*auditlog.Event, **Partial)) {
	start = func(p **Partial) {
		if *p == nil {
			*p = NewPartial(top, buckets)
		} else {
			(*p).Reset()
		}
	}
	fold = func(ev *auditlog.Event, p **Partial) { (*p).Add(ev) }
	return start, fold
}

// Reset empties p, keeping its memory.
func (p *Partial) Reset() {
	b := p.b
	b.events, b.requests, b.from, b.to = 0, 0, 0, 0
	b.failureTotal, b.denialTotal = 0, 0
	b.reqs.Reset()
	for _, c := range b.counters() {
		c.reset()
	}
	clear(b.sensitiveTotal)
	b.latency.reset()
	for _, h := range b.latByVerb {
		h.reset()
	}
	clear(b.perSecond)
	clear(b.sources)
	b.lastSource = nil
	clear(p.steps)
	p.steps = p.steps[:0]
}

// Add counts ev into p; ev.Raw() must stay valid until p is merged.
func (p *Partial) Add(ev *auditlog.Event) {
	d := p.b.add(ev)
	if d.hasID {
		p.steps = append(p.steps, step{d, ev.Raw()})
	}
}

// Merge adds p, the next run of events in input order, to s.
func (s *Builder) Merge(p *Partial) {
	o := p.b
	s.events += o.events
	s.requests += o.requests
	if o.from != 0 && (s.from == 0 || o.from < s.from) {
		s.from = o.from
	}
	s.to = max(s.to, o.to)
	oc, sc := o.counters(), s.counters()
	for i := range oc {
		sc[i].merge(oc[i])
	}
	s.failureTotal += o.failureTotal
	s.denialTotal += o.denialTotal
	for i, n := range o.sensitiveTotal {
		s.sensitiveTotal[i] += n
	}
	s.latency.merge(&o.latency)
	for verb, h := range o.latByVerb {
		if h.n == 0 {
			continue
		}
		g := s.latByVerb[verb]
		if g == nil {
			g = &histogram{}
			s.latByVerb[verb] = g
		}
		g.merge(h)
	}
	for sec, c := range o.perSecond {
		q := s.secondAt(sec)
		for i := range c {
			q[i] += c[i]
		}
	}
	for key, st := range o.sources {
		t := s.sources[key]
		if t == nil {
			t = s.newSource(key)
		}
		t.events += st.events
		if st.from != 0 && (t.from == 0 || st.from < t.from) {
			t.from = st.from
		}
		t.to = max(t.to, st.to)
	}
	s.lastSource = nil

	// What a sequential reading would have decided at each event of a
	// request, against what the chunk decided alone.
	for i := range p.steps {
		st := &p.steps[i]
		flags, first, open := s.reqs.Lookup(st.key)
		status := st.hasStatus && flags&seenCode == 0
		denial := st.forbid && flags&seenDenial == 0
		if first != st.first || status != st.status || denial != st.denial {
			s.correct(st, first, status, denial)
		}
		s.reqs.Update(st.key, flags|st.flags(), open, st.last)
	}
}

// correct makes what the chunk counted at st what a sequential reading
// counts there, from the event decoded again.
func (s *Builder) correct(st *step, first, status, denial bool) {
	if s.redecoded == nil {
		s.redecoded = new(auditlog.Event)
	}
	ev := s.redecoded
	if err := auditlog.DecodeRaw(ev, st.raw); err != nil {
		// Bytes that decoded decode again; should they not, say the
		// counts may be off rather than stop.
		s.uncorrected = true
		return
	}
	if first != st.first {
		s.countRequest(ev, sign(first))
		s.corrections++
	}
	if status != st.status {
		s.countStatus(ev, sign(status))
		s.corrections++
	}
	if denial != st.denial {
		s.countDenial(ev, sign(denial))
		s.corrections++
	}
}

// sign is 1 for what a sequential reading counts and the chunk did not,
// -1 for the reverse.
func sign(sequential bool) int64 {
	if sequential {
		return 1
	}
	return -1
}
