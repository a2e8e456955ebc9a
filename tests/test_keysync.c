/*
 * Key-sync (features/keysync.c) against a small HTTPS server of the test's own (python3 http.server + ssl,
 * with a self-signed certificate made by the openssl CLI), keys from a real PostgreSQL test cluster.
 */
#include "pgtest.h"

#include "core/crypto.h"
#include "stkdr/keys.h"
#include "stkdr/keysync.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MK1 "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

static pgt_cluster *g_c;
static char *g_dir;
static stkdr_ctx *g_ctx;
static pid_t g_srv;
static int g_port;

static const char server_py[] =
	"import sys, ssl, hashlib, os\n"
	"from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler\n"
	"root, cert, key, portfile = sys.argv[1:5]\n"
	"class H(BaseHTTPRequestHandler):\n"
	"  def log_message(self, *a): pass\n"
	"  def do_GET(self):\n"
	"    parts = self.path.split('/')\n"
	"    # /v1/projects/<p>/envs/<e>/jwks.json\n"
	"    ok = (len(parts) == 7 and parts[1] == 'v1' and parts[2] == 'projects' and parts[4] == 'envs'\n"
	"          and parts[6] == 'jwks.json')\n"
	"    f = os.path.join(root, '%s_%s.json' % (parts[3], parts[5])) if ok else None\n"
	"    with open(os.path.join(root, 'requests.log'), 'a') as log:\n"
	"      log.write(self.path + ' ' + str(self.headers.get('If-None-Match')) + '\\n')\n"
	"    if os.path.exists(os.path.join(root, 'fail500')):\n"
	"      self.send_response(500); self.end_headers(); return\n"
	"    if not f or not os.path.exists(f):\n"
	"      self.send_response(404); self.end_headers(); return\n"
	"    body = open(f, 'rb').read(); tag = '\"' + hashlib.sha256(body).hexdigest()[:16] + '\"'\n"
	"    if self.headers.get('If-None-Match') == tag:\n"
	"      self.send_response(304); self.send_header('ETag', tag); self.end_headers(); return\n"
	"    self.send_response(200); self.send_header('ETag', tag)\n"
	"    self.send_header('Content-Type', 'application/json'); self.send_header('Content-Length', str(len(body)))\n"
	"    self.end_headers(); self.wfile.write(body)\n"
	"srv = ThreadingHTTPServer(('127.0.0.1', 0), H)\n"
	"ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(cert, key)\n"
	"srv.socket = ctx.wrap_socket(srv.socket, server_side=True)\n"
	"open(portfile + '.tmp', 'w').write(str(srv.server_address[1])); os.rename(portfile + '.tmp', portfile)\n"
	"srv.serve_forever()\n";

static char *path(const char *name)
{
	return tu_path(g_dir, name);
}

