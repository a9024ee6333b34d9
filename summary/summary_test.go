package summary

import (
	"context"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/internal/audittest"
	"github.com/auditq/auditq/query"
)

func summarize(t *testing.T, path string, f query.Filter) *Report {
	t.Helper()
	m, err := f.Compile()
	if err != nil {
		t.Fatal(err)
	}
	s := New(1<<20, 60)
	for ev, err := range auditlog.ReadFiles(context.Background(), []string{path}) {
		if err != nil {
			t.Fatal(err)
		}
		if m.Match(ev) {
			s.Add(ev)
		}
	}
	return s.Report()
}

func counts(rows []Row) map[string]int64 {
	m := map[string]int64{}
	for _, r := range rows {
		m[r.Key] = r.Count
	}
	return m
}

// TestSummaryAgainstOracle recomputes every count of the summary from the
// encoding/json decoding, with the rules the Summary type documents.
func TestSummaryAgainstOracle(t *testing.T) {
	for name, path := range audittest.Corpora(t) {
		t.Run(name, func(t *testing.T) {
			events := audittest.OracleLog(t, path)
			got := summarize(t, path, query.Filter{})

			type reqState struct{ coded, denied bool }
			reqs := map[string]*reqState{}
			want := struct {
				stages, levels, verbs, classes, codes, users, sas, resources, nonResource, namespaces, agents, ips map[string]int64
				failures, denials                                                                                  int64
				sensitive                                                                                          map[string]int64
				latencies                                                                                          []time.Duration
				timelineErrors                                                                                     int64
			}{map[string]int64{}, map[string]int64{}, map[string]int64{}, map[string]int64{}, map[string]int64{}, map[string]int64{},
				map[string]int64{}, map[string]int64{}, map[string]int64{}, map[string]int64{}, map[string]int64{}, map[string]int64{},
				0, 0, map[string]int64{}, nil, 0}
			var from, to time.Time
			for _, ev := range events {
				want.stages[string(ev.Stage)]++
				want.levels[string(ev.Level)]++
				start := ev.RequestReceivedTimestamp.Time
				if from.IsZero() || start.Before(from) {
					from = start
				}
				if ev.StageTimestamp.After(to) {
					to = ev.StageTimestamp.Time
				}
				st := reqs[string(ev.AuditID)]
				ref := ev.ObjectRef
				if st == nil {
					st = &reqState{}
					reqs[string(ev.AuditID)] = st
					want.verbs[ev.Verb]++
					want.users[ev.User.Username]++
					if ns, ok := strings.CutPrefix(ev.User.Username, "system:serviceaccount:"); ok {
						want.sas[ns]++
					}
					if ref != nil {
						key := ref.Resource
						if ref.APIGroup != "" {
							key += "." + ref.APIGroup
						}
						if ref.Subresource != "" {
							key += "/" + ref.Subresource
						}
						want.resources[key]++
						if ref.Namespace != "" {
							want.namespaces[ref.Namespace]++
						}
						switch {
						case ref.Resource == "secrets" && ref.Subresource == "" && slices.Contains([]string{"get", "list", "watch"}, ev.Verb):
							want.sensitive["secret-reads"]++
						case ref.Resource == "pods" && slices.Contains([]string{"exec", "attach", "portforward"}, ref.Subresource):
							want.sensitive[ref.Subresource]++
						case ref.APIGroup == "rbac.authorization.k8s.io" && slices.Contains([]string{"create", "update", "patch", "delete", "deletecollection"}, ev.Verb):
							want.sensitive["rbac-changes"]++
						case ref.Resource == "serviceaccounts" && ref.Subresource == "token" && ev.Verb == "create":
							want.sensitive["token-requests"]++
						}
					} else {
						want.nonResource[strings.SplitN(ev.RequestURI, "?", 2)[0]]++
					}
					if ev.Verb == "delete" || ev.Verb == "deletecollection" {
						want.sensitive["deletions"]++
					}
					if ev.ImpersonatedUser != nil {
						want.sensitive["impersonation"]++
					}
					if ev.User.Username == "system:anonymous" {
						want.sensitive["anonymous"]++
					}
					want.agents[ev.UserAgent]++
					if len(ev.SourceIPs) > 0 {
						want.ips[ev.SourceIPs[0]]++
					}
				}
				if ev.ResponseStatus != nil && !st.coded {
					st.coded = true
					c := ev.ResponseStatus.Code
					want.codes[strconv.Itoa(int(c))]++
					want.classes[strconv.Itoa(int(c)/100)+"xx"]++
					if c >= 400 {
						want.failures++
					}
					if c == 401 {
						want.sensitive["unauthenticated"]++
					}
				}
				if ev.Annotations["authorization.k8s.io/decision"] == "forbid" && !st.denied {
					st.denied = true
					want.denials++
				}
				longRunning := ev.Verb == "watch" || ref != nil && slices.Contains([]string{"exec", "attach", "portforward", "proxy", "log"}, ref.Subresource)
				if ev.Stage == auditv1.StageResponseComplete && !longRunning {
					want.latencies = append(want.latencies, ev.StageTimestamp.Sub(ev.RequestReceivedTimestamp.Time))
				}
			}

			if got.Events != int64(len(events)) || got.Requests != int64(len(reqs)) {
				t.Errorf("events %d requests %d, want %d and %d", got.Events, got.Requests, len(events), len(reqs))
			}
			if !got.From.Equal(from) || !got.To.Equal(to) {
				t.Errorf("range %v–%v, want %v–%v", got.From, got.To, from, to)
			}
			for _, c := range []struct {
				name string
				got  []Row
				want map[string]int64
			}{
				{"stages", got.Stages, want.stages}, {"levels", got.Levels, want.levels}, {"verbs", got.Verbs, want.verbs},
				{"codeClasses", got.CodeClasses, want.classes}, {"codes", got.Codes, want.codes},
				{"users", got.Users, want.users}, {"serviceAccounts", got.ServiceAccounts, want.sas},
				{"resources", got.Resources, want.resources}, {"nonResourceURLs", got.NonResourceURLs, want.nonResource},
				{"namespaces", got.Namespaces, want.namespaces}, {"userAgents", got.UserAgents, want.agents}, {"sourceIPs", got.SourceIPs, want.ips},
			} {
				if diff := cmp.Diff(c.want, counts(c.got)); diff != "" {
					t.Errorf("%s (-want +got):\n%s", c.name, diff)
				}
			}
			if got.Failures.Requests != want.failures || got.Denials.Requests != want.denials {
				t.Errorf("failures %d denials %d, want %d and %d", got.Failures.Requests, got.Denials.Requests, want.failures, want.denials)
			}
			if want.failures == 0 || want.denials == 0 {
				t.Errorf("the corpus has no failures or denials: the test has no teeth")
			}
			gotSensitive := map[string]int64{}
			for _, s := range got.Sensitive {
				if s.Requests > 0 {
					gotSensitive[s.Category] = s.Requests
				}
				var sum int64
				for _, a := range s.Top {
					sum += a.Count
				}
				if sum != s.Requests {
					t.Errorf("sensitive %s: rows add up to %d, total %d", s.Category, sum, s.Requests)
				}
			}
			if diff := cmp.Diff(want.sensitive, gotSensitive); diff != "" {
				t.Errorf("sensitive (-want +got):\n%s", diff)
			}
			var tlRequests, tlErrors, tlServer, tlDenials int64
			for i := range got.Timeline.Requests {
				tlRequests += got.Timeline.Requests[i]
				tlErrors += got.Timeline.Errors[i]
				tlServer += got.Timeline.ServerErrors[i]
				tlDenials += got.Timeline.Denials[i]
			}
			if tlRequests != int64(len(reqs)) || tlErrors != want.failures || tlDenials != got.Denials.Requests {
				t.Errorf("timeline holds %d requests, %d errors, %d denials; want %d, %d, %d", tlRequests, tlErrors, tlDenials, len(reqs), want.failures, got.Denials.Requests)
			}
			var server int64
			for _, c := range got.Codes {
				if c.Key >= "500" && c.Key <= "599" && len(c.Key) == 3 {
					server += c.Count
				}
			}
			if tlServer != server || tlServer > tlErrors {
				t.Errorf("timeline holds %d 5xx; the codes count %d", tlServer, server)
			}
			if len(got.Timeline.Requests) > 60 {
				t.Errorf("timeline has %d buckets", len(got.Timeline.Requests))
			}

			lat := want.latencies
			slices.Sort(lat)
			if got.Latency.Requests != int64(len(lat)) {
				t.Fatalf("latency over %d requests, want %d", got.Latency.Requests, len(lat))
			}
			for _, q := range []struct {
				p   float64
				got float64
			}{{0.5, got.Latency.P50ms}, {0.9, got.Latency.P90ms}, {0.99, got.Latency.P99ms}, {1, got.Latency.Maxms}} {
				exact := float64(lat[int(math.Ceil(q.p*float64(len(lat))))-1]) / float64(time.Millisecond)
				if math.Abs(q.got-exact) > exact*0.02+0.002 {
					t.Errorf("p%v = %vms, exact %vms", q.p*100, q.got, exact)
				}
			}
		})
	}
}

