package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"

	"github.com/auditq/auditq/auditlog"
)

// envelopeBytes is how much of the plain log goes into each export shape:
// enough to time, small enough that jq's fromjson runs finish in minutes.
const envelopeBytes = 256 << 20

// ensureEnvelopes wraps the first envelopeBytes of the plain log's events
// as the two cloud exports responders meet most: an AKS storage-account
// blob (PT1H.json, one diagnostic record per line, the event a JSON string
// in properties.log) and `aws logs filter-log-events` pages (pretty-printed,
// 10,000 events a page, the event a string in each message).
func ensureEnvelopes(plain, dir string) (aks, eks string, err error) {
	aks, eks = filepath.Join(dir, "aks", "PT1H.json"), filepath.Join(dir, "eks", "filter-log-events.json")
	if fileExists(aks) && fileExists(eks) {
		return aks, eks, nil
	}
	for _, p := range []string{aks, eks} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", "", err
		}
	}
	in, err := os.Open(plain)
	if err != nil {
		return "", "", err
	}
	defer in.Close()
	af, err := os.Create(aks)
	if err != nil {
		return "", "", err
	}
	defer af.Close()
	ef, err := os.Create(eks)
	if err != nil {
		return "", "", err
	}
	defer ef.Close()
	a, e := bufio.NewWriterSize(af, 1<<20), bufio.NewWriterSize(ef, 1<<20)
	sc := bufio.NewScanner(in)
	sc.Buffer(nil, 64<<20)
	var b []byte
	n, read := 0, 0
	for read < envelopeBytes && sc.Scan() { // whole lines: a cut one would be an error
		read += len(sc.Bytes()) + 1
		line := sc.Bytes()
		b = append(b[:0], `{ "category": "kube-audit", "operationName": "Microsoft.ContainerService/managedClusters/diagnosticLogs/Read", "properties": {"pod":"kube-apiserver-6d9f8c7b5-x2x4q","containerID":"c2120cb7","log":`...)
		b = auditlog.AppendQuoted(b, append(line, '\n'))
		b = append(b, `,"stream":"stdout"}, "resourceId": "/SUBSCRIPTIONS/0B62/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/BENCH", "time": "2026-11-20T08:00:00.000000000Z"}`+"\n"...)
		a.Write(b)

		if n%10000 == 0 {
			if n > 0 {
				e.WriteString("\n    ],\n    \"searchedLogStreams\": []\n}\n")
			}
			e.WriteString("{\n    \"events\": [\n")
		} else {
			e.WriteString(",\n")
		}
		b = fmt.Appendf(b[:0], "        {\n            \"logStreamName\": \"kube-apiserver-audit-%032x\",\n            \"timestamp\": %d,\n            \"message\": ", n%3, 1763625600000+int64(n))
		b = auditlog.AppendQuoted(b, line)
		b = fmt.Appendf(b, ",\n            \"ingestionTime\": %d,\n            \"eventId\": \"%d\"\n        }", 1763625600500+int64(n), n)
		e.Write(b)
		n++
	}
	if n > 0 {
		e.WriteString("\n    ],\n    \"searchedLogStreams\": []\n}\n")
	}
	if err := sc.Err(); err != nil {
		return "", "", err
	}
	if err := a.Flush(); err != nil {
		return "", "", err
	}
	return aks, eks, e.Flush()
}
