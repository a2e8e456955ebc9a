/* HTTP over libcurl: retries with full jitter, throttling, streamed bodies, redacted trace. See http.h. */
#include "services/http.h"
#include "core/crypto.h"
#include "core/timeutil.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_ERROR_BODY (1024 * 1024)

struct stkdr__http {
	CURL *curl;
	stkdr__http_policy policy;
	char errbuf[CURL_ERROR_SIZE];
};

void stkdr__http_policy_default(stkdr__http_policy *p)
{
	p->max_attempts = 5;
	p->base_delay_ms = 100;
	p->max_delay_ms = 20000;
	p->connect_timeout_ms = 10000;
	p->timeout_ms = 0;
	p->low_speed_time_s = 60;
}

void stkdr__http_policy_fast(stkdr__http_policy *p)
{
	stkdr__http_policy_default(p);
	p->base_delay_ms = 1;
	p->max_delay_ms = 5;
}

/* `policy`, or the defaults when NULL, into `out`. */
static void policy_copy(stkdr__http_policy *out, const stkdr__http_policy *policy)
{
	if (policy)
		*out = *policy;
	else
		stkdr__http_policy_default(out);
	if (out->max_attempts < 1)
		out->max_attempts = 1;
}

stkdr__http *stkdr__http_new(const stkdr__http_policy *policy)
{
	stkdr__http *h = stkdr__calloc(1, sizeof *h);
	if (!h) {
		stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory for an HTTP handle");
		return NULL;
	}
	policy_copy(&h->policy, policy);
	h->curl = curl_easy_init();
	if (!h->curl) {
		stkdr__free(h);
		stkdr__seterr(STKDR_ERROR, STKDR_ERRCLASS_NET, NULL, "libcurl could not create a handle (out of memory?)");
		return NULL;
	}
	return h;
}

void stkdr__http_free(stkdr__http *h)
{
	if (!h)
		return;
	curl_easy_cleanup(h->curl);
	stkdr__free(h);
}

/* ---- pools ----
 *
 * Why a pool of whole easy handles, and not one CURLSH sharing CURL_LOCK_DATA_CONNECT among per-request
 * handles: libcurl documents the shared connection cache as unsupported between concurrent threads
 * (CURLSHOPT_SHARE(3): "It is not supported to share connections between multiple concurrent threads";
 * Debian 12 ships 7.88), and the upload's part threads and the reader's read-ahead threads are exactly
 * that. An easy handle with its own connection cache, used by one thread at a time, is the supported
 * model: the pool lends handles under a mutex, so a connection is only ever used by the thread holding
 * its handle, and comes back with it. What libcurl does support sharing between threads with lock
 * callbacks, the DNS cache and the TLS session ids, is shared through a CURLSH (one lock per data kind):
 * a handle made while every other one is busy resolves from the cache and resumes the TLS session.
 */

struct stkdr__http_pool {
	pthread_mutex_t mu;
	stkdr__http_policy policy;
	CURLSH *share;
	pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
	stkdr__http **idle;   /* stack: the most recently returned (warmest connection) on top */
	int n_idle;
	int max_idle;
	int lent;             /* handles out (the share may only be freed when none is) */
};

static void share_lock(CURL *c, curl_lock_data data, curl_lock_access access, void *ud)
{
	(void)c;
	(void)access;
	stkdr__http_pool *p = ud;
	if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&p->share_mu[data]);
}

static void share_unlock(CURL *c, curl_lock_data data, void *ud)
{
	(void)c;
	stkdr__http_pool *p = ud;
	if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&p->share_mu[data]);
}

