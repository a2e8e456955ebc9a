/*
 * AWS Signature Version 4 and the standard credentials chain.
 *
 * Canonical request (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html):
 *   METHOD \n canonical URI \n canonical query \n canonical headers \n signed headers \n payload hash
 * The canonical URI is passed in already encoded: S3 encodes each key byte once (never twice); the other
 * services encode the path the same way here since our paths are plain ASCII.
 */
#include "backends/aws/aws.h"
#include "core/crypto.h"
#include "core/timeutil.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- encoding ---- */

int stkdr__aws_uri_encode(stkdr_buf *out, const char *s, size_t len, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		int rc;
		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
			rc = stkdr_buf_put(out, &s[i], 1);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };
			rc = stkdr_buf_put(out, e, 3);
		}
		if (rc)
			return rc;
	}
	if (!out->ptr)
		return stkdr_buf_set(out, "", 0);
	return 0;
}

typedef struct enc_kv {
	stkdr_buf k;
	stkdr_buf v;
} enc_kv;

static int enc_kv_cmp(const void *a_, const void *b_)
{
	const enc_kv *a = a_, *b = b_;
	int c = strcmp(a->k.ptr, b->k.ptr);
	return c ? c : strcmp(a->v.ptr, b->v.ptr);
}

int stkdr__aws_canonical_query(stkdr_buf *out, const stkdr__aws_kv *q, size_t n)
{
	int rc = 0;
	out->size = 0;
	if (n == 0)
		return stkdr_buf_set(out, "", 0);
	enc_kv *e = stkdr__calloc(n, sizeof *e);
	if (!e)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory signing a request");
	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = stkdr__aws_uri_encode(&e[i].k, q[i].k, strlen(q[i].k), 0);
		if (rc == 0)
			rc = stkdr__aws_uri_encode(&e[i].v, q[i].v ? q[i].v : "", q[i].v ? strlen(q[i].v) : 0, 0);
	}
	if (rc == 0) {
		qsort(e, n, sizeof *e, enc_kv_cmp);
		for (size_t i = 0; i < n && rc == 0; i++)
			rc = stkdr__buf_printf(out, "%s%s=%s", i ? "&" : "", e[i].k.ptr, e[i].v.ptr);
	}
	for (size_t i = 0; i < n; i++) {
		stkdr_buf_dispose(&e[i].k);
		stkdr_buf_dispose(&e[i].v);
	}
	stkdr__free(e);
	return rc;
}

void stkdr__aws_amz_date(char *out, int64_t ms)
{
	int64_t s = ms / 1000;
	int64_t days = s / 86400;
	int64_t rem = s % 86400;
	int y, m, d;
	stkdr__time_civil_from_days(days, &y, &m, &d);
	char tmp[64];
	snprintf(tmp, sizeof tmp, "%04d%02d%02dT%02d%02d%02dZ", y % 10000, m % 100, d % 100, (int)(rem / 3600),
		(int)(rem / 60 % 60), (int)(rem % 60));
	memcpy(out, tmp, 16);
	out[16] = '\0';
}

/* ---- signing ---- */

typedef struct hdr {
	char *name;  /* lowercase */
	char *value; /* trimmed, spaces collapsed */
} hdr;

static int hdr_cmp(const void *a_, const void *b_)
{
	return strcmp(((const hdr *)a_)->name, ((const hdr *)b_)->name);
}

static char *norm_value(const char *v)
{
	size_t len = strlen(v);
	char *o = stkdr__malloc(len + 1);
	if (!o)
		return NULL;
	size_t j = 0;
	int space = 0;
	for (size_t i = 0; i < len; i++) {
		char c = v[i];
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			space = 1;
			continue;
		}
		if (space && j > 0)
			o[j++] = ' ';
		space = 0;
		o[j++] = c;
	}
	o[j] = '\0';
	return o;
}

