package codec

// FastDecode runs only the fast path of d on a JSON line; false when it
// declines.
func FastDecode(d *Decoder, line []byte) (Element, bool) {
	jd, ok := d.rows.(*jsonlDecoder)
	if !ok || jd.fast == nil {
		return Element{}, false
	}
	f := jd.fast.Get().(*fastJSON)
	defer jd.fast.Put(f)
	payload, ok := f.decode(line, jd.b.opts.IgnoreUnknown)
	if !ok {
		return Element{}, false
	}
	e, err := jd.b.Identify(f.text)
	e.Payload = payload
	return e, err == nil
}

// SpliceDecode runs only the fast path of d on a delimited protobuf
// record; false when it declines.
func SpliceDecode(d *Decoder, record []byte) (Element, bool) {
	pd, ok := d.rows.(*pbDecoder)
	if !ok || pd.splice == nil {
		return Element{}, false
	}
	return pd.splice.decode(record)
}

// HasSplice reports whether d reads delimited records through the splice.
func HasSplice(d *Decoder) bool {
	pd, ok := d.rows.(*pbDecoder)
	return ok && pd.splice != nil
}

// SlowDecoder returns d without its fast path.
func SlowDecoder(d *Decoder) *Decoder {
	c := *d
	switch rd := d.rows.(type) {
	case *jsonlDecoder:
		slow := *rd
		slow.fast = nil
		c.rows = &slow
	case *pbDecoder:
		slow := *rd
		slow.splice = nil
		c.rows = &slow
	}
	return &c
}

// SlowEncoder returns e without its fast path.
func SlowEncoder(e *ResultEncoder) *ResultEncoder {
	c := *e
	c.flat = nil
	return &c
}

// HasFastPaths reports whether d and e, either may be nil, have fast paths.
func HasFastPaths(d *Decoder, e *ResultEncoder) (bool, bool) {
	var fast bool
	if d != nil {
		jd, ok := d.rows.(*jsonlDecoder)
		fast = ok && jd.fast != nil
	}
	return fast, e != nil && e.flat != nil
}

// RowJSON is a Parquet row's columns as JSON; "" for other rows.
func RowJSON(r Row) string {
	if r.parquet == nil {
		return ""
	}
	return string(r.parquet.JSON())
}
