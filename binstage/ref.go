package binstage

import (
	"cmp"
	"fmt"
	"path"
	"path/filepath"
	"strings"
)

// ref is a parsed binary reference. Three forms:
//
//	bin/pricer, file://bin/pricer      a file, staged as it is
//	gs://BUCKET/DIR/NAME@VERSION        a published version in Cloud Storage
//	file:///DIR/NAME@VERSION            a published version in a local directory
//
// Without @VERSION, a gs:// or file:// reference names all the versions of
// NAME (for List and as the base of Push).
type ref struct {
	raw    string
	scheme string // "gs", "file", or "" for a plain path
	bucket string // gs only
	// dir is where NAME's versions live: an object-name prefix ("" or
	// ending in "/") in the bucket, or a local directory.
	dir     string
	name    string
	version string
	// file is the path of a file reference (one without a version).
	file string
}

// RefError reports a binary reference that cannot be parsed.
type RefError struct {
	Ref    string
	Reason string
}

func (e *RefError) Error() string { return fmt.Sprintf("binary %q: %s", e.Ref, e.Reason) }

func parseRef(s string) (ref, error) {
	r := ref{raw: s}
	bad := func(format string, args ...any) (ref, error) {
		return ref{}, &RefError{Ref: s, Reason: fmt.Sprintf(format, args...)}
	}
	var last string
	switch {
	case strings.HasPrefix(s, "gs://"):
		r.scheme = "gs"
		bucket, obj, _ := strings.Cut(strings.TrimPrefix(s, "gs://"), "/")
		if bucket == "" || obj == "" {
			return bad("want gs://BUCKET/PATH/NAME@VERSION")
		}
		if path.Clean("/"+obj) != "/"+obj {
			return bad("object path %q is not clean (empty, . or .. elements)", obj)
		}
		r.bucket = bucket
		r.dir, last = path.Split(obj)
	case strings.HasPrefix(s, "file://"):
		r.scheme = "file"
		p := strings.TrimPrefix(s, "file://")
		if p == "" {
			return bad("empty path")
		}
		r.file = p
		r.dir, last = filepath.Split(p)
		r.dir = filepath.Clean(cmp.Or(r.dir, "."))
	default:
		if s == "" {
			return bad("empty path")
		}
		r.file = s
		return r, nil
	}
	name, version, versioned := strings.Cut(last, "@")
	if err := checkPart("name", name); err != nil {
		if r.scheme == "file" && !versioned {
			return r, nil // any file name will do for a file
		}
		return bad("%v", err)
	}
	r.name = name
	if versioned {
		if err := checkPart("version", version); err != nil {
			return bad("%v", err)
		}
		r.version, r.file = version, ""
	}
	return r, nil
}

// checkPart keeps names and versions to characters that are safe as path
// and object-name elements everywhere, and that leave '@' and '/' free as
// separators.
func checkPart(what, s string) error {
	if s == "" || s == "." || s == ".." {
		return fmt.Errorf("empty or invalid %s %q", what, s)
	}
	for _, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._+-", c)
		if !ok {
			return fmt.Errorf("%s %q: use letters, digits and . _ + - only", what, s)
		}
	}
	return nil
}

// versioned reports whether r names one published version.
func (r ref) versioned() bool { return r.version != "" }

// String is the canonical URI: what the job manifest records.
func (r ref) String() string {
	var base string
	switch r.scheme {
	case "gs":
		base = "gs://" + r.bucket + "/" + r.dir + r.name
	case "file":
		if !r.versioned() && r.file != "" {
			return r.raw
		}
		base = "file://" + filepath.Join(r.dir, r.name)
	default:
		return r.raw
	}
	if r.versioned() {
		base += "@" + r.version
	}
	return base
}

// The layout of a store: every version in its own folder, the binary under
// its own name and the manifest next to it, e.g.
//
//	gs://b/bins/pricer@1.4.2  ->  gs://b/bins/pricer/1.4.2/pricer
//	                              gs://b/bins/pricer/1.4.2/manifest.json
//
// Keys are relative to the store's root (the bucket and r.dir).
func (r ref) binaryKey() string   { return r.name + "/" + r.version + "/" + r.name }
func (r ref) manifestKey() string { return r.name + "/" + r.version + "/" + manifestName }
func (r ref) versionsPrefix() string {
	return r.name + "/"
}

const manifestName = "manifest.json"
