/* The context: configuration, error detail, logging, events and the backends it opens. */
#include "internal.h"
#include "config.h"
#include "crypto.h"
#include "timeutil.h"
#include "backends/local/local.h"
#include "backends/aws/aws.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct registered {
	stkdr_backend *be;
	int priority;
} registered;

struct stkdr_ctx {
	stkdr__config *cfg;
	/* last error, owned copy */
	stkdr_error err;
	char err_code[64];
	char err_msg[1024];
	/* callbacks */
	stkdr_log_cb log_cb;
	void *log_payload;
	int log_level;
	stkdr_event_cb event_cb;
	void *event_payload;
	/* backends */
	registered *reg;
	size_t n_reg;
	stkdr_backend *open[5]; /* by kind; owned unless also in reg */
	bool open_owned[5];
};

static void ctx_clear_err(stkdr_ctx *ctx)
{
	ctx->err.code = 0;
	ctx->err.klass = STKDR_ERRCLASS_NONE;
	ctx->err_code[0] = '\0';
	ctx->err_msg[0] = '\0';
	ctx->err.backend_code = ctx->err_code;
	ctx->err.message = ctx->err_msg;
}

int stkdr__ctx_result(stkdr_ctx *ctx, int rc)
{
	if (!ctx)
		return rc;
	if (rc >= 0) {
		ctx_clear_err(ctx);
		return rc;
	}
	const stkdr_error *e = stkdr__err_get();
	ctx->err.code = rc;
	if (e->code == rc && e->message[0]) {
		ctx->err.klass = e->klass;
		snprintf(ctx->err_code, sizeof ctx->err_code, "%s", e->backend_code);
		snprintf(ctx->err_msg, sizeof ctx->err_msg, "%s", e->message);
	} else if (e->message[0]) {
		/* A different code was propagated: keep the detail, it explains the cause. */
		ctx->err.klass = e->klass;
		snprintf(ctx->err_code, sizeof ctx->err_code, "%s", e->backend_code);
		snprintf(ctx->err_msg, sizeof ctx->err_msg, "%s", e->message);
	} else {
		ctx->err.klass = rc == STKDR_EUSER || rc > STKDR_EUSER + 100 ? STKDR_ERRCLASS_CALLBACK : STKDR_ERRCLASS_INTERNAL;
		ctx->err_code[0] = '\0';
		snprintf(ctx->err_msg, sizeof ctx->err_msg, "%s", stkdr_strerror(rc));
	}
	return rc;
}

const stkdr_error *stkdr_ctx_last_error(const stkdr_ctx *ctx)
{
	static const stkdr_error none = { 0, 0, "", "" };
	static const stkdr_error nullctx = { STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, "", "the context is NULL" };
	if (!ctx)
		return &nullctx;
	return ctx->err.message ? &ctx->err : &none;
}

int stkdr_ctx_options_init(stkdr_ctx_options *opts, unsigned int version)
{
	return stkdr__options_init(opts, sizeof *opts, version, STKDR_CTX_OPTIONS_VERSION, "stkdr_ctx_options");
}

int stkdr_ctx_new(stkdr_ctx **out, const stkdr_ctx_options *opts)
{
	stkdr_error_clear();
	if (!out)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_ctx_new: out is NULL");
	*out = NULL;
	stkdr_ctx_options o = STKDR_CTX_OPTIONS_INIT;
	if (opts) {
		if (opts->version == 0 || opts->version > STKDR_CTX_OPTIONS_VERSION)
			return stkdr__seterr(STKDR_EVERSION, STKDR_ERRCLASS_INTERNAL, NULL,
				"stkdr_ctx_options version %u is not supported by libstkdr %s (1..%u)", opts->version,
				STKDR_VERSION_STRING, STKDR_CTX_OPTIONS_VERSION);
		/* Read only the fields of the caller's version (all of version 1 today). */
		o = *opts;
	}
	int rc = stkdr_global_init(NULL);
	if (rc < 0)
		return rc;
	stkdr_ctx *ctx = stkdr__calloc(1, sizeof *ctx);
	if (!ctx) {
		stkdr_global_shutdown();
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	}
	ctx_clear_err(ctx);
	const char *path = o.config_path;
	if (!o.config_json && !path && !(o.flags & STKDR_CTX_NO_DEFAULT_FILE)) {
		const char *envp = getenv("STKDR_CONFIG");
		if (envp && *envp)
			path = envp;
	}
	rc = stkdr__config_load(&ctx->cfg, path, o.config_json, (o.flags & STKDR_CTX_NO_ENV) != 0);
	if (rc) {
		stkdr__free(ctx);
		stkdr_global_shutdown();
		return rc;
	}
	*out = ctx;
	return 0;
}

