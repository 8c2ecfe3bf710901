package resultcache

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
)

// A pack is entries back to back. An entry:
//
//	"GRCE" | key (32) | payload length (4, big-endian) | payload | CRC-32C (4)
//
// the CRC over the key, the length and the payload. An index:
//
//	"GRCI" | count (4) | count × (key (32) | offset (4) | entry length (4)) | sha256 (32)
//
// the sha256 over all that precedes it.
const (
	entryMagic    = "GRCE"
	indexMagic    = "GRCI"
	entryOverhead = 4 + 32 + 4 + 4
	indexRecord   = 32 + 4 + 4
)

// maxPackBytes keeps offsets within the index's 4 bytes.
const maxPackBytes = math.MaxUint32

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Entry is one element's result.
type Entry struct {
	Key     Key
	Payload []byte
}

// location is where an entry lies in a pack.
type location struct {
	key      Key
	off, len uint32
}

// encodePack returns a pack of entries and its index.
func encodePack(entries []Entry) (pack, index []byte, err error) {
	var locs []location
	for _, e := range entries {
		off := len(pack)
		if off+entryOverhead+len(e.Payload) > maxPackBytes {
			return nil, nil, fmt.Errorf("a pack of %d entries exceeds %d bytes", len(entries), maxPackBytes)
		}
		pack = append(pack, entryMagic...)
		start := len(pack)
		pack = append(pack, e.Key[:]...)
		pack = binary.BigEndian.AppendUint32(pack, uint32(len(e.Payload)))
		pack = append(pack, e.Payload...)
		pack = binary.BigEndian.AppendUint32(pack, crc32.Checksum(pack[start:], castagnoli))
		locs = append(locs, location{key: e.Key, off: uint32(off), len: uint32(len(pack) - off)})
	}
	index = append(index, indexMagic...)
	index = binary.BigEndian.AppendUint32(index, uint32(len(locs)))
	for _, l := range locs {
		index = append(index, l.key[:]...)
		index = binary.BigEndian.AppendUint32(index, l.off)
		index = binary.BigEndian.AppendUint32(index, l.len)
	}
	sum := sha256.Sum256(index)
	return pack, append(index, sum[:]...), nil
}

var errCorruptIndex = errors.New("corrupt index")

// decodeIndex returns the locations an index lists.
func decodeIndex(b []byte) ([]location, error) {
	if len(b) < 4+4+sha256.Size || string(b[:4]) != indexMagic {
		return nil, fmt.Errorf("%w: %d bytes, not an index", errCorruptIndex, len(b))
	}
	body, sum := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return nil, fmt.Errorf("%w: checksum mismatch", errCorruptIndex)
	}
	n := int(binary.BigEndian.Uint32(body[4:]))
	recs := body[8:]
	if len(recs) != n*indexRecord {
		return nil, fmt.Errorf("%w: %d entries in %d bytes", errCorruptIndex, n, len(recs))
	}
	locs := make([]location, n)
	for i := range locs {
		r := recs[i*indexRecord:]
		copy(locs[i].key[:], r)
		locs[i].off = binary.BigEndian.Uint32(r[32:])
		locs[i].len = binary.BigEndian.Uint32(r[36:])
	}
	return locs, nil
}

// decodeEntry checks the entry b, expected to hold key, and returns its
// payload. It says what is wrong otherwise.
func decodeEntry(b []byte, key Key) ([]byte, error) {
	if len(b) < entryOverhead {
		return nil, fmt.Errorf("entry truncated to %d bytes", len(b))
	}
	if string(b[:4]) != entryMagic {
		return nil, errors.New("no entry header")
	}
	n := int(binary.BigEndian.Uint32(b[36:]))
	if len(b) != entryOverhead+n {
		return nil, fmt.Errorf("entry of %d bytes holds a payload length of %d", len(b), n)
	}
	body := b[4 : len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[len(b)-4:]) {
		return nil, errors.New("entry checksum mismatch")
	}
	if !bytes.Equal(body[:32], key[:]) {
		return nil, errors.New("entry holds another key")
	}
	return body[36:], nil
}
