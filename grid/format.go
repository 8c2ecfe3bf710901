package grid

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// A ResultFormat writes the results of one shard file. JSON lines are built
// in; other formats (Parquet) register themselves with RegisterResultFormat.
type ResultFormat struct {
	// Ext is the shard files' extension, with its dot.
	Ext string
	// Raw says the format wants the decoded result messages (Outcome.Result)
	// rather than encoded JSON lines (Outcome.Line).
	Raw bool
	// Direct, for a Raw format, returns which results it takes as their
	// wire bytes (Outcome.Payload) instead of the decoded message: only
	// wire bytes that decode as a result (a bad one must still be told,
	// and dead-lettered, before the format sees it). It is called
	// concurrently. Nil: every result is decoded.
	Direct func(desc protoreflect.MessageDescriptor) func(payload []byte) bool
	// Open starts a shard written to w, for results of type desc.
	Open func(w io.Writer, desc protoreflect.MessageDescriptor) (ResultEncoder, error)
}

// ResultEncoder writes results into one shard.
type ResultEncoder interface {
	// Write writes one result and returns about how many bytes it added,
	// which decides when a shard is full.
	Write(o Outcome) (int, error)
	// Close completes the shard (a footer, buffered rows); the file is
	// closed by the caller.
	Close() error
}

var resultFormats = map[string]ResultFormat{
	"jsonl": {Ext: ".jsonl", Open: func(w io.Writer, _ protoreflect.MessageDescriptor) (ResultEncoder, error) {
		return jsonlEncoder{w}, nil
	}},
}

// RegisterResultFormat makes a result format available under name, for
// Job.OutputFormat. Packages of formats call it from init.
func RegisterResultFormat(name string, f ResultFormat) { resultFormats[name] = f }

// ResultFormats returns the names of the registered result formats, in
// order.
func ResultFormats() []string {
	names := make([]string, 0, len(resultFormats))
	for n := range resultFormats {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func resultFormat(name string) (ResultFormat, error) {
	if f, ok := resultFormats[name]; ok {
		return f, nil
	}
	return ResultFormat{}, fmt.Errorf("output format %q: want %s", name, strings.Join(ResultFormats(), " or "))
}

// resultExts are the extensions of every registered format, so that a
// resume clears uncommitted shards of any.
func resultExts() []string {
	var exts []string
	for _, f := range resultFormats {
		if !slices.Contains(exts, f.Ext) {
			exts = append(exts, f.Ext)
		}
	}
	return exts
}

type jsonlEncoder struct{ w io.Writer }

func (e jsonlEncoder) Write(o Outcome) (int, error) { return e.w.Write(o.Line) }
func (e jsonlEncoder) Close() error                 { return nil }