void stkdr_ctx_free(stkdr_ctx *ctx)
{
	if (!ctx)
		return;
	for (size_t k = 0; k < STKDR__ARRAY_SIZE(ctx->open); k++)
		if (ctx->open[k] && ctx->open_owned[k])
			ctx->open[k]->free(ctx->open[k]);
	for (size_t i = 0; i < ctx->n_reg; i++)
		ctx->reg[i].be->free(ctx->reg[i].be);
	stkdr__free(ctx->reg);
	stkdr__config_free(ctx->cfg);
	stkdr__free(ctx);
	stkdr_global_shutdown();
}

/* ---- configuration ---- */

int stkdr_ctx_set_str(stkdr_ctx *ctx, const char *key, const char *value)
{
	if (!ctx)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_ctx_set_str: ctx is NULL");
	return stkdr__ctx_result(ctx, stkdr__config_set(ctx->cfg, key, value));
}

int stkdr_ctx_set_int64(stkdr_ctx *ctx, const char *key, int64_t value)
{
	if (!ctx)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_ctx_set_int64: ctx is NULL");
	return stkdr__ctx_result(ctx, stkdr__config_set_int(ctx->cfg, key, value));
}

int stkdr_ctx_get_str(stkdr_buf *out, stkdr_ctx *ctx, const char *key)
{
	if (!ctx || !out)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_ctx_get_str: NULL argument");
	const stkdr__cfg_key *k = stkdr__cfg_lookup(key);
	if (!k)
		return stkdr__ctx_result(ctx, stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL,
			"unknown configuration key \"%s\" (see docs/configuration.md)", key ? key : "(null)"));
	const char *v = stkdr__config_str(ctx->cfg, key);
	if (!v)
		return stkdr__ctx_result(ctx, stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_CONFIG, NULL,
			"configuration key %s is not set and has no default", key));
	if (k->flags & STKDR__CFG_SECRET)
		v = "<redacted>";
	if (k->flags & STKDR__CFG_CONNINFO) {
		/* Reuse the dump's redaction by round-tripping through it would be heavy; redact here. */
		const char *pw = strstr(v, "password=");
		if (pw || (strstr(v, "://") && strchr(v, '@'))) {
			stkdr_buf full = STKDR_BUF_INIT;
			int rc = stkdr__config_dump(&full, ctx->cfg);
			cJSON *doc = rc ? NULL : cJSON_Parse(full.ptr);
			stkdr_buf_dispose(&full);
			cJSON *pg = doc ? cJSON_GetObjectItemCaseSensitive(doc, "postgres") : NULL;
			cJSON *ci = pg ? cJSON_GetObjectItemCaseSensitive(pg, "conninfo") : NULL;
			rc = stkdr_buf_set(out, cJSON_IsString(ci) ? ci->valuestring : "<redacted>",
				strlen(cJSON_IsString(ci) ? ci->valuestring : "<redacted>"));
			cJSON_Delete(doc);
			return stkdr__ctx_result(ctx, rc);
		}
	}
	return stkdr__ctx_result(ctx, stkdr_buf_set(out, v, strlen(v)));
}

