/* Signing keys, backup/import and tokens (features/keys.c) against a real PostgreSQL test cluster. */
#include "pgtest.h"

#include "core/crypto.h"
#include "core/internal.h"
#include "core/timeutil.h"
#include "stkdr/sys/backend.h"
#include "stkdr/keys.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MK1 "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
#define MK2 "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA="

static pgt_cluster *g_c;
static char *g_dir;  /* per test */
static stkdr_ctx *g_ctx;

static void cluster_setup(void)
{
	if (!pgt_available())
		return;
	g_c = pgt_start("keys", "fsync = off\n");
}

static void cluster_teardown(void)
{
	pgt_destroy(g_c);
	g_c = NULL;
}

static void listed_dummy_list(void);

static void setup(void)
{
	char *json;
	setenv("STKDR_MASTER_KEY", MK1, 1);
	g_dir = tu_mkdtemp("keys");
	json = stkdr__aprintf("{\"deployment\":\"hub-test\",\"postgres\":{\"conninfo\":\"%s\"},"
			      "\"objstore\":{\"backend\":\"local\",\"path\":\"%s/repo\"},"
			      "\"secrets\":{\"backend\":\"local\",\"path\":\"%s/secrets\"},"
			      "\"dns\":{\"backend\":\"local\",\"path\":\"%s/dns.json\"}}",
		g_c ? g_c->conninfo : "host=127.0.0.1 port=1 dbname=none", g_dir, g_dir, g_dir);
	g_ctx = tu_ctx_json(json);
	stkdr__free(json);
	if (g_c) { /* creates the key table */
		listed_dummy_list();
	}
}

static void teardown(void)
{
	stkdr_ctx_free(g_ctx);
	g_ctx = NULL;
	tu_rmtree_free(g_dir);
	g_dir = NULL;
}

#define SKIP_WITHOUT_PG() \
	do { \
		if (!g_c) \
			return; \
	} while (0)

static const char *ctxmsg(void)
{
	return stkdr_ctx_last_error(g_ctx)->message;
}

#define assert_ctx_rc(rc, want) \
	ck_assert_msg((rc) == (want), "rc=%d (%s) want %s: %s", (int)(rc), stkdr_error_name(rc), #want, ctxmsg())
#define assert_ctxmsg(needle) \
	ck_assert_msg(strstr(ctxmsg(), (needle)) != NULL, "message \"%s\" lacks \"%s\"", ctxmsg(), (needle))

static int run(const char *cmd)
{
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *path(const char *name)
{
	return tu_path(g_dir, name);
}

static char *sql1(const char *fmt, const char *a)
{
	char *q = stkdr__aprintf(fmt, a);
	char *v = pgt_sql(g_c, q);
	stkdr__free(q);
	return v;
}

static int64_t nkeys(const char *project)
{
	char *v = sql1("SELECT count(*) FROM stkdr_signing_keys WHERE project = '%s'", project);
	int64_t n = strtoll(v, NULL, 10);
	stkdr__free(v);
	return n;
}

typedef struct listed {
	int n;
	char kid[4][80];
	int state[4];
	int64_t vu[4];
} listed;

static int list_cb(const stkdr_key_info *ki, void *payload)
{
	listed *l = payload;
	if (l->n < 4) {
		snprintf(l->kid[l->n], 80, "%s", ki->kid);
		l->state[l->n] = ki->state;
		l->vu[l->n] = ki->verify_until_ms;
	}
	l->n++;
	return 0;
}

static int nop_cb(const stkdr_key_info *ki, void *payload)
{
	(void)ki;
	(void)payload;
	return 0;
}

static void listed_dummy_list(void)
{
	ck_assert_int_eq(stkdr_keys_list(g_ctx, "none", "none", nop_cb, NULL), 0);
}

static stkdr_jwt_verifier *verifier_for(const char *project, const char *env)
{
	stkdr_buf jwks = STKDR_BUF_INIT;
	stkdr_jwt_verifier *v = NULL;
	assert_ctx_rc(stkdr_keys_jwks(&jwks, g_ctx, project, env), 0);
	assert_ctx_rc(stkdr_jwt_verifier_new(&v, g_ctx, jwks.ptr, jwks.size), 0);
	stkdr_buf_dispose(&jwks);
	return v;
}

static char *sign(const char *project, const char *env, const char *claims)
{
	stkdr_buf tok = STKDR_BUF_INIT;
	assert_ctx_rc(stkdr_jwt_sign(&tok, g_ctx, project, env, claims, NULL), 0);
	return stkdr__buf_detach(&tok);
}

/* Independent check with python3 `cryptography` (or skipped if it is missing). */
static void python_verify(const char *jwks, const char *token)
{
	static const char script[] =
		"import sys, json, base64\n"
		"from cryptography.hazmat.primitives import hashes\n"
		"from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa\n"
		"from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature\n"
		"def d(s): return base64.urlsafe_b64decode(s + '=' * (-len(s) % 4))\n"
		"jwks = json.load(open(sys.argv[1])); tok = open(sys.argv[2]).read().strip()\n"
		"h, p, s = tok.split('.'); hdr = json.loads(d(h)); sig = d(s); msg = (h + '.' + p).encode()\n"
		"k = [k for k in jwks['keys'] if k['kid'] == hdr['kid']][0]\n"
		"if k['kty'] == 'EC':\n"
		"  assert len(sig) == 64\n"
		"  pub = ec.EllipticCurvePublicNumbers(int.from_bytes(d(k['x']), 'big'), int.from_bytes(d(k['y']), 'big'),"
		" ec.SECP256R1()).public_key()\n"
		"  pub.verify(encode_dss_signature(int.from_bytes(sig[:32], 'big'), int.from_bytes(sig[32:], 'big')), msg,"
		" ec.ECDSA(hashes.SHA256()))\n"
		"  canon = '{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}' % (k['x'], k['y'])\n"
		"else:\n"
		"  pub = rsa.RSAPublicNumbers(int.from_bytes(d(k['e']), 'big'),\n"
		"    int.from_bytes(d(k['n']), 'big')).public_key()\n"
		"  pub.verify(sig, msg, padding.PKCS1v15(), hashes.SHA256())\n"
		"  canon = '{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}' % (k['e'], k['n'])\n"
		"h = hashes.Hash(hashes.SHA256()); h.update(canon.encode())\n"
		"assert base64.urlsafe_b64encode(h.finalize()).decode().rstrip('=') == k['kid'], 'kid'\n"
		"print('ok')\n";
	char *py = path("check.py"), *jf = path("jwks.json"), *tf = path("token.txt"), *cmd;
	if (run("python3 -c 'import cryptography' 2>/dev/null") != 0) {
		fprintf(stderr, "test_keys: python3 cryptography missing: independent check skipped\n");
		goto out;
	}
	tu_write_file(py, script, strlen(script));
	tu_write_file(jf, jwks, strlen(jwks));
	tu_write_file(tf, token, strlen(token));
	cmd = stkdr__aprintf("python3 %s %s %s >/dev/null", py, jf, tf);
	ck_assert_msg(run(cmd) == 0, "python3 cryptography rejects the token or the kid");
	stkdr__free(cmd);
out:
	stkdr__free(py);
	stkdr__free(jf);
	stkdr__free(tf);
}

START_TEST(generate_list_rotate_jwks)
{
	stkdr_buf a = STKDR_BUF_INIT, b = STKDR_BUF_INIT, jwks = STKDR_BUF_INIT;
	listed l;
	cJSON *doc;
	SKIP_WITHOUT_PG();
	assert_ctx_rc(stkdr_keys_generate(&a, g_ctx, "p1", "prod", NULL), 0);
	ck_assert_uint_eq(a.size, 43);
	assert_ctx_rc(stkdr_keys_generate(&b, g_ctx, "p1", "prod", NULL), STKDR_EEXISTS);
	assert_ctx_rc(stkdr_keys_generate(&b, g_ctx, "bad project", "prod", NULL), STKDR_EINVAL);
	assert_ctxmsg("project");
	assert_ctx_rc(stkdr_keys_rotate(&b, g_ctx, "p1", "prod", NULL), 0);
	ck_assert_str_ne(a.ptr, b.ptr);
	memset(&l, 0, sizeof l);
	assert_ctx_rc(stkdr_keys_list(g_ctx, "p1", "prod", list_cb, &l), 0);
	ck_assert_int_eq(l.n, 2);
	ck_assert_str_eq(l.kid[0], b.ptr);
	ck_assert_int_eq(l.state[0], STKDR_KEY_ACTIVE);
	ck_assert_str_eq(l.kid[1], a.ptr);
	ck_assert_int_eq(l.state[1], STKDR_KEY_VERIFY_ONLY);
	ck_assert(l.vu[1] > stkdr__time_now_ms());
	assert_ctx_rc(stkdr_keys_jwks(&jwks, g_ctx, "p1", "prod"), 0);
	doc = cJSON_Parse(jwks.ptr);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "keys")), 2);
	ck_assert_ptr_null(strstr(jwks.ptr, "\"d\""));
	cJSON_Delete(doc);
	/* after the overlap, the old key stops verifying */
	assert_ctx_rc(stkdr_ctx_set_str(g_ctx, "clock.fake_now", "2099-01-01T00:00:00Z"), 0);
	assert_ctx_rc(stkdr_keys_jwks(&jwks, g_ctx, "p1", "prod"), 0);
	ck_assert_ptr_null(strstr(jwks.ptr, a.ptr));
	ck_assert_ptr_nonnull(strstr(jwks.ptr, b.ptr));
	assert_ctx_rc(stkdr_keys_rotate(NULL, g_ctx, "p1", "prod", NULL), 0);
	memset(&l, 0, sizeof l);
	assert_ctx_rc(stkdr_keys_list(g_ctx, "p1", "prod", list_cb, &l), 0);
	ck_assert_int_eq(l.n, 3);
	ck_assert_int_eq(l.state[2], STKDR_KEY_RETIRED);
	stkdr_buf_dispose(&a);
	stkdr_buf_dispose(&b);
	stkdr_buf_dispose(&jwks);
}
END_TEST

