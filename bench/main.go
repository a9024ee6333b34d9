// Command bench writes audit logs with kube-apiserver's own audit code, for the
// repository's fixtures and for benchmarks.
//
//	go run ./bench fixtures            # rewrite testdata/ (deterministic)
//	go run ./bench gen -dir DIR [...]  # write a log of any size
//	go run ./bench harness [...]       # time auditq against jq, gojq, grep, rg, zcat, pigz
//	go run ./bench latency [...]       # how soon cat -F prints a line lumberjack writes
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/auditq/auditq/internal/fixture"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: go run ./bench fixtures | gen -dir DIR [-requests N] [-seed S] [-maxsize MB] [-compress] | harness [-dir DIR] [-size GiB] [-big GiB] [-runs N] [-o FILE] | latency [-n N] [-every D]")
		return 2
	}
	switch args[0] {
	case "fixtures":
		dir := filepath.Join("testdata", fixture.Testdata.Dir)
		if err := os.RemoveAll(dir); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
		l, err := fixture.Testdata.Write(dir)
		if err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s: %d events of %d requests, %d rotations\n", dir, len(l.Events), l.Requests, len(l.Rotations))
		return 0
	case "harness":
		return runHarness(args[1:], stdout, stderr)
	case "latency":
		return runLatency(args[1:], stdout, stderr)
	case "gen":
		fs := flag.NewFlagSet("gen", flag.ContinueOnError)
		fs.SetOutput(stderr)
		dir := fs.String("dir", "", "output directory (required)")
		name := fs.String("name", "kube-apiserver-audit.log", "active log name")
		requests := fs.Int("requests", 100000, "number of API requests")
		seed := fs.Uint64("seed", 1, "random seed")
		maxSize := fs.Int("maxsize", 0, "rotate at this many MB (0: one file, no rotation)")
		compress := fs.Bool("compress", true, "gzip rotated backups")
		policy := fs.String("policy", "", "audit policy file, or \"bench\" for fixture.BenchPolicy (default: fixture.DefaultPolicy)")
		managed := fs.Bool("managedfields", false, "give objects realistic metadata.managedFields")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		if *dir == "" {
			fmt.Fprintln(stderr, "bench gen: -dir is required")
			return 2
		}
		cfg := fixture.Config{Seed: *seed, Requests: *requests, ManagedFields: *managed}
		if *policy == "bench" {
			cfg.Policy = fixture.BenchPolicy
		} else if *policy != "" {
			b, err := os.ReadFile(*policy)
			if err != nil {
				fmt.Fprintln(stderr, "bench:", err)
				return 1
			}
			cfg.Policy = string(b)
		}
		var l *fixture.Ledger
		var err error
		if *maxSize > 0 {
			l, err = fixture.WriteRotated(*dir, *name, *maxSize, *compress, cfg)
		} else {
			l, err = writeOne(filepath.Join(*dir, *name), cfg)
		}
		if err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s: %d events of %d requests, %d rotations\n", *dir, len(l.Events), l.Requests, len(l.Rotations))
		return 0
	}
	fmt.Fprintf(stderr, "bench: unknown command %q\n", args[0])
	return 2
}

func writeOne(path string, cfg fixture.Config) (*fixture.Ledger, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	l, err := fixture.Write(f, cfg)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return l, err
}
