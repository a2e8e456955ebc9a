/*
 * The audit-log archive (include/stkdr/audit.h, formats in docs/formats.md).
 *
 * Per UTC day D (YYYY/MM/DD below):
 *   P/audit/YYYY/MM/DD/audit.csv.gz         the rows, CSV with header, gzip (level 6, mtime 0): deterministic
 *   P/audit-meta/YYYY/MM/DD/manifest.json   counts, id/time bounds, sizes, both SHA-256s (deterministic)
 *   P/audit-meta/YYYY/MM/DD/digest.json     hashes + previous digest's hash, ECDSA P-256 signature
 * all create-only under COMPLIANCE retention; the chain head {first_day, day, digest_sha256} is a secret
 * `<deployment>/audit-chain-head` (a new version per export), the signing key `<deployment>/audit-archive-key`.
 *
 * A day is written in the order csv -> manifest -> digest -> chain head, each step skipped when already
 * present and matching, so a run interrupted anywhere is completed by the next one.
 *
 * Readiness: a day is exported only when `audit.lag` has passed since its end and pg_stat_activity shows
 * no client transaction whose xact_start is before the day's end (rows take now() = the transaction
 * start, so such a transaction may still commit rows of the day). The check runs before the export's
 * REPEATABLE READ snapshot is taken, so every transaction that started before the day's end has ended by
 * then and its rows are in the snapshot. The role needs pg_read_all_stats (or superuser) to see other
 * roles' sessions.
 */
#include "stkdr/audit.h"
#include "repo.h"
#include "backends/local/local.h"
#include "core/crypto.h"
#include "core/stream.h"
#include "core/timeutil.h"
#include "services/pg.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <pthread.h>
#include <libpq-fe.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS 86400000LL
#define GZ_LEVEL 6
#define SCHEMA_VERSION 1

static const char *const status_names[] = { "ok", "exported", "unchanged", "not-ready", "conflict", "modified",
	"missing", "reordered", "bad-signature", "db-short", "db-extra", "not-archived", "restored", "failed", "pending" };

const char *stkdr_audit_status_name(int status)
{
	if (status < 0 || (size_t)status >= STKDR__ARRAY_SIZE(status_names))
		return "unknown";
	return status_names[status];
}

int stkdr_audit_query_init(stkdr_audit_query *q, unsigned int version)
{
	return stkdr__options_init(q, sizeof *q, version, STKDR_AUDIT_QUERY_VERSION, "stkdr_audit_query");
}

/* ------------------------------------------------------------------ days, names, SQL */

static void day_str(char out[16], int64_t day)
{
	int y, m, d;
	stkdr__time_civil_from_days(day, &y, &m, &d);
	snprintf(out, 16, "%04d-%02d-%02d", y % 10000, m, d);
}

static int parse_day(int64_t *out, const char *s, const char *what)
{
	int64_t ms;
	if (stkdr__time_parse_date(&ms, s) != 0)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL,
			"%s \"%s\" is not a day: use YYYY-MM-DD (UTC)", what, s);
	*out = ms / DAY_MS;
	return 0;
}

static char *day_key(stkdr_ctx *ctx, int64_t day, const char *kind)
{
	int y, m, d;
	stkdr__time_civil_from_days(day, &y, &m, &d);
	char rel[96];
	if (!strcmp(kind, "csv"))
		snprintf(rel, sizeof rel, "audit/%04d/%02d/%02d/audit.csv.gz", y % 10000, m, d);
	else
		snprintf(rel, sizeof rel, "audit-meta/%04d/%02d/%02d/%s.json", y % 10000, m, d, kind);
	return stkdr__repo_key(ctx, rel);
}

/* A key without the deployment's prefix ("audit/2026/02/10/audit.csv.gz"). */
static const char *rel_key(stkdr_ctx *ctx, const char *key)
{
	const char *p = stkdr__repo_prefix(ctx);
	size_t n = strlen(p);
	return n && !strncmp(key, p, n) && key[n] == '/' ? key + n + 1 : key;
}

/* A quoted SQL identifier, "schema"."table" for dotted names. */
static int quote_ident(stkdr_buf *out, const char *name, int dotted)
{
	int rc = stkdr_buf_put(out, "\"", 1);
	for (const char *p = name; rc == 0 && *p; p++) {
		if (*p == '"')
			rc = stkdr_buf_put(out, "\"\"", 2);
		else if (*p == '.' && dotted)
			rc = stkdr_buf_put(out, "\".\"", 3);
		else
			rc = stkdr_buf_put(out, p, 1);
	}
	if (rc == 0)
		rc = stkdr_buf_put(out, "\"", 1);
	return rc;
}

enum { C_ID, C_TS, C_ACTOR, C_ACTION, C_RESOURCE, C_DETAILS, N_COLS };
static const char *const csv_cols[N_COLS] = { "id", "timestamp", "actor", "action", "resource", "details" };

typedef struct tbl {
	stkdr_buf table;
	stkdr_buf col[N_COLS];
} tbl;

static void tbl_dispose(tbl *t)
{
	stkdr_buf_dispose(&t->table);
	for (int i = 0; i < N_COLS; i++)
		stkdr_buf_dispose(&t->col[i]);
}

static int tbl_load(tbl *t, stkdr_ctx *ctx)
{
	memset(t, 0, sizeof *t);
	const char *table = stkdr__cfg_str(ctx, "audit.table");
	const char *cols = stkdr__cfg_str(ctx, "audit.columns");
	if (!table || !*table)
		table = "audit_log";
	if (!cols || !*cols)
		cols = "id,timestamp,actor,action,resource,details";
	int rc = quote_ident(&t->table, table, 1);
	const char *p = cols;
	for (int i = 0; rc == 0 && i < N_COLS; i++) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == 0 || (i < N_COLS - 1 && !e) || (i == N_COLS - 1 && e)) {
			rc = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL,
				"audit.columns \"%s\" must name exactly 6 columns, comma-separated, in the order "
				"id,timestamp,actor,action,resource,details", cols);
			break;
		}
		char *name = stkdr__strndup(p, n);
		if (!name)
			return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
		rc = quote_ident(&t->col[i], name, 0);
		stkdr__free(name);
		p = e ? e + 1 : p + n;
	}
	if (rc)
		tbl_dispose(t);
	return rc;
}

/* The SELECT list producing the CSV columns in their canonical text form. */
static char *select_list(const tbl *t)
{
	return stkdr__aprintf("%s AS id, to_char(%s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS "
			      "\"timestamp\", %s::text AS actor, %s::text AS action, %s::text AS resource, "
			      "%s::text AS details", t->col[C_ID].ptr, t->col[C_TS].ptr, t->col[C_ACTOR].ptr,
		t->col[C_ACTION].ptr, t->col[C_RESOURCE].ptr, t->col[C_DETAILS].ptr);
}

static int connect_db(stkdr__pg **out, stkdr_ctx *ctx)
{
	const char *ci;
	int rc = stkdr__cfg_require_str(&ci, ctx, "postgres.conninfo");
	if (rc)
		return rc;
	if ((rc = stkdr__pg_connect(out, ci, 0)) != 0)
		return rc;
	if ((rc = stkdr__pg_exec(*out, NULL, "SET TIME ZONE 'UTC'", 0, NULL)) != 0 ||
	    (rc = stkdr__pg_exec(*out, NULL, "SET DateStyle = 'ISO, YMD'", 0, NULL)) != 0) {
		stkdr__pg_close(*out);
		*out = NULL;
	}
	return rc;
}

static int report(stkdr_audit_day_cb cb, void *payload, int64_t day, int status, int64_t rows, int64_t db_rows,
	const char *detail)
{
	if (!cb)
		return 0;
	char ds[16];
	day_str(ds, day);
	stkdr_audit_day d = { STKDR_AUDIT_DAY_VERSION, ds, status, rows, db_rows, detail ? detail : "" };
	int rc = cb(&d, payload);
	if (rc < 0)
		return stkdr__seterr(rc, STKDR_ERRCLASS_CALLBACK, NULL, "the audit day callback stopped at %s (%d)", ds, rc);
	return 0;
}

static const char *secret_name(stkdr_ctx *ctx, const char *what, char *out, size_t n)
{
	const char *dep = stkdr__cfg_str(ctx, "deployment");
	snprintf(out, n, "%s/%s", dep ? dep : "stkdr", what);
	return out;
}

/* ------------------------------------------------------------------ signing key */

static int rng(void *p, unsigned char *out, size_t len)
{
	(void)p;
	return stkdr__random(out, len) ? MBEDTLS_ERR_ECP_RANDOM_FAILED : 0;
}

typedef struct signer {
	mbedtls_pk_context pk;
	char key_id[17]; /* first 8 bytes of SHA-256(public key DER), hex */
} signer;

static int signer_load(signer *s, stkdr_ctx *ctx, int create)
{
	stkdr_secrets *sec;
	char name[256];
	mbedtls_pk_init(&s->pk);
	int rc = stkdr__ctx_secrets(&sec, ctx);
	if (rc)
		return rc;
	secret_name(ctx, "audit-archive-key", name, sizeof name);
	stkdr_buf der = STKDR_BUF_INIT;
	rc = sec->get(&der, NULL, sec, name, NULL, STKDR_STAGE_CURRENT);
	if (rc == STKDR_ENOTFOUND && create) {
		unsigned char tmp[512];
		if (mbedtls_pk_setup(&s->pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0 ||
		    mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(s->pk), rng, NULL) != 0)
			return stkdr__seterr(STKDR_ERROR, STKDR_ERRCLASS_CRYPTO, NULL, "generating the audit archive key failed");
		int n = mbedtls_pk_write_key_der(&s->pk, tmp, sizeof tmp);
		if (n <= 0)
			return stkdr__seterr(STKDR_ERROR, STKDR_ERRCLASS_CRYPTO, NULL, "encoding the audit archive key failed");
		rc = sec->put(NULL, sec, name, tmp + sizeof tmp - n, (size_t)n, NULL);
		stkdr__wipe(tmp, sizeof tmp);
		if (rc) {
			stkdr__err_prefix("storing the audit archive key as secret %s", name);
			return rc;
		}
		mbedtls_pk_free(&s->pk);
		mbedtls_pk_init(&s->pk);
		rc = sec->get(&der, NULL, sec, name, NULL, STKDR_STAGE_CURRENT);
	}
	if (rc) {
		if (rc == STKDR_ENOTFOUND)
			stkdr__seterr(rc, STKDR_ERRCLASS_CONFIG, NULL,
				"the audit archive key (secret %s) does not exist: nothing was exported with this secrets "
				"backend, or the secret was deleted", name);
		else
			stkdr__err_prefix("reading the audit archive key (secret %s)", name);
		stkdr_buf_dispose(&der);
		return rc;
	}
	int prc = mbedtls_pk_parse_key(&s->pk, (const unsigned char *)der.ptr, der.size, NULL, 0);
	stkdr__wipe(der.ptr, der.size);
	stkdr_buf_dispose(&der);
	if (prc != 0 || !mbedtls_pk_can_do(&s->pk, MBEDTLS_PK_ECDSA))
		return stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_CRYPTO, NULL,
			"the audit archive key (secret %s) is not an EC private key", name);
	unsigned char pub[256];
	int n = mbedtls_pk_write_pubkey_der(&s->pk, pub, sizeof pub);
	if (n <= 0)
		return stkdr__seterr(STKDR_ERROR, STKDR_ERRCLASS_CRYPTO, NULL, "encoding the audit public key failed");
	uint8_t h[32];
	stkdr__sha256(pub + sizeof pub - n, (size_t)n, h);
	stkdr__hex_encode(s->key_id, h, 8);
	return 0;
}

static void signer_free(signer *s)
{
	mbedtls_pk_free(&s->pk);
}

/* ------------------------------------------------------------------ digests */

typedef struct digest {
	char day[16];
	char manifest_sha[65], gz_sha[65], csv_sha[65];
	int64_t rows;
	char prev_day[16];
	char prev_sha[65];
	char exported_at[40];
	char key_id[17];
	char sig[200]; /* base64 DER */
	uint8_t self_sha[32]; /* SHA-256 of the digest file */
	int present;
} digest;

static char *digest_message(const digest *d)
{
	return stkdr__aprintf("stkdr-audit-digest/1\n%s\n%s\n%s\n%s\n%" PRId64 "\n%s\n%s\n%s\n%s\n", d->day,
		d->manifest_sha, d->gz_sha, d->csv_sha, d->rows, d->prev_day, d->prev_sha, d->exported_at, d->key_id);
}

static int digest_sign(digest *d, signer *s)
{
	char *msg = digest_message(d);
	if (!msg)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	uint8_t h[32];
	stkdr__sha256(msg, strlen(msg), h);
	stkdr__free(msg);
	unsigned char sig[MBEDTLS_ECDSA_MAX_LEN];
	size_t sl = 0;
	if (mbedtls_pk_sign(&s->pk, MBEDTLS_MD_SHA256, h, 32, sig, &sl, rng, NULL) != 0)
		return stkdr__seterr(STKDR_ERROR, STKDR_ERRCLASS_CRYPTO, NULL, "signing the audit digest of %s failed", d->day);
	stkdr_buf b = STKDR_BUF_INIT;
	int rc = stkdr__b64_encode(&b, sig, sl, 0);
	if (rc == 0 && b.size < sizeof d->sig)
		memcpy(d->sig, b.ptr, b.size + 1);
	stkdr_buf_dispose(&b);
	return rc;
}

