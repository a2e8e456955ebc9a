/*
 * Shared pieces of the AWS backends: credentials from the standard chain, SigV4 signing, and the backend
 * constructors. Internal.
 */
#ifndef STKDR_BACKENDS_AWS_H
#define STKDR_BACKENDS_AWS_H

#include "core/internal.h"
#include "services/http.h"

/* Credentials. Owned strings; wiped and freed by stkdr__aws_creds_clear(). */
typedef struct stkdr__aws_creds {
	char *access_key;
	char *secret_key;
	char *session_token; /* NULL if none */
	char source[64];     /* where they came from ("environment", "shared credentials file (profile x)") */
	/* Temporary credentials (container, instance role; credentials.c): fetched again before they expire.
	 * Sign with them only between stkdr__aws_creds_lock() and stkdr__aws_creds_unlock() (sign_cb does). */
	int64_t expires_ms;               /* 0: do not expire */
	struct stkdr__aws_refresh *refresh; /* NULL: static credentials */
} stkdr__aws_creds;

/*
 * The standard chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY(/AWS_SESSION_TOKEN), then the shared
 * credentials file (AWS_SHARED_CREDENTIALS_FILE, default ~/.aws/credentials) and the config file
 * (AWS_CONFIG_FILE, default ~/.aws/config, sections "[profile NAME]") for profile AWS_PROFILE (default
 * "default"), then container credentials, then the EC2 instance role (botocore's order; see
 * stkdr__aws_creds_load_temporary). STKDR_EAUTH (class AWS, backend_code "NoCredentials") naming what was tried if none.
 */
int stkdr__aws_creds_load(stkdr__aws_creds *out);
void stkdr__aws_creds_clear(stkdr__aws_creds *c);

/*
 * The chain's last links (credentials.c): container credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI /
 * _FULL_URI, AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE)), else the EC2 instance role through IMDSv2
 * (AWS_EC2_METADATA_SERVICE_ENDPOINT, AWS_EC2_METADATA_DISABLED). STKDR_ENOTFOUND without detail when
 * neither applies (what was tried appended to `tried`); another error (detail set) when one applies
 * but fails.
 */
int stkdr__aws_creds_load_temporary(stkdr__aws_creds *out, char *tried, size_t tried_cap);
/* A profile's role (role_arn and its settings in the AWS config file). */
typedef struct stkdr__aws_role {
	const char *role_arn;
	const char *session_name; /* NULL: "stkdr-<unix time>" */
	const char *external_id;  /* NULL: none */
	int duration_s;           /* 0: 3600 */
	const char *region;       /* of the STS endpoint */
} stkdr__aws_role;
/* Credentials of `role` by STS AssumeRole signed with `source` (moved in: cleared on return, whatever the
 * result), fetched again before they expire like the container's. STKDR_EAUTH naming the role and the
 * STS error code when refused. */
int stkdr__aws_creds_assume_role(stkdr__aws_creds *out, stkdr__aws_creds *source, const stkdr__aws_role *role);
/* Credentials from a profile's credential_process `command` (run through /bin/sh; stdout the JSON document
 * of the AWS CLI's "Sourcing credentials with an external process"), run again before Expiration if any. */
int stkdr__aws_creds_process(stkdr__aws_creds *out, const char *profile, const char *command);
void stkdr__aws_creds_refresh_free(struct stkdr__aws_refresh *r);
/* Locks temporary credentials for signing, fetching new ones first when they are about to expire.
 * 0 (locked; a no-op for static ones) or STKDR_EAUTH (not locked) when expired and not refreshable. */
int stkdr__aws_creds_lock(stkdr__aws_creds *c);
void stkdr__aws_creds_unlock(stkdr__aws_creds *c);

/* The region: the configuration key `key`'s value if set, else AWS_REGION, AWS_DEFAULT_REGION, the
 * profile's region, "us-east-1". Into `out` (cap >= 64). STKDR_EINVAL (naming where it came from) when it
 * is not shaped like a region name (us-east-1, us-gov-west-1, cn-north-1): it becomes a host name. */
