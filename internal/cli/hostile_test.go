package cli

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/auditq/auditq/internal/audittest"
)

// fixtureLines returns the first n lines of the repository's active log, as
// kube-apiserver's audit code wrote them, and their auditIDs.
func fixtureLines(t *testing.T, n int) (lines, ids []string) {
	t.Helper()
	data, err := os.ReadFile(audittest.Rotated())
	if err != nil {
		t.Fatal(err)
	}
	idRE := regexp.MustCompile(`"auditID":"([^"]+)"`)
	for _, l := range strings.SplitN(string(data), "\n", n+1)[:n] {
		lines = append(lines, l+"\n")
		ids = append(ids, idRE.FindStringSubmatch(l)[1])
	}
	return lines, ids
}

// wantErr is one problem auditq must report: where (file, line, byte offset
// of the fault; line 0 for a whole file) and what (a part of the message).
type wantErr struct {
	file   string
	line   int
	offset int64 // -1: not checked
	msg    string
}

// hostileCase is broken or hostile input, the events that must still come
// out, in order, and the problems that must be reported, in order.
type hostileCase struct {
	name  string
	files map[string][]byte // written under a fresh directory
	args  []string          // inputs and flags; "$D/" is that directory
	ids   []string
	errs  []wantErr
	exit  int
	note  string // a notice of skipped files, relative to the directory, before the problems
}

// gunzipPrefix is what compress/gzip (not the decoder auditq uses) gets out
// of a damaged stream before its error: the reference for a truncated file.
func gunzipPrefix(data []byte) string {
	r, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return ""
	}
	out, _ := io.ReadAll(r)
	return string(out)
}

