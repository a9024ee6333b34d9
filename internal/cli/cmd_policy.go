package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/policy"
)

func newPolicyCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "What an audit policy would keep, drop and cost on a real log; lint a policy",
	}
	cmd.AddCommand(newSimulateCommand(e), newLintCommand(e))
	return cmd
}

type simulateOptions struct {
	inputFlags
	policy, against string
	show            string
	output          string
}

func newSimulateCommand(e *env) *cobra.Command {
	o := &simulateOptions{}
	cmd := &cobra.Command{
		Use:   "simulate --policy FILE [FILE|DIR|-]...",
		Short: "Apply an audit policy to a log: per rule, what it matches, keeps, trims and drops, in events and bytes",
		Long: `Evaluate every request in the log with kube-apiserver's own audit policy
evaluator (k8s.io/apiserver) and report, rule by rule, the requests and events
it decides, what it keeps, trims (a lower level drops requestObject and
responseObject; omitManagedFields drops managedFields) and drops (level None,
omitted stages), and the bytes before and after.

A log can only show what a policy would remove: an event logged at a lower
level than the policy asks cannot show what the higher level would add. Those
events are counted as under-logged. Simulate on a log written at
RequestResponse to see everything.

--show kept prints the events as the policy would have them written (levels
applied), --show dropped the events it would not write; either is a log any
command reads. --against OTHER puts a second policy beside the first.

` + inputsHelp,
		Example: `  auditq policy simulate --policy /etc/kubernetes/audit-policy.yaml /var/log/kubernetes/
  auditq policy simulate --policy new.yaml --against current.yaml audit.log
  auditq policy simulate --policy new.yaml --show dropped audit.log | auditq summary`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSimulate(e, o, args)
		},
	}
	cmd.Flags().StringVar(&o.policy, "policy", "", "the audit policy file to apply (YAML or JSON, audit.k8s.io/v1; v1beta1 is read as v1)")
	cmd.Flags().StringVar(&o.against, "against", "", "a second policy file to compare with")
	cmd.Flags().StringVar(&o.show, "show", "", "print the events instead of the report: kept (as the policy writes them) or dropped")
	outputFlag(cmd, &o.output, "table", "table", "json")
	o.addFilterFlags(cmd, true)
	return cmd
}

func loadPolicyFile(path string) (*policy.Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &exitError{exitUsage, strings.TrimPrefix(err.Error(), "open ")}
	}
	p, err := policy.Load(path, data)
	if err != nil {
		return nil, &exitError{exitUsage, string(escapeForTerminal([]byte(err.Error())))}
	}
	return p, nil
}

// policySlot is a worker's verdict on one event under each policy.
type policySlot struct {
	out     [2][]byte
	outcome [2]policy.Outcome
}

func runSimulate(e *env, o *simulateOptions, args []string) error {
	if o.policy == "" {
		return &exitError{exitUsage, "--policy FILE is required: the audit policy to apply"}
	}
	if err := checkChoice("-o", o.output, "table", "json"); err != nil {
		return err
	}
	if o.show != "" {
		if err := checkChoice("--show", o.show, "kept", "dropped"); err != nil {
			return err
		}
	}
	policies := []*policy.Policy{}
	for _, path := range []string{o.policy, o.against} {
		if path == "" {
			continue
		}
		p, err := loadPolicyFile(path)
		if err != nil {
			return err
		}
		policies = append(policies, p)
	}
	s, err := newSession(e, &o.inputFlags, args)
	if err != nil {
		return err
	}
	sims := make([]*policy.Simulation, len(policies))
	for i, p := range policies {
		sims[i] = policy.NewSimulation(p)
	}
	var changes policy.Comparison
	work := func(ev *auditlog.Event, slot *policySlot) bool {
		for i, p := range policies {
			slot.out[i], slot.outcome[i] = p.Apply(ev, slot.out[i][:0])
		}
		return true
	}
	colors := o.palette(e)
	var buf bytes.Buffer
	for ev, slot := range scanEvents(s, work) {
		for i, sim := range sims {
			sim.Add(ev, slot.outcome[i], len(slot.out[i]))
		}
		if len(sims) == 2 {
			changes.Add(ev, slot.outcome[0], len(slot.out[0]), slot.outcome[1], len(slot.out[1]))
		}
		switch fate := slot.outcome[0].Fate; {
		case o.show == "kept" && fate != policy.Dropped:
			buf.Reset()
			writeRaw(&buf, slot.out[0], false, e.stdoutTTY, colors)
			s.write(buf.Bytes())
		case o.show == "dropped" && fate == policy.Dropped:
			buf.Reset()
			writeRaw(&buf, ev.Raw(), false, e.stdoutTTY, colors)
			s.write(buf.Bytes())
		}
	}
	reports := make([]policy.Report, len(sims))
	for i, sim := range sims {
		reports[i] = sim.Report()
	}
	switch {
	case o.show != "":
		t := reports[0].Total
		s.printError(fmt.Errorf("%s: %d of %d events kept (%d of them trimmed), %d dropped", policies[0].Name, t.Kept+t.Trimmed, t.Events, t.Trimmed, t.Dropped))
	case o.output == "json":
		doc := simulateOutput{Policy: reports[0], Problems: s.problems}
		if len(reports) == 2 {
			diff := changes.Difference()
			doc.Against, doc.Difference = &reports[1], &diff
		}
		b, _ := json.MarshalIndent(doc, "", "  ")
		s.write(append(b, '\n'))
	default:
		var b bytes.Buffer
		for i, rep := range reports {
			if i > 0 {
				b.WriteString("\n")
			}
			renderPolicyReport(&b, rep, policies[i].Spec)
		}
		if len(reports) == 2 {
			renderDifference(&b, reports, changes.Difference())
		}
		s.write(b.Bytes())
	}
	return s.finish("the report counts the events that could be read")
}

