package grid

import "github.com/gridrun/gridrun/outdir"

// The records of an output directory (package outdir), under the names
// grid's API has always given them.
type (
	Manifest         = outdir.Manifest
	BinaryInfo       = outdir.BinaryInfo
	InputInfo        = outdir.InputInfo
	JoinInfo         = outdir.JoinInfo
	ExecStats        = outdir.ExecStats
	BatchSizes       = outdir.BatchSizes
	HistogramSummary = outdir.HistogramSummary
	Bucket           = outdir.Bucket
	CallRecord       = outdir.CallRecord
	DeadLetter       = outdir.DeadLetter
)

// Dead-letter kinds: see outdir.
const (
	KindBadInput        = outdir.KindBadInput
	KindElementError    = outdir.KindElementError
	KindCrash           = outdir.KindCrash
	KindBadOutput       = outdir.KindBadOutput
	KindTimeout         = outdir.KindTimeout
	KindMissingJoin     = outdir.KindMissingJoin
	KindBadJoinRow      = outdir.KindBadJoinRow
	KindJoinUnavailable = outdir.KindJoinUnavailable
)

// ReadManifest reads the manifest of a finished job from a local output
// directory.
func ReadManifest(dir string) (*Manifest, error) { return outdir.ReadManifest(dir) }