static void sign_verify_alg(int alg, const char *project)
{
	stkdr_keys_options ko = STKDR_KEYS_OPTIONS_INIT;
	stkdr_buf claims = STKDR_BUF_INIT, jwks = STKDR_BUF_INIT;
	stkdr_jwt_verifier *v;
	char *tok;
	ko.alg = alg;
	assert_ctx_rc(stkdr_keys_generate(NULL, g_ctx, project, "dev", &ko), 0);
	tok = sign(project, "dev", "{\"sub\":\"user-42\",\"project\":\"x\"}");
	v = verifier_for(project, "dev");
	ck_assert_int_eq(stkdr_jwt_verifier_count(v), 1);
	assert_ctx_rc(stkdr_jwt_verify(&claims, g_ctx, v, tok, NULL), 0);
	ck_assert_ptr_nonnull(strstr(claims.ptr, "\"sub\":\"user-42\""));
	ck_assert_ptr_nonnull(strstr(claims.ptr, "\"exp\":"));
	assert_ctx_rc(stkdr_keys_jwks(&jwks, g_ctx, project, "dev"), 0);
	python_verify(jwks.ptr, tok);
	stkdr_jwt_verifier_free(v);
	stkdr__free(tok);
	stkdr_buf_dispose(&claims);
	stkdr_buf_dispose(&jwks);
}

START_TEST(sign_verify_es256)
{
	SKIP_WITHOUT_PG();
	sign_verify_alg(STKDR_KEY_ES256, "pes");
}
END_TEST

START_TEST(sign_verify_rs256)
{
	SKIP_WITHOUT_PG();
	sign_verify_alg(STKDR_KEY_RS256, "prs");
}
END_TEST

