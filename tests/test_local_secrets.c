/* The local secrets backend: versions, stages, sealing, idempotency, on-disk hygiene. */
#include "testutil.h"

#include "backends/local/local.h"
#include "core/crypto.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *dir;
static stkdr_secrets *sec;
static uint8_t key1[32];
static uint8_t key2[32];

static void setup(void)
{
	for (int i = 0; i < 32; i++) {
		key1[i] = (uint8_t)i;
		key2[i] = (uint8_t)(0xA0 + i);
	}
	dir = tu_mkdtemp("secrets");
	tu_assert_ok(stkdr__local_secrets_new(&sec, dir, key1));
}

static void teardown(void)
{
	if (sec)
		sec->base.free(&sec->base);
	sec = NULL;
	tu_rmtree_free(dir);
	dir = NULL;
}

static int put(const char *name, const char *value, const char *token, stkdr_buf *vid)
{
	return sec->put(vid, sec, name, (const uint8_t *)value, value ? strlen(value) : 0, token);
}

static void assert_get(const char *name, const char *vid, uint32_t stage, const char *want, const char *want_vid)
{
	stkdr_buf v = STKDR_BUF_INIT, id = STKDR_BUF_INIT;
	tu_assert_ok(sec->get(&v, &id, sec, name, vid, stage));
	ck_assert_uint_eq(v.size, strlen(want));
	ck_assert_mem_eq(v.ptr, want, v.size);
	if (want_vid)
		ck_assert_str_eq(id.ptr, want_vid);
	stkdr_buf_dispose(&v);
	stkdr_buf_dispose(&id);
}

typedef struct versions {
	char ids[32][64];
	uint32_t stages[32];
	int64_t created[32];
	int n;
	int stop_at;
} versions;

static int versions_cb(const stkdr_secret_version *v, void *payload)
{
	versions *vs = payload;
	ck_assert_uint_eq(v->version, STKDR_SECRET_VERSION_VERSION);
	ck_assert_int_lt(vs->n, 32);
	snprintf(vs->ids[vs->n], sizeof vs->ids[0], "%s", v->version_id);
	vs->stages[vs->n] = v->stages;
	vs->created[vs->n] = v->created_ms;
	vs->n++;
	return vs->stop_at && vs->n >= vs->stop_at ? -9 : 0;
}

static int list_versions(versions *vs, const char *name)
{
	memset(vs, 0, sizeof *vs);
	return sec->list_versions(sec, name, versions_cb, vs);
}

/* The path of a version file. */
static char *version_path(const char *escaped, const char *vid)
{
	return stkdr__aprintf("%s/%s/%s.sec", dir, escaped, vid);
}

static void key_id_of(char out[20], const uint8_t key[32])
{
	static const char label[] = "stkdr local secrets key id";
	uint8_t mac[32];
	stkdr__hmac_sha256(key, 32, label, sizeof label - 1, mac);
	memcpy(out, "mk-", 3);
	stkdr__hex_encode(out + 3, mac, 8);
}

/* Writes a version file sealed like the backend does, with a chosen payload. */
static void craft_version(const char *name, const char *escaped, const char *vid, const void *payload, size_t len)
{
	char kid[20];
	key_id_of(kid, key1);
	size_t nl = strlen(name), vl = strlen(vid);
	char aad[256];
	memcpy(aad, name, nl);
	aad[nl] = '\0';
	memcpy(aad + nl + 1, vid, vl);
	stkdr_buf sealed = STKDR_BUF_INIT;
	tu_assert_ok(stkdr__seal(&sealed, key1, kid, aad, nl + 1 + vl, payload, len));
	char *p = version_path(escaped, vid);
	tu_write_file(p, sealed.ptr, sealed.size);
	stkdr__free(p);
	stkdr_buf_dispose(&sealed);
}

/* ---- versions and stages ---- */

