/*
 * The RDS database provider ("aws-rds") against moto's server (started here) and the scripted mock:
 * describe, snapshots, restores into new instances (snapshot, "latest" snapshot, time, latest restorable
 * time) through stkdr_restore() with and without --swap, read replica create + promote, reboot with
 * failover, delete; the errors moto gives (DBInstanceNotFound, DBSnapshotAlreadyExists...), signatures
 * checked by moto with its authentication on; and from the mock the states moto never shows
 * (creating -> backing-up -> available, a deadline expiring, a terminal failure), 500/throttling retried,
 * a malformed answer, and the exact requests sent.
 */
#include "awstest.h"

#include "backends/aws/aws.h"
#include "core/timeutil.h"
#include "features/restore_provider.h"
#include "features/retention.h"
#include "stkdr/restore.h"
#include "stkdr/snapshot.h"
#include "stkdr/status.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static at_server moto;
static at_server moto_auth;
static at_server mock;
static int have_cli;

static stkdr_ctx *rds_ctx_timeout(const at_server *srv, const char *instance, const char *wait_timeout)
{
	char json[1024];
	snprintf(json, sizeof json,
		"{\"deployment\":\"d\",\"dbprovider\":{\"backend\":\"aws-rds\",\"instance\":\"%s\",\"region\":\"us-east-1\","
		"\"endpoint\":\"%s\",\"poll_interval_ms\":20,\"wait_timeout\":\"%s\"},"
		"\"objstore\":{\"retry_base_ms\":1,\"max_attempts\":3}}",
		instance, srv->endpoint, wait_timeout);
	return tu_ctx_json(json);
}

static stkdr_ctx *rds_ctx(const at_server *srv, const char *instance)
{
	return rds_ctx_timeout(srv, instance, "30");
}

static stkdr_dbprovider *open_db(stkdr_ctx **c, const at_server *srv, const char *instance)
{
	*c = rds_ctx(srv, instance);
	stkdr_dbprovider *p = NULL;
	int rc = stkdr__ctx_dbprovider(&p, *c);
	ck_assert_msg(rc == 0, "open aws-rds: %s", stkdr__err_get()->message);
	ck_assert_uint_eq(p->base.version, STKDR_DBPROVIDER_VERSION);
	ck_assert_str_eq(p->base.name, "aws-rds");
	return p;
}

/* An unsigned-but-routed Query call to moto (moto picks the service from the credential scope). */
static long query(const at_server *srv, const char *body, stkdr_buf *out)
{
	const char *h[] = { "Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/rds/aws4_request, "
			    "SignedHeaders=host, Signature=0",
		"Content-Type: application/x-www-form-urlencoded", NULL };
	return at_http(srv, "POST", "/", h, body, strlen(body), out);
}

/* A fresh moto with the Hub's instance hub-prod (PostgreSQL, automated backups on). */
static void make_hub(void)
{
	at_moto_reset(&moto);
	stkdr_buf out = STKDR_BUF_INIT;
	long st = query(&moto, "Action=CreateDBInstance&Version=2014-10-31&DBInstanceIdentifier=hub-prod"
			       "&DBInstanceClass=db.t3.micro&Engine=postgres&AllocatedStorage=20&MasterUsername=hub"
			       "&MasterUserPassword=password1&BackupRetentionPeriod=7&MultiAZ=true", &out);
	stkdr_buf_put(&out, "", 1);
	ck_assert_msg(st == 200, "CreateDBInstance: HTTP %ld %s", st, out.ptr);
	stkdr_buf_dispose(&out);
}

typedef struct snaps {
	char ids[16][128];
	char types[16][32];
	int64_t created[16];
	int n;
} snaps;

static int snap_cb(const stkdr_db_snapshot_info *si, void *payload)
{
	snaps *s = payload;
	ck_assert_uint_eq(si->version, STKDR_DB_SNAPSHOT_INFO_VERSION);
	if (s->n < 16) {
		snprintf(s->ids[s->n], sizeof s->ids[0], "%s", si->id);
		snprintf(s->types[s->n], sizeof s->types[0], "%s", si->type);
		s->created[s->n] = si->created_ms;
	}
	s->n++;
	return 0;
}

static int has_snap(const snaps *s, const char *id)
{
	for (int i = 0; i < s->n && i < 16; i++)
		if (!strcmp(s->ids[i], id))
			return 1;
	return 0;
}

START_TEST(describe_and_snapshots)
{
	stkdr_ctx *c;
	stkdr_dbprovider *p = open_db(&c, &moto, "hub-prod");
	stkdr_db_instance_info info;
	tu_assert_ok(p->describe(&info, p, NULL)); /* NULL: dbprovider.instance */
	ck_assert_str_eq(info.id, "hub-prod");
	ck_assert_str_eq(info.status, "available");
	ck_assert_str_eq(info.engine, "postgres");
	ck_assert_ptr_nonnull(strstr(info.host, "hub-prod"));
	ck_assert_int_eq(info.port, 5432);
	ck_assert_int_eq(info.multi_az, 1);
	ck_assert_str_eq(info.replica_source, "");
	ck_assert_int_gt(info.latest_restorable_ms, 1700000000000LL);

	/* runbook 2.1 manual backup */
	tu_assert_ok(p->snapshot_create(p, NULL, "hub-manual-1"));
	tu_assert_ok(p->wait(NULL, p, STKDR_DB_WAIT_SNAPSHOT, "hub-manual-1", "available", 10000));
	tu_assert_ok(p->snapshot_create(p, "hub-prod", "hub-manual-2"));
	snaps s = { .n = 0 };
	tu_assert_ok(p->snapshot_list(p, "hub-prod", snap_cb, &s));
	ck_assert(has_snap(&s, "hub-manual-1") && has_snap(&s, "hub-manual-2"));
	for (int i = 1; i < s.n && i < 16; i++)
		ck_assert_int_le(s.created[i - 1], s.created[i]); /* oldest first */
	/* a duplicate id */
	tu_assert_rc(p->snapshot_create(p, NULL, "hub-manual-1"), STKDR_EEXISTS);
	tu_assert_errmsg("DBSnapshotAlreadyExists");
	tu_assert_errmsg("CreateDBSnapshot");
	ck_assert_str_eq(stkdr__err_get()->backend_code, "DBSnapshotAlreadyExists");
	/* delete, twice */
	tu_assert_ok(p->snapshot_delete(p, "hub-manual-1"));
	s.n = 0;
	tu_assert_ok(p->snapshot_list(p, "hub-prod", snap_cb, &s));
	ck_assert(!has_snap(&s, "hub-manual-1") && has_snap(&s, "hub-manual-2"));
	tu_assert_rc(p->snapshot_delete(p, "hub-manual-1"), STKDR_ENOTFOUND);
	tu_assert_errmsg("DBSnapshotNotFound");
	/* the aws CLI sees what we made */
	if (have_cli) {
		char cmd[512];
		stkdr_buf out = STKDR_BUF_INIT;
		snprintf(cmd, sizeof cmd, "aws --endpoint-url %s rds describe-db-snapshots --db-instance-identifier hub-prod "
			"--query 'DBSnapshots[].DBSnapshotIdentifier' --output text", moto.endpoint);
		ck_assert_int_eq(at_sh(&out, cmd), 0);
		stkdr_buf_put(&out, "", 1);
		ck_assert_ptr_nonnull(strstr(out.ptr, "hub-manual-2"));
		ck_assert_ptr_null(strstr(out.ptr, "hub-manual-1"));
		stkdr_buf_dispose(&out);
	}
	stkdr_ctx_free(c);
}
END_TEST

START_TEST(unknown_instance)
{
	stkdr_ctx *c;
	stkdr_dbprovider *p = open_db(&c, &moto, "hub-nope");
	stkdr_db_instance_info info;
	tu_assert_rc(p->describe(&info, p, NULL), STKDR_ENOTFOUND);
	tu_assert_errmsg("DBInstanceNotFound");
	tu_assert_errmsg("DescribeDBInstances hub-nope");
	ck_assert_str_eq(stkdr__err_get()->backend_code, "DBInstanceNotFound");
	tu_assert_rc(p->snapshot_create(p, NULL, "x1"), STKDR_ENOTFOUND);
	tu_assert_errmsg("DBInstanceNotFound");
	tu_assert_rc(p->reboot(p, NULL, 1), STKDR_ENOTFOUND);
	tu_assert_errmsg("RebootDBInstance");
	tu_assert_rc(p->restore_snapshot(p, "no-such-snapshot", "hub-x"), STKDR_ENOTFOUND);
	tu_assert_errmsg("DBSnapshotNotFound");
	tu_assert_rc(p->wait(NULL, p, STKDR_DB_WAIT_INSTANCE, "hub-nope", "available", 1000), STKDR_ENOTFOUND);
	/* a gone instance is what GONE waits for */
	tu_assert_ok(p->wait(NULL, p, STKDR_DB_WAIT_GONE, "hub-nope", NULL, 1000));
	/* the public restore names the Hub's instance */
	stkdr_restore_options o;
	stkdr_restore_options_init(&o, STKDR_RESTORE_OPTIONS_VERSION);
	o.target_instance = "hub-restored";
	o.target = STKDR_RESTORE_TARGET_LATEST;
	tu_assert_rc(stkdr_restore(NULL, c, &o), STKDR_ENOTFOUND);
	tu_assert_errmsg("hub-nope");
	tu_assert_errmsg("dbprovider.instance");
	stkdr_ctx_free(c);
}
END_TEST

static cJSON *restore(stkdr_ctx *c, const char *target_instance, int target, const char *snapshot, int64_t t_ms,
	uint32_t flags)
{
	stkdr_restore_options o;
	stkdr_restore_options_init(&o, STKDR_RESTORE_OPTIONS_VERSION);
	o.target_instance = target_instance;
	o.target = target;
	o.snapshot_id = snapshot;
	o.target_time_ms = t_ms;
	o.flags = flags;
	stkdr_buf rep = STKDR_BUF_INIT;
	int rc = stkdr_restore(&rep, c, &o);
	ck_assert_msg(rc == 0, "restore into %s: %s", target_instance, stkdr__err_get()->message);
	stkdr_buf_put(&rep, "", 1);
	cJSON *j = cJSON_Parse(rep.ptr);
	ck_assert_ptr_nonnull(j);
	stkdr_buf_dispose(&rep);
	return j;
}