START_TEST(es256_openssl_cli)
{
	/* The JWS R||S signature, converted to DER, verifies with `openssl dgst` against the JWK's point. */
	static const char script[] =
		"import sys, json, base64, subprocess\n"
		"def d(s): return base64.urlsafe_b64decode(s + '=' * (-len(s) % 4))\n"
		"def der_int(b):\n"
		"  b = b.lstrip(b'\\0') or b'\\0'\n"
		"  if b[0] & 0x80: b = b'\\0' + b\n"
		"  return b'\\x02' + bytes([len(b)]) + b\n"
		"jwks = json.load(open(sys.argv[1])); tok = open(sys.argv[2]).read().strip(); w = sys.argv[3]\n"
		"h, p, s = tok.split('.'); sig = d(s); k = jwks['keys'][0]\n"
		"body = der_int(sig[:32]) + der_int(sig[32:])\n"
		"open(w + '/sig.der', 'wb').write(b'\\x30' + bytes([len(body)]) + body)\n"
		"open(w + '/msg', 'wb').write((h + '.' + p).encode())\n"
		"spki = bytes.fromhex('3059301306072a8648ce3d020106082a8648ce3d030107034200')\n"
		"spki += b'\\x04' + d(k['x']) + d(k['y'])\n"
		"open(w + '/pub.pem', 'w').write('-----BEGIN PUBLIC KEY-----\\n' + base64.b64encode(spki).decode() +"
		" '\\n-----END PUBLIC KEY-----\\n')\n"
		"sys.exit(subprocess.call(['openssl', 'dgst', '-sha256', '-verify', w + '/pub.pem',\n"
		"  '-signature', w + '/sig.der',"
		" w + '/msg'], stdout=subprocess.DEVNULL))\n";
	stkdr_buf jwks = STKDR_BUF_INIT;
	char *py, *jf, *tf, *cmd, *tok;
	SKIP_WITHOUT_PG();
	assert_ctx_rc(stkdr_keys_generate(NULL, g_ctx, "pos", "dev", NULL), 0);
	tok = sign("pos", "dev", NULL);
	assert_ctx_rc(stkdr_keys_jwks(&jwks, g_ctx, "pos", "dev"), 0);
	py = path("ossl.py");
	jf = path("jwks.json");
	tf = path("token.txt");
	tu_write_file(py, script, strlen(script));
	tu_write_file(jf, jwks.ptr, jwks.size);
	tu_write_file(tf, tok, strlen(tok));
	cmd = stkdr__aprintf("python3 %s %s %s %s", py, jf, tf, g_dir);
	ck_assert_msg(run(cmd) == 0, "openssl dgst -verify rejects the ES256 signature");
	stkdr__free(cmd);
	/* and a flipped byte fails */
	tok[strlen(tok) - 5] = tok[strlen(tok) - 5] == 'A' ? 'B' : 'A';
	tu_write_file(tf, tok, strlen(tok));
	cmd = stkdr__aprintf("python3 %s %s %s %s 2>/dev/null", py, jf, tf, g_dir);
	ck_assert_int_ne(run(cmd), 0);
	stkdr__free(cmd);
	stkdr__free(py);
	stkdr__free(jf);
	stkdr__free(tf);
	stkdr__free(tok);
	stkdr_buf_dispose(&jwks);
}
END_TEST

/* Replaces part `idx` (0 header, 1 claims) of a token by base64url(json), keeping the rest. */
static char *forge(const char *tok, int idx, const char *json)
{
	stkdr_buf out = STKDR_BUF_INIT;
	const char *d1 = strchr(tok, '.'), *d2 = strchr(d1 + 1, '.');
	if (idx == 0) {
		stkdr__b64_encode(&out, json, strlen(json), 1);
		stkdr_buf_put(&out, d1, strlen(d1));
	} else {
		stkdr_buf_put(&out, tok, (size_t)(d1 - tok + 1));
		stkdr__b64_encode(&out, json, strlen(json), 1);
		stkdr_buf_put(&out, d2, strlen(d2));
	}
	return stkdr__buf_detach(&out);
}

START_TEST(bad_tokens)
{
	stkdr_jwt_verifier *v;
	stkdr_jwt_verify_options vo = STKDR_JWT_VERIFY_OPTIONS_INIT;
	stkdr_buf kid = STKDR_BUF_INIT;
	char *tok, *bad, *hdr;
	SKIP_WITHOUT_PG();
	assert_ctx_rc(stkdr_keys_generate(&kid, g_ctx, "ptok", "dev", NULL), 0);
	assert_ctx_rc(stkdr_ctx_set_str(g_ctx, "keys.issuer", "https://hub.test"), 0);
	tok = sign("ptok", "dev", "{\"sub\":\"u\"}");
	v = verifier_for("ptok", "dev");
	assert_ctx_rc(stkdr_jwt_verify(NULL, g_ctx, v, tok, NULL), 0);
	/* wrong issuer / audience */
	vo.issuer = "https://other";
	assert_ctx_rc(stkdr_jwt_verify(NULL, g_ctx, v, tok, &vo), STKDR_EAUTH);
	assert_ctxmsg("issuer");
	vo.issuer = NULL;
	vo.audience = "bridge";
	assert_ctx_rc(stkdr_jwt_verify(NULL, g_ctx, v, tok, &vo), STKDR_EAUTH);
	assert_ctxmsg("audience");
	/* altered claims: the signature fails */
	bad = forge(tok, 1, "{\"sub\":\"admin\",\"exp\":4102444800}");
	assert_ctx_rc(stkdr_jwt_verify(NULL, g_ctx, v, bad, NULL), STKDR_EAUTH);
	assert_ctxmsg("signature does not verify");
	stkdr__free(bad);
	/* algorithm not allowed for the key (alg confusion) */
	hdr = stkdr__aprintf("{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}", kid.ptr);
	bad = forge(tok, 0, hdr);
	assert_ctx_rc(stkdr_jwt_verify(NULL, g_ctx, v, bad, NULL), STKDR_EAUTH);
	assert_ctxmsg("not allowed");
	stkdr__free(bad);
	stkdr__free(hdr);
	bad = forge(tok, 0, "{\"alg\":\"none\",\"kid\":\"nope\"}");
	assert_ctx_rc(stkdr_jwt_verify(NULL, g_ctx, v, bad, NULL), STKDR_ENOTFOUND);
	assert_ctxmsg("kid nope");
	stkdr__free(bad);
	assert_ctx_rc(stkdr_jwt_verify(NULL, g_ctx, v, "garbage", NULL), STKDR_EINVAL);
	assert_ctx_rc(stkdr_jwt_verify(NULL, g_ctx, v, "a.b.c.d", NULL), STKDR_EINVAL);
	/* expired, beyond the leeway */
	assert_ctx_rc(stkdr_ctx_set_str(g_ctx, "clock.fake_now", "2099-01-01T00:00:00Z"), 0);
	assert_ctx_rc(stkdr_jwt_verify(NULL, g_ctx, v, tok, NULL), STKDR_EAUTH);
	assert_ctxmsg("expired at");
	/* not yet valid */
	assert_ctx_rc(stkdr_ctx_set_str(g_ctx, "clock.fake_now", "2000-01-01T00:00:00Z"), 0);
	assert_ctx_rc(stkdr_jwt_verify(NULL, g_ctx, v, tok, NULL), STKDR_EAUTH);
	assert_ctxmsg("not valid before");
	/* signed by another key set */
	stkdr_jwt_verifier_free(v);
	assert_ctx_rc(stkdr_keys_generate(NULL, g_ctx, "ptok2", "dev", NULL), 0);
	v = verifier_for("ptok2", "dev");
	assert_ctx_rc(stkdr_jwt_verify(NULL, g_ctx, v, tok, NULL), STKDR_ENOTFOUND);
	stkdr_jwt_verifier_free(v);
	stkdr__free(tok);
	stkdr_buf_dispose(&kid);
}
END_TEST