START_TEST(test_versions_and_stages)
{
	stkdr_buf v1 = STKDR_BUF_INIT, v2 = STKDR_BUF_INIT, v3 = STKDR_BUF_INIT;
	versions vs;

	tu_assert_ok(put("db/password", "one", NULL, &v1));
	ck_assert_uint_eq(v1.size, 38);
	ck_assert_int_eq(v1.ptr[0], 'v');
	assert_get("db/password", NULL, STKDR_STAGE_CURRENT, "one", v1.ptr);
	stkdr_buf out = STKDR_BUF_INIT;
	tu_assert_rc(sec->get(&out, NULL, sec, "db/password", NULL, STKDR_STAGE_PREVIOUS), STKDR_ENOTFOUND);
	tu_assert_errmsg("db/password");
	tu_assert_errmsg("only one version");
	tu_assert_ok(list_versions(&vs, "db/password"));
	ck_assert_int_eq(vs.n, 1);
	ck_assert_uint_eq(vs.stages[0], STKDR_STAGE_CURRENT);

	tu_assert_ok(put("db/password", "two", NULL, &v2));
	ck_assert_int_lt(strcmp(v1.ptr, v2.ptr), 0);
	assert_get("db/password", NULL, STKDR_STAGE_CURRENT, "two", v2.ptr);
	assert_get("db/password", NULL, STKDR_STAGE_PREVIOUS, "one", v1.ptr);
	tu_assert_ok(list_versions(&vs, "db/password"));
	ck_assert_int_eq(vs.n, 2);
	ck_assert_str_eq(vs.ids[0], v2.ptr);
	ck_assert_uint_eq(vs.stages[0], STKDR_STAGE_CURRENT);
	ck_assert_uint_eq(vs.stages[1], STKDR_STAGE_PREVIOUS);

	tu_assert_ok(put("db/password", "three", NULL, &v3));
	assert_get("db/password", NULL, STKDR_STAGE_CURRENT, "three", v3.ptr);
	assert_get("db/password", NULL, STKDR_STAGE_PREVIOUS, "two", v2.ptr);
	assert_get("db/password", v1.ptr, 0, "one", v1.ptr);
	assert_get("db/password", v3.ptr, STKDR_STAGE_PREVIOUS, "three", v3.ptr); /* the id wins */
	tu_assert_ok(list_versions(&vs, "db/password"));
	ck_assert_int_eq(vs.n, 3);
	ck_assert_str_eq(vs.ids[0], v3.ptr);
	ck_assert_str_eq(vs.ids[1], v2.ptr);
	ck_assert_str_eq(vs.ids[2], v1.ptr);
	ck_assert_uint_eq(vs.stages[0], STKDR_STAGE_CURRENT);
	ck_assert_uint_eq(vs.stages[1], STKDR_STAGE_PREVIOUS);
	ck_assert_uint_eq(vs.stages[2], 0);
	int64_t now = (int64_t)time(NULL) * 1000;
	for (int i = 0; i < 3; i++)
		ck_assert(vs.created[i] > now - 60000 && vs.created[i] <= now + 1000);

	/* Versions are never rewritten: the first file is unchanged. */
	char *p = version_path("db%2Fpassword", v1.ptr);
	struct stat st;
	ck_assert_int_eq(stat(p, &st), 0);
	stkdr__free(p);

	/* version_id_out may be NULL. */
	tu_assert_ok(put("db/password", "four", NULL, NULL));
	assert_get("db/password", NULL, STKDR_STAGE_PREVIOUS, "three", v3.ptr);
	tu_assert_ok(sec->get(&out, NULL, sec, "db/password", NULL, STKDR_STAGE_CURRENT));
	ck_assert_str_eq(out.ptr, "four");
	stkdr_buf_dispose(&out);
	stkdr_buf_dispose(&v1);
	stkdr_buf_dispose(&v2);
	stkdr_buf_dispose(&v3);
}
END_TEST

START_TEST(test_binary_and_empty_values)
{
	const uint8_t bin[] = { 0, 1, 2, 0, 255, 0 };
	stkdr_buf id = STKDR_BUF_INIT, out = STKDR_BUF_INIT;
	tu_assert_ok(sec->put(&id, sec, "bin", bin, sizeof bin, NULL));
	tu_assert_ok(sec->get(&out, NULL, sec, "bin", NULL, STKDR_STAGE_CURRENT));
	ck_assert_uint_eq(out.size, sizeof bin);
	ck_assert_mem_eq(out.ptr, bin, sizeof bin);
	tu_assert_ok(sec->put(NULL, sec, "empty", NULL, 0, NULL));
	tu_assert_ok(sec->get(&out, NULL, sec, "empty", NULL, STKDR_STAGE_CURRENT));
	ck_assert_uint_eq(out.size, 0);
	stkdr_buf_dispose(&out);
	stkdr_buf_dispose(&id);
}
END_TEST

