/*
 * The S3 object store (backend "s3"): the objstore vtable over the S3 REST API, signed with SigV4.
 *
 * Keys: <objstore.prefix>/<key>. Every object the library writes carries its SHA-256 in the user metadata
 * `x-amz-meta-stkdr-sha256` (hex) and, for single PUTs, `x-amz-checksum-sha256` (base64) which S3 checks
 * on arrival. Whole-object reads recompute the SHA-256 and fail with ECORRUPT on a mismatch.
 *
 * Writes buffer one part (objstore.part_size, default 16 MiB) in memory:
 *   - an object of at most one part is one PutObject at commit;
 *   - a larger one is a multipart upload: each full part is uploaded by a worker thread (at most
 *     objstore.parallel at once), with its own x-amz-checksum-sha256;
 *     commit uploads the last part, waits for all of them and completes the upload. Any failure, and
 *     abort(), calls AbortMultipartUpload: nothing becomes visible and no upload is left behind (the ctl
 *     op STKDR_CTL_ABORT_STALE_WRITES removes those of crashed processes).
 *   The SHA-256 metadata of a multipart object must be known when the upload starts: it is set when the
 *   caller passes expected_sha256 (the repository's large objects are written that way when known);
 *   otherwise the object's integrity rests on the per-part checksums S3 verified.
 * Create-only writes send `If-None-Match: *` (PutObject and CompleteMultipartUpload): 412 -> EEXISTS.
 * Reads: a HEAD (size, ETag, SHA-256), then ranged GETs of objstore.read_chunk bytes with `If-Match: ETag`
 * so that an object replaced mid-read is detected; each chunk is retried on its own. A read of more than
 * one chunk keeps objstore.parallel of those GETs in flight on threads of its own (read-ahead, in order).
 * Retention: x-amz-object-lock-mode/-retain-until-date on the write (with Content-MD5, which Object Lock
 * requires on PutObject/UploadPart); delete refuses an object whose retain-until is in the future
 * (EIMMUTABLE), and S3's AccessDenied on a locked version maps to EIMMUTABLE too. Legal holds (ctl op
 * STKDR_CTL_LEGAL_HOLD): PUT ?legal-hold ON/OFF, status from HEAD's x-amz-object-lock-legal-hold; delete
 * refuses a held object (EIMMUTABLE).
 * Archive tiers (restore_archived): an object in DEEP_ARCHIVE (or GLACIER) cannot be read until it is
 * restored: its GET answers 403 InvalidObjectState, mapped to STKDR_EPENDING. restore_archived HEADs it
 * (x-amz-storage-class, x-amz-restore: ongoing-request="true" while the retrieval runs, "false" with an
 * expiry-date once the copy is readable) and, when nothing is under way, POSTs ?restore with Days and
 * GlacierJobParameters Tier (Bulk or Standard): 202 started, 200 already restored, 409
 * RestoreAlreadyInProgress in progress.
 * Connections: every request borrows a handle from the store's pool (stkdr__http_pool, services/http.h)
 * and gives it back with its connection open, so the parts, the read-ahead ranges and the calling
 * thread's requests reuse the same connections: a write or read opens at most objstore.parallel of them
 * however many parts or ranges it has (tests/test_s3.c connection_reuse counts them at a proxy).
 * Payload signing (objstore.payload_signing): PutObject and UploadPart bodies are signed with their SHA-256
 * (signed, the default), sent aws-chunked with every 64 KiB chunk signed (streaming: s3_do frames the body
 * as curl reads it, seeded by each attempt's signature; x-amz-checksum-sha256 and Content-MD5 stay headers),
 * or as UNSIGNED-PAYLOAD (unsigned: https endpoints only, refused at open otherwise). The other calls always
 * sign their small bodies' SHA-256.
 * XML is parsed and written with libxml2.
 */
#include "backends/aws/aws.h"
#include "core/crypto.h"
#include "core/timeutil.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <mbedtls/md5.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MIN_PART (5 * 1024 * 1024LL)
#define MAX_PARTS 10000

typedef struct s3_os {
	stkdr_objstore pub;
	stkdr_ctx *ctx;
	char *bucket;
	char *prefix;     /* "" : keys arrive with objstore.prefix already applied (the repository layer adds it) */
	char *scope;      /* objstore.prefix + "/" ("" if none): what abort_stale may touch */
	char region[64];
	char *scheme;     /* "https" or "http" */
	char *host;       /* endpoint host[:port] */
	int path_style;
	char *sse;
	char *kms_key_id;
	int64_t part_size;
	int64_t read_chunk;
	int parallel;
	int max_keys;
	int payload_signing; /* objstore.payload_signing: PAYLOAD_SIGNED, _STREAMING or _UNSIGNED */
	stkdr__aws_creds creds;
	stkdr__http_policy policy;
	stkdr__http_pool *pool; /* every request's handle and connection (s3_do) */
} s3_os;


/* ------------------------------------------------------------------------------------------------ */
/* XML helpers                                                                                        */
/* ------------------------------------------------------------------------------------------------ */


/* ------------------------------------------------------------------------------------------------ */
/* Requests and errors                                                                                */
/* ------------------------------------------------------------------------------------------------ */

static void s3_error_code(char *code, size_t cap, const stkdr__http_resp *resp, void *payload)
{
	code[0] = '\0';
	xmlDocPtr d = stkdr__aws_xml_parse(&resp->body, "s3.xml");
	if (!d)
		return;
	xmlNodePtr root = xmlDocGetRootElement(d);
	if (root && strcmp((const char *)root->name, "Error") == 0)
		stkdr__aws_xml_text(code, cap, root, "Code");
	xmlFreeDoc(d);
}


/* How PutObject and UploadPart bodies are signed (objstore.payload_signing). */
#define PAYLOAD_SIGNED 0    /* the body's SHA-256 is signed (x-amz-content-sha256: <hex>) */
#define PAYLOAD_STREAMING 1 /* aws-chunked: every chunk signed, chained from the request's signature */
#define PAYLOAD_UNSIGNED 2  /* UNSIGNED-PAYLOAD (https only) */

typedef struct s3_call {
	const char *method;
	const char *op;           /* "PutObject"... for messages */
	const char *key;          /* full key, or NULL for a bucket operation */
	const stkdr__aws_kv *query;
	size_t n_query;
	struct curl_slist *headers;
	const uint8_t *body;
	size_t body_len;
	const char *payload_hash; /* NULL: SHA-256 of body */
	int (*sink)(const uint8_t *d, size_t n, void *p);
	void *sink_payload;
	const char *label;        /* the key messages name when it is not `key` (a listing's prefix); NULL: key */
} s3_call;

static int oom(void)
{
	return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
}

static int hdr_add(struct curl_slist **l, const char *fmt, ...) STKDR__PRINTF(2, 3);

/*
 * Sends one request (with the HTTP layer's retries) on a handle borrowed from the store's pool for the
 * request's duration, whichever thread calls: the calling thread's requests and the part and read-ahead
 * threads' reuse the same open connections (at most as many as requests were in flight at once). 0 when
 * a response arrived; resp->status says which.
 */
static int s3_do(s3_os *s, const s3_call *c, stkdr__http_resp *resp)
{
	stkdr_buf uri = STKDR_BUF_INIT, query = STKDR_BUF_INIT, url = STKDR_BUF_INIT, host = STKDR_BUF_INIT;
	char what[600];
	int rc;
	memset(resp, 0, sizeof *resp);
	stkdr__http *h = stkdr__http_pool_get(s->pool);
	if (!h)
		return STKDR_ENOMEM;
	snprintf(what, sizeof what, "S3 %s s3://%s/%s", c->op, s->bucket, c->key ? c->key : "");
	if (s->path_style) {
		rc = stkdr__buf_printf(&uri, "/%s%s", s->bucket, c->key ? "/" : "");
		if (rc == 0)
			rc = stkdr__buf_printf(&host, "%s", s->host);
	} else {
		rc = stkdr_buf_set(&uri, "/", 1);
		if (rc == 0)
			rc = stkdr__buf_printf(&host, "%s.%s", s->bucket, s->host);
	}
	if (rc == 0 && c->key)
		rc = stkdr__aws_uri_encode(&uri, c->key, strlen(c->key), 1);
	if (rc == 0)
		rc = stkdr__aws_canonical_query(&query, c->query, c->n_query);
	if (rc == 0)
		rc = stkdr__buf_printf(&url, "%s://%s%s%s%s", s->scheme, host.ptr, uri.ptr, query.size ? "?" : "",
			query.size ? query.ptr : "");
	/* The bodies of objects (PutObject, UploadPart) are signed as objstore.payload_signing says; the small
	 * XML documents of the other calls always with their SHA-256. */
	int mode = !strcmp(c->op, "PutObject") || !strcmp(c->op, "UploadPart") ? s->payload_signing : PAYLOAD_SIGNED;
	struct curl_slist *hl = NULL;     /* streaming: the caller's headers and aws-chunked's */
	stkdr__aws_chunked enc;
	memset(&enc, 0, sizeof enc);
	if (rc == 0 && mode == PAYLOAD_STREAMING) {
		for (const struct curl_slist *l = c->headers; l && rc == 0; l = l->next)
			rc = hdr_add(&hl, "%s", l->data);
		if (rc == 0)
			rc = hdr_add(&hl, "Content-Encoding: aws-chunked");
		if (rc == 0)
			rc = hdr_add(&hl, "x-amz-decoded-content-length: %zu", c->body_len);
		stkdr__aws_chunked_init(&enc, c->body, c->body_len, STKDR__AWS_CHUNK_SIZE);
	}
	if (rc == 0) {
		char hash[65];
		if (mode == PAYLOAD_UNSIGNED) {
			snprintf(hash, sizeof hash, "UNSIGNED-PAYLOAD");
		} else if (mode == PAYLOAD_STREAMING) {
			snprintf(hash, sizeof hash, "%s", STKDR__AWS_STREAMING_PAYLOAD);
		} else if (!c->payload_hash) {
			uint8_t d[32];
			stkdr__sha256(c->body ? (const void *)c->body : (const void *)"", c->body_len, d);
			stkdr__hex_encode(hash, d, 32);
		} else {
			snprintf(hash, sizeof hash, "%s", c->payload_hash);
		}
		stkdr__aws_chunked_signer cs = { { &s->creds, s->region, "s3", host.ptr, uri.ptr, query.ptr, hash, 1, NULL },
			&enc };
		stkdr__http_req req;
		memset(&req, 0, sizeof req);
		req.method = c->method;
		req.what = what;
		req.url = url.ptr;
		req.headers = c->headers;
		req.sign = stkdr__aws_sign_cb;
		req.sign_payload = &cs.base;
		req.body = c->body;
		req.body_len = (int64_t)c->body_len;
		if (mode == PAYLOAD_STREAMING) {
			/* framed and signed chunk by chunk as curl reads, after each attempt's signing */
			req.headers = hl;
			req.sign = stkdr__aws_sign_chunked_cb;
			req.sign_payload = &cs;
			req.body = NULL;
			req.read_cb = stkdr__aws_chunked_read_cb;
			req.rewind_cb = stkdr__aws_chunked_rewind_cb;
			req.read_payload = &enc;
			req.body_len = stkdr__aws_chunked_length((int64_t)c->body_len, STKDR__AWS_CHUNK_SIZE);
		}
		req.sink = c->sink;
		req.sink_payload = c->sink_payload;
		req.error_code = s3_error_code;
		req.ctx = s->ctx;
		req.no_body = strcmp(c->method, "HEAD") == 0;
		rc = stkdr__http_do(h, &req, resp);
	} else {
		rc = oom();
	}
	stkdr__aws_chunked_wipe(&enc);
	curl_slist_free_all(hl);
	stkdr__http_pool_put(s->pool, h);
	stkdr_buf_dispose(&uri);
	stkdr_buf_dispose(&query);
	stkdr_buf_dispose(&url);
	stkdr_buf_dispose(&host);
	return rc;
}