static const char *js(const cJSON *j, const char *k)
{
	const char *v = cJSON_GetStringValue(cJSON_GetObjectItem(j, k));
	return v ? v : "";
}

START_TEST(restore_from_snapshot)
{
	stkdr_ctx *c;
	stkdr_dbprovider *p = open_db(&c, &moto, "hub-prod");
	tu_assert_ok(p->snapshot_create(p, NULL, "hub-clean-1"));
	tu_assert_ok(p->wait(NULL, p, STKDR_DB_WAIT_SNAPSHOT, "hub-clean-1", "available", 10000));
	/* an explicit snapshot */
	cJSON *j = restore(c, "hub-from-snap", STKDR_RESTORE_TARGET_SNAPSHOT, "hub-clean-1", 0, 0);
	ck_assert_str_eq(js(j, "snapshot"), "hub-clean-1");
	ck_assert_str_eq(js(j, "instance"), "hub-from-snap");
	ck_assert_str_eq(js(j, "status"), "available");
	ck_assert_ptr_nonnull(strstr(js(j, "host"), "hub-from-snap"));
	ck_assert_int_eq((int)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "port")), 5432);
	cJSON_Delete(j);
	stkdr_db_instance_info info;
	tu_assert_ok(p->describe(&info, p, "hub-from-snap"));
	ck_assert_str_eq(info.status, "available");
	/* "latest": the newest available snapshot (runbook 3.1 corruption path) */
	tu_assert_ok(p->snapshot_create(p, NULL, "hub-clean-2"));
	j = restore(c, "hub-from-latest", STKDR_RESTORE_TARGET_SNAPSHOT, "latest", 0, 0);
	ck_assert_str_eq(js(j, "snapshot"), "hub-clean-2");
	cJSON_Delete(j);
	/* never onto an existing instance, never onto the Hub's own */
	stkdr_restore_options o;
	stkdr_restore_options_init(&o, STKDR_RESTORE_OPTIONS_VERSION);
	o.target_instance = "hub-from-snap";
	o.snapshot_id = "hub-clean-1";
	tu_assert_rc(stkdr_restore(NULL, c, &o), STKDR_EEXISTS);
	tu_assert_errmsg("already exists");
	o.target_instance = "hub-prod";
	tu_assert_rc(stkdr_restore(NULL, c, &o), STKDR_EINVAL);
	tu_assert_errmsg("dbprovider.instance");
	/* options that only make sense for a directory */
	o.target_instance = "hub-x";
	o.target = STKDR_RESTORE_TARGET_LSN;
	o.target_lsn = "0/5000000";
	tu_assert_rc(stkdr_restore(NULL, c, &o), STKDR_ENOTSUPPORTED);
	tu_assert_errmsg("LSN");
	o.target = STKDR_RESTORE_TARGET_SNAPSHOT;
	o.flags = STKDR_RESTORE_DELTA;
	tu_assert_rc(stkdr_restore(NULL, c, &o), STKDR_EINVAL);
	o.flags = 0;
	o.target_dir = "/tmp/x";
	tu_assert_rc(stkdr_restore(NULL, c, &o), STKDR_EINVAL);
	tu_assert_errmsg("target_instance");
	/* an unknown snapshot id */
	o.target_dir = NULL;
	o.snapshot_id = "no-such-snapshot";
	tu_assert_rc(stkdr_restore(NULL, c, &o), STKDR_ENOTFOUND);
	tu_assert_errmsg("DBSnapshotNotFound");
	tu_assert_rc(p->describe(&info, p, "hub-x"), STKDR_ENOTFOUND);
	stkdr_ctx_free(c);
}
END_TEST

START_TEST(restore_point_in_time)
{
	stkdr_ctx *c;
	stkdr_dbprovider *p = open_db(&c, &moto, "hub-prod");
	stkdr_db_instance_info info;
	tu_assert_ok(p->describe(&info, p, NULL));
	int64_t latest = info.latest_restorable_ms;
	cJSON *j = restore(c, "hub-at-time", STKDR_RESTORE_TARGET_TIME, NULL, latest - 60000, 0);
	ck_assert_str_eq(js(j, "target"), "time");
	ck_assert_str_eq(js(j, "instance"), "hub-at-time");
	ck_assert_uint_gt(strlen(js(j, "target_time")), 0);
	cJSON_Delete(j);
	tu_assert_ok(p->describe(&info, p, "hub-at-time"));
	ck_assert_str_eq(info.status, "available");
	j = restore(c, "hub-at-latest", STKDR_RESTORE_TARGET_LATEST, NULL, 0, 0);
	ck_assert_str_eq(js(j, "target"), "latest");
	ck_assert_ptr_nonnull(strstr(js(j, "host"), "hub-at-latest"));
	cJSON_Delete(j);
	/* after the latest restorable time: refused before anything is created */
	stkdr_restore_options o;
	stkdr_restore_options_init(&o, STKDR_RESTORE_OPTIONS_VERSION);
	o.target_instance = "hub-future";
	o.target = STKDR_RESTORE_TARGET_TIME;
	o.target_time_ms = latest + 3600 * 1000;
	tu_assert_rc(stkdr_restore(NULL, c, &o), STKDR_EINVAL);
	tu_assert_errmsg("latest restorable time");
	tu_assert_rc(p->describe(&info, p, "hub-future"), STKDR_ENOTFOUND);
	stkdr_ctx_free(c);
}
END_TEST

START_TEST(restore_and_swap)
{
	stkdr_ctx *c;
	stkdr_dbprovider *p = open_db(&c, &moto, "hub-prod");
	cJSON *j = restore(c, "hub-prod-restored", STKDR_RESTORE_TARGET_LATEST, NULL, 0, STKDR_RESTORE_SWAP);
	/* the restored instance now has the Hub's name and endpoint; the old one is kept under a new name */
	ck_assert_str_eq(js(j, "instance"), "hub-prod");
	ck_assert_ptr_nonnull(strstr(js(j, "host"), "hub-prod."));
	char old[80];
	snprintf(old, sizeof old, "%s", js(j, "old_instance"));
	ck_assert_msg(!strncmp(old, "hub-prod-old-", 13) && strlen(old) == 13 + 14, "old instance \"%s\"", old);
	ck_assert_ptr_nonnull(strstr(js(j, "delete_old"), old));
	ck_assert_ptr_nonnull(strstr(js(j, "swapped"), "hub-prod-restored -> hub-prod"));
	stkdr_db_instance_info info;
	tu_assert_ok(p->describe(&info, p, old));
	ck_assert_str_eq(info.status, "available");
	tu_assert_ok(p->describe(&info, p, "hub-prod"));
	ck_assert_str_eq(info.status, "available");
	tu_assert_rc(p->describe(&info, p, "hub-prod-restored"), STKDR_ENOTFOUND);
	cJSON_Delete(j);
	/* (a rename onto a taken name: moto 5.2 silently replaces the other instance, RDS answers
	 * DBInstanceAlreadyExists: see retries_and_malformed) */
	stkdr_ctx_free(c);
}
END_TEST

START_TEST(replica_failover_delete)
{
	stkdr_ctx *c;
	stkdr_dbprovider *p = open_db(&c, &moto, "hub-prod");
	stkdr_db_instance_info info;
	/* runbook 4.2: a replica, then promoted */
	tu_assert_ok(p->replica_create(p, NULL, "hub-replica"));
	tu_assert_ok(p->wait(&info, p, STKDR_DB_WAIT_INSTANCE, "hub-replica", "available", 10000));
	ck_assert_str_eq(info.replica_source, "hub-prod");
	tu_assert_ok(p->replica_promote(p, "hub-replica"));
	tu_assert_ok(p->wait(&info, p, STKDR_DB_WAIT_INSTANCE, "hub-replica", "available", 10000));
	/* (moto 5.2 keeps ReadReplicaSourceDBInstanceIdentifier after the promotion; RDS clears it) */
	/* (moto 5.2 answers a bare HTTP 500 to PromoteReadReplica of an unknown instance; RDS says
	 * DBInstanceNotFound. A 500 is retried, then named.) */
	tu_assert_rc(p->replica_promote(p, "hub-nope"), STKDR_EBACKEND);
	tu_assert_errmsg("PromoteReadReplica hub-nope");
	/* runbook 4.1: Multi-AZ failover */
	tu_assert_ok(p->reboot(p, NULL, 1));
	tu_assert_ok(p->wait(&info, p, STKDR_DB_WAIT_INSTANCE, "hub-prod", "available", 10000));
	tu_assert_ok(p->reboot(p, "hub-replica", 0));
	/* delete, with a final snapshot */
	tu_assert_ok(p->delete_instance(p, "hub-replica", "hub-replica-final"));
	tu_assert_ok(p->wait(NULL, p, STKDR_DB_WAIT_GONE, "hub-replica", NULL, 10000));
	tu_assert_rc(p->describe(&info, p, "hub-replica"), STKDR_ENOTFOUND);
	snaps s = { .n = 0 };
	tu_assert_ok(p->snapshot_list(p, NULL, snap_cb, &s));
	ck_assert(has_snap(&s, "hub-replica-final"));
	tu_assert_rc(p->delete_instance(p, "hub-replica", NULL), STKDR_ENOTFOUND);
	stkdr_ctx_free(c);
}
END_TEST

typedef struct slist {
	char ids[16][128];
	char labels[16][32];
	int n;
} slist;

static int slist_cb(const stkdr_snapshot_info *si, void *payload)
{
	slist *s = payload;
	if (s->n < 16) {
		snprintf(s->ids[s->n], sizeof s->ids[0], "%s", si->id);
		snprintf(s->labels[s->n], sizeof s->labels[0], "%s", si->label);
	}
	s->n++;
	return 0;
}

