/*
 * registry.c - the registry of memory handed to C, and the two exports
 * that release it.
 *
 * Every buffer and string returned through an out-parameter is allocated
 * by icgo_alloc and recorded here until ic_buffer_free or ic_string_free
 * releases it, so that releasing a pointer twice, or one the library never
 * returned, is an error code and not heap corruption.
 *
 * The registry is in C, not Go, because of who calls the release: a
 * binding frees the buffer of every chunk it read, often from the thread
 * that runs its event loop. A Go export called from a C thread must first
 * get one of the runtime's processors, and while the library's own
 * goroutines keep them all busy (reading the next chunks), the caller
 * waits for one just to free memory. Here a release is a lock, a lookup
 * and free(3).
 *
 * The registry is sharded by address so that get-many results released on
 * several threads do not meet on one lock. Each shard is an open-addressing
 * hash table of addresses and sizes (linear probing, deletion by backward
 * shift: no tombstones), grown to keep it at most half full and halved
 * when it is at most an eighth full.
 *
 * Large buffers (get-many batches of a few MiB, one after another while a
 * reader scans) are kept for reuse in a small cache shared by all threads
 * instead of going back to malloc. malloc would hand each of the library's
 * threads an arena of its own and keep freed megabytes in each: a scan
 * through the Python binding held about 10 MiB more that way than with one
 * arena. The cache holds at most LARGE_CACHED buffers.
 */
#include <pthread.h>
#include <stdint.h>

#include "capi.h"

#define SHARD_BITS 6
#define SHARDS (1 << SHARD_BITS)
#define FIRST_CAPACITY 64
#define LARGE ((size_t)1 << 20) /* buffers this large are cached */
#define LARGE_CACHED 3

typedef struct {
    uintptr_t p; /* 0: empty */
    size_t size; /* as allocated: at least what was asked */
} entry;

typedef struct {
    pthread_mutex_t mu;
    entry *slots;
    size_t capacity;  /* a power of two, or 0 before the first insert */
    size_t count;
} shard;

static shard shards[SHARDS] = {[0 ... SHARDS - 1] = {.mu = PTHREAD_MUTEX_INITIALIZER}};
static int64_t live_count;

static uint64_t mix(uintptr_t p) { return (uint64_t)(p >> 4) * 0x9E3779B97F4A7C15ull; }

static shard *shard_of(uintptr_t p) { return &shards[mix(p) >> (64 - SHARD_BITS)]; }

static size_t home_slot(const shard *s, uintptr_t p) { return (size_t)mix(p) & (s->capacity - 1); }

/* Inserts e, known to be absent, into a table with room for it. */
static void place(shard *s, entry e) {
    size_t i = home_slot(s, e.p);
    while (s->slots[i].p != 0) {
        i = (i + 1) & (s->capacity - 1);
    }
    s->slots[i] = e;
    s->count++;
}

/* Rebuilds the table with capacity slots (a power of two with room for
 * every entry); 0 when out of memory, and the table is unchanged. */
static int resize(shard *s, size_t capacity) {
    entry *old = s->slots;
    size_t old_capacity = s->capacity;
    entry *slots = calloc(capacity, sizeof(entry));
    if (slots == NULL) {
        return 0;
    }
    s->slots = slots;
    s->capacity = capacity;
    s->count = 0;
    for (size_t i = 0; i < old_capacity; i++) {
        if (old[i].p != 0) {
            place(s, old[i]);
        }
    }
    free(old);
    return 1;
}

/* Doubles the table (or makes the first one); 0 when out of memory. */
static int grow(shard *s) { return resize(s, s->capacity ? s->capacity * 2 : FIRST_CAPACITY); }

/* Halves a table that is at most an eighth full, so that a burst of live
 * buffers (a scan holding many at once) does not keep its table for the
 * life of the process. Halved, it is at most a quarter full: far from the
 * next doubling. Out of memory, it stays as it is. */
static void shrink_if_sparse(shard *s) {
    if (s->capacity > FIRST_CAPACITY && s->count * 8 <= s->capacity) {
        (void)resize(s, s->capacity / 2);
    }
}

