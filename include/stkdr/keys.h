/**
 * @file stkdr/keys.h
 * @brief Token signing keys per project and environment: generate, list, rotate, export as JWKS, back
 *        up to the secrets backend and import (runbook 2.3, 3.3); JWT signing and verification.
 * @defgroup stkdr_keys Signing keys and tokens
 *
 * Keys live in the Hub DB table `keys.table` (created if missing; docs/formats.md). Each key has a
 * `kid` (the RFC 7638 JWK thumbprint, base64url), one algorithm (its allow-list: a token naming any
 * other `alg` is refused), a state and timestamps. The private part is stored only sealed
 * (AES-256-GCM) under the master key (`STKDR_MASTER_KEY` or `keys.master_key_secret`), bound to
 * project, environment and kid. Private key material never appears in messages, logs or unsealed
 * files.
 *
 * Thread-safety: like every call taking a ::stkdr_ctx, one thread per context at a time; a
 * ::stkdr_jwt_verifier too (mbedTLS caches precomputed tables inside the parsed keys).
 * @{
 */
#ifndef STKDR_KEYS_H
#define STKDR_KEYS_H

#include "common.h"
#include "buf.h"
#include "ctx.h"

STKDR_BEGIN_DECL

/** Key states. */
typedef enum stkdr_key_state {
	STKDR_KEY_ACTIVE = 0,      /**< Signs new tokens (one per project/env) and verifies. */
	STKDR_KEY_VERIFY_ONLY = 1, /**< Verifies tokens until `verify_until_ms`; never signs. */
	STKDR_KEY_RETIRED = 2      /**< Kept for the record; neither signs nor verifies. */
} stkdr_key_state;

/** Signature algorithms. */
typedef enum stkdr_key_alg {
	STKDR_KEY_ES256 = 1, /**< ECDSA P-256 with SHA-256 (JWS R||S signatures). The default. */
	STKDR_KEY_RS256 = 2  /**< RSASSA-PKCS1-v1_5 with SHA-256, RSA keys of at least 2048 bits. */
} stkdr_key_alg;

/** Current version of ::stkdr_key_info. */
#define STKDR_KEY_INFO_VERSION 1

/** One key as listed. Ownership: borrowed for the duration of the callback. Since: 1.0. */
typedef struct stkdr_key_info {
	unsigned int version;    /**< ::STKDR_KEY_INFO_VERSION */
	const char *project;     /**< Project. */
	const char *env;         /**< Environment. */
	const char *kid;         /**< RFC 7638 thumbprint (base64url SHA-256). */
	const char *alg;         /**< "ES256" or "RS256": the only algorithm this key accepts. */
	int state;               /**< A ::stkdr_key_state. */
	int64_t created_ms;      /**< Creation (or first import), Unix ms. */
	int64_t verify_until_ms; /**< For verify-only keys: last moment it verifies (Unix ms); 0 otherwise. */
} stkdr_key_info;

/** Called per key, newest first. Return 0 to go on, negative to stop (returned unchanged). */
typedef int STKDR_CALLBACK(stkdr_key_cb)(const stkdr_key_info *info, void *payload);

/** Current version of ::stkdr_keys_options. */
#define STKDR_KEYS_OPTIONS_VERSION 1
/** Static initialiser for ::stkdr_keys_options. */
#define STKDR_KEYS_OPTIONS_INIT { STKDR_KEYS_OPTIONS_VERSION, 0 }

/** Options for stkdr_keys_generate() and stkdr_keys_rotate(). Since: 1.0. */
typedef struct stkdr_keys_options {
	unsigned int version; /**< ::STKDR_KEYS_OPTIONS_VERSION */
	int alg;              /**< A ::stkdr_key_alg, or 0 for `keys.algorithm` (ES256). */
} stkdr_keys_options;

/**
 * Initialises `opts` to the defaults of structure version `version`.
 * @return 0, or ::STKDR_EVERSION. Since: 1.0.
 */
STKDR_API int stkdr_keys_options_init(stkdr_keys_options *opts, unsigned int version);

