package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/auditq/auditq/internal/fixture"
)

// runLatency measures how long `auditq cat -F` takes to print a line after
// a lumberjack logger writes it: one line every -every, rotating at 1 MB.
func runLatency(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("latency", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 400, "lines to time")
	every := fs.Duration("every", 20*time.Millisecond, "pause between lines")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	dir, err := os.MkdirTemp("", "auditq-latency-")
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "auditq")
	if b, err := exec.Command("go", "build", "-o", bin, "./cmd/auditq").CombinedOutput(); err != nil {
		fmt.Fprintf(stderr, "bench: go build: %v\n%s", err, b)
		return 1
	}
	var buf bytes.Buffer
	if _, err := fixture.Write(&buf, fixture.Config{Seed: 3, Requests: *n, ManagedFields: true}); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	lines := bytes.SplitAfter(buf.Bytes(), []byte("\n"))
	lines = lines[:min(len(lines)-1, *n)]
	path := filepath.Join(dir, "kube-apiserver-audit.log")
	lj := &lumberjack.Logger{Filename: path, MaxSize: 1, Compress: true}
	defer lj.Close()
	lj.Write(lines[0])
	cmd := exec.Command(bin, "cat", "-F", path)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	defer cmd.Process.Kill()
	rd := bufio.NewReaderSize(out, 1<<20)
	if _, err := rd.ReadString('\n'); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	var lat []time.Duration
	for _, l := range lines[1:] {
		time.Sleep(*every)
		start := time.Now()
		lj.Write(l)
		got, err := rd.ReadString('\n')
		if err != nil || got != string(l) {
			fmt.Fprintln(stderr, "bench: follower printed something else")
			return 1
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))].Round(time.Millisecond) }
	fmt.Fprintf(stdout, "cat -F, %d lines written one every %v through lumberjack (1 MB rotation): latency median %v, p90 %v, p99 %v, max %v\n",
		len(lat), *every, q(0.5), q(0.9), q(0.99), lat[len(lat)-1].Round(time.Millisecond))
	return 0
}
