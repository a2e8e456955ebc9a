/*
 * stk snapshot create/list/show/delete/expire with a managed database provider (aws-rds...): the provider's
 * own snapshots (RDS CreateDBSnapshot: runbook 2.1 manual backups), through the dbprovider vtable.
 *
 * - create: a snapshot "<instance>-<kind>-YYYYMMDDHHMMSS" (the context's clock, UTC) of dbprovider.instance,
 *   waited for until "available" (dbprovider.wait_timeout). With a version-3 provider its kind, --keep and
 *   label are stored with it (RDS: tags stkdr:kind, stkdr:keep, stkdr:label); an older one only logs them.
 * - list: the instance's snapshots, manual and automated, oldest first, as stkdr_snapshot_info (no LSNs:
 *   RDS does not say). Kind, keep and label from the stored tags; without tags the kind from the name,
 *   keep 1 for manual snapshots (nothing expires them) and the label is the snapshot type
 *   ("manual"/"automated").
 * - show: one snapshot as JSON. delete: DeleteDBSnapshot.
 * - expire: the retention policy of the repository (retention.c) over the snapshots this module took
 *   (named as above, tagged with stkdr:kind, "available"), by the time in their name; automated snapshots
 *   (RDS expires them), snapshots of other tools and untagged ones are reported and never touched.
 */
#include "restore_provider.h"
#include "repo.h"
#include "retention.h"
#include "core/timeutil.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
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
	int keep = (o->flags & STKDR_SNAPSHOT_KEEP) != 0;
	if (p->base.version >= 3 && p->snapshot_create_tagged) {
		stkdr__log(ctx, STKDR_LOG_INFO, "snapshot", "taking the %s snapshot %s of instance %s (%s%s%s%s%s)",
			p->base.name, id, instance, kind, keep ? ", keep" : "", o->label ? ", label \"" : "",
			o->label ? o->label : "", o->label ? "\"" : "");
		rc = p->snapshot_create_tagged(p, instance, id, kind, keep, o->label);
	} else {
		stkdr__log(ctx, STKDR_LOG_INFO, "snapshot", "taking the %s snapshot %s of instance %s%s%s%s%s", p->base.name,
			id, instance, o->label ? " (label \"" : "", o->label ? o->label : "",
			o->label ? "\", not stored by the provider)" : "",
			keep ? " (--keep not stored by the provider: stk snapshot expire leaves its snapshots alone)" : "");
		rc = p->snapshot_create(p, instance, id);
	}
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
	cJSON_AddBoolToObject(dj, "keep", keep);
	if (o->label)
		cJSON_AddStringToObject(dj, "label", o->label);
	char *detail = cJSON_PrintUnformatted(dj);
	cJSON_Delete(dj);
	stkdr__provider_journal(ctx, "snapshot.created", id, 1, detail);
	cJSON_free(detail);
	return id_out ? stkdr_buf_set(id_out, id, strlen(id)) : 0;
}

static const char *const kind_names[] = { "manual", "hourly", "daily", "monthly" };

static int kind_from_name(const char *name)
{
	for (int k = 0; name && k < 4; k++)
		if (!strcmp(name, kind_names[k]))
			return k;
	return -1;
}

/*
 * Whether `id` is "<instance>-<kind>-YYYYMMDDHHMMSS", as stkdr__provider_snapshot_create names snapshots
 * (the instance name cut at 80 characters); its kind and the time in its name (UTC) if so.
 */
static bool own_name(const char *id, const char *instance, int *kind, int64_t *ms)
{
	size_t il = strlen(instance) < 80 ? strlen(instance) : 80;
	if (strncmp(id, instance, il) != 0 || id[il] != '-')
		return false;
	const char *k = id + il + 1, *dash = strchr(k, '-');
	if (!dash || dash - k > 7)
		return false;
	char kn[8];
	memcpy(kn, k, (size_t)(dash - k));
	kn[dash - k] = '\0';
	const char *ts = dash + 1;
	if (strlen(ts) != 14 || (*kind = kind_from_name(kn)) < 0)
		return false;
	int v[6], w[6] = { 4, 2, 2, 2, 2, 2 }, off = 0;
	for (int f = 0; f < 6; f++) {
		v[f] = 0;
		for (int c = 0; c < w[f]; c++, off++) {
			if (ts[off] < '0' || ts[off] > '9')
				return false;
			v[f] = v[f] * 10 + (ts[off] - '0');
		}
	}
	if (v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 || v[4] > 59 || v[5] > 60)
		return false;
	*ms = (stkdr__time_days_from_civil(v[0], v[1], v[2]) * 86400 + v[3] * 3600 + v[4] * 60 + v[5]) * 1000LL;
	return true;
}

/* The tags stored by snapshot_create_tagged, if the provider reports them (info version 2). */
static const char *info_kind(const stkdr_db_snapshot_info *si)
{
	return si->version >= 2 && si->kind ? si->kind : "";
}

