package cli

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	yaml "go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"
)

// update rewrites the expected outputs of the CLI cases with what the
// command prints now: go test ./internal/cli -run TestCLICases -update.
// Review the diff before committing it.
var update = flag.Bool("update", false, "rewrite the expected outputs in testdata/cases.yaml and testdata/golden")

// cliCase is one run of auditq, described in testdata/cases.yaml.
type cliCase struct {
	Name      string   `json:"name"`
	Args      []string `json:"args"`
	Stdin     *string  `json:"stdin"`     // nil: stdin is a terminal with nothing on it
	StdoutTTY bool     `json:"stdoutTTY"` // stdout is a terminal: escaping (and colour) apply
	NoColor   bool     `json:"noColor"`   // NO_COLOR is set
	// Files are written into $TMP before the run (name: content).
	Files map[string]string `json:"files"`
	Exit  int               `json:"exit"`
	// Stdout and Stderr, when given, must match exactly; Golden names a file
	// under testdata/golden that stdout must match. The Contains lists must
	// each appear, and NotContains must not. With none of them, the stream
	// must be empty.
	Stdout         *string  `json:"stdout"`
	Stderr         *string  `json:"stderr"`
	Golden         string   `json:"golden"`
	StdoutContains []string `json:"stdoutContains"`
	StderrContains []string `json:"stderrContains"`
	NotContains    []string `json:"notContains"` // in stdout or stderr
	StdoutLines    *int     `json:"stdoutLines"`
}

// placeholders stand for paths in the cases' arguments and outputs.
func placeholders(tmp string) []string {
	return []string{
		"$SMALL", filepath.Join("testdata", "small.jsonl"),
		"$ROTATED", filepath.Join("..", "..", "testdata", "rotated"),
		"$POLICY", filepath.Join("..", "..", "testdata", "policy", "audit-policy.yaml"),
		"$TMP", tmp,
	}
}

// expand replaces $SMALL, $ROTATED, $POLICY and $TMP in an argument.
func expand(s, tmp string) string { return strings.NewReplacer(placeholders(tmp)...).Replace(s) }

// unexpand puts the placeholders back into an output.
func unexpand(s, tmp string) string {
	p := placeholders(tmp)
	for i := 0; i < len(p); i += 2 {
		p[i], p[i+1] = p[i+1], p[i]
	}
	return strings.NewReplacer(p...).Replace(s)
}

// caseResult is what one case's run printed.
type caseResult struct {
	stdout, stderr string
	exit           int
}

