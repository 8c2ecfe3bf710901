package resultcache

import (
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"encoding/hex"
	"hash"
)

// Version names the key's derivation and the layout: a change to either
// changes it, and every earlier entry misses.
const Version = "gridrun.cache.v1"

var versionBytes = []byte(Version)

// Key identifies one element's result.
type Key [sha256.Size]byte

func (k Key) String() string { return hex.EncodeToString(k[:]) }

// Job is what every element of a job shares in its key.
type Job struct {
	// BinarySHA256 is the hex sha256 of the binary's bytes.
	BinarySHA256 string
	// Args and Env are the binary's arguments and added environment, in
	// the order given.
	Args, Env []string
	// CommonSHA256 is the hex sha256 of the job's common data; "" when
	// it has none.
	CommonSHA256 string
}

// Digest returns the sha256 of the job's part of every key, to pass to
// KeyOf.
func (j Job) Digest() Key {
	h := sha256.New()
	w := writer{h: h}
	w.bytes([]byte(Version + ".job"))
	w.bytes([]byte(j.BinarySHA256))
	w.strings(j.Args)
	w.strings(j.Env)
	w.bytes([]byte(j.CommonSHA256))
	var k Key
	h.Sum(k[:0])
	return k
}

// Element is what one element adds to its key.
type Element struct {
	// Payload is the element's input message, in wire bytes.
	Payload []byte
	// SideRows are the payloads of its joined side rows, in the order
	// the batch references them.
	SideRows [][]byte
	// HasScenario says the element runs under a scenario, ScenarioID and
	// ScenarioPayload; a scenario with an empty id and payload is not the
	// same as none.
	HasScenario     bool
	ScenarioID      string
	ScenarioPayload []byte
}

// KeyOf returns an element's key: a sha256 over the job's digest and the
// element's parts, each length-prefixed (8 bytes, big-endian) so that no
// two different inputs give the same bytes, and lists preceded by their
// count.
func KeyOf(job Key, e Element) Key {
	var h Hasher
	return h.Key(job, e)
}

// Hasher computes keys as KeyOf does, reusing its state: for a batch's
// elements, no allocation. The version and the job's digest fill the
// first block of sha256 exactly, so that block is hashed once per job and
// each key starts from its state. The zero value is ready; it is not safe
// for concurrent use.
type Hasher struct {
	h   stateHash
	job Key
	mid []byte // h's state after the version and the job
	buf []byte
}

// Key returns KeyOf(job, e).
func (hs *Hasher) Key(job Key, e Element) Key {
	if hs.h == nil || hs.job != job {
		hs.h, hs.job = sha256.New().(stateHash), job
		w := writer{h: hs.h}
		w.bytes(versionBytes)
		w.bytes(job[:])
		hs.mid, _ = hs.h.MarshalBinary()
	}
	_ = hs.h.UnmarshalBinary(hs.mid) // its own state: it cannot fail
	b := hs.buf[:0]
	b = appendBytes(b, e.Payload)
	b = binary.BigEndian.AppendUint64(b, uint64(len(e.SideRows)))
	for _, r := range e.SideRows {
		b = appendBytes(b, r)
	}
	if e.HasScenario {
		b = binary.BigEndian.AppendUint64(b, 1)
		b = appendBytes(b, []byte(e.ScenarioID))
		b = appendBytes(b, e.ScenarioPayload)
	} else {
		b = binary.BigEndian.AppendUint64(b, 0)
	}
	hs.buf = b
	hs.h.Write(b)
	var k Key
	hs.h.Sum(k[:0])
	return k
}

// stateHash is sha256's hash, whose state can be saved and restored.
type stateHash interface {
	hash.Hash
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}

// appendBytes appends b, length first, as writer.bytes writes it.
func appendBytes(dst, b []byte) []byte {
	return append(binary.BigEndian.AppendUint64(dst, uint64(len(b))), b...)
}

type writer struct {
	h   hash.Hash
	buf [8]byte
}

func (w *writer) count(n int) {
	binary.BigEndian.PutUint64(w.buf[:], uint64(n))
	w.h.Write(w.buf[:])
}

func (w *writer) bytes(b []byte) {
	w.count(len(b))
	w.h.Write(b)
}

func (w *writer) strings(ss []string) {
	w.count(len(ss))
	for _, s := range ss {
		w.bytes([]byte(s))
	}
}
