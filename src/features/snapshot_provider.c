/*
 * stk snapshot create/list/show/delete with a managed database provider (aws-rds...): the provider's own
 * snapshots (RDS CreateDBSnapshot: runbook 2.1 manual backups), through the dbprovider vtable (version 2).
 *
 * - create: a snapshot "<instance>-<kind>-YYYYMMDDHHMMSS" of dbprovider.instance, waited for until
 *   "available" (dbprovider.wait_timeout). The label is logged, not stored (RDS snapshots have no label;
 *   manual RDS snapshots are never expired by RDS, so --keep is what they do anyway).
 * - list: the instance's snapshots, manual and automated, oldest first, as stkdr_snapshot_info (no LSNs:
 *   RDS does not say; `label` is the snapshot type, "manual" or "automated").
 * - show: one snapshot as JSON. delete: DeleteDBSnapshot.
 */
#include "restore_provider.h"
#include "repo.h"
#include "core/timeutil.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int open_provider(stkdr_dbprovider **p, const char **instance, stkdr_ctx *ctx, const char *what)
{
	int rc = stkdr__ctx_dbprovider(p, ctx);
	if (rc)
		return rc;
	if ((*p)->base.version < 2 || !(*p)->snapshot_create || !(*p)->snapshot_list || !(*p)->snapshot_delete ||
		!(*p)->wait)
		return stkdr__seterr(STKDR_ENOTSUPPORTED, STKDR_ERRCLASS_CONFIG, NULL,
			"the %s database provider (vtable version %u) cannot %s snapshots", (*p)->base.name,
			(*p)->base.version, what);
	return instance ? stkdr__cfg_require_str(instance, ctx, "dbprovider.instance") : 0;
}

int stkdr__provider_snapshot_create(stkdr_buf *id_out, stkdr_ctx *ctx, const stkdr_snapshot_options *o)
{
	static const char *const kinds[] = { "manual", "hourly", "daily", "monthly" };
	stkdr_dbprovider *p;
	const char *instance;
	int rc = open_provider(&p, &instance, ctx, "take");
	if (rc)
		return rc;
	time_t t = (time_t)(stkdr__ctx_now_ms(ctx) / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	char ts[32], id[128];
	strftime(ts, sizeof ts, "%Y%m%d%H%M%S", &tm);
	const char *kind = o->kind >= 0 && o->kind < 4 ? kinds[o->kind] : "manual";
	/* RDS: at most 255 characters, letters, digits and hyphens, starting with a letter */
	snprintf(id, sizeof id, "%.80s-%s-%s", instance, kind, ts);
	stkdr__log(ctx, STKDR_LOG_INFO, "snapshot", "taking the %s snapshot %s of instance %s%s%s%s", p->base.name, id,
		instance, o->label ? " (label \"" : "", o->label ? o->label : "", o->label ? "\", not stored by the provider)" : "");
	rc = p->snapshot_create(p, instance, id);
	if (!rc)
		rc = p->wait(NULL, p, STKDR_DB_WAIT_SNAPSHOT, id, "available",
			stkdr__cfg_int(ctx, "dbprovider.wait_timeout", 2 * 3600 * 1000));
	if (rc) {
		stkdr__err_prefix("snapshot %s of instance %s", id, instance);
		return rc;
	}
	cJSON *dj = cJSON_CreateObject();
	cJSON_AddStringToObject(dj, "provider", p->base.name);
	cJSON_AddStringToObject(dj, "instance", instance);
	cJSON_AddStringToObject(dj, "kind", kind);
	char *detail = cJSON_PrintUnformatted(dj);
	cJSON_Delete(dj);
	stkdr__provider_journal(ctx, "snapshot.created", id, 1, detail);
	cJSON_free(detail);
	return id_out ? stkdr_buf_set(id_out, id, strlen(id)) : 0;
}

typedef struct list_state {
	stkdr_snapshot_cb cb;
	void *payload;
	const char *want; /* show: this id only */
	cJSON *found;
} list_state;

static int list_one(const stkdr_db_snapshot_info *si, void *payload)
{
	list_state *st = payload;
	if (st->want) {
		if (strcmp(si->id, st->want) != 0)
			return 0;
		char when[40] = "";
		if (si->created_ms)
			stkdr__time_format_rfc3339(when, sizeof when, si->created_ms);
		cJSON_Delete(st->found);
		st->found = cJSON_CreateObject();
		cJSON_AddStringToObject(st->found, "id", si->id);
		cJSON_AddStringToObject(st->found, "instance", si->instance);
		cJSON_AddStringToObject(st->found, "status", si->status);
		cJSON_AddStringToObject(st->found, "type", si->type);
		cJSON_AddStringToObject(st->found, "created", when);
		cJSON_AddNumberToObject(st->found, "size_bytes", (double)si->size_bytes);
		return 0;
	}
	stkdr_snapshot_info o;
	memset(&o, 0, sizeof o);
	o.version = STKDR_SNAPSHOT_INFO_VERSION;
	o.id = si->id;
	o.kind = STKDR_SNAPSHOT_MANUAL;
	o.label = si->type;
	o.keep = !strcmp(si->type, "manual");
	o.parent = "";
	o.start_ms = si->created_ms;
	o.stop_ms = si->created_ms;
	o.start_lsn = "";
	o.stop_lsn = "";
	o.size_bytes = si->size_bytes;
	return st->cb(&o, st->payload);
}

int stkdr__provider_snapshot_list(stkdr_ctx *ctx, stkdr_snapshot_cb cb, void *payload)
{
	stkdr_dbprovider *p;
	const char *instance;
	int rc = open_provider(&p, &instance, ctx, "list");
	if (rc)
		return rc;
	list_state st = { cb, payload, NULL, NULL };
	return p->snapshot_list(p, instance, list_one, &st);
}

int stkdr__provider_snapshot_show(stkdr_buf *out, stkdr_ctx *ctx, const char *id)
{
	stkdr_dbprovider *p;
	const char *instance;
	int rc = open_provider(&p, &instance, ctx, "show");
	if (rc)
		return rc;
	list_state st = { NULL, NULL, id, NULL };
	rc = p->snapshot_list(p, instance, list_one, &st);
	if (!rc && !st.found)
		rc = stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_INTERNAL, NULL,
			"instance %s has no snapshot %s (see stk snapshot list)", instance, id);
	char *s = !rc ? cJSON_PrintUnformatted(st.found) : NULL;
	if (!rc)
		rc = s ? stkdr_buf_set(out, s, strlen(s)) : STKDR_ENOMEM;
	cJSON_free(s);
	cJSON_Delete(st.found);
	return rc;
}

int stkdr__provider_snapshot_delete(stkdr_ctx *ctx, const char *id)
{
	stkdr_dbprovider *p;
	int rc = open_provider(&p, NULL, ctx, "delete");
	if (!rc)
		rc = p->snapshot_delete(p, id);
	if (!rc)
		stkdr__provider_journal(ctx, "snapshot.deleted", id, 1, NULL);
	return rc;
}
