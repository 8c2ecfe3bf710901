// Package resultcache keeps the results of elements by the content of what
// produced them, so that a rerun computes only what changed: a market-data
// correction on one underlying reruns only that underlying's elements.
//
// # The key
//
// An element's Key is a sha256 over canonical, length-prefixed bytes of
// everything the binary sees of it (see KeyOf and Job): the binary's sha256,
// its arguments and environment, the common data's sha256, the element's
// payload (the deterministic wire bytes the codec produces, so field order
// in the input does not matter), its joined side rows' payloads in the order
// the batch references them, and its scenario's id and payload. The element
// id, the batch it is in and the job id are not part of it: the same trade
// under another id, in another batch, is the same computation.
//
// # The layout
//
// A cache is a directory or a gs://BUCKET/PREFIX holding, under v1/:
//
//	v1/packs/TIME-HASH.pack   the entries of one call's results, written once
//	v1/index/TIME-HASH.idx    the keys in that pack and where each entry lies
//
// TIME is the write time in nanoseconds since 1970 (20 digits, so that
// names sort by age) and HASH 16 hex digits of the pack's sha256, so that
// two jobs writing at once never pick the same name; both files are written
// create-only, the pack first, so an index never names a pack not yet
// there. Nothing is ever rewritten: two jobs sharing a cache cannot corrupt
// it, and a reader never sees half an object.
//
// A Cache opened for reading loads every index once (newest first, within
// Options.IndexBytes: 36 bytes per entry in memory), then serves a batch's
// lookup with one ranged read per pack that holds some of its hits. A rerun
// batches as the first run did when its batches are fixed (--fixed-batch-size,
// or Beam's), so each batch's hits are in one pack and its lookup is one
// read; an adaptive rerun's batch straddles the few packs its elements were
// written in. A batch with no hits reads nothing. The index keeps each
// pack's entries in the order written too, so a batch that asks for a
// pack's entries in that order (a rerun batched alike) finds each from the
// one before, and searches only for the first.
//
// Each entry carries its full key and a CRC-32C of key, length and
// payload; an index carries a sha256 of itself. A truncated or altered
// entry, or a pack gone under a reader, is a miss with a warning that
// names the object: the element is computed again and its new entry, in a
// newer pack, takes precedence from then on. An entry is never served
// unless its checksum and full key match.
//
// Only results are cached. Dead letters are not: a crash or a timeout is
// retried by the next run, and an error the binary reports for an element
// (a dead letter of kind element_error) is not either, as it is what a
// rerun after fixing the environment (a license, a missing file, a
// calibration that did not converge in time) is for; re-running only the
// errored elements costs little.
package resultcache
