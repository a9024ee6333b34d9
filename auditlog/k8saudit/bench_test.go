package k8saudit

import (
	"bytes"
	"encoding/json"
	"testing"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/internal/audittest"
)

// BenchmarkEncodingJSON is the baseline: encoding/json into auditv1.Event, line
// by line, on the same input.
func BenchmarkEncodingJSON(b *testing.B) {
	plain, events := audittest.BenchLog(b)
	lines := bytes.Split(bytes.TrimSuffix(plain, []byte("\n")), []byte("\n"))
	b.SetBytes(int64(len(plain)))
	b.ReportAllocs()
	for b.Loop() {
		for _, l := range lines {
			var ev auditv1.Event
			if err := json.Unmarshal(l, &ev); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*events), "ns/event")
}

// BenchmarkToV1 is the cost of the full upstream type on top of reading.
func BenchmarkToV1(b *testing.B) {
	plain, events := audittest.BenchLog(b)
	b.SetBytes(int64(len(plain)))
	b.ReportAllocs()
	rd, _ := auditlog.NewReader(bytes.NewReader(plain))
	for b.Loop() {
		rd.Reset(bytes.NewReader(plain))
		for ev, err := range rd.All() {
			if err != nil {
				b.Fatal(err)
			}
			if _, err := ToV1(ev); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*events), "ns/event")
}
