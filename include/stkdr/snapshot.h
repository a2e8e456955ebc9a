/**
 * @file stkdr/snapshot.h
 * @brief Snapshots of the Hub DB: create, list, show, delete, expire (runbook 2.1, 3.1).
 * @defgroup stkdr_snapshot Snapshots
 *
 * With the `local-postgres` provider a snapshot is a physical, consistent backup of the running
 * cluster that this library takes itself (pg_backup_start/stop and parallel reads of the data
 * directory), stored in the configured object store with every part checksummed, plus the WAL needed
 * to make it consistent. Incremental snapshots store only what changed since their parent and are
 * restored transparently. The repository format is documented in docs/formats.md.
 *
 * Thread-safety: like every call taking a ::stkdr_ctx, one thread per context at a time.
 * @{
 */
#ifndef STKDR_SNAPSHOT_H
#define STKDR_SNAPSHOT_H

#include "common.h"
#include "buf.h"
#include "ctx.h"

STKDR_BEGIN_DECL

/** Snapshot kinds: they decide retention (grandfather-father-son). */
typedef enum stkdr_snapshot_kind {
	STKDR_SNAPSHOT_MANUAL = 0,  /**< Taken by an operator (kept like daily unless `keep`). */
	STKDR_SNAPSHOT_HOURLY = 1,  /**< Kept `retention.hourly` (7 days). */
	STKDR_SNAPSHOT_DAILY = 2,   /**< Kept `retention.daily` (30 days); the first of a month also `retention.monthly`. */
	STKDR_SNAPSHOT_MONTHLY = 3  /**< Kept `retention.monthly` (365 days). */
} stkdr_snapshot_kind;

/** Force a full snapshot even if a parent exists. */
#define STKDR_SNAPSHOT_FULL 0x1u
/** Never expire by policy (before upgrades and destructive migrations). */
#define STKDR_SNAPSHOT_KEEP 0x2u
/** Re-read and re-hash every file instead of trusting size and modification time (slower, paranoid). */
#define STKDR_SNAPSHOT_DELTA 0x4u

/** Current version of ::stkdr_snapshot_options. */
#define STKDR_SNAPSHOT_OPTIONS_VERSION 1
/** Static initialiser for ::stkdr_snapshot_options. */
#define STKDR_SNAPSHOT_OPTIONS_INIT { STKDR_SNAPSHOT_OPTIONS_VERSION, STKDR_SNAPSHOT_MANUAL, NULL, 0, 0 }

/** Options for stkdr_snapshot_create(). Since: 1.0. */
typedef struct stkdr_snapshot_options {
	unsigned int version; /**< ::STKDR_SNAPSHOT_OPTIONS_VERSION */
	int kind;             /**< A ::stkdr_snapshot_kind. */
	const char *label;    /**< Free text ("before v2.3 upgrade"), or NULL. Borrowed. */
	uint32_t flags;       /**< ::STKDR_SNAPSHOT_FULL, ::STKDR_SNAPSHOT_KEEP, ::STKDR_SNAPSHOT_DELTA. */
	int parallel;         /**< Worker threads; 0: `snapshot.parallel`. */
} stkdr_snapshot_options;

/**
 * Initialises `opts` to the defaults of structure version `version`.
 * @return 0, or ::STKDR_EVERSION. Since: 1.0.
 */
STKDR_API int stkdr_snapshot_options_init(stkdr_snapshot_options *opts, unsigned int version);

/**
 * Takes a snapshot of the running Hub DB while it keeps taking writes. Progress is reported with
 * ::STKDR_EVENT_PROGRESS events named "snapshot.progress" (bytes), and "snapshot.created" is emitted
 * and journalled at the end. A failure part-way leaves no snapshot that any reader takes for whole:
 * the manifest is written last, and what a failed or killed run left is removed by the next run.
 * @param[out] id_out receives the new snapshot's id (sortable by time). Ownership: caller disposes.
 * @param opts NULL for defaults.
 * @return 0; ::STKDR_EBACKEND (cluster down, not a primary), ::STKDR_EAUTH (credentials),
 *         ::STKDR_ELOCKED (another snapshot or expire is running); see stkdr_ctx_last_error().
 * Since: 1.0.
 */
STKDR_API int stkdr_snapshot_create(stkdr_buf *id_out, stkdr_ctx *ctx, const stkdr_snapshot_options *opts);

/** Current version of ::stkdr_snapshot_info. */
#define STKDR_SNAPSHOT_INFO_VERSION 1

/** Summary of one snapshot. Ownership: borrowed for the duration of the callback. Since: 1.0. */
typedef struct stkdr_snapshot_info {
	unsigned int version;     /**< ::STKDR_SNAPSHOT_INFO_VERSION */
	const char *id;           /**< Snapshot id. */
	int kind;                 /**< A ::stkdr_snapshot_kind. */
	const char *label;        /**< Label or "". */
	int keep;                 /**< 1 if never expired by policy. */
	int incremental;          /**< 1 if it builds on `parent`. */
	const char *parent;       /**< Parent id or "". */
	int64_t start_ms;         /**< When the backup started (Unix ms). */
	int64_t stop_ms;          /**< When it became consistent (Unix ms). */
	const char *start_lsn;    /**< "0/2000028". */
	const char *stop_lsn;     /**< LSN at which the snapshot is consistent. */
	int timeline;             /**< PostgreSQL timeline. */
	int64_t size_bytes;       /**< Bytes of the data directory it restores. */
	int64_t stored_bytes;     /**< Bytes this snapshot added to the repository (compressed). */
	int64_t n_files;          /**< Files in the data directory. */
	int pg_version;           /**< Server version number (150018). */
} stkdr_snapshot_info;

