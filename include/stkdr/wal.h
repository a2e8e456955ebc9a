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
 * after checking its hash.
 * @return 0; ::STKDR_ENOTFOUND (not archived: normal at the end of recovery); ::STKDR_ECORRUPT.
 * Since: 1.0.
 */
STKDR_API int stkdr_wal_get(stkdr_ctx *ctx, const char *name, const char *dest);

STKDR_END_DECL

#endif
/** @} */
