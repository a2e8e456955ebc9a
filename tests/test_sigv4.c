/*
 * SigV4: AWS's published test suite (tests/resources/sigv4/suite.json, converted from
 * @aws-sdk/signature-v4@3.257.0's suite.fixture.js), botocore's signers on the same S3 / Secrets Manager
 * requests (tests/aws/botocore_sign.py), URI encoding, and the redaction of the HTTP trace.
 */
#include "awstest.h"

#include "backends/aws/aws.h"
#include "core/crypto.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cJSON *load_suite(void)
{
	char *p = at_source_path("tests/resources/sigv4/suite.json");
	size_t n;
	char *text = tu_read_file(p, &n);
	ck_assert_msg(text != NULL, "cannot read %s", p);
	cJSON *j = cJSON_Parse(text);
	ck_assert_ptr_nonnull(j);
	stkdr__free(text);
	stkdr__free(p);
	return j;
}

START_TEST(aws_test_suite)
{
	cJSON *suite = load_suite();
	const cJSON *cred = cJSON_GetObjectItem(suite, "credentials");
	stkdr__aws_creds c = { (char *)cJSON_GetObjectItem(cred, "accessKeyId")->valuestring,
		(char *)cJSON_GetObjectItem(cred, "secretAccessKey")->valuestring, NULL, "", 0, NULL };
	const char *region = cJSON_GetObjectItem(suite, "region")->valuestring;
	const char *service = cJSON_GetObjectItem(suite, "service")->valuestring;
	const cJSON *reqs = cJSON_GetObjectItem(suite, "requests");
	int n = 0;
	const cJSON *r;
	cJSON_ArrayForEach(r, reqs)
	{
		const char *name = cJSON_GetObjectItem(r, "name")->valuestring;
		const char *path = cJSON_GetObjectItem(r, "path")->valuestring;
		const cJSON *body = cJSON_GetObjectItem(r, "body");
		stkdr__aws_kv q[16], h[16];
		size_t nq = 0, nh = 0;
		const cJSON *it;
		cJSON_ArrayForEach(it, cJSON_GetObjectItem(r, "query"))
		{
			q[nq++] = (stkdr__aws_kv){ it->string, it->valuestring };
		}
		const char *date = NULL;
		cJSON_ArrayForEach(it, cJSON_GetObjectItem(r, "headers"))
		{
			h[nh++] = (stkdr__aws_kv){ it->string, it->valuestring };
			if (strcasecmp(it->string, "x-amz-date") == 0)
				date = it->valuestring;
		}
		ck_assert_ptr_nonnull(date);
		stkdr_buf uri = STKDR_BUF_INIT, query = STKDR_BUF_INIT, auth = STKDR_BUF_INIT;
		tu_assert_ok(stkdr__aws_uri_encode(&uri, path, strlen(path), 1));
		tu_assert_ok(stkdr__aws_canonical_query(&query, q, nq));
		uint8_t d[32];
		char hash[65];
		const char *b = cJSON_IsString(body) ? body->valuestring : "";
		stkdr__sha256(b, strlen(b), d);
		stkdr__hex_encode(hash, d, 32);
		stkdr__sigv4_req sr = { cJSON_GetObjectItem(r, "method")->valuestring, uri.ptr, query.ptr, h, nh, hash, date,
			region, service };
		tu_assert_ok(stkdr__sigv4_sign(&auth, NULL, &c, &sr));
		ck_assert_msg(strcmp(auth.ptr, cJSON_GetObjectItem(r, "authorization")->valuestring) == 0,
			"%s:\n got  %s\n want %s", name, auth.ptr, cJSON_GetObjectItem(r, "authorization")->valuestring);
		stkdr_buf_dispose(&uri);
		stkdr_buf_dispose(&query);
		stkdr_buf_dispose(&auth);
		n++;
	}
	ck_assert_int_eq(n, 24);
	cJSON_Delete(suite);
}
END_TEST

