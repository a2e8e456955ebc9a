/*
 * Token signing keys (runbook 2.3, 3.3): the key table in the Hub DB, rotation, JWKS export, backup to
 * the secrets backend and import; JWT signing and verification (keys parsed once per kid into a
 * verifier). Formats: docs/formats.md, "Signing keys".
 *
 * Secrets discipline: private keys exist in clear only in local buffers that are wiped
 * (mbedtls_platform_zeroize through stkdr__wipe) and in mbedTLS contexts that are freed (mbedTLS zeroises
 * them); they are stored only sealed under the master key, bound to project/env/kid. Messages name
 * kids, files and states, never key material.
 */
#include "keys_internal.h"
#include "core/crypto.h"
#include "core/timeutil.h"
#include "services/pg.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <libpq-fe.h>
#include <mbedtls/bignum.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_DER_MAX 8192
#define TOKEN_MAX (64 * 1024)

/* ------------------------------------------------------------------ small helpers */

static int rng(void *p, unsigned char *out, size_t n)
{
	(void)p;
	return stkdr__random(out, n) ? MBEDTLS_ERR_ECP_RANDOM_FAILED : 0;
}

static const char *mbed_err(int ret, char *buf, size_t len)
{
	mbedtls_strerror(ret, buf, len);
	return buf;
}

static int check_name(const char *what, const char *v)
{
	size_t i;
	if (!v || !*v)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_NONE, NULL, "%s is missing: give --%s", what, what);
	if (strlen(v) > 128)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_NONE, NULL, "%s is longer than 128 characters", what);
	for (i = 0; v[i]; i++) {
		char ch = v[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
			    ch == '_' || ch == '.'))
			return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_NONE, NULL,
				"%s \"%s\" is not valid: use letters, digits, '-', '_' and '.'", what, v);
	}
	return 0;
}

const char *stkdr__key_alg_name(int alg)
{
	return alg == STKDR_KEY_RS256 ? "RS256" : "ES256";
}

int stkdr__key_alg_parse(const char *s)
{
	if (s && strcmp(s, "ES256") == 0)
		return STKDR_KEY_ES256;
	if (s && strcmp(s, "RS256") == 0)
		return STKDR_KEY_RS256;
	return 0;
}

static const char *state_name(int st)
{
	return st == STKDR_KEY_ACTIVE ? "active" : st == STKDR_KEY_VERIFY_ONLY ? "verify-only" : "retired";
}

static int state_parse(const char *s)
{
	if (strcmp(s, "active") == 0)
		return STKDR_KEY_ACTIVE;
	if (strcmp(s, "verify-only") == 0)
		return STKDR_KEY_VERIFY_ONLY;
	if (strcmp(s, "retired") == 0)
		return STKDR_KEY_RETIRED;
	return -1;
}

static int b64url_mpi(stkdr_buf *out, const mbedtls_mpi *x, size_t fixed_len)
{
	uint8_t tmp[1024];
	size_t n = fixed_len ? fixed_len : mbedtls_mpi_size(x);
	int rc;
	if (n == 0 || n > sizeof tmp || mbedtls_mpi_write_binary(x, tmp, n) != 0)
		return stkdr__seterr(STKDR_ERROR, STKDR_ERRCLASS_CRYPTO, NULL, "cannot encode a key parameter");
	rc = stkdr__b64_encode(out, tmp, n, 1);
	return rc;
}

/* ------------------------------------------------------------------ keys <-> JWK */

/* Checks that `pk` is a supported key; sets *alg. `what` names the source for messages. */
static int pk_check(int *alg, mbedtls_pk_context *pk, const char *what)
{
	mbedtls_pk_type_t t = mbedtls_pk_get_type(pk);
	if (t == MBEDTLS_PK_ECKEY || t == MBEDTLS_PK_ECKEY_DH || t == MBEDTLS_PK_ECDSA) {
		mbedtls_ecp_keypair *ec = mbedtls_pk_ec(*pk);
		if (ec->grp.id != MBEDTLS_ECP_DP_SECP256R1) {
			const mbedtls_ecp_curve_info *ci = mbedtls_ecp_curve_info_from_grp_id(ec->grp.id);
			return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CRYPTO, NULL,
				"%s: unsupported curve %s: only P-256 (secp256r1, ES256) EC keys are accepted", what,
				ci ? ci->name : "(unknown)");
		}
		*alg = STKDR_KEY_ES256;
		return 0;
	}
	if (t == MBEDTLS_PK_RSA) {
		size_t bits = mbedtls_pk_get_bitlen(pk);
		if (bits < 2048)
			return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CRYPTO, NULL,
				"%s: RSA key of %zu bits is too short: at least 2048 bits are required", what, bits);
		*alg = STKDR_KEY_RS256;
		return 0;
	}
	return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CRYPTO, NULL,
		"%s: unsupported key type %s: use an EC P-256 or an RSA (>= 2048 bits) key", what, mbedtls_pk_get_name(pk));
}

/*
 * The public JWK of `pk` (with kid, alg, use) as a new cJSON object, and its kid (RFC 7638: base64url
 * SHA-256 of the canonical members in lexicographic order).
 */
int stkdr__key_jwk(cJSON **jwk_out, char kid_out[STKDR__KID_MAX], mbedtls_pk_context *pk, int alg)
{
	stkdr_buf a = STKDR_BUF_INIT, b = STKDR_BUF_INIT, canon = STKDR_BUF_INIT, kid = STKDR_BUF_INIT;
	uint8_t h[32];
	cJSON *j = NULL;
	int rc;
	*jwk_out = NULL;
	if (alg == STKDR_KEY_ES256) {
		mbedtls_ecp_keypair *ec = mbedtls_pk_ec(*pk);
		if ((rc = b64url_mpi(&a, &ec->Q.X, 32)) || (rc = b64url_mpi(&b, &ec->Q.Y, 32)))
			goto out;
		rc = stkdr__buf_printf(&canon, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", a.ptr, b.ptr);
	} else {
		mbedtls_rsa_context *rsa = mbedtls_pk_rsa(*pk);
		mbedtls_mpi n, e;
		mbedtls_mpi_init(&n);
		mbedtls_mpi_init(&e);
		if (mbedtls_rsa_export(rsa, &n, NULL, NULL, NULL, &e) != 0)
			rc = stkdr__seterr(STKDR_ERROR, STKDR_ERRCLASS_CRYPTO, NULL, "cannot read an RSA public key");
		else if (!(rc = b64url_mpi(&a, &n, 0)) && !(rc = b64url_mpi(&b, &e, 0)))
			rc = stkdr__buf_printf(&canon, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", b.ptr, a.ptr);
		mbedtls_mpi_free(&n);
		mbedtls_mpi_free(&e);
	}
	if (rc)
		goto out;
	stkdr__sha256(canon.ptr, canon.size, h);
	if ((rc = stkdr__b64_encode(&kid, h, 32, 1)))
		goto out;
	j = cJSON_CreateObject();
	if (!j) {
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_NONE, NULL, "out of memory");
		goto out;
	}
	if (alg == STKDR_KEY_ES256) {
		cJSON_AddStringToObject(j, "kty", "EC");
		cJSON_AddStringToObject(j, "crv", "P-256");
		cJSON_AddStringToObject(j, "x", a.ptr);
		cJSON_AddStringToObject(j, "y", b.ptr);
	} else {
		cJSON_AddStringToObject(j, "kty", "RSA");
		cJSON_AddStringToObject(j, "n", a.ptr);
		cJSON_AddStringToObject(j, "e", b.ptr);
	}
	cJSON_AddStringToObject(j, "kid", kid.ptr);
	cJSON_AddStringToObject(j, "alg", stkdr__key_alg_name(alg));
	cJSON_AddStringToObject(j, "use", "sig");
	snprintf(kid_out, STKDR__KID_MAX, "%s", kid.ptr);
	*jwk_out = j;
out:
	stkdr_buf_dispose(&a);
	stkdr_buf_dispose(&b);
	stkdr_buf_dispose(&canon);
	stkdr_buf_dispose(&kid);
	return rc;
}

static int jwk_bytes(stkdr_buf *out, const cJSON *jwk, const char *name, const char *kid)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(jwk, name);
	stkdr_buf_dispose(out);
	if (!cJSON_IsString(it) || stkdr__b64_decode(out, it->valuestring, strlen(it->valuestring), 1) != 0 ||
		out->size == 0)
		return stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL,
			"JWKS key %s: member \"%s\" is missing or not base64url", kid, name);
	return 0;
}

