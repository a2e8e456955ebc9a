/* Recovery readiness: RPO exposure, restorable range, WAL gaps, last verification, against targets.
 * With a managed provider (aws-rds...) the same report from the provider: the instance's latest
 * restorable time (continuous backup) and its snapshots, manual and automated. */
#include "snapshot.h"
#include "restore_provider.h"
#include "repo.h"
#include "wal.h"
#include "core/timeutil.h"
#include "stkdr/status.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct walseg {
	uint32_t tli;
	uint64_t segno; /* log * per + seg, per = 4 GiB / segment size */
	int64_t mtime_ms;
} walseg;

typedef struct walscan {
	walseg *v;
	size_t n, cap;
	size_t prefix_len;
	int64_t newest_ms;
	char newest_name[48];
	int rc;
} walscan;

static int wal_cb(const stkdr_objinfo *info, void *payload)
{
	walscan *w = payload;
	const char *rel = info->key + w->prefix_len; /* <tli>/<segment>-<hash><suffix> */
	unsigned int tli, log, seg;
	if (strlen(rel) < 9 + 24 || rel[8] != '/')
		return 0;
	char name[25];
	memcpy(name, rel + 9, 24);
	name[24] = '\0';
	if (!strncmp(rel + 9 + 24, ".partial-", 9)) {
		/* the streaming receiver's upload of the segment in progress: it bounds the exposure */
		if (info->mtime_ms >= w->newest_ms) {
			w->newest_ms = info->mtime_ms;
			snprintf(w->newest_name, sizeof w->newest_name, "%s.partial", name);
		}
		return 0;
	}
	if (rel[9 + 24] != '-' || stkdr__wal_name_kind(name) != 1 || sscanf(name, "%8X%8X%8X", &tli, &log, &seg) != 3)
		return 0;
	if (stkdr__grow(&w->v, &w->cap, w->n, sizeof *w->v, 256) != 0)
		return w->rc = STKDR_ENOMEM;
	w->v[w->n].tli = tli;
	w->v[w->n].segno = (uint64_t)log << 32 | seg; /* provisional: normalised once the segment size is known */
	w->v[w->n].mtime_ms = info->mtime_ms;
	w->n++;
	if (info->mtime_ms >= w->newest_ms) {
		w->newest_ms = info->mtime_ms;
		snprintf(w->newest_name, sizeof w->newest_name, "%s", name);
	}
	return 0;
}

static int cmp_seg(const void *a, const void *b)
{
	const walseg *x = a, *y = b;
	if (x->segno != y->segno)
		return x->segno < y->segno ? -1 : 1;
	return x->tli < y->tli ? -1 : (x->tli > y->tli);
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : "";
}

static void add_time(cJSON *o, const char *k, int64_t ms)
{
	char t[40];
	if (ms <= 0) {
		cJSON_AddNullToObject(o, k);
		return;
	}
	stkdr__time_format_rfc3339(t, sizeof t, ms);
	cJSON_AddStringToObject(o, k, t);
}

static void add_duration(cJSON *o, const char *k, int64_t ms)
{
	char t[40];
	if (ms < 0) {
		cJSON_AddNullToObject(o, k);
		return;
	}
	stkdr__time_format_duration(t, sizeof t, ms - ms % 1000);
	cJSON_AddStringToObject(o, k, t);
}

/* The newest verification result of any snapshot, or NULL. */
static cJSON *last_verification(stkdr_ctx *ctx)
{
	char *prefix = stkdr__repo_key(ctx, "verify/");
	char **keys = NULL;
	size_t n = 0;
	cJSON *best = NULL;
	if (prefix && stkdr__repo_list(&keys, &n, ctx, prefix) == 0 && n > 0) {
		/* keys are verify/<snapshot>/<run id>.json: the newest run id wins, across snapshots */
		const char *newest = NULL;
		for (size_t i = 0; i < n; i++) {
			const char *run = strrchr(keys[i], '/');
			if (run && (!newest || strcmp(run, strrchr(newest, '/')) > 0))
				newest = keys[i];
		}
		stkdr_buf b = STKDR_BUF_INIT;
		if (newest && stkdr__repo_get(&b, ctx, newest) == 0)
			best = cJSON_ParseWithLength(b.ptr, b.size);
		stkdr_buf_dispose(&b);
	}
	stkdr__strv_free(keys);
	stkdr__free(prefix);
	stkdr_error_clear();
	return best;
}

