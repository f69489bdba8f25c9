/*
 * common.h - helpers shared by the C tests of libicechunk.
 *
 * Each test is one program; it exits 0 on success and prints the failing
 * call, its status and its error message otherwise. At the end every test
 * checks with ic_debug_live_objects that it released every handle and
 * buffer the library gave it.
 */
#ifndef IC_TEST_COMMON_H
#define IC_TEST_COMMON_H

#define _GNU_SOURCE
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "icechunk.h"


/* Prints the failure of expr (status st, error e) and exits. */
static inline void ic_test_die(const char *file, int line, const char *expr, ic_status want, ic_status st, ic_error e) {
    fprintf(stderr, "%s:%d: %s\n  want %s, got %s: %s\n", file, line, expr, ic_status_name(want), ic_status_name(st),
            e ? ic_error_message(e) : "(no error object)");
    ic_error_free(e);
    exit(1);
}

/* OK(call) runs a call whose last argument is &E and requires IC_OK. */
#define OK(expr)                                                                   \
    do {                                                                           \
        ic_error E = 0;                                                            \
        ic_status st_ = (expr);                                                    \
        if (st_ != IC_OK) ic_test_die(__FILE__, __LINE__, #expr, IC_OK, st_, E);   \
        if (E != 0) ic_test_die(__FILE__, __LINE__, "error set on success", IC_OK, st_, E); \
    } while (0)

/* FAILS(code, call) requires the call to fail with code and to hand back an
 * error object of that code with a message; the object is freed. */
#define FAILS(code, expr)                                                          \
    do {                                                                           \
        ic_error E = 0;                                                            \
        ic_status st_ = (expr);                                                    \
        if (st_ != (code)) ic_test_die(__FILE__, __LINE__, #expr, (code), st_, E); \
        if (E == 0 || ic_error_code(E) != (code) || ic_error_message(E)[0] == 0)    \
            ic_test_die(__FILE__, __LINE__, "error object of " #expr, (code), ic_error_code(E), E); \
        ic_error_free(E);                                                          \
    } while (0)

/* The error object of a failing call names the problem. */
#define FAILS_SAYING(code, text, expr)                                             \
    do {                                                                           \
        ic_error E = 0;                                                            \
        ic_status st_ = (expr);                                                    \
        if (st_ != (code)) ic_test_die(__FILE__, __LINE__, #expr, (code), st_, E); \
        CONTAINS(ic_error_message(E), text);                                       \
        ic_error_free(E);                                                          \
    } while (0)

/* FAILS_QUIET(code, call) is for calls without an error parameter. */
#define FAILS_QUIET(code, expr)                                                    \
    do {                                                                           \
        ic_status st_ = (expr);                                                    \
        if (st_ != (code)) ic_test_die(__FILE__, __LINE__, #expr, (code), st_, 0); \
    } while (0)

#define CHECK(cond)                                                                \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                               \
        }                                                                          \
    } while (0)

/* CONTAINS(str, needle) checks a JSON result textually. */
#define CONTAINS(str, needle)                                                      \
    do {                                                                           \
        if (strstr((str), (needle)) == NULL) {                                     \
            fprintf(stderr, "%s:%d: %s does not contain %s:\n  %s\n", __FILE__, __LINE__, #str, needle, str); \
            exit(1);                                                               \
        }                                                                          \
    } while (0)

static inline int ic_test_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

/* A new empty directory under TMPDIR (or /tmp). */
static inline char *ic_test_tmpdir(void) {
    const char *base = getenv("TMPDIR");
    static char dirs[8][512];
    static int n = 0;
    char *d = dirs[n++ % 8];
    snprintf(d, 512, "%s/ictest-XXXXXX", base && *base ? base : "/tmp");
    if (mkdtemp(d) == NULL) {
        perror("mkdtemp");
        exit(1);
    }
    return d;
}

static inline void ic_test_rmdir(const char *dir) { nftw(dir, ic_test_rm, 16, FTW_DEPTH | FTW_PHYS); }

/* Every handle and buffer must have been released. */
static inline void ic_test_no_leaks(void) {
    uint64_t handles = 99, buffers = 99;
    CHECK(ic_debug_live_objects(&handles, &buffers) == IC_OK);
    if (handles != 0 || buffers != 0) {
        fprintf(stderr, "leak: %llu live handles, %llu live buffers at exit\n", (unsigned long long)handles,
                (unsigned long long)buffers);
        exit(1);
    }
}

static inline double ic_test_now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

#define GROUP_META "{\"zarr_format\":3,\"node_type\":\"group\",\"attributes\":{\"title\":\"test\"}}"

/* zarr.json of a float64 array of the given 2-d shape and chunk shape. */
static inline void ic_test_array_meta(char *buf, size_t n, uint64_t s0, uint64_t s1, uint64_t c0, uint64_t c1) {
    snprintf(buf, n,
             "{\"zarr_format\":3,\"node_type\":\"array\",\"shape\":[%llu,%llu],\"data_type\":\"float64\","
             "\"chunk_grid\":{\"name\":\"regular\",\"configuration\":{\"chunk_shape\":[%llu,%llu]}},"
             "\"chunk_key_encoding\":{\"name\":\"default\",\"configuration\":{\"separator\":\"/\"}},"
             "\"fill_value\":0.0,\"codecs\":[{\"name\":\"bytes\",\"configuration\":{\"endian\":\"little\"}}],"
             "\"dimension_names\":[\"y\",\"x\"],\"attributes\":{}}",
             (unsigned long long)s0, (unsigned long long)s1, (unsigned long long)c0, (unsigned long long)c1);
}

/* Adds a 2-d array through the node API. */
static inline void ic_test_add_array(ic_session s, const char *path, uint64_t s0, uint64_t s1, uint64_t c0, uint64_t c1) {
    char meta[1024];
    ic_test_array_meta(meta, sizeof meta, s0, s1, c0, c1);
    uint64_t shape[2] = {s0, s1}, chunks[2] = {c0, c1};
    const char *names[2] = {"y", "x"};
    OK(ic_session_add_array(s, path, shape, chunks, 2, names, (const uint8_t *)meta, strlen(meta), &E));
}

/* Fills buf with a pattern derived from seed. */
static inline void ic_test_fill(uint8_t *buf, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)(seed * 31u + i * 7u);
}

#endif