/* stkdr_snapshot_* with aws-rds: the provider's snapshots of dbprovider.instance (runbook 2.1) */
START_TEST(snapshot_api_on_rds)
{
	stkdr_ctx *c = rds_ctx(&moto, "hub-prod");
	stkdr_snapshot_options o;
	stkdr_snapshot_options_init(&o, STKDR_SNAPSHOT_OPTIONS_VERSION);
	o.kind = STKDR_SNAPSHOT_DAILY;
	o.label = "before v2.3";
	stkdr_buf id = STKDR_BUF_INIT;
	tu_assert_ok(stkdr_snapshot_create(&id, c, &o));
	ck_assert_msg(!strncmp(id.ptr, "hub-prod-daily-", 15), "id %s", id.ptr);
	slist l;
	memset(&l, 0, sizeof l);
	tu_assert_ok(stkdr_snapshot_list(c, slist_cb, &l));
	int found = 0;
	for (int i = 0; i < l.n && i < 16; i++)
		if (!strcmp(l.ids[i], id.ptr)) {
			found = 1;
			ck_assert_str_eq(l.labels[i], "before v2.3"); /* stored as the tag stkdr:label */
		}
	ck_assert(found);
	stkdr_buf show = STKDR_BUF_INIT;
	tu_assert_ok(stkdr_snapshot_show(&show, c, id.ptr));
	stkdr_buf_put(&show, "", 1);
	cJSON *j = cJSON_Parse(show.ptr);
	ck_assert_str_eq(js(j, "status"), "available");
	ck_assert_str_eq(js(j, "instance"), "hub-prod");
	cJSON_Delete(j);
	tu_assert_ok(stkdr_snapshot_delete(c, id.ptr));
	stkdr__buf_clear(&show);
	tu_assert_rc(stkdr_snapshot_show(&show, c, id.ptr), STKDR_ENOTFOUND);
	tu_assert_rc(stkdr_snapshot_delete(c, id.ptr), STKDR_ENOTFOUND);
	tu_assert_errmsg("DeleteDBSnapshot");
	stkdr_buf_dispose(&show);
	stkdr_buf_dispose(&id);
	stkdr_ctx_free(c);
}
END_TEST

/* ---- kind, keep and label as RDS tags; expire; status ---- */

typedef struct ilist {
	int n;
	char ids[256][128];
	int kinds[256], keeps[256];
	char labels[256][64];
} ilist;

static int ilist_cb(const stkdr_snapshot_info *si, void *payload)
{
	ilist *l = payload;
	if (l->n < 256) {
		snprintf(l->ids[l->n], sizeof l->ids[0], "%s", si->id);
		l->kinds[l->n] = si->kind;
		l->keeps[l->n] = si->keep;
		snprintf(l->labels[l->n], sizeof l->labels[0], "%s", si->label);
	}
	l->n++;
	return 0;
}

static int ilist_find(const ilist *l, const char *id)
{
	for (int i = 0; i < l->n && i < 256; i++)
		if (!strcmp(l->ids[i], id))
			return i;
	return -1;
}

static cJSON *show_json(stkdr_ctx *c, const char *id)
{
	stkdr_buf b = STKDR_BUF_INIT;
	tu_assert_ok(stkdr_snapshot_show(&b, c, id));
	stkdr_buf_put(&b, "", 1);
	cJSON *j = cJSON_Parse(b.ptr);
	ck_assert_ptr_nonnull(j);
	stkdr_buf_dispose(&b);
	return j;
}

START_TEST(tags_round_trip)
{
	stkdr_ctx *c = rds_ctx(&moto, "hub-prod");
	tu_assert_ok(stkdr_ctx_set_str(c, "clock.fake_now", "2026-02-10T02:00:00Z"));
	stkdr_snapshot_options o;
	stkdr_snapshot_options_init(&o, STKDR_SNAPSHOT_OPTIONS_VERSION);
	o.kind = STKDR_SNAPSHOT_DAILY;
	o.flags = STKDR_SNAPSHOT_KEEP;
	o.label = "before v2.3 upgrade";
	stkdr_buf id1 = STKDR_BUF_INIT, id2 = STKDR_BUF_INIT, id3 = STKDR_BUF_INIT;
	tu_assert_ok(stkdr_snapshot_create(&id1, c, &o));
	ck_assert_str_eq(id1.ptr, "hub-prod-daily-20260210020000"); /* named by the context's clock */
	tu_assert_ok(stkdr_ctx_set_str(c, "clock.fake_now", "2026-02-10T03:00:00Z"));
	o.kind = STKDR_SNAPSHOT_HOURLY;
	o.flags = 0;
	o.label = NULL;
	tu_assert_ok(stkdr_snapshot_create(&id2, c, &o));
	/* characters RDS tags do not take become '_' (logged), the rest is kept */
	tu_assert_ok(stkdr_ctx_set_str(c, "clock.fake_now", "2026-02-10T04:00:00Z"));
	o.kind = STKDR_SNAPSHOT_MANUAL;
	o.label = "migration #42, \"drop col\"";
	tu_assert_ok(stkdr_snapshot_create(&id3, c, &o));
	/* a snapshot taken without tags (an older stk, the vtable-2 method): keep, kind from its name */
	stkdr_dbprovider *p;
	tu_assert_ok(stkdr__ctx_dbprovider(&p, c));
	tu_assert_ok(p->snapshot_create(p, NULL, "hub-prod-monthly-20260101000000"));

	ilist l;
	memset(&l, 0, sizeof l);
	tu_assert_ok(stkdr_snapshot_list(c, ilist_cb, &l));
	int i = ilist_find(&l, id1.ptr);
	ck_assert_int_ge(i, 0);
	ck_assert_int_eq(l.kinds[i], STKDR_SNAPSHOT_DAILY);
	ck_assert_int_eq(l.keeps[i], 1);
	ck_assert_str_eq(l.labels[i], "before v2.3 upgrade");
	i = ilist_find(&l, id2.ptr);
	ck_assert_int_ge(i, 0);
	ck_assert_int_eq(l.kinds[i], STKDR_SNAPSHOT_HOURLY);
	ck_assert_int_eq(l.keeps[i], 0);
	ck_assert_str_eq(l.labels[i], "");
	i = ilist_find(&l, id3.ptr);
	ck_assert_int_eq(l.kinds[i], STKDR_SNAPSHOT_MANUAL);
	ck_assert_int_eq(l.keeps[i], 0);
	ck_assert_str_eq(l.labels[i], "migration _42_ _drop col_");
	i = ilist_find(&l, "hub-prod-monthly-20260101000000");
	ck_assert_int_eq(l.kinds[i], STKDR_SNAPSHOT_MONTHLY);
	ck_assert_int_eq(l.keeps[i], 1);
	ck_assert_str_eq(l.labels[i], "manual");
	/* the automated snapshot moto made with the instance */
	int autos = 0;
	for (int k = 0; k < l.n; k++)
		if (!strcmp(l.labels[k], "automated")) {
			autos++;
			ck_assert_int_eq(l.keeps[k], 0);
		}
	ck_assert_int_ge(autos, 1);
	/* show */
	cJSON *j = show_json(c, id1.ptr);
	ck_assert_str_eq(js(j, "kind"), "daily");
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "keep")));
	ck_assert_str_eq(js(j, "label"), "before v2.3 upgrade");
	cJSON_Delete(j);
	j = show_json(c, id2.ptr);
	ck_assert_str_eq(js(j, "kind"), "hourly");
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(j, "keep")));
	cJSON_Delete(j);
	/* the provider level: info version 2 */
	snaps s = { .n = 0 };
	tu_assert_ok(p->snapshot_list(p, NULL, snap_cb, &s));
	ck_assert_int_ge(s.n, 5);
	/* a client nobody here wrote sees the tags */
	if (have_cli) {
		char cmd[512];
		stkdr_buf out = STKDR_BUF_INIT;
		snprintf(cmd, sizeof cmd, "aws --endpoint-url %s rds describe-db-snapshots --db-snapshot-identifier %s "
			"--query 'DBSnapshots[0].TagList' --output json", moto.endpoint, id1.ptr);
		ck_assert_int_eq(at_sh(&out, cmd), 0);
		stkdr_buf_put(&out, "", 1);
		cJSON *tl = cJSON_Parse(out.ptr);
		ck_assert_msg(tl != NULL, "%s", out.ptr);
		int found = 0;
		cJSON *t;
		cJSON_ArrayForEach(t, tl)
		{
			const char *k = js(t, "Key"), *v = js(t, "Value");
			found += (!strcmp(k, "stkdr:kind") && !strcmp(v, "daily")) + (!strcmp(k, "stkdr:keep") && !strcmp(v, "true")) +
				 (!strcmp(k, "stkdr:label") && !strcmp(v, "before v2.3 upgrade"));
		}
		ck_assert_int_eq(found, 3);
		cJSON_Delete(tl);
		stkdr_buf_dispose(&out);
	}
	stkdr_buf_dispose(&id1);
	stkdr_buf_dispose(&id2);
	stkdr_buf_dispose(&id3);
	stkdr_ctx_free(c);
}
END_TEST

/* "<instance>-<kind>-YYYYMMDDHHMMSS" of a time, as stkdr_snapshot_create names it. */
static void own_id(char *out, size_t cap, const char *kind, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	char ts[32];
	strftime(ts, sizeof ts, "%Y%m%d%H%M%S", &tm);
	snprintf(out, cap, "hub-prod-%s-%s", kind, ts);
}

typedef struct xdec {
	int n, deleted;
	char ids[300][128];
	int actions[300];
	char reasons[300][200];
} xdec;

static int xdec_cb(const char *id, int action, const char *reason, void *payload)
{
	xdec *d = payload;
	if (d->n < 300) {
		snprintf(d->ids[d->n], sizeof d->ids[0], "%s", id);
		d->actions[d->n] = action;
		snprintf(d->reasons[d->n], sizeof d->reasons[0], "%s", reason);
	}
	d->n++;
	d->deleted += action == STKDR_EXPIRE_DELETE;
	return 0;
}

static const char *xdec_reason(const xdec *d, const char *id, int *action)
{
	for (int i = 0; i < d->n && i < 300; i++)
		if (!strcmp(d->ids[i], id)) {
			*action = d->actions[i];
			return d->reasons[i];
		}
	ck_abort_msg("no decision reported for %s", id);
	return NULL;
}

#define DAY (86400000LL)
#define HOUR (3600000LL)

