/*
 * The Route 53 DNS backend against moto's server (started here) and the scripted mock: upserts read back
 * (also by the aws CLI), TXT quoting, missing records and zones, and waiting for PENDING -> INSYNC.
 */
#include "awstest.h"

#include "backends/aws/aws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static at_server moto;
static at_server mock;
static int have_cli;
static char zone[64];

static stkdr_dns *open_dns(stkdr_ctx **c, const at_server *srv, const char *zone_id)
{
	char json[1024];
	snprintf(json, sizeof json,
		"{\"deployment\":\"d\",\"dns\":{\"backend\":\"route53\",\"zone_id\":\"%s\",\"endpoint\":\"%s\"},"
		"\"objstore\":{\"retry_base_ms\":1,\"max_attempts\":3}}",
		zone_id, srv->endpoint);
	*c = tu_ctx_json(json);
	stkdr_dns *d = NULL;
	int rc = stkdr__ctx_dns(&d, *c);
	ck_assert_msg(rc == 0, "open route53: %s", stkdr__err_get()->message);
	return d;
}

static void make_zone(void)
{
	at_moto_reset(&moto);
	const char *h[] = { "Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/route53/aws4_request, "
			    "SignedHeaders=host, Signature=0", NULL };
	const char *body = "<CreateHostedZoneRequest xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\">"
			   "<Name>santokit.test.</Name><CallerReference>stkdr-test</CallerReference></CreateHostedZoneRequest>";
	stkdr_buf out = STKDR_BUF_INIT;
	long st = at_http(&moto, "POST", "/2013-04-01/hostedzone", h, body, strlen(body), &out);
	stkdr_buf_put(&out, "", 1);
	ck_assert_msg(st == 201 || st == 200, "CreateHostedZone: HTTP %ld %s", st, out.ptr);
	const char *a = strstr(out.ptr, "<Id>/hostedzone/");
	ck_assert_ptr_nonnull(a);
	a += strlen("<Id>/hostedzone/");
	snprintf(zone, sizeof zone, "%.*s", (int)strcspn(a, "<"), a);
	stkdr_buf_dispose(&out);
}

typedef struct got {
	char value[256];
	char type[16];
	int64_t ttl;
	int n;
} got;

static int rec_cb(const stkdr_dns_record *r, void *payload)
{
	got *g = payload;
	snprintf(g->value, sizeof g->value, "%s", r->value);
	snprintf(g->type, sizeof g->type, "%s", r->type);
	g->ttl = r->ttl;
	g->n++;
	return 0;
}

START_TEST(upsert_and_read)
{
	stkdr_ctx *c;
	stkdr_dns *d = open_dns(&c, &moto, zone);
	stkdr_buf id = STKDR_BUF_INIT;
	stkdr_dns_record r = { STKDR_DNS_RECORD_VERSION, "hub.santokit.test", "A", "10.0.0.1", 60 };
	tu_assert_ok(d->upsert(&id, d, &r));
	ck_assert_uint_gt(id.size, 0);
	tu_assert_ok(d->wait_sync(d, id.ptr, 5000));
	got g = { .n = 0 };
	tu_assert_ok(d->get(d, "hub.santokit.test", "A", rec_cb, &g));
	ck_assert_int_eq(g.n, 1);
	ck_assert_str_eq(g.value, "10.0.0.1");
	ck_assert_int_eq(g.ttl, 60);
	/* failover: the same name now points elsewhere */
	r.value = "10.0.0.2";
	r.ttl = 30;
	tu_assert_ok(d->upsert(NULL, d, &r));
	g.n = 0;
	tu_assert_ok(d->get(d, "hub.santokit.test", NULL, rec_cb, &g));
	ck_assert_int_eq(g.n, 1);
	ck_assert_str_eq(g.value, "10.0.0.2");
	ck_assert_int_eq(g.ttl, 30);
	/* TXT values are quoted for Route 53 and unquoted on the way back */
	stkdr_dns_record t = { STKDR_DNS_RECORD_VERSION, "_stkdr.santokit.test", "TXT", "failover=2026-02-10", 60 };
	tu_assert_ok(d->upsert(NULL, d, &t));
	g.n = 0;
	tu_assert_ok(d->get(d, "_stkdr.santokit.test", "TXT", rec_cb, &g));
	ck_assert_str_eq(g.value, "failover=2026-02-10");
	/* missing */
	tu_assert_rc(d->get(d, "nothing.santokit.test", "A", rec_cb, &g), STKDR_ENOTFOUND);
	tu_assert_rc(d->get(d, "hub.santokit.test", "CNAME", rec_cb, &g), STKDR_ENOTFOUND);
	if (have_cli) {
		char cmd[512];
		stkdr_buf out = STKDR_BUF_INIT;
		snprintf(cmd, sizeof cmd, "aws --endpoint-url %s route53 list-resource-record-sets --hosted-zone-id %s "
			"--query \"ResourceRecordSets[?Name=='hub.santokit.test.'].ResourceRecords[0].Value\" --output text",
			moto.endpoint, zone);
		ck_assert_int_eq(at_sh(&out, cmd), 0);
		stkdr_buf_put(&out, "", 1);
		ck_assert_ptr_nonnull(strstr(out.ptr, "10.0.0.2"));
		stkdr_buf_dispose(&out);
	}
	stkdr_buf_dispose(&id);
	stkdr_ctx_free(c);
}
END_TEST

