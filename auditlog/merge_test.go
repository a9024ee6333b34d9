package auditlog

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// node is one control-plane node's log: events at the given seconds (a
// negative second is an event without timestamps; "bad" a malformed line).
func node(name string, items ...string) string {
	var b strings.Builder
	for i, it := range items {
		switch {
		case it == "bad":
			b.WriteString("{not json\n")
		case strings.HasPrefix(it, "-"):
			fmt.Fprintf(&b, `{"auditID":"%s-%d","stage":"ResponseComplete"}`+"\n", name, i)
		default:
			fmt.Fprintf(&b, `{"auditID":"%s-%d","stage":"ResponseComplete","stageTimestamp":"2026-11-20T08:00:%02s.000000Z"}`+"\n", name, i, it)
		}
	}
	return b.String()
}

func mergeIDs(t *testing.T, logs ...string) (got []string) {
	t.Helper()
	var streams []iter.Seq[Result[struct{}]]
	for i, l := range logs {
		streams = append(streams, ScanReader[struct{}](context.Background(), strings.NewReader(l), nil,
			WithName(fmt.Sprint("node", i)), WithConcurrency(1+i%2)))
	}
	for r := range Merge(streams...) {
		if r.Err != nil {
			var pe *ParseError
			if !errors.As(r.Err, &pe) {
				t.Fatalf("not a ParseError: %v", r.Err)
			}
			got = append(got, fmt.Sprintf("error %s:%d", pe.File, pe.Line))
			continue
		}
		got = append(got, string(r.Event.AuditID()))
	}
	return got
}

func TestMerge(t *testing.T) {
	for _, tc := range []struct {
		name string
		logs []string
		want []string
	}{
		{"one stream as it is, even out of order",
			[]string{node("a", "05", "01", "03")},
			[]string{"a-0", "a-1", "a-2"}},
		{"two nodes by time",
			[]string{node("a", "01", "04", "05"), node("b", "02", "03", "06")},
			[]string{"a-0", "b-0", "b-1", "a-1", "a-2", "b-2"}},
		{"each stream keeps its order: a late event holds back its stream",
			[]string{node("a", "01", "09", "02"), node("b", "03", "04")},
			[]string{"a-0", "b-0", "b-1", "a-1", "a-2"}},
		{"ties go to the earlier stream",
			[]string{node("a", "01", "02"), node("b", "01", "02"), node("c", "01")},
			[]string{"a-0", "b-0", "c-0", "a-1", "b-1"}},
		{"events without a time first",
			[]string{node("a", "01"), node("b", "-", "02")},
			[]string{"b-0", "a-0", "b-1"}},
		{"errors as they are met, events around them kept",
			[]string{node("a", "01", "bad", "05"), node("b", "bad", "02")},
			[]string{"error node1:1", "a-0", "error node0:2", "b-1", "a-2"}},
		{"empty streams",
			[]string{"", node("b", "01"), ""},
			[]string{"b-0"}},
		{"no streams", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, mergeIDs(t, tc.logs...)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestMergeStopsEveryStream: stopping the merge early stops every stream
// it pulls from, and nothing is yielded after.
func TestMergeStopsEveryStream(t *testing.T) {
	stopped := 0
	stream := func(ids ...string) iter.Seq[Result[struct{}]] {
		return func(yield func(Result[struct{}]) bool) {
			defer func() { stopped++ }()
			for _, id := range ids {
				rd, err := NewReader(strings.NewReader(`{"auditID":"` + id + `","stageTimestamp":"2026-11-20T08:00:0` + id + `.000000Z"}`))
				if err != nil {
					t.Fatal(err)
				}
				ev, err := rd.Next()
				if err != nil {
					t.Fatal(err)
				}
				if !yield(Result[struct{}]{Event: ev}) {
					return
				}
			}
		}
	}
	var got []string
	for r := range Merge(stream("1", "4"), stream("2", "3")) {
		got = append(got, string(r.Event.AuditID()))
		if len(got) == 2 {
			break
		}
	}
	if !slices.Equal(got, []string{"1", "2"}) || stopped != 2 {
		t.Errorf("got %v, %d streams stopped; want [1 2] and both", got, stopped)
	}
}

// TestMergeOfTwoNodes: the fixture set, dealt by request to two nodes,
// merges as a plain two-way merge of the two lists by time gives it.
func TestMergeOfTwoNodes(t *testing.T) {
	type item struct {
		id string
		at int64
	}
	var logs [2]strings.Builder
	var lists [2][]item
	for ev, err := range ReadFiles(context.Background(), []string{testdataRotated + "/kube-apiserver-audit.log"}) {
		if err != nil {
			t.Fatal(err)
		}
		n := int(ev.AuditID()[0] % 2)
		logs[n].Write(ev.Raw())
		logs[n].WriteByte('\n')
		lists[n] = append(lists[n], item{string(ev.AuditID()), ev.Time().UnixNano()})
	}
	var want []string
	a, b := lists[0], lists[1]
	for len(a) > 0 || len(b) > 0 {
		if len(b) == 0 || len(a) > 0 && a[0].at <= b[0].at {
			want, a = append(want, a[0].id), a[1:]
		} else {
			want, b = append(want, b[0].id), b[1:]
		}
	}
	if len(want) < 1000 {
		t.Fatalf("only %d events", len(want))
	}
	if diff := cmp.Diff(want, mergeIDs(t, logs[0].String(), logs[1].String())); diff != "" {
		t.Errorf("(-two-way merge +Merge):\n%.2000s", diff)
	}
}