START_TEST(test_list_stop_and_errors)
{
	for (int i = 0; i < 4; i++)
		tu_assert_ok(put("s", "v", NULL, NULL));
	versions vs;
	memset(&vs, 0, sizeof vs);
	vs.stop_at = 2;
	stkdr_error_clear();
	tu_assert_rc(sec->list_versions(sec, "s", versions_cb, &vs), -9);
	ck_assert_int_eq(vs.n, 2);
	tu_assert_errmsg("stopped by the callback");
	tu_assert_rc(sec->list_versions(sec, "s", NULL, NULL), STKDR_EINVAL);
	tu_assert_rc(list_versions(&vs, "nope"), STKDR_ENOTFOUND);
	tu_assert_errmsg("secret nope not found");
	tu_assert_rc(list_versions(&vs, "bad name"), STKDR_EINVAL);
}
END_TEST

/* ---- keys and tampering ---- */

START_TEST(test_wrong_master_key)
{
	stkdr_buf vid = STKDR_BUF_INIT;
	tu_assert_ok(put("jwt/signing", "private key material", NULL, &vid));
	stkdr_secrets *other = NULL;
	tu_assert_ok(stkdr__local_secrets_new(&other, dir, key2));
	stkdr_buf out = STKDR_BUF_INIT;
	tu_assert_rc(other->get(&out, NULL, other, "jwt/signing", NULL, STKDR_STAGE_CURRENT), STKDR_EAUTH);
	char want[256];
	snprintf(want, sizeof want,
		"secret jwt/signing version %s cannot be decrypted: wrong master key (STKDR_MASTER_KEY)", vid.ptr);
	tu_assert_errmsg(want);
	ck_assert_ptr_null(strstr(stkdr__err_get()->message, "private key material"));
	ck_assert_uint_eq(out.size, 0);
	/* A token lookup skips versions of another key; the other key can add versions. */
	tu_assert_ok(other->put(NULL, other, "jwt/signing", (const uint8_t *)"x", 1, "tok"));
	other->base.free(&other->base);
	/* ...which this key in turn cannot read as CURRENT, but PREVIOUS is its own. */
	tu_assert_rc(sec->get(&out, NULL, sec, "jwt/signing", NULL, STKDR_STAGE_CURRENT), STKDR_EAUTH);
	assert_get("jwt/signing", NULL, STKDR_STAGE_PREVIOUS, "private key material", vid.ptr);
	tu_assert_ok(put("jwt/signing", "y", "tok", NULL)); /* same token, other key's version not considered */
	stkdr_buf_dispose(&vid);
}
END_TEST