/* The request of the AWS documentation's S3 example (GET /test.txt with Range), known signature. */
START_TEST(s3_documented_example)
{
	stkdr__aws_creds c = { "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", NULL, "", 0, NULL };
	stkdr__aws_kv h[] = { { "Host", "examplebucket.s3.amazonaws.com" }, { "Range", "bytes=0-9" },
		{ "x-amz-content-sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "x-amz-date", "20130524T000000Z" } };
	stkdr__sigv4_req r = { "GET", "/test.txt", "", h, 4,
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "20130524T000000Z", "us-east-1", "s3" };
	stkdr_buf auth = STKDR_BUF_INIT;
	tu_assert_ok(stkdr__sigv4_sign(&auth, NULL, &c, &r));
	ck_assert_str_eq(auth.ptr, "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
				   "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
				   "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
	stkdr_buf_dispose(&auth);
}
END_TEST

typedef struct case_ {
	const char *service;
	const char *method;
	const char *host;
	const char *path;     /* raw (the signer's caller encodes it) */
	stkdr__aws_kv query[4];
	size_t nq;
	const char *headers[6];
	const char *body;
	int s3;
	int unsigned_payload;
	const char *token;
} case_;

static const case_ cases[] = {
	{ "s3", "PUT", "127.0.0.1:5000", "/bucket/hub prod/wal/0000+1 ü=&.gz", { { NULL, NULL } }, 0,
		{ "Content-Type: application/octet-stream", "If-None-Match: *",
			"x-amz-meta-stkdr-sha256: 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
			"x-amz-checksum-sha256: LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=", NULL },
		"hello", 1, 0, NULL },
	{ "s3", "GET", "bucket.s3.eu-west-1.amazonaws.com", "/",
		{ { "list-type", "2" }, { "prefix", "hub prod/a+b" }, { "continuation-token", "1/AbC+x==" },
			{ "max-keys", "7" } },
		4, { NULL }, "", 1, 0, "FQoGZXIvYXdzEXAMPLETOKEN/+=" },
	{ "s3", "GET", "s3.us-east-1.amazonaws.com", "/bucket/key~with-._chars", { { NULL, NULL } }, 0,
		{ "Range: bytes=5-9", "If-Match: \"abc\"", NULL }, "", 1, 1, NULL },
	{ "s3", "POST", "127.0.0.1:5000", "/bucket/big", { { "uploads", "" } }, 1,
		{ "x-amz-checksum-algorithm: SHA256", "x-amz-server-side-encryption: aws:kms",
			"x-amz-object-lock-mode: GOVERNANCE", NULL },
		"", 1, 0, NULL },
	{ "secretsmanager", "POST", "secretsmanager.us-east-1.amazonaws.com", "/", { { NULL, NULL } }, 0,
		{ "Content-Type: application/x-amz-json-1.1", "X-Amz-Target: secretsmanager.GetSecretValue", NULL },
		"{\"SecretId\":\"hub/signing\",\"VersionStage\":\"AWSCURRENT\"}", 0, 0, NULL },
};

START_TEST(matches_botocore)
{
	if (at_sh(NULL, "python3 -c 'import botocore' >/dev/null 2>&1") != 0) {
		fprintf(stderr, "SKIP matches_botocore: python3 botocore is not installed\n");
		return;
	}
	const char *date = "20260210T142500Z";
	cJSON *in = cJSON_CreateArray();
	char auths[STKDR__ARRAY_SIZE(cases)][512];
	for (size_t i = 0; i < STKDR__ARRAY_SIZE(cases); i++) {
		const case_ *k = &cases[i];
		stkdr__aws_creds c = { "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", (char *)k->token, "", 0, NULL };
		stkdr_buf uri = STKDR_BUF_INIT, query = STKDR_BUF_INIT, url = STKDR_BUF_INIT;
		tu_assert_ok(stkdr__aws_uri_encode(&uri, k->path, strlen(k->path), 1));
		tu_assert_ok(stkdr__aws_canonical_query(&query, k->query, k->nq));
		stkdr__buf_printf(&url, "https://%s%s%s%s", k->host, uri.ptr, query.size ? "?" : "", query.ptr);
		char hash[65];
		uint8_t d[32];
		stkdr__sha256(k->body, strlen(k->body), d);
		stkdr__hex_encode(hash, d, 32);
		/* ours: through the same callback the HTTP layer calls, with a fixed clock */
		struct curl_slist *hl = NULL;
		for (size_t j = 0; k->headers[j]; j++)
			hl = curl_slist_append(hl, k->headers[j]);
		stkdr__aws_signer sg = { &c, "us-east-1", k->service, k->host, uri.ptr, query.ptr,
			k->unsigned_payload ? "UNSIGNED-PAYLOAD" : hash, k->s3, date };
		if (strstr(k->host, "eu-west-1"))
			sg.region = "eu-west-1";
		stkdr__http_req req;
		memset(&req, 0, sizeof req);
		req.method = k->method;
		req.url = url.ptr;
		req.headers = hl;
		struct curl_slist *signed_l = NULL;
		tu_assert_ok(stkdr__aws_sign_cb(&signed_l, &req, &sg));
		auths[i][0] = '\0';
		for (struct curl_slist *l = signed_l; l; l = l->next)
			if (strncmp(l->data, "Authorization: ", 15) == 0)
				snprintf(auths[i], sizeof auths[i], "%s", l->data + 15);
		curl_slist_free_all(signed_l);
		curl_slist_free_all(hl);
		/* botocore's input */
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "service", k->service);
		cJSON_AddStringToObject(o, "region", sg.region);
		cJSON_AddStringToObject(o, "method", k->method);
		cJSON_AddStringToObject(o, "url", url.ptr);
		cJSON_AddStringToObject(o, "body", k->body);
		cJSON_AddBoolToObject(o, "s3", k->s3);
		cJSON_AddBoolToObject(o, "unsigned", k->unsigned_payload);
		cJSON_AddStringToObject(o, "access_key", c.access_key);
		cJSON_AddStringToObject(o, "secret_key", c.secret_key);
		if (k->token)
			cJSON_AddStringToObject(o, "token", k->token);
		cJSON_AddStringToObject(o, "date", date);
		cJSON *hs = cJSON_AddArrayToObject(o, "headers");
		for (size_t j = 0; k->headers[j]; j++) {
			const char *colon = strchr(k->headers[j], ':');
			char name[128];
			snprintf(name, sizeof name, "%.*s", (int)(colon - k->headers[j]), k->headers[j]);
			cJSON *pair = cJSON_CreateArray();
			cJSON_AddItemToArray(pair, cJSON_CreateString(name));
			cJSON_AddItemToArray(pair, cJSON_CreateString(colon + 2));
			cJSON_AddItemToArray(hs, pair);
		}
		cJSON_AddItemToArray(in, o);
		stkdr_buf_dispose(&uri);
		stkdr_buf_dispose(&query);
		stkdr_buf_dispose(&url);
	}
	char *dir = tu_mkdtemp("sigv4");
	char *inpath = tu_path(dir, "in.json");
	char *text = cJSON_PrintUnformatted(in);
	tu_write_file(inpath, text, strlen(text));
	free(text);
	cJSON_Delete(in);
	char *script = at_source_path("tests/aws/botocore_sign.py");
	char cmd[2048];
	snprintf(cmd, sizeof cmd, "python3 %s < %s", script, inpath);
	stkdr_buf out = STKDR_BUF_INIT;
	ck_assert_int_eq(at_sh(&out, cmd), 0);
	stkdr_buf_put(&out, "", 1);
	cJSON *res = cJSON_Parse(out.ptr);
	ck_assert_msg(cJSON_IsArray(res), "botocore_sign.py: %s", out.ptr);
	ck_assert_int_eq(cJSON_GetArraySize(res), (int)STKDR__ARRAY_SIZE(cases));
	for (size_t i = 0; i < STKDR__ARRAY_SIZE(cases); i++) {
		const char *want = cJSON_GetArrayItem(res, (int)i)->valuestring;
		ck_assert_msg(strcmp(auths[i], want) == 0, "case %zu (%s %s):\n ours     %s\n botocore %s", i,
			cases[i].method, cases[i].path, auths[i], want);
	}
	cJSON_Delete(res);
	stkdr_buf_dispose(&out);
	stkdr__free(script);
	stkdr__free(inpath);
	tu_rmtree_free(dir);
}
END_TEST

START_TEST(uri_encoding)
{
	stkdr_buf b = STKDR_BUF_INIT;
	const char *s = "a b/c+d=e&f~g_h.i-j%k?ü";
	tu_assert_ok(stkdr__aws_uri_encode(&b, s, strlen(s), 1));
	ck_assert_str_eq(b.ptr, "a%20b/c%2Bd%3De%26f~g_h.i-j%25k%3F%C3%BC");
	b.size = 0;
	tu_assert_ok(stkdr__aws_uri_encode(&b, "a/b", 3, 0));
	ck_assert_str_eq(b.ptr, "a%2Fb");
	stkdr_buf_dispose(&b);
	stkdr__aws_kv q[] = { { "b", "2" }, { "a", "z" }, { "a", "y" }, { "uploads", "" } };
	tu_assert_ok(stkdr__aws_canonical_query(&b, q, 4));
	ck_assert_str_eq(b.ptr, "a=y&a=z&b=2&uploads=");
	stkdr_buf_dispose(&b);
}
END_TEST

START_TEST(trace_redaction)
{
	char out[512];
	stkdr__http_redact_header(out, sizeof out, "Authorization: AWS4-HMAC-SHA256 Credential=AK/..., Signature=abc");
	ck_assert_str_eq(out, "Authorization: [redacted]");
	stkdr__http_redact_header(out, sizeof out, "X-Amz-Security-Token: secret");
	ck_assert_str_eq(out, "X-Amz-Security-Token: [redacted]");
	stkdr__http_redact_header(out, sizeof out, "x-amz-date: 20260101T000000Z");
	ck_assert_str_eq(out, "x-amz-date: 20260101T000000Z");
	stkdr__http_redact_url(out, sizeof out,
		"https://b.s3.amazonaws.com/k?X-Amz-Credential=AK%2F1&X-Amz-Signature=deadbeef&partNumber=2&sig=x");
	ck_assert_str_eq(out, "https://b.s3.amazonaws.com/k?X-Amz-Credential=[redacted]&X-Amz-Signature=[redacted]&"
			      "partNumber=2&sig=[redacted]");
}
END_TEST

static Suite *sigv4_suite(void)
{
	Suite *s = suite_create("sigv4");
	TCase *tc = tcase_create("sigv4");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, aws_test_suite);
	tcase_add_test(tc, s3_documented_example);
	tcase_add_test(tc, matches_botocore);
	tcase_add_test(tc, uri_encoding);
	tcase_add_test(tc, trace_redaction);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(sigv4_suite());
}
