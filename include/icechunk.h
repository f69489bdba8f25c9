/*
 * icechunk.h - the C interface of libicechunk, a transactional storage
 * engine for Zarr v3 data (versioned hierarchies on S3, a local disk or in
 * memory, with branches, tags, commits, history, diffs, conflict detection
 * and rebase).
 *
 * This header is the contract. It is written by hand; the header the Go
 * toolchain generates next to the library (libicechunk.h) is not part of
 * the interface and must not be included.
 *
 * ------------------------------------------------------------------------
 * CONVENTIONS
 * ------------------------------------------------------------------------
 *
 * Names. Everything starts with ic_ (functions, types) or IC_ (macros,
 * enum constants).
 *
 * Status codes. Every function that can fail returns an ic_status: IC_OK
 * (zero) on success, one of the IC_ERR_* codes otherwise. The code is the
 * class of the failure; it is what bindings map to their own exception
 * types. A few accessors that cannot fail return their value directly
 * (ic_abi_version, ic_error_code, ...); they say so.
 *
 * Error details. Most functions take a last parameter `ic_error *err`. It
 * may be NULL when the caller only wants the status code. Otherwise the
 * function always writes it: 0 (no error object) on success, and on failure
 * a new error object carrying the code, a message and, for a failed rebase,
 * the list of conflicts. The caller owns that object and releases it with
 * ic_error_free (ic_error_free(0) is a no-op, so a caller may free
 * unconditionally). There is no thread-local "last error": the library's
 * work runs on threads of its own, and every detail travels in the object.
 *
 * Handles. Storages, repositories, sessions, iterators, errors and
 * cancellation tokens are opaque 64-bit handles (ic_storage, ic_repo, ...),
 * not pointers: a handle is an index into the library's handle table with
 * a type tag and a generation. 0 is never a valid handle (IC_NULL_HANDLE).
 * Passing a handle that was freed, that belongs to another type, or that
 * was never issued (forged) is detected and answered with
 * IC_ERR_INVALID_HANDLE, never with a crash. Every handle type has its free
 * function (ic_storage_free, ic_repo_free, ic_session_free, ic_iter_free,
 * ic_error_free, ic_cancel_free, ic_credentials_free); freeing
 * IC_NULL_HANDLE is a no-op, freeing a handle twice gives
 * IC_ERR_INVALID_HANDLE the second time. Freeing a handle while another
 * thread is inside a call that uses it is allowed: that call completes
 * normally, later calls fail. Handle types are all uint64_t, so the C
 * compiler cannot tell them apart: passing a session where a repository is
 * expected is caught at run time (IC_ERR_INVALID_HANDLE), not at compile
 * time.
 *
 * Handles keep what they need alive: a session keeps working after the
 * repository handle it came from is freed, and a repository after its
 * storage handle is freed. Freeing a handle releases the library's
 * reference; the memory goes when nothing uses it any more.
 *
 * Strings. Strings passed in are NUL-terminated UTF-8; the library copies
 * what it keeps. Invalid UTF-8 is IC_ERR_INVALID_ARGUMENT. A NULL string
 * where one is required is IC_ERR_INVALID_ARGUMENT; parameters that accept
 * NULL say so.
 *
 * Sizes. Sizes are size_t. A size above IC_MAX_SIZE (in particular a
 * negative number converted to size_t) is IC_ERR_INVALID_ARGUMENT. A data
 * pointer may be NULL only when its length is 0.
 *
 * Pointers. NULL is detected; any other pointer passed in must point to
 * valid memory of the stated size (the library cannot tell a dangling
 * pointer from a good one, unlike a handle). The library reads inputs only
 * during the call and never keeps a caller's pointer.
 *
 * Ownership of results. Memory the library returns through an out-parameter
 * (a `char **` string, a `uint8_t **` buffer) is allocated for C, belongs to
 * the caller, and is released with ic_string_free or ic_buffer_free (not
 * with free(3): the library tracks its allocations, so that releasing a
 * pointer twice, or one it never returned, is IC_ERR_INVALID_ARGUMENT
 * instead of heap corruption). Out-parameters are written only on success,
 * except `err`, which is always written. Pointers returned as `const`
 * (ic_version_string, ic_status_name, ic_error_message, the fields filled
 * by ic_error_conflict) belong to the library: static strings live forever,
 * error strings until ic_error_free of their error.
 *
 * JSON. Structured results (branch lists, snapshot info, ancestry, diffs,
 * status, node descriptions, configuration, snapshot inspection, chunk
 * storage statistics, error details) are returned as UTF-8 JSON strings,
 * documented at each function. Structured inputs (configuration, commit
 * metadata, S3 settings, batches of virtual refs) are JSON too; malformed
 * JSON, a wrong type or an unknown field is IC_ERR_INVALID_ARGUMENT.
 *
 * Identifiers. Snapshot ids are 20-character strings (Crockford base32 of
 * 12 random bytes), as printed by the library: upper case. Ids given to the
 * library may be in either case.
 *
 * ------------------------------------------------------------------------
 * THREADS
 * ------------------------------------------------------------------------
 *
 * Every function may be called from any thread, including threads the
 * library has never seen. Per handle type:
 *
 *   - library functions, ic_buffer_free, ic_string_free: thread-safe.
 *   - ic_storage: thread-safe; one storage may back many repositories.
 *   - ic_repo: thread-safe.
 *   - ic_session: thread-safe. Using one writable session from many
 *     threads at once is the normal case (it is how Zarr writes): chunk and
 *     key reads and writes (ic_store_*, ic_session_get_chunk,
 *     ic_session_set_chunk, ...) run in parallel, chunk uploads outside any
 *     lock. Node changes, commit, ic_session_flush_snapshot and rebase are
 *     serialised with them.
 *   - ic_iter: calls on one iterator are serialised by the library; use
 *     one iterator from one thread at a time for a meaningful order.
 *   - ic_error: immutable; its accessors are thread-safe. Do not free it
 *     while another thread still reads the strings it returned.
 *
 * ------------------------------------------------------------------------
 * PROCESSES AND SIGNALS
 * ------------------------------------------------------------------------
 *
 * The library contains the Go runtime, which starts threads when it is
 * loaded. A process must not fork(2) after loading the library unless the
 * child immediately calls exec: the child would have the library's memory
 * but none of its threads, and any call into it can hang or crash. Use
 * posix_spawn, or a "spawn" start method (Python's multiprocessing), for
 * worker processes. The library must not be unloaded (dlclose) either.
 *
 * The library reads the process environment once, when it is loaded (the
 * Go runtime copies it then): variables set later with setenv(3), such as
 * AWS credentials for IC_S3_CREDENTIALS_FROM_ENV or GODEBUG, are not seen.
 * Set them before loading the library.
 *
 * The library never installs handlers for asynchronous signals (it does not
 * call signal.Notify); the Go runtime forwards the signals it does not own
 * to the handlers that were installed before it. It uses SIGURG internally.
 *
 * ------------------------------------------------------------------------
 * PANICS
 * ------------------------------------------------------------------------
 *
 * Every exported function recovers a Go panic and returns IC_ERR_INTERNAL
 * with a message naming it; so does every goroutine the library starts.
 * A fault the Go runtime cannot recover from (running out of memory, a
 * pointer into unmapped memory handed to the library as a string) still
 * ends the process.
 */

#ifndef ICECHUNK_H
#define ICECHUNK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================================
 * Versions
 * ====================================================================== */

/* The library version, semantic versioning. */
#define IC_VERSION_MAJOR 0
#define IC_VERSION_MINOR 1
#define IC_VERSION_PATCH 0
#define IC_VERSION_STRING "0.1.0"
/* MAJOR * 1000000 + MINOR * 1000 + PATCH. */
#define IC_VERSION_NUMBER 1000

/*
 * The version of this binary interface: the functions, their parameters,
 * the struct layouts and the enum values of this header. It changes
 * whenever any of those changes incompatibly. A binding compiled against
 * IC_ABI_VERSION must refuse to use a library whose ic_abi_version()
 * differs.
 */
#define IC_ABI_VERSION 1

/* The library's version string, such as "0.1.0". Static; never NULL. */
const char *ic_version_string(void);

/* The library's version number (IC_VERSION_NUMBER of its build). */
uint32_t ic_version_number(void);

/* The library's ABI version; compare it with IC_ABI_VERSION. */
uint32_t ic_abi_version(void);

/* The version of the repository format the library writes, and the newest
 * it reads (docs/format.md); a file of a newer version fails to read with
 * IC_ERR_UNSUPPORTED_VERSION. Upstream Icechunk calls its own spec_version. */
uint32_t ic_format_version(void);

/* ======================================================================
 * Status codes
 * ====================================================================== */

typedef int32_t ic_status;

enum {
    IC_OK = 0,

    /* Misuse of the interface. */
    IC_ERR_INVALID_ARGUMENT = 1,  /* NULL, bad UTF-8, bad JSON, bad size, bad enum value, bad id */
    IC_ERR_INVALID_HANDLE = 2,    /* freed, stale, forged or wrong-type handle */
    IC_ERR_BUFFER_TOO_SMALL = 3,  /* a caller-supplied buffer cannot hold the result */
    IC_ERR_OUT_OF_MEMORY = 4,     /* the C allocator failed */
    IC_ERR_INTERNAL = 5,          /* a bug in the library (a recovered panic, an unclassified error) */
    IC_ERR_CANCELLED = 6,         /* stopped by ic_cancel_trigger; see "Cancellation" */

    /* Repositories and refs. */
    IC_ERR_REPO_NOT_FOUND = 10,
    IC_ERR_REPO_EXISTS = 11,
    IC_ERR_BRANCH_NOT_FOUND = 12,
    IC_ERR_BRANCH_EXISTS = 13,
    IC_ERR_TAG_NOT_FOUND = 14,
    IC_ERR_TAG_EXISTS = 15,       /* also: a deleted tag's name, never reusable */
    IC_ERR_SNAPSHOT_NOT_FOUND = 16,

    /* Nodes, keys and chunks. */
    IC_ERR_NOT_FOUND = 20,        /* no node, key or chunk there */
    IC_ERR_ALREADY_EXISTS = 21,   /* a node is already there */
    IC_ERR_NOT_AN_ARRAY = 22,
    IC_ERR_NOT_A_GROUP = 23,
    IC_ERR_INVALID_KEY = 24,      /* not a Zarr key this store can hold */
    IC_ERR_INVALID_PATH = 25,     /* not a valid node path */
    IC_ERR_INVALID_METADATA = 26, /* zarr.json, shape or chunk shape rejected */
    IC_ERR_INVALID_INDEX = 27,    /* chunk coordinates outside the array's grid */
    IC_ERR_INVALID_RANGE = 28,    /* a byte range no object can satisfy */

