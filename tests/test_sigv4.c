/*
 * SigV4: AWS's published test suite (tests/resources/sigv4/suite.json, converted from
 * @aws-sdk/signature-v4@3.257.0's suite.fixture.js), botocore's signers on the same S3 / Secrets Manager
 * requests (tests/aws/botocore_sign.py), URI encoding, the redaction of the HTTP trace, and aws-chunked
 * streaming signatures against AWS's documented chunked-upload example.
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

/*
 * AWS's worked example of a streaming upload (S3 API reference, "Signature Calculations for the
 * Authorization Header: Transferring Payload in Multiple Chunks (Chunked Upload)"): PUT of 66560 'a' to
 * examplebucket/chunkObject.txt in 64 KiB chunks on 2013-05-24, REDUCED_REDUNDANCY.
 */
#define EX_SEED "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
#define EX_SIG1 "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
#define EX_SIG2 "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
#define EX_SIG3 "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"
#define EX_AUTH "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, " \
	"SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;" \
	"x-amz-decoded-content-length;x-amz-storage-class, Signature=" EX_SEED
#define EX_DATE "20130524T000000Z"
#define EX_SCOPE "20130524/us-east-1/s3/aws4_request"

static const char ex_canonical[] = "PUT\n/examplebucket/chunkObject.txt\n\n"
				   "content-encoding:aws-chunked\ncontent-length:66824\nhost:s3.amazonaws.com\n"
				   "x-amz-content-sha256:STREAMING-AWS4-HMAC-SHA256-PAYLOAD\nx-amz-date:20130524T000000Z\n"
				   "x-amz-decoded-content-length:66560\nx-amz-storage-class:REDUCED_REDUNDANCY\n\n"
				   "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
				   "x-amz-decoded-content-length;x-amz-storage-class\nSTREAMING-AWS4-HMAC-SHA256-PAYLOAD";

static stkdr__aws_creds ex_creds(void)
{
	stkdr__aws_creds c = { "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", NULL, "", 0, NULL };
	return c;
}

/* The documented body, built by hand from the documented signatures. */
static void ex_body(stkdr_buf *out, uint8_t *data)
{
	memset(data, 'a', 66560);
	stkdr__buf_printf(out, "10000;chunk-signature=%s\r\n", EX_SIG1);
	stkdr_buf_put(out, data, 65536);
	stkdr__buf_printf(out, "\r\n400;chunk-signature=%s\r\n", EX_SIG2);
	stkdr_buf_put(out, data, 1024);
	stkdr__buf_printf(out, "\r\n0;chunk-signature=%s\r\n\r\n", EX_SIG3);
}

