// Package aggregate computes totals over a job's results: the --aggregate
// specs ("sum(value, delta) by underlying, scenario", "count() by type",
// "quantile(0.99, value) over scenario by underlying"), parsed, bound to
// the binary's result and input messages, and accumulated in a Set.
//
// A Set is mergeable and order-independent to the bit: sums are exact
// (Sum keeps Shewchuk's non-overlapping partials and rounds once, at the
// end), minima and maxima commute, quantiles sort what they hold. So the
// local engine, which accumulates per committed shard and merges the
// shards' partial Sets at the end, and Beam, which merges in whatever
// order its combiner sees, write the same figures whatever the batching.
// A Set encodes to a compact binary form (MarshalBinary) that a commit
// stores beside its shards.
//
// The package knows nothing of the engine: it reads result and input
// messages as wire bytes and a scenario id as a string.
package aggregate