/* Contexts for mapping error responses. */
#define ERR_PUT_CREATE 0x1 /* 412 / 409 ConditionalRequestConflict: EEXISTS */
#define ERR_DELETE 0x2     /* AccessDenied: EIMMUTABLE */
#define ERR_READ_MATCH 0x4 /* 412: the object changed during the read */

/* Sets the error for a non-2xx response (or a 200 carrying <Error>) and returns the code. */
static int s3_fail(s3_os *s, const char *op, const char *key, const stkdr__http_resp *resp, int flags)
{
	char code[128] = "", msg[512] = "";
	xmlDocPtr d = stkdr__aws_xml_parse(&resp->body, "s3.xml");
	xmlNodePtr root = d ? xmlDocGetRootElement(d) : NULL;
	if (root && strcmp((const char *)root->name, "Error") == 0) {
		stkdr__aws_xml_text(code, sizeof code, root, "Code");
		stkdr__aws_xml_text(msg, sizeof msg, root, "Message");
	}
	if (d)
		xmlFreeDoc(d);
	if (!code[0]) {
		switch (resp->status) {
		case 404: snprintf(code, sizeof code, "%s", key ? "NoSuchKey" : "NoSuchBucket"); break;
		case 403: snprintf(code, sizeof code, "AccessDenied"); break;
		case 412: snprintf(code, sizeof code, "PreconditionFailed"); break;
		default: snprintf(code, sizeof code, "HTTP%ld", resp->status); break;
		}
	}
	const char *k = key ? key : "";
	long st = resp->status;
	if (strcmp(code, "NoSuchBucket") == 0)
		return stkdr__seterr(STKDR_EBACKEND, STKDR_ERRCLASS_AWS, code,
			"S3 %s s3://%s/%s: bucket '%s' does not exist (NoSuchBucket, HTTP %ld): create it, or fix objstore.bucket "
			"and objstore.region/endpoint", op, s->bucket, k, s->bucket, st);
	if ((flags & ERR_PUT_CREATE) && (st == 412 || strcmp(code, "ConditionalRequestConflict") == 0))
		return stkdr__seterr(STKDR_EEXISTS, STKDR_ERRCLASS_AWS, code,
			"S3 %s s3://%s/%s: the object exists already (create-only write refused, %s)", op, s->bucket, k, code);
	if ((flags & ERR_READ_MATCH) && st == 412)
		return stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_AWS, code,
			"S3 %s s3://%s/%s: the object was replaced while it was being read; read it again", op, s->bucket, k);
	if ((flags & ERR_DELETE) && strcmp(code, "AccessDenied") == 0)
		return stkdr__seterr(STKDR_EIMMUTABLE, STKDR_ERRCLASS_AWS, code,
			"S3 %s s3://%s/%s: refused (AccessDenied): the object is under Object Lock retention or a legal hold, "
			"or the credentials may not delete it%s%s", op, s->bucket, k, msg[0] ? ": " : "", msg);
	if (st == 404 || strcmp(code, "NoSuchKey") == 0)
		return stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_AWS, code, "S3 %s s3://%s/%s: no such object", op,
			s->bucket, k);
	if (strcmp(code, "InvalidObjectState") == 0)
		return stkdr__seterr(STKDR_EPENDING, STKDR_ERRCLASS_AWS, code,
			"S3 %s s3://%s/%s: the object is in an archive storage class (Deep Archive / Glacier) and not restored "
			"(InvalidObjectState): request its retrieval (RestoreObject) and read it once the retrieval completes",
			op, s->bucket, k);
	if (strcmp(code, "InvalidAccessKeyId") == 0 || strcmp(code, "SignatureDoesNotMatch") == 0
		|| strcmp(code, "AccessDenied") == 0 || strcmp(code, "ExpiredToken") == 0
		|| strcmp(code, "InvalidToken") == 0 || st == 401 || st == 403)
		return stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_AWS, code,
			"S3 %s s3://%s/%s: %s (HTTP %ld)%s%s; check the credentials (%s) and that they may use this bucket", op,
			s->bucket, k, code, st, msg[0] ? ": " : "", msg, s->creds.source);
	if (strcmp(code, "PermanentRedirect") == 0 || strcmp(code, "AuthorizationHeaderMalformed") == 0
		|| strcmp(code, "IllegalLocationConstraintException") == 0)
		return stkdr__seterr(STKDR_EBACKEND, STKDR_ERRCLASS_AWS, code,
			"S3 %s s3://%s/%s: %s (HTTP %ld)%s%s; the bucket is in another region than '%s': fix objstore.region", op,
			s->bucket, k, code, st, msg[0] ? ": " : "", msg, s->region);
	return stkdr__seterr(STKDR_EBACKEND, STKDR_ERRCLASS_AWS, code, "S3 %s s3://%s/%s: %s (HTTP %ld)%s%s%s", op,
		s->bucket, k, code, st, msg[0] ? ": " : "", msg,
		resp->attempts > 1 ? "; gave up after retries, try again later" : "");
}

static int malformed(s3_os *s, const char *op, const char *key, const char *why)
{
	return stkdr__seterr(STKDR_EBACKEND, STKDR_ERRCLASS_AWS, "MalformedResponse",
		"S3 %s s3://%s/%s: the response is not what S3 sends (%s); check objstore.endpoint points at S3 or a "
		"compatible store, then retry", op, s->bucket, key ? key : "", why);
}

/* How s3_call_xml reads an answer, in one mask with the ERR_* bits above: the statuses that are success. */
#define OK_200 0x100
#define OK_204 0x200
#define OK_206 0x400
#define OK_2XX 0x800  /* any status below 300 */
#define OK_404 0x1000 /* cleanup: the thing is gone already */

static int status_ok(long st, unsigned how)
{
	return (st == 200 && (how & OK_200)) || (st == 204 && (how & OK_204)) || (st == 206 && (how & OK_206))
		|| (st >= 200 && st < 300 && (how & OK_2XX)) || (st == 404 && (how & OK_404));
}

/*
 * One request and the checks its callers share: s3_do(); a status that `how` (OK_* bits) does not take
 * fails with s3_fail() (with the ERR_* bits of `how`) naming c->op and c->label or c->key. With `root`,
 * a successful body is then parsed: S3's <Error> in it (CompleteMultipartUpload and CopyObject may answer
 * 200 so) fails with s3_fail() too; and unless `root` is "" (parsed for that check only), a body that is
 * not XML or whose root element is not `root` (a prefix of it when `root` ends in '*') is malformed().
 * The document goes to *doc if doc is non-NULL (NULL when not parsed; release with xmlFreeDoc).
 * RestoreObject (202 / 409 RestoreAlreadyInProgress) and the abort of a failed write (warns, keeps the
 * caller's error) read their answers themselves. `resp` is filled in every case: dispose of it.
 */
static int s3_call_xml(s3_os *s, const s3_call *c, unsigned how, const char *root, stkdr__http_resp *resp,
	xmlDocPtr *doc)
{
	const char *label = c->label ? c->label : c->key;
	int flags = (int)(how & 0xff);
	if (doc)
		*doc = NULL;
	int rc = s3_do(s, c, resp);
	if (rc == 0 && !status_ok(resp->status, how))
		rc = s3_fail(s, c->op, label, resp, flags);
	if (rc || !root || resp->status >= 300)
		return rc;
	xmlDocPtr d = stkdr__aws_xml_parse(&resp->body, "s3.xml");
	xmlNodePtr r = d ? xmlDocGetRootElement(d) : NULL;
	const char *name = r ? (const char *)r->name : "";
	size_t n = strlen(root);
	if (r && strcmp(name, "Error") == 0) {
		rc = s3_fail(s, c->op, label, resp, flags);
	} else if (n && (!r || (root[n - 1] == '*' ? strncmp(name, root, n - 1) : strcmp(name, root)) != 0)) {
		char why[200];
		if (r)
			snprintf(why, sizeof why, "<%.80s> where <%.*s> was expected", name, (int)(root[n - 1] == '*' ? n - 1 : n),
				root);
		rc = malformed(s, c->op, label, r ? why : "truncated or not XML");
	}
	if (rc == 0 && doc)
		*doc = d;
	else if (d)
		xmlFreeDoc(d);
	return rc;
}

static char *full_key(const s3_os *s, const char *key)
{
	return stkdr__aprintf("%s%s", s->prefix, key);
}

static int validate_key(const char *key)
{
	if (!key || !*key)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_AWS, NULL, "object key is empty: pass a relative key");
	if (strlen(key) > 900)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_AWS, NULL, "object key '%.64s...' is too long (max 900)",
			key);
	if (key[0] == '/')
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_AWS, NULL,
			"object key '%s' is invalid: keys are relative (no leading '/')", key);
	const char *seg = key;
	for (;;) {
		const char *end = strchr(seg, '/');
		size_t n = end ? (size_t)(end - seg) : strlen(seg);
		if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_AWS, NULL,
				"object key '%s' is invalid: it has an empty, \".\" or \"..\" segment", key);
		if (!end)
			break;
		seg = end + 1;
	}
	return 0;
}

static const char *storage_class(int tier)
{
	return tier == STKDR_TIER_ARCHIVE ? "DEEP_ARCHIVE" : tier == STKDR_TIER_COLD ? "GLACIER_IR" : "STANDARD";
}

static int tier_of(const char *sc)
{
	if (!sc || !*sc || !strcmp(sc, "STANDARD"))
		return STKDR_TIER_HOT;
	if (!strcmp(sc, "DEEP_ARCHIVE") || !strcmp(sc, "GLACIER"))
		return STKDR_TIER_ARCHIVE;
	if (!strcmp(sc, "GLACIER_IR") || !strcmp(sc, "STANDARD_IA") || !strcmp(sc, "ONEZONE_IA"))
		return STKDR_TIER_COLD;
	return STKDR_TIER_HOT;
}

/* Appends "name: value" (formatted) to a header list. */
static int hdr_add(struct curl_slist **l, const char *fmt, ...) STKDR__PRINTF(2, 3);
static int hdr_add(struct curl_slist **l, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	struct curl_slist *n = curl_slist_append(*l, line);
	if (!n)
		return oom();
	*l = n;
	return 0;
}

static int add_sse(const s3_os *s, struct curl_slist **l)
{
	int rc = 0;
	if (s->sse && *s->sse)
		rc = hdr_add(l, "x-amz-server-side-encryption: %s", s->sse);
	if (rc == 0 && s->kms_key_id && *s->kms_key_id)
		rc = hdr_add(l, "x-amz-server-side-encryption-aws-kms-key-id: %s", s->kms_key_id);
	return rc;
}

static int b64(char *out, size_t cap, const uint8_t *d, size_t n)
{
	stkdr_buf b = STKDR_BUF_INIT;
	int rc = stkdr__b64_encode(&b, d, n, 0);
	if (rc == 0)
		snprintf(out, cap, "%s", b.ptr);
	stkdr_buf_dispose(&b);
	return rc;
}

static int add_md5(struct curl_slist **l, const uint8_t *d, size_t n)
{
	uint8_t m[16];
	char e[32];
	mbedtls_md5_ret(d, n, m);
	int rc = b64(e, sizeof e, m, 16);
	return rc ? rc : hdr_add(l, "Content-MD5: %s", e);
}

/* The headers of an XML request body (lifecycle, restore, legal hold): its Content-MD5, which S3 requires
 * for these configuration calls, and its type. */
static int add_xml_headers(struct curl_slist **l, const void *body, size_t n)
{
	int rc = add_md5(l, body, n);
	return rc ? rc : hdr_add(l, "Content-Type: application/xml");
}

/* ------------------------------------------------------------------------------------------------ */
/* HEAD                                                                                               */
/* ------------------------------------------------------------------------------------------------ */

typedef struct head_info {
	int64_t size;
	int has_sha;
	uint8_t sha[32];
	int64_t mtime_ms;
	int retain_mode;
	int64_t retain_until_ms;
	int tier;
	char etag[160];
	char version_id[256];
	int64_t part_size; /* x-amz-meta-stkdr-part-size of a multipart object written by libstkdr, else 0 */
	int restore;       /* x-amz-restore: 0 absent, 1 ongoing-request="true", 2 restored (readable copy) */
	int legal_hold;    /* x-amz-object-lock-legal-hold: ON */
} head_info;

/* HTTP-date ("Wed, 21 Oct 2015 07:28:00 GMT") to Unix ms; 0 if unparsable. */
static int64_t http_date_ms(const char *s)
{
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
		"Dec" };
	char wd[8], m[8];
	int d, y, hh, mm, ss;
	if (!s || sscanf(s, "%7[^,], %d %7s %d %d:%d:%d", wd, &d, m, &y, &hh, &mm, &ss) != 7)
		return 0;
	for (int i = 0; i < 12; i++)
		if (strcmp(m, mon[i]) == 0)
			return (stkdr__time_days_from_civil(y, i + 1, d) * 86400 + hh * 3600 + mm * 60 + ss) * 1000LL;
	return 0;
}

static int do_head(head_info *hi, s3_os *s, const char *fk)
{
	stkdr__http_resp resp;
	s3_call c = { "HEAD", "HeadObject", fk, NULL, 0, NULL, NULL, 0, NULL, NULL, NULL, NULL };
	int rc = s3_call_xml(s, &c, OK_200, NULL, &resp, NULL);
	if (rc == 0) {
		memset(hi, 0, sizeof *hi);
		const char *v = stkdr__http_resp_header(&resp, "content-length");
		hi->size = v ? strtoll(v, NULL, 10) : 0;
		v = stkdr__http_resp_header(&resp, "x-amz-meta-stkdr-sha256");
		if (v && strlen(v) == 64 && stkdr__hex_decode(hi->sha, 32, v) == 0)
			hi->has_sha = 1;
		hi->mtime_ms = http_date_ms(stkdr__http_resp_header(&resp, "last-modified"));
		v = stkdr__http_resp_header(&resp, "x-amz-object-lock-mode");
		if (v)
			hi->retain_mode = strcasecmp(v, "COMPLIANCE") == 0 ? STKDR_RETAIN_COMPLIANCE : STKDR_RETAIN_GOVERNANCE;
		v = stkdr__http_resp_header(&resp, "x-amz-object-lock-retain-until-date");
		if (v && stkdr__time_parse_rfc3339(&hi->retain_until_ms, v) != 0)
			hi->retain_until_ms = 0;
		if (!hi->retain_until_ms)
			hi->retain_mode = STKDR_RETAIN_NONE;
		hi->tier = tier_of(stkdr__http_resp_header(&resp, "x-amz-storage-class"));
		v = stkdr__http_resp_header(&resp, "etag");
		snprintf(hi->etag, sizeof hi->etag, "%s", v ? v : "");
		v = stkdr__http_resp_header(&resp, "x-amz-meta-stkdr-part-size");
		hi->part_size = v ? strtoll(v, NULL, 10) : 0;
		v = stkdr__http_resp_header(&resp, "x-amz-version-id");
		snprintf(hi->version_id, sizeof hi->version_id, "%s", v && strcmp(v, "null") ? v : "");
		v = stkdr__http_resp_header(&resp, "x-amz-restore");
		if (v && strstr(v, "ongoing-request=\"true\""))
			hi->restore = 1;
		else if (v && strstr(v, "ongoing-request=\"false\""))
			hi->restore = 2;
		v = stkdr__http_resp_header(&resp, "x-amz-object-lock-legal-hold");
		hi->legal_hold = v && strcasecmp(v, "ON") == 0;
	}
	stkdr__http_resp_dispose(&resp);
	return rc;
}

/* The per-object methods' first step: the key checked, made full into *fk (NULL if invalid; free it in
 * every case) and HEADed (ENOTFOUND for a missing object, before S3's less clear answers). */
static int key_head(s3_os *s, const char *key, char **fk, head_info *hi)
{
	*fk = NULL;
	int rc = validate_key(key);
	if (rc)
		return rc;
	if (!(*fk = full_key(s, key)))
		return oom();
	return do_head(hi, s, *fk);
}

static int s3_head(stkdr_objinfo *out, stkdr_objstore *os, const char *key)
{
	s3_os *s = (s3_os *)os;
	char *fk;
	head_info hi;
	int rc = key_head(s, key, &fk, &hi);
	stkdr__free(fk);
	if (rc)
		return rc;
	memset(out, 0, sizeof *out);
	out->version = STKDR_OBJINFO_VERSION;
	out->key = key;
	out->size = hi.size;
	out->has_sha256 = hi.has_sha;
	memcpy(out->sha256, hi.sha, 32);
	out->mtime_ms = hi.mtime_ms;
	out->retain_mode = hi.retain_mode;
	out->retain_until_ms = hi.retain_until_ms;
	out->tier = hi.tier;
	return 0;
}

/* ------------------------------------------------------------------------------------------------ */
/* Writes                                                                                             */
/* ------------------------------------------------------------------------------------------------ */

typedef struct part_job {
	struct s3_writer *w;
	int num;
	uint8_t *data;
	size_t len;
	pthread_t thread;
	int running;
	int rc;
	/* error detail copied from the worker thread */
	int err_class;
	char err_code[64];
	char err_msg[768];
} part_job;

typedef struct part_done {
	char etag[160];
	char cksum[64];
} part_done;

typedef struct s3_writer {
	stkdr_objwriter pub;
	s3_os *s;
	char *key;                /* full key */
	stkdr_put_options opts;
	uint8_t expected[32];
	int has_expected;
	stkdr__sha256_ctx sha;
	uint8_t *buf;
	size_t len;
	int64_t total;
	char *upload_id;
	part_done *parts;         /* indexed by part number - 1 */
	int n_parts;
	part_job *jobs;           /* ring of s->parallel slots */
	int next_job;
	int failed;               /* a part failed: rc in fail_rc, detail in fail_job */
	part_job fail_job;
} s3_writer;

static int common_put_headers(s3_writer *w, struct curl_slist **l)
{
	int rc = hdr_add(l, "Content-Type: application/octet-stream");
	if (rc == 0)
		rc = add_sse(w->s, l);
	if (rc == 0 && w->opts.tier != STKDR_TIER_HOT)
		rc = hdr_add(l, "x-amz-storage-class: %s", storage_class(w->opts.tier));
	if (rc == 0 && w->opts.retain_mode != STKDR_RETAIN_NONE) {
		char t[40];
		stkdr__time_format_rfc3339(t, sizeof t, w->opts.retain_until_ms);
		rc = hdr_add(l, "x-amz-object-lock-mode: %s",
			w->opts.retain_mode == STKDR_RETAIN_COMPLIANCE ? "COMPLIANCE" : "GOVERNANCE");
		if (rc == 0)
			rc = hdr_add(l, "x-amz-object-lock-retain-until-date: %s", t);
	}
	return rc;
}

static void job_run(part_job *j)
{
	s3_writer *w = j->w;
	s3_os *s = w->s;
	uint8_t d[32];
	char hex[65], cks[64], num[16];
	stkdr__sha256(j->data, j->len, d);
	stkdr__hex_encode(hex, d, 32);
	j->rc = b64(cks, sizeof cks, d, 32);
	struct curl_slist *hl = NULL;
	if (j->rc == 0)
		j->rc = hdr_add(&hl, "x-amz-checksum-sha256: %s", cks);
	if (j->rc == 0 && w->opts.retain_mode != STKDR_RETAIN_NONE)
		j->rc = add_md5(&hl, j->data, j->len);
	snprintf(num, sizeof num, "%d", j->num);
	stkdr__aws_kv q[2] = { { "partNumber", num }, { "uploadId", w->upload_id } };
	if (j->rc == 0) {
		stkdr__http_resp resp;
		s3_call c = { "PUT", "UploadPart", w->key, q, 2, hl, j->data, j->len, hex, NULL, NULL, NULL };
		j->rc = s3_call_xml(s, &c, OK_200, NULL, &resp, NULL);
		if (j->rc == 0) {
			const char *etag = stkdr__http_resp_header(&resp, "etag");
			if (!etag)
				j->rc = malformed(s, "UploadPart", w->key, "no ETag");
			else {
				part_done *pd = &w->parts[j->num - 1]; /* distinct slot per part: no lock needed */
				snprintf(pd->etag, sizeof pd->etag, "%s", etag);
				snprintf(pd->cksum, sizeof pd->cksum, "%s", cks);
			}
		}
		stkdr__http_resp_dispose(&resp);
	}
	curl_slist_free_all(hl);
	if (j->rc) {
		const stkdr_error *e = stkdr__err_get();
		j->err_class = e->klass;
		snprintf(j->err_code, sizeof j->err_code, "%s", e->backend_code ? e->backend_code : "");
		snprintf(j->err_msg, sizeof j->err_msg, "%s", e->message ? e->message : "");
	}
}

static void *job_thread(void *p)
{
	job_run(p);
	return NULL;
}

/* Waits for slot `i` and records a failure. */
static void job_join(s3_writer *w, int i)
{
	part_job *j = &w->jobs[i];
	if (!j->running)
		return;
	pthread_join(j->thread, NULL);
	j->running = 0;
	stkdr__free(j->data);
	j->data = NULL;
	if (j->rc && !w->failed) {
		w->failed = 1;
		w->fail_job = *j;
	}
}

static void jobs_join_all(s3_writer *w)
{
	for (int i = 0; i < w->s->parallel; i++)
		job_join(w, i);
}

static int fail_rc(s3_writer *w)
{
	stkdr_error_set_str(w->fail_job.rc, w->fail_job.err_class, w->fail_job.err_code[0] ? w->fail_job.err_code : NULL,
		w->fail_job.err_msg);
	return w->fail_job.rc;
}