START_TEST(tampered_jwks)
{
	stkdr_buf jwks = STKDR_BUF_INIT;
	stkdr_jwt_verifier *v = NULL;
	char *p;
	SKIP_WITHOUT_PG();
	assert_ctx_rc(stkdr_keys_generate(NULL, g_ctx, "pjw", "dev", NULL), 0);
	assert_ctx_rc(stkdr_keys_jwks(&jwks, g_ctx, "pjw", "dev"), 0);
	p = strstr(jwks.ptr, "\"x\":\"") + 6;
	*p = *p == 'A' ? 'B' : 'A';
	assert_ctx_rc(stkdr_jwt_verifier_new(&v, g_ctx, jwks.ptr, jwks.size), STKDR_ECORRUPT);
	ck_assert_ptr_null(v);
	assert_ctx_rc(stkdr_jwt_verifier_new(&v, g_ctx, "{\"keys\":[]}", 11), STKDR_ECORRUPT);
	assert_ctx_rc(stkdr_jwt_verifier_new(&v, g_ctx, "{\"keys\":", 8), STKDR_ECORRUPT);
	stkdr_buf_dispose(&jwks);
}
END_TEST

static char *openssl_key(const char *name, const char *cmd_fmt)
{
	char *f = path(name);
	char *cmd = stkdr__aprintf(cmd_fmt, f);
	ck_assert_msg(run(cmd) == 0, "%s failed", cmd);
	stkdr__free(cmd);
	return f;
}

/* The base64 body line of a PEM file (the key material). */
static char *pem_body(const char *file)
{
	char *t = tu_read_file(file, NULL), *l, *e;
	ck_assert_ptr_nonnull(t);
	l = strchr(t, '\n') + 1;
	e = strchr(l, '\n');
	*e = '\0';
	l = stkdr__strdup(l);
	stkdr__free(t);
	return l;
}

/* No file under dir contains needle (grep -r), and the key table does not either. */
static void assert_nowhere(const char *needle)
{
	char *cmd = stkdr__aprintf("grep -rqF -- '%s' '%s'", needle, g_dir), *q, *v;
	char *keyfiles = stkdr__aprintf("grep -rlF -- '%s' '%s' | grep -v '\\.pem$' | grep -q .", needle, g_dir);
	(void)cmd;
	ck_assert_msg(run(keyfiles) != 0, "key material found in a file other than the PEM input");
	q = stkdr__aprintf("SELECT count(*) FROM stkdr_signing_keys t WHERE t::text LIKE '%%%s%%'", needle);
	v = pgt_sql(g_c, q);
	ck_assert_str_eq(v, "0");
	ck_assert_ptr_null(strstr(ctxmsg(), needle));
	stkdr__free(cmd);
	stkdr__free(keyfiles);
	stkdr__free(q);
	stkdr__free(v);
}

START_TEST(import_pem_and_bad_input)
{
	stkdr_keys_import_options io = STKDR_KEYS_IMPORT_OPTIONS_INIT;
	int64_t n = -1;
	char *sec1, *p8, *rsa1, *rsa8, *p384, *rsa1024, *garbage, *trunc, *body, *t;
	listed l;
	SKIP_WITHOUT_PG();
	sec1 = openssl_key("sec1.pem", "openssl ecparam -name prime256v1 -genkey -noout -out %s 2>/dev/null");
	p8 = openssl_key("p8.pem", "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out %s 2>/dev/null");
	rsa1 = openssl_key("rsa1.pem", "openssl genrsa -traditional -out %s 2048 2>/dev/null");
	rsa8 = openssl_key("rsa8.pem", "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out %s 2>/dev/null");
	p384 = openssl_key("p384.pem", "openssl ecparam -name secp384r1 -genkey -noout -out %s 2>/dev/null");
	rsa1024 = openssl_key("rsa1024.pem", "openssl genrsa -out %s 1024 2>/dev/null");
	garbage = path("garbage.pem");
	tu_write_file(garbage, "hello, I am not a key\n", 22);
	trunc = path("trunc.pem");
	t = tu_read_file(p8, NULL);
	tu_write_file(trunc, t, strlen(t) / 2);
	stkdr__free(t);

	/* bad input: precise errors, nothing stored */
	io.key_file = garbage;
	assert_ctx_rc(stkdr_keys_import(&n, g_ctx, "pimp", "prod", &io), STKDR_EINVAL);
	assert_ctxmsg("not a PEM or DER private key");
	io.key_file = trunc;
	assert_ctx_rc(stkdr_keys_import(&n, g_ctx, "pimp", "prod", &io), STKDR_EINVAL);
	assert_ctxmsg("truncated");
	io.key_file = p384;
	assert_ctx_rc(stkdr_keys_import(&n, g_ctx, "pimp", "prod", &io), STKDR_EINVAL);
	assert_ctxmsg("unsupported curve");
	io.key_file = rsa1024;
	assert_ctx_rc(stkdr_keys_import(&n, g_ctx, "pimp", "prod", &io), STKDR_EINVAL);
	assert_ctxmsg("1024 bits is too short");
	io.key_file = "/nonexistent/key.pem";
	assert_ctx_rc(stkdr_keys_import(&n, g_ctx, "pimp", "prod", &io), STKDR_ENOTFOUND);
	ck_assert_int_eq(nkeys("pimp"), 0);

	/* the four encodings */
	io.key_file = sec1;
	assert_ctx_rc(stkdr_keys_import(&n, g_ctx, "pimp", "prod", &io), 0);
	ck_assert_int_eq(n, 1);
	assert_ctx_rc(stkdr_keys_import(&n, g_ctx, "pimp", "prod", &io), 0);
	ck_assert_int_eq(n, 0); /* idempotent */
	io.key_file = p8;
	assert_ctx_rc(stkdr_keys_import(&n, g_ctx, "pimp", "prod", &io), 0);
	ck_assert_int_eq(n, 1);
	io.key_file = rsa1;
	assert_ctx_rc(stkdr_keys_import(&n, g_ctx, "pimp", "prod", &io), 0);
	io.key_file = rsa8;
	assert_ctx_rc(stkdr_keys_import(&n, g_ctx, "pimp", "prod", &io), 0);
	memset(&l, 0, sizeof l);
	assert_ctx_rc(stkdr_keys_list(g_ctx, "pimp", "prod", list_cb, &l), 0);
	ck_assert_int_eq(l.n, 4);
	ck_assert_int_eq(nkeys("pimp"), 4);
	ck_assert_int_eq(l.state[3], STKDR_KEY_ACTIVE); /* the first import, oldest */
	ck_assert_int_eq(l.state[0], STKDR_KEY_VERIFY_ONLY);

	/* the imported key signs; python agrees */
	{
		stkdr_buf jwks = STKDR_BUF_INIT;
		char *tok = sign("pimp", "prod", NULL);
		assert_ctx_rc(stkdr_keys_jwks(&jwks, g_ctx, "pimp", "prod"), 0);
		python_verify(jwks.ptr, tok);
		stkdr_buf_dispose(&jwks);
		stkdr__free(tok);
	}
	/* the key material is nowhere but in the PEM input files */
	assert_ctx_rc(stkdr_keys_backup(NULL, g_ctx, "pimp", "prod"), 0);
	body = pem_body(sec1);
	assert_nowhere(body);
	stkdr__free(body);
	body = pem_body(rsa8);
	assert_nowhere(body);
	stkdr__free(body);

	/* a wrong master key cannot use the stored keys */
	setenv("STKDR_MASTER_KEY", MK2, 1);
	io.key_file = sec1;
	assert_ctx_rc(stkdr_keys_import(&n, g_ctx, "pimp", "prod", &io), STKDR_EAUTH);
	assert_ctxmsg("master key");
	{
		stkdr_buf tok = STKDR_BUF_INIT;
		assert_ctx_rc(stkdr_jwt_sign(&tok, g_ctx, "pimp", "prod", NULL, NULL), STKDR_EAUTH);
	}
	ck_assert_int_eq(nkeys("pimp"), 4);
	stkdr__free(sec1);
	stkdr__free(p8);
	stkdr__free(rsa1);
	stkdr__free(rsa8);
	stkdr__free(p384);
	stkdr__free(rsa1024);
	stkdr__free(garbage);
	stkdr__free(trunc);
}
END_TEST

