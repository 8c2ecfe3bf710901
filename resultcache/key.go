package resultcache

import (
	"crypto/sha256"
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
// elements, one allocation rather than one per element. The zero value is
// ready; it is not safe for concurrent use.
type Hasher struct{ w writer }

// Key returns KeyOf(job, e).
func (hs *Hasher) Key(job Key, e Element) Key {
	if hs.w.h == nil {
		hs.w.h = sha256.New()
	}
	h := hs.w.h
	h.Reset()
	w := &hs.w
	w.bytes(versionBytes)
	w.bytes(job[:])
	w.bytes(e.Payload)
	w.count(len(e.SideRows))
	for _, r := range e.SideRows {
		w.bytes(r)
	}
	if e.HasScenario {
		w.count(1)
		w.bytes([]byte(e.ScenarioID))
		w.bytes(e.ScenarioPayload)
	} else {
		w.count(0)
	}
	var k Key
	h.Sum(k[:0])
	return k
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
