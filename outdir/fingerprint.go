package outdir

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
	"time"

	"github.com/gridrun/gridrun/internal/blob"
	"github.com/gridrun/gridrun/jobspec"
)

// Fingerprint is what a job's results depend on, recorded in its state
// before its first call, so that a resume that would mix two jobs' results
// in one output is refused, saying what changed. The binary's sha256 is
// the state's own SHA256.
type Fingerprint struct {
	Inputs []FileStamp `json:"inputs"`
	Join   *JoinStamp  `json:"join,omitempty"`
	// Common is the job's common data, nil without.
	Common *CommonStamp `json:"common,omitempty"`
	// Options are the job's options that change results, by their job
	// file names, with their values as JSON.
	Options []Option `json:"options"`
}

// FileStamp identifies a file's contents: its size and modification time,
// and its sha256 once a run has read it whole (the local engine hashes an
// input as it reads it, so that this costs no extra pass).
type FileStamp struct {
	Path    string    `json:"path"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mtime,omitzero"`
	SHA256  string    `json:"sha256,omitempty"`
}

// JoinStamp identifies the market data a job reads.
type JoinStamp struct {
	Source string `json:"source"`
	// AsOf is the snapshot a store with timestamps (Bigtable) is read as
	// of: the job's --join-as-of, or else its first start's time, so that
	// a resumed job prices against the data its first run saw.
	AsOf time.Time `json:"as_of,omitzero"`
	// File is the stamp of a file table.
	File *FileStamp `json:"file,omitempty"`
}

// CommonStamp identifies a job's common data by the sha256 of its
// canonical encoding, so that the same message rewritten (reformatted
// JSON, the binary encoding of it) is the same data.
type CommonStamp struct {
	Source string `json:"source"`
	SHA256 string `json:"sha256"`
}

// Option is one option that changes results.
type Option struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// SmallFile is the budget of bytes a resume hashes of files whose size and
// modification time are unchanged, to make sure of them: cheap enough for
// a few small files, and no rereading of a large job's inputs.
const SmallFile = 64 << 20

// ResultOptions lists the options of j that change its results, in a fixed
// order. Parallelism, batch sizes, timeouts, retries and logging do not:
// they change how the work is done, not what each element becomes.
func ResultOptions(j jobspec.Job) []Option {
	var o []Option
	add := func(name string, v any) {
		b, _ := json.Marshal(v) // strings, bools and slices of them always marshal
		o = append(o, Option{Name: name, Value: string(b)})
	}
	add("args", j.Args)
	add("env", j.Env)
	add("proto", j.Proto)
	add("input_format", j.InputFormat)
	add("id_field", j.IDField)
	add("ignore_unknown_fields", j.IgnoreUnknownFields)
	add("output_format", j.OutputFormat)
	add("scenarios", j.Scenarios)
	if len(j.Aggregates) > 0 {
		// Only when given, so that jobs without aggregates keep the
		// fingerprint they had: a resume merges the partials committed
		// under the same specs, never others.
		add("aggregates", j.Aggregates)
	}
	if j.Join != nil {
		add("join.key", j.Join.Key)
		add("join.missing", j.Join.Missing)
		add("join.family", j.Join.Family)
		add("join.layout", j.Join.Layout.WithDefaults())
	}
	return o
}

// NeedsHash reports whether a resume must hash the file now stamped cur to
// compare it with the recorded stamp s: the first run recorded a sha256,
// and the size is the same while the modification time is not, or the
// file fits in budget, the bytes the resume still means to hash of
// unchanged files (see SmallFile).
func (s FileStamp) NeedsHash(cur FileStamp, budget int64) bool {
	return s.SHA256 != "" && s.Size == cur.Size && (!s.ModTime.Equal(cur.ModTime) || cur.Size <= budget)
}

// changes says how the file stamped cur differs from the recorded s, or
// nothing; what is the file's role ("input", "join").
func (s FileStamp) changes(what string, cur FileStamp) []string {
	name := what + " " + s.Path
	switch {
	case s.Size != cur.Size:
		return []string{fmt.Sprintf("%s: size was %d bytes, is %d", name, s.Size, cur.Size)}
	case s.SHA256 != "" && cur.SHA256 != "":
		if s.SHA256 != cur.SHA256 {
			return []string{fmt.Sprintf("%s: sha256 was %s, is %s", name, s.SHA256, cur.SHA256)}
		}
	case !s.ModTime.Equal(cur.ModTime):
		// No sha256 to tell a rewrite from a touch: the first run stopped
		// before it read the file to its end.
		return []string{fmt.Sprintf("%s: modified at %s, after the first run read it at %s (no sha256 was recorded to show it is the same)",
			name, cur.ModTime.UTC().Format(time.RFC3339Nano), s.ModTime.UTC().Format(time.RFC3339Nano))}
	}
	return nil
}