/* runbook 2.1 retention on RDS: a simulated year of snapshots taken at fake times */
START_TEST(expire_a_simulated_year)
{
	static const char *const kn[] = { "manual", "hourly", "daily", "monthly" };
	stkdr_ctx *c = rds_ctx(&moto, "hub-prod");
	stkdr_dbprovider *p;
	tu_assert_ok(stkdr__ctx_dbprovider(&p, c));
	int64_t now;
	tu_assert_ok(stkdr__time_parse_rfc3339(&now, "2026-12-31T12:00:00Z"));
	int64_t day0 = now - now % DAY;
	/* what we take, oldest first: dailies every 4 days for 400 days, hourlies every 4 h for 9 days, a
	 * monthly, a --keep manual one before an upgrade, a plain manual one */
	static stkdr__retention_item want[300];
	static char ids[300][128];
	size_t n = 0;
	for (int d = 400; d >= 1; d -= 4)
		want[n++] = (stkdr__retention_item){ .kind = STKDR_SNAPSHOT_DAILY, .start_ms = day0 - d * DAY + 2 * HOUR };
	want[n++] = (stkdr__retention_item){ .kind = STKDR_SNAPSHOT_MONTHLY, .start_ms = day0 - 100 * DAY + 3 * HOUR };
	want[n++] = (stkdr__retention_item){ .kind = STKDR_SNAPSHOT_MANUAL, .start_ms = day0 - 200 * DAY + 5 * HOUR, .keep = 1 };
	want[n++] = (stkdr__retention_item){ .kind = STKDR_SNAPSHOT_MANUAL, .start_ms = day0 - 45 * DAY + 7 * HOUR };
	for (int h = 9 * 24; h > 8; h -= 4)
		want[n++] = (stkdr__retention_item){ .kind = STKDR_SNAPSHOT_HOURLY, .start_ms = now - h * HOUR };
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && want[j - 1].start_ms > want[j].start_ms; j--) {
			stkdr__retention_item t = want[j];
			want[j] = want[j - 1];
			want[j - 1] = t;
		}
	for (size_t i = 0; i < n; i++) {
		own_id(ids[i], sizeof ids[i], kn[want[i].kind], want[i].start_ms);
		want[i].id = ids[i];
		tu_assert_ok(p->snapshot_create_tagged(p, NULL, ids[i], kn[want[i].kind], want[i].keep, NULL));
	}
	/* the newest three hourlies through stkdr_snapshot_create at their fake times (one with --keep) */
	stkdr_snapshot_options o;
	stkdr_snapshot_options_init(&o, STKDR_SNAPSHOT_OPTIONS_VERSION);
	o.kind = STKDR_SNAPSHOT_HOURLY;
	for (int h = 3; h >= 1; h--) {
		char when[40];
		stkdr__time_format_rfc3339(when, sizeof when, now - h * HOUR);
		tu_assert_ok(stkdr_ctx_set_str(c, "clock.fake_now", when));
		o.flags = h == 3 ? STKDR_SNAPSHOT_KEEP : 0;
		stkdr_buf id = STKDR_BUF_INIT;
		tu_assert_ok(stkdr_snapshot_create(&id, c, &o));
		snprintf(ids[n], sizeof ids[n], "%s", id.ptr);
		want[n] = (stkdr__retention_item){ .id = ids[n], .kind = STKDR_SNAPSHOT_HOURLY, .start_ms = now - h * HOUR,
			.keep = h == 3 };
		n++;
		stkdr_buf_dispose(&id);
	}
	/* what expire must never touch: another tool's snapshot, an untagged one named like ours (an older
	 * stk), both very old, and the automated one moto made with the instance */
	tu_assert_ok(p->snapshot_create(p, NULL, "hub-prod-before-migration"));
	tu_assert_ok(p->snapshot_create(p, NULL, "hub-prod-daily-20250101020000"));
	ilist before;
	memset(&before, 0, sizeof before);
	tu_assert_ok(stkdr_snapshot_list(c, ilist_cb, &before));
	ck_assert_int_eq(before.n, (int)n + 2 + 1);
	char automated[128] = "";
	for (int i = 0; i < before.n; i++)
		if (!strcmp(before.labels[i], "automated"))
			snprintf(automated, sizeof automated, "%s", before.ids[i]);
	ck_assert_str_ne(automated, "");

	/* the policy says which go (retention.c, the repository's own) */
	tu_assert_ok(stkdr_ctx_set_str(c, "clock.fake_now", "2026-12-31T12:00:00Z"));
	stkdr__retention_policy pol;
	stkdr__retention_policy_load(&pol, c);
	size_t doomed = stkdr__retention_decide(want, n, now, &pol);
	ck_assert_uint_gt(doomed, 50);

	/* a dry run deletes nothing, but reports every snapshot of the instance and why */
	static xdec dry;
	memset(&dry, 0, sizeof dry);
	tu_assert_ok(stkdr__provider_snapshot_expire(c, STKDR_EXPIRE_DRY_RUN, xdec_cb, &dry));
	ck_assert_int_eq(dry.n, before.n);
	ck_assert_int_eq(dry.deleted, (int)doomed);
	ilist l;
	memset(&l, 0, sizeof l);
	tu_assert_ok(stkdr_snapshot_list(c, ilist_cb, &l));
	ck_assert_int_eq(l.n, before.n);
	int action;
	const char *r = xdec_reason(&dry, "hub-prod-before-migration", &action);
	ck_assert_int_eq(action, STKDR_EXPIRE_KEEP);
	ck_assert_msg(strstr(r, "not taken by stk"), "%s", r);
	r = xdec_reason(&dry, "hub-prod-daily-20250101020000", &action);
	ck_assert_int_eq(action, STKDR_EXPIRE_KEEP);
	ck_assert_msg(strstr(r, "no stkdr:kind tag"), "%s", r);
	r = xdec_reason(&dry, automated, &action);
	ck_assert_int_eq(action, STKDR_EXPIRE_KEEP);
	ck_assert_msg(strstr(r, "automated"), "%s", r);
	for (size_t i = 0; i < n; i++) {
		r = xdec_reason(&dry, want[i].id, &action);
		ck_assert_msg(action == want[i].action, "%s: %s", want[i].id, r);
		ck_assert_str_eq(r, want[i].reason);
	}
	r = xdec_reason(&dry, want[n - 1].id, &action);
	ck_assert_msg(strstr(r, "newest snapshot is never expired"), "%s", r);
	r = xdec_reason(&dry, want[n - 3].id, &action);
	ck_assert_msg(strstr(r, "--keep"), "%s", r);

	/* for real: the same ones go */
	static xdec real;
	memset(&real, 0, sizeof real);
	tu_assert_ok(stkdr__provider_snapshot_expire(c, 0, xdec_cb, &real));
	ck_assert_int_eq(real.deleted, dry.deleted);
	memset(&l, 0, sizeof l);
	tu_assert_ok(stkdr_snapshot_list(c, ilist_cb, &l));
	ck_assert_int_eq(l.n, before.n - (int)doomed);
	int hourly = 0, daily = 0;
	for (size_t i = 0; i < n; i++) {
		int present = ilist_find(&l, want[i].id) >= 0;
		ck_assert_msg(present == (want[i].action == STKDR_EXPIRE_KEEP), "%s: %s", want[i].id, want[i].reason);
		if (!present)
			continue;
		int64_t age = now - want[i].start_ms;
		if (want[i].keep)
			continue;
		if (want[i].kind == STKDR_SNAPSHOT_HOURLY) {
			hourly++;
			ck_assert_msg(age <= 7 * DAY, "hourly %s kept", want[i].id);
		} else if (want[i].kind == STKDR_SNAPSHOT_DAILY) {
			daily++;
			ck_assert_msg(age <= 365 * DAY, "daily %s older than a year kept", want[i].id);
		}
	}
	ck_assert_int_gt(hourly, 0);
	ck_assert_int_gt(daily, 7 + 10); /* the last 30 days' and a monthly of each older month */
	ck_assert_int_ge(ilist_find(&l, "hub-prod-before-migration"), 0);
	ck_assert_int_ge(ilist_find(&l, "hub-prod-daily-20250101020000"), 0);
	ck_assert_int_ge(ilist_find(&l, automated), 0);
	/* again: nothing more to do */
	memset(&real, 0, sizeof real);
	tu_assert_ok(stkdr__provider_snapshot_expire(c, 0, xdec_cb, &real));
	ck_assert_int_eq(real.deleted, 0);
	/* a configured shorter policy: retention.daily 1d */
	tu_assert_ok(stkdr_ctx_set_str(c, "retention.daily", "1d"));
	tu_assert_ok(stkdr_ctx_set_str(c, "retention.monthly", "1d"));
	memset(&dry, 0, sizeof dry);
	tu_assert_ok(stkdr__provider_snapshot_expire(c, STKDR_EXPIRE_DRY_RUN, xdec_cb, &dry));
	ck_assert_int_gt(dry.deleted, 10);
	r = xdec_reason(&dry, want[n - 3].id, &action); /* --keep still wins */
	ck_assert_int_eq(action, STKDR_EXPIRE_KEEP);
	stkdr_ctx_free(c);
}
END_TEST

static int stop_cb(const char *id, int action, const char *reason, void *payload)
{
	(void)id;
	(void)action;
	(void)reason;
	(void)payload;
	return -7;
}

/* ---- a provider of vtable version 2 (no snapshot_create_tagged): forwards to the real one ---- */

static stkdr_dbprovider *fwd;

static int v2_describe(stkdr_db_instance_info *out, stkdr_dbprovider *p, const char *instance)
{
	(void)p;
	return fwd->describe(out, fwd, instance);
}

static int v2_create(stkdr_dbprovider *p, const char *instance, const char *id)
{
	(void)p;
	return fwd->snapshot_create(fwd, instance, id);
}

static int v2_list(stkdr_dbprovider *p, const char *instance, stkdr_db_snapshot_cb cb, void *payload)
{
	(void)p;
	return fwd->snapshot_list(fwd, instance, cb, payload);
}

static int v2_delete(stkdr_dbprovider *p, const char *id)
{
	(void)p;
	return fwd->snapshot_delete(fwd, id);
}

static int v2_wait(stkdr_db_instance_info *out, stkdr_dbprovider *p, int kind, const char *id, const char *status,
	int64_t timeout_ms)
{
	(void)p;
	return fwd->wait(out, fwd, kind, id, status, timeout_ms);
}

static void v2_free(stkdr_backend *be)
{
	stkdr_backend_data_free(be);
}