int stkdr__aws_region(char *out, size_t cap, stkdr_ctx *ctx, const char *key);
/* Whether `r` is shaped like an AWS region name: two letters, words, a number (`us-east-1`). */
int stkdr__aws_region_valid(const char *r);

/* URI-encodes (RFC 3986 unreserved kept) `len` bytes of `s` onto `out`; '/' kept when `keep_slash`. */
int stkdr__aws_uri_encode(stkdr_buf *out, const char *s, size_t len, int keep_slash);

/* One query parameter or header for signing. */
typedef struct stkdr__aws_kv {
	const char *k;
	const char *v;
} stkdr__aws_kv;

/* The canonical query string of raw (not encoded) parameters: encoded, sorted by key then value. */
int stkdr__aws_canonical_query(stkdr_buf *out, const stkdr__aws_kv *q, size_t n);

/* A request to sign. Header names in any case; values are trimmed and inner spaces collapsed. */
typedef struct stkdr__sigv4_req {
	const char *method;
	const char *canonical_uri;    /* already encoded path ("/bucket/key%20x") */
	const char *canonical_query;  /* from stkdr__aws_canonical_query(), "" if none */
	const stkdr__aws_kv *headers; /* must include host and x-amz-date */
	size_t n_headers;
	const char *payload_hash;     /* hex SHA-256 of the body, or "UNSIGNED-PAYLOAD" */
	const char *amz_date;         /* "YYYYMMDDTHHMMSSZ" */
	const char *region;
	const char *service;
} stkdr__sigv4_req;

/*
 * Computes the Authorization header value ("AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
 * Signature=...") into `auth` (replaced). `canonical_out` (may be NULL) receives the canonical request
 * (for tests). Never logs anything.
 */
int stkdr__sigv4_sign(stkdr_buf *auth, stkdr_buf *canonical_out, const stkdr__aws_creds *c, const stkdr__sigv4_req *r);

/* "YYYYMMDDTHHMMSSZ" for Unix ms. out >= 17 bytes. */
void stkdr__aws_amz_date(char *out, int64_t ms);

/*
 * A signed request for the AWS layers: builds host/x-amz-date/x-amz-content-sha256/(security token) and
 * Authorization for each attempt. `extra` headers are "name: value" in req.headers and are also signed
 * when they are x-amz-*, content-md5/-type/-encoding/-length, if-* or range. Used as stkdr__http_req.sign
 * with this as payload.
 */
typedef struct stkdr__aws_signer {
	const stkdr__aws_creds *creds;
	const char *region;
	const char *service;
	const char *host;             /* Host header value (with :port when not default) */
	const char *canonical_uri;
	const char *canonical_query;
	const char *payload_hash;     /* hex or "UNSIGNED-PAYLOAD" */
	int s3;                       /* add x-amz-content-sha256 */
	const char *fixed_date;       /* tests only: sign as of this "YYYYMMDDTHHMMSSZ"; NULL: now */
} stkdr__aws_signer;

int stkdr__aws_sign_cb(struct curl_slist **out, const stkdr__http_req *req, void *payload);

/*
 * aws-chunked streaming uploads (STREAMING-AWS4-HMAC-SHA256-PAYLOAD; AWS S3 API reference, "Transferring
 * Payload in Multiple Chunks"). The request is signed as usual with the payload hash
 * STKDR__AWS_STREAMING_PAYLOAD and the headers `Content-Encoding: aws-chunked` and
 * `x-amz-decoded-content-length: <decoded bytes>`; its signature is the seed. The body is then sent as
 * chunks `hex(size);chunk-signature=<sig>\r\n<data>\r\n`, the last one empty, where sig =
 * HMAC(signing key, "AWS4-HMAC-SHA256-PAYLOAD\n" date "\n" scope "\n" previous sig "\n" SHA-256("") "\n"
 * SHA-256(data)) and the first chunk's previous sig is the seed. Content-Length is the encoded length.
 */
#define STKDR__AWS_STREAMING_PAYLOAD "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
#define STKDR__AWS_CHUNK_SIZE 65536 /* AWS: at least 8 KiB, 64 KiB recommended */

