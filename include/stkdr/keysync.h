/**
 * @file stkdr/keysync.h
 * @brief Key-sync for the Bridge (runbook 2.4, 3.3): the verification keys of one project/environment
 *        fetched from the Hub over HTTPS, validated, cached on disk, refreshed on demand.
 * @defgroup stkdr_keysync Key-sync
 *
 * The Hub serves the JWKS of stkdr_keys_jwks() at
 * `<keysync.hub_url>/v1/projects/<project>/envs/<env>/jwks.json`. Fetches use libcurl with certificate
 * verification on (CA bundle `keysync.ca_file` or the system's), a timeout, retries with exponential
 * backoff and jitter, and `If-None-Match` with the last ETag. A JWKS is used only after validation (every
 * kid is its key's RFC 7638 thumbprint, supported keys only); the last good one is cached atomically in
 * `keysync.cache_dir` (directory 0700, file 0600; format in docs/formats.md) so that a Bridge can start
 * while the Hub is unreachable.
 *
 * Thread-safety: one thread at a time per ::stkdr_keysync, and it uses its context: calls on the two
 * must not overlap. The context must outlive it.
 * @{
 */
#ifndef STKDR_KEYSYNC_H
#define STKDR_KEYSYNC_H

#include "common.h"
#include "buf.h"
#include "ctx.h"
#include "keys.h"

STKDR_BEGIN_DECL

/** A key-sync handle for one project/environment. */
typedef struct stkdr_keysync stkdr_keysync;

/** Current version of ::stkdr_keysync_options. */
#define STKDR_KEYSYNC_OPTIONS_VERSION 1
/** Static initialiser for ::stkdr_keysync_options. */
#define STKDR_KEYSYNC_OPTIONS_INIT { STKDR_KEYSYNC_OPTIONS_VERSION, NULL, NULL, NULL, 0, -1, 0 }

/** Options for stkdr_keysync_new(); NULL or 0 fields take the `keysync.*` configuration. Since: 1.0. */
typedef struct stkdr_keysync_options {
	unsigned int version;        /**< ::STKDR_KEYSYNC_OPTIONS_VERSION */
	const char *hub_url;         /**< Base URL (https://...), or NULL for `keysync.hub_url`. Borrowed. */
	const char *cache_dir;       /**< Cache directory, or NULL for `keysync.cache_dir`. Borrowed. */
	const char *ca_file;         /**< CA bundle, or NULL for `keysync.ca_file` / the system's. Borrowed. */
	int64_t timeout_ms;          /**< Per request; 0 for `keysync.timeout` (10 s). */
	int retries;                 /**< Retries after a failed request; -1 for `keysync.retries` (3). */
	int64_t refresh_interval_ms; /**< Least time between unknown-kid refreshes; 0: `keysync.refresh_interval`. */
} stkdr_keysync_options;

/**
 * Initialises `opts` to the defaults of structure version `version`.
 * @return 0, or ::STKDR_EVERSION. Since: 1.0.
 */
STKDR_API int stkdr_keysync_options_init(stkdr_keysync_options *opts, unsigned int version);

/**
 * Creates a key-sync handle (no network yet).
 * @param[out] out Ownership: caller frees with stkdr_keysync_free().
 * @param ctx borrowed; must outlive the handle.
 * @return 0; ::STKDR_EINVAL (no hub URL or cache directory, a URL that is not https://, bad names).
 * Since: 1.0.
 */
STKDR_API int stkdr_keysync_new(stkdr_keysync **out, stkdr_ctx *ctx, const char *project, const char *env,
	const stkdr_keysync_options *opts);

/** Frees the handle. NULL is a no-op. Since: 1.0. */
STKDR_API void stkdr_keysync_free(stkdr_keysync *ks);

/**
 * The Bridge's start-up: fetches the JWKS from the Hub; if that fails, starts from the last good cache
 * and logs a warning saying so (stkdr_keysync_from_cache() then returns 1). When a valid cache exists
 * the fetch is attempted once, without retries, so that a Bridge restarts at once when the Hub is down
 * (the first unknown kid or stkdr_keysync_force() refreshes later); without a cache it retries.
 * @return 0; if neither the Hub nor a cache gives a valid key set, the fetch's error
 *         (::STKDR_EBACKEND, ::STKDR_ETIMEOUT, ::STKDR_ECORRUPT...) with the cache's state in the message.
 * Since: 1.0.
 */
STKDR_API int stkdr_keysync_start(stkdr_keysync *ks);

/**
 * Fetches now (runbook 3.3 "force Bridge sync"), with If-None-Match: a 304 keeps the current set.
 * On failure the current set stays in use.
 * @return 0; ::STKDR_EBACKEND (HTTP or TLS failure), ::STKDR_ETIMEOUT, ::STKDR_ECORRUPT (invalid JWKS),
 *         ::STKDR_ENOTFOUND (the Hub has no keys for it). Since: 1.0.
 */
STKDR_API int stkdr_keysync_force(stkdr_keysync *ks);

/**
 * Verifies a token with the synced keys (see stkdr_jwt_verify()). A token whose kid is unknown
 * triggers one refresh, at most once per refresh interval whatever the number of such tokens, then
 * verifies again.
 * @param[out] claims_out may be NULL. Ownership: caller disposes.
 * @return as stkdr_jwt_verify(); ::STKDR_ENOTFOUND when no set was loaded yet. Since: 1.0.
 */
STKDR_API int stkdr_keysync_verify(stkdr_buf *claims_out, stkdr_keysync *ks, const char *token,
	const stkdr_jwt_verify_options *opts);

/** 1 if the key set in use came from the cache (the Hub was unreachable), else 0. Since: 1.0. */
STKDR_API int stkdr_keysync_from_cache(const stkdr_keysync *ks);

/** Number of keys in use (0 before a successful start). Since: 1.0. */
STKDR_API int64_t stkdr_keysync_key_count(const stkdr_keysync *ks);

/** Number of HTTP requests made so far (each retry counts), for monitoring and tests. Since: 1.0. */
STKDR_API int64_t stkdr_keysync_fetch_count(const stkdr_keysync *ks);

STKDR_END_DECL

#endif
/** @} */