int stkdr__sigv4_signing_key(uint8_t key[32], const char *secret, const char *date8, const char *region,
	const char *service)
{
	size_t sl = strlen(secret);
	uint8_t *k0 = stkdr__malloc(sl + 4);
	if (!k0)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory signing a request");
	memcpy(k0, "AWS4", 4);
	memcpy(k0 + 4, secret, sl);
	uint8_t k1[32], k2[32], k3[32];
	stkdr__hmac_sha256(k0, sl + 4, date8, strlen(date8), k1);
	stkdr__wipe(k0, sl + 4);
	stkdr__free(k0);
	stkdr__hmac_sha256(k1, 32, region, strlen(region), k2);
	stkdr__hmac_sha256(k2, 32, service, strlen(service), k3);
	stkdr__hmac_sha256(k3, 32, "aws4_request", 12, key);
	stkdr__wipe(k1, 32);
	stkdr__wipe(k2, 32);
	stkdr__wipe(k3, 32);
	return 0;
}

int stkdr__sigv4_sign(stkdr_buf *auth, stkdr_buf *canonical_out, const stkdr__aws_creds *c, const stkdr__sigv4_req *r)
{
	int rc = 0;
	hdr *h = stkdr__calloc(r->n_headers ? r->n_headers : 1, sizeof *h);
	stkdr_buf canon = STKDR_BUF_INIT, signed_h = STKDR_BUF_INIT, sts = STKDR_BUF_INIT;
	if (!h)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory signing a request");
	size_t n = 0;
	for (size_t i = 0; i < r->n_headers; i++) {
		char *name = stkdr__strdup(r->headers[i].k);
		char *value = norm_value(r->headers[i].v ? r->headers[i].v : "");
		if (!name || !value) {
			stkdr__free(name);
			stkdr__free(value);
			rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory signing a request");
			goto out;
		}
		for (char *p = name; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		/* Merge a repeated header name into one comma-separated value. */
		size_t j;
		for (j = 0; j < n; j++)
			if (strcmp(h[j].name, name) == 0)
				break;
		if (j < n) {
			char *m = stkdr__aprintf("%s,%s", h[j].value, value);
			stkdr__free(name);
			stkdr__free(value);
			if (!m) {
				rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory signing a request");
				goto out;
			}
			stkdr__free(h[j].value);
			h[j].value = m;
		} else {
			h[n].name = name;
			h[n].value = value;
			n++;
		}
	}
	qsort(h, n, sizeof *h, hdr_cmp);
	rc = stkdr__buf_printf(&canon, "%s\n%s\n%s\n", r->method, r->canonical_uri, r->canonical_query);
	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = stkdr__buf_printf(&canon, "%s:%s\n", h[i].name, h[i].value);
		if (rc == 0)
			rc = stkdr__buf_printf(&signed_h, "%s%s", i ? ";" : "", h[i].name);
	}
	if (rc == 0)
		rc = stkdr__buf_printf(&canon, "\n%s\n%s", signed_h.ptr ? signed_h.ptr : "", r->payload_hash);
	if (rc)
		goto out;

	uint8_t dig[32];
	char hexd[65];
	stkdr__sha256(canon.ptr, canon.size, dig);
	stkdr__hex_encode(hexd, dig, 32);
	char date[9];
	snprintf(date, sizeof date, "%.8s", r->amz_date);
	rc = stkdr__buf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", r->amz_date, date, r->region,
		r->service, hexd);
	if (rc)
		goto out;

	uint8_t k4[32], sig[32];
	if ((rc = stkdr__sigv4_signing_key(k4, c->secret_key, date, r->region, r->service)) != 0)
		goto out;
	stkdr__hmac_sha256(k4, 32, sts.ptr, sts.size, sig);
	char hexs[65];
	stkdr__hex_encode(hexs, sig, 32);
	stkdr__wipe(k4, 32);
	auth->size = 0;
	rc = stkdr__buf_printf(auth, "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, Signature=%s",
		c->access_key, date, r->region, r->service, signed_h.ptr ? signed_h.ptr : "", hexs);
	if (rc == 0 && canonical_out) {
		canonical_out->size = 0;
		rc = stkdr_buf_put(canonical_out, canon.ptr, canon.size);
	}
