/*
 * roundtrip.c - the whole life of a repository through the C interface:
 * create on local disk, add a group and an array, write and read chunks,
 * commit, history, tags, branches, read-only sessions at a tag, a branch,
 * a snapshot and a time, diff, serialization, fork and merge, reopen,
 * garbage collection of a deleted branch's commit, expiring old history,
 * anonymous snapshots (flush), chunk types, chunk storage statistics,
 * snapshot inspection, batches of virtual refs and their locations.
 */
#include "common.h"

#include <sys/stat.h>

static ic_version at_branch(const char *b) { ic_version v = {IC_AT_BRANCH, b, 0}; return v; }
static ic_version at_tag(const char *t) { ic_version v = {IC_AT_TAG, t, 0}; return v; }
static ic_version at_snapshot(const char *id) { ic_version v = {IC_AT_SNAPSHOT, id, 0}; return v; }

/* Reads chunk coords of /temp in session s and compares it with want. */
static void expect_chunk(ic_session s, uint32_t y, uint32_t x, const uint8_t *want, size_t n) {
    uint32_t c[2] = {y, x};
    uint8_t *data = NULL;
    size_t len = 0;
    int32_t found = 0;
    OK(ic_session_get_chunk(s, "/temp", c, 2, NULL, &data, &len, &found, &E));
    CHECK(found == 1 && len == n && data != NULL);
    CHECK(memcmp(data, want, n) == 0);
    OK(ic_buffer_free(data));
}

static char *snapshot_of(ic_session s) {
    char *id = NULL;
    OK(ic_session_snapshot_id(s, &id, &E));
    return id;
}

/* s is read-only, on no branch, at snapshot id. */
static void expect_read_only_at(ic_session s, const char *id) {
    int32_t ro = 0;
    OK(ic_session_read_only(s, &ro, &E));
    CHECK(ro == 1);
    char *b = NULL;
    OK(ic_session_branch(s, &b, &E));
    CHECK(strcmp(b, "") == 0);
    ic_string_free(b);
    char *sid = snapshot_of(s);
    CHECK(strcmp(sid, id) == 0);
    ic_string_free(sid);
}

/* The wall clock in unix nanoseconds, shifted by offset seconds. */
static int64_t unix_nanos_from_now(int64_t offset) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return ((int64_t)now.tv_sec + offset) * 1000000000 + now.tv_nsec;
}

/* The value of a top-level field of a garbage collection's JSON summary:
 * a count, or 1/0 for true/false. */
/* Where the value of the top-level field starts in a JSON result (the
 * first field of that name); exits if there is none. */
static const char *json_value(const char *json, const char *field) {
    char key[64];
    snprintf(key, sizeof key, "\"%s\"", field);
    const char *p = strstr(json, key);
    if (p == NULL) {
        fprintf(stderr, "%s:%d: no field %s in %s\n", __FILE__, __LINE__, key, json);
        exit(1);
    }
    p += strlen(key);
    while (*p == ' ') p++;
    CHECK(*p == ':');
    p++;
    while (*p == ' ') p++;
    return p;
}

static long long gc_field(const char *json, const char *field) {
    const char *p = json_value(json, field);
    if (strncmp(p, "true", 4) == 0) return 1;
    if (strncmp(p, "false", 5) == 0) return 0;
    long long v = -1;
    if (sscanf(p, "%lld", &v) != 1) {
        fprintf(stderr, "%s:%d: field %s of %s is not a number\n", __FILE__, __LINE__, field, json);
        exit(1);
    }
    return v;
}

static const char *GC_COUNTS[] = {"snapshots_deleted", "manifests_deleted", "transaction_logs_deleted",
                                  "chunks_deleted", "bytes_deleted"};
#define GC_NCOUNTS (sizeof GC_COUNTS / sizeof GC_COUNTS[0])

/* Every count of a garbage collection's summary is zero, and dry_run says dry. */
static void expect_gc_nothing(const char *json, int dry) {
    for (size_t i = 0; i < GC_NCOUNTS; i++)
        if (gc_field(json, GC_COUNTS[i]) != 0) {
            fprintf(stderr, "%s:%d: %s is not 0 in %s\n", __FILE__, __LINE__, GC_COUNTS[i], json);
            exit(1);
        }
    CHECK(gc_field(json, "dry_run") == dry);
}

/* A new repository in the local directory dir/name, whose chunks above 16
 * bytes (the 64-byte chunks of these tests) are objects of their own. */
static void create_local_repo(const char *dir, const char *name, ic_storage *st, ic_repo *repo) {
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    OK(ic_storage_new_local(path, st, &E));
    OK(ic_repo_create(*st, "{\"inline_chunk_threshold\": 16}", repo, &E));
}

/* Garbage collection on local disk: commits on main, a commit on a branch
 * that is then deleted; only that commit's objects go, and only when they
 * are older than the cutoff. */
static void garbage_collection(const char *dir) {
    ic_storage st = 0;
    ic_repo repo = 0;
    ic_session s = 0;
    create_local_repo(dir, "gc", &st, &repo);

    uint8_t mainv[4][64], side[64];
    for (int i = 0; i < 4; i++) ic_test_fill(mainv[i], 64, (unsigned)i + 40);
    ic_test_fill(side, 64, 123);
    OK(ic_repo_writable_session(repo, "main", &s, &E));
    OK(ic_session_add_group(s, "/", (const uint8_t *)GROUP_META, strlen(GROUP_META), &E));
    ic_test_add_array(s, "/temp", 4, 16, 2, 4);
    for (uint32_t y = 0; y < 2; y++)
        for (uint32_t x = 0; x < 2; x++) {
            uint32_t c[2] = {y, x};
            OK(ic_session_set_chunk(s, "/temp", c, 2, mainv[y * 2 + x], 64, &E));
        }
    char *tip = NULL;
    OK(ic_session_commit(s, "main data", NULL, &tip, &E));
    OK(ic_session_free(s));

    /* A branch with a commit of its own, then deleted: its snapshot,
     * transaction log, manifest and chunk are reachable from no ref. */
    OK(ic_repo_create_branch(repo, "scratch", tip, &E));
    OK(ic_repo_writable_session(repo, "scratch", &s, &E));
    uint32_t c10[2] = {1, 0}, c13[2] = {1, 3};
    OK(ic_session_set_chunk(s, "/temp", c10, 2, side, 64, &E));
    OK(ic_session_set_chunk(s, "/temp", c13, 2, side, 64, &E));
    char *gone = NULL;
    OK(ic_session_commit(s, "on scratch", NULL, &gone, &E));
    OK(ic_session_free(s));
    OK(ic_repo_delete_branch(repo, "scratch", &E));

    /* A cutoff an hour ago: everything is younger, nothing goes. */
    char *json = NULL;
    OK(ic_repo_garbage_collect(repo, unix_nanos_from_now(-3600), 0, &json, &E));
    expect_gc_nothing(json, 0);
    ic_string_free(json);
    OK(ic_repo_garbage_collect(repo, unix_nanos_from_now(-3600), 1, &json, &E));
    expect_gc_nothing(json, 1);
    ic_string_free(json);

    /* A cutoff an hour ahead: the dry run counts the branch's objects and
     * deletes nothing. */
    char *dry = NULL;
    OK(ic_repo_garbage_collect(repo, unix_nanos_from_now(3600), 1, &dry, &E));
    CHECK(gc_field(dry, "dry_run") == 1);
    CHECK(gc_field(dry, "snapshots_deleted") >= 1);
    CHECK(gc_field(dry, "transaction_logs_deleted") >= 1);
    CHECK(gc_field(dry, "manifests_deleted") >= 1);
    CHECK(gc_field(dry, "chunks_deleted") >= 1);
    CHECK(gc_field(dry, "bytes_deleted") >= 64);
    ic_version at_gone = at_snapshot(gone);
    ic_session old = 0; /* open across the real run */
    OK(ic_repo_readonly_session(repo, &at_gone, &old, &E));
    expect_chunk(old, 1, 0, side, 64);

    /* The real run deletes what the dry run counted. */
    OK(ic_repo_garbage_collect(repo, unix_nanos_from_now(3600), 0, &json, &E));
    for (size_t i = 0; i < GC_NCOUNTS; i++)
        if (gc_field(json, GC_COUNTS[i]) != gc_field(dry, GC_COUNTS[i])) {
            fprintf(stderr, "%s:%d: %s differs: dry run %s, real run %s\n", __FILE__, __LINE__, GC_COUNTS[i], dry, json);
            exit(1);
        }
    CHECK(gc_field(json, "dry_run") == 0);
    ic_string_free(json);
    ic_string_free(dry);

    /* A session opened at the deleted snapshot before fails on its next
     * read of a deleted object. */
    {
        uint8_t *data = NULL;
        size_t len = 0;
        int32_t found = 0;
        ic_error e = 0;
        CHECK(ic_session_get_chunk(old, "/temp", c10, 2, NULL, &data, &len, &found, &e) != IC_OK);
        CHECK(e != 0 && ic_error_message(e)[0] != 0 && data == NULL);
        OK(ic_error_free(e));
        OK(ic_session_free(old));
    }

    /* The deleted branch's snapshot is gone, for a new handle and for the
     * one that collected (which had it cached from its commit). */
    ic_repo again = 0;
    OK(ic_repo_open(st, &again, &E));
    char *info = NULL;
    FAILS(IC_ERR_SNAPSHOT_NOT_FOUND, ic_repo_readonly_session(again, &at_gone, &s, &E));
    FAILS(IC_ERR_SNAPSHOT_NOT_FOUND, ic_repo_snapshot_info(again, gone, &info, &E));
    FAILS(IC_ERR_SNAPSHOT_NOT_FOUND, ic_repo_readonly_session(repo, &at_gone, &s, &E));
    FAILS(IC_ERR_SNAPSHOT_NOT_FOUND, ic_repo_snapshot_info(repo, gone, &info, &E));

    /* Main reads back whole, through both handles. */
    ic_version at_main = at_branch("main");
    ic_repo handles[2] = {repo, again};
    for (int h = 0; h < 2; h++) {
        OK(ic_repo_readonly_session(handles[h], &at_main, &s, &E));
        for (uint32_t y = 0; y < 2; y++)
            for (uint32_t x = 0; x < 2; x++) expect_chunk(s, y, x, mainv[y * 2 + x], 64);
        char *sid = snapshot_of(s);
        CHECK(strcmp(sid, tip) == 0);
        ic_string_free(sid);
        OK(ic_session_free(s));
    }
    {
        ic_iter it = 0;
        OK(ic_repo_ancestry(repo, &at_main, &it, &E));
        char *page = NULL;
        size_t count = 0;
        OK(ic_iter_next_page(it, 0, &page, &count, &E));
        CHECK(count == 2); /* main data, Repository initialized */
        ic_string_free(page);
        OK(ic_iter_free(it));
    }

    /* Nothing is left to collect. */
    OK(ic_repo_garbage_collect(repo, unix_nanos_from_now(3600), 0, &json, &E));
    expect_gc_nothing(json, 0);
    ic_string_free(json);

    OK(ic_repo_garbage_collect(again, unix_nanos_from_now(3600), 1, &json, &E));
    expect_gc_nothing(json, 1);
    ic_string_free(json);
    OK(ic_repo_free(again));

    ic_string_free(tip);
    ic_string_free(gone);
    OK(ic_repo_free(repo));
    OK(ic_storage_free(st));
}