    /* Sessions, commits and rebase. */
    IC_ERR_READ_ONLY = 30,        /* a write on a read-only session */
    IC_ERR_NO_CHANGES = 31,       /* commit of a session without changes */
    IC_ERR_CONFLICT = 32,         /* the branch moved since the session's base: rebase, then commit */
    IC_ERR_REBASE_FAILED = 33,    /* conflicts the solver could not solve; see ic_error_conflict */
    IC_ERR_BAD_SNAPSHOT_CHAIN = 34, /* diff: `from` is not an ancestor of `to` */
    IC_ERR_TX_LOGS_DISABLED = 35, /* rebase or diff in a repository without transaction logs */
    IC_ERR_INVALID_TIMESTAMP = 36, /* this machine's clock disagrees with the storage's */
    IC_ERR_INVALID_SESSION_BYTES = 37,
    IC_ERR_VIRTUAL_CHUNK = 38,    /* a virtual chunk cannot be read or is outside every container */

    /* Storage and on-disk format. */
    IC_ERR_STORAGE = 40,          /* the storage failed (I/O, network, permissions); see ic_error_json */
    IC_ERR_CORRUPT = 41,          /* an object of the repository cannot be decoded */
    IC_ERR_UNSUPPORTED_VERSION = 42 /* written by a newer format version */
};

/* The name of a status code ("IC_OK", "IC_ERR_CONFLICT", ...), or
 * "IC_ERR_UNKNOWN" for a value that is not a code. Static; never NULL. */
const char *ic_status_name(ic_status status);

/* ======================================================================
 * Handles
 * ====================================================================== */

typedef uint64_t ic_storage; /* where a repository lives */
typedef uint64_t ic_repo;    /* an open repository */
typedef uint64_t ic_session; /* a read-only or writable view of one snapshot */
typedef uint64_t ic_iter;    /* a paged sequence of JSON values */
typedef uint64_t ic_error;   /* details of one failure */
typedef uint64_t ic_cancel;  /* stops the calls made under it (see "Cancellation") */
typedef uint64_t ic_credentials; /* S3 credentials the caller sets (ic_credentials_new) */

#define IC_NULL_HANDLE ((uint64_t)0)

/* The largest size argument accepted (bytes or element counts). */
#define IC_MAX_SIZE (((size_t)1) << 48)

/* ======================================================================
 * Library settings and memory
 * ====================================================================== */

/*
 * Sets the number of threads that run library code at once (the Go
 * runtime's GOMAXPROCS). n < 1 leaves it unchanged; either way *previous
 * (may be NULL) receives the setting before the call. The default is the
 * number of CPUs. Best called once, before first use; safe at any time.
 */
ic_status ic_set_max_threads(int32_t n, int32_t *previous, ic_error *err);

/*
 * Sets a soft limit, in bytes, on the memory the library's runtime uses;
 * the garbage collector works harder as it is approached. limit < 0 leaves
 * it unchanged; *previous (may be NULL) receives the limit before the call
 * (INT64_MAX: no limit, the default). Apart from any limit, the collector
 * runs once the runtime's heap has grown by half since the last collection
 * (Go's GOGC=50, where Go's default is 100), to keep the library's share of
 * its host process small; a GOGC environment variable set when the library
 * is loaded wins.
 */
ic_status ic_set_memory_limit(int64_t limit, int64_t *previous, ic_error *err);

/*
 * Sets the filter of the library's diagnostic log: lines on standard error
 * (file descriptor 2) about what results do not show, such as requests
 * retried, races for a branch lost, rebases and commits. The filter is a
 * comma-separated list of directives: a level (off, error, warn, info,
 * debug) for every component, or component=level for one. The components
 * are "storage" (debug: every request with its time; info: retries; each
 * line names its store) and "engine" (info: commits, flushes, branch and tag changes,
 * expiration and garbage collection; debug: conflicts, lost races, waits
 * and rebases). Later directives win: "debug,storage=info". Upstream
 * Icechunk's values mean the same: level trace is debug, target icechunk
 * is every component, icechunk::storage (and below) is storage, and any
 * other icechunk::module is engine. filter NULL
 * reads the ICECHUNK_LOG environment variable again; a NULL, empty or
 * blank filter means "warn", the default, under which the library is
 * silent unless something is wrong. At load, the filter comes from
 * ICECHUNK_LOG (an invalid value is reported once on standard error and
 * the default used).
 *
 * *previous (may be NULL) receives the filter in force before the call, a
 * new string to release with ic_string_free. A filter that does not parse
 * is IC_ERR_INVALID_ARGUMENT, naming the directive, and changes nothing.
 * Safe at any time from any thread; the change applies to lines written
 * after it.
 */
ic_status ic_set_logs_filter(const char *filter, char **previous, ic_error *err);

/*
 * Releases a buffer returned by the library (a `uint8_t **` out-parameter).
 * NULL is a no-op. A pointer the library did not return, or one already
 * released, is IC_ERR_INVALID_ARGUMENT and nothing is freed. The library
 * keeps up to three released buffers of 1 MiB or more for its next
 * allocations instead of returning them to malloc.
 */
ic_status ic_buffer_free(void *data);

/* Releases a string returned by the library; as ic_buffer_free. */
ic_status ic_string_free(char *str);

/*
 * Counts what the caller has not released yet: live handles of every type
 * and buffers/strings returned and not freed. For tests and leak hunting.
 * Either pointer may be NULL.
 */
ic_status ic_debug_live_objects(uint64_t *handles, uint64_t *buffers);

/* ======================================================================
 * Cancellation
 *
 * A call that waits for storage (a read, a commit, a listing, a garbage
 * collection) can be stopped from another thread. A thread binds a token
 * with ic_cancel_bind; every call it then makes runs under that token until
 * it binds another or 0. ic_cancel_trigger, from any thread, stops those
 * calls as soon as they can: requests in flight are abandoned, waits end,
 * and the call returns IC_ERR_CANCELLED, whose message says what was
 * stopped. Calls that need no storage (answered from memory) finish as
 * usual. A triggered token stays triggered: calls made under it later are
 * stopped when they would wait.
 *
 * What a stopped call leaves:
 * - A commit, or any change of a branch or tag, that has begun to write
 *   the ref is not stopped: it finishes, so cancelling never leaves it
 *   unknown whether a branch moved. Stopped before that, the branch is as
 *   it was, the session keeps its changes and can commit again, and the
 *   objects already written are garbage for ic_repo_garbage_collect.
 * - Chunks set with ic_store_set_behind keep being written in the
 *   background; a stopped flush or commit leaves them to the next one.
 * - A stopped garbage collection or expiration has done part of its work,
 *   as one that failed; running it again finishes it.
 * ====================================================================== */

/* Creates a token, not triggered. Free it with ic_cancel_free. */
ic_status ic_cancel_new(ic_cancel *out, ic_error *err);

/*
 * Binds token to the calling thread (0: none), for the calls this thread
 * makes from now on; returns IC_ERR_INVALID_HANDLE for a token that is not
 * live, and the binding is then unchanged. A thread's calls while it is
 * bound to a token freed since fail with IC_ERR_INVALID_HANDLE: bind 0
 * before freeing a token.
 */
ic_status ic_cancel_bind(ic_cancel token, ic_error *err);

/* Triggers token: stops the calls made under it, now and later. Safe from
 * any thread, any number of times. */
ic_status ic_cancel_trigger(ic_cancel token, ic_error *err);

/* Whether token was triggered: *triggered = 1 if so. */
ic_status ic_cancel_triggered(ic_cancel token, int32_t *triggered, ic_error *err);

/* Frees token (0 is a no-op). Calls in progress under it are not stopped. */
ic_status ic_cancel_free(ic_cancel token);

/* ======================================================================
 * Errors
 * ====================================================================== */

/* The error's status code; IC_ERR_INVALID_HANDLE if err is not a live
 * error handle. */
ic_status ic_error_code(ic_error err);

/*
 * The error's message: one or more sentences naming what failed and why
 * (for a failed rebase, one line per conflict). Owned by the error, valid
 * until ic_error_free(err); never NULL (a static message if err is not a
 * live error handle).
 */
const char *ic_error_message(ic_error err);

/* The number of conflicts of an IC_ERR_REBASE_FAILED error; 0 for other
 * errors and for invalid handles. */
size_t ic_error_conflict_count(ic_error err);

/* Conflict kinds (the names of upstream Icechunk). "We" are the session
 * being rebased, "they" the commit it is replayed over. */
typedef enum ic_conflict_kind {
    IC_CONFLICT_NEW_NODE_CONFLICTS_WITH_EXISTING_NODE = 1, /* both created a node at path */
    IC_CONFLICT_NEW_NODE_IN_INVALID_GROUP = 2,     /* we created a node inside what they made an array (path) */
    IC_CONFLICT_ZARR_METADATA_DOUBLE_UPDATE = 3,   /* both changed the node's zarr.json */
    IC_CONFLICT_ZARR_METADATA_UPDATE_OF_DELETED_ARRAY = 4,
    IC_CONFLICT_ZARR_METADATA_UPDATE_OF_DELETED_GROUP = 5,
    IC_CONFLICT_CHUNK_DOUBLE_UPDATE = 6,           /* both wrote the chunks in coords */
    IC_CONFLICT_CHUNKS_UPDATED_IN_DELETED_ARRAY = 7,
    IC_CONFLICT_CHUNKS_UPDATED_IN_UPDATED_ARRAY = 8, /* they changed the array's metadata beyond its attributes */
    IC_CONFLICT_DELETE_OF_UPDATED_ARRAY = 9,
    IC_CONFLICT_DELETE_OF_UPDATED_GROUP = 10,
    IC_CONFLICT_DELETE_OF_GROUP_WITH_NEW_CHILDREN = 11 /* they created children (listed) in a group we delete */
} ic_conflict_kind;

/*
 * One conflict of a failed rebase. Every pointer is owned by the error and
 * valid until ic_error_free; strings are never NULL ("" when empty).
 */
