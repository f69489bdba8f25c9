/*
 * cancel.c - stopping calls with a cancellation token: a call waiting on a
 * server that never answers returns IC_ERR_CANCELLED soon after another
 * thread triggers the token it runs under; calls under a token triggered
 * before them stop at once; a binding to a freed token is refused; and
 * calls that are not stopped run as usual under a token.
 */
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

/* A TCP server on 127.0.0.1 that accepts connections and never answers:
 * a request to it waits until the client gives up. */
typedef struct silent_server {
    int fd;
    int port;
    pthread_t thread;
    int held[64];
    int nheld;
} silent_server;

static void *silent_accept(void *arg) {
    silent_server *srv = arg;
    for (;;) {
        int c = accept(srv->fd, NULL, NULL);
        if (c < 0) return NULL; /* the listening socket was shut down */
        if (srv->nheld < 64) srv->held[srv->nheld++] = c;
        else close(c);
    }
}

static void silent_start(silent_server *srv) {
    memset(srv, 0, sizeof *srv);
    srv->fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(srv->fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(srv->fd, (struct sockaddr *)&addr, sizeof addr) == 0);
    CHECK(listen(srv->fd, 16) == 0);
    socklen_t len = sizeof addr;
    CHECK(getsockname(srv->fd, (struct sockaddr *)&addr, &len) == 0);
    srv->port = ntohs(addr.sin_port);
    CHECK(pthread_create(&srv->thread, NULL, silent_accept, srv) == 0);
}

static void silent_stop(silent_server *srv) {
    shutdown(srv->fd, SHUT_RDWR);
    CHECK(pthread_join(srv->thread, NULL) == 0);
    close(srv->fd);
    for (int i = 0; i < srv->nheld; i++) close(srv->held[i]);
}

static ic_storage silent_storage(const silent_server *srv) {
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", srv->port);
    ic_s3_options o = {0};
    o.bucket = "silent";
    o.prefix = "repo";
    o.endpoint = endpoint;
    o.force_path_style = 1;
    o.allow_http = 1;
    o.credentials = IC_S3_CREDENTIALS_STATIC;
    o.access_key_id = "key";
    o.secret_access_key = "secret";
    ic_storage st = 0;
    OK(ic_storage_new_s3(&o, &st, &E));
    return st;
}

/* One call made on a thread of its own, under a token. */
typedef struct opener {
    ic_storage storage;
    ic_cancel token;
    ic_status status;
    ic_error err;
    double took_ns;
} opener;

static void *open_under_token(void *arg) {
    opener *o = arg;
    OK(ic_cancel_bind(o->token, &E));
    double t0 = ic_test_now_ns();
    ic_repo repo = 0;
    o->status = ic_repo_open(o->storage, &repo, &o->err);
    o->took_ns = ic_test_now_ns() - t0;
    OK(ic_cancel_bind(0, &E));
    ic_repo_free(repo);
    return NULL;
}

static void test_token_handles(void) {
    ic_cancel tok = 0;
    OK(ic_cancel_new(&tok, &E));
    CHECK(tok != 0);
    int32_t triggered = 7;
    OK(ic_cancel_triggered(tok, &triggered, &E));
    CHECK(triggered == 0);
    OK(ic_cancel_trigger(tok, &E));
    OK(ic_cancel_trigger(tok, &E)); /* again: no change, no error */
    OK(ic_cancel_triggered(tok, &triggered, &E));
    CHECK(triggered == 1);
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_cancel_triggered(tok, NULL, &E));
    FAILS(IC_ERR_INVALID_ARGUMENT, ic_cancel_new(NULL, &E));
    OK(ic_cancel_free(tok));
    FAILS_QUIET(IC_ERR_INVALID_HANDLE, ic_cancel_free(tok));
    FAILS(IC_ERR_INVALID_HANDLE, ic_cancel_trigger(tok, &E));
    FAILS(IC_ERR_INVALID_HANDLE, ic_cancel_bind(tok, &E));
    OK(ic_cancel_free(0));
    CHECK(strcmp(ic_status_name(IC_ERR_CANCELLED), "IC_ERR_CANCELLED") == 0);

    /* Another kind of handle is not a token. */
    ic_storage st = 0;
    OK(ic_storage_new_memory("cancel-kinds", &st, &E));
    FAILS(IC_ERR_INVALID_HANDLE, ic_cancel_bind((ic_cancel)st, &E));
    OK(ic_storage_free(st));
}