out:
	for (size_t i = 0; i < n; i++) {
		stkdr__free(h[i].name);
		stkdr__free(h[i].value);
	}
	stkdr__free(h);
	stkdr_buf_dispose(&canon);
	stkdr_buf_dispose(&signed_h);
	stkdr_buf_dispose(&sts);
	return rc;
}

static int sign_locked(struct curl_slist **out, const stkdr__http_req *req, const stkdr__aws_signer *s,
	stkdr__aws_chunked *chunked);

static int sign_with(struct curl_slist **out, const stkdr__http_req *req, const stkdr__aws_signer *s,
	stkdr__aws_chunked *chunked)
{
	/* temporary credentials may be replaced by a refresh: sign under their lock */
	stkdr__aws_creds *c = (stkdr__aws_creds *)s->creds;
	int rc = stkdr__aws_creds_lock(c);
	if (rc)
		return rc;
	rc = sign_locked(out, req, s, chunked);
	stkdr__aws_creds_unlock(c);
	return rc;
}

int stkdr__aws_sign_cb(struct curl_slist **out, const stkdr__http_req *req, void *payload)
{
	return sign_with(out, req, payload, NULL);
}

int stkdr__aws_sign_chunked_cb(struct curl_slist **out, const stkdr__http_req *req, void *payload)
{
	stkdr__aws_chunked_signer *cs = payload;
	return sign_with(out, req, &cs->base, cs->enc);
}

/* `chunked` (may be NULL): receives the seed of a streaming body's chunk signatures. */
static int sign_locked(struct curl_slist **out, const stkdr__http_req *req, const stkdr__aws_signer *s,
	stkdr__aws_chunked *chunked)
{
	char date[17];
	stkdr__aws_amz_date(date, stkdr__time_now_ms());
	if (s->fixed_date && strlen(s->fixed_date) == 16)
		memcpy(date, s->fixed_date, 17);
	stkdr__aws_kv kv[48];
	size_t n = 0;
	kv[n++] = (stkdr__aws_kv){ "host", s->host };
	kv[n++] = (stkdr__aws_kv){ "x-amz-date", date };
	if (s->s3)
		kv[n++] = (stkdr__aws_kv){ "x-amz-content-sha256", s->payload_hash };
	if (s->creds->session_token)
		kv[n++] = (stkdr__aws_kv){ "x-amz-security-token", s->creds->session_token };
	/* Sign the request's own x-amz-*, content-md5, content-type and if-* headers. */
	char names[32][64];
	size_t nn = 0;
	for (const struct curl_slist *l = req->headers; l && n < STKDR__ARRAY_SIZE(kv) && nn < 32; l = l->next) {
		const char *colon = strchr(l->data, ':');
		if (!colon || (size_t)(colon - l->data) >= sizeof names[0])
			continue;
		size_t len = (size_t)(colon - l->data);
		memcpy(names[nn], l->data, len);
		names[nn][len] = '\0';
		for (char *p = names[nn]; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		if (strncmp(names[nn], "x-amz-", 6) && strcmp(names[nn], "content-md5") && strcmp(names[nn], "content-type")
			&& strcmp(names[nn], "content-encoding") && strcmp(names[nn], "content-length")
			&& strncmp(names[nn], "if-", 3) && strcmp(names[nn], "range"))
			continue;
		const char *v = colon + 1;
		while (*v == ' ')
			v++;
		kv[n++] = (stkdr__aws_kv){ names[nn], v };
		nn++;
	}
	stkdr__sigv4_req r = { req->method, s->canonical_uri, s->canonical_query ? s->canonical_query : "", kv, n,
		s->payload_hash, date, s->region, s->service };
	stkdr_buf auth = STKDR_BUF_INIT;
	int rc = stkdr__sigv4_sign(&auth, NULL, s->creds, &r);
	if (rc == 0 && chunked) {
		/* the seed of the chunk signatures: this signature, with the same key, date and scope */
		const char *sig = strstr(auth.ptr, "Signature=");
		uint8_t key[32];
		char scope[128], d8[9];
		snprintf(d8, sizeof d8, "%.8s", date);
		snprintf(scope, sizeof scope, "%s/%s/%s/aws4_request", d8, s->region, s->service);
		if (!sig || strlen(sig + 10) != 64)
			rc = stkdr__seterr(STKDR_ERROR, STKDR_ERRCLASS_INTERNAL, NULL,
				"no request signature to seed the chunk signatures of %s", s->canonical_uri);
		else
			rc = stkdr__sigv4_signing_key(key, s->creds->secret_key, d8, s->region, s->service);
		if (rc == 0)
			stkdr__aws_chunked_start(chunked, key, date, scope, sig + 10);
		stkdr__wipe(key, sizeof key);
	}
	if (rc) {
		stkdr_buf_dispose(&auth);
		return rc;
	}
	char *lines[4] = { stkdr__aprintf("x-amz-date: %s", date),
		s->s3 ? stkdr__aprintf("x-amz-content-sha256: %s", s->payload_hash) : NULL,
		s->creds->session_token ? stkdr__aprintf("x-amz-security-token: %s", s->creds->session_token) : NULL,
		stkdr__aprintf("Authorization: %s", auth.ptr) };
	stkdr_buf_dispose(&auth);
	for (size_t i = 0; i < 4; i++) {
		if (lines[i]) {
			struct curl_slist *nl = curl_slist_append(*out, lines[i]);
			if (nl)
				*out = nl;
			else
				rc = STKDR_ENOMEM;
			stkdr__wipe(lines[i], strlen(lines[i]));
			stkdr__free(lines[i]);
		}
	}
	if (rc)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory signing a request");
	return 0;
}

/* ---- aws-chunked streaming ---- */

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

void stkdr__sigv4_chunk_signature(char out[65], const uint8_t key[32], const char *amz_date, const char *scope,
	const char *prev_sig, const uint8_t *data, size_t n)
{
	uint8_t d[32], sig[32];
	char hexd[65], sts[400];
	stkdr__sha256(data ? (const void *)data : (const void *)"", n, d);
	stkdr__hex_encode(hexd, d, 32);
	int len = snprintf(sts, sizeof sts, "AWS4-HMAC-SHA256-PAYLOAD\n%s\n%s\n%s\n" EMPTY_SHA256 "\n%s", amz_date, scope,
		prev_sig, hexd);
	if (len < 0 || (size_t)len >= sizeof sts)
		len = (int)sizeof sts - 1; /* a scope of > 200 bytes: never from our callers */
	stkdr__hmac_sha256(key, 32, sts, (size_t)len, sig);
	stkdr__hex_encode(out, sig, 32);
	out[64] = '\0';
}

/* "hex(size);chunk-signature=" + 64 + CRLF, data, CRLF */
static int64_t frame_overhead(size_t n)
{
	int digits = 1;
	for (size_t v = n >> 4; v; v >>= 4)
		digits++;
	return digits + 17 + 64 + 2 + 2;
}

int64_t stkdr__aws_chunked_length(int64_t decoded_len, size_t chunk_size)
{
	int64_t full = decoded_len / (int64_t)chunk_size, rest = decoded_len % (int64_t)chunk_size;
	int64_t n = decoded_len + full * frame_overhead(chunk_size) + frame_overhead(0);
	if (rest)
		n += frame_overhead((size_t)rest);
	return n;
}

void stkdr__aws_chunked_init(stkdr__aws_chunked *e, const uint8_t *data, size_t len, size_t chunk_size)
{
	memset(e, 0, sizeof *e);
	e->data = data ? data : (const uint8_t *)""; /* an empty body: the final chunk alone */
	e->len = len;
	e->chunk_size = chunk_size ? chunk_size : STKDR__AWS_CHUNK_SIZE;
}

void stkdr__aws_chunked_rewind(stkdr__aws_chunked *e)
{
	e->pos = 0;
	e->cur = 0;
	e->stage = 0;
	e->off = 0;
	memcpy(e->prev, e->seed, sizeof e->prev);
}

void stkdr__aws_chunked_start(stkdr__aws_chunked *e, const uint8_t key[32], const char *amz_date, const char *scope,
	const char *seed)
{
	memcpy(e->key, key, 32);
	snprintf(e->amz_date, sizeof e->amz_date, "%s", amz_date);
	snprintf(e->scope, sizeof e->scope, "%s", scope);
	snprintf(e->seed, sizeof e->seed, "%s", seed);
	e->started = 1;
	stkdr__aws_chunked_rewind(e);
}

void stkdr__aws_chunked_wipe(stkdr__aws_chunked *e)
{
	stkdr__wipe(e->key, sizeof e->key);
	e->started = 0;
}

size_t stkdr__aws_chunked_read(stkdr__aws_chunked *e, uint8_t *buf, size_t cap)
{
	size_t n = 0;
	if (!e->started)
		return 0;
	while (n < cap && e->stage != 4) {
		if (e->stage == 0) { /* sign the next chunk (the empty one after the last) */
			e->cur = e->len - e->pos < e->chunk_size ? e->len - e->pos : e->chunk_size;
			char sig[65];
			stkdr__sigv4_chunk_signature(sig, e->key, e->amz_date, e->scope, e->prev, e->data + e->pos, e->cur);
			int hl = snprintf(e->head, sizeof e->head, "%zx;chunk-signature=%s\r\n", e->cur, sig);
			e->head_len = (size_t)hl;
			memcpy(e->prev, sig, sizeof e->prev);
			e->stage = 1;
			e->off = 0;
		}
		const uint8_t *src;
		size_t avail;
		if (e->stage == 1) {
			src = (const uint8_t *)e->head + e->off;
			avail = e->head_len - e->off;
		} else if (e->stage == 2) {
			src = e->data + e->pos + e->off;
			avail = e->cur - e->off;
		} else {
			src = (const uint8_t *)"\r\n" + e->off;
			avail = 2 - e->off;
		}
		size_t k = avail < cap - n ? avail : cap - n;
		if (k)
			memcpy(buf + n, src, k);
		n += k;
		e->off += k;
		if (e->off == (e->stage == 1 ? e->head_len : e->stage == 2 ? e->cur : 2)) {
			e->off = 0;
			if (e->stage == 3) {
				int last = e->cur == 0;
				e->pos += e->cur;
				e->stage = last ? 4 : 0;
			} else {
				e->stage++;
			}
		}
	}
	return n;
}

int stkdr__aws_chunked_encode(stkdr_buf *out, stkdr__aws_chunked *e)
{
	uint8_t tmp[8192];
	size_t k;
	stkdr__aws_chunked_rewind(e);
	while ((k = stkdr__aws_chunked_read(e, tmp, sizeof tmp)) > 0)
		if (stkdr_buf_put(out, tmp, k) != 0)
			return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory encoding a request body");
	return 0;
}

size_t stkdr__aws_chunked_read_cb(char *buf, size_t size, size_t nitems, void *payload)
{
	stkdr__aws_chunked *e = payload;
	if (!e->started)
		return CURL_READFUNC_ABORT; /* never signed: nothing may be sent */
	return stkdr__aws_chunked_read(e, (uint8_t *)buf, size * nitems);
}

int stkdr__aws_chunked_rewind_cb(void *payload)
{
	stkdr__aws_chunked_rewind(payload);
	return 0;
}

/* ---- credentials ---- */

void stkdr__aws_creds_clear(stkdr__aws_creds *c)
{
	if (!c)
		return;
	if (c->secret_key)
		stkdr__wipe(c->secret_key, strlen(c->secret_key));
	if (c->session_token)
		stkdr__wipe(c->session_token, strlen(c->session_token));
	stkdr__free(c->access_key);
	stkdr__free(c->secret_key);
	stkdr__free(c->session_token);
	stkdr__aws_creds_refresh_free(c->refresh);
	memset(c, 0, sizeof *c);
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	char *e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

/* Reads `key` of section `section` from an INI file into a new string (NULL if absent). */
static char *ini_get(const char *path, const char *section, const char *key)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	char line[4096];
	int in = 0;
	char *val = NULL;
	while (!val && fgets(line, sizeof line, f)) {
		char *t = trim(line);
		if (*t == '#' || *t == ';' || !*t)
			continue;
		if (*t == '[') {
			char *e = strchr(t, ']');
			if (e)
				*e = '\0';
			in = strcmp(trim(t + 1), section) == 0;
			continue;
		}
		if (!in)
			continue;
		char *eq = strchr(t, '=');
		if (!eq)
			continue;
		*eq = '\0';
		if (strcmp(trim(t), key) == 0)
			val = stkdr__strdup(trim(eq + 1));
	}
	stkdr__wipe(line, sizeof line);
	fclose(f);
	return val;
}

static char *home_path(const char *env, const char *rel)
{
	const char *e = getenv(env);
	if (e && *e)
		return stkdr__strdup(e);
	const char *home = getenv("HOME");
	return home ? stkdr__aprintf("%s/%s", home, rel) : NULL;
}

static const char *profile_name(void)
{
	const char *p = getenv("AWS_PROFILE");
	if (!p || !*p)
		p = getenv("AWS_DEFAULT_PROFILE");
	return p && *p ? p : "default";
}

/* A key of profile `prof` from the config file ("[profile x]", or "[default]"). */
static char *config_get_for(const char *prof, const char *key)
{
	char *path = home_path("AWS_CONFIG_FILE", ".aws/config");
	if (!path)
		return NULL;
	char *sec = strcmp(prof, "default") ? stkdr__aprintf("profile %s", prof) : stkdr__strdup("default");
	char *v = sec ? ini_get(path, sec, key) : NULL;
	stkdr__free(sec);
	stkdr__free(path);
	return v;
}

/* A key of the current profile (AWS_PROFILE) from the config file. */
static char *config_get(const char *key)
{
	return config_get_for(profile_name(), key);
}

/* A setting of profile `prof`: the config file's, else the credentials file's (`cpath`). */
static char *profile_get(const char *prof, const char *cpath, const char *key)
{
	char *v = config_get_for(prof, key);
	if (!v && cpath)
		v = ini_get(cpath, prof, key);
	if (v && !*v) {
		stkdr__free(v);
		v = NULL;
	}
	return v;
}

static void free_secret(char *s)
{
	if (s)
		stkdr__wipe(s, strlen(s));
	stkdr__free(s);
}

/* The static keys of profile `prof` (credentials file, then config file) into *out: 1 if found. */
static int profile_keys(stkdr__aws_creds *out, const char *prof, const char *cpath)
{
	for (int pass = 0; pass < 2; pass++) {
		char *a, *s, *t;
		if (pass == 0) {
			a = cpath ? ini_get(cpath, prof, "aws_access_key_id") : NULL;
			s = cpath ? ini_get(cpath, prof, "aws_secret_access_key") : NULL;
			t = cpath ? ini_get(cpath, prof, "aws_session_token") : NULL;
		} else {
			a = config_get_for(prof, "aws_access_key_id");
			s = config_get_for(prof, "aws_secret_access_key");
			t = config_get_for(prof, "aws_session_token");
		}
		if (a && s && *a && *s) {
			out->access_key = a;
			out->secret_key = s;
			out->session_token = t;
			snprintf(out->source, sizeof out->source, "%s (profile %.20s)", pass ? "config file" : "credentials file",
				prof);
			return 1;
		}
		stkdr__free(a);
		free_secret(s);
		free_secret(t);
	}
	return 0;
}

/*
 * Profile `prof` names a role (role_arn): its source credentials (source_profile's static keys, or
 * credential_source Environment / Ec2InstanceMetadata / EcsContainer), then STS AssumeRole.
 */
static int load_role(stkdr__aws_creds *out, const char *prof, const char *cpath, char *role_arn)
{
	char *sp = profile_get(prof, cpath, "source_profile");
	char *cs = profile_get(prof, cpath, "credential_source");
	char *mfa = profile_get(prof, cpath, "mfa_serial");
	char *sess = profile_get(prof, cpath, "role_session_name");
	char *ext = profile_get(prof, cpath, "external_id");
	char *dur = profile_get(prof, cpath, "duration_seconds");
	stkdr__aws_creds src;
	memset(&src, 0, sizeof src);
	int rc = 0;
	if (mfa)
		rc = stkdr__seterr(STKDR_ENOTSUPPORTED, STKDR_ERRCLASS_CONFIG, "NoCredentials",
			"AWS profile '%s': role_arn with mfa_serial needs an MFA code typed in, which a backup job cannot do: "
			"give the job a role without MFA (or credentials from credential_source)", prof);
	else if (!sp == !cs)
		rc = stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_CONFIG, "NoCredentials",
			"AWS profile '%s' has role_arn and %s: give exactly one of source_profile (a profile with keys) and "
			"credential_source (Environment, Ec2InstanceMetadata, EcsContainer)", prof,
			sp ? "both source_profile and credential_source" : "neither source_profile nor credential_source");
	else if (sp && !profile_keys(&src, sp, cpath))
		rc = stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_CONFIG, "NoCredentials",
			"AWS profile '%s': its source_profile '%s' has no aws_access_key_id/aws_secret_access_key in %s or the "
			"config file (a chain of role profiles is not supported)", prof, sp, cpath ? cpath : "~/.aws/credentials");
	else if (cs && !strcmp(cs, "Environment")) {
		const char *ak = getenv("AWS_ACCESS_KEY_ID"), *sk = getenv("AWS_SECRET_ACCESS_KEY"), *tk = getenv("AWS_SESSION_TOKEN");
		if (!ak || !*ak || !sk || !*sk)
			rc = stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_CONFIG, "NoCredentials",
				"AWS profile '%s': credential_source Environment, but AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are "
				"not set", prof);
		else {
			src.access_key = stkdr__strdup(ak);
			src.secret_key = stkdr__strdup(sk);
			src.session_token = tk && *tk ? stkdr__strdup(tk) : NULL;
			snprintf(src.source, sizeof src.source, "environment");
			if (!src.access_key || !src.secret_key || (tk && *tk && !src.session_token))
				rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory reading credentials");
		}
	} else if (cs && (!strcmp(cs, "Ec2InstanceMetadata") || !strcmp(cs, "EcsContainer"))) {
		char tried[512] = "";
		rc = stkdr__aws_creds_load_temporary(&src, tried, sizeof tried);
		if (rc == STKDR_ENOTFOUND)
			rc = stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_AWS, "NoCredentials",
				"AWS profile '%s': credential_source %s found no credentials%s", prof, cs, tried);
	} else if (cs) {
		rc = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, "NoCredentials",
			"AWS profile '%s': credential_source '%.40s' is not Environment, Ec2InstanceMetadata or EcsContainer",
			prof, cs);
	}
	char region[64];
	if (rc == 0)
		rc = stkdr__aws_region(region, sizeof region, NULL, NULL);
	if (rc == 0) {
		stkdr__aws_role role = { role_arn, sess, ext, dur ? atoi(dur) : 0, region };
		rc = stkdr__aws_creds_assume_role(out, &src, &role);
	}
	stkdr__aws_creds_clear(&src);
	stkdr__free(sp);
	stkdr__free(cs);
	stkdr__free(mfa);
	stkdr__free(sess);
	free_secret(ext);
	stkdr__free(dur);
	return rc;
}

int stkdr__aws_creds_load(stkdr__aws_creds *out)
{
	memset(out, 0, sizeof *out);
	const char *ak = getenv("AWS_ACCESS_KEY_ID");
	const char *sk = getenv("AWS_SECRET_ACCESS_KEY");
	if (ak && *ak && sk && *sk) {
		const char *tok = getenv("AWS_SESSION_TOKEN");
		out->access_key = stkdr__strdup(ak);
		out->secret_key = stkdr__strdup(sk);
		out->session_token = tok && *tok ? stkdr__strdup(tok) : NULL;
		snprintf(out->source, sizeof out->source, "environment");
		if (!out->access_key || !out->secret_key || (tok && *tok && !out->session_token)) {
			stkdr__aws_creds_clear(out);
			return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory reading credentials");
		}
		return 0;
	}
	const char *prof = profile_name();
	char *cpath = home_path("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
	/* botocore's order: a profile's role comes before its keys */
	char *role_arn = profile_get(prof, cpath, "role_arn");
	if (role_arn) {
		int rc = load_role(out, prof, cpath, role_arn);
		stkdr__free(role_arn);
		stkdr__free(cpath);
		return rc;
	}
	if (profile_keys(out, prof, cpath)) {
		stkdr__free(cpath);
		return 0;
	}
	char *proc = profile_get(prof, cpath, "credential_process");
	if (proc) {
		int rc = stkdr__aws_creds_process(out, prof, proc);
		stkdr__free(proc);
		stkdr__free(cpath);
		return rc;
	}
	char tried[512] = "";
	int rc = stkdr__aws_creds_load_temporary(out, tried, sizeof tried);
	if (rc != STKDR_ENOTFOUND) {
		stkdr__free(cpath);
		return rc;
	}
	rc = stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_AWS, "NoCredentials",
		"no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give profile '%s' "
		"aws_access_key_id/aws_secret_access_key in %s (AWS_SHARED_CREDENTIALS_FILE) or the config file "
		"(AWS_CONFIG_FILE); choose the profile with AWS_PROFILE; or run with an instance role or container "
		"credentials%s", prof, cpath ? cpath : "~/.aws/credentials", tried);
	stkdr__free(cpath);
	return rc;
}

