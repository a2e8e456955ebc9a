/* The repository: keys, small objects, leases, journal. */
#include "repo.h"
#include "core/crypto.h"
#include "core/timeutil.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *stkdr__repo_prefix(stkdr_ctx *ctx)
{
	const char *p = stkdr__cfg_str(ctx, "objstore.prefix");
	return p ? p : "";
}

char *stkdr__repo_key(stkdr_ctx *ctx, const char *rel)
{
	const char *p = stkdr__repo_prefix(ctx);
	char *k = *p ? stkdr__aprintf("%s/%s", p, rel) : stkdr__strdup(rel);
	if (!k)
		stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	return k;
}

int stkdr__repo_put(stkdr_ctx *ctx, const char *key, const void *data, size_t len, uint32_t flags)
{
	stkdr_objstore *os;
	stkdr_objwriter *w;
	int rc = stkdr__ctx_objstore(&os, ctx);
	if (rc)
		return rc;
	stkdr_put_options po = STKDR_PUT_OPTIONS_INIT;
	po.flags = flags;
	po.size_hint = (int64_t)len;
	if ((rc = os->open_write(&w, os, key, &po)) != 0)
		return rc;
	if (len && (rc = w->write(w, data, len)) != 0) {
		w->abort(w);
		return rc;
	}
	return w->commit(w, NULL);
}

int stkdr__repo_get(stkdr_buf *out, stkdr_ctx *ctx, const char *key)
{
	stkdr_objstore *os;
	stkdr_objreader *r;
	int rc = stkdr__ctx_objstore(&os, ctx);
	if (rc)
		return rc;
	if ((rc = os->open_read(&r, os, key, 0, -1)) != 0)
		return rc;
	stkdr__buf_clear(out);
	uint8_t tmp[65536];
	for (;;) {
		size_t n = 0;
		if ((rc = r->read(r, tmp, sizeof tmp, &n)) != 0)
			break;
		if (n == 0)
			break;
		if ((rc = stkdr_buf_put(out, tmp, n)) != 0)
			break;
	}
	r->close(r);
	if (rc == 0 && !out->ptr)
		rc = stkdr_buf_set(out, "", 0);
	return rc;
}

typedef struct listacc {
	char **v;
	size_t n, cap;
	int rc;
} listacc;

static int list_cb(const stkdr_objinfo *info, void *payload)
{
	listacc *a = payload;
	if (stkdr__grow(&a->v, &a->cap, a->n + 1, sizeof *a->v, 64) != 0) /* + 1: room for the NULL */
		return a->rc = STKDR_ENOMEM;
	if (!(a->v[a->n] = stkdr__strdup(info->key)))
		return a->rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	a->n++;
	a->v[a->n] = NULL;
	return 0;
}

void stkdr__strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		stkdr__free(*p);
	stkdr__free(v);
}

int stkdr__repo_list(char ***out, size_t *n_out, stkdr_ctx *ctx, const char *prefix)
{
	stkdr_objstore *os;
	int rc = stkdr__ctx_objstore(&os, ctx);
	*out = NULL;
	if (n_out)
		*n_out = 0;
	if (rc)
		return rc;
	listacc a = { NULL, 0, 0, 0 };
	rc = os->list(os, prefix, NULL, list_cb, &a);
	if (rc == 0 && a.rc)
		rc = a.rc;
	if (rc) {
		if (a.v)
			a.v[a.n] = NULL;
		stkdr__strv_free(a.v);
		return rc;
	}
	if (!a.v) {
		a.v = stkdr__calloc(1, sizeof *a.v);
		if (!a.v)
			return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	}
	*out = a.v;
	if (n_out)
		*n_out = a.n;
	return 0;
}

