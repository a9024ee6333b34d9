package cli

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/query"
	"github.com/auditq/auditq/rbac"
)

func newRBACCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rbac",
		Short: "RBAC from observed requests: generate least privilege, check an RBAC dump, find unused grants",
		Long: `Work out RBAC from what subjects actually did, as the log records it.

Every event carries the authorizer's own verdict (the annotations
authorization.k8s.io/decision and reason), so requests are told apart by what
decided them: RBAC (the reason names the binding), system:masters, another
authorizer (Node, a webhook), a refusal, an admission plugin's 403 after RBAC
allowed, or a refused impersonation. Only what RBAC had to allow is granted.

The subject of a request is the user the authorizer saw: the impersonated
user when there is one. --sa, --user and --group select subjects (any of
them: two --sa flags are two subjects); with none, every subject is read.
The other filters (--since, --namespace, --verb…) select events as elsewhere.`,
	}
	cmd.AddCommand(newRBACGenerateCommand(e), newRBACCheckCommand(e), newRBACUnusedCommand(e))
	return cmd
}

type rbacOptions struct {
	inputFlags
	dumps  []string
	output string
}

func (o *rbacOptions) addFlags(cmd *cobra.Command, dumpUsage string) {
	cmd.Flags().StringArrayVar(&o.dumps, "rbac", nil, dumpUsage)
	o.addFilterFlags(cmd, true)
}

// observe reads the inputs into observations of the selected subjects,
// folding on the workers. The subject flags select subjects, not events:
// they are taken out of the event filter (where --sa and --user would both
// have to hold, and match either of an event's two users).
func (o *rbacOptions) observe(e *env, args []string) (*rbac.Observations, *session, error) {
	subjects, err := query.NewSubjects(o.filter.ServiceAccounts, o.filter.Users, o.filter.Groups)
	if err != nil {
		return nil, nil, &exitError{exitUsage, err.Error()}
	}
	o.filter.ServiceAccounts, o.filter.Users, o.filter.Groups = nil, nil, nil
	s, err := newSession(e, &o.inputFlags, args)
	if err != nil {
		return nil, nil, err
	}
	var selected func(*auditlog.UserInfo) bool
	if !subjects.Any() {
		selected = subjects.Match
	}
	obs := rbac.NewObservations(selected)
	s.noBodies = true
	start, fold := obs.Folding()
	foldEvents(s, start, fold, obs.Add, obs.Merge, auditlog.WithoutBodies())
	return obs, s, nil
}

// loadDumps reads the --rbac dumps (files, directories of .yaml/.yml/.json
// files, or - for stdin) into one set, and says on stderr what it passed
// over or what applies nowhere.
func (o *rbacOptions) loadDumps(e *env, args []string) (*rbac.Set, error) {
	if slices.Contains(o.dumps, "-") && (len(args) == 0 || slices.Contains(args, "-")) {
		return nil, &exitError{exitUsage, "--rbac - and the log cannot both be standard input: give the log as a file"}
	}
	var d rbac.Dump
	for _, p := range o.dumps {
		if p == "-" {
			if err := d.Load("<stdin>", e.stdin); err != nil {
				return nil, &exitError{exitBadInput, escapeCell(err.Error())}
			}
			continue
		}
		files := []string{p}
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			files = nil
			for _, ext := range []string{"*.yaml", "*.yml", "*.json", "*.yaml.gz", "*.json.gz"} {
				m, _ := filepath.Glob(filepath.Join(p, ext))
				files = append(files, m...)
			}
			if len(files) == 0 {
				return nil, &exitError{exitUsage, fmt.Sprintf("--rbac %s: no .yaml, .yml or .json files", quoteArg(p))}
			}
		}
		for _, f := range files {
			fh, err := os.Open(f)
			if err != nil {
				return nil, &exitError{exitUsage, "--rbac: " + escapeCell(strings.TrimPrefix(err.Error(), "open "))}
			}
			err = d.Load(f, fh)
			fh.Close()
			if err != nil {
				return nil, &exitError{exitBadInput, escapeCell(err.Error())}
			}
		}
	}
	set, err := d.Set()
	if err != nil {
		return nil, &exitError{exitBadInput, escapeCell(err.Error())}
	}
	if len(d.Skipped) > 0 {
		fmt.Fprintf(e.stderr, "%s: --rbac: %d objects of other kinds passed over (first: %s)\n", e.name, len(d.Skipped), escapeCell(d.Skipped[0]))
	}
	// Manifests may leave the namespace to kubectl's context; RBAC needs it.
	noNS := 0
	for _, r := range set.Roles() {
		if r.Namespace == "" {
			noNS++
		}
	}
	for _, b := range set.RoleBindings() {
		if b.Namespace == "" {
			noNS++
		}
	}
	if noNS > 0 {
		fmt.Fprintf(e.stderr, "%s: --rbac: %d Roles and RoleBindings have no namespace and apply nowhere (kubectl apply would put them in its context's namespace)\n", e.name, noNS)
	}
	return set, nil
}

