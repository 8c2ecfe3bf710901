package codec

import "io"

// NewSlowParquetReader is NewParquetReader without the fast path: the
// general path, which the fast path is held to.
func NewSlowParquetReader(r io.ReaderAt, size int64, name string) (Reader, error) {
	rd, err := NewParquetReader(r, size, name)
	if err != nil {
		return nil, err
	}
	rd.(*parquetReader).slow = true
	return rd, nil
}

// ParquetFast reports whether the fast path read the row (it has a plan)
// and whether it encoded its message.
func ParquetFast(row Row) (read, encoded bool) {
	if row.parquet == nil {
		return false, false
	}
	return row.parquet.plan != nil, row.parquet.fast
}

// SetParquetRowGroupBytes makes w start a row group every n bytes, so
// that a test's small files have several.
func SetParquetRowGroupBytes(w *ParquetWriter, n int64) { w.groupBytes = n }

// ParquetResultsFast reports whether WritePayload decodes results of w's
// message straight into columns.
func ParquetResultsFast(w *ParquetWriter) bool { return w.flat != nil }

// ParquetValueViewFits reports whether the fast path can read parquet's
// values in place.
func ParquetValueViewFits() bool { return valueViewFits() }