START_TEST(test_tampered_file)
{
	stkdr_buf vid = STKDR_BUF_INIT;
	tu_assert_ok(put("api/token", "0123456789abcdef", NULL, &vid));
	char *p = version_path("api%2Ftoken", vid.ptr);
	size_t len = 0;
	char *raw = tu_read_file(p, &len);
	ck_assert_ptr_nonnull(raw);
	raw[len - 20] ^= 0x40; /* in the ciphertext */
	tu_write_file(p, raw, len);
	stkdr_buf out = STKDR_BUF_INIT;
	tu_assert_rc(sec->get(&out, NULL, sec, "api/token", NULL, STKDR_STAGE_CURRENT), STKDR_ECORRUPT);
	tu_assert_errmsg("secret api/token version");
	tu_assert_errmsg("tampered");
	/* Bad framing. */
	tu_write_file(p, "STKE", 4);
	tu_assert_rc(sec->get(&out, NULL, sec, "api/token", NULL, STKDR_STAGE_CURRENT), STKDR_ECORRUPT);
	tu_assert_errmsg("not a sealed secret");
	/* A tampered key id reads as another key. */
	raw[len - 20] ^= 0x40;
	raw[7] ^= 0x01;
	tu_write_file(p, raw, len);
	tu_assert_rc(sec->get(&out, NULL, sec, "api/token", NULL, STKDR_STAGE_CURRENT), STKDR_EAUTH);
	/* A token lookup meets the damage and reports it. */
	raw[7] ^= 0x01;
	raw[len - 1] ^= 0x01;
	tu_write_file(p, raw, len);
	tu_assert_rc(put("api/token", "new", "tok", NULL), STKDR_ECORRUPT);
	/* Too large to be a version. */
	size_t big_len = (size_t)65 * 1024 * 1024;
	char *big = stkdr__malloc(big_len);
	memset(big, 'x', big_len);
	tu_write_file(p, big, big_len);
	stkdr__free(big);
	tu_assert_rc(sec->get(&out, NULL, sec, "api/token", NULL, STKDR_STAGE_CURRENT), STKDR_ECORRUPT);
	tu_assert_errmsg("larger than");
	stkdr__free(raw);
	stkdr__free(p);
	stkdr_buf_dispose(&vid);
}
END_TEST

START_TEST(test_version_file_moved)
{
	/* A version file copied under a newer id (a rollback attempt) fails authentication. */
	stkdr_buf vid = STKDR_BUF_INIT;
	tu_assert_ok(put("db/pw", "old", NULL, &vid));
	char *p = version_path("db%2Fpw", vid.ptr);
	size_t len = 0;
	char *raw = tu_read_file(p, &len);
	char *q = version_path("db%2Fpw", "v99999999999999999999-0000000000000000");
	tu_write_file(q, raw, len);
	stkdr_buf out = STKDR_BUF_INIT;
	tu_assert_rc(sec->get(&out, NULL, sec, "db/pw", NULL, STKDR_STAGE_CURRENT), STKDR_ECORRUPT);
	/* And under another secret's name. */
	tu_assert_ok(put("other", "x", NULL, NULL));
	char *r = version_path("other", "v00000000000000000009-0000000000000000");
	tu_write_file(r, raw, len);
	tu_assert_rc(sec->get(&out, NULL, sec, "other", NULL, STKDR_STAGE_CURRENT), STKDR_ECORRUPT);
	stkdr__free(r);
	stkdr__free(q);
	stkdr__free(raw);
	stkdr__free(p);
	stkdr_buf_dispose(&vid);
}
END_TEST

START_TEST(test_payload_format)
{
	tu_assert_ok(put("f", "base", NULL, NULL));
	uint8_t payload[40] = { 2, 0 };
	craft_version("f", "f", "v00000000000000000005-00000000000000aa", payload, sizeof payload);
	stkdr_buf out = STKDR_BUF_INIT;
	tu_assert_rc(sec->get(&out, NULL, sec, "f", NULL, STKDR_STAGE_CURRENT), STKDR_EVERSION);
	tu_assert_errmsg("upgrade libstkdr");
	payload[0] = 1;
	craft_version("f", "f", "v00000000000000000006-00000000000000aa", payload, 10);
	tu_assert_rc(sec->get(&out, NULL, sec, "f", NULL, STKDR_STAGE_CURRENT), STKDR_ECORRUPT);
	craft_version("f", "f", "v00000000000000000007-00000000000000aa", payload, sizeof payload);
	tu_assert_ok(sec->get(&out, NULL, sec, "f", NULL, STKDR_STAGE_CURRENT));
	ck_assert_uint_eq(out.size, sizeof payload - 34);
	/* The next put continues the sequence. */
	stkdr_buf vid = STKDR_BUF_INIT;
	tu_assert_ok(put("f", "next", NULL, &vid));
	ck_assert(strncmp(vid.ptr, "v00000000000000000008-", 22) == 0);
	stkdr_buf_dispose(&vid);
	stkdr_buf_dispose(&out);
}
END_TEST

/* ---- idempotency ---- */

