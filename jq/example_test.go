package jq_test

import (
	"context"
	"fmt"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/jq"
	"github.com/auditq/auditq/query"
)

const fixture = "../testdata/rotated/kube-apiserver-audit.log"

// Who was forbidden to list secrets, with a filter and a jq expression.
func ExampleCompile() {
	m, err := query.Filter{Resources: []string{"secrets"}, Verbs: []string{"list"}, Codes: []string{"403"}}.Compile()
	if err != nil {
		panic(err)
	}
	prog, err := jq.Compile(`"\(.user.username) \(.objectRef.namespace)"`, jq.Config{})
	if err != nil {
		panic(err)
	}
	seen := map[string]bool{}
	for ev, err := range auditlog.ReadFiles(context.Background(), []string{fixture}) {
		if err != nil || !m.Match(ev) {
			continue
		}
		v, err := prog.Input(ev)
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

// The keys of an event a program reads: only those are decoded.
func ExampleProgram_Keys() {
	prog, err := jq.Compile(`[.auditID, .user.username, .responseStatus.code]`, jq.Config{})
	if err != nil {
		panic(err)
	}
	fmt.Println(prog.Keys())
	whole, _ := jq.Compile(`select(.verb == "delete")`, jq.Config{})
	fmt.Println(whole.Keys())
	// Output:
	// [auditID responseStatus user] true
	// [] false
}