/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date8), region), service), "aws4_request"). 0 or ENOMEM. */
int stkdr__sigv4_signing_key(uint8_t key[32], const char *secret, const char *date8, const char *region,
	const char *service);
/* One chunk's signature (hex, 64 chars + NUL into out) from the signing key, the request's amz_date
 * ("YYYYMMDDTHHMMSSZ"), the scope ("YYYYMMDD/region/service/aws4_request") and the previous signature. */
void stkdr__sigv4_chunk_signature(char out[65], const uint8_t key[32], const char *amz_date, const char *scope,
	const char *prev_sig, const uint8_t *data, size_t n);
/* The encoded length (Content-Length) of `decoded_len` bytes in chunks of `chunk_size`, final chunk included. */
int64_t stkdr__aws_chunked_length(int64_t decoded_len, size_t chunk_size);

/* An encoder framing one in-memory body, chunk by chunk as it is read (no copy of the body). */
typedef struct stkdr__aws_chunked {
	const uint8_t *data;
	size_t len;
	size_t chunk_size;
	/* from the signing (stkdr__aws_chunked_start) */
	int started;
	uint8_t key[32];
	char amz_date[17];
	char scope[128];
	char seed[65];
	/* where the reading is */
	size_t pos;       /* first byte of the current chunk */
	size_t cur;       /* its length */
	int stage;        /* 0: next chunk, 1: its header, 2: its data, 3: its CRLF, 4: done */
	size_t off;       /* bytes of this stage already read */
	char prev[65];    /* the signature of the previous chunk (the seed for the first) */
	char head[128];
	size_t head_len;
} stkdr__aws_chunked;

void stkdr__aws_chunked_init(stkdr__aws_chunked *e, const uint8_t *data, size_t len, size_t chunk_size);
/* Sets the signing's outcome and rewinds (called by stkdr__aws_sign_cb at each attempt). */
void stkdr__aws_chunked_start(stkdr__aws_chunked *e, const uint8_t key[32], const char *amz_date, const char *scope,
	const char *seed);
/* Back to the first chunk, same seed (curl's resend on a reused connection). */
void stkdr__aws_chunked_rewind(stkdr__aws_chunked *e);
/* Up to `cap` bytes of the encoded body into buf; 0 at the end (or before start). */
size_t stkdr__aws_chunked_read(stkdr__aws_chunked *e, uint8_t *buf, size_t cap);
/* The whole encoded body into `out` (appended), from the start. */
int stkdr__aws_chunked_encode(stkdr_buf *out, stkdr__aws_chunked *e);
/* Wipes the signing key. */
void stkdr__aws_chunked_wipe(stkdr__aws_chunked *e);
/*
 * A streaming request's signer: `base` with payload_hash STKDR__AWS_STREAMING_PAYLOAD; each signing
 * (stkdr__aws_sign_chunked_cb, the request's `sign` with this as payload) hands the request's signature
 * (the seed), the signing key, date and scope to `enc`, which then frames and signs the body's chunks as
 * curl reads them (read_cb/rewind_cb below with `enc` as read_payload).
 */
typedef struct stkdr__aws_chunked_signer {
	stkdr__aws_signer base;
	stkdr__aws_chunked *enc;
} stkdr__aws_chunked_signer;
int stkdr__aws_sign_chunked_cb(struct curl_slist **out, const stkdr__http_req *req, void *payload);
/* curl-shaped read and rewind callbacks over an stkdr__aws_chunked (stkdr__http_req read_cb/rewind_cb). */
size_t stkdr__aws_chunked_read_cb(char *buf, size_t size, size_t nitems, void *payload);
int stkdr__aws_chunked_rewind_cb(void *payload);

#ifdef STKDR_HAVE_S3
#include <libxml/tree.h>
/* libxml2 helpers shared by S3 and Route 53 (xml.c). `what` names the document in libxml2's state. */
void stkdr__aws_xml_init(void);
xmlDocPtr stkdr__aws_xml_parse(const stkdr_buf *b, const char *what);
xmlNodePtr stkdr__aws_xml_child(xmlNodePtr n, const char *name);
/* Text of child `name` into out (truncated to cap); "" if absent. Returns whether it was present. */
int stkdr__aws_xml_text(char *out, size_t cap, xmlNodePtr n, const char *name);
#endif

