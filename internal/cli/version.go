package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is the release, when a packager sets it with
// -ldflags "-X github.com/auditq/auditq/internal/cli.version=v1.2.3";
// otherwise the build info's module version is used.
var version = ""

// BuildVersion describes this build from runtime/debug.ReadBuildInfo: the
// module version (v1.2.3 from `go install …@v1.2.3`, a pseudo-version or
// (devel) from `go build` in a clone), the VCS revision and whether the
// tree had changes, and the Go version and platform, e.g.
// "v0.4.0 (commit 88a3943c1d2e, 2026-12-02T11:40:00Z) go1.26.8 linux/amd64".
func BuildVersion() string {
	return describeBuild(debug.ReadBuildInfo())
}

func describeBuild(info *debug.BuildInfo, ok bool) string {
	v, goVersion := version, runtime.Version()
	var rev, when string
	modified := false
	if ok {
		if v == "" {
			v = info.Main.Version
		}
		goVersion = info.GoVersion
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	out := v
	if rev != "" {
		rev = rev[:min(len(rev), 12)]
		if modified {
			rev += "-dirty"
		}
		out += " (commit " + rev
		if when != "" {
			out += ", " + when
		}
		out += ")"
	}
	return fmt.Sprintf("%s %s %s/%s", out, goVersion, runtime.GOOS, runtime.GOARCH)
}