/* A call waiting on a server that never answers stops soon after the
 * trigger, where it would otherwise wait for the transport's timeouts
 * (a minute per try). */
static void test_trigger_stops_a_waiting_call(void) {
    silent_server srv;
    silent_start(&srv);
    opener o = {.storage = silent_storage(&srv)};
    OK(ic_cancel_new(&o.token, &E));
    pthread_t t;
    CHECK(pthread_create(&t, NULL, open_under_token, &o) == 0);
    usleep(300 * 1000);
    double t0 = ic_test_now_ns();
    OK(ic_cancel_trigger(o.token, &E));
    CHECK(pthread_join(t, NULL) == 0);
    double after_trigger = (ic_test_now_ns() - t0) / 1e9;
    if (o.status != IC_ERR_CANCELLED) ic_test_die(__FILE__, __LINE__, "ic_repo_open on a silent server", IC_ERR_CANCELLED, o.status, o.err);
    CHECK(ic_error_code(o.err) == IC_ERR_CANCELLED);
    CONTAINS(ic_error_message(o.err), "cancelled");
    ic_error_free(o.err);
    CHECK(o.took_ns / 1e9 >= 0.25); /* it did wait for the server */
    if (after_trigger > 10) {
        fprintf(stderr, "the call returned %.1f s after the trigger\n", after_trigger);
        exit(1);
    }
    OK(ic_cancel_free(o.token));
    OK(ic_storage_free(o.storage));
    silent_stop(&srv);
}

/* Under a token triggered before it, a call that needs storage stops at
 * once; bound to a freed token, calls are refused until the thread binds
 * again. */
static void test_triggered_and_freed_tokens(void) {
    silent_server srv;
    silent_start(&srv);
    ic_storage silent = silent_storage(&srv);
    ic_cancel tok = 0;
    OK(ic_cancel_new(&tok, &E));
    OK(ic_cancel_trigger(tok, &E));
    OK(ic_cancel_bind(tok, &E));
    int32_t exists = 0;
    double t0 = ic_test_now_ns();
    FAILS(IC_ERR_CANCELLED, ic_repo_exists(silent, &exists, &E));
    CHECK((ic_test_now_ns() - t0) / 1e9 < 10);

    /* Calls that need no storage are not stopped. */
    ic_storage mem = 0;
    OK(ic_storage_new_memory("cancel-triggered", &mem, &E));
    char *desc = NULL;
    OK(ic_storage_describe(mem, &desc, &E));
    ic_string_free(desc);

    OK(ic_cancel_free(tok));
    FAILS(IC_ERR_INVALID_HANDLE, ic_repo_exists(mem, &exists, &E));
    OK(ic_cancel_bind(0, &E));
    OK(ic_repo_exists(mem, &exists, &E));
    CHECK(exists == 0);

    OK(ic_storage_free(mem));
    OK(ic_storage_free(silent));
    silent_stop(&srv);
}

/* A token that is never triggered changes nothing: a repository is made,
 * written, committed and read under it. */
static void test_untriggered_token_is_harmless(void) {
    ic_cancel tok = 0;
    OK(ic_cancel_new(&tok, &E));
    OK(ic_cancel_bind(tok, &E));
    ic_storage st = 0;
    OK(ic_storage_new_memory("cancel-harmless", &st, &E));
    ic_repo repo = 0;
    OK(ic_repo_create(st, NULL, &repo, &E));
    ic_session s = 0;
    OK(ic_repo_writable_session(repo, "main", &s, &E));
    OK(ic_store_set(s, "zarr.json", (const uint8_t *)GROUP_META, strlen(GROUP_META), &E));
    char *id = NULL;
    OK(ic_session_commit(s, "under a token", NULL, &id, &E));
    ic_string_free(id);
    uint8_t *out = NULL;
    size_t n = 0;
    int32_t found = 0;
    OK(ic_store_get(s, "zarr.json", NULL, &out, &n, &found, &E));
    CHECK(found == 1 && n == strlen(GROUP_META));
    ic_buffer_free(out);
    OK(ic_cancel_bind(0, &E));
    OK(ic_cancel_free(tok));
    OK(ic_session_free(s));
    OK(ic_repo_free(repo));
    OK(ic_storage_free(st));
}

int main(void) {
    test_token_handles();
    test_trigger_stops_a_waiting_call();
    test_triggered_and_freed_tokens();
    test_untriggered_token_is_harmless();
    ic_test_no_leaks();
    printf("cancel: ok\n");
    return 0;
}