// renderPolicyReport lays out one policy's simulation for a person.
func renderPolicyReport(b *bytes.Buffer, rep policy.Report, pol *auditinternal.Policy) {
	fmt.Fprintf(b, "POLICY %s (%s)\n", escapeCell(rep.Policy), escapeCell(rep.APIVersion))
	for _, n := range rep.Notes {
		fmt.Fprintf(b, "  note: %s\n", escapeCell(n))
	}
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "RULE\tLEVEL\tREQUESTS\tEVENTS\tKEPT\tTRIMMED\tDROPPED\tBYTES NOW\tUNDER POLICY\tCHANGE\t  MATCHES")
	for _, r := range rep.Rules {
		if r.Events == 0 && r.Rule == 0 {
			continue
		}
		rule, match := "-", "no rule matched"
		if r.Rule > 0 {
			rule, match = fmt.Sprint(r.Rule), describeRule(&pol.Rules[r.Rule-1])
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t  %s\n", rule, r.Level, r.Requests, r.Events, r.Kept, r.Trimmed, r.Dropped,
			formatBytes(r.BytesBefore), formatBytes(r.BytesAfter), change(r.BytesBefore, r.BytesAfter), escapeCell(match))
	}
	t := rep.Total
	fmt.Fprintf(tw, "TOTAL\t\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t\n", t.Requests, t.Events, t.Kept, t.Trimmed, t.Dropped,
		formatBytes(t.BytesBefore), formatBytes(t.BytesAfter), change(t.BytesBefore, t.BytesAfter))
	tw.Flush()
	fmt.Fprintf(b, "\nUnder this policy the log would be %s instead of %s (%s).\n", formatBytes(t.BytesAfter), formatBytes(t.BytesBefore), change(t.BytesBefore, t.BytesAfter))
	if t.NoLevel > 0 {
		fmt.Fprintf(b, "%d events record no level (their format does not keep one: GKE entries, legacy lines): they are counted as they are, so the sizes under the policy say little of them.\n", t.NoLevel)
	}
	if t.Underlogged > 0 {
		fmt.Fprintf(b, "%d events were logged at a lower level than this policy asks: the log cannot show what the higher level would add, so the size under the policy is a lower bound.\n", t.Underlogged)
	}
	if len(rep.Dead) > 0 {
		fmt.Fprintf(b, "Rules that matched nothing in this log: %s.\n", joinInts(rep.Dead))
	}
	for _, sh := range rep.Shadowed {
		fmt.Fprintf(b, "Rule %d can never match: rule %d matches every request it would, first.\n", sh.Rule, sh.ShadowedBy)
	}
	if rep.Approximate {
		fmt.Fprintln(b, "Request counts are approximate: more requests were in flight at once than auditq remembers.")
	}
}

