// Command auditq reads Kubernetes API-server audit logs. The command itself
// is package internal/cli; this is its entry point.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/auditq/auditq/internal/cli"
)

func main() {
	// `auditq cat … | head` should end quietly: with SIGPIPE ignored, writes
	// return EPIPE and the command stops reading.
	signal.Ignore(syscall.SIGPIPE)
	name, args := cli.Invoked(os.Args[0], os.Args[1:])
	os.Exit(profiled(func() int { return cli.RunAs(name, args, os.Stdin, os.Stdout, os.Stderr) }))
}

// profiled runs f with a CPU profile written to $AUDITQ_CPUPROFILE, if set:
// how the benchmark figures are looked into, and default.pgo is made.
func profiled(f func() int) int {
	path := os.Getenv("AUDITQ_CPUPROFILE")
	if path == "" {
		return f()
	}
	out, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "auditq: AUDITQ_CPUPROFILE:", err)
		return f()
	}
	defer out.Close()
	if err := pprof.StartCPUProfile(out); err != nil {
		fmt.Fprintln(os.Stderr, "auditq: AUDITQ_CPUPROFILE:", err)
		return f()
	}
	defer pprof.StopCPUProfile()
	return f()
}
