// Package htmlreport renders a summary.Report as one self-contained HTML
// document: inline CSS and SVG, no script, no network, readable in print.
//
// Every string in a report comes from the log and is attacker-controlled;
// html/template escapes each one for where it lands (text, attribute, SVG
// title), and the document's Content-Security-Policy allows no script at
// all, so an escaping mistake still could not run one.
package htmlreport

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/auditq/auditq/summary"
)

//go:embed report.html.tmpl
var page string

// tmpl is parsed on first use, not at start: every auditq command would
// pay its 2 ms otherwise.
var tmpl = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("report").Funcs(template.FuncMap{
		"num":  num,
		"ms":   ms,
		"time": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 MST") },
		"none": func(s string) string {
			if s == "" {
				return "(none)"
			}
			return s
		},
		"obj": func(ns, name string) string {
			switch {
			case ns != "" && name != "":
				return ns + "/" + name
			case name != "":
				return name
			}
			return ns
		},
		"pct": func(part, whole int64) string {
			if whole == 0 {
				return "0%"
			}
			return strconv.FormatFloat(100*float64(part)/float64(whole), 'f', 1, 64) + "%"
		},
	}).Parse(page))
})

// Options are what the report says about itself.
type Options struct {
	Title    string // the heading; "" is "Audit log summary"
	Version  string // the auditq that made it, shown in the footer
	Problems int    // bad lines and unreadable inputs met while reading
}

// Write renders r to w.
func Write(w io.Writer, r *summary.Report, opts Options) error {
	if opts.Title == "" {
		opts.Title = "Audit log summary"
	}
	v := view{R: r, Options: opts, Timeline: timelineOf(r.Timeline)}
	v.Duration = r.To.Sub(r.From).Round(time.Second).String()
	v.KPIs = []kpi{
		{"Events", num(r.Events), "", ""},
		{"Requests", num(r.Requests), "", ""},
		{"Failures (4xx/5xx)", num(r.Failures.Requests), share(r.Failures.Requests, r.Requests), "bad"},
		{"Denials", num(r.Denials.Requests), share(r.Denials.Requests, r.Requests), "bad"},
	}
	if r.Latency.Requests > 0 {
		v.KPIs = append(v.KPIs, kpi{"Latency p99", ms(r.Latency.P99ms), "p50 " + ms(r.Latency.P50ms), ""})
	}
	for _, b := range []struct {
		title, unit string
		rows        []summary.Row
	}{
		{"Verbs", "requests", r.Verbs},
		{"Response codes", "requests", r.Codes},
		{"Users", "requests", r.Users},
		{"Service accounts", "requests", r.ServiceAccounts},
		{"Resources", "requests", r.Resources},
		{"Namespaces", "requests", r.Namespaces},
		{"Non-resource URLs", "requests", r.NonResourceURLs},
		{"Source IPs", "requests", r.SourceIPs},
		{"User agents", "requests", r.UserAgents},
		{"Stages", "events", r.Stages},
		{"Levels", "events", r.Levels},
	} {
		v.Breakdowns = append(v.Breakdowns, breakdownOf(b.title, b.unit, b.rows))
	}
	var maxP99 float64
	for _, l := range r.LatencyByVerb {
		maxP99 = math.Max(maxP99, l.P99ms)
	}
	for _, l := range r.LatencyByVerb {
		w := 0.0
		if maxP99 > 0 {
			w = 200 * l.P99ms / maxP99
		}
		v.Latency = append(v.Latency, latencyRow{l, w})
	}
	for _, s := range r.Sensitive {
		if s.Requests > 0 {
			v.Sensitive = append(v.Sensitive, s)
		} else {
			v.Quiet = append(v.Quiet, s.Category)
		}
	}
	return tmpl().Execute(w, &v)
}

type view struct {
	R *summary.Report
	Options
	Duration   string
	KPIs       []kpi
	Timeline   timeline
	Breakdowns []breakdown
	Latency    []latencyRow
	Sensitive  []summary.Sensitive
	Quiet      []string // sensitive categories with nothing
}

type kpi struct{ Label, Value, Note, Class string }

type breakdown struct {
	Title, Unit string
	Rows        []barRow
}

type barRow struct {
	Key   string
	Count int64
	Width float64 // of 200, the largest row's
}

type latencyRow struct {
	summary.VerbLatency
	Width float64
}