static int digest_check_sig(const digest *d, signer *s)
{
	char *msg = digest_message(d);
	if (!msg)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	uint8_t h[32];
	stkdr__sha256(msg, strlen(msg), h);
	stkdr__free(msg);
	stkdr_buf sig = STKDR_BUF_INIT;
	int rc = stkdr__b64_decode(&sig, d->sig, strlen(d->sig), 0);
	if (rc == 0 && mbedtls_pk_verify(&s->pk, MBEDTLS_MD_SHA256, h, 32, (const unsigned char *)sig.ptr, sig.size) != 0)
		rc = STKDR_ECORRUPT;
	stkdr_buf_dispose(&sig);
	return rc ? STKDR_ECORRUPT : 0;
}

static char *digest_json(const digest *d)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "format", "stkdr-audit-digest");
	cJSON_AddNumberToObject(o, "version", 1);
	cJSON_AddStringToObject(o, "day", d->day);
	cJSON_AddStringToObject(o, "manifest_sha256", d->manifest_sha);
	cJSON_AddStringToObject(o, "csv_gz_sha256", d->gz_sha);
	cJSON_AddStringToObject(o, "csv_sha256", d->csv_sha);
	cJSON_AddNumberToObject(o, "rows", (double)d->rows);
	if (d->prev_day[0]) {
		cJSON_AddStringToObject(o, "previous_day", d->prev_day);
		cJSON_AddStringToObject(o, "previous_digest_sha256", d->prev_sha);
	} else {
		cJSON_AddNullToObject(o, "previous_day");
		cJSON_AddNullToObject(o, "previous_digest_sha256");
	}
	cJSON_AddStringToObject(o, "exported_at", d->exported_at);
	cJSON_AddStringToObject(o, "key_id", d->key_id);
	cJSON_AddStringToObject(o, "signature_alg", "ECDSA-P256-SHA256");
	cJSON_AddStringToObject(o, "signature", d->sig);
	char *txt = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return txt;
}

static void jcopy(char *dst, size_t n, const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	dst[0] = '\0';
	if (cJSON_IsString(v) && strlen(v->valuestring) < n)
		memcpy(dst, v->valuestring, strlen(v->valuestring) + 1);
}

static int digest_parse(digest *d, const stkdr_buf *b)
{
	memset(d, 0, sizeof *d);
	cJSON *o = cJSON_ParseWithLength(b->ptr, b->size);
	if (!o || !cJSON_IsObject(o)) {
		cJSON_Delete(o);
		return STKDR_ECORRUPT;
	}
	jcopy(d->day, sizeof d->day, o, "day");
	jcopy(d->manifest_sha, sizeof d->manifest_sha, o, "manifest_sha256");
	jcopy(d->gz_sha, sizeof d->gz_sha, o, "csv_gz_sha256");
	jcopy(d->csv_sha, sizeof d->csv_sha, o, "csv_sha256");
	jcopy(d->prev_day, sizeof d->prev_day, o, "previous_day");
	jcopy(d->prev_sha, sizeof d->prev_sha, o, "previous_digest_sha256");
	jcopy(d->exported_at, sizeof d->exported_at, o, "exported_at");
	jcopy(d->key_id, sizeof d->key_id, o, "key_id");
	jcopy(d->sig, sizeof d->sig, o, "signature");
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "rows");
	d->rows = cJSON_IsNumber(r) ? (int64_t)r->valuedouble : -1;
	cJSON_Delete(o);
	stkdr__sha256(b->ptr, b->size, d->self_sha);
	d->present = 1;
	return d->day[0] && d->sig[0] && d->rows >= 0 ? 0 : STKDR_ECORRUPT;
}

/* The chain head secret. */
typedef struct head {
	int64_t first_day, day;
	char sha[65];
} head;

static int head_get(head *h, stkdr_ctx *ctx)
{
	stkdr_secrets *sec;
	char name[256];
	memset(h, 0, sizeof *h);
	int rc = stkdr__ctx_secrets(&sec, ctx);
	if (rc)
		return rc;
	stkdr_buf b = STKDR_BUF_INIT;
	if ((rc = sec->get(&b, NULL, sec, secret_name(ctx, "audit-chain-head", name, sizeof name), NULL,
		     STKDR_STAGE_CURRENT)) != 0) {
		stkdr_buf_dispose(&b);
		return rc;
	}
	cJSON *o = cJSON_ParseWithLength(b.ptr, b.size);
	stkdr_buf_dispose(&b);
	char fd[16], dd[16];
	if (o) {
		jcopy(fd, sizeof fd, o, "first_day");
		jcopy(dd, sizeof dd, o, "day");
		jcopy(h->sha, sizeof h->sha, o, "digest_sha256");
	}
	cJSON_Delete(o);
	if (!o || parse_day(&h->first_day, fd, "first_day") || parse_day(&h->day, dd, "day") || strlen(h->sha) != 64)
		return stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_CRYPTO, NULL,
			"the audit chain head (secret %s) is malformed", name);
	return 0;
}

static int head_put(stkdr_ctx *ctx, int64_t first_day, int64_t day, const uint8_t sha[32])
{
	stkdr_secrets *sec;
	char name[256], fd[16], dd[16], hex[65];
	int rc = stkdr__ctx_secrets(&sec, ctx);
	if (rc)
		return rc;
	day_str(fd, first_day);
	day_str(dd, day);
	stkdr__hex_encode(hex, sha, 32);
	char *v = stkdr__aprintf("{\"format\":\"stkdr-audit-chain-head\",\"version\":1,\"first_day\":\"%s\","
				 "\"day\":\"%s\",\"digest_sha256\":\"%s\"}", fd, dd, hex);
	if (!v)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	rc = sec->put(NULL, sec, secret_name(ctx, "audit-chain-head", name, sizeof name), (const uint8_t *)v,
		strlen(v), NULL);
	stkdr__free(v);
	if (rc)
		stkdr__err_prefix("updating the audit chain head (secret %s) after %s", name, dd);
	return rc;
}

/* ------------------------------------------------------------------ object sinks */

typedef struct obj_sink {
	stkdr__sink base;
	stkdr_objwriter *w;
} obj_sink;

static int obj_write(stkdr__sink *s, const uint8_t *data, size_t len)
{
	obj_sink *o = (obj_sink *)s;
	return o->w->write(o->w, data, len);
}

static int obj_finish(stkdr__sink *s)
{
	obj_sink *o = (obj_sink *)s;
	stkdr_objwriter *w = o->w;
	o->w = NULL;
	return w->commit(w, NULL);
}

static void obj_destroy(stkdr__sink *s)
{
	obj_sink *o = (obj_sink *)s;
	if (o->w)
		o->w->abort(o->w);
	stkdr__free(o);
}

static int retain_opts(stkdr_put_options *po, stkdr_ctx *ctx)
{
	stkdr_put_options_init(po, STKDR_PUT_OPTIONS_VERSION);
	po->flags = STKDR_PUT_CREATE_ONLY;
	po->retain_mode = STKDR_RETAIN_COMPLIANCE;
	int64_t years = stkdr__cfg_int(ctx, "audit.retention_years", 7);
	/* The real clock, never the fake one: retention is a promise about wall time. */
	po->retain_until_ms = stkdr__time_now_ms() + years * 36525LL * DAY_MS / 100;
	return 0;
}

static int put_small(stkdr_ctx *ctx, const char *key, const char *data)
{
	stkdr_objstore *os;
	stkdr_objwriter *w;
	stkdr_put_options po;
	int rc = stkdr__ctx_objstore(&os, ctx);
	if (rc)
		return rc;
	uint8_t sha[32];
	retain_opts(&po, ctx);
	po.size_hint = (int64_t)strlen(data);
	stkdr__sha256(data, strlen(data), sha);
	po.expected_sha256 = sha;
	if ((rc = os->open_write(&w, os, key, &po)) != 0)
		return rc;
	if ((rc = w->write(w, (const uint8_t *)data, strlen(data))) != 0) {
		w->abort(w);
		return rc;
	}
	return w->commit(w, NULL);
}

/* ------------------------------------------------------------------ a pipeline stage on its own thread */

/* Hands 1 MiB chunks to a worker thread that writes them into `next` (owned): the COPY receiver and the
 * raw hash run on the caller's thread, compression, the second hash and the upload on the worker, like
 * `psql | gzip`. Errors of the worker are reported (with their detail) by the next write or finish. */
#define ASYNC_CHUNK (1u << 20)
#define ASYNC_QUEUE 4

typedef struct async_sink {
	stkdr__sink base;
	stkdr__sink *next;
	pthread_t th;
	int started, joined;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint8_t *cur;
	size_t cur_len;
	uint8_t *qp[ASYNC_QUEUE];
	size_t qlen[ASYNC_QUEUE];
	size_t qh, qn;
	int done, rc, klass;
	char backend_code[64], msg[512];
} async_sink;