/* Removes p and sets *size to its size; 0 if it is not in the table. */
static int take(shard *s, uintptr_t p, size_t *size) {
    if (s->capacity == 0) {
        return 0;
    }
    size_t mask = s->capacity - 1;
    size_t i = home_slot(s, p);
    while (s->slots[i].p != p) {
        if (s->slots[i].p == 0) {
            return 0;
        }
        i = (i + 1) & mask;
    }
    *size = s->slots[i].size;
    /* Backward shift: move later entries of the probe chain into the gap
     * unless that would put one before its home slot. */
    size_t gap = i;
    for (size_t j = (i + 1) & mask; s->slots[j].p != 0; j = (j + 1) & mask) {
        size_t home = home_slot(s, s->slots[j].p);
        if (((j - home) & mask) >= ((j - gap) & mask)) {
            s->slots[gap] = s->slots[j];
            gap = j;
        }
    }
    s->slots[gap] = (entry){0, 0};
    s->count--;
    return 1;
}

/* The cache of large buffers no one holds, each with its size. */
static pthread_mutex_t large_mu = PTHREAD_MUTEX_INITIALIZER;
static entry large[LARGE_CACHED];
static int large_count;

/* Takes a cached buffer of at least n bytes (and not much more), or 0. */
static entry large_take(size_t n) {
    entry e = {0, 0};
    pthread_mutex_lock(&large_mu);
    for (int i = 0; i < large_count; i++) {
        if (large[i].size >= n && large[i].size - n <= n / 2) {
            e = large[i];
            large[i] = large[--large_count];
            break;
        }
    }
    pthread_mutex_unlock(&large_mu);
    return e;
}

/* Keeps e for reuse; 0 if the cache is full (the oldest stays). */
static int large_keep(entry e) {
    pthread_mutex_lock(&large_mu);
    int ok = large_count < LARGE_CACHED;
    if (ok) {
        large[large_count++] = e;
    }
    pthread_mutex_unlock(&large_mu);
    return ok;
}

HIDDEN void *icgo_alloc(size_t n) {
    entry e = {0, n};
    if (n >= LARGE) {
        e = large_take(n);
    }
    if (e.p == 0) {
        e = (entry){(uintptr_t)icgo_malloc(n), n};
        if (e.p == 0) {
            return NULL;
        }
    }
    void *p = (void *)e.p;
    shard *s = shard_of(e.p);
    pthread_mutex_lock(&s->mu);
    int ok = (s->count + 1) * 2 <= s->capacity || grow(s);
    if (ok) {
        place(s, e);
    }
    pthread_mutex_unlock(&s->mu);
    if (!ok) {
        free(p);
        return NULL;
    }
    __atomic_add_fetch(&live_count, 1, __ATOMIC_RELAXED);
    return p;
}

HIDDEN int icgo_release(void *p) {
    shard *s = shard_of((uintptr_t)p);
    size_t size = 0;
    pthread_mutex_lock(&s->mu);
    int ok = take(s, (uintptr_t)p, &size);
    if (ok) {
        shrink_if_sparse(s);
    }
    pthread_mutex_unlock(&s->mu);
    if (!ok) {
        return 0;
    }
    __atomic_sub_fetch(&live_count, 1, __ATOMIC_RELAXED);
    if (size < LARGE || !large_keep((entry){(uintptr_t)p, size})) {
        free(p);
    }
    return 1;
}

/* The slots of all shards' tables, for tests. */
HIDDEN int64_t icgo_registry_slots(void) {
    int64_t n = 0;
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_lock(&shards[i].mu);
        n += (int64_t)shards[i].capacity;
        pthread_mutex_unlock(&shards[i].mu);
    }
    return n;
}

HIDDEN int64_t icgo_live_allocs(void) { return __atomic_load_n(&live_count, __ATOMIC_RELAXED); }

HIDDEN int icgo_large_cached(void) {
    pthread_mutex_lock(&large_mu);
    int n = large_count;
    pthread_mutex_unlock(&large_mu);
    return n;
}

ic_status ic_buffer_free(void *data) {
    if (data == NULL || icgo_release(data)) {
        return IC_OK;
    }
    return IC_ERR_INVALID_ARGUMENT;
}

ic_status ic_string_free(char *str) { return ic_buffer_free(str); }
