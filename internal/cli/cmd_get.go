package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/auditq/auditq/auditlog"
)

type getOptions struct {
	inputFlags
	output string
}

func newGetCommand(e *env) *cobra.Command {
	o := &getOptions{}
	cmd := &cobra.Command{
		Use:   "get --id ID [--id ID]... [FILE|DIR|-]...",
		Short: "Print every stage of the requests with these audit IDs",
		Long: `Print every event (RequestReceived, ResponseStarted, ResponseComplete, Panic)
of each request whose auditID is given, from all the inputs (the whole rotated
set of an active log), request by request in the order the IDs were given and
each request's events in log order. Events are printed as the server wrote
them, fields in its order. An ID that is not found is named on stderr and the
exit status is 4.

` + inputsHelp,
		Example: `  auditq get --id d1053ee5-4d3c-4d86-a2a6-9dfa0e3b1f6b /var/log/kubernetes/kube-apiserver-audit.log
  auditq get --id ID1 --id ID2 -o pretty /var/log/kubernetes/`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGet(e, o, args)
		},
	}
	cmd.Flags().StringArrayVar(&o.filter.AuditIDs, "id", nil, "audit `ID` (the Audit-Id response header); repeat for several")
	_ = cmd.MarkFlagRequired("id")
	outputFlag(cmd, &o.output, "json", "json", "pretty")
	o.addFilterFlags(cmd, true)
	o.addFollowFlags(cmd)
	return cmd
}

func runGet(e *env, o *getOptions, args []string) error {
	if err := checkChoice("-o", o.output, "json", "pretty"); err != nil {
		return err
	}
	s, err := newSession(e, &o.inputFlags, args)
	if err != nil {
		return err
	}
	if o.follow {
		return runGetFollow(e, o, s)
	}
	found := make(map[string][]*auditlog.Event, len(o.filter.AuditIDs))
	for ev := range s.events() {
		id := string(ev.AuditID())
		found[id] = append(found[id], ev.Clone())
	}
	colors := o.palette(e)
	var missing []string
	done := map[string]bool{}
	var buf bytes.Buffer
	for _, id := range o.filter.AuditIDs {
		if done[id] {
			continue
		}
		done[id] = true
		evs := found[id]
		if len(evs) == 0 {
			missing = append(missing, id)
			continue
		}
		for _, ev := range evs {
			buf.Reset()
			writeRaw(&buf, ev.Raw(), o.output == "pretty", e.stdoutTTY, colors)
			s.write(buf.Bytes())
		}
	}
	if err := s.finish("the events found were printed"); err != nil {
		if len(missing) > 0 {
			s.printError(notFound(missing))
		}
		return err
	}
	if len(missing) > 0 {
		return &exitError{exitNotFound, notFound(missing).Error()}
	}
	return nil
}

// runGetFollow prints each event of the requests as it is read, and ends
// when every request has its last stage (ResponseComplete or Panic), or on
// an interrupt.
func runGetFollow(e *env, o *getOptions, s *session) error {
	colors := o.palette(e)
	complete := map[string]bool{}
	for _, id := range o.filter.AuditIDs {
		complete[id] = false
	}
	var buf bytes.Buffer
	for ev := range s.events() {
		buf.Reset()
		writeRaw(&buf, ev.Raw(), o.output == "pretty", e.stdoutTTY, colors)
		s.write(buf.Bytes())
		if st := string(ev.Stage()); st == "ResponseComplete" || st == "Panic" {
			complete[string(ev.AuditID())] = true
		}
		if !slices.Contains(slices.Collect(maps.Values(complete)), false) {
			break
		}
	}
	var missing []string
	for _, id := range o.filter.AuditIDs {
		if !complete[id] && !slices.Contains(missing, id) {
			missing = append(missing, id)
		}
	}
	if err := s.finish("the events found were printed"); err != nil {
		return err
	}
	if len(missing) > 0 {
		return &exitError{exitNotFound, fmt.Sprintf("not complete (no ResponseComplete or Panic stage seen): %s", strings.TrimPrefix(notFound(missing).Error(), "not found: "))}
	}
	return nil
}

func notFound(ids []string) error {
	quoted := make([]string, len(ids))
	for i, id := range ids {
		quoted[i] = quoteArg(id)
	}
	return fmt.Errorf("not found: %s", strings.Join(quoted, ", "))
}

// writeRaw writes an event's JSON as the server wrote it, one line per event
// (a pretty-printed event is compacted), or indented with the key order kept.
// For a terminal, control characters are escaped (JSON keeps them escaped
// already, so this touches only raw C1 controls, DEL and invalid UTF-8), then
// tokens are coloured when colors is not noColors.
func writeRaw(buf *bytes.Buffer, raw []byte, pretty, terminal bool, colors *palette) {
	n := buf.Len()
	var err error
	switch {
	case pretty:
		err = json.Indent(buf, raw, "", "  ")
	case bytes.IndexByte(raw, '\n') >= 0:
		err = json.Compact(buf, raw)
	default:
		buf.Write(raw)
	}
	if err != nil { // cannot happen for a decoded event; keep the bytes anyway
		buf.Truncate(n)
		buf.Write(raw)
	}
	if terminal || colors != noColors {
		text := buf.Bytes()[n:]
		if terminal {
			text = []byte(escapeLines(string(text)))
		}
		if colors != noColors {
			text = colorizeJSON(nil, text, colors)
		}
		buf.Truncate(n)
		buf.Write(text)
	}
	buf.WriteByte('\n')
}

type catOptions struct {
	inputFlags
}

func newCatCommand(e *env) *cobra.Command {
	o := &catOptions{}
	cmd := &cobra.Command{
		Use:   "cat [FILE|DIR|-]...",
		Short: "Print the events that pass the filters, as the server wrote them",
		Long: `Print each event that passes the filters as one JSON line, exactly as the
server wrote it, in input order: zcat -f over the rotated set, with the bad
lines reported instead of passed on. The output is a clean audit log that any
tool (and auditq itself) reads.

` + inputsHelp,
		Example: `  auditq cat --code 4xx --since 2h /var/log/kubernetes/ > failures.log
  auditq cat --resource secrets --verb get,list,watch audit.log | jq -c .user`,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := newSession(e, &o.inputFlags, args)
			if err != nil {
				return err
			}
			colors := o.palette(e)
			var buf bytes.Buffer
			n := 0
			for ev := range s.events() {
				buf.Reset()
				writeRaw(&buf, ev.Raw(), false, e.stdoutTTY, colors)
				s.write(buf.Bytes())
				n++
			}
			return s.finish(fmt.Sprintf("%d events printed", n))
		},
	}
	o.addFilterFlags(cmd, true)
	o.addFollowFlags(cmd)
	return cmd
}
