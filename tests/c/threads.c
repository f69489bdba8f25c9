/*
 * threads.c - one session shared by many threads, the cooperative Zarr
 * case: 8 threads write disjoint chunks into one writable session, then
 * one commit; then 8 threads read every chunk at once (single gets,
 * get-many, reads into their own buffers) from a read-only session and
 * from the committed one; then readers and writers mixed on one session,
 * and handles created and freed from many threads at once.
 */
#include "common.h"

#include <pthread.h>

#define THREADS 8
#define GRID 16        /* chunks per side: 256 chunks */
#define CHUNK_BYTES 1024 /* above the inline threshold: chunk objects */

static ic_repo repo;
static ic_session shared;

static void chunk_value(uint8_t *buf, uint32_t y, uint32_t x) { ic_test_fill(buf, CHUNK_BYTES, y * GRID + x + 1); }

static void *writer(void *arg) {
    int t = (int)(intptr_t)arg;
    uint8_t buf[CHUNK_BYTES];
    for (uint32_t y = (uint32_t)t * (GRID / THREADS); y < (uint32_t)(t + 1) * (GRID / THREADS); y++)
        for (uint32_t x = 0; x < GRID; x++) {
            uint32_t c[2] = {y, x};
            chunk_value(buf, y, x);
            if (x % 2 == 0) {
                OK(ic_session_set_chunk(shared, "/t", c, 2, buf, sizeof buf, &E));
            } else {
                char key[64];
                snprintf(key, sizeof key, "t/c/%u/%u", y, x);
                OK(ic_store_set(shared, key, buf, sizeof buf, &E));
            }
        }
    return NULL;
}

static void check_all(ic_session s, int t) {
    uint8_t want[CHUNK_BYTES], got[CHUNK_BYTES];
    /* Single reads, each thread in its own order. */
    for (uint32_t i = 0; i < GRID * GRID; i++) {
        uint32_t k = (i * 7 + (uint32_t)t * 31) % (GRID * GRID);
        uint32_t c[2] = {k / GRID, k % GRID};
        size_t len = 0;
        int32_t found = 0;
        OK(ic_session_get_chunk_into(s, "/t", c, 2, NULL, got, sizeof got, &len, &found, &E));
        chunk_value(want, c[0], c[1]);
        CHECK(found == 1 && len == CHUNK_BYTES && memcmp(got, want, CHUNK_BYTES) == 0);
    }
    /* One row per get-many. */
    for (uint32_t y = 0; y < GRID; y++) {
        char keys[GRID][32];
        const char *ptrs[GRID];
        for (uint32_t x = 0; x < GRID; x++) {
            snprintf(keys[x], sizeof keys[x], "t/c/%u/%u", y, x);
            ptrs[x] = keys[x];
        }
        ic_get_result res[GRID];
        uint8_t *data = NULL;
        size_t total = 0;
        OK(ic_store_get_many(s, ptrs, NULL, GRID, res, &data, &total, NULL, &E));
        CHECK(total == GRID * CHUNK_BYTES);
        for (uint32_t x = 0; x < GRID; x++) {
            chunk_value(want, y, x);
            CHECK(res[x].status == IC_OK && res[x].found == 1 && res[x].len == CHUNK_BYTES);
            CHECK(memcmp(data + res[x].offset, want, CHUNK_BYTES) == 0);
        }
        OK(ic_buffer_free(data));
    }
}

static ic_session reader_session;

static void *reader(void *arg) {
    check_all(reader_session, (int)(intptr_t)arg);
    return NULL;
}

/* Readers and writers on one session: writers rewrite their own rows,
 * readers read any chunk and must see one of the two versions. */
static void *mixed(void *arg) {
    int t = (int)(intptr_t)arg;
    uint8_t buf[CHUNK_BYTES], old[CHUNK_BYTES];
    if (t % 2 == 0) {
        for (uint32_t x = 0; x < GRID; x++) {
            uint32_t c[2] = {(uint32_t)t, x};
            memset(buf, t, sizeof buf);
            OK(ic_session_set_chunk(shared, "/t", c, 2, buf, sizeof buf, &E));
        }
    } else {
        for (uint32_t x = 0; x < GRID; x++) {
            uint32_t c[2] = {(uint32_t)t - 1, x};
            uint8_t *data = NULL;
            size_t len = 0;
            int32_t found = 0;
            OK(ic_session_get_chunk(shared, "/t", c, 2, NULL, &data, &len, &found, &E));
            CHECK(found == 1 && len == CHUNK_BYTES);
            chunk_value(old, c[0], c[1]);
            memset(buf, t - 1, sizeof buf);
            CHECK(memcmp(data, old, len) == 0 || memcmp(data, buf, len) == 0);
            OK(ic_buffer_free(data));
        }
    }
    return NULL;
}

