package query

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/internal/audittest"
)

// oracleFilter is the filter semantics written plainly over the upstream type.
type oracleFilter func(ev *auditv1.Event) bool

func users(ev *auditv1.Event) []auditv1.Event {
	out := []auditv1.Event{{User: ev.User}}
	if ev.ImpersonatedUser != nil {
		out = append(out, auditv1.Event{User: *ev.ImpersonatedUser})
	}
	return out
}

func globMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return s == pattern
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

var midpoint = time.Date(2026, 11, 20, 8, 0, 20, 0, time.UTC)

func filterCases() []struct {
	f      Filter
	oracle oracleFilter
} {
	ref := func(ev *auditv1.Event) auditv1.ObjectReference {
		if ev.ObjectRef == nil {
			return auditv1.ObjectReference{}
		}
		return *ev.ObjectRef
	}
	code := func(ev *auditv1.Event) int32 {
		if ev.ResponseStatus == nil {
			return 0
		}
		return ev.ResponseStatus.Code
	}
	anyUser := func(ev *auditv1.Event, ok func(u string, groups []string) bool) bool {
		for _, u := range users(ev) {
			if ok(u.User.Username, u.User.Groups) {
				return true
			}
		}
		return false
	}
	return []struct {
		f      Filter
		oracle oracleFilter
	}{
		{Filter{Verbs: []string{"get"}}, func(ev *auditv1.Event) bool { return ev.Verb == "get" }},
		{Filter{Verbs: []string{"list", "WATCH"}}, func(ev *auditv1.Event) bool { return ev.Verb == "list" || ev.Verb == "watch" }},
		{Filter{Users: []string{"system:node:*"}}, func(ev *auditv1.Event) bool {
			return anyUser(ev, func(u string, _ []string) bool { return strings.HasPrefix(u, "system:node:") })
		}},
		{Filter{Users: []string{"*@example.com", "admin"}}, func(ev *auditv1.Event) bool {
			return anyUser(ev, func(u string, _ []string) bool { return strings.HasSuffix(u, "@example.com") || u == "admin" })
		}},
		{Filter{Groups: []string{"system:masters"}}, func(ev *auditv1.Event) bool {
			return anyUser(ev, func(_ string, g []string) bool { return slices.Contains(g, "system:masters") })
		}},
		{Filter{ServiceAccounts: []string{"kube-system"}}, func(ev *auditv1.Event) bool {
			return anyUser(ev, func(u string, _ []string) bool { return strings.HasPrefix(u, "system:serviceaccount:kube-system:") })
		}},
		{Filter{ServiceAccounts: []string{"kube-system:replicaset-controller", "default:*"}}, func(ev *auditv1.Event) bool {
			return anyUser(ev, func(u string, _ []string) bool {
				return u == "system:serviceaccount:kube-system:replicaset-controller" || strings.HasPrefix(u, "system:serviceaccount:default:")
			})
		}},
		{Filter{Resources: []string{"pods"}}, func(ev *auditv1.Event) bool { r := ref(ev); return r.Resource == "pods" && r.Subresource == "" }},
		{Filter{Resources: []string{"pods/*"}}, func(ev *auditv1.Event) bool { r := ref(ev); return r.Resource == "pods" && r.Subresource != "" }},
		{Filter{Resources: []string{"*/exec", "pods/log"}}, func(ev *auditv1.Event) bool {
			r := ref(ev)
			return r.Subresource == "exec" || r.Resource == "pods" && r.Subresource == "log"
		}},
		{Filter{Resources: []string{"deployments.apps", "leases.coordination.k8s.io"}}, func(ev *auditv1.Event) bool {
			r := ref(ev)
			return r.Subresource == "" && (r.Resource == "deployments" && r.APIGroup == "apps" || r.Resource == "leases" && r.APIGroup == "coordination.k8s.io")
		}},
		{Filter{Namespaces: []string{"kube-system"}}, func(ev *auditv1.Event) bool { return ref(ev).Namespace == "kube-system" }},
		{Filter{Namespaces: []string{"team-*", "*-lease"}}, func(ev *auditv1.Event) bool {
			ns := ref(ev).Namespace
			return globMatch("team-*", ns) || globMatch("*-lease", ns)
		}},
		{Filter{Names: []string{"ip-10-*.ec2.internal", "*controller*"}}, func(ev *auditv1.Event) bool {
			return globMatch("ip-10-*.ec2.internal", ref(ev).Name) || globMatch("*controller*", ref(ev).Name)
		}},
		{Filter{Codes: []string{"403"}}, func(ev *auditv1.Event) bool { return code(ev) == 403 }},
		{Filter{Codes: []string{"4xx", "5XX"}}, func(ev *auditv1.Event) bool { return code(ev) >= 400 && code(ev) <= 599 }},
		{Filter{Stages: []string{"responsecomplete"}}, func(ev *auditv1.Event) bool { return ev.Stage == auditv1.StageResponseComplete }},
		{Filter{Levels: []string{"RequestResponse"}}, func(ev *auditv1.Event) bool { return ev.Level == auditv1.LevelRequestResponse }},
		{Filter{Since: midpoint.Format(time.RFC3339)}, func(ev *auditv1.Event) bool { return !ev.StageTimestamp.Time.Before(midpoint) }},
		{Filter{Until: midpoint.Format(time.RFC3339)}, func(ev *auditv1.Event) bool { return !ev.StageTimestamp.Time.After(midpoint) }},
		{Filter{Verbs: []string{"get"}, Namespaces: []string{"kube-system"}, Codes: []string{"2xx"}}, func(ev *auditv1.Event) bool {
			return ev.Verb == "get" && ref(ev).Namespace == "kube-system" && code(ev) >= 200 && code(ev) < 300
		}},
	}
}

