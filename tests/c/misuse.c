/*
 * misuse.c - every way of misusing the interface gives an error code and
 * an error object, never a crash: freed, stale, forged and wrong-type
 * handles; double frees of handles, buffers and strings; NULL pointers;
 * bad UTF-8; bad JSON; negative sizes; bad enum values and ids; a handle
 * freed while other threads use it; a panic inside the library.
 */
#include "common.h"

#include <pthread.h>

#define NEG ((size_t)-1) /* a negative size, as a binding might pass it */

static ic_repo repo;
static ic_session sess;

static const char *BAD_UTF8 = "a\xff\xfe";

static void handles(void) {
    ic_storage st = 0;
    OK(ic_storage_new_memory(NULL, &st, &E));
    ic_session s = 0;
    OK(ic_repo_writable_session(repo, "main", &s, &E));
    int32_t flag = 0;

    /* Freed, then stale after its slot was reused many times. */
    OK(ic_session_free(s));
    FAILS_SAYING(IC_ERR_INVALID_HANDLE, "freed", ic_session_read_only(s, &flag, &E));
    for (int i = 0; i < 3000; i++) {
        ic_session t = 0;
        OK(ic_repo_writable_session(repo, "main", &t, &E));
        OK(ic_session_free(t));
    }
    FAILS(IC_ERR_INVALID_HANDLE, ic_session_read_only(s, &flag, &E));
    FAILS(IC_ERR_INVALID_HANDLE, ic_session_commit(s, "x", NULL, NULL, &E));
    FAILS(IC_ERR_INVALID_HANDLE, ic_session_flush_snapshot(s, "x", NULL, NULL, &E));
    uint32_t c[2] = {0, 0};
    int32_t kind = 99;
    FAILS(IC_ERR_INVALID_HANDLE, ic_session_chunk_type(s, "/arr", c, 2, &kind, &E));
    CHECK(kind == 99);
    char *failed = NULL;
    FAILS(IC_ERR_INVALID_HANDLE, ic_session_set_virtual_refs(s, "/arr", "[]", 1, &failed, &E));
    CHECK(failed == NULL);
    ic_iter locs = 0;
    FAILS(IC_ERR_INVALID_HANDLE, ic_session_virtual_chunk_locations(s, &locs, &E));
    CHECK(locs == 0);

    /* Double frees of every handle type. */
    FAILS_QUIET(IC_ERR_INVALID_HANDLE, ic_session_free(s));
    ic_repo r2 = 0;
    ic_storage st2 = 0;
    OK(ic_storage_new_memory(NULL, &st2, &E));
    OK(ic_repo_create(st2, NULL, &r2, &E));
    OK(ic_repo_free(r2));
    FAILS_QUIET(IC_ERR_INVALID_HANDLE, ic_repo_free(r2));
    char *gc = NULL;
    FAILS(IC_ERR_INVALID_HANDLE, ic_repo_garbage_collect(r2, 1, 1, &gc, &E)); /* freed */
    CHECK(gc == NULL);
    FAILS(IC_ERR_INVALID_HANDLE, ic_repo_expire_snapshots(r2, 1, 1, 1, &gc, &E)); /* freed */
    CHECK(gc == NULL);
    FAILS(IC_ERR_INVALID_HANDLE, ic_repo_chunk_storage_stats(r2, &gc, &E)); /* freed */
    CHECK(gc == NULL);
    FAILS(IC_ERR_INVALID_HANDLE, ic_repo_inspect_snapshot(r2, "AAAAAAAAAAAAAAAAAAA0", &gc, &E)); /* freed */
    CHECK(gc == NULL);
    OK(ic_storage_free(st2));
    FAILS_QUIET(IC_ERR_INVALID_HANDLE, ic_storage_free(st2));
    ic_iter it = 0;
    OK(ic_store_list(sess, &it, &E));
    OK(ic_iter_free(it));
    FAILS_QUIET(IC_ERR_INVALID_HANDLE, ic_iter_free(it));
    char *page = NULL;
    FAILS(IC_ERR_INVALID_HANDLE, ic_iter_next_page(it, 0, &page, NULL, &E));
    ic_error e = 0;
    CHECK(ic_session_read_only(s, &flag, &e) == IC_ERR_INVALID_HANDLE);
    CHECK(ic_error_free(e) == IC_OK);
    FAILS_QUIET(IC_ERR_INVALID_HANDLE, ic_error_free(e));

    /* Freeing 0 is a no-op. */
    OK(ic_session_free(IC_NULL_HANDLE));
    OK(ic_repo_free(IC_NULL_HANDLE));
    OK(ic_storage_free(IC_NULL_HANDLE));
    OK(ic_iter_free(IC_NULL_HANDLE));
    OK(ic_error_free(IC_NULL_HANDLE));

    /* Forged handles. */
    uint64_t forged[] = {0, 1, 42, 0xFFFFFFFFFFFFFFFFull, 0x0300000100000001ull, 0x03FFFFFF00000001ull,
                         0x0300000100FFFFFFull, 0x7F00000100000001ull, sess ^ 0x0000000100000000ull};
    for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++) {
        FAILS(IC_ERR_INVALID_HANDLE, ic_session_read_only(forged[i], &flag, &E));
        FAILS(IC_ERR_INVALID_HANDLE, ic_repo_list_branches(forged[i], &page, &E));
        FAILS(IC_ERR_INVALID_HANDLE, ic_repo_garbage_collect(forged[i], 1, 1, &page, &E));
        FAILS(IC_ERR_INVALID_HANDLE, ic_repo_expire_snapshots(forged[i], 1, 0, 0, &page, &E));
        FAILS(IC_ERR_INVALID_HANDLE, ic_repo_chunk_storage_stats(forged[i], &page, &E));
        FAILS(IC_ERR_INVALID_HANDLE, ic_repo_inspect_snapshot(forged[i], "AAAAAAAAAAAAAAAAAAA0", &page, &E));
        FAILS(IC_ERR_INVALID_HANDLE, ic_session_flush_snapshot(forged[i], "x", NULL, NULL, &E));
        FAILS(IC_ERR_INVALID_HANDLE, ic_session_chunk_type(forged[i], "/arr", c, 2, &kind, &E));
        FAILS(IC_ERR_INVALID_HANDLE, ic_session_set_virtual_refs(forged[i], "/arr", "[]", 0, NULL, &E));
        FAILS(IC_ERR_INVALID_HANDLE, ic_session_virtual_chunk_locations(forged[i], &locs, &E));
        FAILS_QUIET(IC_ERR_INVALID_HANDLE, ic_session_free(forged[i] == 0 ? 1 : forged[i]));
        CHECK(ic_error_code(forged[i]) == IC_ERR_INVALID_HANDLE);
        CHECK(ic_error_conflict_count(forged[i]) == 0);
        CHECK(ic_error_message(forged[i])[0] != 0);
    }
    FAILS_SAYING(IC_ERR_INVALID_HANDLE, "IC_NULL_HANDLE", ic_session_read_only(0, &flag, &E));

    /* Wrong types: the handle is live but of another kind. */
    FAILS_SAYING(IC_ERR_INVALID_HANDLE, "not a session", ic_session_read_only(repo, &flag, &E));
    FAILS_SAYING(IC_ERR_INVALID_HANDLE, "not a repository", ic_repo_list_branches(sess, &page, &E));
    FAILS_SAYING(IC_ERR_INVALID_HANDLE, "not a repository", ic_repo_garbage_collect(sess, 1, 1, &page, &E));
    FAILS_SAYING(IC_ERR_INVALID_HANDLE, "not a repository", ic_repo_expire_snapshots(sess, 1, 1, 1, &page, &E));
    FAILS(IC_ERR_INVALID_HANDLE, ic_repo_expire_snapshots(st, 1, 0, 0, &page, &E)); /* a storage */
    FAILS_SAYING(IC_ERR_INVALID_HANDLE, "not a repository", ic_repo_chunk_storage_stats(sess, &page, &E));
    FAILS_SAYING(IC_ERR_INVALID_HANDLE, "not a repository", ic_repo_inspect_snapshot(sess, "AAAAAAAAAAAAAAAAAAA0", &page, &E));
    FAILS_SAYING(IC_ERR_INVALID_HANDLE, "not a session", ic_session_flush_snapshot(repo, "x", NULL, NULL, &E));
    FAILS_SAYING(IC_ERR_INVALID_HANDLE, "not a session", ic_session_chunk_type(repo, "/arr", c, 2, &kind, &E));
    FAILS_SAYING(IC_ERR_INVALID_HANDLE, "not a session", ic_session_set_virtual_refs(repo, "/arr", "[]", 1, NULL, &E));
    FAILS_SAYING(IC_ERR_INVALID_HANDLE, "not a session", ic_session_virtual_chunk_locations(st, &locs, &E));
    CHECK(kind == 99 && locs == 0);
    FAILS_SAYING(IC_ERR_INVALID_HANDLE, "not a storage", ic_repo_open(repo, &r2, &E));
    FAILS_SAYING(IC_ERR_INVALID_HANDLE, "not a storage", ic_repo_open_config(repo, NULL, &r2, &E));
    FAILS_QUIET(IC_ERR_INVALID_HANDLE, ic_repo_free(sess));
    FAILS_QUIET(IC_ERR_INVALID_HANDLE, ic_session_free(repo));
    FAILS_QUIET(IC_ERR_INVALID_HANDLE, ic_error_free(sess));
    CHECK(ic_error_code(sess) == IC_ERR_INVALID_HANDLE);
    OK(ic_session_read_only(sess, &flag, &E)); /* still alive after all that */

    OK(ic_storage_free(st));
}