static void *async_main(void *arg)
{
	async_sink *a = arg;
	pthread_mutex_lock(&a->mu);
	for (;;) {
		while (a->qn == 0 && !a->done)
			pthread_cond_wait(&a->cv, &a->mu);
		if (a->qn == 0)
			break;
		uint8_t *p = a->qp[a->qh];
		size_t n = a->qlen[a->qh];
		a->qh = (a->qh + 1) % ASYNC_QUEUE;
		a->qn--;
		int failed = a->rc != 0;
		pthread_cond_broadcast(&a->cv);
		pthread_mutex_unlock(&a->mu);
		int r = failed ? 0 : stkdr__sink_write(a->next, p, n);
		stkdr__free(p);
		pthread_mutex_lock(&a->mu);
		if (r && !a->rc) {
			const stkdr_error *e = stkdr__err_get();
			a->rc = r;
			a->klass = e->klass;
			snprintf(a->backend_code, sizeof a->backend_code, "%s", e->backend_code ? e->backend_code : "");
			snprintf(a->msg, sizeof a->msg, "%s", e->message ? e->message : "");
			pthread_cond_broadcast(&a->cv);
		}
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

static int async_fail(async_sink *a)
{
	return stkdr__seterr(a->rc, a->klass, a->backend_code[0] ? a->backend_code : NULL, "%s", a->msg);
}

static int async_push(async_sink *a)
{
	pthread_mutex_lock(&a->mu);
	while (a->qn == ASYNC_QUEUE && !a->rc)
		pthread_cond_wait(&a->cv, &a->mu);
	int rc = a->rc;
	if (!rc) {
		a->qp[(a->qh + a->qn) % ASYNC_QUEUE] = a->cur;
		a->qlen[(a->qh + a->qn) % ASYNC_QUEUE] = a->cur_len;
		a->qn++;
		a->cur = NULL;
		a->cur_len = 0;
		pthread_cond_broadcast(&a->cv);
	}
	pthread_mutex_unlock(&a->mu);
	return rc ? async_fail(a) : 0;
}

static int async_write(stkdr__sink *s, const uint8_t *data, size_t len)
{
	async_sink *a = (async_sink *)s;
	while (len) {
		if (!a->cur && !(a->cur = stkdr__malloc(ASYNC_CHUNK)))
			return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
		size_t n = ASYNC_CHUNK - a->cur_len < len ? ASYNC_CHUNK - a->cur_len : len;
		memcpy(a->cur + a->cur_len, data, n);
		a->cur_len += n;
		data += n;
		len -= n;
		int rc;
		if (a->cur_len == ASYNC_CHUNK && (rc = async_push(a)) != 0)
			return rc;
	}
	return 0;
}

static void async_join(async_sink *a)
{
	if (!a->started || a->joined)
		return;
	pthread_mutex_lock(&a->mu);
	a->done = 1;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
	pthread_join(a->th, NULL);
	a->joined = 1;
}

static int async_finish(stkdr__sink *s)
{
	async_sink *a = (async_sink *)s;
	int rc = a->cur_len ? async_push(a) : 0;
	async_join(a);
	if (rc)
		return rc;
	if (a->rc)
		return async_fail(a);
	return stkdr__sink_finish(a->next);
}

static void async_destroy(stkdr__sink *s)
{
	async_sink *a = (async_sink *)s;
	pthread_mutex_lock(&a->mu);
	if (!a->rc)
		a->rc = STKDR_ECANCELLED; /* the worker drops what is queued */
	pthread_mutex_unlock(&a->mu);
	async_join(a);
	for (size_t i = 0; i < a->qn; i++)
		stkdr__free(a->qp[(a->qh + i) % ASYNC_QUEUE]);
	stkdr__free(a->cur);
	stkdr__sink_destroy(a->next);
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	stkdr__free(a);
}

static int async_new(stkdr__sink **out, stkdr__sink *next)
{
	*out = NULL;
	async_sink *a = stkdr__calloc(1, sizeof *a);
	if (!a)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	a->base.write = async_write;
	a->base.finish = async_finish;
	a->base.destroy = async_destroy;
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	if (pthread_create(&a->th, NULL, async_main, a) != 0) {
		pthread_cond_destroy(&a->cv);
		pthread_mutex_destroy(&a->mu);
		stkdr__free(a);
		return stkdr__seterr(STKDR_ERROR, STKDR_ERRCLASS_OS, NULL, "cannot start the export's compression thread");
	}
	a->started = 1;
	a->next = next;
	*out = &a->base;
	return 0;
}

/* ------------------------------------------------------------------ export */

typedef struct daystats {
	int64_t rows, min_id, max_id;
	char min_ts[40], max_ts[40];
} daystats;

static void ts_literal(char out[40], int64_t day)
{
	char d[16];
	day_str(d, day);
	snprintf(out, 40, "%sT00:00:00Z", d);
}

/* PostgreSQL's text of a timestamptz under TimeZone UTC and DateStyle ISO ("2026-02-10 14:30:00.5+00", the
 * fraction without trailing zeros, absent when zero) to the archive's form "2026-02-10T14:30:00.500000Z"
 * (what to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') gives, at a fraction of its cost).
 * Returns the length written to `out` (room for 48 bytes), or 0 if `s` is not of that form (BC, infinity). */
static size_t ts_canon(char *out, const char *s, size_t n)
{
	static const char pat[] = "-dd-dd dd:dd:dd";
	size_t y = 0;
	while (y < n && y < 16 && s[y] >= '0' && s[y] <= '9')
		y++;
	if (y < 4 || y >= 16 || n - y < 15)
		return 0;
	for (size_t k = 0; k < 15; k++)
		if (pat[k] == 'd' ? s[y + k] < '0' || s[y + k] > '9' : s[y + k] != pat[k])
			return 0;
	size_t j = y + 15, fn = 0;
	char frac[6] = { '0', '0', '0', '0', '0', '0' };
	if (j < n && s[j] == '.') {
		for (j++; j < n && s[j] >= '0' && s[j] <= '9' && fn < 6; j++)
			frac[fn++] = s[j];
		if (fn == 0)
			return 0;
	}
	if (n - j != 3 || memcmp(s + j, "+00", 3) != 0)
		return 0;
	memcpy(out, s, y + 15);
	out[y + 6] = 'T';
	out[y + 15] = '.';
	memcpy(out + y + 16, frac, 6);
	out[y + 22] = 'Z';
	return y + 23;
}

/* The first stage of the export, on the COPY's thread: stkdr__pg_copy_out hands over each CopyData message
 * as it comes, and the server sends exactly one row per message (a protocol guarantee); so each write()
 * is one CSV row, the header first. Rewrites the timestamp (the second field, never quoted) into its
 * archived form and takes the day's statistics for the manifest from the very rows archived (rows, min/max
 * id; min/max timestamp are the first and last rows', the rows being ordered by timestamp). Batches the
 * rows into 256 KiB writes to `next` (owned). */
#define ROWS_BUF (256u * 1024u)

typedef struct row_sink {
	stkdr__sink base;
	stkdr__sink *next;
	daystats *st;
	int header;
	uint8_t *buf;
	size_t n;
} row_sink;

static int rows_flush(row_sink *r)
{
	int rc = stkdr__sink_write(r->next, r->buf, r->n);
	r->n = 0;
	return rc;
}

static int rows_put(row_sink *r, const void *p, size_t len)
{
	if (r->n + len > ROWS_BUF) {
		int rc = rows_flush(r);
		if (rc)
			return rc;
		if (len > ROWS_BUF)
			return stkdr__sink_write(r->next, p, len);
	}
	memcpy(r->buf + r->n, p, len);
	r->n += len;
	return 0;
}

static int rows_write(stkdr__sink *s, const uint8_t *data, size_t len)
{
	row_sink *r = (row_sink *)s;
	const char *d = (const char *)data;
	if (d[len - 1] != '\n')
		return stkdr__seterr(STKDR_ERROR, STKDR_ERRCLASS_INTERNAL, NULL,
			"the audit export received a COPY message that is not one whole CSV row");
	if (!r->header) {
		r->header = 1;
		return rows_put(r, data, len);
	}
	const char *c1 = memchr(d, ',', len);
	const char *c2 = c1 ? memchr(c1 + 1, ',', len - (size_t)(c1 + 1 - d)) : NULL;
	char *end = NULL;
	int64_t id = c1 ? strtoll(d, &end, 10) : 0;
	char ts[48];
	size_t tn = c2 && end == c1 ? ts_canon(ts, c1 + 1, (size_t)(c2 - c1 - 1)) : 0;
	if (!tn)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL,
			"audit row \"%.*s\": its timestamp cannot be archived (a finite UTC time from year 1 on is expected)",
			(int)(c2 ? c2 - d : len > 80 ? 80 : (int)len - 1), d);
	daystats *st = r->st;
	if (st->rows++ == 0) {
		st->min_id = st->max_id = id;
		memcpy(st->min_ts, ts, tn);
		st->min_ts[tn] = '\0';
	}
	if (id < st->min_id)
		st->min_id = id;
	if (id > st->max_id)
		st->max_id = id;
	memcpy(st->max_ts, ts, tn);
	st->max_ts[tn] = '\0';
	int rc = rows_put(r, d, (size_t)(c1 + 1 - d));
	if (rc == 0)
		rc = rows_put(r, ts, tn);
	if (rc == 0)
		rc = rows_put(r, c2, len - (size_t)(c2 - d));
	return rc;
}

static int rows_finish(stkdr__sink *s)
{
	row_sink *r = (row_sink *)s;
	int rc = r->n ? rows_flush(r) : 0;
	return rc ? rc : stkdr__sink_finish(r->next);
}

static void rows_destroy(stkdr__sink *s)
{
	row_sink *r = (row_sink *)s;
	stkdr__sink_destroy(r->next);
	stkdr__free(r->buf);
	stkdr__free(r);
}

static int rows_new(stkdr__sink **out, stkdr__sink *next, daystats *st)
{
	row_sink *r = stkdr__calloc(1, sizeof *r);
	uint8_t *buf = r ? stkdr__malloc(ROWS_BUF) : NULL;
	if (!buf) {
		stkdr__free(r);
		stkdr__sink_destroy(next);
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	}
	r->base.write = rows_write;
	r->base.finish = rows_finish;
	r->base.destroy = rows_destroy;
	r->next = next;
	r->st = st;
	r->buf = buf;
	memset(st, 0, sizeof *st);
	*out = &r->base;
	return 0;
}

static char *copy_sql(const tbl *t, int64_t day)
{
	char a[40], b[40];
	ts_literal(a, day);
	ts_literal(b, day + 1);
	/* The timestamp as timestamptz text (converted by rows_write), the rest as in select_list(). */
	return stkdr__aprintf("COPY (SELECT %s AS id, (%s)::timestamptz AS \"timestamp\", %s::text AS actor, %s::text AS "
			      "action, %s::text AS resource, %s::text AS details FROM %s WHERE %s >= '%s'::timestamptz AND "
			      "%s < '%s'::timestamptz ORDER BY %s, %s) TO STDOUT WITH (FORMAT csv, HEADER true)",
		t->col[C_ID].ptr, t->col[C_TS].ptr, t->col[C_ACTOR].ptr, t->col[C_ACTION].ptr, t->col[C_RESOURCE].ptr,
		t->col[C_DETAILS].ptr, t->table.ptr, t->col[C_TS].ptr, a, t->col[C_TS].ptr, b, t->col[C_TS].ptr,
		t->col[C_ID].ptr);
}

/* Streams the day's CSV through rows -> sha(raw) -> [thread] gzip -> sha(gz) -> `leaf` (taken); fills `st`. */
static int stream_day(stkdr__pg *pg, const tbl *t, int64_t day, stkdr__sink *leaf, daystats *st, uint8_t raw_sha[32],
	int64_t *raw_n, uint8_t gz_sha[32], int64_t *gz_n)
{
	stkdr__sink *s_gz = NULL, *gz = NULL, *s_raw = NULL, *rows = NULL;
	int rc = stkdr__sink_sha256_new(&s_gz, leaf, 0, gz_sha, gz_n);
	if (rc) {
		stkdr__sink_destroy(leaf);
		return rc;
	}
	if ((rc = stkdr__sink_gzip_new(&gz, s_gz, 0, GZ_LEVEL)) != 0) {
		stkdr__sink_destroy(s_gz);
		return rc;
	}
	stkdr__sink *as = NULL;
	if ((rc = async_new(&as, gz)) != 0) {
		stkdr__sink_destroy(gz);
		return rc;
	}
	if ((rc = stkdr__sink_sha256_new(&s_raw, as, 0, raw_sha, raw_n)) != 0) {
		stkdr__sink_destroy(as);
		return rc;
	}
	if ((rc = rows_new(&rows, s_raw, st)) != 0)
		return rc;
	char *sql = copy_sql(t, day);
	rc = sql ? stkdr__pg_copy_out(pg, sql, rows, NULL) : STKDR_ENOMEM;
	stkdr__free(sql);
	if (rc == 0)
		rc = stkdr__sink_finish(rows);
	stkdr__sink_destroy(rows);
	return rc;
}

static char *manifest_json(int64_t day, const daystats *st, const char *csv_rel, int64_t raw_n, const uint8_t raw[32],
	int64_t gz_n, const uint8_t gz[32])
{
	char ds[16], rh[65], gh[65];
	day_str(ds, day);
	stkdr__hex_encode(rh, raw, 32);
	stkdr__hex_encode(gh, gz, 32);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "format", "stkdr-audit-manifest");
	cJSON_AddNumberToObject(o, "schema_version", SCHEMA_VERSION);
	cJSON_AddStringToObject(o, "day", ds);
	cJSON_AddStringToObject(o, "key", csv_rel);
	cJSON_AddNumberToObject(o, "rows", (double)st->rows);
	if (st->rows) {
		cJSON_AddNumberToObject(o, "min_id", (double)st->min_id);
		cJSON_AddNumberToObject(o, "max_id", (double)st->max_id);
		cJSON_AddStringToObject(o, "min_timestamp", st->min_ts);
		cJSON_AddStringToObject(o, "max_timestamp", st->max_ts);
	} else {
		cJSON_AddNullToObject(o, "min_id");
		cJSON_AddNullToObject(o, "max_id");
		cJSON_AddNullToObject(o, "min_timestamp");
		cJSON_AddNullToObject(o, "max_timestamp");
	}
	cJSON_AddNumberToObject(o, "csv_bytes", (double)raw_n);
	cJSON_AddStringToObject(o, "csv_sha256", rh);
	cJSON_AddNumberToObject(o, "csv_gz_bytes", (double)gz_n);
	cJSON_AddStringToObject(o, "csv_gz_sha256", gh);
	cJSON_AddStringToObject(o, "compression", "gzip");
	cJSON *cols = cJSON_AddArrayToObject(o, "columns");
	for (int i = 0; i < N_COLS; i++)
		cJSON_AddItemToArray(cols, cJSON_CreateString(csv_cols[i]));
	char *txt = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return txt;
}

static int get_opt(stkdr_buf *out, stkdr_ctx *ctx, const char *key, int *found)
{
	int rc = stkdr__repo_get(out, ctx, key);
	*found = rc == 0;
	return rc == STKDR_ENOTFOUND ? 0 : rc;
}

/* Whether the day may be exported: 1 ready, 0 not (reason in `why`). */
static int day_ready(int *ready, char *why, size_t why_n, stkdr_ctx *ctx, stkdr__pg *pg, int64_t day)
{
	int64_t end = (day + 1) * DAY_MS;
	int64_t lag = stkdr__cfg_int(ctx, "audit.lag", 3600000);
	int64_t now = stkdr__ctx_now_ms(ctx);
	*ready = 0;
	if (now < end + lag) {
		char l[32];
		stkdr__time_format_duration(l, sizeof l, lag);
		snprintf(why, why_n, "the day ended less than audit.lag (%s) ago", l);
		return 0;
	}
	char b[40];
	ts_literal(b, day + 1);
	const char *params[1] = { b };
	stkdr_buf v = STKDR_BUF_INIT;
	/* Without pg_read_all_stats, other roles' sessions show no xact_start: the check would see nothing. */
	int rc = stkdr__pg_query_value(pg, &v, NULL, "SELECT CASE WHEN (SELECT rolsuper FROM pg_catalog.pg_roles WHERE "
						     "rolname = current_user) OR pg_has_role('pg_read_all_stats', 'USAGE') "
						     "THEN '' ELSE quote_ident(current_user) END", 0, NULL);
	if (rc == 0 && v.ptr && v.ptr[0]) {
		rc = stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_POSTGRES, NULL,
			"the export's role cannot see other sessions' open transactions, so it cannot tell when a day is "
			"complete (%s): GRANT pg_read_all_stats TO %s; (or use a superuser)", stkdr__pg_describe(pg), v.ptr);
		stkdr_buf_dispose(&v);
		return rc;
	}
	if (rc == 0)
		rc = stkdr__pg_query_value(pg, &v, NULL, "SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE "
						     "xact_start < $1::timestamptz AND pid <> pg_backend_pid() AND "
						     "backend_type = 'client backend'", 1, params);
	if (rc == 0) {
		long n = strtol(v.ptr ? v.ptr : "0", NULL, 10);
		if (n > 0)
			snprintf(why, why_n, "%ld transaction(s) that started before the day's end are still open "
					     "(pg_stat_activity.xact_start); retry when they end", n);
		else
			*ready = 1;
	}
	stkdr_buf_dispose(&v);
	return rc;
}

