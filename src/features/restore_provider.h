/* Restores and snapshots through a managed database provider (aws-rds...): restore_provider.c and
 * snapshot_provider.c. Internal. */
#ifndef STKDR_FEATURES_RESTORE_PROVIDER_H
#define STKDR_FEATURES_RESTORE_PROVIDER_H

#include "core/internal.h"
#include "stkdr/restore.h"
#include "stkdr/snapshot.h"

/* Whether the configuration names a managed provider (dbprovider.backend other than local-postgres). */
bool stkdr__provider_managed(stkdr_ctx *ctx);

/* stkdr__journal() when a repository is configured, else only the event (ACTION). */
void stkdr__provider_journal(stkdr_ctx *ctx, const char *name, const char *subject, int ok, const char *detail);

/* stkdr_restore() for a managed provider: a NEW instance `opts->target_instance` from a snapshot or a
 * point in time, waited for, and with STKDR_RESTORE_SWAP renamed into the Hub's instance name. Sets the
 * error; the caller returns through stkdr__ctx_result(). */
int stkdr__restore_provider(stkdr_buf *report_out, stkdr_ctx *ctx, const stkdr_restore_options *opts);

/* stkdr_snapshot_create/list/show/delete for a managed provider: the provider's snapshots of
 * dbprovider.instance (snapshot_provider.c). Set the error; callers return through stkdr__ctx_result(). */
int stkdr__provider_snapshot_create(stkdr_buf *id_out, stkdr_ctx *ctx, const stkdr_snapshot_options *o);
int stkdr__provider_snapshot_list(stkdr_ctx *ctx, stkdr_snapshot_cb cb, void *payload);
int stkdr__provider_snapshot_show(stkdr_buf *out, stkdr_ctx *ctx, const char *id);
int stkdr__provider_snapshot_delete(stkdr_ctx *ctx, const char *id);
/* stkdr_snapshot_expire for a managed provider: the retention policy (retention.c) over the snapshots of
 * dbprovider.instance that stkdr__provider_snapshot_create took (named "<instance>-<kind>-YYYYMMDDHHMMSS"
 * and tagged with their kind), reported through `cb` (may be NULL) with every other snapshot of the
 * instance (automated, another tool's, untagged: never deleted), then the expired ones deleted unless
 * STKDR_EXPIRE_DRY_RUN. ENOTSUPPORTED for a provider older than vtable version 3 (no kind/keep stored).
 * Sets the error; the caller returns through stkdr__ctx_result(). */
int stkdr__provider_snapshot_expire(stkdr_ctx *ctx, uint32_t flags, stkdr_expire_cb cb, void *payload);

#endif