/* Runbook 3.3: keys backed up, key table lost, previous version imported, old and new tokens verify. */
START_TEST(runbook_3_3_key_loss)
{
	stkdr_keys_import_options io = STKDR_KEYS_IMPORT_OPTIONS_INIT;
	stkdr_buf v1 = STKDR_BUF_INIT, v2 = STKDR_BUF_INIT, v2b = STKDR_BUF_INIT, kid_a = STKDR_BUF_INIT;
	stkdr_buf claims = STKDR_BUF_INIT;
	stkdr_jwt_verifier *v;
	int64_t n = -1;
	char *t1, *t2;
	SKIP_WITHOUT_PG();
	assert_ctx_rc(stkdr_keys_generate(&kid_a, g_ctx, "p33", "prod", NULL), 0);
	t1 = sign("p33", "prod", "{\"sub\":\"before-loss\"}");
	assert_ctx_rc(stkdr_keys_backup(&v1, g_ctx, "p33", "prod"), 0);
	assert_ctx_rc(stkdr_keys_rotate(NULL, g_ctx, "p33", "prod", NULL), 0);
	assert_ctx_rc(stkdr_keys_backup(&v2, g_ctx, "p33", "prod"), 0);
	ck_assert_str_ne(v1.ptr, v2.ptr);
	assert_ctx_rc(stkdr_keys_backup(&v2b, g_ctx, "p33", "prod"), 0); /* unchanged: same version */
	ck_assert_str_eq(v2.ptr, v2b.ptr);

	/* the loss */
	pgt_exec(g_c, "DELETE FROM stkdr_signing_keys WHERE project = 'p33'");
	ck_assert_int_eq(nkeys("p33"), 0);

	/* retrieve the previous version and import it */
	io.source = STKDR_KEYS_IMPORT_BACKUP;
	io.stage = 0x2u; /* STKDR_STAGE_PREVIOUS */
	assert_ctx_rc(stkdr_keys_import(&n, g_ctx, "p33", "prod", &io), 0);
	ck_assert_int_eq(n, 1);
	assert_ctx_rc(stkdr_keys_import(&n, g_ctx, "p33", "prod", &io), 0);
	ck_assert_int_eq(n, 0);
	/* sync (the Bridge's JWKS) and verify the old and a fresh token */
	v = verifier_for("p33", "prod");
	assert_ctx_rc(stkdr_jwt_verify(&claims, g_ctx, v, t1, NULL), 0);
	ck_assert_ptr_nonnull(strstr(claims.ptr, "before-loss"));
	t2 = sign("p33", "prod", "{\"sub\":\"after\"}");
	assert_ctx_rc(stkdr_jwt_verify(NULL, g_ctx, v, t2, NULL), 0);
	stkdr_jwt_verifier_free(v);
	/* the current version brings the rotated key back too, by version id */
	io.backup_version = v2.ptr;
	assert_ctx_rc(stkdr_keys_import(&n, g_ctx, "p33", "prod", &io), 0);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(nkeys("p33"), 2);
	io.backup_version = "v00000000000000000001-0000000000000000";
	assert_ctx_rc(stkdr_keys_import(&n, g_ctx, "p33", "prod", &io), STKDR_ENOTFOUND);

	/* a wrong master key: refused, nothing imported */
	pgt_exec(g_c, "DELETE FROM stkdr_signing_keys WHERE project = 'p33'");
	setenv("STKDR_MASTER_KEY", MK2, 1);
	io.backup_version = NULL;
	io.stage = 0x1u;
	ck_assert_int_ne(stkdr_keys_import(&n, g_ctx, "p33", "prod", &io), 0);
	ck_assert_int_eq(nkeys("p33"), 0);
	stkdr__free(t1);
	stkdr__free(t2);
	stkdr_buf_dispose(&v1);
	stkdr_buf_dispose(&v2);
	stkdr_buf_dispose(&v2b);
	stkdr_buf_dispose(&kid_a);
	stkdr_buf_dispose(&claims);
}
END_TEST