func TestCLICases(t *testing.T) {
	path := filepath.Join("testdata", "cases.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Strict: a misspelt expectation would otherwise check nothing.
	var cases []cliCase
	if err := sigsyaml.UnmarshalStrict(data, &cases); err != nil {
		t.Fatal(err)
	}
	small, err := os.ReadFile(filepath.Join("testdata", "small.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	results := make([]caseResult, len(cases))
	for i, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			tmp := t.TempDir()
			for name, content := range tc.Files {
				if err := os.MkdirAll(filepath.Dir(filepath.Join(tmp, name)), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(tmp, name), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			args := make([]string, len(tc.Args))
			for i, a := range tc.Args {
				args[i] = expand(a, tmp)
			}
			e := &env{stdinTTY: tc.Stdin == nil, stdoutTTY: tc.StdoutTTY, noColor: tc.NoColor,
				environ: func() []string { return []string{"AUDITQ_TEST=1"} }}
			in := ""
			if tc.Stdin != nil {
				in = strings.ReplaceAll(*tc.Stdin, "$SMALL\n", string(small))
			}
			var out, errOut bytes.Buffer
			e.stdin, e.stdout, e.stderr = strings.NewReader(in), &out, &errOut
			code := runEnv(args, e)
			// Outputs are compared with the placeholders standing for the paths.
			results[i] = caseResult{unexpand(out.String(), tmp), unexpand(errOut.String(), tmp), code}
			if *update {
				return
			}
			checkCase(t, tc, results[i])
		})
	}
	if *update {
		updated, err := updateCases(data, cases, results)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(updated, data) {
			if err := os.WriteFile(path, updated, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("rewrote %s", path)
		}
	}
}

func checkCase(t *testing.T, tc cliCase, got caseResult) {
	t.Helper()
	if got.exit != tc.Exit {
		t.Errorf("exit %d, want %d\nstderr: %s", got.exit, tc.Exit, got.stderr)
	}
	check := func(stream string, got string, exact *string, contains []string) {
		if exact != nil {
			if diff := cmp.Diff(*exact, got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", stream, diff)
			}
		}
		for _, c := range contains {
			if !strings.Contains(got, c) {
				t.Errorf("%s does not contain %q:\n%s", stream, c, got)
			}
		}
		if exact == nil && len(contains) == 0 && got != "" && !(stream == "stdout" && (tc.StdoutLines != nil || tc.Golden != "")) {
			t.Errorf("%s should be empty, got:\n%s", stream, got)
		}
	}
	check("stdout", got.stdout, tc.Stdout, tc.StdoutContains)
	check("stderr", got.stderr, tc.Stderr, tc.StderrContains)
	if tc.Golden != "" {
		want, err := os.ReadFile(filepath.Join("testdata", "golden", tc.Golden))
		if err != nil {
			t.Fatalf("%v (go test -run TestCLICases -update writes it)", err)
		}
		if diff := cmp.Diff(string(want), got.stdout); diff != "" {
			t.Errorf("stdout differs from testdata/golden/%s (-want +got):\n%s", tc.Golden, diff)
		}
	}
	for _, c := range tc.NotContains {
		if strings.Contains(got.stdout, c) || strings.Contains(got.stderr, c) {
			t.Errorf("output contains %q", c)
		}
	}
	if tc.StdoutLines != nil {
		if n := strings.Count(got.stdout, "\n"); n != *tc.StdoutLines {
			t.Errorf("stdout has %d lines, want %d", n, *tc.StdoutLines)
		}
	}
	// Every stderr message is auditq's and ends in exactly one newline.
	if s := got.stderr; s != "" {
		if !strings.HasSuffix(s, "\n") || strings.HasSuffix(s, "\n\n") {
			t.Errorf("stderr must end in exactly one newline: %q", s)
		}
	}
}

// updateCases rewrites, in the text of cases.yaml, the expected outputs
// that differ from the results: exact stdout and stderr, exit statuses (a
// line added where a case had none), and golden files. Everything else in
// the file, comments and layout included, is kept byte for byte.
func updateCases(data []byte, cases []cliCase, results []caseResult) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.SequenceNode || len(doc.Content[0].Content) != len(cases) {
		return nil, fmt.Errorf("cases.yaml is not a list of %d cases", len(cases))
	}
	lines := strings.SplitAfter(string(data), "\n")
	type edit struct {
		from, to int // lines [from, to) (0-based) are replaced by text
		text     string
	}
	var edits []edit
	items := doc.Content[0].Content
	for i, item := range items {
		tc, got := cases[i], results[i]
		if tc.Golden != "" {
			if err := os.MkdirAll(filepath.Join("testdata", "golden"), 0o755); err != nil {
				return nil, err
			}
			if err := os.WriteFile(filepath.Join("testdata", "golden", tc.Golden), []byte(got.stdout), 0o644); err != nil {
				return nil, err
			}
		}
		// The line after the item's last line: the next item's first line
		// (its head comment and the blank lines before it excluded), or EOF.
		end := len(lines)
		if i+1 < len(items) {
			end = items[i+1].Line - 1
			for end > 0 && (strings.TrimSpace(lines[end-1]) == "" || strings.HasPrefix(strings.TrimSpace(lines[end-1]), "#")) {
				end--
			}
		}
		want := map[string]string{"exit": fmt.Sprint(got.exit)}
		if tc.Stdout != nil && *tc.Stdout != got.stdout {
			want["stdout"] = got.stdout
		}
		if tc.Stderr != nil && *tc.Stderr != got.stderr {
			want["stderr"] = got.stderr
		}
		hasExit := false
		for k := 0; k+1 < len(item.Content); k += 2 {
			key, value := item.Content[k], item.Content[k+1]
			v, ok := want[key.Value]
			if key.Value == "exit" {
				hasExit = true
				if v == value.Value {
					continue
				}
			}
			if !ok || key.Value != "exit" && value.Value == v {
				continue
			}
			// The value runs from the key's line to the next key's (or the item's end).
			to := end
			if k+2 < len(item.Content) {
				to = item.Content[k+2].Line - 1
			}
			prefix := lines[key.Line-1][:key.Column-1]
			text, err := renderPair(key.Value, v, value.Style, strings.Repeat(" ", key.Column-1))
			if err != nil {
				return nil, err
			}
			edits = append(edits, edit{key.Line - 1, to, prefix + strings.TrimPrefix(text, strings.Repeat(" ", key.Column-1))})
		}
		if !hasExit && got.exit != tc.Exit && len(item.Content) >= 2 {
			name := item.Content[0]
			indent := strings.Repeat(" ", name.Column-1)
			edits = append(edits, edit{end, end, fmt.Sprintf("%sexit: %d\n", indent, got.exit)})
		}
	}
	slices.SortFunc(edits, func(a, b edit) int { return b.from - a.from })
	for _, e := range edits {
		lines = slices.Replace(lines, e.from, e.to, e.text)
	}
	return []byte(strings.Join(lines, "")), nil
}

// renderPair writes `key: value` as YAML at the given indentation, in the
// style the value had (a literal block only for printable text that ends in
// a newline), else double-quoted.
func renderPair(key, value string, style yaml.Style, indent string) (string, error) {
	v := &yaml.Node{Kind: yaml.ScalarNode, Value: value, Tag: "!!str", Style: yaml.DoubleQuotedStyle}
	switch {
	case key == "exit":
		v.Tag, v.Style = "!!int", 0
	case style == yaml.LiteralStyle && strings.HasSuffix(value, "\n") && printable(value):
		v.Style = yaml.LiteralStyle
	}
	m := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Value: key}, v}}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(m); err != nil {
		return "", err
	}
	var out strings.Builder
	for _, l := range strings.SplitAfter(b.String(), "\n") {
		if l != "" {
			out.WriteString(indent + l)
		}
	}
	return out.String(), nil
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 && r != '\n' || r == 0x7f || r >= 0x80 && r <= 0x9f || r == 0xfeff {
			return false
		}
	}
	for _, l := range strings.Split(s, "\n") {
		if strings.HasSuffix(l, " ") || strings.HasPrefix(l, " ") && l == strings.TrimRight(s, "\n") {
			return false
		}
	}
	return true
}

