package wrapper

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/gridrun/gridrun/internal/caplog"
	gridrunv1 "github.com/gridrun/gridrun/proto/gridrun/v1"
)

// Schema is what a binary consumes and produces.
type Schema struct {
	// Input is the element payload's message type.
	Input protoreflect.MessageDescriptor
	// Result is the result payload's message type.
	Result protoreflect.MessageDescriptor
	// Side is the side rows' message type, or nil when the binary takes none.
	Side protoreflect.MessageDescriptor
	// Scenario is the scenarios' message type (Batch.scenarios), or nil
	// when the binary takes none.
	Scenario protoreflect.MessageDescriptor
	// Common is the message of the job's common data (Batch.common), or
	// nil when the binary takes none.
	Common protoreflect.MessageDescriptor
	// Name and Version are the binary's own, when it says.
	Name, Version string
	// StreamsResults reports that results are flushed one by one in batch
	// order; HonorsSigterm that SIGTERM stops the binary between elements;
	// Serves that it can run as a persistent Worker.
	StreamsResults, HonorsSigterm, Serves bool

	// files are the descriptors the types were found in, for ResolveCommon.
	files *protoregistry.Files
}

// ResolveCommon sets Common to the message type name, found among the
// descriptors the schema was made from: for a binary given its types with
// .proto files, which cannot say its common type itself.
func (s *Schema) ResolveCommon(name string) error {
	if s.files == nil {
		return fmt.Errorf("common message type %q: the schema has no descriptors to find it in", name)
	}
	md, err := resolveOptional(s.files, "common", name)
	if err != nil {
		return err
	}
	s.Common = md
	return nil
}

// Describe asks a binary built with the SDK for its Schema by running it with
// --gridrun-describe.
func Describe(ctx context.Context, bin Binary) (*Schema, error) {
	dir, err := os.MkdirTemp("", "describe-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "description.pb")
	stderr, err := caplog.Create(filepath.Join(dir, "stderr"), 0, stderrTail)
	if err != nil {
		return nil, err
	}
	defer stderr.Close()
	cmd, err := startBinary(bin, nil, func(t execTarget) *exec.Cmd {
		cmd := exec.CommandContext(ctx, t.path, append([]string{"--gridrun-describe", out}, bin.Args...)...)
		cmd.Args[0], cmd.Dir, cmd.Env = t.argv0, dir, t.env
		cmd.Stderr = stderr
		cmd.SysProcAttr = sysProcAttr()
		cmd.Cancel = func() error { signalGroup(cmd.Process.Pid, syscall.SIGKILL); return nil }
		cmd.WaitDelay = time.Second
		return cmd
	})
	if err == nil {
		err = cmd.Wait()
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("describe %s: %w", bin.Path, ctx.Err())
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, &NotDescribedError{Binary: bin.Path, Err: &ExitError{Code: ee.ExitCode(), Stderr: stderr.Tail(stderrTail)}}
		}
		return nil, &StartError{Path: bin.Path, Err: err}
	}
	data, err := os.ReadFile(out)
	if errors.Is(err, os.ErrNotExist) {
		return nil, &NotDescribedError{Binary: bin.Path, Err: errors.New("it exited 0 and wrote no description")}
	}
	if err != nil {
		return nil, fmt.Errorf("describe %s: %w", bin.Path, err)
	}
	d := new(gridrunv1.Description)
	if err := proto.Unmarshal(data, d); err != nil {
		return nil, &NotDescribedError{Binary: bin.Path, Err: fmt.Errorf("what it wrote is not a gridrun.v1.Description: %w", err)}
	}
	s, err := SchemaFromDescription(d)
	if err != nil {
		return nil, fmt.Errorf("describe %s: %w", bin.Path, err)
	}
	return s, nil
}

// SchemaFromDescription resolves the message types a Description names
// against the descriptors it carries.
func SchemaFromDescription(d *gridrunv1.Description) (*Schema, error) {
	if d.GetProtocol() != "gridrun.v1" {
		return nil, fmt.Errorf("protocol %q, want gridrun.v1", d.GetProtocol())
	}
	files, err := protodesc.NewFiles(d.GetFiles())
	if err != nil {
		return nil, fmt.Errorf("bad descriptors: %w", err)
	}
	s := &Schema{
		Name:           d.GetName(),
		Version:        d.GetVersion(),
		StreamsResults: d.GetStreamsResults(),
		HonorsSigterm:  d.GetHonorsSigterm(),
		Serves:         d.GetServes(),
		files:          files,
	}
	if err := resolveTypes(files, s, d.GetInputType(), d.GetResultType(), d.GetSideType()); err != nil {
		return nil, err
	}
	if s.Scenario, err = resolveOptional(files, "scenario", d.GetScenarioType()); err != nil {
		return nil, err
	}
	if s.Common, err = resolveOptional(files, "common", d.GetCommonType()); err != nil {
		return nil, err
	}
	return s, nil
}