START_TEST(expire_bad_input)
{
	/* an instance that does not exist: named */
	stkdr_ctx *c = rds_ctx(&moto, "hub-nope");
	tu_assert_rc(stkdr__provider_snapshot_expire(c, STKDR_EXPIRE_DRY_RUN, NULL, NULL), STKDR_ENOTFOUND);
	tu_assert_errmsg("hub-nope");
	stkdr_ctx_free(c);
	/* a callback that stops: nothing deleted */
	c = rds_ctx(&moto, "hub-prod");
	stkdr_dbprovider *p;
	tu_assert_ok(stkdr__ctx_dbprovider(&p, c));
	tu_assert_ok(p->snapshot_create_tagged(p, NULL, "hub-prod-hourly-20200101000000", "hourly", 0, NULL));
	tu_assert_ok(p->snapshot_create_tagged(p, NULL, "hub-prod-hourly-20200101010000", "hourly", 0, NULL));
	tu_assert_rc(stkdr__provider_snapshot_expire(c, 0, stop_cb, NULL), -7);
	tu_assert_errmsg("expire callback");
	ilist l;
	memset(&l, 0, sizeof l);
	tu_assert_ok(stkdr_snapshot_list(c, ilist_cb, &l));
	ck_assert_int_ge(ilist_find(&l, "hub-prod-hourly-20200101000000"), 0);
	tu_assert_ok(stkdr__provider_snapshot_expire(c, 0, NULL, NULL));
	memset(&l, 0, sizeof l);
	tu_assert_ok(stkdr_snapshot_list(c, ilist_cb, &l));
	ck_assert_int_lt(ilist_find(&l, "hub-prod-hourly-20200101000000"), 0);
	ck_assert_int_ge(ilist_find(&l, "hub-prod-hourly-20200101010000"), 0); /* the newest */
	fwd = p;

	/* a provider written against vtable version 2: create falls back, expire is refused */
	char json[1024];
	snprintf(json, sizeof json, "{\"deployment\":\"d\",\"dbprovider\":{\"backend\":\"old-db\",\"instance\":\"hub-prod\","
		"\"wait_timeout\":\"30\"}}");
	stkdr_ctx *c2 = tu_ctx_json(json);
	stkdr_dbprovider *v2 = stkdr_backend_data_alloc(sizeof *v2);
	tu_assert_ok(stkdr_backend_init(&v2->base, STKDR_BACKEND_DBPROVIDER, 2, "old-db"));
	v2->base.free = v2_free;
	v2->describe = v2_describe;
	v2->snapshot_create = v2_create;
	v2->snapshot_list = v2_list;
	v2->snapshot_delete = v2_delete;
	v2->wait = v2_wait;
	tu_assert_ok(stkdr_ctx_add_backend(c2, &v2->base, 10));
	tu_assert_ok(stkdr_ctx_set_str(c2, "clock.fake_now", "2026-03-01T00:00:00Z"));
	stkdr_snapshot_options o;
	stkdr_snapshot_options_init(&o, STKDR_SNAPSHOT_OPTIONS_VERSION);
	o.kind = STKDR_SNAPSHOT_DAILY;
	o.flags = STKDR_SNAPSHOT_KEEP;
	o.label = "not stored";
	stkdr_buf id = STKDR_BUF_INIT;
	tu_assert_ok(stkdr_snapshot_create(&id, c2, &o));
	ck_assert_str_eq(id.ptr, "hub-prod-daily-20260301000000");
	memset(&l, 0, sizeof l);
	tu_assert_ok(stkdr_snapshot_list(c2, ilist_cb, &l));
	int i = ilist_find(&l, id.ptr);
	ck_assert_int_ge(i, 0);
	ck_assert_int_eq(l.kinds[i], STKDR_SNAPSHOT_DAILY); /* from its name */
	ck_assert_int_eq(l.keeps[i], 1);                    /* untagged manual snapshots are never expired */
	ck_assert_str_eq(l.labels[i], "manual");
	tu_assert_rc(stkdr__provider_snapshot_expire(c2, STKDR_EXPIRE_DRY_RUN, NULL, NULL), STKDR_ENOTSUPPORTED);
	tu_assert_errmsg("old-db");
	tu_assert_errmsg("vtable version 2");
	/* status needs only describe and snapshot_list */
	stkdr_buf rep = STKDR_BUF_INIT;
	tu_assert_ok(stkdr_status(&rep, c2));
	stkdr_buf_dispose(&rep);
	/* without describe: refused, naming the provider */
	v2->describe = NULL;
	tu_assert_rc(stkdr_status(&rep, c2), STKDR_ENOTSUPPORTED);
	tu_assert_errmsg("old-db");
	v2->snapshot_list = NULL;
	tu_assert_rc(stkdr__provider_snapshot_expire(c2, 0, NULL, NULL), STKDR_ENOTSUPPORTED);
	stkdr_buf_dispose(&id);
	stkdr_ctx_free(c2);
	stkdr_ctx_free(c);
	fwd = NULL;
}
END_TEST

START_TEST(status_on_rds)
{
	stkdr_ctx *c = rds_ctx(&moto, "hub-prod");
	stkdr_dbprovider *p;
	tu_assert_ok(stkdr__ctx_dbprovider(&p, c));
	tu_assert_ok(p->snapshot_create_tagged(p, NULL, "hub-prod-daily-20260101020000", "daily", 0, NULL));
	stkdr_db_instance_info info;
	tu_assert_ok(p->describe(&info, p, NULL));
	int64_t lrt = info.latest_restorable_ms;
	ck_assert_int_gt(lrt, 0);
	/* 30 minutes after the latest restorable time: within the 1 h RPO target */
	char when[40];
	stkdr__time_format_rfc3339(when, sizeof when, lrt - lrt % 1000 + 30 * 60000);
	tu_assert_ok(stkdr_ctx_set_str(c, "clock.fake_now", when));
	stkdr_buf rep = STKDR_BUF_INIT;
	tu_assert_ok(stkdr_status(&rep, c));
	stkdr_buf_put(&rep, "", 1);
	cJSON *j = cJSON_Parse(rep.ptr);
	ck_assert_msg(j != NULL, "%s", rep.ptr);
	ck_assert_str_eq(js(j, "format"), "stkdr-status");
	cJSON *pj = cJSON_GetObjectItem(j, "provider");
	ck_assert_str_eq(js(pj, "backend"), "aws-rds");
	ck_assert_str_eq(js(pj, "instance"), "hub-prod");
	ck_assert_str_eq(js(pj, "status"), "available");
	/* (moto's LatestRestorableTime is the time of each DescribeDBInstances) */
	int64_t lrt2 = 0, fake;
	tu_assert_ok(stkdr__time_parse_rfc3339(&lrt2, js(pj, "latest_restorable_time")));
	ck_assert_int_ge(lrt2, lrt);
	ck_assert_int_lt(lrt2, lrt + 10000);
	ck_assert_str_eq(js(j, "latest_restorable_time"), js(pj, "latest_restorable_time"));
	tu_assert_ok(stkdr__time_parse_rfc3339(&fake, when));
	char exp_s[40];
	stkdr__time_format_duration(exp_s, sizeof exp_s, (fake - lrt2) - (fake - lrt2) % 1000);
	cJSON *sn = cJSON_GetObjectItem(j, "snapshots");
	ck_assert_int_ge((int)cJSON_GetNumberValue(cJSON_GetObjectItem(sn, "count")), 2); /* ours + the automated one */
	ck_assert_uint_gt(strlen(js(sn, "newest")), 0);
	ck_assert_uint_gt(strlen(js(j, "earliest_restorable_time")), 0);
	cJSON *rpo = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "objectives"), "rpo");
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(rpo, "ok")));
	ck_assert_str_eq(js(rpo, "target"), "1h");
	ck_assert_str_eq(js(rpo, "exposure"), exp_s); /* now - LatestRestorableTime, about 30 minutes */
	cJSON *rto = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "objectives"), "rto");
	ck_assert_str_eq(js(rto, "target"), "4h");
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(rto, "ok"))); /* never measured */
	ck_assert_str_eq(js(cJSON_GetObjectItem(j, "wal"), "archived_by"), "aws-rds");
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(j, "ok")));
	cJSON_Delete(j);
	/* two hours later: the RPO is not met, and the report says why */
	stkdr__time_format_rfc3339(when, sizeof when, lrt - lrt % 1000 + 2 * HOUR);
	tu_assert_ok(stkdr_ctx_set_str(c, "clock.fake_now", when));
	stkdr__buf_clear(&rep);
	tu_assert_ok(stkdr_status(&rep, c));
	stkdr_buf_put(&rep, "", 1);
	j = cJSON_Parse(rep.ptr);
	rpo = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "objectives"), "rpo");
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(rpo, "ok")));
	ck_assert_msg(!strncmp(js(rpo, "exposure"), "1h59m", 5) || !strcmp(js(rpo, "exposure"), "2h"), "%s",
		js(rpo, "exposure"));
	ck_assert_ptr_nonnull(strstr(js(rpo, "problem"), "hub-prod"));
	cJSON_Delete(j);
	stkdr_buf_dispose(&rep);
	stkdr_ctx_free(c);
	/* an instance that does not exist: a clear error naming it */
	c = rds_ctx(&moto, "hub-nope");
	stkdr_buf r2 = STKDR_BUF_INIT;
	tu_assert_rc(stkdr_status(&r2, c), STKDR_ENOTFOUND);
	tu_assert_errmsg("hub-nope");
	tu_assert_errmsg("DBInstanceNotFound");
	ck_assert_ptr_null(r2.ptr);
	stkdr_ctx_free(c);
}
END_TEST

