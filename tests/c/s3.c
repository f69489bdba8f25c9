/*
 * s3.c - a repository in an S3 bucket (MinIO on 127.0.0.1, started by
 * tests/c/s3env): storage from JSON, from ic_s3_options with static
 * credentials and with credentials from the environment, from a callback
 * and set by the caller (ic_credentials_set); anonymous access
 * refused (a storage error); write, commit, reopen, read; two writers and a
 * rebase. Without IC_TEST_S3_JSON it says it is skipped.
 */
#include "common.h"

static const char *env(const char *name) {
    const char *v = getenv(name);
    if (v == NULL || *v == 0) {
        fprintf(stderr, "s3: %s is not set\n", name);
        exit(1);
    }
    return v;
}

/* A credentials callback: the server's keys, valid for `ttl_s` seconds
 * (0: no expiry), padded to `pad` bytes of JSON; or a failure. */
typedef struct {
    int calls;
    int fail;
    long ttl_s;
    size_t pad;
} creds_state;

static int64_t give_credentials(void *user_data, char *buf, size_t cap) {
    creds_state *c = user_data;
    c->calls++;
    if (c->fail) {
        snprintf(buf, cap, "no token for this test");
        return -1;
    }
    char json[8192];
    int n;
    if (c->ttl_s > 0) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        long long expires = ((long long)now.tv_sec + c->ttl_s) * 1000000000LL;
        n = snprintf(json, sizeof json, "{\"access_key_id\": \"%s\", \"secret_access_key\": \"%s\", \"expires_after_unix_nanos\": %lld",
                     env("IC_TEST_S3_ACCESS_KEY"), env("IC_TEST_S3_SECRET_KEY"), expires);
    } else {
        n = snprintf(json, sizeof json, "{\"access_key_id\": \"%s\", \"secret_access_key\": \"%s\"",
                     env("IC_TEST_S3_ACCESS_KEY"), env("IC_TEST_S3_SECRET_KEY"));
    }
    while ((size_t)n + 1 < c->pad && (size_t)n + 1 < sizeof json) json[n++] = ' ';
    json[n++] = '}';
    if ((size_t)n > cap) return n; /* ask for a larger buffer */
    memcpy(buf, json, (size_t)n);
    return n;
}

/* The server's keys as ic_credentials_set takes them, expiring at
 * `expires_ns` (unix nanoseconds; 0: never). */
static void held_json(char *buf, size_t cap, long long expires_ns) {
    if (expires_ns != 0) {
        snprintf(buf, cap, "{\"access_key_id\": \"%s\", \"secret_access_key\": \"%s\", \"expires_after_unix_nanos\": %lld}",
                 env("IC_TEST_S3_ACCESS_KEY"), env("IC_TEST_S3_SECRET_KEY"), expires_ns);
    } else {
        snprintf(buf, cap, "{\"access_key_id\": \"%s\", \"secret_access_key\": \"%s\"}",
                 env("IC_TEST_S3_ACCESS_KEY"), env("IC_TEST_S3_SECRET_KEY"));
    }
}

static long long now_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
}

