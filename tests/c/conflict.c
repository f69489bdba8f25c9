/*
 * conflict.c - two writers on one branch: the commit conflict, rebase with
 * ConflictDetector and with BasicConflictSolver (UseOurs, UseTheirs, Fail,
 * the delete flags), the conflict list read back through ic_error_conflict
 * and ic_error_json, and commit with retries.
 */
#include "common.h"

static ic_repo repo;

static ic_session writer(void) {
    ic_session s = 0;
    OK(ic_repo_writable_session(repo, "main", &s, &E));
    return s;
}

static void put(ic_session s, uint32_t y, uint32_t x, const char *val) {
    uint32_t c[2] = {y, x};
    OK(ic_session_set_chunk(s, "/a", c, 2, (const uint8_t *)val, strlen(val), &E));
}

static void expect(ic_session s, uint32_t y, uint32_t x, const char *want) {
    uint32_t c[2] = {y, x};
    char buf[64];
    size_t len = 0;
    int32_t found = 0;
    OK(ic_session_get_chunk_into(s, "/a", c, 2, NULL, (uint8_t *)buf, sizeof buf, &len, &found, &E));
    if (!found || len != strlen(want) || memcmp(buf, want, len) != 0) {
        fprintf(stderr, "chunk (%u,%u): found=%d %.*s, want %s\n", y, x, found, (int)len, buf, want);
        exit(1);
    }
}

static void commit(ic_session s, const char *msg) { OK(ic_session_commit(s, msg, NULL, NULL, &E)); }

/* Rebase must fail with the given conflict kinds, in order; returns the
 * error for more checks (caller frees). */
static ic_error rebase_fails(ic_session s, const ic_solver *solver, size_t n, const int32_t *kinds) {
    ic_error e = 0;
    ic_status st = ic_session_rebase(s, solver, &e);
    if (st != IC_ERR_REBASE_FAILED) ic_test_die(__FILE__, __LINE__, "ic_session_rebase", IC_ERR_REBASE_FAILED, st, e);
    CHECK(ic_error_code(e) == IC_ERR_REBASE_FAILED);
    if (ic_error_conflict_count(e) != n) {
        fprintf(stderr, "want %zu conflicts, got %zu: %s\n", n, ic_error_conflict_count(e), ic_error_message(e));
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        ic_conflict c;
        CHECK(ic_error_conflict(e, i, &c) == IC_OK);
        if (c.kind != kinds[i]) {
            fprintf(stderr, "conflict %zu: kind %d (%s), want %d\n", i, c.kind, c.kind_name, kinds[i]);
            exit(1);
        }
        CHECK(c.path[0] == '/' && c.sentence[0] != 0 && strlen(c.commit_id) == 20);
    }
    ic_conflict c;
    CHECK(ic_error_conflict(e, n, &c) == IC_ERR_INVALID_ARGUMENT);
    return e;
}

