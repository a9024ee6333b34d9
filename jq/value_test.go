package jq

import (
	"context"
	"reflect"
	"testing"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/internal/audittest"
)

// TestValueMatchesEncodingJSON: the fast decoder gives what encoding/json
// (gojq's own input decoder) gives, on the corpora and on awkward strings.
func TestValueMatchesEncodingJSON(t *testing.T) {
	inputs := [][]byte{
		[]byte(`{"a":"\ud800x","b":1.50,"c":"\u00e9","a":"dup","e":1e400,"f":-0,"g":12345678901234567890}`),
		[]byte("{\"bad\":\"a\xffb\",\"n\":[1,2.0]}"),
		[]byte(`{"lone":"\udc00\ud83d\ude00","nul":"\u0000","esc":"\"\\\/\b\f\n\r\t"}`),
		[]byte(`{"x":[],"y":{},"z":[{"k":null}],"t":true}`),
	}
	for _, path := range audittest.Corpora(t) {
		for ev, err := range auditlog.ReadFiles(context.Background(), []string{path}) {
			if err != nil {
				t.Fatal(err)
			}
			inputs = append(inputs, append([]byte(nil), ev.Raw()...))
		}
	}
	for _, in := range inputs {
		got, err1 := decodeJSON(in)
		want, err2 := decodeStd(in)
		if (err1 == nil) != (err2 == nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("%.200s:\nfast %#v (%v)\nstd  %#v (%v)", in, got, err1, want, err2)
		}
	}
}

func BenchmarkValue(b *testing.B) {
	path := audittest.Rotated()
	var lines [][]byte
	var size int64
	for ev, err := range auditlog.ReadFiles(context.Background(), []string{path}) {
		if err != nil {
			b.Fatal(err)
		}
		lines = append(lines, append([]byte(nil), ev.Raw()...))
		size += int64(len(ev.Raw()))
	}
	for _, bc := range []struct {
		name   string
		decode func([]byte) (any, error)
	}{{"sonic", decodeJSON}, {"encoding-json", decodeStd}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				for _, l := range lines {
					if _, err := bc.decode(l); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkValueOf: the projection's keys alone (Program.Keys) against the
// whole event, on the same events.
func BenchmarkValueOf(b *testing.B) {
	path := audittest.Rotated()
	var evs []*auditlog.Event
	var size int64
	for ev, err := range auditlog.ReadFiles(context.Background(), []string{path}, auditlog.WithRawFields()) {
		if err != nil {
			b.Fatal(err)
		}
		evs = append(evs, ev.Clone())
		size += int64(len(ev.Raw()))
	}
	p, err := Compile(`[.auditID,.verb,.requestURI,.user.username,.responseStatus.code,.stageTimestamp]`, Config{})
	if err != nil {
		b.Fatal(err)
	}
	keys, _ := p.Keys()
	for _, bc := range []struct {
		name  string
		value func(*auditlog.Event) (any, error)
	}{
		{"members", p.Input},
		{"keys", func(ev *auditlog.Event) (any, error) { return ValueOf(ev, keys) }},
		{"whole", Value},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				for _, ev := range evs {
					if _, err := bc.value(ev); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
		})
	}
}