/* The stk commands as operators' scripts call them, against moto. */
START_TEST(stk_commands_on_rds)
{
	const char *bd = getenv("STKDR_TEST_BUILD_DIR");
	if (!bd)
		return;
	char *dir = tu_mkdtemp("rds-cli");
	char *cfg = tu_path(dir, "stk.json");
	char json[1024], cmd[2048];
	snprintf(json, sizeof json,
		"{\"deployment\":\"hub\",\"dbprovider\":{\"backend\":\"aws-rds\",\"instance\":\"hub-prod\","
		"\"region\":\"us-east-1\",\"endpoint\":\"%s\",\"poll_interval_ms\":20},"
		"\"objstore\":{\"backend\":\"local\",\"path\":\"%s/repo\"}}", moto.endpoint, dir);
	tu_write_file(cfg, json, strlen(json));
	stkdr_buf out = STKDR_BUF_INIT;
#define STK(args) (snprintf(cmd, sizeof cmd, "%s/examples/stk --config %s %s 2>&1", bd, cfg, args), \
	stkdr__buf_clear(&out), at_sh(&out, cmd))
	ck_assert_int_eq(STK("snapshot create --kind manual"), 0);
	stkdr_buf_put(&out, "", 1);
	ck_assert_msg(!strncmp(out.ptr, "hub-prod-manual-", 16), "%s", out.ptr);
	ck_assert_int_eq(STK("snapshot list --json"), 0);
	stkdr_buf_put(&out, "", 1);
	ck_assert_msg(strstr(out.ptr, "hub-prod-manual-") != NULL, "%s", out.ptr);
	/* kind, --keep and --label are stored as tags and listed back */
	ck_assert_int_eq(STK("snapshot create --kind hourly --keep --label 'before v2.3 upgrade'"), 0);
	ck_assert_int_eq(STK("snapshot list --json"), 0);
	stkdr_buf_put(&out, "", 1);
	{
		cJSON *lj = cJSON_Parse(out.ptr), *e;
		ck_assert_msg(lj != NULL, "%s", out.ptr);
		int tagged = 0;
		cJSON_ArrayForEach(e, lj)
		if (!strcmp(js(e, "label"), "before v2.3 upgrade")) {
			tagged++;
			ck_assert_str_eq(js(e, "kind"), "hourly");
			ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(e, "keep")));
		}
		ck_assert_int_eq(tagged, 1);
		cJSON_Delete(lj);
	}
	/* stk status: the instance's latest restorable time and snapshots (RTO never measured: exit 1) */
	ck_assert_int_eq(STK("status --json"), 1);
	stkdr_buf_put(&out, "", 1);
	{
		cJSON *sj = cJSON_Parse(out.ptr);
		ck_assert_msg(sj != NULL, "%s", out.ptr);
		ck_assert_str_eq(js(cJSON_GetObjectItem(sj, "provider"), "instance"), "hub-prod");
		ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(sj, "objectives"), "rpo"), "ok")));
		cJSON_Delete(sj);
	}
	ck_assert_int_eq(STK("status"), 1);
	stkdr_buf_put(&out, "", 1);
	ck_assert_msg(strstr(out.ptr, "aws-rds continuous backup") && strstr(out.ptr, "RPO"), "%s", out.ptr);
	/* stk snapshot expire on RDS: a stk-tagged hourly from 2020 (tagged by the aws CLI: another client's
	 * tags are read too) goes, the rest stays */
	if (have_cli) {
		snprintf(cmd, sizeof cmd, "aws --endpoint-url %s rds create-db-snapshot --db-instance-identifier hub-prod "
			"--db-snapshot-identifier hub-prod-hourly-20200101000000 --tags Key=stkdr:kind,Value=hourly "
			"Key=stkdr:keep,Value=false >/dev/null", moto.endpoint);
		ck_assert_int_eq(at_sh(NULL, cmd), 0);
		ck_assert_int_eq(STK("snapshot expire --dry-run --json"), 0);
		stkdr_buf_put(&out, "", 1);
		cJSON *ej = cJSON_Parse(out.ptr), *e;
		ck_assert_msg(ej != NULL, "%s", out.ptr);
		int del = 0, automated = 0;
		cJSON_ArrayForEach(e, ej)
		{
			if (!strcmp(js(e, "action"), "delete")) {
				del++;
				ck_assert_str_eq(js(e, "id"), "hub-prod-hourly-20200101000000");
				ck_assert_ptr_nonnull(strstr(js(e, "reason"), "older than retention.hourly"));
			}
			automated += strstr(js(e, "reason"), "automated") != NULL;
		}
		ck_assert_int_eq(del, 1);
		ck_assert_int_ge(automated, 1);
		cJSON_Delete(ej);
		ck_assert_int_eq(STK("snapshot show hub-prod-hourly-20200101000000"), 0); /* a dry run */
		ck_assert_int_eq(STK("snapshot expire"), 0);
		stkdr_buf_put(&out, "", 1);
		ck_assert_msg(strstr(out.ptr, "DELETE") && strstr(out.ptr, "hub-prod-hourly-20200101000000"), "%s", out.ptr);
		ck_assert_int_eq(STK("snapshot show hub-prod-hourly-20200101000000"), 4);
		snprintf(cmd, sizeof cmd, "grep -rl snapshot.deleted %s/repo >/dev/null", dir);
		ck_assert_int_eq(at_sh(NULL, cmd), 0);
	}
	/* runbook 3.1, corruption: the newest snapshot into a new instance */
	ck_assert_int_eq(STK("restore --target-instance hub-cli --snapshot latest --json"), 0);
	stkdr_buf_put(&out, "", 1);
	cJSON *j = cJSON_Parse(out.ptr);
	ck_assert_msg(j != NULL, "%s", out.ptr);
	ck_assert_ptr_nonnull(strstr(js(j, "snapshot"), "hub-prod-hourly-")); /* the newest */
	ck_assert_str_eq(js(j, "instance"), "hub-cli");
	cJSON_Delete(j);
	/* runbook 3.1, accidental deletion, steps 3-7: a time, then the swap (no --start needed) */
	ck_assert_int_eq(STK("restore --target-instance hub-prod-restored --time 2020-01-01T00:00:00Z --swap"), 0);
	stkdr_buf_put(&out, "", 1);
	ck_assert_msg(strstr(out.ptr, "old_instance") && strstr(out.ptr, "hub-prod-old-"), "%s", out.ptr);
	ck_assert_msg(strstr(out.ptr, "delete-db-instance"), "%s", out.ptr);
	/* journalled into the repository */
	snprintf(cmd, sizeof cmd, "grep -rl restore.swapped %s/repo >/dev/null", dir);
	ck_assert_int_eq(at_sh(NULL, cmd), 0);
	snprintf(cmd, sizeof cmd, "grep -rl snapshot.created %s/repo >/dev/null", dir);
	ck_assert_int_eq(at_sh(NULL, cmd), 0);
	/* usage errors: exit 2 */
	ck_assert_int_eq(STK("restore --target-instance hub-x"), 2);
	ck_assert_int_eq(STK("restore --target-instance hub-x --target-dir /tmp/x --latest"), 2);
	/* an existing target: refused */
	ck_assert_int_ne(STK("restore --target-instance hub-cli --latest"), 0);
	stkdr_buf_put(&out, "", 1);
	ck_assert_msg(strstr(out.ptr, "already exists"), "%s", out.ptr);
#undef STK
	stkdr_buf_dispose(&out);
	stkdr__free(cfg);
	tu_rmtree_free(dir);
}
END_TEST

/* ---- moto with authentication on ---- */

START_TEST(signatures_checked_by_moto)
{
	if (moto_auth.pid <= 0)
		return;
	char ak[64], sk[128];
	at_moto_iam_key(&moto_auth, ak, sizeof ak, sk, sizeof sk);
	char *old_ak = stkdr__strdup(getenv("AWS_ACCESS_KEY_ID")), *old_sk = stkdr__strdup(getenv("AWS_SECRET_ACCESS_KEY"));
	setenv("AWS_ACCESS_KEY_ID", ak, 1);
	setenv("AWS_SECRET_ACCESS_KEY", sk, 1);
	stkdr_ctx *c;
	stkdr_dbprovider *p = open_db(&c, &moto_auth, "hub-auth");
	stkdr_db_instance_info info;
	/* a signed request moto accepts: the answer is about the instance, not the signature */
	tu_assert_rc(p->describe(&info, p, NULL), STKDR_ENOTFOUND);
	tu_assert_errmsg("DBInstanceNotFound");
	snaps s = { .n = 0 };
	tu_assert_ok(p->snapshot_list(p, NULL, snap_cb, &s));
	stkdr_ctx_free(c);
	/* a wrong secret key: SignatureDoesNotMatch -> EAUTH, and the key is not in the message */
	setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret-key", 1);
	p = open_db(&c, &moto_auth, "hub-auth");
	tu_assert_rc(p->describe(&info, p, NULL), STKDR_EAUTH);
	ck_assert_str_eq(stkdr__err_get()->backend_code, "SignatureDoesNotMatch");
	tu_assert_errmsg("DescribeDBInstances");
	ck_assert(strstr(stkdr__err_get()->message, "not-the-secret-key") == NULL);
	stkdr_ctx_free(c);
	setenv("AWS_ACCESS_KEY_ID", old_ak, 1);
	setenv("AWS_SECRET_ACCESS_KEY", old_sk, 1);
	stkdr__free(old_ak);
	stkdr__free(old_sk);
}
END_TEST

/* ---- the scripted mock: what moto never shows ---- */

static void script(const char *json)
{
	at_mock_script(&mock, json);
}

static cJSON *mock_log(void)
{
	stkdr_buf out = STKDR_BUF_INIT;
	at_mock_log(&mock, &out);
	cJSON *j = cJSON_Parse(out.ptr);
	stkdr_buf_dispose(&out);
	ck_assert_ptr_nonnull(j);
	return j;
}

#define INST(st) "{\"status\":200,\"body\":\"<DescribeDBInstancesResponse xmlns='http://rds.amazonaws.com/doc/2014-10-31/'>" \
	"<DescribeDBInstancesResult><DBInstances><DBInstance><DBInstanceIdentifier>hub-new</DBInstanceIdentifier>" \
	"<DBInstanceStatus>" st "</DBInstanceStatus><Engine>postgres</Engine><Endpoint><Address>hub-new.x.rds.test</Address>" \
	"<Port>5432</Port></Endpoint><LatestRestorableTime>2026-02-10T14:30:00.123Z</LatestRestorableTime>" \
	"</DBInstance></DBInstances></DescribeDBInstancesResult></DescribeDBInstancesResponse>\"}"

typedef struct seen {
	char statuses[256];
	int n;
} seen;

static int ev_cb(const stkdr_event *ev, void *payload)
{
	seen *s = payload;
	if (ev->type != STKDR_EVENT_PROGRESS || strcmp(ev->name, "dbprovider.wait") != 0)
		return 0;
	ck_assert_str_eq(ev->subject, "hub-new");
	cJSON *d = cJSON_Parse(ev->detail_json);
	const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(d, "status"));
	size_t l = strlen(s->statuses);
	snprintf(s->statuses + l, sizeof s->statuses - l, "%s%s", l ? "," : "", st ? st : "?");
	cJSON_Delete(d);
	s->n++;
	return 0;
}

