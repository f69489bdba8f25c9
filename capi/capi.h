/*
 * capi.h - private to the capi package: the public header plus const
 * typedefs that let cgo spell the exact parameter types of icechunk.h.
 *
 * cgo writes the prototype of an exported Go function from the C names of
 * its parameter types, and a Go signature cannot say "const". With these
 * typedefs a Go parameter of type *C.ic_cchar becomes `ic_cchar *`, which
 * is `const char *`: the prototypes cgo generates in _cgo_export.h are then
 * compatible with the ones icechunk.h declares, and because _cgo_export.h
 * includes this file (the preamble) before its own prototypes, the C
 * compiler rejects the build if any export's types disagree with the
 * public header.
 */
#ifndef ICECHUNK_CAPI_H
#define ICECHUNK_CAPI_H

#include <stdlib.h>
#include <string.h>
#include "icechunk.h"

typedef const char ic_cchar;                /* const char * */
typedef const char *const ic_cstr;          /* const char *const * */
typedef const uint8_t ic_cu8;               /* const uint8_t * */
typedef const uint8_t *const ic_cbytes;     /* const uint8_t *const * */
typedef const uint32_t ic_cu32;             /* const uint32_t * */
typedef const uint64_t ic_cu64;             /* const uint64_t * */
typedef const size_t ic_csize;              /* const size_t * */
typedef const ic_byte_range ic_crange;      /* const ic_byte_range * */
typedef const ic_version ic_cversion;       /* const ic_version * */
typedef const ic_solver ic_csolver;         /* const ic_solver * */
typedef const ic_s3_options ic_cs3_options; /* const ic_s3_options * */
typedef const ic_session ic_csession;       /* const ic_session * */

/* The C helpers of the package are hidden: the shared library exports only
 * the ic_ functions of icechunk.h. */
#define HIDDEN __attribute__((visibility("hidden")))

/* helpers.c */
void *icgo_malloc(size_t n);
const char *icgo_status_name(ic_status status);
const char *icgo_version_string(void);
const char *icgo_invalid_error_message(void);
int64_t icgo_call_credentials(ic_credentials_fn fn, void *user_data, char *buf, size_t cap);
ic_cancel icgo_bound_cancel(void);
void icgo_bind_cancel(ic_cancel token);

/* registry.c */
void *icgo_alloc(size_t n);
int icgo_release(void *p);
int64_t icgo_live_allocs(void);
int64_t icgo_registry_slots(void);
int icgo_large_cached(void);

#endif
