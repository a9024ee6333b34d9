package duckdbtest

import (
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/auditq/auditq/internal/audittest"
)

var binary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "auditq-duckdb-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "auditq")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/auditq")
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// exportTo runs auditq export and returns the glob of its files.
func exportTo(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	cmd := exec.Command(bin, append([]string{"export", "--no-index", "--out", out}, args...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("auditq export %v: %v\n%s", args, err, b)
	}
	return filepath.Join(out, "**", "*.parquet")
}

// events is encoding/json's decoding of the rotated set of the active log
// at path (audittest.OracleLog), those keep keeps (all when nil).
func events(t *testing.T, path string, keep func(*auditv1.Event) bool) []*auditv1.Event {
	t.Helper()
	evs := audittest.OracleLog(t, path)
	if keep != nil {
		evs = slices.DeleteFunc(evs, func(e *auditv1.Event) bool { return !keep(e) })
	}
	return evs
}

// counts is "value count" lines, sorted, from a query of (value, count).
func counts(t *testing.T, db *sql.DB, q string) string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v sql.NullString
		var n int64
		if err := rows.Scan(&v, &n); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %d", v.String, n))
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// columnTypes is DuckDB's type of each column of from.
func columnTypes(t *testing.T, db *sql.DB, from string) map[string]string {
	t.Helper()
	rows, err := db.Query("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM " + from + ")")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	types := map[string]string{}
	for rows.Next() {
		var n, ty string
		if err := rows.Scan(&n, &ty); err != nil {
			t.Fatal(err)
		}
		types[n] = ty
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return types
}

func tally(evs []*auditv1.Event, f func(*auditv1.Event) (string, bool)) string {
	m := map[string]int64{}
	for _, e := range evs {
		if v, ok := f(e); ok {
			m[v]++
		}
	}
	return fmtCounts(m)
}

// TestDuckDBReadsTheExport: DuckDB reads auditq's export of the fixture set
// and of a real kube-apiserver's set (when ../shared is there) and every
// count equals what encoding/json gives for the same events; list and map
// columns, timestamps to the microsecond, bodies byte for byte, the Hive
// partitions, and a filtered export.
func TestDuckDBReadsTheExport(t *testing.T) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for name, path := range audittest.Corpora(t) {
		t.Run(name, func(t *testing.T) {
			glob := exportTo(t, "--cluster", "c1", path)
			evs := events(t, path, nil)
			from := fmt.Sprintf("read_parquet('%s', hive_partitioning=true)", glob)
			var n, ids int64
			if err := db.QueryRow("SELECT count(*), count(DISTINCT auditID) FROM "+from).Scan(&n, &ids); err != nil {
				t.Fatal(err)
			}
			distinct := map[string]bool{}
			for _, e := range evs {
				distinct[string(e.AuditID)] = true
			}
			if n != int64(len(evs)) || ids != int64(len(distinct)) {
				t.Fatalf("%d rows and %d IDs, want %d and %d", n, ids, len(evs), len(distinct))
			}
			for _, c := range []struct {
				name, sql string
				f         func(*auditv1.Event) (string, bool)
			}{
				{"verb", "SELECT verb, count(*) FROM " + from + " GROUP BY 1", func(e *auditv1.Event) (string, bool) { return e.Verb, true }},
				{"stage", "SELECT stage, count(*) FROM " + from + " GROUP BY 1", func(e *auditv1.Event) (string, bool) { return string(e.Stage), true }},
				{"code", "SELECT responseStatus.code::VARCHAR, count(*) FROM " + from + " WHERE responseStatus IS NOT NULL GROUP BY 1",
					func(e *auditv1.Event) (string, bool) {
						if e.ResponseStatus == nil {
							return "", false
						}
						return fmt.Sprint(e.ResponseStatus.Code), true
					}},
				{"user", "SELECT user.username, count(*) FROM " + from + " GROUP BY 1", func(e *auditv1.Event) (string, bool) { return e.User.Username, true }},
				{"namespace", "SELECT objectRef.namespace, count(*) FROM " + from + " WHERE objectRef IS NOT NULL GROUP BY 1",
					func(e *auditv1.Event) (string, bool) {
						if e.ObjectRef == nil {
							return "", false
						}
						return e.ObjectRef.Namespace, true
					}},
				{"groups (a LIST)", "SELECT g, count(*) FROM (SELECT unnest(user.groups) AS g FROM " + from + ") GROUP BY 1", nil},
				{"annotations (a MAP)", "SELECT k, count(*) FROM (SELECT unnest(map_keys(annotations)) AS k FROM " + from + ") GROUP BY 1", nil},
				{"partitions", "SELECT dt::VARCHAR || '/' || cluster, count(*) FROM " + from + " GROUP BY 1",
					func(e *auditv1.Event) (string, bool) {
						return e.StageTimestamp.UTC().Format("2006-01-02") + "/c1", true
					}},
			} {
				want := ""
				switch c.name {
				case "groups (a LIST)":
					m := map[string]int64{}
					for _, e := range evs {
						for _, g := range e.User.Groups {
							m[g]++
						}
					}
					want = fmtCounts(m)
				case "annotations (a MAP)":
					m := map[string]int64{}
					for _, e := range evs {
						for k := range e.Annotations {
							m[k]++
						}
					}
					want = fmtCounts(m)
				default:
					want = tally(evs, c.f)
				}
				if got := counts(t, db, c.sql); got != want {
					t.Errorf("counts by %s differ:\n got %.500s\nwant %.500s", c.name, got, want)
				}
			}
			// A timestamp to the microsecond and bodies byte for byte.
			for _, e := range []*auditv1.Event{evs[0], evs[len(evs)/2], evs[len(evs)-1]} {
				var us int64
				var req, resp sql.NullString
				q := "SELECT epoch_us(stageTimestamp), requestObject, responseObject FROM " + from + " WHERE auditID = ? AND stage = ?"
				if err := db.QueryRow(q, string(e.AuditID), string(e.Stage)).Scan(&us, &req, &resp); err != nil {
					t.Fatal(err)
				}
				if want := e.StageTimestamp.UnixMicro(); us != want {
					t.Errorf("%s: stageTimestamp %d µs, want %d", e.AuditID, us, want)
				}
				if e.RequestObject != nil && req.String != string(e.RequestObject.Raw) || e.ResponseObject != nil && resp.String != string(e.ResponseObject.Raw) {
					t.Errorf("%s: bodies differ", e.AuditID)
				}
			}
		})
	}
	// Filters apply.
	glob := exportTo(t, "--cluster", "c1", "--verb", "get", "--namespace", "kube-system", audittest.Rotated())
	want := events(t, audittest.Rotated(), func(e *auditv1.Event) bool {
		return e.Verb == "get" && e.ObjectRef != nil && e.ObjectRef.Namespace == "kube-system"
	})
	var n int64
	if err := db.QueryRow(fmt.Sprintf("SELECT count(*) FROM read_parquet('%s')", glob)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != int64(len(want)) || n == 0 {
		t.Errorf("filtered export: %d rows, want %d", n, len(want))
	}
}

func fmtCounts(m map[string]int64) string {
	var out []string
	for v, n := range m {
		out = append(out, fmt.Sprintf("%s %d", v, n))
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// TestDuckDBSeesTypesAndBloom: DuckDB types the columns as the schema says,
// every column chunk is zstd, row groups follow stageTimestamp, and the
// auditID Bloom filter is one DuckDB reads: a probe never rules out the row
// group that holds an ID, and rules out most that do not.
func TestDuckDBSeesTypesAndBloom(t *testing.T) {
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	cmd := exec.Command(bin, "export", "--no-index", "--out", out, "--cluster", "c", audittest.Rotated())
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	files, _ := filepath.Glob(filepath.Join(out, "*", "*", "*.parquet"))
	if len(files) == 0 {
		t.Fatal("no file")
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	types := columnTypes(t, db, fmt.Sprintf("read_parquet('%s')", files[0]))
	for col, want := range map[string]string{
		"stageTimestamp": "TIMESTAMP WITH TIME ZONE",
		"auditID":        "VARCHAR",
		"sourceIPs":      "VARCHAR[]",
		"annotations":    "MAP(VARCHAR, VARCHAR)",
	} {
		if types[col] != want {
			t.Errorf("%s: DuckDB type %q, want %q", col, types[col], want)
		}
	}
	if u := types["user"]; !strings.Contains(u, `"groups" VARCHAR[]`) || !strings.Contains(u, "extra MAP(VARCHAR, VARCHAR[])") {
		t.Errorf("user: DuckDB type %q", u)
	}
	var codecs string
	if err := db.QueryRow(fmt.Sprintf("SELECT string_agg(DISTINCT compression, ',') FROM parquet_metadata('%s')", files[0])).Scan(&codecs); err != nil {
		t.Fatal(err)
	}
	if codecs != "ZSTD" {
		t.Errorf("compression %q, want ZSTD", codecs)
	}
	// The Bloom filter: probe each ID of the file and some that are not there.
	evs := events(t, audittest.Rotated(), nil)
	probe := func(id string) (excluded, groups int) {
		q := fmt.Sprintf("SELECT count(*) FILTER (WHERE bloom_filter_excludes), count(*) FROM parquet_bloom_probe('%s', 'auditID', ?)", files[0])
		if err := db.QueryRow(q, id).Scan(&excluded, &groups); err != nil {
			t.Fatal(err)
		}
		return excluded, groups
	}
	for i := 0; i < len(evs); i += len(evs) / 20 {
		e := evs[i]
		var in int
		if err := db.QueryRow(fmt.Sprintf("SELECT count(*) FROM read_parquet('%s') WHERE auditID = ?", files[0]), string(e.AuditID)).Scan(&in); err != nil {
			t.Fatal(err)
		}
		if ex, groups := probe(string(e.AuditID)); in > 0 && ex == groups {
			t.Fatalf("the Bloom filter rules out every row group of a file holding %s", e.AuditID)
		}
	}
	ruled := 0
	for i := range 200 {
		ex, groups := probe(fmt.Sprintf("00000000-0000-0000-0000-%012d", i))
		if groups > 0 && ex == groups {
			ruled++
		}
	}
	if ruled < 190 {
		t.Errorf("the Bloom filter ruled out %d of 200 absent IDs; want about 99%%", ruled)
	}
}
