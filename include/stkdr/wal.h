/**
 * @file stkdr/wal.h
 * @brief The continuous WAL archive (runbook 2.1 "continuous backup"): archive_command and
 *        restore_command.
 * @defgroup stkdr_wal WAL archive
 *
 * Archived WAL lives at `P/wal/<timeline>/<segment>-<hash>` (docs/formats.md): compressed, with the
 * SHA-256 of the raw segment in the name, written create-only.
 * @{
 */
#ifndef STKDR_WAL_H
#define STKDR_WAL_H

#include "common.h"
#include "buf.h"
#include "ctx.h"

STKDR_BEGIN_DECL

/**
 * Archives one WAL file (segment, `.history`, `.backup`, `.partial`) — PostgreSQL's archive_command
 * `%p`. Idempotent: a file already archived with the same content succeeds; a different file under
 * the same name fails with ::STKDR_EEXISTS and nothing is overwritten.
 * @return 0; ::STKDR_EINVAL (not a WAL file name); ::STKDR_ENOTFOUND (no such file); ::STKDR_EEXISTS.
 * Since: 1.0.
 */
STKDR_API int stkdr_wal_push(stkdr_ctx *ctx, const char *path);

/**
 * Restores one archived WAL file to `dest` (PostgreSQL's restore_command `%f %p`), atomically and
 * after checking its hash. When `wal.prefetch` > 0 and `dest` is in a `pg_wal` directory, a segment
 * that stkdr_wal_prefetch() already restored into the spool (stkdr_wal_spool_dir()) is moved into place
 * instead (it was verified when fetched); one the prefetcher is fetching right now is waited for.
 * @return 0; ::STKDR_ENOTFOUND (not archived: normal at the end of recovery); ::STKDR_ECORRUPT.
 * Since: 1.0.
 */
STKDR_API int stkdr_wal_get(stkdr_ctx *ctx, const char *name, const char *dest);

/**
 * Fetches ahead for recovery: up to `count` complete segments that follow `name` on its timeline in the
 * archive (in archive order, so gaps are skipped) are restored into `spool_dir`, verified, in parallel
 * (`snapshot.parallel` at a time), each appearing under its own name only when whole. Segments already
 * in the spool are kept; spooled segments that sort at or before `name` (consumed or stale) and stale
 * temporary files are removed. One prefetcher per spool at a time: if another holds the spool's lock,
 * this returns 0 at once. Partial segments are never prefetched (they still grow).
 * stkdr_wal_get() moves a spooled segment into place instead of fetching it; `stk wal get` starts this
 * in the background after every segment it restores into a `pg_wal` directory (`wal.prefetch`).
 * @param spool_dir created (0700) if missing.
 * @return 0 (also when nothing followed); ::STKDR_EINVAL (`name` is not a segment name);
 *         ::STKDR_ECORRUPT, ::STKDR_EIO, backend errors of the first failed fetch (the segments fetched
 *         before it stay in the spool). Since: 1.0.
 */
STKDR_API int stkdr_wal_prefetch(stkdr_ctx *ctx, const char *name, const char *spool_dir, int count);

/**
 * The spool directory stkdr_wal_get() and `stk wal get` use for `dest`: `<directory of dest>/stkdr-prefetch`
 * when that directory is named `pg_wal` (a restore_command's `%p`), else NULL (no prefetching).
 * @param out receives the path (NUL-terminated).
 * @return 1 if `dest` is in a `pg_wal` directory, 0 if not, ::STKDR_ENOMEM. Since: 1.0.
 */
STKDR_API int stkdr_wal_spool_dir(stkdr_buf *out, const char *dest);

/** Current version of ::stkdr_wal_receive_options. */
#define STKDR_WAL_RECEIVE_OPTIONS_VERSION 1
/** Static initialiser for ::stkdr_wal_receive_options. */
#define STKDR_WAL_RECEIVE_OPTIONS_INIT { STKDR_WAL_RECEIVE_OPTIONS_VERSION, NULL, 0, 0 }

/** Options for stkdr_wal_receive(). Since: 1.0. */
typedef struct stkdr_wal_receive_options {
	unsigned int version;        /**< ::STKDR_WAL_RECEIVE_OPTIONS_VERSION */
	const char *slot;            /**< Physical replication slot (created if missing); NULL: `wal.slot`. Borrowed. */
	int64_t partial_interval_ms; /**< Upload the segment in progress this often; 0: `wal.partial_interval`. */
	int64_t status_interval_ms;  /**< Standby status to the server this often; 0: 10 s. */
} stkdr_wal_receive_options;

/**
 * Initialises `opts` to the defaults of structure version `version`.
 * @return 0, or ::STKDR_EVERSION. Since: 1.0.
 */
STKDR_API int stkdr_wal_receive_options_init(stkdr_wal_receive_options *opts, unsigned int version);

/**
 * Streams WAL from the primary over the replication protocol (like pg_receivewal) into the archive,
 * so that the repository stays seconds behind the primary: every completed segment is archived as
 * `stkdr_wal_push()` would, and the segment in progress is uploaded as a partial segment every
 * `partial_interval_ms` (a restore uses the newest partial when the complete segment is missing). A
 * physical replication slot keeps the server from recycling WAL the archive does not have yet; the
 * slot advances only past segments archived complete, so a restart resumes without loss.
 * Runs until the event callback returns a negative value for a ::STKDR_EVENT_PROGRESS event
 * "wal.receive.progress" (emitted about once a second, `done` = bytes received), then uploads what it
 * has and returns that value; or until the server ends streaming or an error occurs.
 * @return the callback's stop value; ::STKDR_EBACKEND (server gone, timeline switch), ::STKDR_EAUTH.
 * Since: 1.0.
 */
STKDR_API int stkdr_wal_receive(stkdr_ctx *ctx, const stkdr_wal_receive_options *opts);

STKDR_END_DECL

#endif
/** @} */