int stkdr__repo_new_id(char *out, size_t out_len, int64_t now_ms)
{
	int y, m, d;
	int64_t secs = now_ms / 1000;
	int64_t days = secs / 86400;
	int64_t rem = secs % 86400;
	if (rem < 0) {
		rem += 86400;
		days--;
	}
	stkdr__time_civil_from_days(days, &y, &m, &d);
	uint8_t rnd[2];
	int rc = stkdr__random(rnd, sizeof rnd);
	if (rc)
		return rc;
	int64_t msec = now_ms % 1000;
	if (msec < 0)
		msec += 1000;
	snprintf(out, out_len, "%04d%02d%02dT%02d%02d%02d.%03dZ-%02x%02x", y, m, d, (int)(rem / 3600),
		(int)(rem / 60 % 60), (int)(rem % 60), (int)msec, rnd[0], rnd[1]);
	return 0;
}

/* ---- leases ---- */

struct stkdr__lease {
	stkdr_ctx *ctx;
	char *key;
};

static int lease_write(stkdr_ctx *ctx, const char *key, const char *purpose, int64_t ttl_ms)
{
	char host[256] = "";
	gethostname(host, sizeof host - 1);
	cJSON *j = cJSON_CreateObject();
	if (!j)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	int64_t now = stkdr__time_now_ms();
	char until[40], since[40];
	stkdr__time_format_rfc3339(until, sizeof until, now + ttl_ms);
	stkdr__time_format_rfc3339(since, sizeof since, now);
	cJSON_AddStringToObject(j, "format", "stkdr-lease");
	cJSON_AddNumberToObject(j, "format_version", 1);
	cJSON_AddStringToObject(j, "host", host);
	cJSON_AddNumberToObject(j, "pid", (double)getpid());
	cJSON_AddStringToObject(j, "purpose", purpose);
	cJSON_AddStringToObject(j, "since", since);
	cJSON_AddNumberToObject(j, "expires_ms", (double)(now + ttl_ms));
	cJSON_AddStringToObject(j, "expires", until);
	char *s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	if (!s)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	int rc = stkdr__repo_put(ctx, key, s, strlen(s), STKDR_PUT_CREATE_ONLY);
	cJSON_free(s);
	return rc;
}

/* Whether an existing lease may be broken; fills `who` with a description of the holder. */
static bool lease_stale(stkdr_ctx *ctx, const char *key, char *who, size_t who_len)
{
	stkdr_buf b = STKDR_BUF_INIT;
	if (stkdr__repo_get(&b, ctx, key) != 0) {
		snprintf(who, who_len, "an unreadable lease");
		stkdr_buf_dispose(&b);
		stkdr_error_clear();
		return true; /* a corrupt or vanished lease protects nothing */
	}
	cJSON *j = cJSON_Parse(b.ptr);
	stkdr_buf_dispose(&b);
	if (!j) {
		snprintf(who, who_len, "a malformed lease");
		return true;
	}
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(j, "host");
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "pid");
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "expires_ms");
	const cJSON *pu = cJSON_GetObjectItemCaseSensitive(j, "purpose");
	const cJSON *si = cJSON_GetObjectItemCaseSensitive(j, "since");
	char host[256] = "";
	gethostname(host, sizeof host - 1);
	bool stale = false;
	if (!cJSON_IsString(h) || !cJSON_IsNumber(p) || !cJSON_IsNumber(e)) {
		stale = true;
	} else if (!strcmp(h->valuestring, host) && kill((pid_t)p->valuedouble, 0) != 0 && errno == ESRCH) {
		stale = true; /* the holder on this host is dead */
	} else if ((int64_t)e->valuedouble < stkdr__time_now_ms()) {
		stale = true;
	}
	snprintf(who, who_len, "%s (pid %d on %s since %s)", cJSON_IsString(pu) ? pu->valuestring : "?",
		cJSON_IsNumber(p) ? (int)p->valuedouble : 0, cJSON_IsString(h) ? h->valuestring : "?",
		cJSON_IsString(si) ? si->valuestring : "?");
	cJSON_Delete(j);
	return stale;
}

