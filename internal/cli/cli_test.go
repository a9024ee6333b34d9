package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/auditq/auditq/internal/audittest"
)

// cliCase is one run of auditq, described in testdata/cases.yaml.
type cliCase struct {
	Name      string   `json:"name"`
	Args      []string `json:"args"`
	Stdin     *string  `json:"stdin"`     // nil: stdin is a terminal with nothing on it
	StdoutTTY bool     `json:"stdoutTTY"` // stdout is a terminal: escaping (and colour) apply
	NoColor   bool     `json:"noColor"`   // NO_COLOR is set
	Exit      int      `json:"exit"`
	// Stdout and Stderr, when given, must match exactly; the Contains lists
	// must each appear, and NotContains must not. With neither, the stream must
	// be empty.
	Stdout         *string  `json:"stdout"`
	Stderr         *string  `json:"stderr"`
	StdoutContains []string `json:"stdoutContains"`
	StderrContains []string `json:"stderrContains"`
	NotContains    []string `json:"notContains"` // in stdout or stderr
	StdoutLines    *int     `json:"stdoutLines"`
}

// expand replaces $SMALL, $ROTATED and $TMP in an argument.
func expand(s, tmp string) string {
	return strings.NewReplacer(
		"$SMALL", filepath.Join("testdata", "small.jsonl"),
		"$ROTATED", filepath.Dir(audittest.Rotated()),
		"$TMP", tmp,
	).Replace(s)
}

func TestCLICases(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "cases.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []cliCase
	if err := yaml.UnmarshalStrict(data, &cases); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	small, err := os.ReadFile(filepath.Join("testdata", "small.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
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
			if code != tc.Exit {
				t.Errorf("exit %d, want %d\nstderr: %s", code, tc.Exit, errOut.String())
			}
			check := func(stream string, got string, exact *string, contains []string) {
				if exact != nil {
					if diff := cmp.Diff(expand(*exact, tmp), got); diff != "" {
						t.Errorf("%s (-want +got):\n%s", stream, diff)
					}
				}
				for _, c := range contains {
					if !strings.Contains(got, expand(c, tmp)) {
						t.Errorf("%s does not contain %q:\n%s", stream, c, got)
					}
				}
				if exact == nil && len(contains) == 0 && got != "" && !(stream == "stdout" && tc.StdoutLines != nil) {
					t.Errorf("%s should be empty, got:\n%s", stream, got)
				}
			}
			check("stdout", out.String(), tc.Stdout, tc.StdoutContains)
			check("stderr", errOut.String(), tc.Stderr, tc.StderrContains)
			for _, c := range tc.NotContains {
				if strings.Contains(out.String(), c) || strings.Contains(errOut.String(), c) {
					t.Errorf("output contains %q", c)
				}
			}
			if tc.StdoutLines != nil {
				if n := strings.Count(out.String(), "\n"); n != *tc.StdoutLines {
					t.Errorf("stdout has %d lines, want %d", n, *tc.StdoutLines)
				}
			}
			// Every stderr message is auditq's and ends in exactly one newline.
			if s := errOut.String(); s != "" {
				if !strings.HasSuffix(s, "\n") || strings.HasSuffix(s, "\n\n") {
					t.Errorf("stderr must end in exactly one newline: %q", s)
				}
			}
		})
	}
}
