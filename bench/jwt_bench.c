/*
 * JWT verification and key-sync start-up micro-benchmark (bench/keys.sh builds and runs it; see
 * docs/performance.md, "Signing keys and JWT").
 *
 *   verify JWKS TOKEN SECONDS        stkdr_jwt_verify() on one token (SECONDS of CPU time), the verifier built once (keys parsed
 *                                    once per kid, as the Bridge does): verifications/s
 *   reparse JWKS TOKEN SECONDS       stkdr_jwt_verifier_new() + stkdr_jwt_verify() + free per token (what
 *                                    parsing the key per token would cost)
 *   raw JWKS TOKEN SECONDS           mbedTLS alone on the same key and signature: mbedtls_ecdsa_verify() on
 *                                    the cached group and point (ES256) or mbedtls_pk_verify() (RS256), hash
 *                                    and r/s decoded once: the floor of our verify path
 *   rawload JWKS TOKEN SECONDS       ES256 only: mbedtls_ecdsa_verify() with mbedtls_ecp_group_load() per call
 *                                    (no cached comb table for G)
 *   rawq JWKS TOKEN SECONDS          ES256 only, experiment: verification composed from mbedTLS point
 *                                    operations with the comb table of the public key cached too (see
 *                                    verify_qtable()); not what the library does
 *   keysync URL CA CACHE_DIR N RETRIES
 *                                    N x (stkdr_keysync_new + stkdr_keysync_start + free); prints the median and
 *                                    min start-up time in ms and whether the set came from the cache
 *
 * Build (bench/keys.sh does this):
 *   cc -O2 -Iinclude -Isrc bench/jwt_bench.c BUILD/libstkdr.a \
 *      $(pkg-config --libs libcurl libcjson libpq zlib libzstd libxml-2.0) -lmbedtls -lmbedx509 -lmbedcrypto \
 *      -lpthread -o jwt_bench      (the Requires.private of BUILD/meson-private/stkdr.pc)
 * Output: one line "mode alg ops/s count cpu_seconds" (per CPU-second of this process: a per-core figure)
 * or "keysync median_ms min_ms from_cache keys" (wall clock).
 */
#define _GNU_SOURCE
#include "core/crypto.h"
#include "features/keys_internal.h"
#include "stkdr/keysync.h"

#include <cjson/cJSON.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of this process: verifications per CPU-second are per-core figures that other processes on
 * the machine disturb much less than wall-clock ones (openssl speed and the PyJWT loop count the same way). */
static double cpu(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *p;
	long n;
	if (!f) {
		perror(path);
		exit(2);
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	p = malloc((size_t)n + 1);
	if (!p || fread(p, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "%s: read error\n", path);
		exit(2);
	}
	p[n] = '\0';
	while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r' || p[n - 1] == ' '))
		p[--n] = '\0';
	fclose(f);
	return p;
}

static stkdr_ctx *mkctx(void)
{
	stkdr_ctx_options o = STKDR_CTX_OPTIONS_INIT;
	stkdr_ctx *ctx = NULL;
	o.config_json = "{\"deployment\":\"bench\"}";
	o.flags = STKDR_CTX_NO_ENV | STKDR_CTX_NO_DEFAULT_FILE;
	if (stkdr_ctx_new(&ctx, &o) != 0) {
		fprintf(stderr, "stkdr_ctx_new: %s\n", stkdr_error_last()->message);
		exit(2);
	}
	return ctx;
}

static void die_ctx(stkdr_ctx *ctx, const char *what)
{
	fprintf(stderr, "%s: %s\n", what, stkdr_ctx_last_error(ctx)->message);
	exit(1);
}

/* The token's alg (from its header) for the output line. */
static const char *token_alg(const char *tok)
{
	const char *d = strchr(tok, '.');
	stkdr_buf h = STKDR_BUF_INIT;
	const char *alg = "?";
	if (d && stkdr__b64_decode(&h, tok, (size_t)(d - tok), 1) == 0 && h.ptr)
		alg = strstr(h.ptr, "RS256") ? "RS256" : strstr(h.ptr, "ES256") ? "ES256" : "?";
	stkdr_buf_dispose(&h);
	return alg;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void report(const char *mode, const char *alg, long n, double secs)
{
	printf("%s %s %.0f %ld %.3f\n", mode, alg, (double)n / secs, n, secs);
}

static int bench_verify(const char *jwks_file, const char *tok_file, double secs, int reparse)
{
	stkdr_ctx *ctx = mkctx();
	char *jwks = slurp(jwks_file), *tok = slurp(tok_file);
	stkdr_jwt_verifier *v = NULL;
	double t0, t;
	long n = 0;
	if (stkdr_jwt_verifier_new(&v, ctx, jwks, strlen(jwks)) != 0)
		die_ctx(ctx, "stkdr_jwt_verifier_new");
	if (stkdr_jwt_verify(NULL, ctx, v, tok, NULL) != 0)
		die_ctx(ctx, "stkdr_jwt_verify (the token does not verify)");
	t0 = cpu();
	do {
		int i;
		for (i = 0; i < 16; i++) {
			if (reparse) {
				stkdr_jwt_verifier_free(v);
				v = NULL;
				if (stkdr_jwt_verifier_new(&v, ctx, jwks, strlen(jwks)) != 0)
					die_ctx(ctx, "stkdr_jwt_verifier_new");
			}
			if (stkdr_jwt_verify(NULL, ctx, v, tok, NULL) != 0)
				die_ctx(ctx, "stkdr_jwt_verify");
		}
		n += 16;
		t = cpu() - t0;
	} while (t < secs);
	report(reparse ? "reparse" : "verify", token_alg(tok), n, t);
	stkdr_jwt_verifier_free(v);
	stkdr_ctx_free(ctx);
	free(jwks);
	free(tok);
	return 0;
}

/*
 * Experiment (bench only, not used by the library): ECDSA verification composed from mbedTLS's public point
 * operations so that the comb table of the public key Q is cached too: a second group whose generator is
 * Q (mbedTLS caches the comb table of a group's generator only). R = u1*G (table cached in grp) + u2*Q
 * (table cached in gq), added with mbedtls_ecp_muladd(1, R1, 1, R2), which mbedTLS short-cuts to a point
 * addition. Measures what a per-kid Q table could gain; the library keeps mbedtls_ecdsa_verify().
 */
static int verify_qtable(mbedtls_ecp_group *grp, mbedtls_ecp_group *gq, const uint8_t h[32], const mbedtls_mpi *r,
	const mbedtls_mpi *s)
{
	mbedtls_mpi e, sinv, u1, u2, one, x;
	mbedtls_ecp_point r1, r2, R;
	int ret = 1;
	mbedtls_mpi_init(&e);
	mbedtls_mpi_init(&sinv);
	mbedtls_mpi_init(&u1);
	mbedtls_mpi_init(&u2);
	mbedtls_mpi_init(&one);
	mbedtls_mpi_init(&x);
	mbedtls_ecp_point_init(&r1);
	mbedtls_ecp_point_init(&r2);
	mbedtls_ecp_point_init(&R);
	if (mbedtls_mpi_cmp_int(r, 1) < 0 || mbedtls_mpi_cmp_mpi(r, &grp->N) >= 0 || mbedtls_mpi_cmp_int(s, 1) < 0 ||
		mbedtls_mpi_cmp_mpi(s, &grp->N) >= 0)
		goto out;
	if (mbedtls_mpi_read_binary(&e, h, 32) || mbedtls_mpi_inv_mod(&sinv, s, &grp->N) ||
		mbedtls_mpi_mul_mpi(&u1, &e, &sinv) || mbedtls_mpi_mod_mpi(&u1, &u1, &grp->N) ||
		mbedtls_mpi_mul_mpi(&u2, r, &sinv) || mbedtls_mpi_mod_mpi(&u2, &u2, &grp->N) || mbedtls_mpi_lset(&one, 1))
		goto out;
	if (mbedtls_ecp_mul(grp, &r1, &u1, &grp->G, NULL, NULL) || mbedtls_ecp_mul(gq, &r2, &u2, &gq->G, NULL, NULL) ||
		mbedtls_ecp_muladd(grp, &R, &one, &r1, &one, &r2) || mbedtls_ecp_is_zero(&R))
		goto out;
	if (mbedtls_mpi_mod_mpi(&x, &R.X, &grp->N) || mbedtls_mpi_cmp_mpi(&x, r) != 0)
		goto out;
	ret = 0;
out:
	mbedtls_mpi_free(&e);
	mbedtls_mpi_free(&sinv);
	mbedtls_mpi_free(&u1);
	mbedtls_mpi_free(&u2);
	mbedtls_mpi_free(&one);
	mbedtls_mpi_free(&x);
	mbedtls_ecp_point_free(&r1);
	mbedtls_ecp_point_free(&r2);
	mbedtls_ecp_point_free(&R);
	return ret;
}

/* mbedTLS alone on the key of the token's kid (the first key of the set with the token's alg). */
/* load_group: 0 raw, 1 group load per call, 2 the Q-table experiment */
static int bench_raw(const char *jwks_file, const char *tok_file, double secs, int load_group)
{
	char *jwks = slurp(jwks_file), *tok = slurp(tok_file);
	const char *alg = token_alg(tok), *d2 = strrchr(tok, '.');
	cJSON *doc = cJSON_Parse(jwks), *it;
	mbedtls_pk_context pk;
	stkdr_buf sig = STKDR_BUF_INIT;
	char kid[STKDR__KID_MAX];
	uint8_t h[32];
	int a = 0, want = strcmp(alg, "RS256") == 0 ? STKDR_KEY_RS256 : STKDR_KEY_ES256, found = 0;
	double t0, t;
	long n = 0;
	mbedtls_pk_init(&pk);
	cJSON_ArrayForEach(it, cJSON_GetObjectItem(doc, "keys"))
	{
		mbedtls_pk_free(&pk);
		mbedtls_pk_init(&pk);
		if (stkdr__key_from_jwk(&pk, &a, kid, it) == 0 && a == want) {
			found = 1;
			break;
		}
	}
	if (!found || !d2 || stkdr__b64_decode(&sig, d2 + 1, strlen(d2 + 1), 1) != 0) {
		fprintf(stderr, "raw: no %s key in %s or bad token\n", alg, jwks_file);
		return 1;
	}
	stkdr__sha256(tok, (size_t)(d2 - tok), h);
	if (want == STKDR_KEY_ES256) {
		mbedtls_ecp_keypair *ec = mbedtls_pk_ec(pk);
		mbedtls_ecp_group g;
		mbedtls_mpi r, s;
		mbedtls_mpi_init(&r);
		mbedtls_mpi_init(&s);
		mbedtls_ecp_group_init(&g);
		if (sig.size != 64 || mbedtls_mpi_read_binary(&r, (const uint8_t *)sig.ptr, 32) ||
			mbedtls_mpi_read_binary(&s, (const uint8_t *)sig.ptr + 32, 32) ||
			mbedtls_ecdsa_verify(&ec->grp, h, 32, &ec->Q, &r, &s) != 0) {
			fprintf(stderr, "raw: the ES256 signature does not verify\n");
			return 1;
		}
		if (load_group == 2) {
			uint8_t h2[32];
			memcpy(h2, h, 32);
			h2[0] ^= 1;
			/* group_load points G at mbedTLS's constant data: give the copy its own point */
			if (mbedtls_ecp_group_load(&g, MBEDTLS_ECP_DP_SECP256R1) || (mbedtls_ecp_point_init(&g.G), 0) ||
				mbedtls_ecp_copy(&g.G, &ec->Q) ||
				verify_qtable(&ec->grp, &g, h, &r, &s) != 0 || verify_qtable(&ec->grp, &g, h2, &r, &s) == 0) {
				fprintf(stderr, "rawq: the experiment does not verify correctly\n");
				return 1;
			}
		}
		t0 = cpu();
		do {
			int i;
			for (i = 0; i < 16; i++) {
				int ret;
				if (load_group == 2) {
					ret = verify_qtable(&ec->grp, &g, h, &r, &s);
				} else if (load_group) {
					mbedtls_ecp_group_free(&g);
					mbedtls_ecp_group_init(&g);
					ret = mbedtls_ecp_group_load(&g, MBEDTLS_ECP_DP_SECP256R1) ||
					      mbedtls_ecdsa_verify(&g, h, 32, &ec->Q, &r, &s);
				} else {
					ret = mbedtls_ecdsa_verify(&ec->grp, h, 32, &ec->Q, &r, &s);
				}
				if (ret) {
					fprintf(stderr, "raw: verify failed\n");
					return 1;
				}
			}
			n += 16;
			t = cpu() - t0;
		} while (t < secs);
		if (load_group == 2)
			mbedtls_ecp_point_free(&g.G); /* ours; mbedtls_ecp_group_free() leaves G of a named curve alone */
		mbedtls_ecp_group_free(&g);
		mbedtls_mpi_free(&r);
		mbedtls_mpi_free(&s);
	} else {
		if (load_group) {
			fprintf(stderr, "rawload: ES256 only\n");
			return 2;
		}
		if (mbedtls_pk_verify(&pk, MBEDTLS_MD_SHA256, h, 32, (const uint8_t *)sig.ptr, sig.size) != 0) {
			fprintf(stderr, "raw: the RS256 signature does not verify\n");
			return 1;
		}
		t0 = cpu();
		do {
			int i;
			for (i = 0; i < 16; i++)
				if (mbedtls_pk_verify(&pk, MBEDTLS_MD_SHA256, h, 32, (const uint8_t *)sig.ptr, sig.size) != 0) {
					fprintf(stderr, "raw: verify failed\n");
					return 1;
				}
			n += 16;
			t = cpu() - t0;
		} while (t < secs);
	}
	report(load_group == 2 ? "rawq" : load_group ? "rawload" : "raw", alg, n, t);
	mbedtls_pk_free(&pk);
	stkdr_buf_dispose(&sig);
	cJSON_Delete(doc);
	free(jwks);
	free(tok);
	return 0;
}

static int bench_keysync(const char *url, const char *ca, const char *cache_dir, int n, int retries)
{
	stkdr_ctx *ctx = mkctx();
	double *ms = calloc((size_t)n, sizeof *ms);
	int i, from_cache = 0;
	int64_t keys = 0;
	for (i = 0; i < n; i++) {
		stkdr_keysync_options o = STKDR_KEYSYNC_OPTIONS_INIT;
		stkdr_keysync *ks = NULL;
		double t0;
		o.hub_url = url;
		o.ca_file = ca;
		o.cache_dir = cache_dir;
		o.retries = retries;
		o.timeout_ms = 2000;
		t0 = now();
		if (stkdr_keysync_new(&ks, ctx, "bench", "prod", &o) != 0)
			die_ctx(ctx, "stkdr_keysync_new");
		if (stkdr_keysync_start(ks) != 0)
			die_ctx(ctx, "stkdr_keysync_start");
		ms[i] = (now() - t0) * 1000.0;
		from_cache = stkdr_keysync_from_cache(ks);
		keys = stkdr_keysync_key_count(ks);
		stkdr_keysync_free(ks);
	}
	qsort(ms, (size_t)n, sizeof *ms, cmp_d);
	printf("keysync %.3f %.3f %d %lld\n", ms[n / 2], ms[0], from_cache, (long long)keys);
	free(ms);
	stkdr_ctx_free(ctx);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "verify") == 0)
		return bench_verify(argv[2], argv[3], atof(argv[4]), 0);
	if (argc == 5 && strcmp(argv[1], "reparse") == 0)
		return bench_verify(argv[2], argv[3], atof(argv[4]), 1);
	if (argc == 5 && strcmp(argv[1], "raw") == 0)
		return bench_raw(argv[2], argv[3], atof(argv[4]), 0);
	if (argc == 5 && strcmp(argv[1], "rawload") == 0)
		return bench_raw(argv[2], argv[3], atof(argv[4]), 1);
	if (argc == 5 && strcmp(argv[1], "rawq") == 0)
		return bench_raw(argv[2], argv[3], atof(argv[4]), 2);
	if (argc == 7 && strcmp(argv[1], "keysync") == 0)
		return bench_keysync(argv[2], argv[3], argv[4], atoi(argv[5]), atoi(argv[6]));
	fprintf(stderr, "usage: %s verify|reparse|raw|rawload|rawq JWKS TOKEN SECONDS\n"
			"       %s keysync URL CA_FILE CACHE_DIR N RETRIES\n",
		argv[0], argv[0]);
	return 2;
}