/* The RTO half of the objectives (both reports): the last verification's restore time against the target. */
static int add_rto(cJSON *obj, stkdr_ctx *ctx, cJSON *vj, int64_t rto)
{
	cJSON *ver = last_verification(ctx);
	double restore_s = -1;
	if (ver) {
		cJSON_AddStringToObject(vj, "snapshot", jstr(ver, "snapshot"));
		cJSON_AddStringToObject(vj, "time", jstr(ver, "time"));
		cJSON_AddBoolToObject(vj, "ok", cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ver, "ok")));
		restore_s = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(ver, "seconds"));
		cJSON_AddNumberToObject(vj, "seconds", restore_s);
		cJSON_Delete(ver);
	}
	cJSON *t = cJSON_AddObjectToObject(obj, "rto");
	add_duration(t, "target", rto);
	int rto_ok = restore_s >= 0 && restore_s * 1000.0 <= (double)rto;
	if (restore_s >= 0)
		add_duration(t, "measured", (int64_t)(restore_s * 1000.0));
	cJSON_AddBoolToObject(t, "ok", rto_ok);
	if (restore_s < 0)
		cJSON_AddStringToObject(t, "problem", "never measured: run `stk hub verify-backup --snapshot latest`");
	return rto_ok;
}

/* What the provider's snapshots tell status: count, newest and oldest available ones. */
typedef struct pstat {
	int count;
	char newest[256], oldest[256], newest_type[32];
	int64_t newest_ms, oldest_ms;
} pstat;

static int pstat_cb(const stkdr_db_snapshot_info *si, void *payload)
{
	pstat *ps = payload;
	if (strcmp(si->status, "available") != 0 || si->created_ms <= 0)
		return 0;
	ps->count++;
	if (!ps->oldest[0] || si->created_ms < ps->oldest_ms) {
		ps->oldest_ms = si->created_ms;
		snprintf(ps->oldest, sizeof ps->oldest, "%s", si->id);
	}
	if (!ps->newest[0] || si->created_ms >= ps->newest_ms) {
		ps->newest_ms = si->created_ms;
		snprintf(ps->newest, sizeof ps->newest, "%s", si->id);
		snprintf(ps->newest_type, sizeof ps->newest_type, "%s", si->type);
	}
	return 0;
}

/*
 * stkdr_status() with a managed provider: the instance's LatestRestorableTime bounds the RPO exposure
 * (the provider archives the transaction log itself); without it (automated backups off) the newest
 * snapshot does. The restorable range runs from the oldest available snapshot to the latest restorable
 * time. Same report shape as the repository's, plus "provider"; "wal" says who archives it.
 */