// resolveOptional finds the message type name of a role a binary may
// leave empty (it takes no such data): nil then.
func resolveOptional(files *protoregistry.Files, role, name string) (protoreflect.MessageDescriptor, error) {
	if name == "" {
		return nil, nil
	}
	return findMessage(files, role, name)
}

// SchemaFromProtoFiles compiles .proto files (with the well-known types
// available to import) for a binary that was not built with the SDK and so
// cannot describe itself. Such a binary is assumed not to stream its results
// nor to honour SIGTERM.
func SchemaFromProtoFiles(ctx context.Context, files, importPaths []string, input, result, side string) (*Schema, error) {
	if len(importPaths) == 0 {
		seen := map[string]bool{}
		for _, f := range files {
			if d := filepath.Dir(f); !seen[d] {
				seen[d] = true
				importPaths = append(importPaths, d)
			}
		}
	}
	rel := make([]string, len(files))
	for i, f := range files {
		rel[i] = f
		for _, ip := range importPaths {
			if r, err := filepath.Rel(ip, f); err == nil && !filepath.IsAbs(r) && r != ".." && !startsWithDotDot(r) {
				rel[i] = r
				break
			}
		}
	}
	c := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{ImportPaths: importPaths}),
	}
	compiled, err := c.Compile(ctx, rel...)
	if err != nil {
		return nil, err
	}
	reg := new(protoregistry.Files)
	for _, f := range compiled {
		if err := registerWithDeps(reg, f); err != nil {
			return nil, err
		}
	}
	s := &Schema{files: reg}
	if err := resolveTypes(reg, s, input, result, side); err != nil {
		return nil, err
	}
	return s, nil
}

func startsWithDotDot(p string) bool {
	return len(p) >= 3 && p[:3] == ".."+string(filepath.Separator)
}

func registerWithDeps(reg *protoregistry.Files, f protoreflect.FileDescriptor) error {
	if _, err := reg.FindFileByPath(f.Path()); err == nil {
		return nil
	}
	imports := f.Imports()
	for i := range imports.Len() {
		if err := registerWithDeps(reg, imports.Get(i).FileDescriptor); err != nil {
			return err
		}
	}
	return reg.RegisterFile(f)
}

func resolveTypes(files *protoregistry.Files, s *Schema, input, result, side string) error {
	find := func(role, name string, dst *protoreflect.MessageDescriptor) error {
		if name == "" {
			if role == "side" {
				return nil
			}
			return fmt.Errorf("no %s message type given", role)
		}
		md, err := findMessage(files, role, name)
		if err != nil {
			return err
		}
		*dst = md
		return nil
	}
	return errors.Join(
		find("input", input, &s.Input),
		find("result", result, &s.Result),
		find("side", side, &s.Side),
	)
}

func findMessage(files *protoregistry.Files, role, name string) (protoreflect.MessageDescriptor, error) {
	d, err := files.FindDescriptorByName(protoreflect.FullName(name))
	if err != nil {
		return nil, fmt.Errorf("%s message type %q: not found in the descriptors", role, name)
	}
	md, ok := d.(protoreflect.MessageDescriptor)
	if !ok {
		return nil, fmt.Errorf("%s type %q is not a message", role, name)
	}
	return md, nil
}

// Description returns the Schema as the protocol's Description, with the
// files that define its types, so that it can be saved and the payloads of
// batch and results files read back without the binary.
func (s *Schema) Description() *gridrunv1.Description {
	d := &gridrunv1.Description{
		Protocol:       "gridrun.v1",
		Name:           s.Name,
		Version:        s.Version,
		StreamsResults: s.StreamsResults,
		HonorsSigterm:  s.HonorsSigterm,
		Serves:         s.Serves,
		Files:          new(descriptorpb.FileDescriptorSet),
	}
	seen := map[string]bool{}
	var add func(f protoreflect.FileDescriptor)
	add = func(f protoreflect.FileDescriptor) {
		if seen[f.Path()] {
			return
		}
		seen[f.Path()] = true
		imports := f.Imports()
		for i := range imports.Len() {
			add(imports.Get(i).FileDescriptor)
		}
		d.Files.File = append(d.Files.File, protodesc.ToFileDescriptorProto(f))
	}
	for _, m := range []struct {
		md  protoreflect.MessageDescriptor
		dst *string
	}{{s.Input, &d.InputType}, {s.Result, &d.ResultType}, {s.Side, &d.SideType}, {s.Scenario, &d.ScenarioType}, {s.Common, &d.CommonType}} {
		if m.md != nil {
			*m.dst = string(m.md.FullName())
			add(m.md.ParentFile())
		}
	}
	return d
}