int stkdr_ctx_get_int64(int64_t *out, stkdr_ctx *ctx, const char *key)
{
	if (!ctx || !out)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_ctx_get_int64: NULL argument");
	return stkdr__ctx_result(ctx, stkdr__config_int(out, ctx->cfg, key));
}

static bool backend_registered(const char *section, const char *name, void *payload)
{
	stkdr_ctx *ctx = payload;
	int kind = !strcmp(section, "objstore") ? STKDR_BACKEND_OBJSTORE
		: !strcmp(section, "secrets")   ? STKDR_BACKEND_SECRETS
		: !strcmp(section, "dbprovider") ? STKDR_BACKEND_DBPROVIDER
		: !strcmp(section, "dns")       ? STKDR_BACKEND_DNS
						: 0;
	for (size_t i = 0; i < ctx->n_reg; i++)
		if (ctx->reg[i].be->kind == kind && !strcmp(ctx->reg[i].be->name, name))
			return true;
	return false;
}

int stkdr_ctx_check(stkdr_ctx *ctx, stkdr_config_problem_cb cb, void *payload)
{
	if (!ctx)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_ctx_check: ctx is NULL");
	int n = stkdr__config_check(ctx->cfg, backend_registered, ctx, cb, payload);
	if (n < 0)
		return stkdr__ctx_result(ctx, stkdr__seterr(n, STKDR_ERRCLASS_CALLBACK, NULL,
			"the configuration-problem callback returned %d", n));
	return stkdr__ctx_result(ctx, n > 0 ? STKDR_EINVAL : 0);
}

int stkdr_ctx_config_json(stkdr_buf *out, stkdr_ctx *ctx)
{
	if (!ctx || !out)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_ctx_config_json: NULL argument");
	return stkdr__ctx_result(ctx, stkdr__config_dump(out, ctx->cfg));
}

const char *stkdr__cfg_str(stkdr_ctx *ctx, const char *key)
{
	return stkdr__config_str(ctx->cfg, key);
}

int64_t stkdr__cfg_int(stkdr_ctx *ctx, const char *key, int64_t dflt)
{
	int64_t v;
	stkdr__err_state saved;
	stkdr__err_save(&saved);
	if (stkdr__config_int(&v, ctx->cfg, key) != 0) {
		/* unset: the default, and the error state as it was (a caller may be carrying one) */
		stkdr__err_restore(&saved);
		return dflt;
	}
	return v;
}

bool stkdr__cfg_bool(stkdr_ctx *ctx, const char *key, bool dflt)
{
	return stkdr__cfg_int(ctx, key, dflt ? 1 : 0) != 0;
}

int stkdr__cfg_require_str(const char **out, stkdr_ctx *ctx, const char *key)
{
	const char *v = stkdr__config_str(ctx->cfg, key);
	if (!v || !*v) {
		char env[128];
		const char *path = stkdr__config_path(ctx->cfg);
		stkdr__cfg_env_name(env, sizeof env, key);
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL,
			"configuration key %s is required%s%s: set it in the configuration or with %s", key,
			*path ? " in " : "", path, env);
	}
	*out = v;
	return 0;
}

/* ---- logging and events ---- */

void stkdr_ctx_set_log_callback(stkdr_ctx *ctx, int min_level, stkdr_log_cb cb, void *payload)
{
	if (!ctx)
		return;
	ctx->log_cb = cb;
	ctx->log_payload = payload;
	ctx->log_level = cb ? min_level : STKDR_LOG_NONE;
}

bool stkdr__log_enabled(stkdr_ctx *ctx, int level)
{
	return ctx && ctx->log_cb && level <= ctx->log_level && level > STKDR_LOG_NONE;
}

void stkdr__log(stkdr_ctx *ctx, int level, const char *component, const char *fmt, ...)
{
	if (!stkdr__log_enabled(ctx, level))
		return;
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	ctx->log_cb(level, component ? component : "stkdr", msg, ctx->log_payload);
}

void stkdr_ctx_set_event_callback(stkdr_ctx *ctx, stkdr_event_cb cb, void *payload)
{
	if (!ctx)
		return;
	ctx->event_cb = cb;
	ctx->event_payload = payload;
}