/** Called per snapshot, oldest first. Return 0 to go on, negative to stop (returned unchanged). */
typedef int STKDR_CALLBACK(stkdr_snapshot_cb)(const stkdr_snapshot_info *info, void *payload);

/**
 * Lists the committed snapshots of the deployment, oldest first.
 * @return 0, or an error of the object store. Since: 1.0.
 */
STKDR_API int stkdr_snapshot_list(stkdr_ctx *ctx, stkdr_snapshot_cb cb, void *payload);

/**
 * The manifest of one snapshot as JSON (docs/formats.md).
 * @param id a snapshot id, or "latest".
 * @param[out] out Ownership: caller disposes.
 * @return 0; ::STKDR_ENOTFOUND naming the id; ::STKDR_ECORRUPT if the manifest fails its checksum.
 * Since: 1.0.
 */
STKDR_API int stkdr_snapshot_show(stkdr_buf *out, stkdr_ctx *ctx, const char *id);

/**
 * Deletes a snapshot: its manifest first (so it stops being a snapshot), then every object no other
 * snapshot references. A snapshot that others build on stays restorable for them.
 * @return 0; ::STKDR_ENOTFOUND; ::STKDR_EIMMUTABLE if objects are under retention; ::STKDR_ELOCKED.
 * Since: 1.0.
 */
STKDR_API int stkdr_snapshot_delete(stkdr_ctx *ctx, const char *id);

/** Expire decisions reported to the callback. */
typedef enum stkdr_expire_action {
	STKDR_EXPIRE_KEEP = 0,   /**< Kept (reason says which rule). */
	STKDR_EXPIRE_DELETE = 1  /**< Deleted (or would be, in a dry run). */
} stkdr_expire_action;

/**
 * Called per snapshot with the decision and the reason ("hourly, 3d old, within 7d", "kept: --keep").
 * Return 0 to go on, negative to stop.
 */
typedef int STKDR_CALLBACK(stkdr_expire_cb)(const char *id, int action, const char *reason, void *payload);

/** Only report: delete nothing. */
#define STKDR_EXPIRE_DRY_RUN 0x1u

/**
 * Applies the retention policy (`retention.hourly/daily/monthly`; `keep` snapshots never expire)
 * and removes what no remaining snapshot needs: expired snapshots, their objects not referenced by a
 * kept incremental child, archived WAL older than the oldest kept snapshot's start, and leftovers of
 * failed runs.
 * @return 0; ::STKDR_ELOCKED. Since: 1.0.
 */
STKDR_API int stkdr_snapshot_expire(stkdr_ctx *ctx, uint32_t flags, stkdr_expire_cb cb, void *payload);

/** Verification: only check the checksums of every object; do not restore and start a copy. */
#define STKDR_VERIFY_CHECKSUMS_ONLY 0x1u
/** Verification: keep the scratch directory (for a post-mortem), stopped. */
#define STKDR_VERIFY_KEEP_SCRATCH 0x2u

/** Current version of ::stkdr_verify_options. */
#define STKDR_VERIFY_OPTIONS_VERSION 1
/** Static initialiser for ::stkdr_verify_options. */
#define STKDR_VERIFY_OPTIONS_INIT { STKDR_VERIFY_OPTIONS_VERSION, 0, NULL }

/** Options for stkdr_snapshot_verify(). Since: 1.0. */
typedef struct stkdr_verify_options {
	unsigned int version;    /**< ::STKDR_VERIFY_OPTIONS_VERSION */
	uint32_t flags;          /**< ::STKDR_VERIFY_CHECKSUMS_ONLY, ::STKDR_VERIFY_KEEP_SCRATCH. */
	const char *scratch_dir; /**< Parent of the throwaway copy; NULL: `verify.scratch_dir`. Borrowed. */
} stkdr_verify_options;

/**
 * Initialises `opts` to the defaults of structure version `version`.
 * @return 0, or ::STKDR_EVERSION. Since: 1.0.
 */
STKDR_API int stkdr_verify_options_init(stkdr_verify_options *opts, unsigned int version);

/**
 * The runbook's weekly test restore: checks the SHA-256 of every object the snapshot needs (bundles,
 * manifests, WAL), restores it into a scratch directory, runs `pg_verifybackup` on it, starts a
 * throwaway PostgreSQL on a free loopback port, waits until it is consistent, runs `amcheck` on every
 * btree index of every database, counts the rows of `verify.tables`, runs `verify.smoke_query`, then
 * stops and removes it. The result is stored in the repository (`P/verify/<id>/`) and journalled as a
 * "snapshot.verified" result event.
 * @param[out] report_out the JSON report (every check with its outcome; what failed names the file,
 *             index or table). May be NULL. Ownership: caller disposes.
 * @param id a snapshot id, or "latest".
 * @return 0 if every check passed; ::STKDR_ECORRUPT if one failed (see the report); other codes when
 *         verification itself could not run (::STKDR_ENOTFOUND, ::STKDR_EBACKEND...). Since: 1.0.
 */
STKDR_API int stkdr_snapshot_verify(stkdr_buf *report_out, stkdr_ctx *ctx, const char *id,
	const stkdr_verify_options *opts);

STKDR_END_DECL

#endif
/** @} */