/* Public key from a JWK; checks its kid against the thumbprint. `pk` is initialised by the caller. */
int stkdr__key_from_jwk(mbedtls_pk_context *pk, int *alg_out, char kid_out[STKDR__KID_MAX], const cJSON *jwk)
{
	const cJSON *kty = cJSON_GetObjectItemCaseSensitive(jwk, "kty");
	const cJSON *kidj = cJSON_GetObjectItemCaseSensitive(jwk, "kid");
	const cJSON *algj = cJSON_GetObjectItemCaseSensitive(jwk, "alg");
	const char *kid = cJSON_IsString(kidj) ? kidj->valuestring : NULL;
	stkdr_buf x = STKDR_BUF_INIT, y = STKDR_BUF_INIT;
	char got[STKDR__KID_MAX];
	cJSON *re = NULL;
	int rc, alg = 0;
	if (!cJSON_IsObject(jwk) || !kid || !cJSON_IsString(kty) || strlen(kid) >= STKDR__KID_MAX)
		return stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL,
			"JWKS: a key lacks \"kty\" or \"kid\" (or the kid is too long)");
	if (strcmp(kty->valuestring, "EC") == 0) {
		const cJSON *crv = cJSON_GetObjectItemCaseSensitive(jwk, "crv");
		mbedtls_ecp_keypair *ec;
		if (!cJSON_IsString(crv) || strcmp(crv->valuestring, "P-256") != 0)
			return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CRYPTO, NULL,
				"JWKS key %s: unsupported curve: only P-256 (ES256)", kid);
		alg = STKDR_KEY_ES256;
		if ((rc = jwk_bytes(&x, jwk, "x", kid)) || (rc = jwk_bytes(&y, jwk, "y", kid)))
			goto out;
		if (x.size != 32 || y.size != 32) {
			rc = stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL,
				"JWKS key %s: P-256 coordinates must be 32 bytes", kid);
			goto out;
		}
		if (mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0) {
			rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_NONE, NULL, "out of memory");
			goto out;
		}
		ec = mbedtls_pk_ec(*pk);
		if (mbedtls_ecp_group_load(&ec->grp, MBEDTLS_ECP_DP_SECP256R1) ||
			mbedtls_mpi_read_binary(&ec->Q.X, (const uint8_t *)x.ptr, 32) ||
			mbedtls_mpi_read_binary(&ec->Q.Y, (const uint8_t *)y.ptr, 32) || mbedtls_mpi_lset(&ec->Q.Z, 1) ||
			mbedtls_ecp_check_pubkey(&ec->grp, &ec->Q)) {
			rc = stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_CRYPTO, NULL,
				"JWKS key %s: the point is not on the P-256 curve", kid);
			goto out;
		}
	} else if (strcmp(kty->valuestring, "RSA") == 0) {
		mbedtls_rsa_context *rsa;
		alg = STKDR_KEY_RS256;
		if ((rc = jwk_bytes(&x, jwk, "n", kid)) || (rc = jwk_bytes(&y, jwk, "e", kid)))
			goto out;
		if (mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA)) != 0) {
			rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_NONE, NULL, "out of memory");
			goto out;
		}
		rsa = mbedtls_pk_rsa(*pk);
		if (mbedtls_rsa_import_raw(rsa, (const uint8_t *)x.ptr, x.size, NULL, 0, NULL, 0, NULL, 0,
			    (const uint8_t *)y.ptr, y.size) ||
			mbedtls_rsa_complete(rsa) || mbedtls_rsa_check_pubkey(rsa)) {
			rc = stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_CRYPTO, NULL, "JWKS key %s: not a valid RSA public key",
				kid);
			goto out;
		}
		if (mbedtls_pk_get_bitlen(pk) < 2048) {
			rc = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CRYPTO, NULL,
				"JWKS key %s: RSA key of %zu bits is too short (at least 2048)", kid, mbedtls_pk_get_bitlen(pk));
			goto out;
		}
	} else {
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CRYPTO, NULL, "JWKS key %s: unsupported kty \"%.16s\"", kid,
			kty->valuestring);
	}
	if (cJSON_IsString(algj) && stkdr__key_alg_parse(algj->valuestring) != alg) {
		rc = stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL,
			"JWKS key %s: \"alg\" %.16s does not match its key type", kid, algj->valuestring);
		goto out;
	}
	if ((rc = stkdr__key_jwk(&re, got, pk, alg)))
		goto out;
	if (strcmp(got, kid) != 0) {
		rc = stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_CRYPTO, NULL,
			"JWKS key %s: the kid is not the key's RFC 7638 thumbprint (%s): the set was altered", kid, got);
		goto out;
	}
	*alg_out = alg;
	snprintf(kid_out, STKDR__KID_MAX, "%s", kid);
out:
	cJSON_Delete(re);
	stkdr_buf_dispose(&x);
	stkdr_buf_dispose(&y);
	return rc;
}

/* ------------------------------------------------------------------ sealing */

static char *seal_aad(const char *project, const char *env, const char *kid)
{
	return stkdr__aprintf("stkdr-signing-key/%s/%s/%s", project, env, kid);
}

/* Seals the private key of `pk` into base64url text appended to `out`. */
static int seal_pk(stkdr_buf *out, const uint8_t mk[32], const char *project, const char *env, const char *kid,
	mbedtls_pk_context *pk)
{
	uint8_t *der = stkdr__malloc(KEY_DER_MAX);
	stkdr_buf sealed = STKDR_BUF_INIT;
	char *aad = seal_aad(project, env, kid);
	int n, rc;
	if (!der || !aad) {
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_NONE, NULL, "out of memory");
		goto out;
	}
	n = mbedtls_pk_write_key_der(pk, der, KEY_DER_MAX);
	if (n <= 0) {
		rc = stkdr__seterr(STKDR_ERROR, STKDR_ERRCLASS_CRYPTO, NULL, "key %s: cannot serialise the private key", kid);
		goto out;
	}
	rc = stkdr__seal(&sealed, mk, "master", aad, strlen(aad), der + KEY_DER_MAX - n, (size_t)n);
	if (!rc)
		rc = stkdr__b64_encode(out, sealed.ptr, sealed.size, 1);
out:
	if (der) {
		stkdr__wipe(der, KEY_DER_MAX);
		stkdr__free(der);
	}
	stkdr_buf_dispose(&sealed);
	stkdr__free(aad);
	return rc;
}

/* Opens a sealed private key into the DER buffer `der_out` (wipe it). */
static int open_der(stkdr_buf *der_out, const uint8_t mk[32], const char *project, const char *env, const char *kid,
	const char *sealed_b64)
{
	stkdr_buf sealed = STKDR_BUF_INIT;
	char *aad = seal_aad(project, env, kid);
	int rc;
	if (!aad)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_NONE, NULL, "out of memory");
	rc = stkdr__b64_decode(&sealed, sealed_b64, strlen(sealed_b64), 1);
	if (rc) {
		rc = stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL,
			"key %s: the sealed private key is not base64url", kid);
	} else {
		rc = stkdr__open(der_out, mk, aad, strlen(aad), sealed.ptr, sealed.size);
		if (rc == STKDR_EAUTH)
			rc = stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_CRYPTO, NULL,
				"key %s (%s/%s): the private key does not open with this master key: wrong STKDR_MASTER_KEY, "
				"or the data was altered", kid, project, env);
		else if (rc)
			stkdr__err_prefix("key %s", kid);
	}
	stkdr_buf_dispose(&sealed);
	stkdr__free(aad);
	return rc;
}

static void wipe_buf(stkdr_buf *b)
{
	if (b->ptr)
		stkdr__wipe(b->ptr, b->reserved ? b->reserved : b->size);
	stkdr_buf_dispose(b);
}

/* Opens a sealed private key into `pk` (initialised by the caller). */
static int open_pk(mbedtls_pk_context *pk, const uint8_t mk[32], const char *project, const char *env,
	const char *kid, const char *sealed_b64)
{
	stkdr_buf der = STKDR_BUF_INIT;
	int rc = open_der(&der, mk, project, env, kid, sealed_b64);
	if (!rc && mbedtls_pk_parse_key(pk, (const uint8_t *)der.ptr, der.size, NULL, 0) != 0)
		rc = stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_CRYPTO, NULL, "key %s: the unsealed private key is malformed",
			kid);
	wipe_buf(&der);
	return rc;
}

/* ------------------------------------------------------------------ the key table */

typedef struct krow {
	char *kid;
	char *alg;
	int state;
	int64_t created_ms;
	int64_t verify_until_ms;
	char *jwk;
	char *sealed;
} krow;

static void krows_free(krow *rows, size_t n)
{
	size_t i;
	for (i = 0; i < n; i++) {
		stkdr__free(rows[i].kid);
		stkdr__free(rows[i].alg);
		stkdr__free(rows[i].jwk);
		stkdr__free(rows[i].sealed);
	}
	stkdr__free(rows);
}

typedef struct kdb {
	stkdr_ctx *ctx;
	stkdr__pg *pg;
	char *table; /* quoted */
	const char *project, *env;
} kdb;

static int quote_table(char **out, const char *t)
{
	size_t i;
	int dots = 0;
	*out = NULL;
	if (!t || !*t || strlen(t) > 120)
		goto bad;
	for (i = 0; t[i]; i++) {
		char ch = t[i];
		if (ch == '.') {
			if (++dots > 1 || i == 0 || !t[i + 1] || t[i + 1] == '.')
				goto bad;
		} else if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_')) {
			goto bad;
		}
	}
	if (dots) {
		const char *d = strchr(t, '.');
		*out = stkdr__aprintf("\"%.*s\".\"%s\"", (int)(d - t), t, d + 1);
	} else {
		*out = stkdr__aprintf("\"%s\"", t);
	}
	return *out ? 0 : stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_NONE, NULL, "out of memory");
bad:
	return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL,
		"keys.table \"%s\" is not a valid table name: use [schema.]name with a-z, 0-9 and '_'", t ? t : "");
}

static void kdb_close(kdb *d)
{
	stkdr__pg_close(d->pg);
	stkdr__free(d->table);
	d->pg = NULL;
	d->table = NULL;
}

static int kdb_exec(kdb *d, void **res, const char *fmt_with_table, int np, const char *const *params)
{
	char *sql = stkdr__aprintf(fmt_with_table, d->table);
	int rc;
	if (!sql)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_NONE, NULL, "out of memory");
	rc = stkdr__pg_exec(d->pg, res, sql, np, params);
	stkdr__free(sql);
	return rc;
}

static int kdb_open(kdb *d, stkdr_ctx *ctx, const char *project, const char *env)
{
	const char *conninfo;
	int rc;
	memset(d, 0, sizeof *d);
	d->ctx = ctx;
	d->project = project;
	d->env = env;
	if ((rc = check_name("project", project)) || (rc = check_name("env", env)))
		return rc;
	if ((rc = quote_table(&d->table, stkdr__cfg_str(ctx, "keys.table"))))
		return rc;
	if ((rc = stkdr__cfg_require_str(&conninfo, ctx, "postgres.conninfo")) ||
		(rc = stkdr__pg_connect(&d->pg, conninfo, 0))) {
		kdb_close(d);
		return rc;
	}
	rc = kdb_exec(d, NULL,
		"CREATE TABLE IF NOT EXISTS %s ("
		"project text NOT NULL, env text NOT NULL, kid text NOT NULL, "
		"alg text NOT NULL CHECK (alg IN ('ES256','RS256')), "
		"state text NOT NULL CHECK (state IN ('active','verify-only','retired')), "
		"created_at timestamptz NOT NULL, verify_until timestamptz, "
		"public_jwk text NOT NULL, private_sealed text NOT NULL, "
		"PRIMARY KEY (project, env, kid))",
		0, NULL);
	if (rc == STKDR_EEXISTS) /* concurrent creation (pg_type unique violation) */
		rc = 0;
	if (rc) {
		stkdr__err_prefix("creating the signing-key table");
		kdb_close(d);
	}
	return rc;
}

