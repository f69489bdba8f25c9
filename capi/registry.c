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
 * hash set of addresses (linear probing, deletion by backward shift: no
 * tombstones), grown to keep it at most half full.
 */
#include <pthread.h>
#include <stdint.h>

#include "capi.h"

#define SHARD_BITS 6
#define SHARDS (1 << SHARD_BITS)
#define FIRST_CAPACITY 64

typedef struct {
    pthread_mutex_t mu;
    uintptr_t *slots; /* 0: empty */
    size_t capacity;  /* a power of two, or 0 before the first insert */
    size_t count;
} shard;

static shard shards[SHARDS] = {[0 ... SHARDS - 1] = {.mu = PTHREAD_MUTEX_INITIALIZER}};
static int64_t live_count;

static uint64_t mix(uintptr_t p) { return (uint64_t)(p >> 4) * 0x9E3779B97F4A7C15ull; }

static shard *shard_of(uintptr_t p) { return &shards[mix(p) >> (64 - SHARD_BITS)]; }

static size_t home_slot(const shard *s, uintptr_t p) { return (size_t)mix(p) & (s->capacity - 1); }

/* Inserts p, known to be absent, into a table with room for it. */
static void place(shard *s, uintptr_t p) {
    size_t i = home_slot(s, p);
    while (s->slots[i] != 0) {
        i = (i + 1) & (s->capacity - 1);
    }
    s->slots[i] = p;
    s->count++;
}

/* Doubles the table (or makes the first one); 0 when out of memory. */
static int grow(shard *s) {
    size_t capacity = s->capacity ? s->capacity * 2 : FIRST_CAPACITY;
    uintptr_t *old = s->slots;
    size_t old_capacity = s->capacity;
    uintptr_t *slots = calloc(capacity, sizeof(uintptr_t));
    if (slots == NULL) {
        return 0;
    }
    s->slots = slots;
    s->capacity = capacity;
    s->count = 0;
    for (size_t i = 0; i < old_capacity; i++) {
        if (old[i] != 0) {
            place(s, old[i]);
        }
    }
    free(old);
    return 1;
}

/* Removes p; 0 if it is not in the table. */
static int take(shard *s, uintptr_t p) {
    if (s->capacity == 0) {
        return 0;
    }
    size_t mask = s->capacity - 1;
    size_t i = home_slot(s, p);
    while (s->slots[i] != p) {
        if (s->slots[i] == 0) {
            return 0;
        }
        i = (i + 1) & mask;
    }
    /* Backward shift: move later entries of the probe chain into the gap
     * unless that would put one before its home slot. */
    size_t gap = i;
    for (size_t j = (i + 1) & mask; s->slots[j] != 0; j = (j + 1) & mask) {
        size_t home = home_slot(s, s->slots[j]);
        if (((j - home) & mask) >= ((j - gap) & mask)) {
            s->slots[gap] = s->slots[j];
            gap = j;
        }
    }
    s->slots[gap] = 0;
    s->count--;
    return 1;
}

HIDDEN void *icgo_alloc(size_t n) {
    void *p = icgo_malloc(n);
    if (p == NULL) {
        return NULL;
    }
    shard *s = shard_of((uintptr_t)p);
    pthread_mutex_lock(&s->mu);
    int ok = (s->count + 1) * 2 <= s->capacity || grow(s);
    if (ok) {
        place(s, (uintptr_t)p);
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
    pthread_mutex_lock(&s->mu);
    int ok = take(s, (uintptr_t)p);
    pthread_mutex_unlock(&s->mu);
    if (!ok) {
        return 0;
    }
    __atomic_sub_fetch(&live_count, 1, __ATOMIC_RELAXED);
    free(p);
    return 1;
}

HIDDEN int64_t icgo_live_allocs(void) { return __atomic_load_n(&live_count, __ATOMIC_RELAXED); }

ic_status ic_buffer_free(void *data) {
    if (data == NULL || icgo_release(data)) {
        return IC_OK;
    }
    return IC_ERR_INVALID_ARGUMENT;
}

ic_status ic_string_free(char *str) { return ic_buffer_free(str); }