static const char *info_label(const stkdr_db_snapshot_info *si)
{
	return si->version >= 2 && si->label ? si->label : "";
}

/* What list and show report: kind, keep and label from the tags; without them the kind from the name,
 * keep for manual snapshots (nothing expires them), the snapshot type as the label. */
static void describe_snap(int *kind, int *keep, const char **label, const stkdr_db_snapshot_info *si, const char *instance)
{
	int64_t t;
	int k = kind_from_name(info_kind(si));
	if (k >= 0) {
		*kind = k;
		*keep = si->keep != 0;
		*label = info_label(si);
		return;
	}
	if (!instance || !own_name(si->id, instance, kind, &t))
		*kind = STKDR_SNAPSHOT_MANUAL;
	*keep = !strcmp(si->type, "manual");
	*label = si->type;
}

typedef struct list_state {
	stkdr_snapshot_cb cb;
	void *payload;
	const char *want; /* show: this id only */
	const char *instance;
	cJSON *found;
} list_state;

static int list_one(const stkdr_db_snapshot_info *si, void *payload)
{
	list_state *st = payload;
	int kind, keep;
	const char *label;
	describe_snap(&kind, &keep, &label, si, st->instance);
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
		cJSON_AddStringToObject(st->found, "kind", kind_names[kind]);
		cJSON_AddBoolToObject(st->found, "keep", keep);
		cJSON_AddStringToObject(st->found, "label", info_label(si));
		return 0;
	}
	stkdr_snapshot_info o;
	memset(&o, 0, sizeof o);
	o.version = STKDR_SNAPSHOT_INFO_VERSION;
	o.id = si->id;
	o.kind = kind;
	o.label = label;
	o.keep = keep;
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
	list_state st = { cb, payload, NULL, instance, NULL };
	return p->snapshot_list(p, instance, list_one, &st);
}