static int kdb_begin(kdb *d)
{
	return stkdr__pg_exec(d->pg, NULL, "BEGIN", 0, NULL);
}

static int kdb_end(kdb *d, int rc)
{
	if (rc == 0)
		return stkdr__pg_exec(d->pg, NULL, "COMMIT", 0, NULL);
	PQclear(PQexec(stkdr__pg_conn(d->pg), "ROLLBACK"));
	return rc;
}

static int64_t i64(const char *s)
{
	return s && *s ? strtoll(s, NULL, 10) : 0;
}

/* Loads the rows of project/env, newest first; `where_extra` is appended to the WHERE clause. */
static int kdb_load(krow **out, size_t *n_out, kdb *d, const char *where_extra, int for_update)
{
	const char *params[2] = { d->project, d->env };
	char *sql = stkdr__aprintf("SELECT kid, alg, state, (extract(epoch from created_at) * 1000)::bigint, "
				   "coalesce((extract(epoch from verify_until) * 1000)::bigint, 0), public_jwk, private_sealed "
				   "FROM %%s WHERE project = $1 AND env = $2 %s ORDER BY created_at DESC, kid%s",
		where_extra ? where_extra : "", for_update ? " FOR UPDATE" : "");
	void *res = NULL;
	PGresult *r;
	krow *rows = NULL;
	int rc, i, n;
	*out = NULL;
	*n_out = 0;
	if (!sql)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_NONE, NULL, "out of memory");
	rc = kdb_exec(d, &res, sql, 2, params);
	stkdr__free(sql);
	if (rc)
		return rc;
	r = res;
	n = PQntuples(r);
	rows = stkdr__calloc((size_t)n + 1, sizeof *rows);
	if (!rows) {
		PQclear(r);
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_NONE, NULL, "out of memory");
	}
	for (i = 0; i < n; i++) {
		rows[i].kid = stkdr__strdup(PQgetvalue(r, i, 0));
		rows[i].alg = stkdr__strdup(PQgetvalue(r, i, 1));
		rows[i].state = state_parse(PQgetvalue(r, i, 2));
		rows[i].created_ms = i64(PQgetvalue(r, i, 3));
		rows[i].verify_until_ms = i64(PQgetvalue(r, i, 4));
		rows[i].jwk = stkdr__strdup(PQgetvalue(r, i, 5));
		rows[i].sealed = stkdr__strdup(PQgetvalue(r, i, 6));
		if (!rows[i].kid || !rows[i].alg || !rows[i].jwk || !rows[i].sealed) {
			PQclear(r);
			krows_free(rows, (size_t)n);
			return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_NONE, NULL, "out of memory");
		}
	}
	PQclear(r);
	*out = rows;
	*n_out = (size_t)n;
	return 0;
}

static int kdb_insert(kdb *d, const char *kid, const char *alg, int state, int64_t created_ms,
	int64_t verify_until_ms, const char *jwk, const char *sealed)
{
	char c[32], v[32];
	const char *params[9] = { d->project, d->env, kid, alg, state_name(state), c, verify_until_ms ? v : NULL, jwk,
		sealed };
	snprintf(c, sizeof c, "%lld", (long long)created_ms);
	snprintf(v, sizeof v, "%lld", (long long)verify_until_ms);
	return kdb_exec(d, NULL,
		"INSERT INTO %s (project, env, kid, alg, state, created_at, verify_until, public_jwk, private_sealed) "
		"VALUES ($1, $2, $3, $4, $5, to_timestamp($6::bigint / 1000.0), to_timestamp($7::bigint / 1000.0), $8, $9)",
		9, params);
}

static int kdb_set_state(kdb *d, const char *kid, int state, int64_t verify_until_ms)
{
	char v[32];
	const char *params[5] = { d->project, d->env, kid, state_name(state), verify_until_ms ? v : NULL };
	snprintf(v, sizeof v, "%lld", (long long)verify_until_ms);
	return kdb_exec(d, NULL,
		"UPDATE %s SET state = $4, verify_until = to_timestamp($5::bigint / 1000.0) "
		"WHERE project = $1 AND env = $2 AND kid = $3",
		5, params);
}

/* ------------------------------------------------------------------ options */

int stkdr_keys_options_init(stkdr_keys_options *opts, unsigned int version)
{
	return stkdr__options_init(opts, sizeof *opts, version, STKDR_KEYS_OPTIONS_VERSION, "stkdr_keys_options");
}

int stkdr_keys_import_options_init(stkdr_keys_import_options *opts, unsigned int version)
{
	int rc = stkdr__options_init(opts, sizeof *opts, version, STKDR_KEYS_IMPORT_OPTIONS_VERSION,
		"stkdr_keys_import_options");
	if (rc)
		return rc;
	opts->source = STKDR_KEYS_IMPORT_FILE;
	opts->stage = STKDR_STAGE_CURRENT;
	return 0;
}

int stkdr_jwt_sign_options_init(stkdr_jwt_sign_options *opts, unsigned int version)
{
	return stkdr__options_init(opts, sizeof *opts, version, STKDR_JWT_SIGN_OPTIONS_VERSION, "stkdr_jwt_sign_options");
}

int stkdr_jwt_verify_options_init(stkdr_jwt_verify_options *opts, unsigned int version)
{
	int rc = stkdr__options_init(opts, sizeof *opts, version, STKDR_JWT_VERIFY_OPTIONS_VERSION,
		"stkdr_jwt_verify_options");
	if (rc)
		return rc;
	opts->leeway_ms = -1;
	return 0;
}

/* ------------------------------------------------------------------ generate / rotate / list / jwks */

static int resolve_alg(int *alg, stkdr_ctx *ctx, const stkdr_keys_options *opts)
{
	if (opts && (opts->version == 0 || opts->version > STKDR_KEYS_OPTIONS_VERSION))
		return stkdr__seterr(STKDR_EVERSION, STKDR_ERRCLASS_INTERNAL, NULL,
			"stkdr_keys_options version %u is not supported", opts->version);
	*alg = opts && opts->alg ? opts->alg : stkdr__key_alg_parse(stkdr__cfg_str(ctx, "keys.algorithm"));
	if (*alg != STKDR_KEY_ES256 && *alg != STKDR_KEY_RS256)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_NONE, NULL, "unknown key algorithm %d: use ES256 or RS256",
			opts ? opts->alg : 0);
	return 0;
}

/* Makes a new key and inserts it (inside the caller's transaction). */
static int new_key(stkdr_buf *kid_out, kdb *d, const uint8_t mk[32], int alg, int64_t now)
{
	mbedtls_pk_context pk;
	stkdr_buf sealed = STKDR_BUF_INIT;
	char kid[STKDR__KID_MAX];
	cJSON *jwk = NULL;
	char *jwk_text = NULL;
	int rc, ret;
	mbedtls_pk_init(&pk);
	if (alg == STKDR_KEY_ES256) {
		ret = mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
		if (!ret)
			ret = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(pk), rng, NULL);
	} else {
		ret = mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA));
		if (!ret)
			ret = mbedtls_rsa_gen_key(mbedtls_pk_rsa(pk), rng, NULL, 2048, 65537);
	}
	if (ret) {
		char eb[128];
		rc = stkdr__seterr(STKDR_ERROR, STKDR_ERRCLASS_CRYPTO, NULL, "generating a %s key failed: %s",
			stkdr__key_alg_name(alg), mbed_err(ret, eb, sizeof eb));
		goto out;
	}
	if ((rc = stkdr__key_jwk(&jwk, kid, &pk, alg)) || (rc = seal_pk(&sealed, mk, d->project, d->env, kid, &pk)))
		goto out;
	jwk_text = cJSON_PrintUnformatted(jwk);
	if (!jwk_text) {
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_NONE, NULL, "out of memory");
		goto out;
	}
	if ((rc = kdb_insert(d, kid, stkdr__key_alg_name(alg), STKDR_KEY_ACTIVE, now, 0, jwk_text, sealed.ptr)))
		goto out;
	if (kid_out)
		rc = stkdr_buf_set(kid_out, kid, strlen(kid));
out:
	if (jwk_text)
		cJSON_free(jwk_text);
	cJSON_Delete(jwk);
	stkdr_buf_dispose(&sealed);
	mbedtls_pk_free(&pk);
	return rc;
}

static int generate_or_rotate(stkdr_buf *kid_out, stkdr_ctx *ctx, const char *project, const char *env,
	const stkdr_keys_options *opts, int rotate)
{
	kdb d;
	uint8_t mk[32];
	krow *rows = NULL;
	size_t n = 0, i;
	int64_t now, overlap;
	int alg = 0, rc;
	if ((rc = resolve_alg(&alg, ctx, opts)))
		return rc;
	if ((rc = stkdr__ctx_master_key(mk, ctx)))
		return rc;
	if ((rc = kdb_open(&d, ctx, project, env))) {
		stkdr__wipe(mk, sizeof mk);
		return rc;
	}
	now = stkdr__ctx_now_ms(ctx);
	overlap = stkdr__cfg_int(ctx, "keys.overlap", 24LL * 3600 * 1000);
	if ((rc = kdb_begin(&d)))
		goto out;
	rc = kdb_load(&rows, &n, &d, NULL, 1);
	for (i = 0; !rc && i < n; i++) {
		if (rows[i].state == STKDR_KEY_ACTIVE) {
			if (!rotate)
				rc = stkdr__seterr(STKDR_EEXISTS, STKDR_ERRCLASS_NONE, NULL,
					"%s/%s has an active key already (%s): use `stk keys rotate` to replace it", project, env,
					rows[i].kid);
			else
				rc = kdb_set_state(&d, rows[i].kid, STKDR_KEY_VERIFY_ONLY, now + overlap);
		} else if (rotate && rows[i].state == STKDR_KEY_VERIFY_ONLY && rows[i].verify_until_ms <= now) {
			rc = kdb_set_state(&d, rows[i].kid, STKDR_KEY_RETIRED, 0);
		}
	}
	if (!rc)
		rc = new_key(kid_out, &d, mk, alg, now);
	rc = kdb_end(&d, rc);
	if (!rc)
		stkdr__log(ctx, STKDR_LOG_INFO, "keys", "%s/%s: new active %s key %s", project, env,
			stkdr__key_alg_name(alg), kid_out && kid_out->ptr ? kid_out->ptr : "");
out:
	krows_free(rows, n);
	kdb_close(&d);
	stkdr__wipe(mk, sizeof mk);
	return rc;
}