stkdr__http_pool *stkdr__http_pool_new(const stkdr__http_policy *policy, int max_idle)
{
	stkdr__http_pool *p = stkdr__calloc(1, sizeof *p);
	if (max_idle < 1)
		max_idle = 1;
	if (p)
		p->idle = stkdr__calloc((size_t)max_idle, sizeof *p->idle);
	if (!p || !p->idle) {
		stkdr__free(p);
		stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory for an HTTP connection pool");
		return NULL;
	}
	policy_copy(&p->policy, policy);
	p->max_idle = max_idle;
	pthread_mutex_init(&p->mu, NULL);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&p->share_mu[i], NULL);
	/* Without a share (curl_share_init failing: out of memory) handles still work, each with its own caches. */
	p->share = curl_share_init();
	if (p->share
		&& (curl_share_setopt(p->share, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK
			|| curl_share_setopt(p->share, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK
			|| curl_share_setopt(p->share, CURLSHOPT_USERDATA, p) != CURLSHE_OK
			|| curl_share_setopt(p->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK
			|| curl_share_setopt(p->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK)) {
		curl_share_cleanup(p->share);
		p->share = NULL;
	}
	return p;
}

void stkdr__http_pool_free(stkdr__http_pool *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->n_idle; i++)
		stkdr__http_free(p->idle[i]);
	/* A handle still lent would keep the share in use (CURLSHE_IN_USE): leak the share rather than crash. */
	if (p->share && p->lent == 0)
		curl_share_cleanup(p->share);
	pthread_mutex_destroy(&p->mu);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&p->share_mu[i]);
	stkdr__free(p->idle);
	stkdr__free(p);
}

stkdr__http *stkdr__http_pool_get(stkdr__http_pool *p)
{
	stkdr__http *h = NULL;
	pthread_mutex_lock(&p->mu);
	if (p->n_idle > 0)
		h = p->idle[--p->n_idle];
	if (h)
		p->lent++;
	pthread_mutex_unlock(&p->mu);
	if (h)
		return h;
	h = stkdr__http_new(&p->policy);
	if (!h)
		return NULL;
	/* Kept across curl_easy_reset() (which keeps "the shares"). */
	if (p->share)
		curl_easy_setopt(h->curl, CURLOPT_SHARE, p->share);
	pthread_mutex_lock(&p->mu);
	p->lent++;
	pthread_mutex_unlock(&p->mu);
	return h;
}

void stkdr__http_pool_put(stkdr__http_pool *p, stkdr__http *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&p->mu);
	p->lent--;
	if (p->n_idle < p->max_idle) {
		p->idle[p->n_idle++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&p->mu);
	stkdr__http_free(h); /* beyond max_idle: closes its connection */
}

/* ---- responses ---- */

void stkdr__http_resp_dispose(stkdr__http_resp *resp)
{
	if (!resp)
		return;
	for (size_t i = 0; i < resp->n_headers; i++) {
		stkdr__free(resp->headers[i].name);
		stkdr__free(resp->headers[i].value);
	}
	stkdr__free(resp->headers);
	stkdr_buf_dispose(&resp->body);
	memset(resp, 0, sizeof *resp);
}

static void resp_reset(stkdr__http_resp *resp)
{
	for (size_t i = 0; i < resp->n_headers; i++) {
		stkdr__free(resp->headers[i].name);
		stkdr__free(resp->headers[i].value);
	}
	stkdr__free(resp->headers);
	resp->headers = NULL;
	resp->n_headers = 0;
	resp->status = 0;
	resp->body.size = 0;
}

const char *stkdr__http_resp_header(const stkdr__http_resp *resp, const char *name)
{
	for (size_t i = 0; i < resp->n_headers; i++)
		if (strcmp(resp->headers[i].name, name) == 0)
			return resp->headers[i].value;
	return NULL;
}

int stkdr__http_is_throttle_code(const char *code)
{
	static const char *const codes[] = { "SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded",
		"TooManyRequestsException", "RequestThrottled", "RequestThrottledException", "RequestTimeout",
		"InternalError", "ServiceUnavailable", "ProvisionedThroughputExceededException",
		"PriorRequestNotComplete" };
	if (!code || !*code)
		return 0;
	for (size_t i = 0; i < STKDR__ARRAY_SIZE(codes); i++)
		if (strcmp(code, codes[i]) == 0)
			return 1;
	return 0;
}

/* ---- redaction ---- */

void stkdr__http_redact_header(char *out, size_t cap, const char *line)
{
	static const char *const secret[] = { "authorization", "x-amz-security-token", "proxy-authorization", "cookie",
		"set-cookie", "x-ms-encryption-key", "x-amz-server-side-encryption-customer-key" };
	const char *colon = strchr(line, ':');
	size_t nlen = colon ? (size_t)(colon - line) : strlen(line);
	for (size_t i = 0; i < STKDR__ARRAY_SIZE(secret); i++)
		if (nlen == strlen(secret[i]) && strncasecmp(line, secret[i], nlen) == 0) {
			snprintf(out, cap, "%.*s: [redacted]", (int)nlen, line);
			return;
		}
	snprintf(out, cap, "%s", line);
}

void stkdr__http_redact_url(char *out, size_t cap, const char *url)
{
	static const char *const secret[] = { "x-amz-signature", "x-amz-credential", "x-amz-security-token", "sig",
		"signature", "awsaccesskeyid" };
	size_t o = 0;
	const char *q = strchr(url, '?');
	size_t head = q ? (size_t)(q - url) + 1 : strlen(url);
	if (cap == 0)
		return;
	snprintf(out, cap, "%.*s", (int)head, url);
	o = strlen(out);
	if (!q)
		return;
	const char *p = q + 1;
	while (*p && o + 1 < cap) {
		const char *amp = strchr(p, '&');
		size_t len = amp ? (size_t)(amp - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		size_t klen = eq ? (size_t)(eq - p) : len;
		int redact = 0;
		for (size_t i = 0; i < STKDR__ARRAY_SIZE(secret); i++)
			if (klen == strlen(secret[i]) && strncasecmp(p, secret[i], klen) == 0)
				redact = 1;
		int n = redact ? snprintf(out + o, cap - o, "%.*s=[redacted]%s", (int)klen, p, amp ? "&" : "")
			       : snprintf(out + o, cap - o, "%.*s%s", (int)len, p, amp ? "&" : "");
		if (n < 0 || (size_t)n >= cap - o)
			break;
		o += (size_t)n;
		if (!amp)
			break;
		p = amp + 1;
	}
}

/* ---- transfer ---- */

typedef struct xfer {
	stkdr__http *h;
	stkdr__http_req *req;
	stkdr__http_resp *resp;
	int64_t body_off;   /* in-memory body */
	int64_t sunk;       /* bytes given to the sink in this attempt */
	int sink_rc;
	int oom;
} xfer;

static size_t on_header(char *buf, size_t size, size_t n, void *ud)
{
	xfer *x = ud;
	size_t len = size * n;
	if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
		resp_reset(x->resp); /* a new response (after 100 Continue or a redirect) */
		return len;
	}
	const char *colon = memchr(buf, ':', len);
	if (!colon)
		return len;
	size_t nlen = (size_t)(colon - buf);
	const char *v = colon + 1;
	const char *end = buf + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	stkdr__http_header *nh = stkdr__realloc(x->resp->headers, (x->resp->n_headers + 1) * sizeof *nh);
	if (!nh) {
		x->oom = 1;
		return 0;
	}
	x->resp->headers = nh;
	char *name = stkdr__strndup(buf, nlen);
	char *value = stkdr__strndup(v, (size_t)(end - v));
	if (!name || !value) {
		stkdr__free(name);
		stkdr__free(value);
		x->oom = 1;
		return 0;
	}
	for (char *c = name; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	nh[x->resp->n_headers].name = name;
	nh[x->resp->n_headers].value = value;
	x->resp->n_headers++;
	return len;
}

static size_t on_body(char *buf, size_t size, size_t n, void *ud)
{
	xfer *x = ud;
	size_t len = size * n;
	long status = 0;
	curl_easy_getinfo(x->h->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 200 && status < 300 && x->req->sink) {
		int rc = x->req->sink((const uint8_t *)buf, len, x->req->sink_payload);
		if (rc) {
			x->sink_rc = rc;
			return 0;
		}
		x->sunk += (int64_t)len;
		return len;
	}
	if (status >= 300 && x->resp->body.size + len > MAX_ERROR_BODY)
		return len; /* keep the head of a huge error body only */
	if (stkdr_buf_put(&x->resp->body, buf, len) != 0) {
		x->oom = 1;
		return 0;
	}
	return len;
}

static size_t on_read_mem(char *buf, size_t size, size_t n, void *ud)
{
	xfer *x = ud;
	size_t cap = size * n;
	int64_t left = x->req->body_len - x->body_off;
	size_t k = left < (int64_t)cap ? (size_t)left : cap;
	if (k == 0)
		return 0;
	memcpy(buf, x->req->body + x->body_off, k);
	x->body_off += (int64_t)k;
	return k;
}

static int on_seek_mem(void *ud, curl_off_t off, int origin)
{
	xfer *x = ud;
	if (origin != SEEK_SET || off < 0 || off > x->req->body_len)
		return CURL_SEEKFUNC_CANTSEEK;
	x->body_off = (int64_t)off;
	return CURL_SEEKFUNC_OK;
}

static int on_seek_cb(void *ud, curl_off_t off, int origin)
{
	stkdr__http_req *req = ud;
	/* Only a rewind to the start (curl's resend on a reused connection) is possible. */
	if (origin != SEEK_SET || off != 0 || !req->rewind_cb || req->rewind_cb(req->read_payload) != 0)
		return CURL_SEEKFUNC_CANTSEEK;
	return CURL_SEEKFUNC_OK;
}

static const char *curl_code_name(CURLcode c, char *tmp, size_t cap)
{
	switch (c) {
	case CURLE_COULDNT_RESOLVE_HOST: return "CURLE_COULDNT_RESOLVE_HOST";
	case CURLE_COULDNT_CONNECT: return "CURLE_COULDNT_CONNECT";
	case CURLE_OPERATION_TIMEDOUT: return "CURLE_OPERATION_TIMEDOUT";
	case CURLE_SEND_ERROR: return "CURLE_SEND_ERROR";
	case CURLE_RECV_ERROR: return "CURLE_RECV_ERROR";
	case CURLE_GOT_NOTHING: return "CURLE_GOT_NOTHING";
	case CURLE_PARTIAL_FILE: return "CURLE_PARTIAL_FILE";
	case CURLE_SSL_CONNECT_ERROR: return "CURLE_SSL_CONNECT_ERROR";
	case CURLE_PEER_FAILED_VERIFICATION: return "CURLE_PEER_FAILED_VERIFICATION";
	case CURLE_URL_MALFORMAT: return "CURLE_URL_MALFORMAT";
	case CURLE_WRITE_ERROR: return "CURLE_WRITE_ERROR";
	case CURLE_ABORTED_BY_CALLBACK: return "CURLE_ABORTED_BY_CALLBACK";
	default:
		snprintf(tmp, cap, "CURLE_%d", (int)c);
		return tmp;
	}
}

static int curl_retryable(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
#if LIBCURL_VERSION_NUM >= 0x073100
	case CURLE_HTTP2_STREAM:
#endif
	case CURLE_HTTP2:
		return 1;
	default:
		return 0;
	}
}

static uint64_t jitter_rand(void)
{
	uint64_t r = 0;
	if (stkdr__random((uint8_t *)&r, sizeof r) != 0)
		r = (uint64_t)time(NULL) * 2654435761u;
	return r;
}

static void sleep_ms(int64_t ms)
{
	if (ms <= 0)
		return;
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0)
		;
}