typedef struct ic_conflict {
    int32_t kind;               /* an ic_conflict_kind */
    const char *kind_name;      /* "ChunkDoubleUpdate", ... */
    const char *path;           /* the node, such as "/a/b" */
    const char *node_id;        /* the node's id, "" when the kind is about a path */
    const char *commit_id;      /* their commit's snapshot id */
    const char *commit_message; /* their commit's message */
    const char *sentence;       /* one human sentence explaining the conflict */
    size_t coords_count;        /* chunk coordinate tuples (CHUNK_DOUBLE_UPDATE), else 0 */
    size_t coords_rank;         /* entries per tuple */
    const uint32_t *coords;     /* coords_count * coords_rank values, tuple after tuple; NULL if none */
    size_t children_count;      /* their new nodes (DELETE_OF_GROUP_WITH_NEW_CHILDREN), else 0 */
    const char *const *children;/* children_count paths; NULL if none */
} ic_conflict;

/*
 * Fills *out with conflict number index (from 0) of err. IC_ERR_INVALID_ARGUMENT
 * if index >= ic_error_conflict_count(err) or out is NULL;
 * IC_ERR_INVALID_HANDLE if err is not a live error.
 */
ic_status ic_error_conflict(ic_error err, size_t index, ic_conflict *out);

/*
 * Writes the whole error as JSON to *json (caller frees with ic_string_free):
 *   {"code": 33, "code_name": "IC_ERR_REBASE_FAILED", "message": "...",
 *    "snapshot_id": "...",                        (rebase failed: their commit)
 *    "conflicts": [{"kind": 6, "kind_name": "ChunkDoubleUpdate",
 *                   "path": "/a", "node_id": "...", "coords": [[0,1]],
 *                   "children": [], "commit_id": "...",
 *                   "commit_message": "...", "sentence": "..."}],
 *    "branch": "main", "expected_parent": "...", "actual_parent": "...",
 *                                                 (conflict: the branch moved)
 *    "indeterminate": false, "transient": false}  (storage: the write may
 *                                                  have happened; a retry may work)
 * Keys that do not apply are left out.
 */
ic_status ic_error_json(ic_error err, char **json);

/* Releases an error. 0 is a no-op; a second free is IC_ERR_INVALID_HANDLE. */
ic_status ic_error_free(ic_error err);

/* ======================================================================
 * Storage
 * ====================================================================== */

/*
 * A new, empty in-memory storage. name (may be NULL) appears in messages.
 * Its contents live as long as some handle uses it.
 */
ic_status ic_storage_new_memory(const char *name, ic_storage *out, ic_error *err);

/*
 * A storage in the local directory path. The directory (with its parents)
 * is created by the first write, not here: until then the storage reads as
 * empty, so looking for a repository at a wrong path leaves nothing
 * behind. A path naming a file is IC_ERR_STORAGE. Safe for concurrent
 * writers, in this process and others.
 */
ic_status ic_storage_new_local(const char *path, ic_storage *out, ic_error *err);

/*
 * A read-only storage of the files a web server publishes under url (an
 * http:// or https:// URL of a folder; a missing trailing "/" is added),
 * for virtual chunk containers (ic_repo_set_virtual_chunk_storage). Keys
 * are paths under url, as written in a URL: an escape such as %20 stays,
 * and a space, '#' or '?' is escaped (so "a b.nc" and "a%20b.nc" name the
 * same file). Reads are GETs with a Range header, conditional
 * ones (a reference's ETag or time) with If-Match and
 * If-Unmodified-Since; a 429 or 5xx answer and a refused or dropped
 * connection are retried. Writes and listings fail
 * (IC_ERR_STORAGE): a repository cannot live in one. A URL with another
 * scheme, no host, a query or a fragment is IC_ERR_INVALID_ARGUMENT. The
 * server is not contacted here.
 */
ic_status ic_storage_new_http(const char *url, ic_storage *out, ic_error *err);

/* ic_storage_new_http with the HTTP client tuned by options_json (NULL:
 * the defaults), a JSON object of strings holding upstream Icechunk's
 * http_store options:
 *   "timeout"                     a whole request, such as "30s" or "2min 30s"
 *   "connect_timeout"             connecting ("5s"; default 30 s)
 *   "user_agent"                  the User-Agent header sent
 *   "allow_invalid_certificates"  "true": the server's TLS certificate is
 *                                 not checked (any site is trusted; testing only)
 *   "allow_http"                  "false": http:// URLs are refused
 *   "proxy_url"                   an http://, https:// or socks5:// proxy
 *   "pool_idle_timeout"           how long idle connections are kept
 *   "pool_max_idle_per_host"      idle connections kept (default 64)
 *   "http1_only"                  "true": never HTTP/2
 * Durations are spans of a whole number and a unit (ns, us, ms, s, sec,
 * min, m, h, hours, d, days, w...), or Go's form ("1m30s"). An unknown
 * key, a value that does not parse, or a value that is not a string is
 * IC_ERR_INVALID_ARGUMENT naming it. */
ic_status ic_storage_new_http_options(const char *url, const char *options_json, ic_storage *out,
                                      ic_error *err);

/* Where S3 credentials come from. */
typedef enum ic_s3_credentials {
    IC_S3_CREDENTIALS_STATIC = 1,    /* access_key_id + secret_access_key (+ session_token) */
    IC_S3_CREDENTIALS_FROM_ENV = 2,  /* the AWS default chain: environment (as at load time), shared files, roles */
    IC_S3_CREDENTIALS_ANONYMOUS = 3  /* unsigned requests, for public buckets */
} ic_s3_credentials;

/* S3 settings. Strings may be NULL (meaning empty) except bucket. */
typedef struct ic_s3_options {
    const char *bucket;            /* required */
    const char *prefix;            /* folder inside the bucket; "" = bucket root */
    const char *region;            /* "" = the environment's (from_env) or us-east-1 */
    const char *endpoint;          /* "" = AWS; "http://127.0.0.1:9000" for MinIO */
    int32_t force_path_style;      /* non-zero: host/bucket/key addressing (MinIO, Ceph) */
    int32_t allow_http;            /* non-zero: permit a plain-http endpoint */
    int32_t credentials;           /* an ic_s3_credentials */
    const char *access_key_id;     /* static credentials only */
    const char *secret_access_key; /* static credentials only */
    const char *session_token;     /* static credentials only; may be NULL */
    int32_t max_connections;       /* 0 = default (256) */
} ic_s3_options;

/*
 * A storage in an S3 bucket (AWS or an S3-compatible service). Nothing is
 * contacted until the first operation. Invalid settings are
 * IC_ERR_INVALID_ARGUMENT; messages never contain secrets.
 */
ic_status ic_storage_new_s3(const ic_s3_options *options, ic_storage *out, ic_error *err);

/*
 * As ic_storage_new_s3, from the JSON form:
 *   {"bucket": "b", "prefix": "repos/r1", "region": "us-east-1",
 *    "endpoint": "http://127.0.0.1:9000", "force_path_style": true,
 *    "allow_http": true, "access_key_id": "...", "secret_access_key": "...",
 *    "session_token": "", "from_env": false, "anonymous": false,
 *    "max_connections": 256, "network_stream_timeout_seconds": 60}
 * Exactly one credential source: static keys, from_env or anonymous.
 * network_stream_timeout_seconds (upstream Icechunk's option) fails a
 * request when no byte crosses its connection for that long: a server that
 * hangs, or a transfer that stalled; a slow transfer that still moves is
 * never cut. Left out: 60; 0: no timeout. The failure is IC_ERR_STORAGE
 * naming the option, after the storage's retries (each waits as long).
 */
ic_status ic_storage_new_s3_json(const char *config_json, ic_storage *out, ic_error *err);

/*
 * A source of S3 credentials for ic_storage_new_s3_refreshable (upstream
 * Icechunk's refreshable credentials). It writes the credentials into buf
 * as JSON,
 *   {"access_key_id": "...", "secret_access_key": "...", "session_token": "...",
 *    "expires_after_unix_nanos": 1700000000000000000}
 * (session_token and expires_after_unix_nanos optional), and returns the
 * JSON's length. If that is more than cap it returns the length without
 * writing, and is called again with a buffer that large. On failure it
 * returns -1, and may first write a NUL-terminated message into buf, which
 * the error of the request that needed the credentials carries. The
 * library calls it for the first request and again about 30 seconds before
 * the credentials expire (never, without expires_after_unix_nanos), from
 * threads of its own, never twice at once for one storage; user_data is
 * passed back as given.
 */
typedef int64_t (*ic_credentials_fn)(void *user_data, char *buf, size_t cap);

/*
 * As ic_storage_new_s3_json, with the credentials fetched from fn:
 * config_json names no other source (no keys, from_env or anonymous). fn
 * and user_data must stay valid as long as the storage, or any repository,
 * session or store opened through it, is alive: in practice, for the life
 * of the process. Nothing is called until the first request.
 */
ic_status ic_storage_new_s3_refreshable(const char *config_json, ic_credentials_fn fn, void *user_data, ic_storage *out, ic_error *err);

/*
 * S3 credentials that the caller sets, for callers that cannot run code on
 * the library's threads as ic_credentials_fn must (Julia before 1.9, whose
 * code runs on its own threads only). A storage made with
 * ic_storage_new_s3_credentials signs each request with the credentials
 * set last. The caller sets new ones before those expire, from a timer of
 * its own. A request that needs credentials when none were set, or when
 * those set last have expired, fails at once with IC_ERR_STORAGE saying
 * so: it does not wait, since the thread that would set them may be the
 * one making the request. Thread-safe.
 */

/* Creates a holder with no credentials yet. Free it with ic_credentials_free. */
ic_status ic_credentials_new(ic_credentials *out, ic_error *err);

/*
 * Sets the credentials, in the JSON form ic_credentials_fn writes:
 *   {"access_key_id": "...", "secret_access_key": "...", "session_token": "...",
 *    "expires_after_unix_nanos": 1700000000000000000}
 * (session_token and expires_after_unix_nanos optional). Requests from then
 * on use them. Malformed JSON, or no access key id or secret, is
 * IC_ERR_INVALID_ARGUMENT (the message never quotes the JSON) and keeps
 * the credentials set before.
 */
ic_status ic_credentials_set(ic_credentials creds, const char *json, ic_error *err);

/* Releases the handle. Storages made with it keep the credentials set
 * last, and fail their requests once those expire. */