func hostileCases(t *testing.T) []hostileCase {
	fx, id := fixtureLines(t, 24)
	join := func(from, to int) string { return strings.Join(fx[from:to], "") }
	n := func(from, to int) int64 { return int64(len(join(from, to))) }

	// A damaged middle member in a file of three gzip members.
	m1, m2, m3 := audittest.Gzip([]byte(join(0, 3))), audittest.Gzip([]byte(join(3, 6))), audittest.Gzip([]byte(join(6, 9)))
	m2[10] = 0x07 // first deflate block: reserved block type
	corrupt := slices.Concat(m1, m2, m3)

	all := audittest.Gzip([]byte(join(0, 24)))
	cut := all[:len(all)*2/3]
	cutText := gunzipPrefix(cut)
	var cutIDs []string
	for i := range 24 {
		if len(join(0, i+1)) <= len(cutText) {
			cutIDs = append(cutIDs, id[i])
		}
	}

	badUTF8 := strings.Replace(fx[1], `"userAgent":"`, "\"userAgent\":\"\xff\xfe bad ", 1)
	withCode := slices.IndexFunc(fx, func(l string) bool { return strings.Contains(l, `"code":2`) })
	wrongCode := regexp.MustCompile(`"code":(\d+)`).ReplaceAllString(fx[withCode], `"code":"$1"`)
	wrongKind := strings.Replace(fx[3], `"kind":"Event"`, `"kind":0`, 1)
	list := `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[` + strings.TrimSpace(fx[0]) + `,` +
		strings.TrimSpace(wrongCode) + `,` + strings.TrimSpace(fx[1]) + "]}\n"
	deep := `{"kind":"Event","auditID":"deep","requestObject":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + "}\n"
	long := `{"kind":"Event","auditID":"long","requestObject":"` + strings.Repeat("x", 100_000) + "\"}\n"
	zeros := strings.Repeat("\x00", 8192)
	hostileWindow := append([]byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 21 << 3}, make([]byte, 32)...) // window 2 GiB
	bomb := audittest.Gzip([]byte(join(0, 2) + strings.Repeat("\x00", 64<<20) + "\n" + join(2, 4)))

	return []hostileCase{
		{name: "truncated last line", files: map[string][]byte{"a.log": []byte(join(0, 3) + fx[3][:200])},
			args: []string{"$D/a.log"}, ids: id[:3], exit: 5,
			errs: []wantErr{{"a.log", 4, n(0, 3), "event truncated at end of input"}}},
		{name: "a line cut in the middle of the file", files: map[string][]byte{"a.log": []byte(join(0, 2) + fx[2][:300] + "\n" + join(3, 5))},
			args: []string{"$D/a.log"}, ids: []string{id[0], id[1], id[3], id[4]}, exit: 5,
			errs: []wantErr{{"a.log", 3, n(0, 2), "event cut short"}}},
		{name: "a line cut, the next event written on the same line", files: map[string][]byte{"a.log": []byte(join(0, 2) + fx[2][:300] + join(3, 5))},
			args: []string{"$D/a.log"}, ids: []string{id[0], id[1], id[3], id[4]}, exit: 5,
			errs: []wantErr{{"a.log", 3, n(0, 2), "event cut short"}}},
		{name: "NUL bytes: zero-filled blocks, then events", files: map[string][]byte{"a.log": []byte(join(0, 2) + zeros + "\n" + zeros + join(2, 4))},
			args: []string{"$D/a.log"}, ids: id[:4], exit: 5,
			errs: []wantErr{{"a.log", 3, n(0, 2), "NUL bytes where events should be"}, {"a.log", 4, n(0, 2) + 8193, "NUL bytes"}}},
		{name: "invalid UTF-8 in a field is read (as encoding/json reads it)", files: map[string][]byte{"a.log": []byte(fx[0] + badUTF8 + fx[2])},
			args: []string{"$D/a.log"}, ids: id[:3]},
		{name: "CRLF line endings", files: map[string][]byte{"a.log": []byte(strings.ReplaceAll(join(0, 4), "\n", "\r\n"))},
			args: []string{"$D/a.log"}, ids: id[:4]},
		{name: "a UTF-8 BOM", files: map[string][]byte{"a.log": []byte("\xef\xbb\xbf" + join(0, 4))},
			args: []string{"$D/a.log"}, ids: id[:4]},
		{name: "blank lines count in positions", files: map[string][]byte{"a.log": []byte(fx[0] + "\n  \n\t\n" + fx[1] + "\n" + wrongCode + fx[3])},
			args: []string{"$D/a.log"}, ids: []string{id[0], id[1], id[3]}, exit: 5,
			errs: []wantErr{{"a.log", 7, int64(len(fx[0]+"\n  \n\t\n"+fx[1]+"\n") + strings.Index(wrongCode, `"2`)), "field responseStatus.code: cannot decode string into int32"}}},
		{name: "a line far over the size limit", files: map[string][]byte{"a.log": []byte(join(0, 2) + long + join(2, 4))},
			args: []string{"--max-line-size", "64KiB", "$D/a.log"}, ids: id[:4], exit: 5,
			errs: []wantErr{{"a.log", 3, n(0, 2), "line too long: more than 65536 bytes; skipped"}}},
		{name: "deeply nested JSON", files: map[string][]byte{"a.log": []byte(fx[0] + deep + fx[1])},
			args: []string{"$D/a.log"}, ids: id[:2], exit: 5,
			errs: []wantErr{{"a.log", 2, int64(len(fx[0]) + strings.Index(deep, "[") + 9999), "exceeded max depth"}}},
		{name: "a truncated gzip stream", files: map[string][]byte{"a.log.gz": cut},
			args: []string{"$D/a.log.gz"}, ids: cutIDs, exit: 5,
			errs: []wantErr{{"a.log.gz", len(cutIDs) + 1, int64(len(join(0, len(cutIDs)))), "compressed stream is truncated"}}},
		{name: "a corrupt gzip member in the middle of a multi-member file", files: map[string][]byte{"a.log.gz": corrupt},
			args: []string{"$D/a.log.gz"}, ids: slices.Concat(id[:3], id[6:9]), exit: 5,
			errs: []wantErr{{"a.log.gz", 4, n(0, 3), "corrupt gzip member"}}},
		{name: "a gzip bomb: 64 MiB of zeros from a tiny file", files: map[string][]byte{"bomb.log.gz": bomb},
			args: []string{"--max-line-size", "1MiB", "$D/bomb.log.gz"}, ids: id[:4], exit: 5,
			errs: []wantErr{{"bomb.log.gz", 3, n(0, 2), "line too long: more than 1048576 bytes; skipped"}}},
		{name: "a zstd frame asking for a 2 GiB window", files: map[string][]byte{"a.log.zst": hostileWindow, "b.log": []byte(join(0, 2))},
			args: []string{"$D/a.log.zst", "$D/b.log"}, ids: id[:2], exit: 5,
			errs: []wantErr{{"a.log.zst", 1, 0, "zstd frame asks for a decoding window over the memory limit"}}},
		{name: "an empty file", files: map[string][]byte{"a.log": nil, "b.log": []byte(fx[0])},
			args: []string{"$D/a.log", "$D/b.log"}, ids: id[:1]},
		{name: "a missing file", files: map[string][]byte{"b.log": []byte(join(0, 2))},
			args: []string{"$D/missing.log", "$D/b.log"}, ids: id[:2], exit: 5,
			errs: []wantErr{{"missing.log", 0, -1, "no such file or directory"}}},
		{name: "an unreadable file", files: map[string][]byte{"b.log": []byte(join(0, 2))},
			args: []string{"/proc/self/mem", "$D/b.log"}, ids: id[:2], exit: 5,
			errs: []wantErr{{"/proc/self/mem", 0, -1, "read failed: input/output error"}}},
		{name: "a directory with unrelated files, and a folder below", files: map[string][]byte{
			"logs/kube-apiserver-audit.log": []byte(join(0, 3)), "logs/notes.txt": []byte("not a log\n"),
			"logs/policy.yaml": []byte("rules: []\n"), "logs/core": {0x7f, 'E', 'L', 'F', 0, 1}, "logs/sub/x.json": []byte(fx[5])},
			args: []string{"$D/logs"}, ids: append(slices.Clone(id[:3]), id[5]),
			note: "logs: 3 files hold no audit data, skipped: core, notes.txt, policy.yaml\n"},
		{name: "a must-gather with one unreadable file", files: map[string][]byte{
			"must-gather/audit_logs/kube-apiserver/master-0-audit.log.gz": audittest.Gzip([]byte(join(0, 3))),
			"must-gather/audit_logs/kube-apiserver/master-1-audit.log.gz": []byte("-> /proc/self/mem"),
			"must-gather/audit_logs/kube-apiserver/master-2-audit.log.gz": audittest.Gzip([]byte(join(3, 5))),
			"must-gather/audit_logs/kube-apiserver.audit_logs_listing":    []byte("master-0 audit.log\nmaster-1 audit.log\nmaster-2 audit.log\n")},
			args: []string{"$D/must-gather"}, ids: id[:5], exit: 5,
			errs: []wantErr{{"must-gather/audit_logs/kube-apiserver/master-1-audit.log.gz", 0, -1, "input/output error"}},
			note: "must-gather: 1 file holds no audit data, skipped: audit_logs/kube-apiserver.audit_logs_listing\n"},
		{name: "a symlink loop", files: map[string][]byte{"b.log": []byte(join(0, 2)), "loop1": nil},
			args: []string{"$D/loop1", "$D/b.log"}, ids: id[:2], exit: 5,
			errs: []wantErr{{"loop1", 0, -1, "too many levels of symbolic links"}}},
		{name: "an EventList with a malformed item", files: map[string][]byte{"list.json": []byte(list)},
			args: []string{"$D/list.json"}, ids: id[:2], exit: 5,
			errs: []wantErr{{"list.json", 1, int64(len(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[`+strings.TrimSpace(fx[0])+`,`) + strings.Index(wrongCode, `"2`)), "field responseStatus.code"}}},
		{name: "wrong JSON types in known fields", files: map[string][]byte{"a.log": []byte(fx[0] + wrongCode + wrongKind + fx[4])},
			args: []string{"$D/a.log"}, ids: []string{id[0], id[4]}, exit: 5,
			errs: []wantErr{
				{"a.log", 2, int64(len(fx[0]) + strings.Index(wrongCode, `"2`)), "field responseStatus.code: cannot decode string into int32"},
				{"a.log", 3, int64(len(fx[0]+wrongCode) + len(`{"kind":`)), "field kind: cannot decode number into string"}}},
	}
}

var errLine = regexp.MustCompile(`^auditq: (.+?)(?::(\d+)(?::\d+)?)?: (.*?)(?: \((?:decompressed )?byte offset (\d+)\))?$`)

// TestHostileInput: on every kind of broken input, every command still
// delivers every good event, reports every fault with its file, line and byte
// offset, exits 5, and prints the same with one goroutine as with several.
func TestHostileInput(t *testing.T) {
	for _, tc := range hostileCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, data := range tc.files {
				p := filepath.Join(dir, name)
				os.MkdirAll(filepath.Dir(p), 0o755)
				if target, ok := bytes.CutPrefix(data, []byte("-> ")); ok {
					os.Symlink(string(target), p)
					continue
				}
				if name == "loop1" {
					os.Symlink(filepath.Join(dir, "loop2"), p)
					os.Symlink(p, filepath.Join(dir, "loop2"))
					continue
				}
				if err := os.WriteFile(p, data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			args := make([]string, len(tc.args))
			for i, a := range tc.args {
				args[i] = strings.ReplaceAll(a, "$D/", dir+"/")
			}
			type run struct{ Stdout, Stderr string }
			var runs []run
			for _, threads := range []string{"1", "2", "5"} {
				var out, errOut bytes.Buffer
				code := runEnv(slices.Concat([]string{"query", "-r", ".auditID", "--threads", threads}, args), &env{stdout: &out, stderr: &errOut})
				if code != tc.exit {
					t.Errorf("threads %s: exit %d, want %d; stderr:\n%s", threads, code, tc.exit, errOut.String())
				}
				runs = append(runs, run{out.String(), errOut.String()})
			}
			for i := 1; i < len(runs); i++ {
				if diff := cmp.Diff(runs[0], runs[i]); diff != "" {
					t.Errorf("one goroutine and several differ (-1 +more):\n%s", diff)
				}
			}
			var got []string
			if runs[0].Stdout != "" {
				got = strings.Split(strings.TrimSuffix(runs[0].Stdout, "\n"), "\n")
			}
			if diff := cmp.Diff(tc.ids, got); diff != "" {
				t.Errorf("events delivered (-want +got):\n%s", diff)
			}
			checkProblems(t, runs[0].Stderr, dir, tc.errs, tc.note)

			notes := 0 // the notice of skipped files, not a problem
			if tc.note != "" {
				notes = 1
			}
			// The other commands see the same input the same way.
			for _, cmd := range [][]string{{"cat"}, {"summary", "-o", "json"}} {
				var out, errOut bytes.Buffer
				code := runEnv(slices.Concat(cmd, args), &env{stdout: &out, stderr: &errOut})
				if code != tc.exit {
					t.Errorf("%s: exit %d, want %d", cmd[0], code, tc.exit)
				}
				if cmd[0] == "cat" && strings.Count(out.String(), "\n") != len(tc.ids) {
					t.Errorf("cat printed %d lines, want %d", strings.Count(out.String(), "\n"), len(tc.ids))
				}
				if cmd[0] == "summary" && !strings.Contains(out.String(), fmt.Sprintf(`"events": %d,`, len(tc.ids))) {
					t.Errorf("summary does not count %d events:\n%.300s", len(tc.ids), out.String())
				}
				if gotErrs := strings.Count(errOut.String(), "\n") - notes; len(tc.errs) > 0 && gotErrs != len(tc.errs)+1 {
					t.Errorf("%s: %d stderr lines, want %d problems and a closing line:\n%s", cmd[0], gotErrs, len(tc.errs), errOut.String())
				}
			}

			// --strict stops at the first problem, after the events before it.
			if len(tc.errs) > 0 {
				var out, errOut bytes.Buffer
				code := runEnv(slices.Concat([]string{"cat", "--strict"}, args), &env{stdout: &out, stderr: &errOut})
				lines := strings.Split(strings.TrimSuffix(errOut.String(), "\n"), "\n")[notes:]
				if code != exitBadInput || len(lines) != 2 || !strings.Contains(lines[1], "--strict") {
					t.Errorf("--strict: exit %d, stderr:\n%s", code, errOut.String())
				}
				if strings.Count(out.String(), "\n") > len(tc.ids) {
					t.Errorf("--strict printed more than without it")
				}
			}
		})
	}
}

// checkProblems matches stderr's lines with the problems wanted, in order,
// then the closing line that counts them; first, the notice of files
// skipped, if one is wanted.
func checkProblems(t *testing.T, stderr, dir string, want []wantErr, note string) {
	t.Helper()
	if note != "" {
		note = "auditq: " + dir + "/" + note
		if !strings.HasPrefix(stderr, note) {
			t.Errorf("want the notice %q first, stderr:\n%s", note, stderr)
		}
		stderr = strings.TrimPrefix(stderr, note)
	}
	if len(want) == 0 {
		if stderr != "" {
			t.Errorf("want no problems, stderr:\n%s", stderr)
		}
		return
	}
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	if len(lines) != len(want)+1 {
		t.Fatalf("%d stderr lines, want %d problems and a closing line:\n%s", len(lines), len(want), stderr)
	}
	for i, w := range want {
		m := errLine.FindStringSubmatch(lines[i])
		if m == nil {
			t.Errorf("problem %d is not positioned: %q", i, lines[i])
			continue
		}
		file := strings.TrimPrefix(m[1], dir+"/")
		line, _ := strconv.Atoi(m[2])
		off := int64(-1)
		if m[4] != "" {
			off, _ = strconv.ParseInt(m[4], 10, 64)
		}
		if file != w.file || line != w.line || w.offset >= 0 && off != w.offset || !strings.Contains(m[3], w.msg) {
			t.Errorf("problem %d: %q\nwant %s:%d, byte offset %d, %q", i, lines[i], w.file, w.line, w.offset, w.msg)
		}
	}
	if last := lines[len(want)]; !strings.Contains(last, fmt.Sprintf("auditq: %d problem(s) in the input", len(want))) {
		t.Errorf("closing line: %q", last)
	}
	if strings.ContainsFunc(stderr, func(r rune) bool { return r < 0x20 && r != '\n' || r == 0x7f }) {
		t.Errorf("stderr carries control characters: %q", stderr)
	}
}

// TestHostileFieldsOnATerminal: fields that carry terminal escape sequences
// (OSC title and hyperlink, CSI clear screen and colour, C1 CSI, DEL, line
// separators, invalid UTF-8) reach a terminal escaped, in every output mode,
// with colour and without; the only escape sequences left are auditq's own
// colours.
func TestHostileFieldsOnATerminal(t *testing.T) {
	fx, id := fixtureLines(t, 6)
	withCode := slices.IndexFunc(fx, func(l string) bool { return strings.Contains(l, `"code":2`) })
	// As encoding/json (and so kube-apiserver) writes them: C0 controls as
	// \u escapes, the rest raw.
	payload := `\u001b]0;pwned\u0007\u001b[2J\u001b[31m\u001b]8;;http://evil\u001b\\` + "\u009b31m\x7f\u2028\xff\xfe" + `\r\n`
	hostile := fx[withCode]
	for _, field := range []string{`"userAgent":"`, `"username":"`, `"requestURI":"`} {
		hostile = strings.Replace(hostile, field, field+payload, 1)
	}
	hostile = strings.Replace(hostile, `"annotations":{`, `"annotations":{"evil`+payload+`":"`+payload+`",`, 1)
	dir := t.TempDir()
	path := filepath.Join(dir, "kube-apiserver-audit.log")
	if err := os.WriteFile(path, []byte(fx[0]+hostile+fx[1]), 0o644); err != nil {
		t.Fatal(err)
	}
	ours := regexp.MustCompile(`\x1b\[(0|90|33|36|32|34;1|1|2|7|22|39|1;3[0-9]|3[0-9]|4[0-9])m`)
	modes := [][]string{
		{"summary"}, {"summary", "--top", "50"}, {"summary", "-o", "json"}, {"summary", "-o", "yaml"},
		{"get", "--id", id[withCode]}, {"get", "-o", "pretty", "--id", id[withCode]},
		{"cat"}, {"query", "."}, {"query", "-c", "."}, {"query", "-r", ".userAgent, .user.username, .annotations"},
		{"query", "-j", ".requestURI"}, {"query", "--raw-output0", ".userAgent"}, {"query", "-r", ".annotations | keys[]"},
		{"query", "--tab", "{(.userAgent): .requestURI}"},
	}
	for _, mode := range modes {
		for _, noColor := range []bool{false, true} {
			var out, errOut bytes.Buffer
			e := &env{stdout: &out, stderr: &errOut, stdoutTTY: true, stderrTTY: true, noColor: noColor}
			code := runEnv(append(slices.Clone(mode), path), e)
			if code != 0 {
				t.Errorf("%v: exit %d: %s", mode, code, errOut.String())
			}
			if !strings.Contains(out.String(), "pwned") && mode[0] != "summary" {
				t.Errorf("%v: the hostile field is not printed at all:\n%s", mode, out.String())
			}
			for stream, s := range map[string]string{"stdout": out.String(), "stderr": errOut.String()} {
				rest := ours.ReplaceAllString(s, "")
				if i := strings.IndexFunc(rest, func(r rune) bool {
					return r < 0x20 && r != '\n' && r != '\t' && r != 0 || r >= 0x7f && r <= 0x9f || r == 0x2028 || r == 0x2029
				}); i >= 0 || !utf8Valid(rest) {
					t.Errorf("%v (NO_COLOR %v): %s reaches the terminal with a control character at %d: %q", mode, noColor, stream, i, rest[max(0, i-40):min(len(rest), i+40)])
				}
				if strings.Contains(rest, "\x00") && !slices.Contains(mode, "--raw-output0") {
					t.Errorf("%v: NUL on a terminal", mode)
				}
			}
		}
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }
