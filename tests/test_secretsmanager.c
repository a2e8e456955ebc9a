/*
 * The AWS Secrets Manager secrets backend against moto's server (started here) and the scripted mock:
 * versions and stages, idempotent puts, listing, missing secrets, cross-checks with the aws CLI, retries
 * and malformed responses.
 */
#include "awstest.h"

#include "backends/aws/aws.h"
#include "core/crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static at_server moto;
static at_server mock;
static int have_cli;
static stkdr_ctx *ctx;
static stkdr_secrets *sm;

static stkdr_secrets *open_sm(stkdr_ctx **c, const at_server *srv)
{
	char json[1024];
	snprintf(json, sizeof json,
		"{\"deployment\":\"d\",\"secrets\":{\"backend\":\"aws-secretsmanager\",\"region\":\"us-east-1\","
		"\"endpoint\":\"%s\"},\"objstore\":{\"retry_base_ms\":1,\"max_attempts\":3}}",
		srv->endpoint);
	*c = tu_ctx_json(json);
	stkdr_secrets *s = NULL;
	int rc = stkdr__ctx_secrets(&s, *c);
	ck_assert_msg(rc == 0, "open secrets: %s", stkdr__err_get()->message);
	return s;
}

static void setup(void)
{
	sm = open_sm(&ctx, &moto);
}

static void teardown(void)
{
	stkdr_ctx_free(ctx);
	ctx = NULL;
	sm = NULL;
}

static void group_reset(void)
{
	at_moto_reset(&moto);
}

START_TEST(versions_and_stages)
{
	const uint8_t v1[] = { 0, 1, 2, 255, 'k', 'e', 'y' };
	const uint8_t v2[] = "second value";
	stkdr_buf id1 = STKDR_BUF_INIT, id2 = STKDR_BUF_INIT, val = STKDR_BUF_INIT, vid = STKDR_BUF_INIT;
	tu_assert_ok(sm->put(&id1, sm, "hub/signing-key", v1, sizeof v1, NULL));
	ck_assert_uint_gt(id1.size, 0);
	tu_assert_ok(sm->get(&val, &vid, sm, "hub/signing-key", NULL, STKDR_STAGE_CURRENT));
	ck_assert_uint_eq(val.size, sizeof v1);
	ck_assert_mem_eq(val.ptr, v1, sizeof v1);
	ck_assert_str_eq(vid.ptr, id1.ptr);
	tu_assert_rc(sm->get(&val, NULL, sm, "hub/signing-key", NULL, STKDR_STAGE_PREVIOUS), STKDR_ENOTFOUND);
	tu_assert_ok(sm->put(&id2, sm, "hub/signing-key", v2, sizeof v2 - 1, NULL));
	ck_assert_str_ne(id1.ptr, id2.ptr);
	tu_assert_ok(sm->get(&val, &vid, sm, "hub/signing-key", NULL, STKDR_STAGE_CURRENT));
	ck_assert_uint_eq(val.size, sizeof v2 - 1);
	ck_assert_str_eq(vid.ptr, id2.ptr);
	tu_assert_ok(sm->get(&val, &vid, sm, "hub/signing-key", NULL, STKDR_STAGE_PREVIOUS));
	ck_assert_mem_eq(val.ptr, v1, sizeof v1);
	ck_assert_str_eq(vid.ptr, id1.ptr);
	tu_assert_ok(sm->get(&val, NULL, sm, "hub/signing-key", id1.ptr, 0));
	ck_assert_mem_eq(val.ptr, v1, sizeof v1);
	tu_assert_rc(sm->get(&val, NULL, sm, "hub/signing-key", "00000000-0000-0000-0000-000000000000", 0),
		STKDR_ENOTFOUND);
	stkdr_buf_dispose(&id1);
	stkdr_buf_dispose(&id2);
	stkdr_buf_dispose(&val);
	stkdr_buf_dispose(&vid);
}
END_TEST

START_TEST(idempotent_put)
{
	stkdr_buf a = STKDR_BUF_INIT, b = STKDR_BUF_INIT;
	tu_assert_ok(sm->put(&a, sm, "k", (const uint8_t *)"one", 3, "backup-2026-02-10"));
	tu_assert_ok(sm->put(&b, sm, "k", (const uint8_t *)"one", 3, "backup-2026-02-10"));
	ck_assert_str_eq(a.ptr, b.ptr);
	tu_assert_rc(sm->put(NULL, sm, "k", (const uint8_t *)"two", 3, "backup-2026-02-10"), STKDR_EEXISTS);
	stkdr_buf v = STKDR_BUF_INIT;
	tu_assert_ok(sm->get(&v, NULL, sm, "k", NULL, STKDR_STAGE_CURRENT));
	ck_assert_mem_eq(v.ptr, "one", 3);
	stkdr_buf_dispose(&a);
	stkdr_buf_dispose(&b);
	stkdr_buf_dispose(&v);
}
END_TEST

typedef struct seen {
	char ids[8][80];
	uint32_t stages[8];
	int n;
} seen;