ic_status ic_credentials_free(ic_credentials creds);

/*
 * As ic_storage_new_s3_json, signing with the credentials set on creds:
 * config_json names no other source (no keys, from_env or anonymous).
 */
ic_status ic_storage_new_s3_credentials(const char *config_json, ic_credentials creds, ic_storage *out, ic_error *err);

/* A description of the storage for messages ("local:/data/repo",
 * "s3://bucket/prefix"), without credentials. Caller frees *out. */
ic_status ic_storage_describe(ic_storage storage, char **out, ic_error *err);

/*
 * The storage settings a repository in this storage uses when its config
 * sets none, every field filled in, in the form of the config's "storage"
 * object: {"retries": {"max_tries", "initial_backoff_ms",
 * "max_backoff_ms"}, "concurrency": {"max_concurrent_requests_for_object",
 * "ideal_concurrent_request_size"}, "unsafe_use_conditional_create": true,
 * "minimum_size_for_multipart_upload"}.
 * A start for settings that change one of them. Caller frees *json.
 */
ic_status ic_storage_default_settings(ic_storage storage, char **json, ic_error *err);

/* Releases the handle. Repositories opened on it keep working. */
ic_status ic_storage_free(ic_storage storage);

/* ======================================================================
 * Repositories
 * ====================================================================== */

/*
 * Repository configuration, as JSON (every key optional on input; a key
 * left out keeps its current or default value):
 *   {"inline_chunk_threshold": 512,      chunks up to this many bytes live in manifests
 *    "manifest_block_chunks": 65536,     chunk references per manifest
 *    "snapshot_cache_bytes": 268435456,
 *    "manifest_cache_bytes": 268435456,
 *    "disable_transaction_logs": false,  true gives up rebase and diff
 *    "virtual_chunk_containers": [{"name": "data", "url_prefix": "file:///data/"}]}
 * A container may carry "store": how to reach its objects, kept for the
 * bindings (never credentials; the library does not connect by itself:
 * register a storage with ic_repo_set_virtual_chunk_storage):
 *   {"kind": "s3", "region": "...", "endpoint_url": "...", "allow_http": false,
 *    "force_path_style": false, "anonymous": false,
 *    "network_stream_timeout_seconds": 60}          for s3:// prefixes, or
 *   {"kind": "local_filesystem", "path": "/data"}     for file:// prefixes, or
 *   {"kind": "http", "options": {"timeout": "30s"}}   for http:// and https:// prefixes
 *                                   (read through ic_storage_new_http_options;
 *                                   "options" as it takes them, may be left out).
 * "storage" (omitted when unset; null clears it) tunes how a handle talks
 * to its storage, and takes effect at once on the handle that sets it:
 *   {"retries": {"max_tries": 6, "initial_backoff_ms": 50, "max_backoff_ms": 2000},
 *    "storage_class": "STANDARD_IA",          every object written to S3
 *    "metadata_storage_class": "STANDARD",    overrides it for metadata objects
 *    "chunks_storage_class": "INTELLIGENT_TIERING",  and for chunk objects
 *    "concurrency": {"max_concurrent_requests_for_object": 18,
 *                    "ideal_concurrent_request_size": 12582912},
 *    "unsafe_use_conditional_create": false,
 *    "minimum_size_for_multipart_upload": 104857600}
 * max_tries counts the first try; a retry waits a random time up to
 * initial_backoff_ms, doubling per retry up to max_backoff_ms. Storage
 * classes apply to S3 only (an S3 server refuses a class it lacks: the
 * write fails naming it); local and in-memory storage ignore them. Unset
 * fields keep the defaults (6 tries, 50 ms, 2000 ms; the bucket's class).
 * "concurrency" splits a read of a chunk (native, or virtual with a
 * reference that pins the object's ETag or time) larger than
 * ideal_concurrent_request_size bytes (default 12 MiB) into that many
 * ranged reads, rounded up and at most max_concurrent_requests_for_object
 * (default 18, at most 65535), that run at once; each counts against
 * "max_concurrent_requests".
 * "minimum_size_for_multipart_upload" (bytes; default 100 MiB): on S3 an
 * object at least that large (a large chunk, a batch of chunks, a large
 * manifest) is written as a multipart upload of 8 MiB parts, at most
 * max_concurrent_requests_for_object of them at once, each retried on its
 * own and counted against "max_concurrent_requests". A failed upload is
 * aborted, so no parts stay stored. Local and in-memory storage write
 * every object whole.
 * "unsafe_use_conditional_create": false is for stores that refuse
 * create-only writes (If-None-Match): each is then a check that the object
 * is absent, a plain write and a read back. Unsafe: two writers committing
 * to one branch at once can both succeed, one commit then lost. Upstream's
 * "unsafe_use_conditional_update" and "unsafe_use_metadata" are accepted
 * with no effect and not kept (the library never writes over an object
 * conditionally and never stamps objects with metadata).
 * "compression" (omitted when unset; null clears it) sets the zstd level
 * of the snapshots, manifests and transaction logs written from then on:
 *   {"algorithm": "zstd", "level": 9}        level 1 to 22
 * Unset, the library chooses by file (its fastest level, the default one
 * for manifests of virtual references). Readers need not know the level.
 * "manifest" (omitted when unset; given, it replaces the current one whole;
 * null clears it) splits arrays' manifests and preloads manifests, as
 * upstream Icechunk's ManifestConfig:
 *   {"splitting": [{"if": COND, "dims": [DIM, ...]}, ...],
 *    "preload": {"if": COND, "max_total_refs": 10000}}
 * A new array (or one whose rank changed) gets the block shape of the first
 * splitting rule whose condition it meets: along each dimension, the
 * "chunks" of the first DIM matching it, where a DIM is
 *   {"kind": "axis", "axis": 0, "chunks": 24}
 *   {"kind": "dimension_name", "regex": "^time$", "chunks": 24}
 *   {"kind": "any", "chunks": 1}
 * and a dimension no DIM matches is not split. With no matching rule the
 * array gets manifest_block_chunks references per manifest. An array keeps
 * its shape when the rules change, until ic_repo_rewrite_manifests. A COND
 * is {"op": "path_matches", "regex": "^/ocean/"} (the absolute path),
 * {"op": "name_matches", "regex": "temp"} (the last name), {"op": "any_array"}
 * (splitting only), {"op": "num_refs", "from": 1, "to": 1000} (preload only:
 * the manifest's chunk references, from inclusive, to exclusive, each
 * optional), {"op": "true"}, {"op": "false"} (preload only), or
 * {"op": "and" | "or", "of": [COND, ...]}. Regexes use Go's RE2 syntax and
 * match anywhere unless anchored. A session opened on a handle with
 * "preload" starts loading, in the background, the manifests meeting its
 * condition, in snapshot order while their references fit in
 * max_total_refs (default 10000).
 * "caching" (omitted when unset; keys overlay one by one; null clears it)
 * bounds the caches in upstream Icechunk's units instead of bytes:
 *   {"num_snapshot_nodes": 500000,     nodes of the snapshots cached
 *    "num_chunk_refs": 15000000,       chunk references of the manifests cached
 *    "num_transaction_changes": 0,     nodes and chunks of the transaction logs cached
 *    "num_bytes_attributes": 0,        accepted, no effect (attributes live in snapshots)
 *    "num_bytes_chunks": 0}            must be 0: chunks are not cached
 * A key left out keeps that cache bounded by its *_cache_bytes.
 * "max_concurrent_requests" (0 or omitted: no bound of the handle's own)
 * bounds the storage requests a repository handle has in flight at once;
 * a request waits for a slot, listings are not counted.
 * "get_partial_values_concurrency" (0 or omitted: 32) bounds the reads one
 * many-key read (ic_store_get_many and its kin) runs at once.
 */

/*
 * Creates a repository in storage, with an initial empty commit on branch
 * "main". config_json may be NULL (defaults). IC_ERR_REPO_EXISTS if the
 * storage already holds one, even when two processes create at once.
 * IC_ERR_INVALID_ARGUMENT, naming a file, if it holds files that are not a
 * repository's (a repository's garbage collection owns its location);
 * IC_ERR_UNSUPPORTED_VERSION if it holds an upstream Icechunk repository.
 * Caller frees *out with ic_repo_free.
 */
ic_status ic_repo_create(ic_storage storage, const char *config_json, ic_repo *out, ic_error *err);

/* Opens the repository in storage (IC_ERR_REPO_NOT_FOUND if none), with
 * its stored configuration. Caller frees *out. */
ic_status ic_repo_open(ic_storage storage, ic_repo *out, ic_error *err);

/*
 * Opens the repository in storage, as ic_repo_open, using config_json (as
 * ic_repo_use_config takes it: applied over the stored configuration, in
 * this handle only, not stored). Its "storage" settings are in force from
 * the first read: a retry bound given here bounds the reads that open the
 * repository too. config_json may be NULL (ic_repo_open). A configuration
 * that does not parse or validate is IC_ERR_INVALID_ARGUMENT, before
 * anything is read. Caller frees *out.
 */
ic_status ic_repo_open_config(ic_storage storage, const char *config_json, ic_repo *out, ic_error *err);

/* Opens the repository in storage, creating it (with config_json, may be
 * NULL) if there is none. The storage settings of config_json are in force
 * while the repository is looked for. Caller frees *out. */
ic_status ic_repo_open_or_create(ic_storage storage, const char *config_json, ic_repo *out, ic_error *err);

/* *exists = 1 if storage holds a repository, else 0. */
ic_status ic_repo_exists(ic_storage storage, int32_t *exists, ic_error *err);

/* Releases the handle. Sessions opened from it keep working. */
ic_status ic_repo_free(ic_repo repo);

/* The repository's configuration as JSON (see above). Caller frees *json. */
ic_status ic_repo_config_get(ic_repo repo, char **json, ic_error *err);

/*
 * Stores a new configuration: json is applied over the current one. This
 * handle and handles opened afterwards use it (this handle's caches take
 * their new bounds at once, dropping what no longer fits).
 */
ic_status ic_repo_config_set(ic_repo repo, const char *json, ic_error *err);

/*
 * Uses a configuration in this handle only, without storing it: json is
 * applied over the handle's current one, sessions opened afterwards use
 * it, and other handles and later opens do not see it (store it with
 * ic_repo_config_set). The caches take their new bounds at once. Needs no write access
 * to the storage. IC_ERR_INVALID_ARGUMENT for a configuration that does
 * not validate.
 */