START_TEST(test_client_token)
{
	stkdr_buf a = STKDR_BUF_INIT, b = STKDR_BUF_INIT, c = STKDR_BUF_INIT;
	tu_assert_ok(put("rotating", "value-A", "token-1", &a));
	tu_assert_ok(put("rotating", "value-A", "token-1", &b));
	ck_assert_str_eq(a.ptr, b.ptr);
	versions vs;
	tu_assert_ok(list_versions(&vs, "rotating"));
	ck_assert_int_eq(vs.n, 1);
	tu_assert_rc(put("rotating", "value-B", "token-1", NULL), STKDR_EEXISTS);
	tu_assert_errmsg(a.ptr);
	ck_assert_ptr_null(strstr(stkdr__err_get()->message, "value-B"));
	tu_assert_rc(put("rotating", "value-A-longer", "token-1", NULL), STKDR_EEXISTS);
	tu_assert_ok(put("rotating", "value-B", "token-2", &c));
	ck_assert_str_ne(c.ptr, a.ptr);
	tu_assert_ok(put("rotating", "value-C", NULL, NULL));
	/* The token still finds its (now older) version. */
	tu_assert_ok(put("rotating", "value-A", "token-1", &b));
	ck_assert_str_eq(a.ptr, b.ptr);
	tu_assert_ok(put("rotating", "value-A", "token-1", NULL));
	tu_assert_ok(list_versions(&vs, "rotating"));
	ck_assert_int_eq(vs.n, 3);
	/* Empty value with a token. */
	tu_assert_ok(sec->put(NULL, sec, "e", NULL, 0, "t"));
	tu_assert_ok(sec->put(NULL, sec, "e", NULL, 0, "t"));
	tu_assert_ok(list_versions(&vs, "e"));
	ck_assert_int_eq(vs.n, 1);
	tu_assert_rc(put("rotating", "v", "", NULL), STKDR_EINVAL);
	char longtok[600];
	memset(longtok, 't', sizeof longtok - 1);
	longtok[sizeof longtok - 1] = '\0';
	tu_assert_rc(put("rotating", "v", longtok, NULL), STKDR_EINVAL);
	stkdr_buf_dispose(&a);
	stkdr_buf_dispose(&b);
	stkdr_buf_dispose(&c);
}
END_TEST

/* ---- disk hygiene ---- */

static const char *g_needle;
static int g_found;

static int grep_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag != FTW_F)
		return 0;
	size_t len = 0;
	char *data = tu_read_file(p, &len);
	if (data && memmem(data, len, g_needle, strlen(g_needle)))
		g_found++;
	stkdr__free(data);
	return 0;
}

START_TEST(test_plaintext_absent_and_modes)
{
	const char *value = "SUPER-SECRET-PLAINTEXT-0xC0FFEE";
	tu_assert_ok(put("prod/hub/db", value, "tok", NULL));
	tu_assert_ok(put("prod/hub/db", value, NULL, NULL));
	g_needle = value;
	g_found = 0;
	nftw(dir, grep_cb, 16, FTW_PHYS);
	ck_assert_int_eq(g_found, 0);
	g_needle = "SUPER-SECRET";
	nftw(dir, grep_cb, 16, FTW_PHYS);
	ck_assert_int_eq(g_found, 0);

	struct stat st;
	ck_assert_int_eq(stat(dir, &st), 0);
	char *sdir = tu_path(dir, "prod%2Fhub%2Fdb");
	ck_assert_int_eq(stat(sdir, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0700);
	DIR *d = opendir(sdir);
	ck_assert_ptr_nonnull(d);
	struct dirent *de;
	int files = 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char *p = tu_path(sdir, de->d_name);
		ck_assert_int_eq(stat(p, &st), 0);
		ck_assert_int_eq(st.st_mode & 07777, 0600);
		ck_assert(strstr(de->d_name, ".sec") != NULL);
		stkdr__free(p);
		files++;
	}
	closedir(d);
	ck_assert_int_eq(files, 2);
	stkdr__free(sdir);
}
END_TEST

