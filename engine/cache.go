package engine

import (
	"container/list"
	"sync"
)

// cache is an LRU map bounded by the summed size of its values, with
// in-flight deduplication: when many goroutines ask for the same missing
// key at once, one loads it and the others wait for that load.
type cache[K comparable, V any] struct {
	maxBytes int64

	mu       sync.Mutex
	bytes    int64
	order    *list.List // front: most recently used
	items    map[K]*list.Element
	inflight map[K]*load[V]
}

type entry[K comparable, V any] struct {
	key  K
	val  V
	size int64
}

type load[V any] struct {
	done chan struct{}
	val  V
	err  error
}

func newCache[K comparable, V any](maxBytes int64) *cache[K, V] {
	return &cache[K, V]{maxBytes: maxBytes, order: list.New(), items: map[K]*list.Element{}, inflight: map[K]*load[V]{}}
}

// get returns the cached value for key, or calls fetch once (across
// concurrent callers) and caches what it returns. size is the value's cost
// in bytes; values larger than the whole cache are returned but not kept.
func (c *cache[K, V]) get(key K, fetch func() (V, int64, error)) (V, error) {
	c.mu.Lock()
	if el, ok := c.items[key]; ok {
		c.order.MoveToFront(el)
		v := el.Value.(*entry[K, V]).val
		c.mu.Unlock()
		return v, nil
	}
	if l, ok := c.inflight[key]; ok {
		c.mu.Unlock()
		<-l.done
		return l.val, l.err
	}
	l := &load[V]{done: make(chan struct{})}
	c.inflight[key] = l
	c.mu.Unlock()

	var size int64
	func() {
		defer func() {
			if r := recover(); r != nil {
				l.err = panicError(r)
			}
		}()
		l.val, size, l.err = fetch()
	}()

	c.mu.Lock()
	delete(c.inflight, key)
	if l.err == nil {
		c.addLocked(key, l.val, size)
	}
	c.mu.Unlock()
	close(l.done)
	return l.val, l.err
}

// put stores a value directly (a writer that just made it).
func (c *cache[K, V]) put(key K, val V, size int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgetLocked(key)
	c.addLocked(key, val, size)
}

// forget drops key's value, if cached (its object was deleted).
func (c *cache[K, V]) forget(key K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgetLocked(key)
}

func (c *cache[K, V]) forgetLocked(key K) {
	if el, ok := c.items[key]; ok {
		c.bytes -= el.Value.(*entry[K, V]).size
		c.order.Remove(el)
		delete(c.items, key)
	}
}

func (c *cache[K, V]) addLocked(key K, val V, size int64) {
	if size > c.maxBytes {
		return
	}
	if _, ok := c.items[key]; ok {
		return
	}
	c.items[key] = c.order.PushFront(&entry[K, V]{key: key, val: val, size: size})
	c.bytes += size
	for c.bytes > c.maxBytes {
		last := c.order.Back()
		e := last.Value.(*entry[K, V])
		c.order.Remove(last)
		delete(c.items, e.key)
		c.bytes -= e.size
	}
}

// stats returns the number of entries and their summed size.
func (c *cache[K, V]) stats() (int, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items), c.bytes
}
