/**
 * @file stkdr/restore.h
 * @brief Restore a snapshot, or a point in time, into a new data directory (runbook 3.1).
 * @defgroup stkdr_restore Restore
 *
 * With `local-postgres` a restore lays a snapshot down into a new data directory, writes the
 * recovery configuration, and optionally starts the cluster on a loopback port and waits until
 * recovery has reached the target. It never lands silently on a non-empty directory or a running
 * cluster. What it writes, and in which order: docs/formats.md, "Restore".
 *
 * With a managed provider (`dbprovider.backend` aws-rds) a restore creates a NEW database instance
 * (`target_instance`) from a provider snapshot or to a point in time of `dbprovider.instance`, waits
 * until it is available, and with ::STKDR_RESTORE_SWAP gives it the Hub's instance name (runbook 3.1
 * steps 3-7 as one call; docs/aws.md).
 *
 * Thread-safety: like every call taking a ::stkdr_ctx, one thread per context at a time. The restore
 * uses worker threads of its own; callbacks are invoked on the calling thread only.
 * @{
 */
#ifndef STKDR_RESTORE_H
#define STKDR_RESTORE_H

#include "common.h"
#include "buf.h"
#include "ctx.h"

STKDR_BEGIN_DECL

/** What to recover to. */
typedef enum stkdr_restore_target {
	STKDR_RESTORE_TARGET_SNAPSHOT = 0, /**< The consistent point of a snapshot (`snapshot_id`, or "latest"). */
	STKDR_RESTORE_TARGET_LATEST = 1,   /**< The end of the archived WAL. */
	STKDR_RESTORE_TARGET_TIME = 2,     /**< `target_time_ms`: nothing committed at or after it is replayed. */
	STKDR_RESTORE_TARGET_LSN = 3       /**< `target_lsn`: everything before it is replayed, nothing from it on. */
} stkdr_restore_target;

/** Reuse parts of files of a non-empty target directory whose SHA-256 matches the snapshot; remove
 *  what the snapshot does not have; replace the rest (e.g. to retry a failed restore cheaply). */
#define STKDR_RESTORE_DELTA 0x1u
/** Empty a non-empty target directory first (never one a server is running on). Excludes DELTA. */
#define STKDR_RESTORE_FORCE 0x2u
/** Start the restored cluster (loopback only, on `port`) and wait until it accepts connections and,
 *  for TIME/LSN/LATEST, until recovery reached the target and the cluster promoted. */
#define STKDR_RESTORE_START 0x4u
/**
 * With ::STKDR_RESTORE_START: point the Hub at the restored cluster once it is up (runbook 3.1 step
 * 4). With local-postgres: the record `dns.record` becomes a TXT record holding the new connection
 * URL, and/or `restore.swap_file` is rewritten atomically with `DATABASE_URL=...`; at least one must
 * be configured. With a managed provider (no START needed): the Hub's instance is renamed
 * `<name>-old-<UTC YYYYMMDDHHMMSS>` and the restored instance takes its name, so the Hub's connection
 * string (its endpoint follows the name) reaches the restored data; the old instance is never deleted.
 * Since: 1.0.
 */
#define STKDR_RESTORE_SWAP 0x8u

/** Current version of ::stkdr_restore_options. */
#define STKDR_RESTORE_OPTIONS_VERSION 1
/** Static initialiser for ::stkdr_restore_options. */
#define STKDR_RESTORE_OPTIONS_INIT { STKDR_RESTORE_OPTIONS_VERSION, NULL, NULL, NULL, 0, 0, NULL, 0, 0, 0 }

/** Options for stkdr_restore(). Since: 1.0. */
typedef struct stkdr_restore_options {
	unsigned int version;        /**< ::STKDR_RESTORE_OPTIONS_VERSION */
	const char *target_dir;      /**< local-postgres: the new data directory. Borrowed. */
	const char *target_instance; /**< Managed providers: the NEW instance's name (must not exist). Borrowed. */
	const char *snapshot_id;     /**< A snapshot id or "latest"; NULL: the newest one consistent before the
	                                  target (TIME/LSN), else the newest one. Managed providers: a provider
	                                  snapshot id, "latest"/NULL the newest available one. */
	int target;                  /**< A ::stkdr_restore_target. */
	int64_t target_time_ms;      /**< With ::STKDR_RESTORE_TARGET_TIME: Unix ms. */
	const char *target_lsn;      /**< With ::STKDR_RESTORE_TARGET_LSN: "X/Y". */
	uint32_t flags;              /**< ::STKDR_RESTORE_DELTA, ::STKDR_RESTORE_FORCE, ::STKDR_RESTORE_START, ::STKDR_RESTORE_SWAP. */
	int port;                    /**< With ::STKDR_RESTORE_START: the port, 0 for a free one. */
	int parallel;                /**< Worker threads fetching and writing file data; 0: `snapshot.parallel`. */
} stkdr_restore_options;

