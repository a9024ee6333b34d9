package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/itchyny/gojq"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/internal/audittest"
	"github.com/auditq/auditq/jq"
)

// The four recipes of the setup guides. select recipes get their ID and user
// from the corpus under test.
func recipes(id, user string) []struct {
	name, expr string
	compact    bool
} {
	return []struct {
		name, expr string
		compact    bool
	}{
		{"identity", ".", false},
		{"identity -c", ".", true},
		{"projection", "[.auditID,.verb,.requestURI,.user.username,.responseStatus.code,.stageTimestamp]", false},
		{"projection -c", "[.auditID,.verb,.requestURI,.user.username,.responseStatus.code,.stageTimestamp]", true},
		{"by auditID", `select(.auditID==` + jsonString(id) + `)`, false},
		{"by user -c", `select(.user.username==` + jsonString(user) + `)`, true},
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// gojqReference runs expr with gojq's library on values decoded as the gojq
// command decodes its input, and prints them as gojq does: gojq.Marshal, and
// for the indented form encoding/json's Indent of that (the same layout).
func gojqReference(t *testing.T, expr string, compact bool, values []any) []byte {
	t.Helper()
	q, err := gojq.Parse(expr)
	if err != nil {
		t.Fatal(err)
	}
	code, err := gojq.Compile(q)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for _, v := range values {
		it := code.Run(v)
		for {
			r, ok := it.Next()
			if !ok {
				break
			}
			if err, isErr := r.(error); isErr {
				t.Fatalf("gojq: %v", err)
			}
			b, err := gojq.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			if compact {
				out.Write(b)
			} else if err := json.Indent(&out, b, "", "  "); err != nil {
				t.Fatal(err)
			}
			out.WriteByte('\n')
		}
	}
	return out.Bytes()
}

// streamValues decodes every JSON value in data as the gojq command does
// (encoding/json with UseNumber). An EventList becomes its items, since auditq
// reads the events in a list.
func streamValues(data []byte) ([]any, error) {
	all, err := jq.ParseJSONStream(data)
	if err != nil {
		return nil, err
	}
	var values []any
	for _, v := range all {
		if m, ok := v.(map[string]any); ok && m["kind"] == "EventList" {
			items, _ := m["items"].([]any)
			values = append(values, items...)
			continue
		}
		values = append(values, v)
	}
	return values, nil
}

// pickIDAndUser takes the auditID of the middle event and a service account's
// username (else any username) from values.
func pickIDAndUser(values []any) (id, user string) {
	if len(values) == 0 {
		return "none", "none"
	}
	field := func(v any, path ...string) string {
		for _, p := range path {
			m, _ := v.(map[string]any)
			v = m[p]
		}
		s, _ := v.(string)
		return s
	}
	id = field(values[len(values)/2], "auditID")
	for _, v := range values {
		u := field(v, "user", "username")
		if user == "" && u != "" || strings.HasPrefix(u, "system:serviceaccount:") {
			user = u
			if strings.HasPrefix(u, "system:serviceaccount:") {
				break
			}
		}
	}
	return id, user
}

// compareRecipes runs the recipes through auditq (in-process, on paths) and
// through gojq's library (on the decompressed files in the same order).
func compareRecipes(t *testing.T, paths []string) {
	t.Helper()
	files, errs := auditlog.Expand(paths)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var all bytes.Buffer
	for _, f := range files {
		all.Write(audittest.ReadFile(t, f))
	}
	values, err := streamValues(all.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	id, user := pickIDAndUser(values)
	for _, r := range recipes(id, user) {
		args := []string{"query"}
		if r.compact {
			args = append(args, "-c")
		}
		args = append(append(args, r.expr), paths...)
		var out, errOut bytes.Buffer
		code := runEnv(args, &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut})
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", r.name, code, errOut.String())
		}
		want := gojqReference(t, r.expr, r.compact, values)
		if !bytes.Equal(out.Bytes(), want) {
			t.Errorf("%s on %v: auditq and gojq differ (%d vs %d bytes) at byte %d", r.name, paths, out.Len(), len(want), firstDiff(out.Bytes(), want))
		}
		if r.name == "by auditID" && len(want) == 0 && len(values) > 0 {
			t.Errorf("%s on %v matched nothing: the test has no teeth", r.name, paths)
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestRecipesMatchGojqOnFixture(t *testing.T) {
	compareRecipes(t, []string{audittest.Rotated()})
	compareRecipes(t, []string{filepath.Join("testdata", "small.jsonl")})
}

func TestRecipesMatchGojqOnKubeAPIServer(t *testing.T) {
	dir := audittest.Shared(t, "kube-apiserver", "gce-like")
	compareRecipes(t, []string{filepath.Join(dir, "kube-apiserver-audit.log")})
}

// TestRecipesMatchGojqOnRealData runs the recipes file by file over
// ../shared/realdata. Files auditq rejects (legacy text, a malformed event)
// are not comparable; the test pins exactly which those are.
func TestRecipesMatchGojqOnRealData(t *testing.T) {
	dir := audittest.Shared(t, "realdata")
	var rejected []string
	compared := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "cloud" {
			return fs.SkipDir // cloud-export envelopes, not audit logs as written: not comparable with gojq on the lines
		}
		if d.IsDir() {
			return nil
		}
		switch filepath.Ext(path) {
		case ".md", ".yaml":
			return nil
		}
		if head, err := os.ReadFile(path); err == nil && auditlog.DetectFormat(head[:min(len(head), auditlog.DetectHead)], formats...) != nil {
			return nil // an export format (legacy text): its lines are not events gojq could read
		}
		var out, errOut bytes.Buffer
		if runEnv([]string{"query", "-c", ".auditID", path}, &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut}) != 0 {
			rejected = append(rejected, filepath.Base(path))
			return nil
		}
		compareRecipes(t, []string{path})
		compared++
		return nil
	})
	if err != nil && !errors.Is(err, fs.SkipAll) {
		t.Fatal(err)
	}
	slices.Sort(rejected)
	want := []string{"audit-records-pods.json", "fal_01_003.json"} // empty; malformed
	if !slices.Equal(rejected, want) {
		t.Errorf("files auditq rejects: %v, want %v", rejected, want)
	}
	if compared < 90 {
		t.Errorf("only %d files compared", compared)
	}
}
