// Command auditq reads Kubernetes API-server audit logs.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// `auditq cat … | head` should end quietly: with SIGPIPE ignored, writes
	// return EPIPE and run stops reading.
	signal.Ignore(syscall.SIGPIPE)
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