START_TEST(creating_backing_up_available)
{
	stkdr_ctx *c;
	stkdr_dbprovider *p = open_db(&c, &mock, "hub-prod");
	seen sn;
	memset(&sn, 0, sizeof sn);
	stkdr_ctx_set_event_callback(c, ev_cb, &sn);
	script("[" INST("creating") "," INST("creating") "," INST("backing-up") "," INST("available") "]");
	stkdr_db_instance_info info;
	tu_assert_ok(p->wait(&info, p, STKDR_DB_WAIT_INSTANCE, "hub-new", "available", 10000));
	ck_assert_str_eq(sn.statuses, "creating,creating,backing-up,available");
	ck_assert_str_eq(info.host, "hub-new.x.rds.test");
	ck_assert_int_eq(info.port, 5432);
	ck_assert_int_eq(info.latest_restorable_ms, 1770733800123LL);
	/* each poll is a signed DescribeDBInstances for that instance */
	cJSON *log = mock_log();
	ck_assert_int_eq(cJSON_GetArraySize(log), 4);
	cJSON *r0 = cJSON_GetArrayItem(log, 0);
	ck_assert_str_eq(js(r0, "method"), "POST");
	ck_assert_ptr_nonnull(strstr(js(r0, "body"), "Action=DescribeDBInstances"));
	ck_assert_ptr_nonnull(strstr(js(r0, "body"), "DBInstanceIdentifier=hub-new"));
	ck_assert_ptr_nonnull(strstr(js(r0, "body"), "Version=2014-10-31"));
	ck_assert_ptr_nonnull(strstr(js(cJSON_GetObjectItem(r0, "headers"), "Authorization"), "/us-east-1/rds/aws4_request"));
	cJSON_Delete(log);
	stkdr_ctx_free(c);
}
END_TEST

START_TEST(deadline_and_failure)
{
	stkdr_ctx *c;
	stkdr_dbprovider *p = open_db(&c, &mock, "hub-prod");
	char many[16384] = "[";
	for (int i = 0; i < 10; i++)
		snprintf(many + strlen(many), sizeof many - strlen(many), "%s%s", i ? "," : "", INST("creating"));
	strcat(many, "]");
	script(many);
	tu_assert_rc(p->wait(NULL, p, STKDR_DB_WAIT_INSTANCE, "hub-new", "available", 100), STKDR_ETIMEOUT);
	tu_assert_errmsg("hub-new");
	tu_assert_errmsg("still creating");
	tu_assert_errmsg("available");
	/* a status RDS never leaves by itself ends the wait at once */
	script("[" INST("creating") "," INST("incompatible-restore") "]");
	tu_assert_rc(p->wait(NULL, p, STKDR_DB_WAIT_INSTANCE, "hub-new", "available", 10000), STKDR_EBACKEND);
	tu_assert_errmsg("incompatible-restore");
	stkdr_ctx_free(c);
}
END_TEST

#define NOTFOUND "{\"status\":404,\"body\":\"<ErrorResponse><Error><Code>DBInstanceNotFound</Code><Message>DBInstance " \
	"hub-new not found</Message></Error></ErrorResponse>\"}"

/* a renamed or new instance that is not visible at once is polled again; one that never appears is not
 * waited for until the deadline */
START_TEST(not_found_yet)
{
	stkdr_ctx *c;
	stkdr_dbprovider *p = open_db(&c, &mock, "hub-prod");
	script("[" NOTFOUND "," NOTFOUND "," INST("available") "]");
	stkdr_db_instance_info info;
	tu_assert_ok(p->wait(&info, p, STKDR_DB_WAIT_INSTANCE, "hub-new", "available", 10000));
	ck_assert_str_eq(info.status, "available");
	/* GONE: found, found (renaming), then not found */
	script("[" INST("renaming") "," INST("renaming") "," NOTFOUND "]");
	tu_assert_ok(p->wait(NULL, p, STKDR_DB_WAIT_GONE, "hub-new", NULL, 10000));
	stkdr_ctx_free(c);
}
END_TEST

/* stkdr_restore() through the mock: the new instance stays "creating" past dbprovider.wait_timeout */
START_TEST(restore_deadline)
{
	stkdr_ctx *c = rds_ctx_timeout(&mock, "hub-prod", "1");
	stkdr_buf sc = STKDR_BUF_INIT;
	stkdr__buf_printf(&sc, "[%s,%s,%s,{\"status\":200,\"body\":\"<RestoreDBInstanceToPointInTimeResponse/>\"}",
		INST("available"), NOTFOUND, INST("available"));
	for (int i = 0; i < 150; i++)
		stkdr__buf_printf(&sc, ",%s", INST("creating"));
	stkdr_buf_put(&sc, "]", 2);
	script(sc.ptr);
	stkdr_buf_dispose(&sc);
	stkdr_restore_options o;
	stkdr_restore_options_init(&o, STKDR_RESTORE_OPTIONS_VERSION);
	o.target_instance = "hub-new";
	o.target = STKDR_RESTORE_TARGET_LATEST;
	stkdr_buf rep = STKDR_BUF_INIT;
	tu_assert_rc(stkdr_restore(&rep, c, &o), STKDR_ETIMEOUT);
	tu_assert_errmsg("restore into the new instance hub-new");
	tu_assert_errmsg("still creating");
	ck_assert_ptr_null(rep.ptr);
	cJSON *log = mock_log();
	ck_assert_ptr_nonnull(strstr(js(cJSON_GetArrayItem(log, 3), "body"), "UseLatestRestorableTime=true"));
	ck_assert_ptr_nonnull(strstr(js(cJSON_GetArrayItem(log, 3), "body"), "SourceDBInstanceIdentifier=hub-prod"));
	cJSON_Delete(log);
	stkdr_ctx_free(c);
}
END_TEST

START_TEST(retries_and_malformed)
{
	stkdr_ctx *c;
	stkdr_dbprovider *p = open_db(&c, &mock, "hub-prod");
	stkdr_db_instance_info info;
	/* a 500 and a Throttling answer are retried (objstore.max_attempts 3 here) */
	script("[{\"status\":500,\"body\":\"<ErrorResponse><Error><Code>InternalFailure</Code></Error></ErrorResponse>\"},"
		"{\"status\":400,\"body\":\"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
		"<Message>Rate exceeded</Message></Error></ErrorResponse>\"}," INST("available") "]");
	tu_assert_ok(p->describe(&info, p, "hub-new"));
	ck_assert_str_eq(info.status, "available");
	cJSON *log = mock_log();
	ck_assert_int_eq(cJSON_GetArraySize(log), 3);
	cJSON_Delete(log);
	/* throttled on every attempt: the code is named */
	script("[{\"status\":400,\"body\":\"<ErrorResponse><Error><Code>Throttling</Code></Error></ErrorResponse>\"},"
		"{\"status\":400,\"body\":\"<ErrorResponse><Error><Code>Throttling</Code></Error></ErrorResponse>\"},"
		"{\"status\":400,\"body\":\"<ErrorResponse><Error><Code>Throttling</Code></Error></ErrorResponse>\"}]");
	tu_assert_rc(p->describe(&info, p, "hub-new"), STKDR_EBACKEND);
	tu_assert_errmsg("Throttling");
	/* an invalid state is named */
	script("[{\"status\":400,\"body\":\"<ErrorResponse><Error><Code>InvalidDBInstanceState</Code><Message>Instance "
		"hub-new is not available</Message></Error></ErrorResponse>\"}]");
	tu_assert_rc(p->reboot(p, "hub-new", 1), STKDR_EBACKEND);
	tu_assert_errmsg("RebootDBInstance hub-new: InvalidDBInstanceState");
	/* a taken name */
	script("[{\"status\":400,\"body\":\"<ErrorResponse><Error><Code>DBInstanceAlreadyExists</Code><Message>DB instance "
		"already exists</Message></Error></ErrorResponse>\"}]");
	tu_assert_rc(p->rename(p, "hub-new", "hub-prod"), STKDR_EEXISTS);
	tu_assert_errmsg("ModifyDBInstance hub-new -> hub-prod: DBInstanceAlreadyExists");
	/* malformed and truncated answers */
	script("[{\"status\":200,\"body\":\"<DescribeDBInstancesResp\"}]");
	tu_assert_rc(p->describe(&info, p, "hub-new"), STKDR_EBACKEND);
	tu_assert_errmsg("DescribeDBInstances");
	ck_assert_str_eq(stkdr__err_get()->backend_code, "MalformedResponse");
	/* what the restores send */
	script("[" INST("available") ",{\"status\":200,\"body\":\"<RestoreDBInstanceToPointInTimeResponse/>\"},"
		INST("available") ",{\"status\":200,\"body\":\"<RestoreDBInstanceToPointInTimeResponse/>\"},"
		"{\"status\":200,\"body\":\"<ModifyDBInstanceResponse/>\"}]");
	tu_assert_ok(p->restore_time(p, "hub-prod", "hub-new", 1770733500000LL));
	tu_assert_ok(p->restore_time(p, "hub-prod", "hub-new", 0));
	tu_assert_ok(p->rename(p, "hub-prod", "hub-prod-old-1"));
	log = mock_log();
	ck_assert_int_eq(cJSON_GetArraySize(log), 5); /* a restore: a DescribeDBInstances of the source, then the call */
	ck_assert_ptr_nonnull(strstr(js(cJSON_GetArrayItem(log, 1), "body"), "Action=RestoreDBInstanceToPointInTime"));
	ck_assert_ptr_nonnull(strstr(js(cJSON_GetArrayItem(log, 1), "body"), "RestoreTime=2026-02-10T14%3A25%3A00Z"));
	ck_assert_ptr_nonnull(strstr(js(cJSON_GetArrayItem(log, 1), "body"), "TargetDBInstanceIdentifier=hub-new"));
	ck_assert_ptr_nonnull(strstr(js(cJSON_GetArrayItem(log, 3), "body"), "UseLatestRestorableTime=true"));
	const char *mod = js(cJSON_GetArrayItem(log, 4), "body");
	ck_assert_ptr_nonnull(strstr(mod, "Action=ModifyDBInstance"));
	ck_assert_ptr_nonnull(strstr(mod, "NewDBInstanceIdentifier=hub-prod-old-1"));
	ck_assert_ptr_nonnull(strstr(mod, "ApplyImmediately=true"));
	cJSON_Delete(log);
	stkdr_ctx_free(c);
}
END_TEST

#define SNAPS(body) "{\"status\":200,\"body\":\"<DescribeDBSnapshotsResponse><DescribeDBSnapshotsResult><DBSnapshots>" body \
	"</DBSnapshots></DescribeDBSnapshotsResult></DescribeDBSnapshotsResponse>\"}"