/**
 * Generates the first active key of a project/environment.
 * @param[out] kid_out receives the new key's kid. Ownership: caller disposes.
 * @param project, env names (letters, digits, '-', '_', '.').
 * @param opts NULL for defaults.
 * @return 0; ::STKDR_EEXISTS if an active key exists already (use stkdr_keys_rotate());
 *         ::STKDR_EAUTH (master key missing or refused); ::STKDR_EBACKEND (Hub DB).
 * Since: 1.0.
 */
STKDR_API int stkdr_keys_generate(stkdr_buf *kid_out, stkdr_ctx *ctx, const char *project, const char *env,
	const stkdr_keys_options *opts);

/**
 * Rotates: makes a new active key; the previous active key becomes verify-only until now +
 * `keys.overlap` (which must be at least the longest token lifetime); verify-only keys whose time
 * has passed become retired. One transaction. Works on an empty key set too (like generate).
 * @param[out] kid_out receives the new key's kid. Ownership: caller disposes.
 * @return 0; ::STKDR_EAUTH; ::STKDR_EBACKEND. Since: 1.0.
 */
STKDR_API int stkdr_keys_rotate(stkdr_buf *kid_out, stkdr_ctx *ctx, const char *project, const char *env,
	const stkdr_keys_options *opts);

/**
 * Lists the keys of a project/environment, newest first (no private material).
 * @return 0, or the callback's negative value; ::STKDR_EBACKEND. Since: 1.0.
 */
STKDR_API int stkdr_keys_list(stkdr_ctx *ctx, const char *project, const char *env, stkdr_key_cb cb, void *payload);

/** Called per project/environment that has keys. Strings borrowed for the call. Return 0 to go on. */
typedef int STKDR_CALLBACK(stkdr_key_set_cb)(const char *project, const char *env, void *payload);

/**
 * Lists the project/environment pairs that have keys in `keys.table`, sorted (for `keys backup --all`).
 * The pairs are read before the first callback, so unlike other callbacks this one may call other
 * functions on `ctx` (e.g. stkdr_keys_backup()).
 * @return 0, or the callback's negative value; ::STKDR_EBACKEND. Since: 1.0.
 */
STKDR_API int stkdr_keys_sets(stkdr_ctx *ctx, stkdr_key_set_cb cb, void *payload);

/**
 * The JWK Set (RFC 7517) of the keys that verify now: the active key and the verify-only keys whose
 * `verify_until` has not passed. Each JWK has `kty`, `kid`, `alg`, `use` "sig" and its public
 * parameters; the document is what the Hub serves at `/v1/projects/<p>/envs/<e>/jwks.json`.
 * @param[out] out JSON text. Ownership: caller disposes.
 * @return 0; ::STKDR_ENOTFOUND if no key verifies; ::STKDR_EBACKEND. Since: 1.0.
 */
STKDR_API int stkdr_keys_jwks(stkdr_buf *out, stkdr_ctx *ctx, const char *project, const char *env);

/**
 * Writes the whole key set of a project/environment (every key with its state and `verify_until`)
 * as one new version of the secret `<deployment>/signing-keys/<project>/<env>` in the secrets
 * backend; the new version becomes CURRENT and the old one PREVIOUS. The bundle's private keys stay
 * sealed under the master key and the bundle carries a MAC under a key derived from it, so a reader
 * of the secrets manager without the master key gets nothing usable and any change is detected.
 * Idempotent: the client token is the hash of the bundle's key set, so backing up an unchanged key set
 * again returns the existing version.
 *
 * Replica (runbook 2.3, "replicated to a second region"): when `keys.backup_replica` names a
 * configuration file, the same bundle is also written, under the same secret name, to the secrets
 * backend that file's `secrets` section selects (opened without environment overrides). The replica is
 * written even if the primary write failed. If only the replica fails, the primary version stands:
 * `version_id_out` holds it and the replica's error is returned (the message says the primary succeeded);
 * if the primary fails, `version_id_out` is left empty and the primary's error is returned (the message
 * says whether the replica got the bundle).
 * @param[out] version_id_out the primary's secret version (may be NULL). Ownership: caller disposes.
 * @return 0; ::STKDR_ENOTFOUND (no keys); ::STKDR_EAUTH; errors of the secrets backend (the primary's or
 *         the replica's, see above). Since: 1.0.
 */
