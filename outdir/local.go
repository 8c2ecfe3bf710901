package outdir

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gridrun/gridrun/internal/atomicfile"
	"github.com/gridrun/gridrun/jobspec"
)

// The local engine's side of the contract: a local directory, written in
// place, with a journal.

// CheckNew refuses a non-empty output directory unless resuming, before a
// job does anything else.
func CheckNew(dir string, resume bool) error {
	entries, err := os.ReadDir(dir)
	if err == nil && !isNew(dir, entries) && !resume {
		return notEmpty(dir)
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return &jobspec.Error{Err: err}
	}
	return nil
}

func notEmpty(dir string) error {
	return jobspec.Errorf("output directory %s is not empty: use --resume to continue the job that wrote it, or choose a new directory", dir)
}

// Prepare makes a local output directory ready for a run: new and empty
// (but for a saved standard input, see SavedInputOnly), or, with resume,
// cleared of everything the journal does not hold. resultExts are the
// extensions results shards may have. It returns the open journal and its
// commits.
func Prepare(dir string, resume bool, resultExts []string) (*Journal, []Commit, error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, nil, &jobspec.Error{Err: err}
		}
	case err != nil:
		return nil, nil, &jobspec.Error{Err: err}
	case len(entries) == 0 || isNew(dir, entries) && (!resume || !savedInput(dir)):
		// a new job
	case !resume:
		return nil, nil, notEmpty(dir)
	default:
		if _, err := os.Stat(filepath.Join(dir, JournalFile)); err != nil {
			return nil, nil, jobspec.Errorf("output directory %s holds no gridrun journal (%s); there is nothing to resume", dir, JournalFile)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, StateDir), 0o755); err != nil {
		return nil, nil, err
	}
	j, commits, err := OpenJournal(dir)
	if err != nil {
		return nil, nil, err
	}
	// Shards the journal does not name were never committed.
	committed := map[string]bool{}
	for _, c := range commits {
		for _, ext := range resultExts {
			committed[ResultsName(c.Seq)+ext] = true
		}
		committed[DeadLettersName(c.Seq)] = true
		committed[PartialsName(c.Seq)] = true
	}
	// Aggregates files are written at a job's end, from the committed
	// partials: a resumed job writes them again.
	for _, e := range entries {
		n := e.Name()
		shardFile := strings.HasPrefix(n, "results-") || strings.HasPrefix(n, "dead-letters-")
		if shardFile && !committed[n] || n == ManifestFile || strings.HasPrefix(n, "aggregates-") || strings.HasSuffix(n, ".tmp") || atomicfile.IsTemp(n) {
			if err := os.Remove(filepath.Join(dir, n)); err != nil {
				j.Close()
				return nil, nil, err
			}
		}
	}
	partials, _ := filepath.Glob(filepath.Join(dir, StateDir, "aggregates-*"))
	for _, path := range partials {
		if n := StateDir + "/" + filepath.Base(path); !committed[n] {
			if err := os.Remove(path); err != nil {
				j.Close()
				return nil, nil, err
			}
		}
	}
	return j, commits, nil
}

// savedInput reports whether a new job's output directory holds a saved
// standard input: the job saves it before it prepares the directory, and a
// resume of such a directory has nothing to resume.
func savedInput(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, StateDir, "stdin.*"))
	return len(m) > 0
}

// LoadState checks a local run against the state in dir and records the
// run: a new job's state is want (with a new id unless want names one), a
// resumed job's the one its first run wrote, its runs counted.
func LoadState(dir string, want State) (State, error) {
	path := filepath.Join(dir, StateFile)
	b, err := os.ReadFile(path)
	var s State
	switch {
	case errors.Is(err, os.ErrNotExist):
		s = Start(want)
	case err != nil:
		return s, err
	default:
		have, err := DecodeState(b, path)
		if err != nil {
			return s, err
		}
		if s, err = Resume(have, want); err != nil {
			return s, err
		}
	}
	return s, atomicfile.WriteFile(path, s.Encode(), 0o644)
}

// ReadState returns the state in a local output directory, and whether
// there is one.
func ReadState(dir string) (State, bool, error) {
	path := filepath.Join(dir, StateFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return State{}, false, nil
	}
	if err != nil {
		return State{}, false, err
	}
	s, err := DecodeState(b, path)
	return s, err == nil, err
}

// WriteState replaces the state in a local output directory, atomically:
// for a run that learns more of its fingerprint (an input's sha256, once
// read) after LoadState.
func WriteState(dir string, s State) error {
	return atomicfile.WriteFile(filepath.Join(dir, StateFile), s.Encode(), 0o644)
}

// WriteManifest writes m as dir's manifest.json, atomically.
func WriteManifest(dir string, m *Manifest) error {
	b, err := EncodeManifest(m)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, ManifestFile), b, 0o644)
}

// EncodeManifest renders m as manifest.json's bytes.
func EncodeManifest(m *Manifest) ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// DecodeManifest reads manifest.json's bytes; name is for the error.
func DecodeManifest(b []byte, name string) (*Manifest, error) {
	m := new(Manifest)
	if err := json.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return m, nil
}

// ReadManifest reads the manifest of a finished job from a local output
// directory.
func ReadManifest(dir string) (*Manifest, error) {
	path := filepath.Join(dir, ManifestFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return DecodeManifest(b, path)
}