// TestCounterKeysSurviveBufferReuse: the keys a counter keeps must be copies,
// not views into a buffer the next event overwrites (the map trap CONTRIBUTING.md describes).
func TestCounterKeysSurviveBufferReuse(t *testing.T) {
	c := newCounter()
	buf := []byte("alice")
	c.add(buf)
	copy(buf, "bobby")
	c.add(buf)
	copy(buf, "alice")
	c.add(buf)
	if diff := cmp.Diff([]Row{{"alice", 2}, {"bobby", 1}}, c.top(0)); diff != "" {
		t.Error(diff)
	}
}

func TestCounterPrunesToABound(t *testing.T) {
	c := newCounter()
	for i := range maxCounterKeys + 10 {
		c.add([]byte(strconv.Itoa(i)))
	}
	c.add([]byte("7"))
	if len(c.m) > maxCounterKeys || !c.pruned {
		t.Errorf("%d keys, pruned %v", len(c.m), c.pruned)
	}
}

func TestHistogramBuckets(t *testing.T) {
	for _, us := range []uint64{0, 1, 63, 64, 65, 127, 128, 1000, 123456, 1 << 40} {
		mid := bucketMid(bucketOf(us))
		if math.Abs(mid-float64(us)) > float64(us)*0.016+0.5 {
			t.Errorf("%dµs lands in a bucket centred on %v", us, mid)
		}
	}
}

