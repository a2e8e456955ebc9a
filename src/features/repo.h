/*
 * The repository: key layout under the deployment prefix, small-object helpers, leases and the DR
 * event journal. Used by every feature; talks to the object store only through its vtable.
 * Internal. Formats: docs/formats.md.
 */
#ifndef STKDR_FEATURES_REPO_H
#define STKDR_FEATURES_REPO_H

#include "core/internal.h"

/* "P/<rel>" into a new string (stkdr__free); NULL on ENOMEM (error set). */
char *stkdr__repo_key(stkdr_ctx *ctx, const char *rel);
/* The prefix "P/" (borrowed until the configuration changes). */
const char *stkdr__repo_prefix(stkdr_ctx *ctx);

/* Whole small objects. put: flags are STKDR_PUT_*; get: verifies the stored checksum; ENOTFOUND. */
int stkdr__repo_put(stkdr_ctx *ctx, const char *key, const void *data, size_t len, uint32_t flags);
int stkdr__repo_get(stkdr_buf *out, stkdr_ctx *ctx, const char *key);

/* Lists keys under `prefix` (full key) into a NULL-terminated array of strings (free with
 * stkdr__strv_free); ascending order. */
int stkdr__repo_list(char ***out, size_t *n_out, stkdr_ctx *ctx, const char *prefix);
void stkdr__strv_free(char **v);

/* Leases: create-only objects P/locks/<name>.lease holding {host, pid, purpose, expires}. A lease whose
 * holder is dead (same host, pid gone) or expired is broken and retaken. ELOCKED names the holder. */
typedef struct stkdr__lease stkdr__lease;
int stkdr__lease_acquire(stkdr__lease **out, stkdr_ctx *ctx, const char *name, const char *purpose,
	int64_t ttl_ms);
void stkdr__lease_release(stkdr__lease *l);

/* Appends a DR event to P/journal/ and emits it to the event callback (type ACTION or RESULT). Journal
 * write failures are logged, never fatal. */
void stkdr__journal(stkdr_ctx *ctx, int type, const char *name, const char *subject, int ok, const char *detail_json);

/* A new time-sortable id "YYYYMMDDTHHMMSS.mmmZ-xxxx" for `now_ms`. out: at least 32 bytes. */
int stkdr__repo_new_id(char *out, size_t out_len, int64_t now_ms);

#endif
