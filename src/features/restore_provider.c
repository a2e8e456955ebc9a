/*
 * stkdr_restore() with a managed database provider (dbprovider.backend aws-rds...): runbook 3.1 steps 3-7
 * as one call, through the dbprovider vtable (version 2) only, so it works with any provider.
 *
 * 1. Checks: options (a target instance, not a directory; a snapshot, time or latest target), the source
 *    instance (dbprovider.instance) exists, the target instance does not, a time target is within the
 *    source's restorable window.
 * 2. Starts the restore: from a snapshot (an id, or "latest"/none = the newest available snapshot of the
 *    source, manual or automated: the corruption path) or to a point in time (a time, or latest).
 * 3. Waits until the new instance is "available" (dbprovider.wait_timeout), with progress events.
 * 4. With STKDR_RESTORE_SWAP: renames the source to "<source>-old-<UTC timestamp>", waits, renames the new
 *    instance to the source's name, waits. The Hub's connection string (the source's endpoint, which
 *    follows the name) now reaches the restored data. The old instance is never deleted: the report says how.
 */
#include "restore_provider.h"
#include "repo.h"
#include "core/timeutil.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Journals into the repository when one is configured; an RDS-only configuration (no objstore) only
 * emits the event. */
void stkdr__provider_journal(stkdr_ctx *ctx, const char *name, const char *subject, int ok, const char *detail)
{
	const char *ob = stkdr__cfg_str(ctx, "objstore.backend");
	if (ob && !strcmp(ob, "local") && !stkdr__cfg_str(ctx, "objstore.path"))
		stkdr__emit(ctx, STKDR_EVENT_ACTION, name, subject, 0, 0, ok, detail);
	else
		stkdr__journal(ctx, STKDR_EVENT_ACTION, name, subject, ok, detail);
}

bool stkdr__provider_managed(stkdr_ctx *ctx)
{
	const char *b = stkdr__cfg_str(ctx, "dbprovider.backend");
	return b && strcmp(b, "local-postgres") != 0;
}

typedef struct newest {
	char id[256];
	int64_t created_ms;
	int n_avail;
} newest;

static int newest_cb(const stkdr_db_snapshot_info *si, void *payload)
{
	newest *nw = payload;
	if (strcmp(si->status, "available") != 0)
		return 0;
	nw->n_avail++;
	if (si->created_ms >= nw->created_ms) {
		nw->created_ms = si->created_ms;
		snprintf(nw->id, sizeof nw->id, "%s", si->id);
	}
	return 0;
}

static const char *target_word(int t)
{
	return t == STKDR_RESTORE_TARGET_SNAPSHOT ? "snapshot" : t == STKDR_RESTORE_TARGET_LATEST ? "latest" : "time";
}

static int check(const stkdr_restore_options *o, const stkdr_dbprovider *p, const char *provider)
{
	if (!o)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
			"stkdr_restore: options are required (at least target_instance)");
	if (o->version == 0 || o->version > STKDR_RESTORE_OPTIONS_VERSION)
		return stkdr__seterr(STKDR_EVERSION, STKDR_ERRCLASS_INTERNAL, NULL,
			"stkdr_restore_options version %u is not supported (1..%u)", o->version, STKDR_RESTORE_OPTIONS_VERSION);
	if (o->target_dir && *o->target_dir)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
			"target_dir (\"%s\") is a directory for local-postgres; dbprovider.backend %s restores into a new "
			"instance: use target_instance (stk restore --target-instance NAME)", o->target_dir, provider);
	if (!o->target_instance || !*o->target_instance)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
			"no target instance: dbprovider.backend %s restores into a NEW instance; name it with target_instance "
			"(stk restore --target-instance NAME)", provider);
	if (o->target == STKDR_RESTORE_TARGET_LSN)
		return stkdr__seterr(STKDR_ENOTSUPPORTED, STKDR_ERRCLASS_INTERNAL, NULL,
			"dbprovider.backend %s restores to a time, the latest restorable time or a snapshot, not to an LSN: "
			"use --time, --latest or --snapshot", provider);
	if (o->target < STKDR_RESTORE_TARGET_SNAPSHOT || o->target > STKDR_RESTORE_TARGET_TIME)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
			"restore target %d is not one of snapshot (0), latest (1), time (2)", o->target);
	if (o->target == STKDR_RESTORE_TARGET_TIME && o->target_time_ms <= 0)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
			"a time target needs target_time_ms (Unix ms), e.g. --time 2026-02-10T14:25:00Z");
	if (o->flags & (STKDR_RESTORE_DELTA | STKDR_RESTORE_FORCE))
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
			"--delta and --force are for restores into a directory; a managed restore always creates a new instance");
	if (o->flags & ~(uint32_t)(STKDR_RESTORE_START | STKDR_RESTORE_SWAP))
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "unknown restore flags 0x%x",
			(unsigned)(o->flags & ~15u));
	if (o->port)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
			"a port (%d) is for restores into a directory; the provider chooses the new instance's endpoint", o->port);
	if (p->base.version < 2 || !p->describe || !p->snapshot_list || !p->restore_snapshot || !p->restore_time ||
		!p->wait || ((o->flags & STKDR_RESTORE_SWAP) && !p->rename))
		return stkdr__seterr(STKDR_ENOTSUPPORTED, STKDR_ERRCLASS_CONFIG, NULL,
			"the %s database provider (vtable version %u) cannot restore: it needs the version 2 methods describe, "
			"snapshot_list, restore_snapshot, restore_time, wait and, for --swap, rename", provider, p->base.version);
	return 0;
}