static int provider_status(stkdr_buf *report_out, stkdr_ctx *ctx, int64_t now, int64_t rpo, int64_t rto)
{
	stkdr_dbprovider *p;
	int rc = stkdr__ctx_dbprovider(&p, ctx);
	if (rc)
		return rc;
	const char *instance;
	if ((rc = stkdr__cfg_require_str(&instance, ctx, "dbprovider.instance")) != 0)
		return rc;
	if (p->base.version < 2 || !p->describe || !p->snapshot_list)
		return stkdr__seterr(STKDR_ENOTSUPPORTED, STKDR_ERRCLASS_CONFIG, NULL,
			"the %s database provider (vtable version %u) cannot describe instance %s", p->base.name,
			p->base.version, instance);
	stkdr_db_instance_info info;
	if ((rc = p->describe(&info, p, instance)) != 0) {
		stkdr__err_prefix("status of instance %s (dbprovider.instance)", instance);
		return rc;
	}
	char inst_status[64];
	snprintf(inst_status, sizeof inst_status, "%s", info.status ? info.status : "");
	int64_t lrt = info.latest_restorable_ms;
	int multi_az = info.multi_az;
	pstat ps;
	memset(&ps, 0, sizeof ps);
	if ((rc = p->snapshot_list(p, instance, pstat_cb, &ps)) != 0) {
		stkdr__err_prefix("status of instance %s: listing its snapshots", instance);
		return rc;
	}
	cJSON *rep = cJSON_CreateObject();
	if (!rep)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	cJSON_AddStringToObject(rep, "format", "stkdr-status");
	cJSON_AddNumberToObject(rep, "format_version", 1);
	cJSON_AddStringToObject(rep, "deployment", stkdr__cfg_str(ctx, "deployment") ? stkdr__cfg_str(ctx, "deployment") : "");
	add_time(rep, "now", now);
	cJSON *snaps = cJSON_AddObjectToObject(rep, "snapshots");
	cJSON_AddNumberToObject(snaps, "count", ps.count);
	if (ps.count) {
		cJSON_AddStringToObject(snaps, "newest", ps.newest);
		cJSON_AddStringToObject(snaps, "newest_type", ps.newest_type);
		add_time(snaps, "newest_consistent_at", ps.newest_ms);
		add_duration(snaps, "newest_age", now - ps.newest_ms);
		cJSON_AddStringToObject(snaps, "oldest", ps.oldest);
		add_time(snaps, "oldest_consistent_at", ps.oldest_ms);
	}
	cJSON *pj = cJSON_AddObjectToObject(rep, "provider");
	cJSON_AddStringToObject(pj, "backend", p->base.name);
	cJSON_AddStringToObject(pj, "instance", instance);
	cJSON_AddStringToObject(pj, "status", inst_status);
	cJSON_AddBoolToObject(pj, "multi_az", multi_az);
	add_time(pj, "latest_restorable_time", lrt);
	/* the provider archives the transaction log itself: its latest restorable time is the newest archived */
	cJSON *wal = cJSON_AddObjectToObject(rep, "wal");
	char by[160];
	snprintf(by, sizeof by, "%s continuous backup", p->base.name);
	cJSON_AddStringToObject(wal, "archived_by", p->base.name);
	if (lrt > 0) {
		cJSON_AddStringToObject(wal, "newest", by);
		add_time(wal, "newest_archived_at", lrt);
	}
	cJSON_AddArrayToObject(wal, "gaps");
	int64_t restorable = lrt > ps.newest_ms ? lrt : ps.newest_ms;
	int64_t exposure = restorable > 0 ? (now > restorable ? now - restorable : 0) : -1; /* 0: a clock behind */
	add_time(rep, "latest_restorable_time", restorable);
	add_time(rep, "earliest_restorable_time", ps.count ? ps.oldest_ms : 0);
	cJSON *vj = cJSON_AddObjectToObject(rep, "last_verification");
	cJSON *obj = cJSON_AddObjectToObject(rep, "objectives");
	cJSON *r = cJSON_AddObjectToObject(obj, "rpo");
	add_duration(r, "target", rpo);
	add_duration(r, "exposure", exposure);
	int rpo_ok = exposure >= 0 && exposure <= rpo;
	cJSON_AddBoolToObject(r, "ok", rpo_ok);
	char problem[400] = "";
	if (!lrt && !ps.count)
		snprintf(problem, sizeof problem, "instance %s has no latest restorable time (automated backups off?) and no "
			"available snapshot: set its backup retention period, or take one with `stk snapshot create`", instance);
	else if (!lrt && !rpo_ok)
		snprintf(problem, sizeof problem, "instance %s has no latest restorable time (automated backups off?) and "
			"its newest snapshot is older than the RPO target: set its backup retention period", instance);
	else if (!rpo_ok)
		snprintf(problem, sizeof problem, "the latest restorable time of instance %s is older than the RPO target: "
			"the provider is not archiving its transaction log (see the instance's events; status %s)", instance,
			inst_status);
	if (problem[0])
		cJSON_AddStringToObject(r, "problem", problem);
	int rto_ok = add_rto(obj, ctx, vj, rto);
	cJSON_AddBoolToObject(rep, "ok", rpo_ok && rto_ok);
	char *s = cJSON_Print(rep);
	rc = s ? stkdr_buf_set(report_out, s, strlen(s)) : stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "oom");
	cJSON_free(s);
	cJSON_Delete(rep);
	return rc;
}

