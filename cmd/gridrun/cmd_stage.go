package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/gridrun/gridrun/binstage"
	"github.com/gridrun/gridrun/grid"
)

func newStageCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stage",
		Short: "Publish, list and fetch versioned binaries",
		Long: `Publish a binary once per version, and let every machine run exactly those
bytes. A version is immutable: its binary and a manifest (sha256, size,
platform, date, revision) live side by side,

  gs://my-bucket/bins/pricer@1.4.2  ->  gs://my-bucket/bins/pricer/1.4.2/pricer
                                        gs://my-bucket/bins/pricer/1.4.2/manifest.json

and pushing an existing version fails. file:///DIR/NAME@VERSION does the same
in a local directory.

Cloud Storage access uses Application Default Credentials, or the emulator at
STORAGE_EMULATOR_HOST (host:port) when that is set.`,
		Example: `  gridrun stage push bin/pricer gs://my-bucket/bins/pricer@1.4.2
  gridrun stage list gs://my-bucket/bins/pricer
  gridrun stage fetch gs://my-bucket/bins/pricer@1.4.2
  gridrun run --binary gs://my-bucket/bins/pricer@1.4.2 ...`,
	}
	cmd.AddCommand(newStagePushCmd(), newStageListCmd(), newStageFetchCmd())
	return cmd
}

func newStagePushCmd() *cobra.Command {
	var o binstage.PushOptions
	cmd := &cobra.Command{
		Use:   "push BINARY URI@VERSION",
		Short: "Publish a binary as a new version and print its sha256",
		Long: `Upload BINARY, then its manifest, as URI@VERSION, and print the binary's
sha256 and the version's URI. Fails if the version exists.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStagePush(cmd.Context(), cmd.OutOrStdout(), o, args[0], args[1])
		},
	}
	cmd.Flags().StringVar(&o.Revision, "revision", "", "source revision to record in the manifest, e.g. a git commit")
	cmd.Flags().StringVar(&o.Platform, "platform", "", "platform to record, as GOOS/GOARCH (default: read from the binary's ELF header)")
	return cmd
}

func runStagePush(ctx context.Context, w io.Writer, o binstage.PushOptions, binary, uri string) error {
	m, err := binstage.Push(ctx, binary, uri, &o)
	if err != nil {
		return stageError(err)
	}
	// The sha256sum layout: the hash first, for scripts.
	fmt.Fprintf(w, "%s  %s\n", m.SHA256, m.URI)
	return nil
}

func newStageListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list URI",
		Short: "List the published versions of a binary",
		Long:  `List the versions published under URI (a name without @VERSION), oldest first.`,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStageList(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0])
		},
	}
}

func runStageList(ctx context.Context, w, errw io.Writer, uri string) error {
	vs, err := binstage.List(ctx, uri, nil)
	if err != nil {
		return stageError(err)
	}
	if len(vs) == 0 {
		fmt.Fprintf(errw, "no versions published under %s\n", uri)
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tSHA256\tSIZE\tCREATED\tPLATFORM\tREVISION")
	for _, v := range vs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.Version, v.SHA256, formatSize(v.Size),
			v.Created.UTC().Format("2006-01-02 15:04:05Z"), dash(v.Platform), dash(v.Revision))
	}
	return tw.Flush()
}

func newStageFetchCmd() *cobra.Command {
	var o binstage.Options
	cmd := &cobra.Command{
		Use:   "fetch URI@VERSION",
		Short: "Fetch a version into the local cache and print its path",
		Long: `Fetch the binary into this machine's cache (once: a verified cached copy is
reused), check its sha256 against the manifest and --sha256, and print the
path of the cached copy.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStageFetch(cmd.Context(), cmd.OutOrStdout(), o, args[0])
		},
	}
	cmd.Flags().StringVar(&o.SHA256, "sha256", "", "expected sha256; must match the manifest")
	cmd.Flags().StringVar(&o.CacheDir, "cache-dir", "", "where staged binaries are kept (default $GRIDRUN_CACHE_DIR or the user cache dir)")
	return cmd
}

func runStageFetch(ctx context.Context, w io.Writer, o binstage.Options, uri string) error {
	s, err := binstage.Stage(ctx, uri, &o)
	if err != nil {
		// As for run: this binary is not one a job may start.
		var re *binstage.RefError
		if errors.As(err, &re) {
			return stageError(err)
		}
		return &grid.ConfigError{Err: err}
	}
	fmt.Fprintln(w, s.Path)
	return nil
}

// stageError gives a malformed reference the usage exit code.
func stageError(err error) error {
	var re *binstage.RefError
	if errors.As(err, &re) {
		return &exitError{code: exitUsage, err: err}
	}
	return err
}

func formatSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n)/unit, 0
	for ; v >= unit && i < 3; i++ {
		v /= unit
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGT"[i])
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