START_TEST(streaming_documented_example)
{
	stkdr__aws_creds c = ex_creds();
	/* the seed: the canonical request with the streaming payload hash */
	stkdr__aws_kv h[] = { { "Host", "s3.amazonaws.com" }, { "x-amz-date", EX_DATE },
		{ "x-amz-storage-class", "REDUCED_REDUNDANCY" }, { "x-amz-content-sha256", STKDR__AWS_STREAMING_PAYLOAD },
		{ "Content-Encoding", "aws-chunked" }, { "x-amz-decoded-content-length", "66560" },
		{ "Content-Length", "66824" } };
	stkdr__sigv4_req r = { "PUT", "/examplebucket/chunkObject.txt", "", h, 7, STKDR__AWS_STREAMING_PAYLOAD, EX_DATE,
		"us-east-1", "s3" };
	stkdr_buf auth = STKDR_BUF_INIT, canon = STKDR_BUF_INIT;
	tu_assert_ok(stkdr__sigv4_sign(&auth, &canon, &c, &r));
	ck_assert_str_eq(canon.ptr, ex_canonical);
	ck_assert_str_eq(auth.ptr, EX_AUTH);

	/* each chunk's signature, chained from the seed */
	uint8_t key[32], *data = stkdr__malloc(66560);
	ck_assert_ptr_nonnull(data);
	memset(data, 'a', 66560);
	tu_assert_ok(stkdr__sigv4_signing_key(key, c.secret_key, "20130524", "us-east-1", "s3"));
	char s1[65], s2[65], s3[65];
	stkdr__sigv4_chunk_signature(s1, key, EX_DATE, EX_SCOPE, EX_SEED, data, 65536);
	ck_assert_str_eq(s1, EX_SIG1);
	stkdr__sigv4_chunk_signature(s2, key, EX_DATE, EX_SCOPE, s1, data, 1024);
	ck_assert_str_eq(s2, EX_SIG2);
	stkdr__sigv4_chunk_signature(s3, key, EX_DATE, EX_SCOPE, s2, NULL, 0);
	ck_assert_str_eq(s3, EX_SIG3);
	/* the chain matters: chunk 2 chained from the seed instead of chunk 1 (out of order) differs */
	stkdr__sigv4_chunk_signature(s3, key, EX_DATE, EX_SCOPE, EX_SEED, data, 1024);
	ck_assert_str_ne(s3, EX_SIG2);

	/* the Content-Length of the encoded body, and the body itself byte for byte */
	ck_assert_int_eq(stkdr__aws_chunked_length(66560, 65536), 66824);
	stkdr_buf want = STKDR_BUF_INIT, got = STKDR_BUF_INIT;
	ex_body(&want, data);
	ck_assert_uint_eq(want.size, 66824);
	stkdr__aws_chunked e;
	stkdr__aws_chunked_init(&e, data, 66560, 65536);
	uint8_t tmp[16];
	ck_assert_uint_eq(stkdr__aws_chunked_read(&e, tmp, sizeof tmp), 0); /* not signed yet: nothing */
	stkdr__aws_chunked_start(&e, key, EX_DATE, EX_SCOPE, EX_SEED);
	tu_assert_ok(stkdr__aws_chunked_encode(&got, &e));
	ck_assert_uint_eq(got.size, want.size);
	ck_assert(memcmp(got.ptr, want.ptr, want.size) == 0);
	/* read in odd-sized pieces (as curl may), and again after a rewind: the same bytes */
	static const size_t caps[] = { 1, 7, 87, 88, 89, 4096, 70000 };
	for (size_t i = 0; i < STKDR__ARRAY_SIZE(caps); i++) {
		uint8_t *buf = stkdr__malloc(caps[i]);
		stkdr_buf again = STKDR_BUF_INIT;
		size_t k;
		stkdr__aws_chunked_rewind(&e);
		if (i == 3) /* a partial read, then a rewind (curl resending on a reused connection) */
			ck_assert_uint_eq(stkdr__aws_chunked_read(&e, buf, caps[i]), caps[i]);
		stkdr__aws_chunked_rewind(&e);
		while ((k = stkdr__aws_chunked_read(&e, buf, caps[i])) > 0)
			stkdr_buf_put(&again, buf, k);
		ck_assert_msg(again.size == want.size && memcmp(again.ptr, want.ptr, want.size) == 0,
			"reading %zu bytes at a time: %zu bytes, not the documented body", caps[i], again.size);
		stkdr_buf_dispose(&again);
		stkdr__free(buf);
	}
	/* and the test's own decoder (used on what the mock receives) accepts it and checks each signature */
	stkdr_buf dec = STKDR_BUF_INIT;
	char err[256];
	ck_assert_msg(at_chunked_decode(&dec, (const uint8_t *)want.ptr, want.size, key, EX_DATE, EX_SCOPE, EX_SEED, err,
		sizeof err) == 0, "%s", err);
	ck_assert_uint_eq(dec.size, 66560);
	ck_assert(memcmp(dec.ptr, data, 66560) == 0);
	want.ptr[100] = 'b'; /* tampered data: chunk 1's signature no longer matches */
	dec.size = 0;
	ck_assert_int_eq(at_chunked_decode(&dec, (const uint8_t *)want.ptr, want.size, key, EX_DATE, EX_SCOPE, EX_SEED, err,
		sizeof err), -1);
	ck_assert_msg(strstr(err, "chunk 1: signature") != NULL, "%s", err);
	stkdr__aws_chunked_wipe(&e);
	stkdr_buf_dispose(&dec);
	stkdr_buf_dispose(&want);
	stkdr_buf_dispose(&got);
	stkdr_buf_dispose(&auth);
	stkdr_buf_dispose(&canon);
	stkdr__free(data);
}
END_TEST