static int export_day(int *status, char *detail, size_t dn, stkdr_ctx *ctx, stkdr__pg *pg, const tbl *t,
	signer *sg, head *hd, int have_head, int64_t day, int64_t *rows_out)
{
	char ds[16];
	day_str(ds, day);
	stkdr_objstore *os;
	int rc = stkdr__ctx_objstore(&os, ctx);
	if (rc)
		return rc;
	char *kc = day_key(ctx, day, "csv"), *km = day_key(ctx, day, "manifest"), *kd = day_key(ctx, day, "digest");
	stkdr_buf man_old = STKDR_BUF_INIT, dig_old = STKDR_BUF_INIT;
	char *man = NULL, *dig = NULL;
	int have_m = 0, have_d = 0, in_tx = 0;
	if (!kc || !km || !kd) {
		rc = STKDR_ENOMEM;
		goto out;
	}
	if ((rc = get_opt(&man_old, ctx, km, &have_m)) != 0 || (rc = get_opt(&dig_old, ctx, kd, &have_d)) != 0)
		goto out;
	/* The new digest, chained to the head: only the day right after it can join the chain. A missing digest
	 * of a day the chain has passed (deleted from the repository) is never recreated. */
	if (!have_d && have_head && day != hd->day + 1) {
		char hs[16];
		day_str(hs, hd->day);
		*status = STKDR_AUDIT_CONFLICT;
		snprintf(detail, dn, "the digest %s is missing although the chain already reaches %s: the archive was "
				     "tampered with; run stk audit verify (nothing rewritten)", kd, hs);
		goto out;
	}
	stkdr_objinfo oi;
	int hrc = os->head(&oi, os, kc);
	if (hrc != 0 && hrc != STKDR_ENOTFOUND) {
		rc = hrc;
		goto out;
	}
	int have_c = hrc == 0;
	uint8_t have_c_sha[32];
	int have_c_has = have_c && oi.has_sha256;
	if (have_c_has)
		memcpy(have_c_sha, oi.sha256, 32);

	if ((rc = stkdr__pg_exec(pg, NULL, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL)) != 0)
		goto out;
	in_tx = 1;
	daystats st;
	uint8_t raw[32], gz[32];
	int64_t raw_n = 0, gz_n = 0;
	stkdr__sink *leaf = NULL;
	if (have_c) {
		rc = stkdr__sink_null_new(&leaf);
	} else {
		stkdr_put_options po;
		stkdr_objwriter *w;
		retain_opts(&po, ctx);
		if ((rc = os->open_write(&w, os, kc, &po)) == 0) {
			obj_sink *o = stkdr__calloc(1, sizeof *o);
			if (!o) {
				w->abort(w);
				rc = STKDR_ENOMEM;
			} else {
				o->base.write = obj_write;
				o->base.finish = obj_finish;
				o->base.destroy = obj_destroy;
				o->w = w;
				leaf = &o->base;
			}
		}
	}
	if (rc)
		goto out;
	if ((rc = stream_day(pg, t, day, leaf, &st, raw, &raw_n, gz, &gz_n)) != 0) {
		stkdr__err_prefix("exporting audit day %s", ds);
		goto out;
	}
	*rows_out = st.rows;
	stkdr__pg_exec(pg, NULL, "COMMIT", 0, NULL);
	in_tx = 0;
	char gz_hex[65];
	stkdr__hex_encode(gz_hex, gz, 32);
	if (have_m) {
		/* Archived: the rows must be the same. Compared on the uncompressed CSV (and the row count), so a
		 * different zlib build, whose gzip bytes may differ, never turns an unchanged day into a conflict. */
		char rh[65], mraw[65] = "", mgz[65] = "";
		int64_t mrows = -1;
		stkdr__hex_encode(rh, raw, 32);
		cJSON *mo = cJSON_ParseWithLength(man_old.ptr, man_old.size);
		if (mo) {
			jcopy(mraw, sizeof mraw, mo, "csv_sha256");
			jcopy(mgz, sizeof mgz, mo, "csv_gz_sha256");
			const cJSON *r = cJSON_GetObjectItemCaseSensitive(mo, "rows");
			mrows = cJSON_IsNumber(r) ? (int64_t)r->valuedouble : -1;
		}
		cJSON_Delete(mo);
		if (strcmp(rh, mraw) || mrows != st.rows) {
			*status = STKDR_AUDIT_CONFLICT;
			snprintf(detail, dn, "the table's rows for %s differ from the archived day (manifest %s: %" PRId64
					     " rows, table: %" PRId64 "); the archive is kept, never overwritten", ds, km, mrows,
				st.rows);
			goto out;
		}
		memcpy(gz_hex, mgz, sizeof gz_hex);
		if (!(man = stkdr__strndup(man_old.ptr, man_old.size))) {
			rc = STKDR_ENOMEM;
			goto out;
		}
	} else {
		if (have_c && (!have_c_has || memcmp(have_c_sha, gz, 32))) {
			*status = STKDR_AUDIT_CONFLICT;
			snprintf(detail, dn, "the table's rows for %s differ from the archived file %s (kept, never "
					     "overwritten)", ds, kc);
			goto out;
		}
		const char *csv_rel = rel_key(ctx, kc);
		char *mj = manifest_json(day, &st, csv_rel, raw_n, raw, gz_n, gz);
		man = mj ? stkdr__strdup(mj) : NULL;
		cJSON_free(mj);
		if (!man) {
			rc = STKDR_ENOMEM;
			goto out;
		}
		if ((rc = put_small(ctx, km, man)) != 0) {
			stkdr__err_prefix("writing %s", km);
			goto out;
		}
	}
	if (have_d) {
		digest d;
		char mh[65];
		uint8_t mhb[32];
		stkdr__sha256(man, strlen(man), mhb);
		stkdr__hex_encode(mh, mhb, 32);
		if (digest_parse(&d, &dig_old) != 0 || strcmp(d.manifest_sha, mh)) {
			*status = STKDR_AUDIT_CONFLICT;
			snprintf(detail, dn, "the archived digest %s does not match the day's manifest: run stk audit verify",
				kd);
			goto out;
		}
		*status = have_c && have_m ? STKDR_AUDIT_UNCHANGED : STKDR_AUDIT_EXPORTED;
		if (!have_head || day > hd->day) {
			if ((rc = head_put(ctx, have_head ? hd->first_day : day, day, d.self_sha)) != 0)
				goto out;
			if (!have_head)
				hd->first_day = day;
			hd->day = day;
		}
		goto out;
	}
	digest d;
	memset(&d, 0, sizeof d);
	snprintf(d.day, sizeof d.day, "%s", ds);
	uint8_t mhb[32];
	stkdr__sha256(man, strlen(man), mhb);
	stkdr__hex_encode(d.manifest_sha, mhb, 32);
	memcpy(d.gz_sha, gz_hex, sizeof d.gz_sha);
	stkdr__hex_encode(d.csv_sha, raw, 32);
	d.rows = st.rows;
	if (have_head) {
		day_str(d.prev_day, hd->day);
		memcpy(d.prev_sha, hd->sha, 65);
	}
	stkdr__time_format_rfc3339(d.exported_at, sizeof d.exported_at, stkdr__time_now_ms() / 1000 * 1000);
	memcpy(d.key_id, sg->key_id, sizeof d.key_id);
	if ((rc = digest_sign(&d, sg)) != 0)
		goto out;
	if (!(dig = digest_json(&d))) {
		rc = STKDR_ENOMEM;
		goto out;
	}
	if ((rc = put_small(ctx, kd, dig)) != 0) {
		stkdr__err_prefix("writing %s", kd);
		goto out;
	}
	uint8_t self[32];
	stkdr__sha256(dig, strlen(dig), self);
	if ((rc = head_put(ctx, have_head ? hd->first_day : day, day, self)) != 0)
		goto out;
	if (!have_head)
		hd->first_day = day;
	hd->day = day;
	stkdr__hex_encode(hd->sha, self, 32);
	*status = have_c && have_m ? STKDR_AUDIT_UNCHANGED : STKDR_AUDIT_EXPORTED;
	snprintf(detail, dn, "%s", kc);
out:
	if (in_tx)
		stkdr__pg_exec(pg, NULL, "ROLLBACK", 0, NULL);
	stkdr_buf_dispose(&man_old);
	stkdr_buf_dispose(&dig_old);
	stkdr__free(man);
	cJSON_free(dig);
	stkdr__free(kc);
	stkdr__free(km);
	stkdr__free(kd);
	return rc;
}

static int64_t yesterday(stkdr_ctx *ctx)
{
	int64_t now = stkdr__ctx_now_ms(ctx);
	return now / DAY_MS - 1;
}

int stkdr_audit_export(stkdr_ctx *ctx, const char *from, const char *to, stkdr_audit_day_cb cb, void *payload)
{
	if (!ctx)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_audit_export: ctx is NULL");
	int64_t f = 0, l = 0;
	head hd;
	stkdr__lease *lease = NULL;
	/* One exporter at a time: the chain head is read once, under the lease, and extended day by day. */
	int rc = stkdr__lease_acquire(&lease, ctx, "audit-export", "audit export", 6 * 3600 * 1000LL);
	if (rc)
		return stkdr__ctx_result(ctx, rc);
	rc = head_get(&hd, ctx);
	int have_head = rc == 0;
	if (rc && rc != STKDR_ENOTFOUND)
		goto out_early;
	rc = 0;
	if (from && (rc = parse_day(&f, from, "--from/--day")) != 0)
		goto out_early;
	if (!from)
		f = have_head ? hd.day + 1 : yesterday(ctx);
	if (to && (rc = parse_day(&l, to, "--to")) != 0)
		goto out_early;
	if (!to)
		l = from ? f : yesterday(ctx);
	if (l < f && (from || to)) {
		rc = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL, "the range ends (%s) before it starts (%s)",
			to ? to : "yesterday", from ? from : "the day after the newest archived day");
		goto out_early;
	}
	if (have_head && f > hd.day + 1) {
		char hs[16], ns[16];
		day_str(hs, hd.day);
		day_str(ns, hd.day + 1);
		rc = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL, "the archive ends at %s: days are chained "
			"in order, so export from %s (or omit --from/--day to catch up)", hs, ns);
		goto out_early;
	}
	if (have_head && f < hd.first_day) {
		char fs[16];
		day_str(fs, hd.first_day);
		rc = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL,
			"the archive starts at %s: earlier days cannot join its chain", fs);
		goto out_early;
	}
	tbl t;
	signer sg;
	stkdr__pg *pg = NULL;
	if ((rc = tbl_load(&t, ctx)) != 0)
		goto out_early;
	if ((rc = signer_load(&sg, ctx, 1)) != 0) {
		signer_free(&sg);
		goto out_nosigner;
	}
	if ((rc = connect_db(&pg, ctx)) != 0)
		goto out;
	int conflicts = 0;
	char first_conflict[16] = "";
	for (int64_t day = f; day <= l; day++) {
		char detail[512] = "";
		int ready = 0;
		if ((rc = day_ready(&ready, detail, sizeof detail, ctx, pg, day)) != 0)
			break;
		if (!ready) {
			for (int64_t d2 = day; d2 <= l && rc == 0; d2++)
				rc = report(cb, payload, d2, STKDR_AUDIT_NOT_READY, 0, -1, d2 == day ? detail :
					"an earlier day is not ready");
			break;
		}
		int status = STKDR_AUDIT_EXPORTED;
		int64_t rows = 0;
		if ((rc = export_day(&status, detail, sizeof detail, ctx, pg, &t, &sg, &hd, have_head, day, &rows)) != 0)
			break;
		if (status != STKDR_AUDIT_CONFLICT)
			have_head = 1;
		if (status == STKDR_AUDIT_CONFLICT && !conflicts++)
			day_str(first_conflict, day);
		if (status == STKDR_AUDIT_EXPORTED) {
			char ds[16];
			day_str(ds, day);
			char dj[64];
			snprintf(dj, sizeof dj, "{\"rows\":%" PRId64 "}", rows);
			stkdr__journal(ctx, STKDR_EVENT_ACTION, "audit.exported", ds, 1, dj);
		}
		if ((rc = report(cb, payload, day, status, rows, -1, detail)) != 0)
			break;
		if (status == STKDR_AUDIT_CONFLICT && day >= hd.day)
			break; /* the chain cannot go past a day that is not archived as the table has it */
	}
	if (rc == 0 && conflicts)
		rc = stkdr__seterr(STKDR_EEXISTS, STKDR_ERRCLASS_LOCAL, NULL,
			"audit day %s (and %d more) differs from its archive: rows were changed or deleted after export; "
			"the archive is kept as it was (compare with stk audit verify / gaps)", first_conflict, conflicts - 1);
