package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"
)

// Exit statuses, as gojq's, so that jq users feel at home.
const (
	exitOK       = 0
	exitFalsy    = 1 // query -e: the last value was false or null; policy lint: warnings only
	exitUsage    = 2
	exitCompile  = 3 // the jq expression does not compile
	exitNotFound = 4 // get: an ID was not found; query -e: no value
	exitBadInput = 5 // some input was unreadable or malformed, or a query failed at run time
)

// exitError ends a command with a status. An empty msg means the problem was
// already reported.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// env is what a command may touch of the outside world; tests build their own.
type env struct {
	stdin                          io.Reader
	stdout, stderr                 io.Writer
	stdinTTY, stdoutTTY, stderrTTY bool
	noColor                        bool            // NO_COLOR is set
	environ                        func() []string // for jq's $ENV
	name                           string          // as help shows the command: auditq, or kubectl auditq ("" is auditq)
}

// Run runs the auditq command with args (without the program name) on the
// three streams and returns its exit status. Whether stdin, stdout and
// stderr are terminals is asked of them (an *os.File); NO_COLOR and the
// environment for jq's $ENV are read from the process. Run never exits.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return RunAs("auditq", args, stdin, stdout, stderr)
}

// RunAs is Run for the command as it was invoked: name is how help, usage
// and examples spell it ("kubectl auditq" for the kubectl plugin; see
// Invoked).
func RunAs(name string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runEnv(args, &env{
		name:  name,
		stdin: stdin, stdout: stdout, stderr: stderr,
		stdinTTY: isTerminal(stdin), stdoutTTY: isTerminal(stdout), stderrTTY: isTerminal(stderr),
		noColor: os.Getenv("NO_COLOR") != "",
		environ: os.Environ,
	})
}

func runEnv(args []string, e *env) int {
	root := newRootCommand(e)
	root.SetArgs(joinJQArgs(args))
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintf(e.stderr, "auditq: %s\n", strings.TrimRight(ee.msg, "\n"))
		}
		return ee.code
	}
	// Anything else comes from cobra: an unknown command or flag, a bad argument.
	fmt.Fprintf(e.stderr, "auditq: %s\n", escapeForTerminal([]byte(err.Error())))
	path := root.DisplayName()
	if cmd, _, ferr := root.Find(args); ferr == nil && cmd != nil {
		path = cmd.CommandPath()
	}
	fmt.Fprintf(e.stderr, "auditq: see '%s --help'\n", path)
	return exitUsage
}

const inputsHelp = `Inputs:
  FILE is an audit log, plain, gzip or zstd (detected from the content, not the
  name). An active log (kube-apiserver-audit.log) is read together with its
  lumberjack backups (kube-apiserver-audit-2006-01-02T15-04-05.000.log[.gz])
  oldest first, the active file last. A DIR is read as the rotation sets and
  audit logs in it, set after set in name order. Several inputs (say, one per
  control-plane node) are all read, one after another in the order given, or,
  with --merge, interleaved by stageTimestamp (each input keeps its own order).
  A file reached twice is read once. - or a pipe is standard input.

Filters:
  Filter flags are ANDed; a repeated flag (or a comma-separated list) is ORed.
  --user, --group and --sa match the authenticated user or the user it
  impersonated. --resource uses audit-policy meaning: "pods" is the pods
  resource itself, "pods/exec" a subresource, "pods/*" any subresource,
  "deployments.apps" needs the group. --since/--until take an RFC 3339 time or
  a duration back from the newest event (30m, 2h, 1d) and bound stageTimestamp.

Exit status:
  0 ok; 1 query -e: last value false or null, policy lint: warnings, rbac
  check: a request would be denied; 2 usage error; 3 query does not compile;
  4 get: ID not found, query -e: no value, rbac generate: no request of the
  selected subjects; 5 bad input (reported on stderr with file:line:column and
  byte offset; the events around it are still processed), a query error at
  run time, or policy lint errors.`