/**
 * Initialises `opts` to the defaults of structure version `version`.
 * @return 0, or ::STKDR_EVERSION. Since: 1.0.
 */
STKDR_API int stkdr_restore_options_init(stkdr_restore_options *opts, unsigned int version);

/**
 * Restores. Before anything is written: the options, the snapshot, the archived WAL chain the target
 * needs (a gap fails naming the first missing segment), and the target directory (absent or empty
 * unless DELTA/FORCE; never one a server is running on, whatever the flags). Every part read is
 * checked against its length and SHA-256. A marker file `stkdr-restore-incomplete` stays in the
 * directory until the very end, so a failed restore never leaves a directory that looks complete.
 *
 * The recovery configuration is appended to `postgresql.auto.conf`: no recovery.signal for a snapshot
 * target (crash recovery to the end of the backup); recovery.signal, `restore_command` (the
 * `restore.wal_command` setting, default `stk wal get %f "%p"`), the target (exclusive),
 * `recovery_target_action = 'promote'` for TIME/LSN/LATEST; and always `archive_command = ''`, so that
 * the restored cluster never archives into the repository until an operator makes it the primary.
 * When the caller is root the tree is given to the target directory's owner (or its parent's, or the
 * `postgres` user): PostgreSQL refuses to run as root.
 *
 * Progress: ::STKDR_EVENT_PROGRESS "restore.progress" (bytes), and with START "restore.recovery"
 * (WAL bytes replayed since the snapshot's start); "restore.started"/"restore.finished" are
 * journalled. With START the call waits as long as the server is alive and recovering; a negative
 * return from the progress callback cancels (the server is then stopped).
 * Managed providers (`target_instance`): checks that `dbprovider.instance` exists, that the target
 * instance does not, and that a TIME target is not after the latest restorable time; then restores
 * from a snapshot (SNAPSHOT) or to a point in time (TIME; LATEST = the latest restorable time), waits
 * up to `dbprovider.wait_timeout` for "available" (progress events "dbprovider.wait"), and with SWAP
 * renames as described at ::STKDR_RESTORE_SWAP. LSN targets, DELTA, FORCE and `port` are refused.
 * @param[out] report_out a JSON object: `snapshot`, `target`, `target_dir`, `files`, `bytes`,
 *             `fetched_bytes`, `reused_files`, `removed_files`, `wal_files`, `parallel`, `seconds`, and
 *             with START `port`, `conninfo`, `recovered_lsn`, `timeline`, `recovery_stop`. Managed
 *             providers: `provider`, `target`, `source_instance`, `target_instance`, `snapshot` or
 *             `target_time`, `instance` (its final name), `status`, `host`, `port`, `seconds`, and with
 *             SWAP `swapped`, `old_instance`, `delete_old` (how to delete the old instance). Set only on
 *             success. May be NULL. Ownership: caller disposes.
 * @return 0; ::STKDR_EINVAL (bad options, non-empty target, a server running on it), ::STKDR_ENOTFOUND
 *         (no snapshot before the target, WAL missing from the archive; an unknown instance or
 *         snapshot), ::STKDR_EEXISTS (the target instance exists), ::STKDR_ECORRUPT (a part, segment or
 *         manifest fails its checksum: the message names it), ::STKDR_ENOTSUPPORTED (a provider whose
 *         vtable cannot restore; an LSN target with a managed provider), ::STKDR_ETIMEOUT (the new
 *         instance was not available in time: the message names it and its last status),
 *         ::STKDR_EBACKEND (the restored server did not start or stopped during recovery: the message
 *         quotes its log; a provider error, named with its code). Since: 1.0.
 */
STKDR_API int stkdr_restore(stkdr_buf *report_out, stkdr_ctx *ctx, const stkdr_restore_options *opts);

/**
 * The provider-neutral point-in-time restore of runbook 3.1: stkdr_restore() restricted to a point in
 * time (`opts->target` ::STKDR_RESTORE_TARGET_TIME, ::STKDR_RESTORE_TARGET_LSN or
 * ::STKDR_RESTORE_TARGET_LATEST). With `local-postgres` it restores into a new data directory
 * (`target_dir`, and with ::STKDR_RESTORE_START a new port); with a managed provider into a new instance
 * (`target_instance`: RDS RestoreDBInstanceToPointInTime). ::STKDR_RESTORE_SWAP then points the Hub at
 * the result. Same report and errors as stkdr_restore().
 * @return as stkdr_restore(); ::STKDR_EINVAL for a SNAPSHOT target (use stkdr_restore()). Since: 1.0.
 */
STKDR_API int stkdr_restore_pitr(stkdr_buf *report_out, stkdr_ctx *ctx, const stkdr_restore_options *opts);

STKDR_END_DECL

#endif
/** @} */