/* --- Expiring history ---------------------------------------------------- */

#define EXPIRE_MAX 8
typedef char expire_name[64];

/* The strings of a top-level list field of a JSON result (snapshot ids and
 * ref names: no escapes), into out; returns how many. */
static int json_strings(const char *json, const char *field, expire_name *out, int max) {
    const char *p = json_value(json, field);
    CHECK(*p == '[');
    p++;
    int n = 0;
    for (;;) {
        while (*p == ' ') p++;
        if (*p == ']') return n;
        int used = 0;
        if (n == max || sscanf(p, "\"%63[^\"]\"%n", out[n], &used) != 1 || used == 0) {
            fprintf(stderr, "%s:%d: field %s of %s is not a list of at most %d strings\n", __FILE__, __LINE__, field,
                    json, max);
            exit(1);
        }
        p += used;
        n++;
        while (*p == ' ') p++;
        if (*p == ',') p++;
        else CHECK(*p == ']');
    }
}

/* The list field of an expiration's JSON result is exactly want[0..n). */
static void expect_strings(const char *json, const char *field, int n, const char *const *want) {
    expire_name got[EXPIRE_MAX];
    int m = json_strings(json, field, got, EXPIRE_MAX);
    int same = m == n;
    for (int i = 0; same && i < n; i++) same = strcmp(got[i], want[i]) == 0;
    if (!same) {
        fprintf(stderr, "%s:%d: %s of %s is not [", __FILE__, __LINE__, field, json);
        for (int i = 0; i < n; i++) fprintf(stderr, "%s\"%s\"", i ? ", " : "", want[i]);
        fprintf(stderr, "]\n");
        exit(1);
    }
}

static const char *EXPIRE_LISTS[] = {"expired_snapshots", "rewritten_snapshots", "deleted_branches", "deleted_tags"};

/* The ids of a version's ancestry, newest first, are exactly want[0..n):
 * the "id" keys of the array's objects, not those nested deeper (each
 * entry's manifests have ids too). */
static void expect_ancestry(ic_repo repo, ic_version v, int n, const char *const *want) {
    char *json = NULL;
    OK(ic_repo_ancestry_json(repo, &v, 0, &json, &E));
    int m = 0, same = 1, depth = 0;
    for (const char *p = json; *p; p++) {
        if (*p == '[' || *p == '{') {
            depth++;
        } else if (*p == ']' || *p == '}') {
            depth--;
        } else if (*p == '"') {
            int entry_id = depth == 2 && strncmp(p, "\"id\"", 4) == 0;
            const char *end = p + 1;
            while (*end && *end != '"') end += *end == '\\' && end[1] ? 2 : 1;
            CHECK(*end == '"');
            if (entry_id) {
                const char *q = end + 1;
                while (*q == ' ') q++;
                CHECK(*q == ':');
                q++;
                while (*q == ' ') q++;
                expire_name id;
                CHECK(sscanf(q, "\"%63[^\"]\"", id) == 1);
                same = same && m < n && strcmp(id, want[m]) == 0;
                m++;
            }
            p = end;
        }
    }
    if (!same || m != n) {
        fprintf(stderr, "%s:%d: ancestry of %s is not [", __FILE__, __LINE__, v.name);
        for (int i = 0; i < n; i++) fprintf(stderr, "%s%s", i ? ", " : "", want[i]);
        fprintf(stderr, "]:\n  %s\n", json);
        exit(1);
    }
    ic_string_free(json);
}

/* The chunks (y, x) of /temp at a snapshot, y and x in 0..1: want[y*2+x]
 * (64 bytes), or none where it is NULL. */
static void expect_chunks_at(ic_repo repo, const char *id, uint8_t *const *want) {
    ic_version v = at_snapshot(id);
    ic_session s = 0;
    OK(ic_repo_readonly_session(repo, &v, &s, &E));
    for (uint32_t y = 0; y < 2; y++)
        for (uint32_t x = 0; x < 2; x++) {
            if (want[y * 2 + x] != NULL) {
                expect_chunk(s, y, x, want[y * 2 + x], 64);
                continue;
            }
            uint32_t c[2] = {y, x};
            uint8_t *data = NULL;
            size_t len = 0;
            int32_t found = 1;
            OK(ic_session_get_chunk(s, "/temp", c, 2, NULL, &data, &len, &found, &E));
            CHECK(found == 0 && data == NULL);
        }
    OK(ic_session_free(s));
}

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0) {}
}

/* Commits chunks to main: vals[i] at (y, x) = (i / 2, i % 2) where set.
 * Returns the new snapshot id. */
static char *commit_chunks(ic_repo repo, const char *message, uint8_t *const *vals) {
    ic_session s = 0;
    OK(ic_repo_writable_session(repo, "main", &s, &E));
    for (uint32_t i = 0; i < 4; i++)
        if (vals[i] != NULL) {
            uint32_t c[2] = {i / 2, i % 2};
            OK(ic_session_set_chunk(s, "/temp", c, 2, vals[i], 64, &E));
        }
    char *id = NULL;
    OK(ic_session_commit(s, message, NULL, &id, &E));
    OK(ic_session_free(s));
    return id;
}

/* How many times needle occurs in haystack. */
static int occurrences(const char *haystack, const char *needle) {
    int n = 0;
    for (const char *p = strstr(haystack, needle); p != NULL; p = strstr(p + 1, needle)) n++;
    return n;
}

/* Opening with a configuration: it is used by that handle over the stored
 * one and not stored; NULL is a plain open; a value of the wrong kind is
 * refused naming the field, before anything is read; a missing repository
 * is IC_ERR_REPO_NOT_FOUND. */
static void open_with_config(const char *dir) {
    char path[700];
    snprintf(path, sizeof path, "%s/open-config", dir);
    ic_storage st = 0;
    ic_repo made = 0, used = 0, plain = 0;
    OK(ic_storage_new_local(path, &st, &E));
    ic_error bad = 0;
    CHECK(ic_repo_open_config(st, "{\"inline_chunk_threshold\": 3}", &used, &bad) == IC_ERR_REPO_NOT_FOUND);
    ic_error_free(bad);
    OK(ic_repo_create(st, NULL, &made, &E));
    OK(ic_repo_open_config(st, "{\"inline_chunk_threshold\": 3, \"storage\": {\"retries\": {\"max_tries\": 2}}}", &used, &E));
    OK(ic_repo_open_config(st, NULL, &plain, &E));
    char *cfg = NULL;
    OK(ic_repo_config_get(used, &cfg, &E));
    CONTAINS(cfg, "\"inline_chunk_threshold\":3");
    CONTAINS(cfg, "\"max_tries\":2");
    ic_string_free(cfg);
    OK(ic_repo_config_get(plain, &cfg, &E));
    CONTAINS(cfg, "\"inline_chunk_threshold\":512"); /* not stored */
    ic_string_free(cfg);
    bad = 0;
    CHECK(ic_repo_open_config(st, "{\"inline_chunk_threshold\": -1}", &used, &bad) == IC_ERR_INVALID_ARGUMENT);
    CONTAINS(ic_error_message(bad), "\"inline_chunk_threshold\" must be a whole number from 0 to 4294967295, not number -1");
    ic_error_free(bad);
    OK(ic_repo_free(plain));
    OK(ic_repo_free(made));
    OK(ic_repo_free(used));
    OK(ic_storage_free(st));
}

/* Manifest splitting from C: a repository whose rules split every array by
 * one chunk per manifest writes four manifests for /temp's four chunks;
 * after the rules change, ic_repo_rewrite_manifests commits the same
 * chunks in one manifest, with the rules in its metadata. Bad rules are
 * refused and leave the configuration as it was. */
static void manifest_splitting(const char *dir) {
    char path[700];
    snprintf(path, sizeof path, "%s/split", dir);
    ic_storage st = 0;
    ic_repo repo = 0;
    OK(ic_storage_new_local(path, &st, &E));
    OK(ic_repo_create(st,
                      "{\"inline_chunk_threshold\": 16, \"manifest\": {\"splitting\": [{\"if\": {\"op\": \"name_matches\", "
                      "\"regex\": \"^temp$\"}, \"dims\": [{\"kind\": \"any\", \"chunks\": 1}]}]}}",
                      &repo, &E));
    uint8_t vals[4][64];
    for (int i = 0; i < 4; i++) ic_test_fill(vals[i], 64, (unsigned)i + 70);
    ic_session s = 0;
    OK(ic_repo_writable_session(repo, "main", &s, &E));
    OK(ic_session_add_group(s, "/", (const uint8_t *)GROUP_META, strlen(GROUP_META), &E));
    ic_test_add_array(s, "/temp", 4, 16, 2, 4);
    OK(ic_session_commit(s, "the array", NULL, NULL, &E));
    OK(ic_session_free(s));
    uint8_t *const all[4] = {vals[0], vals[1], vals[2], vals[3]};
    char *split = commit_chunks(repo, "split", all);
    char *info = NULL;
    OK(ic_repo_snapshot_info(repo, split, &info, &E));
    CHECK(occurrences(info, "\"num_chunk_refs\":1}") == 4);
    ic_string_free(info);

    ic_error bad = 0;
    CHECK(ic_repo_use_config(repo, "{\"manifest\": {\"splitting\": [{\"if\": {\"op\": \"any_array\"}, \"dims\": [{\"kind\": \"any\", \"chunks\": 0}]}]}}", &bad) ==
          IC_ERR_INVALID_ARGUMENT);
    CONTAINS(ic_error_message(bad), "split of 0");
    ic_error_free(bad);
    char *cfg = NULL;
    OK(ic_repo_config_get(repo, &cfg, &E));
    CONTAINS(cfg, "\"regex\":\"^temp$\""); /* the rules in force are still the first */
    ic_string_free(cfg);
    OK(ic_repo_use_config(repo, "{\"manifest\": {\"splitting\": [{\"if\": {\"op\": \"any_array\"}, \"dims\": [{\"kind\": \"any\", \"chunks\": 2}]}]}}", &E));
    char *rewritten = NULL;
    OK(ic_repo_rewrite_manifests(repo, "main", "rewrite", "{\"who\": \"c\"}", &rewritten, &E));
    OK(ic_repo_snapshot_info(repo, rewritten, &info, &E));
    CHECK(occurrences(info, "\"num_chunk_refs\":") == 1);
    CONTAINS(info, "\"num_chunk_refs\":4}");
    CONTAINS(info, "\"who\":\"c\"");
    CONTAINS(info, "\"splitting_config\":[{\"dims\":[{\"chunks\":2,\"kind\":\"any\"}],\"if\":{\"op\":\"any_array\"}}]");
    ic_string_free(info);
    expect_chunks_at(repo, rewritten, all);
    char *tip = NULL;
    OK(ic_repo_lookup_branch(repo, "main", &tip, &E));
    CHECK(strcmp(tip, rewritten) == 0);
    ic_string_free(tip);
    FAILS(IC_ERR_BRANCH_NOT_FOUND, ic_repo_rewrite_manifests(repo, "nope", "x", NULL, NULL, &E));
    ic_string_free(rewritten);
    ic_string_free(split);
    OK(ic_repo_free(repo));
    OK(ic_storage_free(st));
}