out:
	stkdr__pg_close(pg);
	signer_free(&sg);
out_nosigner:
	tbl_dispose(&t);
out_early:
	stkdr__lease_release(lease);
	return stkdr__ctx_result(ctx, rc);
}

/* ------------------------------------------------------------------ reading archived days */

/* Streams an archived CSV through sha(gz) -> gunzip -> sha(raw) -> `leaf` (taken). */
typedef struct reader {
	stkdr_objreader *r;
	stkdr__sink *chain;
	stkdr_buf pending;
	size_t off;
	int eof;
	uint8_t gz[32], raw[32];
	int64_t gz_n, raw_n;
	int rc;
} reader;

/* Opens `key` of `os` (usable from any thread: object stores are thread-safe). */
static int reader_open_os(reader *rd, stkdr_objstore *os, const char *key, int collect)
{
	memset(rd, 0, sizeof *rd);
	stkdr__sink *leaf = NULL, *s_raw = NULL, *gun = NULL;
	int rc = collect ? stkdr__sink_buf_new(&leaf, &rd->pending) : stkdr__sink_null_new(&leaf);
	if (rc)
		return rc;
	if ((rc = stkdr__sink_sha256_new(&s_raw, leaf, 0, rd->raw, &rd->raw_n)) != 0) {
		stkdr__sink_destroy(leaf);
		return rc;
	}
	if ((rc = stkdr__sink_gunzip_new(&gun, s_raw, 0)) != 0) {
		stkdr__sink_destroy(s_raw);
		return rc;
	}
	if ((rc = stkdr__sink_sha256_new(&rd->chain, gun, 0, rd->gz, &rd->gz_n)) != 0) {
		stkdr__sink_destroy(gun);
		return rc;
	}
	if ((rc = os->open_read(&rd->r, os, key, 0, -1)) != 0) {
		stkdr__sink_destroy(rd->chain);
		rd->chain = NULL;
	}
	return rc;
}

static int reader_open(reader *rd, stkdr_ctx *ctx, const char *key, int collect)
{
	stkdr_objstore *os;
	memset(rd, 0, sizeof *rd);
	int rc = stkdr__ctx_objstore(&os, ctx);
	return rc ? rc : reader_open_os(rd, os, key, collect);
}

static void reader_close(reader *rd)
{
	if (rd->r)
		rd->r->close(rd->r);
	stkdr__sink_destroy(rd->chain);
	stkdr_buf_dispose(&rd->pending);
	memset(rd, 0, sizeof *rd);
}

/* One step: feeds the next chunk of the object into the chain; sets eof at the end (chain finished). */
static int reader_step(reader *rd)
{
	uint8_t tmp[65536];
	size_t n = 0;
	int rc = rd->r->read(rd->r, tmp, sizeof tmp, &n);
	if (rc == 0 && n == 0) {
		rd->eof = 1;
		return stkdr__sink_finish(rd->chain);
	}
	if (rc == 0)
		rc = stkdr__sink_write(rd->chain, tmp, n);
	return rc;
}

static int reader_drain(reader *rd)
{
	int rc = 0;
	while (rc == 0 && !rd->eof)
		rc = reader_step(rd);
	return rc;
}

static int copy_in_cb(uint8_t *buf, size_t cap, size_t *n, void *payload)
{
	reader *rd = payload;
	*n = 0;
	while (rd->off >= rd->pending.size && !rd->eof) {
		rd->pending.size = 0;
		rd->off = 0;
		if ((rd->rc = reader_step(rd)) != 0)
			return rd->rc;
	}
	size_t avail = rd->pending.size - rd->off;
	if (avail == 0)
		return 0;
	*n = avail < cap ? avail : cap;
	memcpy(buf, rd->pending.ptr + rd->off, *n);
	rd->off += *n;
	return 0;
}

/* Loads and checks one day's digest (signature) and manifest (hash). */
typedef struct archived {
	digest d;
	int64_t rows, min_id, max_id; /* from the manifest (ids 0 when the day is empty) */
	int have_digest, have_manifest;
	int sig_ok, manifest_ok, day_ok;
} archived;

static int load_day(archived *a, stkdr_ctx *ctx, signer *sg, int64_t day)
{
	memset(a, 0, sizeof *a);
	char ds[16];
	day_str(ds, day);
	char *kd = day_key(ctx, day, "digest"), *km = day_key(ctx, day, "manifest");
	stkdr_buf b = STKDR_BUF_INIT, m = STKDR_BUF_INIT;
	int rc = 0, found = 0;
	if (!kd || !km) {
		rc = STKDR_ENOMEM;
		goto out;
	}
	if ((rc = get_opt(&b, ctx, kd, &found)) != 0 && rc != STKDR_ECORRUPT)
		goto out;
	if (rc == STKDR_ECORRUPT) {
		rc = 0;
		a->have_digest = 1; /* present but damaged */
		goto out;
	}
	if (found) {
		a->have_digest = 1;
		if (digest_parse(&a->d, &b) == 0) {
			a->sig_ok = digest_check_sig(&a->d, sg) == 0;
			a->day_ok = !strcmp(a->d.day, ds);
		}
	}
	if ((rc = get_opt(&m, ctx, km, &found)) != 0 && rc != STKDR_ECORRUPT)
		goto out;
	if (rc == STKDR_ECORRUPT) {
		rc = 0;
		a->have_manifest = 1;
		goto out;
	}
	if (found) {
		a->have_manifest = 1;
		uint8_t h[32];
		char hx[65];
		stkdr__sha256(m.ptr, m.size, h);
		stkdr__hex_encode(hx, h, 32);
		a->manifest_ok = a->d.present && !strcmp(hx, a->d.manifest_sha);
		cJSON *o = cJSON_ParseWithLength(m.ptr, m.size);
		const cJSON *r = o ? cJSON_GetObjectItemCaseSensitive(o, "rows") : NULL;
		const cJSON *lo = o ? cJSON_GetObjectItemCaseSensitive(o, "min_id") : NULL;
		const cJSON *hi = o ? cJSON_GetObjectItemCaseSensitive(o, "max_id") : NULL;
		a->rows = cJSON_IsNumber(r) ? (int64_t)r->valuedouble : -1;
		a->min_id = cJSON_IsNumber(lo) ? (int64_t)lo->valuedouble : 0;
		a->max_id = cJSON_IsNumber(hi) ? (int64_t)hi->valuedouble : 0;
		cJSON_Delete(o);
	}
out:
	stkdr_buf_dispose(&b);
	stkdr_buf_dispose(&m);
	stkdr__free(kd);
	stkdr__free(km);
	return rc;
}

/* Days (as day numbers) that have an object under `sub` ("audit-meta/" or "audit/"); sorted. */
static int list_days(int64_t **out, size_t *n_out, stkdr_ctx *ctx, const char *sub, const char *leaf)
{
	char *prefix = stkdr__repo_key(ctx, sub);
	char **keys = NULL;
	size_t n = 0;
	*out = NULL;
	*n_out = 0;
	int rc = prefix ? stkdr__repo_list(&keys, &n, ctx, prefix) : STKDR_ENOMEM;
	size_t pl = prefix ? strlen(prefix) : 0;
	stkdr__free(prefix);
	if (rc)
		return rc;
	int64_t *v = stkdr__calloc(n + 1, sizeof *v);
	size_t k = 0;
	for (size_t i = 0; v && i < n; i++) {
		int y, mo, d;
		char lf[64];
		if (sscanf(keys[i] + pl, "%4d/%2d/%2d/%63s", &y, &mo, &d, lf) == 4 && !strcmp(lf, leaf)) {
			int64_t day = stkdr__time_days_from_civil(y, mo, d);
			if (k == 0 || v[k - 1] != day)
				v[k++] = day;
		}
	}
	stkdr__strv_free(keys);
	if (!v)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	*out = v;
	*n_out = k;
	return 0;
}

/* For a day's CSV file in the archive storage tier: makes sure a retrieval is under way (requests one if
 * needed). 0 when the file can be read now; STKDR_EPENDING with `detail` naming the file and the retrieval
 * otherwise. */
static int ensure_readable(char *detail, size_t dn, stkdr_ctx *ctx, const char *kc)
{
	stkdr_objstore *os;
	stkdr_objinfo oi;
	int rc = stkdr__ctx_objstore(&os, ctx);
	if (rc)
		return rc;
	if ((rc = os->head(&oi, os, kc)) != 0)
		return rc == STKDR_ENOTFOUND ? 0 : rc; /* the read reports a missing file */
	if (oi.tier != STKDR_TIER_ARCHIVE)
		return 0;
	const char *rel = rel_key(ctx, kc);
	if (os->base.version < 2 || !os->restore_archived) {
		snprintf(detail, dn, "%s is in the archive tier and the object store \"%s\" cannot request its retrieval: "
			"restore it with the provider's tools, then re-run", rel, os->base.name ? os->base.name : "?");
		return STKDR_EPENDING;
	}
	const char *sp = stkdr__cfg_str(ctx, "audit.retrieval_speed");
	int speed = sp && !strcmp(sp, "standard") ? STKDR_RETRIEVAL_STANDARD : STKDR_RETRIEVAL_BULK;
	int days = (int)stkdr__cfg_int(ctx, "audit.retrieval_days", 7);
	int state = STKDR_RETRIEVAL_READABLE;
	if ((rc = os->restore_archived(os, kc, days, speed, &state)) != 0) {
		stkdr__err_prefix("requesting the retrieval of %s from the archive tier", rel);
		return rc;
	}
	if (state == STKDR_RETRIEVAL_READABLE)
		return 0;
	const char *how = speed == STKDR_RETRIEVAL_STANDARD ? "Standard, up to 12 h" : "Bulk, up to 48 h";
	if (state == STKDR_RETRIEVAL_STARTED)
		snprintf(detail, dn, "retrieval started for %s (%s); re-run later", rel, how);
	else
		snprintf(detail, dn, "retrieval of %s in progress (requested earlier); re-run later", rel);
	return STKDR_EPENDING;
}

/* ------------------------------------------------------------------ verify */

typedef struct vday {
	archived a;
	int csv_present;
	int status;
	char detail[512];
} vday;