/*
 * One call of an AWS Query API (RDS, STS): POST to `url` of "Action=<action>&Version=<version>" and the
 * `n` parameters (raw names and values, form-encoded here), SigV4-signed for `service` in `region` with
 * `creds` (under their lock, through stkdr__aws_sign_cb: never lock them around this). 0 when an answer
 * (any status) is in *resp (dispose it); `error_code` finds a throttling code for the retries.
 */
typedef struct stkdr__aws_query_req {
	stkdr__http *http;
	stkdr_ctx *ctx; /* for the trace; may be NULL */
	const stkdr__aws_creds *creds;
	const char *url, *host, *region, *service, *version, *action;
	const stkdr__aws_kv *params;
	size_t n;
	const char *what;
	void (*error_code)(char *code, size_t cap, const stkdr__http_resp *resp, void *payload);
} stkdr__aws_query_req;
int stkdr__aws_query(stkdr__http_resp *resp, const stkdr__aws_query_req *q);

/* Backend constructors (configuration read from ctx). */
/*
 * The retry and timeout policy of every AWS backend, from the configuration: objstore.max_attempts,
 * objstore.retry_base_ms, objstore.connect_timeout, objstore.stall_timeout (a request that moves no byte
 * that long is abandoned and retried).
 */
void stkdr__aws_policy(stkdr__http_policy *p, stkdr_ctx *ctx);
/*
 * What every AWS backend holds to talk to its service: the endpoint (`scheme`://`host`), the HTTP client
 * with its retry policy (stkdr__aws_policy()) and the credentials.
 * stkdr__aws_service_open() reads the endpoint override from `endpoint_key` (an http(s) URL, for
 * emulators) or uses https://`default_host`; on failure it releases what it made. Release with
 * stkdr__aws_service_close() (safe on a zeroed or failed one).
 */
typedef struct stkdr__aws_service {
	char *scheme;
	char *host;
	stkdr__http_policy policy;
	stkdr__http *http;
	stkdr__aws_creds creds;
} stkdr__aws_service;
int stkdr__aws_service_open(stkdr__aws_service *s, stkdr_ctx *ctx, const char *endpoint_key, const char *default_host,
	int64_t timeout_ms);
void stkdr__aws_service_close(stkdr__aws_service *s);

/*
 * Waiting for a status (RDS instance/snapshot, Route 53 change): `check` polls once; while it is not
 * done, stkdr__aws_poll() sleeps `first_delay_ms`, doubling up to `max_delay_ms`, never past the deadline
 * (`timeout_ms` after the start; <= 0: a single poll), and polls again; at the deadline `timed_out` sets
 * and returns the error (STKDR_ETIMEOUT). `check` returns 0 with *done = 1 when the wait is over, 0 with
 * *done = 0 to poll again, or an error, which ends the wait and is returned; it gets the start
 * (stkdr__time_mono_ms()) and the number of this poll (1 for the first).
 */
typedef struct stkdr__aws_poller {
	int64_t timeout_ms;
	int64_t first_delay_ms;
	int64_t max_delay_ms;
	int (*check)(int *done, int64_t start_ms, int polls, void *payload);
	int (*timed_out)(int64_t elapsed_ms, int polls, void *payload);
	void *payload;
} stkdr__aws_poller;
int stkdr__aws_poll(const stkdr__aws_poller *p);

int stkdr__s3_objstore_new(stkdr_objstore **out, stkdr_ctx *ctx);
int stkdr__aws_secrets_new(stkdr_secrets **out, stkdr_ctx *ctx);
int stkdr__route53_dns_new(stkdr_dns **out, stkdr_ctx *ctx);
int stkdr__rds_dbprovider_new(stkdr_dbprovider **out, stkdr_ctx *ctx);

#endif
