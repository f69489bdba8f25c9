/*
 * store.c - the Zarr key layer through C: set/get of zarr.json and chunk
 * keys, byte ranges, get-many and set-many, set-if-not-exists, exists,
 * sizes, listings (all, prefix, dir, a group's dir), deletes, clear; on an
 * in-memory repository, then committed and read back read-only, and
 * restored from bytes.
 */
#include "common.h"

static char *drain(ic_iter it) {
    char *page = NULL;
    size_t count = 0;
    OK(ic_iter_next_page(it, 0, &page, &count, &E));
    OK(ic_iter_free(it));
    return page;
}

static void expect_value(ic_session s, const char *key, const void *want, size_t n) {
    uint8_t *data = NULL;
    size_t len = 0;
    int32_t found = 0;
    OK(ic_store_get(s, key, NULL, &data, &len, &found, &E));
    if (!found || len != n || memcmp(data, want, n) != 0) {
        fprintf(stderr, "store: %s: found=%d len=%zu, want %zu bytes\n", key, found, len, n);
        exit(1);
    }
    OK(ic_buffer_free(data));
}

static void expect_missing(ic_session s, const char *key) {
    uint8_t *data = NULL;
    size_t len = 0;
    int32_t found = 1;
    OK(ic_store_get(s, key, NULL, &data, &len, &found, &E));
    CHECK(found == 0 && data == NULL);
    int32_t exists = 1;
    OK(ic_store_exists(s, key, &exists, &E));
    CHECK(exists == 0);
}