ic_status ic_repo_use_config(ic_repo repo, const char *json, ic_error *err);

/* Sets metadata (a JSON object) merged into every commit of the sessions
 * created afterwards from this handle; a commit's own keys win. */
ic_status ic_repo_set_default_commit_metadata(ic_repo repo, const char *json, ic_error *err);

/* The default commit metadata, a JSON object. Caller frees *json. */
ic_status ic_repo_default_commit_metadata(ic_repo repo, char **json, ic_error *err);

/*
 * Registers the storage that serves virtual chunks whose location starts
 * with url_prefix, which must be a virtual chunk container of the
 * configuration. file:// containers need none. Reads through it are
 * retried with the configuration's "retries", and large ones split as
 * its "concurrency" says.
 */
ic_status ic_repo_set_virtual_chunk_storage(ic_repo repo, const char *url_prefix, ic_storage storage, ic_error *err);

/* --- Branches ------------------------------------------------------------
 * Branch and tag names are 1-255 bytes of printable UTF-8 (letters, digits,
 * punctuation, symbols, spaces) without '/' or '\\', not starting with '.'
 * (else IC_ERR_INVALID_ARGUMENT). */

/* Creates branch name at snapshot_id. IC_ERR_BRANCH_EXISTS, IC_ERR_SNAPSHOT_NOT_FOUND. */
ic_status ic_repo_create_branch(ic_repo repo, const char *name, const char *snapshot_id, ic_error *err);

/* The branch names, sorted, as a JSON array of strings. Caller frees *json. */
ic_status ic_repo_list_branches(ic_repo repo, char **json, ic_error *err);

/* The snapshot id at the tip of the branch. Caller frees *snapshot_id. */
ic_status ic_repo_lookup_branch(ic_repo repo, const char *name, char **snapshot_id, ic_error *err);

/* Deletes a branch (not "main"), even one whose head entry is damaged. */
ic_status ic_repo_delete_branch(ic_repo repo, const char *name, ic_error *err);

/*
 * Points the branch at snapshot_id. If expected_tip is not NULL the reset
 * happens only while the tip is still expected_tip (else IC_ERR_CONFLICT).
 * With expected_tip NULL it also repairs a branch whose head entry is
 * damaged (every read of the branch IC_ERR_CORRUPT): the new head follows
 * the damaged entry, which stays in the branch's log.
 */
ic_status ic_repo_reset_branch(ic_repo repo, const char *name, const char *snapshot_id, const char *expected_tip, ic_error *err);

/*
 * Commits on branch a snapshot with the tip's nodes and chunks whose
 * arrays' chunk references are rewritten into manifests of the block shape
 * the configuration's "manifest" splitting rules give each array now (the
 * default shape for arrays no rule matches), and returns its id (caller
 * frees *snapshot_id; it may be NULL). metadata_json (may be NULL) is
 * merged over the default commit metadata; "splitting_config" is set to
 * the rules when there are any. The transaction log records no change.
 * IC_ERR_BRANCH_NOT_FOUND; IC_ERR_CONFLICT if the branch moved meanwhile
 * (nothing committed: call again).
 */
ic_status ic_repo_rewrite_manifests(ic_repo repo, const char *branch, const char *message, const char *metadata_json, char **snapshot_id, ic_error *err);

/*
 * Commits on branch a snapshot with the tip's nodes and data in which the
 * chunks that sit in mostly unused chunk objects are copied into new ones.
 * A chunk object is stored whole: one whose other chunks later commits
 * rewrote keeps all its bytes while the tip uses any of them, and
 * ic_repo_garbage_collect cannot free part of it. After a repack only
 * snapshots before the commit use the old objects; expiring them
 * (ic_repo_expire_snapshots with the commit's time) lets a collection free
 * those objects, once no branch or tag reaches a snapshot before the
 * commit. The collection's cutoff is still bound by
 * ic_repo_garbage_collect's rule (older than the start of every session
 * writing), and objects written just before it are kept for a later one.
 *
 * An object is repacked when the tip's chunks in it take at most
 * max_live_fraction of its size, and not all of it (in (0, 1]; 0 means
 * 0.5, else IC_ERR_INVALID_ARGUMENT; 1 repacks every object with a byte
 * the tip does not use). The commit's message is message; metadata_json
 * (may be NULL) is merged over the default commit metadata. The
 * transaction log records no change: diffs pass over the commit, and a
 * session that committed meanwhile rebases over it, its chunks winning.
 * With dry_run != 0 nothing is copied or committed, and the counts say
 * what a repack would do. On success *json (caller frees) is
 *   {"snapshot_id": "…", "objects_repacked": 1, "chunks_moved": 4,
 *    "bytes_moved": 4000, "bytes_freeable": 16000, "dry_run": false}
 * with "snapshot_id" null when nothing was committed (no object
 * qualified, or a dry run); bytes_freeable is the repacked objects' size
 * less the bytes moved. IC_ERR_BRANCH_NOT_FOUND; IC_ERR_CONFLICT if the
 * branch moved meanwhile (nothing committed: call again; a rebase could put
 * the old copy of a chunk over a newer value); IC_ERR_NOT_FOUND, naming
 * one, if chunk objects the tip uses are not in storage (nothing copied).
 */
ic_status ic_repo_repack_chunks(ic_repo repo, const char *branch, const char *message, const char *metadata_json, double max_live_fraction, int32_t dry_run, char **json, ic_error *err);

/* --- Tags ---------------------------------------------------------------- */

/* Creates an immutable tag at snapshot_id. IC_ERR_TAG_EXISTS. */
ic_status ic_repo_create_tag(ic_repo repo, const char *name, const char *snapshot_id, ic_error *err);

/* The tag names, sorted, as a JSON array of strings. Caller frees *json. */
ic_status ic_repo_list_tags(ic_repo repo, char **json, ic_error *err);

/* The snapshot id a tag points at. Caller frees *snapshot_id. */
ic_status ic_repo_lookup_tag(ic_repo repo, const char *name, char **snapshot_id, ic_error *err);

/* Deletes a tag; its name can never be used again. */
ic_status ic_repo_delete_tag(ic_repo repo, const char *name, ic_error *err);

/* --- Versions and history ------------------------------------------------ */

/* What a version names. */
typedef enum ic_version_kind {
    IC_AT_BRANCH = 1,   /* the tip of branch `name`, or with as_of its newest commit at or before then */
    IC_AT_TAG = 2,      /* the snapshot of tag `name` */
    IC_AT_SNAPSHOT = 3  /* the snapshot whose id is `name` */
} ic_version_kind;

/* A version of the repository: a branch (optionally as of a time), a tag
 * or a snapshot id. */
typedef struct ic_version {
    int32_t kind;              /* an ic_version_kind */
    const char *name;          /* branch name, tag name or snapshot id */
    int64_t as_of_unix_nanos;  /* IC_AT_BRANCH only; 0 = the tip */
} ic_version;

/* The snapshot id a version names. Caller frees *snapshot_id. */
ic_status ic_repo_resolve(ic_repo repo, const ic_version *version, char **snapshot_id, ic_error *err);

/*
 * A snapshot's description as JSON; caller frees *json:
 *   {"id": "...", "parent_id": "..." or null, "written_at": "2025-01-02T03:04:05.123456789Z",
 *    "written_at_unix_nanos": 1735787045123456789, "message": "...", "metadata": {...},
 *    "manifests": [{"id": "...", "size_bytes": 1234, "num_chunk_refs": 16}]}
 * manifests are the manifest files the snapshot lists, sorted by id ([]
 * for a snapshot without chunks); num_chunk_refs counts inline and virtual
 * references too.
 */
ic_status ic_repo_snapshot_info(ic_repo repo, const char *snapshot_id, char **json, ic_error *err);

/*
 * Describes the snapshot file snapshot_id as it is stored, in the shape of
 * upstream Icechunk's inspect_snapshot, as JSON; caller frees *json:
 *   {"id": "...", "parent_id": "..." or null, "flushed_at": "2026-11-22T08:26:18.611622Z",
 *    "commit_message": "...", "metadata": {...},
 *    "manifests": [{"id": "...", "size_bytes": 1234, "num_chunk_refs": 16}],
 *    "nodes": [{"id": "...", "path": "/", "node_type": "group"},
 *              {"id": "...", "path": "/a", "node_type": "array",
 *               "manifest_refs": [{"id": "...", "extents": [[0, 4], [0, 2]]}]}]}
 * flushed_at is RFC 3339 in UTC with microseconds; parent_id is null for
 * the repository's initial snapshot; manifests are the manifest files the
 * snapshot lists; nodes are sorted by path, and only arrays have
 * manifest_refs (each manifest with the chunk indices [start, end) it
 * covers per dimension; [] for an array without chunks). A snapshot whose
 * older history was expired (ic_repo_expire_snapshots rewrote it) also has
 * "history_cut": true; other snapshots have no such key.
 * IC_ERR_SNAPSHOT_NOT_FOUND if there is no such snapshot;
 * IC_ERR_INVALID_ARGUMENT for a malformed id.
 */
ic_status ic_repo_inspect_snapshot(ic_repo repo, const char *snapshot_id, char **json, ic_error *err);

/*
 * An iterator over the version's snapshot and its ancestors, newest first,
 * each item a snapshot description as ic_repo_snapshot_info gives. History
 * is read one snapshot per item. Caller frees *out with ic_iter_free.
 */
ic_status ic_repo_ancestry(ic_repo repo, const ic_version *version, ic_iter *out, ic_error *err);

/*
 * The first `limit` entries (0 = all) of the ancestry as one JSON array.
 * To page through a long history, call again with IC_AT_SNAPSHOT and the
 * last entry's parent_id. Caller frees *json.
 */
ic_status ic_repo_ancestry_json(ic_repo repo, const ic_version *version, size_t limit, char **json, ic_error *err);

/*
 * What changed from one version to another (from must be an ancestor of
 * to: IC_ERR_BAD_SNAPSHOT_CHAIN otherwise), as JSON; caller frees *json:
 *   {"new_groups": ["/g"], "new_arrays": ["/g/a"], "deleted_groups": [],
 *    "deleted_arrays": [], "updated_groups": [], "updated_arrays": [],
 *    "updated_chunks": {"/g/a": [[0, 0], [0, 1]]}}
 * Paths and coordinates are sorted.
 */