// describeRule is a one-line summary of what a rule matches.
func describeRule(r *auditinternal.PolicyRule) string {
	var parts []string
	list := func(name string, vals []string) {
		if len(vals) > 0 {
			parts = append(parts, name+" "+strings.Join(vals, ","))
		}
	}
	list("users", r.Users)
	list("groups", r.UserGroups)
	list("verbs", r.Verbs)
	list("namespaces", r.Namespaces)
	var res []string
	for _, gr := range r.Resources {
		g := gr.Group
		if g == "" {
			g = "core"
		}
		rs := "*"
		if len(gr.Resources) > 0 {
			rs = strings.Join(gr.Resources, ",")
		}
		if len(gr.ResourceNames) > 0 {
			rs += "[" + strings.Join(gr.ResourceNames, ",") + "]"
		}
		res = append(res, g+":"+rs)
	}
	list("resources", res)
	list("urls", r.NonResourceURLs)
	var omit []string
	for _, st := range r.OmitStages {
		omit = append(omit, string(st))
	}
	list("omit", omit)
	if len(parts) == 0 {
		return "everything"
	}
	const max = 70
	s := strings.Join(parts, "; ")
	if len(s) > max {
		s = s[:max-1] + "…"
	}
	return s
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func change(before, after int64) string {
	if before == 0 {
		return "-"
	}
	return fmt.Sprintf("%+.0f%%", 100*float64(after-before)/float64(before))
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}

// simulateOutput is simulate's -o json document; its keys are in the order
// encoding/json writes a map's, as they always were.
type simulateOutput struct {
	Against    *policy.Report     `json:"against,omitempty"`
	Difference *policy.Difference `json:"difference,omitempty"`
	Policy     policy.Report      `json:"policy"`
	Problems   int                `json:"problems"`
}

func renderDifference(b *bytes.Buffer, reps []policy.Report, d policy.Difference) {
	fmt.Fprintf(b, "\nDIFFERENCE %s against %s\n", escapeCell(reps[0].Policy), escapeCell(reps[1].Policy))
	fmt.Fprintf(b, "Log %s; under %s %s (%s); under %s %s (%s); %s writes %s than %s.\n",
		formatBytes(d.BytesLog), escapeCell(reps[0].Policy), formatBytes(d.BytesPolicy), change(d.BytesLog, d.BytesPolicy),
		escapeCell(reps[1].Policy), formatBytes(d.BytesAgainst), change(d.BytesLog, d.BytesAgainst),
		escapeCell(reps[0].Policy), moreOrLess(d.BytesPolicy-d.BytesAgainst), escapeCell(reps[1].Policy))
	rows := d.RulePairs
	if len(rows) == 0 {
		fmt.Fprintln(b, "Both policies write every event the same way.")
		return
	}
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "RULE\tAGAINST RULE\tEVENTS\tFATE\tFATE AGAINST\tBYTES\tBYTES AGAINST\t")
	for i, rc := range rows {
		if i == 20 {
			fmt.Fprintf(tw, "…\t%d more pairs\t\t\t\t\t\t\n", len(rows)-i)
			break
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t\n", ruleName(rc.Rule), ruleName(rc.Against), rc.Events, rc.Fate, rc.FateOther, formatBytes(rc.Bytes), formatBytes(rc.BytesOther))
	}
	tw.Flush()
}

func ruleName(r int) string {
	if r == 0 {
		return "-"
	}
	return fmt.Sprint(r)
}

func moreOrLess(d int64) string {
	switch {
	case d > 0:
		return formatBytes(d) + " more"
	case d < 0:
		return formatBytes(-d) + " less"
	}
	return "as much"
}

// lintOutput is one file's entry in lint's -o json list.
type lintOutput struct {
	Findings []policy.Finding `json:"findings"`
	Policy   string           `json:"policy"`
}

type lintOptions struct {
	output string
}

func newLintCommand(e *env) *cobra.Command {
	o := &lintOptions{}
	cmd := &cobra.Command{
		Use:   "lint FILE...",
		Short: "Check an audit policy for what the setup guides warn about",
		Long: `Check audit policy files for what the setup guides warn about: secrets,
configmaps, tokenreviews or serviceaccounts/token logged above Metadata (their
bodies put credentials in the log); RequestReceived not omitted (every request
logged twice); no catch-all last rule; rules after a catch-all or otherwise
unable to match; unknown verbs; misspelt API groups. audit.k8s.io/v1beta1
policies, which kube-apiserver has refused since v1.24, are read as v1 and the
change to make is given.

Exit status: 0 nothing found; 1 warnings only; 5 errors; 2 a file cannot be
read as a policy.`,
		Example: `  auditq policy lint /etc/kubernetes/audit-policy.yaml`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkChoice("-o", o.output, "table", "json"); err != nil {
				return err
			}
			worst := 0
			var all []lintOutput
			var b bytes.Buffer
			for _, path := range args {
				p, err := loadPolicyFile(path)
				if err != nil {
					return err
				}
				findings := p.Lint()
				all = append(all, lintOutput{Findings: findings, Policy: path})
				for _, f := range findings {
					if f.Severity == policy.SeverityError {
						worst = max(worst, exitBadInput)
					} else {
						worst = max(worst, exitFalsy)
					}
					where := path
					if f.Rule > 0 {
						where = fmt.Sprintf("%s: rule %d", path, f.Rule)
					}
					fmt.Fprintf(&b, "%s: %s: %s\n", escapeCell(where), f.Severity, escapeCell(f.Message))
				}
			}
			if o.output == "json" {
				out, _ := json.MarshalIndent(all, "", "  ")
				b.Reset()
				b.Write(append(out, '\n'))
			}
			e.stdout.Write(b.Bytes())
			if worst > 0 {
				return &exitError{code: worst}
			}
			return nil
		},
	}
	outputFlag(cmd, &o.output, "table", "table", "json")
	return cmd
}
