package engine

import (
	"container/list"
	"context"
	"sync"

	"github.com/cockroachdb/errors"
)

// cache is an LRU map bounded by the summed size of its values, with
// in-flight deduplication: when many goroutines ask for the same missing
// key at once, one loads it and the others wait for that load. A value's
// size is its cost in bytes, or, once resize gives the cache a count
// function, what that function counts in it (nodes, chunk references).
type cache[K comparable, V any] struct {
	mu       sync.Mutex
	limit    int64         // bound on the summed sizes
	count    func(V) int64 // nil: a value's size is its cost in bytes
	size     int64         // summed sizes of the entries
	order    *list.List    // front: most recently used
	items    map[K]*list.Element
	inflight map[K]*load[V]
}

type entry[K comparable, V any] struct {
	key   K
	val   V
	bytes int64 // cost in bytes, as the loader or writer gave it
	size  int64 // bytes, or count(val)
}

type load[V any] struct {
	done    chan struct{}
	val     V
	err     error
	waiters int // callers that joined (under the cache's lock)
}

func newCache[K comparable, V any](maxBytes int64) *cache[K, V] {
	return &cache[K, V]{limit: maxBytes, order: list.New(), items: map[K]*list.Element{}, inflight: map[K]*load[V]{}}
}

// resize bounds the cache by limit, in bytes if count is nil, else in what
// count counts in each value, and drops the least recently used entries
// past the new bound.
func (c *cache[K, V]) resize(limit int64, count func(V) int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.limit, c.count, c.size = limit, count, 0
	for el := c.order.Front(); el != nil; el = el.Next() {
		e := el.Value.(*entry[K, V])
		e.size = c.sizeOf(e.val, e.bytes)
		c.size += e.size
	}
	c.evictLocked()
}

func (c *cache[K, V]) sizeOf(val V, bytes int64) int64 {
	if c.count != nil {
		return c.count(val)
	}
	return bytes
}

// get returns the cached value for key, or calls fetch once (across
// concurrent callers) and caches what it returns with its cost in bytes;
// values larger than the whole cache are returned but not kept. A caller
// that joined a load stopped by its starter's context (a walk that ended,
// a cancelled call) loads again with its own fetch.
func (c *cache[K, V]) get(key K, fetch func() (V, int64, error)) (V, error) {
	c.mu.Lock()
	if el, ok := c.items[key]; ok {
		c.order.MoveToFront(el)
		v := el.Value.(*entry[K, V]).val
		c.mu.Unlock()
		return v, nil
	}
	if l, ok := c.inflight[key]; ok {
		l.waiters++
		c.mu.Unlock()
		<-l.done
		if errors.Is(l.err, context.Canceled) || errors.Is(l.err, context.DeadlineExceeded) {
			return c.get(key, fetch)
		}
		return l.val, l.err
	}
	l := &load[V]{done: make(chan struct{})}
	c.inflight[key] = l
	c.mu.Unlock()

	var bytes int64
	func() {
		defer func() {
			if r := recover(); r != nil {
				l.err = panicError(r)
			}
		}()
		l.val, bytes, l.err = fetch()
	}()

	c.mu.Lock()
	delete(c.inflight, key)
	if l.err == nil {
		c.addLocked(key, l.val, bytes)
	}
	c.mu.Unlock()
	close(l.done)
	return l.val, l.err
}

// put stores a value directly (a writer that just made it).
func (c *cache[K, V]) put(key K, val V, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgetLocked(key)
	c.addLocked(key, val, bytes)
}

// offer stores a value unless key is cached already (a copy of an object
// that came with something else read).
func (c *cache[K, V]) offer(key K, val V, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.addLocked(key, val, bytes)
}

// peek returns key's cached value, if any, and marks it used; it never
// loads.
func (c *cache[K, V]) peek(key K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		var zero V
		return zero, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*entry[K, V]).val, true
}

// roomFor reports whether key is cached and the cache's bound holds n
// values of its size.
func (c *cache[K, V]) roomFor(key K, n int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	return ok && el.Value.(*entry[K, V]).size <= c.limit/n
}

// contains reports whether key is cached, without marking it used.
func (c *cache[K, V]) contains(key K) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.items[key]
	return ok
}

// forget drops key's value, if cached (its object was deleted).
func (c *cache[K, V]) forget(key K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgetLocked(key)
}

func (c *cache[K, V]) forgetLocked(key K) {
	if el, ok := c.items[key]; ok {
		c.size -= el.Value.(*entry[K, V]).size
		c.order.Remove(el)
		delete(c.items, key)
	}
}

func (c *cache[K, V]) addLocked(key K, val V, bytes int64) {
	size := c.sizeOf(val, bytes)
	if size > c.limit {
		return
	}
	if _, ok := c.items[key]; ok {
		return
	}
	c.items[key] = c.order.PushFront(&entry[K, V]{key: key, val: val, bytes: bytes, size: size})
	c.size += size
	c.evictLocked()
}

func (c *cache[K, V]) evictLocked() {
	for c.size > c.limit {
		last := c.order.Back()
		e := last.Value.(*entry[K, V])
		c.order.Remove(last)
		delete(c.items, e.key)
		c.size -= e.size
	}
}

// stats returns the number of entries and their summed size.
func (c *cache[K, V]) stats() (int, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items), c.size
}