/* Delay before retry number `n` (1-based): full jitter, or Retry-After when the server gave one. */
static int64_t backoff_ms(const stkdr__http_policy *p, int n, const stkdr__http_resp *resp)
{
	const char *ra = resp ? stkdr__http_resp_header(resp, "retry-after") : NULL;
	if (ra && isdigit((unsigned char)*ra)) {
		int64_t s = strtoll(ra, NULL, 10);
		int64_t ms = s * 1000;
		return ms > p->max_delay_ms ? p->max_delay_ms : ms;
	}
	int64_t cap = p->base_delay_ms;
	for (int i = 0; i < n && cap < p->max_delay_ms; i++)
		cap *= 2;
	if (cap > p->max_delay_ms)
		cap = p->max_delay_ms;
	if (cap <= 0)
		return 0;
	return (int64_t)(jitter_rand() % (uint64_t)(cap + 1));
}

static void trace_request(stkdr__http_req *req, const struct curl_slist *hl, int attempt)
{
	if (!stkdr__log_enabled(req->ctx, STKDR_LOG_DEBUG))
		return;
	char url[1024];
	stkdr__http_redact_url(url, sizeof url, req->url);
	stkdr_buf b = STKDR_BUF_INIT;
	stkdr__buf_printf(&b, "> %s %s (attempt %d)", req->method, url, attempt);
	for (const struct curl_slist *l = hl; l; l = l->next) {
		char line[512];
		stkdr__http_redact_header(line, sizeof line, l->data);
		stkdr__buf_printf(&b, "\n> %s", line);
	}
	stkdr__log(req->ctx, STKDR_LOG_DEBUG, "http", "%s", b.ptr ? b.ptr : "");
	stkdr_buf_dispose(&b);
}