static int start_upload(s3_writer *w)
{
	s3_os *s = w->s;
	struct curl_slist *hl = NULL;
	int rc = common_put_headers(w, &hl);
	if (rc == 0 && w->has_expected) {
		char hex[65];
		stkdr__hex_encode(hex, w->expected, 32);
		rc = hdr_add(&hl, "x-amz-meta-stkdr-sha256: %s", hex);
	}
	if (rc == 0)
		rc = hdr_add(&hl, "x-amz-checksum-algorithm: SHA256");
	if (rc == 0) /* lets whole reads check S3's composite checksum (see s3_open_read) */
		rc = hdr_add(&hl, "x-amz-meta-stkdr-part-size: %lld", (long long)s->part_size);
	stkdr__aws_kv q[1] = { { "uploads", "" } };
	stkdr__http_resp resp;
	memset(&resp, 0, sizeof resp);
	xmlDocPtr d = NULL;
	if (rc == 0) {
		s3_call c = { "POST", "CreateMultipartUpload", w->key, q, 1, hl, NULL, 0, NULL, NULL, NULL, NULL };
		rc = s3_call_xml(s, &c, OK_200, "InitiateMultipartUploadResult", &resp, &d);
	}
	if (rc == 0) {
		char id[1024];
		if (!stkdr__aws_xml_text(id, sizeof id, xmlDocGetRootElement(d), "UploadId") || !id[0])
			rc = malformed(s, "CreateMultipartUpload", w->key, "no UploadId");
		else if (!(w->upload_id = stkdr__strdup(id)))
			rc = oom();
	}
	if (d)
		xmlFreeDoc(d);
	stkdr__http_resp_dispose(&resp);
	curl_slist_free_all(hl);
	return rc;
}

static void abort_upload(s3_writer *w)
{
	if (!w->upload_id)
		return;
	/* Keep the caller's error: this is cleanup. */
	const stkdr_error *e = stkdr__err_get();
	int code = e->code, klass = e->klass;
	char bc[64], msg[1024];
	snprintf(bc, sizeof bc, "%s", e->backend_code ? e->backend_code : "");
	snprintf(msg, sizeof msg, "%s", e->message ? e->message : "");
	stkdr__aws_kv q[1] = { { "uploadId", w->upload_id } };
	stkdr__http_resp resp;
	s3_call c = { "DELETE", "AbortMultipartUpload", w->key, q, 1, NULL, NULL, 0, NULL, NULL, NULL, NULL };
	if (s3_do(w->s, &c, &resp) == 0 && resp.status >= 300 && resp.status != 404)
		stkdr__log(w->s->ctx, STKDR_LOG_WARN, "s3", "could not abort the multipart upload of s3://%s/%s (HTTP %ld): "
			"objstore ctl STKDR_CTL_ABORT_STALE_WRITES or a bucket lifecycle rule will remove it",
			w->s->bucket, w->key, resp.status);
	stkdr__http_resp_dispose(&resp);
	stkdr_error_set_str(code, klass, bc[0] ? bc : NULL, msg);
	stkdr__free(w->upload_id);
	w->upload_id = NULL;
}

/* Hands the buffered part to a worker thread. */
static int flush_part(s3_writer *w)
{
	s3_os *s = w->s;
	int rc;
	if (!w->upload_id && (rc = start_upload(w)) != 0)
		return rc;
	if (w->n_parts >= MAX_PARTS)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_AWS, "TooManyParts",
			"S3 UploadPart s3://%s/%s: more than %d parts; raise objstore.part_size", s->bucket, w->key, MAX_PARTS);
	part_done *np = stkdr__realloc(w->parts, (size_t)(w->n_parts + 1) * sizeof *np);
	if (!np)
		return oom();
	w->parts = np;
	memset(&np[w->n_parts], 0, sizeof *np);
	int slot = w->next_job;
	w->next_job = (w->next_job + 1) % s->parallel;
	job_join(w, slot);
	if (w->failed)
		return fail_rc(w);
	part_job *j = &w->jobs[slot];
	memset(j, 0, sizeof *j);
	j->w = w;
	j->num = ++w->n_parts;
	j->data = w->buf;
	j->len = w->len;
	w->buf = NULL;
	w->len = 0;
	if (pthread_create(&j->thread, NULL, job_thread, j) != 0) {
		job_run(j); /* no thread: upload inline */
		stkdr__free(j->data);
		j->data = NULL;
		if (j->rc) {
			w->failed = 1;
			w->fail_job = *j;
			return fail_rc(w);
		}
		return 0;
	}
	j->running = 1;
	return 0;
}

static int sw_write(stkdr_objwriter *w_, const uint8_t *data, size_t len)
{
	s3_writer *w = (s3_writer *)w_;
	s3_os *s = w->s;
	if (w->failed)
		return fail_rc(w);
	stkdr__sha256_update(&w->sha, data, len);
	w->total += (int64_t)len;
	while (len > 0) {
		if (!w->buf) {
			w->buf = stkdr__malloc((size_t)s->part_size);
			if (!w->buf)
				return oom();
		}
		size_t room = (size_t)s->part_size - w->len;
		size_t k = len < room ? len : room;
		memcpy(w->buf + w->len, data, k);
		w->len += k;
		data += k;
		len -= k;
		/* A full part goes out once the object is known to be larger than one part. */
		if (w->len == (size_t)s->part_size && (w->upload_id || len > 0)) {
			int rc = flush_part(w);
			if (rc)
				return rc;
		}
	}
	return 0;
}

static void writer_free(s3_writer *w)
{
	jobs_join_all(w);
	abort_upload(w);
	uint8_t d[32];
	stkdr__sha256_final(&w->sha, d);
	stkdr__free(w->buf);
	stkdr__free(w->parts);
	stkdr__free(w->jobs);
	stkdr__free(w->key);
	stkdr__free(w);
}

static void sw_abort(stkdr_objwriter *w_)
{
	writer_free((s3_writer *)w_);
}

static int put_single(s3_writer *w, const uint8_t sha[32])
{
	s3_os *s = w->s;
	char hex[65], cks[64];
	stkdr__hex_encode(hex, sha, 32);
	struct curl_slist *hl = NULL;
	int rc = b64(cks, sizeof cks, sha, 32);
	if (rc == 0)
		rc = common_put_headers(w, &hl);
	if (rc == 0)
		rc = hdr_add(&hl, "x-amz-meta-stkdr-sha256: %s", hex);
	if (rc == 0)
		rc = hdr_add(&hl, "x-amz-checksum-sha256: %s", cks);
	if (rc == 0 && (w->opts.flags & STKDR_PUT_CREATE_ONLY))
		rc = hdr_add(&hl, "If-None-Match: *");
	if (rc == 0 && w->opts.retain_mode != STKDR_RETAIN_NONE)
		rc = add_md5(&hl, w->buf ? w->buf : (const uint8_t *)"", w->len);
	if (rc == 0) {
		stkdr__http_resp resp;
		s3_call c = { "PUT", "PutObject", w->key, NULL, 0, hl, w->buf, w->len, hex, NULL, NULL, NULL };
		rc = s3_call_xml(s, &c, OK_200 | ERR_PUT_CREATE, NULL, &resp, NULL);
		stkdr__http_resp_dispose(&resp);
	}
	curl_slist_free_all(hl);
	return rc;
}

static int complete_upload(s3_writer *w)
{
	s3_os *s = w->s;
	int rc = 0;
	xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
	xmlNodePtr root = doc ? xmlNewNode(NULL, BAD_CAST "CompleteMultipartUpload") : NULL;
	if (!root) {
		if (doc)
			xmlFreeDoc(doc);
		return oom();
	}
	xmlDocSetRootElement(doc, root);
	xmlNewProp(root, BAD_CAST "xmlns", BAD_CAST "http://s3.amazonaws.com/doc/2006-03-01/");
	for (int i = 0; i < w->n_parts; i++) {
		char num[16];
		snprintf(num, sizeof num, "%d", i + 1);
		xmlNodePtr p = xmlNewChild(root, NULL, BAD_CAST "Part", NULL);
		if (!p || !xmlNewTextChild(p, NULL, BAD_CAST "PartNumber", BAD_CAST num)
			|| !xmlNewTextChild(p, NULL, BAD_CAST "ETag", BAD_CAST w->parts[i].etag)
			|| !xmlNewTextChild(p, NULL, BAD_CAST "ChecksumSHA256", BAD_CAST w->parts[i].cksum))
			rc = oom();
	}
	xmlChar *xml = NULL;
	int xlen = 0;
	if (rc == 0)
		xmlDocDumpMemory(doc, &xml, &xlen);
	xmlFreeDoc(doc);
	if (rc == 0 && !xml)
		rc = oom();
	struct curl_slist *hl = NULL;
	if (rc == 0 && (w->opts.flags & STKDR_PUT_CREATE_ONLY))
		rc = hdr_add(&hl, "If-None-Match: *");
	if (rc == 0)
		rc = hdr_add(&hl, "Content-Type: application/xml");
	stkdr__aws_kv q[1] = { { "uploadId", w->upload_id } };
	if (rc == 0) {
		stkdr__http_resp resp;
		s3_call c = { "POST", "CompleteMultipartUpload", w->key, q, 1, hl, xml, (size_t)xlen, NULL, NULL, NULL, NULL };
		/* S3 may answer 200 and report an error in the body; moto's root is ...Response, S3's ...Result */
		rc = s3_call_xml(s, &c, OK_200 | ERR_PUT_CREATE, "CompleteMultipartUpload*", &resp, NULL);
		stkdr__http_resp_dispose(&resp);
	}
	curl_slist_free_all(hl);
	xmlFree(xml);
	if (rc == 0) {
		stkdr__free(w->upload_id); /* completed: nothing to abort */
		w->upload_id = NULL;
	}
	return rc;
}

static int sw_commit(stkdr_objwriter *w_, uint8_t *sha256_out)
{
	s3_writer *w = (s3_writer *)w_;
	s3_os *s = w->s;
	uint8_t sha[32];
	int rc = 0;
	stkdr__sha256_final(&w->sha, sha);
	stkdr__sha256_init(&w->sha); /* writer_free finalises again */
	if (w->failed)
		rc = fail_rc(w);
	if (rc == 0 && w->has_expected && memcmp(sha, w->expected, 32) != 0)
		rc = stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_AWS, NULL,
			"S3 PutObject s3://%s/%s: the data written does not match the expected SHA-256; nothing was stored",
			s->bucket, w->key);
	if (rc == 0 && !w->upload_id) {
		rc = put_single(w, sha);
	} else if (rc == 0) {
		if (w->len > 0 || w->n_parts == 0)
			rc = flush_part(w);
		jobs_join_all(w);
		if (rc == 0 && w->failed)
			rc = fail_rc(w);
		if (rc == 0 && (w->opts.flags & STKDR_PUT_CREATE_ONLY)) {
			/* Stores without conditional CompleteMultipartUpload: check first (If-None-Match still applies). */
			head_info hi;
			char *rel = w->key + strlen(s->prefix);
			(void)rel;
			int hrc = do_head(&hi, s, w->key);
			if (hrc == 0)
				rc = stkdr__seterr(STKDR_EEXISTS, STKDR_ERRCLASS_AWS, "PreconditionFailed",
					"S3 CompleteMultipartUpload s3://%s/%s: the object exists already (create-only write refused)",
					s->bucket, w->key);
			else if (hrc != STKDR_ENOTFOUND)
				rc = hrc;
		}
		if (rc == 0)
			rc = complete_upload(w);
	}
	if (rc == 0 && sha256_out)
		memcpy(sha256_out, sha, 32);
	writer_free(w);
	return rc;
}