START_TEST(test_top_dir_mode)
{
	char *fresh = tu_path(dir, "new/secrets");
	stkdr_secrets *s2 = NULL;
	tu_assert_ok(stkdr__local_secrets_new(&s2, fresh, key1));
	struct stat st;
	ck_assert_int_eq(stat(fresh, &st), 0);
	ck_assert_int_eq(st.st_mode & 0077, 0);
	ck_assert_str_eq(s2->base.name, "local");
	ck_assert_int_eq(s2->base.kind, STKDR_BACKEND_SECRETS);
	tu_assert_ok(s2->base.ctl(&s2->base, STKDR_CTL_ATTACH, NULL));
	tu_assert_rc(s2->base.ctl(&s2->base, 77, NULL), STKDR_ENOTSUPPORTED);
	s2->base.free(&s2->base);
	sec->base.free(NULL);
	stkdr__free(fresh);
}
END_TEST

/* ---- names and arguments ---- */

static const char *const bad_names[] = { "", "a b", "a%b", "tab\t", "ünïcode", "a*b", "a\\b", "x#" };

START_TEST(test_invalid_names)
{
	const char *n = bad_names[_i];
	stkdr_buf out = STKDR_BUF_INIT;
	versions vs;
	tu_assert_rc(put(n, "v", NULL, NULL), STKDR_EINVAL);
	tu_assert_rc(sec->get(&out, NULL, sec, n, NULL, STKDR_STAGE_CURRENT), STKDR_EINVAL);
	tu_assert_rc(list_versions(&vs, n), STKDR_EINVAL);
}
END_TEST

