package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/auditq/auditq/internal/fixture"
)

// The harness: auditq against the tools responders use today (jq, gojq,
// grep, rg, zcat, pigz), on the same generated inputs, in one run, with peak
// memory. A peer that is not installed is skipped with a note, never faked.

// projection is the query, whose output must be byte-identical to gojq's.
const projection = `[.auditID,.verb,.requestURI,.user.username,.responseStatus.code,.stageTimestamp]`

const jqCountByVerb = `reduce inputs as $e ({}; .[$e.verb] += 1)`

// bytesPerRequest is about what the bench policy writes per request (measured:
// 1.04 GB for 330,000 requests), to size the inputs.
const bytesPerRequest = 3150

type harness struct {
	dir     string
	auditq  string
	runs    int
	maxTime time.Duration
	out     io.Writer
	notes   []string
	rows    []row
}

type row struct {
	task, tool, command string
	runs                int
	median              time.Duration
	rssKB               int64
	ratio               string // the tool's time ÷ auditq's, on the same task
	output              string // sha256 of stdout, to compare tools
}

func runHarness(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("harness", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", filepath.Join(os.TempDir(), "auditq-bench"), "where the inputs are generated (kept for the next run)")
	sizeGiB := fs.Float64("size", 1, "size of the plain log, GiB")
	bigGiB := fs.Float64("big", 4, "size of the large log for the memory check, GiB (0: skip)")
	runs := fs.Int("runs", 3, "runs of each command (the median is reported); a command slower than -max runs once")
	maxTime := fs.Duration("max", 10*time.Second, "a command that takes longer than this is not repeated")
	out := fs.String("o", "", "also write the markdown table to this file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	h := &harness{dir: *dir, runs: *runs, maxTime: *maxTime, out: stdout}
	if err := os.MkdirAll(h.dir, 0o755); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	plain := filepath.Join(h.dir, "plain", "kube-apiserver-audit.log")
	rotated := filepath.Join(h.dir, "rotated", "kube-apiserver-audit.log")
	big := filepath.Join(h.dir, "big", "kube-apiserver-audit.log")
	if os.Getenv(prepareEnv) != "" {
		// The child that writes the inputs (see below).
		if err := h.prepare(plain, rotated, big, *sizeGiB, *bigGiB, stderr); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
		return 0
	}
	// The inputs are written by a child process: a tool started by a
	// process that grew to write them would count that process's memory in
	// its peak RSS (Linux keeps the high-water mark across exec).
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	h.auditq = filepath.Join(h.dir, "auditq")
	fmt.Fprintln(stderr, "bench: building auditq")
	if b, err := exec.Command("go", "build", "-o", h.auditq, "./cmd/auditq").CombinedOutput(); err != nil {
		fmt.Fprintf(stderr, "bench: go build: %v\n%s", err, b)
		return 1
	}
	prep := exec.Command(self, append([]string{"harness"}, args...)...)
	prep.Env = append(os.Environ(), prepareEnv+"=1")
	prep.Stdout, prep.Stderr = stderr, stderr
	if err := prep.Run(); err != nil {
		fmt.Fprintln(stderr, "bench: writing the inputs:", err)
		return 1
	}
	h.measure(plain, rotated, big, *bigGiB > 0, stderr)
	var md bytes.Buffer
	h.report(&md, plain, rotated)
	stdout.Write(md.Bytes())
	if *out != "" {
		if err := os.WriteFile(*out, md.Bytes(), 0o644); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
	}
	return 0
}

// prepareEnv set makes the harness write its inputs and exit.
const prepareEnv = "AUDITQ_BENCH_PREPARE"

func (h *harness) prepare(plain, rotated, big string, sizeGiB, bigGiB float64, stderr io.Writer) error {
	if err := h.ensurePlain(plain, sizeGiB, stderr); err != nil {
		return err
	}
	if err := h.ensureRotated(rotated, stderr); err != nil {
		return err
	}
	if bigGiB > 0 {
		if err := h.ensurePlain(big, bigGiB, stderr); err != nil {
			return err
		}
	}
	if _, _, err := ensureEnvelopes(plain, filepath.Join(h.dir, "envelopes")); err != nil {
		return err
	}
	if err := h.ensureMetadata(metadataLog(h.dir), sizeGiB, stderr); err != nil {
		return err
	}
	return ensureArchive(filepath.Join(h.dir, "archive", "kube-apiserver-audit.log"), stderr)
}

// ensurePlain writes a log of about size GiB with the bench policy, in parts
// with distinct seeds and consecutive simulated times, unless it exists.
func (h *harness) ensurePlain(path string, sizeGiB float64, stderr io.Writer) error {
	want := int64(sizeGiB * (1 << 30))
	if fi, err := os.Stat(path); err == nil && fi.Size() >= want*9/10 {
		return nil
	}
	return writeRequests(path, want, fixture.BenchPolicy, stderr)
}

// metadataPolicy is BenchPolicy at Metadata level everywhere (the level
// most setup guides choose): the same requests, without their bodies.
var metadataPolicy = strings.NewReplacer("level: RequestResponse", "level: Metadata", "level: Request\n", "level: Metadata\n").Replace(fixture.BenchPolicy)

func metadataLog(dir string) string {
	return filepath.Join(dir, "metadata", "kube-apiserver-audit.log")
}

// ensureMetadata writes the plain log's requests (same seeds, parts and
// times) under metadataPolicy, unless it exists.
func (h *harness) ensureMetadata(path string, sizeGiB float64, stderr io.Writer) error {
	if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
		return nil
	}
	return writeRequests(path, int64(sizeGiB*(1<<30)), metadataPolicy, stderr)
}

// writeRequests writes the requests of a log of about want bytes under the
// bench policy through kube-apiserver's log backend, logged under policy:
// in parts of 1 GiB with seeds 1, 2, … and consecutive simulated times, so
// that two policies log the same requests. The file is written under a
// .partial name and renamed when complete.
func writeRequests(path string, want int64, policy string, stderr io.Writer) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path + ".partial")
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	start := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	perPart := int64(1 << 30)
	for part := 0; int64(part)*perPart < want; part++ {
		n := min(perPart, want-int64(part)*perPart)
		requests := int(n / bytesPerRequest)
		fmt.Fprintf(stderr, "bench: generating %s, part %d (%d requests)\n", path, part+1, requests)
		l, err := fixture.Write(w, fixture.Config{Seed: uint64(part + 1), Requests: requests, Start: start,
			Policy: policy, ManagedFields: true})
		if err != nil {
			return err
		}
		if len(l.Events) > 0 {
			start = l.Events[len(l.Events)-1].Time.Add(time.Second)
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(path+".partial", path)
}

// ensureRotated writes a rotation set: four gzipped backups of about 215 MB
// each (as --audit-log-maxsize=215 --audit-log-compress leave them) and the
// active log.
func (h *harness) ensureRotated(active string, stderr io.Writer) error {
	dir := filepath.Dir(active)
	if m, _ := filepath.Glob(filepath.Join(dir, "*.gz")); len(m) >= 4 {
		return nil
	}
	os.RemoveAll(dir)
	fmt.Fprintf(stderr, "bench: generating the rotated set in %s\n", dir)
	requests := int(4.3*215e6) / bytesPerRequest
	_, err := fixture.WriteRotated(dir, filepath.Base(active), 215, true, fixture.Config{Seed: 7, Requests: requests,
		Policy: fixture.BenchPolicy, ManagedFields: true})
	return err
}

// tool finds a peer: on PATH, or where go install puts it.
func tool(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if home, err := os.UserHomeDir(); err == nil {
		if p := filepath.Join(home, "go", "bin", name); fileExists(p) {
			return p
		}
	}
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func (h *harness) measure(plain, rotated, big string, withBig bool, stderr io.Writer) {
	jq, gojq, grep, rg, zcat, pigz := tool("jq"), tool("gojq"), tool("grep"), tool("rg"), tool("zcat"), tool("pigz")
	for name, p := range map[string]string{"jq": jq, "gojq": gojq, "grep": grep, "rg": rg, "zcat": zcat, "pigz": pigz} {
		if p == "" {
			h.notes = append(h.notes, fmt.Sprintf("%s is not installed: its rows are skipped.", name))
		}
	}
	slices.Sort(h.notes)
	id := pickID(plain)
	backups, _ := filepath.Glob(filepath.Join(filepath.Dir(rotated), "*.gz"))
	slices.Sort(backups)
	warm(append([]string{plain, rotated}, backups...)...)

	type cmd struct {
		tool string
		argv []string
	}
	sh := func(s string) []string { return []string{"/bin/sh", "-c", s} }
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
	type task struct {
		name string
		cmds []cmd
	}
	// The memory check warms the big log first and has no ratio.
	const bigTask = "memory as input grows (plain 4 GiB)"
	duckq := buildDuckq(h.dir, stderr)
	if duckq == "" {
		h.notes = append(h.notes, "DuckDB (export/duckdbtest/cmd/duckq, cgo) could not be built: its rows and the export task are skipped.")
	}
	// DuckDB's peer of the summary: events by verb, reading only that key.
	byVerbSQL := func(path string) string {
		return fmt.Sprintf("SELECT sum(n) FROM (SELECT verb, count(*) AS n FROM read_json('%s', format='newline_delimited', columns={verb: 'VARCHAR'}) GROUP BY verb)", path)
	}
	meta := metadataLog(h.dir)
	warm(meta)
	tasks := []task{
		{"get one event by auditID (plain 1 GiB)", []cmd{
			{"auditq", []string{h.auditq, "get", "--id", id, plain}},
			{"grep", []string{grep, "-F", id, plain}},
			{"rg", []string{rg, "-F", id, plain}},
			{"jq", []string{jq, "-c", fmt.Sprintf(`select(.auditID == %q)`, id), plain}},
			{"gojq", []string{gojq, "-c", fmt.Sprintf(`select(.auditID == %q)`, id), plain}},
		}},
		{"summary (plain 1 GiB)", []cmd{
			{"auditq", []string{h.auditq, "summary", "-o", "json", plain}},
			{"auditq --threads 1", []string{h.auditq, "summary", "--threads", "1", "-o", "json", plain}},
			{"DuckDB GROUP BY verb", []string{duckq, byVerbSQL(plain)}},
			{"jq", []string{jq, "-n", jqCountByVerb, plain}},
			{"gojq", []string{gojq, "-n", jqCountByVerb, plain}},
		}},
		{"summary (Metadata level, same requests)", []cmd{
			{"auditq", []string{h.auditq, "summary", "-o", "json", meta}},
			{"auditq --threads 1", []string{h.auditq, "summary", "--threads", "1", "-o", "json", meta}},
			{"DuckDB GROUP BY verb", []string{duckq, byVerbSQL(meta)}},
			{"jq", []string{jq, "-n", jqCountByVerb, meta}},
			{"gojq", []string{gojq, "-n", jqCountByVerb, meta}},
		}},
		{"query -c projection (plain 1 GiB)", []cmd{
			{"auditq", []string{h.auditq, "query", "-c", projection, plain}},
			{"gojq", []string{gojq, "-c", projection, plain}},
			{"jq", []string{jq, "-c", projection, plain}},
		}},
		{"summary (4 rotated .gz + active)", []cmd{
			{"auditq", []string{h.auditq, "summary", "-o", "json", rotated}},
			{"zcat|jq", sh(zcat + " -f " + strings.Join(backups, " ") + " " + rotated + " | " + jq + " -n " + q(jqCountByVerb))},
			{"pigz -p1 -dc", append([]string{pigz, "-p1", "-dc"}, backups...)},
			{"zcat", append([]string{zcat}, backups...)},
		}},
	}
	if aks, eks, err := ensureEnvelopes(plain, filepath.Join(h.dir, "envelopes")); err != nil {
		h.notes = append(h.notes, fmt.Sprintf("export shapes not measured: %v", err))
	} else {
		warm(aks, eks)
		const byVerb = `reduce (inputs|%s|fromjson) as $e ({}; .[$e.verb] += 1)`
		tasks = append(tasks, task{"summary (AKS PT1H.json blob, 256 MiB of events)", []cmd{
			{"auditq", []string{h.auditq, "summary", "-o", "json", aks}},
			{"jq", []string{jq, "-n", fmt.Sprintf(byVerb, ".properties.log"), aks}},
			{"gojq", []string{gojq, "-n", fmt.Sprintf(byVerb, ".properties.log"), aks}},
		}}, task{"summary (CloudWatch filter-log-events pages, 256 MiB of events)", []cmd{
			{"auditq", []string{h.auditq, "summary", "-o", "json", eks}},
			{"jq", []string{jq, "-n", fmt.Sprintf(byVerb, ".events[].message"), eks}},
			{"gojq", []string{gojq, "-n", fmt.Sprintf(byVerb, ".events[].message"), eks}},
		}})
	}
	if duckq != "" {
		out := filepath.Join(h.dir, "export-out")
		copySQL := fmt.Sprintf("COPY (SELECT * FROM read_json_auto('%s', maximum_depth=2)) TO '%s' (FORMAT parquet, COMPRESSION zstd)", plain, filepath.Join(h.dir, "duckdb-copy.parquet"))
		tasks = append(tasks, task{"export to Parquet (plain 1 GiB)", []cmd{
			{"auditq export", sh("rm -rf " + out + " && " + h.auditq + " export --no-index --out " + out + " " + plain + " >/dev/null")},
			{"DuckDB COPY", []string{duckq, copySQL}},
		}})
	}
	if withBig {
		tasks = append(tasks, task{bigTask, []cmd{
			{"auditq summary", []string{h.auditq, "summary", "-o", "json", big}},
			{"auditq get", []string{h.auditq, "get", "--id", id, big}},
			{"auditq query", []string{h.auditq, "query", "-c", projection, big}},
		}})
	}
	// AUDITQ_BENCH_ONLY=archive, =export, =summary, =get or =query times those
	// tasks alone, when they are what changed.
	switch os.Getenv("AUDITQ_BENCH_ONLY") {
	case "archive":
		tasks = nil
	case "export", "summary", "get", "query":
		only := os.Getenv("AUDITQ_BENCH_ONLY")
		tasks = slices.DeleteFunc(tasks, func(t task) bool {
			return !strings.HasPrefix(t.name, only)
		})
	}
	if only := os.Getenv("AUDITQ_BENCH_ONLY"); only == "" || only == "archive" {
		h.archiveTasks(filepath.Join(h.dir, "archive", "kube-apiserver-audit.log"), stderr)
	}
	for _, t := range tasks {
		if t.name == bigTask {
			warm(big) // after the 1 GiB tasks, which may have pushed it out
		}
		var base time.Duration
		for _, c := range t.cmds {
			if c.argv[0] == "" || c.tool == "zcat|jq" && (zcat == "" || jq == "") {
				continue
			}
			fmt.Fprintf(stderr, "bench: %s: %s\n", t.name, c.tool)
			r := h.time(c.argv)
			r.task, r.tool = t.name, c.tool
			switch {
			case t.name == bigTask: // one tool, two sizes: no ratio
			case base == 0:
				base = r.median
			case base > 0 && r.median > 0:
				r.ratio = fmt.Sprintf("%.2f", float64(r.median)/float64(base))
			}
			h.rows = append(h.rows, r)
		}
	}
}

// pickID is an auditID from the middle of the log.
func pickID(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, _ := f.Stat()
	f.Seek(fi.Size()/2, io.SeekStart)
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	sc.Scan() // the rest of a line
	sc.Scan()
	line := sc.Bytes()
	i := bytes.Index(line, []byte(`"auditID":"`))
	if i < 0 {
		return ""
	}
	rest := line[i+11:]
	return string(rest[:bytes.IndexByte(rest, '"')])
}

// warm reads the inputs once, so that every tool finds them in the page cache.
func warm(paths ...string) {
	for _, p := range paths {
		if f, err := os.Open(p); err == nil {
			io.Copy(io.Discard, f)
			f.Close()
		}
	}
}

// time runs argv up to h.runs times and reports the median wall time, the
// largest peak RSS and a digest of stdout.
func (h *harness) time(argv []string) row {
	var times []time.Duration
	r := row{command: strings.Join(argv, " ")}
	for i := 0; i < h.runs; i++ {
		cmd := exec.Command(argv[0], argv[1:]...)
		sum := sha256.New()
		cmd.Stdout = sum
		var errb bytes.Buffer
		cmd.Stderr = &errb
		start := time.Now()
		err := cmd.Run()
		d := time.Since(start)
		if err != nil {
			r.command += fmt.Sprintf(" (failed: %v: %s)", err, strings.TrimSpace(errb.String()))
			r.median = -1
			return r
		}
		times = append(times, d)
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			r.rssKB = max(r.rssKB, ru.Maxrss)
		}
		r.output = hex.EncodeToString(sum.Sum(nil))[:12]
		if d > h.maxTime {
			break
		}
	}
	slices.Sort(times)
	r.runs = len(times)
	r.median = times[len(times)/2]
	return r
}

func (h *harness) report(w io.Writer, plain, rotated string) {
	fmt.Fprintf(w, "## auditq against the tools in use (%s)\n\n", time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintf(w, "Machine: %s, %d cores, %s RAM; %s; %s.\n\n", cpuModel(), runtime.NumCPU(), memTotal(), runtime.Version(), kernel())
	sizes := func(paths ...string) int64 {
		var n int64
		for _, p := range paths {
			if fi, err := os.Stat(p); err == nil {
				n += fi.Size()
			}
		}
		return n
	}
	backups, _ := filepath.Glob(filepath.Join(filepath.Dir(rotated), "*.gz"))
	fmt.Fprintf(w, "Inputs (generated by kube-apiserver's audit code, `bench.BenchPolicy` with managedFields): plain log %.2f GiB; rotated set %d gzipped backups (%.0f MB compressed) and the active log (%.0f MB). Page cache warm; median of up to %d runs.\n\n",
		float64(sizes(plain))/(1<<30), len(backups), float64(sizes(backups...))/1e6, float64(sizes(rotated))/1e6, h.runs)
	fmt.Fprintln(w, "The ratio is the tool's time divided by auditq's on the same task: above 1, auditq is that many times faster.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| task | tool | time | peak RSS | time ÷ auditq's | runs | stdout sha256 |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, r := range h.rows {
		t := "failed"
		if r.median >= 0 {
			t = fmt.Sprintf("%.2f s", r.median.Seconds())
		}
		fmt.Fprintf(w, "| %s | %s | %s | %.0f MB | %s | %d | `%s` |\n", r.task, r.tool, t, float64(r.rssKB)/1024, r.ratio, r.runs, r.output)
	}
	fmt.Fprintln(w)
	for _, n := range h.notes {
		fmt.Fprintln(w, "- "+n)
	}
	fmt.Fprintln(w, "\nCommands:")
	fmt.Fprintln(w)
	for _, r := range h.rows {
		fmt.Fprintf(w, "- %s, %s: `%s`\n", r.task, r.tool, r.command)
	}
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func memTotal() string {
	b, _ := os.ReadFile("/proc/meminfo")
	var kb int64
	fmt.Sscanf(strings.TrimPrefix(strings.SplitN(string(b), "\n", 2)[0], "MemTotal:"), "%d", &kb)
	return fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
}

func kernel() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return "Linux " + strings.TrimSpace(string(b))
}

// buildDuckq builds the DuckDB peer (a separate module: cgo) into dir, or
// returns "" when it cannot be built.
func buildDuckq(dir string, stderr io.Writer) string {
	bin := filepath.Join(dir, "duckq")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/duckq")
	cmd.Dir = filepath.Join("export", "duckdbtest")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(stderr, "bench: building duckq: %v\n%s", err, out)
		return ""
	}
	return bin
}