static int s3_open_write(stkdr_objwriter **out, stkdr_objstore *os, const char *key, const stkdr_put_options *opts)
{
	s3_os *s = (s3_os *)os;
	*out = NULL;
	int rc = validate_key(key);
	if (rc)
		return rc;
	stkdr_put_options o = STKDR_PUT_OPTIONS_INIT;
	if (opts) {
		if (opts->version < 1 || opts->version > STKDR_PUT_OPTIONS_VERSION)
			return stkdr__seterr(STKDR_EVERSION, STKDR_ERRCLASS_AWS, NULL, "put options version %u is not known",
				opts->version);
		o = *opts;
	}
	if (o.retain_mode < STKDR_RETAIN_NONE || o.retain_mode > STKDR_RETAIN_COMPLIANCE || o.tier < STKDR_TIER_HOT
		|| o.tier > STKDR_TIER_ARCHIVE)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_AWS, NULL, "put options for %s: unknown retain mode or tier",
			key);
	if (o.retain_mode != STKDR_RETAIN_NONE && o.retain_until_ms <= stkdr__time_now_ms())
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_AWS, NULL,
			"put options for %s: retain_until_ms must be in the future with a retain mode", key);
	s3_writer *w = stkdr__calloc(1, sizeof *w);
	if (!w)
		return oom();
	w->jobs = stkdr__calloc((size_t)s->parallel, sizeof *w->jobs);
	w->key = full_key(s, key);
	if (!w->jobs || !w->key) {
		stkdr__free(w->jobs);
		stkdr__free(w->key);
		stkdr__free(w);
		return oom();
	}
	w->pub.version = 1;
	w->pub.write = sw_write;
	w->pub.commit = sw_commit;
	w->pub.abort = sw_abort;
	w->s = s;
	w->opts = o;
	if (o.expected_sha256) {
		memcpy(w->expected, o.expected_sha256, 32);
		w->has_expected = 1;
	}
	w->opts.expected_sha256 = NULL;
	stkdr__sha256_init(&w->sha);
	*out = &w->pub;
	return 0;
}

/* ------------------------------------------------------------------------------------------------ */
/* Reads                                                                                              */
/* ------------------------------------------------------------------------------------------------ */

typedef struct s3_reader {
	stkdr_objreader pub;
	s3_os *s;
	char *key;
	head_info hi;
	int whole;
	int64_t pos;   /* next byte to fetch */
	int64_t end;   /* one past the last byte to read */
	stkdr_buf chunk;
	size_t chunk_off;
	stkdr__sha256_ctx sha;
	int done;
	/* composite check of multipart objects: SHA-256 of the parts' SHA-256s */
	int has_composite;
	uint8_t composite[32];
	stkdr__sha256_ctx part_sha;
	stkdr__sha256_ctx comp_sha;
	int64_t part_fill;
	int64_t n_parts;
	/* read-ahead (s3_read_ahead_*): up to objstore.parallel ranged GETs in flight, in key order */
	struct ra_slot *ra;
	int n_ra;
	int ra_head;         /* the slot holding the range at `pos` */
	int64_t ra_next_pos; /* first byte no slot has been given yet */
	int ra_rc;           /* a failed range: every later read fails too */
} s3_reader;

/* One ranged GET of `n` bytes at `pos` (If-Match the HEAD's ETag) into `out` (replaced); any thread. */
static int get_range(s3_reader *r, int64_t pos, int64_t n, stkdr_buf *out)
{
	s3_os *s = r->s;
	struct curl_slist *hl = NULL;
	int rc = hdr_add(&hl, "Range: bytes=%lld-%lld", (long long)pos, (long long)(pos + n - 1));
	if (rc == 0 && r->hi.etag[0])
		rc = hdr_add(&hl, "If-Match: %s", r->hi.etag);
	stkdr__http_resp resp;
	memset(&resp, 0, sizeof resp);
	if (rc == 0) {
		s3_call c = { "GET", "GetObject", r->key, NULL, 0, hl, NULL, 0, NULL, NULL, NULL, NULL };
		rc = s3_call_xml(s, &c, OK_200 | OK_206 | ERR_READ_MATCH, NULL, &resp, NULL);
		if (rc == 0 && resp.body.size != (size_t)n)
			rc = stkdr__seterr(STKDR_EBACKEND, STKDR_ERRCLASS_AWS, "IncompleteBody",
				"S3 GetObject s3://%s/%s: asked for %lld bytes at %lld, got %zu; retry the read", s->bucket, r->key,
				(long long)n, (long long)pos, resp.body.size);
	}
	curl_slist_free_all(hl);
	if (rc == 0) {
		stkdr_buf_dispose(out);
		*out = resp.body;
		memset(&resp.body, 0, sizeof resp.body);
	}
	stkdr__http_resp_dispose(&resp);
	return rc;
}

static int fetch_chunk(s3_reader *r)
{
	int64_t n = r->end - r->pos;
	if (n > r->s->read_chunk)
		n = r->s->read_chunk;
	int rc = get_range(r, r->pos, n, &r->chunk);
	if (rc == 0) {
		r->chunk_off = 0;
		r->pos += n;
	}
	return rc;
}

/*
 * Read-ahead: a whole or long read keeps objstore.parallel ranged GETs of objstore.read_chunk bytes in
 * flight, each slot on its own thread (as the multipart upload's parts), and hands the
 * ranges to sr_read in order; the checks (If-Match the HEAD's ETag, the stored SHA-256 over the bytes
 * in order) are those of the sequential path. A slot's failure (after the HTTP layer's retries) fails
 * that read and every later one.
 */
typedef struct ra_slot {
	s3_reader *r;
	pthread_t th;
	int running;
	int64_t pos, n;
	stkdr_buf body;
	int rc, err_class;
	char err_code[64];
	char err_msg[1024];
} ra_slot;

static void *ra_run(void *p)
{
	ra_slot *sl = p;
	int rc = get_range(sl->r, sl->pos, sl->n, &sl->body);
	if (rc) {
		const stkdr_error *e = stkdr__err_get();
		if (rc == STKDR_ENOMEM && !e->message)
			rc = oom();
		sl->err_class = e->klass;
		snprintf(sl->err_code, sizeof sl->err_code, "%s", e->backend_code ? e->backend_code : "");
		snprintf(sl->err_msg, sizeof sl->err_msg, "%s", e->message ? e->message : "out of memory");
	}
	sl->rc = rc;
	return NULL;
}

/* Gives slot `sl` the next range not yet given out (none once the end is reached). */
static void ra_start(s3_reader *r, ra_slot *sl)
{
	if (r->ra_next_pos >= r->end)
		return;
	sl->pos = r->ra_next_pos;
	sl->n = r->end - sl->pos < r->s->read_chunk ? r->end - sl->pos : r->s->read_chunk;
	sl->rc = 0;
	r->ra_next_pos += sl->n;
	sl->running = pthread_create(&sl->th, NULL, ra_run, sl) == 0;
	if (!sl->running)
		ra_run(sl); /* no thread: fetch it here */
}

static void ra_join(ra_slot *sl)
{
	if (sl->running)
		pthread_join(sl->th, NULL);
	sl->running = 0;
}

/* The next range, in order, into r->chunk. */
static int ra_take(s3_reader *r)
{
	if (r->ra_rc)
		return r->ra_rc;
	if (r->ra_next_pos == r->pos) /* first read: fill every slot */
		for (int i = 0; i < r->n_ra; i++)
			ra_start(r, &r->ra[(r->ra_head + i) % r->n_ra]);
	ra_slot *sl = &r->ra[r->ra_head];
	ra_join(sl);
	if (sl->rc) {
		r->ra_rc = sl->rc;
		stkdr_error_set_str(sl->rc, sl->err_class, sl->err_code[0] ? sl->err_code : NULL, sl->err_msg);
		return sl->rc;
	}
	stkdr_buf_dispose(&r->chunk);
	r->chunk = sl->body;
	memset(&sl->body, 0, sizeof sl->body);
	r->chunk_off = 0;
	r->pos += sl->n;
	ra_start(r, sl); /* the slot goes to the back of the ring with the next range */
	r->ra_head = (r->ra_head + 1) % r->n_ra;
	return 0;
}

static void ra_setup(s3_reader *r)
{
	int n = r->s->parallel;
	int64_t chunks = (r->end - r->pos + r->s->read_chunk - 1) / r->s->read_chunk;
	if (n > chunks)
		n = (int)chunks;
	if (n < 2)
		return;
	r->ra = stkdr__calloc((size_t)n, sizeof *r->ra);
	if (!r->ra)
		return; /* sequential reads then */
	for (int i = 0; i < n; i++)
		r->ra[i].r = r;
	r->n_ra = n;
	r->ra_next_pos = r->pos;
}

static void ra_free(s3_reader *r)
{
	for (int i = 0; i < r->n_ra; i++) {
		ra_join(&r->ra[i]);
		stkdr_buf_dispose(&r->ra[i].body);
	}
	stkdr__free(r->ra);
	r->ra = NULL;
	r->n_ra = 0;
}

/* Hashes delivered bytes for the whole-object checks. */
static void feed(s3_reader *r, const uint8_t *p, size_t n)
{
	if (r->hi.has_sha)
		stkdr__sha256_update(&r->sha, p, n);
	while (r->has_composite && n > 0) {
		size_t k = (size_t)(r->hi.part_size - r->part_fill) < n ? (size_t)(r->hi.part_size - r->part_fill) : n;
		stkdr__sha256_update(&r->part_sha, p, k);
		r->part_fill += (int64_t)k;
		p += k;
		n -= k;
		if (r->part_fill == r->hi.part_size) {
			uint8_t d[32];
			stkdr__sha256_final(&r->part_sha, d);
			stkdr__sha256_init(&r->part_sha);
			stkdr__sha256_update(&r->comp_sha, d, 32);
			r->part_fill = 0;
			r->n_parts++;
		}
	}
}

static int check_composite(s3_reader *r)
{
	uint8_t d[32];
	if (r->part_fill > 0 || r->n_parts == 0) {
		stkdr__sha256_final(&r->part_sha, d);
		stkdr__sha256_init(&r->part_sha);
		stkdr__sha256_update(&r->comp_sha, d, 32);
	}
	stkdr__sha256_final(&r->comp_sha, d);
	stkdr__sha256_init(&r->comp_sha);
	if (memcmp(d, r->composite, 32) != 0)
		return stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_AWS, NULL,
			"S3 GetObject s3://%s/%s: the data does not match S3's checksum of its parts (composite SHA-256): the "
			"object is damaged or was replaced outside libstkdr; restore it from another copy", r->s->bucket, r->key);
	return 0;
}