int main(void) {
    ic_storage st = 0;
    ic_repo repo = 0;
    ic_session s = 0;
    OK(ic_storage_new_memory("store-test", &st, &E));
    OK(ic_repo_create(st, NULL, &repo, &E));
    OK(ic_repo_writable_session(repo, "main", &s, &E));

    char arr[1024];
    ic_test_array_meta(arr, sizeof arr, 4, 4, 2, 2);
    OK(ic_store_set(s, "zarr.json", (const uint8_t *)GROUP_META, strlen(GROUP_META), &E));
    OK(ic_store_set(s, "g/zarr.json", (const uint8_t *)GROUP_META, strlen(GROUP_META), &E));
    OK(ic_store_set(s, "g/a/zarr.json", (const uint8_t *)arr, strlen(arr), &E));
    FAILS(IC_ERR_INVALID_METADATA, ic_store_set(s, "h/zarr.json", (const uint8_t *)"{}", 2, &E));
    FAILS(IC_ERR_INVALID_KEY, ic_store_set(s, "nowhere/c/0/0", (const uint8_t *)"x", 1, &E));
    FAILS(IC_ERR_INVALID_KEY, ic_store_set(s, "g/../x", (const uint8_t *)"x", 1, &E));
    FAILS(IC_ERR_INVALID_INDEX, ic_store_set(s, "g/a/c/5/0", (const uint8_t *)"x", 1, &E));
    expect_value(s, "g/a/zarr.json", arr, strlen(arr));

    /* Chunks: one big (a chunk object), the others small (inline). */
    uint8_t big[4096], c01[3] = {7, 8, 9};
    ic_test_fill(big, sizeof big, 5);
    OK(ic_store_set(s, "g/a/c/0/0", big, sizeof big, &E));
    OK(ic_store_set(s, "g/a/c/0/1", c01, sizeof c01, &E));
    OK(ic_store_set(s, "g/a/c/1/1", (const uint8_t *)"", 0, &E)); /* an empty value */
    expect_value(s, "g/a/c/0/0", big, sizeof big);
    expect_value(s, "g/a/c/0/1", c01, sizeof c01);
    expect_missing(s, "g/a/c/1/0");
    expect_missing(s, "g/a/c/9/9");  /* outside the grid: missing, not an error */
    expect_missing(s, "g/.zarray");  /* zarr v2 probes */
    expect_missing(s, "x/zarr.json");
    {
        uint8_t *data = NULL;
        size_t len = 99;
        int32_t found = 0;
        OK(ic_store_get(s, "g/a/c/1/1", NULL, &data, &len, &found, &E));
        CHECK(found == 1 && len == 0 && data != NULL); /* never NULL when found */
        OK(ic_buffer_free(data));
        ic_byte_range r = {IC_RANGE_BOUNDED, 100, 110};
        OK(ic_store_get(s, "g/a/c/0/0", &r, &data, &len, &found, &E));
        CHECK(found == 1 && len == 10 && memcmp(data, big + 100, 10) == 0);
        OK(ic_buffer_free(data));
        uint8_t buf[16];
        ic_byte_range suffix = {IC_RANGE_SUFFIX, 16, 0};
        OK(ic_store_get_into(s, "g/a/c/0/0", &suffix, buf, sizeof buf, &len, &found, &E));
        CHECK(found == 1 && len == 16 && memcmp(buf, big + sizeof big - 16, 16) == 0);
        FAILS(IC_ERR_BUFFER_TOO_SMALL, ic_store_get_into(s, "g/a/c/0/0", NULL, buf, sizeof buf, &len, &found, &E));
        CHECK(len == sizeof big);
        FAILS(IC_ERR_INVALID_KEY, ic_store_get(s, "g/a/c/x/0", NULL, &data, &len, &found, &E));
    }

    /* Get many: found, missing, failing, ranged. */
    {
        const char *keys[5] = {"g/a/c/0/0", "g/a/c/1/0", "g/a/c/0/1", "g/a/c/zz/0", "g/zarr.json"};
        ic_byte_range ranges[5] = {{IC_RANGE_FROM, 4000, 0}, {IC_RANGE_ALL, 0, 0}, {IC_RANGE_ALL, 0, 0}, {IC_RANGE_ALL, 0, 0}, {IC_RANGE_BOUNDED, 0, 5}};
        ic_get_result res[5];
        ic_error errs[5];
        uint8_t *data = NULL;
        size_t total = 0;
        OK(ic_store_get_many(s, keys, ranges, 5, res, &data, &total, errs, &E));
        CHECK(total == 96 + 3 + 5);
        CHECK(res[0].status == IC_OK && res[0].found == 1 && res[0].len == 96 && memcmp(data + res[0].offset, big + 4000, 96) == 0);
        CHECK(res[1].status == IC_OK && res[1].found == 0 && errs[1] == 0);
        CHECK(res[2].status == IC_OK && res[2].found == 1 && memcmp(data + res[2].offset, c01, 3) == 0);
        CHECK(res[3].status == IC_ERR_INVALID_KEY && errs[3] != 0 && ic_error_code(errs[3]) == IC_ERR_INVALID_KEY);
        CHECK(res[4].found == 1 && res[4].len == 5 && memcmp(data + res[4].offset, GROUP_META, 5) == 0);
        for (int i = 0; i < 5; i++) CHECK(ic_error_free(errs[i]) == IC_OK);
        OK(ic_buffer_free(data));
        /* Without ranges or error objects. */
        OK(ic_store_get_many(s, keys, NULL, 3, res, &data, &total, NULL, &E));
        CHECK(total == sizeof big + 3);
        OK(ic_buffer_free(data));
        OK(ic_store_get_many(s, NULL, NULL, 0, NULL, &data, &total, NULL, &E));
        CHECK(total == 0 && data != NULL);
        OK(ic_buffer_free(data));
    }

    /* Set many: an array and its chunks in one batch. */
    {
        char arr2[1024];
        ic_test_array_meta(arr2, sizeof arr2, 2, 2, 1, 1);
        const char *keys[4] = {"b/c/0/0", "b/zarr.json", "b/c/1/1", "b/c/0/1"};
        const uint8_t *vals[4] = {(const uint8_t *)"aa", (const uint8_t *)arr2, (const uint8_t *)"bbb", (const uint8_t *)"c"};
        size_t lens[4] = {2, strlen(arr2), 3, 1};
        OK(ic_store_set_many(s, keys, vals, lens, 4, &E));
        expect_value(s, "b/c/1/1", "bbb", 3);
        const char *bad[2] = {"b/c/1/0", "zz/c/0"};
        FAILS(IC_ERR_INVALID_KEY, ic_store_set_many(s, bad, vals, lens, 2, &E));
        expect_value(s, "b/c/1/0", "aa", 2); /* every entry is tried */
    }

    /* The library writes straight from the caller's buffers and keeps
     * nothing of them: once a set returns, they are the caller's to
     * change or free (valgrind and ASan check that nothing reads them
     * later). */
    {
        enum { BIG = 100000 };
        uint8_t *big1 = malloc(BIG), *big2 = malloc(BIG), *small = malloc(4);
        CHECK(big1 && big2 && small);
        memset(big1, 'x', BIG);
        memset(big2, 'y', BIG);
        memcpy(small, "tiny", 4);
        char meta[1024];
        ic_test_array_meta(meta, sizeof meta, 2, 2, 1, 1);
        const char *keys[3] = {"k/zarr.json", "k/c/1/0", "k/c/0/1"};
        const uint8_t *vals[3] = {(const uint8_t *)meta, big1, small};
        size_t lens[3] = {strlen(meta), BIG, 4};
        OK(ic_store_set_many(s, keys, vals, lens, 3, &E));
        OK(ic_store_set(s, "k/c/1/1", big2, BIG, &E));
        memset(big1, 0, BIG);
        memset(big2, 0, BIG);
        memset(small, 0, 4);
        free(big1);
        free(big2);
        free(small);
        uint8_t *want = malloc(BIG);
        CHECK(want != NULL);
        memset(want, 'x', BIG);
        expect_value(s, "k/c/1/0", (const char *)want, BIG);
        memset(want, 'y', BIG);
        expect_value(s, "k/c/1/1", (const char *)want, BIG);
        expect_value(s, "k/c/0/1", "tiny", 4);
        OK(ic_store_delete_dir(s, "k", &E));
        free(want);
    }

    /* Write-behind: the chunk is copied and written later; reads see it
     * at once, the caller's buffer is free once the call returns, and a
     * flush puts everything in storage. */
    {
        enum { BIG = 100000, N = 40 };
        char meta[1024];
        ic_test_array_meta(meta, sizeof meta, N, 1, 1, 1);
        OK(ic_store_set(s, "w/zarr.json", (const uint8_t *)meta, strlen(meta), &E));
        for (int i = 0; i < N; i++) {
            uint8_t *v = malloc(BIG);
            CHECK(v != NULL);
            memset(v, 'a' + i % 26, BIG);
            char key[32];
            snprintf(key, sizeof key, "w/c/%d/0", i);
            int32_t accepted = 9;
            OK(ic_store_set_behind(s, key, v, BIG, 1, &accepted, &E));
            CHECK(accepted == 1);
            memset(v, 0, BIG);
            free(v);
        }
        uint8_t *want = malloc(BIG);
        CHECK(want != NULL);
        for (int i = 0; i < N; i += 13) {
            char key[32];
            snprintf(key, sizeof key, "w/c/%d/0", i);
            memset(want, 'a' + i % 26, BIG);
            expect_value(s, key, (const char *)want, BIG);
        }
        OK(ic_session_flush(s, &E));
        memset(want, 'a' + 39 % 26, BIG);
        expect_value(s, "w/c/39/0", (const char *)want, BIG);
        free(want);
        /* Errors about the key come back at once; accepted may be NULL. */
        FAILS(IC_ERR_INVALID_KEY, ic_store_set_behind(s, "nope/c/0", (const uint8_t *)"x", 1, 0, NULL, &E));
        FAILS(IC_ERR_INVALID_INDEX, ic_store_set_behind(s, "w/c/99/0", (const uint8_t *)"x", 1, 0, NULL, &E));
        OK(ic_store_delete_dir(s, "w", &E));
    }

    /* Set if not exists. */
    {
        int32_t stored = 9;
        OK(ic_store_set_if_not_exists(s, "g/a/c/1/0", (const uint8_t *)"new", 3, &stored, &E));
        CHECK(stored == 1);
        OK(ic_store_set_if_not_exists(s, "g/a/c/1/0", (const uint8_t *)"other", 5, &stored, &E));
        CHECK(stored == 0);
        expect_value(s, "g/a/c/1/0", "new", 3);
        OK(ic_store_set_if_not_exists(s, "g/zarr.json", (const uint8_t *)GROUP_META, strlen(GROUP_META), NULL, &E));
    }

    /* Sizes and emptiness. */
    {
        uint64_t size = 0;
        OK(ic_store_get_size(s, "g/a/c/0/0", &size, &E));
        CHECK(size == sizeof big);
        FAILS(IC_ERR_NOT_FOUND, ic_store_get_size(s, "g/a/c/9/9", &size, &E));
        FAILS(IC_ERR_INVALID_KEY, ic_store_get_size(s, "g/a/c/1/1x", &size, &E));
        FAILS(IC_ERR_NOT_FOUND, ic_store_get_size(s, "q/zarr.json", &size, &E));
        OK(ic_store_get_size_prefix(s, "g/a/c/", &size, &E));
        CHECK(size == sizeof big + 3 + 0 + 3);
        int32_t empty = 1;
        OK(ic_store_is_empty(s, "g", &empty, &E));
        CHECK(empty == 0);
        OK(ic_store_is_empty(s, "nothing/", &empty, &E));
        CHECK(empty == 1);
        int32_t exists = 0;
        OK(ic_store_exists(s, "g/a/c/0/1", &exists, &E));
        CHECK(exists == 1);
    }

    /* Listings. */
    {
        ic_iter it = 0;
        OK(ic_store_list(s, &it, &E));
        char *all = drain(it);
        CONTAINS(all, "\"zarr.json\"");
        CONTAINS(all, "\"g/a/c/0/0\"");
        CONTAINS(all, "\"b/c/1/1\"");
        ic_string_free(all);

        OK(ic_store_list_prefix(s, "g/a/", &it, &E));
        char *pre = drain(it);
        CONTAINS(pre, "\"g/a/zarr.json\"");
        CONTAINS(pre, "\"g/a/c/1/0\"");
        CHECK(strstr(pre, "\"b/") == NULL);
        ic_string_free(pre);

        OK(ic_store_list_dir(s, "", &it, &E));
        char *top = drain(it);
        CONTAINS(top, "\"zarr.json\"");
        CONTAINS(top, "\"g\"");
        CONTAINS(top, "\"b\"");
        ic_string_free(top);

        OK(ic_store_list_dir(s, "g/a", &it, &E));
        char *dir = drain(it);
        CONTAINS(dir, "\"zarr.json\"");
        CONTAINS(dir, "\"c\"");
        ic_string_free(dir);

        /* A group's directory, listed from its nodes in one call. */
        char *names = NULL;
        int32_t listed = 0;
        OK(ic_store_list_group_dir(s, "", &names, &listed, &E));
        CHECK(listed == 1);
        CONTAINS(names, "\"zarr.json\"");
        CONTAINS(names, "\"g\"");
        CONTAINS(names, "\"b\"");
        ic_string_free(names);
        names = NULL;
        OK(ic_store_list_group_dir(s, "g/", &names, &listed, &E));
        CHECK(listed == 1 && strcmp(names, "[\"zarr.json\",\"a\"]") == 0);
        ic_string_free(names);
        names = NULL;
        OK(ic_store_list_group_dir(s, "g", &names, &listed, &E));
        CHECK(listed == 1 && strcmp(names, "[\"zarr.json\",\"a\"]") == 0);
        ic_string_free(names);
        /* Anything else (an array, inside one, nothing, not a directory):
         * nothing listed, *json untouched. */
        const char *others[] = {"g/a", "g/a/c/", "b/", "nothing/", "g/../a", "/g", "g//"};
        for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
            names = NULL;
            listed = 1;
            OK(ic_store_list_group_dir(s, others[i], &names, &listed, &E));
            CHECK(listed == 0 && names == NULL);
        }
        FAILS(IC_ERR_INVALID_ARGUMENT, ic_store_list_group_dir(s, NULL, &names, &listed, &E));
        FAILS(IC_ERR_INVALID_ARGUMENT, ic_store_list_group_dir(s, "", NULL, &listed, &E));
        FAILS(IC_ERR_INVALID_ARGUMENT, ic_store_list_group_dir(s, "", &names, NULL, &E));

        /* Paging one item at a time. */
        OK(ic_store_list_prefix(s, "g/a/c/", &it, &E));
        int n = 0;
        for (;;) {
            char *page = NULL;
            size_t count = 0;
            OK(ic_iter_next_page(it, 1, &page, &count, &E));
            ic_string_free(page);
            if (count == 0) break;
            CHECK(count == 1);
            n++;
        }
        CHECK(n == 4);
        OK(ic_iter_free(it));
        OK(ic_store_list_dir(s, "g/../a", &it, &E)); /* the listing fails at its first page */
        char *page = NULL;
        FAILS(IC_ERR_INVALID_KEY, ic_iter_next_page(it, 0, &page, NULL, &E));
        OK(ic_iter_free(it));
    }

    /* Commit, then read everything back read-only. */
    char *id = NULL;
    OK(ic_session_commit(s, "zarr keys", NULL, &id, &E));
    OK(ic_session_free(s));
    ic_version v = {IC_AT_SNAPSHOT, id, 0};
    OK(ic_repo_readonly_session(repo, &v, &s, &E));
    expect_value(s, "g/a/c/0/0", big, sizeof big);
    expect_value(s, "g/a/c/1/0", "new", 3);
    expect_value(s, "b/c/0/1", "c", 1);
    FAILS(IC_ERR_READ_ONLY, ic_store_set(s, "g/a/c/0/0", big, 1, &E));
    FAILS(IC_ERR_READ_ONLY, ic_store_delete(s, "g/a/c/0/0", &E));
    FAILS(IC_ERR_READ_ONLY, ic_store_clear(s, &E));

    /* A restored session reads its base snapshot on first use, or when
     * asked to; then metadata keys answer from memory. */
    {
        uint8_t *bytes = NULL;
        size_t n = 0;
        ic_session r = 0;
        OK(ic_session_to_bytes(s, &bytes, &n, &E));
        OK(ic_repo_session_from_bytes(repo, bytes, n, &r, &E));
        OK(ic_buffer_free(bytes));
        OK(ic_store_load_metadata(r, &E));
        OK(ic_store_load_metadata(r, &E)); /* nothing left to read */
        expect_value(r, "g/zarr.json", GROUP_META, strlen(GROUP_META));
        expect_value(r, "g/a/c/0/0", big, sizeof big);
        OK(ic_session_free(r));
        FAILS(IC_ERR_INVALID_HANDLE, ic_store_load_metadata(r, &E));
        OK(ic_store_load_metadata(s, &E));
    }
    OK(ic_session_free(s));
    ic_string_free(id);

    /* Deletes. */
    OK(ic_repo_writable_session(repo, "main", &s, &E));
    OK(ic_store_delete(s, "g/a/c/0/0", &E));
    expect_missing(s, "g/a/c/0/0");
    OK(ic_store_delete(s, "g/a/c/0/0", &E)); /* idempotent */
    OK(ic_store_delete_dir(s, "b", &E));
    expect_missing(s, "b/zarr.json");
    expect_missing(s, "b/c/1/1");
    OK(ic_store_delete(s, "g/a/zarr.json", &E));
    expect_missing(s, "g/a/c/0/1");
    expect_value(s, "g/zarr.json", GROUP_META, strlen(GROUP_META));
    OK(ic_store_clear(s, &E));
    int32_t empty = 0;
    OK(ic_store_is_empty(s, "", &empty, &E));
    CHECK(empty == 1);
    char *status = NULL;
    OK(ic_session_status(s, &status, &E));
    CONTAINS(status, "\"deleted_groups\":[\"/\",\"/g\"]");
    ic_string_free(status);
    OK(ic_session_free(s));

    OK(ic_repo_free(repo));
    OK(ic_storage_free(st));
    ic_test_no_leaks();
    printf("store: ok\n");
    return 0;
}