STKDR_API int stkdr_keys_backup(stkdr_buf *version_id_out, stkdr_ctx *ctx, const char *project, const char *env);

/** Import source: a file (PEM key or backup bundle). */
#define STKDR_KEYS_IMPORT_FILE 0
/** Import source: the backup in the secrets backend. */
#define STKDR_KEYS_IMPORT_BACKUP 1

/** Current version of ::stkdr_keys_import_options. */
#define STKDR_KEYS_IMPORT_OPTIONS_VERSION 1
/** Static initialiser for ::stkdr_keys_import_options. */
#define STKDR_KEYS_IMPORT_OPTIONS_INIT { STKDR_KEYS_IMPORT_OPTIONS_VERSION, STKDR_KEYS_IMPORT_FILE, NULL, 0x1u, NULL, 0 }

/** Options for stkdr_keys_import(). Since: 1.0. */
typedef struct stkdr_keys_import_options {
	unsigned int version;       /**< ::STKDR_KEYS_IMPORT_OPTIONS_VERSION */
	int source;                 /**< ::STKDR_KEYS_IMPORT_FILE or ::STKDR_KEYS_IMPORT_BACKUP. */
	const char *key_file;       /**< FILE: a PEM private key (SEC1 or PKCS#8 EC P-256; PKCS#1 or PKCS#8 RSA
	                                 of at least 2048 bits) or a backup bundle (JSON). Borrowed. */
	uint32_t stage;             /**< BACKUP: ::STKDR_STAGE_CURRENT (1, default) or ::STKDR_STAGE_PREVIOUS (2). */
	const char *backup_version; /**< BACKUP: a version id (overrides `stage`), or NULL. Borrowed. */
	int replica;                /**< BACKUP: nonzero to read the replica named by `keys.backup_replica`
	                                 (when the primary region is down) instead of the secrets backend. */
} stkdr_keys_import_options;

/**
 * Initialises `opts` to the defaults of structure version `version`.
 * @return 0, or ::STKDR_EVERSION. Since: 1.0.
 */
STKDR_API int stkdr_keys_import_options_init(stkdr_keys_import_options *opts, unsigned int version);

/**
 * Imports keys into the project/environment in one transaction: all or nothing. A key whose kid
 * exists with the same material is skipped (idempotent); one whose kid exists with different
 * material is refused. A PEM key becomes active if the set has no active key, else verify-only for
 * `keys.overlap`. Bundle keys keep their state and `verify_until`, except that a bundle's active key
 * becomes verify-only when the set already has another active key.
 * @param[out] imported_out number of keys added (0: everything was there already); may be NULL.
 * @return 0; ::STKDR_EINVAL (unreadable or unsupported key: garbage, truncated, a curve other than
 *         P-256, RSA below 2048 bits; a bundle for another project/env); ::STKDR_EEXISTS (kid with
 *         different material); ::STKDR_EAUTH (wrong master key, tampered bundle); also ::STKDR_ENOTFOUND
 *         (no such file, secret or version). Since: 1.0.
 */
STKDR_API int stkdr_keys_import(int64_t *imported_out, stkdr_ctx *ctx, const char *project, const char *env,
	const stkdr_keys_import_options *opts);

/* ------------------------------------------------------------------ tokens */

/** Current version of ::stkdr_jwt_sign_options. */
#define STKDR_JWT_SIGN_OPTIONS_VERSION 1
/** Static initialiser for ::stkdr_jwt_sign_options. */
#define STKDR_JWT_SIGN_OPTIONS_INIT { STKDR_JWT_SIGN_OPTIONS_VERSION, 0 }

/** Options for stkdr_jwt_sign(). Since: 1.0. */
typedef struct stkdr_jwt_sign_options {
	unsigned int version; /**< ::STKDR_JWT_SIGN_OPTIONS_VERSION */
	int64_t ttl_ms;       /**< Lifetime; 0 for `keys.token_ttl` (15 min). */
} stkdr_jwt_sign_options;

/**
 * Initialises `opts` to the defaults of structure version `version`.
 * @return 0, or ::STKDR_EVERSION. Since: 1.0.
 */
STKDR_API int stkdr_jwt_sign_options_init(stkdr_jwt_sign_options *opts, unsigned int version);