// TestUpdateCases: -update rewrites exactly the outputs that changed and
// keeps the rest of the file as it was.
func TestUpdateCases(t *testing.T) {
	in := `# header comment
- name: one
  args: [a]
  stdout: |
    old
    lines
  stderr: "kept\n"

# --- section ---
- name: two
  args: [b]
  exit: 2
  stdout: "x"
- name: three
  args: [c]
`
	var cases []cliCase
	if err := sigsyaml.UnmarshalStrict([]byte(in), &cases); err != nil {
		t.Fatal(err)
	}
	got, err := updateCases([]byte(in), cases, []caseResult{
		{stdout: "new\ntext\n", stderr: "kept\n", exit: 0},
		{stdout: "y\tz", exit: 5},
		{exit: 4},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `# header comment
- name: one
  args: [a]
  stdout: |
    new
    text
  stderr: "kept\n"

# --- section ---
- name: two
  args: [b]
  exit: 5
  stdout: "y\tz"
- name: three
  args: [c]
  exit: 4
`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	var back []cliCase
	if err := sigsyaml.UnmarshalStrict(got, &back); err != nil || back[1].Exit != 5 || *back[0].Stdout != "new\ntext\n" || back[2].Exit != 4 {
		t.Errorf("rewritten cases read back as %+v, %v", back, err)
	}
}