int stkdr__provider_snapshot_show(stkdr_buf *out, stkdr_ctx *ctx, const char *id)
{
	stkdr_dbprovider *p;
	const char *instance;
	int rc = open_provider(&p, &instance, ctx, "show");
	if (rc)
		return rc;
	list_state st = { NULL, NULL, id, instance, NULL };
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

/* One snapshot of the instance as expire sees it. */
typedef struct exp_row {
	char *id;
	bool skip;           /* not ours to decide about: never touched, why_buf says why */
	char why_buf[200];
	int item;            /* index into the policy's items when ours */
	int kind, keep;
	int64_t name_ms;
} exp_row;

typedef struct exp_state {
	exp_row *rows;
	size_t n, cap;
	const char *instance;
	int rc;
} exp_state;

static int expire_collect(const stkdr_db_snapshot_info *si, void *payload)
{
	exp_state *st = payload;
	if (stkdr__grow(&st->rows, &st->cap, st->n, sizeof *st->rows, 64) != 0)
		return st->rc = STKDR_ENOMEM;
	exp_row *r = &st->rows[st->n];
	memset(r, 0, sizeof *r);
	r->item = -1;
	if (!(r->id = stkdr__strdup(si->id)))
		return st->rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	st->n++;
	int name_kind;
	const char *tag = info_kind(si);
	if (strcmp(si->type, "manual") != 0) {
		snprintf(r->why_buf, sizeof r->why_buf, "not expired: %.40s (the provider deletes it after the instance's "
			"backup retention period)", si->type);
		r->skip = true;
	} else if (!own_name(si->id, st->instance, &name_kind, &r->name_ms)) {
		snprintf(r->why_buf, sizeof r->why_buf, "not expired: not taken by stk (its name is not "
			"<instance>-<kind>-YYYYMMDDHHMMSS)");
		r->skip = true;
	} else if (!*tag) {
		snprintf(r->why_buf, sizeof r->why_buf, "not expired: no stkdr:kind tag (taken before kinds were stored, "
			"or by another tool); delete it with `stk snapshot delete` when it is no longer needed");
		r->skip = true;
	} else if ((r->kind = kind_from_name(tag)) < 0) {
		snprintf(r->why_buf, sizeof r->why_buf, "not expired: unknown stkdr:kind tag \"%.40s\"", tag);
		r->skip = true;
	} else if (strcmp(si->status, "available") != 0) {
		snprintf(r->why_buf, sizeof r->why_buf, "not expired: %.40s, not available yet", si->status);
		r->skip = true;
	} else {
		r->keep = si->keep != 0;
	}
	return 0;
}

/* Ours, to be put in the policy's order. */
typedef struct exp_key {
	int64_t ms;
	const char *id;
	size_t row;
} exp_key;

static int cmp_key(const void *a, const void *b)
{
	const exp_key *x = a, *y = b;
	if (x->ms != y->ms)
		return x->ms < y->ms ? -1 : 1;
	return strcmp(x->id, y->id);
}

int stkdr__provider_snapshot_expire(stkdr_ctx *ctx, uint32_t flags, stkdr_expire_cb cb, void *payload)
{
	stkdr_dbprovider *p;
	const char *instance;
	int rc = open_provider(&p, &instance, ctx, "expire");
	if (rc)
		return rc;
	if (p->base.version < 3 || !p->snapshot_create_tagged)
		return stkdr__seterr(STKDR_ENOTSUPPORTED, STKDR_ERRCLASS_CONFIG, NULL,
			"the %s database provider (vtable version %u) stores no kind or --keep flag with its snapshots, so "
			"stk snapshot expire cannot tell which of them to keep; delete old ones with stk snapshot delete",
			p->base.name, p->base.version);
	bool dry = (flags & STKDR_EXPIRE_DRY_RUN) != 0;
	stkdr__retention_policy pol;
	stkdr__retention_policy_load(&pol, ctx);
	int64_t now = stkdr__ctx_now_ms(ctx);
	exp_state st = { NULL, 0, 0, instance, 0 };
	exp_key *order = NULL;
	size_t nitems = 0, ndoomed = 0, deleted = 0;
	stkdr__retention_item *items = NULL;
	/* an instance that does not exist has no snapshot to list: say so rather than expire nothing */
	stkdr_db_instance_info info;
	if (p->describe && (rc = p->describe(&info, p, instance)) != 0) {
		stkdr__err_prefix("expiring the snapshots of instance %s (dbprovider.instance)", instance);
		return rc;
	}
	rc = p->snapshot_list(p, instance, expire_collect, &st);
	if (!rc)
		rc = st.rc;
	if (rc) {
		stkdr__err_prefix("listing the snapshots of instance %s to expire", instance);
		goto out;
	}
	order = stkdr__calloc(st.n + 1, sizeof *order);
	items = stkdr__calloc(st.n + 1, sizeof *items);
	if (!order || !items) {
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
		goto out;
	}
	/* ours, oldest first by the time in their names: the order the policy wants */
	for (size_t i = 0; i < st.n; i++)
		if (!st.rows[i].skip)
			order[nitems++] = (exp_key){ st.rows[i].name_ms, st.rows[i].id, i };
	if (nitems)
		qsort(order, nitems, sizeof *order, cmp_key);
	for (size_t k = 0; k < nitems; k++) {
		exp_row *r = &st.rows[order[k].row];
		r->item = (int)k;
		items[k].id = r->id;
		items[k].kind = r->kind;
		items[k].start_ms = r->name_ms;
		items[k].keep = r->keep;
	}
	ndoomed = stkdr__retention_decide(items, nitems, now, &pol);
	/* report in the provider's order (oldest first), every snapshot of the instance */
	for (size_t i = 0; i < st.n && !rc; i++) {
		const exp_row *r = &st.rows[i];
		int action = r->item >= 0 ? items[r->item].action : STKDR_EXPIRE_KEEP;
		const char *reason = r->item >= 0 ? items[r->item].reason : r->why_buf;
		if (cb) {
			int cr = cb(r->id, action, reason, payload);
			if (cr < 0)
				rc = stkdr__seterr(cr, STKDR_ERRCLASS_CALLBACK, NULL, "the expire callback returned %d", cr);
		}
	}
	stkdr__log(ctx, STKDR_LOG_INFO, "snapshot", "expire on instance %s: %zu of %zu snapshots taken by stk %s, %zu "
		"others left alone", instance, ndoomed, nitems, dry ? "would be deleted (dry run)" : "to delete",
		st.n - nitems);
	for (size_t k = 0; k < nitems && !rc && !dry; k++) {
		if (items[k].action != STKDR_EXPIRE_DELETE)
			continue;
		rc = p->snapshot_delete(p, items[k].id);
		if (rc == STKDR_ENOTFOUND) { /* deleted meanwhile (another expire, the console) */
			stkdr__log(ctx, STKDR_LOG_WARN, "snapshot", "snapshot %s was already gone", items[k].id);
			stkdr_error_clear();
			rc = 0;
			continue;
		}
		if (rc) {
			stkdr__err_prefix("expiring snapshot %s of instance %s (%zu of %zu deleted so far)", items[k].id,
				instance, deleted, ndoomed);
			break;
		}
		deleted++;
		cJSON *dj = cJSON_CreateObject();
		cJSON_AddStringToObject(dj, "provider", p->base.name);
		cJSON_AddStringToObject(dj, "instance", instance);
		cJSON_AddStringToObject(dj, "expired", items[k].reason);
		char *detail = cJSON_PrintUnformatted(dj);
		cJSON_Delete(dj);
		stkdr__provider_journal(ctx, "snapshot.deleted", items[k].id, 1, detail);
		cJSON_free(detail);
	}
out:
	for (size_t i = 0; i < st.n; i++)
		stkdr__free(st.rows[i].id);
	stkdr__free(st.rows);
	stkdr__free(order);
	stkdr__free(items);
	return rc;
}