/*
 * GetObjectAttributes: S3's composite SHA-256 of a multipart object into r->composite (r->has_composite).
 * A store that has none, does not offer the call or does not allow it (s3:GetObjectAttributes) leaves
 * has_composite 0: the read goes on without the check, with a warning in the log.
 */
static void get_composite(s3_reader *r)
{
	s3_os *s = r->s;
	struct curl_slist *hl = NULL;
	stkdr__aws_kv q[1] = { { "attributes", "" } };
	int rc = hdr_add(&hl, "x-amz-object-attributes: Checksum");
	xmlDocPtr d = NULL;
	stkdr__http_resp resp;
	memset(&resp, 0, sizeof resp);
	if (rc == 0) {
		s3_call c = { "GET", "GetObjectAttributes", r->key, q, 1, hl, NULL, 0, NULL, NULL, NULL, NULL };
		rc = s3_call_xml(s, &c, OK_200, "GetObjectAttributesResponse", &resp, &d);
	}
	if (rc == 0) {
		xmlNodePtr root = xmlDocGetRootElement(d);
		char b64v[128];
		if (stkdr__aws_xml_text(b64v, sizeof b64v, stkdr__aws_xml_child(root, "Checksum"), "ChecksumSHA256") && b64v[0]) {
			char *dash = strchr(b64v, '-'); /* "<base64>-<parts>" in some answers */
			if (dash)
				*dash = '\0';
			stkdr_buf raw = STKDR_BUF_INIT;
			if (stkdr__b64_decode(&raw, b64v, strlen(b64v), 0) == 0 && raw.size == 32) {
				memcpy(r->composite, raw.ptr, 32);
				r->has_composite = 1;
			} else {
				rc = malformed(s, "GetObjectAttributes", r->key, "ChecksumSHA256 is not a base64 SHA-256");
			}
			stkdr_buf_dispose(&raw);
		}
		if (d)
			xmlFreeDoc(d);
	}
	stkdr__http_resp_dispose(&resp);
	curl_slist_free_all(hl);
	if (rc)
		stkdr__log(s->ctx, STKDR_LOG_WARN, "s3", "s3://%s/%s is read without its checksum check: %s", s->bucket,
			r->key, stkdr__err_get()->message);
}

static int sr_read(stkdr_objreader *r_, uint8_t *buf, size_t cap, size_t *nread_out)
{
	s3_reader *r = (s3_reader *)r_;
	*nread_out = 0;
	if (r->done)
		return 0;
	if (r->chunk_off == r->chunk.size) {
		if (r->pos >= r->end) {
			r->done = 1;
			if (r->whole && r->has_composite) {
				int crc = check_composite(r);
				if (crc)
					return crc;
			}
			if (r->whole && r->hi.has_sha) {
				uint8_t d[32];
				stkdr__sha256_final(&r->sha, d);
				stkdr__sha256_init(&r->sha);
				if (memcmp(d, r->hi.sha, 32) != 0)
					return stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_AWS, NULL,
						"S3 GetObject s3://%s/%s: the data does not match its stored SHA-256 "
						"(x-amz-meta-stkdr-sha256): the object is damaged or was replaced outside libstkdr; "
						"restore it from another copy",
						r->s->bucket, r->key);
			}
			return 0;
		}
		int rc = r->n_ra ? ra_take(r) : fetch_chunk(r);
		if (rc)
			return rc;
	}
	size_t k = r->chunk.size - r->chunk_off;
	if (k > cap)
		k = cap;
	memcpy(buf, r->chunk.ptr + r->chunk_off, k);
	if (r->whole)
		feed(r, buf, k);
	r->chunk_off += k;
	*nread_out = k;
	return 0;
}

static void sr_close(stkdr_objreader *r_)
{
	s3_reader *r = (s3_reader *)r_;
	ra_free(r);
	uint8_t d[32];
	stkdr__sha256_final(&r->sha, d);
	stkdr__sha256_final(&r->part_sha, d);
	stkdr__sha256_final(&r->comp_sha, d);
	stkdr_buf_dispose(&r->chunk);
	stkdr__free(r->key);
	stkdr__free(r);
}

static int s3_open_read(stkdr_objreader **out, stkdr_objstore *os, const char *key, int64_t offset, int64_t length)
{
	s3_os *s = (s3_os *)os;
	*out = NULL;
	int rc = validate_key(key);
	if (rc)
		return rc;
	if (offset < 0 || length < -1)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_AWS, NULL, "reading %s: negative offset or length", key);
	s3_reader *r = stkdr__calloc(1, sizeof *r);
	if (!r || !(r->key = full_key(s, key))) {
		stkdr__free(r);
		return oom();
	}
	r->s = s;
	stkdr__sha256_init(&r->sha);
	stkdr__sha256_init(&r->part_sha);
	stkdr__sha256_init(&r->comp_sha);
	r->pub.version = 1;
	r->pub.read = sr_read;
	r->pub.close = sr_close;
	rc = do_head(&r->hi, s, r->key);
	if (rc == 0 && offset > r->hi.size)
		rc = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_AWS, NULL,
			"reading s3://%s/%s: offset %lld is beyond its end (%lld bytes)", s->bucket, r->key, (long long)offset,
			(long long)r->hi.size);
	if (rc) {
		sr_close(&r->pub);
		return rc;
	}
	r->pos = offset;
	r->end = length < 0 || offset + length > r->hi.size ? r->hi.size : offset + length;
	r->whole = offset == 0 && r->end == r->hi.size;
	/* A multipart object without a stored SHA-256: check S3's composite checksum of its parts instead. */
	if (r->whole && !r->hi.has_sha && r->hi.part_size >= MIN_PART)
		get_composite(r);
	ra_setup(r);
	*out = &r->pub;
	return 0;
}

/* ------------------------------------------------------------------------------------------------ */
/* List, delete, tiers, lifecycle                                                                     */
/* ------------------------------------------------------------------------------------------------ */

static int s3_list(stkdr_objstore *os, const char *prefix, const char *start_after, stkdr_objinfo_cb cb, void *payload)
{
	s3_os *s = (s3_os *)os;
	char *fp = full_key(s, prefix ? prefix : "");
	char *sa = start_after && *start_after ? full_key(s, start_after) : NULL;
	char mk[16];
	snprintf(mk, sizeof mk, "%d", s->max_keys);
	char *token = NULL;
	int rc = fp && (!start_after || !*start_after || sa) ? 0 : oom();
	size_t plen = strlen(s->prefix);
	while (rc == 0) {
		stkdr__aws_kv q[5];
		size_t nq = 0;
		q[nq++] = (stkdr__aws_kv){ "list-type", "2" };
		q[nq++] = (stkdr__aws_kv){ "prefix", fp };
		q[nq++] = (stkdr__aws_kv){ "max-keys", mk };
		if (token)
			q[nq++] = (stkdr__aws_kv){ "continuation-token", token };
		else if (sa)
			q[nq++] = (stkdr__aws_kv){ "start-after", sa };
		stkdr__http_resp resp;
		xmlDocPtr d;
		s3_call c = { "GET", "ListObjectsV2", NULL, q, nq, NULL, NULL, 0, NULL, NULL, NULL, fp };
		rc = s3_call_xml(s, &c, OK_200, "ListBucketResult", &resp, &d);
		xmlNodePtr root = d ? xmlDocGetRootElement(d) : NULL;
		stkdr__http_resp_dispose(&resp);
		char trunc[16] = "", next[2048] = "";
		if (rc == 0) {
			stkdr__aws_xml_text(trunc, sizeof trunc, root, "IsTruncated");
			stkdr__aws_xml_text(next, sizeof next, root, "NextContinuationToken");
		}
		for (xmlNodePtr n = root ? root->children : NULL; rc == 0 && n; n = n->next) {
			if (n->type != XML_ELEMENT_NODE || strcmp((const char *)n->name, "Contents") != 0)
				continue;
			char k[2048], size[32], lm[64], sc[64];
			if (!stkdr__aws_xml_text(k, sizeof k, n, "Key") || !stkdr__aws_xml_text(size, sizeof size, n, "Size")) {
				rc = malformed(s, "ListObjectsV2", fp, "an entry without Key or Size");
				break;
			}
			stkdr__aws_xml_text(lm, sizeof lm, n, "LastModified");
			stkdr__aws_xml_text(sc, sizeof sc, n, "StorageClass");
			if (strncmp(k, s->prefix, plen) != 0)
				continue;
			stkdr_objinfo info;
			memset(&info, 0, sizeof info);
			info.version = STKDR_OBJINFO_VERSION;
			info.key = k + plen;
			info.size = strtoll(size, NULL, 10);
			if (lm[0] && stkdr__time_parse_rfc3339(&info.mtime_ms, lm) != 0)
				info.mtime_ms = 0;
			info.tier = tier_of(sc);
			int cr = cb(&info, payload);
			if (cr)
				rc = cr;
		}
		if (d)
			xmlFreeDoc(d);
		stkdr__free(token);
		token = NULL;
		if (rc || strcmp(trunc, "true") != 0)
			break;
		if (!next[0]) {
			rc = malformed(s, "ListObjectsV2", fp, "IsTruncated without NextContinuationToken");
			break;
		}
		if (!(token = stkdr__strdup(next)))
			rc = oom();
	}
	stkdr__free(token);
	stkdr__free(fp);
	stkdr__free(sa);
	return rc;
}

static int s3_del(stkdr_objstore *os, const char *key, uint32_t flags)
{
	s3_os *s = (s3_os *)os;
	char *fk;
	head_info hi;
	int rc = key_head(s, key, &fk, &hi);
	int bypass = 0;
	if (rc == 0 && hi.legal_hold)
		rc = stkdr__seterr(STKDR_EIMMUTABLE, STKDR_ERRCLASS_AWS, "ObjectLocked",
			"S3 DeleteObject s3://%s/%s: the object is under a legal hold and cannot be deleted until the hold is "
			"removed (STKDR_CTL_LEGAL_HOLD with set = 0; s3:PutObjectLegalHold)", s->bucket, fk);
	if (rc == 0 && hi.retain_mode != STKDR_RETAIN_NONE && hi.retain_until_ms > stkdr__time_now_ms()) {
		if (hi.retain_mode == STKDR_RETAIN_GOVERNANCE && (flags & STKDR_DELETE_BYPASS_GOVERNANCE) && hi.version_id[0]) {
			bypass = 1;
		} else {
			char t[40];
			stkdr__time_format_rfc3339(t, sizeof t, hi.retain_until_ms);
			rc = stkdr__seterr(STKDR_EIMMUTABLE, STKDR_ERRCLASS_AWS, "ObjectLocked",
				"S3 DeleteObject s3://%s/%s: the object is under %s retention until %s and cannot be deleted",
				s->bucket, fk, hi.retain_mode == STKDR_RETAIN_COMPLIANCE ? "COMPLIANCE" : "GOVERNANCE", t);
		}
	}
	if (rc == 0) {
		struct curl_slist *hl = NULL;
		stkdr__aws_kv q[1] = { { "versionId", hi.version_id } };
		if (bypass)
			rc = hdr_add(&hl, "x-amz-bypass-governance-retention: true");
		stkdr__http_resp resp;
		memset(&resp, 0, sizeof resp);
		if (rc == 0) {
			s3_call c = { "DELETE", "DeleteObject", fk, q, bypass ? 1 : 0, hl, NULL, 0, NULL, NULL, NULL, NULL };
			rc = s3_call_xml(s, &c, OK_200 | OK_204 | ERR_DELETE, NULL, &resp, NULL);
		}
		stkdr__http_resp_dispose(&resp);
		curl_slist_free_all(hl);
	}
	stkdr__free(fk);
	return rc;
}