START_TEST(unknown_zone)
{
	stkdr_ctx *c;
	stkdr_dns *d = open_dns(&c, &moto, "ZNOSUCHZONE");
	stkdr_dns_record r = { STKDR_DNS_RECORD_VERSION, "hub.santokit.test", "A", "10.0.0.1", 60 };
	tu_assert_rc(d->upsert(NULL, d, &r), STKDR_ENOTFOUND);
	tu_assert_errmsg("dns.zone_id");
	tu_assert_errmsg("ChangeResourceRecordSets");
	stkdr_ctx_free(c);
}
END_TEST

static void script(const char *json)
{
	at_mock_script(&mock, json);
}

#define CHANGE(st) "{\"status\":200,\"body\":\"<GetChangeResponse><ChangeInfo><Id>/change/C1</Id><Status>" st \
	"</Status></ChangeInfo></GetChangeResponse>\"}"

START_TEST(pending_then_insync)
{
	stkdr_ctx *c;
	stkdr_dns *d = open_dns(&c, &mock, "/hostedzone/Z1");
	script("[" CHANGE("PENDING") "," CHANGE("PENDING") "," CHANGE("INSYNC") "]");
	tu_assert_ok(d->wait_sync(d, "/change/C1", 10000));
	script("[" CHANGE("PENDING") "," CHANGE("PENDING") "," CHANGE("PENDING") "," CHANGE("PENDING") ","
		CHANGE("PENDING") "," CHANGE("PENDING") "]");
	tu_assert_rc(d->wait_sync(d, "/change/C1", 250), STKDR_ETIMEOUT);
	tu_assert_errmsg("PENDING");
	/* a throttled GetChange is retried; a malformed one is a clear error */
	script("[{\"status\":400,\"body\":\"<ErrorResponse><Error><Code>Throttling</Code></Error></ErrorResponse>\"},"
		CHANGE("INSYNC") "]");
	tu_assert_ok(d->wait_sync(d, "C1", 5000));
	script("[{\"status\":200,\"body\":\"<GetChangeResp\"}]");
	tu_assert_rc(d->wait_sync(d, "C1", 5000), STKDR_EBACKEND);
	tu_assert_errmsg("GetChange");
	stkdr_ctx_free(c);
}
END_TEST

static Suite *r53_suite(void)
{
	Suite *s = suite_create("route53");
	TCase *tc = tcase_create("moto");
	tcase_add_unchecked_fixture(tc, make_zone, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, upsert_and_read);
	tcase_add_test(tc, unknown_zone);
	suite_add_tcase(s, tc);
	tc = tcase_create("mock");
	tcase_add_test(tc, pending_then_insync);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return at_main(r53_suite, &moto, &mock, NULL, &have_cli);
}
