/*
 * Internal conventions shared by every source file of libstkdr. Never installed.
 *
 * - Internal functions are `stkdr__<module>_<verb>` (double underscore) and hidden.
 * - Allocation goes through stkdr__malloc & co. so the user's allocator is honoured.
 * - Errors: a failing internal function calls stkdr__seterr()/stkdr__seterr_os() once, where the cause
 *   is known, and returns the (negative) code; callers propagate the code without overwriting the
 *   detail. Public entry points taking a ctx end with `return stkdr__ctx_result(ctx, rc);`, which moves
 *   the thread-local detail into the context (stkdr_ctx_last_error()).
 * - Never print, exit or abort. Never put secret material in a message or log line.
 */
#ifndef STKDR_INTERNAL_H
#define STKDR_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stkdr/stkdr.h"
#include "stkdr/sys/backend.h"
#include "stkdr/sys/errors.h"

#if defined(__GNUC__)
#define STKDR__PRINTF(a, b) __attribute__((format(printf, a, b)))
#define STKDR__UNUSED __attribute__((unused))
#else
#define STKDR__PRINTF(a, b)
#define STKDR__UNUSED
#endif

#define STKDR__ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- memory (core/global.c) ---- */
void *stkdr__malloc(size_t size);
void *stkdr__calloc(size_t n, size_t size);
void *stkdr__realloc(void *ptr, size_t size);
/* Room for one more element in the array whose pointer is at `pp` (e.g. &v for `T *v`), of *cap elements
 * of `size` bytes with `n` in use: when full it doubles (from `first`). 0, or STKDR_ENOMEM with the
 * error set (the array untouched). */
int stkdr__grow(void *pp, size_t *cap, size_t n, size_t size, size_t first);
void stkdr__free(void *ptr);
char *stkdr__strdup(const char *s);
char *stkdr__strndup(const char *s, size_t n);
/* printf into a new string (stkdr__free it); NULL on ENOMEM. */
char *stkdr__aprintf(const char *fmt, ...) STKDR__PRINTF(1, 2);
/* Wipes memory in a way the compiler cannot elide. */
void stkdr__wipe(void *ptr, size_t len);

/* ---- errors (core/errors.c) ---- */
/* Records detail on this thread; returns `code` so callers can `return stkdr__seterr(...)`. */
int stkdr__seterr(int code, int klass, const char *backend_code, const char *fmt, ...) STKDR__PRINTF(4, 5);
/* From an errno value: maps ENOENT->ENOTFOUND, EEXIST->EEXISTS, ENOSPC/EDQUOT->ENOSPACE,
 * EACCES/EPERM->EIO, else EIO; class OS, backend_code the errno name; message "<fmt>: <strerror>". */
int stkdr__seterr_os(int err, const char *fmt, ...) STKDR__PRINTF(2, 3);
/* Prefixes the current thread's message with context ("restoring snapshot X: <old message>"). */
void stkdr__err_prefix(const char *fmt, ...) STKDR__PRINTF(1, 2);
/* The thread-local error (never NULL). */
const stkdr_error *stkdr__err_get(void);
/* A copy of the thread-local error, for code that must look something up without losing the error a
 * caller has already set (stkdr__cfg_int of an unset key). */
typedef struct stkdr__err_state {
	int code, klass;
	char code_text[64];
	char message[1024];
} stkdr__err_state;
void stkdr__err_save(stkdr__err_state *s);
void stkdr__err_restore(const stkdr__err_state *s);
/* Adds nothing if detail was already set for `code`; otherwise sets the generic text. */
int stkdr__err_ensure(int code);

/* The shared body of every public `stkdr_x_init(opts, version)`: checks `opts` and `version`
 * (1..`current`), zeroes the struct and sets its leading `unsigned int version`. `name` is the struct's
 * name for messages ("stkdr_ctx_options"). Returns 0, EINVAL or EVERSION. (core/errors.c) */
int stkdr__options_init(void *opts, size_t size, unsigned int version, unsigned int current, const char *name);

/* ---- buffers (core/buf.c) ---- */
int stkdr__buf_printf(stkdr_buf *buf, const char *fmt, ...) STKDR__PRINTF(2, 3);
int stkdr__buf_vprintf(stkdr_buf *buf, const char *fmt, va_list ap);
/* Detaches the data (NUL-terminated, stkdr__free it); the buffer becomes empty. */
char *stkdr__buf_detach(stkdr_buf *buf);
void stkdr__buf_clear(stkdr_buf *buf);

/* ---- context (core/ctx.c) ---- */
int stkdr__ctx_result(stkdr_ctx *ctx, int rc);
void stkdr__log(stkdr_ctx *ctx, int level, const char *component, const char *fmt, ...) STKDR__PRINTF(4, 5);
bool stkdr__log_enabled(stkdr_ctx *ctx, int level);
/* Emits an event; for progress events returns the callback's negative value to cancel, else 0. */
int stkdr__emit(stkdr_ctx *ctx, int type, const char *name, const char *subject, int64_t done, int64_t total, int ok, const char *detail_json);
/* Current time in Unix ms; honours the `clock.fake_now` setting used by tests (fake clock). */
int64_t stkdr__ctx_now_ms(stkdr_ctx *ctx);
/* Effective configuration values; borrowed until the key is set again or the ctx is freed.
 * Return the default when unset; NULL (str) / `dflt` when unset with no default. */
const char *stkdr__cfg_str(stkdr_ctx *ctx, const char *key);
int64_t stkdr__cfg_int(stkdr_ctx *ctx, const char *key, int64_t dflt);
bool stkdr__cfg_bool(stkdr_ctx *ctx, const char *key, bool dflt);
/* A required string: sets an EINVAL/CONFIG error naming the key (and the config file) when missing. */
int stkdr__cfg_require_str(const char **out, stkdr_ctx *ctx, const char *key);
/* Backends of the context, opened on first use from the configuration. Borrowed. */
int stkdr__ctx_objstore(stkdr_objstore **out, stkdr_ctx *ctx);
int stkdr__ctx_secrets(stkdr_secrets **out, stkdr_ctx *ctx);
int stkdr__ctx_dns(stkdr_dns **out, stkdr_ctx *ctx);
int stkdr__ctx_dbprovider(stkdr_dbprovider **out, stkdr_ctx *ctx);
/* The 32-byte master key (STKDR_MASTER_KEY or the secret named by keys.master_key_secret). */
int stkdr__ctx_master_key(uint8_t out[32], stkdr_ctx *ctx);

#endif
