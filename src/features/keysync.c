/*
 * Key-sync for the Bridge: the JWKS of one project/env from the Hub over HTTPS (libcurl, verification on),
 * validated, cached atomically on disk (0600), refreshed on demand and, rate-limited, on unknown kids.
 * Formats: docs/formats.md, "Signing keys" (JWKS endpoint and cache file).
 */
#include "keys_internal.h"
#include "stkdr/keysync.h"
#include "core/crypto.h"
#include "core/timeutil.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define JWKS_MAX (1024 * 1024)
#define CACHE_FORMAT "stkdr-jwks-cache"

struct stkdr_keysync {
	stkdr_ctx *ctx;
	char *project, *env;
	char *url;
	char *cache_dir;
	char *cache_path;
	char *ca_file;
	int64_t timeout_ms;
	int retries;
	int64_t interval_ms;
	stkdr_jwt_verifier *v;
	char *etag;
	int from_cache;
	int64_t fetches;
	int64_t last_refresh_ms; /* monotonic, of the last unknown-kid refresh; 0 never */
};

int stkdr_keysync_options_init(stkdr_keysync_options *opts, unsigned int version)
{
	int rc = stkdr__options_init(opts, sizeof *opts, version, STKDR_KEYSYNC_OPTIONS_VERSION, "stkdr_keysync_options");
	if (rc)
		return rc;
	opts->retries = -1;
	return 0;
}

void stkdr_keysync_free(stkdr_keysync *ks)
{
	if (!ks)
		return;
	stkdr_jwt_verifier_free(ks->v);
	stkdr__free(ks->project);
	stkdr__free(ks->env);
	stkdr__free(ks->url);
	stkdr__free(ks->cache_dir);
	stkdr__free(ks->cache_path);
	stkdr__free(ks->ca_file);
	stkdr__free(ks->etag);
	stkdr__free(ks);
}

static int name_ok(const char *v)
{
	size_t i;
	if (!v || !*v || strlen(v) > 128)
		return 0;
	for (i = 0; v[i]; i++) {
		char ch = v[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
			    ch == '_' || ch == '.'))
			return 0;
	}
	return strcmp(v, ".") != 0 && strcmp(v, "..") != 0;
}

static int ks_new(stkdr_keysync **out, stkdr_ctx *ctx, const char *project, const char *env,
	const stkdr_keysync_options *opts)
{
	stkdr_keysync_options o;
	stkdr_keysync *ks;
	const char *hub, *dir, *ca;
	size_t hl;
	*out = NULL;
	stkdr_keysync_options_init(&o, STKDR_KEYSYNC_OPTIONS_VERSION);
	if (opts) {
		if (opts->version == 0 || opts->version > STKDR_KEYSYNC_OPTIONS_VERSION)
			return stkdr__seterr(STKDR_EVERSION, STKDR_ERRCLASS_INTERNAL, NULL,
				"stkdr_keysync_options version %u is not supported", opts->version);
		o = *opts;
	}
	if (!name_ok(project) || !name_ok(env))
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_NONE, NULL,
			"key-sync: project and env must be given (letters, digits, '-', '_', '.')");
	hub = o.hub_url ? o.hub_url : stkdr__cfg_str(ctx, "keysync.hub_url");
	dir = o.cache_dir ? o.cache_dir : stkdr__cfg_str(ctx, "keysync.cache_dir");
	ca = o.ca_file ? o.ca_file : stkdr__cfg_str(ctx, "keysync.ca_file");
	if (!hub || !*hub)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL,
			"keysync.hub_url is not set: give the Hub's base URL (https://hub.example.com)");
	if (strncmp(hub, "https://", 8) != 0)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL,
			"keysync.hub_url \"%s\" is not an https:// URL: keys are fetched over HTTPS only", hub);
	if (!dir || !*dir)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL,
			"keysync.cache_dir is not set: give a directory for the last good key set");
	ks = stkdr__calloc(1, sizeof *ks);
	if (!ks)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_NONE, NULL, "out of memory");
	ks->ctx = ctx;
	hl = strlen(hub);
	while (hl > 8 && hub[hl - 1] == '/')
		hl--;
	ks->project = stkdr__strdup(project);
	ks->env = stkdr__strdup(env);
	ks->url = stkdr__aprintf("%.*s/v1/projects/%s/envs/%s/jwks.json", (int)hl, hub, project, env);
	ks->cache_dir = stkdr__strdup(dir);
	ks->cache_path = stkdr__aprintf("%s/jwks-%s-%s.json", dir, project, env);
	ks->ca_file = ca && *ca ? stkdr__strdup(ca) : NULL;
	ks->timeout_ms = o.timeout_ms > 0 ? o.timeout_ms : stkdr__cfg_int(ctx, "keysync.timeout", 10000);
	ks->retries = o.retries >= 0 ? o.retries : (int)stkdr__cfg_int(ctx, "keysync.retries", 3);
	ks->interval_ms = o.refresh_interval_ms > 0 ? o.refresh_interval_ms
						    : stkdr__cfg_int(ctx, "keysync.refresh_interval", 30000);
	if (!ks->project || !ks->env || !ks->url || !ks->cache_dir || !ks->cache_path || (ca && *ca && !ks->ca_file)) {
		stkdr_keysync_free(ks);
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_NONE, NULL, "out of memory");
	}
	*out = ks;
	return 0;
}