int64_t stkdr__ctx_now_ms(stkdr_ctx *ctx)
{
	int64_t fake;
	if (ctx && stkdr__cfg_str(ctx, "clock.fake_now") && stkdr__config_int(&fake, ctx->cfg, "clock.fake_now") == 0)
		return fake;
	return stkdr__time_now_ms();
}

int stkdr__emit(stkdr_ctx *ctx, int type, const char *name, const char *subject, int64_t done, int64_t total, int ok,
	const char *detail_json)
{
	if (!ctx || !ctx->event_cb)
		return 0;
	stkdr_event ev;
	memset(&ev, 0, sizeof ev);
	ev.version = STKDR_EVENT_VERSION;
	ev.type = type;
	ev.name = name ? name : "";
	ev.subject = subject ? subject : "";
	ev.time_ms = stkdr__ctx_now_ms(ctx);
	ev.done = done;
	ev.total = total;
	ev.ok = ok;
	ev.detail_json = detail_json ? detail_json : "{}";
	int r = ctx->event_cb(&ev, ctx->event_payload);
	if (type == STKDR_EVENT_PROGRESS && r < 0)
		return stkdr__seterr(r, STKDR_ERRCLASS_CALLBACK, NULL, "cancelled by the event callback (returned %d) during %s",
			r, ev.name);
	return 0;
}

/* ---- backends ---- */

int stkdr_backend_init(stkdr_backend *be, int kind, unsigned int version, const char *name)
{
	if (!be)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_backend_init: be is NULL");
	if (kind < STKDR_BACKEND_OBJSTORE || kind > STKDR_BACKEND_DNS)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_backend_init: unknown kind %d", kind);
	memset(be, 0, sizeof *be);
	be->version = version;
	be->kind = kind;
	be->name = name;
	return 0;
}

int stkdr_put_options_init(stkdr_put_options *opts, unsigned int version)
{
	int rc = stkdr__options_init(opts, sizeof *opts, version, STKDR_PUT_OPTIONS_VERSION, "stkdr_put_options");
	if (rc)
		return rc;
	opts->size_hint = -1;
	return 0;
}

int stkdr_legal_hold_init(stkdr_legal_hold *lh, unsigned int version)
{
	int rc = stkdr__options_init(lh, sizeof *lh, version, STKDR_LEGAL_HOLD_VERSION, "stkdr_legal_hold");
	if (rc)
		return rc;
	lh->set = -1;
	return 0;
}

static unsigned int max_version(int kind)
{
	switch (kind) {
	case STKDR_BACKEND_OBJSTORE: return STKDR_OBJSTORE_VERSION;
	case STKDR_BACKEND_SECRETS: return STKDR_SECRETS_VERSION;
	case STKDR_BACKEND_DBPROVIDER: return STKDR_DBPROVIDER_VERSION;
	case STKDR_BACKEND_DNS: return STKDR_DNS_VERSION;
	default: return 0;
	}
}

int stkdr_ctx_add_backend(stkdr_ctx *ctx, stkdr_backend *be, int priority)
{
	int rc = 0;
	if (!ctx) {
		rc = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_ctx_add_backend: ctx is NULL");
		goto fail;
	}
	if (!be || !be->free)
		return stkdr__ctx_result(ctx, stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
			"stkdr_ctx_add_backend: the backend is NULL or has no free method"));
	if (!be->name || !*be->name) {
		rc = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_ctx_add_backend: the backend has no name");
		goto fail;
	}
	unsigned int maxv = max_version(be->kind);
	if (!maxv) {
		rc = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
			"stkdr_ctx_add_backend: backend \"%s\" has unknown kind %d", be->name, be->kind);
		goto fail;
	}
	if (be->version == 0 || be->version > maxv) {
		rc = stkdr__seterr(STKDR_EVERSION, STKDR_ERRCLASS_INTERNAL, NULL,
			"stkdr_ctx_add_backend: backend \"%s\" has vtable version %u; libstkdr %s knows 1..%u", be->name,
			be->version, STKDR_VERSION_STRING, maxv);
		goto fail;
	}
	registered *n = stkdr__realloc(ctx->reg, (ctx->n_reg + 1) * sizeof *n);
	if (!n) {
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
		goto fail;
	}
	ctx->reg = n;
	ctx->reg[ctx->n_reg].be = be;
	ctx->reg[ctx->n_reg].priority = priority;
	ctx->n_reg++;
	if (be->ctl)
		be->ctl(be, STKDR_CTL_ATTACH, ctx);
	return stkdr__ctx_result(ctx, 0);
