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

// SlowDecoder returns d without its fast path.
func SlowDecoder(d *Decoder) *Decoder {
	c := *d
	if jd, ok := d.rows.(*jsonlDecoder); ok {
		slow := *jd
		slow.fast = nil
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