int main(void) {
    const char *json = getenv("IC_TEST_S3_JSON");
    if (json == NULL || *json == 0) {
        printf("s3: skipped (IC_TEST_S3_JSON is not set; run under tests/c/s3env)\n");
        return 0;
    }
    char prefix[64];
    snprintf(prefix, sizeof prefix, "ctest-%ld-%ld", (long)getpid(), (long)time(NULL));

    /* Create through ic_s3_options with static keys. */
    ic_s3_options o = {0};
    o.bucket = env("IC_TEST_S3_BUCKET");
    o.prefix = prefix;
    o.region = env("IC_TEST_S3_REGION");
    o.endpoint = env("IC_TEST_S3_ENDPOINT");
    o.force_path_style = 1;
    o.allow_http = 1;
    o.credentials = IC_S3_CREDENTIALS_STATIC;
    o.access_key_id = env("IC_TEST_S3_ACCESS_KEY");
    o.secret_access_key = env("IC_TEST_S3_SECRET_KEY");
    ic_storage st = 0;
    OK(ic_storage_new_s3(&o, &st, &E));
    char *desc = NULL;
    OK(ic_storage_describe(st, &desc, &E));
    CONTAINS(desc, prefix);
    CHECK(strstr(desc, o.secret_access_key) == NULL);
    ic_string_free(desc);
    int32_t exists = 1;
    OK(ic_repo_exists(st, &exists, &E));
    CHECK(exists == 0);
    ic_repo repo = 0;
    OK(ic_repo_create(st, NULL, &repo, &E));

    ic_session s = 0;
    OK(ic_repo_writable_session(repo, "main", &s, &E));
    OK(ic_store_set(s, "zarr.json", (const uint8_t *)GROUP_META, strlen(GROUP_META), &E));
    ic_test_add_array(s, "/a", 8, 8, 4, 4);
    uint8_t big[2048];
    ic_test_fill(big, sizeof big, 3);
    uint32_t c00[2] = {0, 0}, c11[2] = {1, 1};
    OK(ic_session_set_chunk(s, "/a", c00, 2, big, sizeof big, &E));
    OK(ic_session_set_chunk(s, "/a", c11, 2, (const uint8_t *)"tiny", 4, &E));
    char *first = NULL;
    OK(ic_session_commit(s, "on s3", NULL, &first, &E));
    OK(ic_session_free(s));
    OK(ic_repo_free(repo));
    OK(ic_storage_free(st));

    /* Reopen through the JSON form, with the same prefix. */
    char cfg[2048];
    const char *close = strrchr(json, '}');
    CHECK(close != NULL);
    snprintf(cfg, sizeof cfg, "%.*s,\"prefix\":\"%s\"}", (int)(close - json), json, prefix);
    OK(ic_storage_new_s3_json(cfg, &st, &E));
    OK(ic_repo_open(st, &repo, &E));
    ic_version v = {IC_AT_BRANCH, "main", 0};
    OK(ic_repo_readonly_session(repo, &v, &s, &E));
    uint8_t buf[4096];
    size_t len = 0;
    int32_t found = 0;
    OK(ic_store_get_into(s, "a/c/0/0", NULL, buf, sizeof buf, &len, &found, &E));
    CHECK(found == 1 && len == sizeof big && memcmp(buf, big, len) == 0);
    OK(ic_store_get_into(s, "a/c/1/1", NULL, buf, sizeof buf, &len, &found, &E));
    CHECK(found == 1 && len == 4 && memcmp(buf, "tiny", 4) == 0);
    OK(ic_session_free(s));

    /* Two writers, one rebase. */
    ic_session a = 0, b = 0;
    OK(ic_repo_writable_session(repo, "main", &a, &E));
    OK(ic_repo_writable_session(repo, "main", &b, &E));
    uint32_t c01[2] = {0, 1}, c10[2] = {1, 0};
    OK(ic_session_set_chunk(a, "/a", c01, 2, big, sizeof big, &E));
    OK(ic_session_set_chunk(b, "/a", c10, 2, big, sizeof big, &E));
    OK(ic_session_commit(a, "a", NULL, NULL, &E));
    FAILS(IC_ERR_CONFLICT, ic_session_commit(b, "b", NULL, NULL, &E));
    ic_solver detector = {IC_SOLVER_DETECTOR, 0, 0, 0};
    OK(ic_session_commit_rebasing(b, &detector, "b", NULL, 2, 1, 10, NULL, &E));
    OK(ic_session_free(a));
    OK(ic_session_free(b));
    OK(ic_repo_create_tag(repo, "s3-tag", first, &E));
    char *tags = NULL;
    OK(ic_repo_list_tags(repo, &tags, &E));
    CHECK(strcmp(tags, "[\"s3-tag\"]") == 0);
    ic_string_free(tags);
    OK(ic_repo_free(repo));
    OK(ic_storage_free(st));

    /* Credentials from the environment (AWS_ACCESS_KEY_ID and
     * AWS_SECRET_ACCESS_KEY, which s3env sets: the library sees the
     * environment as it was when it was loaded, not later setenv calls). */
    ic_s3_options envo = o;
    envo.credentials = IC_S3_CREDENTIALS_FROM_ENV;
    envo.access_key_id = envo.secret_access_key = NULL;
    OK(ic_storage_new_s3(&envo, &st, &E));
    OK(ic_repo_exists(st, &exists, &E));
    CHECK(exists == 1);
    OK(ic_storage_free(st));

    /* Anonymous requests are refused by this server: a storage error. */
    ic_s3_options anon = envo;
    anon.credentials = IC_S3_CREDENTIALS_ANONYMOUS;
    OK(ic_storage_new_s3(&anon, &st, &E));
    ic_error e = 0;
    CHECK(ic_repo_exists(st, &exists, &e) == IC_ERR_STORAGE);
    char *ej = NULL;
    CHECK(ic_error_json(e, &ej) == IC_OK);
    CONTAINS(ej, "\"indeterminate\":false");
    ic_string_free(ej);
    CHECK(ic_error_free(e) == IC_OK);
    OK(ic_storage_free(st));

    /* Credentials from a callback: asked for once when they never expire,
     * again for each request when they are about to, through a larger
     * buffer when the JSON needs one; a failing callback fails the request
     * with its message. */
    char rcfg[1024];
    snprintf(rcfg, sizeof rcfg,
             "{\"bucket\": \"%s\", \"prefix\": \"%s\", \"region\": \"%s\", \"endpoint\": \"%s\", "
             "\"force_path_style\": true, \"allow_http\": true}",
             o.bucket, prefix, o.region, o.endpoint);
    creds_state forever = {0, 0, 0, 0}, brief = {0, 0, 1, 6000}, broken = {0, 1, 0, 0};
    OK(ic_storage_new_s3_refreshable(rcfg, give_credentials, &forever, &st, &E));
    CHECK(forever.calls == 0); /* nothing until the first request */
    for (int i = 0; i < 3; i++) {
        OK(ic_repo_exists(st, &exists, &E));
        CHECK(exists == 1);
    }
    CHECK(forever.calls == 1);
    OK(ic_storage_free(st));
    OK(ic_storage_new_s3_refreshable(rcfg, give_credentials, &brief, &st, &E));
    OK(ic_repo_open(st, &repo, &E));
    OK(ic_repo_readonly_session(repo, &v, &s, &E));
    OK(ic_store_get_into(s, "a/c/0/0", NULL, buf, sizeof buf, &len, &found, &E));
    CHECK(found == 1 && len == sizeof big && memcmp(buf, big, len) == 0);
    CHECK(brief.calls >= 2 * 3); /* each request asked again, each time twice (4 KiB, then 6000 bytes) */
    OK(ic_session_free(s));
    OK(ic_repo_free(repo));
    OK(ic_storage_free(st));
    OK(ic_storage_new_s3_refreshable(rcfg, give_credentials, &broken, &st, &E));
    e = 0;
    CHECK(ic_repo_exists(st, &exists, &e) == IC_ERR_STORAGE);
    CONTAINS(ic_error_message(e), "no token for this test");
    CHECK(ic_error_free(e) == IC_OK);
    OK(ic_storage_free(st));
    /* Credentials the caller sets: a request before any are set fails at
     * once, saying so; set ones sign the next request, and so do newer
     * ones set later (even after ones that never expire); expired ones
     * fail naming when they expired; malformed JSON or a missing secret is
     * refused and keeps the credentials set before. The storage keeps the
     * credentials after their handle is freed. */
    ic_credentials held = 0;
    char hj[1024];
    OK(ic_credentials_new(&held, &E));
    OK(ic_storage_new_s3_credentials(rcfg, held, &st, &E));
    e = 0;
    CHECK(ic_repo_exists(st, &exists, &e) == IC_ERR_STORAGE);
    CONTAINS(ic_error_message(e), "no credentials were set yet");
    CHECK(ic_error_free(e) == IC_OK);
    held_json(hj, sizeof hj, 0);
    OK(ic_credentials_set(held, hj, &E));
    OK(ic_repo_exists(st, &exists, &E));
    CHECK(exists == 1);
    held_json(hj, sizeof hj, now_ns() - 1000000000LL);
    OK(ic_credentials_set(held, hj, &E));
    e = 0;
    CHECK(ic_repo_exists(st, &exists, &e) == IC_ERR_STORAGE);
    CONTAINS(ic_error_message(e), "expired at");
    CHECK(ic_error_free(e) == IC_OK);
    held_json(hj, sizeof hj, now_ns() + 3600LL * 1000000000LL);
    OK(ic_credentials_set(held, hj, &E));
    OK(ic_repo_open(st, &repo, &E));
    OK(ic_repo_readonly_session(repo, &v, &s, &E));
    OK(ic_store_get_into(s, "a/c/0/0", NULL, buf, sizeof buf, &len, &found, &E));
    CHECK(found == 1 && len == sizeof big && memcmp(buf, big, len) == 0);
    OK(ic_session_free(s));
    OK(ic_repo_free(repo));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_credentials_set(held, "{\"access_key_id\": \"AKID\"}", &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_credentials_set(held, "{\"access_key_id\": \"AKID\", \"secret_access_key\": \"very-secret\", \"extra\": 1}", &E));
    e = 0;
    CHECK(ic_credentials_set(held, "{\"secret_access_key\": \"very-secret\",", &e) == IC_ERR_INVALID_ARGUMENT);
    CHECK(strstr(ic_error_message(e), "very-secret") == NULL); /* never quotes the JSON */
    CHECK(ic_error_free(e) == IC_OK);
    OK(ic_credentials_free(held));
    OK(ic_repo_exists(st, &exists, &E)); /* still the ones set last */
    CHECK(exists == 1);
    CHECK(ic_credentials_set(held, hj, NULL) == IC_ERR_INVALID_HANDLE);
    OK(ic_storage_free(st));
    FAILS(IC_ERR_INVALID_HANDLE, ic_storage_new_s3_credentials(rcfg, held, &st, &E));
    OK(ic_credentials_new(&held, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_storage_new_s3_credentials(cfg, held, &st, &E)); /* keys beside it */
    OK(ic_credentials_free(held));

    /* Another credential source beside the callback is refused. */
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_storage_new_s3_refreshable(cfg, give_credentials, &forever, &st, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_storage_new_s3_refreshable(rcfg, NULL, &forever, &st, &E));

    ic_string_free(first);
    ic_test_no_leaks();
    printf("s3: ok\n");
    return 0;
}
