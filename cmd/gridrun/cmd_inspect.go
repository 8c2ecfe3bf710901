package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/gridrun/gridrun/binstage"
	"github.com/gridrun/gridrun/cmd/internal/inspect"
	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/wrapper"
)

func newInspectCmd() *cobra.Command {
	var (
		kind, description, binary string
		compact                   bool
	)
	cmd := &cobra.Command{
		Use:   "inspect FILE",
		Short: "Print a batch, results, dead-letter or manifest file as readable JSON",
		Long: `Print one of gridrun's files as readable JSON:

  batch.pb              a call's batch file: the elements and side rows the
                        binary received, payloads decoded
  results.pb            a call's results stream: what the binary wrote,
                        payloads decoded
  results-*.jsonl       results of the output
  dead-letters-*.jsonl  dead letters of the output
  manifest.json         a job's manifest
  description.pb        a binary's description (_gridrun/description.pb)

gridrun run --keep-batch-files keeps each call's batch.pb and results.pb under
OUTPUT/calls/call-*/. Their payloads are decoded with the binary's message
types, read from the _gridrun/description.pb of the output directory above
FILE, from --description, or by asking --binary.

The kind of file is told from its name and content; --kind forces it.`,
		Example: `  gridrun run --keep-batch-files ... --output out
  gridrun inspect out/calls/call-1234/batch.pb
  gridrun inspect out/dead-letters-00000.jsonl --compact | grep timeout`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			var k inspect.Kind
			var err error
			if kind != "" {
				k, err = inspect.ParseKind(kind)
				if err != nil {
					return usageError("--kind: %v", err)
				}
			} else if k, err = inspect.Detect(path); err != nil {
				return usageError("%v", err)
			}
			opts := &inspect.Options{Compact: compact}
			if k.NeedsSchema() {
				if opts.Schema, err = inspectSchema(cmd.Context(), path, description, binary); err != nil {
					return err
				}
			}
			return inspect.Print(cmd.OutOrStdout(), path, k, opts)
		},
	}
	f := cmd.Flags()
	var kinds []string
	for _, k := range inspect.Kinds {
		kinds = append(kinds, string(k))
	}
	choiceVar(f, &kind, "kind", "", "what FILE holds, when its name does not say: "+listed(kinds), kinds...)
	f.StringVar(&description, "description", "", "a saved description (_gridrun/description.pb) giving the binary's message types")
	f.StringVar(&binary, "binary", "", "a binary to ask for its message types (--gridrun-describe)")
	f.BoolVar(&compact, "compact", false, "print each JSON value on one line")
	cmd.MarkFlagsMutuallyExclusive("description", "binary")
	cmd.MarkFlagFilename("description", "pb")
	cmd.MarkFlagFilename("binary")
	return cmd
}

// inspectSchema finds the binary's message types: --description, --binary,
// or the description saved in the output directory above path. Without
// any, payloads are shown as base64.
func inspectSchema(ctx context.Context, path, description, binary string) (*wrapper.Schema, error) {
	switch {
	case description != "":
		s, err := inspect.ReadSchema(description)
		if err != nil {
			return nil, &grid.ConfigError{Err: err}
		}
		return s, nil
	case binary != "":
		staged, err := binstage.Stage(ctx, binary, nil)
		if err != nil {
			return nil, &grid.ConfigError{Err: err}
		}
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		image, err := staged.Open()
		if err != nil {
			return nil, &grid.ConfigError{Err: err}
		}
		defer image.Close()
		s, err := wrapper.Describe(dctx, wrapper.Binary{Path: staged.Source, Image: image})
		if err != nil {
			return nil, &grid.ConfigError{Err: err}
		}
		return s, nil
	}
	found, err := inspect.FindDescription(path)
	if err != nil {
		return nil, err
	}
	if found == "" {
		slog.Warn(fmt.Sprintf("no _gridrun/description.pb above %s: payloads are shown as base64; give --description or --binary to decode them", path))
		return nil, nil
	}
	return inspect.ReadSchema(found)
}
