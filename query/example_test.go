package query_test

import (
	"context"
	"fmt"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/query"
)

const fixture = "../testdata/rotated/kube-apiserver-audit.log"

// Who was forbidden to list secrets, with a filter and a jq expression.
func ExampleCompile() {
	m, err := query.Filter{Resources: []string{"secrets"}, Verbs: []string{"list"}, Codes: []string{"403"}}.Compile()
	if err != nil {
		panic(err)
	}
	prog, err := query.Compile(`"\(.user.username) \(.objectRef.namespace)"`, query.Config{})
	if err != nil {
		panic(err)
	}
	seen := map[string]bool{}
	for ev, err := range auditlog.ReadFiles(context.Background(), []string{fixture}) {
		if err != nil || !m.Match(ev) {
			continue
		}
		v, err := query.Value(ev)
		if err != nil {
			continue
		}
		it := prog.Run(context.Background(), v)
		for out, ok := it.Next(); ok; out, ok = it.Next() {
			if s, isString := out.(string); isString && !seen[s] {
				seen[s] = true
				fmt.Println(s)
			}
		}
	}
	// Output:
	// intern-eve@example.com kube-system
	// alice@example.com payments
	// intern-eve@example.com argocd
	// alice@example.com kube-system
	// alice@example.com argocd
	// intern-eve@example.com payments
}

func ExampleSummarizer() {
	s := query.NewSummarizer(3, 60)
	for ev, err := range auditlog.ReadFiles(context.Background(), []string{fixture}) {
		if err == nil {
			s.Add(ev)
		}
	}
	sum := s.Summary()
	fmt.Println(sum.Events, "events,", sum.Requests, "requests")
	fmt.Println("denied:", sum.Denials.Requests, "top:", sum.Denials.Top[0].User)
	// Output:
	// 4324 events, 2537 requests
	// denied: 77 top: alice@example.com
}