ic_status ic_repo_diff(ic_repo repo, const ic_version *from, const ic_version *to, char **json, ic_error *err);

/* --- Garbage collection and expiring history ----------------------------- */

/*
 * Deletes the objects no branch or tag can reach: snapshots that are not
 * the tip of a branch, a tag's snapshot or an ancestor of one, their
 * transaction logs, manifests no reachable snapshot lists, and chunk
 * objects no reachable manifest names (among them the chunks of sessions
 * that never committed and the files a crash left). Refs, the config and
 * keys that are not the repository's objects are never touched.
 *
 * Only objects last written (by the storage's clock) before
 * delete_older_than_unix_nanos are deleted; it must be after 1970
 * (IC_ERR_INVALID_ARGUMENT otherwise). Choose it older than the start of
 * every session still writing to the repository: the chunks such a session
 * wrote are not yet named by any snapshot, and deleting them would make
 * its commit name missing objects. Storage timestamps are coarser than
 * the wall clock (S3 lists them to the second, files carry the kernel's
 * tick), so objects stamped just before the cutoff (within a second on
 * S3, 50 ms on local disk) are kept too, for a later collection: one
 * written after the cutoff may carry such a time. Read-only sessions at a
 * snapshot that becomes unreachable fail on their next read of a deleted
 * object. This
 * handle forgets what it deleted (opening a deleted snapshot through it is
 * IC_ERR_SNAPSHOT_NOT_FOUND); other handles may still hold one they read
 * before in their caches.
 *
 * Everything reachable is found before anything is deleted: if part of the
 * reachable history cannot be read, the call fails and deletes nothing.
 * With dry_run != 0 nothing is deleted and the counts say what would be.
 * On success *json (caller frees) is
 *   {"snapshots_deleted": 2, "manifests_deleted": 2, "transaction_logs_deleted": 2,
 *    "chunks_deleted": 5, "bytes_deleted": 1234567, "dry_run": false}
 * where chunks_deleted counts chunk objects (one may hold many chunks). A
 * failure part-way leaves only unreachable objects deleted; calling again
 * finishes the job.
 */
ic_status ic_repo_garbage_collect(ic_repo repo, int64_t delete_older_than_unix_nanos, int32_t dry_run, char **json, ic_error *err);

/*
 * Cuts the snapshots written before older_than_unix_nanos (after 1970, else
 * IC_ERR_INVALID_ARGUMENT) out of the history of every branch and tag, so
 * that ic_repo_garbage_collect can then delete them with the manifests and
 * chunks only they use; nothing is deleted here. For each ref, the oldest
 * snapshot it keeps (its own, if that is expired) is rewritten
 * in place with the repository's initial snapshot as its parent: ids,
 * contents and newer snapshots do not change. A diff across such a
 * rewritten snapshot fails (IC_ERR_BAD_SNAPSHOT_CHAIN) rather than replay a
 * change from a parent it no longer has. A rebase takes the commits it
 * passes from the branch's log, so a session based before the cut still
 * rebases while their transaction logs exist; where the log cannot tell (a
 * reset since the session's base) it fails at the cut
 * (IC_ERR_REBASE_FAILED). Refs whose
 * snapshot is expired keep it, but not the history behind it, unless
 * delete_expired_branches / delete_expired_tags != 0 ("main" is never
 * deleted, nor a branch a commit moved before its delete). An administrative operation: not beside another expiration, a
 * garbage collection, or branch resets and deletes; other handles may see
 * the old history from their caches until opened again.
 * On success *json (caller frees) is, every list sorted (expired_snapshots:
 * those cut out of a history, and those of a deleted ref's history that no
 * remaining ref reaches):
 *   {"expired_snapshots": ["..."], "rewritten_snapshots": ["..."],
 *    "deleted_branches": ["..."], "deleted_tags": ["..."]}
 */
ic_status ic_repo_expire_snapshots(ic_repo repo, int64_t older_than_unix_nanos, int32_t delete_expired_branches, int32_t delete_expired_tags, char **json, ic_error *err);

/*
 * The bytes of the chunks the history of every branch and tag refers to
 * (upstream Icechunk's chunk_storage_stats), as JSON; caller frees *json:
 *   {"native_bytes": 1048576, "virtual_bytes": 4096, "inlined_bytes": 96}
 * native_bytes are the chunks in the repository's chunk objects, each
 * counted once however many snapshots or manifests refer to it (chunks
 * packed into one object count each at its own offset; bytes of an object
 * no reachable chunk covers are not counted); virtual_bytes the bytes
 * virtual chunks read elsewhere, each (location, offset, length) once;
 * inlined_bytes the chunks held in manifests, once per manifest. Snapshots
 * no ref reaches (left by a reset, a deleted branch, an expiration, or
 * ic_session_flush_snapshot) do not count. Reads every reachable snapshot
 * and manifest, as ic_repo_garbage_collect does before deleting; fails if
 * one cannot be read.
 */
ic_status ic_repo_chunk_storage_stats(ic_repo repo, char **json, ic_error *err);

/* --- Sessions ------------------------------------------------------------ */

/* A read-only session at a version. Caller frees *out with ic_session_free. */
ic_status ic_repo_readonly_session(ic_repo repo, const ic_version *version, ic_session *out, ic_error *err);

/* A writable session on branch, based on its tip. Caller frees *out. */
ic_status ic_repo_writable_session(ic_repo repo, const char *branch, ic_session *out, ic_error *err);

/* Restores a session serialized with ic_session_to_bytes (in this process or
 * another) into this repository. IC_ERR_INVALID_SESSION_BYTES for bad bytes.
 * The bytes name the repository they were made in: restored into another
 * one, whose storage lacks their chunks, the session reads, but committing
 * it or merging it as a fork is IC_ERR_INVALID_SESSION_BYTES. Caller frees
 * *out. */
ic_status ic_repo_session_from_bytes(ic_repo repo, const uint8_t *data, size_t len, ic_session *out, ic_error *err);

/* ======================================================================
 * Iterators
 * ====================================================================== */

/*
 * The next item as JSON (caller frees *json), or *done = 1 and *json = NULL
 * at the end. json and done must not be NULL.
 */
ic_status ic_iter_next(ic_iter iter, char **json, int32_t *done, ic_error *err);

/*
 * Up to max items (0 = all that remain) as one JSON array (caller frees
 * *json); *count (may be NULL) receives the number of items. An empty
 * array means the end.
 */
ic_status ic_iter_next_page(ic_iter iter, size_t max, char **json, size_t *count, ic_error *err);

/* Releases the iterator. */
ic_status ic_iter_free(ic_iter iter);

/* ======================================================================
 * Sessions
 * ====================================================================== */

/* Releases the session; its uncommitted changes are dropped. */
ic_status ic_session_free(ic_session session);

/* The branch a writable session commits to, "" for a read-only one. Caller frees *branch. */
ic_status ic_session_branch(ic_session session, char **branch, ic_error *err);

/* The snapshot the session reads (its base). Caller frees *snapshot_id. */
ic_status ic_session_snapshot_id(ic_session session, char **snapshot_id, ic_error *err);

/* *read_only = 1 if the session rejects writes (read-only sessions, and
 * writable ones after they commit). */
ic_status ic_session_read_only(ic_session session, int32_t *read_only, ic_error *err);

/* *has_changes = 1 if the session holds uncommitted changes. A session
 * whose every change a rebase dropped (the other commit won each conflict)
 * still has one: its status lists nothing, and its commit records, on top
 * of the other, that its work gave way (as upstream Icechunk's does). */
ic_status ic_session_has_changes(ic_session session, int32_t *has_changes, ic_error *err);

/* *is_fork = 1 if the session is a fork (see ic_session_fork). */
ic_status ic_session_is_fork(ic_session session, int32_t *is_fork, ic_error *err);

/* --- Nodes ---------------------------------------------------------------
 * Paths are "/" for the root and "/a/b" (or "a/b") below it. zarr_json is
 * the node's zarr.json document, stored as given. */

/* Adds a group. IC_ERR_ALREADY_EXISTS if a node is there. */
ic_status ic_session_add_group(ic_session session, const char *path, const uint8_t *zarr_json, size_t zarr_json_len, ic_error *err);

/*
 * Adds an array of ndim dimensions with the given shape and chunk shape
 * (ndim values each; may be NULL when ndim is 0). dimension_names is NULL
 * (no names) or ndim strings (a NULL entry is an unnamed dimension, "").
 */
ic_status ic_session_add_array(ic_session session, const char *path, const uint64_t *shape, const uint64_t *chunk_shape, size_t ndim, const char *const *dimension_names, const uint8_t *zarr_json, size_t zarr_json_len, ic_error *err);

/* Replaces the definition of the array at path (as ic_session_add_array).
 * Chunks outside a smaller grid disappear. */
ic_status ic_session_update_array(ic_session session, const char *path, const uint64_t *shape, const uint64_t *chunk_shape, size_t ndim, const char *const *dimension_names, const uint8_t *zarr_json, size_t zarr_json_len, ic_error *err);

/* Replaces the zarr.json of the group at path. */
ic_status ic_session_update_group(ic_session session, const char *path, const uint8_t *zarr_json, size_t zarr_json_len, ic_error *err);

/* Deletes the array at path; a missing array is not an error. */
ic_status ic_session_delete_array(ic_session session, const char *path, ic_error *err);

/* Deletes the group at path and everything below; a missing group is not an error. */
ic_status ic_session_delete_group(ic_session session, const char *path, ic_error *err);

/* Deletes whatever node is at path, with its descendants. */
ic_status ic_session_delete_node(ic_session session, const char *path, ic_error *err);

/*
 * The node at path as JSON (IC_ERR_NOT_FOUND if none); caller frees *json:
 *   {"path": "/a", "type": "array", "id": "...", "zarr_metadata": {...},
 *    "shape": [4, 8], "chunk_shape": [2, 4], "dimension_names": ["y", "x"] or null}
 * zarr_metadata is the document itself when it is JSON, else a string of
 * its bytes; shape, chunk_shape and dimension_names are arrays' only.
 */
ic_status ic_session_get_node(ic_session session, const char *path, char **json, ic_error *err);

/* Every node, sorted by path, as a JSON array of ic_session_get_node objects. */
ic_status ic_session_list_nodes(ic_session session, char **json, ic_error *err);

