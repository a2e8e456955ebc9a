/*
 * The AWS credentials chain's temporary links (src/backends/aws/credentials.c): EC2 instance-role
 * credentials through IMDSv2 and container credentials, against a small mock metadata service of the
 * test's own (an HTTP server thread on a loopback port, scripted per test): the token PUT then the two
 * GETs with the token, the refresh before Expiration, a session token that expired (401: a new one is
 * fetched), IMDSv1 fallback, AWS_EC2_METADATA_DISABLED, no service at all, the chain's order, the
 * container URI rules and its Authorization token, and that no secret appears in any message.
 */
#include "awstest.h"

#include "backends/aws/aws.h"
#include "core/timeutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- the mock metadata service ---- */

typedef struct mock {
	pthread_mutex_t mu;
	int fd;
	int port;
	pthread_t th;
	volatile int stop;
	/* script */
	int put_status;         /* token PUT answer (200, or 405 for an IMDSv1-only service) */
	int token_epoch;        /* tokens of older epochs are refused with 401 */
	int doc_status;         /* 200, or e.g. 500 */
	int gen;                /* credentials generation served: ASIA<gen> */
	int64_t expires_in_ms;  /* Expiration = now + this */
	const char *want_auth;  /* container: required Authorization value (NULL: none required) */
	/* observations */
	int n_put, n_role, n_doc, n_container, n_401, n_v1_gets, ttl_seen;
	char last_auth[256];
} mock;

static mock M;