int stkdr_keysync_new(stkdr_keysync **out, stkdr_ctx *ctx, const char *project, const char *env,
	const stkdr_keysync_options *opts)
{
	if (!out || !ctx)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_keysync_new: out or ctx is NULL");
	return stkdr__ctx_result(ctx, ks_new(out, ctx, project, env, opts));
}

int stkdr_keysync_from_cache(const stkdr_keysync *ks)
{
	return ks ? ks->from_cache : 0;
}

int64_t stkdr_keysync_key_count(const stkdr_keysync *ks)
{
	return ks ? stkdr_jwt_verifier_count(ks->v) : 0;
}

int64_t stkdr_keysync_fetch_count(const stkdr_keysync *ks)
{
	return ks ? ks->fetches : 0;
}

/* ------------------------------------------------------------------ HTTP */

typedef struct fetch_io {
	stkdr_buf body;
	char etag[256];
	int too_big;
} fetch_io;

static size_t on_body(char *data, size_t size, size_t n, void *p)
{
	fetch_io *io = p;
	size_t len = size * n;
	if (io->body.size + len > JWKS_MAX) {
		io->too_big = 1;
		return 0;
	}
	return stkdr_buf_put(&io->body, data, len) == 0 ? len : 0;
}

static size_t on_header(char *data, size_t size, size_t n, void *p)
{
	fetch_io *io = p;
	size_t len = size * n;
	if (len > 5 && strncasecmp(data, "etag:", 5) == 0) {
		size_t i = 5, e = len;
		while (i < len && (data[i] == ' ' || data[i] == '\t'))
			i++;
		while (e > i && (data[e - 1] == '\r' || data[e - 1] == '\n' || data[e - 1] == ' '))
			e--;
		if (e - i < sizeof io->etag) {
			memcpy(io->etag, data + i, e - i);
			io->etag[e - i] = '\0';
		}
	}
	return len;
}

static void backoff(int attempt)
{
	int64_t cap = 200LL << (attempt < 5 ? attempt : 5);
	uint8_t r[4];
	uint32_t j = 0;
	struct timespec ts;
	if (stkdr__random(r, sizeof r) == 0)
		j = (uint32_t)r[0] | (uint32_t)r[1] << 8 | (uint32_t)r[2] << 16 | (uint32_t)r[3] << 24;
	cap = cap / 2 + (int64_t)(j % (uint32_t)(cap / 2 + 1)); /* "equal jitter" */
	ts.tv_sec = (time_t)(cap / 1000);
	ts.tv_nsec = (long)(cap % 1000) * 1000000L;
	nanosleep(&ts, NULL);
}