START_TEST(test_names_escaping)
{
	tu_assert_ok(put("a/b", "slash", NULL, NULL));
	tu_assert_rc(put("a%2Fb", "lookalike", NULL, NULL), STKDR_EINVAL);
	tu_assert_ok(put(".", "dot", NULL, NULL));
	tu_assert_ok(put("..", "dotdot", NULL, NULL));
	tu_assert_ok(put(".hidden", "h", NULL, NULL));
	tu_assert_ok(put("A-z_0+9=.@x", "all", NULL, NULL));
	assert_get("a/b", NULL, STKDR_STAGE_CURRENT, "slash", NULL);
	assert_get(".", NULL, STKDR_STAGE_CURRENT, "dot", NULL);
	assert_get("..", NULL, STKDR_STAGE_CURRENT, "dotdot", NULL);
	assert_get(".hidden", NULL, STKDR_STAGE_CURRENT, "h", NULL);
	assert_get("A-z_0+9=.@x", NULL, STKDR_STAGE_CURRENT, "all", NULL);
	char *p = tu_path(dir, "a%2Fb");
	ck_assert_int_eq(access(p, F_OK), 0);
	stkdr__free(p);
	p = tu_path(dir, "%2E.");
	ck_assert_int_eq(access(p, F_OK), 0);
	stkdr__free(p);

	char longname[600];
	memset(longname, 'n', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	tu_assert_rc(put(longname, "v", NULL, NULL), STKDR_EINVAL);
	longname[250] = '\0';
	tu_assert_rc(put(longname, "v", NULL, NULL), STKDR_EINVAL);
	tu_assert_errmsg("too long");
	longname[200] = '\0';
	tu_assert_ok(put(longname, "v", NULL, NULL));
	tu_assert_rc(put(NULL, "v", NULL, NULL), STKDR_EINVAL);
}
END_TEST

START_TEST(test_get_arguments)
{
	stkdr_buf vid = STKDR_BUF_INIT, out = STKDR_BUF_INIT;
	tu_assert_ok(put("g", "v", NULL, &vid));
	tu_assert_rc(sec->get(NULL, NULL, sec, "g", NULL, STKDR_STAGE_CURRENT), STKDR_EINVAL);
	tu_assert_rc(sec->get(&out, NULL, sec, "g", NULL, 0), STKDR_EINVAL);
	tu_assert_rc(sec->get(&out, NULL, sec, "g", NULL, STKDR_STAGE_CURRENT | STKDR_STAGE_PREVIOUS), STKDR_EINVAL);
	tu_assert_rc(sec->get(&out, NULL, sec, "g", "../../etc/passwd", 0), STKDR_EINVAL);
	tu_assert_errmsg("not a version id");
	tu_assert_rc(sec->get(&out, NULL, sec, "g", "v0000000000000000000x-0000000000000000", 0), STKDR_EINVAL);
	tu_assert_rc(sec->get(&out, NULL, sec, "g", "v00000000000000000001-000000000000000G", 0), STKDR_EINVAL);
	tu_assert_rc(sec->get(&out, NULL, sec, "g", "v00000000000000000001_0000000000000000", 0), STKDR_EINVAL);
	tu_assert_rc(sec->get(&out, NULL, sec, "g", "v00000000000000000099-0000000000000000", 0), STKDR_ENOTFOUND);
	tu_assert_errmsg("secret g has no version v00000000000000000099-0000000000000000");
	tu_assert_rc(sec->get(&out, NULL, sec, "missing", NULL, STKDR_STAGE_CURRENT), STKDR_ENOTFOUND);
	tu_assert_errmsg("secret missing not found");
	tu_assert_rc(sec->put(NULL, sec, "g", NULL, 3, NULL), STKDR_EINVAL);
	tu_assert_rc(sec->put(NULL, sec, "g", (const uint8_t *)"x", (size_t)65 * 1024 * 1024, NULL), STKDR_EINVAL);
	stkdr_buf_dispose(&vid);
}
END_TEST

START_TEST(test_constructor_errors)
{
	stkdr_secrets *s2 = NULL;
	tu_assert_rc(stkdr__local_secrets_new(&s2, "", key1), STKDR_EINVAL);
	tu_assert_rc(stkdr__local_secrets_new(&s2, NULL, key1), STKDR_EINVAL);
	tu_assert_rc(stkdr__local_secrets_new(&s2, dir, NULL), STKDR_EINVAL);
	tu_assert_errmsg("STKDR_MASTER_KEY");
	tu_assert_rc(stkdr__local_secrets_new(NULL, dir, key1), STKDR_EINVAL);
	char *file = tu_path(dir, "file");
	tu_write_file(file, "x", 1);
	char *under = tu_path(file, "secrets");
	tu_assert_rc(stkdr__local_secrets_new(&s2, under, key1), STKDR_EIO);
	tu_assert_errmsg("opening the local secrets directory");
	ck_assert_ptr_null(s2);
	/* A secret whose directory cannot be created. */
	char *trailing = stkdr__aprintf("%s/", dir);
	tu_assert_ok(stkdr__local_secrets_new(&s2, trailing, key1));
	char *clash = tu_path(dir, "clash");
	tu_write_file(clash, "x", 1);
	tu_assert_rc(s2->put(NULL, s2, "clash", (const uint8_t *)"v", 1, NULL), STKDR_EIO);
	stkdr_buf out = STKDR_BUF_INIT;
	tu_assert_rc(s2->get(&out, NULL, s2, "clash", NULL, STKDR_STAGE_CURRENT), STKDR_EIO);
	s2->base.free(&s2->base);
	stkdr__free(clash);
	stkdr__free(trailing);
	stkdr__free(under);
	stkdr__free(file);
}
END_TEST

START_TEST(test_concurrent_puts)
{
	enum { P = 4, EACH = 5 };
	pid_t pids[P];
	for (int i = 0; i < P; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0) {
			stkdr_secrets *mine = NULL;
			if (stkdr__local_secrets_new(&mine, dir, key1) != 0)
				_exit(2);
			for (int j = 0; j < EACH; j++) {
				char v[32];
				snprintf(v, sizeof v, "p%d-%d", i, j);
				if (mine->put(NULL, mine, "shared", (const uint8_t *)v, strlen(v), NULL) != 0)
					_exit(3);
			}
			mine->base.free(&mine->base);
			_exit(0);
		}
	}
	for (int i = 0; i < P; i++) {
		int status;
		ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	versions vs;
	tu_assert_ok(list_versions(&vs, "shared"));
	ck_assert_int_eq(vs.n, P * EACH);
	/* Sequence numbers are unique and dense. */
	for (int i = 0; i < vs.n; i++) {
		char want[32];
		snprintf(want, sizeof want, "v%020d-", P * EACH - i);
		ck_assert(strncmp(vs.ids[i], want, 22) == 0);
	}
}
END_TEST

/* ---- allocation failures: every allocation of an operation fails once in turn ---- */

static void enomem_setup(void)
{
	tu_enomem_install();
	setup();
}

static void enomem_teardown(void)
{
	teardown();
	tu_enomem_uninstall();
}

static int g_versions;

static int op_secret_put(void)
{
	return put("s/x", "value", NULL, NULL);
}

static int count_versions(const char *name)
{
	versions vs;
	int rc = list_versions(&vs, name);
	return rc == STKDR_ENOTFOUND ? 0 : (tu_assert_ok(rc), vs.n);
}

static void check_secret_put(int rc)
{
	int n = count_versions("s/x");
	ck_assert(n == g_versions || n == g_versions + 1);
	ck_assert(rc != 0 || n == g_versions + 1);
	if (n)
		assert_get("s/x", NULL, STKDR_STAGE_CURRENT, "value", NULL);
	g_versions = n;
	char *sdir = tu_path(dir, "s%2Fx");
	DIR *d = opendir(sdir);
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL)
		ck_assert(strncmp(de->d_name, ".stkdr-tmp.", 11) != 0);
	if (d)
		closedir(d);
	stkdr__free(sdir);
}

