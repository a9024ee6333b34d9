package auditlog_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log"
	"path/filepath"
	"strings"

	"github.com/auditq/auditq/auditlog"
)

const sample = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"6a8ba0ec","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/kube-system/secrets","verb":"list","user":{"username":"alice@example.com","groups":["developers","system:authenticated"]},"sourceIPs":["203.0.113.77"],"objectRef":{"resource":"secrets","namespace":"kube-system","apiVersion":"v1"},"responseStatus":{"metadata":{},"status":"Failure","reason":"Forbidden","code":403},"requestReceivedTimestamp":"2026-11-20T08:00:01.000000Z","stageTimestamp":"2026-11-20T08:00:01.002500Z","annotations":{"authorization.k8s.io/decision":"forbid"}}
{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"broken","responseStatus":{"code":"200"}}
{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"9c1f22aa","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods/web-1/exec?command=sh\u0026stdin=true","verb":"create","user":{"username":"oncall-dave@example.com"},"objectRef":{"resource":"pods","namespace":"default","name":"web-1","apiVersion":"v1","subresource":"exec"},"responseStatus":{"metadata":{},"code":101},"requestReceivedTimestamp":"2026-11-20T08:00:02.000000Z","stageTimestamp":"2026-11-20T08:00:09.000000Z"}
`

func ExampleReader() {
	rd, err := auditlog.NewReader(strings.NewReader(sample), auditlog.WithName("audit.log"))
	if err != nil {
		log.Fatal(err)
	}
	defer rd.Close()
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println("error:", err) // a bad line; the events after it still come
			continue
		}
		latency := ev.StageTimestamp().Sub(ev.RequestReceivedTimestamp())
		fmt.Printf("%s %s %s %d %v\n", ev.User().Username, ev.Verb(), ev.RequestURI(), ev.Code(), latency)
	}
	// Output:
	// alice@example.com list /api/v1/namespaces/kube-system/secrets 403 2.5ms
	// error: audit.log:2:111: field responseStatus.code: cannot decode string into int32 (byte offset 733)
	// oncall-dave@example.com create /api/v1/namespaces/default/pods/web-1/exec?command=sh&stdin=true 101 7s
}

func ExampleReader_All() {
	rd, _ := auditlog.NewReader(strings.NewReader(sample))
	defer rd.Close()
	for ev, err := range rd.All() {
		var perr *auditlog.ParseError
		if errors.As(err, &perr) {
			fmt.Printf("line %d: %v\n", perr.Line, perr.Err)
			continue
		}
		if decision, ok := ev.Annotation("authorization.k8s.io/decision"); ok {
			fmt.Printf("%s: %s\n", ev.AuditID(), decision)
		}
	}
	// Output:
	// 6a8ba0ec: forbid
	// line 2: field responseStatus.code: cannot decode string into int32
}

func ExampleEvent_Clone() {
	rd, _ := auditlog.NewReader(strings.NewReader(sample))
	defer rd.Close()
	var kept []*auditlog.Event
	for ev, err := range rd.All() {
		if err == nil && ev.Code() >= 400 {
			kept = append(kept, ev.Clone()) // views of ev are reused by the next Next
		}
	}
	for _, ev := range kept {
		fmt.Println(string(ev.AuditID()), ev.ObjectRef().Resource != nil, string(ev.ResponseStatus().Reason))
	}
	// Output:
	// 6a8ba0ec true Forbidden
}

func ExampleReadFiles() {
	// The active log: its lumberjack backups (gzipped) are read first, oldest first.
	active := filepath.Join("..", "testdata", "rotated", "kube-apiserver-audit.log")
	files, stages := map[string]bool{}, map[string]int{}
	for ev, err := range auditlog.ReadFiles(context.Background(), []string{active}) {
		if err != nil {
			log.Fatal(err)
		}
		files[filepath.Base(ev.Pos().File)] = true
		stages[string(ev.Stage())]++
	}
	fmt.Println(len(files), "files;", stages)
	// Output:
	// 6 files; map[RequestReceived:1607 ResponseComplete:2509 ResponseStarted:208]
}

// Every core decodes; the WorkFunc runs in the workers, and the results come
// back in the order of the log.
func ExampleScanFiles() {
	deletes := func(ev *auditlog.Event, out *string) bool {
		if string(ev.Verb()) != "delete" || string(ev.Stage()) != "ResponseComplete" {
			return false // dropped in the worker
		}
		*out = string(ev.User().Username)
		return true
	}
	n, by := 0, map[string]int{}
	for r := range auditlog.ScanFiles(context.Background(), []string{"../testdata/rotated/kube-apiserver-audit.log"}, deletes) {
		if r.Err != nil {
			log.Fatal(r.Err)
		}
		n++
		by[*r.Out]++
	}
	fmt.Println(n, "deletions,", by["alice@example.com"], "by alice")
	// Output:
	// 53 deletions, 4 by alice
}

// Two control-plane nodes' logs, interleaved by time.
func ExampleMerge() {
	node := func(lines string) iter.Seq[auditlog.Result[struct{}]] {
		return auditlog.ScanReader[struct{}](context.Background(), strings.NewReader(lines), nil)
	}
	a := node(`{"auditID":"a1","stageTimestamp":"2026-11-20T08:00:01.000000Z"}
{"auditID":"a2","stageTimestamp":"2026-11-20T08:00:04.000000Z"}
`)
	b := node(`{"auditID":"b1","stageTimestamp":"2026-11-20T08:00:02.000000Z"}
{"auditID":"b2","stageTimestamp":"2026-11-20T08:00:03.000000Z"}
`)
	for r := range auditlog.Merge(a, b) {
		if r.Err == nil {
			fmt.Print(string(r.Event.AuditID()), " ")
		}
	}
	fmt.Println()
	// Output:
	// a1 b1 b2 a2
}
