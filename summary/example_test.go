package summary_test

import (
	"context"
	"fmt"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/summary"
)

func Example() {
	b := summary.New(3, 60)
	// The summary reads no bodies: WithoutBodies steps over them.
	for ev, err := range auditlog.ReadFiles(context.Background(), []string{"../testdata/rotated/kube-apiserver-audit.log"}, auditlog.WithoutBodies()) {
		if err == nil {
			b.Add(ev)
		}
	}
	r := b.Report()
	fmt.Println(r.Events, "events,", r.Requests, "requests")
	fmt.Println("denied:", r.Denials.Requests, "top:", r.Denials.Top[0].User)
	fmt.Println("top verb:", r.Verbs[0].Key, r.Verbs[0].Count)
	// Output:
	// 4324 events, 2537 requests
	// denied: 77 top: alice@example.com
	// top verb: update 718
}
