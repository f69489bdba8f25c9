/*
 * bench.c - what crossing into the library costs, from C. Prints figures;
 * the target for a trivial call is at most 300 ns.
 *
 *   1. a trivial call: ic_abi_version (no handle), ic_session_read_only
 *      (a handle lookup and a property read);
 *   2. getting an inline chunk of a committed array: by path and
 *      coordinates into the caller's buffer, into a library buffer, and by
 *      Zarr key;
 *   3. get-many of 1,000 chunks of 4 KiB by Zarr key, one call, from
 *      memory and from local disk;
 *   4. the same chunk reads from several threads at once.
 */
#include "common.h"

#include <pthread.h>

#define MANY 1000
#define BIG 4096

static double bench(const char *what, long n, void (*fn)(long)) {
    for (long i = 0; i < n / 10 + 1; i++) fn(i); /* warm up */
    double t0 = ic_test_now_ns();
    for (long i = 0; i < n; i++) fn(i);
    double per = (ic_test_now_ns() - t0) / (double)n;
    if (per < 10000)
        printf("  %-58s %10.1f ns/call\n", what, per);
    else
        printf("  %-58s %10.3f ms/call\n", what, per / 1e6);
    return per;
}

static ic_session ro;
static char **keys;
static volatile uint32_t sink;

static void abi(long i) { sink += ic_abi_version() + (uint32_t)i; }

static void read_only(long i) {
    int32_t flag = 0;
    (void)i;
    if (ic_session_read_only(ro, &flag, NULL) != IC_OK) exit(1);
    sink += (uint32_t)flag;
}

static void invalid_handle(long i) {
    int32_t flag = 0;
    if (ic_session_read_only((ic_session)(i | 1), &flag, NULL) != IC_ERR_INVALID_HANDLE) exit(1);
}

static void chunk_into(long i) {
    uint32_t c[2] = {(uint32_t)(i % 10), 0};
    uint8_t buf[64];
    size_t len = 0;
    int32_t found = 0;
    if (ic_session_get_chunk_into(ro, "/inline", c, 2, NULL, buf, sizeof buf, &len, &found, NULL) != IC_OK || !found) exit(1);
    sink += buf[0];
}

static void chunk_alloc(long i) {
    uint32_t c[2] = {(uint32_t)(i % 10), 0};
    uint8_t *data = NULL;
    size_t len = 0;
    int32_t found = 0;
    if (ic_session_get_chunk(ro, "/inline", c, 2, NULL, &data, &len, &found, NULL) != IC_OK || !found) exit(1);
    sink += data[0];
    ic_buffer_free(data);
}

static void key_into(long i) {
    char key[32];
    snprintf(key, sizeof key, "inline/c/%ld/0", i % 10);
    uint8_t buf[64];
    size_t len = 0;
    int32_t found = 0;
    if (ic_store_get_into(ro, key, NULL, buf, sizeof buf, &len, &found, NULL) != IC_OK || !found) exit(1);
    sink += buf[0];
}

static void get_many(long i) {
    (void)i;
    static ic_get_result res[MANY];
    uint8_t *data = NULL;
    size_t total = 0;
    if (ic_store_get_many(ro, (const char *const *)keys, NULL, MANY, res, &data, &total, NULL, NULL) != IC_OK) exit(1);
    if (total != (size_t)MANY * BIG || !res[MANY - 1].found) exit(1);
    sink += data[total - 1];
    ic_buffer_free(data);
}

static void big_chunk_into(long i) {
    uint32_t c[2] = {(uint32_t)(i % MANY), 0};
    static uint8_t buf[BIG];
    size_t len = 0;
    int32_t found = 0;
    if (ic_session_get_chunk_into(ro, "/big", c, 2, NULL, buf, sizeof buf, &len, &found, NULL) != IC_OK || !found) exit(1);
    sink += buf[0];
}

/* A repository with /inline (10 chunks of 8 bytes, stored inline) and /big
 * (1000 chunks of 4 KiB, chunk objects), committed; returns a read-only
 * session at the commit. */