static void buffers(void) {
    uint8_t *data = NULL;
    size_t len = 0;
    int32_t found = 0;
    OK(ic_store_get(sess, "zarr.json", NULL, &data, &len, &found, &E));
    CHECK(found == 1);
    OK(ic_buffer_free(data));
    FAILS_QUIET(IC_ERR_INVALID_ARGUMENT, ic_buffer_free(data));
    char *str = NULL;
    OK(ic_repo_list_branches(repo, &str, &E));
    OK(ic_string_free(str));
    FAILS_QUIET(IC_ERR_INVALID_ARGUMENT, ic_string_free(str));
    char stack[16] = "not ours";
    FAILS_QUIET(IC_ERR_INVALID_ARGUMENT, ic_buffer_free(stack));
    FAILS_QUIET(IC_ERR_INVALID_ARGUMENT, ic_string_free(stack));
    FAILS_QUIET(IC_ERR_INVALID_ARGUMENT, ic_string_free((char *)"a literal"));
    void *heap = malloc(10);
    FAILS_QUIET(IC_ERR_INVALID_ARGUMENT, ic_buffer_free(heap)); /* not the library's: not freed */
    free(heap);
    OK(ic_buffer_free(NULL));
    OK(ic_string_free(NULL));
}

static void nulls(void) {
    ic_storage st = 0;
    ic_repo r = 0;
    ic_session s = 0;
    ic_iter it = 0;
    char *str = NULL;
    uint8_t *data = NULL;
    size_t len = 0;
    int32_t flag = 0;
    uint32_t c[2] = {0, 0};
    ic_version v = {IC_AT_BRANCH, "main", 0};

    FAILS(IC_ERR_INVALID_ARGUMENT, ic_storage_new_memory(NULL, NULL, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_storage_new_local(NULL, &st, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_storage_new_local("", &st, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_storage_new_s3(NULL, &st, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_storage_new_s3_json(NULL, &st, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_storage_new_s3_refreshable(NULL, NULL, NULL, &st, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_storage_new_s3_refreshable("{\"bucket\": \"b\"}", NULL, NULL, &st, &E));
    /* Credentials set by the caller: NULLs, wrong kinds of handle, twice freed. */
    ic_credentials held = 0;
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_credentials_new(NULL, &E));
    OK(ic_credentials_new(&held, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_credentials_set(held, NULL, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_credentials_set(held, "not json", &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_storage_new_s3_credentials(NULL, held, &st, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_storage_new_s3_credentials("{\"bucket\": \"b\"}", held, NULL, &E));
    FAILS(IC_ERR_INVALID_HANDLE, ic_storage_new_s3_credentials("{\"bucket\": \"b\"}", repo, &st, &E));
    FAILS(IC_ERR_INVALID_HANDLE, ic_credentials_set(repo, "{}", &E));
    int32_t held_exists = 0;
    FAILS(IC_ERR_INVALID_HANDLE, ic_repo_exists(held, &held_exists, &E));
    OK(ic_credentials_free(held));
    CHECK(ic_credentials_free(held) == IC_ERR_INVALID_HANDLE);
    CHECK(ic_credentials_free(0) == IC_OK);
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_rewrite_manifests(repo, NULL, "m", NULL, NULL, &E));
    OK(ic_storage_new_memory(NULL, &st, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_open(st, NULL, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_open_config(st, "{}", NULL, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_open_config(st, "{\"no_such_setting\": 1}", &r, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_exists(st, NULL, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_storage_describe(st, NULL, &E));
    OK(ic_storage_free(st));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_writable_session(repo, NULL, &s, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_writable_session(repo, "main", NULL, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_readonly_session(repo, NULL, &s, &E));
    ic_version noname = {IC_AT_TAG, NULL, 0};
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_readonly_session(repo, &noname, &s, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_list_branches(repo, NULL, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_lookup_branch(repo, NULL, &str, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_create_tag(repo, "t", NULL, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_diff(repo, &v, NULL, &str, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_ancestry(repo, &v, NULL, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_session_from_bytes(repo, NULL, 10, &s, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_config_set(repo, NULL, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_use_config(repo, NULL, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_garbage_collect(repo, 1, 1, NULL, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_garbage_collect(repo, 1, 0, NULL, &E));
    for (int32_t flags = 0; flags < 4; flags++)
        FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_expire_snapshots(repo, 1, flags & 1, flags >> 1, NULL, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_set_chunk(sess, NULL, c, 2, (const uint8_t *)"x", 1, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_set_chunk(sess, "/arr", NULL, 2, (const uint8_t *)"x", 1, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_set_chunk(sess, "/arr", c, 2, NULL, 1, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_get_chunk(sess, "/arr", c, 2, NULL, NULL, &len, &flag, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_get_chunk(sess, "/arr", c, 2, NULL, &data, NULL, &flag, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_get_chunk(sess, "/arr", c, 2, NULL, &data, &len, NULL, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_get_chunk_into(sess, "/arr", c, 2, NULL, NULL, 10, &len, &flag, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_add_array(sess, "/x", NULL, NULL, 2, NULL, NULL, 0, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_add_group(sess, "/x", NULL, 5, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_commit(sess, NULL, NULL, NULL, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_flush_snapshot(sess, NULL, NULL, NULL, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_chunk_type(sess, NULL, c, 2, &flag, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_chunk_type(sess, "/arr", NULL, 2, &flag, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_chunk_type(sess, "/arr", c, 2, NULL, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_set_virtual_refs(sess, NULL, "[]", 1, &str, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_set_virtual_refs(sess, "/arr", NULL, 1, &str, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_virtual_chunk_locations(sess, NULL, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_chunk_storage_stats(repo, NULL, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_inspect_snapshot(repo, NULL, &str, &E));
    {
        char *tip = NULL;
        OK(ic_repo_lookup_branch(repo, "main", &tip, &E));
        FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_inspect_snapshot(repo, tip, NULL, &E));
        OK(ic_string_free(tip));
    }
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_rebase(sess, NULL, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_read_only(sess, NULL, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_merge(sess, NULL, 2, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_to_bytes(sess, NULL, &len, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_store_get(sess, NULL, NULL, &data, &len, &flag, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_store_set(sess, "zarr.json", NULL, 3, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_store_exists(sess, "zarr.json", NULL, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_store_list(sess, NULL, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_store_list_dir(sess, NULL, &it, &E));
    const char *keys[2] = {"zarr.json", NULL};
    ic_get_result res[2];
    size_t total = 0;
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_store_get_many(sess, keys, NULL, 2, res, &data, &total, NULL, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_store_get_many(sess, NULL, NULL, 2, res, &data, &total, NULL, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_store_get_many(sess, keys, NULL, 1, NULL, &data, &total, NULL, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_store_get_many(sess, keys, NULL, 1, res, NULL, &total, NULL, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_store_set_many(sess, keys, NULL, NULL, 1, &E));
    const uint8_t *vals[1] = {NULL};
    size_t lens[1] = {4};
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_store_set_many(sess, keys, vals, lens, 1, &E));
    FAILS(IC_ERR_INVALID_HANDLE, ic_iter_next(0, &str, &flag, &E));
    OK(ic_store_list(sess, &it, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_iter_next(it, NULL, &flag, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_iter_next(it, &str, NULL, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_iter_next_page(it, 1, NULL, NULL, &E));
    OK(ic_iter_free(it));
    FAILS_QUIET(IC_ERR_INVALID_HANDLE, ic_error_json(0, &str));
    ic_error e = 0;
    CHECK(ic_session_read_only(sess, NULL, &e) == IC_ERR_INVALID_ARGUMENT);
    CHECK(ic_error_conflict(e, 0, NULL) == IC_ERR_INVALID_ARGUMENT);
    CHECK(ic_error_json(e, NULL) == IC_ERR_INVALID_ARGUMENT);
    CHECK(ic_error_free(e) == IC_OK);

    /* err == NULL: the code alone. */
    CHECK(ic_session_read_only(sess, NULL, NULL) == IC_ERR_INVALID_ARGUMENT);
    CHECK(ic_session_read_only(12345, &flag, NULL) == IC_ERR_INVALID_HANDLE);
    (void)r;
}

static void utf8_and_json(void) {
    ic_storage st = 0;
    ic_repo r = 0;
    ic_session s = 0;
    char *str = NULL;
    uint8_t *data = NULL;
    size_t len = 0;
    int32_t flag = 0;
    uint32_t c[2] = {0, 0};

    FAILS_SAYING(IC_ERR_INVALID_ARGUMENT, "UTF-8", ic_store_get(sess, BAD_UTF8, NULL, &data, &len, &flag, &E));
    FAILS_SAYING(IC_ERR_INVALID_ARGUMENT, "UTF-8", ic_store_set(sess, BAD_UTF8, (const uint8_t *)"x", 1, &E));
    FAILS_SAYING(IC_ERR_INVALID_ARGUMENT, "UTF-8", ic_session_set_chunk(sess, BAD_UTF8, c, 2, (const uint8_t *)"x", 1, &E));
    FAILS_SAYING(IC_ERR_INVALID_ARGUMENT, "UTF-8", ic_repo_writable_session(repo, BAD_UTF8, &s, &E));
    FAILS_SAYING(IC_ERR_INVALID_ARGUMENT, "UTF-8", ic_session_commit(sess, BAD_UTF8, NULL, NULL, &E));
    FAILS_SAYING(IC_ERR_INVALID_ARGUMENT, "UTF-8", ic_session_flush_snapshot(sess, BAD_UTF8, NULL, NULL, &E));
    FAILS_SAYING(IC_ERR_INVALID_ARGUMENT, "UTF-8", ic_session_flush_snapshot(sess, "m", "{\"a\":\"\xff\"}", NULL, &E));
    FAILS_SAYING(IC_ERR_INVALID_ARGUMENT, "UTF-8", ic_session_chunk_type(sess, BAD_UTF8, c, 2, &flag, &E));
    FAILS_SAYING(IC_ERR_INVALID_ARGUMENT, "UTF-8", ic_session_set_virtual_refs(sess, BAD_UTF8, "[]", 1, &str, &E));
    FAILS_SAYING(IC_ERR_INVALID_ARGUMENT, "UTF-8", ic_session_set_virtual_refs(sess, "/arr",
        "[{\"coords\": [0, 0], \"location\": \"s3://b/\xff\", \"offset\": 0, \"length\": 1}]", 0, &str, &E));
    FAILS_SAYING(IC_ERR_INVALID_ARGUMENT, "UTF-8", ic_repo_inspect_snapshot(repo, BAD_UTF8, &str, &E));
    FAILS_SAYING(IC_ERR_INVALID_ARGUMENT, "UTF-8", ic_storage_new_local(BAD_UTF8, &st, &E));
    FAILS_SAYING(IC_ERR_INVALID_ARGUMENT, "UTF-8", ic_repo_config_set(repo, "{\"x\":\"\xff\"}", &E));

    /* Bad JSON everywhere JSON is taken. */
    OK(ic_storage_new_memory(NULL, &st, &E));
    const char *bad_config[] = {"{", "[]", "{\"inline_chunk_threshold\": -1}", "{\"unknown\": 1}", "{} {}", "", "nul",
                                "{\"virtual_chunk_containers\": [{\"name\": \"\", \"url_prefix\": \"x\"}]}"};
    for (size_t i = 0; i < sizeof bad_config / sizeof bad_config[0]; i++) {
        FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_create(st, bad_config[i], &r, &E));
        FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_config_set(repo, bad_config[i], &E));
        FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_use_config(repo, bad_config[i], &E));
    }
    const char *bad_meta[] = {"not json", "null", "[1,2]", "\"s\"", "{\"a\":1", "{\"a\":1}x"};
    for (size_t i = 0; i < sizeof bad_meta / sizeof bad_meta[0]; i++) {
        FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_commit(sess, "m", bad_meta[i], NULL, &E));
        FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_flush_snapshot(sess, "m", bad_meta[i], NULL, &E));
        FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_set_default_commit_metadata(repo, bad_meta[i], &E));
    }
    /* Virtual refs: the message names what is wrong, and nothing is set. */
    struct {
        const char *json, *says;
    } bad_refs[] = {
        {"", "refs_json"},
        {"{}", "refs_json"},
        {"null", "not null"},
        {"[null]", "refs_json[0] is null"},
        {"[{\"location\": \"s3://b/k\", \"offset\": 0, \"length\": 1}]", "refs_json[0] has no \"coords\""},
        {"[{\"coords\": [0, 0], \"offset\": 0, \"length\": 1}]", "refs_json[0] has no \"location\""},
        {"[{\"coords\": [0, 0], \"location\": \"s3://b/k\", \"length\": 1}]", "refs_json[0] has no \"offset\""},
        {"[{\"coords\": [0, 0], \"location\": \"s3://b/k\", \"offset\": 1}]", "refs_json[0] has no \"length\""},
        {"[{\"coords\": [0, 0], \"location\": \"s3://b/k\", \"offset\": 0, \"length\": 1, \"etag\": 5}]", "refs_json"},
        {"[{\"coords\": [0, 0], \"location\": \"s3://b/k\", \"offset\": 0, \"length\": 1, \"extra\": 5}]", "extra"},
        {"[{\"coords\": [0, 0], \"location\": \"s3://b/k\", \"offset\": 0, \"length\": 1}] x", "trailing"},
        {"[{\"coords\": [0, 0], \"location\": \"\", \"offset\": 0, \"length\": 1}]", "no location"},
    };
    for (size_t i = 0; i < sizeof bad_refs / sizeof bad_refs[0]; i++) {
        str = NULL;
        FAILS_SAYING(IC_ERR_INVALID_ARGUMENT, bad_refs[i].says, ic_session_set_virtual_refs(sess, "/arr", bad_refs[i].json, 0, &str, &E));
        CHECK(str == NULL);
    }
    FAILS_SAYING(IC_ERR_INVALID_INDEX, "[0 9]",
                 ic_session_set_virtual_refs(sess, "/arr", "[{\"coords\": [0, 9], \"location\": \"s3://b/k\", \"offset\": 0, \"length\": 1}]", 0, &str, &E));
    int32_t kind = 99;
    OK(ic_session_chunk_type(sess, "/arr", c, 2, &kind, &E));
    CHECK(kind == IC_CHUNK_UNINITIALIZED);
    FAILS_SAYING(IC_ERR_INVALID_ARGUMENT, "[0 9]", ic_session_chunk_type(sess, "/arr", (uint32_t[]){0, 9}, 2, &kind, &E));
    CHECK(kind == IC_CHUNK_UNINITIALIZED);

    const char *bad_s3[] = {"{", "{\"bucket\": \"b\"}", "{\"bucket\": \"b\", \"anonymous\": true, \"nope\": 1}",
                            "{\"bucket\": \"b\", \"anonymous\": true, \"endpoint\": \"http://x\"}"};
    for (size_t i = 0; i < sizeof bad_s3 / sizeof bad_s3[0]; i++)
        FAILS(IC_ERR_INVALID_ARGUMENT, ic_storage_new_s3_json(bad_s3[i], &st, &E));
    ic_s3_options o = {0};
    o.bucket = "b";
    o.credentials = 99;
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_storage_new_s3(&o, &st, &E));
    o.credentials = IC_S3_CREDENTIALS_ANONYMOUS;
    o.access_key_id = "k";
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_storage_new_s3(&o, &st, &E));
    o.bucket = NULL;
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_storage_new_s3(&o, &st, &E));
    o.bucket = "b";
    /* A good S3 config builds a storage without contacting anything. */
    ic_storage s3 = 0;
    OK(ic_storage_new_s3_json("{\"bucket\": \"b\", \"prefix\": \"p\", \"anonymous\": true, \"endpoint\": \"http://127.0.0.1:1\", \"allow_http\": true}", &s3, &E));
    OK(ic_storage_describe(s3, &str, &E));
    CONTAINS(str, "s3://b/p");
    OK(ic_string_free(str));
    OK(ic_storage_free(s3));
    o.access_key_id = "AKIA";
    o.secret_access_key = "secret-should-not-leak";
    o.credentials = IC_S3_CREDENTIALS_STATIC;
    o.endpoint = "ftp://x";
    ic_error e = 0;
    CHECK(ic_storage_new_s3(&o, &s3, &e) == IC_ERR_INVALID_ARGUMENT);
    CHECK(strstr(ic_error_message(e), "secret-should-not-leak") == NULL);
    CHECK(ic_error_free(e) == IC_OK);
    OK(ic_storage_free(st));
}

static void sizes_enums_ids(void) {
    uint8_t *data = NULL;
    uint8_t buf[8];
    size_t len = 0;
    int32_t flag = 0;
    uint32_t c[2] = {0, 0};
    char *str = NULL;
    ic_session s = 0;
    ic_iter it = 0;

    /* Negative sizes. */
    FAILS_SAYING(IC_ERR_INVALID_ARGUMENT, "negative", ic_store_set(sess, "arr/c/0/0", (const uint8_t *)"x", NEG, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_set_chunk(sess, "/arr", c, NEG, (const uint8_t *)"x", 1, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_chunk_type(sess, "/arr", c, NEG, &flag, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_set_chunk(sess, "/arr", c, 2, (const uint8_t *)"x", NEG, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_get_chunk_into(sess, "/arr", c, 2, NULL, buf, NEG, &len, &flag, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_store_get_into(sess, "zarr.json", NULL, buf, NEG, &len, &flag, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_delete_chunks(sess, "/arr", c, NEG, 2, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_delete_chunks(sess, "/arr", c, 1 << 30, 1 << 30, &E));
    /* Counts whose product wraps, or that no buffer could hold, are refused
     * before anything is allocated; empty tuples name no memory. */
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_delete_chunks(sess, "/arr", c, (size_t)1 << 32, (size_t)1 << 32, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_delete_chunks(sess, "/arr", c, (size_t)1 << 47, 1, &E));
    FAILS(IC_ERR_INVALID_INDEX, ic_session_delete_chunks(sess, "/arr", c, (size_t)1 << 40, 0, &E));
    uint64_t shape[2] = {4, 4};
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_add_array(sess, "/y", shape, shape, NEG, NULL, (const uint8_t *)"{}", 2, &E));
    const char *keys[1] = {"zarr.json"};
    ic_get_result res[1];
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_store_get_many(sess, keys, NULL, NEG, res, &data, &len, NULL, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_merge(sess, &s, NEG, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_session_from_bytes(repo, buf, NEG, &s, &E));
    ic_version v = {IC_AT_BRANCH, "main", 0};
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_ancestry_json(repo, &v, NEG, &str, &E));
    OK(ic_store_list(sess, &it, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_iter_next_page(it, NEG, &str, NULL, &E));
    OK(ic_iter_free(it));
    ic_byte_range neg = {IC_RANGE_FROM, -5, 0};
    FAILS(IC_ERR_INVALID_RANGE, ic_store_get(sess, "zarr.json", &neg, &data, &len, &flag, &E));
    ic_byte_range backwards = {IC_RANGE_BOUNDED, 5, 2};
    FAILS(IC_ERR_INVALID_RANGE, ic_store_get(sess, "zarr.json", &backwards, &data, &len, &flag, &E));
    /* A garbage collection's or expiration's cutoff must be after 1970;
     * nothing is written to *json when it is not. */
    const int64_t bad_cutoffs[] = {0, -1, -1000000000, INT64_MIN};
    for (size_t i = 0; i < sizeof bad_cutoffs / sizeof bad_cutoffs[0]; i++)
        for (int32_t dry = 0; dry < 2; dry++) {
            str = NULL;
            FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_garbage_collect(repo, bad_cutoffs[i], dry, &str, &E));
            CHECK(str == NULL);
        }
    /* The same for an expiration, whatever the flags: *json is untouched. */
    char untouched[] = "untouched";
    for (size_t i = 0; i < sizeof bad_cutoffs / sizeof bad_cutoffs[0]; i++)
        for (int32_t flags = 0; flags < 4; flags++) {
            str = untouched;
            FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_expire_snapshots(repo, bad_cutoffs[i], flags & 1, flags >> 1, &str, &E));
            CHECK(str == untouched);
        }
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_commit_rebasing(sess, &(ic_solver){IC_SOLVER_BASIC, 0, 0, 0}, "m", NULL, 1, (uint64_t)-1, 0, NULL, &E));

    /* Bad enum values. */
    ic_byte_range badkind = {42, 0, 0};
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_store_get(sess, "zarr.json", &badkind, &data, &len, &flag, &E));
    ic_version badv = {0, "main", 0};
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_readonly_session(repo, &badv, &s, &E));
    ic_version asof_tag = {IC_AT_TAG, "t", 5};
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_readonly_session(repo, &asof_tag, &s, &E));

    /* Bad ids, names and paths. */
    const char *bad_ids[] = {"", "short", "aaaaaaaaaaaaaaaaaaaa", "AAAAAAAAAAAAAAAAAAAI", "AAAAAAAAAAAAAAAAAAA1", "00000000000000000000"};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        ic_version sv = {IC_AT_SNAPSHOT, bad_ids[i], 0};
        FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_readonly_session(repo, &sv, &s, &E));
        FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_snapshot_info(repo, bad_ids[i], &str, &E));
        FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_inspect_snapshot(repo, bad_ids[i], &str, &E));
        FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_create_branch(repo, "b", bad_ids[i], &E));
    }
    char *tip = NULL;
    OK(ic_repo_lookup_branch(repo, "main", &tip, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_create_tag(repo, "", tip, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_create_tag(repo, "a/b", tip, &E));
    OK(ic_string_free(tip));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_repo_writable_session(repo, ".hidden", &s, &E));
    FAILS(IC_ERR_INVALID_PATH, ic_session_add_group(sess, "a//b", (const uint8_t *)"{}", 2, &E));
    FAILS(IC_ERR_INVALID_PATH, ic_session_add_group(sess, "/__x", (const uint8_t *)"{}", 2, &E));
    FAILS(IC_ERR_INVALID_PATH, ic_session_get_node(sess, "/a/../b", &str, &E));
    FAILS(IC_ERR_INVALID_KEY, ic_store_set(sess, "/abs/zarr.json", (const uint8_t *)"{}", 2, &E));
    FAILS(IC_ERR_BRANCH_NOT_FOUND, ic_repo_writable_session(repo, "nope", &s, &E));
    FAILS(IC_ERR_INVALID_METADATA, ic_session_add_array(sess, "/z", shape, (uint64_t[]){0, 1}, 2, NULL, (const uint8_t *)"{}", 2, &E));
}

/* A pointer into unmapped memory as an out-parameter: the fault happens in
 * Go code, becomes a panic, and is recovered into IC_ERR_INTERNAL. (Not run
 * under valgrind, which reports the invalid write itself.) */
static void panics(void) {
    if (getenv("IC_TEST_UNDER_VALGRIND") != NULL) return;
    ic_error e = 0;
    ic_status st = ic_session_read_only(sess, (int32_t *)(uintptr_t)16, &e);
    CHECK(st == IC_ERR_INTERNAL);
    CONTAINS(ic_error_message(e), "panic");
    CHECK(ic_error_free(e) == IC_OK);
    OK(ic_session_read_only(sess, &(int32_t){0}, &E)); /* and the library still works */
}

/* A session freed while other threads use it: they finish or get
 * IC_ERR_INVALID_HANDLE. Two threads free one handle: one succeeds. */
static ic_session victim;
static int invalid_seen[4];

static void *user(void *arg) {
    int t = (int)(intptr_t)arg;
    for (int i = 0; i < 2000; i++) {
        uint8_t buf[64];
        size_t len = 0;
        int32_t found = 0;
        ic_status st = ic_store_get_into(victim, "zarr.json", NULL, buf, sizeof buf, &len, &found, NULL);
        if (st == IC_ERR_INVALID_HANDLE) {
            invalid_seen[t] = 1;
            break;
        }
        CHECK(st == IC_OK || st == IC_ERR_BUFFER_TOO_SMALL);
    }
    return NULL;
}

static int free_ok[4];

static void *freer(void *arg) {
    int t = (int)(intptr_t)arg;
    free_ok[t] = ic_session_free(victim) == IC_OK;
    return NULL;
}

static void concurrent_frees(void) {
    ic_version v = {IC_AT_BRANCH, "main", 0};
    OK(ic_repo_readonly_session(repo, &v, &victim, &E));
    pthread_t th[4];
    for (int t = 0; t < 4; t++) pthread_create(&th[t], NULL, user, (void *)(intptr_t)t);
    struct timespec pause = {0, 2 * 1000 * 1000};
    nanosleep(&pause, NULL);
    OK(ic_session_free(victim));
    for (int t = 0; t < 4; t++) pthread_join(th[t], NULL);
    for (int round = 0; round < 20; round++) {
        OK(ic_repo_readonly_session(repo, &v, &victim, &E));
        for (int t = 0; t < 4; t++) pthread_create(&th[t], NULL, freer, (void *)(intptr_t)t);
        for (int t = 0; t < 4; t++) pthread_join(th[t], NULL);
        CHECK(free_ok[0] + free_ok[1] + free_ok[2] + free_ok[3] == 1);
    }
}

int main(void) {
    ic_storage st = 0;
    OK(ic_storage_new_memory(NULL, &st, &E));
    OK(ic_repo_create(st, NULL, &repo, &E));
    OK(ic_repo_writable_session(repo, "main", &sess, &E));
    OK(ic_store_set(sess, "zarr.json", (const uint8_t *)GROUP_META, strlen(GROUP_META), &E));
    ic_test_add_array(sess, "/arr", 4, 4, 2, 2);

    handles();
    buffers();
    nulls();
    utf8_and_json();
    sizes_enums_ids();
    panics();
    concurrent_frees();

    /* After all the misuse the session still commits. */
    OK(ic_session_commit(sess, "after misuse", NULL, NULL, &E));
    OK(ic_session_free(sess));
    OK(ic_repo_free(repo));
    OK(ic_storage_free(st));
    ic_test_no_leaks();
    printf("misuse: ok\n");
    return 0;
}