int stkdr_audit_verify(stkdr_ctx *ctx, const char *from, const char *to, stkdr_audit_day_cb cb, void *payload)
{
	if (!ctx)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_audit_verify: ctx is NULL");
	int64_t rf = INT64_MIN, rl = INT64_MAX;
	int rc = 0;
	if ((from && (rc = parse_day(&rf, from, "--from")) != 0) || (to && (rc = parse_day(&rl, to, "--to")) != 0))
		return stkdr__ctx_result(ctx, rc);
	head hd;
	int have_head = 0;
	rc = head_get(&hd, ctx);
	if (rc && rc != STKDR_ENOTFOUND)
		return stkdr__ctx_result(ctx, rc);
	have_head = rc == 0;
	int64_t *mdays = NULL, *cdays = NULL;
	size_t nm = 0, nc = 0;
	if ((rc = list_days(&mdays, &nm, ctx, "audit-meta/", "digest.json")) != 0 ||
	    (rc = list_days(&cdays, &nc, ctx, "audit/", "audit.csv.gz")) != 0) {
		stkdr__free(mdays);
		return stkdr__ctx_result(ctx, rc);
	}
	if (!have_head && nm == 0 && nc == 0) {
		stkdr__free(mdays);
		stkdr__free(cdays);
		return stkdr__ctx_result(ctx, stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_LOCAL, NULL,
						      "nothing is archived: no audit digests and no chain head"));
	}
	int64_t first = have_head ? hd.first_day : INT64_MAX, last = have_head ? hd.day : INT64_MIN;
	if (nm) {
		first = mdays[0] < first ? mdays[0] : first;
		last = mdays[nm - 1] > last ? mdays[nm - 1] : last;
	}
	if (nc) {
		first = cdays[0] < first ? cdays[0] : first;
		last = cdays[nc - 1] > last ? cdays[nc - 1] : last;
	}
	stkdr__free(mdays);
	signer sg;
	if ((rc = signer_load(&sg, ctx, 0)) != 0) {
		signer_free(&sg);
		stkdr__free(cdays);
		return stkdr__ctx_result(ctx, rc);
	}
	size_t nd = (size_t)(last - first + 1);
	vday *v = stkdr__calloc(nd, sizeof *v);
	if (!v) {
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
		goto out;
	}
	for (size_t i = 0; i < nc; i++)
		v[cdays[i] - first].csv_present = 1;
	for (size_t i = 0; i < nd && rc == 0; i++)
		rc = load_day(&v[i].a, ctx, &sg, first + (int64_t)i);
	int failed = 0;
	char first_bad[16] = "";
	const digest *prev = NULL;
	for (size_t i = 0; i < nd && rc == 0; i++) {
		int64_t day = first + (int64_t)i;
		vday *x = &v[i];
		char ds[16];
		day_str(ds, day);
		x->status = STKDR_AUDIT_OK;
		if (!x->a.have_digest || !x->a.d.present) {
			x->status = STKDR_AUDIT_MISSING;
			snprintf(x->detail, sizeof x->detail, x->a.have_digest ? "the digest of %s is unreadable" :
				"the digest of %s is gone%s%s", ds, x->a.have_manifest ? "" : ", and its manifest",
				x->csv_present ? "" : ", and its CSV file");
			if (x->a.have_digest)
				x->status = STKDR_AUDIT_MODIFIED;
			prev = NULL;
		} else if (!x->a.day_ok) {
			x->status = STKDR_AUDIT_REORDERED;
			snprintf(x->detail, sizeof x->detail, "the digest under %s is the one of %s", ds, x->a.d.day);
			prev = NULL;
		} else if (!x->a.sig_ok) {
			x->status = STKDR_AUDIT_BAD_SIGNATURE;
			snprintf(x->detail, sizeof x->detail, "the signature of the digest of %s does not verify (key %s)",
				ds, x->a.d.key_id);
		} else {
			char pds[16] = "";
			if (day > first)
				day_str(pds, day - 1);
			if (strcmp(x->a.d.prev_day, pds)) {
				x->status = STKDR_AUDIT_REORDERED;
				snprintf(x->detail, sizeof x->detail, "the digest of %s follows %s, not %s", ds,
					x->a.d.prev_day[0] ? x->a.d.prev_day : "nothing", pds[0] ? pds : "nothing");
			} else if (prev && pds[0]) {
				char ph[65];
				stkdr__hex_encode(ph, prev->self_sha, 32);
				if (strcmp(ph, x->a.d.prev_sha)) {
					x->status = STKDR_AUDIT_MODIFIED;
					snprintf(x->detail, sizeof x->detail, "the digest of %s was changed after %s chained to it "
						"(previous_digest_sha256 mismatch)", pds, ds);
				}
			}
			if (x->status == STKDR_AUDIT_OK && !x->a.have_manifest) {
				x->status = STKDR_AUDIT_MISSING;
				snprintf(x->detail, sizeof x->detail, "the manifest of %s is gone", ds);
			} else if (x->status == STKDR_AUDIT_OK && !x->a.manifest_ok) {
				x->status = STKDR_AUDIT_MODIFIED;
				snprintf(x->detail, sizeof x->detail, "the manifest of %s does not match its digest", ds);
			}
			prev = &x->a.d;
		}
		if (x->status == STKDR_AUDIT_OK && day >= rf && day <= rl) {
			char *kc = day_key(ctx, day, "csv");
			reader rd;
			memset(&rd, 0, sizeof rd);
			int er = kc ? ensure_readable(x->detail, sizeof x->detail, ctx, kc) : STKDR_ENOMEM;
			int opened = 0, r2 = er;
			if (er == 0 && (r2 = reader_open(&rd, ctx, kc, 0)) == 0) {
				opened = 1;
				r2 = reader_drain(&rd);
			}
			if (r2 == STKDR_EPENDING && !x->detail[0])
				snprintf(x->detail, sizeof x->detail, "%s", stkdr__err_get()->message);
			if (r2 == STKDR_EPENDING) {
				x->status = STKDR_AUDIT_PENDING;
			} else if (r2 == STKDR_ENOTFOUND) {
				x->status = STKDR_AUDIT_MISSING;
				snprintf(x->detail, sizeof x->detail, "the CSV file %s is gone", kc);
			} else if (r2 == STKDR_ENOMEM || er != 0) {
				rc = r2;
			} else {
				char gh[65], rh[65];
				stkdr__hex_encode(gh, rd.gz, 32);
				stkdr__hex_encode(rh, rd.raw, 32);
				if (r2 != 0 || strcmp(gh, x->a.d.gz_sha) || strcmp(rh, x->a.d.csv_sha)) {
					x->status = STKDR_AUDIT_MODIFIED;
					/* the file of another day? */
					for (size_t j = 0; j < nd && r2 == 0; j++)
						if (j != i && v[j].a.d.present && !strcmp(v[j].a.d.gz_sha, gh)) {
							x->status = STKDR_AUDIT_REORDERED;
							snprintf(x->detail, sizeof x->detail, "the CSV file %s holds the rows of %s", kc,
								v[j].a.d.day);
						}
					if (x->status == STKDR_AUDIT_MODIFIED)
						snprintf(x->detail, sizeof x->detail, "the CSV file %s was modified (%s)", kc,
							r2 ? stkdr__err_get()->message : "SHA-256 mismatch");
				}
			}
			if (opened)
				reader_close(&rd);
			stkdr__free(kc);
		}
	}
	/* The chain head: the newest days cannot vanish unnoticed. */
	if (rc == 0 && have_head) {
		vday *x = &v[hd.day - first];
		char ph[65] = "";
		if (x->a.d.present)
			stkdr__hex_encode(ph, x->a.d.self_sha, 32);
		if (x->status == STKDR_AUDIT_OK && strcmp(ph, hd.sha)) {
			x->status = STKDR_AUDIT_MODIFIED;
			snprintf(x->detail, sizeof x->detail, "the digest does not match the chain head kept in the secrets "
				"backend");
		}
	}
	if (rc == 0 && !have_head && nd) {
		vday *x = &v[nd - 1];
		if (x->status == STKDR_AUDIT_OK) {
			char hn[256];
			x->status = STKDR_AUDIT_MISSING;
			snprintf(x->detail, sizeof x->detail, "the chain head (secret %s) is missing from the secrets backend: "
				"deleted newest days could not be detected", secret_name(ctx, "audit-chain-head", hn, sizeof hn));
		}
	}
	int pending = 0;
	size_t first_pending = 0;
	for (size_t i = 0; i < nd && rc == 0; i++) {
		int64_t day = first + (int64_t)i;
		if (day < rf || day > rl)
			continue;
		if (v[i].status == STKDR_AUDIT_PENDING) {
			if (!pending++)
				first_pending = i;
		} else if (v[i].status != STKDR_AUDIT_OK && !failed++) {
			day_str(first_bad, day);
		}
		rc = report(cb, payload, day, v[i].status, v[i].a.d.present ? v[i].a.d.rows : 0, -1, v[i].detail);
	}
	if (rc == 0 && failed) {
		size_t bi = 0;
		int64_t fb = 0;
		parse_day(&fb, first_bad, "day");
		bi = (size_t)(fb - first);
		rc = stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_CRYPTO, NULL,
			"audit archive verification failed for %d day(s), first %s: %s: %s", failed, first_bad,
			stkdr_audit_status_name(v[bi].status), v[bi].detail);
	} else if (rc == 0 && pending) {
		char ps[16];
		day_str(ps, first + (int64_t)first_pending);
		rc = stkdr__seterr(STKDR_EPENDING, STKDR_ERRCLASS_LOCAL, NULL, "pending: %d audit day(s) in the archive "
			"tier could not be checked yet, first %s: %s", pending, ps, v[first_pending].detail);
	}
out:
	stkdr__free(v);
	stkdr__free(cdays);
	signer_free(&sg);
	return stkdr__ctx_result(ctx, rc);
}

/* ------------------------------------------------------------------ gaps */

int stkdr_audit_gaps(int64_t *n_gaps_out, stkdr_ctx *ctx, const char *from, const char *to, stkdr_audit_day_cb cb,
	void *payload)
{
	if (n_gaps_out)
		*n_gaps_out = 0;
	if (!ctx)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_audit_gaps: ctx is NULL");
	int64_t *mdays = NULL;
	size_t nm = 0;
	int rc = list_days(&mdays, &nm, ctx, "audit-meta/", "manifest.json");
	if (rc)
		return stkdr__ctx_result(ctx, rc);
	int64_t f = nm ? mdays[0] : yesterday(ctx), l = nm ? mdays[nm - 1] : yesterday(ctx);
	stkdr__free(mdays);
	if ((from && (rc = parse_day(&f, from, "--from")) != 0) || (to && (rc = parse_day(&l, to, "--to")) != 0))
		return stkdr__ctx_result(ctx, rc);
	if (l < f)
		return stkdr__ctx_result(ctx, 0);
	tbl t;
	stkdr__pg *pg = NULL;
	if ((rc = tbl_load(&t, ctx)) != 0)
		return stkdr__ctx_result(ctx, rc);
	size_t nd = (size_t)(l - f + 1);
	int64_t *db = stkdr__calloc(nd, sizeof *db);
	void *res = NULL;
	if (!db) {
		rc = STKDR_ENOMEM;
		goto out;
	}
	if ((rc = connect_db(&pg, ctx)) != 0)
		goto out;
	char a[40], b[40];
	ts_literal(a, f);
	ts_literal(b, l + 1);
	const char *params[2] = { a, b };
	char *sql = stkdr__aprintf("SELECT (%s AT TIME ZONE 'UTC')::date - DATE '1970-01-01', count(*) FROM %s WHERE "
				   "%s >= $1::timestamptz AND %s < $2::timestamptz GROUP BY 1", t.col[C_TS].ptr,
		t.table.ptr, t.col[C_TS].ptr, t.col[C_TS].ptr);
	rc = sql ? stkdr__pg_exec(pg, &res, sql, 2, params) : STKDR_ENOMEM;
	stkdr__free(sql);
	if (rc)
		goto out;
	for (int i = 0; i < PQntuples(res); i++) {
		int64_t day = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		if (day >= f && day <= l)
			db[day - f] = strtoll(PQgetvalue(res, i, 1), NULL, 10);
	}
	for (size_t i = 0; i < nd && rc == 0; i++) {
		int64_t day = f + (int64_t)i;
		char *km = day_key(ctx, day, "manifest");
		stkdr_buf m = STKDR_BUF_INIT;
		int found = 0;
		rc = km ? get_opt(&m, ctx, km, &found) : STKDR_ENOMEM;
		int64_t arch = -1;
		if (rc == 0 && found) {
			cJSON *o = cJSON_ParseWithLength(m.ptr, m.size);
			const cJSON *r = o ? cJSON_GetObjectItemCaseSensitive(o, "rows") : NULL;
			arch = cJSON_IsNumber(r) ? (int64_t)r->valuedouble : -1;
			cJSON_Delete(o);
		}
		stkdr_buf_dispose(&m);
		stkdr__free(km);
		if (rc)
			break;
		char detail[256] = "";
		int st = STKDR_AUDIT_OK;
		if (arch < 0 && db[i] > 0) {
			st = STKDR_AUDIT_NOT_ARCHIVED;
			snprintf(detail, sizeof detail, "%" PRId64 " rows in the table, no archive", db[i]);
		} else if (arch < 0) {
			continue; /* neither archived nor in the table: nothing to say */
		} else if (db[i] < arch) {
			st = STKDR_AUDIT_DB_SHORT;
			snprintf(detail, sizeof detail, "%" PRId64 " of %" PRId64 " archived rows missing from the table",
				arch - db[i], arch);
			if (n_gaps_out)
				(*n_gaps_out)++;
		} else if (db[i] > arch) {
			st = STKDR_AUDIT_DB_EXTRA;
			snprintf(detail, sizeof detail, "%" PRId64 " rows more in the table than archived", db[i] - arch);
		}
		rc = report(cb, payload, day, st, arch < 0 ? 0 : arch, db[i], detail);
	}
out:
	if (res)
		PQclear(res);
	stkdr__pg_close(pg);
	stkdr__free(db);
	tbl_dispose(&t);
	return stkdr__ctx_result(ctx, rc);
}

/* ------------------------------------------------------------------ restore */

/* One day of a restore: verified (digest, signature, manifest) and checked for the archive tier on the
 * calling thread, then imported by a worker with its own connection; reported in day order by the
 * calling thread. */
typedef struct rjob {
	int64_t day;
	archived a;
	char *kc;
	int prep_rc;  /* 0: to import; ECORRUPT/EPENDING: reported failed/pending; else an error */
	int rc;       /* the import's result */
	int done;
	int64_t rows, n, ms_copy, ms_insert, ms_commit;
	const char *how;
	char detail[512];
	int err_klass;
	char err_code[64], err_msg[1024]; /* the worker's error detail (thread-local there) */
} rjob;

/* Streams the archived file `kc` into `copy_sql` (a COPY ... FROM STDIN) while both its hashes are computed,
 * then checks them and the row count against the digest: 0 if everything matches. ::STKDR_ECORRUPT (with
 * `detail`) if the file fails verification: the caller rolls back, so nothing of it stays. With `dup`
 * non-NULL, a unique violation (or a deadlock with a parallel day holding the same id) is returned with
 * *dup set: the caller retries another way, and the rolled-back rows are verified then. */
