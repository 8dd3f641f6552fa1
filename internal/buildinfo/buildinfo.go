// Package buildinfo says which build of pomocore is running: the module
// version, the VCS revision and the Go version, as the Go toolchain
// recorded them in the binary.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Info is the build of the running binary.
type Info struct {
	// Version is the main module's version ("(devel)" for a build from a
	// work tree, "unknown" when the binary carries no build information).
	Version string
	// Revision is the VCS revision, shortened to 12 characters ("unknown"
	// when the build did not record it, as `go test` and `go run` do not).
	Revision string
	// Modified is whether the work tree had uncommitted changes.
	Modified bool
	// GoVersion is the Go toolchain's version.
	GoVersion string
}

// Read returns the build of the running binary.
func Read() Info {
	in := Info{Version: "unknown", Revision: "unknown", GoVersion: runtime.Version()}
	b, ok := debug.ReadBuildInfo()
	if !ok {
		return in
	}
	if b.Main.Version != "" {
		in.Version = b.Main.Version
	}
	for _, s := range b.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Revision = s.Value[:min(12, len(s.Value))]
		case "vcs.modified":
			in.Modified = s.Value == "true"
		}
	}
	return in
}