static ic_session setup(ic_storage st, ic_repo *repo) {
    OK(ic_repo_create(st, NULL, repo, &E));
    ic_session s = 0;
    OK(ic_repo_writable_session(*repo, "main", &s, &E));
    OK(ic_session_add_group(s, "/", (const uint8_t *)GROUP_META, strlen(GROUP_META), &E));
    ic_test_add_array(s, "/inline", 10, 1, 1, 1);
    ic_test_add_array(s, "/big", MANY * 512, 1, 512, 1);
    uint8_t small[8];
    for (uint32_t i = 0; i < 10; i++) {
        uint32_t c[2] = {i, 0};
        ic_test_fill(small, sizeof small, i);
        OK(ic_session_set_chunk(s, "/inline", c, 2, small, sizeof small, &E));
    }
    const char *bkeys[MANY];
    const uint8_t *vals[MANY];
    size_t lens[MANY];
    static uint8_t bigs[MANY][BIG];
    for (int i = 0; i < MANY; i++) {
        ic_test_fill(bigs[i], BIG, (unsigned)i);
        bkeys[i] = keys[i];
        vals[i] = bigs[i];
        lens[i] = BIG;
    }
    OK(ic_store_set_many(s, bkeys, vals, lens, MANY, &E));
    char *id = NULL;
    OK(ic_session_commit(s, "bench data", NULL, &id, &E));
    OK(ic_session_free(s));
    ic_version v = {IC_AT_SNAPSHOT, id, 0};
    ic_session r = 0;
    OK(ic_repo_readonly_session(*repo, &v, &r, &E));
    ic_string_free(id);
    return r;
}

static long per_thread;

static void *parallel_reader(void *arg) {
    (void)arg;
    for (long i = 0; i < per_thread; i++) big_chunk_into(i);
    return NULL;
}

static void parallel(int threads) {
    pthread_t th[16];
    per_thread = 20000 / threads;
    double t0 = ic_test_now_ns();
    for (int t = 0; t < threads; t++) pthread_create(&th[t], NULL, parallel_reader, NULL);
    for (int t = 0; t < threads; t++) pthread_join(th[t], NULL);
    double dt = ic_test_now_ns() - t0;
    printf("  %d thread(s): %6.0f 4 KiB chunk reads/ms in all (%ld each)\n", threads, (double)(per_thread * threads) / (dt / 1e6),
           per_thread);
}

int main(void) {
    printf("libicechunk %s (ABI %u), C benchmarks on %ld CPUs\n", ic_version_string(), ic_abi_version(),
           sysconf(_SC_NPROCESSORS_ONLN));
    keys = malloc(sizeof(char *) * MANY);
    for (int i = 0; i < MANY; i++) {
        keys[i] = malloc(32);
        snprintf(keys[i], 32, "big/c/%d/0", i);
    }

    ic_storage mem = 0;
    ic_repo repo = 0;
    OK(ic_storage_new_memory("bench", &mem, &E));
    ro = setup(mem, &repo);

    printf("\n1. a trivial call\n");
    double trivial = bench("ic_abi_version()", 2000000, abi);
    double lookup = bench("ic_session_read_only(session) (handle lookup)", 2000000, read_only);
    bench("ic_session_read_only(forged handle) (error path, no err)", 200000, invalid_handle);

    printf("\n2. getting an inline chunk (8 bytes, committed, memory storage)\n");
    double inl = bench("ic_session_get_chunk_into (caller's buffer)", 500000, chunk_into);
    bench("ic_session_get_chunk + ic_buffer_free", 500000, chunk_alloc);
    bench("ic_store_get_into by Zarr key", 500000, key_into);

    printf("\n3. get-many of %d chunks of 4 KiB (one ic_store_get_many call)\n", MANY);
    double many = bench("memory storage", 50, get_many);
    printf("  %-58s %10.2f GB/s, %.2f us per chunk\n", "", (double)MANY * BIG / many, many / MANY / 1e3);
    bench("one 4 KiB chunk, ic_session_get_chunk_into (memory)", 100000, big_chunk_into);
    OK(ic_session_free(ro));
    OK(ic_repo_free(repo));
    OK(ic_storage_free(mem));

    char *dir = ic_test_tmpdir();
    ic_storage disk = 0;
    OK(ic_storage_new_local(dir, &disk, &E));
    ro = setup(disk, &repo);
    double many_disk = bench("local disk storage (page cache warm)", 20, get_many);
    printf("  %-58s %10.2f GB/s, %.2f us per chunk\n", "", (double)MANY * BIG / many_disk, many_disk / MANY / 1e3);
    OK(ic_session_free(ro));
    OK(ic_repo_free(repo));
    OK(ic_storage_free(disk));
    ic_test_rmdir(dir);

    printf("\n4. one read-only session, 4 KiB chunk reads from N threads (memory storage)\n");
    OK(ic_storage_new_memory("bench", &mem, &E));
    ro = setup(mem, &repo);
    for (int t = 1; t <= 8; t *= 2) parallel(t);
    OK(ic_session_free(ro));
    OK(ic_repo_free(repo));
    OK(ic_storage_free(mem));

    printf("\ntarget: a trivial call <= 300 ns: ic_abi_version %.0f ns, with a handle lookup %.0f ns: %s\n", trivial, lookup,
           trivial <= 300 && lookup <= 300 ? "met" : "NOT MET");
    (void)inl;
    for (int i = 0; i < MANY; i++) free(keys[i]);
    free(keys);
    ic_test_no_leaks();
    return 0;
}
