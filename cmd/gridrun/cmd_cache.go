package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/gridrun/gridrun/resultcache"
)

func newCacheCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "See the size of a result cache and prune it",
		Long: `A result cache (run --result-cache DIR|gs://BUCKET/PREFIX) keeps each element's
result under a key over everything that produced it: the binary's sha256, its
arguments and environment, the element, its join rows, its scenario and the
common data. See docs/incremental.md.

Cloud Storage access uses Application Default Credentials, or the emulator at
STORAGE_EMULATOR_HOST (host:port) when that is set.`,
		Example: `  gridrun cache stats /data/gridrun-cache
  gridrun cache prune gs://my-bucket/gridrun-cache --older-than 720h
  gridrun cache prune /data/gridrun-cache --older-than 2026-11-01`,
	}
	cmd.AddCommand(newCacheStatsCmd(), newCachePruneCmd())
	return cmd
}

func newCacheStatsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "stats CACHE",
		Short: "Print a result cache's entries, bytes and the age of its packs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCacheStats(cmd.Context(), cmd.OutOrStdout(), args[0])
		},
	}
}

func runCacheStats(ctx context.Context, w io.Writer, uri string) error {
	s, err := resultcache.Inspect(ctx, uri, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "cache %s\n", uri)
	fmt.Fprintf(w, "  %d entries in %d packs, %d bytes\n", s.Entries, s.Packs, s.Bytes)
	if s.Packs > 0 {
		fmt.Fprintf(w, "  oldest %s, newest %s\n", s.Oldest.UTC().Format(time.RFC3339), s.Newest.UTC().Format(time.RFC3339))
	}
	if s.BadIndexes > 0 {
		fmt.Fprintf(w, "  %d indexes do not check: their entries are recomputed\n", s.BadIndexes)
	}
	return nil
}

func newCachePruneCmd() *cobra.Command {
	var olderThan string
	cmd := &cobra.Command{
		Use:   "prune CACHE --older-than DATE|DURATION",
		Short: "Remove the entries of a result cache written before a date",
		Long: `Remove the packs of entries written before --older-than: an RFC 3339 time, a
date (2026-11-01, UTC midnight), or a duration before now (720h). A job that
has the cache open reads a pruned entry as a miss and computes it again.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cutoff, err := parseCutoff(olderThan, time.Now())
			if err != nil {
				return err
			}
			return runCachePrune(cmd.Context(), cmd.OutOrStdout(), args[0], cutoff)
		},
	}
	cmd.Flags().StringVar(&olderThan, "older-than", "", "remove what was written before this RFC 3339 time, date (2006-01-02) or duration before now (required)")
	cmd.MarkFlagRequired("older-than")
	return cmd
}

// parseCutoff reads --older-than: a time, a date or a duration before now.
func parseCutoff(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, usageError("--older-than %q: a duration must not be negative", s)
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, usageError("--older-than %q: want an RFC 3339 time (2026-11-20T21:00:00Z), a date (2026-11-20) or a duration (720h)", s)
}

func runCachePrune(ctx context.Context, w io.Writer, uri string, cutoff time.Time) error {
	r, err := resultcache.Prune(ctx, uri, cutoff, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "removed %d packs (%d bytes) written before %s\n", r.Packs, r.Bytes, cutoff.UTC().Format(time.RFC3339))
	return nil
}