static int copy_day(int64_t *n, int *dup, char *detail, size_t dn, stkdr_objstore *os, stkdr__pg *pg, const char *kc,
	const archived *a, const char *copy_sql)
{
	reader rd;
	*n = 0;
	int rc = reader_open_os(&rd, os, kc, 1);
	if (rc) {
		snprintf(detail, dn, "%s", stkdr__err_get()->message);
		return rc == STKDR_ENOTFOUND ? STKDR_ECORRUPT : rc;
	}
	rc = stkdr__pg_copy_in(pg, copy_sql, copy_in_cb, &rd, n);
	if (dup && (rc == STKDR_EEXISTS || (rc == STKDR_ELOCKED && !strcmp(stkdr__err_get()->backend_code, "40P01")))) {
		*dup = 1;
		reader_close(&rd);
		return rc;
	}
	if (rc == 0 && !rd.eof)
		rc = reader_drain(&rd);
	if (rc == STKDR_EPENDING) { /* moved to the archive tier since ensure_readable() looked */
		snprintf(detail, dn, "%s", stkdr__err_get()->message);
		reader_close(&rd);
		return rc;
	}
	char gh[65], rh[65];
	stkdr__hex_encode(gh, rd.gz, 32);
	stkdr__hex_encode(rh, rd.raw, 32);
	if (rc || strcmp(gh, a->d.gz_sha) || strcmp(rh, a->d.csv_sha) || *n != a->d.rows) {
		snprintf(detail, dn, "%s fails verification (%s): nothing imported", kc,
			rc ? stkdr__err_get()->message : "SHA-256 or row count mismatch");
		rc = STKDR_ECORRUPT;
	}
	reader_close(&rd);
	return rc;
}

/* Verifies the day's digest and manifest and makes sure its file can be read (calling thread). */
static int prepare_day(rjob *j, stkdr_ctx *ctx, signer *sg)
{
	char ds[16];
	day_str(ds, j->day);
	int rc = load_day(&j->a, ctx, sg, j->day);
	if (rc)
		return rc;
	const archived *a = &j->a;
	if (!a->have_digest || !a->d.present || !a->day_ok || !a->sig_ok || !a->have_manifest || !a->manifest_ok) {
		snprintf(j->detail, sizeof j->detail, "%s: %s", ds, !a->have_digest ? "no digest (not archived, or deleted)" :
			!a->d.present ? "the digest is unreadable" : !a->day_ok ? "the digest belongs to another day" :
			!a->sig_ok ? "the digest's signature does not verify" : !a->have_manifest ? "no manifest" :
			"the manifest does not match its digest");
		return STKDR_ECORRUPT;
	}
	if (!(j->kc = day_key(ctx, j->day, "csv")))
		return STKDR_ENOMEM;
	/* A day in the archive tier: its retrieval is requested (or found under way) and the day skipped. */
	return ensure_readable(j->detail, sizeof j->detail, ctx, j->kc);
}

/*
 * Imports one prepared day in one transaction (any thread: it touches only `pg`, `os` and the job). The
 * file is verified while it streams into PostgreSQL, and the transaction commits only if both hashes and
 * the row count match the signed digest (otherwise it rolls back: the table is untouched).
 *  - Direct path, the usual case after a purge: no row of the table has an id in the day's [min_id, max_id]
 *    (from the verified manifest), so the file is COPied straight into the table: one pass, multi-row heap
 *    inserts. A concurrent writer (or a parallel day) inserting one of those ids makes the COPY fail on the
 *    primary key: rolled back to a savepoint and redone the general way.
 *  - General path (part of the day is still there): COPY into a temporary table (ON COMMIT DROP, no index,
 *    not WAL-logged), then the rows whose id is absent go in with a plain INSERT ... SELECT and an anti-join
 *    over the day's id range, or INSERT ... ON CONFLICT (id) DO NOTHING if a concurrent writer inserted one
 *    of those ids meanwhile.
 */
static int import_day(rjob *j, stkdr__pg *pg, const tbl *t, stkdr_objstore *os)
{
	const archived *a = &j->a;
	char *detail = j->detail;
	size_t dn = sizeof j->detail;
	int rc, in_tx = 0, direct = 0;
	char *sql = NULL;
	void *res = NULL;
	int64_t n = 0, t0 = stkdr__time_mono_ms(), t1 = t0;
	j->how = "copied into the table";
	if ((rc = stkdr__pg_exec(pg, NULL, "BEGIN", 0, NULL)) != 0)
		goto out;
	in_tx = 1;
	if (a->d.rows > 0 && a->min_id <= a->max_id) {
		sql = stkdr__aprintf("SELECT 1 FROM %s WHERE %s BETWEEN %" PRId64 " AND %" PRId64 " LIMIT 1", t->table.ptr,
			t->col[C_ID].ptr, a->min_id, a->max_id);
		if ((rc = sql ? stkdr__pg_exec(pg, &res, sql, 0, NULL) : STKDR_ENOMEM) != 0)
			goto out;
		direct = PQntuples(res) == 0;
		PQclear(res);
		res = NULL;
	}
	if (direct) {
		int dup = 0;
		stkdr__free(sql);
		sql = stkdr__aprintf("COPY %s (%s, %s, %s, %s, %s, %s) FROM STDIN WITH (FORMAT csv, HEADER true)",
			t->table.ptr, t->col[C_ID].ptr, t->col[C_TS].ptr, t->col[C_ACTOR].ptr, t->col[C_ACTION].ptr,
			t->col[C_RESOURCE].ptr, t->col[C_DETAILS].ptr);
		if (!sql) {
			rc = STKDR_ENOMEM;
			goto out;
		}
		if ((rc = stkdr__pg_exec(pg, NULL, "SAVEPOINT stkdr_audit_direct", 0, NULL)) != 0)
			goto out;
		rc = copy_day(&n, &dup, detail, dn, os, pg, j->kc, a, sql);
		t1 = stkdr__time_mono_ms();
		if (rc == 0) {
			j->rows = n;
			goto done;
		}
		if (!dup)
			goto out;
		if ((rc = stkdr__pg_exec(pg, NULL, "ROLLBACK TO SAVEPOINT stkdr_audit_direct", 0, NULL)) != 0)
			goto out;
	}
	j->how = "copied into a temporary table";
	if ((rc = stkdr__pg_exec(pg, NULL, "CREATE TEMPORARY TABLE stkdr_audit_restore (id bigint, ts text, actor text, "
					  "action text, resource text, details text) ON COMMIT DROP", 0, NULL)) != 0)
		goto out;
	if ((rc = copy_day(&n, NULL, detail, dn, os, pg, j->kc, a, "COPY stkdr_audit_restore FROM STDIN WITH (FORMAT "
		"csv, HEADER true)")) != 0)
		goto out;
	t1 = stkdr__time_mono_ms();
	if (n == 0) {
		j->rows = 0;
		goto done;
	}
	/* The anti-join probes only the day's id range (an index range scan, not the whole table); the
	 * generic ON CONFLICT (speculative insertion: about twice the cost per row) only if a concurrent writer
	 * inserted one of those ids meanwhile. */
	if ((rc = stkdr__pg_exec(pg, NULL, "SAVEPOINT stkdr_audit_fast", 0, NULL)) != 0)
		goto out;
	for (int mode = 0; mode < 2; mode++) {
		char *tail = mode == 0 ? stkdr__aprintf("WHERE NOT EXISTS (SELECT 1 FROM %s x WHERE x.%s = r.id AND x.%s "
							"BETWEEN %" PRId64 " AND %" PRId64 ")", t->table.ptr,
						 t->col[C_ID].ptr, t->col[C_ID].ptr, a->min_id, a->max_id)
				       : stkdr__aprintf("ON CONFLICT (%s) DO NOTHING", t->col[C_ID].ptr);
		stkdr__free(sql);
		sql = tail ? stkdr__aprintf("INSERT INTO %s (%s, %s, %s, %s, %s, %s) SELECT r.id, r.ts::timestamptz, r.actor, "
					    "r.action, r.resource, r.details::jsonb FROM stkdr_audit_restore r %s",
				     t->table.ptr, t->col[C_ID].ptr, t->col[C_TS].ptr, t->col[C_ACTOR].ptr,
				     t->col[C_ACTION].ptr, t->col[C_RESOURCE].ptr, t->col[C_DETAILS].ptr, tail)
			   : NULL;
		stkdr__free(tail);
		rc = sql ? stkdr__pg_exec(pg, &res, sql, 0, NULL) : STKDR_ENOMEM;
		if (mode == 0 && (rc == STKDR_EEXISTS || (rc == STKDR_ELOCKED &&
			!strcmp(stkdr__err_get()->backend_code, "40P01")))) {
			if ((rc = stkdr__pg_exec(pg, NULL, "ROLLBACK TO SAVEPOINT stkdr_audit_fast", 0, NULL)) != 0)
				goto out;
			continue;
		}
		break;
	}
	if (rc)
		goto out;
	j->rows = strtoll(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	res = NULL;
done:;
	int64_t t2 = stkdr__time_mono_ms();
	if ((rc = stkdr__pg_exec(pg, NULL, "COMMIT", 0, NULL)) != 0)
		goto out;
	in_tx = 0;
	j->n = n;
	j->ms_copy = t1 - t0;
	j->ms_insert = t2 - t1;
	j->ms_commit = stkdr__time_mono_ms() - t2;
	snprintf(detail, dn, "%" PRId64 " of %" PRId64 " rows restored", j->rows, a->d.rows);
out:
	if (res)
		PQclear(res);
	if (rc && rc != STKDR_ECORRUPT && rc != STKDR_EPENDING) {
		const stkdr_error *e = stkdr__err_get();
		j->err_klass = e->klass;
		snprintf(j->err_code, sizeof j->err_code, "%s", e->backend_code ? e->backend_code : "");
		snprintf(j->err_msg, sizeof j->err_msg, "%s", e->message ? e->message : "");
	}
	if (in_tx)
		stkdr__pg_exec(pg, NULL, "ROLLBACK", 0, NULL);
	stkdr__free(sql);
	return rc;
}

/* The worker pool of a restore: the calling thread prepares days in order, workers import them. */
typedef struct rpool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	rjob *jobs;
	size_t n_prepared, next, n_all;
	int all_prepared, stop;
	const tbl *t;
	stkdr_objstore *os;
} rpool;

typedef struct rworker {
	rpool *p;
	stkdr__pg *pg;
	pthread_t th;
	int started;
} rworker;

static void *rworker_main(void *arg)
{
	rworker *w = arg;
	rpool *p = w->p;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (p->next >= p->n_prepared && !p->all_prepared && !p->stop)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->stop || p->next >= p->n_prepared)
			break;
		rjob *j = &p->jobs[p->next++];
		pthread_mutex_unlock(&p->mu);
		if (j->prep_rc == 0)
			j->rc = import_day(j, w->pg, p->t, p->os);
		pthread_mutex_lock(&p->mu);
		j->done = 1;
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static int restore_connect(stkdr__pg **pg, stkdr_ctx *ctx)
{
	int rc = connect_db(pg, ctx);
	/* Before the session's first temporary table: a day's rows fit in local buffers. No waiting for the WAL
	 * flush at each day's commit: the archive is the source of truth and the restore is idempotent, so a
	 * server crash that loses the last committed days is repaired by running the restore again. */
	if (rc == 0 && ((rc = stkdr__pg_exec(*pg, NULL, "SET temp_buffers = '128MB'", 0, NULL)) != 0 ||
			(rc = stkdr__pg_exec(*pg, NULL, "SET synchronous_commit = off", 0, NULL)) != 0)) {
		stkdr__pg_close(*pg);
		*pg = NULL;
	}
	return rc;
}