static int op_secret_token(void)
{
	stkdr_buf id = STKDR_BUF_INIT;
	int rc = put("tok", "tv", "the-token", &id);
	stkdr_buf_dispose(&id);
	return rc;
}

static void check_secret_token(int rc)
{
	ck_assert_int_eq(count_versions("tok"), 1);
}

static int op_secret_read(void)
{
	stkdr_buf v = STKDR_BUF_INIT, id = STKDR_BUF_INIT;
	int rc = sec->get(&v, &id, sec, "tok", NULL, STKDR_STAGE_CURRENT);
	ck_assert(rc != 0 || strcmp(v.ptr, "tv") == 0);
	stkdr_buf_dispose(&v);
	stkdr_buf_dispose(&id);
	versions vs;
	if (rc == 0)
		rc = list_versions(&vs, "tok");
	return rc;
}

static void check_none(int rc)
{
}

static char g_fresh[4096];

static int op_secret_new(void)
{
	stkdr_secrets *s2 = NULL;
	int rc = stkdr__local_secrets_new(&s2, g_fresh, key2);
	if (rc == 0)
		s2->base.free(&s2->base);
	return rc;
}

START_TEST(test_enomem_sweep)
{
	tu_assert_ok(put("tok", "tv", "the-token", NULL));
	g_versions = 0;
	tu_enomem_sweep(op_secret_put, check_secret_put);
	tu_enomem_sweep(op_secret_token, check_secret_token);
	tu_enomem_sweep(op_secret_read, check_none);
	snprintf(g_fresh, sizeof g_fresh, "%s/fresh", dir);
	tu_enomem_sweep(op_secret_new, check_none);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("local_secrets");
	TCase *tc = tcase_create("versions");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_versions_and_stages);
	tcase_add_test(tc, test_binary_and_empty_values);
	tcase_add_test(tc, test_list_stop_and_errors);
	tcase_add_test(tc, test_client_token);
	tcase_add_test(tc, test_concurrent_puts);
	suite_add_tcase(s, tc);

	tc = tcase_create("crypto");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_wrong_master_key);
	tcase_add_test(tc, test_tampered_file);
	tcase_add_test(tc, test_version_file_moved);
	tcase_add_test(tc, test_payload_format);
	tcase_add_test(tc, test_plaintext_absent_and_modes);
	suite_add_tcase(s, tc);

	tc = tcase_create("args");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_top_dir_mode);
	tcase_add_loop_test(tc, test_invalid_names, 0, (int)STKDR__ARRAY_SIZE(bad_names));
	tcase_add_test(tc, test_names_escaping);
	tcase_add_test(tc, test_get_arguments);
	tcase_add_test(tc, test_constructor_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("enomem");
	tcase_add_checked_fixture(tc, enomem_setup, enomem_teardown);
	tcase_add_test(tc, test_enomem_sweep);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