// summaryInput is the fixture's events decoded once (clones), for measuring
// Add alone.
func summaryInput(t testing.TB) []*auditlog.Event {
	var evs []*auditlog.Event
	path := audittest.Rotated()
	for ev, err := range auditlog.ReadFiles(context.Background(), []string{path}, auditlog.WithoutBodies()) {
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev.Clone())
	}
	return evs
}

// TestBuilderAllocsPerEvent: the summary path allocates at most once per
// event, amortized over a whole log (new keys and map growth included).
func TestBuilderAllocsPerEvent(t *testing.T) {
	evs := summaryInput(t)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := New(5, 60)
	for _, ev := range evs {
		s.Add(ev)
	}
	runtime.ReadMemStats(&after)
	perEvent := float64(after.Mallocs-before.Mallocs) / float64(len(evs))
	t.Logf("%.3f allocations per event over %d events", perEvent, len(evs))
	if perEvent > 1 {
		t.Errorf("%.2f allocations per event, want at most 1", perEvent)
	}
}

// BenchmarkBuilderAdd is the summary's own work, after decoding.
func BenchmarkBuilderAdd(b *testing.B) {
	evs := summaryInput(b)
	var size int64
	for _, ev := range evs {
		size += int64(len(ev.Raw()))
	}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		s := New(5, 60)
		for _, ev := range evs {
			s.Add(ev)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
}

// TestSources: events are counted by where they came from, with each
// source's time range, in name order.
func TestSources(t *testing.T) {
	b := New(5, 60)
	read := func(name, log string) {
		rd, err := auditlog.NewReader(strings.NewReader(log), auditlog.WithName(name))
		if err != nil {
			t.Fatal(err)
		}
		for ev, err := range rd.All() {
			if err != nil {
				t.Fatal(err)
			}
			b.Add(ev)
		}
	}
	ev := func(id, at string) string {
		return `{"auditID":"` + id + `","stage":"ResponseComplete","stageTimestamp":"2026-11-20T08:00:` + at + `.000000Z"}` + "\n"
	}
	read("node2/kube-apiserver-audit-2026-11-20T07-00-00.000.log.gz", ev("a", "05")+ev("b", "01"))
	read("node2/kube-apiserver-audit.log", ev("c", "09"))
	read("node1/kube-apiserver-audit.log", ev("d", "03"))
	read("<stdin>", ev("e", "04"))
	at := func(s string) time.Time {
		return time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC).Add(time.Duration(mustAtoi(s)) * time.Second)
	}
	want := []Source{
		{"<stdin>", 1, at("04"), at("04")},
		{"node1/kube-apiserver-audit.log", 1, at("03"), at("03")},
		{"node2/kube-apiserver-audit.log", 3, at("01"), at("09")}, // its backup and itself: one set
	}
	if diff := cmp.Diff(want, b.Report().Sources); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func mustAtoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return n
}