int stkdr_keys_generate(stkdr_buf *kid_out, stkdr_ctx *ctx, const char *project, const char *env,
	const stkdr_keys_options *opts)
{
	if (!ctx)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_keys_generate: ctx is NULL");
	return stkdr__ctx_result(ctx, generate_or_rotate(kid_out, ctx, project, env, opts, 0));
}

int stkdr_keys_rotate(stkdr_buf *kid_out, stkdr_ctx *ctx, const char *project, const char *env,
	const stkdr_keys_options *opts)
{
	if (!ctx)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_keys_rotate: ctx is NULL");
	return stkdr__ctx_result(ctx, generate_or_rotate(kid_out, ctx, project, env, opts, 1));
}

int stkdr_keys_list(stkdr_ctx *ctx, const char *project, const char *env, stkdr_key_cb cb, void *payload)
{
	kdb d;
	krow *rows = NULL;
	size_t n = 0, i;
	int rc;
	if (!ctx || !cb)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_keys_list: ctx or cb is NULL");
	if ((rc = kdb_open(&d, ctx, project, env)))
		return stkdr__ctx_result(ctx, rc);
	rc = kdb_load(&rows, &n, &d, NULL, 0);
	kdb_close(&d);
	for (i = 0; !rc && i < n; i++) {
		stkdr_key_info ki;
		memset(&ki, 0, sizeof ki);
		ki.version = STKDR_KEY_INFO_VERSION;
		ki.project = project;
		ki.env = env;
		ki.kid = rows[i].kid;
		ki.alg = rows[i].alg;
		ki.state = rows[i].state;
		ki.created_ms = rows[i].created_ms;
		ki.verify_until_ms = rows[i].verify_until_ms;
		rc = cb(&ki, payload);
		if (rc)
			rc = stkdr__seterr(rc, STKDR_ERRCLASS_CALLBACK, NULL, "the key-list callback stopped with %d", rc);
	}
	krows_free(rows, n);
	return stkdr__ctx_result(ctx, rc);
}

int stkdr_keys_sets(stkdr_ctx *ctx, stkdr_key_set_cb cb, void *payload)
{
	kdb d;
	void *res = NULL;
	PGresult *r;
	int rc, i;
	if (!ctx || !cb)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_keys_sets: ctx or cb is NULL");
	/* project/env are only checked by kdb_open; any valid names will do */
	if ((rc = kdb_open(&d, ctx, "_", "_")))
		return stkdr__ctx_result(ctx, rc);
	rc = kdb_exec(&d, &res, "SELECT DISTINCT project, env FROM %s ORDER BY 1, 2", 0, NULL);
	kdb_close(&d);
	if (rc)
		return stkdr__ctx_result(ctx, rc);
	r = res;
	for (i = 0; !rc && i < PQntuples(r); i++) {
		rc = cb(PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), payload);
		if (rc)
			rc = stkdr__seterr(rc, STKDR_ERRCLASS_CALLBACK, NULL, "the key-set callback stopped with %d", rc);
	}
	PQclear(r);
	return stkdr__ctx_result(ctx, rc);
}

int stkdr__keys_jwks(stkdr_buf *out, stkdr_ctx *ctx, const char *project, const char *env)
{
	kdb d;
	krow *rows = NULL;
	size_t n = 0, i;
	cJSON *doc = NULL, *arr;
	char *text = NULL;
	int64_t now = stkdr__ctx_now_ms(ctx);
	int rc, count = 0;
	if ((rc = kdb_open(&d, ctx, project, env)))
		return rc;
	rc = kdb_load(&rows, &n, &d, NULL, 0);
	kdb_close(&d);
	if (rc)
		goto out;
	doc = cJSON_CreateObject();
	arr = doc ? cJSON_AddArrayToObject(doc, "keys") : NULL;
	if (!arr) {
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_NONE, NULL, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		cJSON *j;
		if (!(rows[i].state == STKDR_KEY_ACTIVE ||
			    (rows[i].state == STKDR_KEY_VERIFY_ONLY && rows[i].verify_until_ms > now)))
			continue;
		j = cJSON_Parse(rows[i].jwk);
		if (!j) {
			rc = stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL,
				"key %s: the stored public JWK is not JSON", rows[i].kid);
			goto out;
		}
		cJSON_AddItemToArray(arr, j);
		count++;
	}
	if (!count) {
		rc = stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_NONE, NULL,
			"%s/%s has no key that verifies: run `stk keys generate` or import one", project, env);
		goto out;
	}
	text = cJSON_PrintUnformatted(doc);
	rc = text ? stkdr_buf_set(out, text, strlen(text))
		  : stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_NONE, NULL, "out of memory");
out:
	if (text)
		cJSON_free(text);
	cJSON_Delete(doc);
	krows_free(rows, n);
	return rc;
}

int stkdr_keys_jwks(stkdr_buf *out, stkdr_ctx *ctx, const char *project, const char *env)
{
	if (!ctx || !out)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_keys_jwks: ctx or out is NULL");
	return stkdr__ctx_result(ctx, stkdr__keys_jwks(out, ctx, project, env));
}

/* ------------------------------------------------------------------ backup bundle */

#define BUNDLE_FORMAT "stkdr-signing-keys"

static void bundle_mac(char hex[65], const uint8_t mk[32], const char *body)
{
	static const char label[] = "stkdr signing-key bundle v1";
	uint8_t k[32], m[32];
	stkdr__hmac_sha256(mk, 32, label, sizeof label - 1, k);
	stkdr__hmac_sha256(k, 32, body, strlen(body), m);
	stkdr__hex_encode(hex, m, 32);
	stkdr__wipe(k, sizeof k);
}

static char *secret_name(stkdr_ctx *ctx, const char *project, const char *env)
{
	const char *dep = stkdr__cfg_str(ctx, "deployment");
	return stkdr__aprintf("%s/signing-keys/%s/%s", dep && *dep ? dep : "default", project, env);
}

/*
 * The replica target (runbook 2.3 "replicated to a second region"): `keys.backup_replica` names a
 * configuration file whose `secrets` section selects the second secrets backend (any backend, with its
 * own region, path or vault). It is opened in a context of its own, without environment overrides (the
 * STKDR_SECRETS_* of this process belong to the primary) and without registered backends.
 */
static int replica_open(stkdr_ctx **rctx_out, stkdr_secrets **s_out, stkdr_ctx *ctx)
{
	const char *path = stkdr__cfg_str(ctx, "keys.backup_replica");
	const char *pb = stkdr__cfg_str(ctx, "secrets.backend"), *pp = stkdr__cfg_str(ctx, "secrets.path");
	const char *rb, *rp;
	stkdr_ctx_options o = STKDR_CTX_OPTIONS_INIT;
	stkdr_ctx *r = NULL;
	int rc;
	*rctx_out = NULL;
	if (!path || !*path)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL,
			"keys.backup_replica is not set: name the configuration file of the second region's secrets backend");
	o.config_path = path;
	o.flags = STKDR_CTX_NO_ENV | STKDR_CTX_NO_DEFAULT_FILE;
	if ((rc = stkdr_ctx_new(&r, &o))) {
		stkdr__err_prefix("keys.backup_replica %s", path);
		return rc;
	}
	rb = stkdr__cfg_str(r, "secrets.backend");
	rp = stkdr__cfg_str(r, "secrets.path");
	if (pb && rb && strcmp(pb, "local") == 0 && strcmp(rb, "local") == 0 && pp && rp && strcmp(pp, rp) == 0) {
		rc = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL,
			"keys.backup_replica %s: its secrets.path %s is the primary's: name a second location", path, rp);
		stkdr_ctx_free(r); /* after the message: rp belongs to r */
		return rc;
	}
	if ((rc = stkdr__ctx_secrets(s_out, r))) {
		stkdr__err_prefix("keys.backup_replica %s", path);
		stkdr_ctx_free(r);
		return rc;
	}
	*rctx_out = r;
	return 0;
}

/* Writes the bundle to the replica; the message says which replica. */
static int replica_put(stkdr_buf *version_out, stkdr_ctx *ctx, const char *name, const char *doc, const char *token)
{
	stkdr_ctx *r;
	stkdr_secrets *s;
	int rc = replica_open(&r, &s, ctx);
	if (rc)
		return rc;
	rc = s->put(version_out, s, name, (const uint8_t *)doc, strlen(doc), token);
	if (rc)
		stkdr__err_prefix("keys.backup_replica %s: writing secret %s", stkdr__cfg_str(ctx, "keys.backup_replica"),
			name);
	stkdr_ctx_free(r);
	return rc;
}

