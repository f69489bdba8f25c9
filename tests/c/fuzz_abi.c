/*
 * fuzz_abi.c - thousands of random calls with random arguments: live,
 * freed, forged and wrong-type handles, NULL pointers, huge sizes, random
 * bytes as keys, paths and JSON. Every call must return a status (an error
 * code for the bad ones), never crash; what the library hands out is freed,
 * and nothing is left alive at the end. The seed is fixed so a failure
 * replays; pass another as the first argument.
 */
#include "common.h"

#define ITERATIONS 4000
#define POOL 16

static uint64_t rng_state;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static int pick(int n) { return (int)(rnd() % (uint64_t)n); }

/* Handles: live ones of each kind, freed ones, and forged numbers. */
static ic_storage storages[POOL];
static ic_repo repos[POOL];
static ic_session sessions[POOL];
static ic_iter iters[POOL];
static uint64_t dead[POOL];

static uint64_t any_handle(void) {
    switch (pick(7)) {
    case 0: return storages[pick(POOL)];
    case 1: return repos[pick(POOL)];
    case 2: return sessions[pick(POOL)];
    case 3: return iters[pick(POOL)];
    case 4: return dead[pick(POOL)];
    case 5: return 0;
    default: return rnd();
    }
}

/* Half the time a live handle of the pool (when it has one), else any
 * handle: calls that need one of a kind then get past the lookup often
 * enough to exercise what follows. */
static uint64_t live_or_any(const uint64_t *pool) {
    if (pick(2)) {
        int start = pick(POOL);
        for (int i = 0; i < POOL; i++)
            if (pool[(start + i) % POOL] != 0) return pool[(start + i) % POOL];
    }
    return any_handle();
}

static char text[8][300];
static const char *KEYS[] = {"zarr.json", "a/zarr.json", "a/c/0/0", "a/c/9/9", "../x", "a//b", "", "c", "a/c.0.0"};
static const char *JSONS[] = {"{}", "[]", "{\"a\":1}", "{\"inline_chunk_threshold\":\"x\"}", "null", "{", "\"s\""};
/* Virtual refs for array /a (2 x 2 chunks): good, outside the grid, without
 * a location, of another rank, and not an array. */
static const char *VREFS[] = {
    "[{\"coords\":[0,1],\"location\":\"s3://b/k\",\"offset\":0,\"length\":4,\"etag\":\"e\"}]",
    "[{\"coords\":[5,0],\"location\":\"s3://b/k\",\"offset\":0,\"length\":4}]",
    "[{\"coords\":[0,0],\"offset\":0,\"length\":4}]",
    "[{\"coords\":[0],\"location\":\"s3://b/k\",\"offset\":0,\"length\":4}]",
    "[]", "{}"};

/* The id of the last snapshot a call wrote, for calls that take one. */
static char last_snapshot[32] = "AAAAAAAAAAAAAAAAAAA0";

/* A string argument: NULL, a fixed interesting one, or random bytes
 * (invalid UTF-8 included). */
static const char *any_string(int slot) {
    switch (pick(4)) {
    case 0: return NULL;
    case 1: return KEYS[pick((int)(sizeof KEYS / sizeof *KEYS))];
    case 2: return JSONS[pick((int)(sizeof JSONS / sizeof *JSONS))];
    default: {
        int n = pick(280);
        for (int i = 0; i < n; i++) text[slot][i] = (char)(1 + pick(255));
        text[slot][n] = 0;
        return text[slot];
    }
    }
}

static uint8_t bytes[4096];

/* A size that matches the buffer, is zero, or is absurd (never one that
 * merely overstates a real buffer: no library can detect that). */
static size_t any_size(size_t real) {
    switch (pick(4)) {
    case 0: return 0;
    case 1: return (size_t)-1;
    case 2: return (size_t)1 << 60;
    default: return real;
    }
}

static void keep(uint64_t *pool, uint64_t h, ic_status (*release)(uint64_t)) {
    int i = pick(POOL);
    if (pool[i]) {
        release(pool[i]);
        dead[pick(POOL)] = pool[i];
    }
    pool[i] = h;
}

static ic_status free_storage(uint64_t h) { return ic_storage_free(h); }
static ic_status free_repo(uint64_t h) { return ic_repo_free(h); }
static ic_status free_session(uint64_t h) { return ic_session_free(h); }
static ic_status free_iter(uint64_t h) { return ic_iter_free(h); }