int main(void) {
    const ic_solver detector = {IC_SOLVER_DETECTOR, 0, 0, 0};
    const ic_solver ours = {IC_SOLVER_BASIC, IC_USE_OURS, 0, 0};
    const ic_solver theirs = {IC_SOLVER_BASIC, IC_USE_THEIRS, 0, 0};
    const ic_solver fail = {IC_SOLVER_BASIC, IC_FAIL, 0, 0};
    const ic_solver strict_deletes = {IC_SOLVER_BASIC, IC_USE_OURS, 1, 1};

    ic_storage st = 0;
    OK(ic_storage_new_memory(NULL, &st, &E));
    OK(ic_repo_create(st, NULL, &repo, &E));
    ic_session base = writer();
    OK(ic_session_add_group(base, "/", (const uint8_t *)GROUP_META, strlen(GROUP_META), &E));
    OK(ic_session_add_group(base, "/g", (const uint8_t *)GROUP_META, strlen(GROUP_META), &E));
    ic_test_add_array(base, "/a", 4, 4, 1, 1);
    put(base, 3, 3, "base");
    commit(base, "base");
    OK(ic_session_free(base));

    /* 1. Same chunk written by both: conflict, detector fails, UseTheirs. */
    {
        ic_session a = writer(), b = writer();
        put(a, 0, 0, "A00");
        put(a, 1, 1, "A11");
        commit(a, "writer A");
        put(b, 0, 0, "B00");
        put(b, 2, 2, "B22");

        ic_error e = 0;
        CHECK(ic_session_commit(b, "writer B", NULL, NULL, &e) == IC_ERR_CONFLICT);
        char *json = NULL;
        CHECK(ic_error_json(e, &json) == IC_OK);
        CONTAINS(json, "\"code_name\":\"IC_ERR_CONFLICT\"");
        CONTAINS(json, "\"branch\":\"main\"");
        CONTAINS(json, "\"actual_parent\":\"");
        ic_string_free(json);
        CHECK(ic_error_conflict_count(e) == 0);
        CHECK(ic_error_free(e) == IC_OK);

        int32_t kinds[1] = {IC_CONFLICT_CHUNK_DOUBLE_UPDATE};
        e = rebase_fails(b, &detector, 1, kinds);
        ic_conflict c;
        CHECK(ic_error_conflict(e, 0, &c) == IC_OK);
        CHECK(strcmp(c.kind_name, "ChunkDoubleUpdate") == 0);
        CHECK(strcmp(c.path, "/a") == 0);
        CHECK(strlen(c.node_id) == 20);
        CHECK(strcmp(c.commit_message, "writer A") == 0);
        CHECK(c.coords_count == 1 && c.coords_rank == 2 && c.coords[0] == 0 && c.coords[1] == 0);
        CHECK(c.children_count == 0 && c.children == NULL);
        CONTAINS(c.sentence, "/a");
        CONTAINS(ic_error_message(e), "1 conflict");
        CHECK(ic_error_json(e, &json) == IC_OK);
        CONTAINS(json, "\"kind_name\":\"ChunkDoubleUpdate\"");
        CONTAINS(json, "\"coords\":[[0,0]]");
        CONTAINS(json, "\"commit_message\":\"writer A\"");
        ic_string_free(json);
        CHECK(ic_error_free(e) == IC_OK);
        FAILS_QUIET(IC_ERR_INVALID_HANDLE, ic_error_free(e));
        CHECK(ic_error_code(e) == IC_ERR_INVALID_HANDLE);
        CHECK(ic_error_conflict_count(e) == 0);
        CHECK(ic_error_conflict(e, 0, &c) == IC_ERR_INVALID_HANDLE);
        CHECK(strstr(ic_error_message(e), "invalid error handle") != NULL);

        OK(ic_session_rebase(b, &theirs, &E));
        commit(b, "writer B");
        expect(b, 0, 0, "A00");
        expect(b, 1, 1, "A11");
        expect(b, 2, 2, "B22");
        OK(ic_session_free(a));
        OK(ic_session_free(b));
    }

    /* 2. UseOurs keeps the rebased session's chunk; Fail refuses. */
    {
        ic_session c = writer(), d = writer(), f = writer();
        put(c, 0, 1, "C01");
        commit(c, "writer C");
        put(d, 0, 1, "D01");
        put(f, 0, 1, "F01");
        int32_t kinds[1] = {IC_CONFLICT_CHUNK_DOUBLE_UPDATE};
        CHECK(ic_error_free(rebase_fails(f, &fail, 1, kinds)) == IC_OK);
        OK(ic_session_rebase(d, &ours, &E));
        commit(d, "writer D");
        expect(d, 0, 1, "D01");
        OK(ic_session_free(c));
        OK(ic_session_free(d));
        OK(ic_session_free(f));
    }

    /* 3. Disjoint writes rebase with the detector alone. */
    {
        ic_session a = writer(), b = writer();
        put(a, 3, 0, "A30");
        commit(a, "A30");
        put(b, 0, 3, "B03");
        FAILS(IC_ERR_CONFLICT, ic_session_commit(b, "B03", NULL, NULL, &E));
        OK(ic_session_rebase(b, &detector, &E));
        commit(b, "B03");
        expect(b, 3, 0, "A30");
        expect(b, 0, 3, "B03");
        OK(ic_session_free(a));
        OK(ic_session_free(b));
    }

    /* 4. Delete of an updated array: the delete wins, unless the flag. */
    {
        ic_session upd = writer(), del = writer(), strict = writer();
        put(upd, 2, 0, "U20");
        commit(upd, "update a");
        OK(ic_session_delete_array(del, "/a", &E));
        OK(ic_session_delete_array(strict, "/a", &E));
        int32_t kinds[1] = {IC_CONFLICT_DELETE_OF_UPDATED_ARRAY};
        CHECK(ic_error_free(rebase_fails(strict, &strict_deletes, 1, kinds)) == IC_OK);
        OK(ic_session_rebase(del, &ours, &E));
        char *status = NULL;
        OK(ic_session_status(del, &status, &E));
        CONTAINS(status, "\"deleted_arrays\":[\"/a\"]");
        ic_string_free(status);
        OK(ic_session_free(upd));
        OK(ic_session_free(del)); /* not committed: /a stays */
        OK(ic_session_free(strict));
    }

    /* 5. Several conflicts at once, none solvable by the basic solver. */
    {
        ic_session a = writer(), b = writer();
        const char *g2 = "{\"zarr_format\":3,\"node_type\":\"group\",\"attributes\":{\"v\":2}}";
        OK(ic_session_add_group(a, "/new", (const uint8_t *)GROUP_META, strlen(GROUP_META), &E));
        OK(ic_session_update_group(a, "/g", (const uint8_t *)g2, strlen(g2), &E));
        commit(a, "A nodes");
        OK(ic_session_add_group(b, "/new", (const uint8_t *)GROUP_META, strlen(GROUP_META), &E));
        OK(ic_session_update_group(b, "/g", (const uint8_t *)g2, strlen(g2), &E));
        int32_t kinds[2] = {IC_CONFLICT_NEW_NODE_CONFLICTS_WITH_EXISTING_NODE, IC_CONFLICT_ZARR_METADATA_DOUBLE_UPDATE};
        CHECK(ic_error_free(rebase_fails(b, &detector, 2, kinds)) == IC_OK);
        ic_error e = rebase_fails(b, &ours, 2, kinds);
        CONTAINS(ic_error_message(e), "2 conflicts");
        ic_conflict c;
        CHECK(ic_error_conflict(e, 0, &c) == IC_OK);
        CHECK(strcmp(c.path, "/new") == 0 && c.coords_count == 0 && c.coords == NULL);
        CHECK(ic_error_conflict(e, 1, &c) == IC_OK);
        CHECK(strcmp(c.path, "/g") == 0);
        CHECK(ic_error_free(e) == IC_OK);
        OK(ic_session_free(a));
        OK(ic_session_free(b));
    }

    /* 6. A group deleted here while the other side created children in it. */
    {
        ic_session a = writer(), b = writer();
        OK(ic_session_add_group(a, "/g/child", (const uint8_t *)GROUP_META, strlen(GROUP_META), &E));
        commit(a, "child");
        OK(ic_session_delete_group(b, "/g", &E));
        int32_t kinds[1] = {IC_CONFLICT_DELETE_OF_GROUP_WITH_NEW_CHILDREN};
        ic_error e = rebase_fails(b, &detector, 1, kinds);
        ic_conflict c;
        CHECK(ic_error_conflict(e, 0, &c) == IC_OK);
        CHECK(c.children_count == 1 && strcmp(c.children[0], "/g/child") == 0);
        char *json = NULL;
        CHECK(ic_error_json(e, &json) == IC_OK);
        CONTAINS(json, "\"children\":[\"/g/child\"]");
        ic_string_free(json);
        CHECK(ic_error_free(e) == IC_OK);
        OK(ic_session_rebase(b, &ours, &E)); /* the delete takes the children too */
        commit(b, "delete g");
        char *node = NULL;
        FAILS(IC_ERR_NOT_FOUND, ic_session_get_node(b, "/g/child", &node, &E));
        OK(ic_session_free(a));
        OK(ic_session_free(b));
    }

    /* 7. Commit with retries. */
    {
        ic_session a = writer(), b = writer();
        put(a, 1, 2, "A12");
        commit(a, "A12");
        put(b, 1, 2, "B12");
        put(b, 2, 1, "B21");
        FAILS(IC_ERR_REBASE_FAILED, ic_session_commit_rebasing(b, &detector, "B", NULL, 3, 1, 5, NULL, &E));
        char *id = NULL;
        OK(ic_session_commit_rebasing(b, &theirs, "B", "{\"retry\":true}", 3, 1, 5, &id, &E));
        CHECK(strlen(id) == 20);
        char *info = NULL;
        OK(ic_repo_snapshot_info(repo, id, &info, &E));
        CONTAINS(info, "\"retry\":true");
        ic_string_free(info);
        ic_string_free(id);
        expect(b, 1, 2, "A12");
        expect(b, 2, 1, "B21");
        ic_session c = writer();
        put(c, 0, 2, "C02");
        FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_commit_rebasing(c, NULL, "C", NULL, 3, 1, 5, NULL, &E));
        const ic_solver bogus = {7, 0, 0, 0}, bogus_sel = {IC_SOLVER_BASIC, 9, 0, 0};
        FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_rebase(c, &bogus, &E));
        FAILS(IC_ERR_INVALID_ARGUMENT, ic_session_rebase(c, &bogus_sel, &E));
        OK(ic_session_commit_rebasing(c, &ours, "C", NULL, 0, 0, 0, NULL, &E)); /* no conflict: no retry needed */
        OK(ic_session_free(a));
        OK(ic_session_free(b));
        OK(ic_session_free(c));
    }

    /* History of all this, as JSON. */
    ic_version v = {IC_AT_BRANCH, "main", 0};
    char *hist = NULL;
    OK(ic_repo_ancestry_json(repo, &v, 0, &hist, &E));
    CONTAINS(hist, "writer B");
    CONTAINS(hist, "delete g");
    ic_string_free(hist);

    OK(ic_repo_free(repo));
    OK(ic_storage_free(st));
    ic_test_no_leaks();
    printf("conflict: ok\n");
    return 0;
}