static int do_backup(stkdr_buf *version_out, stkdr_ctx *ctx, const char *project, const char *env)
{
	kdb d;
	krow *rows = NULL;
	size_t n = 0, i;
	uint8_t mk[32], h[32];
	char mac[65], token[65];
	cJSON *body = NULL, *arr, *doc = NULL;
	char *body_text = NULL, *doc_text = NULL, *name = NULL;
	const char *rep = stkdr__cfg_str(ctx, "keys.backup_replica");
	stkdr_buf own_version = STKDR_BUF_INIT;
	stkdr_secrets *s;
	int rc;
	if ((rc = kdb_open(&d, ctx, project, env)))
		return rc;
	rc = kdb_load(&rows, &n, &d, NULL, 0);
	kdb_close(&d);
	if (rc)
		goto out0;
	if (!n) {
		rc = stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_NONE, NULL, "%s/%s has no signing keys to back up", project,
			env);
		goto out0;
	}
	if ((rc = stkdr__ctx_master_key(mk, ctx)))
		goto out0;
	body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "project", project);
	cJSON_AddStringToObject(body, "env", env);
	arr = cJSON_AddArrayToObject(body, "keys");
	for (i = 0; arr && i < n; i++) {
		cJSON *k = cJSON_CreateObject(), *jwk = cJSON_Parse(rows[i].jwk);
		if (!k || !jwk) {
			cJSON_Delete(k);
			cJSON_Delete(jwk);
			rc = stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL, "key %s: the stored public JWK is not JSON",
				rows[i].kid);
			goto out;
		}
		cJSON_AddStringToObject(k, "kid", rows[i].kid);
		cJSON_AddStringToObject(k, "alg", rows[i].alg);
		cJSON_AddStringToObject(k, "state", state_name(rows[i].state));
		cJSON_AddNumberToObject(k, "created_ms", (double)rows[i].created_ms);
		cJSON_AddNumberToObject(k, "verify_until_ms", (double)rows[i].verify_until_ms);
		cJSON_AddItemToObject(k, "public_jwk", jwk);
		cJSON_AddStringToObject(k, "private_sealed", rows[i].sealed);
		cJSON_AddItemToArray(arr, k);
	}
	body_text = cJSON_PrintUnformatted(body);
	if (!arr || !body_text) {
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_NONE, NULL, "out of memory");
		goto out;
	}
	bundle_mac(mac, mk, body_text);
	doc = cJSON_CreateObject();
	cJSON_AddStringToObject(doc, "format", BUNDLE_FORMAT);
	cJSON_AddNumberToObject(doc, "format_version", 1);
	cJSON_AddItemReferenceToObject(doc, "body", body);
	cJSON_AddStringToObject(doc, "mac", mac);
	doc_text = cJSON_Print(doc);
	name = secret_name(ctx, project, env);
	if (!doc_text || !name) {
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_NONE, NULL, "out of memory");
		goto out;
	}
	stkdr__sha256(doc_text, strlen(doc_text), h);
	stkdr__hex_encode(token, h, 32);
	token[32] = '\0'; /* 128 bits are plenty for a client token */
	if (!version_out)
		version_out = &own_version;
	stkdr_buf_dispose(version_out);
	if (!(rc = stkdr__ctx_secrets(&s, ctx)))
		rc = s->put(version_out, s, name, (const uint8_t *)doc_text, strlen(doc_text), token);
	if (rc)
		stkdr__err_prefix("backing up the signing keys of %s/%s to secret %s", project, env, name);
	else
		stkdr__log(ctx, STKDR_LOG_INFO, "keys", "%s/%s: %zu keys backed up to secret %s", project, env, n, name);
	if (rep && *rep) {
		/* the second region: written even when the primary failed (it may be the region that is down) */
		char msg[1024], rmsg[1024];
		stkdr_buf rver = STKDR_BUF_INIT;
		int rrc, rklass, pklass = rc ? stkdr__err_get()->klass : 0;
		snprintf(msg, sizeof msg, "%s", rc ? stkdr__err_get()->message : "");
		rrc = replica_put(&rver, ctx, name, doc_text, token);
		snprintf(rmsg, sizeof rmsg, "%s", rrc ? stkdr__err_get()->message : "");
		rklass = rrc ? stkdr__err_get()->klass : 0;
		if (rc && !rrc)
			rc = stkdr__seterr(rc, pklass, NULL, "%s; the replica (keys.backup_replica %s) has it: version %s", msg, rep,
				rver.ptr ? rver.ptr : "");
		else if (rc)
			rc = stkdr__seterr(rc, pklass, NULL, "%s; and the replica failed too: %s", msg, rmsg);
		else if (rrc)
			rc = stkdr__seterr(rrc, rklass, NULL,
				"%s/%s: backed up to secret %s (version %s) but NOT to the replica: %s; run `stk keys backup` again "
				"once the replica is reachable (the primary's version is reused)",
				project, env, name, version_out->ptr ? version_out->ptr : "", rmsg);
		else
			stkdr__log(ctx, STKDR_LOG_INFO, "keys", "%s/%s: backup replicated to keys.backup_replica %s (version %s)",
				project, env, rep, rver.ptr ? rver.ptr : "");
		stkdr_buf_dispose(&rver);
	}
out:
	stkdr__wipe(mk, sizeof mk);
	if (body_text)
		cJSON_free(body_text);
	if (doc_text)
		cJSON_free(doc_text);
	cJSON_Delete(doc);
	cJSON_Delete(body);
	stkdr__free(name);
out0:
	stkdr_buf_dispose(&own_version);
	krows_free(rows, n);
	return rc;
}

int stkdr_keys_backup(stkdr_buf *version_id_out, stkdr_ctx *ctx, const char *project, const char *env)
{
	if (!ctx)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_keys_backup: ctx is NULL");
	return stkdr__ctx_result(ctx, do_backup(version_id_out, ctx, project, env));
}

/* ------------------------------------------------------------------ import */

/* One key to import: sealed for project/env under the master key. */
typedef struct ikey {
	char kid[STKDR__KID_MAX];
	int alg;
	int state;
	int64_t created_ms, verify_until_ms;
	char *jwk;    /* public JWK text */
	char *sealed; /* base64url STKE */
} ikey;

static void ikeys_free(ikey *k, size_t n)
{
	size_t i;
	for (i = 0; i < n; i++) {
		stkdr__free(k[i].jwk);
		stkdr__free(k[i].sealed);
	}
	stkdr__free(k);
}

/* From a parsed private key: JWK, kid, sealed. */
static int ikey_from_pk(ikey *k, mbedtls_pk_context *pk, const uint8_t mk[32], const char *project, const char *env,
	const char *what)
{
	stkdr_buf sealed = STKDR_BUF_INIT;
	cJSON *jwk = NULL;
	int rc;
	if ((rc = pk_check(&k->alg, pk, what)) || (rc = stkdr__key_jwk(&jwk, k->kid, pk, k->alg)))
		return rc;
	if (mbedtls_pk_get_type(pk) != MBEDTLS_PK_RSA &&
		mbedtls_ecp_check_privkey(&mbedtls_pk_ec(*pk)->grp, &mbedtls_pk_ec(*pk)->d) != 0) {
		cJSON_Delete(jwk);
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CRYPTO, NULL, "%s: the EC private key is invalid", what);
	}
	if (!(rc = seal_pk(&sealed, mk, project, env, k->kid, pk))) {
		k->jwk = cJSON_PrintUnformatted(jwk);
		k->sealed = stkdr__buf_detach(&sealed);
		if (!k->jwk || !k->sealed)
			rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_NONE, NULL, "out of memory");
		else {
			/* cJSON memory -> library memory */
			char *t = stkdr__strdup(k->jwk);
			cJSON_free(k->jwk);
			k->jwk = t;
			if (!t)
				rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_NONE, NULL, "out of memory");
		}
	}
	cJSON_Delete(jwk);
	stkdr_buf_dispose(&sealed);
	return rc;
}

static int parse_pem(ikey **out, size_t *n_out, const uint8_t mk[32], const char *project, const char *env,
	const char *what, const char *data, size_t len)
{
	mbedtls_pk_context pk;
	char *z = stkdr__malloc(len + 1);
	ikey *k;
	int ret, rc;
	if (!z)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_NONE, NULL, "out of memory");
	memcpy(z, data, len);
	z[len] = '\0';
	mbedtls_pk_init(&pk);
	/* PEM needs the NUL counted; DER the exact length. */
	ret = mbedtls_pk_parse_key(&pk, (const uint8_t *)z, strstr(z, "-----BEGIN") ? len + 1 : len, NULL, 0);
	stkdr__wipe(z, len + 1);
	stkdr__free(z);
	if (ret) {
		const char *why = "not a PEM or DER private key (SEC1 or PKCS#8 EC, PKCS#1 or PKCS#8 RSA), or truncated";
		if (ret == MBEDTLS_ERR_PK_PASSWORD_REQUIRED || ret == MBEDTLS_ERR_PK_PASSWORD_MISMATCH)
			why = "the key is encrypted: decrypt it first (openssl pkey -in F -out F2)";
		else if (ret == MBEDTLS_ERR_PK_UNKNOWN_NAMED_CURVE)
			why = "unsupported curve: only P-256 (secp256r1, ES256) EC keys are accepted";
		mbedtls_pk_free(&pk);
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CRYPTO, NULL, "%s: %s", what, why);
	}
	k = stkdr__calloc(1, sizeof *k);
	if (!k) {
		mbedtls_pk_free(&pk);
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_NONE, NULL, "out of memory");
	}
	k->state = -1; /* decided at insert */
	rc = ikey_from_pk(k, &pk, mk, project, env, what);
	mbedtls_pk_free(&pk);
	if (rc) {
		ikeys_free(k, 1);
		return rc;
	}
	*out = k;
	*n_out = 1;
	return 0;
}

