package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/summary"
	"github.com/auditq/auditq/summary/htmlreport"
)

type summaryOptions struct {
	inputFlags
	output   string
	top      int
	interval time.Duration
	title    string
}

// summaryOutput is the -o json/yaml document: the Report plus what reading saw.
type summaryOutput struct {
	*summary.Report
	Problems int `json:"problems"` // bad lines and unreadable inputs, reported on stderr
}

// timelineBuckets is the width of the rate sparkline.
const timelineBuckets = 60

func newSummaryCommand(e *env) *cobra.Command {
	o := &summaryOptions{}
	cmd := &cobra.Command{
		Use:   "summary [FILE|DIR|-]...",
		Short: "What happened: one screen about the events that pass the filters",
		Long: `Summarize the events that pass the filters: time range, events and requests;
requests by verb, code class and code, events by stage and level; the top
users, service accounts, resources, namespaces, user agents and source IPs;
failures (4xx/5xx) and authorization denials with who and what; latency
percentiles of completed requests; sensitive activity (secret reads,
exec/attach/portforward, RBAC changes, impersonation, anonymous and
unauthenticated requests, token requests, deletions); and the request rate
over time.

-o json and -o yaml print the same document with stable keys (described in
docs/commands.md); counts there are complete, lists are cut at --top.
-o html writes one self-contained HTML page (inline CSS and SVG, no script,
nothing fetched) with the same numbers drawn as charts, to attach to a
ticket or print; --top 20 gives it longer lists.

` + inputsHelp,
		Example: `  auditq summary /var/log/kubernetes/kube-apiserver-audit.log
  auditq summary --since 1h --namespace prod /var/log/kubernetes/
  auditq summary -o json audit.log | jq .denials
  auditq summary -o html --top 20 --title "INC-2211: prod-eu-1" /var/log/kubernetes/ > report.html`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSummary(e, o, args)
		},
	}
	outputFlag(cmd, &o.output, "table", "table", "json", "yaml", "html")
	cmd.Flags().StringVar(&o.title, "title", "", "with -o html: the report's heading (default \"Audit log summary\")")
	cmd.Flags().IntVar(&o.top, "top", 5, "rows in each top list")
	cmd.Flags().DurationVar(&o.interval, "interval", 2*time.Second, "with --follow: how often the summary is redrawn (on a terminal) or printed (one JSON line each)")
	o.addFilterFlags(cmd, true)
	o.addFollowFlags(cmd)
	return cmd
}

func runSummary(e *env, o *summaryOptions, args []string) error {
	if err := checkChoice("-o", o.output, "table", "json", "yaml", "html"); err != nil {
		return err
	}
	if o.follow && o.output == "html" {
		return &exitError{exitUsage, "-o html with --follow: a report is written once; use -o json to stream"}
	}
	if o.top < 1 {
		return &exitError{exitUsage, fmt.Sprintf("--top %d: want at least 1", o.top)}
	}
	s, err := newSession(e, &o.inputFlags, args)
	if err != nil {
		return err
	}
	sum := summary.New(o.top, timelineBuckets)
	if o.follow {
		return followSummary(e, o, s, sum)
	}
	// The summary reads no bodies: on kube-apiserver's lines they are stepped over.
	s.noBodies = true
	// Counted on the workers, a chunk at a time, and merged in input order:
	// the same summary as one reading event by event.
	start, fold := summary.Folding(o.top, timelineBuckets)
	foldEvents(s, start, fold, sum.Add, func(p **summary.Partial) { sum.Merge(*p) }, auditlog.WithoutBodies())
	doc := summaryOutput{sum.Report(), s.problems}
	switch o.output {
	case "json":
		b, _ := json.MarshalIndent(doc, "", "  ")
		s.write(append(b, '\n'))
	case "yaml":
		b, err := yaml.Marshal(doc)
		if err != nil {
			return &exitError{exitBadInput, err.Error()}
		}
		s.write(b)
	case "html":
		var b bytes.Buffer
		if err := htmlreport.Write(&b, doc.Report, htmlreport.Options{Title: o.title, Version: BuildVersion(), Problems: doc.Problems}); err != nil {
			return &exitError{exitBadInput, err.Error()}
		}
		s.write(b.Bytes())
	default:
		s.write(renderSummary(doc, o.colored(e)))
	}
	return s.finish("the summary counts the events that could be read")
}

