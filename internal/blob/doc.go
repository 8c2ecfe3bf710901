// Package blob is gridrun's one object store: a local directory or a
// Cloud Storage bucket (gs://BUCKET[/PREFIX]) behind a single Bucket type.
// Inputs, failed calls' logs, published binaries and the Beam engine's
// output all go through it.
//
// The shape is gocloud.dev/blob's: a concrete Bucket over a small driver
// interface, one conformance suite that every driver passes, OpenX
// constructors whose nil options mean the defaults, and errors wrapped once,
// by the Bucket, as an *Error with a code and the object's URI. The
// caller's context errors are returned untouched.
//
// Two guarantees hold for both drivers. A write is atomic: a reader sees
// the whole new object or none of it, and a write whose fill fails or
// whose context ends leaves nothing (locally, a temporary file renamed or
// linked into place; in Cloud Storage, one upload that is abandoned). A
// write with IfNotExist never replaces an object, even when two writers
// race (a link(2) locally, a DoesNotExist precondition in Cloud Storage).
// A Reader never mixes the bytes of two versions of an object: in Cloud
// Storage it reads the generation current when it was opened, and fails
// once that generation is replaced; locally the open file keeps the
// version it opened, as every write replaces a file by a rename.
//
// gocloud.dev/blob itself is not used: gridrun needs two backends, the
// storage client's write preconditions, retry policy and generations,
// which the portable API hides.
//
// Without Options.Client, the Cloud Storage client finds Application
// Default Credentials, or the emulator named by STORAGE_EMULATOR_HOST
// (host:port, such as fake-gcs-server), which it uses without credentials.
package blob