static int parse_bundle(ikey **out, size_t *n_out, const uint8_t mk[32], const char *project, const char *env,
	const char *what, const char *data, size_t len)
{
	cJSON *doc = cJSON_ParseWithLength(data, len), *body, *keys, *it;
	const cJSON *fmt, *macj, *pj, *ej;
	char *body_text = NULL;
	char mac[65];
	ikey *k = NULL;
	size_t n = 0, cap;
	int rc = 0;
	*out = NULL;
	*n_out = 0;
	if (!doc)
		return stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL,
			"%s: not valid JSON (a truncated backup bundle?)",
			what);
	fmt = cJSON_GetObjectItemCaseSensitive(doc, "format");
	macj = cJSON_GetObjectItemCaseSensitive(doc, "mac");
	body = cJSON_GetObjectItemCaseSensitive(doc, "body");
	if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, BUNDLE_FORMAT) != 0 || !cJSON_IsString(macj) ||
		!cJSON_IsObject(body)) {
		rc = stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL,
			"%s: not a signing-key backup bundle (format \"" BUNDLE_FORMAT "\" with body and mac expected)", what);
		goto out;
	}
	if (!cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(doc, "format_version")) ||
		cJSON_GetObjectItemCaseSensitive(doc, "format_version")->valueint != 1) {
		rc = stkdr__seterr(STKDR_EVERSION, STKDR_ERRCLASS_FORMAT, NULL,
			"%s: bundle format_version is not 1: this library reads version 1 only", what);
		goto out;
	}
	body_text = cJSON_PrintUnformatted(body);
	if (!body_text) {
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_NONE, NULL, "out of memory");
		goto out;
	}
	bundle_mac(mac, mk, body_text);
	if (strlen(macj->valuestring) != 64 || stkdr__ct_memcmp(mac, macj->valuestring, 64) != 0) {
		rc = stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_CRYPTO, NULL,
			"%s: the bundle fails its MAC: it was altered, or it was made under another master key "
			"(check STKDR_MASTER_KEY)", what);
		goto out;
	}
	pj = cJSON_GetObjectItemCaseSensitive(body, "project");
	ej = cJSON_GetObjectItemCaseSensitive(body, "env");
	if (!cJSON_IsString(pj) || !cJSON_IsString(ej) || strcmp(pj->valuestring, project) != 0 ||
		strcmp(ej->valuestring, env) != 0) {
		rc = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_NONE, NULL, "%s: the bundle holds the keys of %s/%s, not %s/%s",
			what, cJSON_IsString(pj) ? pj->valuestring : "?", cJSON_IsString(ej) ? ej->valuestring : "?", project,
			env);
		goto out;
	}
	keys = cJSON_GetObjectItemCaseSensitive(body, "keys");
	cap = cJSON_IsArray(keys) ? (size_t)cJSON_GetArraySize(keys) : 0;
	k = stkdr__calloc(cap + 1, sizeof *k);
	if (!k) {
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_NONE, NULL, "out of memory");
		goto out;
	}
	cJSON_ArrayForEach(it, keys)
	{
		const cJSON *kid = cJSON_GetObjectItemCaseSensitive(it, "kid");
		const cJSON *st = cJSON_GetObjectItemCaseSensitive(it, "state");
		const cJSON *sealed = cJSON_GetObjectItemCaseSensitive(it, "private_sealed");
		const cJSON *cr = cJSON_GetObjectItemCaseSensitive(it, "created_ms");
		const cJSON *vu = cJSON_GetObjectItemCaseSensitive(it, "verify_until_ms");
		mbedtls_pk_context pk;
		char w[160];
		if (!cJSON_IsString(kid) || !cJSON_IsString(st) || !cJSON_IsString(sealed) ||
			state_parse(st->valuestring) < 0 ||
			strlen(kid->valuestring) >= STKDR__KID_MAX) {
			rc = stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL, "%s: key %zu of the bundle is malformed",
				what, n + 1);
			goto out;
		}
		snprintf(w, sizeof w, "%s: key %s", what, kid->valuestring);
		mbedtls_pk_init(&pk);
		rc = open_pk(&pk, mk, project, env, kid->valuestring, sealed->valuestring);
		if (!rc)
			rc = ikey_from_pk(&k[n], &pk, mk, project, env, w);
		mbedtls_pk_free(&pk);
		if (rc)
			goto out;
		if (strcmp(k[n].kid, kid->valuestring) != 0) {
			n++;
			rc = stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_CRYPTO, NULL,
				"%s: the kid is not the key's thumbprint: the bundle was altered", w);
			goto out;
		}
		/* keep the bundle's sealed blob (identical key, stable bytes) */
		stkdr__free(k[n].sealed);
		k[n].sealed = stkdr__strdup(sealed->valuestring);
		k[n].state = state_parse(st->valuestring);
		k[n].created_ms = cJSON_IsNumber(cr) ? (int64_t)cr->valuedouble : 0;
		k[n].verify_until_ms = cJSON_IsNumber(vu) ? (int64_t)vu->valuedouble : 0;
		n++;
		if (!k[n - 1].sealed) {
			rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_NONE, NULL, "out of memory");
			goto out;
		}
	}
	if (!n) {
		rc = stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL, "%s: the bundle holds no keys", what);
		goto out;
	}
out:
	if (body_text)
		cJSON_free(body_text);
	cJSON_Delete(doc);
	if (rc) {
		ikeys_free(k, n);
		return rc;
	}
	*out = k;
	*n_out = n;
	return 0;
}

static int parse_source(ikey **out, size_t *n_out, const uint8_t mk[32], const char *project, const char *env,
	const char *what, const char *data, size_t len)
{
	size_t i = 0;
	while (i < len && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t'))
		i++;
	if (i < len && data[i] == '{')
		return parse_bundle(out, n_out, mk, project, env, what, data, len);
	return parse_pem(out, n_out, mk, project, env, what, data, len);
}

static int read_key_file(stkdr_buf *out, const char *path)
{
	FILE *f = fopen(path, "rb");
	char tmp[4096];
	size_t n;
	int rc = 0;
	if (!f)
		return stkdr__seterr_os(errno, "key file %s", path);
	while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) {
		if (out->size + n > 1024 * 1024) {
			rc = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_NONE, NULL, "key file %s is larger than 1 MiB", path);
			break;
		}
		if ((rc = stkdr_buf_put(out, tmp, n)))
			break;
	}
	if (!rc && ferror(f))
		rc = stkdr__seterr_os(errno, "reading key file %s", path);
	fclose(f);
	stkdr__wipe(tmp, sizeof tmp);
	return rc;
}

/* Inserts the keys in one transaction. */
static int import_keys(int64_t *imported, kdb *d, const uint8_t mk[32], ikey *k, size_t n, int64_t now,
	int64_t overlap)
{
	krow *rows = NULL;
	size_t nr = 0, i, j;
	int rc, have_active = 0;
	*imported = 0;
	if ((rc = kdb_begin(d)))
		return rc;
	if ((rc = kdb_load(&rows, &nr, d, NULL, 1)))
		goto out;
	for (j = 0; j < nr; j++)
		if (rows[j].state == STKDR_KEY_ACTIVE)
			have_active = 1;
	for (i = 0; !rc && i < n; i++) {
		krow *ex = NULL;
		int state;
		int64_t vu;
		for (j = 0; j < nr; j++)
			if (strcmp(rows[j].kid, k[i].kid) == 0)
				ex = &rows[j];
		if (ex) {
			stkdr_buf a = STKDR_BUF_INIT, b = STKDR_BUF_INIT;
			rc = open_der(&a, mk, d->project, d->env, ex->kid, ex->sealed);
			if (!rc)
				rc = open_der(&b, mk, d->project, d->env, k[i].kid, k[i].sealed);
			if (!rc && (a.size != b.size || stkdr__ct_memcmp(a.ptr, b.ptr, a.size) != 0 || strcmp(ex->jwk, k[i].jwk)))
				rc = stkdr__seterr(STKDR_EEXISTS, STKDR_ERRCLASS_NONE, NULL,
					"key %s exists in %s/%s with different material: refused (nothing imported)", k[i].kid,
					d->project, d->env);
			wipe_buf(&a);
			wipe_buf(&b);
			continue; /* same key: no-op */
		}
		state = k[i].state;
		vu = k[i].verify_until_ms;
		if (state < 0)
			state = have_active ? STKDR_KEY_VERIFY_ONLY : STKDR_KEY_ACTIVE;
		if (state == STKDR_KEY_ACTIVE && have_active)
			state = STKDR_KEY_VERIFY_ONLY;
		if (state == STKDR_KEY_VERIFY_ONLY && vu == 0)
			vu = now + overlap;
		if (state != STKDR_KEY_VERIFY_ONLY)
			vu = 0;
		if (state == STKDR_KEY_ACTIVE)
			have_active = 1;
		rc = kdb_insert(d, k[i].kid, stkdr__key_alg_name(k[i].alg), state, k[i].created_ms ? k[i].created_ms : now, vu,
			k[i].jwk, k[i].sealed);
		if (!rc)
			(*imported)++;
	}
out:
	krows_free(rows, nr);
	rc = kdb_end(d, rc);
	if (rc)
		*imported = 0;
	return rc;
}

