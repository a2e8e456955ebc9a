/*
 * S3 Object Lock legal holds through the objstore's ctl op STKDR_CTL_LEGAL_HOLD, against moto (a bucket
 * created with Object Lock enabled): place, read, remove; a held object cannot be deleted; the aws CLI
 * (`s3api get-object-legal-hold` / `put-object-legal-hold`) sees and changes the same hold; a missing
 * object, a bucket without Object Lock, a bad argument, and the local store (not supported).
 */
#include "awstest.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static at_server moto;
static int have_cli;
static int seq;
static char bucket[64];
static stkdr_ctx *ctx;
static stkdr_objstore *os;

static void open_bucket(int lock)
{
	snprintf(bucket, sizeof bucket, "stkdr-hold-%d-%d", (int)getpid(), ++seq);
	char path[128];
	snprintf(path, sizeof path, "/%s", bucket);
	const char *h[] = { lock ? "x-amz-bucket-object-lock-enabled: true" : NULL, NULL };
	ck_assert_int_eq(at_http(&moto, "PUT", path, h, NULL, 0, NULL), 200);
	char json[1024];
	snprintf(json, sizeof json, "{\"deployment\":\"hub-test\",\"objstore\":{\"backend\":\"s3\",\"bucket\":\"%s\","
		"\"region\":\"us-east-1\",\"endpoint\":\"%s\",\"retry_base_ms\":1}}", bucket, moto.endpoint);
	ctx = tu_ctx_json(json);
	tu_assert_ok(stkdr__ctx_objstore(&os, ctx));
}

static void setup(void)
{
	open_bucket(1);
}

static void teardown(void)
{
	stkdr_ctx_free(ctx);
	ctx = NULL;
	os = NULL;
}

static void put(const char *key, const char *data)
{
	stkdr_objwriter *w;
	tu_assert_ok(os->open_write(&w, os, key, NULL));
	tu_assert_ok(w->write(w, (const uint8_t *)data, strlen(data)));
	tu_assert_ok(w->commit(w, NULL));
}

static int hold(const char *key, int set, int *status)
{
	stkdr_legal_hold lh = STKDR_LEGAL_HOLD_INIT;
	lh.key = key;
	lh.set = set;
	lh.status_out = 42;
	int rc = os->base.ctl(&os->base, STKDR_CTL_LEGAL_HOLD, &lh);
	if (status)
		*status = lh.status_out;
	return rc;
}

START_TEST(place_read_remove)
{
	put("audit/2026/01/01/audit.csv.gz", "day one");
	int st;
	tu_assert_ok(hold("audit/2026/01/01/audit.csv.gz", -1, &st));
	ck_assert_int_eq(st, 0);
	tu_assert_ok(hold("audit/2026/01/01/audit.csv.gz", 1, &st));
	ck_assert_int_eq(st, 1);
	tu_assert_ok(hold("audit/2026/01/01/audit.csv.gz", -1, &st));
	ck_assert_int_eq(st, 1);
	/* held: no delete, whatever the flags; the message says why and what to do */
	tu_assert_rc(os->del(os, "audit/2026/01/01/audit.csv.gz", 0), STKDR_EIMMUTABLE);
	tu_assert_errmsg("legal hold");
	tu_assert_rc(os->del(os, "audit/2026/01/01/audit.csv.gz", STKDR_DELETE_BYPASS_GOVERNANCE), STKDR_EIMMUTABLE);
	stkdr_objinfo info;
	tu_assert_ok(os->head(&info, os, "audit/2026/01/01/audit.csv.gz"));
	/* removed: deletable again */
	tu_assert_ok(hold("audit/2026/01/01/audit.csv.gz", 0, &st));
	ck_assert_int_eq(st, 0);
	tu_assert_ok(os->del(os, "audit/2026/01/01/audit.csv.gz", 0));
	tu_assert_rc(os->head(&info, os, "audit/2026/01/01/audit.csv.gz"), STKDR_ENOTFOUND);
}
END_TEST

