/*
 * helpers.c - C helpers of the capi package. They have hidden visibility:
 * the shared library exports only the ic_ functions of icechunk.h.
 */
#include "capi.h"

/*
 * Every buffer, string and error string the library hands to C is
 * allocated here, and nowhere else. The frame name icgo_malloc therefore
 * marks, in valgrind and AddressSanitizer reports, the allocations that are
 * ours (as opposed to the Go runtime's own); it must stay a real frame.
 */
HIDDEN __attribute__((noinline)) void *icgo_malloc(size_t n) {
    void *p = malloc(n == 0 ? 1 : n);
    __asm__ volatile("" : : "r"(p) : "memory"); /* no tail call: keep this frame */
    return p;
}

HIDDEN const char *icgo_version_string(void) { return IC_VERSION_STRING; }

HIDDEN const char *icgo_invalid_error_message(void) {
    return "invalid error handle: it was freed or never issued";
}

HIDDEN const char *icgo_status_name(ic_status status) {
    switch (status) {
    case IC_OK: return "IC_OK";
    case IC_ERR_INVALID_ARGUMENT: return "IC_ERR_INVALID_ARGUMENT";
    case IC_ERR_INVALID_HANDLE: return "IC_ERR_INVALID_HANDLE";
    case IC_ERR_BUFFER_TOO_SMALL: return "IC_ERR_BUFFER_TOO_SMALL";
    case IC_ERR_OUT_OF_MEMORY: return "IC_ERR_OUT_OF_MEMORY";
    case IC_ERR_INTERNAL: return "IC_ERR_INTERNAL";
    case IC_ERR_CANCELLED: return "IC_ERR_CANCELLED";
    case IC_ERR_REPO_NOT_FOUND: return "IC_ERR_REPO_NOT_FOUND";
    case IC_ERR_REPO_EXISTS: return "IC_ERR_REPO_EXISTS";
    case IC_ERR_BRANCH_NOT_FOUND: return "IC_ERR_BRANCH_NOT_FOUND";
    case IC_ERR_BRANCH_EXISTS: return "IC_ERR_BRANCH_EXISTS";
    case IC_ERR_TAG_NOT_FOUND: return "IC_ERR_TAG_NOT_FOUND";
    case IC_ERR_TAG_EXISTS: return "IC_ERR_TAG_EXISTS";
    case IC_ERR_SNAPSHOT_NOT_FOUND: return "IC_ERR_SNAPSHOT_NOT_FOUND";
    case IC_ERR_NOT_FOUND: return "IC_ERR_NOT_FOUND";
    case IC_ERR_ALREADY_EXISTS: return "IC_ERR_ALREADY_EXISTS";
    case IC_ERR_NOT_AN_ARRAY: return "IC_ERR_NOT_AN_ARRAY";
    case IC_ERR_NOT_A_GROUP: return "IC_ERR_NOT_A_GROUP";
    case IC_ERR_INVALID_KEY: return "IC_ERR_INVALID_KEY";
    case IC_ERR_INVALID_PATH: return "IC_ERR_INVALID_PATH";
    case IC_ERR_INVALID_METADATA: return "IC_ERR_INVALID_METADATA";
    case IC_ERR_INVALID_INDEX: return "IC_ERR_INVALID_INDEX";
    case IC_ERR_INVALID_RANGE: return "IC_ERR_INVALID_RANGE";
    case IC_ERR_READ_ONLY: return "IC_ERR_READ_ONLY";
    case IC_ERR_NO_CHANGES: return "IC_ERR_NO_CHANGES";
    case IC_ERR_CONFLICT: return "IC_ERR_CONFLICT";
    case IC_ERR_REBASE_FAILED: return "IC_ERR_REBASE_FAILED";
    case IC_ERR_BAD_SNAPSHOT_CHAIN: return "IC_ERR_BAD_SNAPSHOT_CHAIN";
    case IC_ERR_TX_LOGS_DISABLED: return "IC_ERR_TX_LOGS_DISABLED";
    case IC_ERR_INVALID_TIMESTAMP: return "IC_ERR_INVALID_TIMESTAMP";
    case IC_ERR_INVALID_SESSION_BYTES: return "IC_ERR_INVALID_SESSION_BYTES";
    case IC_ERR_VIRTUAL_CHUNK: return "IC_ERR_VIRTUAL_CHUNK";
    case IC_ERR_STORAGE: return "IC_ERR_STORAGE";
    case IC_ERR_CORRUPT: return "IC_ERR_CORRUPT";
    case IC_ERR_UNSUPPORTED_VERSION: return "IC_ERR_UNSUPPORTED_VERSION";
    }
    return "IC_ERR_UNKNOWN";
}

/* Calls a credentials callback: Go cannot call a C function pointer. */
HIDDEN int64_t icgo_call_credentials(ic_credentials_fn fn, void *user_data, char *buf, size_t cap) {
    return fn(user_data, buf, cap);
}

/*
 * The cancellation token bound to each thread (ic_cancel_bind). It lives
 * in C because only C knows the caller's thread: an export runs on the
 * calling thread, so the Go side reads and sets it through these.
 */
static __thread ic_cancel icgo_bound;

HIDDEN ic_cancel icgo_bound_cancel(void) { return icgo_bound; }

HIDDEN void icgo_bind_cancel(ic_cancel token) { icgo_bound = token; }
