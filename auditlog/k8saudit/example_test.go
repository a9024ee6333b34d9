package k8saudit_test

import (
	"fmt"
	"log"
	"strings"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/auditlog/k8saudit"
)

func ExampleToV1() {
	const line = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"6a8ba0ec","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/kube-system/secrets","verb":"list","user":{"username":"alice@example.com"},"objectRef":{"resource":"secrets","namespace":"kube-system","apiVersion":"v1"},"responseStatus":{"metadata":{},"status":"Failure","reason":"Forbidden","code":403},"annotations":{"authorization.k8s.io/decision":"forbid"}}`
	rd, err := auditlog.NewReader(strings.NewReader(line))
	if err != nil {
		log.Fatal(err)
	}
	defer rd.Close()
	ev, err := rd.Next()
	if err != nil {
		log.Fatal(err)
	}
	v1, err := k8saudit.ToV1(ev) // every string copied: it outlives the Reader's buffer
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(v1.ObjectRef.Namespace, v1.ResponseStatus.Code, v1.Annotations["authorization.k8s.io/decision"])
	// Output:
	// kube-system 403 forbid
}
