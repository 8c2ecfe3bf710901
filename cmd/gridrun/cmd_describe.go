package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/gridrun/gridrun/binstage"
	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/wrapper"
)

func newDescribeCmd() *cobra.Command {
	var (
		binary, sha, cacheDir string
		asJSON                bool
	)
	cmd := &cobra.Command{
		Use:   "describe --binary BINARY",
		Short: "Print the messages a binary consumes and produces",
		Long: `Ask a binary built with the gridrun SDK what it consumes and produces
(it answers --gridrun-describe) and print the message types and their fields:
what each input row must hold, what each result holds, and the side rows a
--join must provide.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			staged, err := binstage.Stage(cmd.Context(), binary, &binstage.Options{CacheDir: cacheDir, SHA256: sha})
			if err != nil {
				return &grid.ConfigError{Err: err}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			image, err := staged.Open()
			if err != nil {
				return &grid.ConfigError{Err: err}
			}
			defer image.Close()
			s, err := wrapper.Describe(ctx, wrapper.Binary{Path: staged.Source, Image: image})
			if err != nil {
				return &grid.ConfigError{Err: err}
			}
			if asJSON {
				return printDescriptionJSON(cmd.OutOrStdout(), s, staged)
			}
			printDescription(cmd.OutOrStdout(), s, staged)
			return nil
		},
	}
	cmd.Flags().StringVar(&binary, "binary", "", "the binary: a path, or a published version gs://BUCKET/PATH/NAME@VERSION (required)")
	cmd.Flags().StringVar(&sha, "sha256", "", "expected sha256 of the binary")
	cmd.Flags().StringVar(&cacheDir, "cache-dir", "", "where staged binaries are kept")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.MarkFlagRequired("binary")
	return cmd
}

func printDescription(w io.Writer, s *wrapper.Schema, st *binstage.Staged) {
	name := s.Name
	if s.Version != "" {
		name += " " + s.Version
	}
	fmt.Fprintf(w, "binary   %s (%s)\nsha256   %s\n", st.Source, strings.TrimSpace(name), st.SHA256)
	fmt.Fprintf(w, "streams results: %v, honours SIGTERM: %v\n", s.StreamsResults, s.HonorsSigterm)
	for _, m := range []struct {
		role string
		d    protoreflect.MessageDescriptor
	}{{"input", s.Input}, {"result", s.Result}, {"side rows", s.Side}, {"scenario (--scenarios)", s.Scenario}, {"common data (--common)", s.Common}} {
		if m.d == nil {
			continue
		}
		fmt.Fprintf(w, "\n%s: %s\n", m.role, m.d.FullName())
		fs := m.d.Fields()
		for i := range fs.Len() {
			fmt.Fprintf(w, "  %-16s %s\n", fs.Get(i).Name(), fieldType(fs.Get(i)))
		}
	}
}

func fieldType(fd protoreflect.FieldDescriptor) string {
	t := fd.Kind().String()
	switch fd.Kind() {
	case protoreflect.EnumKind:
		var names []string
		vs := fd.Enum().Values()
		for i := range vs.Len() {
			names = append(names, string(vs.Get(i).Name()))
		}
		t = "enum " + string(fd.Enum().FullName()) + " {" + strings.Join(names, ", ") + "}"
	case protoreflect.MessageKind, protoreflect.GroupKind:
		t = string(fd.Message().FullName())
	}
	switch {
	case fd.IsMap():
		return "map<" + fd.MapKey().Kind().String() + ", " + fieldType(fd.MapValue()) + ">"
	case fd.IsList():
		return "repeated " + t
	}
	return t
}

func printDescriptionJSON(w io.Writer, s *wrapper.Schema, st *binstage.Staged) error {
	fields := func(d protoreflect.MessageDescriptor) map[string]string {
		if d == nil {
			return nil
		}
		out := map[string]string{}
		fs := d.Fields()
		for i := range fs.Len() {
			out[string(fs.Get(i).Name())] = fieldType(fs.Get(i))
		}
		return out
	}
	name := func(d protoreflect.MessageDescriptor) string {
		if d == nil {
			return ""
		}
		return string(d.FullName())
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{
		"binary": st.Source, "sha256": st.SHA256, "name": s.Name, "version": s.Version,
		"streams_results": s.StreamsResults, "honors_sigterm": s.HonorsSigterm,
		"input_type": name(s.Input), "input_fields": fields(s.Input),
		"result_type": name(s.Result), "result_fields": fields(s.Result),
		"side_type": name(s.Side), "side_fields": fields(s.Side),
		"scenario_type": name(s.Scenario), "scenario_fields": fields(s.Scenario),
		"common_type": name(s.Common), "common_fields": fields(s.Common),
	})
}