int stkdr__lease_acquire(stkdr__lease **out, stkdr_ctx *ctx, const char *name, const char *purpose, int64_t ttl_ms)
{
	*out = NULL;
	char rel[160];
	snprintf(rel, sizeof rel, "locks/%s.lease", name);
	char *key = stkdr__repo_key(ctx, rel);
	if (!key)
		return STKDR_ENOMEM;
	int rc;
	for (int attempt = 0; attempt < 2; attempt++) {
		rc = lease_write(ctx, key, purpose, ttl_ms);
		if (rc != STKDR_EEXISTS)
			break;
		char who[512];
		if (!lease_stale(ctx, key, who, sizeof who)) {
			rc = stkdr__seterr(STKDR_ELOCKED, STKDR_ERRCLASS_LOCAL, NULL,
				"the repository is busy: %s holds the %s lease (%s); wait for it to finish", who, name, key);
			break;
		}
		stkdr_objstore *os;
		stkdr__ctx_objstore(&os, ctx);
		stkdr__log(ctx, STKDR_LOG_WARN, "repo", "breaking stale %s lease held by %s", name, who);
		if ((rc = os->del(os, key, 0)) != 0 && rc != STKDR_ENOTFOUND)
			break;
		rc = STKDR_EEXISTS;
	}
	if (rc) {
		stkdr__free(key);
		return rc;
	}
	stkdr__lease *l = stkdr__calloc(1, sizeof *l);
	if (!l) {
		stkdr__free(key);
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	}
	l->ctx = ctx;
	l->key = key;
	*out = l;
	return 0;
}

void stkdr__lease_release(stkdr__lease *l)
{
	if (!l)
		return;
	stkdr_objstore *os;
	if (stkdr__ctx_objstore(&os, l->ctx) == 0) {
		stkdr_error saved = *stkdr__err_get();
		char msg[1024], code[64];
		snprintf(msg, sizeof msg, "%s", saved.message);
		snprintf(code, sizeof code, "%s", saved.backend_code);
		if (os->del(os, l->key, 0) != 0)
			stkdr__log(l->ctx, STKDR_LOG_WARN, "repo", "could not release lease %s: %s", l->key,
				stkdr__err_get()->message);
		/* releasing must not clobber the error being returned */
		if (saved.code)
			stkdr_error_set_str(saved.code, saved.klass, code, msg);
		else
			stkdr_error_clear();
	}
	stkdr__free(l->key);
	stkdr__free(l);
}

/* ---- journal ---- */

void stkdr__journal(stkdr_ctx *ctx, int type, const char *name, const char *subject, int ok, const char *detail_json)
{
	int64_t now = stkdr__ctx_now_ms(ctx);
	stkdr__emit(ctx, type, name, subject, 0, 0, ok, detail_json);
	char id[40], when[40];
	if (stkdr__repo_new_id(id, sizeof id, now) != 0)
		return;
	stkdr__time_format_rfc3339(when, sizeof when, now);
	cJSON *j = cJSON_CreateObject();
	if (!j)
		return;
	cJSON_AddStringToObject(j, "format", "stkdr-event");
	cJSON_AddNumberToObject(j, "format_version", 1);
	cJSON_AddStringToObject(j, "time", when);
	cJSON_AddStringToObject(j, "name", name);
	cJSON_AddStringToObject(j, "subject", subject ? subject : "");
	cJSON_AddBoolToObject(j, "ok", ok);
	cJSON_AddStringToObject(j, "type", type == STKDR_EVENT_RESULT ? "result" : "action");
	cJSON *d = detail_json ? cJSON_Parse(detail_json) : NULL;
	cJSON_AddItemToObject(j, "detail", d ? d : cJSON_CreateObject());
	char *s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	if (!s)
		return;
	char rel[96];
	snprintf(rel, sizeof rel, "journal/%s.json", id);
	char *key = stkdr__repo_key(ctx, rel);
	stkdr_error saved = *stkdr__err_get();
	char msg[1024], code[64];
	snprintf(msg, sizeof msg, "%s", saved.message);
	snprintf(code, sizeof code, "%s", saved.backend_code);
	if (key && stkdr__repo_put(ctx, key, s, strlen(s), STKDR_PUT_CREATE_ONLY) != 0)
		stkdr__log(ctx, STKDR_LOG_WARN, "journal", "could not journal %s: %s", name, stkdr__err_get()->message);
	if (saved.code)
		stkdr_error_set_str(saved.code, saved.klass, code, msg);
	stkdr__free(key);
	cJSON_free(s);
}
