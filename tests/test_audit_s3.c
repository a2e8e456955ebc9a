/*
 * Archive-tier retrieval on S3 (moto, started here): reading a DEEP_ARCHIVE object fails with
 * STKDR_EPENDING (InvalidObjectState), restore_archived requests the retrieval (RestoreObject) and reports
 * it, and the audit archive's restore reports a day in Deep Archive as pending, imports nothing of it, and
 * imports it once the retrieval has completed (moto completes restores at once).
 */
#include "awstest.h"
#include "pgtest.h"

#include "stkdr/audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static at_server moto;
static pgt_cluster *pg;
static char *work;
static int seq;

static void make_bucket(char *name, size_t n)
{
	snprintf(name, n, "stkdr-audit-%d-%d", (int)getpid(), ++seq);
	char path[128];
	snprintf(path, sizeof path, "/%s", name);
	const char *h[] = { "x-amz-bucket-object-lock-enabled: true", NULL };
	long st = at_http(&moto, "PUT", path, h, NULL, 0, NULL);
	ck_assert_msg(st == 200, "create bucket %s: HTTP %ld", name, st);
}

static stkdr_ctx *mk_ctx(const char *bucket, const char *table)
{
	char *json = stkdr__aprintf("{\"deployment\":\"hub\",\"postgres\":{\"conninfo\":\"%s\"},"
				    "\"objstore\":{\"backend\":\"s3\",\"bucket\":\"%s\",\"prefix\":\"hub\",\"region\":\"us-east-1\","
				    "\"endpoint\":\"%s\",\"retry_base_ms\":1},"
				    "\"secrets\":{\"backend\":\"local\",\"path\":\"%s/sec-%s\"},"
				    "\"audit\":{\"table\":\"%s\",\"lag\":\"1h\"},\"clock\":{\"fake_now\":\"2026-02-20T12:00:00Z\"}}",
		pg ? pg->conninfo : "", bucket, moto.endpoint, work, bucket, table);
	stkdr_ctx *ctx = tu_ctx_json(json);
	stkdr__free(json);
	return ctx;
}

static int put(stkdr_objstore *os, const char *key, const char *data, int tier)
{
	stkdr_put_options o = STKDR_PUT_OPTIONS_INIT;
	o.tier = tier;
	stkdr_objwriter *w;
	int rc = os->open_write(&w, os, key, &o);
	if (rc)
		return rc;
	if ((rc = w->write(w, (const uint8_t *)data, strlen(data))) != 0) {
		w->abort(w);
		return rc;
	}
	return w->commit(w, NULL);
}

static int read_all(stkdr_buf *out, stkdr_objstore *os, const char *key)
{
	stkdr_objreader *r;
	int rc = os->open_read(&r, os, key, 0, -1);
	if (rc)
		return rc;
	uint8_t tmp[4096];
	size_t n;
	while ((rc = r->read(r, tmp, sizeof tmp, &n)) == 0 && n > 0)
		stkdr_buf_put(out, tmp, n);
	r->close(r);
	return rc;
}

START_TEST(deep_archive_object_needs_a_retrieval)
{
	char bucket[64];
	make_bucket(bucket, sizeof bucket);
	stkdr_ctx *ctx = mk_ctx(bucket, "unused");
	stkdr_objstore *os;
	tu_assert_ok(stkdr__ctx_objstore(&os, ctx));
	ck_assert_uint_ge(os->base.version, 2);
	ck_assert(os->restore_archived != NULL);
	tu_assert_ok(put(os, "deep", "cold bytes", STKDR_TIER_ARCHIVE));
	tu_assert_ok(put(os, "hot", "warm bytes", STKDR_TIER_HOT));
	stkdr_objinfo info;
	tu_assert_ok(os->head(&info, os, "deep"));
	ck_assert_int_eq(info.tier, STKDR_TIER_ARCHIVE);
	/* GET of a Deep Archive object: 403 InvalidObjectState -> EPENDING, not an authentication error */
	stkdr_buf b = STKDR_BUF_INIT;
	tu_assert_rc(read_all(&b, os, "deep"), STKDR_EPENDING);
	ck_assert_str_eq(stkdr__err_get()->backend_code, "InvalidObjectState");
	tu_assert_errmsg("RestoreObject");
	int state = -1;
	tu_assert_ok(os->restore_archived(os, "hot", 1, STKDR_RETRIEVAL_BULK, &state));
	ck_assert_int_eq(state, STKDR_RETRIEVAL_READABLE);
	tu_assert_ok(os->restore_archived(os, "deep", 1, STKDR_RETRIEVAL_BULK, &state));
	ck_assert_int_eq(state, STKDR_RETRIEVAL_STARTED);
	/* moto completes a restore at once: x-amz-restore ongoing-request="false" */
	tu_assert_ok(os->restore_archived(os, "deep", 1, STKDR_RETRIEVAL_BULK, &state));
	ck_assert_int_eq(state, STKDR_RETRIEVAL_READABLE);
	stkdr_buf_set(&b, "", 0);
	tu_assert_ok(read_all(&b, os, "deep"));
	ck_assert_int_eq((int)b.size, 10);
	ck_assert(memcmp(b.ptr, "cold bytes", 10) == 0);
	tu_assert_rc(os->restore_archived(os, "missing", 1, STKDR_RETRIEVAL_BULK, &state), STKDR_ENOTFOUND);
	tu_assert_rc(os->restore_archived(os, "deep", 0, STKDR_RETRIEVAL_BULK, &state), STKDR_EINVAL);
	tu_assert_rc(os->restore_archived(os, "deep", 1, 7, &state), STKDR_EINVAL);
	stkdr_buf_dispose(&b);
	stkdr_ctx_free(ctx);
}
END_TEST