/**
 * Signs a compact JWS (JWT) with the active key of the project/environment. The header is
 * `{"alg", "typ":"JWT", "kid"}`; the claims are `claims_json` (an object, may be NULL) plus `iat`,
 * `nbf` and `exp` (now + ttl), and `iss` / `aud` from `keys.issuer` / `keys.audience` when set and
 * absent from the claims.
 * @param[out] token_out the token. Ownership: caller disposes.
 * @return 0; ::STKDR_ENOTFOUND (no active key); ::STKDR_EINVAL (claims not a JSON object);
 *         ::STKDR_EAUTH (master key). Since: 1.0.
 */
STKDR_API int stkdr_jwt_sign(stkdr_buf *token_out, stkdr_ctx *ctx, const char *project, const char *env,
	const char *claims_json, const stkdr_jwt_sign_options *opts);

/**
 * A set of verification keys parsed once (per kid) from a JWKS. Thread-safety: one thread at a time.
 */
typedef struct stkdr_jwt_verifier stkdr_jwt_verifier;

/**
 * Parses and validates a JWKS: every key must be an EC P-256 (ES256) or RSA >= 2048 (RS256) public
 * key whose `kid` equals its RFC 7638 thumbprint; anything else makes the whole set refused.
 * @param[out] out the verifier. Ownership: caller frees with stkdr_jwt_verifier_free().
 * @return 0; ::STKDR_ECORRUPT (malformed set, a kid that is not the key's thumbprint: tampered);
 *         ::STKDR_EINVAL (unsupported key). Since: 1.0.
 */
STKDR_API int stkdr_jwt_verifier_new(stkdr_jwt_verifier **out, stkdr_ctx *ctx, const char *jwks_json, size_t len);

/** Frees a verifier. NULL is a no-op. Since: 1.0. */
STKDR_API void stkdr_jwt_verifier_free(stkdr_jwt_verifier *v);

/** Number of keys in a verifier. Since: 1.0. */
STKDR_API int64_t stkdr_jwt_verifier_count(const stkdr_jwt_verifier *v);

/** Current version of ::stkdr_jwt_verify_options. */
#define STKDR_JWT_VERIFY_OPTIONS_VERSION 1
/** Static initialiser for ::stkdr_jwt_verify_options. */
#define STKDR_JWT_VERIFY_OPTIONS_INIT { STKDR_JWT_VERIFY_OPTIONS_VERSION, -1, NULL, NULL }

/** Options for stkdr_jwt_verify(). Since: 1.0. */
typedef struct stkdr_jwt_verify_options {
	unsigned int version;  /**< ::STKDR_JWT_VERIFY_OPTIONS_VERSION */
	int64_t leeway_ms;     /**< Clock skew tolerated on exp/nbf; -1 for `keys.leeway` (60 s). */
	const char *issuer;    /**< Required `iss`, or NULL for `keys.issuer` (unchecked when unset). Borrowed. */
	const char *audience;  /**< Required in `aud`, or NULL for `keys.audience` (unchecked when unset). Borrowed. */
} stkdr_jwt_verify_options;

/**
 * Initialises `opts` to the defaults of structure version `version`.
 * @return 0, or ::STKDR_EVERSION. Since: 1.0.
 */
STKDR_API int stkdr_jwt_verify_options_init(stkdr_jwt_verify_options *opts, unsigned int version);

/**
 * Verifies a compact JWS: the key is chosen by the header's `kid`, the header's `alg` must be the
 * key's algorithm, then the signature, `exp` (required) and `nbf` with leeway against the context's
 * clock, and `iss` / `aud` when required.
 * @param[out] claims_out the claims JSON (may be NULL). Ownership: caller disposes.
 * @return 0; ::STKDR_ENOTFOUND (no key with that kid); ::STKDR_EAUTH (bad signature, expired, not yet
 *         valid, wrong issuer or audience, algorithm not allowed); ::STKDR_EINVAL (malformed token).
 * Since: 1.0.
 */
STKDR_API int stkdr_jwt_verify(stkdr_buf *claims_out, stkdr_ctx *ctx, const stkdr_jwt_verifier *v, const char *token,
	const stkdr_jwt_verify_options *opts);

STKDR_END_DECL

#endif
/** @} */