static int ver_cb(const stkdr_secret_version *v, void *payload)
{
	seen *s = payload;
	ck_assert_int_lt(s->n, 8);
	snprintf(s->ids[s->n], 80, "%s", v->version_id);
	s->stages[s->n++] = v->stages;
	return 0;
}

START_TEST(list_versions)
{
	stkdr_buf ids[3] = { STKDR_BUF_INIT, STKDR_BUF_INIT, STKDR_BUF_INIT };
	for (int i = 0; i < 3; i++) {
		char val[8];
		snprintf(val, sizeof val, "v%d", i);
		tu_assert_ok(sm->put(&ids[i], sm, "lv", (const uint8_t *)val, strlen(val), NULL));
		if (i < 2)
			sleep(1); /* CreatedDate has one-second resolution */
	}
	seen s = { .n = 0 };
	tu_assert_ok(sm->list_versions(sm, "lv", ver_cb, &s));
	ck_assert_int_ge(s.n, 2);
	ck_assert_str_eq(s.ids[0], ids[2].ptr);
	ck_assert_uint_eq(s.stages[0], STKDR_STAGE_CURRENT);
	ck_assert_str_eq(s.ids[1], ids[1].ptr);
	ck_assert_uint_eq(s.stages[1], STKDR_STAGE_PREVIOUS);
	/* (moto answers 500 for an unknown secret here: the mock test checks ENOTFOUND) */
	for (int i = 0; i < 3; i++)
		stkdr_buf_dispose(&ids[i]);
}
END_TEST

START_TEST(missing)
{
	stkdr_buf v = STKDR_BUF_INIT;
	tu_assert_rc(sm->get(&v, NULL, sm, "absent", NULL, STKDR_STAGE_CURRENT), STKDR_ENOTFOUND);
	tu_assert_errmsg("absent");
	ck_assert_str_eq(stkdr__err_get()->backend_code, "ResourceNotFoundException");
	ck_assert_int_eq(stkdr__err_get()->klass, STKDR_ERRCLASS_AWS);
	tu_assert_rc(sm->get(&v, NULL, sm, "", NULL, STKDR_STAGE_CURRENT), STKDR_EINVAL);
	stkdr_buf_dispose(&v);
}
END_TEST

START_TEST(cli_cross_check)
{
	if (!have_cli)
		return;
	const uint8_t secret[] = { 0x00, 0xff, 0x10, 's', 'e', 'c', 'r', 'e', 't' };
	tu_assert_ok(sm->put(NULL, sm, "cross/ours", secret, sizeof secret, NULL));
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "aws --endpoint-url %s secretsmanager get-secret-value --secret-id cross/ours "
		"--query SecretBinary --output text 2>&1", moto.endpoint);
	stkdr_buf out = STKDR_BUF_INIT, raw = STKDR_BUF_INIT;
	ck_assert_int_eq(at_sh(&out, cmd), 0);
	while (out.size && (out.ptr[out.size - 1] == '\n' || out.ptr[out.size - 1] == '\r'))
		out.size--;
	tu_assert_ok(stkdr__b64_decode(&raw, out.ptr, out.size, 0));
	ck_assert_uint_eq(raw.size, sizeof secret);
	ck_assert_mem_eq(raw.ptr, secret, sizeof secret);
	/* the CLI writes (binary and string), the library reads */
	char *dir = tu_mkdtemp("smcli");
	char *f = tu_path(dir, "bin");
	tu_write_file(f, secret, sizeof secret);
	snprintf(cmd, sizeof cmd, "aws --endpoint-url %s secretsmanager create-secret --name cross/theirs "
		"--secret-binary fileb://%s >/dev/null 2>&1 && aws --endpoint-url %s secretsmanager create-secret "
		"--name cross/string --secret-string 'hello world' >/dev/null 2>&1", moto.endpoint, f, moto.endpoint);
	ck_assert_int_eq(at_sh(NULL, cmd), 0);
	stkdr_buf v = STKDR_BUF_INIT;
	tu_assert_ok(sm->get(&v, NULL, sm, "cross/theirs", NULL, STKDR_STAGE_CURRENT));
	ck_assert_uint_eq(v.size, sizeof secret);
	ck_assert_mem_eq(v.ptr, secret, sizeof secret);
	tu_assert_ok(sm->get(&v, NULL, sm, "cross/string", NULL, STKDR_STAGE_CURRENT));
	ck_assert_uint_eq(v.size, 11);
	ck_assert_mem_eq(v.ptr, "hello world", 11);
	stkdr_buf_dispose(&v);
	stkdr_buf_dispose(&out);
	stkdr_buf_dispose(&raw);
	stkdr__free(f);
	tu_rmtree_free(dir);
}
END_TEST

