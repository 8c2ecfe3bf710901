package main

import (
	"cmp"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// Set by the Makefile with -ldflags -X, from git, for builds that carry no
// VCS information of their own: CI builds with GOFLAGS=-buildvcs=false,
// and the go command stamps nothing then. A build with VCS information
// prefers its own, which cannot go stale.
var (
	revision  string // git rev-parse HEAD
	modified  string // "true" when the work tree had changes
	buildTime string // RFC 3339, UTC
)

// buildVersion is what `gridrun version` and `gridrun --version` say.
type buildVersion struct {
	Module    string // the module version, "(devel)" for a build from a checkout
	Revision  string // the VCS revision, "" when unknown
	Modified  bool   // built from a work tree with changes
	Committed string // the revision's commit time
	Built     string // the build time, when the Makefile recorded it
	Go        string
}

// readVersion reads the version from the build information, falling back
// to what the Makefile injected.
func readVersion() buildVersion {
	v := buildVersion{Module: "(devel)", Go: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v.Module = cmp.Or(bi.Main.Version, v.Module)
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Revision = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			case "vcs.time":
				v.Committed = s.Value
			}
		}
	}
	if v.Revision == "" {
		v.Revision, v.Modified = revision, modified == "true"
	}
	v.Built = buildTime
	return v
}

// String is the version as printed: the module version and the revision
// on the first line, for scripts; the rest for people.
func (v buildVersion) String() string {
	var b strings.Builder
	rev := v.Revision
	switch {
	case rev == "":
		rev = "unknown revision (built without VCS information: build with make build, or go build in a git checkout)"
	case v.Modified:
		rev += " (modified)"
	}
	fmt.Fprintf(&b, "gridrun %s %s\n", v.Module, rev)
	if v.Committed != "" {
		fmt.Fprintf(&b, "  committed %s\n", v.Committed)
	}
	if v.Built != "" {
		fmt.Fprintf(&b, "  built     %s\n", v.Built)
	}
	fmt.Fprintf(&b, "  go        %s\n", v.Go)
	fmt.Fprintf(&b, "  protocol  gridrun.v1\n")
	return b.String()
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print gridrun's version: module version, VCS revision, build time, protocol",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprint(cmd.OutOrStdout(), readVersion())
			return nil
		},
	}
}

// addVersionFlag gives the root command --version, printing what the
// version command prints.
func addVersionFlag(root *cobra.Command) {
	root.Version = readVersion().String()
	root.SetVersionTemplate("{{.Version}}")
}
