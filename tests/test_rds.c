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
#include "stkdr/restore.h"
#include "stkdr/snapshot.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
			ck_assert_str_eq(l.labels[i], "manual");
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
	/* runbook 3.1, corruption: the newest snapshot into a new instance */
	ck_assert_int_eq(STK("restore --target-instance hub-cli --snapshot latest --json"), 0);
	stkdr_buf_put(&out, "", 1);
	cJSON *j = cJSON_Parse(out.ptr);
	ck_assert_msg(j != NULL, "%s", out.ptr);
	ck_assert_ptr_nonnull(strstr(js(j, "snapshot"), "hub-prod-manual-"));
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
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return at_main(rds_suite, &moto, &mock, &moto_auth, &have_cli);
}