START_TEST(tampered_bundle_and_conflicts)
{
	stkdr_keys_import_options io = STKDR_KEYS_IMPORT_OPTIONS_INIT;
	stkdr_secrets *s = NULL;
	stkdr_buf val = STKDR_BUF_INIT, kid = STKDR_BUF_INIT;
	char *f, *p, *name;
	int64_t n;
	SKIP_WITHOUT_PG();
	assert_ctx_rc(stkdr_keys_generate(&kid, g_ctx, "ptb", "prod", NULL), 0);
	assert_ctx_rc(stkdr_keys_rotate(NULL, g_ctx, "ptb", "prod", NULL), 0);
	assert_ctx_rc(stkdr_keys_backup(NULL, g_ctx, "ptb", "prod"), 0);
	tu_assert_ok(stkdr__ctx_secrets(&s, g_ctx));
	name = stkdr__aprintf("hub-test/signing-keys/ptb/prod");
	tu_assert_ok(s->get(&val, NULL, s, name, NULL, 0x1u));
	ck_assert_ptr_null(strstr(val.ptr, "BEGIN"));
	f = path("bundle.json");
	/* the untouched bundle imports into the empty set (both keys) */
	tu_write_file(f, val.ptr, val.size);
	pgt_exec(g_c, "DELETE FROM stkdr_signing_keys WHERE project = 'ptb'");
	io.key_file = f;
	assert_ctx_rc(stkdr_keys_import(&n, g_ctx, "ptb", "prod", &io), 0);
	ck_assert_int_eq(n, 2);
	/* into another project: refused */
	assert_ctx_rc(stkdr_keys_import(&n, g_ctx, "other", "prod", &io), STKDR_EINVAL);
	assert_ctxmsg("holds the keys of ptb/prod");
	/* tampered: a state changed */
	pgt_exec(g_c, "DELETE FROM stkdr_signing_keys WHERE project = 'ptb'");
	p = strstr(val.ptr, "\"verify-only\"");
	ck_assert_ptr_nonnull(p);
	memcpy(p, "\"retired\"    ", 13);
	tu_write_file(f, val.ptr, val.size);
	assert_ctx_rc(stkdr_keys_import(&n, g_ctx, "ptb", "prod", &io), STKDR_EAUTH);
	assert_ctxmsg("fails its MAC");
	/* truncated */
	tu_write_file(f, val.ptr, val.size / 2);
	assert_ctx_rc(stkdr_keys_import(&n, g_ctx, "ptb", "prod", &io), STKDR_ECORRUPT);
	ck_assert_int_eq(nkeys("ptb"), 0);

	/* same kid, different material (another key sealed under that kid): refused as a whole */
	stkdr_buf_dispose(&val);
	tu_assert_ok(s->get(&val, NULL, s, name, NULL, 0x1u));
	tu_write_file(f, val.ptr, val.size);
	{
		char *der = path("other.der"), *cmd, *aad, *q, *raw;
		stkdr_buf sealed = STKDR_BUF_INIT, b64 = STKDR_BUF_INIT;
		uint8_t mk[32];
		size_t len;
		cmd = stkdr__aprintf("openssl ecparam -name prime256v1 -genkey -noout -outform DER -out %s 2>/dev/null", der);
		ck_assert_int_eq(run(cmd), 0);
		raw = tu_read_file(der, &len);
		tu_assert_ok(stkdr__ctx_master_key(mk, g_ctx));
		aad = stkdr__aprintf("stkdr-signing-key/ptb/prod/%s", kid.ptr);
		tu_assert_ok(stkdr__seal(&sealed, mk, "master", aad, strlen(aad), raw, len));
		tu_assert_ok(stkdr__b64_encode(&b64, sealed.ptr, sealed.size, 1));
		q = stkdr__aprintf("INSERT INTO stkdr_signing_keys VALUES "
				   "('ptb', 'prod', '%s', 'ES256', 'active', now(), NULL, "
				   "'{}', '%s')", kid.ptr, b64.ptr);
		pgt_exec(g_c, q);
		stkdr__free(q);
		stkdr__free(cmd);
		stkdr__free(aad);
		stkdr__free(raw);
		stkdr__free(der);
		stkdr_buf_dispose(&sealed);
		stkdr_buf_dispose(&b64);
	}
	ck_assert_int_eq(nkeys("ptb"), 1);
	assert_ctx_rc(stkdr_keys_import(&n, g_ctx, "ptb", "prod", &io), STKDR_EEXISTS);
	assert_ctxmsg("different material");
	ck_assert_int_eq(nkeys("ptb"), 1);
	/* and the bundle under another master key */
	pgt_exec(g_c, "DELETE FROM stkdr_signing_keys WHERE project = 'ptb'");
	setenv("STKDR_MASTER_KEY", MK2, 1);
	assert_ctx_rc(stkdr_keys_import(&n, g_ctx, "ptb", "prod", &io), STKDR_EAUTH);
	assert_ctxmsg("another master key");
	ck_assert_int_eq(nkeys("ptb"), 0);
	stkdr__free(f);
	stkdr__free(name);
	stkdr_buf_dispose(&val);
	stkdr_buf_dispose(&kid);
}
END_TEST

/* The stk commands of the runbook, as operators' scripts call them. */
START_TEST(stk_commands)
{
	const char *bd = getenv("STKDR_TEST_BUILD_DIR");
	char *cfg, *json, *cmd, *out, *tok, *nl, *pem;
	SKIP_WITHOUT_PG();
	if (!bd)
		return;
	cfg = path("stk.json");
	json = stkdr__aprintf("{\"deployment\":\"hub-test\",\"postgres\":{\"conninfo\":\"%s\"},"
			      "\"objstore\":{\"backend\":\"local\",\"path\":\"%s/repo\"},"
			      "\"secrets\":{\"backend\":\"local\",\"path\":\"%s/secrets\"},"
			      "\"dns\":{\"backend\":\"local\",\"path\":\"%s/dns.json\"}}",
		g_c->conninfo, g_dir, g_dir, g_dir);
	tu_write_file(cfg, json, strlen(json));
	out = path("out.txt");
#define STK(args) stkdr__aprintf("%s/examples/stk --config %s %s >%s 2>&1", bd, cfg, args, out)
	cmd = STK("keys generate --project cli --env prod");
	ck_assert_int_eq(run(cmd), 0);
	stkdr__free(cmd);
	cmd = STK("keys backup --project cli --env prod");
	ck_assert_int_eq(run(cmd), 0);
	stkdr__free(cmd);
	cmd = STK("keys backup --all");
	ck_assert_int_eq(run(cmd), 0);
	stkdr__free(cmd);
	tok = tu_read_file(out, NULL);
	ck_assert_ptr_nonnull(strstr(tok, "cli/prod v"));
	stkdr__free(tok);
	cmd = STK("keys backup --all --project cli");
	ck_assert_int_eq(run(cmd), 2);
	stkdr__free(cmd);
	cmd = STK("auth create-token --user-id alice --project cli --env prod --ttl 15m");
	ck_assert_int_eq(run(cmd), 0);
	stkdr__free(cmd);
	tok = tu_read_file(out, NULL);
	nl = strchr(tok, '\n');
	ck_assert_ptr_nonnull(nl);
	ck_assert_str_eq(nl + 1, ""); /* the token alone */
	*nl = '\0';
	cmd = stkdr__aprintf("%s/examples/stk --config %s auth verify-token %s --project cli --env prod >%s 2>&1", bd, cfg,
		tok, out);
	ck_assert_int_eq(run(cmd), 0);
	stkdr__free(cmd);
	stkdr__free(tok);
	tok = tu_read_file(out, NULL);
	ck_assert_ptr_nonnull(strstr(tok, "alice"));
	stkdr__free(tok);
	cmd = STK("auth verify-token a.b.c --project cli --env prod");
	ck_assert_int_eq(run(cmd), 1);
	stkdr__free(cmd);
	pgt_exec(g_c, "DELETE FROM stkdr_signing_keys WHERE project = 'cli'");
	cmd = STK("keys import --project cli --env prod --from-backup --stage previous");
	ck_assert_int_eq(run(cmd), 4); /* one backup only: no previous version */
	stkdr__free(cmd);
	cmd = STK("keys import --project cli --env prod --from-backup");
	ck_assert_int_eq(run(cmd), 0);
	stkdr__free(cmd);
	cmd = STK("keys import --project cli --env prod");
	ck_assert_int_eq(run(cmd), 2);
	stkdr__free(cmd);
	pem = path("g.pem");
	tu_write_file(pem, "garbage", 7);
	cmd = stkdr__aprintf("%s/examples/stk --config %s keys import --project cli --env prod --key-file %s >%s 2>&1", bd,
		cfg, pem, out);
	ck_assert_int_eq(run(cmd), 1);
	stkdr__free(cmd);
	cmd = STK("--json keys list --project cli --env prod");
	ck_assert_int_eq(run(cmd), 0);
	stkdr__free(cmd);
	tok = tu_read_file(out, NULL);
	ck_assert_ptr_nonnull(strstr(tok, "\"state\":\t\"active\""));
	stkdr__free(tok);
#undef STK
	stkdr__free(pem);
	stkdr__free(out);
	stkdr__free(json);
	stkdr__free(cfg);
}
END_TEST

