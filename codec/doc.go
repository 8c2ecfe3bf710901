// Package codec turns input rows into the binary's input messages and the
// binary's results back into output rows.
//
// Inputs are JSON lines, CSV with a header, or length-delimited protobuf
// (passed through untouched), optionally gzipped, or Parquet files, read a
// row group at a time. Each format is an InputFormat registered by name
// and file extensions (RegisterFormat): FormatOf and ParseFormat find it,
// Open reads its rows, with random access when the format needs it, and
// NewDecoder decodes them. A row becomes an element:
// an id, the payload (the binary's input message, serialized), and a join
// key rendered from a Template. Values are converted by the message's
// schema, the same way for every source: a CSV cell, a JSON string and a
// Bigtable cell holding "101.5" all set a double field to 101.5, and a
// Parquet row converts as the JSON object of its columns would. Every
// problem with a row is a *RowError naming the file, the line and the field.
//
// Results are JSON lines (ResultEncoder) or Parquet files (ParquetWriter).
package codec