static int n_pending, n_restored;
static char detail[512];

static int day_cb(const stkdr_audit_day *d, void *payload)
{
	(void)payload;
	if (d->status == STKDR_AUDIT_PENDING) {
		n_pending++;
		snprintf(detail, sizeof detail, "%s", d->detail);
	} else if (d->status == STKDR_AUDIT_RESTORED) {
		n_restored++;
	}
	return 0;
}

START_TEST(audit_day_in_deep_archive_is_pending_then_restored)
{
	if (!pg)
		return;
	pgt_exec(pg, "CREATE TABLE al_s3 (id bigserial PRIMARY KEY, timestamp timestamptz NOT NULL, actor text, "
		     "action text, resource text, details jsonb); INSERT INTO al_s3 (timestamp, actor, action, details) "
		     "SELECT timestamptz '2026-02-01' + g * interval '17 minutes', 'user' || g, 'project.delete', "
		     "jsonb_build_object('n', g) FROM generate_series(0, 250) g");
	char *orig = pgt_sql(pg, "SELECT count(*) || md5(string_agg(t::text, '|' ORDER BY id)) FROM al_s3 t");
	char bucket[64];
	make_bucket(bucket, sizeof bucket);
	stkdr_ctx *ctx = mk_ctx(bucket, "al_s3");
	tu_assert_ok(stkdr_audit_export(ctx, "2026-02-01", "2026-02-03", NULL, NULL));
	stkdr_objstore *os;
	tu_assert_ok(stkdr__ctx_objstore(&os, ctx));
	/* 02-02 goes to Deep Archive (what the lifecycle rule does after 365 days) */
	tu_assert_ok(os->set_tier(os, "hub/audit/2026/02/02/audit.csv.gz", STKDR_TIER_ARCHIVE));
	pgt_exec(pg, "DELETE FROM al_s3 WHERE timestamp >= '2026-02-02' AND timestamp < '2026-02-03'");
	ck_assert_int_eq(stkdr_audit_restore(ctx, "2026-02-01", "2026-02-03", day_cb, NULL), STKDR_EPENDING);
	ck_assert_int_eq(n_pending, 1);
	ck_assert_int_eq(n_restored, 2);
	ck_assert_str_eq(detail, "retrieval started for audit/2026/02/02/audit.csv.gz (Bulk, up to 48 h); re-run later");
	char *n = pgt_sql(pg, "SELECT count(*) FROM al_s3 WHERE timestamp >= '2026-02-02' AND timestamp < '2026-02-03'");
	ck_assert_str_eq(n, "0");
	stkdr__free(n);
	/* the retrieval has completed (moto: at once): the day is verified and imported */
	n_pending = n_restored = 0;
	tu_assert_ok(stkdr_audit_restore(ctx, "2026-02-01", "2026-02-03", day_cb, NULL));
	ck_assert_int_eq(n_pending, 0);
	ck_assert_int_eq(n_restored, 3);
	char *now = pgt_sql(pg, "SELECT count(*) || md5(string_agg(t::text, '|' ORDER BY id)) FROM al_s3 t");
	ck_assert_str_eq(now, orig);
	tu_assert_ok(stkdr_audit_verify(ctx, NULL, NULL, NULL, NULL));
	stkdr__free(now);
	stkdr__free(orig);
	stkdr_ctx_free(ctx);
}
END_TEST

static void pg_setup(void)
{
	if (!work)
		work = tu_mkdtemp("audit-s3");
	if (!pg && pgt_available())
		pg = pgt_start("audits3", "fsync = off\nsynchronous_commit = off\nautovacuum = off\n");
}

int main(void)
{
	at_env();
	if (!at_available(0))
		return 77;
	if (at_moto_start(&moto, 0, 0) != 0) {
		fprintf(stderr, "could not start moto\n");
		return 1;
	}
	setenv("STKDR_MASTER_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", 1);
	Suite *s = suite_create("audit_s3");
	TCase *tc = tcase_create("moto");
	tcase_add_unchecked_fixture(tc, pg_setup, NULL);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, deep_archive_object_needs_a_retrieval);
	tcase_add_test(tc, audit_day_in_deep_archive_is_pending_then_restored);
	suite_add_tcase(s, tc);
	int rc = tu_run_suite(s);
	pgt_destroy(pg);
	at_server_stop(&moto);
	tu_rmtree_free(work);
	return rc;
}