/* The secrets backend of a configuration file (as keys.backup_replica opens it), for content checks. */
static char *secret_value(const char *cfg_path, const char *name)
{
	stkdr_ctx_options o = STKDR_CTX_OPTIONS_INIT;
	stkdr_ctx *c = NULL;
	stkdr_secrets *s;
	stkdr_buf val = STKDR_BUF_INIT;
	o.config_path = cfg_path;
	o.flags = STKDR_CTX_NO_ENV | STKDR_CTX_NO_DEFAULT_FILE;
	ck_assert_int_eq(stkdr_ctx_new(&c, &o), 0);
	ck_assert_int_eq(stkdr__ctx_secrets(&s, c), 0);
	ck_assert_msg(s->get(&val, NULL, s, name, NULL, 0x1u) == 0, "secret %s: %s", name, stkdr_error_last()->message);
	stkdr_ctx_free(c);
	return stkdr__buf_detach(&val);
}

static char *write_cfg(const char *file, const char *secrets_path)
{
	char *f = path(file);
	char *json = stkdr__aprintf("{\"deployment\":\"replica-region\",\"secrets\":{\"backend\":\"local\",\"path\":\"%s\"}}",
		secrets_path);
	tu_write_file(f, json, strlen(json));
	stkdr__free(json);
	return f;
}

