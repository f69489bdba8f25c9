/*
 * logs.c - the diagnostic log through the C interface: the filter is set,
 * read back, refused when it does not parse, taken from ICECHUNK_LOG on
 * NULL, and the lines reach file descriptor 2 only at the levels asked.
 */
#include "common.h"

#include <fcntl.h>
#include <unistd.h>

/* Runs a commit on a new in-memory repository while fd 2 goes to a file,
 * and returns what was written there (caller frees). */
static char *commit_capturing_stderr(const char *name) {
    char path[] = "/tmp/ictest-log-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    CHECK(saved >= 0 && dup2(fd, 2) == 2);

    ic_storage st = 0;
    OK(ic_storage_new_memory(name, &st, &E));
    ic_repo repo = 0;
    OK(ic_repo_create(st, NULL, &repo, &E));
    ic_session s = 0;
    OK(ic_repo_writable_session(repo, "main", &s, &E));
    const char *meta = "{\"zarr_format\":3,\"node_type\":\"group\"}";
    OK(ic_store_set(s, "zarr.json", (const uint8_t *)meta, strlen(meta), &E));
    char *id = NULL;
    OK(ic_session_commit(s, "logged", NULL, &id, &E));
    ic_string_free(id);
    OK(ic_session_free(s));
    OK(ic_repo_free(repo));
    OK(ic_storage_free(st));

    fflush(stderr);
    CHECK(dup2(saved, 2) == 2);
    close(saved);
    off_t size = lseek(fd, 0, SEEK_END);
    CHECK(size >= 0);
    char *text = calloc(1, (size_t)size + 1);
    CHECK(text != NULL);
    CHECK(pread(fd, text, (size_t)size, 0) == size);
    close(fd);
    unlink(path);
    return text;
}

int main(void) {
    /* At load the filter is ICECHUNK_LOG's, or the default. */
    char *prev = NULL;
    OK(ic_set_logs_filter("engine=info", &prev, &E));
    const char *env = getenv("ICECHUNK_LOG");
    CHECK(strcmp(prev, env && *env ? env : "warn") == 0);
    ic_string_free(prev);

    char *text = commit_capturing_stderr("logs-info");
    CONTAINS(text, "level=INFO msg=committed component=engine branch=main snapshot=");
    CHECK(strstr(text, "component=storage") == NULL);
    free(text);

    OK(ic_set_logs_filter("storage=debug,engine=off", &prev, &E));
    CHECK(strcmp(prev, "engine=info") == 0);
    ic_string_free(prev);
    text = commit_capturing_stderr("logs-debug");
    CONTAINS(text, "level=DEBUG msg=request component=storage store=memory:logs-debug op=");
    CHECK(strstr(text, "component=engine") == NULL);
    free(text);

    /* A filter that does not parse names its fault and changes nothing. */
    ic_error e = 0;
    CHECK(ic_set_logs_filter("storage=loud", NULL, &e) == IC_ERR_INVALID_ARGUMENT);
    CONTAINS(ic_error_message(e), "unknown level \"loud\"");
    ic_error_free(e);
    CHECK(ic_set_logs_filter("network=debug", NULL, &e) == IC_ERR_INVALID_ARGUMENT);
    CONTAINS(ic_error_message(e), "unknown component \"network\"");
    ic_error_free(e);
    OK(ic_set_logs_filter("off", &prev, &E));
    CHECK(strcmp(prev, "storage=debug,engine=off") == 0);
    ic_string_free(prev);

    /* NULL reads the environment again. */
    CHECK(setenv("ICECHUNK_LOG", "engine=debug", 1) == 0);
    OK(ic_set_logs_filter(NULL, NULL, &E));
    OK(ic_set_logs_filter("", &prev, &E));
    CHECK(strcmp(prev, "engine=debug") == 0);
    ic_string_free(prev);
    OK(ic_set_logs_filter(NULL, &prev, &E)); /* "" was the default */
    CHECK(strcmp(prev, "warn") == 0);
    ic_string_free(prev);

    /* Off: nothing written. */
    OK(ic_set_logs_filter("off", NULL, &E));
    text = commit_capturing_stderr("logs-off");
    CHECK(text[0] == 0);
    free(text);

    ic_test_no_leaks();
    printf("logs: ok\n");
    return 0;
}
