package codec

// slab hands out copies of small byte strings carved from shared blocks,
// one allocation per block instead of one per row: a row's line and its
// payload are small, live as long as their element, and are allocated by
// the million. Each copy is capped at its own length, so that appending to
// it reallocates rather than writing over its neighbour. The cost is that
// a block stays in memory while any copy in it is alive; elements settle
// roughly in the order they were read, so that is a few blocks at a time.
// Not safe for concurrent use.
type slab struct {
	block []byte
}

const (
	// slabBlock is the size of a block.
	slabBlock = 32 << 10
	// slabMax is the largest copy carved from a block; a longer one is
	// allocated on its own, so that one wide row does not leave most of
	// a block unused.
	slabMax = slabBlock / 8
)

// copy returns a copy of b.
func (s *slab) copy(b []byte) []byte {
	if len(b) > slabMax {
		return append([]byte(nil), b...)
	}
	if len(b) > cap(s.block)-len(s.block) {
		s.block = make([]byte, 0, slabBlock)
	}
	n := len(s.block)
	s.block = append(s.block, b...)
	return s.block[n:len(s.block):len(s.block)]
}