#define SNAP(id, type, t, tags) "<DBSnapshot><DBSnapshotIdentifier>" id "</DBSnapshotIdentifier><DBInstanceIdentifier>" \
	"hub-prod</DBInstanceIdentifier><Status>available</Status><SnapshotType>" type "</SnapshotType><SnapshotCreateTime>" \
	t "</SnapshotCreateTime><AllocatedStorage>20</AllocatedStorage><TagList>" tags "</TagList></DBSnapshot>"
#define TAG(k, v) "<Tag><Key>" k "</Key><Value>" v "</Value></Tag>"
#define INST_NO_LRT "{\"status\":200,\"body\":\"<DescribeDBInstancesResponse><DescribeDBInstancesResult><DBInstances>" \
	"<DBInstance><DBInstanceIdentifier>hub-prod</DBInstanceIdentifier><DBInstanceStatus>available</DBInstanceStatus>" \
	"</DBInstance></DBInstances></DescribeDBInstancesResult></DescribeDBInstancesResponse>\"}"

static cJSON *status_json(stkdr_ctx *c)
{
	stkdr_buf rep = STKDR_BUF_INIT;
	tu_assert_ok(stkdr_status(&rep, c));
	stkdr_buf_put(&rep, "", 1);
	cJSON *j = cJSON_Parse(rep.ptr);
	ck_assert_msg(j != NULL, "%s", rep.ptr);
	stkdr_buf_dispose(&rep);
	return j;
}

/* the tags as sent and as read back; status from exact provider answers */
START_TEST(tags_and_status_exact)
{
	stkdr_ctx *c;
	stkdr_dbprovider *p = open_db(&c, &mock, "hub-prod");
	script("[{\"status\":200,\"body\":\"<CreateDBSnapshotResponse/>\"},{\"status\":200,\"body\":\"<CreateDBSnapshotResponse/>\"},"
		"{\"status\":200,\"body\":\"<CreateDBSnapshotResponse/>\"}]");
	tu_assert_ok(p->snapshot_create_tagged(p, NULL, "hub-prod-daily-20260210020000", "daily", 1, "v2.3, \"x\""));
	tu_assert_ok(p->snapshot_create(p, NULL, "hub-prod-hourly-20260210030000"));
	char long_label[512] = "";
	for (int i = 0; i < 200; i++)
		strcat(long_label, "\xc3\xa9"); /* 200 x U+00E9: 400 bytes */
	tu_assert_ok(p->snapshot_create_tagged(p, NULL, "hub-prod-manual-20260210040000", "manual", 0, long_label));
	cJSON *log = mock_log();
	{
		/* cut at 255 bytes on a character boundary: 127 whole characters */
		const char *lb = strstr(js(cJSON_GetArrayItem(log, 2), "body"), "Tags.Tag.3.Value=");
		ck_assert_ptr_nonnull(lb);
		lb += strlen("Tags.Tag.3.Value=");
		int chars = 0;
		while (!strncmp(lb, "%C3%A9", 6)) {
			chars++;
			lb += 6;
		}
		ck_assert_int_eq(chars, 127);
		ck_assert_msg(*lb == '\0' || *lb == '&', "%s", lb);
	}
	const char *b = js(cJSON_GetArrayItem(log, 0), "body");
	ck_assert_ptr_nonnull(strstr(b, "Action=CreateDBSnapshot"));
	ck_assert_ptr_nonnull(strstr(b, "Tags.Tag.1.Key=stkdr%3Akind&Tags.Tag.1.Value=daily"));
	ck_assert_ptr_nonnull(strstr(b, "Tags.Tag.2.Key=stkdr%3Akeep&Tags.Tag.2.Value=true"));
	ck_assert_msg(strstr(b, "Tags.Tag.3.Key=stkdr%3Alabel&Tags.Tag.3.Value=v2.3_%20_x_") != NULL, "%s", b);
	ck_assert_ptr_null(strstr(js(cJSON_GetArrayItem(log, 1), "body"), "Tags."));
	cJSON_Delete(log);

	/* read back from a TagList; expire over them (dry run), the automated one left alone */
	script("[" INST("available") "," SNAPS(SNAP("rds:hub-prod-2026-02-01-03-00", "automated", "2026-02-01T03:00:00Z", "")
		SNAP("hub-prod-hourly-20260201040000", "manual", "2026-02-01T04:00:01Z", TAG("stkdr:kind", "hourly") TAG("stkdr:keep", "false"))
		SNAP("hub-prod-hourly-20260201050000", "manual", "2026-02-01T05:00:01Z", TAG("stkdr:kind", "hourly") TAG("stkdr:keep", "true")
			TAG("stkdr:label", "pre-upgrade"))
		SNAP("hub-prod-hourly-20260210050000", "manual", "2026-02-10T05:00:01Z", TAG("stkdr:kind", "hourly") TAG("stkdr:keep", "false"))) "]");
	tu_assert_ok(stkdr_ctx_set_str(c, "clock.fake_now", "2026-02-10T16:00:00Z"));
	static xdec d;
	memset(&d, 0, sizeof d);
	tu_assert_ok(stkdr__provider_snapshot_expire(c, STKDR_EXPIRE_DRY_RUN, xdec_cb, &d));
	ck_assert_int_eq(d.n, 4);
	ck_assert_int_eq(d.deleted, 1);
	ck_assert_str_eq(d.ids[1], "hub-prod-hourly-20260201040000");
	ck_assert_int_eq(d.actions[1], STKDR_EXPIRE_DELETE);
	ck_assert_str_eq(d.reasons[1], "hourly, 9d12h old, older than retention.hourly 7d");
	ck_assert_int_eq(d.actions[2], STKDR_EXPIRE_KEEP);
	ck_assert_str_eq(d.reasons[2], "kept: taken with --keep (9d11h old)");
	ck_assert_int_eq(d.actions[0], STKDR_EXPIRE_KEEP);
	ck_assert_ptr_nonnull(strstr(d.reasons[0], "automated"));
	log = mock_log();
	ck_assert_int_eq(cJSON_GetArraySize(log), 2); /* describe + one list: a dry run deletes nothing */
	cJSON_Delete(log);

	/* status: exposure = now - LatestRestorableTime (14:30:00.123), the newest and oldest snapshots */
	script("[" INST("available") "," SNAPS(SNAP("rds:hub-prod-2026-02-10-03-00", "automated", "2026-02-10T03:00:00Z", "")
		SNAP("hub-prod-manual-20260210120000", "manual", "2026-02-10T12:00:00Z", TAG("stkdr:kind", "manual"))) "]");
	cJSON *j = status_json(c);
	cJSON *sn = cJSON_GetObjectItem(j, "snapshots");
	ck_assert_int_eq((int)cJSON_GetNumberValue(cJSON_GetObjectItem(sn, "count")), 2);
	ck_assert_str_eq(js(sn, "newest"), "hub-prod-manual-20260210120000");
	ck_assert_str_eq(js(sn, "newest_type"), "manual");
	ck_assert_str_eq(js(sn, "newest_age"), "4h");
	ck_assert_str_eq(js(sn, "oldest"), "rds:hub-prod-2026-02-10-03-00");
	ck_assert_str_eq(js(j, "latest_restorable_time"), "2026-02-10T14:30:00.123Z");
	ck_assert_str_eq(js(j, "earliest_restorable_time"), "2026-02-10T03:00:00Z");
	ck_assert_str_eq(js(cJSON_GetObjectItem(j, "wal"), "newest_archived_at"), "2026-02-10T14:30:00.123Z");
	cJSON *rpo = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "objectives"), "rpo");
	ck_assert_str_eq(js(rpo, "exposure"), "1h29m59s");
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(rpo, "ok")));
	ck_assert_ptr_nonnull(strstr(js(rpo, "problem"), "latest restorable time of instance hub-prod"));
	cJSON_Delete(j);
	/* automated backups off: the newest snapshot bounds the exposure */
	tu_assert_ok(stkdr_ctx_set_str(c, "clock.fake_now", "2026-02-10T12:30:00Z"));
	script("[" INST_NO_LRT "," SNAPS(SNAP("hub-prod-manual-20260210120000", "manual", "2026-02-10T12:00:00Z", "")) "]");
	j = status_json(c);
	rpo = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "objectives"), "rpo");
	ck_assert_str_eq(js(rpo, "exposure"), "30m");
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(rpo, "ok")));
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "provider"), "latest_restorable_time")));
	cJSON_Delete(j);
	/* ... and nothing at all */
	script("[" INST_NO_LRT "," SNAPS("") "]");
	j = status_json(c);
	rpo = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "objectives"), "rpo");
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(rpo, "ok")));
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(rpo, "exposure")));
	ck_assert_ptr_nonnull(strstr(js(rpo, "problem"), "no available snapshot"));
	cJSON_Delete(j);
	/* a malformed listing is an error, not a report */
	script("[" INST("available") ",{\"status\":200,\"body\":\"<DescribeDBSnapshotsResp\"}]");
	stkdr_buf rep = STKDR_BUF_INIT;
	tu_assert_rc(stkdr_status(&rep, c), STKDR_EBACKEND);
	tu_assert_errmsg("DescribeDBSnapshots");
	tu_assert_errmsg("hub-prod");
	stkdr_ctx_free(c);
}
END_TEST

static Suite *rds_suite(void)
{
	Suite *s = suite_create("rds");
	TCase *tc = tcase_create("moto");
	tcase_add_checked_fixture(tc, make_hub, NULL);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, describe_and_snapshots);
	tcase_add_test(tc, unknown_instance);
	tcase_add_test(tc, restore_from_snapshot);
	tcase_add_test(tc, restore_point_in_time);
	tcase_add_test(tc, restore_and_swap);
	tcase_add_test(tc, replica_failover_delete);
	tcase_add_test(tc, snapshot_api_on_rds);
	tcase_add_test(tc, stk_commands_on_rds);
	tcase_add_test(tc, tags_round_trip);
	tcase_add_test(tc, expire_a_simulated_year);
	tcase_add_test(tc, expire_bad_input);
	tcase_add_test(tc, status_on_rds);
	suite_add_tcase(s, tc);
	tc = tcase_create("auth");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, signatures_checked_by_moto);
	suite_add_tcase(s, tc);
	tc = tcase_create("mock");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, creating_backing_up_available);
	tcase_add_test(tc, deadline_and_failure);
	tcase_add_test(tc, retries_and_malformed);
	tcase_add_test(tc, not_found_yet);
	tcase_add_test(tc, restore_deadline);
	tcase_add_test(tc, tags_and_status_exact);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return at_main(rds_suite, &moto, &mock, &moto_auth, &have_cli);
}
