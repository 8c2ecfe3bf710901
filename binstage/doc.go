// Package binstage puts a binary on the local machine in a form the runner
// may execute: fetched once per machine from where it is published, hashed
// with SHA-256 while it is copied, kept in a cache keyed by that hash with
// mode 0500, and verified against the expected hash before every job.
// Staged.Open then copies the verified bytes into a sealed in-memory
// image, hashed again from that copy, and the runner starts every process
// from the image (see wrapper.Image), never from a path: a cached file
// replaced, or a link retargeted, while a job runs changes nothing.
//
// # Published versions
//
// A team publishes a binary once per version with Push, and every worker
// stages exactly those bytes or refuses to run. A version is immutable:
// its binary and a small JSON Manifest (sha256, size, version, platform,
// creation time, source revision) live side by side,
//
//	gs://b/bins/pricer@1.4.2  ->  gs://b/bins/pricer/1.4.2/pricer
//	                              gs://b/bins/pricer/1.4.2/manifest.json
//
// and the manifest is written last, so that its existence means the
// version is published. Push never replaces an object: on Cloud Storage
// it writes with a DoesNotExist precondition, in a directory it links a
// complete temporary file into place. The same layout and code serve
// Cloud Storage (gs://) and a local directory (file:///DIR/NAME@VERSION).
//
// Plain paths and file:// URIs without a version are staged as they are,
// hashed the same way.
//
// # Cloud Storage
//
// Both kinds of store are internal/blob buckets, the object store the
// rest of gridrun reads inputs and writes outputs through; its errors are
// this package's StoreError. Without StoreOptions.Client, credentials are
// Application Default Credentials, and STORAGE_EMULATOR_HOST (host:port)
// selects an emulator such as fake-gcs-server instead, without
// credentials.
//
// # The cache
//
// Stage hashes a cached copy before returning it. A copy that fails is
// deleted and fetched again once; bytes that still do not match fail with
// a *MismatchError naming both hashes, and nothing is executed. Goroutines
// sharing a Cache fetch a version once (singleflight); processes sharing
// the cache directory serialize on a lock file per hash, so the machine
// downloads it once.
package binstage