/* The same example through the callback the HTTP layer calls: it signs the headers and seeds the encoder. */
START_TEST(streaming_through_sign_cb)
{
	stkdr__aws_creds c = ex_creds();
	uint8_t *data = stkdr__malloc(66560);
	ck_assert_ptr_nonnull(data);
	stkdr_buf want = STKDR_BUF_INIT, got = STKDR_BUF_INIT;
	ex_body(&want, data);
	stkdr__aws_chunked e;
	stkdr__aws_chunked_init(&e, data, 66560, STKDR__AWS_CHUNK_SIZE);
	stkdr__aws_chunked_signer cs = { { &c, "us-east-1", "s3", "s3.amazonaws.com", "/examplebucket/chunkObject.txt", "",
		STKDR__AWS_STREAMING_PAYLOAD, 1, EX_DATE }, &e };
	struct curl_slist *hl = NULL;
	hl = curl_slist_append(hl, "x-amz-storage-class: REDUCED_REDUNDANCY");
	hl = curl_slist_append(hl, "Content-Encoding: aws-chunked");
	hl = curl_slist_append(hl, "x-amz-decoded-content-length: 66560");
	hl = curl_slist_append(hl, "Content-Length: 66824");
	stkdr__http_req req;
	memset(&req, 0, sizeof req);
	req.method = "PUT";
	req.url = "https://s3.amazonaws.com/examplebucket/chunkObject.txt";
	req.headers = hl;
	char tmp[8];
	ck_assert_uint_eq(stkdr__aws_chunked_read_cb(tmp, 1, sizeof tmp, &e), CURL_READFUNC_ABORT); /* unsigned: abort */
	struct curl_slist *signed_l = NULL;
	tu_assert_ok(stkdr__aws_sign_chunked_cb(&signed_l, &req, &cs));
	int seen = 0;
	for (struct curl_slist *l = signed_l; l; l = l->next) {
		if (strncmp(l->data, "Authorization: ", 15) == 0) {
			ck_assert_str_eq(l->data + 15, EX_AUTH);
			seen |= 1;
		}
		if (strcmp(l->data, "x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD") == 0)
			seen |= 2;
	}
	ck_assert_int_eq(seen, 3);
	ck_assert_str_eq(e.seed, EX_SEED);
	char buf[1000];
	size_t k;
	while ((k = stkdr__aws_chunked_read_cb(buf, 1, sizeof buf, &e)) > 0)
		stkdr_buf_put(&got, buf, k);
	ck_assert_uint_eq(got.size, want.size);
	ck_assert(memcmp(got.ptr, want.ptr, want.size) == 0);
	/* a retry signs again (a new date: a new seed and chain) and rewinds */
	cs.base.fixed_date = "20130524T000001Z";
	curl_slist_free_all(signed_l);
	signed_l = NULL;
	tu_assert_ok(stkdr__aws_sign_chunked_cb(&signed_l, &req, &cs));
	ck_assert_str_ne(e.seed, EX_SEED);
	ck_assert_int_eq(stkdr__aws_chunked_rewind_cb(&e), 0);
	got.size = 0;
	while ((k = stkdr__aws_chunked_read_cb(buf, 1, sizeof buf, &e)) > 0)
		stkdr_buf_put(&got, buf, k);
	ck_assert_uint_eq(got.size, want.size);
	ck_assert(memcmp(got.ptr, want.ptr, want.size) != 0); /* other signatures */
	uint8_t key[32];
	tu_assert_ok(stkdr__sigv4_signing_key(key, c.secret_key, "20130524", "us-east-1", "s3"));
	stkdr_buf dec = STKDR_BUF_INIT;
	char err[256];
	ck_assert_msg(at_chunked_decode(&dec, (const uint8_t *)got.ptr, got.size, key, "20130524T000001Z", EX_SCOPE, e.seed,
		err, sizeof err) == 0, "%s", err);
	ck_assert(dec.size == 66560 && memcmp(dec.ptr, data, 66560) == 0);
	stkdr__aws_chunked_wipe(&e);
	curl_slist_free_all(signed_l);
	curl_slist_free_all(hl);
	stkdr_buf_dispose(&dec);
	stkdr_buf_dispose(&want);
	stkdr_buf_dispose(&got);
	stkdr__free(data);
}
END_TEST