int stkdr_audit_restore(stkdr_ctx *ctx, const char *from, const char *to, stkdr_audit_day_cb cb, void *payload)
{
	if (!ctx)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_audit_restore: ctx is NULL");
	int64_t f = 0, l = 0;
	int rc;
	if (!from || !to)
		return stkdr__ctx_result(ctx, stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL,
						      "restore needs both --from and --to (YYYY-MM-DD)"));
	if ((rc = parse_day(&f, from, "--from")) != 0 || (rc = parse_day(&l, to, "--to")) != 0)
		return stkdr__ctx_result(ctx, rc);
	if (l < f)
		return stkdr__ctx_result(ctx, stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL,
						      "the range ends (%s) before it starts (%s)", to, from));
	tbl t;
	signer sg;
	stkdr_objstore *os = NULL;
	size_t nd = (size_t)(l - f + 1);
	int par = (int)stkdr__cfg_int(ctx, "audit.restore_parallel", 2);
	if (par < 1)
		par = 1;
	if ((size_t)par > nd)
		par = (int)nd;
	rjob *jobs = NULL;
	rworker *ws = NULL;
	rpool p;
	memset(&p, 0, sizeof p);
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	if ((rc = tbl_load(&t, ctx)) != 0)
		goto out_early;
	if ((rc = signer_load(&sg, ctx, 0)) != 0 || (rc = stkdr__ctx_objstore(&os, ctx)) != 0)
		goto out;
	jobs = stkdr__calloc(nd, sizeof *jobs);
	ws = stkdr__calloc((size_t)par, sizeof *ws);
	if (!jobs || !ws) {
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
		goto out;
	}
	for (int i = 0; i < par && rc == 0; i++)
		rc = restore_connect(&ws[i].pg, ctx);
	if (rc)
		goto out;
	p.jobs = jobs;
	p.n_all = nd;
	p.t = &t;
	p.os = os;
	for (int i = 0; i < par && par > 1; i++) {
		ws[i].p = &p;
		if (pthread_create(&ws[i].th, NULL, rworker_main, &ws[i]) != 0) {
			rc = stkdr__seterr(STKDR_ERROR, STKDR_ERRCLASS_OS, NULL, "cannot start the restore's worker threads");
			goto out;
		}
		ws[i].started = 1;
	}
	int failed = 0, pending = 0;
	char first_bad[600] = "", first_pending[600] = "";
	size_t reported = 0;
	for (size_t i = 0; i <= nd && rc == 0; i++) {
		if (i < nd) {
			rjob *j = &jobs[i];
			j->day = f + (int64_t)i;
			j->prep_rc = prepare_day(j, ctx, &sg);
			if (j->prep_rc && j->prep_rc != STKDR_ECORRUPT && j->prep_rc != STKDR_EPENDING) {
				char ds[16];
				day_str(ds, j->day);
				stkdr__err_prefix("restoring audit day %s", ds);
				rc = j->prep_rc;
				break;
			}
			if (par == 1) {
				if (j->prep_rc == 0)
					j->rc = import_day(j, ws[0].pg, &t, os);
				j->done = 1;
			} else {
				pthread_mutex_lock(&p.mu);
				p.n_prepared = i + 1;
				pthread_cond_broadcast(&p.cv);
				pthread_mutex_unlock(&p.mu);
			}
		} else if (par > 1) {
			pthread_mutex_lock(&p.mu);
			p.all_prepared = 1;
			pthread_cond_broadcast(&p.cv);
			pthread_mutex_unlock(&p.mu);
		}
		/* Report in day order: what is done, and (to bound the look-ahead) wait for the oldest when 2 jobs
		 * per worker are outstanding, or for all of them at the end. */
		while (rc == 0 && reported < nd && reported <= i) {
			rjob *j = &jobs[reported];
			pthread_mutex_lock(&p.mu);
			int must = i == nd || i + 1 - reported >= (size_t)(2 * par);
			while (!j->done && must)
				pthread_cond_wait(&p.cv, &p.mu);
			int done = j->done;
			pthread_mutex_unlock(&p.mu);
			if (!done)
				break;
			reported++;
			char ds[16];
			day_str(ds, j->day);
			int r = j->prep_rc ? j->prep_rc : j->rc;
			if (r == STKDR_ECORRUPT) {
				if (!failed++)
					snprintf(first_bad, sizeof first_bad, "%s", j->detail);
				rc = report(cb, payload, j->day, STKDR_AUDIT_FAILED, 0, -1, j->detail);
			} else if (r == STKDR_EPENDING) {
				if (!pending++)
					snprintf(first_pending, sizeof first_pending, "%s", j->detail);
				rc = report(cb, payload, j->day, STKDR_AUDIT_PENDING, 0, -1, j->detail);
			} else if (r) {
				rc = stkdr__seterr(r, j->err_klass, j->err_code[0] ? j->err_code : NULL, "restoring audit day %s: %s",
					ds, j->err_msg);
			} else {
				stkdr__log(ctx, STKDR_LOG_DEBUG, "audit", "restored %s: %" PRId64 " rows verified and %s in %" PRId64
					" ms, %" PRId64 " inserted in %" PRId64 " ms, commit %" PRId64 " ms", ds, j->n, j->how,
					j->ms_copy, j->rows, j->ms_insert, j->ms_commit);
				rc = report(cb, payload, j->day, STKDR_AUDIT_RESTORED, j->rows, -1, j->detail);
			}
		}
	}
	if (rc == 0 && failed)
		rc = stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_CRYPTO, NULL,
			"%d audit day(s) failed verification and were not restored; first: %s%s", failed, first_bad,
			pending ? " (and some days are pending their retrieval from the archive tier)" : "");
	else if (rc == 0 && pending == 1)
		rc = stkdr__seterr(STKDR_EPENDING, STKDR_ERRCLASS_LOCAL, NULL, "pending: %s", first_pending);
	else if (rc == 0 && pending)
		rc = stkdr__seterr(STKDR_EPENDING, STKDR_ERRCLASS_LOCAL, NULL, "pending: %d audit days are in the archive "
			"tier and were not restored; first: %s", pending, first_pending);
	if (rc == 0)
		stkdr__journal(ctx, STKDR_EVENT_RESULT, "audit.restored", from, 1, NULL);
out:
	/* Workers finish the day they are importing (committed or rolled back on its own) and stop. */
	pthread_mutex_lock(&p.mu);
	p.stop = 1;
	pthread_cond_broadcast(&p.cv);
	pthread_mutex_unlock(&p.mu);
	for (int i = 0; ws && i < par; i++) {
		if (ws[i].started)
			pthread_join(ws[i].th, NULL);
		stkdr__pg_close(ws[i].pg);
	}
	for (size_t i = 0; jobs && i < nd; i++)
		stkdr__free(jobs[i].kc);
	stkdr__free(jobs);
	stkdr__free(ws);
	signer_free(&sg);
	tbl_dispose(&t);
out_early:
	pthread_cond_destroy(&p.cv);
	pthread_mutex_destroy(&p.mu);
	return stkdr__ctx_result(ctx, rc);
}

/* ------------------------------------------------------------------ log */

int stkdr_audit_log(stkdr_ctx *ctx, const stkdr_audit_query *q, stkdr_audit_row_cb cb, void *payload)
{
	if (!ctx)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_audit_log: ctx is NULL");
	stkdr_audit_query dq = STKDR_AUDIT_QUERY_INIT;
	if (!q)
		q = &dq;
	if (q->version == 0 || q->version > STKDR_AUDIT_QUERY_VERSION)
		return stkdr__ctx_result(ctx, stkdr__seterr(STKDR_EVERSION, STKDR_ERRCLASS_INTERNAL, NULL,
						      "stkdr_audit_query version %u is not supported (1..%u)", q->version,
						      STKDR_AUDIT_QUERY_VERSION));
	tbl t;
	int rc = tbl_load(&t, ctx);
	if (rc)
		return stkdr__ctx_result(ctx, rc);
	stkdr__pg *pg = NULL;
	stkdr_buf sql = STKDR_BUF_INIT;
	const char *params[4];
	char since[40], until[40];
	int np = 0;
	char *sel = select_list(&t);
	void *res = NULL;
	if (!sel) {
		rc = STKDR_ENOMEM;
		goto out;
	}
	rc = stkdr__buf_printf(&sql, "SELECT %s, (extract(epoch FROM %s) * 1000)::bigint FROM %s WHERE true", sel,
		t.col[C_TS].ptr, t.table.ptr);
	if (rc == 0 && q->action) {
		params[np++] = q->action;
		rc = stkdr__buf_printf(&sql, " AND %s = $%d", t.col[C_ACTION].ptr, np);
	}
	if (rc == 0 && q->actor) {
		params[np++] = q->actor;
		rc = stkdr__buf_printf(&sql, " AND %s = $%d", t.col[C_ACTOR].ptr, np);
	}
	if (rc == 0 && q->since_ms) {
		stkdr__time_format_rfc3339(since, sizeof since, q->since_ms);
		params[np++] = since;
		rc = stkdr__buf_printf(&sql, " AND %s >= $%d::timestamptz", t.col[C_TS].ptr, np);
	}
	if (rc == 0 && q->until_ms) {
		stkdr__time_format_rfc3339(until, sizeof until, q->until_ms);
		params[np++] = until;
		rc = stkdr__buf_printf(&sql, " AND %s < $%d::timestamptz", t.col[C_TS].ptr, np);
	}
	if (rc == 0)
		rc = stkdr__buf_printf(&sql, " ORDER BY %s, %s", t.col[C_TS].ptr, t.col[C_ID].ptr);
	if (rc == 0 && q->limit > 0)
		rc = stkdr__buf_printf(&sql, " LIMIT %" PRId64, q->limit);
	if (rc)
		goto out;
	if ((rc = connect_db(&pg, ctx)) != 0)
		goto out;
	/* A cursor, fetched in batches: a large window is never held in memory at once. */
	char *decl = stkdr__aprintf("DECLARE stkdr_audit_log NO SCROLL CURSOR FOR %s", sql.ptr);
	if (!decl) {
		rc = STKDR_ENOMEM;
		goto out;
	}
	if ((rc = stkdr__pg_exec(pg, NULL, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL)) == 0)
		rc = stkdr__pg_exec(pg, NULL, decl, np, np ? params : NULL);
	stkdr__free(decl);
	while (rc == 0) {
		if ((rc = stkdr__pg_exec(pg, &res, "FETCH 1000 FROM stkdr_audit_log", 0, NULL)) != 0)
			break;
		int nt = PQntuples(res);
		for (int i = 0; i < nt && rc == 0; i++) {
			stkdr_audit_row row = { STKDR_AUDIT_ROW_VERSION, strtoll(PQgetvalue(res, i, 0), NULL, 10),
				strtoll(PQgetvalue(res, i, 6), NULL, 10), PQgetvalue(res, i, 1),
				PQgetisnull(res, i, 2) ? NULL : PQgetvalue(res, i, 2),
				PQgetisnull(res, i, 3) ? NULL : PQgetvalue(res, i, 3),
				PQgetisnull(res, i, 4) ? NULL : PQgetvalue(res, i, 4),
				PQgetisnull(res, i, 5) ? NULL : PQgetvalue(res, i, 5) };
			if (cb) {
				int r = cb(&row, payload);
				if (r < 0)
					rc = stkdr__seterr(r, STKDR_ERRCLASS_CALLBACK, NULL, "the audit row callback stopped (%d)", r);
			}
		}
		PQclear(res);
		res = NULL;
		if (nt == 0)
			break;
	}
	if (rc == 0)
		rc = stkdr__pg_exec(pg, NULL, "COMMIT", 0, NULL); /* on failure the connection is closed: rolled back */
out:
	if (res)
		PQclear(res);
	stkdr__pg_close(pg);
	stkdr__free(sel);
	stkdr_buf_dispose(&sql);
	tbl_dispose(&t);
	return stkdr__ctx_result(ctx, rc);
}

/* ------------------------------------------------------------------ lifecycle */

static int plan_cb(const stkdr_objinfo *info, void *payload)
{
	cJSON *arr = payload;
	static const char *const tiers[] = { "hot", "cold", "archive" };
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "key", info->key);
	cJSON_AddStringToObject(o, "to", info->tier >= 0 && info->tier <= 2 ? tiers[info->tier] : "expire");
	cJSON_AddNumberToObject(o, "size", (double)info->size);
	cJSON_AddItemToArray(arr, o);
	return 0;
}

int stkdr_audit_lifecycle_apply(stkdr_buf *report_out, stkdr_ctx *ctx)
{
	if (!ctx)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_audit_lifecycle_apply: ctx is NULL");
	stkdr_objstore *os;
	int rc = stkdr__ctx_objstore(&os, ctx);
	if (rc)
		return stkdr__ctx_result(ctx, rc);
	if (os->base.version < 1 || !os->set_lifecycle)
		return stkdr__ctx_result(ctx, stkdr__seterr(STKDR_ENOTSUPPORTED, STKDR_ERRCLASS_LOCAL, NULL,
						      "the object store \"%s\" has no lifecycle rules: set the tiers of %saudit/ "
						      "in the provider's console", os->base.name, stkdr__repo_prefix(ctx)));
	char *prefix = stkdr__repo_key(ctx, "audit/");
	if (!prefix)
		return stkdr__ctx_result(ctx, STKDR_ENOMEM);
	stkdr_lifecycle_rule rule = { STKDR_LIFECYCLE_RULE_VERSION, "stkdr-audit-tiers", prefix, 0, 90, 365, 0 };
	rc = os->set_lifecycle(os, &rule, 1);
	if (rc) {
		stkdr__err_prefix("setting the audit lifecycle rules");
	} else if (report_out) {
		cJSON *o = cJSON_CreateObject();
		cJSON *rules = cJSON_AddArrayToObject(o, "rules");
		cJSON *r = cJSON_CreateObject();
		cJSON_AddStringToObject(r, "id", rule.id);
		cJSON_AddStringToObject(r, "prefix", prefix);
		cJSON_AddNumberToObject(r, "min_size", 0);
		cJSON_AddNumberToObject(r, "cold_after_days", 90);
		cJSON_AddNumberToObject(r, "archive_after_days", 365);
		cJSON_AddItemToArray(rules, r);
		cJSON *plan = cJSON_AddArrayToObject(o, "plan");
		if (os->base.name && !strcmp(os->base.name, "local"))
			rc = stkdr__local_objstore_lifecycle_plan(os, stkdr__ctx_now_ms(ctx), plan_cb, plan);
		char *txt = rc == 0 ? cJSON_PrintUnformatted(o) : NULL;
		if (rc == 0)
			rc = txt ? stkdr_buf_set(report_out, txt, strlen(txt)) : STKDR_ENOMEM;
		cJSON_free(txt);
		cJSON_Delete(o);
	}
	stkdr__free(prefix);
	return stkdr__ctx_result(ctx, rc);
}