fail:
	if (be && be->free)
		be->free(be);
	return stkdr__ctx_result(ctx, rc);
}

static stkdr_backend *find_registered(stkdr_ctx *ctx, int kind, const char *name)
{
	stkdr_backend *best = NULL;
	int bestp = 0;
	for (size_t i = 0; i < ctx->n_reg; i++) {
		stkdr_backend *be = ctx->reg[i].be;
		if (be->kind == kind && !strcmp(be->name, name) && (!best || ctx->reg[i].priority > bestp)) {
			best = be;
			bestp = ctx->reg[i].priority;
		}
	}
	return best;
}

static int unknown_backend(const char *key, const char *name, const char *builtin)
{
	return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL,
		"%s: backend \"%s\" is not available in this build (available: %s, or a backend registered with "
		"stkdr_ctx_add_backend)", key, name, builtin);
}

static int open_backend(stkdr_backend **out, stkdr_ctx *ctx, int kind)
{
	static const char *const keys[] = { NULL, "objstore.backend", "secrets.backend", "dbprovider.backend",
		"dns.backend" };
	if (ctx->open[kind]) {
		*out = ctx->open[kind];
		return 0;
	}
	const char *name = stkdr__cfg_str(ctx, keys[kind]);
	stkdr_backend *be = find_registered(ctx, kind, name);
	int rc = 0;
	bool owned = false;
	if (!be) {
		const char *path;
		owned = true;
		switch (kind) {
		case STKDR_BACKEND_OBJSTORE:
#ifdef STKDR_HAVE_S3
			if (!strcmp(name, "s3")) {
				rc = stkdr__s3_objstore_new((stkdr_objstore **)&be, ctx);
				break;
			}
#endif
			if (strcmp(name, "local"))
				return unknown_backend(keys[kind], name, "local, s3");
			if ((rc = stkdr__cfg_require_str(&path, ctx, "objstore.path")) != 0)
				return rc;
			rc = stkdr__local_objstore_new((stkdr_objstore **)&be, path);
			break;
		case STKDR_BACKEND_SECRETS: {
			if (!strcmp(name, "aws-secretsmanager")) {
				rc = stkdr__aws_secrets_new((stkdr_secrets **)&be, ctx);
				break;
			}
			if (strcmp(name, "local"))
				return unknown_backend(keys[kind], name, "local, aws-secretsmanager");
			if ((rc = stkdr__cfg_require_str(&path, ctx, "secrets.path")) != 0)
				return rc;
			uint8_t mk[32];
			if ((rc = stkdr__ctx_master_key(mk, ctx)) != 0)
				return rc;
			rc = stkdr__local_secrets_new((stkdr_secrets **)&be, path, mk);
			stkdr__wipe(mk, sizeof mk);
			break;
		}
		case STKDR_BACKEND_DNS:
#ifdef STKDR_HAVE_S3
			if (!strcmp(name, "route53")) {
				rc = stkdr__route53_dns_new((stkdr_dns **)&be, ctx);
				break;
			}
#endif
			if (strcmp(name, "local"))
				return unknown_backend(keys[kind], name, "local, route53");
			if ((rc = stkdr__cfg_require_str(&path, ctx, "dns.path")) != 0)
				return rc;
			rc = stkdr__local_dns_new((stkdr_dns **)&be, path);
			break;
		case STKDR_BACKEND_DBPROVIDER: /* local-postgres is the library itself, not a backend */
#ifdef STKDR_HAVE_S3
			if (!strcmp(name, "aws-rds")) {
				rc = stkdr__rds_dbprovider_new((stkdr_dbprovider **)&be, ctx);
				break;
			}
			return unknown_backend(keys[kind], name, "aws-rds");
#else
			return unknown_backend(keys[kind], name, "none: aws-rds needs libxml2 at build time");
#endif
		default:
			return unknown_backend(keys[kind], name, "none yet");
		}
		if (rc)
			return rc;
		if (be->ctl)
			be->ctl(be, STKDR_CTL_ATTACH, ctx);
	}
	ctx->open[kind] = be;
	ctx->open_owned[kind] = owned;
	*out = be;
	return 0;
}