int stkdr__aws_region_valid(const char *r)
{
	/* [a-z]{2}(-[a-z]+)+-[0-9]{1,2} */
	size_t n = strlen(r), i = 0;
	if (n < 6 || n > 40 || !islower((unsigned char)r[0]) || !islower((unsigned char)r[1]) || r[2] != '-')
		return 0;
	int words = 0;
	for (i = 3; i < n && islower((unsigned char)r[i]);) {
		while (i < n && islower((unsigned char)r[i]))
			i++;
		if (i >= n || r[i] != '-')
			return 0;
		i++;
		words++;
	}
	size_t digits = 0;
	while (i < n && isdigit((unsigned char)r[i]))
		i++, digits++;
	return words >= 1 && digits >= 1 && digits <= 2 && i == n;
}

int stkdr__aws_region(char *out, size_t cap, stkdr_ctx *ctx, const char *key)
{
	const char *r = key ? stkdr__cfg_str(ctx, key) : NULL, *from = key;
	if (!r || !*r)
		r = getenv(from = "AWS_REGION");
	if (!r || !*r)
		r = getenv(from = "AWS_DEFAULT_REGION");
	char *v = NULL;
	if (!r || !*r) {
		v = config_get("region");
		r = v && *v ? v : "us-east-1";
		from = "the AWS config file's region";
	}
	snprintf(out, cap, "%s", r);
	int rc = 0;
	if (!stkdr__aws_region_valid(out))
		rc = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, "InvalidRegion",
			"region '%.64s' (from %s) is not an AWS region name such as us-east-1 or eu-west-3: correct it",
			out, from);
	stkdr__free(v);
	return rc;
}