static int s3_set_tier(stkdr_objstore *os, const char *key, int tier)
{
	s3_os *s = (s3_os *)os;
	if (tier < STKDR_TIER_HOT || tier > STKDR_TIER_ARCHIVE)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_AWS, NULL, "set_tier %s: unknown tier %d", key, tier);
	char *fk;
	head_info hi;
	int rc = key_head(s, key, &fk, &hi);
	stkdr_buf src = STKDR_BUF_INIT;
	struct curl_slist *hl = NULL;
	if (rc == 0 && (stkdr__buf_printf(&src, "/%s/", s->bucket) || stkdr__aws_uri_encode(&src, fk, strlen(fk), 1)))
		rc = oom();
	if (rc == 0)
		rc = hdr_add(&hl, "x-amz-copy-source: %s", src.ptr);
	if (rc == 0)
		rc = hdr_add(&hl, "x-amz-storage-class: %s", storage_class(tier));
	if (rc == 0)
		rc = hdr_add(&hl, "x-amz-metadata-directive: COPY");
	if (rc == 0)
		rc = add_sse(s, &hl);
	if (rc == 0) {
		stkdr__http_resp resp;
		s3_call c = { "PUT", "CopyObject", fk, NULL, 0, hl, NULL, 0, NULL, NULL, NULL, NULL };
		rc = s3_call_xml(s, &c, OK_200, "", &resp, NULL); /* "": a 200 may still carry an <Error> */
		stkdr__http_resp_dispose(&resp);
	}
	curl_slist_free_all(hl);
	stkdr_buf_dispose(&src);
	stkdr__free(fk);
	return rc;
}

static int s3_restore_archived(stkdr_objstore *os, const char *key, int days, int speed, int *state_out)
{
	s3_os *s = (s3_os *)os;
	if (!state_out)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_AWS, NULL, "restore_archived: state_out is NULL");
	*state_out = STKDR_RETRIEVAL_READABLE;
	if (days < 1 || (speed != STKDR_RETRIEVAL_BULK && speed != STKDR_RETRIEVAL_STANDARD))
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_AWS, NULL,
			"restore_archived %s: days must be >= 1 (got %d) and the speed bulk or standard (got %d)", key, days, speed);
	char *fk;
	head_info hi;
	int rc = key_head(s, key, &fk, &hi);
	if (rc != 0 || hi.tier != STKDR_TIER_ARCHIVE || hi.restore == 2) {
		stkdr__free(fk);
		return rc;
	}
	if (hi.restore == 1) {
		*state_out = STKDR_RETRIEVAL_IN_PROGRESS;
		stkdr__free(fk);
		return 0;
	}
	char body[400];
	int n = snprintf(body, sizeof body, "<RestoreRequest xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Days>%d</Days>"
		"<GlacierJobParameters><Tier>%s</Tier></GlacierJobParameters></RestoreRequest>", days,
		speed == STKDR_RETRIEVAL_STANDARD ? "Standard" : "Bulk");
	stkdr__aws_kv q[1] = { { "restore", "" } };
	struct curl_slist *hl = NULL;
	stkdr__http_resp resp;
	memset(&resp, 0, sizeof resp);
	rc = add_xml_headers(&hl, body, (size_t)n);
	if (rc == 0) {
		s3_call c = { "POST", "RestoreObject", fk, q, 1, hl, (const uint8_t *)body, (size_t)n, NULL, NULL, NULL, NULL };
		rc = s3_do(s, &c, &resp);
	}
	if (rc == 0) {
		char code[128] = "";
		if (resp.status == 409)
			s3_error_code(code, sizeof code, &resp, NULL);
		if (resp.status == 202)
			*state_out = STKDR_RETRIEVAL_STARTED;
		else if (resp.status == 200)
			*state_out = STKDR_RETRIEVAL_READABLE;
		else if (resp.status == 409 && strcmp(code, "RestoreAlreadyInProgress") == 0)
			*state_out = STKDR_RETRIEVAL_IN_PROGRESS;
		else
			rc = s3_fail(s, "RestoreObject", fk, &resp, 0);
	}
	stkdr__http_resp_dispose(&resp);
	curl_slist_free_all(hl);
	stkdr__free(fk);
	return rc;
}

static int s3_set_lifecycle(stkdr_objstore *os, const stkdr_lifecycle_rule *rules, size_t n_rules)
{
	s3_os *s = (s3_os *)os;
	int rc = 0;
	stkdr__aws_kv q[1] = { { "lifecycle", "" } };
	stkdr__http_resp resp;
	memset(&resp, 0, sizeof resp);
	if (n_rules == 0) {
		s3_call c = { "DELETE", "DeleteBucketLifecycle", NULL, q, 1, NULL, NULL, 0, NULL, NULL, NULL, NULL };
		rc = s3_call_xml(s, &c, OK_2XX, NULL, &resp, NULL);
		stkdr__http_resp_dispose(&resp);
		return rc;
	}
	xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
	xmlNodePtr root = doc ? xmlNewNode(NULL, BAD_CAST "LifecycleConfiguration") : NULL;
	if (!root) {
		if (doc)
			xmlFreeDoc(doc);
		return oom();
	}
	xmlDocSetRootElement(doc, root);
	xmlNewProp(root, BAD_CAST "xmlns", BAD_CAST "http://s3.amazonaws.com/doc/2006-03-01/");
	for (size_t i = 0; i < n_rules && rc == 0; i++) {
		const stkdr_lifecycle_rule *r = &rules[i];
		if (!r->id || !*r->id || r->min_size < 0 || r->cold_after_days < 0 || r->archive_after_days < 0
			|| r->expire_after_days < 0) {
			rc = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_AWS, NULL,
				"lifecycle rule %zu: an id is required and sizes/days must not be negative", i);
			break;
		}
		char *pfx = full_key(s, r->prefix ? r->prefix : "");
		char num[32];
		xmlNodePtr rule = xmlNewChild(root, NULL, BAD_CAST "Rule", NULL);
		xmlNewTextChild(rule, NULL, BAD_CAST "ID", BAD_CAST r->id);
		xmlNodePtr f = xmlNewChild(rule, NULL, BAD_CAST "Filter", NULL);
		xmlNodePtr and = xmlNewChild(f, NULL, BAD_CAST "And", NULL);
		xmlNewTextChild(and, NULL, BAD_CAST "Prefix", BAD_CAST(pfx ? pfx : ""));
		/* ObjectSizeGreaterThan is exclusive; 0 also overrides S3's 128 KiB default minimum for transitions. */
		snprintf(num, sizeof num, "%lld", (long long)(r->min_size > 0 ? r->min_size - 1 : 0));
		xmlNewTextChild(and, NULL, BAD_CAST "ObjectSizeGreaterThan", BAD_CAST num);
		xmlNewTextChild(rule, NULL, BAD_CAST "Status", BAD_CAST "Enabled");
		if (r->cold_after_days > 0) {
			xmlNodePtr t = xmlNewChild(rule, NULL, BAD_CAST "Transition", NULL);
			snprintf(num, sizeof num, "%lld", (long long)r->cold_after_days);
			xmlNewTextChild(t, NULL, BAD_CAST "Days", BAD_CAST num);
			xmlNewTextChild(t, NULL, BAD_CAST "StorageClass", BAD_CAST "GLACIER_IR");
		}
		if (r->archive_after_days > 0) {
			xmlNodePtr t = xmlNewChild(rule, NULL, BAD_CAST "Transition", NULL);
			snprintf(num, sizeof num, "%lld", (long long)r->archive_after_days);
			xmlNewTextChild(t, NULL, BAD_CAST "Days", BAD_CAST num);
			xmlNewTextChild(t, NULL, BAD_CAST "StorageClass", BAD_CAST "DEEP_ARCHIVE");
		}
		if (r->expire_after_days > 0) {
			xmlNodePtr t = xmlNewChild(rule, NULL, BAD_CAST "Expiration", NULL);
			snprintf(num, sizeof num, "%lld", (long long)r->expire_after_days);
			xmlNewTextChild(t, NULL, BAD_CAST "Days", BAD_CAST num);
		}
		/* Leftovers of interrupted multipart uploads go after a week. */
		xmlNodePtr ab = xmlNewChild(rule, NULL, BAD_CAST "AbortIncompleteMultipartUpload", NULL);
		xmlNewTextChild(ab, NULL, BAD_CAST "DaysAfterInitiation", BAD_CAST "7");
		stkdr__free(pfx);
	}
	xmlChar *xml = NULL;
	int xlen = 0;
	if (rc == 0)
		xmlDocDumpMemory(doc, &xml, &xlen);
	xmlFreeDoc(doc);
	if (rc == 0 && !xml)
		rc = oom();
	struct curl_slist *hl = NULL;
	if (rc == 0)
		rc = add_xml_headers(&hl, xml, (size_t)xlen);
	if (rc == 0) {
		s3_call c = { "PUT", "PutBucketLifecycleConfiguration", NULL, q, 1, hl, xml, (size_t)xlen, NULL, NULL, NULL,
			NULL };
		rc = s3_call_xml(s, &c, OK_200, NULL, &resp, NULL);
		stkdr__http_resp_dispose(&resp);
	}
	curl_slist_free_all(hl);
	xmlFree(xml);
	return rc;
}