/* Expiring history on local disk: two old commits on main (a branch at the
 * first, a tag at the second), a cutoff, two new commits. Expiration cuts
 * the old ones out of main's history without deleting anything; the branch
 * and tag keep them until deleted with the expiration's flags; garbage
 * collection then deletes them and the chunks only they use. */
static void expire_history(const char *dir) {
    ic_storage st = 0;
    ic_repo repo = 0;
    create_local_repo(dir, "expire", &st, &repo);
    char *initial = NULL;
    ic_version at_main = at_branch("main");
    OK(ic_repo_resolve(repo, &at_main, &initial, &E));

    uint8_t v[6][64];
    for (int i = 0; i < 6; i++) ic_test_fill(v[i], 64, (unsigned)i + 70);
    /* What each commit writes, and what /temp holds after it. */
    uint8_t *w1[4] = {v[0], v[1], NULL, NULL}, *s1[4] = {v[0], v[1], NULL, NULL};
    uint8_t *w2[4] = {v[2], NULL, v[3], NULL}, *s2[4] = {v[2], v[1], v[3], NULL};
    uint8_t *w3[4] = {NULL, v[4], NULL, NULL}, *s3[4] = {v[2], v[4], v[3], NULL};
    uint8_t *w4[4] = {NULL, NULL, NULL, v[5]}, *s4[4] = {v[2], v[4], v[3], v[5]};

    ic_session s = 0;
    OK(ic_repo_writable_session(repo, "main", &s, &E));
    OK(ic_session_add_group(s, "/", (const uint8_t *)GROUP_META, strlen(GROUP_META), &E));
    ic_test_add_array(s, "/temp", 4, 16, 2, 4);
    for (uint32_t i = 0; i < 4; i++)
        if (w1[i] != NULL) {
            uint32_t c[2] = {i / 2, i % 2};
            OK(ic_session_set_chunk(s, "/temp", c, 2, w1[i], 64, &E));
        }
    char *o1 = NULL;
    OK(ic_session_commit(s, "old 1", NULL, &o1, &E));
    OK(ic_session_free(s));
    char *o2 = commit_chunks(repo, "old 2", w2);
    OK(ic_repo_create_branch(repo, "stale", o1, &E));
    OK(ic_repo_create_tag(repo, "old", o2, &E));

    sleep_ms(50);
    int64_t cutoff = unix_nanos_from_now(0);
    sleep_ms(50);

    char *n3 = commit_chunks(repo, "new 3", w3);
    char *n4 = commit_chunks(repo, "new 4", w4);

    /* A cutoff an hour ago: nothing is older, nothing changes, whatever
     * the flags. */
    char *json = NULL;
    for (int32_t flags = 0; flags < 4; flags++) {
        OK(ic_repo_expire_snapshots(repo, unix_nanos_from_now(-3600), flags & 1, flags >> 1, &json, &E));
        for (size_t i = 0; i < sizeof EXPIRE_LISTS / sizeof EXPIRE_LISTS[0]; i++)
            expect_strings(json, EXPIRE_LISTS[i], 0, NULL);
        ic_string_free(json);
    }
    const char *main_before[] = {n4, n3, o2, o1, initial};
    expect_ancestry(repo, at_main, 5, main_before);

    /* At the cutoff: o1 and o2 are expired, n3 (main's oldest kept
     * snapshot) is rewritten onto the initial snapshot; the branch and tag
     * at expired snapshots stay, and o2 (the tag's) is rewritten too: it
     * keeps no history behind it. */
    OK(ic_repo_expire_snapshots(repo, cutoff, 0, 0, &json, &E));
    const char *expired[2] = {o1, o2};
    if (strcmp(o1, o2) > 0) {
        expired[0] = o2;
        expired[1] = o1;
    }
    expect_strings(json, "expired_snapshots", 2, expired);
    {
        const char *rewritten[2] = {n3, o2};
        if (strcmp(n3, o2) > 0) {
            rewritten[0] = o2;
            rewritten[1] = n3;
        }
        expect_strings(json, "rewritten_snapshots", 2, rewritten);
    }
    expect_strings(json, "deleted_branches", 0, NULL);
    expect_strings(json, "deleted_tags", 0, NULL);
    ic_string_free(json);

    const char *main_after[] = {n4, n3, initial};
    expect_ancestry(repo, at_main, 3, main_after);
    expect_ancestry(repo, at_branch("stale"), 2, (const char *const[]){o1, initial});
    expect_ancestry(repo, at_tag("old"), 2, (const char *const[]){o2, initial});
    char *branches = NULL;
    OK(ic_repo_list_branches(repo, &branches, &E));
    CHECK(strcmp(branches, "[\"main\",\"stale\"]") == 0);
    ic_string_free(branches);
    char *tags = NULL;
    OK(ic_repo_list_tags(repo, &tags, &E));
    CHECK(strcmp(tags, "[\"old\"]") == 0);
    ic_string_free(tags);

    /* A diff across the rewritten snapshot fails; one after it works. */
    {
        ic_version from = at_snapshot(initial);
        char *d = NULL;
        FAILS(IC_ERR_BAD_SNAPSHOT_CHAIN, ic_repo_diff(repo, &from, &at_main, &d, &E));
        CHECK(d == NULL);
        from = at_snapshot(n3);
        OK(ic_repo_diff(repo, &from, &at_main, &d, &E));
        CONTAINS(d, "\"updated_chunks\":{\"/temp\":[[1,1]]}");
        ic_string_free(d);
    }

    /* Ids and contents did not change. */
    expect_chunks_at(repo, o1, s1);
    expect_chunks_at(repo, o2, s2);
    expect_chunks_at(repo, n3, s3);
    expect_chunks_at(repo, n4, s4);

    /* The branch and tag still reach o1 and o2: nothing to collect. */
    OK(ic_repo_garbage_collect(repo, unix_nanos_from_now(3600), 0, &json, &E));
    CHECK(gc_field(json, "snapshots_deleted") == 0);
    ic_string_free(json);
    expect_chunks_at(repo, o1, s1);

    /* Expiring again with both flags deletes the branch and the tag at
     * expired snapshots (main stays). */
    OK(ic_repo_expire_snapshots(repo, cutoff, 1, 1, &json, &E));
    expect_strings(json, "deleted_branches", 1, (const char *const[]){"stale"});
    expect_strings(json, "deleted_tags", 1, (const char *const[]){"old"});
    ic_string_free(json);
    OK(ic_repo_list_branches(repo, &branches, &E));
    CHECK(strcmp(branches, "[\"main\"]") == 0);
    ic_string_free(branches);
    OK(ic_repo_list_tags(repo, &tags, &E));
    CHECK(strcmp(tags, "[]") == 0);
    ic_string_free(tags);

    /* Now garbage collection deletes o1 and o2 and the chunks only they
     * name (v[0], v[1]). */
    OK(ic_repo_garbage_collect(repo, unix_nanos_from_now(3600), 0, &json, &E));
    CHECK(gc_field(json, "snapshots_deleted") == 2);
    CHECK(gc_field(json, "chunks_deleted") >= 1);
    ic_string_free(json);
    ic_version at_o1 = at_snapshot(o1);
    FAILS(IC_ERR_SNAPSHOT_NOT_FOUND, ic_repo_readonly_session(repo, &at_o1, &s, &E));
    expect_chunks_at(repo, n3, s3);
    expect_chunks_at(repo, n4, s4);
    expect_ancestry(repo, at_main, 3, main_after);

    ic_string_free(initial);
    ic_string_free(o1);
    ic_string_free(o2);
    ic_string_free(n3);
    ic_string_free(n4);
    OK(ic_repo_free(repo));
    OK(ic_storage_free(st));
}

/* --- Anonymous snapshots, chunk types, statistics, inspection ----------- */

/* The ic_chunk_type of chunk (y, x) of the array at path is want. */
/* Repacking on local disk: four chunks set in one call share an object;
 * once three are rewritten the tip uses a quarter of it, and a repack
 * moves the fourth out, so that expiring the history before the repack
 * lets a collection free that object. */
