package join

import "container/list"

// lru is a byte-bounded least-recently-used cache of rows, including the
// knowledge that a key has no row. Not safe for concurrent use; Table locks.
type lru struct {
	max, size int64
	order     *list.List // front = most recent
	entries   map[string]*list.Element
}

type entry struct {
	key  string
	row  Row
	ok   bool // false: the key has no row
	cost int64
}

// entryOverhead approximates the map, list and struct bytes of one entry.
const entryOverhead = 128

func newLRU(max int64) *lru {
	return &lru{max: max, order: list.New(), entries: map[string]*list.Element{}}
}

func (c *lru) get(key string) (row Row, ok, hit bool) {
	el := c.entries[key]
	if el == nil {
		return Row{}, false, false
	}
	c.order.MoveToFront(el)
	e := el.Value.(*entry)
	return e.row, e.ok, true
}

func (c *lru) put(key string, row Row, ok bool) {
	cost := int64(2*len(key)+len(row.Payload)) + entryOverhead
	if row.Err != nil {
		cost += int64(len(row.Err.Error()))
	}
	if cost > c.max {
		return
	}
	if el := c.entries[key]; el != nil {
		c.size -= el.Value.(*entry).cost
		c.order.Remove(el)
		delete(c.entries, key)
	}
	for c.size+cost > c.max {
		old := c.order.Back()
		e := old.Value.(*entry)
		c.size -= e.cost
		c.order.Remove(old)
		delete(c.entries, e.key)
	}
	c.entries[key] = c.order.PushFront(&entry{key: key, row: row, ok: ok, cost: cost})
	c.size += cost
}

func (c *lru) len() int { return len(c.entries) }