func newRootCommand(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "auditq",
		Short: "Query Kubernetes API-server audit logs",
		Long: `auditq reads Kubernetes API-server audit logs (audit.k8s.io/v1 events, one JSON
object per line) across rotated, gzipped and zstd files, and answers the
questions a responder asks: what happened, who did it, what did one request do.

` + inputsHelp,
		Example: `  # What happened? One screen about the whole rotated set
  auditq summary /var/log/kubernetes/kube-apiserver-audit.log

  # Every stage of one request, from gigabytes of rotated .gz files
  auditq get --id d1053ee5-4d3c-4d86-a2a6-9dfa0e3b1f6b /var/log/kubernetes/

  # What did one service account do? (jq expressions, as gojq runs them)
  auditq query --sa nnf-system:nnf-clientmount -c '[.verb,.requestURI]' audit.log

  # Who was denied in the last hour?
  auditq query --code 403 --since 1h -r '.user.username' audit.log | sort | uniq -c`,
		Version:       BuildVersion(),
		SilenceUsage:  true,
		SilenceErrors: true,
		CompletionOptions: cobra.CompletionOptions{
			HiddenDefaultCmd: false,
		},
	}
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.SetVersionTemplate("{{.DisplayName}} {{.Version}}\n")
	if e.name != "" && e.name != "auditq" {
		root.Annotations = map[string]string{cobra.CommandDisplayNameAnnotation: e.name}
		defer renameExamples(root, e.name)
		// A shell completes `kubectl auditq` through kubectl, which asks
		// kubectl_complete-auditq: cobra's scripts would complete `auditq`.
		root.CompletionOptions.DisableDefaultCmd = true
		root.AddCommand(&cobra.Command{
			Use:   "completion",
			Short: "How to get shell completion for kubectl auditq",
			Args:  cobra.ArbitraryArgs,
			Run: func(cmd *cobra.Command, _ []string) {
				fmt.Fprint(e.stdout, pluginCompletionHelp)
			},
		})
	}
	root.AddCommand(newQueryCommand(e), newGetCommand(e), newSummaryCommand(e), newCatCommand(e), newPolicyCommand(e), newRBACCommand(e), newIndexCommand(e), newExportCommand(e),
		&cobra.Command{
			Use:   "version",
			Short: "Print the version",
			Args:  cobra.NoArgs,
			Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(e.stdout, cmd.Root().DisplayName(), BuildVersion()) },
		})
	return root
}

// Invoked names the command from the name it was run by (os.Args[0]) and
// gives the arguments to run: installed as kubectl-auditq it is the
// kubectl plugin "kubectl auditq"; as kubectl_complete-auditq it answers
// kubectl's completion requests for the plugin (kubectl 1.26 and later).
func Invoked(argv0 string, args []string) (name string, run []string) {
	base := strings.TrimSuffix(filepath.Base(argv0), ".exe")
	switch base {
	case "kubectl-auditq":
		return "kubectl auditq", args
	case "kubectl_complete-auditq":
		return "kubectl auditq", append([]string{cobra.ShellCompRequestCmd}, args...)
	}
	return "auditq", args
}

const pluginCompletionHelp = `kubectl (1.26 and later) completes a plugin's arguments by running
kubectl_complete-auditq from PATH; kubectl's own completion must be on
(kubectl completion bash|zsh|fish|powershell). Link the plugin under that
name next to kubectl-auditq:

  ln -s kubectl-auditq "$(dirname "$(command -v kubectl-auditq)")/kubectl_complete-auditq"

Then kubectl auditq <TAB> completes commands, flags and their values.
`

// renameExamples spells the examples of root and its commands as name.
func renameExamples(c *cobra.Command, name string) {
	c.Example = strings.ReplaceAll(c.Example, "  auditq ", "  "+name+" ")
	for _, sub := range c.Commands() {
		renameExamples(sub, name)
	}
}

// joinJQArgs turns jq's two-value flags (--arg NAME VALUE, --argjson NAME JSON,
// --slurpfile and --rawfile NAME FILE) into --arg=NAME=VALUE, which the flag
// parser takes as one value.
func joinJQArgs(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if (a == "--arg" || a == "--argjson" || a == "--slurpfile" || a == "--rawfile") && i+2 < len(args) {
			out = append(out, a+"="+args[i+1]+"="+args[i+2])
			i += 2
			continue
		}
		out = append(out, a)
	}
	return out
}

func isTerminal(x any) bool {
	f, ok := x.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// escapeForTerminal makes attacker-controlled bytes (a userAgent can carry ANSI
// and OSC sequences) inert: C0 controls other than tab, DEL, C1 controls, the
// line and paragraph separators, the bidirectional controls (which reorder
// what a terminal shows: "Trojan Source") and invalid UTF-8 become visible
// \u/\x escapes.
func escapeForTerminal(b []byte) []byte {
	clean := true
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if unsafeRune(r, size) {
			clean = false
			break
		}
		i += size
	}
	if clean {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			out = fmt.Appendf(out, `\x%02x`, b[i])
		case unsafeRune(r, size):
			out = fmt.Appendf(out, `\u%04x`, r)
		default:
			out = append(out, b[i:i+size]...)
		}
		i += size
	}
	return out
}

func unsafeRune(r rune, size int) bool {
	return r < 0x20 && r != '\t' || r == 0x7f || r >= 0x80 && r <= 0x9f ||
		r == 0x2028 || r == 0x2029 || r == utf8.RuneError && size == 1 || bidiControl(r)
}

func bidiControl(r rune) bool {
	return r == 0x061c || r == 0x200e || r == 0x200f || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
}

// escapeLines is escapeForTerminal for a message of several lines.
func escapeLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = string(escapeForTerminal([]byte(l)))
	}
	return strings.Join(lines, "\n")
}

// escapeCell is escapeForTerminal for a table cell: tabs too, so columns hold.
func escapeCell(s string) string {
	b := escapeForTerminal([]byte(s))
	return strings.ReplaceAll(string(b), "\t", `\t`)
}

func quoteArg(s string) string { return string(escapeForTerminal([]byte(fmt.Sprintf("%q", s)))) }