static void repack_chunks(const char *dir) {
    ic_storage st = 0;
    ic_repo repo = 0;
    create_local_repo(dir, "repack", &st, &repo);
    uint8_t v[7][64];
    for (int i = 0; i < 7; i++) ic_test_fill(v[i], 64, (unsigned)i + 90);
    ic_session s = 0;
    OK(ic_repo_writable_session(repo, "main", &s, &E));
    OK(ic_session_add_group(s, "/", (const uint8_t *)GROUP_META, strlen(GROUP_META), &E));
    ic_test_add_array(s, "/temp", 4, 16, 2, 4);
    const char *keys[4] = {"temp/c/0/0", "temp/c/0/1", "temp/c/1/0", "temp/c/1/1"};
    const uint8_t *vals[4] = {v[0], v[1], v[2], v[3]};
    size_t lens[4] = {64, 64, 64, 64};
    OK(ic_store_set_many(s, keys, vals, lens, 4, &E));
    char *c1 = NULL;
    OK(ic_session_commit(s, "four chunks in one object", NULL, &c1, &E));
    OK(ic_session_free(s));
    uint8_t *w2[4] = {v[4], v[5], v[6], NULL}, *s2[4] = {v[4], v[5], v[6], v[3]};
    char *c2 = commit_chunks(repo, "three rewritten", w2);

    char *json = NULL;
    FAILS_SAYING(IC_ERR_INVALID_ARGUMENT, "max_live_fraction", ic_repo_repack_chunks(repo, "main", "r", NULL, 1.5, 0, &json, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_repack_chunks(repo, "main", "r", NULL, -0.5, 0, &json, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_repack_chunks(repo, "main", "r", NULL, 0.5, 1, NULL, &E));
    FAILS(IC_ERR_BRANCH_NOT_FOUND, ic_repo_repack_chunks(repo, "nope", "r", NULL, 0, 0, &json, &E));

    /* No object is at most a fifth used: nothing is committed. */
    OK(ic_repo_repack_chunks(repo, "main", "r", NULL, 0.2, 0, &json, &E));
    CHECK(strncmp(json_value(json, "snapshot_id"), "null", 4) == 0);
    CHECK(gc_field(json, "objects_repacked") == 0 && gc_field(json, "chunks_moved") == 0);
    ic_string_free(json);
    char *tip = NULL;
    ic_version at_main = at_branch("main");
    OK(ic_repo_resolve(repo, &at_main, &tip, &E));
    CHECK(strcmp(tip, c2) == 0);
    ic_string_free(tip);

    sleep_ms(50);
    int64_t cutoff = unix_nanos_from_now(0);
    sleep_ms(50);
    /* A dry run counts and commits nothing. */
    OK(ic_repo_repack_chunks(repo, "main", "dry", NULL, 0, 1, &json, &E));
    CHECK(strncmp(json_value(json, "snapshot_id"), "null", 4) == 0);
    CHECK(gc_field(json, "dry_run") == 1 && gc_field(json, "objects_repacked") == 1);
    CHECK(gc_field(json, "chunks_moved") == 1 && gc_field(json, "bytes_freeable") == 192);
    ic_string_free(json);
    OK(ic_repo_resolve(repo, &at_main, &tip, &E));
    CHECK(strcmp(tip, c2) == 0);
    ic_string_free(tip);
    OK(ic_repo_repack_chunks(repo, "main", "repack", "{\"why\": \"c test\"}", 0, 0, &json, &E));
    CHECK(gc_field(json, "dry_run") == 0);
    CHECK(gc_field(json, "objects_repacked") == 1);
    CHECK(gc_field(json, "chunks_moved") == 1);
    CHECK(gc_field(json, "bytes_moved") == 64);
    CHECK(gc_field(json, "bytes_freeable") == 192);
    const char *id = json_value(json, "snapshot_id");
    OK(ic_repo_resolve(repo, &at_main, &tip, &E));
    CHECK(id[0] == '"' && strncmp(id + 1, tip, strlen(tip)) == 0 && id[1 + strlen(tip)] == '"');
    ic_string_free(json);
    expect_chunks_at(repo, tip, s2);
    ic_version from = at_snapshot(c2), to = at_snapshot(tip);
    OK(ic_repo_diff(repo, &from, &to, &json, &E));
    CHECK(strstr(json, "[[") == NULL); /* no chunk changed */
    ic_string_free(json);

    /* Expire the history before the repack and collect: the shared
     * object goes (the only chunk object no longer used), the data stays. */
    OK(ic_repo_expire_snapshots(repo, cutoff, 0, 0, &json, &E));
    ic_string_free(json);
    OK(ic_repo_garbage_collect(repo, unix_nanos_from_now(3600), 0, &json, &E));
    CHECK(gc_field(json, "chunks_deleted") == 1);
    CHECK(gc_field(json, "bytes_deleted") >= 256);
    ic_string_free(json);
    expect_chunks_at(repo, tip, s2);
    ic_string_free(tip);
    ic_string_free(c1);
    ic_string_free(c2);
    OK(ic_repo_free(repo));
    OK(ic_storage_free(st));
}

static void expect_kind(ic_session s, const char *path, uint32_t y, uint32_t x, int32_t want) {
    uint32_t c[2] = {y, x};
    int32_t kind = -1;
    OK(ic_session_chunk_type(s, path, c, 2, &kind, &E));
    if (kind != want) {
        fprintf(stderr, "%s:%d: chunk [%u, %u] of %s is of type %d, want %d\n", __FILE__, __LINE__, y, x, path, kind, want);
        exit(1);
    }
}

/* The chunk storage statistics of repo are exactly want. */
static void expect_stats(ic_repo repo, const char *want) {
    char *json = NULL;
    OK(ic_repo_chunk_storage_stats(repo, &json, &E));
    if (strcmp(json, want) != 0) {
        fprintf(stderr, "%s:%d: chunk storage stats %s, want %s\n", __FILE__, __LINE__, json, want);
        exit(1);
    }
    ic_string_free(json);
}

#define NO_STATS "{\"native_bytes\":0,\"virtual_bytes\":0,\"inlined_bytes\":0}"

/* An anonymous snapshot on local disk: flushed without moving main, read
 * back by id, inspected, counted in the statistics once a branch reaches
 * it; chunk types before and after. */
static void anonymous_snapshot(const char *dir) {
    ic_storage st = 0;
    ic_repo repo = 0;
    create_local_repo(dir, "flush", &st, &repo);
    OK(ic_repo_set_default_commit_metadata(repo, "{\"tool\":\"ctest\"}", &E));
    char *initial = NULL;
    OK(ic_repo_lookup_branch(repo, "main", &initial, &E));
    expect_stats(repo, NO_STATS);

    uint8_t big[3][64], small[8] = {8, 7, 6, 5, 4, 3, 2, 1};
    for (int i = 0; i < 3; i++) ic_test_fill(big[i], 64, (unsigned)i + 200);
    ic_session s = 0;
    OK(ic_repo_writable_session(repo, "main", &s, &E));
    OK(ic_session_add_group(s, "/", (const uint8_t *)GROUP_META, strlen(GROUP_META), &E));
    ic_test_add_array(s, "/temp", 4, 16, 2, 4); /* a grid of 2 x 4 chunks */
    uint32_t c00[2] = {0, 0}, c01[2] = {0, 1}, c10[2] = {1, 0}, c11[2] = {1, 1};
    OK(ic_session_set_chunk(s, "/temp", c00, 2, big[0], 64, &E));
    OK(ic_session_set_chunk(s, "/temp", c01, 2, big[1], 64, &E));
    OK(ic_session_set_chunk(s, "/temp", c10, 2, small, sizeof small, &E));

    /* Chunk types: native, inline, never written; coordinates outside the
     * grid or of another rank are invalid arguments; paths that are no
     * array fail as other chunk calls do. */
    expect_kind(s, "/temp", 0, 0, IC_CHUNK_NATIVE);
    expect_kind(s, "/temp", 1, 0, IC_CHUNK_INLINE);
    expect_kind(s, "/temp", 1, 3, IC_CHUNK_UNINITIALIZED);
    int32_t kind = 99;
    uint32_t outside[2] = {2, 0}, wide[2] = {0, 4};
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_chunk_type(s, "/temp", outside, 2, &kind, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_chunk_type(s, "/temp", wide, 2, &kind, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_chunk_type(s, "/temp", c00, 1, &kind, &E));
    FAILS(IC_ERR_NOT_AN_ARRAY, ic_session_chunk_type(s, "/", c00, 2, &kind, &E));
    FAILS(IC_ERR_NOT_FOUND, ic_session_chunk_type(s, "/nope", c00, 2, &kind, &E));
    CHECK(kind == 99);

    /* The flush: main stays, the session is read-only at the snapshot. */
    char *anon = NULL;
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_flush_snapshot(s, "anonymous", "[1]", &anon, &E));
    CHECK(anon == NULL);
    OK(ic_session_flush_snapshot(s, "anonymous", "{\"who\":\"c\"}", &anon, &E));
    CHECK(anon != NULL && strlen(anon) == 20 && strcmp(anon, initial) != 0);
    char *tip = NULL;
    OK(ic_repo_lookup_branch(repo, "main", &tip, &E));
    CHECK(strcmp(tip, initial) == 0);
    ic_string_free(tip);
    expect_read_only_at(s, anon);
    int32_t ro = 0, changes = 1;
    OK(ic_session_has_changes(s, &changes, &E));
    CHECK(changes == 0);
    FAILS(IC_ERR_READ_ONLY, ic_session_set_chunk(s, "/temp", c11, 2, big[2], 64, &E));
    FAILS(IC_ERR_READ_ONLY, ic_session_flush_snapshot(s, "again", NULL, NULL, &E));
    expect_kind(s, "/temp", 0, 1, IC_CHUNK_NATIVE);
    OK(ic_session_free(s));

    /* Readable by id through a new handle, with its metadata merged over
     * the default, and its ancestry reaching the base. */
    {
        ic_repo again = 0;
        OK(ic_repo_open(st, &again, &E));
        ic_version v = at_snapshot(anon);
        OK(ic_repo_readonly_session(again, &v, &s, &E));
        expect_chunk(s, 0, 0, big[0], 64);
        expect_chunk(s, 0, 1, big[1], 64);
        expect_chunk(s, 1, 0, small, sizeof small);
        expect_kind(s, "/temp", 1, 0, IC_CHUNK_INLINE);
        OK(ic_session_free(s));
        char *info = NULL;
        OK(ic_repo_snapshot_info(again, anon, &info, &E));
        CONTAINS(info, "\"message\":\"anonymous\"");
        CONTAINS(info, "\"who\":\"c\"");
        CONTAINS(info, "\"tool\":\"ctest\"");
        CONTAINS(info, "\"manifests\":[{\"id\":\""); /* the snapshot's manifest file, */
        CONTAINS(info, "\"num_chunk_refs\":3}]");      /* with its three chunks */
        ic_string_free(info);
        OK(ic_repo_snapshot_info(again, initial, &info, &E));
        CONTAINS(info, "\"manifests\":[]");
        ic_string_free(info);
        expect_ancestry(again, v, 2, (const char *const[]){anon, initial});
        OK(ic_repo_free(again));
    }

    /* Inspection of the snapshot file. */
    {
        char *json = NULL, want[200];
        OK(ic_repo_inspect_snapshot(repo, anon, &json, &E));
        snprintf(want, sizeof want, "{\"id\":\"%s\",\"parent_id\":\"%s\",\"flushed_at\":\"", anon, initial);
        CHECK(strncmp(json, want, strlen(want)) == 0);
        const char *at = json_value(json, "flushed_at"); /* "YYYY-MM-DDTHH:MM:SS.uuuuuuZ" */
        CHECK(strlen(at) > 29 && at[0] == '"' && at[11] == 'T' && at[20] == '.' && at[27] == 'Z' && at[28] == '"');
        CONTAINS(json, "\"commit_message\":\"anonymous\"");
        CONTAINS(json, "\"who\":\"c\"");
        CONTAINS(json, "\"num_chunk_refs\":3");
        CONTAINS(json, "\"path\":\"/\",\"node_type\":\"group\"}");
        CONTAINS(json, "\"path\":\"/temp\",\"node_type\":\"array\",\"manifest_refs\":[{\"id\":\"");
        CONTAINS(json, "\"extents\":[[0,");
        CHECK(strstr(json, "history_cut") == NULL);
        ic_string_free(json);
        OK(ic_repo_inspect_snapshot(repo, initial, &json, &E));
        CONTAINS(json, "\"parent_id\":null");
        CONTAINS(json, "\"manifests\":[],\"nodes\":[]");
        ic_string_free(json);
        json = NULL;
        FAILS(IC_ERR_SNAPSHOT_NOT_FOUND, ic_repo_inspect_snapshot(repo, "AAAAAAAAAAAAAAAAAAA0", &json, &E));
        FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_inspect_snapshot(repo, "not an id", &json, &E));
        CHECK(json == NULL);
    }

    /* No ref reaches the snapshot: the statistics leave it out until a
     * branch points at it. */
    expect_stats(repo, NO_STATS);
    OK(ic_repo_create_branch(repo, "anon", anon, &E));
    expect_stats(repo, "{\"native_bytes\":128,\"virtual_bytes\":0,\"inlined_bytes\":8}");

    /* Nothing to flush; a flush that does not want the id; a flush on top
     * of a flushed snapshot. */
    OK(ic_repo_writable_session(repo, "main", &s, &E));
    FAILS(IC_ERR_NO_CHANGES, ic_session_flush_snapshot(s, "empty", NULL, NULL, &E));
    OK(ic_session_read_only(s, &ro, &E));
    CHECK(ro == 0);
    OK(ic_session_free(s));
    OK(ic_repo_writable_session(repo, "anon", &s, &E));
    OK(ic_session_set_chunk(s, "/temp", c11, 2, big[2], 64, &E));
    OK(ic_session_flush_snapshot(s, "second", NULL, NULL, &E));
    char *second = snapshot_of(s);
    OK(ic_session_free(s));
    ic_version v2 = at_snapshot(second);
    expect_ancestry(repo, v2, 3, (const char *const[]){second, anon, initial});
    OK(ic_repo_lookup_branch(repo, "anon", &tip, &E));
    CHECK(strcmp(tip, anon) == 0);
    ic_string_free(tip);
    expect_stats(repo, "{\"native_bytes\":128,\"virtual_bytes\":0,\"inlined_bytes\":8}");
    OK(ic_repo_reset_branch(repo, "anon", second, anon, &E));
    expect_stats(repo, "{\"native_bytes\":192,\"virtual_bytes\":0,\"inlined_bytes\":16}");

    ic_string_free(second);
    ic_string_free(anon);
    ic_string_free(initial);
    OK(ic_repo_free(repo));
    OK(ic_storage_free(st));
}

/* --- Batches of virtual refs -------------------------------------------- */

/* A repository in memory with two virtual chunk containers: dir/name
 * (file://), which holds data.bin (100 bytes of a pattern), and
 * s3://bucket/, served by a local storage on the same directory. */
typedef struct virtual_repo {
    char dir[700], file[800], loc[900]; /* loc: data.bin's file:// URL */
    uint8_t bytes[100];                 /* data.bin's contents */
    ic_storage st, files;
    ic_repo repo;
} virtual_repo;

static void virtual_repo_open(virtual_repo *v, const char *dir, const char *name, unsigned seed) {
    char cfgj[2000];
    snprintf(v->dir, sizeof v->dir, "%s/%s", dir, name);
    CHECK(mkdir(v->dir, 0755) == 0);
    snprintf(v->file, sizeof v->file, "%s/data.bin", v->dir);
    snprintf(v->loc, sizeof v->loc, "file://%s", v->file);
    ic_test_fill(v->bytes, sizeof v->bytes, seed);
    FILE *f = fopen(v->file, "wb");
    CHECK(f != NULL && fwrite(v->bytes, 1, sizeof v->bytes, f) == sizeof v->bytes);
    fclose(f);
    snprintf(cfgj, sizeof cfgj,
             "{\"virtual_chunk_containers\": [{\"name\": \"files\", \"url_prefix\": \"file://%s/\"},"
             " {\"name\": \"bucket\", \"url_prefix\": \"s3://bucket/\"}]}",
             v->dir);
    OK(ic_storage_new_memory(NULL, &v->st, &E));
    OK(ic_repo_create(v->st, cfgj, &v->repo, &E));
    OK(ic_storage_new_local(v->dir, &v->files, &E));
    OK(ic_repo_set_virtual_chunk_storage(v->repo, "s3://bucket/", v->files, &E));
}

static void virtual_repo_close(virtual_repo *v) {
    OK(ic_repo_free(v->repo));
    OK(ic_storage_free(v->st));
    OK(ic_storage_free(v->files));
}

/* The locations of the session's virtual chunks are count distinct ones. */
static void expect_locations(ic_session s, size_t count, const char *one) {
    ic_iter it = 0;
    OK(ic_session_virtual_chunk_locations(s, &it, &E));
    char *page = NULL;
    size_t n = 0;
    OK(ic_iter_next_page(it, 0, &page, &n, &E));
    if (n != count || strstr(page, one) == NULL) {
        fprintf(stderr, "%s:%d: virtual chunk locations %s, want %zu of them with %s\n", __FILE__, __LINE__, page, count, one);
        exit(1);
    }
    ic_string_free(page);
    OK(ic_iter_free(it));
}

/* Virtual refs set in batches: with the container check (refs outside
 * every container come back), without it, with a pinned ETag, and
 * refused as a whole for bad entries; their locations, types and bytes. */
static void virtual_refs(const char *dir) {
    virtual_repo v;
    virtual_repo_open(&v, dir, "vrefs", 91);
    const char *loc = v.loc;
    const uint8_t *bytes = v.bytes;
    ic_repo repo = v.repo;
    char refs[4000];
    ic_session s = 0;
    OK(ic_repo_writable_session(repo, "main", &s, &E));
    OK(ic_session_add_group(s, "/", (const uint8_t *)GROUP_META, strlen(GROUP_META), &E));
    ic_test_add_array(s, "/v", 6, 4, 2, 2); /* a grid of 3 x 2 chunks; row 2 stays empty */

    snprintf(refs, sizeof refs,
             "[{\"coords\": [0, 0], \"location\": \"%s\", \"offset\": 10, \"length\": 20},"
             " {\"coords\": [0, 1], \"location\": \"s3://bucket/data.bin\", \"offset\": 0, \"length\": 5, \"last_modified\": 0},"
             " {\"coords\": [1, 0], \"location\": \"https://elsewhere/x\", \"offset\": 0, \"length\": 5},"
             " {\"coords\": [1, 1], \"location\": \"s3://bucket/data.bin\", \"offset\": 5, \"length\": 5, \"etag\": \"\\\"abc\\\"\"}]",
             loc);
    char *failed = NULL;
    OK(ic_session_set_virtual_refs(s, "/v", refs, 1, &failed, &E));
    CHECK(strcmp(failed, "[[1,0]]") == 0);
    ic_string_free(failed);
    expect_kind(s, "/v", 0, 0, IC_CHUNK_VIRTUAL);
    expect_kind(s, "/v", 0, 1, IC_CHUNK_VIRTUAL);
    expect_kind(s, "/v", 1, 0, IC_CHUNK_UNINITIALIZED);
    expect_kind(s, "/v", 1, 1, IC_CHUNK_VIRTUAL);
    uint32_t c00[2] = {0, 0}, c01[2] = {0, 1}, c10[2] = {1, 0}, c11[2] = {1, 1};
    uint8_t buf[32];
    size_t len = 0;
    int32_t found = 0;
    OK(ic_session_get_chunk_into(s, "/v", c00, 2, NULL, buf, sizeof buf, &len, &found, &E));
    CHECK(found == 1 && len == 20 && memcmp(buf, bytes + 10, 20) == 0);
    OK(ic_session_get_chunk_into(s, "/v", c01, 2, NULL, buf, sizeof buf, &len, &found, &E));
    CHECK(found == 1 && len == 5 && memcmp(buf, bytes, 5) == 0);
    /* The ETag is kept and checked: local files have none to match. */
    FAILS(IC_ERR_VIRTUAL_CHUNK, ic_session_get_chunk_into(s, "/v", c11, 2, NULL, buf, sizeof buf, &len, &found, &E));
    expect_locations(s, 2, "\"s3://bucket/data.bin\"");

    /* Without the check (and without wanting the failures) the ref is
     * set; reading it is refused. Every ref set: an empty list. */
    OK(ic_session_set_virtual_refs(s, "/v", "[{\"coords\": [1, 0], \"location\": \"https://elsewhere/x\", \"offset\": 0, \"length\": 5}]", 0, NULL, &E));
    expect_kind(s, "/v", 1, 0, IC_CHUNK_VIRTUAL);
    FAILS(IC_ERR_VIRTUAL_CHUNK, ic_session_get_chunk_into(s, "/v", c10, 2, NULL, buf, sizeof buf, &len, &found, &E));
    expect_locations(s, 3, "\"https://elsewhere/x\"");
    snprintf(refs, sizeof refs, "[{\"coords\": [0, 0], \"location\": \"%s\", \"offset\": 10, \"length\": 20}]", loc);
    OK(ic_session_set_virtual_refs(s, "/v", refs, 1, &failed, &E));
    CHECK(strcmp(failed, "[]") == 0);
    ic_string_free(failed);
    OK(ic_session_set_virtual_refs(s, "/v", "[]", 1, &failed, &E));
    CHECK(strcmp(failed, "[]") == 0);
    ic_string_free(failed);

    /* A bad entry anywhere sets nothing: chunk [2, 0], first in each
     * batch, stays unwritten. */
    const char *good = "{\"coords\": [2, 0], \"location\": \"s3://bucket/data.bin\", \"offset\": 0, \"length\": 1}";
    const char *bad_index[] = {"{\"coords\": [3, 0], \"location\": \"s3://bucket/d\", \"offset\": 0, \"length\": 1}",
                               "{\"coords\": [0], \"location\": \"s3://bucket/d\", \"offset\": 0, \"length\": 1}"};
    const char *bad_arg[] = {"{\"location\": \"s3://bucket/d\", \"offset\": 0, \"length\": 1}",
                             "{\"coords\": [2, 1], \"offset\": 0, \"length\": 1}",
                             "{\"coords\": [2, 1], \"location\": \"s3://bucket/d\", \"length\": 1}",
                             "{\"coords\": [2, 1], \"location\": \"s3://bucket/d\", \"offset\": 0}",
                             "{\"coords\": [2, 1], \"location\": \"\", \"offset\": 0, \"length\": 1}",
                             "{\"coords\": [2, 1], \"location\": \"s3://bucket/d\", \"offset\": -1, \"length\": 1}",
                             "{\"coords\": [2, 1], \"location\": \"s3://bucket/d\", \"offset\": 0, \"length\": 1, \"checksum\": 1}",
                             "null", "1"};
    for (int validate = 0; validate < 2; validate++) {
        for (size_t i = 0; i < sizeof bad_index / sizeof bad_index[0]; i++) {
            snprintf(refs, sizeof refs, "[%s, %s]", good, bad_index[i]);
            FAILS(IC_ERR_INVALID_INDEX, ic_session_set_virtual_refs(s, "/v", refs, validate, &failed, &E));
        }
        for (size_t i = 0; i < sizeof bad_arg / sizeof bad_arg[0]; i++) {
            snprintf(refs, sizeof refs, "[%s, %s]", good, bad_arg[i]);
            FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_set_virtual_refs(s, "/v", refs, validate, &failed, &E));
        }
        const char *not_a_list[] = {"", "[", "{}", "null", "[] []"};
        for (size_t i = 0; i < sizeof not_a_list / sizeof not_a_list[0]; i++)
            FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_set_virtual_refs(s, "/v", not_a_list[i], validate, &failed, &E));
        expect_kind(s, "/v", 2, 0, IC_CHUNK_UNINITIALIZED);
    }
    FAILS(IC_ERR_NOT_AN_ARRAY, ic_session_set_virtual_refs(s, "/", "[]", 1, &failed, &E));
    FAILS(IC_ERR_NOT_FOUND, ic_session_set_virtual_refs(s, "/nope", "[]", 1, &failed, &E));

    /* Committed, they read back the same, and count in the statistics
     * (20 + 5 + 5 + 5 bytes). */
    char *id = NULL;
    OK(ic_session_commit(s, "virtual refs", NULL, &id, &E));
    OK(ic_session_free(s));
    ic_version at_id = at_snapshot(id);
    OK(ic_repo_readonly_session(repo, &at_id, &s, &E));
    expect_kind(s, "/v", 0, 0, IC_CHUNK_VIRTUAL);
    expect_kind(s, "/v", 2, 0, IC_CHUNK_UNINITIALIZED);
    expect_locations(s, 3, loc);
    FAILS(IC_ERR_VIRTUAL_CHUNK, ic_session_get_chunk_into(s, "/v", c11, 2, NULL, buf, sizeof buf, &len, &found, &E));
    FAILS(IC_ERR_READ_ONLY, ic_session_set_virtual_refs(s, "/v", "[]", 1, &failed, &E));
    OK(ic_session_free(s));
    expect_stats(repo, "{\"native_bytes\":0,\"virtual_bytes\":35,\"inlined_bytes\":0}");

    ic_string_free(id);
    virtual_repo_close(&v);
}