func breakdownOf(title, unit string, rows []summary.Row) breakdown {
	b := breakdown{Title: title, Unit: unit}
	var peak int64
	for _, r := range rows {
		peak = max(peak, r.Count)
	}
	for _, r := range rows {
		w := 0.0
		if peak > 0 {
			w = math.Max(1, 200*float64(r.Count)/float64(peak))
		}
		b.Rows = append(b.Rows, barRow{r.Key, r.Count, w})
	}
	return b
}

// timeline is the request-rate chart, laid out: stacked bars of requests
// answered below 400, 4xx and 5xx per bucket, and a tick under each bucket
// with denials.
type timeline struct {
	Width, Height, PlotTop, PlotBottom float64
	Bars                               []bucket
	YTicks                             []axisLabel
	XTicks                             []axisLabel
	Per                                string
	Peak                               int64
}

type bucket struct {
	X, W                 float64
	OK, Client, Server   rect
	Denied               int64
	DenialX, DenialW     float64
	Title                string
	Requests, Errors, Sv int64
}

type rect struct{ Y, H float64 }

type axisLabel struct {
	X, Y   float64
	Text   string
	Anchor string // SVG text-anchor
}

func timelineOf(tl summary.Timeline) timeline {
	t := timeline{Width: 960, Height: 260, PlotTop: 10, PlotBottom: 210}
	n := len(tl.Requests)
	if n == 0 {
		return t
	}
	for _, c := range tl.Requests {
		t.Peak = max(t.Peak, c)
	}
	scaleMax := niceCeil(t.Peak)
	left, right := 56.0, t.Width-10
	bw := (right - left) / float64(n)
	plotH := t.PlotBottom - t.PlotTop
	y := func(v int64) float64 { return t.PlotBottom - plotH*float64(v)/float64(scaleMax) }
	width := time.Duration(tl.BucketSeconds) * time.Second
	t.Per = width.String()
	for i := range n {
		req, errs := tl.Requests[i], tl.Errors[i]
		var server, denied int64
		if i < len(tl.ServerErrors) {
			server = tl.ServerErrors[i]
		}
		if i < len(tl.Denials) {
			denied = tl.Denials[i]
		}
		client := errs - server
		ok := req - errs
		x := left + float64(i)*bw
		b := bucket{X: x + bw*0.08, W: bw * 0.84, Denied: denied, Requests: req, Errors: errs, Sv: server}
		b.OK = rect{y(ok), t.PlotBottom - y(ok)}
		b.Client = rect{y(ok + client), y(ok) - y(ok+client)}
		b.Server = rect{y(req), y(ok+client) - y(req)}
		at := tl.Start.Add(time.Duration(i) * width).UTC()
		b.Title = fmt.Sprintf("%s: %s requests, %s 4xx, %s 5xx, %s denied", at.Format("2006-01-02 15:04:05"), num(req), num(client), num(server), num(denied))
		t.Bars = append(t.Bars, b)
	}
	for _, f := range []float64{0, 0.5, 1} {
		v := int64(math.Round(float64(scaleMax) * f))
		t.YTicks = append(t.YTicks, axisLabel{X: left - 6, Y: y(v) + 4, Text: num(v), Anchor: "end"})
	}
	ticks := min(n, 6)
	for k := 0; k <= ticks; k++ {
		i := k * n / ticks
		at := tl.Start.Add(time.Duration(i) * width).UTC()
		format := "15:04:05"
		if time.Duration(n)*width > 36*time.Hour {
			format = "01-02 15:04"
		}
		anchor := "middle"
		switch k {
		case 0:
			anchor = "start"
		case ticks:
			anchor = "end"
		}
		t.XTicks = append(t.XTicks, axisLabel{X: left + float64(i)*bw, Y: t.PlotBottom + 18, Text: at.Format(format), Anchor: anchor})
	}
	return t
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v int64) int64 {
	if v <= 1 {
		return 1
	}
	p := int64(1)
	for p*10 < v {
		p *= 10
	}
	for _, m := range []int64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func share(part, whole int64) string {
	if whole == 0 {
		return ""
	}
	return strconv.FormatFloat(100*float64(part)/float64(whole), 'f', 1, 64) + "% of requests"
}

// num writes n with thin thousands separators: 12,345.
func num(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func ms(v float64) string {
	switch {
	case v >= 1000:
		return strconv.FormatFloat(v/1000, 'f', 2, 64) + " s"
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 0, 64) + " ms"
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + " ms"
}
