// Package batcher groups elements into batches for subprocess calls: by
// count (100 per call to start with, then sized to the measured cost), bounded by
// bytes, and optionally partitioned by a key so that elements sharing market
// data travel together and their rows are read once per batch.
package batcher

import (
	"cmp"
	"hash/maphash"
)

// Options configure a Batcher. The zero value is usable.
type Options struct {
	// Size is the number of elements in a batch. Defaults to 100.
	Size int
	// MaxBytes bounds the bytes of a batch, as measured by the Batcher's
	// size function; a single larger element is a batch of its own.
	// Defaults to 64 MiB.
	MaxBytes int
	// Partitions, when above 1, splits the elements by a hash of their key
	// into that many partitions, each batched on its own. Memory grows to
	// Partitions full batches.
	Partitions int
	// NextSize, when set, is asked for the size of each new batch and
	// overrides Size; it is how an adaptive policy steers the batches.
	NextSize func() int
}

// Batcher groups elements of type T. It is not safe for concurrent use.
type Batcher[T any] struct {
	opts  Options
	emit  func([]T)
	bytes func(T) int
	key   func(T) string
	seed  maphash.Seed
	parts []part[T]
}

type part[T any] struct {
	items  []T
	bytes  int
	target int // size this batch aims for
}

// New returns a Batcher that hands each completed batch to emit. bytes
// measures an element; key returns its partition key and may be nil when
// Partitions is not set.
func New[T any](opts Options, emit func([]T), bytes func(T) int, key func(T) string) *Batcher[T] {
	opts.Size = cmp.Or(opts.Size, 100)
	opts.MaxBytes = cmp.Or(opts.MaxBytes, 64<<20)
	opts.Partitions = max(opts.Partitions, 1)
	return &Batcher[T]{opts: opts, emit: emit, bytes: bytes, key: key, seed: maphash.MakeSeed(), parts: make([]part[T], opts.Partitions)}
}

// Add adds x, emitting the batches it completes: the batch x would push
// past MaxBytes, and the batch x fills.
func (b *Batcher[T]) Add(x T) {
	p := &b.parts[b.partition(x)]
	n := b.bytes(x)
	if len(p.items) > 0 && p.bytes+n > b.opts.MaxBytes {
		b.emit(b.take(p))
	}
	if len(p.items) == 0 {
		p.target = b.nextSize()
	}
	p.items = append(p.items, x)
	p.bytes += n
	if len(p.items) >= p.target {
		b.emit(b.take(p))
	}
}

// Pending returns the number of elements held.
func (b *Batcher[T]) Pending() int {
	n := 0
	for _, p := range b.parts {
		n += len(p.items)
	}
	return n
}

// Flush emits the partial batches, in partition order.
func (b *Batcher[T]) Flush() {
	for i := range b.parts {
		if len(b.parts[i].items) > 0 {
			b.emit(b.take(&b.parts[i]))
		}
	}
}

func (b *Batcher[T]) take(p *part[T]) []T {
	items := p.items
	p.items, p.bytes = nil, 0
	return items
}

func (b *Batcher[T]) nextSize() int {
	if b.opts.NextSize != nil {
		return max(b.opts.NextSize(), 1)
	}
	return b.opts.Size
}

func (b *Batcher[T]) partition(x T) int {
	if len(b.parts) == 1 {
		return 0
	}
	return int(maphash.String(b.seed, b.key(x)) % uint64(len(b.parts)))
}
