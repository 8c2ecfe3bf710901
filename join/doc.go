// Package join attaches market data to elements: each batch's distinct join
// keys are looked up in one read, through a byte-bounded cache shared by all
// the workers of a process, so that a table far larger than memory can be
// joined and a row is read once per job while it fits the cache.
//
// A Table is the user-facing type; it holds the cache, merges concurrent
// misses for the same key, retries transient errors and counts what it did.
// Under it, a Driver reads rows from one kind of store: OpenFile reads a
// local CSV or JSONL table, and package join/bigtable reads Cloud Bigtable.
package join