/* Aborts this deployment's multipart uploads initiated more than `min_age_ms` ago. */
static int abort_stale(s3_os *s, int64_t min_age_ms)
{
	int rc = 0;
	char *kmark = NULL, *umark = NULL;
	int64_t now = stkdr__time_now_ms();
	for (;;) {
		stkdr__aws_kv q[4];
		size_t nq = 0;
		q[nq++] = (stkdr__aws_kv){ "uploads", "" };
		q[nq++] = (stkdr__aws_kv){ "prefix", s->scope };
		if (kmark)
			q[nq++] = (stkdr__aws_kv){ "key-marker", kmark };
		if (umark)
			q[nq++] = (stkdr__aws_kv){ "upload-id-marker", umark };
		stkdr__http_resp resp;
		xmlDocPtr d;
		s3_call c = { "GET", "ListMultipartUploads", NULL, q, nq, NULL, NULL, 0, NULL, NULL, NULL, NULL };
		rc = s3_call_xml(s, &c, OK_200, "ListMultipartUploadsResult", &resp, &d);
		xmlNodePtr root = d ? xmlDocGetRootElement(d) : NULL;
		stkdr__http_resp_dispose(&resp);
		char trunc[16] = "", nk[2048] = "", nu[1024] = "";
		if (rc == 0) {
			stkdr__aws_xml_text(trunc, sizeof trunc, root, "IsTruncated");
			stkdr__aws_xml_text(nk, sizeof nk, root, "NextKeyMarker");
			stkdr__aws_xml_text(nu, sizeof nu, root, "NextUploadIdMarker");
		}
		for (xmlNodePtr n = root ? root->children : NULL; rc == 0 && n; n = n->next) {
			if (n->type != XML_ELEMENT_NODE || strcmp((const char *)n->name, "Upload") != 0)
				continue;
			char k[2048], id[1024], ini[64];
			int64_t t = 0;
			stkdr__aws_xml_text(k, sizeof k, n, "Key");
			stkdr__aws_xml_text(id, sizeof id, n, "UploadId");
			stkdr__aws_xml_text(ini, sizeof ini, n, "Initiated");
			if (!k[0] || !id[0] || stkdr__time_parse_rfc3339(&t, ini) != 0 || now - t < min_age_ms)
				continue;
			stkdr__aws_kv aq[1] = { { "uploadId", id } };
			stkdr__http_resp ar;
			s3_call ac = { "DELETE", "AbortMultipartUpload", k, aq, 1, NULL, NULL, 0, NULL, NULL, NULL, NULL };
			rc = s3_call_xml(s, &ac, OK_2XX | OK_404, NULL, &ar, NULL);
			stkdr__http_resp_dispose(&ar);
		}
		if (d)
			xmlFreeDoc(d);
		stkdr__free(kmark);
		stkdr__free(umark);
		kmark = umark = NULL;
		if (rc || strcmp(trunc, "true") != 0)
			break;
		kmark = stkdr__strdup(nk);
		umark = stkdr__strdup(nu);
		if (!kmark || !umark) {
			rc = oom();
			break;
		}
	}
	stkdr__free(kmark);
	stkdr__free(umark);
	return rc;
}

/* STKDR_CTL_LEGAL_HOLD: PUT ?legal-hold (with Content-MD5, which S3 requires) on the current version,
 * then HEAD for the status (x-amz-object-lock-legal-hold). set = -1 only reads it. */
static int legal_hold(s3_os *s, stkdr_legal_hold *lh)
{
	if (!lh || lh->version < 1 || !lh->key || lh->set < -1 || lh->set > 1)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_AWS, NULL,
			"legal hold: the argument must be a stkdr_legal_hold with a key and set = 1, 0 or -1");
	lh->status_out = 0;
	char *fk;
	head_info hi;
	int rc = key_head(s, lh->key, &fk, &hi);
	if (rc == 0 && lh->set >= 0) {
		char body[200];
		int n = snprintf(body, sizeof body, "<LegalHold xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Status>%s"
			"</Status></LegalHold>", lh->set ? "ON" : "OFF");
		stkdr__aws_kv q[1] = { { "legal-hold", "" } };
		struct curl_slist *hl = NULL;
		stkdr__http_resp resp;
		memset(&resp, 0, sizeof resp);
		rc = add_xml_headers(&hl, body, (size_t)n);
		if (rc == 0) {
			s3_call c = { "PUT", "PutObjectLegalHold", fk, q, 1, hl, (const uint8_t *)body, (size_t)n, NULL, NULL, NULL,
				NULL };
			rc = s3_call_xml(s, &c, OK_200 | OK_204, NULL, &resp, NULL);
		}
		if (rc == STKDR_EBACKEND && resp.status >= 300 && strstr(stkdr__err_get()->message, "InvalidRequest"))
			stkdr__err_prefix("the bucket must have Object Lock enabled (created with it) for legal holds");
		stkdr__http_resp_dispose(&resp);
		curl_slist_free_all(hl);
		if (rc == 0)
			rc = do_head(&hi, s, fk);
	}
	if (rc == 0)
		lh->status_out = hi.legal_hold;
	stkdr__free(fk);
	return rc;
}

static int s3_ctl(stkdr_backend *be, int op, void *arg)
{
	s3_os *s = (s3_os *)be;
	if (op == STKDR_CTL_ATTACH) {
		s->ctx = arg;
		return 0;
	}
	if (op == STKDR_CTL_ABORT_STALE_WRITES)
		return abort_stale(s, arg ? *(const int64_t *)arg : 0);
	if (op == STKDR_CTL_LEGAL_HOLD)
		return legal_hold(s, arg);
	return STKDR_ENOTSUPPORTED;
}

static void s3_free(stkdr_backend *be)
{
	s3_os *s = (s3_os *)be;
	if (!s)
		return;
	stkdr__aws_creds_clear(&s->creds);
	stkdr__http_pool_free(s->pool);
	stkdr__free(s->bucket);
	stkdr__free(s->prefix);
	stkdr__free(s->scope);
	stkdr__free(s->scheme);
	stkdr__free(s->host);
	stkdr__free(s->sse);
	stkdr__free(s->kms_key_id);
	stkdr__free(s);
}

/* Splits "http://host:port/" into scheme and host[:port]. */
static int parse_endpoint(s3_os *s, const char *ep)
{
	const char *p = strstr(ep, "://");
	if (!p)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL,
			"objstore.endpoint '%s' must be a URL such as http://127.0.0.1:5000 or https://s3.example.com", ep);
	s->scheme = stkdr__strndup(ep, (size_t)(p - ep));
	const char *h = p + 3;
	size_t n = strcspn(h, "/");
	s->host = stkdr__strndup(h, n);
	if (!s->scheme || !s->host)
		return oom();
	if (strcmp(s->scheme, "http") && strcmp(s->scheme, "https"))
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL,
			"objstore.endpoint '%s': the scheme must be http or https", ep);
	return n ? 0 : stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL, "objstore.endpoint '%s' has no host", ep);
}

int stkdr__s3_objstore_new(stkdr_objstore **out, stkdr_ctx *ctx)
{
	*out = NULL;
	stkdr__aws_xml_init();
	const char *bucket;
	int rc = stkdr__cfg_require_str(&bucket, ctx, "objstore.bucket");
	if (rc)
		return rc;
	s3_os *s = stkdr__calloc(1, sizeof *s);
	if (!s)
		return oom();
	stkdr_backend_init(&s->pub.base, STKDR_BACKEND_OBJSTORE, STKDR_OBJSTORE_VERSION, "s3");
	s->pub.base.ctl = s3_ctl;
	s->pub.base.free = s3_free;
	s->pub.open_write = s3_open_write;
	s->pub.open_read = s3_open_read;
	s->pub.head = s3_head;
	s->pub.list = s3_list;
	s->pub.del = s3_del;
	s->pub.set_tier = s3_set_tier;
	s->pub.set_lifecycle = s3_set_lifecycle;
	s->pub.restore_archived = s3_restore_archived;
	s->ctx = ctx;
	const char *prefix = stkdr__cfg_str(ctx, "objstore.prefix");
	const char *endpoint = stkdr__cfg_str(ctx, "objstore.endpoint");
	const char *sse = stkdr__cfg_str(ctx, "objstore.sse");
	const char *kms = stkdr__cfg_str(ctx, "objstore.kms_key_id");
	s->bucket = stkdr__strdup(bucket);
	while (prefix && *prefix == '/')
		prefix++;
	size_t pl = prefix ? strlen(prefix) : 0;
	while (pl && prefix[pl - 1] == '/')
		pl--;
	/* The repository layer (stkdr__repo_key) puts every key under objstore.prefix, as with the local store;
	 * adding it here too would put the repository at <prefix>/<prefix>/. */
	s->prefix = stkdr__strdup("");
	s->scope = pl ? stkdr__aprintf("%.*s/", (int)pl, prefix) : stkdr__strdup("");
	s->sse = sse && *sse && strcmp(sse, "none") ? stkdr__strdup(sse) : NULL;
	s->kms_key_id = kms && *kms ? stkdr__strdup(kms) : NULL;
	if (!s->bucket || !s->prefix || !s->scope || (sse && *sse && strcmp(sse, "none") && !s->sse) || (kms && *kms && !s->kms_key_id))
		rc = oom();
	if (rc == 0)
		rc = stkdr__aws_region(s->region, sizeof s->region, ctx, "objstore.region");
	if (rc == 0 && endpoint && *endpoint) {
		rc = parse_endpoint(s, endpoint);
	} else if (rc == 0) {
		s->scheme = stkdr__strdup("https");
		s->host = stkdr__aprintf("s3.%s.amazonaws.com", s->region);
		if (!s->scheme || !s->host)
			rc = oom();
	}
	s->path_style = stkdr__cfg_bool(ctx, "objstore.path_style", endpoint && *endpoint);
	if (!s->path_style && strchr(s->bucket, '.') && strcmp(s->scheme, "https") == 0)
		s->path_style = 1; /* dotted bucket names break the wildcard certificate */
	s->part_size = stkdr__cfg_int(ctx, "objstore.part_size", 16 * 1024 * 1024);
	s->parallel = (int)stkdr__cfg_int(ctx, "objstore.parallel", 4);
	s->max_keys = (int)stkdr__cfg_int(ctx, "objstore.list_page", 1000);
	s->read_chunk = stkdr__cfg_int(ctx, "objstore.read_chunk", 8 * 1024 * 1024);
	if (rc == 0 && (s->part_size < MIN_PART || s->parallel < 1 || s->max_keys < 1 || s->max_keys > 1000
		|| s->read_chunk < 1))
		rc = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL,
			"objstore: part_size must be at least 5 MiB, parallel at least 1, list_page 1..1000, read_chunk >= 1");
	const char *ps = stkdr__cfg_str(ctx, "objstore.payload_signing");
	if (!ps || !*ps || !strcmp(ps, "signed"))
		s->payload_signing = PAYLOAD_SIGNED;
	else if (!strcmp(ps, "streaming"))
		s->payload_signing = PAYLOAD_STREAMING;
	else if (!strcmp(ps, "unsigned"))
		s->payload_signing = PAYLOAD_UNSIGNED;
	else if (rc == 0)
		rc = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL,
			"objstore.payload_signing '%.40s' is not signed, streaming or unsigned", ps);
	/* UNSIGNED-PAYLOAD leaves the body to TLS and to x-amz-checksum-sha256 (a signed header). Over plain http
	 * (only ever an endpoint override: an emulator or an S3-compatible store, which may well ignore that
	 * checksum) a body changed in transit could be stored unnoticed: only over https. */
	if (rc == 0 && s->payload_signing == PAYLOAD_UNSIGNED && strcmp(s->scheme, "https") != 0)
		rc = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL,
			"objstore.payload_signing \"unsigned\" needs an https endpoint, and objstore.endpoint is %s://%s: "
			"over plain http nothing may check the data on its way; use \"signed\" or \"streaming\" there",
			s->scheme, s->host);
	if (rc == 0 && s->kms_key_id && (!s->sse || strcmp(s->sse, "aws:kms") != 0))
		rc = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL,
			"objstore.kms_key_id is set but objstore.sse is not \"aws:kms\": set both");
	stkdr__aws_policy(&s->policy, ctx);
	/* Idle handles kept: one per part or read-ahead thread, plus the calling thread's. */
	if (rc == 0 && !(s->pool = stkdr__http_pool_new(&s->policy, s->parallel + 1)))
		rc = STKDR_ENOMEM;
	if (rc == 0)
		rc = stkdr__aws_creds_load(&s->creds);
	if (rc) {
		s3_free(&s->pub.base);
		return rc;
	}
	*out = &s->pub;
	return 0;
}