/* One GET with retries. *status_out 200 (body in io), 304, or an error. */
static int http_get(long *status_out, fetch_io *io, stkdr_keysync *ks)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	char inm[300], errbuf[CURL_ERROR_SIZE];
	CURLcode cc = CURLE_OK;
	long status = 0;
	int attempt, rc = 0;
	if (!h)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_NET, NULL, "key-sync: cannot create a curl handle");
	if (ks->etag) {
		snprintf(inm, sizeof inm, "If-None-Match: %s", ks->etag);
		hdrs = curl_slist_append(hdrs, inm);
	}
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	for (attempt = 0; attempt <= ks->retries; attempt++) {
		if (attempt)
			backoff(attempt - 1);
		stkdr_buf_dispose(&io->body);
		io->etag[0] = '\0';
		io->too_big = 0;
		errbuf[0] = '\0';
		curl_easy_reset(h);
		curl_easy_setopt(h, CURLOPT_URL, ks->url);
		curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
		if (ks->ca_file)
			curl_easy_setopt(h, CURLOPT_CAINFO, ks->ca_file);
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)ks->timeout_ms);
		curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)ks->timeout_ms);
		curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, io);
		curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(h, CURLOPT_HEADERDATA, io);
		curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
		ks->fetches++;
		cc = curl_easy_perform(h);
		status = 0;
		if (cc == CURLE_OK)
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		/* retry transport failures (but not certificate problems), 5xx and 429 */
		if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE || io->too_big)
			break;
		if (cc == CURLE_OK && status != 429 && status < 500)
			break;
	}
	if (io->too_big)
		rc = stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_NET, NULL, "key-sync: %s: the JWKS is larger than 1 MiB",
			ks->url);
	else if (cc != CURLE_OK)
		rc = stkdr__seterr(cc == CURLE_OPERATION_TIMEDOUT ? STKDR_ETIMEOUT : STKDR_EBACKEND, STKDR_ERRCLASS_NET,
			curl_easy_strerror(cc), "key-sync: GET %s failed after %d attempt(s): %s%s", ks->url,
			attempt > ks->retries ? ks->retries + 1 : attempt + 1, errbuf[0] ? errbuf : curl_easy_strerror(cc),
			cc == CURLE_PEER_FAILED_VERIFICATION ? " (check keysync.ca_file)" : "");
	else if (status == 200 || status == 304)
		*status_out = status;
	else if (status == 404)
		rc = stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_NET, NULL,
			"key-sync: GET %s: 404: the Hub has no keys for %s/%s", ks->url, ks->project, ks->env);
	else if (status == 401 || status == 403)
		rc = stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_NET, NULL, "key-sync: GET %s: HTTP %ld: refused", ks->url,
			status);
	else
		rc = stkdr__seterr(STKDR_EBACKEND, STKDR_ERRCLASS_NET, NULL, "key-sync: GET %s: HTTP %ld", ks->url, status);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	return rc;
}

/* ------------------------------------------------------------------ cache */

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int cache_write(stkdr_keysync *ks, const char *jwks, size_t len, const char *etag)
{
	cJSON *doc = cJSON_CreateObject(), *j = cJSON_ParseWithLength(jwks, len);
	char *text = NULL, *tmp = NULL;
	int fd = -1, rc = 0;
	if (mkdir(ks->cache_dir, 0700) != 0 && errno != EEXIST) {
		rc = stkdr__seterr_os(errno, "key-sync: creating cache directory %s", ks->cache_dir);
		goto out;
	}
	if (!doc || !j) {
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_NONE, NULL, "out of memory");
		goto out;
	}
	cJSON_AddStringToObject(doc, "format", CACHE_FORMAT);
	cJSON_AddNumberToObject(doc, "format_version", 1);
	cJSON_AddStringToObject(doc, "project", ks->project);
	cJSON_AddStringToObject(doc, "env", ks->env);
	cJSON_AddStringToObject(doc, "url", ks->url);
	cJSON_AddStringToObject(doc, "etag", etag ? etag : "");
	cJSON_AddNumberToObject(doc, "fetched_ms", (double)stkdr__time_now_ms());
	cJSON_AddItemToObject(doc, "jwks", j);
	j = NULL;
	text = cJSON_Print(doc);
	tmp = stkdr__aprintf("%s.tmp.%ld", ks->cache_path, (long)getpid());
	if (!text || !tmp) {
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_NONE, NULL, "out of memory");
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write_all(fd, text, strlen(text)) != 0 || fsync(fd) != 0) {
		rc = stkdr__seterr_os(errno, "key-sync: writing cache %s", tmp);
		goto out;
	}
	close(fd);
	fd = -1;
	if (rename(tmp, ks->cache_path) != 0) {
		rc = stkdr__seterr_os(errno, "key-sync: renaming %s to %s", tmp, ks->cache_path);
		goto out;
	}
	fd = open(ks->cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		(void)fsync(fd);
out:
	if (fd >= 0)
		close(fd);
	if (rc && tmp)
		unlink(tmp);
	cJSON_Delete(doc);
	cJSON_Delete(j);
	if (text)
		cJSON_free(text);
	stkdr__free(tmp);
	return rc;
}

