package rbac

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// WriteYAML writes the plan as YAML documents that kubectl apply accepts:
// for each subject, a comment saying what was granted and what was left
// out, then its Roles and ClusterRoles, each rule under a comment that
// explains it (requests, first and last seen, an example auditID), then
// the bindings. Values from the log are quoted (Go syntax) in comments,
// and the YAML encoder quotes them in values, so a log cannot write YAML.
func (p *Plan) WriteYAML(w io.Writer) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	encoded := false
	for i := range p.Subjects {
		sp := &p.Subjects[i]
		head := sp.summary()
		if len(sp.Roles) == 0 { // all left out: say so in a document of its own
			if _, err := io.WriteString(w, "---\n"+commentLines(head)); err != nil {
				return err
			}
			continue
		}
		// The roles (a cluster-wide one sorts first), each rule explained,
		// then their bindings.
		type doc struct {
			obj   any
			rules []GeneratedRule
		}
		var docs, bindings []doc
		for _, gr := range sp.Roles {
			role, binding := sp.objectsOf(gr)
			docs, bindings = append(docs, doc{role, gr.Rules}), append(bindings, doc{obj: binding})
		}
		for j, d := range append(docs, bindings...) {
			n, err := node(d.obj)
			if err != nil {
				return err
			}
			if j == 0 {
				n.HeadComment = head
			}
			if rules := mappingValue(n, "rules"); rules != nil && d.rules != nil {
				for k, item := range rules.Content {
					item.HeadComment = d.rules[k].explain()
				}
			}
			if err := enc.Encode(n); err != nil {
				return err
			}
			encoded = true
		}
	}
	if !encoded {
		return nil // Close would complain of a stream never begun
	}
	return enc.Close()
}

func commentLines(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		b.WriteString("# " + line + "\n")
	}
	return b.String()
}

// node turns an object into a YAML node, by way of its JSON (the API
// types' field names), without the null creationTimestamp.
func node(obj any) (*yaml.Node, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	n := &yaml.Node{}
	if err := n.Encode(m); err != nil {
		return nil, err
	}
	quoteUnprintable(n)
	return n, nil
}

// quoteUnprintable double-quotes the strings that hold characters a
// reader cannot see (format and bidirectional controls, which YAML leaves
// as they are), so that a value from the log at least shows where it
// begins and ends.
func quoteUnprintable(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && strings.IndexFunc(n.Value, func(r rune) bool { return !strconv.IsPrint(r) }) >= 0 {
		n.Style = yaml.DoubleQuotedStyle
	}
	for _, c := range n.Content {
		quoteUnprintable(c)
	}
}

func mappingValue(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// summary is the comment above a subject's objects.
func (sp *SubjectPlan) summary() string {
	rules, requests := 0, int64(0)
	for _, gr := range sp.Roles {
		rules += len(gr.Rules)
		for _, r := range gr.Rules {
			requests += r.Requests
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s in %s, for %s", describeSubject(sp.Subject, ""), plural(int64(rules), "rule"), plural(int64(len(sp.Roles)), "role"), plural(requests, "request"))
	if len(sp.LeftOut) > 0 {
		var n int64
		for _, l := range sp.LeftOut {
			n += l.Requests()
		}
		fmt.Fprintf(&b, "\nleft out: %s, %d distinct:", plural(n, "request"), len(sp.LeftOut))
		const most = 20
		for i, l := range sp.LeftOut {
			if i == most {
				fmt.Fprintf(&b, "\n  … and %d more (-o json lists them all)", len(sp.LeftOut)-most)
				break
			}
			fmt.Fprintf(&b, "\n  %s ×%d (auditID %q): %s", describeRequest(&l.Request), l.Requests(), l.Example, quoteControl(l.Why))
		}
	}
	return b.String()
}

// explain is the comment above a rule.
func (r *GeneratedRule) explain() string {
	classes := make([]string, len(r.Classes))
	for i, c := range r.Classes {
		classes[i] = c.String()
	}
	s := fmt.Sprintf("%s (%s), %s to %s, e.g. auditID %q", plural(r.Requests, "request"), strings.Join(classes, ", "),
		r.First.UTC().Format(time.RFC3339), r.Last.UTC().Format(time.RFC3339), r.Example)
	for _, a := range r.Added {
		if a == "websocket-create" {
			s += "\ncreate added: kube-apiserver 1.35+ checks it too for exec, attach and portforward over WebSocket"
		}
	}
	return s
}

// quoteControl keeps a reason (worded by us around values from the log or
// a dump) on one line and free of characters that reorder or hide text.
func quoteControl(s string) string {
	return strings.Map(func(r rune) rune {
		if !strconv.IsPrint(r) {
			return '?'
		}
		return r
	}, s)
}

func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.FormatInt(n, 10) + " " + noun + "s"
}
