package codec

import (
	"errors"
	"fmt"
)

// FieldError is a bad value of one field.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return fmt.Sprintf("field %s: %s", e.Field, e.Msg) }

// RowError is a problem with one input row. The row goes to the dead letters
// with kind bad_input and the job goes on.
type RowError struct {
	File string
	// Line is the 1-based line of a JSONL or CSV row, or the 1-based record
	// or row number in a delimited protobuf or Parquet file.
	Line int64
	// Field is the field concerned, or "" when the row as a whole is bad.
	Field string
	Msg   string
	// ID is the row's id when it could be read despite the problem, so that
	// a row can be found by id as well as by line.
	ID string
}

func (e *RowError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s:%d: field %s: %s", e.File, e.Line, e.Field, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// NewRowError attaches a row's position to err, keeping the field of a
// *FieldError.
func NewRowError(file string, line int64, err error) *RowError { return rowError(file, line, err) }

// rowError attaches a row's position to err, keeping the field of a
// *FieldError.
func rowError(file string, line int64, err error) *RowError {
	var fe *FieldError
	if errors.As(err, &fe) {
		return &RowError{File: file, Line: line, Field: fe.Field, Msg: fe.Msg}
	}
	return &RowError{File: file, Line: line, Msg: err.Error()}
}
