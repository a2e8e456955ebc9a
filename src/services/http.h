/*
 * HTTP over libcurl for the cloud backends: connection reuse, timeouts, retries with exponential backoff and
 * full jitter, streamed bodies, and a redacted request/response trace. Internal.
 *
 * Threading: an stkdr__http (one CURL easy handle, so one connection cache) is used by one thread at a
 * time. Object stores, whose methods and worker threads run concurrently, borrow handles from a pool
 * (stkdr__http_pool: connections are reused across requests and threads, at most as many open as
 * requests were ever in flight at once); the single-threaded service backends keep one handle each.
 *
 * Retries: a request is retried (up to `max_attempts`, default 5) on connection failures (refused, reset,
 * timeouts, DNS blips), on 500/502/503/504 (not 501 Not Implemented), on 429 (honouring Retry-After), and on
 * any status whose service error code
 * (found by the request's `error_code` callback, which parses the body properly) is one of the throttling
 * codes: SlowDown, Throttling, ThrottlingException, RequestLimitExceeded, TooManyRequestsException,
 * RequestThrottled, RequestTimeout, InternalError, ServiceUnavailable. The delay before attempt n is
 * uniform in [0, min(cap, base * 2^n)] (AWS's "full jitter"). A request is re-signed before each attempt
 * (`sign`). A request whose body comes from a read callback without `rewind` is attempted once.
 */
#ifndef STKDR_SERVICES_HTTP_H
#define STKDR_SERVICES_HTTP_H

#include "core/internal.h"

#include <curl/curl.h>

typedef struct stkdr__http stkdr__http;

/* Retry and timeout policy (stkdr__http_policy_default() gives the defaults). */
typedef struct stkdr__http_policy {
	int max_attempts;        /* total attempts, >= 1 (default 5) */
	int64_t base_delay_ms;   /* default 100 */
	int64_t max_delay_ms;    /* default 20000 */
	int64_t connect_timeout_ms; /* default 10000 */
	int64_t timeout_ms;      /* whole request, 0 = none (default 0: large transfers); a low-speed limit
	                          * (1 byte/s over 60 s) catches stalled connections instead */
	int64_t low_speed_time_s; /* default 60 */
} stkdr__http_policy;

void stkdr__http_policy_default(stkdr__http_policy *p);

/* Response header as received (name lowercased). */
typedef struct stkdr__http_header {
	char *name;
	char *value;
} stkdr__http_header;

typedef struct stkdr__http_resp {
	long status;
	stkdr__http_header *headers;
	size_t n_headers;
	stkdr_buf body;       /* the body, unless a sink took it (error bodies are always kept here) */
	int attempts;         /* attempts made */
} stkdr__http_resp;

typedef struct stkdr__http_req stkdr__http_req;

struct stkdr__http_req {
	const char *method;   /* "GET", "PUT"... */
	const char *url;      /* full URL, already encoded */
	const char *what;     /* names the operation in messages and the trace ("S3 PutObject s3://b/k") */
	/* Headers for every attempt ("Name: value"); may be NULL. Borrowed. */
	struct curl_slist *headers;
	/* Called before each attempt to add signed headers (e.g. SigV4) to a fresh list; may be NULL. */
	int (*sign)(struct curl_slist **out, const stkdr__http_req *req, void *payload);
	void *sign_payload;
	/* Body: `body`/`body_len` in memory (rewindable), or `read_cb` streaming (`body_len` = length or -1). */
	const uint8_t *body;
	int64_t body_len;
	size_t (*read_cb)(char *buf, size_t size, size_t nitems, void *payload);
	int (*rewind_cb)(void *payload); /* may be NULL: then no retries */
	void *read_payload;
	/* Success bodies (2xx) go to `sink` if set (return non-zero to abort), else into resp->body. */
	int (*sink)(const uint8_t *data, size_t len, void *payload);
	void *sink_payload;
	/* HEAD-like: no body expected. */
	int no_body;
	/* The service error code of an error response (parsed from resp->body), into `code` (NUL-terminated);
	 * may be NULL. */
	void (*error_code)(char *code, size_t cap, const stkdr__http_resp *resp, void *payload);
	void *error_payload;
	/* Context for the debug trace (may be NULL). */
	stkdr_ctx *ctx;
};

/* A new handle with its own connection cache. NULL on ENOMEM (error set). */
stkdr__http *stkdr__http_new(const stkdr__http_policy *policy);
void stkdr__http_free(stkdr__http *h);

/*
 * A pool of handles for one backend instance, shared by its threads: stkdr__http_pool_get() lends an idle
 * handle (its connection still open) or makes a new one, stkdr__http_pool_put() gives it back. So a
 * multipart upload with `parallel` parts in flight opens at most `parallel` connections whatever its
 * number of parts, and later requests reuse them. The pool's handles also share one DNS cache and TLS
 * session cache (a handle made when all are busy resumes the TLS session). Thread-safe. At most
 * `max_idle` idle handles are kept (>= 1); one given back beyond that is closed.
 */
typedef struct stkdr__http_pool stkdr__http_pool;

/* NULL on ENOMEM (error set). */
stkdr__http_pool *stkdr__http_pool_new(const stkdr__http_policy *policy, int max_idle);
/* Every lent handle must have been given back. Safe on NULL. */
void stkdr__http_pool_free(stkdr__http_pool *p);
/* An idle handle (most recently used first) or a new one; NULL on ENOMEM (error set). */
stkdr__http *stkdr__http_pool_get(stkdr__http_pool *p);
/* Gives `h` (from stkdr__http_pool_get of this pool; may be NULL) back. */
void stkdr__http_pool_put(stkdr__http_pool *p, stkdr__http *h);

/*
 * Performs the request with retries. Returns 0 when a response (any status) was received: check
 * resp->status. A transport failure after all attempts sets a NET error (backend_code the curl code name)
 * naming req->what and returns STKDR_EBACKEND (STKDR_ETIMEOUT for timeouts); a sink's non-zero value is
 * returned as is. `resp` is reset first; release it with stkdr__http_resp_dispose().
 */
int stkdr__http_do(stkdr__http *h, stkdr__http_req *req, stkdr__http_resp *resp);
void stkdr__http_resp_dispose(stkdr__http_resp *resp);
/* First header `name` (lowercase), or NULL. */
const char *stkdr__http_resp_header(const stkdr__http_resp *resp, const char *name);

/* Whether `code` (a service error code) is a throttling/transient code that is retried. */
int stkdr__http_is_throttle_code(const char *code);

/* For tests: a policy with no delays. */
void stkdr__http_policy_fast(stkdr__http_policy *p);

/* Redacts a header line for the trace into `out`: Authorization, X-Amz-Security-Token and the like become
 * "<name>: [redacted]". */
void stkdr__http_redact_header(char *out, size_t cap, const char *line);
/* Redacts secret query parameters (X-Amz-Signature, X-Amz-Credential, X-Amz-Security-Token, sig,
 * Signature) of a URL for the trace. */
void stkdr__http_redact_url(char *out, size_t cap, const char *url);

#endif
