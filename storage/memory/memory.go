// Package memory is a Storage kept in the process's memory: for tests and
// for ephemeral repositories. It holds the same contract as every other
// backend; its objects vanish with the process.
package memory

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"iter"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/storage"
)

type object struct {
	data    []byte
	modTime time.Time
}

// Store is an in-memory Storage. The zero value is not usable; call New.
type Store struct {
	name string

	mu      sync.RWMutex
	objects map[string]object
	keys    []string           // sorted; kept in step with objects for ordered listing
	uploads map[string]*upload // multipart uploads in progress, by id
}

// New returns an empty in-memory store. name labels it in messages.
func New(name string) *Store {
	if name == "" {
		name = "default"
	}
	return &Store{name: name, objects: map[string]object{}}
}

var (
	_ storage.Storage                = (*Store)(nil)
	_ storage.RangeReader            = (*Store)(nil)
	_ storage.ConditionalRangeReader = (*Store)(nil)
	_ storage.PartsPutter            = (*Store)(nil)
)

func (s *Store) String() string { return "memory:" + s.name }

// ModTimeSlack implements storage.ModTimeSlacker: an object's time is the
// wall clock read when it was written, exactly.
func (s *Store) ModTimeSlack() time.Duration { return 0 }

// Get implements storage.Storage.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	return s.GetRange(ctx, key, storage.From(0))
}

// GetRange implements storage.Storage.
func (s *Store) GetRange(ctx context.Context, key string, r storage.ByteRange) ([]byte, error) {
	if err := s.check(ctx, key); err != nil {
		return nil, err
	}
	s.mu.RLock()
	obj, ok := s.objects[key]
	s.mu.RUnlock()
	if !ok {
		return nil, storage.NotFound(s, key)
	}
	start, end, err := r.Resolve(int64(len(obj.data)))
	if err != nil {
		return nil, errors.Wrapf(err, "%s: get %q", s, key)
	}
	return slices.Clone(obj.data[start:end:end]), nil
}

// ReadRange implements storage.RangeReader.
func (s *Store) ReadRange(ctx context.Context, key string, offset int64, dst []byte) error {
	return s.ReadRangeIf(ctx, key, offset, dst, storage.ReadCondition{})
}

// ReadRangeIf implements storage.ConditionalRangeReader. Objects are
// replaced, never changed in place, so the version checked is the one
// read.
func (s *Store) ReadRangeIf(ctx context.Context, key string, offset int64, dst []byte, cond storage.ReadCondition) error {
	if err := s.check(ctx, key); err != nil {
		return err
	}
	s.mu.RLock()
	obj, ok := s.objects[key]
	s.mu.RUnlock()
	if !ok {
		return storage.NotFound(s, key)
	}
	if !cond.IsZero() {
		info := storage.ObjectInfo{Key: key, Size: int64(len(obj.data)), ModTime: obj.modTime}
		if cond.ETag != "" {
			info.ETag = etagOf(obj.data)
		}
		if err := storage.CheckCondition(s, key, info, cond); err != nil {
			return err
		}
	}
	size := int64(len(obj.data))
	if offset < 0 || offset+int64(len(dst)) > size {
		return storage.ShortObject(s, key, offset, len(dst), size-offset)
	}
	copy(dst, obj.data[offset:])
	return nil
}

// Put implements storage.Storage.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	if err := s.check(ctx, key); err != nil {
		return err
	}
	data = slices.Clone(data) // the caller keeps its buffer
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setLocked(key, data)
	return nil
}

// PutParts implements storage.PartsPutter: it stores one copy of the
// concatenation, as Put stores one copy of its data.
func (s *Store) PutParts(ctx context.Context, key string, parts [][]byte) error {
	if err := s.check(ctx, key); err != nil {
		return err
	}
	data := slices.Concat(parts...)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setLocked(key, data)
	return nil
}

// PutIfAbsent implements storage.Storage.
func (s *Store) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	if err := s.check(ctx, key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.objects[key]; ok {
		return storage.PreconditionFailed(s, key)
	}
	s.setLocked(key, slices.Clone(data))
	return nil
}

// setLocked stores data at key, taking ownership of it: callers pass a
// copy of their caller's bytes. s.mu must be held.
func (s *Store) setLocked(key string, data []byte) {
	if _, ok := s.objects[key]; !ok {
		i, _ := slices.BinarySearch(s.keys, key)
		s.keys = slices.Insert(s.keys, i, key)
	}
	s.objects[key] = object{data: data, modTime: time.Now()}
}

// Delete implements storage.Storage.
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	for _, key := range keys {
		if err := s.check(ctx, key); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, key := range keys {
		if _, ok := s.objects[key]; !ok {
			continue
		}
		delete(s.objects, key)
		if i, found := slices.BinarySearch(s.keys, key); found {
			s.keys = slices.Delete(s.keys, i, i+1)
		}
	}
	return nil
}

// listPage is how many keys List copies out per lock acquisition, so that a
// huge listing neither holds the lock long nor copies everything at once.
const listPage = 1000

// List implements storage.Storage.
func (s *Store) List(ctx context.Context, prefix string, opts storage.ListOptions) iter.Seq2[storage.ObjectInfo, error] {
	return func(yield func(storage.ObjectInfo, error) bool) {
		if err := storage.ValidatePrefix(prefix); err != nil {
			yield(storage.ObjectInfo{}, err)
			return
		}
		after := opts.StartAfter
		for {
			if err := ctx.Err(); err != nil {
				yield(storage.ObjectInfo{}, storage.Indeterminate(err))
				return
			}
			page := s.page(prefix, after)
			for _, info := range page {
				if !yield(info, nil) {
					return
				}
			}
			if len(page) < listPage {
				return
			}
			after = page[len(page)-1].Key
		}
	}
}

func (s *Store) page(prefix, after string) []storage.ObjectInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	from := prefix
	if after >= prefix {
		from = after
	}
	i := sort.SearchStrings(s.keys, from)
	if i < len(s.keys) && s.keys[i] == after {
		i++
	}
	var out []storage.ObjectInfo
	for ; i < len(s.keys) && len(out) < listPage; i++ {
		k := s.keys[i]
		if len(k) < len(prefix) || k[:len(prefix)] != prefix {
			break
		}
		obj := s.objects[k]
		out = append(out, storage.ObjectInfo{Key: k, Size: int64(len(obj.data)), ModTime: obj.modTime})
	}
	return out
}

// Sync implements storage.Storage: memory writes are as durable as they
// get when they return.
func (s *Store) Sync(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return storage.Determinate(err)
	}
	return nil
}

// Stat implements storage.Storage.
func (s *Store) Stat(ctx context.Context, key string) (storage.ObjectInfo, error) {
	if err := s.check(ctx, key); err != nil {
		return storage.ObjectInfo{}, err
	}
	s.mu.RLock()
	obj, ok := s.objects[key]
	s.mu.RUnlock()
	if !ok {
		return storage.ObjectInfo{}, storage.NotFound(s, key)
	}
	return storage.ObjectInfo{Key: key, Size: int64(len(obj.data)), ModTime: obj.modTime, ETag: etagOf(obj.data)}, nil
}

// etagOf is the entity tag S3 gives an object written in one PUT: the
// quoted hex MD5 of its content.
func etagOf(data []byte) string {
	sum := md5.Sum(data)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

func (s *Store) check(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return storage.Determinate(err)
	}
	return storage.ValidateKey(key)
}
