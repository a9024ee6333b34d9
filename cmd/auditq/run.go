package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/auditq/auditq/auditlog"
)

// Exit statuses, as gojq's, so that jq users feel at home.
const (
	exitOK       = 0
	exitUsage    = 2
	exitBadInput = 5 // some input could not be read or had bad lines
)

var version = "devel"

const usage = `auditq reads Kubernetes API-server audit logs: plain, gzip or zstd, rotated
sets and directories.

Usage:
  auditq cat [FILE|DIR|-]...   print every event as one JSON line, in order

Inputs:
  An active log (kube-apiserver-audit.log) is read with its lumberjack backups
  (kube-apiserver-audit-<time>.log[.gz]), oldest first, the active file last.
  A directory is read as the audit logs in it. Files are read in the order
  given; a file named twice is read once. With no FILE, or -, standard input.

Exit status: 0 ok, 2 usage error, 5 some input was unreadable or malformed
(each problem is reported on stderr with file:line:column and byte offset;
the events around it are still printed).

Flags:
  -h, --help     show this help
  --version      print the version
`

// stdinIsTerminal is replaced in tests.
var stdinIsTerminal = func(f io.Reader) bool {
	file, ok := f.(*os.File)
	if !ok {
		return false
	}
	fi, err := file.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, "auditq: missing command\n\n"+usage)
		return exitUsage
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	case "--version", "version":
		fmt.Fprintln(stdout, "auditq", version)
		return exitOK
	case "cat":
		return cat(args[1:], stdin, stdout, stderr)
	}
	fmt.Fprintf(stderr, "auditq: unknown command %s\n\n%s", quoteArg(args[0]), usage)
	return exitUsage
}

func cat(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var paths []string
	useStdin := false
	for _, a := range args {
		switch {
		case a == "-h" || a == "--help":
			fmt.Fprint(stdout, usage)
			return exitOK
		case a == "-":
			useStdin = true
		case strings.HasPrefix(a, "-"):
			fmt.Fprintf(stderr, "auditq: unknown flag %s\n", quoteArg(a))
			return exitUsage
		default:
			paths = append(paths, a)
		}
	}
	if len(paths) == 0 {
		if stdinIsTerminal(stdin) {
			fmt.Fprint(stderr, "auditq: no input: give a file or directory, or pipe a log to stdin\n")
			return exitUsage
		}
		useStdin = true
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	out := bufio.NewWriterSize(stdout, 256<<10)
	defer out.Flush()
	p := &printer{out: out, errOut: stderr, terminal: isTerminal(stdout)}
	if useStdin {
		rd, err := auditlog.NewReader(stdin, auditlog.WithName("<stdin>"))
		if err != nil {
			p.report(err)
		} else {
			for ev, err := range rd.All() {
				if !p.handle(ev, err) {
					break
				}
			}
			rd.Close()
		}
	}
	if len(paths) > 0 {
		for ev, err := range auditlog.ReadFiles(ctx, paths) {
			if !p.handle(ev, err) {
				break
			}
		}
	}
	if err := out.Flush(); err != nil && p.writeErr == nil {
		p.writeErr = err
		if errors.Is(err, syscall.EPIPE) {
			p.writeErr = errBrokenPipe
		}
	}
	if p.writeErr != nil {
		if errors.Is(p.writeErr, errBrokenPipe) {
			return exitOK
		}
		fmt.Fprintf(stderr, "auditq: write: %v\n", p.writeErr)
		return exitBadInput
	}
	if p.errors > 0 {
		fmt.Fprintf(stderr, "auditq: %d problem(s) in the input; %d events printed\n", p.errors, p.events)
		return exitBadInput
	}
	return exitOK
}

type printer struct {
	out      *bufio.Writer
	errOut   io.Writer
	terminal bool
	events   int
	errors   int
	writeErr error
	compact  bytes.Buffer
}

var errBrokenPipe = errors.New("broken pipe")

// handle prints an event or reports an error; false stops reading.
func (p *printer) handle(ev *auditlog.Event, err error) bool {
	if err != nil {
		if errors.Is(err, context.Canceled) {
			p.report(errors.New("interrupted"))
			return false
		}
		p.report(err)
		return true
	}
	raw := ev.Raw()
	if bytes.IndexByte(raw, '\n') >= 0 {
		// A pretty-printed event: keep the output one event per line.
		p.compact.Reset()
		if json.Compact(&p.compact, raw) == nil {
			raw = p.compact.Bytes()
		}
	}
	if p.terminal {
		raw = escapeForTerminal(raw)
	}
	p.out.Write(raw)
	if err := p.out.WriteByte('\n'); err != nil {
		p.writeErr = err
		if errors.Is(err, syscall.EPIPE) {
			p.writeErr = errBrokenPipe
		}
		return false
	}
	p.events++
	return true
}

func (p *printer) report(err error) {
	p.errors++
	p.out.Flush()
	fmt.Fprintf(p.errOut, "auditq: %s\n", escapeForTerminal([]byte(err.Error())))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// escapeForTerminal makes attacker-controlled bytes (a userAgent can carry ANSI
// and OSC sequences) inert: C0 controls other than tab, DEL, C1 controls and
// invalid UTF-8 become visible \u/\x escapes.
func escapeForTerminal(b []byte) []byte {
	clean := true
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r < 0x20 && r != '\t' || r == 0x7f || r >= 0x80 && r <= 0x9f || r == utf8.RuneError && size == 1 {
			clean = false
			break
		}
		i += size
	}
	if clean {
		return b
	}
	var out bytes.Buffer
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&out, `\x%02x`, b[i])
		case r < 0x20 && r != '\t' || r == 0x7f || r >= 0x80 && r <= 0x9f:
			fmt.Fprintf(&out, `\u%04x`, r)
		default:
			out.Write(b[i : i+size])
		}
		i += size
	}
	return out.Bytes()
}

func quoteArg(s string) string { return string(escapeForTerminal([]byte(fmt.Sprintf("%q", s)))) }