/* Encoded lengths and round trips around the chunk boundaries (empty body: the final chunk alone). */
START_TEST(streaming_lengths)
{
	static const size_t lens[] = { 0, 1, 8191, 65535, 65536, 65537, 131072, 200000 };
	uint8_t key[32];
	memset(key, 7, sizeof key);
	uint8_t *data = stkdr__malloc(200000);
	ck_assert_ptr_nonnull(data);
	for (size_t i = 0; i < 200000; i++)
		data[i] = (uint8_t)(i * 131 + 7);
	ck_assert_int_eq(stkdr__aws_chunked_length(0, 65536), 86);
	for (size_t i = 0; i < STKDR__ARRAY_SIZE(lens); i++) {
		stkdr__aws_chunked e;
		stkdr__aws_chunked_init(&e, data, lens[i], 0); /* 0: the default 64 KiB */
		ck_assert_uint_eq(e.chunk_size, STKDR__AWS_CHUNK_SIZE);
		stkdr__aws_chunked_start(&e, key, EX_DATE, EX_SCOPE, EX_SEED);
		stkdr_buf enc = STKDR_BUF_INIT, dec = STKDR_BUF_INIT;
		tu_assert_ok(stkdr__aws_chunked_encode(&enc, &e));
		ck_assert_msg((int64_t)enc.size == stkdr__aws_chunked_length((int64_t)lens[i], STKDR__AWS_CHUNK_SIZE),
			"%zu bytes: encoded %zu, computed %lld", lens[i], enc.size,
			(long long)stkdr__aws_chunked_length((int64_t)lens[i], STKDR__AWS_CHUNK_SIZE));
		char err[256];
		ck_assert_msg(at_chunked_decode(&dec, (const uint8_t *)enc.ptr, enc.size, key, EX_DATE, EX_SCOPE, EX_SEED, err,
			sizeof err) == 0, "%zu bytes: %s", lens[i], err);
		ck_assert_uint_eq(dec.size, lens[i]);
		ck_assert(lens[i] == 0 || memcmp(dec.ptr, data, lens[i]) == 0);
		size_t n_chunks = lens[i] / 65536 + (lens[i] % 65536 ? 1 : 0) + 1;
		size_t sigs = 0;
		for (const char *p = enc.ptr; (p = memmem(p, (size_t)(enc.ptr + enc.size - p), ";chunk-signature=", 17)) != NULL;
			p++)
			sigs++;
		ck_assert_uint_ge(sigs, n_chunks); /* (random data may contain the string too: at least) */
		stkdr__aws_chunked_wipe(&e);
		stkdr_buf_dispose(&enc);
		stkdr_buf_dispose(&dec);
	}
	stkdr__free(data);
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
	tcase_add_test(tc, streaming_documented_example);
	tcase_add_test(tc, streaming_through_sign_cb);
	tcase_add_test(tc, streaming_lengths);
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