/* Loads the cache: a verifier, the etag and the fetch time. */
static int cache_load(stkdr_jwt_verifier **v, char **etag_out, int64_t *fetched_ms, stkdr_keysync *ks)
{
	FILE *f = fopen(ks->cache_path, "rb");
	stkdr_buf b = STKDR_BUF_INIT;
	char tmp[4096];
	size_t n;
	cJSON *doc = NULL;
	const cJSON *fmt, *p, *e, *j, *et, *ft;
	char *jt = NULL;
	int rc = 0;
	*v = NULL;
	*etag_out = NULL;
	if (!f)
		return stkdr__seterr_os(errno, "key-sync: no cache %s", ks->cache_path);
	while ((n = fread(tmp, 1, sizeof tmp, f)) > 0 && b.size < JWKS_MAX * 2)
		if ((rc = stkdr_buf_put(&b, tmp, n)))
			break;
	fclose(f);
	if (rc)
		goto out;
	doc = cJSON_ParseWithLength(b.ptr ? b.ptr : "", b.size);
	fmt = cJSON_GetObjectItemCaseSensitive(doc, "format");
	p = cJSON_GetObjectItemCaseSensitive(doc, "project");
	e = cJSON_GetObjectItemCaseSensitive(doc, "env");
	j = cJSON_GetObjectItemCaseSensitive(doc, "jwks");
	et = cJSON_GetObjectItemCaseSensitive(doc, "etag");
	ft = cJSON_GetObjectItemCaseSensitive(doc, "fetched_ms");
	if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, CACHE_FORMAT) != 0 || !cJSON_IsString(p) ||
		!cJSON_IsString(e) || strcmp(p->valuestring, ks->project) != 0 || strcmp(e->valuestring, ks->env) != 0 ||
		!cJSON_IsObject(j)) {
		rc = stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL,
			"key-sync: cache %s is not a key-set cache of %s/%s", ks->cache_path, ks->project, ks->env);
		goto out;
	}
	jt = cJSON_PrintUnformatted(j);
	if (!jt) {
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_NONE, NULL, "out of memory");
		goto out;
	}
	if ((rc = stkdr__jwt_verifier_new(v, jt, strlen(jt)))) {
		stkdr__err_prefix("key-sync: cache %s", ks->cache_path);
		goto out;
	}
	*fetched_ms = cJSON_IsNumber(ft) ? (int64_t)ft->valuedouble : 0;
	if (cJSON_IsString(et) && *et->valuestring)
		*etag_out = stkdr__strdup(et->valuestring);
out:
	if (jt)
		cJSON_free(jt);
	cJSON_Delete(doc);
	stkdr_buf_dispose(&b);
	return rc;
}

/* ------------------------------------------------------------------ sync */

static int sync_now(stkdr_keysync *ks)
{
	fetch_io io;
	long status = 0;
	stkdr_jwt_verifier *nv = NULL;
	int rc;
	memset(&io, 0, sizeof io);
	rc = http_get(&status, &io, ks);
	if (rc)
		goto out;
	if (status == 304 && ks->v) {
		stkdr__log(ks->ctx, STKDR_LOG_DEBUG, "keysync", "%s/%s: key set unchanged (304)", ks->project, ks->env);
		ks->from_cache = 0;
		goto out;
	}
	if (status == 304) {
		/* we sent an ETag we have no keys for: fetch unconditionally */
		stkdr__free(ks->etag);
		ks->etag = NULL;
		stkdr_buf_dispose(&io.body);
		if ((rc = http_get(&status, &io, ks)))
			goto out;
		if (status != 200) {
			rc = stkdr__seterr(STKDR_EBACKEND, STKDR_ERRCLASS_NET, NULL, "key-sync: GET %s: unexpected 304", ks->url);
			goto out;
		}
	}
	if ((rc = stkdr__jwt_verifier_new(&nv, io.body.ptr, io.body.size))) {
		stkdr__err_prefix("key-sync: the JWKS from %s was refused", ks->url);
		goto out;
	}
	if ((rc = cache_write(ks, io.body.ptr, io.body.size, io.etag))) {
		stkdr_jwt_verifier_free(nv);
		goto out;
	}
	stkdr_jwt_verifier_free(ks->v);
	ks->v = nv;
	stkdr__free(ks->etag);
	ks->etag = io.etag[0] ? stkdr__strdup(io.etag) : NULL;
	ks->from_cache = 0;
	stkdr__log(ks->ctx, STKDR_LOG_INFO, "keysync", "%s/%s: %lld key(s) synced from %s", ks->project, ks->env,
		(long long)stkdr_jwt_verifier_count(nv), ks->url);
out:
	stkdr_buf_dispose(&io.body);
	return rc;
}