int main(void) {
    /* Versions. */
    CHECK(ic_abi_version() == IC_ABI_VERSION);
    CHECK(ic_version_number() == IC_VERSION_NUMBER);
    CHECK(ic_format_version() == 1); /* docs/format.md: format version 1 */
    CHECK(strcmp(ic_version_string(), IC_VERSION_STRING) == 0);
    CHECK(strcmp(ic_status_name(IC_ERR_REBASE_FAILED), "IC_ERR_REBASE_FAILED") == 0);
    CHECK(strcmp(ic_status_name(12345), "IC_ERR_UNKNOWN") == 0);
    int32_t prev = 0;
    OK(ic_set_max_threads(0, &prev, &E));
    CHECK(prev >= 1);
    int64_t limit = 0;
    OK(ic_set_memory_limit(-1, &limit, &E));
    CHECK(limit > 0);

    char *dir = ic_test_tmpdir();
    char path[600];
    snprintf(path, sizeof path, "%s/repo", dir);

    /* Create. */
    ic_storage st = 0;
    OK(ic_storage_new_local(path, &st, &E));
    char *desc = NULL;
    OK(ic_storage_describe(st, &desc, &E));
    CONTAINS(desc, "local:");
    ic_string_free(desc);
    {
        /* A read-only storage for virtual chunks served over HTTP: named
         * without credentials; a URL that is not a folder's is refused. */
        ic_storage web = 0;
        OK(ic_storage_new_http("https://user:secret@example.com/data", &web, &E));
        char *named = NULL;
        OK(ic_storage_describe(web, &named, &E));
        CHECK(strcmp(named, "https://example.com/data/") == 0);
        ic_string_free(named);
        OK(ic_storage_free(web));
        ic_storage refused = 0;
        FAILS(IC_ERR_INVALID_ARGUMENT, ic_storage_new_http("ftp://example.com/data/", &refused, &E));
        FAILS(IC_ERR_INVALID_ARGUMENT, ic_storage_new_http("https://example.com/data/?x=1", &refused, &E));
        FAILS(IC_ERR_INVALID_ARGUMENT, ic_storage_new_http(NULL, &refused, &E));
        FAILS(IC_ERR_INVALID_ARGUMENT, ic_storage_new_http("https://example.com/", NULL, &E));
        /* Upstream's client options, as a JSON object of strings. */
        OK(ic_storage_new_http_options("https://example.com/data",
                                       "{\"timeout\": \"2min 30s\", \"user_agent\": \"survey/1\", \"allow_http\": \"false\"}",
                                       &web, &E));
        OK(ic_storage_free(web));
        OK(ic_storage_new_http_options("https://example.com/data", NULL, &web, &E));
        OK(ic_storage_free(web));
        FAILS(IC_ERR_INVALID_ARGUMENT,
              ic_storage_new_http_options("https://example.com/", "{\"http2_only\": \"true\"}", &refused, &E));
        FAILS(IC_ERR_INVALID_ARGUMENT,
              ic_storage_new_http_options("https://example.com/", "{\"timeout\": 30}", &refused, &E));
        FAILS(IC_ERR_INVALID_ARGUMENT,
              ic_storage_new_http_options("https://example.com/", "{\"timeout\": \"soon\"}", &refused, &E));
        FAILS(IC_ERR_INVALID_ARGUMENT,
              ic_storage_new_http_options("http://example.com/", "{\"allow_http\": \"false\"}", &refused, &E));
        FAILS(IC_ERR_INVALID_ARGUMENT, ic_storage_new_http_options("https://example.com/", "{}", NULL, &E));
        CHECK(refused == 0);
    }

    /* The storage settings of a repository that sets none, every field
     * filled in, and usable as a config's "storage" object. */
    char *defaults = NULL;
    OK(ic_storage_default_settings(st, &defaults, &E));
    CONTAINS(defaults, "\"max_tries\":6");
    CONTAINS(defaults, "\"initial_backoff_ms\":50");
    CONTAINS(defaults, "\"max_backoff_ms\":2000");
    CONTAINS(defaults, "\"max_concurrent_requests_for_object\":18");
    CONTAINS(defaults, "\"ideal_concurrent_request_size\":12582912");
    CONTAINS(defaults, "\"unsafe_use_conditional_create\":true");
    CONTAINS(defaults, "\"minimum_size_for_multipart_upload\":104857600");
    {
        ic_storage mem = 0;
        OK(ic_storage_new_memory("roundtrip-defaults", &mem, &E));
        char config[1024];
        snprintf(config, sizeof config, "{\"storage\": %s}", defaults);
        ic_repo with = 0;
        OK(ic_repo_create(mem, config, &with, &E));
        char *got = NULL;
        OK(ic_repo_config_get(with, &got, &E));
        CONTAINS(got, "\"max_tries\":6");
        CONTAINS(got, "\"ideal_concurrent_request_size\":12582912");
        CONTAINS(got, "\"minimum_size_for_multipart_upload\":104857600");
        ic_string_free(got);
        OK(ic_repo_free(with));
        OK(ic_storage_free(mem));
    }
    ic_string_free(defaults);
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_storage_default_settings(st, NULL, &E));
    FAILS(IC_ERR_INVALID_HANDLE, ic_storage_default_settings(0, &(char *){0}, &E));
    int32_t exists = 1;
    OK(ic_repo_exists(st, &exists, &E));
    CHECK(exists == 0);
    FAILS(IC_ERR_REPO_NOT_FOUND, ic_repo_open(st, &(ic_repo){0}, &E));
    ic_repo repo = 0;
    OK(ic_repo_create(st, "{\"inline_chunk_threshold\": 16}", &repo, &E));
    OK(ic_repo_exists(st, &exists, &E));
    CHECK(exists == 1);
    FAILS(IC_ERR_REPO_EXISTS, ic_repo_create(st, NULL, &(ic_repo){0}, &E));
    char *cfg = NULL;
    OK(ic_repo_config_get(repo, &cfg, &E));
    CONTAINS(cfg, "\"inline_chunk_threshold\":16");
    CONTAINS(cfg, "\"manifest_block_chunks\":65536");
    ic_string_free(cfg);

    char *branches = NULL;
    OK(ic_repo_list_branches(repo, &branches, &E));
    CHECK(strcmp(branches, "[\"main\"]") == 0);
    ic_string_free(branches);
    char *initial = NULL;
    OK(ic_repo_lookup_branch(repo, "main", &initial, &E));
    CHECK(strlen(initial) == 20);

    /* Write a group and an array. */
    ic_session s = 0;
    OK(ic_repo_writable_session(repo, "main", &s, &E));
    int32_t ro = 1, changes = 1, fork = 1;
    OK(ic_session_read_only(s, &ro, &E));
    OK(ic_session_has_changes(s, &changes, &E));
    OK(ic_session_is_fork(s, &fork, &E));
    CHECK(ro == 0 && changes == 0 && fork == 0);
    char *branch = NULL;
    OK(ic_session_branch(s, &branch, &E));
    CHECK(strcmp(branch, "main") == 0);
    ic_string_free(branch);

    OK(ic_session_add_group(s, "/", (const uint8_t *)GROUP_META, strlen(GROUP_META), &E));
    ic_test_add_array(s, "/temp", 4, 16, 2, 4);
    FAILS(IC_ERR_ALREADY_EXISTS, ic_session_add_group(s, "/temp", (const uint8_t *)GROUP_META, strlen(GROUP_META), &E));

    uint8_t v1[4][64];
    for (int i = 0; i < 4; i++) ic_test_fill(v1[i], 64, (unsigned)i + 1);
    uint8_t small[8] = {1, 2, 3, 4, 5, 6, 7, 8}; /* at most 16 bytes: stored inline */
    for (uint32_t y = 0; y < 2; y++)
        for (uint32_t x = 0; x < 2; x++) {
            uint32_t c[2] = {y, x};
            if (y == 1 && x == 1)
                OK(ic_session_set_chunk(s, "/temp", c, 2, small, sizeof small, &E));
            else
                OK(ic_session_set_chunk(s, "/temp", c, 2, v1[y * 2 + x], 64, &E));
        }
    uint32_t outside[2] = {2, 0};
    FAILS(IC_ERR_INVALID_INDEX, ic_session_set_chunk(s, "/temp", outside, 2, small, sizeof small, &E));
    FAILS(IC_ERR_NOT_FOUND, ic_session_set_chunk(s, "/nothing", outside, 2, small, sizeof small, &E));

    expect_chunk(s, 0, 1, v1[1], 64);
    expect_chunk(s, 1, 1, small, sizeof small);

    /* A chunk never written; byte ranges; reads into a caller's buffer. */
    {
        uint32_t c[2] = {1, 3};
        uint8_t *data = (uint8_t *)1;
        size_t len = 9;
        int32_t found = 9;
        OK(ic_session_get_chunk(s, "/temp", c, 2, NULL, &data, &len, &found, &E));
        CHECK(found == 0 && data == NULL && len == 0);

        uint32_t c01[2] = {0, 1};
        ic_byte_range r = {IC_RANGE_BOUNDED, 10, 20};
        OK(ic_session_get_chunk(s, "/temp", c01, 2, &r, &data, &len, &found, &E));
        CHECK(found == 1 && len == 10 && memcmp(data, v1[1] + 10, 10) == 0);
        ic_buffer_free(data);
        ic_byte_range suffix = {IC_RANGE_SUFFIX, 4, 0};
        OK(ic_session_get_chunk(s, "/temp", c01, 2, &suffix, &data, &len, &found, &E));
        CHECK(len == 4 && memcmp(data, v1[1] + 60, 4) == 0);
        ic_buffer_free(data);
        ic_byte_range from = {IC_RANGE_FROM, 60, 0};
        OK(ic_session_get_chunk(s, "/temp", c01, 2, &from, &data, &len, &found, &E));
        CHECK(len == 4 && memcmp(data, v1[1] + 60, 4) == 0);
        ic_buffer_free(data);
        ic_byte_range bad = {IC_RANGE_BOUNDED, 20, 10};
        FAILS(IC_ERR_INVALID_RANGE, ic_session_get_chunk(s, "/temp", c01, 2, &bad, &data, &len, &found, &E));

        uint8_t buf[64];
        OK(ic_session_get_chunk_into(s, "/temp", c01, 2, NULL, buf, sizeof buf, &len, &found, &E));
        CHECK(found == 1 && len == 64 && memcmp(buf, v1[1], 64) == 0);
        FAILS(IC_ERR_BUFFER_TOO_SMALL, ic_session_get_chunk_into(s, "/temp", c01, 2, NULL, buf, 10, &len, &found, &E));
        CHECK(len == 64 && found == 1);
        OK(ic_session_get_chunk_into(s, "/temp", c, 2, NULL, buf, sizeof buf, &len, &found, &E));
        CHECK(found == 0 && len == 0);
    }

    /* Node descriptions and status. */
    char *node = NULL;
    OK(ic_session_get_node(s, "/temp", &node, &E));
    CONTAINS(node, "\"type\":\"array\"");
    CONTAINS(node, "\"shape\":[4,16]");
    CONTAINS(node, "\"dimension_names\":[\"y\",\"x\"]");
    CONTAINS(node, "\"zarr_metadata\":{\"zarr_format\":3");
    ic_string_free(node);
    char *nodes = NULL;
    OK(ic_session_list_nodes(s, &nodes, &E));
    CONTAINS(nodes, "\"path\":\"/\"");
    CONTAINS(nodes, "\"path\":\"/temp\"");
    ic_string_free(nodes);
    char *status = NULL;
    OK(ic_session_status(s, &status, &E));
    CONTAINS(status, "\"new_arrays\":[\"/temp\"]");
    CONTAINS(status, "\"/temp\":[[0,0],[0,1],[1,0],[1,1]]");
    ic_string_free(status);
    OK(ic_session_has_changes(s, &changes, &E));
    CHECK(changes == 1);

    /* Chunk coordinates through an iterator. */
    {
        ic_iter it = 0;
        OK(ic_session_chunk_coordinates(s, "/temp", &it, &E));
        char *page = NULL;
        size_t count = 0;
        OK(ic_iter_next_page(it, 0, &page, &count, &E));
        CHECK(count == 4);
        CONTAINS(page, "[1,1]");
        ic_string_free(page);
        OK(ic_iter_free(it));
    }

    /* Commit. */
    OK(ic_repo_set_default_commit_metadata(repo, "{\"tool\":\"ctest\",\"n\":1}", &E));
    char *meta = NULL;
    OK(ic_repo_default_commit_metadata(repo, &meta, &E));
    CONTAINS(meta, "\"tool\":\"ctest\"");
    ic_string_free(meta);
    char *first = NULL;
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_commit(s, "first", "[1,2]", &first, &E));
    OK(ic_session_commit(s, "first", "{\"author\":\"c\"}", &first, &E));
    CHECK(first != NULL && strlen(first) == 20);
    OK(ic_session_read_only(s, &ro, &E));
    CHECK(ro == 1);
    FAILS(IC_ERR_READ_ONLY, ic_session_set_chunk(s, "/temp", outside, 2, small, 1, &E));
    expect_chunk(s, 0, 0, v1[0], 64); /* a committed session reads its new snapshot */
    OK(ic_session_free(s));

    /* The default metadata applies to sessions created after it was set. */
    char *info = NULL;
    OK(ic_repo_snapshot_info(repo, first, &info, &E));
    CONTAINS(info, "\"message\":\"first\"");
    CONTAINS(info, "\"author\":\"c\"");
    CHECK(strstr(info, "ctest") == NULL); /* s was created before the default was set */
    CONTAINS(info, "\"parent_id\":\"");
    ic_string_free(info);

    /* A second commit rewrites one chunk. */
    struct timespec pause = {0, 20 * 1000 * 1000};
    nanosleep(&pause, NULL);
    int64_t between;
    {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        between = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    }
    nanosleep(&pause, NULL);
    uint8_t v2[64];
    ic_test_fill(v2, 64, 99);
    OK(ic_repo_writable_session(repo, "main", &s, &E));
    uint32_t c00[2] = {0, 0};
    OK(ic_session_set_chunk(s, "/temp", c00, 2, v2, 64, &E));
    char *second = NULL;
    OK(ic_session_commit(s, "second", NULL, &second, &E));
    OK(ic_session_free(s));
    OK(ic_repo_snapshot_info(repo, second, &info, &E));
    CONTAINS(info, "\"tool\":\"ctest\"");
    ic_string_free(info);
    OK(ic_repo_writable_session(repo, "main", &s, &E));
    FAILS(IC_ERR_NO_CHANGES, ic_session_commit(s, "empty", NULL, NULL, &E));
    OK(ic_session_free(s));

    /* History, newest first. */
    {
        ic_version v = at_branch("main");
        ic_iter it = 0;
        OK(ic_repo_ancestry(repo, &v, &it, &E));
        const char *want[3] = {"\"message\":\"second\"", "\"message\":\"first\"", "\"message\":\"Repository initialized\""};
        for (int i = 0; i < 3; i++) {
            char *item = NULL;
            int32_t done = 1;
            OK(ic_iter_next(it, &item, &done, &E));
            CHECK(done == 0);
            CONTAINS(item, want[i]);
            ic_string_free(item);
        }
        char *item = (char *)1;
        int32_t done = 0;
        OK(ic_iter_next(it, &item, &done, &E));
        CHECK(done == 1 && item == NULL);
        OK(ic_iter_free(it));
        FAILS_QUIET(IC_ERR_INVALID_HANDLE, ic_iter_free(it));

        char *page = NULL;
        OK(ic_repo_ancestry_json(repo, &v, 2, &page, &E));
        CONTAINS(page, "\"message\":\"second\"");
        CONTAINS(page, "\"message\":\"first\"");
        CHECK(strstr(page, "Repository initialized") == NULL);
        ic_string_free(page);
        OK(ic_repo_ancestry_json(repo, &v, 0, &page, &E));
        CONTAINS(page, "Repository initialized");
        CONTAINS(page, "\"parent_id\":null");
        ic_string_free(page);
    }

    /* Tags. */
    OK(ic_repo_create_tag(repo, "v1", first, &E));
    FAILS(IC_ERR_TAG_EXISTS, ic_repo_create_tag(repo, "v1", second, &E));
    char *tags = NULL;
    OK(ic_repo_list_tags(repo, &tags, &E));
    CHECK(strcmp(tags, "[\"v1\"]") == 0);
    ic_string_free(tags);
    char *tagged = NULL;
    OK(ic_repo_lookup_tag(repo, "v1", &tagged, &E));
    CHECK(strcmp(tagged, first) == 0);
    ic_string_free(tagged);
    OK(ic_repo_create_tag(repo, "tmp", second, &E));
    OK(ic_repo_delete_tag(repo, "tmp", &E));
    FAILS(IC_ERR_TAG_NOT_FOUND, ic_repo_lookup_tag(repo, "tmp", &tagged, &E));
    FAILS(IC_ERR_TAG_EXISTS, ic_repo_create_tag(repo, "tmp", second, &E));

    /* Read-only sessions at a tag, a branch, a snapshot and a time. */
    {
        ic_version v = at_tag("v1");
        ic_session ro_s = 0;
        OK(ic_repo_readonly_session(repo, &v, &ro_s, &E));
        expect_chunk(ro_s, 0, 0, v1[0], 64);
        expect_chunk(ro_s, 1, 1, small, sizeof small);
        FAILS(IC_ERR_READ_ONLY, ic_session_set_chunk(ro_s, "/temp", c00, 2, v2, 64, &E));
        expect_read_only_at(ro_s, first);
        OK(ic_session_free(ro_s));

        v = at_branch("main");
        OK(ic_repo_readonly_session(repo, &v, &ro_s, &E));
        expect_chunk(ro_s, 0, 0, v2, 64);
        OK(ic_session_free(ro_s));

        v = at_snapshot(first);
        OK(ic_repo_readonly_session(repo, &v, &ro_s, &E));
        expect_chunk(ro_s, 0, 0, v1[0], 64);
        OK(ic_session_free(ro_s));

        ic_version asof = {IC_AT_BRANCH, "main", between};
        OK(ic_repo_readonly_session(repo, &asof, &ro_s, &E));
        expect_chunk(ro_s, 0, 0, v1[0], 64);
        OK(ic_session_free(ro_s));
        char *resolved = NULL;
        OK(ic_repo_resolve(repo, &asof, &resolved, &E));
        CHECK(strcmp(resolved, first) == 0);
        ic_string_free(resolved);

        v = at_tag("nope");
        FAILS(IC_ERR_TAG_NOT_FOUND, ic_repo_readonly_session(repo, &v, &ro_s, &E));
        v = at_snapshot("AAAAAAAAAAAAAAAAAAA0");
        FAILS(IC_ERR_SNAPSHOT_NOT_FOUND, ic_repo_readonly_session(repo, &v, &ro_s, &E));
    }

    /* Diff. */
    {
        ic_version from = at_tag("v1"), to = at_branch("main");
        char *d = NULL;
        OK(ic_repo_diff(repo, &from, &to, &d, &E));
        CONTAINS(d, "\"updated_chunks\":{\"/temp\":[[0,0]]}");
        CONTAINS(d, "\"new_arrays\":[]");
        ic_string_free(d);
        from = at_snapshot(initial);
        OK(ic_repo_diff(repo, &from, &to, &d, &E));
        CONTAINS(d, "\"new_groups\":[\"/\"]");
        CONTAINS(d, "\"new_arrays\":[\"/temp\"]");
        ic_string_free(d);
        FAILS(IC_ERR_BAD_SNAPSHOT_CHAIN, ic_repo_diff(repo, &to, &from, &d, &E));
    }

    /* Branches. */
    OK(ic_repo_create_branch(repo, "dev", first, &E));
    FAILS(IC_ERR_BRANCH_EXISTS, ic_repo_create_branch(repo, "dev", first, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_create_branch(repo, "bad/name", first, &E));
    OK(ic_repo_list_branches(repo, &branches, &E));
    CHECK(strcmp(branches, "[\"dev\",\"main\"]") == 0);
    ic_string_free(branches);
    FAILS(IC_ERR_CONFLICT, ic_repo_reset_branch(repo, "dev", second, second, &E));
    OK(ic_repo_reset_branch(repo, "dev", second, first, &E));
    char *tip = NULL;
    OK(ic_repo_lookup_branch(repo, "dev", &tip, &E));
    CHECK(strcmp(tip, second) == 0);
    ic_string_free(tip);
    OK(ic_repo_delete_branch(repo, "dev", &E));
    FAILS(IC_ERR_BRANCH_NOT_FOUND, ic_repo_lookup_branch(repo, "dev", &tip, &E));

    /* Serialize a session with changes and restore it. */
    {
        OK(ic_repo_writable_session(repo, "main", &s, &E));
        uint32_t c[2] = {1, 2};
        OK(ic_session_set_chunk(s, "/temp", c, 2, v2, 64, &E));
        uint8_t *bytes = NULL;
        size_t n = 0;
        OK(ic_session_to_bytes(s, &bytes, &n, &E));
        CHECK(n > 0);
        ic_session restored = 0;
        OK(ic_repo_session_from_bytes(repo, bytes, n, &restored, &E));
        {
            /* Restored into another repository, whose storage lacks its
             * chunks, it cannot commit. */
            ic_storage other_st = 0;
            ic_repo other = 0;
            ic_session stray = 0;
            OK(ic_storage_new_memory("another repository", &other_st, &E));
            OK(ic_repo_create(other_st, NULL, &other, &E));
            OK(ic_repo_session_from_bytes(other, bytes, n, &stray, &E));
            FAILS(IC_ERR_INVALID_SESSION_BYTES, ic_session_commit(stray, "elsewhere", NULL, NULL, &E));
            OK(ic_session_free(stray));
            OK(ic_repo_free(other));
            OK(ic_storage_free(other_st));
        }
        ic_buffer_free(bytes);
        OK(ic_session_free(s));
        int32_t has = 0;
        OK(ic_session_has_changes(restored, &has, &E));
        CHECK(has == 1);
        uint8_t junk[5] = {1, 2, 3, 4, 5};
        FAILS(IC_ERR_INVALID_SESSION_BYTES, ic_repo_session_from_bytes(repo, junk, sizeof junk, &s, &E));
        OK(ic_session_commit(restored, "restored", NULL, NULL, &E));
        OK(ic_session_free(restored));
    }

    /* Fork, write in the forks, merge, commit. */
    {
        OK(ic_repo_writable_session(repo, "main", &s, &E));
        ic_session forks[2];
        OK(ic_session_fork(s, &forks[0], &E));
        OK(ic_session_fork(s, &forks[1], &E));
        OK(ic_session_is_fork(forks[0], &fork, &E));
        CHECK(fork == 1);
        uint32_t a[2] = {0, 2}, b[2] = {1, 0};
        OK(ic_session_set_chunk(forks[0], "/temp", a, 2, small, sizeof small, &E));
        OK(ic_session_set_chunk(forks[1], "/temp", b, 2, v2, 64, &E));
        FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_commit(forks[0], "fork", NULL, NULL, &E));
        OK(ic_session_merge(s, forks, 2, &E));
        OK(ic_session_commit(s, "merged", NULL, NULL, &E));
        expect_chunk(s, 0, 2, small, sizeof small);
        expect_chunk(s, 1, 0, v2, 64);
        OK(ic_session_free(forks[0]));
        OK(ic_session_free(forks[1]));
        OK(ic_session_free(s));
    }

    /* Discard. */
    OK(ic_repo_writable_session(repo, "main", &s, &E));
    OK(ic_session_delete_array(s, "/temp", &E));
    OK(ic_session_has_changes(s, &changes, &E));
    CHECK(changes == 1);
    OK(ic_session_discard_changes(s, &E));
    OK(ic_session_has_changes(s, &changes, &E));
    CHECK(changes == 0);
    OK(ic_session_free(s));

    /* Reopen through a new storage handle; the repository outlives its
     * storage handle, the session its repository handle. */
    OK(ic_storage_free(st));
    OK(ic_repo_free(repo));
    OK(ic_storage_new_local(path, &st, &E));
    OK(ic_repo_open(st, &repo, &E));
    OK(ic_storage_free(st));
    ic_version v = at_branch("main");
    OK(ic_repo_readonly_session(repo, &v, &s, &E));
    OK(ic_repo_free(repo));
    expect_chunk(s, 0, 0, v2, 64);
    expect_chunk(s, 1, 2, v2, 64);
    OK(ic_session_free(s));

    /* Virtual chunks: a file:// container read directly, and an s3://
     * container served by a storage registered for it. */
    {
        virtual_repo vr;
        virtual_repo_open(&vr, dir, "virtual", 77);
        const uint8_t *bytes = vr.bytes;
        FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_set_virtual_chunk_storage(vr.repo, "s3://other/", vr.files, &E));
        OK(ic_repo_writable_session(vr.repo, "main", &s, &E));
        ic_test_add_array(s, "/v", 4, 4, 2, 2);
        uint32_t c0[2] = {0, 0}, c1[2] = {0, 1}, c2[2] = {1, 0};
        OK(ic_session_set_virtual_ref(s, "/v", c0, 2, vr.loc, 10, 20, 0, &E));
        OK(ic_session_set_virtual_ref(s, "/v", c1, 2, "s3://bucket/data.bin", 0, 5, 0, &E));
        FAILS(IC_ERR_VIRTUAL_CHUNK, ic_session_set_virtual_ref(s, "/v", c2, 2, "https://elsewhere/x", 0, 5, 0, &E));
        OK(ic_session_commit(s, "virtual", NULL, NULL, &E));
        uint8_t buf[32];
        size_t len = 0;
        int32_t found = 0;
        OK(ic_session_get_chunk_into(s, "/v", c0, 2, NULL, buf, sizeof buf, &len, &found, &E));
        CHECK(found == 1 && len == 20 && memcmp(buf, bytes + 10, 20) == 0);
        OK(ic_store_get_into(s, "v/c/0/1", NULL, buf, sizeof buf, &len, &found, &E));
        CHECK(found == 1 && len == 5 && memcmp(buf, bytes, 5) == 0);
        OK(ic_session_free(s));
        virtual_repo_close(&vr);
    }

    garbage_collection(dir);
    expire_history(dir);
    repack_chunks(dir);
    anonymous_snapshot(dir);
    manifest_splitting(dir);
    open_with_config(dir);
    virtual_refs(dir);

    /* open_or_create on an empty in-memory storage creates. */
    OK(ic_storage_new_memory(NULL, &st, &E));
    OK(ic_repo_open_or_create(st, NULL, &repo, &E));
    ic_repo again = 0;
    OK(ic_repo_open_or_create(st, NULL, &again, &E));
    OK(ic_repo_free(again));
    OK(ic_repo_config_set(repo, "{\"inline_chunk_threshold\": 100}", &E));
    OK(ic_repo_open(st, &again, &E));
    OK(ic_repo_config_get(again, &cfg, &E));
    CONTAINS(cfg, "\"inline_chunk_threshold\":100");
    ic_string_free(cfg);
    /* A configuration used by one handle is not stored. */
    OK(ic_repo_use_config(again, "{\"inline_chunk_threshold\": 7}", &E));
    OK(ic_repo_config_get(again, &cfg, &E));
    CONTAINS(cfg, "\"inline_chunk_threshold\":7");
    ic_string_free(cfg);
    OK(ic_repo_config_get(repo, &cfg, &E));
    CONTAINS(cfg, "\"inline_chunk_threshold\":100");
    ic_string_free(cfg);
    {
        ic_repo third = 0;
        OK(ic_repo_open(st, &third, &E));
        OK(ic_repo_config_get(third, &cfg, &E));
        CONTAINS(cfg, "\"inline_chunk_threshold\":100");
        ic_string_free(cfg);
        OK(ic_repo_free(third));
    }
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_config_set(again, "{\"inline_chunk_thresold\": 1}", &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_config_set(again, "{\"manifest_block_chunks\": 0}", &E));
    /* A container's store description is kept, and must fit its prefix. */
    OK(ic_repo_config_set(again,
                          "{\"virtual_chunk_containers\": [{\"name\": \"b\", \"url_prefix\": \"s3://b/d/\", "
                          "\"store\": {\"kind\": \"s3\", \"endpoint_url\": \"http://127.0.0.1:9000\", \"allow_http\": true}}]}",
                          &E));
    OK(ic_repo_free(again));
    OK(ic_repo_open(st, &again, &E));
    OK(ic_repo_config_get(again, &cfg, &E));
    CONTAINS(cfg, "\"store\":{\"kind\":\"s3\",\"endpoint_url\":\"http://127.0.0.1:9000\",\"allow_http\":true}");
    ic_string_free(cfg);
    FAILS(IC_ERR_INVALID_ARGUMENT,
          ic_repo_config_set(again,
                             "{\"virtual_chunk_containers\": [{\"name\": \"b\", \"url_prefix\": \"file:///d/\", "
                             "\"store\": {\"kind\": \"s3\"}}]}",
                             &E));
    OK(ic_repo_free(again));
    OK(ic_repo_free(repo));
    OK(ic_storage_free(st));

    ic_string_free(initial);
    ic_string_free(first);
    ic_string_free(second);
    ic_test_rmdir(dir);
    ic_test_no_leaks();
    printf("roundtrip: ok\n");
    return 0;
}