// followSummary keeps the summary of a followed log up to date: on a
// terminal (with -o table) it redraws the screen every interval; otherwise it
// prints the summary so far every interval, one compact JSON document a line
// (YAML documents with -o yaml), and once more at the end.
func followSummary(e *env, o *summaryOptions, s *session, sum *summary.Builder) error {
	if o.interval < 100*time.Millisecond {
		return &exitError{exitUsage, fmt.Sprintf("--interval %v: want at least 100ms", o.interval)}
	}
	var mu sync.Mutex // sum is built by the reader and read by the printer
	redraw := e.stdoutTTY && o.output == "table"
	show := func(final bool) {
		mu.Lock()
		rep := sum.Report()
		mu.Unlock()
		s.mu.Lock()
		doc := summaryOutput{rep, s.problems}
		s.mu.Unlock()
		var b []byte
		switch {
		case redraw:
			b = []byte("\x1b[H\x1b[2J")
			if !final {
				b = fmt.Appendf(b, "auditq summary --follow: %s, every %v (Ctrl-C to stop)\n\n", time.Now().Format(time.TimeOnly), o.interval)
			}
			b = append(b, renderSummary(doc, o.colored(e))...)
		case o.output == "yaml":
			y, _ := yaml.Marshal(doc)
			b = append([]byte("---\n"), y...)
		default:
			b, _ = json.Marshal(doc)
			b = append(b, '\n')
		}
		s.write(b)
	}
	stopShowing := every(o.interval, func() { show(false) })
	s.noBodies = true
	for ev := range s.events(auditlog.WithoutBodies()) {
		mu.Lock()
		sum.Add(ev)
		mu.Unlock()
	}
	stopShowing()
	if !s.writeFailed.Load() {
		show(true)
	}
	return s.finish("the summary counts the events that could be read")
}

