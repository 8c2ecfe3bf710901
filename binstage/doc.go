// Package binstage puts a binary on the local machine in a form the runner
// may execute: fetched once per machine from where it is published, hashed
// with SHA-256 while it is copied, kept in a cache keyed by that hash with
// mode 0500, and verified against the expected hash before every job. The
// runner executes only paths that Stage returned.
package binstage