static int do_import(int64_t *imported_out, stkdr_ctx *ctx, const char *project, const char *env,
	const stkdr_keys_import_options *opts)
{
	stkdr_keys_import_options o;
	stkdr_buf data = STKDR_BUF_INIT;
	uint8_t mk[32];
	ikey *k = NULL;
	size_t n = 0;
	char *what = NULL, *name = NULL;
	int64_t imported = 0;
	stkdr_ctx *rctx = NULL;
	kdb d;
	int rc;
	stkdr_keys_import_options_init(&o, STKDR_KEYS_IMPORT_OPTIONS_VERSION);
	if (opts) {
		if (opts->version == 0 || opts->version > STKDR_KEYS_IMPORT_OPTIONS_VERSION)
			return stkdr__seterr(STKDR_EVERSION, STKDR_ERRCLASS_INTERNAL, NULL,
				"stkdr_keys_import_options version %u is not supported", opts->version);
		o.source = opts->source;
		o.key_file = opts->key_file;
		o.stage = opts->stage ? opts->stage : STKDR_STAGE_CURRENT;
		o.backup_version = opts->backup_version;
		o.replica = opts->replica;
	}
	if ((rc = check_name("project", project)) || (rc = check_name("env", env)))
		return rc;
	if (o.replica && o.source != STKDR_KEYS_IMPORT_BACKUP)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_NONE, NULL, "--replica goes with --from-backup");
	if (o.source == STKDR_KEYS_IMPORT_FILE) {
		if (!o.key_file || !*o.key_file)
			return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_NONE, NULL,
				"no key file: give --key-file F or --from-backup");
		if ((rc = read_key_file(&data, o.key_file)))
			goto out;
		what = stkdr__aprintf("key file %s", o.key_file);
	} else if (o.source == STKDR_KEYS_IMPORT_BACKUP) {
		stkdr_secrets *s;
		if (o.stage != STKDR_STAGE_CURRENT && o.stage != STKDR_STAGE_PREVIOUS)
			return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_NONE, NULL, "stage must be current or previous");
		name = secret_name(ctx, project, env);
		if (!name)
			return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_NONE, NULL, "out of memory");
		if (o.replica ? (rc = replica_open(&rctx, &s, ctx)) : (rc = stkdr__ctx_secrets(&s, ctx)))
			goto out;
		rc = s->get(&data, NULL, s, name, o.backup_version, o.stage);
		if (rc) {
			if (o.backup_version)
				stkdr__err_prefix("reading version %s of the key backup %s%s", o.backup_version, name,
					o.replica ? " in the replica" : "");
			else
				stkdr__err_prefix("reading the %s key backup %s%s",
					o.stage == STKDR_STAGE_PREVIOUS ? "previous" : "current", name,
					o.replica ? " in the replica" : "");
			goto out;
		}
		what = o.backup_version ? stkdr__aprintf("%sbackup %s version %s", o.replica ? "replica " : "", name,
						  o.backup_version)
					: stkdr__aprintf("%sbackup %s (%s)", o.replica ? "replica " : "", name,
						  o.stage == STKDR_STAGE_PREVIOUS ? "previous" : "current");
	} else {
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_NONE, NULL, "unknown import source %d", o.source);
	}
	if (!what) {
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_NONE, NULL, "out of memory");
		goto out;
	}
	if ((rc = stkdr__ctx_master_key(mk, ctx)))
		goto out;
	rc = parse_source(&k, &n, mk, project, env, what, data.ptr ? data.ptr : "", data.size);
	if (!rc && !(rc = kdb_open(&d, ctx, project, env))) {
		rc = import_keys(&imported, &d, mk, k, n, stkdr__ctx_now_ms(ctx),
			stkdr__cfg_int(ctx, "keys.overlap", 24LL * 3600 * 1000));
		kdb_close(&d);
	}
	stkdr__wipe(mk, sizeof mk);
	if (!rc)
		stkdr__log(ctx, STKDR_LOG_INFO, "keys", "%s/%s: %lld of %zu keys imported from %s", project, env,
			(long long)imported, n, what);
out:
	if (imported_out)
		*imported_out = rc ? 0 : imported;
	ikeys_free(k, n);
	wipe_buf(&data);
	stkdr__free(what);
	stkdr__free(name);
	stkdr_ctx_free(rctx);
	return rc;
}

int stkdr_keys_import(int64_t *imported_out, stkdr_ctx *ctx, const char *project, const char *env,
	const stkdr_keys_import_options *opts)
{
	if (!ctx)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_keys_import: ctx is NULL");
	return stkdr__ctx_result(ctx, do_import(imported_out, ctx, project, env, opts));
}

/* ------------------------------------------------------------------ JWT */

static int b64_json(stkdr_buf *out, const char *json)
{
	return stkdr__b64_encode(out, json, strlen(json), 1);
}

static int do_sign(stkdr_buf *token_out, stkdr_ctx *ctx, const char *project, const char *env, const char *claims_json,
	const stkdr_jwt_sign_options *opts)
{
	kdb d;
	krow *rows = NULL;
	size_t n = 0;
	uint8_t mk[32], h[32], sig[1024];
	size_t sig_len = 0;
	mbedtls_pk_context pk;
	cJSON *claims = NULL;
	char *ctext = NULL, *header = NULL;
	stkdr_buf tok = STKDR_BUF_INIT;
	int64_t now = stkdr__ctx_now_ms(ctx), ttl;
	const char *iss = stkdr__cfg_str(ctx, "keys.issuer"), *aud = stkdr__cfg_str(ctx, "keys.audience");
	int rc, alg = 0;
	if (opts && (opts->version == 0 || opts->version > STKDR_JWT_SIGN_OPTIONS_VERSION))
		return stkdr__seterr(STKDR_EVERSION, STKDR_ERRCLASS_INTERNAL, NULL,
			"stkdr_jwt_sign_options version %u is not supported", opts->version);
	ttl = opts && opts->ttl_ms ? opts->ttl_ms : stkdr__cfg_int(ctx, "keys.token_ttl", 15 * 60 * 1000);
	if (ttl <= 0)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_NONE, NULL, "token lifetime must be positive");
	claims = claims_json ? cJSON_Parse(claims_json) : cJSON_CreateObject();
	if (!cJSON_IsObject(claims)) {
		cJSON_Delete(claims);
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_NONE, NULL, "token claims must be a JSON object");
	}
	cJSON_DeleteItemFromObjectCaseSensitive(claims, "iat");
	cJSON_DeleteItemFromObjectCaseSensitive(claims, "nbf");
	cJSON_DeleteItemFromObjectCaseSensitive(claims, "exp");
	cJSON_AddNumberToObject(claims, "iat", (double)(now / 1000));
	cJSON_AddNumberToObject(claims, "nbf", (double)(now / 1000));
	cJSON_AddNumberToObject(claims, "exp", (double)((now + ttl) / 1000));
	if (iss && *iss && !cJSON_HasObjectItem(claims, "iss"))
		cJSON_AddStringToObject(claims, "iss", iss);
	if (aud && *aud && !cJSON_HasObjectItem(claims, "aud"))
		cJSON_AddStringToObject(claims, "aud", aud);
	mbedtls_pk_init(&pk);
	if ((rc = kdb_open(&d, ctx, project, env))) {
		cJSON_Delete(claims);
		return rc;
	}
	rc = kdb_load(&rows, &n, &d, "AND state = 'active'", 0);
	kdb_close(&d);
	if (!rc && n == 0)
		rc = stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_NONE, NULL,
			"%s/%s has no active signing key: run `stk keys generate` or import one", project, env);
	if (rc || (rc = stkdr__ctx_master_key(mk, ctx)))
		goto out;
	rc = open_pk(&pk, mk, project, env, rows[0].kid, rows[0].sealed);
	stkdr__wipe(mk, sizeof mk);
	if (rc)
		goto out;
	alg = stkdr__key_alg_parse(rows[0].alg);
	header = stkdr__aprintf("{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}", stkdr__key_alg_name(alg), rows[0].kid);
	ctext = cJSON_PrintUnformatted(claims);
	if (!header || !ctext) {
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_NONE, NULL, "out of memory");
		goto out;
	}
	if ((rc = b64_json(&tok, header)) || (rc = stkdr_buf_put(&tok, ".", 1)) || (rc = b64_json(&tok, ctext)))
		goto out;
	stkdr__sha256(tok.ptr, tok.size, h);
	if (alg == STKDR_KEY_ES256) {
		mbedtls_ecp_keypair *ec = mbedtls_pk_ec(pk);
		mbedtls_mpi r, s;
		mbedtls_mpi_init(&r);
		mbedtls_mpi_init(&s);
		if (mbedtls_ecdsa_sign(&ec->grp, &r, &s, &ec->d, h, 32, rng, NULL) ||
			mbedtls_mpi_write_binary(&r, sig, 32) || mbedtls_mpi_write_binary(&s, sig + 32, 32))
			rc = stkdr__seterr(STKDR_ERROR, STKDR_ERRCLASS_CRYPTO, NULL, "ES256 signing with key %s failed",
				rows[0].kid);
		sig_len = 64;
		mbedtls_mpi_free(&r);
		mbedtls_mpi_free(&s);
	} else if (mbedtls_pk_sign(&pk, MBEDTLS_MD_SHA256, h, 32, sig, &sig_len, rng, NULL) != 0) {
		rc = stkdr__seterr(STKDR_ERROR, STKDR_ERRCLASS_CRYPTO, NULL, "RS256 signing with key %s failed", rows[0].kid);
	}
	if (rc || (rc = stkdr_buf_put(&tok, ".", 1)) || (rc = stkdr__b64_encode(&tok, sig, sig_len, 1)))
		goto out;
	rc = stkdr_buf_set(token_out, tok.ptr, tok.size);
out:
	mbedtls_pk_free(&pk);
	krows_free(rows, n);
	cJSON_Delete(claims);
	if (ctext)
		cJSON_free(ctext);
	stkdr__free(header);
	stkdr_buf_dispose(&tok);
	return rc;
}

int stkdr_jwt_sign(stkdr_buf *token_out, stkdr_ctx *ctx, const char *project, const char *env,
	const char *claims_json, const stkdr_jwt_sign_options *opts)
{
	if (!ctx || !token_out)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_jwt_sign: ctx or token_out is NULL");
	return stkdr__ctx_result(ctx, do_sign(token_out, ctx, project, env, claims_json, opts));
}

typedef struct vkey {
	char kid[STKDR__KID_MAX];
	int alg;
	mbedtls_pk_context pk;
} vkey;

struct stkdr_jwt_verifier {
	vkey *keys;
	size_t n;
};

void stkdr_jwt_verifier_free(stkdr_jwt_verifier *v)
{
	size_t i;
	if (!v)
		return;
	for (i = 0; i < v->n; i++)
		mbedtls_pk_free(&v->keys[i].pk);
	stkdr__free(v->keys);
	stkdr__free(v);
}

int64_t stkdr_jwt_verifier_count(const stkdr_jwt_verifier *v)
{
	return v ? (int64_t)v->n : 0;
}