int stkdr_status(stkdr_buf *report_out, stkdr_ctx *ctx)
{
	if (!ctx || !report_out)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_status: NULL argument");
	stkdr_error_clear();
	int64_t now = stkdr__ctx_now_ms(ctx);
	int64_t rpo = stkdr__cfg_int(ctx, "targets.rpo", 3600000);
	int64_t rto = stkdr__cfg_int(ctx, "targets.rto", 4 * 3600000);
	if (stkdr__provider_managed(ctx)) /* aws-rds...: the provider's instance and snapshots */
		return stkdr__ctx_result(ctx, provider_status(report_out, ctx, now, rpo, rto));
	char **ids = NULL;
	size_t nids = 0;
	cJSON *newest = NULL, *oldest = NULL, *rep = NULL;
	walscan ws;
	memset(&ws, 0, sizeof ws);
	int rc = stkdr__snapshot_ids(&ids, &nids, ctx);
	if (rc)
		goto out;
	if (nids && (rc = stkdr__snapshot_load(&newest, NULL, ctx, ids[nids - 1])) != 0)
		goto out;
	if (nids && (rc = stkdr__snapshot_load(&oldest, NULL, ctx, ids[0])) != 0)
		goto out;
	stkdr_objstore *os;
	if ((rc = stkdr__ctx_objstore(&os, ctx)) != 0)
		goto out;
	char *wprefix = stkdr__repo_key(ctx, "wal/");
	if (!wprefix) {
		rc = STKDR_ENOMEM;
		goto out;
	}
	ws.prefix_len = strlen(wprefix);
	rc = os->list(os, wprefix, NULL, wal_cb, &ws);
	stkdr__free(wprefix);
	if (!rc)
		rc = ws.rc;
	if (rc)
		goto out;

	rep = cJSON_CreateObject();
	if (!rep) {
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
		goto out;
	}
	cJSON_AddStringToObject(rep, "format", "stkdr-status");
	cJSON_AddNumberToObject(rep, "format_version", 1);
	cJSON_AddStringToObject(rep, "deployment", stkdr__cfg_str(ctx, "deployment") ? stkdr__cfg_str(ctx, "deployment") : "");
	add_time(rep, "now", now);
	cJSON *snaps = cJSON_AddObjectToObject(rep, "snapshots");
	cJSON_AddNumberToObject(snaps, "count", (double)nids);
	int64_t newest_stop = 0, oldest_start = 0;
	if (newest) {
		stkdr__time_parse_rfc3339(&newest_stop, jstr(newest, "stop_time"));
		stkdr__time_parse_rfc3339(&oldest_start, jstr(oldest, "start_time"));
		stkdr_error_clear();
		cJSON_AddStringToObject(snaps, "newest", jstr(newest, "id"));
		add_time(snaps, "newest_consistent_at", newest_stop);
		add_duration(snaps, "newest_age", now - newest_stop);
		cJSON_AddStringToObject(snaps, "oldest", jstr(oldest, "id"));
		add_time(snaps, "oldest_consistent_at", oldest_start);
	}

	/* The WAL chain: contiguous from the oldest snapshot's first segment to the newest archived one. */
	int64_t seg_size = newest ? (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(newest,
					     "wal_segment_size"))
				  : 0;
	if (seg_size <= 0)
		seg_size = 16 * 1024 * 1024;
	uint64_t per = 0x100000000ULL / (uint64_t)seg_size;
	for (size_t i = 0; i < ws.n; i++)
		ws.v[i].segno = (ws.v[i].segno >> 32) * per + (ws.v[i].segno & 0xffffffffu);
	if (ws.n)
		qsort(ws.v, ws.n, sizeof *ws.v, cmp_seg);
	cJSON *wal = cJSON_AddObjectToObject(rep, "wal");
	cJSON_AddNumberToObject(wal, "segments", (double)ws.n);
	cJSON *gaps = cJSON_AddArrayToObject(wal, "gaps");
	int64_t exposure = -1;
	int64_t restorable = newest_stop;
	if (ws.n) {
		cJSON_AddStringToObject(wal, "newest", ws.newest_name);
		add_time(wal, "newest_archived_at", ws.newest_ms);
		exposure = now - ws.newest_ms;
		if (ws.newest_ms > restorable)
			restorable = ws.newest_ms;
	} else if (newest) {
		exposure = now - newest_stop;
	}
	if (oldest && ws.n) {
		unsigned int tli, log, seg;
		const char *first = jstr(cJSON_GetObjectItemCaseSensitive(oldest, "wal"), "start");
		if (sscanf(first, "%8X%8X%8X", &tli, &log, &seg) == 3) {
			uint64_t want = (uint64_t)log * per + seg;
			uint64_t last = ws.v[ws.n - 1].segno;
			size_t i = 0;
			while (i < ws.n && ws.v[i].segno < want)
				i++;
			for (uint64_t s = want; s <= last && cJSON_GetArraySize(gaps) < 100; s++) {
				if (i < ws.n && ws.v[i].segno == s) {
					while (i < ws.n && ws.v[i].segno == s)
						i++;
					continue;
				}
				char name[32];
				stkdr__wal_segname(name, sizeof name, tli, s, seg_size);
				cJSON_AddItemToArray(gaps, cJSON_CreateString(name));
			}
		}
	}
	int ngaps = cJSON_GetArraySize(gaps);
	add_time(rep, "latest_restorable_time", restorable);
	if (oldest)
		add_time(rep, "earliest_restorable_time", newest_stop > 0 ? oldest_start : 0);

	cJSON *vj = cJSON_AddObjectToObject(rep, "last_verification");

	cJSON *obj = cJSON_AddObjectToObject(rep, "objectives");
	cJSON *r = cJSON_AddObjectToObject(obj, "rpo");
	add_duration(r, "target", rpo);
	add_duration(r, "exposure", exposure);
	int rpo_ok = exposure >= 0 && exposure <= rpo && ngaps == 0;
	cJSON_AddBoolToObject(r, "ok", rpo_ok);
	if (!newest)
		cJSON_AddStringToObject(r, "problem", "no snapshot: take one with `stk snapshot create`");
	else if (ngaps)
		cJSON_AddStringToObject(r, "problem", "WAL is missing from the archive: a restore cannot pass the first gap; "
						      "check archive_command and take a new snapshot");
	else if (!rpo_ok)
		cJSON_AddStringToObject(r, "problem", "the newest archived WAL is older than the RPO target: is archiving "
						      "running (archive_command, archive_timeout, `stk wal receive`)?");
	int rto_ok = add_rto(obj, ctx, vj, rto);
	cJSON_AddBoolToObject(rep, "ok", rpo_ok && rto_ok);

	char *s = cJSON_Print(rep);
	rc = s ? stkdr_buf_set(report_out, s, strlen(s)) : stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "oom");
	cJSON_free(s);
out:
	cJSON_Delete(rep);
	cJSON_Delete(newest);
	cJSON_Delete(oldest);
	stkdr__strv_free(ids);
	stkdr__free(ws.v);
	return stkdr__ctx_result(ctx, rc);
}