// matchedIDs lists "auditID stage" of the events of path that f selects.
func matchedIDs(t *testing.T, path string, f Filter) []string {
	t.Helper()
	m, err := f.Compile()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for ev, err := range auditlog.ReadFiles(context.Background(), []string{path}) {
		if err != nil {
			t.Fatal(err)
		}
		if m.Match(ev) {
			out = append(out, string(ev.AuditID())+" "+string(ev.Stage()))
		}
	}
	return out
}

func TestFiltersAgainstOracle(t *testing.T) {
	teeth := make([]int, len(filterCases())) // corpora where the case selects some but not all
	for name, path := range audittest.Corpora(t) {
		events := audittest.OracleLog(t, path)
		escaped := escapedCopy(t, path)
		for i, c := range filterCases() {
			t.Run(fmt.Sprintf("%s/%+v", name, c.f), func(t *testing.T) {
				var want []string
				for _, ev := range events {
					if c.oracle(ev) {
						want = append(want, string(ev.AuditID)+" "+string(ev.Stage))
					}
				}
				if len(want) > 0 && len(want) < len(events) {
					teeth[i]++
				}
				got := matchedIDs(t, path, c.f)
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("(-oracle +auditq):\n%s", diff)
				}
				// The same events spelled with \u escapes in every string must match alike.
				if diff := cmp.Diff(got, matchedIDs(t, escaped, c.f)); diff != "" {
					t.Errorf("escaped spelling changes the result (-plain +escaped):\n%s", diff)
				}
			})
		}
	}
	for i, n := range teeth {
		if n == 0 {
			t.Errorf("%+v selects none or all of every corpus: the case has no teeth", filterCases()[i].f)
		}
	}
}

// escapedCopy writes the events of path to a temporary log in which every
// character of every string value and key is written as a \u escape.
func escapedCopy(t *testing.T, path string) string {
	t.Helper()
	var out bytes.Buffer
	for ev, err := range auditlog.ReadFiles(context.Background(), []string{path}) {
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(ev.Raw()))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		writeEscaped(&out, v)
		out.WriteByte('\n')
	}
	name := filepath.Join(t.TempDir(), "escaped-audit.log")
	if err := os.WriteFile(name, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

func writeEscaped(b *bytes.Buffer, v any) {
	str := func(s string) {
		b.WriteByte('"')
		for _, r := range s {
			if r > 0xffff {
				b.WriteRune(r)
				continue
			}
			fmt.Fprintf(b, `\u%04x`, r)
		}
		b.WriteByte('"')
	}
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			str(k)
			b.WriteByte(':')
			writeEscaped(b, v[k])
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, x := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			writeEscaped(b, x)
		}
		b.WriteByte(']')
	case string:
		str(v)
	default:
		j, _ := json.Marshal(v)
		b.Write(j)
	}
}

func TestFilterErrors(t *testing.T) {
	for _, f := range []Filter{
		{Codes: []string{"6xx"}}, {Codes: []string{"20"}}, {Codes: []string{"abc"}},
		{ServiceAccounts: []string{":x"}}, {ServiceAccounts: []string{"a:"}}, {ServiceAccounts: []string{"a:b:c"}},
		{Resources: []string{"/exec"}}, {Resources: []string{"pods/"}},
		{Stages: []string{"Done"}}, {Levels: []string{"Verbose"}},
		{Since: "yesterday"}, {Until: "-5m"},
	} {
		if _, err := f.Compile(); err == nil {
			t.Errorf("%+v compiled", f)
		}
	}
}

func TestGlob(t *testing.T) {
	for _, c := range []struct {
		pattern, s string
		want       bool
	}{
		{"a", "a", true}, {"a", "ab", false}, {"*", "", true}, {"a*", "abc", true}, {"*c", "abc", true},
		{"a*c", "ac", true}, {"a*c", "abcbc", true}, {"ab*ba", "aba", false}, {"*b*", "abc", true},
		{"a*b*c", "axxbyyc", true}, {"a*b*c", "axxcyyb", false},
	} {
		if got := glob(c.pattern, []byte(c.s)); got != c.want {
			t.Errorf("glob(%q, %q) = %v", c.pattern, c.s, got)
		}
	}
}
