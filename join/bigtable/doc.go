// Package bigtable joins market data from Cloud Bigtable. Importing it
// registers the scheme "bigtable" with package join, so that a job's join
// source can be bigtable://PROJECT/INSTANCE/TABLE.
//
// With BIGTABLE_EMULATOR_HOST set, the client talks to that emulator;
// otherwise to Cloud Bigtable, with application default credentials.
//
// # Table layout
//
// One row per join key: the row key is the key the job's template renders
// (e.g. the underlying's name). Each column qualifier is the name of a
// field of the side message (its proto name or JSON name), and each cell
// holds the field's value as text, as a CSV cell would ("101.5", "CALL",
// JSON for repeated and message fields). Load writes tables of this shape
// from CSV or JSONL files; the cbt tool reads them as plain strings.
//
// A join.Layout reads tables other systems wrote: cells in the HBase Bytes
// encoding, one column holding the whole message (proto or JSON), columns
// named by a feed (FIELD=FAMILY:QUALIFIER), row keys with literal parts and
// the as-of date, and the latest dated row at or before it, read as one
// range per key in the batch's one ReadRows call. Load writes the binary
// and one-message layouts too; Show reads one row as a join would.
//
// # Reads
//
// A driver reads the keys a join.Table asks for in one ReadRows call with
// a RowList, taking the latest cell of each column, or with join.Spec.AsOf
// the latest at or before that time, so that a rerun prices against the
// same snapshot. By default a read takes the whole row, every family;
// join.Spec.Family narrows it to one. Qualifiers that name no field are
// ignored: market data tables are shared by many binaries. When two
// families hold the same qualifier, the family whose name sorts first
// gives the field its value; name a family to choose another. A cell
// whose text does not convert to its field fails the read, naming the row
// and column: the data is wrong, and pricing without it would be too.
//
// The Bigtable client resends a ReadRows call that fails with Unavailable,
// DeadlineExceeded or Aborted, within the read's timeout; past the timeout
// the call fails, and join.Table retries it with backoff, up to its bound.
package bigtable