static int do_start(stkdr_keysync *ks)
{
	stkdr_jwt_verifier *cv = NULL;
	char *etag = NULL;
	int64_t fetched = 0;
	int rc, crc;
	char msg[768];
	/* the cache first, so that its ETag makes the fetch conditional */
	crc = cache_load(&cv, &etag, &fetched, ks);
	if (!crc) {
		ks->v = cv;
		ks->etag = etag;
	}
	/* With a usable cache, one attempt: a Bridge restarts at once from the cache when the Hub is down
	 * (no backoff), and refreshes on the first unknown kid or a force-sync. */
	{
		int retries = ks->retries;
		if (!crc)
			ks->retries = 0;
		rc = sync_now(ks);
		ks->retries = retries;
	}
	if (!rc)
		return 0;
	snprintf(msg, sizeof msg, "%s", stkdr__err_get()->message);
	if (!crc) {
		char t[40];
		stkdr__time_format_rfc3339(t, sizeof t, fetched);
		ks->from_cache = 1;
		stkdr__log(ks->ctx, STKDR_LOG_WARN, "keysync",
			"%s/%s: the Hub is unreachable (%s): starting from the cached key set of %s (%lld keys)", ks->project,
			ks->env, msg, t, (long long)stkdr_jwt_verifier_count(ks->v));
		stkdr_error_clear();
		return 0;
	}
	return stkdr__seterr(rc, stkdr__err_get()->klass, NULL, "%s; and no usable cache at %s", msg, ks->cache_path);
}

int stkdr_keysync_start(stkdr_keysync *ks)
{
	if (!ks)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_keysync_start: ks is NULL");
	return stkdr__ctx_result(ks->ctx, do_start(ks));
}

int stkdr_keysync_force(stkdr_keysync *ks)
{
	if (!ks)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_keysync_force: ks is NULL");
	return stkdr__ctx_result(ks->ctx, sync_now(ks));
}

static int do_verify(stkdr_buf *claims_out, stkdr_keysync *ks, const char *token, const stkdr_jwt_verify_options *opts)
{
	int rc;
	int64_t now;
	if (!ks->v)
		return stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_NONE, NULL,
			"key-sync: no key set loaded: call stkdr_keysync_start() first");
	rc = stkdr__jwt_verify(claims_out, ks->ctx, ks->v, token, opts);
	if (rc != STKDR_ENOTFOUND)
		return rc;
	now = stkdr__time_mono_ms();
	if (ks->last_refresh_ms && now - ks->last_refresh_ms < ks->interval_ms)
		return rc; /* rate-limited: keep the "unknown kid" error */
	ks->last_refresh_ms = now ? now : 1;
	stkdr__log(ks->ctx, STKDR_LOG_INFO, "keysync", "%s/%s: unknown kid: refreshing the key set", ks->project, ks->env);
	if (sync_now(ks) != 0) {
		stkdr__err_prefix("token kid unknown and the refresh failed");
		return STKDR_ENOTFOUND;
	}
	return stkdr__jwt_verify(claims_out, ks->ctx, ks->v, token, opts);
}

int stkdr_keysync_verify(stkdr_buf *claims_out, stkdr_keysync *ks, const char *token,
	const stkdr_jwt_verify_options *opts)
{
	if (!ks)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_keysync_verify: ks is NULL");
	return stkdr__ctx_result(ks->ctx, do_verify(claims_out, ks, token, opts));
}