/* --- Chunks --------------------------------------------------------------
 * coords holds ndim chunk indices (may be NULL when ndim is 0). */

/* How much of a value to read. */
typedef enum ic_range_kind {
    IC_RANGE_ALL = 0,     /* the whole value */
    IC_RANGE_BOUNDED = 1, /* bytes [start, end) */
    IC_RANGE_FROM = 2,    /* bytes [start, end of value) */
    IC_RANGE_SUFFIX = 3   /* the last `start` bytes */
} ic_range_kind;

/* A byte range. Ranges are cut at the end of the value; negative numbers
 * and end < start are IC_ERR_INVALID_RANGE. A NULL ic_byte_range pointer
 * means IC_RANGE_ALL. */
typedef struct ic_byte_range {
    int32_t kind;  /* an ic_range_kind */
    int64_t start;
    int64_t end;
} ic_byte_range;

/* Writes data as the chunk at coords of the array at path. The library
 * writes straight from data and keeps nothing of it once the call returns.
 * IC_ERR_INVALID_INDEX outside the grid. */
ic_status ic_session_set_chunk(ic_session session, const char *path, const uint32_t *coords, size_t ndim, const uint8_t *data, size_t len, ic_error *err);

/*
 * Reads range (NULL: all) of the chunk at coords. *found = 0 (and *data =
 * NULL, *len = 0) if the chunk was never written; else *found = 1 and
 * *data (caller frees with ic_buffer_free; never NULL, even for 0 bytes)
 * holds *len bytes.
 */
ic_status ic_session_get_chunk(ic_session session, const char *path, const uint32_t *coords, size_t ndim, const ic_byte_range *range, uint8_t **data, size_t *len, int32_t *found, ic_error *err);

/*
 * As ic_session_get_chunk, into the caller's buffer buf of capacity cap
 * (buf may be NULL when cap is 0). *len receives the size of the data; if
 * it exceeds cap nothing is copied and the status is
 * IC_ERR_BUFFER_TOO_SMALL (with *len and *found written), so the caller
 * can retry with a larger buffer. The data is read straight into buf; after
 * any other error buf's contents are unspecified.
 */
ic_status ic_session_get_chunk_into(ic_session session, const char *path, const uint32_t *coords, size_t ndim, const ic_byte_range *range, uint8_t *buf, size_t cap, size_t *len, int32_t *found, ic_error *err);

/* Deletes count chunks of the array at path; coords holds count * ndim
 * indices, tuple after tuple. */
ic_status ic_session_delete_chunks(ic_session session, const char *path, const uint32_t *coords, size_t count, size_t ndim, ic_error *err);

/*
 * Records a virtual chunk: length bytes at offset of the object at
 * location (a URL under a virtual chunk container of the configuration),
 * pinned to its modification time last_modified (Unix seconds; 0 = not
 * checked). IC_ERR_VIRTUAL_CHUNK if location is under no container. To pin
 * the object's ETag, or to record many chunks in one call, use
 * ic_session_set_virtual_refs.
 */
ic_status ic_session_set_virtual_ref(ic_session session, const char *path, const uint32_t *coords, size_t ndim, const char *location, uint64_t offset, uint64_t length, int64_t last_modified, ic_error *err);

/*
 * Records many virtual chunks of the array at path (upstream Icechunk's
 * set_virtual_refs). refs_json is a JSON array of
 *   {"coords": [0, 1], "location": "s3://bucket/file.nc", "offset": 0, "length": 4096,
 *    "etag": "\"abc\"", "last_modified": 1735787045}
 * where etag (the object's entity tag, quoted or not) and last_modified
 * (Unix seconds) are optional and, when given, pin the object's version: a
 * read of another version fails with IC_ERR_VIRTUAL_CHUNK. With
 * validate_containers != 0, a chunk whose location is under no virtual
 * chunk container of the configuration is not recorded and its coordinates
 * are listed in *failed_json; the others are recorded. With 0 every chunk
 * is recorded (a location outside every container is refused when read).
 * *failed_json (caller frees; failed_json may be NULL) receives a JSON
 * array of the coordinates of the chunks not recorded, in the order of
 * refs_json ([] when all were).
 *
 * Every entry is checked before any is recorded; nothing is recorded when
 * the call fails. Malformed JSON, an unknown key, a missing coords,
 * location, offset or length, or an empty location are
 * IC_ERR_INVALID_ARGUMENT naming the entry; coordinates outside the grid
 * (or of the wrong rank) are IC_ERR_INVALID_INDEX; IC_ERR_READ_ONLY,
 * IC_ERR_NOT_FOUND, IC_ERR_NOT_AN_ARRAY as for ic_session_set_chunk.
 */
ic_status ic_session_set_virtual_refs(ic_session session, const char *path, const char *refs_json, int32_t validate_containers, char **failed_json, ic_error *err);

/* An iterator over the coordinates of every chunk of the array at path,
 * each item a JSON array of indices, in no promised order. */
ic_status ic_session_chunk_coordinates(ic_session session, const char *path, ic_iter *out, ic_error *err);

/* An iterator over the locations virtual chunks of the session point at
 * (its uncommitted changes included), each item a JSON string, each
 * location once, in no promised order. Caller frees *out. */
ic_status ic_session_virtual_chunk_locations(ic_session session, ic_iter *out, ic_error *err);

/* Where a chunk is stored (the values of upstream Icechunk's ChunkType). */
typedef enum ic_chunk_type {
    IC_CHUNK_UNINITIALIZED = 0, /* no chunk there: never written, or deleted */
    IC_CHUNK_NATIVE = 1,        /* in a chunk object of the repository */
    IC_CHUNK_VIRTUAL = 2,       /* in an object outside the repository */
    IC_CHUNK_INLINE = 3         /* in the manifest itself */
} ic_chunk_type;

/*
 * *kind receives the ic_chunk_type of the chunk at coords of the array at
 * path, as the session sees it (uncommitted changes included); a chunk
 * never written is IC_CHUNK_UNINITIALIZED. Coordinates outside the array's
 * grid, or ndim different from its rank, are IC_ERR_INVALID_ARGUMENT
 * naming the coordinates. IC_ERR_NOT_FOUND if there is no node at path,
 * IC_ERR_NOT_AN_ARRAY if it is a group.
 */
ic_status ic_session_chunk_type(ic_session session, const char *path, const uint32_t *coords, size_t ndim, int32_t *kind, ic_error *err);

/* ======================================================================
 * The Zarr store of a session
 * ======================================================================
 *
 * The key-value view Zarr uses: keys such as "zarr.json", "a/b/zarr.json"
 * and chunk keys "a/b/c/0/1" (decoded with the array's chunk key
 * encoding). A key that is not a valid Zarr key is IC_ERR_INVALID_KEY.
 * Reads of keys that hold nothing find nothing (*found = 0) rather than
 * failing; writing a zarr.json adds or updates its node; writes on a
 * read-only session are IC_ERR_READ_ONLY.
 */

/* Reads range (NULL: all) of the value at key. *found = 0 if the key is
 * missing; else *data (caller frees; never NULL) holds *len bytes. */
ic_status ic_store_get(ic_session session, const char *key, const ic_byte_range *range, uint8_t **data, size_t *len, int32_t *found, ic_error *err);

/* As ic_store_get, into the caller's buffer (see ic_session_get_chunk_into). */
ic_status ic_store_get_into(ic_session session, const char *key, const ic_byte_range *range, uint8_t *buf, size_t cap, size_t *len, int32_t *found, ic_error *err);

/* The outcome for one key of ic_store_get_many. */
typedef struct ic_get_result {
    ic_status status; /* IC_OK, or the failure of this key */
    int32_t found;    /* 1 if the key holds a value */
    size_t offset;    /* where the value starts in the returned buffer */
    size_t len;       /* its length */
} ic_get_result;

/*
 * Reads n keys at once (in parallel inside the library), one call for many
 * values. ranges is NULL (whole values) or holds n ranges. results (an
 * array of n, filled by the library) says, per key, whether it failed,
 * whether it was found and where its bytes are in *data, a single buffer
 * holding every value found (caller frees with ic_buffer_free; never NULL;
 * *data_len is its length). The library reads the values straight into
 * that buffer, in an order of its choosing: chunks stored one after the
 * other (as ic_store_set_many stores a batch) are placed one after the
 * other and read with one request. Use each result's offset; a key whose
 * read fails may leave its bytes unused. errors is NULL or
 * an array of n that receives, per key, an error object for a failed key
 * (0 otherwise; the caller frees each). The call fails as a whole only for
 * bad arguments. On S3, a call whose whole chunks of an array continue
 * where the session's previous call for that array ended (in C order of
 * chunk coordinates) starts fetching the chunks that follow in the
 * background (at most 9 MiB per session), so that a reader scanning in
 * batches finds its next batch in memory.
 */
ic_status ic_store_get_many(ic_session session, const char *const *keys, const ic_byte_range *ranges, size_t n, ic_get_result *results, uint8_t **data, size_t *data_len, ic_error *errors, ic_error *err);

/* Sets the value at key. The library writes straight from value and keeps
 * nothing of it once the call returns. */
ic_status ic_store_set(ic_session session, const char *key, const uint8_t *value, size_t len, ic_error *err);

/*
 * Sets n keys at once: keys[i] to values[i] of lens[i] bytes. zarr.json
 * keys are set first, in order, so one batch can create an array and write
 * its chunks. The chunks are then written straight from the values
 * (nothing of them is kept once the call returns), packed one after the
 * other into as few chunk objects as an 8 MiB bound allows: one request
 * (or file) for a typical batch instead of one per chunk. Every entry is
 * tried; the error is that of the first failing entry.
 */
ic_status ic_store_set_many(ic_session session, const char *const *keys, const uint8_t *const *values, const size_t *lens, size_t n, ic_error *err);

