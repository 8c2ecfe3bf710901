package binstage

import (
	"cmp"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/gridrun/gridrun/internal/blob"
	"github.com/gridrun/gridrun/internal/ctxio"
)

// Manifest describes one published version. It is stored as
// manifest.json next to the binary and written after it: a version is
// published when, and only when, its manifest exists.
type Manifest struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
	// Platform is the GOOS/GOARCH pair the binary runs on, such as
	// linux/amd64, read from its ELF header; empty when unknown (a
	// script, say). Stage refuses a binary built for another platform.
	Platform string    `json:"platform,omitempty"`
	Created  time.Time `json:"created"`
	// Revision is the source revision the binary was built from, when the
	// publisher gave one.
	Revision string `json:"revision,omitempty"`

	// URI addresses the version, e.g. gs://b/bins/pricer@1.4.2. It is
	// where the manifest was found, so it is not stored in it.
	URI string `json:"-"`
}

// PushOptions configure Push. The zero value is usable.
type PushOptions struct {
	Store StoreOptions
	// Platform overrides the platform read from the binary's ELF header.
	Platform string
	// Revision is recorded in the manifest, e.g. a git commit.
	Revision string
}

// Push publishes the executable file at path as uri, a version:
// gs://BUCKET/PATH/NAME@VERSION or file:///DIR/NAME@VERSION. It uploads
// the binary, then its manifest. Versions are immutable: Push fails with
// a *StoreError of code AlreadyExists when uri is already published, even
// when another Push publishes it at the same moment.
func Push(ctx context.Context, path, uri string, opts *PushOptions) (*Manifest, error) {
	var o PushOptions
	if opts != nil {
		o = *opts
	}
	r, err := parseRef(uri)
	if err != nil {
		return nil, err
	}
	if !r.versioned() || r.scheme == "" {
		return nil, &RefError{Ref: uri, Reason: "push to gs://BUCKET/PATH/NAME@VERSION or file:///DIR/NAME@VERSION"}
	}
	f, err := openExecutable(path, path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The file is read twice, to hash it and to upload it, so that the
	// hash is known before any byte is sent; a file that changes in
	// between is caught by hashing the upload too.
	sum, size, err := hashReader(f)
	if err != nil {
		return nil, err
	}
	m := &Manifest{
		Name: r.name, Version: r.version, SHA256: sum, Size: size,
		Platform: cmp.Or(o.Platform, elfPlatform(f)),
		Created:  time.Now().UTC().Truncate(time.Second),
		Revision: o.Revision,
		URI:      r.String(),
	}
	s, err := openStore(ctx, r, &o.Store)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	published := func() error {
		return &StoreError{Op: "write", Code: AlreadyExists, URI: r.String(), Err: errors.New("the version is published, and versions are immutable: push a new one")}
	}
	// Refusing a published version here saves its upload; what refuses a
	// racing push is the precondition on the manifest below.
	err = bounded(ctx, &o.Store, s.URI(r.manifestKey()), func(ctx context.Context) error {
		_, err := s.Attributes(ctx, r.manifestKey())
		return err
	})
	switch {
	case err == nil:
		return nil, published()
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	h := sha256.New()
	err = s.Write(ctx, r.binaryKey(), func(w io.Writer) error {
		_, err := io.Copy(w, ctxio.Reader(ctx, io.TeeReader(f, h)))
		return err
	}, publishedWrite)
	switch {
	case errors.Is(err, fs.ErrExist):
		// A binary without a manifest: a push that stopped before its
		// manifest, or one under way. Only the same bytes may be
		// published under it.
		var got string
		err := bounded(ctx, &o.Store, s.URI(r.binaryKey()), func(ctx context.Context) error {
			rc, err := s.NewReader(ctx, r.binaryKey())
			if err != nil {
				return err
			}
			defer rc.Close()
			got, _, err = hashReader(rc)
			return err
		})
		if err != nil {
			return nil, err
		}
		if got != sum {
			return nil, &StoreError{Op: "write", Code: AlreadyExists, URI: s.URI(r.binaryKey()), Err: fmt.Errorf(
				"holds other bytes (sha256 %s, not %s) without a manifest, left by an interrupted or concurrent push; remove it or push a new version", got, sum)}
		}
	case err != nil:
		return nil, err
	case hex.EncodeToString(h.Sum(nil)) != sum:
		return nil, fmt.Errorf("%s changed while it was pushed; %s holds bytes no manifest describes: remove it, or push a new version", path, s.URI(r.binaryKey()))
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	err = bounded(ctx, &o.Store, s.URI(r.manifestKey()), func(ctx context.Context) error {
		return s.Write(ctx, r.manifestKey(), func(w io.Writer) error {
			_, err := w.Write(append(b, '\n'))
			return err
		}, publishedWrite)
	})
	if errors.Is(err, fs.ErrExist) {
		return nil, published()
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// List returns the published versions of uri, a name without a version
// (gs://BUCKET/PATH/NAME or file:///DIR/NAME), oldest first.
func List(ctx context.Context, uri string, opts *StoreOptions) ([]Manifest, error) {
	r, err := parseRef(uri)
	if err != nil {
		return nil, err
	}
	if r.versioned() || r.scheme == "" || r.name == "" {
		return nil, &RefError{Ref: uri, Reason: "list gs://BUCKET/PATH/NAME or file:///DIR/NAME, without @VERSION"}
	}
	if opts == nil {
		opts = &StoreOptions{}
	}
	s, err := openStore(ctx, r, opts)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	var out []Manifest
	err = bounded(ctx, opts, s.URI(r.versionsPrefix()), func(ctx context.Context) error {
		keys, err := s.List(ctx, r.versionsPrefix())
		if err != nil {
			return err
		}
		for _, k := range keys {
			// NAME/VERSION/manifest.json; a binary without its manifest
			// is not published.
			v, file, _ := strings.Cut(strings.TrimPrefix(k, r.versionsPrefix()), "/")
			if file != manifestName {
				continue
			}
			vr := r
			vr.version = v
			m, err := readManifest(ctx, s, vr)
			if err != nil {
				return err
			}
			out = append(out, *m)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Manifest) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.Version, b.Version))
	})
	return out, nil
}

// readManifest reads and checks the manifest of version r.
func readManifest(ctx context.Context, s *blob.Bucket, r ref) (*Manifest, error) {
	key := r.manifestKey()
	rc, err := s.NewReader(ctx, key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: version %s is not published: %w", r, r.version, err)
	}
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	// A manifest is a few hundred bytes; the limit keeps a wrong object
	// from being read whole.
	b, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	if err != nil {
		return nil, err
	}
	m := new(Manifest)
	if err := json.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("%s: not a manifest: %w", s.URI(key), err)
	}
	if m.SHA256, err = normalizeHash(m.SHA256); err != nil || m.SHA256 == "" {
		return nil, fmt.Errorf("%s: manifest without a valid sha256 (%q)", s.URI(key), m.SHA256)
	}
	if m.Name != r.name || m.Version != r.version {
		return nil, fmt.Errorf("%s: the manifest describes %s@%s, not %s@%s", s.URI(key), m.Name, m.Version, r.name, r.version)
	}
	m.URI = r.String()
	return m, nil
}

func hashReader(r io.Reader) (string, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	return hex.EncodeToString(h.Sum(nil)), n, err
}

// elfPlatform names the platform of an ELF executable as GOOS/GOARCH, or
// returns "" for anything else.
func elfPlatform(r io.ReaderAt) string {
	f, err := elf.NewFile(r)
	if err != nil {
		return ""
	}
	arch := map[elf.Machine]string{
		elf.EM_X86_64: "amd64", elf.EM_AARCH64: "arm64", elf.EM_386: "386", elf.EM_ARM: "arm",
		elf.EM_RISCV: "riscv64", elf.EM_S390: "s390x", elf.EM_PPC64: "ppc64",
	}[f.Machine]
	if arch == "" {
		return ""
	}
	if arch == "ppc64" && f.ByteOrder == binary.LittleEndian {
		arch = "ppc64le"
	}
	goos := "linux"
	if f.OSABI == elf.ELFOSABI_FREEBSD {
		goos = "freebsd"
	}
	return goos + "/" + arch
}
