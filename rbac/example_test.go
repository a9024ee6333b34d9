package rbac_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"time"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/internal/fixture"
	"github.com/auditq/auditq/rbac"
)

// A service account read one ConfigMap by name and was refused a Secret:
// the generated Role grants the read, by name, and nothing else.
func ExampleGenerate() {
	sa := fixture.ServiceAccountUser("shop", "api")
	allow := map[string]string{rbac.DecisionAnnotation: "allow", rbac.ReasonAnnotation: `RBAC: allowed by RoleBinding "api/shop" of Role "api" to ServiceAccount "api/shop"`}
	forbid := map[string]string{rbac.DecisionAnnotation: "forbid", rbac.ReasonAnnotation: ""}
	var log bytes.Buffer
	_, _ = fixture.WriteRequests(&log, time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC), 1, "", []fixture.Request{
		{Path: "/api/v1/namespaces/shop/configmaps/settings", Verb: "get", Resource: "configmaps", Namespace: "shop", Name: "settings", User: sa, Annotations: allow},
		{Path: "/api/v1/namespaces/shop/secrets/db", Verb: "get", Resource: "secrets", Namespace: "shop", Name: "db", User: sa, Code: 403, Annotations: forbid},
	})

	obs := rbac.NewObservations(nil)
	for r := range auditlog.ScanReader[struct{}](context.Background(), &log, nil) {
		if r.Event != nil {
			obs.Add(r.Event)
		}
	}
	plan, err := rbac.Generate(obs, rbac.GenerateOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	sp := plan.Subjects[0]
	fmt.Println(sp.Subject.Kind, sp.Subject.Namespace, sp.Subject.Name)
	for _, r := range sp.Roles {
		fmt.Println("Role", r.Namespace, r.Name, r.Rules[0].Verbs, r.Rules[0].Resources, r.Rules[0].ResourceNames)
	}
	for _, l := range sp.LeftOut {
		fmt.Println("left out:", l.Verb, l.Resource, l.Name, "-", l.Why)
	}
	_ = plan.WriteYAML(os.Stdout) // kubectl apply -f accepts it
	// Output:
	// ServiceAccount shop api
	// Role shop auditq:sa:shop:api [get] [configmaps] [settings]
	// left out: get secrets db - refused: forbidden (--include-forbidden grants it)
	// # ServiceAccount "api/shop": 1 rule in 1 role, for 1 request
	// # left out: 1 request, 1 distinct:
	// #   "get" resource "secrets" named "db" in namespace "shop" ×1 (auditID "246ac56e-9417-4c58-ad53-cba8ebd36e08"): refused: forbidden (--include-forbidden grants it)
	// apiVersion: rbac.authorization.k8s.io/v1
	// kind: Role
	// metadata:
	//   labels:
	//     app.kubernetes.io/managed-by: auditq
	//   name: auditq:sa:shop:api
	//   namespace: shop
	// rules:
	//   # 1 request (rbac-allowed), 2026-11-30T09:00:00Z to 2026-11-30T09:00:00Z, e.g. auditID "3ec37dbf-c77c-47fb-9dc3-e830e97e4bb5"
	//   - apiGroups:
	//       - ""
	//     resourceNames:
	//       - settings
	//     resources:
	//       - configmaps
	//     verbs:
	//       - get
	// ---
	// apiVersion: rbac.authorization.k8s.io/v1
	// kind: RoleBinding
	// metadata:
	//   labels:
	//     app.kubernetes.io/managed-by: auditq
	//   name: auditq:sa:shop:api
	//   namespace: shop
	// roleRef:
	//   apiGroup: rbac.authorization.k8s.io
	//   kind: Role
	//   name: auditq:sa:shop:api
	// subjects:
	//   - kind: ServiceAccount
	//     name: api
	//     namespace: shop
}
