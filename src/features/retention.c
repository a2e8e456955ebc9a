/*
 * Grandfather-father-son retention (runbook 2.1): which snapshots stkdr_snapshot_expire() deletes, and why.
 * Shared by the repository's snapshots and a managed provider's (snapshot_provider.c); see retention.h.
 */
#include "retention.h"
#include "core/timeutil.h"

#include <stdio.h>

void stkdr__retention_policy_load(stkdr__retention_policy *pol, stkdr_ctx *ctx)
{
	pol->hourly_ms = stkdr__cfg_int(ctx, "retention.hourly", 7 * 86400000LL);
	pol->daily_ms = stkdr__cfg_int(ctx, "retention.daily", 30 * 86400000LL);
	pol->monthly_ms = stkdr__cfg_int(ctx, "retention.monthly", 365 * 86400000LL);
}

/* The calendar month (UTC) of a time, as year * 12 + month. */
static int64_t month_key(int64_t ms)
{
	int y, mo, d;
	int64_t days = ms / 86400000LL;
	if (ms < 0 && ms % 86400000LL)
		days--;
	stkdr__time_civil_from_days(days, &y, &mo, &d);
	return (int64_t)y * 12 + mo;
}

static void fmt_age(char *out, size_t n, int64_t ms)
{
	stkdr__time_format_duration(out, n, ms - ms % (ms >= 86400000LL ? 3600000LL : 60000LL));
}

static const char *kind_name(int kind)
{
	static const char *const names[] = { "manual", "hourly", "daily", "monthly" };
	return kind >= 0 && kind < 4 ? names[kind] : "manual";
}

static bool month_candidate(int kind)
{
	return kind == STKDR_SNAPSHOT_DAILY || kind == STKDR_SNAPSHOT_MANUAL || kind == STKDR_SNAPSHOT_MONTHLY;
}

size_t stkdr__retention_decide(stkdr__retention_item *items, size_t n, int64_t now, const stkdr__retention_policy *pol)
{
	size_t ndoomed = 0;
	for (size_t i = 0; i < n; i++) {
		stkdr__retention_item *it = &items[i];
		char age[32], lim[32];
		int64_t a = now - it->start_ms;
		fmt_age(age, sizeof age, a < 0 ? 0 : a);
		it->action = STKDR_EXPIRE_KEEP;
		/* The oldest daily (or manual) snapshot of each month is that month's monthly snapshot. */
		bool monthly = it->kind == STKDR_SNAPSHOT_MONTHLY;
		if (it->kind == STKDR_SNAPSHOT_DAILY || it->kind == STKDR_SNAPSHOT_MANUAL) {
			monthly = true;
			int64_t mk = month_key(it->start_ms);
			for (size_t j = 0; j < i && monthly; j++)
				if (month_candidate(items[j].kind) && month_key(items[j].start_ms) == mk)
					monthly = false;
		}
		if (it->keep) {
			snprintf(it->reason, sizeof it->reason, "kept: taken with --keep (%s old)", age);
		} else if (i == n - 1) {
			snprintf(it->reason, sizeof it->reason, "kept: the newest snapshot is never expired (%s old)", age);
		} else if (it->kind == STKDR_SNAPSHOT_HOURLY) {
			stkdr__time_format_duration(lim, sizeof lim, pol->hourly_ms);
			it->action = a > pol->hourly_ms ? STKDR_EXPIRE_DELETE : STKDR_EXPIRE_KEEP;
			snprintf(it->reason, sizeof it->reason, "hourly, %s old, %s %s", age,
				it->action ? "older than retention.hourly" : "within retention.hourly", lim);
		} else if (monthly && a <= pol->monthly_ms && (a > pol->daily_ms || it->kind == STKDR_SNAPSHOT_MONTHLY)) {
			stkdr__time_format_duration(lim, sizeof lim, pol->monthly_ms);
			snprintf(it->reason, sizeof it->reason, "monthly (first of its month), %s old, within retention.monthly %s",
				age, lim);
		} else if (monthly && a > pol->monthly_ms) {
			stkdr__time_format_duration(lim, sizeof lim, pol->monthly_ms);
			it->action = STKDR_EXPIRE_DELETE;
			snprintf(it->reason, sizeof it->reason, "monthly, %s old, older than retention.monthly %s", age, lim);
		} else {
			stkdr__time_format_duration(lim, sizeof lim, pol->daily_ms);
			it->action = a > pol->daily_ms ? STKDR_EXPIRE_DELETE : STKDR_EXPIRE_KEEP;
			snprintf(it->reason, sizeof it->reason, "%s, %s old, %s %s", kind_name(it->kind), age,
				it->action ? "older than retention.daily" : "within retention.daily", lim);
		}
		if (it->action == STKDR_EXPIRE_DELETE)
			ndoomed++;
	}
	return ndoomed;
}
