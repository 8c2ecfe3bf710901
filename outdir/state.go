package outdir

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/gridrun/gridrun/jobspec"
)

// State is kept in the output directory (StateFile) from a job's first
// start, so that a resume is checked against the job that wrote the
// output.
type State struct {
	JobID string `json:"job_id"`
	// Engine is "local", or "beam" for a job run on a Beam runner: each
	// resumes only its own outputs (their layouts differ).
	Engine string   `json:"engine"`
	SHA256 string   `json:"binary_sha256"`
	Inputs []string `json:"inputs"`
	// Runs counts the runs started, this one included.
	Runs         int    `json:"runs"`
	OutputFormat string `json:"output_format"`
	// OutputShards is the number of output files of a Beam run, whose
	// files a resumed run replaces one for one.
	OutputShards int `json:"output_shards,omitempty"`
	// Fingerprint is what the results depend on, from the first run (a
	// state written before fingerprints were recorded has none, and takes
	// its first resume's).
	Fingerprint *Fingerprint `json:"fingerprint,omitempty"`
}

// Engines, for State.Engine.
const (
	EngineLocal = "local"
	EngineBeam  = "beam"
)

// Resume returns the state of a run that resumes the job whose state is
// have, or an *jobspec.Error saying why want cannot resume it. want.JobID
// is "" unless the job names its id.
func Resume(have, want State) (State, error) {
	if have.Engine == "" {
		have.Engine = EngineLocal // the state of a job written before engines were recorded
	}
	switch {
	case have.Engine != want.Engine:
		return have, jobspec.Errorf("cannot resume: the output was written by the %s engine, this job runs on the %s engine", have.Engine, want.Engine)
	case have.SHA256 != want.SHA256:
		return have, jobspec.Errorf("cannot resume: the output was produced by binary sha256 %s, this job runs %s", have.SHA256, want.SHA256)
	case !slices.Equal(have.Inputs, want.Inputs):
		return have, jobspec.Errorf("cannot resume: the output was produced from inputs %v, this job reads %v", have.Inputs, want.Inputs)
	case have.OutputFormat != want.OutputFormat:
		return have, jobspec.Errorf("cannot resume: the output was written as %s, this job writes %s", have.OutputFormat, want.OutputFormat)
	case have.OutputShards != want.OutputShards:
		return have, jobspec.Errorf("cannot resume: the output was written in %d shards, this job writes %d (give --output-shards %d)", have.OutputShards, want.OutputShards, have.OutputShards)
	case want.JobID != "" && want.JobID != have.JobID:
		return have, jobspec.Errorf("cannot resume: the output belongs to job %s, not %s", have.JobID, want.JobID)
	}
	if have.Fingerprint == nil {
		have.Fingerprint = want.Fingerprint
	} else if want.Fingerprint != nil {
		if changes := have.Fingerprint.Changes(want.Fingerprint); len(changes) > 0 {
			return have, changedError(changes)
		}
	}
	have.Runs++
	return have, nil
}

// Start returns the state of a job's first run.
func Start(want State) State {
	if want.JobID == "" {
		want.JobID = NewJobID()
	}
	want.Runs = 1
	return want
}

// DecodeState reads a state file's bytes; name is for the error.
func DecodeState(b []byte, name string) (State, error) {
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%s: %w", name, err)
	}
	return s, nil
}

// Encode renders the state as its file's bytes.
func (s State) Encode() []byte {
	b, _ := json.MarshalIndent(s, "", "  ") // strings and numbers always marshal
	return append(b, '\n')
}

// NewJobID returns a new job id: the UTC start time and random bits, so
// that ids sort by time and never collide.
func NewJobID() string {
	b := make([]byte, 4)
	rand.Read(b)
	return time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b)
}
