package aggregate

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"

	"github.com/parquet-go/parquet-go"
)

// WriteJSONL writes o's rows as JSON lines: per group, an object with the
// key fields, the values, then results and dead_letters, in that order.
// A value that does not exist (the min of no results) is null; a value
// that is not finite is a string, "NaN", "Infinity" or "-Infinity", as
// protojson writes them.
func WriteJSONL(w io.Writer, o Output) error {
	var b []byte
	for _, r := range o.Rows {
		b = append(b[:0], '{')
		for i, k := range o.Keys {
			b = appendName(b, k, i > 0)
			v, err := json.Marshal(r.Key[i])
			if err != nil {
				return err
			}
			b = append(b, v...)
		}
		for i, name := range o.Values {
			b = appendName(b, name, len(o.Keys)+i > 0)
			b = appendFloat(b, r.Values[i])
		}
		b = appendName(b, "results", true)
		b = strconv.AppendInt(b, r.Results, 10)
		b = appendName(b, "dead_letters", true)
		b = strconv.AppendInt(b, r.DeadLetters, 10)
		b = append(b, '}', '\n')
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

func appendName(b []byte, name string, comma bool) []byte {
	if comma {
		b = append(b, ',')
	}
	b = strconv.AppendQuote(b, name)
	return append(b, ':')
}

func appendFloat(b []byte, v *float64) []byte {
	switch {
	case v == nil:
		return append(b, "null"...)
	case math.IsNaN(*v):
		return append(b, `"NaN"`...)
	case math.IsInf(*v, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(*v, -1):
		return append(b, `"-Infinity"`...)
	}
	return strconv.AppendFloat(b, *v, 'g', -1, 64)
}

// WriteParquet writes o's rows as a Parquet file: a column per key field,
// of its type, a double column per value, and results and dead_letters as
// int64; every key and value column is optional (a null is a value the
// group does not have). Columns are in name order, as a Parquet group's.
func WriteParquet(w io.Writer, o Output) error {
	group := parquet.Group{}
	for i, k := range o.Keys {
		group[k] = parquet.Optional(parquetKeyNode(o.KeyTypes[i]))
	}
	for _, v := range o.Values {
		group[v] = parquet.Optional(parquet.Leaf(parquet.DoubleType))
	}
	group["results"] = parquet.Leaf(parquet.Int64Type)
	group["dead_letters"] = parquet.Leaf(parquet.Int64Type)
	var names []string
	for _, f := range group.Fields() {
		names = append(names, f.Name())
	}
	col := func(name string) int { return slices.Index(names, name) }
	pw := parquet.NewWriter(w, parquet.NewSchema("aggregates", group))
	for _, r := range o.Rows {
		row := make(parquet.Row, len(names))
		for i, k := range o.Keys {
			v := parquet.NullValue().Level(0, 0, col(k))
			if r.Key[i] != nil {
				pv, err := parquetKey(o.KeyTypes[i], r.Key[i])
				if err != nil {
					return fmt.Errorf("key %s: %w", k, err)
				}
				v = pv.Level(0, 1, col(k))
			}
			row[col(k)] = v
		}
		for i, name := range o.Values {
			v := parquet.NullValue().Level(0, 0, col(name))
			if r.Values[i] != nil {
				v = parquet.DoubleValue(*r.Values[i]).Level(0, 1, col(name))
			}
			row[col(name)] = v
		}
		row[col("results")] = parquet.Int64Value(r.Results).Level(0, 0, col("results"))
		row[col("dead_letters")] = parquet.Int64Value(r.DeadLetters).Level(0, 0, col("dead_letters"))
		if _, err := pw.WriteRows([]parquet.Row{row}); err != nil {
			return err
		}
	}
	return pw.Close()
}

func parquetKeyNode(typ string) parquet.Node {
	switch typ {
	case "bool":
		return parquet.Leaf(parquet.BooleanType)
	case "double":
		return parquet.Leaf(parquet.DoubleType)
	case "int64":
		return parquet.Int(64)
	case "uint64":
		return parquet.Uint(64)
	}
	return parquet.String()
}

func parquetKey(typ string, k any) (parquet.Value, error) {
	switch typ {
	case "bool":
		b, _ := k.(bool)
		return parquet.BooleanValue(b), nil
	case "double":
		switch k := k.(type) {
		case json.Number:
			f, err := k.Float64()
			return parquet.DoubleValue(f), err
		case string: // NaN, ±Inf
			f, err := strconv.ParseFloat(k, 64)
			return parquet.DoubleValue(f), err
		}
	case "int64":
		n, _ := k.(json.Number)
		i, err := strconv.ParseInt(string(n), 10, 64)
		return parquet.Int64Value(i), err
	case "uint64":
		n, _ := k.(json.Number)
		u, err := strconv.ParseUint(string(n), 10, 64)
		return parquet.Int64Value(int64(u)), err
	default:
		s, _ := k.(string)
		return parquet.ByteArrayValue([]byte(s)), nil
	}
	return parquet.Value{}, fmt.Errorf("%v is not a %s", k, typ)
}