static void one_call(void) {
    ic_error e = 0;
    ic_status st = IC_OK;
    char *s = NULL;
    uint8_t *data = NULL;
    size_t len = 0;
    int32_t flag = 0;
    uint64_t h = 0;
    int32_t kind = 0;
    switch (pick(32)) {
    case 0: st = ic_storage_new_memory(any_string(0), &h, &e); if (st == IC_OK) keep(storages, h, free_storage); break;
    case 1: st = ic_repo_create(any_handle(), pick(2) ? NULL : any_string(0), &h, &e); if (st == IC_OK) keep(repos, h, free_repo); break;
    case 2: st = ic_repo_open(any_handle(), &h, &e); if (st == IC_OK) keep(repos, h, free_repo); break;
    case 3: st = ic_repo_writable_session(any_handle(), pick(3) ? "main" : any_string(0), &h, &e); if (st == IC_OK) keep(sessions, h, free_session); break;
    case 4: {
        ic_version v = {(ic_version_kind)pick(6), any_string(0), (int64_t)rnd()};
        st = ic_repo_readonly_session(any_handle(), pick(5) ? &v : NULL, &h, &e);
        if (st == IC_OK) keep(sessions, h, free_session);
        break;
    }
    case 5: st = ic_store_set(any_handle(), any_string(0), bytes, any_size(sizeof bytes), &e); break;
    case 6: {
        ic_byte_range r = {(ic_range_kind)pick(5), rnd() % 8192, rnd() % 8192};
        st = ic_store_get(any_handle(), any_string(0), pick(4) ? &r : NULL, &data, &len, &flag, &e);
        break;
    }
    case 7: st = ic_store_list(any_handle(), &h, &e); if (st == IC_OK) keep(iters, h, free_iter); break;
    case 8: st = ic_iter_next(any_handle(), &s, &flag, &e); break;
    case 9: st = ic_iter_next_page(any_handle(), any_size(10), &s, &len, &e); break;
    case 10: st = ic_session_commit(any_handle(), any_string(0), pick(2) ? NULL : any_string(1), &s, &e); break;
    case 23: st = ic_session_flush_snapshot(live_or_any(sessions), any_string(0), pick(2) ? NULL : any_string(1), pick(3) ? &s : NULL, &e); break;
    case 24: {
        uint32_t coords[4] = {(uint32_t)pick(3), (uint32_t)pick(3), (uint32_t)rnd(), 0};
        st = ic_session_chunk_type(live_or_any(sessions), pick(3) ? "/a" : any_string(0), pick(5) ? coords : NULL, pick(3) ? 2 : any_size(4), pick(5) ? &kind : NULL, &e);
        if (st == IC_OK) CHECK(kind >= IC_CHUNK_UNINITIALIZED && kind <= IC_CHUNK_INLINE);
        break;
    }
    case 25: st = ic_session_virtual_chunk_locations(live_or_any(sessions), pick(5) ? &h : NULL, &e); if (st == IC_OK) keep(iters, h, free_iter); break;
    case 26: {
        const char *refs = pick(3) ? VREFS[pick((int)(sizeof VREFS / sizeof *VREFS))] : any_string(1);
        int32_t validate = pick(3) == 0 ? (int32_t)rnd() : pick(2);
        st = ic_session_set_virtual_refs(live_or_any(sessions), pick(3) ? "/a" : any_string(0), refs, validate, pick(2) ? &s : NULL, &e);
        break;
    }
    case 27: st = ic_repo_chunk_storage_stats(live_or_any(repos), pick(5) ? &s : NULL, &e); break;
    case 28: st = ic_repo_inspect_snapshot(live_or_any(repos), pick(2) ? last_snapshot : any_string(0), pick(5) ? &s : NULL, &e); break;
    case 11: st = ic_repo_config_set(any_handle(), any_string(0), &e); break;
    case 30: st = ic_repo_use_config(pick(2) ? live_or_any(repos) : any_handle(), any_string(0), &e); break;
    case 12: st = ic_repo_set_default_commit_metadata(any_handle(), any_string(0), &e); break;
    case 13: st = ic_repo_create_tag(any_handle(), any_string(0), any_string(1), &e); break;
    case 14: st = ic_repo_diff(any_handle(), NULL, NULL, &s, &e); break;
    case 15: st = ic_session_status(any_handle(), &s, &e); break;
    case 16: {
        uint32_t coords[4] = {(uint32_t)rnd(), 0, 1, 2};
        st = ic_session_set_chunk(any_handle(), any_string(0), pick(3) ? coords : NULL, (size_t)pick(5), bytes, any_size(64), &e);
        break;
    }
    case 17: {
        ic_solver sv = {(ic_solver_kind)pick(4), (ic_version_selection)pick(5), pick(2), pick(2)};
        st = ic_session_rebase(any_handle(), pick(4) ? &sv : NULL, &e);
        break;
    }
    case 18: st = ic_repo_session_from_bytes(any_handle(), bytes, any_size((size_t)pick(200)), &h, &e); if (st == IC_OK) keep(sessions, h, free_session); break;
    case 19: st = ic_session_to_bytes(any_handle(), &data, &len, &e); break;
    case 20: st = ic_store_delete_dir(any_handle(), any_string(0), &e); break;
    case 21: {
        /* A cutoff that is invalid (<= 0), in the past, or far ahead (which
         * may delete the chunks of uncommitted sessions: later calls on
         * them must still only fail). */
        int64_t cutoff = pick(3) == 0 ? -(int64_t)(rnd() >> 1) : (int64_t)(rnd() >> 1);
        st = ic_repo_garbage_collect(any_handle(), cutoff, pick(2), pick(5) ? &s : NULL, &e);
        break;
    }
    case 22: {
        /* The same cutoffs for an expiration, with flags 0, 1 or any int
         * (set ones may delete branches and tags of the pool's
         * repositories). */
        int64_t cutoff = pick(3) == 0 ? -(int64_t)(rnd() >> 1) : (int64_t)(rnd() >> 1);
        int32_t branches = pick(3) == 0 ? (int32_t)rnd() : pick(2), tags = pick(3) == 0 ? (int32_t)rnd() : pick(2);
        st = ic_repo_expire_snapshots(any_handle(), cutoff, branches, tags, pick(5) ? &s : NULL, &e);
        break;
    }
    case 31: {
        /* A fraction in range, zero (the default), or anything (NaN,
         * negative, above 1). */
        double fractions[] = {0.5, 0, 1, -1, 1.5, 0.0 / 0.0, (double)rnd()};
        st = ic_repo_repack_chunks(live_or_any(repos), pick(3) ? "main" : any_string(0), any_string(1), any_string(1),
                                   fractions[pick(7)], pick(3) == 0 ? (int32_t)rnd() : pick(2), pick(5) ? &s : NULL, &e);
        break;
    }
    default: {
        /* Frees of random things, handles and buffers alike. */
        uint64_t victim = any_handle();
        switch (pick(5)) {
        case 0: st = ic_session_free(victim); break;
        case 1: st = ic_repo_free(victim); break;
        case 2: st = ic_iter_free(victim); break;
        case 3: st = ic_error_free(victim); break;
        default: st = ic_buffer_free(bytes + pick(64)); break; /* not ours */
        }
        for (int i = 0; i < POOL; i++) {
            if (sessions[i] == victim && st == IC_OK) sessions[i] = 0;
            if (repos[i] == victim && st == IC_OK) repos[i] = 0;
            if (iters[i] == victim && st == IC_OK) iters[i] = 0;
        }
        if (st == IC_OK) dead[pick(POOL)] = victim;
        return;
    }
    }
    /* Every status has a name; an error object comes with every failure
     * that asked for one, and carries a message. */
    CHECK(ic_status_name(st) != NULL);
    if (st == IC_OK && s != NULL && strlen(s) == 20) snprintf(last_snapshot, sizeof last_snapshot, "%s", s);
    if (st != IC_OK) {
        CHECK(e != 0 && ic_error_code(e) == st && ic_error_message(e) != NULL);
    }
    ic_error_free(e);
    if (s) CHECK(ic_string_free(s) == IC_OK);
    if (data) CHECK(ic_buffer_free(data) == IC_OK);
}

int main(int argc, char **argv) {
    rng_state = argc > 1 ? strtoull(argv[1], NULL, 10) : 0x1ce4c4a11ULL;
    if (rng_state == 0) rng_state = 1;
    /* A few live objects of every kind to start from. */
    OK(ic_storage_new_memory(NULL, &storages[0], &E));
    OK(ic_repo_create(storages[0], NULL, &repos[0], &E));
    OK(ic_repo_writable_session(repos[0], "main", &sessions[0], &E));
    OK(ic_store_set(sessions[0], "zarr.json", (const uint8_t *)GROUP_META, strlen(GROUP_META), &E));
    ic_test_add_array(sessions[0], "/a", 4, 4, 2, 2);
    OK(ic_store_list(sessions[0], &iters[0], &E));
    for (int i = 0; i < ITERATIONS; i++) one_call();
    for (int i = 0; i < POOL; i++) {
        ic_iter_free(iters[i]);
        ic_session_free(sessions[i]);
        ic_repo_free(repos[i]);
        ic_storage_free(storages[i]);
    }
    ic_test_no_leaks();
    printf("fuzz_abi: %d random calls, no crash, nothing left alive\n", ITERATIONS);
    return 0;
}