START_TEST(aws_cli_sees_the_same_hold)
{
	if (!have_cli)
		return;
	put("k1", "held");
	tu_assert_ok(hold("k1", 1, NULL));
	char cmd[1024];
	stkdr_buf out = STKDR_BUF_INIT;
	snprintf(cmd, sizeof cmd, "aws --endpoint-url %s s3api get-object-legal-hold --bucket %s --key k1 --output text 2>&1",
		moto.endpoint, bucket);
	ck_assert_msg(at_sh(&out, cmd) == 0, "aws s3api get-object-legal-hold: %.*s", (int)out.size, out.ptr);
	stkdr_buf_put(&out, "", 1);
	ck_assert_msg(strstr(out.ptr, "ON") != NULL, "the CLI sees: %s", out.ptr);
	/* the CLI lifts it, the library reads that and may delete */
	snprintf(cmd, sizeof cmd, "aws --endpoint-url %s s3api put-object-legal-hold --bucket %s --key k1 "
		"--legal-hold Status=OFF 2>&1", moto.endpoint, bucket);
	out.size = 0;
	ck_assert_msg(at_sh(&out, cmd) == 0, "aws s3api put-object-legal-hold: %.*s", (int)out.size, out.ptr);
	int st;
	tu_assert_ok(hold("k1", -1, &st));
	ck_assert_int_eq(st, 0);
	tu_assert_ok(os->del(os, "k1", 0));
	stkdr_buf_dispose(&out);
}
END_TEST

START_TEST(bad_input)
{
	int st = 7;
	tu_assert_rc(hold("absent", 1, &st), STKDR_ENOTFOUND);
	tu_assert_errmsg("absent");
	ck_assert_int_eq(st, 0);
	tu_assert_rc(os->base.ctl(&os->base, STKDR_CTL_LEGAL_HOLD, NULL), STKDR_EINVAL);
	put("k2", "x");
	tu_assert_rc(hold("k2", 2, NULL), STKDR_EINVAL);
	tu_assert_rc(hold("../k2", 1, NULL), STKDR_EINVAL);
	/* a bucket without Object Lock: refused, the message names the operation and what is missing */
	teardown();
	open_bucket(0);
	put("k3", "x");
	int rc = hold("k3", 1, NULL);
	ck_assert_msg(rc != 0, "a legal hold in a bucket without Object Lock must fail");
	tu_assert_rc(rc, STKDR_EBACKEND);
	tu_assert_errmsg("PutObjectLegalHold");
	tu_assert_errmsg("k3");
	tu_assert_errmsg("Object Lock enabled");
}
END_TEST

START_TEST(local_store_has_none)
{
	char *dir = tu_mkdtemp("hold");
	char json[512];
	snprintf(json, sizeof json, "{\"deployment\":\"d\",\"objstore\":{\"backend\":\"local\",\"path\":\"%s\"}}", dir);
	stkdr_ctx *c = tu_ctx_json(json);
	stkdr_objstore *l;
	tu_assert_ok(stkdr__ctx_objstore(&l, c));
	stkdr_legal_hold lh = STKDR_LEGAL_HOLD_INIT;
	lh.key = "k";
	lh.set = 1;
	tu_assert_rc(l->base.ctl(&l->base, STKDR_CTL_LEGAL_HOLD, &lh), STKDR_ENOTSUPPORTED);
	stkdr_ctx_free(c);
	tu_rmtree_free(dir);
}
END_TEST

int main(void)
{
	at_env();
	if (!at_available(0))
		return 77;
	have_cli = at_available(1);
	if (at_moto_start(&moto, 0, 0) != 0)
		return 1;
	Suite *s = suite_create("s3_legal_hold");
	TCase *tc = tcase_create("legal_hold");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, place_read_remove);
	tcase_add_test(tc, aws_cli_sees_the_same_hold);
	tcase_add_test(tc, bad_input);
	tcase_add_test(tc, local_store_has_none);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