int stkdr__ctx_objstore(stkdr_objstore **out, stkdr_ctx *ctx)
{
	return open_backend((stkdr_backend **)out, ctx, STKDR_BACKEND_OBJSTORE);
}

int stkdr__ctx_secrets(stkdr_secrets **out, stkdr_ctx *ctx)
{
	return open_backend((stkdr_backend **)out, ctx, STKDR_BACKEND_SECRETS);
}

int stkdr__ctx_dns(stkdr_dns **out, stkdr_ctx *ctx)
{
	return open_backend((stkdr_backend **)out, ctx, STKDR_BACKEND_DNS);
}

int stkdr__ctx_dbprovider(stkdr_dbprovider **out, stkdr_ctx *ctx)
{
	return open_backend((stkdr_backend **)out, ctx, STKDR_BACKEND_DBPROVIDER);
}

int stkdr__ctx_master_key(uint8_t out[32], stkdr_ctx *ctx)
{
	const char *b64 = getenv("STKDR_MASTER_KEY");
	const char *secret_name = stkdr__cfg_str(ctx, "keys.master_key_secret");
	stkdr_buf raw = STKDR_BUF_INIT;
	int rc;
	if (b64 && *b64) {
		rc = stkdr__b64_decode(&raw, b64, strlen(b64), 0);
		if (rc || raw.size != 32) {
			stkdr_buf_dispose(&raw);
			return stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_CRYPTO, NULL,
				"STKDR_MASTER_KEY must be 32 random bytes in base64 (44 characters; make one with "
				"`head -c32 /dev/urandom | base64`)");
		}
	} else if (secret_name) {
		stkdr_secrets *s;
		const char *sb = stkdr__cfg_str(ctx, "secrets.backend");
		if (sb && !strcmp(sb, "local"))
			return stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_CONFIG, NULL,
				"keys.master_key_secret cannot be used with the local secrets backend (it is sealed with the "
				"master key itself): set STKDR_MASTER_KEY");
		if ((rc = stkdr__ctx_secrets(&s, ctx)) != 0)
			return rc;
		rc = s->get(&raw, NULL, s, secret_name, NULL, STKDR_STAGE_CURRENT);
		if (rc) {
			stkdr__err_prefix("reading the master key from secret %s", secret_name);
			stkdr_buf_dispose(&raw);
			return rc;
		}
		if (raw.size != 32) {
			stkdr_buf tmp = STKDR_BUF_INIT;
			rc = stkdr__b64_decode(&tmp, raw.ptr, raw.size, 0);
			stkdr_buf_dispose(&raw);
			raw = tmp;
			if (rc || raw.size != 32) {
				stkdr_buf_dispose(&raw);
				return stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_CRYPTO, NULL,
					"secret %s does not hold a master key (32 bytes, raw or base64)", secret_name);
			}
		}
	} else {
		return stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_CONFIG, NULL,
			"no master key: set STKDR_MASTER_KEY to 32 random bytes in base64 (`head -c32 /dev/urandom | base64`) "
			"or name a secret holding it in keys.master_key_secret");
	}
	memcpy(out, raw.ptr, 32);
	stkdr_buf_dispose(&raw);
	return 0;
}
