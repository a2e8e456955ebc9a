/* The connection every AWS backend (Secrets Manager, Route 53, RDS) opens to its service: endpoint,
 * HTTP client and retry policy, credentials; and the wait-for-status loop of RDS and Route 53 (aws.h). */
#include "aws.h"
#include "core/crypto.h"
#include "core/timeutil.h"

#include <string.h>
#include <time.h>

void stkdr__aws_policy(stkdr__http_policy *p, stkdr_ctx *ctx)
{
	stkdr__http_policy_default(p);
	p->max_attempts = (int)stkdr__cfg_int(ctx, "objstore.max_attempts", 5);
	p->base_delay_ms = stkdr__cfg_int(ctx, "objstore.retry_base_ms", 100);
	p->connect_timeout_ms = stkdr__cfg_int(ctx, "objstore.connect_timeout", 10000);
	int64_t stall_s = (stkdr__cfg_int(ctx, "objstore.stall_timeout", 60000) + 999) / 1000;
	p->low_speed_time_s = stall_s < 1 ? 1 : stall_s;
}

int stkdr__aws_service_open(stkdr__aws_service *s, stkdr_ctx *ctx, const char *endpoint_key, const char *default_host,
	int64_t timeout_ms)
{
	memset(s, 0, sizeof *s);
	int rc = 0;
	const char *ep = stkdr__cfg_str(ctx, endpoint_key);
	if (ep && *ep) {
		const char *p = strstr(ep, "://");
		if (!p || (strncmp(ep, "http://", 7) && strncmp(ep, "https://", 8)))
			return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL,
				"%s '%s' must be an http(s) URL such as http://127.0.0.1:5000", endpoint_key, ep);
		s->scheme = stkdr__strndup(ep, (size_t)(p - ep));
		s->host = stkdr__strndup(p + 3, strcspn(p + 3, "/"));
	} else {
		s->scheme = stkdr__strdup("https");
		s->host = stkdr__strdup(default_host);
	}
	if (!s->scheme || !s->host)
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	stkdr__aws_policy(&s->policy, ctx);
	if (timeout_ms > 0)
		s->policy.timeout_ms = timeout_ms;
	if (rc == 0 && !(s->http = stkdr__http_new(&s->policy)))
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	if (rc == 0)
		rc = stkdr__aws_creds_load(&s->creds);
	if (rc)
		stkdr__aws_service_close(s);
	return rc;
}

void stkdr__aws_service_close(stkdr__aws_service *s)
{
	stkdr__aws_creds_clear(&s->creds);
	stkdr__http_free(s->http);
	stkdr__free(s->scheme);
	stkdr__free(s->host);
	memset(s, 0, sizeof *s);
}

int stkdr__aws_poll(const stkdr__aws_poller *p)
{
	int64_t t0 = stkdr__time_mono_ms();
	int64_t deadline = t0 + (p->timeout_ms > 0 ? p->timeout_ms : 0);
	int64_t delay = p->first_delay_ms;
	for (int polls = 1;; polls++) {
		int done = 0;
		int rc = p->check(&done, t0, polls, p->payload);
		if (rc || done)
			return rc;
		int64_t now = stkdr__time_mono_ms();
		int64_t left = deadline - now;
		if (left <= 0)
			return p->timed_out(now - t0, polls, p->payload);
		int64_t ms = delay < left ? delay : left;
		struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
		delay = delay * 2 > p->max_delay_ms ? p->max_delay_ms : delay * 2;
	}
}

int stkdr__aws_query(stkdr__http_resp *resp, const stkdr__aws_query_req *q)
{
	memset(resp, 0, sizeof *resp);
	stkdr_buf form = STKDR_BUF_INIT;
	int rc = stkdr__buf_printf(&form, "Action=%s&Version=%s", q->action, q->version);
	for (size_t i = 0; rc == 0 && i < q->n; i++) {
		rc = stkdr_buf_put(&form, "&", 1);
		if (!rc)
			rc = stkdr__aws_uri_encode(&form, q->params[i].k, strlen(q->params[i].k), 0);
		if (!rc)
			rc = stkdr_buf_put(&form, "=", 1);
		if (!rc)
			rc = stkdr__aws_uri_encode(&form, q->params[i].v, strlen(q->params[i].v), 0);
	}
	uint8_t dg[32];
	char hash[65];
	stkdr__sha256(form.ptr ? (const void *)form.ptr : (const void *)"", form.size, dg);
	stkdr__hex_encode(hash, dg, 32);
	struct curl_slist *hl = rc == 0 ? curl_slist_append(NULL, "Content-Type: application/x-www-form-urlencoded; charset=utf-8") : NULL;
	if (rc == 0 && !hl)
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	if (rc == 0) {
		stkdr__aws_signer sg = { q->creds, q->region, q->service, q->host, "/", "", hash, 0, NULL };
		stkdr__http_req req;
		memset(&req, 0, sizeof req);
		req.method = "POST";
		req.url = q->url;
		req.what = q->what;
		req.headers = hl;
		req.sign = stkdr__aws_sign_cb;
		req.sign_payload = &sg;
		req.body = (const uint8_t *)form.ptr;
		req.body_len = (int64_t)form.size;
		req.error_code = q->error_code;
		req.ctx = q->ctx;
		rc = stkdr__http_do(q->http, &req, resp);
	}
	curl_slist_free_all(hl);
	stkdr_buf_dispose(&form);
	return rc;
}