int stkdr__jwt_verifier_new(stkdr_jwt_verifier **out, const char *jwks, size_t len)
{
	cJSON *doc, *keys, *it;
	stkdr_jwt_verifier *v;
	size_t cap, i;
	int rc = 0;
	*out = NULL;
	doc = jwks ? cJSON_ParseWithLength(jwks, len) : NULL;
	keys = doc ? cJSON_GetObjectItemCaseSensitive(doc, "keys") : NULL;
	if (!cJSON_IsArray(keys)) {
		cJSON_Delete(doc);
		return stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL,
			"JWKS: not a JSON object with a \"keys\" array");
	}
	cap = (size_t)cJSON_GetArraySize(keys);
	v = stkdr__calloc(1, sizeof *v);
	if (v)
		v->keys = stkdr__calloc(cap + 1, sizeof *v->keys);
	if (!v || !v->keys) {
		stkdr__free(v);
		cJSON_Delete(doc);
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_NONE, NULL, "out of memory");
	}
	cJSON_ArrayForEach(it, keys)
	{
		vkey *k = &v->keys[v->n];
		mbedtls_pk_init(&k->pk);
		v->n++;
		if ((rc = stkdr__key_from_jwk(&k->pk, &k->alg, k->kid, it)))
			break;
		for (i = 0; i + 1 < v->n; i++)
			if (strcmp(v->keys[i].kid, k->kid) == 0) {
				rc = stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL, "JWKS: kid %s appears twice", k->kid);
				break;
			}
		if (rc)
			break;
	}
	cJSON_Delete(doc);
	if (!rc && v->n == 0)
		rc = stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL, "JWKS: the key set is empty");
	if (rc) {
		stkdr_jwt_verifier_free(v);
		return rc;
	}
	*out = v;
	return 0;
}

int stkdr_jwt_verifier_new(stkdr_jwt_verifier **out, stkdr_ctx *ctx, const char *jwks_json, size_t len)
{
	if (!out || !ctx)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_jwt_verifier_new: out or ctx is NULL");
	return stkdr__ctx_result(ctx, stkdr__jwt_verifier_new(out, jwks_json, len));
}

static int safe_token_text(const char *s)
{
	size_t i;
	for (i = 0; s[i]; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
			    ch == '_'))
			return 0;
	}
	return i > 0 && i < 80;
}

int stkdr__jwt_verify(stkdr_buf *claims_out, stkdr_ctx *ctx, const stkdr_jwt_verifier *v, const char *token,
	const stkdr_jwt_verify_options *opts)
{
	const char *d1, *d2;
	stkdr_buf hb = STKDR_BUF_INIT, pb = STKDR_BUF_INIT, sb = STKDR_BUF_INIT;
	cJSON *hdr = NULL, *cl = NULL;
	const cJSON *alg, *kid, *exp, *nbf;
	const vkey *key = NULL;
	uint8_t h[32];
	int64_t now, leeway;
	const char *iss, *aud;
	size_t i, len;
	int rc = 0;
	if (opts && (opts->version == 0 || opts->version > STKDR_JWT_VERIFY_OPTIONS_VERSION))
		return stkdr__seterr(STKDR_EVERSION, STKDR_ERRCLASS_INTERNAL, NULL,
			"stkdr_jwt_verify_options version %u is not supported", opts->version);
	if (!v || !token)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
			"stkdr_jwt_verify: verifier or token is NULL");
	len = strlen(token);
	d1 = strchr(token, '.');
	d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	if (len > TOKEN_MAX || !d1 || !d2 || strchr(d2 + 1, '.'))
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_FORMAT, NULL,
			"token is not a compact JWS (three base64url parts separated by '.')");
	if (stkdr__b64_decode(&hb, token, (size_t)(d1 - token), 1) ||
		stkdr__b64_decode(&pb, d1 + 1, (size_t)(d2 - d1 - 1), 1) ||
		stkdr__b64_decode(&sb, d2 + 1, strlen(d2 + 1), 1)) {
		rc = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_FORMAT, NULL, "token: a part is not base64url");
		goto out;
	}
	hdr = cJSON_ParseWithLength(hb.ptr ? hb.ptr : "", hb.size);
	alg = cJSON_GetObjectItemCaseSensitive(hdr, "alg");
	kid = cJSON_GetObjectItemCaseSensitive(hdr, "kid");
	if (!cJSON_IsObject(hdr) || !cJSON_IsString(alg) || !cJSON_IsString(kid)) {
		rc = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_FORMAT, NULL,
			"token header: JSON with \"alg\" and \"kid\" expected");
		goto out;
	}
	if (cJSON_HasObjectItem(hdr, "crit")) {
		rc = stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_CRYPTO, NULL, "token header has \"crit\" extensions: refused");
		goto out;
	}
	for (i = 0; i < v->n; i++)
		if (strcmp(v->keys[i].kid, kid->valuestring) == 0)
			key = &v->keys[i];
	if (!key) {
		rc = stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_CRYPTO, NULL,
			"token kid %s is not among the %zu verification keys (sync the keys, or the token is forged)",
			safe_token_text(kid->valuestring) ? kid->valuestring : "(malformed)", v->n);
		goto out;
	}
	if (stkdr__key_alg_parse(alg->valuestring) != key->alg) {
		rc = stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_CRYPTO, NULL,
			"token alg %s is not allowed for key %s (it accepts only %s)",
			safe_token_text(alg->valuestring) ? alg->valuestring : "(malformed)", key->kid,
			stkdr__key_alg_name(key->alg));
		goto out;
	}
	stkdr__sha256(token, (size_t)(d2 - token), h);
	if (key->alg == STKDR_KEY_ES256) {
		mbedtls_ecp_keypair *ec = mbedtls_pk_ec(key->pk);
		mbedtls_mpi r, s;
		int bad = sb.size != 64;
		mbedtls_mpi_init(&r);
		mbedtls_mpi_init(&s);
		if (!bad)
			bad = mbedtls_mpi_read_binary(&r, (const uint8_t *)sb.ptr, 32) ||
			      mbedtls_mpi_read_binary(&s, (const uint8_t *)sb.ptr + 32, 32) ||
			      mbedtls_ecdsa_verify(&ec->grp, h, 32, &ec->Q, &r, &s);
		mbedtls_mpi_free(&r);
		mbedtls_mpi_free(&s);
		if (bad)
			rc = -1;
	} else if (mbedtls_pk_verify((mbedtls_pk_context *)&key->pk, MBEDTLS_MD_SHA256, h, 32, (const uint8_t *)sb.ptr,
			   sb.size) != 0) {
		rc = -1;
	}
	if (rc) {
		rc = stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_CRYPTO, NULL,
			"token signature does not verify with key %s (%s): forged or altered", key->kid,
			stkdr__key_alg_name(key->alg));
		goto out;
	}
	cl = cJSON_ParseWithLength(pb.ptr ? pb.ptr : "", pb.size);
	if (!cJSON_IsObject(cl)) {
		rc = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_FORMAT, NULL, "token claims are not a JSON object");
		goto out;
	}
	now = stkdr__ctx_now_ms(ctx);
	leeway = opts && opts->leeway_ms >= 0 ? opts->leeway_ms : stkdr__cfg_int(ctx, "keys.leeway", 60000);
	exp = cJSON_GetObjectItemCaseSensitive(cl, "exp");
	nbf = cJSON_GetObjectItemCaseSensitive(cl, "nbf");
	if (!cJSON_IsNumber(exp)) {
		rc = stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_CRYPTO, NULL, "token has no numeric \"exp\" claim: refused");
		goto out;
	}
	if ((double)now > exp->valuedouble * 1000.0 + (double)leeway) {
		char t[40];
		stkdr__time_format_rfc3339(t, sizeof t, (int64_t)(exp->valuedouble * 1000.0));
		rc = stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_CRYPTO, NULL, "token expired at %s", t);
		goto out;
	}
	if (cJSON_IsNumber(nbf) && (double)now + (double)leeway < nbf->valuedouble * 1000.0) {
		char t[40];
		stkdr__time_format_rfc3339(t, sizeof t, (int64_t)(nbf->valuedouble * 1000.0));
		rc = stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_CRYPTO, NULL, "token is not valid before %s", t);
		goto out;
	}
	iss = opts && opts->issuer ? opts->issuer : stkdr__cfg_str(ctx, "keys.issuer");
	aud = opts && opts->audience ? opts->audience : stkdr__cfg_str(ctx, "keys.audience");
	if (iss && *iss) {
		const cJSON *ti = cJSON_GetObjectItemCaseSensitive(cl, "iss");
		if (!cJSON_IsString(ti) || strcmp(ti->valuestring, iss) != 0) {
			rc = stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_CRYPTO, NULL, "token issuer is not %s", iss);
			goto out;
		}
	}
	if (aud && *aud) {
		const cJSON *ta = cJSON_GetObjectItemCaseSensitive(cl, "aud"), *e;
		int ok = cJSON_IsString(ta) && strcmp(ta->valuestring, aud) == 0;
		if (cJSON_IsArray(ta))
			cJSON_ArrayForEach(e, ta) if (cJSON_IsString(e) && strcmp(e->valuestring, aud) == 0) ok = 1;
		if (!ok) {
			rc = stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_CRYPTO, NULL, "token audience does not include %s", aud);
			goto out;
		}
	}
	if (claims_out)
		rc = stkdr_buf_set(claims_out, pb.ptr, pb.size);
out:
	cJSON_Delete(hdr);
	cJSON_Delete(cl);
	stkdr_buf_dispose(&hb);
	stkdr_buf_dispose(&pb);
	stkdr_buf_dispose(&sb);
	return rc;
}

int stkdr_jwt_verify(stkdr_buf *claims_out, stkdr_ctx *ctx, const stkdr_jwt_verifier *v, const char *token,
	const stkdr_jwt_verify_options *opts)
{
	if (!ctx)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_jwt_verify: ctx is NULL");
	return stkdr__ctx_result(ctx, stkdr__jwt_verify(claims_out, ctx, v, token, opts));
}