static int run(const char *cmd)
{
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void cluster_setup(void)
{
	if (!pgt_available())
		return;
	g_c = pgt_start("keysync", "fsync = off\n");
}

static void cluster_teardown(void)
{
	pgt_destroy(g_c);
	g_c = NULL;
}

static void server_start(void)
{
	char *py = path("server.py"), *cert = path("cert.pem"), *key = path("key.pem"), *portf = path("port"), *www;
	char *cmd;
	int i;
	www = path("www");
	mkdir(www, 0700);
	if (access(cert, F_OK) != 0) {
		cmd = stkdr__aprintf("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout %s -out %s "
				     "-days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null",
			key, cert);
		ck_assert_msg(run(cmd) == 0, "openssl req failed");
		stkdr__free(cmd);
	}
	tu_write_file(py, server_py, strlen(server_py));
	unlink(portf);
	g_srv = fork();
	ck_assert_int_ge(g_srv, 0);
	if (g_srv == 0) {
		execlp("python3", "python3", py, www, cert, key, portf, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 200; i++) {
		char *t = tu_read_file(portf, NULL);
		if (t) {
			g_port = atoi(t);
			stkdr__free(t);
			break;
		}
		usleep(25000);
	}
	ck_assert_msg(g_port > 0, "the test HTTPS server did not start");
	stkdr__free(py);
	stkdr__free(cert);
	stkdr__free(key);
	stkdr__free(portf);
	stkdr__free(www);
}

static void server_stop(void)
{
	if (g_srv > 0) {
		kill(g_srv, SIGTERM);
		waitpid(g_srv, NULL, 0);
		g_srv = 0;
	}
}

static void setup(void)
{
	char *json, *cert;
	setenv("STKDR_MASTER_KEY", MK1, 1);
	g_dir = tu_mkdtemp("keysync");
	g_port = 0;
	if (!g_c)
		return;
	server_start();
	cert = path("cert.pem");
	json = stkdr__aprintf("{\"deployment\":\"hub-test\",\"postgres\":{\"conninfo\":\"%s\"},"
			      "\"objstore\":{\"backend\":\"local\",\"path\":\"%s/repo\"},"
			      "\"secrets\":{\"backend\":\"local\",\"path\":\"%s/secrets\"},"
			      "\"dns\":{\"backend\":\"local\",\"path\":\"%s/dns.json\"},"
			      "\"keysync\":{\"hub_url\":\"https://127.0.0.1:%d/\",\"cache_dir\":\"%s/cache\","
			      "\"ca_file\":\"%s\",\"retries\":1,\"timeout\":\"5s\"}}",
		g_c->conninfo, g_dir, g_dir, g_dir, g_port, g_dir, cert);
	g_ctx = tu_ctx_json(json);
	stkdr__free(json);
	stkdr__free(cert);
}

static void teardown(void)
{
	server_stop();
	stkdr_ctx_free(g_ctx);
	g_ctx = NULL;
	tu_rmtree_free(g_dir);
	g_dir = NULL;
}

static const char *ctxmsg(void)
{
	return stkdr_ctx_last_error(g_ctx)->message;
}

#define assert_ctx_rc(rc, want) \
	ck_assert_msg((rc) == (want), "rc=%d (%s) want %s: %s", (int)(rc), stkdr_error_name(rc), #want, ctxmsg())

/* The Hub side: publish the JWKS of project/env where the test server serves it. */
static void publish(const char *project, const char *env)
{
	stkdr_buf jwks = STKDR_BUF_INIT;
	char *name = stkdr__aprintf("www/%s_%s.json", project, env), *f = path(name);
	assert_ctx_rc(stkdr_keys_jwks(&jwks, g_ctx, project, env), 0);
	tu_write_file(f, jwks.ptr, jwks.size);
	stkdr_buf_dispose(&jwks);
	stkdr__free(name);
	stkdr__free(f);
}

static char *sign(const char *project, const char *env)
{
	stkdr_buf tok = STKDR_BUF_INIT;
	assert_ctx_rc(stkdr_jwt_sign(&tok, g_ctx, project, env, "{\"sub\":\"u1\"}", NULL), 0);
	return stkdr__buf_detach(&tok);
}

static int count_requests(void)
{
	char *f = path("www/requests.log"), *t = tu_read_file(f, NULL), *p;
	int n = 0;
	for (p = t; p && *p; p++)
		n += *p == '\n';
	stkdr__free(t);
	stkdr__free(f);
	return n;
}

static int log_has(const char *needle)
{
	char *f = path("www/requests.log"), *t = tu_read_file(f, NULL);
	int r = t && strstr(t, needle) != NULL;
	stkdr__free(t);
	stkdr__free(f);
	return r;
}

static stkdr_keysync *ks_started(const char *project, const char *env)
{
	stkdr_keysync *ks = NULL;
	assert_ctx_rc(stkdr_keysync_new(&ks, g_ctx, project, env, NULL), 0);
	assert_ctx_rc(stkdr_keysync_start(ks), 0);
	return ks;
}

START_TEST(sync_verify_etag_and_cache_file)
{
	stkdr_keysync *ks;
	stkdr_buf claims = STKDR_BUF_INIT;
	char *tok, *cache, *t;
	struct stat st;
	if (!g_c)
		return;
	assert_ctx_rc(stkdr_keys_generate(NULL, g_ctx, "br", "prod", NULL), 0);
	publish("br", "prod");
	tok = sign("br", "prod");
	ks = ks_started("br", "prod");
	ck_assert_int_eq(stkdr_keysync_from_cache(ks), 0);
	ck_assert_int_eq(stkdr_keysync_key_count(ks), 1);
	assert_ctx_rc(stkdr_keysync_verify(&claims, ks, tok, NULL), 0);
	ck_assert_ptr_nonnull(strstr(claims.ptr, "u1"));
	ck_assert(log_has("/v1/projects/br/envs/prod/jwks.json None"));
	/* the cache: 0600, no private parameter */
	cache = path("cache/jwks-br-prod.json");
	ck_assert_int_eq(stat(cache, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	t = tu_read_file(cache, NULL);
	ck_assert_ptr_null(strstr(t, "\"d\""));
	ck_assert_ptr_nonnull(strstr(t, "stkdr-jwks-cache"));
	stkdr__free(t);
	/* force-sync again: conditional, 304 */
	assert_ctx_rc(stkdr_keysync_force(ks), 0);
	ck_assert_int_eq(count_requests(), 2);
	ck_assert(log_has("jwks.json \"")); /* If-None-Match sent */
	stkdr_keysync_free(ks);
	stkdr__free(cache);
	stkdr__free(tok);
	stkdr_buf_dispose(&claims);
}
END_TEST

START_TEST(unknown_kid_refresh_is_rate_limited)
{
	stkdr_keysync *ks;
	stkdr_keysync_options o = STKDR_KEYSYNC_OPTIONS_INIT;
	char *tok_new;
	int i, before;
	if (!g_c)
		return;
	assert_ctx_rc(stkdr_keys_generate(NULL, g_ctx, "rl", "prod", NULL), 0);
	publish("rl", "prod");
	o.refresh_interval_ms = 60000;
	assert_ctx_rc(stkdr_keysync_new(&ks, g_ctx, "rl", "prod", &o), 0);
	assert_ctx_rc(stkdr_keysync_start(ks), 0);
	/* rotation on the Hub: a token from the new key refreshes once and verifies */
	assert_ctx_rc(stkdr_keys_rotate(NULL, g_ctx, "rl", "prod", NULL), 0);
	publish("rl", "prod");
	tok_new = sign("rl", "prod");
	before = count_requests();
	assert_ctx_rc(stkdr_keysync_verify(NULL, ks, tok_new, NULL), 0);
	ck_assert_int_eq(count_requests(), before + 1);
	ck_assert_int_eq(stkdr_keysync_key_count(ks), 2);
	/* a flood of random kids: no further fetch within the interval */
	for (i = 0; i < 50; i++) {
		stkdr_buf hdr = STKDR_BUF_INIT;
		char *j = stkdr__aprintf("{\"alg\":\"ES256\",\"kid\":\"random%d\"}", i), *bad;
		stkdr__b64_encode(&hdr, j, strlen(j), 1);
		bad = stkdr__aprintf("%s%s", hdr.ptr, strchr(tok_new, '.'));
		assert_ctx_rc(stkdr_keysync_verify(NULL, ks, bad, NULL), STKDR_ENOTFOUND);
		stkdr__free(bad);
		stkdr__free(j);
		stkdr_buf_dispose(&hdr);
	}
	ck_assert_int_eq(count_requests(), before + 1);
	stkdr_keysync_free(ks);
	stkdr__free(tok_new);
}
END_TEST

START_TEST(hub_down_starts_from_cache)
{
	stkdr_keysync *ks = NULL;
	char *tok, *f;
	if (!g_c)
		return;
	assert_ctx_rc(stkdr_keys_generate(NULL, g_ctx, "hd", "prod", NULL), 0);
	publish("hd", "prod");
	tok = sign("hd", "prod");
	/* no cache and a Hub with nothing: a precise failure */
	assert_ctx_rc(stkdr_keysync_new(&ks, g_ctx, "none", "prod", NULL), 0);
	assert_ctx_rc(stkdr_keysync_start(ks), STKDR_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(ctxmsg(), "no usable cache"));
	stkdr_keysync_free(ks);
	ks = ks_started("hd", "prod");
	stkdr_keysync_free(ks);
	/* the Hub goes away: start from the cache, and say so; one attempt, no backoff (retries = 1) */
	server_stop();
	ks = ks_started("hd", "prod");
	ck_assert_int_eq(stkdr_keysync_from_cache(ks), 1);
	ck_assert_int_eq(stkdr_keysync_fetch_count(ks), 1);
	assert_ctx_rc(stkdr_keysync_verify(NULL, ks, tok, NULL), 0);
	assert_ctx_rc(stkdr_keysync_force(ks), STKDR_EBACKEND);
	ck_assert_ptr_nonnull(strstr(ctxmsg(), "2 attempt"));
	stkdr_keysync_free(ks);
	/* a tampered cache is refused */
	f = path("cache/jwks-hd-prod.json");
	{
		char *t = tu_read_file(f, NULL), *p = strstr(t, "\"x\":") ? strstr(t, "\"x\":") : NULL;
		ck_assert_ptr_nonnull(p);
		p = strchr(p + 4, '"') + 1;
		*p = *p == 'A' ? 'B' : 'A';
		tu_write_file(f, t, strlen(t));
		stkdr__free(t);
	}
	assert_ctx_rc(stkdr_keysync_new(&ks, g_ctx, "hd", "prod", NULL), 0);
	ck_assert_int_ne(stkdr_keysync_start(ks), 0);
	ck_assert_ptr_nonnull(strstr(ctxmsg(), "no usable cache"));
	stkdr_keysync_free(ks);
	stkdr__free(f);
	stkdr__free(tok);
}
END_TEST

START_TEST(bad_jwks_and_tls)
{
	stkdr_keysync *ks = NULL;
	stkdr_keysync_options o = STKDR_KEYSYNC_OPTIONS_INIT;
	char *f, *t, *p;
	if (!g_c)
		return;
	assert_ctx_rc(stkdr_keys_generate(NULL, g_ctx, "bj", "prod", NULL), 0);
	publish("bj", "prod");
	/* certificate verification is on: the system CAs do not know the test certificate */
	o.ca_file = "/etc/ssl/certs/ca-certificates.crt";
	assert_ctx_rc(stkdr_keysync_new(&ks, g_ctx, "bj", "prod", &o), 0);
	assert_ctx_rc(stkdr_keysync_force(ks), STKDR_EBACKEND);
	stkdr_keysync_free(ks);
	o.ca_file = NULL;
	o.hub_url = "http://127.0.0.1:1";
	ck_assert_int_eq(stkdr_keysync_new(&ks, g_ctx, "bj", "prod", &o), STKDR_EINVAL);
	/* a good start, then the Hub serves an altered JWKS: refused, the good set stays */
	ks = ks_started("bj", "prod");
	f = path("www/bj_prod.json");
	t = tu_read_file(f, NULL);
	p = strstr(t, "\"y\":\"") + 5;
	*p = *p == 'A' ? 'B' : 'A';
	tu_write_file(f, t, strlen(t));
	assert_ctx_rc(stkdr_keysync_force(ks), STKDR_ECORRUPT);
	ck_assert_int_eq(stkdr_keysync_key_count(ks), 1);
	/* 5xx is retried (retries = 1: two requests) */
	{
		char *fail = path("www/fail500");
		int before = count_requests();
		tu_write_file(fail, "", 0);
		assert_ctx_rc(stkdr_keysync_force(ks), STKDR_EBACKEND);
		ck_assert_int_eq(count_requests(), before + 2);
		stkdr__free(fail);
	}
	stkdr_keysync_free(ks);
	stkdr__free(t);
	stkdr__free(f);
}
END_TEST

/* Runbook 3.3 end to end with the Bridge: key table lost, previous backup imported, force-sync. */
START_TEST(runbook_3_3_with_bridge)
{
	stkdr_keys_import_options io = STKDR_KEYS_IMPORT_OPTIONS_INIT;
	stkdr_keysync *ks;
	char *t1, *t2;
	int64_t n;
	if (!g_c)
		return;
	assert_ctx_rc(stkdr_keys_generate(NULL, g_ctx, "rb", "prod", NULL), 0);
	assert_ctx_rc(stkdr_keys_backup(NULL, g_ctx, "rb", "prod"), 0);
	assert_ctx_rc(stkdr_keys_rotate(NULL, g_ctx, "rb", "prod", NULL), 0);
	publish("rb", "prod");
	t1 = sign("rb", "prod"); /* signed by the rotated key, which the backup does not have */
	assert_ctx_rc(stkdr_keys_backup(NULL, g_ctx, "rb", "prod"), 0);
	ks = ks_started("rb", "prod");
	assert_ctx_rc(stkdr_keysync_verify(NULL, ks, t1, NULL), 0);
	/* the loss, then restore from the backup (previous, then current) */
	pgt_exec(g_c, "DROP TABLE stkdr_signing_keys");
	io.source = STKDR_KEYS_IMPORT_BACKUP;
	io.stage = 0x2u;
	assert_ctx_rc(stkdr_keys_import(&n, g_ctx, "rb", "prod", &io), 0);
	ck_assert_int_eq(n, 1);
	io.stage = 0x1u;
	assert_ctx_rc(stkdr_keys_import(&n, g_ctx, "rb", "prod", &io), 0);
	ck_assert_int_eq(n, 1);
	publish("rb", "prod");
	assert_ctx_rc(stkdr_keysync_force(ks), 0);
	t2 = sign("rb", "prod");
	assert_ctx_rc(stkdr_keysync_verify(NULL, ks, t1, NULL), 0);
	assert_ctx_rc(stkdr_keysync_verify(NULL, ks, t2, NULL), 0);
	stkdr_keysync_free(ks);
	stkdr__free(t1);
	stkdr__free(t2);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("keysync");
	TCase *tc = tcase_create("keysync");
	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, cluster_setup, cluster_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, sync_verify_etag_and_cache_file);
	tcase_add_test(tc, unknown_kid_refresh_is_rate_limited);
	tcase_add_test(tc, hub_down_starts_from_cache);
	tcase_add_test(tc, bad_jwks_and_tls);
	tcase_add_test(tc, runbook_3_3_with_bridge);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
