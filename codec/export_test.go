package codec

// FastDecode runs only the fast path of d on a JSON line; false when it
// declines.
func FastDecode(d *Decoder, line []byte) (Element, bool) {
	if d.fast == nil {
		return Element{}, false
	}
	f := d.fast.Get().(*fastJSON)
	defer d.fast.Put(f)
	payload, ok := f.decode(line, d.opts.IgnoreUnknown)
	if !ok {
		return Element{}, false
	}
	e, err := d.identify(f.text)
	e.Payload = payload
	return e, err == nil
}

// SlowDecoder returns d without its fast path.
func SlowDecoder(d *Decoder) *Decoder {
	c := *d
	c.fast = nil
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
	return d != nil && d.fast != nil, e != nil && e.flat != nil
}
