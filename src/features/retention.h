/*
 * The grandfather-father-son retention decision (runbook 2.1: hourly 7 d, daily 30 d, monthly 365 d;
 * `keep` snapshots never expire), shared by stkdr_snapshot_expire() on the repository and on a managed
 * provider's snapshots (snapshot_provider.c). Pure: no I/O, no error. Internal.
 */
#ifndef STKDR_FEATURES_RETENTION_H
#define STKDR_FEATURES_RETENTION_H

#include "core/internal.h"
#include "stkdr/snapshot.h"

/* How long each kind is kept (ms): retention.hourly, retention.daily, retention.monthly. */
typedef struct stkdr__retention_policy {
	int64_t hourly_ms;
	int64_t daily_ms;
	int64_t monthly_ms;
} stkdr__retention_policy;

/* The policy of the configuration (defaults 7 d, 30 d, 365 d). */
void stkdr__retention_policy_load(stkdr__retention_policy *pol, stkdr_ctx *ctx);

/* One snapshot to decide about. The caller fills the inputs; stkdr__retention_decide() the outputs. */
typedef struct stkdr__retention_item {
	const char *id;   /* borrowed; not read by the decision (for the caller's convenience) */
	int kind;         /* a stkdr_snapshot_kind */
	int64_t start_ms; /* when it was taken (Unix ms) */
	int keep;         /* taken with --keep: never expired */
	/* outputs */
	int action;       /* STKDR_EXPIRE_KEEP or STKDR_EXPIRE_DELETE */
	char reason[200]; /* "hourly, 8d old, older than retention.hourly 7d", "kept: taken with --keep (3d old)"... */
} stkdr__retention_item;

/*
 * Decides for items[0..n-1], which must be in order, oldest first (the order stkdr_snapshot_list gives):
 * - keep: kept;
 * - the last item (the newest snapshot) is never expired;
 * - hourly: kept while at most retention.hourly old;
 * - the first daily/manual/monthly snapshot of its calendar month (UTC), and every monthly one, is that
 *   month's monthly snapshot: kept while at most retention.monthly old;
 * - other daily and manual ones: kept while at most retention.daily old.
 * Returns how many are to be deleted. `now_ms` is the context's clock (clock.fake_now in tests).
 */
size_t stkdr__retention_decide(stkdr__retention_item *items, size_t n, int64_t now_ms, const stkdr__retention_policy *pol);

#endif
