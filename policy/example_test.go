package policy_test

import (
	"context"
	"fmt"
	"os"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/policy"
)

// What the example policy would keep of the fixture log, and what it would
// cost.
func ExampleSimulation() {
	text, err := os.ReadFile("../testdata/policy/audit-policy.yaml")
	if err != nil {
		panic(err)
	}
	p, err := policy.Load("audit-policy.yaml", text)
	if err != nil {
		panic(err)
	}
	sim := policy.NewSimulation(p)
	var out []byte
	for ev, err := range auditlog.ReadFiles(context.Background(), []string{"../testdata/rotated/kube-apiserver-audit.log"}) {
		if err != nil {
			panic(err)
		}
		var o policy.Outcome
		out, o = p.Apply(ev, out[:0]) // the event as the policy would have it written
		sim.Add(ev, o, len(out))
	}
	r := sim.Report()
	fmt.Printf("%d events: %d kept, %d trimmed, %d dropped\n", r.Total.Events, r.Total.Kept, r.Total.Trimmed, r.Total.Dropped)
	fmt.Printf("%d of %d bytes\n", r.Total.BytesAfter, r.Total.BytesBefore)
	fmt.Println("rules that decided nothing:", r.Dead)
	// Output:
	// 4324 events: 1661 kept, 744 trimmed, 1919 dropped
	// 2912554 of 5443329 bytes
	// rules that decided nothing: [1]
}

// What the setup guides would say of a policy that logs reads with their bodies.
func ExamplePolicy_Lint() {
	p, err := policy.Load("leaky.yaml", []byte(`apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: RequestResponse
  verbs: ["get", "list", "watch"]
- level: Metadata
`))
	if err != nil {
		panic(err)
	}
	for _, f := range p.Lint() {
		fmt.Printf("rule %d: %s: %.60s…\n", f.Rule, f.Severity, f.Message)
	}
	// Output:
	// rule 1: error: logs secrets at RequestResponse (get by jane in "", for one)…
	// rule 1: error: logs configmaps at RequestResponse (get by jane in "", for o…
	// rule 1: error: logs serviceaccounts/token at RequestResponse (get by jane i…
	// rule 0: warning: RequestReceived is not omitted (rules 1, 2): each request is…
}
