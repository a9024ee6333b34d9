package eks

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/auditq/auditq/auditlog/format/internal/formattest"
	"github.com/auditq/auditq/internal/audittest"
)

// BenchmarkFilterLogEvents reads `aws logs filter-log-events` pages of
// the benchmark events (10,000 per page, as the CLI pages them).
func BenchmarkFilterLogEvents(b *testing.B) {
	events, size := audittest.BenchEvents(b)
	formattest.BenchRead(b, []byte(pages(events, 10000, true)), size, len(events), Format)
}

// BenchmarkFirehose reads subscription payloads of 100 events, each a
// gzip member, as Firehose delivers them to S3.
func BenchmarkFirehose(b *testing.B) {
	events, size := audittest.BenchEvents(b)
	var data []byte
	for start := 0; start < len(events); start += 100 {
		data = append(data, audittest.Gzip(payload(events[start:min(start+100, len(events))], streamOf(start/100)))...)
	}
	formattest.BenchRead(b, data, size, len(events), Format)
}

// BenchmarkLambda reads the events a subscription's Lambda function
// receives: base64 of a gzipped payload of 1,000 events, one a line.
func BenchmarkLambda(b *testing.B) {
	events, size := audittest.BenchEvents(b)
	var data bytes.Buffer
	for start := 0; start < len(events); start += 1000 {
		p := audittest.Gzip(payload(events[start:min(start+1000, len(events))], streamOf(start/1000)))
		data.WriteString(`{"awslogs":{"data":"` + base64.StdEncoding.EncodeToString(p) + `"}}` + "\n")
	}
	formattest.BenchRead(b, data.Bytes(), size, len(events), Lambda)
}

// BenchmarkExport reads an export task's lines.
func BenchmarkExport(b *testing.B) {
	events, size := audittest.BenchEvents(b)
	var data bytes.Buffer
	for i, l := range events {
		fmt.Fprintf(&data, "%s %s\n", time.UnixMilli(1700000000000+int64(i)).UTC().Format("2006-01-02T15:04:05.000Z"), l)
	}
	formattest.BenchRead(b, data.Bytes(), size, len(events), Export)
}

// BenchmarkPlain reads the same events as kube-apiserver writes them.
func BenchmarkPlain(b *testing.B) {
	events, size := audittest.BenchEvents(b)
	formattest.BenchPlain(b, events, size)
}