static void iso(char *out, size_t cap, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *header(const char *req, const char *name, char *out, size_t cap)
{
	size_t n = strlen(name);
	for (const char *p = strstr(req, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
		const char *h = p + 2;
		if (strncasecmp(h, name, n) == 0 && h[n] == ':') {
			h += n + 1;
			while (*h == ' ')
				h++;
			size_t k = strcspn(h, "\r\n");
			snprintf(out, cap, "%.*s", (int)(k < cap ? k : cap - 1), h);
			return out;
		}
	}
	return NULL;
}

static void answer(int c, int status, const char *body)
{
	char buf[4096];
	int n = snprintf(buf, sizeof buf, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n%s",
		status, strlen(body), body);
	ssize_t w = write(c, buf, (size_t)n);
	(void)w;
}

static void serve(int c)
{
	char req[8192];
	size_t n = 0;
	while (n < sizeof req - 1) {
		ssize_t r = read(c, req + n, sizeof req - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
		req[n] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	req[n] = '\0';
	char method[16] = "", path[512] = "", tok[128], h[256];
	sscanf(req, "%15s %511s", method, path);
	pthread_mutex_lock(&M.mu);
	char want_tok[64];
	snprintf(want_tok, sizeof want_tok, "token-%d", M.token_epoch);
	int has_tok = header(req, "X-aws-ec2-metadata-token", tok, sizeof tok) != NULL;
	char body[1024];
	int status = 200;
	body[0] = '\0';
	if (!strcmp(method, "PUT") && !strcmp(path, "/latest/api/token")) {
		M.n_put++;
		if (header(req, "X-aws-ec2-metadata-token-ttl-seconds", h, sizeof h) && atoi(h) > 0)
			M.ttl_seen = atoi(h);
		status = M.put_status;
		if (status == 200)
			snprintf(body, sizeof body, "%s", want_tok);
	} else if (!strcmp(method, "GET") && !strncmp(path, "/latest/meta-data/iam/security-credentials/", 43)) {
		int v1 = M.put_status != 200;
		if (v1 && !has_tok)
			M.n_v1_gets++;
		if (!v1 && (!has_tok || strcmp(tok, want_tok))) {
			M.n_401++;
			status = 401;
		} else if (path[43] == '\0') {
			M.n_role++;
			snprintf(body, sizeof body, "stkdr-role\n");
		} else if (!strcmp(path + 43, "stkdr-role")) {
			M.n_doc++;
			status = M.doc_status;
			char exp[32];
			iso(exp, sizeof exp, stkdr__time_now_ms() + M.expires_in_ms);
			if (status == 200)
				snprintf(body, sizeof body,
					"{\"Code\":\"Success\",\"LastUpdated\":\"2026-01-01T00:00:00Z\",\"Type\":\"AWS-HMAC\","
					"\"AccessKeyId\":\"ASIA%d\",\"SecretAccessKey\":\"secret-%d\",\"Token\":\"session-%d\","
					"\"Expiration\":\"%s\"}", M.gen, M.gen, M.gen, exp);
		} else {
			status = 404;
		}
	} else if (!strcmp(method, "GET") && !strcmp(path, "/creds")) {
		M.n_container++;
		const char *a = header(req, "Authorization", h, sizeof h);
		snprintf(M.last_auth, sizeof M.last_auth, "%s", a ? a : "");
		char exp[32];
		iso(exp, sizeof exp, stkdr__time_now_ms() + M.expires_in_ms);
		if (M.want_auth && (!a || strcmp(a, M.want_auth))) {
			status = 401;
			snprintf(body, sizeof body, "{\"message\":\"bad token\"}");
		} else {
			snprintf(body, sizeof body, "{\"AccessKeyId\":\"CTR%d\",\"SecretAccessKey\":\"ctr-secret-%d\","
				"\"Token\":\"ctr-session-%d\",\"Expiration\":\"%s\"}", M.gen, M.gen, M.gen, exp);
		}
	} else {
		status = 404;
	}
	pthread_mutex_unlock(&M.mu);
	answer(c, status, body);
}

static void *loop(void *arg)
{
	(void)arg;
	while (!M.stop) {
		int c = accept(M.fd, NULL, NULL);
		if (c < 0)
			continue;
		serve(c);
		close(c);
	}
	return NULL;
}

static void set_env_endpoint(void)
{
	char ep[64];
	snprintf(ep, sizeof ep, "http://127.0.0.1:%d", M.port);
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", ep, 1);
}

static void setup(void)
{
	at_env();
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_EC2_METADATA_DISABLED");
	unsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	memset(&M, 0, sizeof M);
	pthread_mutex_init(&M.mu, NULL);
	M.put_status = 200;
	M.doc_status = 200;
	M.gen = 1;
	M.expires_in_ms = 6 * 3600 * 1000LL;
	M.fd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(M.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof a;
	ck_assert_int_eq(bind(M.fd, (struct sockaddr *)&a, sizeof a), 0);
	ck_assert_int_eq(getsockname(M.fd, (struct sockaddr *)&a, &len), 0);
	ck_assert_int_eq(listen(M.fd, 16), 0);
	M.port = ntohs(a.sin_port);
	set_env_endpoint();
	ck_assert_int_eq(pthread_create(&M.th, NULL, loop, NULL), 0);
}

static void teardown(void)
{
	M.stop = 1;
	shutdown(M.fd, SHUT_RDWR);
	close(M.fd);
	pthread_join(M.th, NULL);
}

static int counter(int *p)
{
	pthread_mutex_lock(&M.mu);
	int v = *p;
	pthread_mutex_unlock(&M.mu);
	return v;
}

static void script(void (*f)(void))
{
	pthread_mutex_lock(&M.mu);
	f();
	pthread_mutex_unlock(&M.mu);
}

static void next_gen_long(void)
{
	M.gen++;
	M.expires_in_ms = 6 * 3600 * 1000LL;
}

static void expire_tokens(void)
{
	M.token_epoch++;
}

static void fail_docs(void)
{
	M.doc_status = 500;
}

/* The Authorization/x-amz-security-token headers a request would be signed with. */
static void signed_headers(stkdr__aws_creds *c, char *token_out, size_t cap, int *rc_out)
{
	stkdr__aws_signer sg = { c, "us-east-1", "s3", "example.com", "/b/k", "", "UNSIGNED-PAYLOAD", 1, NULL };
	stkdr__http_req req;
	memset(&req, 0, sizeof req);
	req.method = "GET";
	struct curl_slist *out = NULL;
	*rc_out = stkdr__aws_sign_cb(&out, &req, &sg);
	token_out[0] = '\0';
	for (struct curl_slist *l = out; l; l = l->next)
		if (!strncmp(l->data, "x-amz-security-token: ", 22))
			snprintf(token_out, cap, "%s", l->data + 22);
	curl_slist_free_all(out);
}

/* ---- tests ---- */

START_TEST(imdsv2_instance_role)
{
	stkdr__aws_creds c;
	tu_assert_ok(stkdr__aws_creds_load(&c));
	ck_assert_str_eq(c.access_key, "ASIA1");
	ck_assert_str_eq(c.secret_key, "secret-1");
	ck_assert_str_eq(c.session_token, "session-1");
	ck_assert_str_eq(c.source, "instance role stkdr-role");
	ck_assert_int_gt(c.expires_ms, stkdr__time_now_ms() + 5 * 3600 * 1000LL);
	/* IMDSv2: a token first, asked for 6 hours, then the role and its document with it */
	ck_assert_int_eq(counter(&M.n_put), 1);
	ck_assert_int_eq(M.ttl_seen, 21600);
	ck_assert_int_eq(counter(&M.n_role), 1);
	ck_assert_int_eq(counter(&M.n_doc), 1);
	ck_assert_int_eq(counter(&M.n_401), 0);
	/* signing uses them, the session token travels as x-amz-security-token; no refetch while valid */
	char tok[128];
	int rc;
	signed_headers(&c, tok, sizeof tok, &rc);
	tu_assert_ok(rc);
	ck_assert_str_eq(tok, "session-1");
	ck_assert_int_eq(counter(&M.n_doc), 1);
	stkdr__aws_creds_clear(&c);
	ck_assert_ptr_null(c.refresh);
}
END_TEST

START_TEST(refreshed_before_expiration)
{
	/* first credentials enter the 10-minute refresh margin 2-3 s from now (Expiration has whole seconds) */
	M.expires_in_ms = 10 * 60 * 1000LL + 3000;
	stkdr__aws_creds c;
	tu_assert_ok(stkdr__aws_creds_load(&c));
	ck_assert_str_eq(c.access_key, "ASIA1");
	char tok[128];
	int rc;
	signed_headers(&c, tok, sizeof tok, &rc);
	tu_assert_ok(rc);
	ck_assert_str_eq(tok, "session-1");
	ck_assert_int_eq(counter(&M.n_doc), 1);
	script(next_gen_long);
	sleep(4);
	signed_headers(&c, tok, sizeof tok, &rc);
	tu_assert_ok(rc);
	ck_assert_str_eq(tok, "session-2");
	ck_assert_str_eq(c.access_key, "ASIA2");
	ck_assert_int_eq(counter(&M.n_doc), 2);
	ck_assert_int_eq(counter(&M.n_role), 1); /* the role name is kept */
	ck_assert_int_eq(counter(&M.n_put), 1);  /* and the session token, still valid */
	signed_headers(&c, tok, sizeof tok, &rc);
	ck_assert_int_eq(counter(&M.n_doc), 2);
	stkdr__aws_creds_clear(&c);
}
END_TEST

START_TEST(expired_session_token_is_fetched_again)
{
	M.expires_in_ms = 10 * 60 * 1000LL + 1000;
	stkdr__aws_creds c;
	tu_assert_ok(stkdr__aws_creds_load(&c));
	script(expire_tokens);
	script(next_gen_long);
	sleep(2);
	tu_assert_ok(stkdr__aws_creds_lock(&c));
	stkdr__aws_creds_unlock(&c);
	ck_assert_str_eq(c.access_key, "ASIA2");
	ck_assert_int_eq(counter(&M.n_401), 1);
	ck_assert_int_eq(counter(&M.n_put), 2);
	stkdr__aws_creds_clear(&c);
}
END_TEST

static void secrets_absent(const char *msg)
{
	const char *secrets[] = { "secret-1", "session-1", "secret-2", "session-2", "token-0", "token-1",
		"ctr-secret", "ctr-session", "s3cr3t-container-token" };
	for (size_t i = 0; i < STKDR__ARRAY_SIZE(secrets); i++)
		ck_assert_msg(strstr(msg, secrets[i]) == NULL, "a secret (%s) in the message: %s", secrets[i], msg);
}

START_TEST(refresh_failure)
{
	/* the refresh fails while the old credentials are still valid: they go on being used */
	M.expires_in_ms = 10 * 60 * 1000LL + 1000;
	stkdr__aws_creds c;
	tu_assert_ok(stkdr__aws_creds_load(&c));
	script(fail_docs);
	sleep(2);
	char tok[128];
	int rc;
	signed_headers(&c, tok, sizeof tok, &rc);
	tu_assert_ok(rc);
	ck_assert_str_eq(tok, "session-1");
	ck_assert_int_eq(counter(&M.n_doc), 2);
	/* ...and it is not retried on every request */
	signed_headers(&c, tok, sizeof tok, &rc);
	ck_assert_int_eq(counter(&M.n_doc), 2);
	stkdr__aws_creds_clear(&c);

	/* expired and not refreshable: ExpiredToken, naming where they came from */
	pthread_mutex_lock(&M.mu);
	M.doc_status = 200;
	M.expires_in_ms = 1500;
	pthread_mutex_unlock(&M.mu);
	tu_assert_ok(stkdr__aws_creds_load(&c));
	script(fail_docs);
	sleep(2);
	signed_headers(&c, tok, sizeof tok, &rc);
	tu_assert_rc(rc, STKDR_EAUTH);
	ck_assert_str_eq(stkdr__err_get()->backend_code, "ExpiredToken");
	tu_assert_errmsg("instance role stkdr-role");
	tu_assert_errmsg("HTTP 500");
	secrets_absent(stkdr__err_get()->message);
	stkdr__aws_creds_clear(&c);
}
END_TEST

START_TEST(imdsv1_fallback)
{
	M.put_status = 405;
	stkdr__aws_creds c;
	tu_assert_ok(stkdr__aws_creds_load(&c));
	ck_assert_str_eq(c.access_key, "ASIA1");
	ck_assert_int_eq(counter(&M.n_v1_gets), 2);
	stkdr__aws_creds_clear(&c);
}
END_TEST

START_TEST(disabled_and_absent)
{
	stkdr__aws_creds c;
	setenv("AWS_EC2_METADATA_DISABLED", "TRUE", 1);
	tu_assert_rc(stkdr__aws_creds_load(&c), STKDR_EAUTH);
	ck_assert_str_eq(stkdr__err_get()->backend_code, "NoCredentials");
	tu_assert_errmsg("AWS_EC2_METADATA_DISABLED");
	ck_assert_int_eq(counter(&M.n_put) + counter(&M.n_role), 0); /* never asked */
	unsetenv("AWS_EC2_METADATA_DISABLED");
	/* no service listening: the chain ends, naming the endpoint, within the 1 s timeout */
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1", 1);
	int64_t t0 = stkdr__time_now_ms();
	tu_assert_rc(stkdr__aws_creds_load(&c), STKDR_EAUTH);
	ck_assert_int_lt(stkdr__time_now_ms() - t0, 5000);
	ck_assert_str_eq(stkdr__err_get()->backend_code, "NoCredentials");
	tu_assert_errmsg("http://127.0.0.1:1");
	tu_assert_errmsg("AWS_ACCESS_KEY_ID");
	ck_assert_ptr_null(c.access_key);
}
END_TEST

START_TEST(chain_order)
{
	stkdr__aws_creds c;
	/* the environment first: the metadata service is not asked */
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
	tu_assert_ok(stkdr__aws_creds_load(&c));
	ck_assert_str_eq(c.access_key, "AKIDENV");
	ck_assert_ptr_null(c.refresh);
	stkdr__aws_creds_clear(&c);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	/* then the shared credentials file */
	char *dir = tu_mkdtemp("awscreds");
	char *cf = tu_path(dir, "credentials");
	const char *ini = "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = filesecret\n";
	tu_write_file(cf, ini, strlen(ini));
	setenv("AWS_SHARED_CREDENTIALS_FILE", cf, 1);
	tu_assert_ok(stkdr__aws_creds_load(&c));
	ck_assert_str_eq(c.access_key, "AKIDFILE");
	stkdr__aws_creds_clear(&c);
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/stkdr-test-credentials", 1);
	ck_assert_int_eq(counter(&M.n_put) + counter(&M.n_role) + counter(&M.n_container), 0);
	/* then container credentials, before the instance role */
	char uri[128];
	snprintf(uri, sizeof uri, "http://127.0.0.1:%d/creds", M.port);
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri, 1);
	tu_assert_ok(stkdr__aws_creds_load(&c));
	ck_assert_str_eq(c.access_key, "CTR1");
	ck_assert_str_eq(c.session_token, "ctr-session-1");
	ck_assert_str_eq(c.source, "container credentials");
	ck_assert_int_eq(counter(&M.n_put) + counter(&M.n_role), 0);
	stkdr__aws_creds_clear(&c);
	/* and last the instance role */
	unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	tu_assert_ok(stkdr__aws_creds_load(&c));
	ck_assert_str_eq(c.access_key, "ASIA1");
	stkdr__aws_creds_clear(&c);
	stkdr__free(cf);
	tu_rmtree_free(dir);
}
END_TEST

START_TEST(container_credentials)
{
	stkdr__aws_creds c;
	char uri[128];
	snprintf(uri, sizeof uri, "http://127.0.0.1:%d/creds", M.port);
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri, 1);
	M.want_auth = "s3cr3t-container-token";
	/* without the token: refused, the message names the URI and not a secret */
	tu_assert_rc(stkdr__aws_creds_load(&c), STKDR_EAUTH);
	tu_assert_errmsg(uri);
	tu_assert_errmsg("HTTP 401");
	/* with it (environment), then from a file (which wins, as in botocore) */
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "s3cr3t-container-token", 1);
	tu_assert_ok(stkdr__aws_creds_load(&c));
	ck_assert_str_eq(c.access_key, "CTR1");
	ck_assert_str_eq(M.last_auth, "s3cr3t-container-token");
	stkdr__aws_creds_clear(&c);
	char *dir = tu_mkdtemp("ctrtok");
	char *tf = tu_path(dir, "token");
	tu_write_file(tf, "wrong-token-from-file\n", 22);
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", tf, 1);
	tu_assert_rc(stkdr__aws_creds_load(&c), STKDR_EAUTH);
	ck_assert_str_eq(M.last_auth, "wrong-token-from-file");
	secrets_absent(stkdr__err_get()->message);
	ck_assert_ptr_null(strstr(stkdr__err_get()->message, "wrong-token-from-file"));
	tu_write_file(tf, "s3cr3t-container-token\n", 23);
	tu_assert_ok(stkdr__aws_creds_load(&c));
	/* refreshed like the instance role's */
	stkdr__aws_creds_clear(&c);
	M.expires_in_ms = 10 * 60 * 1000LL + 1000;
	tu_assert_ok(stkdr__aws_creds_load(&c));
	script(next_gen_long);
	sleep(2);
	tu_assert_ok(stkdr__aws_creds_lock(&c));
	stkdr__aws_creds_unlock(&c);
	ck_assert_str_eq(c.access_key, "CTR2");
	stkdr__aws_creds_clear(&c);
	/* a full URI over plain http to anything but a loopback or the ECS/EKS agent is refused */
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://example.com/creds", 1);
	tu_assert_rc(stkdr__aws_creds_load(&c), STKDR_EAUTH);
	tu_assert_errmsg("http://example.com/creds");
	tu_assert_errmsg("refused");
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1.example.com/creds", 1);
	tu_assert_rc(stkdr__aws_creds_load(&c), STKDR_EAUTH);
	tu_assert_errmsg("refused");
	stkdr__free(tf);
	tu_rmtree_free(dir);
}
END_TEST

/* Makes `bucket` on moto, an S3 store on it from a context (its credentials from the chain) and writes
 * "hello" as "k" through it; the context (stkdr_ctx_free it) and the store into *os_out. */
static stkdr_ctx *s3_put_hello(const at_server *moto, const char *bucket, stkdr_objstore **os_out)
{
	char path[128], json[512];
	snprintf(path, sizeof path, "/%s", bucket);
	ck_assert_int_eq(at_http(moto, "PUT", path, NULL, NULL, 0, NULL), 200);
	snprintf(json, sizeof json, "{\"deployment\":\"d\",\"objstore\":{\"backend\":\"s3\",\"bucket\":\"%s\","
		"\"endpoint\":\"%s\"}}", bucket, moto->endpoint);
	stkdr_ctx *ctx = tu_ctx_json(json);
	tu_assert_ok(stkdr__ctx_objstore(os_out, ctx));
	stkdr_objwriter *w;
	tu_assert_ok((*os_out)->open_write(&w, *os_out, "k", NULL));
	tu_assert_ok(w->write(w, (const uint8_t *)"hello", 5));
	tu_assert_ok(w->commit(w, NULL));
	return ctx;
}

START_TEST(s3_through_instance_role)
{
	/* A backend built from a context picks up the instance role and signs with it (moto checks nothing,
	 * but the whole path through the S3 backend's constructor and the HTTP layer runs). */
	if (!at_available(0))
		return;
	at_server moto;
	ck_assert_int_eq(at_moto_start(&moto, 0, 0), 0);
	stkdr_objstore *os;
	stkdr_ctx *ctx = s3_put_hello(&moto, "creds-bucket", &os);
	stkdr_objinfo info;
	tu_assert_ok(os->head(&info, os, "k"));
	ck_assert_int_eq(info.size, 5);
	ck_assert_int_ge(counter(&M.n_doc), 1);
	stkdr_ctx_free(ctx);
	at_server_stop(&moto);
}
END_TEST

#ifdef STKDR_HAVE_S3
/* Writes the config and credentials files of a role profile "backup" (source: profile "base"). */
static char *role_files(const char *extra)
{
	char *dir = tu_mkdtemp("awsrole");
	char *conf = tu_path(dir, "config"), *cred = tu_path(dir, "credentials");
	char ini[1024];
	snprintf(ini, sizeof ini, "[profile backup]\nrole_arn = arn:aws:iam::123456789012:role/stkdr-backup\n"
		"role_session_name = stk-test\nexternal_id = ext-1\nregion = eu-west-1\n%s\n[profile plain]\nregion = us-east-1\n",
		extra);
	tu_write_file(conf, ini, strlen(ini));
	const char *keys = "[base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = base-secret-do-not-show\n";
	tu_write_file(cred, keys, strlen(keys));
	setenv("AWS_CONFIG_FILE", conf, 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", cred, 1);
	setenv("AWS_PROFILE", "backup", 1);
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	stkdr__free(conf);
	stkdr__free(cred);
	return dir;
}

START_TEST(assume_role)
{
	/* A profile with role_arn (the usual cross-account backup set-up): STS AssumeRole signed with the
	 * source profile's keys, against moto's STS; the role's temporary credentials then sign S3 calls. */
	if (!at_available(0))
		return;
	at_server moto, sts_mock;
	ck_assert_int_eq(at_moto_start(&moto, 0, 0), 0);
	ck_assert_int_eq(at_mock_start(&sts_mock), 0);
	char *dir = role_files("source_profile = base");
	unsetenv("AWS_REGION");
	unsetenv("AWS_DEFAULT_REGION");
	setenv("AWS_ENDPOINT_URL_STS", moto.endpoint, 1);
	stkdr__aws_creds c;
	tu_assert_ok(stkdr__aws_creds_load(&c));
	ck_assert_msg(!strncmp(c.access_key, "ASIA", 4), "assumed-role key %s", c.access_key);
	ck_assert_ptr_nonnull(c.session_token);
	ck_assert_ptr_nonnull(c.refresh);
	ck_assert_int_gt(c.expires_ms, stkdr__time_now_ms() + 15 * 60 * 1000LL);
	ck_assert_str_eq(c.source, "role stkdr-backup");
	stkdr__aws_creds_clear(&c);
	/* an S3 store built from a context signs with them */
	stkdr_objstore *os;
	stkdr_ctx_free(s3_put_hello(&moto, "role-bucket", &os));

	/* what is sent: the request as the mock saw it (region from the profile, the source key signs) */
	setenv("AWS_ENDPOINT_URL_STS", sts_mock.endpoint, 1);
	at_mock_script(&sts_mock, "[{\"status\":403,\"body\":\"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
		"<Message>User is not authorized to perform: sts:AssumeRole</Message></Error></ErrorResponse>\"}]");
	tu_assert_rc(stkdr__aws_creds_load(&c), STKDR_EAUTH);
	ck_assert_str_eq(stkdr__err_get()->backend_code, "AccessDenied");
	tu_assert_errmsg("arn:aws:iam::123456789012:role/stkdr-backup");
	tu_assert_errmsg("profile base");
	tu_assert_errmsg("trust policy");
	ck_assert_ptr_null(strstr(stkdr__err_get()->message, "base-secret"));
	stkdr_buf log = STKDR_BUF_INIT;
	at_mock_log(&sts_mock, &log);
	ck_assert_ptr_nonnull(strstr(log.ptr, "Action=AssumeRole"));
	ck_assert_ptr_nonnull(strstr(log.ptr, "RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fstkdr-backup"));
	ck_assert_ptr_nonnull(strstr(log.ptr, "RoleSessionName=stk-test"));
	ck_assert_ptr_nonnull(strstr(log.ptr, "ExternalId=ext-1"));
	ck_assert_ptr_nonnull(strstr(log.ptr, "Credential=AKIDBASE/"));
	ck_assert_ptr_nonnull(strstr(log.ptr, "/eu-west-1/sts/aws4_request"));
	ck_assert_ptr_null(strstr(log.ptr, "base-secret"));
	stkdr_buf_dispose(&log);
	/* an answer without credentials */
	at_mock_script(&sts_mock, "[{\"status\":200,\"body\":\"<AssumeRoleResponse><AssumeRoleResult/></AssumeRoleResponse>\"}]");
	tu_assert_rc(stkdr__aws_creds_load(&c), STKDR_EAUTH);
	ck_assert_str_eq(stkdr__err_get()->backend_code, "MalformedResponse");
	/* credentials near expiry are fetched again on the next signature */
	char body[1024], exp[40];
	iso(exp, sizeof exp, stkdr__time_now_ms() + 10 * 60 * 1000LL + 3000); /* inside the margin in 3 s */
	snprintf(body, sizeof body, "[{\"status\":200,\"body\":\"<AssumeRoleResponse><AssumeRoleResult><Credentials>"
		"<AccessKeyId>ASIAONE</AccessKeyId><SecretAccessKey>s1</SecretAccessKey><SessionToken>t1</SessionToken>"
		"<Expiration>%s</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>\"},"
		"{\"status\":200,\"body\":\"<AssumeRoleResponse><AssumeRoleResult><Credentials>"
		"<AccessKeyId>ASIATWO</AccessKeyId><SecretAccessKey>s2</SecretAccessKey><SessionToken>t2</SessionToken>"
		"<Expiration>2099-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>\"}]", exp);
	at_mock_script(&sts_mock, body);
	tu_assert_ok(stkdr__aws_creds_load(&c));
	ck_assert_str_eq(c.access_key, "ASIAONE");
	sleep(4);
	tu_assert_ok(stkdr__aws_creds_lock(&c));
	stkdr__aws_creds_unlock(&c);
	ck_assert_str_eq(c.access_key, "ASIATWO");
	ck_assert_str_eq(c.session_token, "t2");
	stkdr__aws_creds_clear(&c);
	tu_rmtree_free(dir);

	/* credential_source Environment: the environment's keys sign (they are not used directly) */
	setenv("AWS_ENDPOINT_URL_STS", moto.endpoint, 1);
	dir = role_files("credential_source = Environment");
	tu_assert_rc(stkdr__aws_creds_load(&c), STKDR_EAUTH);
	tu_assert_errmsg("AWS_ACCESS_KEY_ID");
	tu_rmtree_free(dir);
	/* credential_source EcsContainer: container credentials, which refresh themselves (a lock of their
	 * own), sign AssumeRole */
	char uri[128];
	snprintf(uri, sizeof uri, "http://127.0.0.1:%d/creds", M.port);
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri, 1);
	dir = role_files("credential_source = EcsContainer");
	tu_assert_ok(stkdr__aws_creds_load(&c));
	ck_assert_msg(!strncmp(c.access_key, "ASIA", 4), "assumed-role key %s", c.access_key);
	ck_assert_int_ge(counter(&M.n_container), 1);
	stkdr__aws_creds_clear(&c);
	unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	tu_rmtree_free(dir);
	/* bad profiles, named */
	dir = role_files("source_profile = base\ncredential_source = Environment");
	tu_assert_rc(stkdr__aws_creds_load(&c), STKDR_EAUTH);
	tu_assert_errmsg("exactly one of source_profile");
	tu_rmtree_free(dir);
	dir = role_files("source_profile = plain");
	tu_assert_rc(stkdr__aws_creds_load(&c), STKDR_EAUTH);
	tu_assert_errmsg("source_profile 'plain' has no aws_access_key_id");
	tu_rmtree_free(dir);
	dir = role_files("source_profile = base\nmfa_serial = arn:aws:iam::123456789012:mfa/me");
	tu_assert_rc(stkdr__aws_creds_load(&c), STKDR_ENOTSUPPORTED);
	tu_assert_errmsg("mfa_serial");
	tu_rmtree_free(dir);
	dir = role_files("credential_source = Somewhere");
	tu_assert_rc(stkdr__aws_creds_load(&c), STKDR_EINVAL);
	tu_assert_errmsg("Somewhere");
	tu_rmtree_free(dir);
	unsetenv("AWS_ENDPOINT_URL_STS");
	unsetenv("AWS_PROFILE");
	unsetenv("AWS_CONFIG_FILE");
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");
	at_server_stop(&sts_mock);
	at_server_stop(&moto);
}
END_TEST
#endif

START_TEST(credential_process)
{
	char *dir = tu_mkdtemp("awsproc");
	char *conf = tu_path(dir, "config");
	char *script = tu_path(dir, "creds.sh");
	char ini[1024];
	snprintf(ini, sizeof ini, "[profile proc]\ncredential_process = /bin/sh %s --profile proc\n", script);
	tu_write_file(conf, ini, strlen(ini));
	setenv("AWS_CONFIG_FILE", conf, 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/stkdr-test-credentials", 1);
	setenv("AWS_PROFILE", "proc", 1);
	stkdr__aws_creds c;
	/* temporary credentials: kept with their expiry, to be run again before it */
	const char *ok = "echo 'a warning on stderr' >&2\n"
		"printf '{\"Version\": 1, \"AccessKeyId\": \"PROC1\", \"SecretAccessKey\": \"proc-secret\", '\n"
		"printf '\"SessionToken\": \"proc-token\", \"Expiration\": \"2099-01-01T00:00:00Z\"}'\n";
	tu_write_file(script, ok, strlen(ok));
	tu_assert_ok(stkdr__aws_creds_load(&c));
	ck_assert_str_eq(c.access_key, "PROC1");
	ck_assert_str_eq(c.secret_key, "proc-secret");
	ck_assert_str_eq(c.session_token, "proc-token");
	ck_assert_str_eq(c.source, "credential_process (profile proc)");
	ck_assert_ptr_nonnull(c.refresh);
	stkdr__aws_creds_clear(&c);
	/* long-term keys (no Expiration, no token) */
	const char *lt = "echo '{\"Version\": 1, \"AccessKeyId\": \"PROC2\", \"SecretAccessKey\": \"s\"}'\n";
	tu_write_file(script, lt, strlen(lt));
	tu_assert_ok(stkdr__aws_creds_load(&c));
	ck_assert_str_eq(c.access_key, "PROC2");
	ck_assert_ptr_null(c.session_token);
	ck_assert_ptr_null(c.refresh);
	stkdr__aws_creds_clear(&c);
	/* failing: named by profile and status; what it printed (a secret here) is not repeated */
	const char *bad = "echo '{\"AccessKeyId\": \"X\", \"SecretAccessKey\": \"leaked-secret\"}'; exit 3\n";
	tu_write_file(script, bad, strlen(bad));
	tu_assert_rc(stkdr__aws_creds_load(&c), STKDR_EAUTH);
	tu_assert_errmsg("credential_process of AWS profile 'proc'");
	tu_assert_errmsg("exit status 3");
	ck_assert_ptr_null(strstr(stkdr__err_get()->message, "leaked-secret"));
	ck_assert_ptr_null(strstr(stkdr__err_get()->message, script)); /* the command line is not shown */
	/* not JSON, another Version, no keys */
	const char *docs[] = { "echo not json\n", "echo '{\"Version\": 2, \"AccessKeyId\": \"X\", \"SecretAccessKey\": \"Y\"}'\n",
		"echo '{\"Version\": 1}'\n" };
	for (int i = 0; i < 3; i++) {
		tu_write_file(script, docs[i], strlen(docs[i]));
		tu_assert_rc(stkdr__aws_creds_load(&c), STKDR_EAUTH);
		ck_assert_str_eq(stkdr__err_get()->backend_code, "MalformedResponse");
	}
	/* a command that does not exist */
	snprintf(ini, sizeof ini, "[profile proc]\ncredential_process = %s/no-such-program\n", dir);
	tu_write_file(conf, ini, strlen(ini));
	tu_assert_rc(stkdr__aws_creds_load(&c), STKDR_EAUTH);
	tu_assert_errmsg("exit status 127");
	unsetenv("AWS_PROFILE");
	unsetenv("AWS_CONFIG_FILE");
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");
	stkdr__free(conf);
	stkdr__free(script);
	tu_rmtree_free(dir);
}
END_TEST

static Suite *creds_suite(void)
{
	Suite *s = suite_create("aws_creds");
	TCase *tc = tcase_create("imds");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, imdsv2_instance_role);
	tcase_add_test(tc, refreshed_before_expiration);
	tcase_add_test(tc, expired_session_token_is_fetched_again);
	tcase_add_test(tc, refresh_failure);
	tcase_add_test(tc, imdsv1_fallback);
	tcase_add_test(tc, disabled_and_absent);
	tcase_add_test(tc, chain_order);
	tcase_add_test(tc, container_credentials);
	tcase_add_test(tc, credential_process);
#ifdef STKDR_HAVE_S3
	tcase_add_test(tc, s3_through_instance_role);
	tcase_add_test(tc, assume_role);
#endif
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(creds_suite());
}