/* Many threads create and free handles and errors at once. */
static void *churn(void *arg) {
    (void)arg;
    for (int i = 0; i < 50; i++) {
        ic_session s = 0;
        ic_version v = {IC_AT_BRANCH, "main", 0};
        OK(ic_repo_readonly_session(repo, &v, &s, &E));
        ic_error e = 0;
        CHECK(ic_session_set_chunk(s, "/t", NULL, 0, NULL, 0, &e) == IC_ERR_READ_ONLY);
        CHECK(ic_error_code(e) == IC_ERR_READ_ONLY && ic_error_message(e)[0] != 0);
        CHECK(ic_error_free(e) == IC_OK);
        char *id = NULL;
        OK(ic_session_snapshot_id(s, &id, &E));
        OK(ic_string_free(id));
        OK(ic_session_free(s));
        CHECK(ic_session_free(s) == IC_ERR_INVALID_HANDLE);
    }
    return NULL;
}

/* An iterator made on one thread is drained and freed on others: a C
 * caller may use any handle from any thread (the library once aborted the
 * process here). */
static ic_iter handoff;

static void *drain_half(void *arg) {
    (void)arg;
    char *json = NULL;
    size_t count = 0;
    OK(ic_iter_next_page(handoff, GRID * GRID / 2, &json, &count, &E));
    CHECK(count == GRID * GRID / 2);
    ic_string_free(json);
    return NULL;
}

static void iterator_across_threads(ic_session s) {
    OK(ic_session_chunk_coordinates(s, "/t", &handoff, &E));
    for (int i = 0; i < 2; i++) {
        pthread_t th;
        CHECK(pthread_create(&th, NULL, drain_half, NULL) == 0);
        CHECK(pthread_join(th, NULL) == 0);
    }
    char *json = NULL;
    int32_t done = 0;
    OK(ic_iter_next(handoff, &json, &done, &E));
    CHECK(done == 1 && json == NULL);
    OK(ic_iter_free(handoff));
}

static void run(void *(*fn)(void *)) {
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) CHECK(pthread_create(&th[t], NULL, fn, (void *)(intptr_t)t) == 0);
    for (int t = 0; t < THREADS; t++) CHECK(pthread_join(th[t], NULL) == 0);
}

int main(void) {
    char *dir = ic_test_tmpdir();
    ic_storage st = 0;
    OK(ic_storage_new_local(dir, &st, &E));
    OK(ic_repo_create(st, NULL, &repo, &E));
    OK(ic_repo_writable_session(repo, "main", &shared, &E));
    OK(ic_session_add_group(shared, "/", (const uint8_t *)GROUP_META, strlen(GROUP_META), &E));
    ic_test_add_array(shared, "/t", GRID * 4, GRID * 4, 4, 4);

    double t0 = ic_test_now_ns();
    run(writer);
    double t1 = ic_test_now_ns();
    printf("threads: %d threads wrote %d chunks of %d bytes into one session in %.1f ms\n", THREADS, GRID * GRID,
           CHUNK_BYTES, (t1 - t0) / 1e6);

    /* The uncommitted session reads what all threads wrote. */
    reader_session = shared;
    run(reader);

    char *status = NULL;
    OK(ic_session_status(shared, &status, &E));
    CONTAINS(status, "[15,15]");
    ic_string_free(status);
    char *id = NULL;
    OK(ic_session_commit(shared, "8 writers, one commit", NULL, &id, &E));
    OK(ic_session_free(shared));

    ic_version v = {IC_AT_SNAPSHOT, id, 0};
    OK(ic_repo_readonly_session(repo, &v, &reader_session, &E));
    t0 = ic_test_now_ns();
    run(reader);
    t1 = ic_test_now_ns();
    printf("threads: %d threads each read all %d chunks twice (single gets and get-many) in %.1f ms\n", THREADS,
           GRID * GRID, (t1 - t0) / 1e6);
    iterator_across_threads(reader_session);
    OK(ic_session_free(reader_session));

    OK(ic_repo_writable_session(repo, "main", &shared, &E));
    run(mixed);
    OK(ic_session_commit(shared, "mixed", NULL, NULL, &E));
    OK(ic_session_free(shared));

    run(churn);

    ic_string_free(id);
    OK(ic_repo_free(repo));
    OK(ic_storage_free(st));
    ic_test_rmdir(dir);
    ic_test_no_leaks();
    printf("threads: ok\n");
    return 0;
}
