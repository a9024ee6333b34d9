package query_test

import (
	"context"
	"fmt"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/query"
)

// Who was forbidden to list secrets, and where.
func ExampleFilter_Compile() {
	m, err := query.Filter{Resources: []string{"secrets"}, Verbs: []string{"list"}, Codes: []string{"403"}}.Compile()
	if err != nil {
		panic(err)
	}
	seen := map[string]bool{}
	for ev, err := range auditlog.ReadFiles(context.Background(), []string{"../testdata/rotated/kube-apiserver-audit.log"}) {
		if err != nil || !m.Match(ev) {
			continue
		}
		who := fmt.Sprintf("%s %s", ev.User().Username, ev.ObjectRef().Namespace)
		if !seen[who] {
			seen[who] = true
			fmt.Println(who)
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

// A lookup by ID lets the reader skip the chunks that cannot hold it.
func ExampleMatcher_Literals() {
	m, err := query.Filter{AuditIDs: []string{"1e961bab-937d-4d67-bfd0-7807a6445f73"}}.Compile()
	if err != nil {
		panic(err)
	}
	match := func(ev *auditlog.Event, _ *struct{}) bool { return m.Match(ev) }
	for r := range auditlog.ScanFiles(context.Background(), []string{"../testdata/rotated/kube-apiserver-audit.log"}, match,
		auditlog.WithLiterals(m.Literals()...)) {
		if r.Err == nil {
			fmt.Println(string(r.Event.Stage()))
		}
	}
	// Output:
	// RequestReceived
	// ResponseStarted
	// ResponseComplete
}