// renderSummary lays the summary out for a person: every string from the log
// goes through escapeCell, so nothing in it reaches the terminal raw.
func renderSummary(d summaryOutput, colored bool) []byte {
	var b bytes.Buffer
	head := func(s string) string {
		if colored {
			return "\x1b[1m" + s + "\x1b[0m"
		}
		return s
	}
	sum := d.Report
	if sum.Events == 0 {
		fmt.Fprintf(&b, "No events")
		if d.Problems > 0 {
			fmt.Fprintf(&b, " (%d problems reported)", d.Problems)
		}
		b.WriteString(".\n")
		return b.Bytes()
	}
	fmt.Fprintf(&b, "%s %s → %s (%s)\n", head("Time    "), sum.From.Format(time.RFC3339), sum.To.Format(time.RFC3339), sum.To.Sub(sum.From).Round(time.Second))
	fmt.Fprintf(&b, "%s %s events, %s requests", head("Events  "), num(sum.Events), num(sum.Requests))
	if d.Problems > 0 {
		fmt.Fprintf(&b, ", %d problems (see stderr)", d.Problems)
	}
	if sum.Approximate {
		b.WriteString(" (top lists approximate)")
	}
	b.WriteString("\n")
	inline := func(title string, rows []summary.Row, limit int) {
		if len(rows) == 0 {
			if strings.TrimSpace(title) != "" {
				fmt.Fprintf(&b, "%s (none recorded)\n", head(title)) // GKE entries have no stage or level
			}
			return
		}
		fmt.Fprintf(&b, "%s ", head(title))
		for i, r := range rows {
			if i == limit {
				fmt.Fprintf(&b, " …%d more", len(rows)-limit)
				break
			}
			if i > 0 {
				b.WriteString(" · ")
			}
			fmt.Fprintf(&b, "%s %s", escapeCell(orNone(r.Key)), num(r.Count))
		}
		b.WriteString("\n")
	}
	inline("Verbs   ", sum.Verbs, 8)
	inline("Codes   ", sum.CodeClasses, 8)
	inline("        ", sum.Codes, 10)
	inline("Stages  ", sum.Stages, 4)
	inline("Levels  ", sum.Levels, 4)

	if tl := sum.Timeline; len(tl.Requests) > 0 {
		peak, at := int64(0), 0
		for i, n := range tl.Requests {
			if n > peak {
				peak, at = n, i
			}
		}
		width := time.Duration(tl.BucketSeconds) * time.Second
		fmt.Fprintf(&b, "\n%s %s  per %s, peak %s at %s\n", head("Requests"), sparkline(tl.Requests, peak), width, num(peak), tl.Start.Add(time.Duration(at)*width).Format("15:04:05"))
		fmt.Fprintf(&b, "%s %s  4xx/5xx on the same scale\n", head("Errors  "), sparkline(tl.Errors, peak))
		end := tl.Start.Add(time.Duration(len(tl.Requests)) * width)
		label := tl.Start.Format("15:04:05")
		if len(tl.Requests) > 2*len(label) {
			fmt.Fprintf(&b, "         %s%*s\n", label, len(tl.Requests)-len(label), end.Format("15:04:05"))
		} else {
			fmt.Fprintf(&b, "         %s → %s\n", label, end.Format("15:04:05")) // too few buckets to place both under the bars
		}
	}

	if l := sum.Latency; l.Requests > 0 {
		fmt.Fprintf(&b, "\n%s p50 %s  p90 %s  p99 %s  max %s  over %s completed requests (not watch/exec/attach/portforward/proxy/log)\n",
			head("Latency "), ms(l.P50ms), ms(l.P90ms), ms(l.P99ms), ms(l.Maxms), num(l.Requests))
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "\tverb\trequests\tp50\tp90\tp99\tmax\t")
		for i, v := range sum.LatencyByVerb {
			if i == 4 {
				break
			}
			fmt.Fprintf(tw, "\t%s\t%s\t%s\t%s\t%s\t%s\t\n", escapeCell(v.Verb), num(v.Requests), ms(v.P50ms), ms(v.P90ms), ms(v.P99ms), ms(v.Maxms))
		}
		tw.Flush()
	}

	b.WriteString("\n")
	twoColumns(&b, head, "USERS", sum.Users, "SERVICE ACCOUNTS", sum.ServiceAccounts)
	twoColumns(&b, head, "RESOURCES", sum.Resources, "NAMESPACES", sum.Namespaces)
	twoColumns(&b, head, "SOURCE IPS", sum.SourceIPs, "NON-RESOURCE URLS", sum.NonResourceURLs)
	fmt.Fprintln(&b, head(fmt.Sprintf("%-*s%9s", 89, "USER AGENTS", "REQUESTS")))
	for _, r := range sum.UserAgents {
		fmt.Fprintf(&b, "%s%9s\n", pad(cell(orNone(r.Key), 89), 89), num(r.Count))
	}
	if len(sum.Sources) > 1 {
		// Several API servers or exports: how much of the log each gave, and when.
		fmt.Fprintf(&b, "\n%s\n", head(fmt.Sprintf("%-*s%9s  %-20s  %s", 60, "SOURCES", "EVENTS", "FROM", "TO")))
		for i, src := range sum.Sources {
			if i == 20 {
				fmt.Fprintf(&b, "  …%d more (-o json lists them all)\n", len(sum.Sources)-i)
				break
			}
			fmt.Fprintf(&b, "%s%9s  %-20s  %s\n", pad(cell(orNone(src.Source), 60), 60), num(src.Events), timeOrNone(src.From), timeOrNone(src.To))
		}
	}

	activities := func(title string, a summary.Activities, withCode, withReason bool) {
		fmt.Fprintf(&b, "%s %s requests\n", head(title), num(a.Requests))
		if len(a.Top) == 0 {
			return
		}
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		hdr := "  COUNT\t"
		if withCode {
			hdr += "CODE\t"
		}
		hdr += "USER\tVERB\tRESOURCE\tNAMESPACE/NAME"
		if withReason {
			hdr += "\tREASON"
		}
		fmt.Fprintln(tw, hdr)
		for _, r := range a.Top {
			line := "  " + num(r.Count) + "\t"
			if withCode {
				line += strconv.Itoa(int(r.Code)) + "\t"
			}
			user := r.User
			if r.As != "" {
				user += " as " + r.As
			}
			line += cell(orNone(user), 40) + "\t" + cell(r.Verb, 16) + "\t" + cell(r.Resource, 40) + "\t" + cell(objectName(r.Namespace, r.Name), 40)
			if withReason {
				line += "\t" + cell(r.Reason, 60)
			}
			fmt.Fprintln(tw, line)
		}
		tw.Flush()
	}
	b.WriteString("\n")
	activities("FAILURES (4xx/5xx)", sum.Failures, true, false)
	withReason := false
	for _, r := range sum.Denials.Top {
		withReason = withReason || r.Reason != ""
	}
	activities("DENIALS (authorization.k8s.io/decision=forbid)", sum.Denials, false, withReason)

	b.WriteString("\n" + head("SENSITIVE") + "\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	var none []string
	for _, c := range sum.Sensitive {
		if c.Requests == 0 {
			none = append(none, c.Category)
			continue
		}
		if len(c.Top) == 0 {
			continue
		}
		r := c.Top[0]
		user := r.User
		if r.As != "" {
			user += " as " + r.As
		}
		more := ""
		if n := c.Requests - r.Count; n > 0 {
			more = fmt.Sprintf(" (+%s more)", num(n))
		}
		what := []string{cell(orNone(user), 40), cell(r.Verb, 16), cell(r.Resource, 40)}
		if obj := objectName(r.Namespace, r.Name); obj != "" {
			what = append(what, cell(obj, 40))
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s× %s%s\n", c.Category, num(c.Requests), num(r.Count), strings.Join(what, " "), more)
	}
	tw.Flush()
	if len(none) > 0 {
		fmt.Fprintf(&b, "  none: %s\n", strings.Join(none, ", "))
	}
	return b.Bytes()
}

func twoColumns(b *bytes.Buffer, head func(string) string, t1 string, c1 []summary.Row, t2 string, c2 []summary.Row) {
	const keyWidth = 40
	rows := max(len(c1), len(c2))
	header := head(fmt.Sprintf("%-*s%9s", keyWidth, t1, "REQUESTS"))
	if t2 != "" {
		header += "  " + head(fmt.Sprintf("%-*s%9s", keyWidth, t2, "REQUESTS"))
	}
	fmt.Fprintln(b, header)
	for i := range rows {
		left := strings.Repeat(" ", keyWidth+9)
		if i < len(c1) {
			left = pad(cell(orNone(c1[i].Key), keyWidth), keyWidth) + fmt.Sprintf("%9s", num(c1[i].Count))
		}
		right := ""
		if i < len(c2) {
			right = pad(cell(orNone(c2[i].Key), keyWidth), keyWidth) + fmt.Sprintf("%9s", num(c2[i].Count))
		}
		fmt.Fprintln(b, strings.TrimRight(left+"  "+right, " "))
	}
	b.WriteString("\n")
}

// cell escapes a log string for the terminal and cuts it to width runes.
func cell(s string, width int) string {
	s = escapeCell(s)
	if utf8.RuneCountInString(s) <= width {
		return s
	}
	r := []rune(s)
	return string(r[:width-1]) + "…"
}

func pad(s string, width int) string {
	if n := utf8.RuneCountInString(s); n < width {
		return s + strings.Repeat(" ", width-n)
	}
	return s
}

func timeOrNone(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(time.RFC3339)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func objectName(ns, name string) string {
	switch {
	case ns == "":
		return name
	case name == "":
		return ns + "/"
	}
	return ns + "/" + name
}

// num writes n with thousands separators.
func num(n int64) string {
	s := strconv.FormatInt(n, 10)
	if len(s) <= 3 {
		return s
	}
	var b strings.Builder
	lead := len(s) % 3
	if lead > 0 {
		b.WriteString(s[:lead])
	}
	for i := lead; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

func ms(v float64) string {
	d := time.Duration(v * float64(time.Millisecond))
	for _, r := range []time.Duration{10 * time.Second, time.Second, 100 * time.Millisecond, 10 * time.Millisecond, time.Millisecond} {
		if d >= r {
			return d.Round(r / 100).String() // three significant digits
		}
	}
	return d.Round(time.Microsecond).String()
}

// sparkline draws counts as eighth-blocks scaled to peak; a bucket with any
// count shows at least the lowest block, an empty one a space.
func sparkline(counts []int64, peak int64) string {
	const blocks = "▁▂▃▄▅▆▇█"
	runes := []rune(blocks)
	var b strings.Builder
	for _, n := range counts {
		if n == 0 || peak == 0 {
			b.WriteByte(' ')
			continue
		}
		i := int((n*int64(len(runes)) - 1) / peak)
		b.WriteRune(runes[min(i, len(runes)-1)])
	}
	return b.String()
}
