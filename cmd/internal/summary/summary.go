// Package summary prints the few lines that end a job on the terminal,
// from its manifest: the same for the local engine and for Beam runs.
package summary

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/gridrun/gridrun/outdir"
)

// Write prints the summary of the job whose manifest is m and whose output
// is out.
func Write(w io.Writer, m *outdir.Manifest, out string) {
	fmt.Fprintf(w, "job %s: %s\n", m.JobID, m.Status)
	fmt.Fprintf(w, "  %d elements: %d results, %d dead letters", m.Elements, m.Results, m.DeadLetters)
	if len(m.DeadLettersByKind) > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(m.DeadLettersByKind)) {
			parts = append(parts, fmt.Sprintf("%s %d", k, m.DeadLettersByKind[k]))
		}
		fmt.Fprintf(w, " (%s)", strings.Join(parts, ", "))
	}
	fmt.Fprintln(w)
	if sc := m.Scenarios; sc != nil {
		fmt.Fprintf(w, "  under %d scenarios of %s\n", sc.Count, sc.File)
	}
	fmt.Fprintf(w, "  %d batches, %d subprocess calls, %.2fs, %.0f elements/s\n", m.Batches, m.Calls, m.WallSeconds, m.ThroughputPerSecond)
	// Twelve hex digits name the binary to a person; the manifest keeps
	// all of them, and a full sha256 would wrap the line at 80 columns.
	sha := m.Binary.SHA256
	if len(sha) > 12 {
		sha = sha[:12]
	}
	fmt.Fprintf(w, "  binary %s sha256 %s\n", m.Binary.URI, sha)
	if c := m.Common; c != nil {
		fmt.Fprintf(w, "  common %s (%s, %d bytes) sha256 %s\n", c.Source, c.Type, c.Bytes, c.SHA256[:min(12, len(c.SHA256))])
	}
	if m.Join != nil {
		fmt.Fprintf(w, "  join %s: %d reads, %d rows, %d cache hits, %d keys missing", m.Join.Source, m.Join.Reads, m.Join.Rows, m.Join.CacheHits, m.Join.Missing)
		if m.Join.BadRows > 0 {
			fmt.Fprintf(w, ", %d rows that do not convert", m.Join.BadRows)
		}
		if m.Join.Unavailable {
			fmt.Fprintf(w, ", unavailable after %d retries (%d reads failed)", m.Join.Retries, m.Join.Failures)
		}
		fmt.Fprintln(w)
	}
	if c := m.ResultCache; c != nil {
		fmt.Fprintf(w, "  result cache %s (%s): %d hits, %d misses, %d reads for %d batches, %d stored", c.URI, c.Mode, c.Hits, c.Misses, c.Reads, c.Lookups, c.Stored)
		if c.Corrupt > 0 {
			fmt.Fprintf(w, ", %d corrupt entries recomputed", c.Corrupt)
		}
		if c.StoreFailures > 0 {
			fmt.Fprintf(w, ", %d packs not stored", c.StoreFailures)
		}
		fmt.Fprintln(w)
	}
	for _, a := range m.Aggregates {
		fmt.Fprintf(w, "  aggregate %s: %d groups in %s\n", a.Spec, a.Groups, a.File)
	}
	fmt.Fprintf(w, "  output %s\n", out)
}
