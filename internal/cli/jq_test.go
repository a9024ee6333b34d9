package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/auditq/auditq/auditlog"
	"github.com/auditq/auditq/internal/audittest"
)

// These tests hold auditq to jq itself over `zcat -f` of the real
// kube-apiserver set, as a responder would check it. They need jq on PATH
// and ../shared; otherwise they skip.

func gceLike(t *testing.T) (active string, stream []byte) {
	t.Helper()
	if _, err := exec.LookPath("jq"); err != nil {
		t.Skip("jq not installed")
	}
	active = filepath.Join(audittest.Shared(t, "kube-apiserver", "gce-like"), "kube-apiserver-audit.log")
	files, errs := auditlog.Expand([]string{active})
	if len(errs) > 0 || len(files) != 11 {
		t.Fatalf("expanded to %d files: %v", len(files), errs)
	}
	var all bytes.Buffer
	for _, f := range files { // zcat -f, backups oldest first, then the active log
		all.Write(audittest.ReadFile(t, f))
	}
	return active, all.Bytes()
}

func runJQ(t *testing.T, input []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("jq", args...)
	cmd.Stdin = bytes.NewReader(input)
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("jq %v: %v: %s", args, err, errOut.String())
	}
	return out
}

func auditq(t *testing.T, wantExit int, args ...string) []byte {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := runEnv(args, &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut}); code != wantExit {
		t.Fatalf("auditq %v: exit %d, want %d: %s", args, code, wantExit, errOut.String())
	}
	return out.Bytes()
}

// normalized is jq -S -c . of a stream of JSON values: the same values in the
// same order print the same, whatever the key order or whitespace.
func normalized(t *testing.T, b []byte) []byte { return runJQ(t, b, "-S", "-c", ".") }

func TestRecipesAgreeWithJQ(t *testing.T) {
	active, stream := gceLike(t)
	id := "b3a533da-6d67-45e6-8ca2-d492de914dc1" // from client-ledger.jsonl.gz, retained
	for _, expr := range []string{
		".",
		"[.auditID,.verb,.requestURI,.user.username,.responseStatus.code,.stageTimestamp]",
		`select(.auditID=="` + id + `")`,
		`select(.user.username=="system:serviceaccount:kube-system:kas-controller")`,
	} {
		want := runJQ(t, stream, expr)
		got := auditq(t, 0, "query", expr, active)
		if len(want) == 0 {
			t.Errorf("%s: jq printed nothing: no teeth", expr)
		}
		if !bytes.Equal(normalized(t, want), normalized(t, got)) {
			t.Errorf("%s: auditq and jq print different values", expr)
		}
		// The projection has no objects, so even the bytes agree with jq 1.6.
		if strings.HasPrefix(expr, "[") && !bytes.Equal(runJQ(t, stream, "-c", expr), auditq(t, 0, "query", "-c", expr, active)) {
			t.Errorf("%s -c: bytes differ from jq", expr)
		}
	}
}

func TestGetAgreesWithJQOnLedgerIDs(t *testing.T) {
	active, stream := gceLike(t)
	ledger := audittest.ReadFile(t, filepath.Join(filepath.Dir(active), "client-ledger.jsonl.gz"))
	var kept, dropped []string
	sc := bufio.NewScanner(bytes.NewReader(ledger))
	for i := 0; sc.Scan(); i++ {
		var e struct {
			AuditID  string `json:"auditID"`
			Retained bool   `json:"retained"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		if e.AuditID == "" || i%500 != 0 && !(e.Retained && i%97 == 0) {
			continue
		}
		if e.Retained {
			kept = append(kept, e.AuditID)
		} else {
			dropped = append(dropped, e.AuditID)
		}
	}
	if len(kept) < 20 || len(dropped) == 0 {
		t.Fatalf("%d retained and %d rotated-away IDs sampled", len(kept), len(dropped))
	}
	ids, _ := json.Marshal(kept)
	want := runJQ(t, stream, "-c", "--argjson", "ids", string(ids), `select(.auditID as $id | $ids | index($id))`)
	// jq prints in log order; auditq groups by ID in the order given. Compare per ID.
	byID := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(normalized(t, want))), "\n") {
		var e struct {
			AuditID string `json:"auditID"`
		}
		json.Unmarshal([]byte(line), &e)
		byID[e.AuditID] = append(byID[e.AuditID], line)
	}
	args := []string{"get"}
	for _, id := range kept {
		args = append(args, "--id", id)
	}
	got := strings.Split(strings.TrimSpace(string(normalized(t, auditq(t, 0, append(args, active)...)))), "\n")
	var wantLines []string
	for _, id := range kept {
		if len(byID[id]) == 0 {
			t.Errorf("ledger says %s was retained, jq finds no event", id)
		}
		wantLines = append(wantLines, byID[id]...)
	}
	if diff := cmp.Diff(wantLines, got); diff != "" {
		t.Errorf("get --id vs jq select (-jq +auditq):\n%s", diff)
	}
	// IDs whose events the server's own rotation deleted are reported missing.
	auditq(t, exitNotFound, "get", "--id", dropped[0], active)
}

func TestSummaryAgreesWithJQ(t *testing.T) {
	active, stream := gceLike(t)
	want := runJQ(t, stream, "-n", "-S", "-c", `reduce inputs as $e ({events: 0};
		.events += 1
		| .stages[$e.stage] += 1
		| .levels[$e.level] += 1
		| (if .seen[$e.auditID] then . else .seen[$e.auditID] = true | .verbs[$e.verb] += 1 | .users[$e.user.username // ""] += 1 end)
		| (if $e.responseStatus and (.coded[$e.auditID] | not) then .coded[$e.auditID] = true | .codes[$e.responseStatus.code | tostring] += 1 else . end)
		| (if $e.annotations["authorization.k8s.io/decision"] == "forbid" then .denied[$e.auditID] = true else . end))
		| {events, requests: (.seen | length), stages, levels, verbs, codes, denials: (.denied | length),
		   topUser: (.users | to_entries | max_by(.value) | {key, count: .value})}`)
	got := runJQ(t, auditq(t, 0, "summary", "-o", "json", "--top", "1", active), "-S", "-c", `{events, requests,
		stages: (.stages | map({(.key): .count}) | add), levels: (.levels | map({(.key): .count}) | add),
		verbs: (.verbs | map({(.key): .count}) | add), codes: (.codes | map({(.key): .count}) | add),
		denials: .denials.requests, topUser: .users[0]}`)
	if !bytes.Equal(want, got) {
		t.Errorf("summary differs from jq:\njq:     %s\nauditq: %s", want, got)
	}
}