// Changes lists, one line each, how the job fingerprinted cur differs from
// the one fingerprinted f. cur's stamps hold a sha256 where NeedsHash said
// so.
func (f *Fingerprint) Changes(cur *Fingerprint) []string {
	var out []string
	for i, s := range f.Inputs {
		if i < len(cur.Inputs) && cur.Inputs[i].Path == s.Path {
			out = append(out, s.changes("input", cur.Inputs[i])...)
		}
	}
	switch a, b := f.Join, cur.Join; {
	case a == nil && b == nil:
	case a == nil:
		out = append(out, fmt.Sprintf("join: there was none, is %s", b.Source))
	case b == nil:
		out = append(out, fmt.Sprintf("join: was %s, there is none", a.Source))
	case a.Source != b.Source:
		out = append(out, fmt.Sprintf("join: was %s, is %s", a.Source, b.Source))
	default:
		if !a.AsOf.Equal(b.AsOf) {
			out = append(out, fmt.Sprintf("join %s: read as of %s, is %s", a.Source, rfc(a.AsOf), rfc(b.AsOf)))
		}
		if a.File != nil && b.File != nil {
			out = append(out, a.File.changes("join", *b.File)...)
		}
	}
	switch a, b := f.Common, cur.Common; {
	case a == nil && b == nil:
	case a == nil:
		out = append(out, fmt.Sprintf("common data: there was none, is %s", b.Source))
	case b == nil:
		out = append(out, fmt.Sprintf("common data: was %s, there is none", a.Source))
	case a.SHA256 != b.SHA256:
		out = append(out, fmt.Sprintf("common data %s: sha256 of its message was %s, is %s", b.Source, a.SHA256, b.SHA256))
	}
	was := map[string]string{}
	for _, o := range f.Options {
		was[o.Name] = o.Value
	}
	for _, o := range cur.Options {
		if v, ok := was[o.Name]; ok && v != o.Value {
			out = append(out, fmt.Sprintf("option %s: was %s, is %s", o.Name, v, o.Value))
		}
	}
	return out
}

func rfc(t time.Time) string {
	if t.IsZero() {
		return "the latest"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// changedError is the resume check's error for a fingerprint that changed.
func changedError(changes []string) error {
	return jobspec.Errorf("cannot resume: the job changed since its first run:\n  %s\nresume only the job that wrote the output; to run this one, choose a new output directory",
		strings.Join(changes, "\n  "))
}

// Stamp stamps an input, a local file or an object in Cloud Storage (read
// with opts), with its sha256 when hash is true.
func Stamp(ctx context.Context, uri string, hash bool, opts *blob.Options) (FileStamp, error) {
	if blob.IsLocal(uri) {
		return StampFile(strings.TrimPrefix(uri, "file://"), hash)
	}
	cut := strings.LastIndex(uri, "/")
	b, err := blob.OpenBucket(ctx, uri[:cut], opts)
	if err != nil {
		return FileStamp{}, err
	}
	defer b.Close()
	key := uri[cut+1:]
	a, err := b.Attributes(ctx, key)
	if err != nil {
		return FileStamp{}, err
	}
	s := FileStamp{Path: uri, Size: a.Size, ModTime: a.ModTime.UTC()}
	if hash {
		r, err := b.NewReader(ctx, key)
		if err != nil {
			return s, err
		}
		defer r.Close()
		if s.SHA256, _, err = NewHashingReader(r).Sum(); err != nil {
			return s, err
		}
	}
	return s, nil
}

// StampFile stamps a local file, with its sha256 when hash is true.
func StampFile(path string, hash bool) (FileStamp, error) {
	f, err := os.Open(path)
	if err != nil {
		return FileStamp{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return FileStamp{}, err
	}
	s := FileStamp{Path: path, Size: st.Size(), ModTime: st.ModTime().UTC()}
	if hash {
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return s, err
		}
		s.SHA256 = hex.EncodeToString(h.Sum(nil))
	}
	return s, nil
}

// HashingReader hashes the bytes read through it, for a stamp's sha256
// computed while a job reads a file for its own ends.
type HashingReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

// NewHashingReader hashes what is read from r.
func NewHashingReader(r io.Reader) *HashingReader {
	return &HashingReader{r: r, h: sha256.New()}
}

func (r *HashingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.h.Write(p[:n])
	r.n += int64(n)
	return n, err
}

// Sum reads what remains of the stream, so that the sum covers it whole,
// and returns its sha256 and length.
func (r *HashingReader) Sum() (string, int64, error) {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return "", r.n, err
	}
	return hex.EncodeToString(r.h.Sum(nil)), r.n, nil
}