type rbacGenerateOptions struct {
	rbacOptions
	gen    rbac.GenerateOptions
	outDir string
}

func newRBACGenerateCommand(e *env) *cobra.Command {
	o := &rbacGenerateOptions{}
	cmd := &cobra.Command{
		Use:   "generate [--sa NS:NAME|--user NAME|--group NAME]... [FILE|DIR|-]...",
		Short: "Least-privilege Roles and bindings that allow what each subject did",
		Long: `Write, for each subject, the Roles (one per namespace), the ClusterRoles (only
for cluster-scoped or all-namespace requests and non-resource URLs) and their
bindings that allow what RBAC allowed it in the log, as YAML that kubectl
apply accepts. Each rule says why, in a comment: how many requests, first and
last seen, an example auditID. Above each subject, a comment lists what was
left out and why: requests system:masters, another authorizer or a default
binding (system:basic-user, system:discovery…) allowed, and refusals.

Least privilege by default: names kept where the requests named objects,
except on create; verbs and subresources exactly as observed; URLs without
their query. Every generated grant is checked to allow the requests it was
made for before it is written.

With --rbac, only what the existing RBAC (a kubectl get roles,clusterroles,
rolebindings,clusterrolebindings -A -o yaml dump) does not allow already.
Exit status 4 when no request of the selected subjects was found.

` + inputsHelp,
		Example: `  auditq rbac generate --sa payments:api /var/log/kubernetes/ > payments-api-rbac.yaml
  kubectl get roles,clusterroles,rolebindings,clusterrolebindings -A -o yaml > rbac.yaml
  auditq rbac generate --rbac rbac.yaml --since 720h /var/log/kubernetes/   # only what is missing
  auditq rbac generate --user alice -o json audit.log | jq '.subjects[].leftOut'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRBACGenerate(e, o, args)
		},
	}
	outputFlag(cmd, &o.output, "yaml", "yaml", "json")
	o.addFlags(cmd, "existing RBAC `DUMP` (file, directory or -; repeatable): generate only what it does not allow")
	f := cmd.Flags()
	f.BoolVar(&o.gen.IncludeForbidden, "include-forbidden", false, "also grant what was forbidden and refused impersonations (what the subject tried)")
	f.BoolVar(&o.gen.IncludeDefaults, "include-defaults", false, "also grant what the default bindings of every cluster allowed (system:basic-user, system:discovery…)")
	f.BoolVar(&o.gen.AnyName, "any-name", false, "drop resourceNames: grant every object of a kind")
	f.BoolVar(&o.gen.CreateNames, "create-names", false, "keep names on subresource creates (pods/NAME/eviction), which RBAC sees: tighter")
	f.BoolVar(&o.gen.WebSocketCreate, "websocket-create", false, "add create beside get on pods/exec, attach, portforward (needed from Kubernetes 1.35)")
	f.StringVar(&o.gen.Prefix, "prefix", "auditq:", "start of the generated objects' names")
	f.StringVar(&o.outDir, "out-dir", "", "write one YAML file per subject into `DIR` (named as its objects), instead of stdout")
	return cmd
}

func runRBACGenerate(e *env, o *rbacGenerateOptions, args []string) error {
	if err := checkChoice("-o", o.output, "yaml", "json"); err != nil {
		return err
	}
	if len(o.dumps) > 0 {
		set, err := o.loadDumps(e, args)
		if err != nil {
			return err
		}
		o.gen.Existing = set
	}
	obs, s, err := o.observe(e, args)
	if err != nil {
		return err
	}
	plan, err := rbac.Generate(obs, o.gen)
	if err != nil {
		return &exitError{exitBadInput, escapeCell(err.Error())}
	}
	var b bytes.Buffer
	switch {
	case o.outDir != "":
		if err := writePlanFiles(e, plan, o.outDir); err != nil {
			return err
		}
	case o.output == "json":
		writeJSONWithProblems(&b, plan, s.problems)
	default:
		if err := plan.WriteYAML(&b); err != nil {
			return &exitError{exitBadInput, escapeCell(err.Error())}
		}
	}
	s.write(b.Bytes())
	if err := s.finish("the RBAC allows what the events that could be read show"); err != nil {
		return err
	}
	if len(plan.Subjects) == 0 {
		return &exitError{exitNotFound, fmt.Sprintf("no request of the selected subjects: %d events read, %d of them with a response (RequestReceived records no decision)", obs.Read(), obs.Events())}
	}
	return nil
}

// writePlanFiles writes each subject's objects to a file of its own in
// dir, named as them (with characters a file name may not hold replaced),
// and lists the files on stderr.
func writePlanFiles(e *env, plan *rbac.Plan, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return &exitError{exitUsage, "--out-dir: " + escapeCell(err.Error())}
	}
	for _, sp := range plan.Subjects {
		var b bytes.Buffer
		if err := (&rbac.Plan{Subjects: []rbac.SubjectPlan{sp}}).WriteYAML(&b); err != nil {
			return &exitError{exitBadInput, escapeCell(err.Error())}
		}
		name := sp.FileName() + ".yaml"
		if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
			return &exitError{exitBadInput, escapeCell(err.Error())}
		}
		fmt.Fprintf(e.stderr, "%s: wrote %s\n", e.name, escapeCell(filepath.Join(dir, name)))
	}
	return nil
}

func newRBACCheckCommand(e *env) *cobra.Command {
	o := &rbacOptions{}
	cmd := &cobra.Command{
		Use:   "check --rbac DUMP [FILE|DIR|-]...",
		Short: "Replay every observed request against an RBAC dump; list what it would deny",
		Long: `Decide every distinct request of the selected subjects that RBAC had to allow
(and every one the log shows forbidden) as kube-apiserver would with the RBAC of
DUMP (a kubectl get roles,clusterroles,rolebindings,clusterrolebindings -A -o
yaml dump, or manifests; aggregated ClusterRoles are filled in), and list the
requests it would deny, with counts and an example auditID. Requests the log
shows forbidden that DUMP allows are listed too. With DUMP the cluster's RBAC
as it was, a mismatch means a stale dump or another authorizer.

Exit status 1 when a request would be denied (for CI: "does this change to
RBAC break what ran last week?"), 5 on unreadable input.

` + inputsHelp,
		Example: `  kubectl get roles,clusterroles,rolebindings,clusterrolebindings -A -o yaml > now.yaml
  auditq rbac check --rbac now.yaml --rbac proposed-changes.yaml --since 168h /var/log/kubernetes/`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRBACCheck(e, o, args)
		},
	}
	outputFlag(cmd, &o.output, "table", "table", "json")
	o.addFlags(cmd, "RBAC `DUMP` to check against (file, directory or -; repeatable, merged)")
	return cmd
}

func runRBACCheck(e *env, o *rbacOptions, args []string) error {
	var denied bool
	err := o.againstDump(e, args, "the RBAC to check the requests against", "the check covers the events that could be read",
		func(obs *rbac.Observations, set *rbac.Set) (any, func(*bytes.Buffer)) {
			rep := rbac.Check(obs, set)
			denied = len(rep.Denied) > 0
			return rep, func(b *bytes.Buffer) { renderCheck(b, rep) }
		})
	if err == nil && denied {
		return &exitError{exitFalsy, ""}
	}
	return err
}

// againstDump runs a command that holds the observed requests against
// --rbac dumps: it loads them, reads the inputs, and writes what report
// makes of both, as JSON (with the count of input problems) or a table.
func (o *rbacOptions) againstDump(e *env, args []string, dumpIs, covers string, report func(*rbac.Observations, *rbac.Set) (any, func(*bytes.Buffer))) error {
	if err := checkChoice("-o", o.output, "table", "json"); err != nil {
		return err
	}
	if len(o.dumps) == 0 {
		return &exitError{exitUsage, "--rbac DUMP is required: " + dumpIs}
	}
	set, err := o.loadDumps(e, args)
	if err != nil {
		return err
	}
	obs, s, err := o.observe(e, args)
	if err != nil {
		return err
	}
	doc, table := report(obs, set)
	var b bytes.Buffer
	if o.output == "json" {
		writeJSONWithProblems(&b, doc, s.problems)
	} else {
		table(&b)
	}
	s.write(b.Bytes())
	return s.finish(covers)
}

// writeJSONWithProblems writes doc's JSON object with "problems" added.
func writeJSONWithProblems(b *bytes.Buffer, doc any, problems int) {
	raw, _ := json.Marshal(doc)
	var m map[string]json.RawMessage
	_ = json.Unmarshal(raw, &m)
	m["problems"], _ = json.Marshal(problems)
	out, _ := json.MarshalIndent(m, "", "  ")
	b.Write(append(out, '\n'))
}

func renderCheck(b *bytes.Buffer, rep *rbac.CheckReport) {
	fmt.Fprintf(b, "%d distinct requests checked (%s to %s); %d would be denied, %d forbidden then are allowed; %d not decided by RBAC\n",
		rep.Checked, formatTime(rep.First), formatTime(rep.Last), len(rep.Denied), len(rep.NowAllowed), rep.NotChecked)
	section := func(title string, vs []rbac.Verdict) {
		if len(vs) == 0 {
			return
		}
		fmt.Fprintf(b, "\n%s\n", title)
		tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SUBJECT\tNAMESPACE\tVERB\tRESOURCE / URL\tNAME\tREQUESTS\tLOGGED AS\tEXAMPLE AUDITID")
		for _, v := range vs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", escapeCell(v.User), escapeCell(cmp.Or(v.Namespace, "-")), escapeCell(v.Verb),
				escapeCell(v.Target()), escapeCell(cmp.Or(v.Name, "-")), v.Requests(), v.Class, escapeCell(v.Example))
		}
		tw.Flush()
	}
	section("WOULD BE DENIED", rep.Denied)
	section("FORBIDDEN THEN, ALLOWED NOW", rep.NowAllowed)
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func newRBACUnusedCommand(e *env) *cobra.Command {
	o := &rbacOptions{}
	cmd := &cobra.Command{
		Use:   "unused --rbac DUMP [FILE|DIR|-]...",
		Short: "Per binding, the granted permissions no request used",
		Long: `Credit every request RBAC allowed to the binding and rule that allowed it (the
first in kube-apiserver's order, as the reason annotation names it) and list,
per binding of DUMP: the requests it allowed, each rule's use, what was used
under a wildcard, the verb × resource × name atoms never used, and the
sensitive grants (wildcards, secrets, escalate, bind, impersonate, exec, node
proxies, tokens, RBAC and webhook writes). With subjects selected, only the
bindings that apply to them; otherwise every binding, those whose subjects
never appeared included.

A log shows only its window: a permission unused in it may be needed by a
monthly job or a failover. The window is printed with the verdicts.

` + inputsHelp,
		Example: `  auditq rbac unused --rbac rbac.yaml --sa payments:api /var/log/kubernetes/
  auditq rbac unused --rbac rbac.yaml -o json audit.log | jq '.bindings[] | select(.requests == 0) | .name'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRBACUnused(e, o, args)
		},
	}
	outputFlag(cmd, &o.output, "table", "table", "json")
	o.addFlags(cmd, "RBAC `DUMP` (file, directory or -; repeatable, merged)")
	return cmd
}

func runRBACUnused(e *env, o *rbacOptions, args []string) error {
	all := len(o.filter.ServiceAccounts)+len(o.filter.Users)+len(o.filter.Groups) == 0
	return o.againstDump(e, args, "the RBAC whose use to report", "the report covers the events that could be read",
		func(obs *rbac.Observations, set *rbac.Set) (any, func(*bytes.Buffer)) {
			rep := rbac.Unused(obs, set, all)
			return rep, func(b *bytes.Buffer) { renderUnused(b, rep) }
		})
}

func renderUnused(b *bytes.Buffer, rep *rbac.UnusedReport) {
	defer renderUnusedBySubject(b, rep)
	fmt.Fprintf(b, "window %s to %s, %d events; %d bindings\n", formatTime(rep.First), formatTime(rep.Last), rep.Events, len(rep.Bindings))
	for _, bu := range rep.Bindings {
		state := fmt.Sprintf("%d requests", bu.Requests)
		if bu.Requests == 0 {
			state = "NEVER USED"
		}
		fmt.Fprintf(b, "\n%s: %s\n", escapeCell(bu.String()), state)
		if len(bu.SubjectsSeen) > 0 {
			fmt.Fprintf(b, "  subjects seen: %s\n", escapeCell(strings.Join(bu.SubjectsSeen, ", ")))
		}
		if bu.Error != "" {
			fmt.Fprintf(b, "  role: %s\n", escapeCell(bu.Error))
		}
		for i, r := range bu.Rules {
			fmt.Fprintf(b, "  rule %d: %s: %d requests\n", i+1, escapeCell(ruleString(&r.Rule)), r.Requests)
			if len(r.Dangerous) > 0 {
				fmt.Fprintf(b, "    sensitive: %s\n", escapeCell(strings.Join(r.Dangerous, ", ")))
			}
			if len(r.Used) > 0 {
				fmt.Fprintf(b, "    used: %s\n", escapeCell(strings.Join(r.Used, "; ")))
			}
			if len(r.UnusedAtoms) > 0 {
				fmt.Fprintf(b, "    never used: %s\n", escapeCell(strings.Join(r.UnusedAtoms, "; ")))
			}
		}
	}
}

func ruleString(r *rbacv1.PolicyRule) string {
	var parts []string
	add := func(k string, vs []string) {
		if len(vs) > 0 {
			shown := make([]string, len(vs))
			for i, v := range vs {
				shown[i] = cmp.Or(v, `""`) // the core group
			}
			parts = append(parts, k+"="+strings.Join(shown, ","))
		}
	}
	add("verbs", r.Verbs)
	add("apiGroups", r.APIGroups)
	add("resources", r.Resources)
	add("resourceNames", r.ResourceNames)
	add("nonResourceURLs", r.NonResourceURLs)
	return strings.Join(parts, " ")
}

// renderUnusedBySubject lists, for each subject seen, the bindings that
// apply to it and how many of its requests each allowed.
func renderUnusedBySubject(b *bytes.Buffer, rep *rbac.UnusedReport) {
	if len(rep.Subjects) == 0 {
		return
	}
	fmt.Fprintf(b, "\nBY SUBJECT\n")
	for _, su := range rep.Subjects {
		fmt.Fprintf(b, "%s: %d requests; bindings that apply: %d\n", escapeCell(su.User), su.Requests, len(su.Bindings))
		for _, sb := range su.Bindings {
			use := fmt.Sprintf("%8d", sb.Requests)
			if sb.Requests == 0 {
				use = "  unused"
			}
			line := fmt.Sprintf("%s  %s", use, sb.Binding)
			if len(sb.Sensitive) > 0 {
				line += " (sensitive: " + strings.Join(sb.Sensitive, ", ") + ")"
			}
			fmt.Fprintf(b, "  %s\n", escapeCell(line))
		}
	}
}