/* "<source>-old-YYYYMMDDHHMMSS", within RDS's 63 characters. */
static void old_name(char *out, size_t cap, const char *source, int64_t now_ms)
{
	time_t t = (time_t)(now_ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	char ts[32];
	strftime(ts, sizeof ts, "%Y%m%d%H%M%S", &tm);
	int keep = 63 - (int)strlen("-old-") - (int)strlen(ts);
	snprintf(out, cap, "%.*s-old-%s", keep, source, ts);
}

int stkdr__restore_provider(stkdr_buf *report_out, stkdr_ctx *ctx, const stkdr_restore_options *opts)
{
	const char *provider = stkdr__cfg_str(ctx, "dbprovider.backend");
	stkdr_dbprovider *p = NULL;
	int64_t t0 = stkdr__time_mono_ms();
	int rc = stkdr__ctx_dbprovider(&p, ctx);
	if (!rc)
		rc = check(opts, p, provider);
	const char *source = NULL;
	if (!rc)
		rc = stkdr__cfg_require_str(&source, ctx, "dbprovider.instance");
	if (rc)
		return rc;
	const char *target = opts->target_instance;
	int64_t timeout = stkdr__cfg_int(ctx, "dbprovider.wait_timeout", 2 * 3600 * 1000);
	if (!strcmp(target, source))
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
			"the target instance \"%s\" is the Hub's own instance (dbprovider.instance); restore into a new one "
			"(e.g. %s-restored) and use --swap to give it the Hub's name", target, source);

	/* 1. checks before anything is created */
	stkdr_db_instance_info info;
	int64_t latest_ms = 0;
	rc = p->describe(&info, p, source);
	if (rc) {
		stkdr__err_prefix("restore: the Hub's instance %s (dbprovider.instance)", source);
		return rc;
	}
	latest_ms = info.latest_restorable_ms;
	rc = p->describe(&info, p, target);
	if (rc == 0)
		return stkdr__seterr(STKDR_EEXISTS, STKDR_ERRCLASS_INTERNAL, NULL,
			"the target instance %s already exists (status %s); a restore never lands on an existing instance: "
			"choose another --target-instance or delete that one first", target, info.status);
	if (rc != STKDR_ENOTFOUND)
		return rc;
	stkdr_error_clear();
	char snap[256] = "", when[40] = "";
	if (opts->target == STKDR_RESTORE_TARGET_SNAPSHOT) {
		if (!opts->snapshot_id || !*opts->snapshot_id || !strcmp(opts->snapshot_id, "latest")) {
			newest nw;
			memset(&nw, 0, sizeof nw);
			if ((rc = p->snapshot_list(p, source, newest_cb, &nw)) != 0)
				return rc;
			if (!nw.n_avail)
				return stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_INTERNAL, NULL,
					"instance %s has no available snapshot to restore (runbook 3.1): take one with `stk snapshot "
					"create` or restore to a time with --time/--latest", source);
			snprintf(snap, sizeof snap, "%s", nw.id);
		} else {
			snprintf(snap, sizeof snap, "%s", opts->snapshot_id);
		}
	} else if (opts->target == STKDR_RESTORE_TARGET_TIME) {
		stkdr__time_format_rfc3339(when, sizeof when, opts->target_time_ms);
		if (latest_ms > 0 && opts->target_time_ms > latest_ms) {
			char l[40];
			stkdr__time_format_rfc3339(l, sizeof l, latest_ms);
			return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
				"the target time %s is after instance %s's latest restorable time %s: choose an earlier time or "
				"--latest", when, source, l);
		}
	}

	/* 2. the restore */
	{
		cJSON *d = cJSON_CreateObject();
		cJSON_AddStringToObject(d, "provider", provider);
		cJSON_AddStringToObject(d, "source_instance", source);
		cJSON_AddStringToObject(d, "target_instance", target);
		cJSON_AddStringToObject(d, "target", target_word(opts->target));
		if (snap[0])
			cJSON_AddStringToObject(d, "snapshot", snap);
		if (when[0])
			cJSON_AddStringToObject(d, "target_time", when);
		char *ds = cJSON_PrintUnformatted(d);
		cJSON_Delete(d);
		stkdr__provider_journal(ctx, "restore.started", target, 1, ds);
		cJSON_free(ds);
	}
	if (snap[0]) {
		stkdr__log(ctx, STKDR_LOG_INFO, "restore", "restoring snapshot %s of %s into the new instance %s", snap, source,
			target);
		rc = p->restore_snapshot(p, snap, target);
	} else {
		stkdr__log(ctx, STKDR_LOG_INFO, "restore", "restoring %s as of %s into the new instance %s", source,
			when[0] ? when : "its latest restorable time", target);
		rc = p->restore_time(p, source, target, opts->target == STKDR_RESTORE_TARGET_TIME ? opts->target_time_ms : 0);
	}
	/* 3. wait */
	if (!rc)
		rc = p->wait(&info, p, STKDR_DB_WAIT_INSTANCE, target, "available", timeout);
	if (rc)
		stkdr__err_prefix("restore into the new instance %s", target);
	char host[256] = "";
	int port = 0;
	if (!rc) {
		snprintf(host, sizeof host, "%s", info.host);
		port = info.port;
		stkdr__log(ctx, STKDR_LOG_INFO, "restore", "instance %s is available at %s:%d", target, host, port);
	}

	/* 4. swap */
	char old[80] = "", hint[400] = "", swapped[400] = "";
	if (!rc && (opts->flags & STKDR_RESTORE_SWAP)) {
		old_name(old, sizeof old, source, stkdr__ctx_now_ms(ctx));
		rc = p->rename(p, source, old);
		if (!rc)
			rc = p->wait(NULL, p, STKDR_DB_WAIT_GONE, source, NULL, timeout);
		if (!rc)
			rc = p->wait(NULL, p, STKDR_DB_WAIT_INSTANCE, old, "available", timeout);
		if (rc) {
			stkdr__err_prefix("--swap: the restored instance %s is available at %s:%d, but renaming the Hub's "
				"instance %s to %s did not finish (check both in the console; nothing was deleted)", target, host,
				port, source, old);
		} else {
			rc = p->rename(p, target, source);
			if (!rc)
				rc = p->wait(NULL, p, STKDR_DB_WAIT_GONE, target, NULL, timeout);
			if (!rc)
				rc = p->wait(&info, p, STKDR_DB_WAIT_INSTANCE, source, "available", timeout);
			if (rc)
				stkdr__err_prefix("--swap: the Hub's old instance is now %s, but renaming the restored instance %s "
					"to %s did not finish: the Hub has no database under its name until it does (retry: aws rds "
					"modify-db-instance --db-instance-identifier %s --new-db-instance-identifier %s "
					"--apply-immediately)", old, target, source, target, source);
		}
		if (!rc) {
			snprintf(host, sizeof host, "%s", info.host);
			port = info.port;
			snprintf(swapped, sizeof swapped, "%s -> %s, %s -> %s", source, old, target, source);
			snprintf(hint, sizeof hint, "once the Hub is verified: aws rds delete-db-instance --db-instance-identifier "
				"%s --final-db-snapshot-identifier %s-final (or --skip-final-snapshot)", old, old);
			stkdr__provider_journal(ctx, "restore.swapped", source, 1, NULL);
			stkdr__log(ctx, STKDR_LOG_INFO, "restore", "swapped: %s; the old instance %s is kept: %s", swapped, old, hint);
		}
	}

	/* report */
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "provider", provider);
	cJSON_AddStringToObject(j, "target", target_word(opts->target));
	cJSON_AddStringToObject(j, "source_instance", source);
	cJSON_AddStringToObject(j, "target_instance", target);
	if (snap[0])
		cJSON_AddStringToObject(j, "snapshot", snap);
	if (when[0])
		cJSON_AddStringToObject(j, "target_time", when);
	if (!rc) {
		cJSON_AddStringToObject(j, "instance", swapped[0] ? source : target);
		cJSON_AddStringToObject(j, "status", "available");
		cJSON_AddStringToObject(j, "host", host);
		cJSON_AddNumberToObject(j, "port", port);
	}
	if (swapped[0]) {
		cJSON_AddStringToObject(j, "swapped", swapped);
		cJSON_AddStringToObject(j, "old_instance", old);
		cJSON_AddStringToObject(j, "delete_old", hint);
	}
	cJSON_AddNumberToObject(j, "seconds", (double)(stkdr__time_mono_ms() - t0) / 1000.0);
	if (rc)
		cJSON_AddStringToObject(j, "error", stkdr__err_get()->message);
	char *s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	{
		stkdr_error saved = *stkdr__err_get();
		char msg[1024], code[64];
		snprintf(msg, sizeof msg, "%s", saved.message);
		snprintf(code, sizeof code, "%s", saved.backend_code);
		stkdr__provider_journal(ctx, "restore.finished", target, rc == 0, s);
		if (rc)
			stkdr_error_set_str(saved.code, saved.klass, code, msg);
	}
	if (!rc && report_out)
		rc = s ? stkdr_buf_set(report_out, s, strlen(s)) : stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM",
			"out of memory");
	cJSON_free(s);
	return rc;
}