/*
 * Sets the value at key as ic_store_set does, without waiting for storage
 * (write-behind). A chunk is copied into memory, recorded in the session at
 * once, and written later in the background, packed with the chunks set
 * after it into chunk objects of a size that suits the storage (3 MiB on
 * S3, 4 MiB files written 1 MiB at a time on local disk). Reads through
 * the session see it at once; ic_session_commit, ic_session_flush,
 * ic_session_to_bytes, ic_session_fork and ic_session_merge put every such
 * chunk in storage first. Errors about the key and the array come back at once. A failed
 * background write is written again by the next ic_store_set_behind with
 * wait nonzero (before its own chunk: the call fails if that write fails
 * again, and goes through once the cause is gone; without wait it sets
 * nothing, *accepted = 0), ic_session_flush or ic_session_commit. The
 * memory held is bounded per session (6 MiB on S3, 5 MiB on
 * local disk): when it is full, the call waits for a write to finish if
 * wait is nonzero, else sets nothing and returns IC_OK with *accepted = 0
 * (call again with wait from a thread that may block). Otherwise
 * *accepted = 1. Other keys, chunks small enough to be inline and chunks
 * larger than one background write (3 MiB on S3, 1 MiB on local disk) are
 * set as ic_store_set sets them. value is not
 * kept once the call returns. accepted may be NULL.
 */
ic_status ic_store_set_behind(ic_session session, const char *key, const uint8_t *value, size_t len, int32_t wait, int32_t *accepted, ic_error *err);

/* Sets the value at key only if the key is missing; *stored = 1 if it did.
 * Atomic within the session. stored may be NULL. */
ic_status ic_store_set_if_not_exists(ic_session session, const char *key, const uint8_t *value, size_t len, int32_t *stored, ic_error *err);

/* Deletes the value at key; a missing key is not an error. Deleting a
 * zarr.json removes that node with everything under it (an array with its
 * chunks, a group with its members), as upstream Icechunk's store does. */
ic_status ic_store_delete(ic_session session, const char *key, ic_error *err);

/* Deletes every key under the directory prefix ("" for everything). */
ic_status ic_store_delete_dir(ic_session session, const char *prefix, ic_error *err);

/* *exists = 1 if key holds a value. */
ic_status ic_store_exists(ic_session session, const char *key, int32_t *exists, ic_error *err);

/* An iterator over every key (JSON strings), in no promised order. */
ic_status ic_store_list(ic_session session, ic_iter *out, ic_error *err);

/* An iterator over the keys starting with prefix (a plain string prefix). */
ic_status ic_store_list_prefix(ic_session session, const char *prefix, ic_iter *out, ic_error *err);

/* An iterator over the names of the immediate children of the directory
 * prefix ("" for the top): the next segment of every key below it, once. */
ic_status ic_store_list_dir(ic_session session, const char *prefix, ic_iter *out, ic_error *err);

/*
 * As ic_store_list_dir for the directory of a group ("" or "/" for a root
 * group, "a/b" or "a/b/" for the group /a/b), whose names come from the
 * session's nodes alone (nodes never live inside arrays), so that, like
 * the calls on metadata keys, it answers from memory (see
 * ic_store_load_metadata). If prefix is the directory of a group, *listed
 * = 1 and *json (caller frees) holds the names as a JSON array of strings.
 * Otherwise *listed = 0 and *json is left alone: list it with
 * ic_store_list_dir, which may read manifests.
 */
ic_status ic_store_list_group_dir(ic_session session, const char *prefix, char **json, int32_t *listed, ic_error *err);

/* The size in bytes of the value at key; IC_ERR_NOT_FOUND if missing. */
ic_status ic_store_get_size(ic_session session, const char *key, uint64_t *size, ic_error *err);

/* The total size of the values whose keys start with prefix. */
ic_status ic_store_get_size_prefix(ic_session session, const char *prefix, uint64_t *size, ic_error *err);

/* *empty = 1 if no key lies under the directory prefix ("" for all). */
ic_status ic_store_is_empty(ic_session session, const char *prefix, int32_t *empty, ic_error *err);

/* Deletes every node and chunk. */
ic_status ic_store_clear(ic_session session, ic_error *err);

/*
 * Reads the session's base snapshot from storage if it is not in memory
 * yet. A session opened from a repository (and its forks) holds it from
 * the start; one restored with ic_repo_session_from_bytes, or whose base
 * moved (commit, rebase), reads it on first use. Afterwards, until the
 * base moves again, calls on metadata keys (zarr.json, and the Zarr v2
 * names, which hold nothing) and ic_store_list_group_dir never touch
 * storage: they answer from memory in microseconds, waiting at most for
 * the session's lock, which a commit or rebase holds while it runs.
 * Bindings use this to make those calls without a thread hand-off. Calls
 * on chunk keys and other listings may still read manifests and chunks.
 */
ic_status ic_store_load_metadata(ic_session session, ic_error *err);

/* ======================================================================
 * Status, commit, rebase
 * ====================================================================== */

/* The session's uncommitted changes, in ic_repo_diff's JSON form. Caller frees *json. */
ic_status ic_session_status(ic_session session, char **json, ic_error *err);

/* Drops the session's uncommitted changes. */
ic_status ic_session_discard_changes(ic_session session, ic_error *err);

/* Writes every chunk set with ic_store_set_behind to storage, again for
 * those whose background write failed, and waits for it. Fails with the
 * first failure (those chunks stay in memory for the next flush). */
ic_status ic_session_flush(ic_session session, ic_error *err);

/*
 * Commits the session's changes as a new snapshot on its branch and
 * returns its id (caller frees *snapshot_id; snapshot_id may be NULL).
 * metadata_json is NULL or a JSON object, merged over the default commit
 * metadata. Afterwards the session is read-only at the new snapshot.
 * IC_ERR_CONFLICT if the branch moved since the session's base (rebase and
 * commit again); IC_ERR_NO_CHANGES; IC_ERR_READ_ONLY. On any error nothing
 * is committed and the session keeps its changes.
 */
ic_status ic_session_commit(ic_session session, const char *message, const char *metadata_json, char **snapshot_id, ic_error *err);

/*
 * Writes the session's changes as a new snapshot whose parent is the
 * session's base, as ic_session_commit does (metadata_json merged over the
 * default commit metadata, chunks set with ic_store_set_behind written
 * first, everything durable), and returns its id (caller frees
 * *snapshot_id with ic_string_free; snapshot_id may be NULL), but moves no
 * branch: the snapshot is anonymous (upstream Icechunk's Session.flush).
 * Afterwards the session is read-only at the new snapshot. Open the
 * snapshot with ic_repo_readonly_session (IC_AT_SNAPSHOT), describe it with
 * ic_repo_snapshot_info, or point a branch (ic_repo_create_branch,
 * ic_repo_reset_branch) or a tag at it; until then no ref reaches it and
 * ic_repo_garbage_collect may delete it. IC_ERR_NO_CHANGES; IC_ERR_READ_ONLY;
 * IC_ERR_INVALID_ARGUMENT for a fork. On any error the session keeps its
 * changes.
 */
ic_status ic_session_flush_snapshot(ic_session session, const char *message, const char *metadata_json, char **snapshot_id, ic_error *err);

/* Which side wins a chunk written by both. */
typedef enum ic_version_selection {
    IC_USE_OURS = 0,   /* keep the session's chunks */
    IC_USE_THEIRS = 1, /* keep the other commit's chunks */
    IC_FAIL = 2        /* the conflict is unsolvable */
} ic_version_selection;

/* How a rebase treats conflicts. */
typedef enum ic_solver_kind {
    IC_SOLVER_DETECTOR = 1, /* ConflictDetector: every conflict fails the rebase */
    IC_SOLVER_BASIC = 2     /* BasicConflictSolver, with the options below */
} ic_solver_kind;

/*
 * A conflict solver. For IC_SOLVER_BASIC: chunk double updates are solved
 * by on_chunk_conflict; a delete of something the other side updated is
 * kept (the delete wins) unless the matching fail_on flag is non-zero;
 * other conflicts fail. { IC_SOLVER_BASIC, IC_USE_OURS, 0, 0 } is upstream
 * Icechunk's default. The options are ignored for IC_SOLVER_DETECTOR.
 */
typedef struct ic_solver {
    int32_t kind;                            /* an ic_solver_kind */
    int32_t on_chunk_conflict;               /* an ic_version_selection */
    int32_t fail_on_delete_of_updated_array; /* non-zero: fail instead */
    int32_t fail_on_delete_of_updated_group; /* non-zero: fail instead */
} ic_solver;

/*
 * Replays the session's changes over the commits that landed on its branch
 * since its base, oldest first, letting solver patch them. On success the
 * session is based on the branch tip. IC_ERR_REBASE_FAILED names the commit
 * and lists the conflicts (ic_error_conflict_count, ic_error_conflict,
 * ic_error_json); the session is then left based on the last commit it
 * passed, with its changes as they were.
 */
ic_status ic_session_rebase(ic_session session, const ic_solver *solver, ic_error *err);

/*
 * Commits; on IC_ERR_CONFLICT rebases with solver and tries again, up to
 * attempts rebases. After the n-th commit that wrote its objects and then
 * lost the branch to another writer it first sleeps a random time up to n
 * times the longer of base_delay_ms and that commit's duration, at most
 * max_delay_ms (0: 5 ms and 250 ms); a commit that found the branch moved
 * on reading its tip rebases at once.
 * Returns the first error that is not a conflict (a failed rebase
 * included), or the last conflict. snapshot_id may be NULL. Delays above a
 * day (86400000 ms) are IC_ERR_INVALID_ARGUMENT.
 */
ic_status ic_session_commit_rebasing(ic_session session, const ic_solver *solver, const char *message, const char *metadata_json, uint32_t attempts, uint64_t base_delay_ms, uint64_t max_delay_ms, char **snapshot_id, ic_error *err);

/* ======================================================================
 * Serialization, fork and merge (cooperative writers)
 * ====================================================================== */

/* Serializes the session (base, branch, uncommitted changes; not chunk data,
 * which is already in storage) for ic_repo_session_from_bytes in this
 * process or another. Caller frees *data with ic_buffer_free. */
ic_status ic_session_to_bytes(ic_session session, uint8_t **data, size_t *len, ic_error *err);

/* A writable copy of the session for another worker. A fork cannot commit;
 * its changes come back with ic_session_merge. The session must have no
 * uncommitted changes. Caller frees *out. */
ic_status ic_session_fork(ic_session session, ic_session *out, ic_error *err);

/* Folds the changes of n forks (same branch and base) into session. Where
 * two forks (or a fork and the session) set the same chunk, the last
 * merged one's value is kept, as upstream Icechunk does, and the merge
 * writes a warning to the diagnostic log: writes not aligned to chunks
 * lose data that way. */
ic_status ic_session_merge(ic_session session, const ic_session *forks, size_t n, ic_error *err);

#ifdef __cplusplus
}
#endif

#endif /* ICECHUNK_H */