static void trace_response(stkdr__http_req *req, const stkdr__http_resp *resp, int64_t ms)
{
	if (!stkdr__log_enabled(req->ctx, STKDR_LOG_DEBUG))
		return;
	stkdr_buf b = STKDR_BUF_INIT;
	stkdr__buf_printf(&b, "< %ld for %s %s (%lld ms)", resp->status, req->method, req->what ? req->what : "",
		(long long)ms);
	for (size_t i = 0; i < resp->n_headers; i++) {
		char line[512];
		char raw[512];
		snprintf(raw, sizeof raw, "%s: %s", resp->headers[i].name, resp->headers[i].value);
		stkdr__http_redact_header(line, sizeof line, raw);
		stkdr__buf_printf(&b, "\n< %s", line);
	}
	if (resp->status >= 300 && resp->body.size)
		stkdr__buf_printf(&b, "\n< %.*s", (int)(resp->body.size > 800 ? 800 : resp->body.size), resp->body.ptr);
	stkdr__log(req->ctx, STKDR_LOG_DEBUG, "http", "%s", b.ptr ? b.ptr : "");
	stkdr_buf_dispose(&b);
}

int stkdr__http_do(stkdr__http *h, stkdr__http_req *req, stkdr__http_resp *resp)
{
	memset(resp, 0, sizeof *resp);
	const stkdr__http_policy *p = &h->policy;
	int can_retry = !(req->read_cb && !req->rewind_cb);
	CURLcode last = CURLE_OK;
	for (int attempt = 1;; attempt++) {
		xfer x = { h, req, resp, 0, 0, 0, 0 };
		resp_reset(resp);
		resp->attempts = attempt;
		if (attempt > 1 && req->read_cb && req->rewind_cb && req->rewind_cb(req->read_payload) != 0)
			return stkdr__seterr(STKDR_EIO, STKDR_ERRCLASS_NET, NULL, "%s: cannot rewind the request body to retry",
				req->what ? req->what : req->url);
		struct curl_slist *hl = NULL;
		for (const struct curl_slist *l = req->headers; l; l = l->next)
			hl = curl_slist_append(hl, l->data);
		hl = curl_slist_append(hl, "Expect:");
		if (req->sign) {
			int rc = req->sign(&hl, req, req->sign_payload);
			if (rc) {
				curl_slist_free_all(hl);
				return rc;
			}
		}
		CURL *c = h->curl;
		curl_easy_reset(c);
		h->errbuf[0] = '\0';
		curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
		curl_easy_setopt(c, CURLOPT_URL, req->url);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
		curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)p->connect_timeout_ms);
		if (p->timeout_ms > 0)
			curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)p->timeout_ms);
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)p->low_speed_time_s);
		curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
		int has_body = req->body || req->read_cb;
		if (strcmp(req->method, "HEAD") == 0 || req->no_body)
			curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
		if (has_body || strcmp(req->method, "PUT") == 0 || strcmp(req->method, "POST") == 0) {
			curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
			if (req->read_cb) {
				curl_easy_setopt(c, CURLOPT_READFUNCTION, req->read_cb);
				curl_easy_setopt(c, CURLOPT_READDATA, req->read_payload);
				curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek_cb);
				curl_easy_setopt(c, CURLOPT_SEEKDATA, req);
			} else {
				curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read_mem);
				curl_easy_setopt(c, CURLOPT_READDATA, &x);
				curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek_mem);
				curl_easy_setopt(c, CURLOPT_SEEKDATA, &x);
			}
			int64_t len = req->read_cb ? req->body_len : (req->body ? req->body_len : 0);
			if (len >= 0)
				curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
		}
		if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "PUT") != 0)
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
		trace_request(req, hl, attempt);
		int64_t t0 = stkdr__time_mono_ms();
		CURLcode cc = curl_easy_perform(c);
		curl_slist_free_all(hl);
		if (x.oom)
			return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory during %s",
				req->what ? req->what : req->url);
		if (x.sink_rc)
			return x.sink_rc;
		if (cc != CURLE_OK) {
			last = cc;
			if (stkdr__log_enabled(req->ctx, STKDR_LOG_DEBUG))
				stkdr__log(req->ctx, STKDR_LOG_DEBUG, "http", "< %s failed: %s %s (attempt %d)",
					req->what ? req->what : req->method, curl_easy_strerror(cc), h->errbuf, attempt);
			if (can_retry && x.sunk == 0 && curl_retryable(cc) && attempt < p->max_attempts) {
				sleep_ms(backoff_ms(p, attempt, NULL));
				continue;
			}
			break;
		}
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
		trace_response(req, resp, stkdr__time_mono_ms() - t0);
		if (resp->status >= 300) {
			char code[128] = "";
			if (req->error_code)
				req->error_code(code, sizeof code, resp, req->error_payload);
			long st = resp->status;
			int transient = st == 500 || st == 502 || st == 503 || st == 504 || st == 429
				|| stkdr__http_is_throttle_code(code);
			if (transient && can_retry && attempt < p->max_attempts) {
				sleep_ms(backoff_ms(p, attempt, resp));
				continue;
			}
		}
		return 0;
	}
	char tmp[32];
	const char *name = curl_code_name(last, tmp, sizeof tmp);
	int code = last == CURLE_OPERATION_TIMEDOUT ? STKDR_ETIMEOUT : STKDR_EBACKEND;
	return stkdr__seterr(code, STKDR_ERRCLASS_NET, name, "%s: %s%s%s (after %d attempt%s); check the endpoint, the "
		"network and any proxy", req->what ? req->what : req->url, curl_easy_strerror(last), h->errbuf[0] ? ": " : "",
		h->errbuf, resp->attempts, resp->attempts == 1 ? "" : "s");
}