START_TEST(replica_region)
{
	char json[1024];
	snprintf(json, sizeof json,
		"{\"deployment\":\"d\",\"secrets\":{\"backend\":\"aws-secretsmanager\",\"region\":\"us-east-1\","
		"\"replica_region\":\"eu-west-1\",\"endpoint\":\"%s\"}}", moto.endpoint);
	stkdr_ctx *c = tu_ctx_json(json);
	stkdr_secrets *s = NULL;
	tu_assert_ok(stkdr__ctx_secrets(&s, c));
	tu_assert_ok(s->put(NULL, s, "replicated", (const uint8_t *)"r1", 2, NULL));
	/* read it in the second region */
	snprintf(json, sizeof json,
		"{\"deployment\":\"d\",\"secrets\":{\"backend\":\"aws-secretsmanager\",\"region\":\"eu-west-1\","
		"\"endpoint\":\"%s\"}}", moto.endpoint);
	stkdr_ctx *c2 = tu_ctx_json(json);
	stkdr_secrets *s2 = NULL;
	tu_assert_ok(stkdr__ctx_secrets(&s2, c2));
	stkdr_buf v = STKDR_BUF_INIT;
	tu_assert_ok(s2->get(&v, NULL, s2, "replicated", NULL, STKDR_STAGE_CURRENT));
	ck_assert_uint_eq(v.size, 2);
	ck_assert_mem_eq(v.ptr, "r1", 2);
	/* a secret put without a replica region is not there (the regions really are apart) */
	tu_assert_ok(sm->put(NULL, sm, "not-replicated", (const uint8_t *)"x", 1, NULL));
	tu_assert_rc(s2->get(&v, NULL, s2, "not-replicated", NULL, STKDR_STAGE_CURRENT), STKDR_ENOTFOUND);
	stkdr_buf_dispose(&v);
	stkdr_ctx_free(c2);
	stkdr_ctx_free(c);
}
END_TEST

static void script(const char *json)
{
	at_mock_script(&mock, json);
}

/* A scripted 400 with a JSON 1.1 error body. */
#define SM_ERR(type, msg) \
	"{\"status\":400,\"body\":\"{\\\"__type\\\":\\\"" type "\\\",\\\"message\\\":\\\"" msg "\\\"}\"}"

START_TEST(faults)
{
	stkdr_ctx *c;
	stkdr_secrets *s = open_sm(&c, &mock);
	stkdr_buf v = STKDR_BUF_INIT;
	/* throttled, then a 500, then the answer */
	script("[" SM_ERR("ThrottlingException", "Rate exceeded") ","
	       "{\"status\":500,\"body\":\"\"},"
	       "{\"status\":200,\"body\":\"{\\\"SecretBinary\\\":\\\"aGk=\\\",\\\"VersionId\\\":\\\"v1\\\"}\"}]");
	tu_assert_ok(s->get(&v, NULL, s, "x", NULL, STKDR_STAGE_CURRENT));
	ck_assert_uint_eq(v.size, 2);
	ck_assert_mem_eq(v.ptr, "hi", 2);
	/* truncated JSON */
	script("[{\"status\":200,\"body\":\"{\\\"SecretBinary\\\":\\\"aG\"}]");
	tu_assert_rc(s->get(&v, NULL, s, "x", NULL, STKDR_STAGE_CURRENT), STKDR_EBACKEND);
	tu_assert_errmsg("GetSecretValue");
	ck_assert_str_eq(stkdr__err_get()->backend_code, "MalformedResponse");
	/* an unknown secret */
	script("[" SM_ERR("ResourceNotFoundException", "Secrets Manager can't find the specified secret.") "]");
	seen sn = { .n = 0 };
	tu_assert_rc(s->list_versions(s, "no-such-secret", ver_cb, &sn), STKDR_ENOTFOUND);
	tu_assert_errmsg("no-such-secret");
	tu_assert_errmsg("ListSecretVersionIds");
	/* wrong credentials */
	script("[" SM_ERR("UnrecognizedClientException", "The security token included in the request is invalid.") "]");
	tu_assert_rc(s->put(NULL, s, "x", (const uint8_t *)"v", 1, NULL), STKDR_EAUTH);
	ck_assert_str_eq(stkdr__err_get()->backend_code, "UnrecognizedClientException");
	tu_assert_errmsg("PutSecretValue");
	ck_assert(strstr(stkdr__err_get()->message, "testing") == NULL); /* never the secret key */
	stkdr_buf_dispose(&v);
	stkdr_ctx_free(c);
}
END_TEST

static Suite *sm_suite(void)
{
	Suite *s = suite_create("secretsmanager");
	TCase *tc = tcase_create("moto");
	tcase_add_unchecked_fixture(tc, group_reset, NULL);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, versions_and_stages);
	tcase_add_test(tc, idempotent_put);
	tcase_add_test(tc, list_versions);
	tcase_add_test(tc, missing);
	tcase_add_test(tc, cli_cross_check);
	tcase_add_test(tc, replica_region);
	suite_add_tcase(s, tc);
	tc = tcase_create("mock");
	tcase_add_test(tc, faults);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return at_main(sm_suite, &moto, &mock, NULL, &have_cli);
}