/* Runbook 2.3 "replicated to a second region": keys.backup_replica, two local secrets directories. */
START_TEST(backup_replica)
{
	const char *bd = getenv("STKDR_TEST_BUILD_DIR");
	stkdr_keys_import_options io = STKDR_KEYS_IMPORT_OPTIONS_INIT;
	stkdr_buf v = STKDR_BUF_INIT, v2 = STKDR_BUF_INIT;
	char *rdir = path("secrets-replica"), *rcfg = write_cfg("replica.json", rdir), *pcfg, *a, *b, *cmd, *out, *txt;
	char *blocker = path("blocker"), *badpath = stkdr__aprintf("%s/sub", blocker), *badcfg;
	char *pdir = path("secrets");
	stkdr_ctx *c2;
	int64_t n = -1;
	int rc;
	SKIP_WITHOUT_PG();
	tu_write_file(blocker, "x", 1); /* a file: nothing can be created under it */
	badcfg = write_cfg("replica-bad.json", badpath);
	pcfg = write_cfg("primary.json", pdir);
	assert_ctx_rc(stkdr_keys_generate(NULL, g_ctx, "prep", "prod", NULL), 0);

	/* both targets get the same bundle */
	assert_ctx_rc(stkdr_ctx_set_str(g_ctx, "keys.backup_replica", rcfg), 0);
	assert_ctx_rc(stkdr_keys_backup(&v, g_ctx, "prep", "prod"), 0);
	ck_assert_ptr_nonnull(v.ptr);
	a = secret_value(pcfg, "hub-test/signing-keys/prep/prod");
	b = secret_value(rcfg, "hub-test/signing-keys/prep/prod");
	ck_assert_str_eq(a, b);
	ck_assert_ptr_nonnull(strstr(a, "stkdr-signing-keys"));
	stkdr__free(a);
	stkdr__free(b);
	/* again, unchanged: idempotent on both */
	assert_ctx_rc(stkdr_keys_backup(&v2, g_ctx, "prep", "prod"), 0);
	ck_assert_str_eq(v.ptr, v2.ptr);

	/* the primary region is down: its secrets are gone; the replica still imports */
	pgt_exec(g_c, "DELETE FROM stkdr_signing_keys WHERE project = 'prep'");
	tu_rmtree_free(stkdr__strdup(pdir));
	io.source = STKDR_KEYS_IMPORT_BACKUP;
	assert_ctx_rc(stkdr_keys_import(&n, g_ctx, "prep", "prod", &io), STKDR_ENOTFOUND);
	ck_assert_int_eq(nkeys("prep"), 0);
	io.replica = 1;
	assert_ctx_rc(stkdr_keys_import(&n, g_ctx, "prep", "prod", &io), 0);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(nkeys("prep"), 1);
	io.source = STKDR_KEYS_IMPORT_FILE; /* --replica goes with --from-backup */
	io.key_file = rcfg;
	assert_ctx_rc(stkdr_keys_import(&n, g_ctx, "prep", "prod", &io), STKDR_EINVAL);
	io.key_file = NULL;
	io.source = STKDR_KEYS_IMPORT_BACKUP;

	/* the replica fails: the primary's version stands, the error says the replica failed */
	assert_ctx_rc(stkdr_keys_rotate(NULL, g_ctx, "prep", "prod", NULL), 0);
	assert_ctx_rc(stkdr_ctx_set_str(g_ctx, "keys.backup_replica", badcfg), 0);
	rc = stkdr_keys_backup(&v2, g_ctx, "prep", "prod");
	ck_assert_int_ne(rc, 0);
	assert_ctxmsg("NOT to the replica");
	assert_ctxmsg(badcfg);
	ck_assert_ptr_nonnull(v2.ptr);
	ck_assert_str_ne(v.ptr, v2.ptr);
	assert_ctxmsg(v2.ptr);
	pgt_exec(g_c, "DELETE FROM stkdr_signing_keys WHERE project = 'prep'");
	io.replica = 0; /* the primary has the new version: both keys */
	assert_ctx_rc(stkdr_keys_import(&n, g_ctx, "prep", "prod", &io), 0);
	ck_assert_int_eq(n, 2);
	/* the replica that failed still has the older version (one key) */
	pgt_exec(g_c, "DELETE FROM stkdr_signing_keys WHERE project = 'prep'");
	assert_ctx_rc(stkdr_ctx_set_str(g_ctx, "keys.backup_replica", rcfg), 0);
	io.replica = 1;
	assert_ctx_rc(stkdr_keys_import(&n, g_ctx, "prep", "prod", &io), 0);
	ck_assert_int_eq(n, 1);
	/* a replica configuration that does not exist, or names the primary's directory: refused, precisely */
	assert_ctx_rc(stkdr_ctx_set_str(g_ctx, "keys.backup_replica", "/nonexistent/replica.json"), 0);
	ck_assert_int_ne(stkdr_keys_backup(NULL, g_ctx, "prep", "prod"), 0);
	assert_ctxmsg("/nonexistent/replica.json");
	assert_ctxmsg("NOT to the replica");
	ck_assert_int_ne(stkdr_keys_import(&n, g_ctx, "prep", "prod", &io), 0);
	assert_ctx_rc(stkdr_ctx_set_str(g_ctx, "keys.backup_replica", pcfg), 0);
	assert_ctx_rc(stkdr_keys_backup(NULL, g_ctx, "prep", "prod"), STKDR_EINVAL);
	assert_ctxmsg("is the primary's");

	/* the primary fails, the replica works: the primary's error, saying the replica has it */
	a = stkdr__aprintf("{\"deployment\":\"hub-test\",\"postgres\":{\"conninfo\":\"%s\"},"
			   "\"secrets\":{\"backend\":\"local\",\"path\":\"%s\"},\"keys\":{\"backup_replica\":\"%s\"}}",
		g_c->conninfo, badpath, rcfg);
	c2 = tu_ctx_json(a);
	stkdr__free(a);
	rc = stkdr_keys_backup(&v2, c2, "prep", "prod");
	ck_assert_int_ne(rc, 0);
	ck_assert_msg(strstr(stkdr_ctx_last_error(c2)->message, "the replica (keys.backup_replica") != NULL, "%s",
		stkdr_ctx_last_error(c2)->message);
	ck_assert_msg(v2.ptr == NULL || !*v2.ptr, "no primary version when the primary failed");
	stkdr_ctx_free(c2);

	/* stk: the version is printed and the exit status is non-zero when the replica fails */
	if (bd) {
		char *cfg = path("stk-replica.json");
		char *json = stkdr__aprintf("{\"deployment\":\"hub-test\",\"postgres\":{\"conninfo\":\"%s\"},"
					    "\"secrets\":{\"backend\":\"local\",\"path\":\"%s\"},\"keys\":{\"backup_replica\":\"%s\"}}",
			g_c->conninfo, pdir, badcfg);
		out = path("out.txt");
		tu_write_file(cfg, json, strlen(json));
		assert_ctx_rc(stkdr_keys_rotate(NULL, g_ctx, "prep", "prod", NULL), 0);
		cmd = stkdr__aprintf("%s/examples/stk --config %s keys backup --project prep --env prod >%s 2>%s.err", bd, cfg,
			out, out);
		ck_assert_int_ne(run(cmd), 0);
		stkdr__free(cmd);
		txt = tu_read_file(out, NULL);
		ck_assert_msg(txt && txt[0] == 'v', "stdout: the primary's version, got \"%s\"", txt ? txt : "");
		stkdr__free(txt);
		a = stkdr__aprintf("%s.err", out);
		txt = tu_read_file(a, NULL);
		ck_assert_msg(txt && strstr(txt, "NOT to the replica"), "stderr: %s", txt ? txt : "");
		stkdr__free(txt);
		stkdr__free(a);
		stkdr__free(json);
		json = stkdr__aprintf("{\"deployment\":\"hub-test\",\"postgres\":{\"conninfo\":\"%s\"},"
				      "\"secrets\":{\"backend\":\"local\",\"path\":\"%s\"},\"keys\":{\"backup_replica\":\"%s\"}}",
			g_c->conninfo, badpath, rcfg);
		tu_write_file(cfg, json, strlen(json));
		pgt_exec(g_c, "DELETE FROM stkdr_signing_keys WHERE project = 'prep'");
		cmd = stkdr__aprintf("%s/examples/stk --config %s keys import --project prep --env prod --from-backup --replica "
				     ">%s 2>&1", bd, cfg, out);
		ck_assert_int_eq(run(cmd), 0);
		stkdr__free(cmd);
		ck_assert_int_eq(nkeys("prep"), 1);
		cmd = stkdr__aprintf("%s/examples/stk --config %s keys import --project prep --env prod --key-file %s --replica "
				     ">%s 2>&1", bd, cfg, rcfg, out);
		ck_assert_int_eq(run(cmd), 2);
		stkdr__free(cmd);
		stkdr__free(json);
		stkdr__free(cfg);
		stkdr__free(out);
	}
	stkdr_buf_dispose(&v);
	stkdr_buf_dispose(&v2);
	stkdr__free(rdir);
	stkdr__free(rcfg);
	stkdr__free(pcfg);
	stkdr__free(badcfg);
	stkdr__free(badpath);
	stkdr__free(blocker);
	stkdr__free(pdir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("keys");
	TCase *tc = tcase_create("keys");
	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, cluster_setup, cluster_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, generate_list_rotate_jwks);
	tcase_add_test(tc, sign_verify_es256);
	tcase_add_test(tc, sign_verify_rs256);
	tcase_add_test(tc, es256_openssl_cli);
	tcase_add_test(tc, bad_tokens);
	tcase_add_test(tc, tampered_jwks);
	tcase_add_test(tc, import_pem_and_bad_input);
	tcase_add_test(tc, runbook_3_3_key_loss);
	tcase_add_test(tc, tampered_bundle_and_conflicts);
	tcase_add_test(tc, stk_commands);
	tcase_add_test(tc, backup_replica);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
