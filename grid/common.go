package grid

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"path"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/gridrun/gridrun/internal/blob"
	"github.com/gridrun/gridrun/outdir"
	"github.com/gridrun/gridrun/wrapper"
)

// CommonData is a job's common data (Job.Common), read and checked against
// the binary's common type: what every process of the binary receives once,
// in Batch.common of its first batch.
type CommonData struct {
	// Source is the file as the job names it.
	Source string `json:"source"`
	// Type is the message's full name, the binary's common type.
	Type string `json:"type"`
	// Bytes is the message in its canonical encoding (deterministic, as
	// proto.MarshalOptions.Deterministic writes it), whatever the file's:
	// a JSON file and a binary one of the same message give the same
	// bytes.
	Bytes []byte `json:"bytes"`
	// SHA256 is the hex sha256 of Bytes. The manifest records it, a
	// resume compares it, and a result cache keys on it.
	SHA256 string `json:"sha256"`
}

// CommonMaxBytes bounds a common data file: it is held in memory, sent
// to every process, and on Beam carried inside the pipeline's DoFns.
const CommonMaxBytes = 64 << 20

// LoadCommon reads the job's common data and checks it against the
// binary's common type: JSON (.json) by protobuf's JSON mapping, or the
// protobuf binary encoding (.pb, .binpb); a local path, file:// URI or
// gs://BUCKET/OBJECT. Nil without Job.Common. A *ConfigError names the file
// and, for a field that does not fit the type, the field: unknown fields
// are refused in either encoding, since a misspelt field would otherwise
// leave the binary silently on its defaults.
func LoadCommon(ctx context.Context, j Job, s *wrapper.Schema) (*CommonData, error) {
	if j.Common == "" {
		return nil, nil
	}
	if s.Common == nil {
		return nil, configErr("--common %s: the binary takes no common data (its description names no common type); drop --common, or rebuild the binary with an init hook (see docs/sdk.md)", j.Common)
	}
	ext := strings.ToLower(path.Ext(strings.TrimSuffix(j.Common, "/")))
	if ext != ".json" && ext != ".pb" && ext != ".binpb" {
		return nil, configErr("--common %s: cannot tell its encoding from the extension %q: name it .json (protobuf's JSON mapping of %s) or .pb or .binpb (its binary encoding)", j.Common, ext, s.Common.FullName())
	}
	data, err := readCommon(ctx, j.Common)
	if err != nil {
		return nil, configErr("--common %s: %v", j.Common, err)
	}
	m := dynamicpb.NewMessage(s.Common)
	if ext == ".json" {
		err = protojson.Unmarshal(data, m)
	} else if err = proto.Unmarshal(data, m); err == nil {
		err = checkKnown(m, string(s.Common.FullName()))
	}
	if err != nil {
		return nil, configErr("--common %s: not a %s: %v", j.Common, s.Common.FullName(), err)
	}
	canonical, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, configErr("--common %s: %v", j.Common, err)
	}
	sum := sha256.Sum256(canonical)
	return &CommonData{Source: j.Common, Type: string(s.Common.FullName()), Bytes: canonical, SHA256: hex.EncodeToString(sum[:])}, nil
}

// Info is the manifest's record of the common data; nil for nil.
func (c *CommonData) Info() *outdir.CommonInfo {
	if c == nil {
		return nil
	}
	return &outdir.CommonInfo{Source: c.Source, Type: c.Type, SHA256: c.SHA256, Bytes: len(c.Bytes)}
}

// Stamp is the fingerprint's record of the common data; nil for nil.
func (c *CommonData) Stamp() *outdir.CommonStamp {
	if c == nil {
		return nil
	}
	return &outdir.CommonStamp{Source: c.Source, SHA256: c.SHA256}
}

func readCommon(ctx context.Context, uri string) ([]byte, error) {
	r, err := blob.Open(ctx, uri, nil)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, CommonMaxBytes+1))
	if err == nil && len(data) > CommonMaxBytes {
		err = fmt.Errorf("larger than the %d-byte limit of common data", CommonMaxBytes)
	}
	return data, err
}

// checkKnown refuses fields the message type lacks, where they are, by
// number: in the binary encoding they are all a misnamed or mistyped field
// (a known number with the wrong wire type is one too) looks like.
func checkKnown(m protoreflect.Message, at string) error {
	if raw := m.GetUnknown(); len(raw) > 0 {
		num, typ, _ := protowire.ConsumeTag(raw)
		if f := m.Descriptor().Fields().ByNumber(num); f != nil {
			return fmt.Errorf("%s.%s (field %d): wire type %d does not fit a %s field", at, f.Name(), num, typ, f.Kind())
		}
		return fmt.Errorf("%s: field %d is not in %s", at, num, m.Descriptor().FullName())
	}
	var err error
	m.Range(func(f protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if f.Message() == nil || f.IsMap() && f.MapValue().Message() == nil {
			return true
		}
		name := at + "." + string(f.Name())
		switch {
		case f.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
				err = checkKnown(v.Message(), fmt.Sprintf("%s[%v]", name, k.Interface()))
				return err == nil
			})
		case f.IsList():
			for i := range v.List().Len() {
				if err = checkKnown(v.List().Get(i).Message(), fmt.Sprintf("%s[%d]", name, i)); err != nil {
					break
				}
			}
		default:
			err = checkKnown(v.Message(), name)
		}
		return err == nil
	})
	return err
}
