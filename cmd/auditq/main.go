// Command auditq reads Kubernetes API-server audit logs.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

func main() {
	// `auditq cat … | head` should end quietly: with SIGPIPE ignored, writes
	// return EPIPE and run stops reading.
	signal.Ignore(syscall.SIGPIPE)
	os.Exit(profiled(func() int { return run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr) }))
}

// profiled runs f with a CPU profile written to $AUDITQ_CPUPROFILE, if set:
// how the benchmark figures in the README are looked into.
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
