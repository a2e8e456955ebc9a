/*
 * Temporary AWS credentials, the last links of the standard chain (after the environment and the shared
 * files, in botocore's order):
 *
 *   container  AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (http://169.254.170.2 + it: ECS task roles) or
 *              AWS_CONTAINER_CREDENTIALS_FULL_URI (https, or http to a loopback or the ECS/EKS agent
 *              addresses only), with an Authorization header from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
 *              or AWS_CONTAINER_AUTHORIZATION_TOKEN (EKS Pod Identity).
 *   instance   EC2 instance role through IMDSv2: PUT /latest/api/token (X-aws-ec2-metadata-token-ttl-seconds),
 *              then GET /latest/meta-data/iam/security-credentials/ (the role name) and .../<role> (the JSON
 *              document) with X-aws-ec2-metadata-token. Endpoint AWS_EC2_METADATA_SERVICE_ENDPOINT (default
 *              http://169.254.169.254), skipped with AWS_EC2_METADATA_DISABLED=true; per-request timeout
 *              AWS_METADATA_SERVICE_TIMEOUT seconds (1) and AWS_METADATA_SERVICE_NUM_ATTEMPTS (1). A token
 *              refused with 401 (expired) is fetched again once; 403/404/405 on the token PUT means an
 *              IMDSv1-only service: the GETs go without a token.
 *
 *   process    a profile's credential_process (stkdr__aws_creds_process): run through /bin/sh, its stdout a
 *              JSON document {"Version": 1, "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}
 *              (stderr passes through), within PROCESS_TIMEOUT_MS; run again before Expiration.
 *   role       a profile's role_arn (stkdr__aws_creds_assume_role): STS AssumeRole signed with the source
 *              credentials (source_profile's keys, or credential_source Environment/Ec2InstanceMetadata/
 *              EcsContainer), at AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL or https://sts.<region>.amazonaws.com;
 *              the XML answer's Credentials (SessionToken for Token).
 *
 * The first two answer {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}. The credentials are kept until
 * Expiration minus REFRESH_MARGIN_MS and then fetched again, under a mutex, by whichever request signs
 * first (stkdr__aws_creds_lock); if the refresh fails while the old ones are still valid they go on being
 * used. A refresh that returns credentials already inside the margin is not retried for RETRY_MS (the
 * instance metadata service rotates them only shortly before expiry). Nothing secret is ever logged or
 * put in a message: only the endpoint, the role name and the HTTP status.
 */
#include "backends/aws/aws.h"
#include "core/crypto.h"
#include "core/timeutil.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#define REFRESH_MARGIN_MS (10 * 60 * 1000LL) /* botocore's mandatory refresh */
#define RETRY_MS (60 * 1000LL)
#define IMDS_TOKEN_TTL_S 21600
#define MAX_BODY (64 * 1024)

enum { PROV_CONTAINER = 1, PROV_IMDS = 2, PROV_ROLE = 3, PROV_PROCESS = 4 };
#define PROCESS_TIMEOUT_MS (60 * 1000LL)

typedef struct stkdr__aws_refresh {
	pthread_mutex_t mu;
	int provider;
	char *uri;           /* container: the full URI; IMDS: the endpoint without trailing '/' */
	char *role;          /* IMDS: the role name (not secret) */
	char *imds_token;    /* IMDS: session token (secret) */
	int64_t token_expires_ms;
	int imds_v1;         /* the service refused the token PUT: IMDSv1 */
	int64_t next_try_ms; /* no refresh before then (see RETRY_MS) */
	/* PROV_ROLE: uri is the STS URL, role the role ARN */
	stkdr__aws_creds *source; /* what signs AssumeRole (owned) */
	char *sts_host;
	char *session_name;
	char *external_id;
	int duration_s;
	char region[64];
} stkdr__aws_refresh;

typedef struct body {
	char *p;
	size_t n;
	int overflow;
} body;

static size_t sink(char *p, size_t size, size_t nmemb, void *ud)
{
	body *b = ud;
	size_t k = size * nmemb;
	if (b->n + k > MAX_BODY) {
		b->overflow = 1;
		return 0;
	}
	char *np = stkdr__realloc(b->p, b->n + k + 1);
	if (!np)
		return 0;
	memcpy(np + b->n, p, k);
	b->n += k;
	np[b->n] = '\0';
	b->p = np;
	return k;
}

static void body_free(body *b)
{
	if (b->p) {
		stkdr__wipe(b->p, b->n);
		stkdr__free(b->p);
	}
	memset(b, 0, sizeof *b);
}

static long env_long(const char *name, long dflt, long lo, long hi)
{
	const char *v = getenv(name);
	if (!v || !*v)
		return dflt;
	char *end;
	long x = strtol(v, &end, 10);
	return *end || x < lo || x > hi ? dflt : x;
}

/*
 * One HTTP request without retries of the HTTP layer (these endpoints are local and answer at once or
 * not at all). `headers` NULL-terminated; `put` sends an empty PUT. Returns the status (0: no answer).
 */
static long fetch(body *out, const char *url, const char *const *headers, int put, long timeout_s)
{
	memset(out, 0, sizeof *out);
	CURL *c = curl_easy_init();
	if (!c)
		return 0;
	struct curl_slist *hl = NULL;
	for (size_t i = 0; headers && headers[i]; i++) {
		struct curl_slist *nl = curl_slist_append(hl, headers[i]);
		if (!nl) {
			curl_slist_free_all(hl);
			curl_easy_cleanup(c);
			return 0;
		}
		hl = nl;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_s * 1000L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_s * 1000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*"); /* link-local and loopback endpoints: never through a proxy */
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (put) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
	}
	long status = 0;
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	if (status == 0)
		body_free(out);
	return status;
}

/* Parses the credentials document into `out` (access/secret/token/expiry); EAUTH naming `what` if unusable. */
static int parse_doc(stkdr__aws_creds *out, const body *b, const char *what)
{
	cJSON *j = b->p ? cJSON_ParseWithLength(b->p, b->n) : NULL;
	const cJSON *ak = cJSON_GetObjectItemCaseSensitive(j, "AccessKeyId");
	const cJSON *sk = cJSON_GetObjectItemCaseSensitive(j, "SecretAccessKey");
	const cJSON *tk = cJSON_GetObjectItemCaseSensitive(j, "Token");
	if (!tk)
		tk = cJSON_GetObjectItemCaseSensitive(j, "SessionToken"); /* credential_process */
	const cJSON *ver = cJSON_GetObjectItemCaseSensitive(j, "Version");
	const cJSON *ex = cJSON_GetObjectItemCaseSensitive(j, "Expiration");
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "Code");
	int rc = 0;
	int64_t exp = 0;
	if (!j)
		rc = stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_AWS, "MalformedResponse",
			"%s: the credentials document is not JSON", what);
	else if (ver && (!cJSON_IsNumber(ver) || ver->valuedouble != 1))
		rc = stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_AWS, "MalformedResponse",
			"%s: the credentials document's Version is not 1", what);
	else if (cJSON_IsString(code) && strcmp(code->valuestring, "Success") != 0)
		rc = stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_AWS, "CredentialsUnavailable",
			"%s: the credentials document says Code \"%.64s\"", what, code->valuestring);
	else if (!cJSON_IsString(ak) || !*ak->valuestring || !cJSON_IsString(sk) || !*sk->valuestring)
		rc = stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_AWS, "MalformedResponse",
			"%s: the credentials document has no AccessKeyId/SecretAccessKey", what);
	else if (cJSON_IsString(ex) && stkdr__time_parse_rfc3339(&exp, ex->valuestring) != 0)
		rc = stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_AWS, "MalformedResponse",
			"%s: the credentials' Expiration \"%.40s\" is not an RFC 3339 time", what, ex->valuestring);
	if (rc == 0) {
		out->access_key = stkdr__strdup(ak->valuestring);
		out->secret_key = stkdr__strdup(sk->valuestring);
		out->session_token = cJSON_IsString(tk) && *tk->valuestring ? stkdr__strdup(tk->valuestring) : NULL;
		out->expires_ms = exp;
		if (!out->access_key || !out->secret_key || (cJSON_IsString(tk) && *tk->valuestring && !out->session_token))
			rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory reading credentials");
	}
	if (j) {
		/* wipe the secrets in cJSON's copy before freeing it */
		if (cJSON_IsString(sk))
			stkdr__wipe(sk->valuestring, strlen(sk->valuestring));
		if (cJSON_IsString(tk))
			stkdr__wipe(tk->valuestring, strlen(tk->valuestring));
		cJSON_Delete(j);
	}
	return rc;
}

/* ---- container credentials ---- */

static int host_allowed(const char *uri)
{
	if (strncasecmp(uri, "https://", 8) == 0)
		return 1;
	if (strncasecmp(uri, "http://", 7) != 0)
		return 0;
	const char *h = uri + 7;
	size_t n = *h == '[' ? strcspn(h, "]") + 1 : strcspn(h, ":/?#");
	if (n == 0 || n >= 64 || (*h == '[' && h[n - 1] != ']'))
		return 0;
	char host[64];
	memcpy(host, h, n);
	host[n] = '\0';
	const char *allowed[] = { "localhost", "[::1]", "169.254.170.2", "169.254.170.23", "[fd00:ec2::23]" };
	for (size_t i = 0; i < STKDR__ARRAY_SIZE(allowed); i++)
		if (strcasecmp(host, allowed[i]) == 0)
			return 1;
	struct in_addr a4;
	return inet_pton(AF_INET, host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127; /* 127.0.0.0/8 */
}

static int container_fetch(stkdr__aws_creds *out, const char *uri)
{
	char *token = NULL;
	const char *tfile = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	if (tfile && *tfile) {
		FILE *f = fopen(tfile, "r");
		char buf[4096];
		size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
		if (f)
			fclose(f);
		if (!f)
			return stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_AWS, "NoCredentials",
				"container credentials: cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE %s", tfile);
		buf[n] = '\0';
		while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
			buf[--n] = '\0';
		token = stkdr__strdup(buf);
		stkdr__wipe(buf, sizeof buf);
	} else if (getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN") && *getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN")) {
		token = stkdr__strdup(getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN"));
	}
	if (token && strpbrk(token, "\r\n")) {
		stkdr__wipe(token, strlen(token));
		stkdr__free(token);
		return stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_AWS, "NoCredentials",
			"container credentials: the authorization token contains a line break");
	}
	char *auth = token ? stkdr__aprintf("Authorization: %s", token) : NULL;
	const char *hdr[] = { "Accept: application/json", auth, NULL };
	body b;
	long st = 0;
	for (int attempt = 0; attempt < 3 && (st == 0 || st >= 500); attempt++) {
		if (attempt)
			body_free(&b);
		st = fetch(&b, uri, hdr, 0, 2);
	}
	if (auth) {
		stkdr__wipe(auth, strlen(auth));
		stkdr__free(auth);
	}
	if (token) {
		stkdr__wipe(token, strlen(token));
		stkdr__free(token);
	}
	int rc;
	if (st != 200) {
		if (st)
			rc = stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_AWS, "NoCredentials",
				"container credentials: %s answered HTTP %ld; check the task role or pod identity association "
				"and the authorization token", uri, st);
		else
			rc = stkdr__seterr(STKDR_EBACKEND, STKDR_ERRCLASS_AWS, "NoCredentials",
				"container credentials: %s did not answer; check AWS_CONTAINER_CREDENTIALS_RELATIVE_URI / "
				"_FULL_URI", uri);
	} else {
		rc = parse_doc(out, &b, "container credentials");
	}
	body_free(&b);
	if (rc == 0)
		snprintf(out->source, sizeof out->source, "container credentials");
	return rc;
}

/* ---- instance metadata (IMDSv2) ---- */

static int imds_token(stkdr__aws_refresh *r, long timeout)
{
	if (r->imds_v1 || (r->imds_token && stkdr__time_now_ms() < r->token_expires_ms - 60000))
		return 0;
	if (r->imds_token) {
		stkdr__wipe(r->imds_token, strlen(r->imds_token));
		stkdr__free(r->imds_token);
		r->imds_token = NULL;
	}
	char *url = stkdr__aprintf("%s/latest/api/token", r->uri);
	char ttl[64];
	snprintf(ttl, sizeof ttl, "X-aws-ec2-metadata-token-ttl-seconds: %d", IMDS_TOKEN_TTL_S);
	const char *hdr[] = { ttl, NULL };
	body b;
	long st = url ? fetch(&b, url, hdr, 1, timeout) : 0;
	stkdr__free(url);
	int rc = 0;
	if (st == 200 && b.p && b.n) {
		r->imds_token = stkdr__strndup(b.p, b.n);
		r->token_expires_ms = stkdr__time_now_ms() + IMDS_TOKEN_TTL_S * 1000LL;
		if (!r->imds_token)
			rc = STKDR_ENOMEM;
	} else if (st == 403 || st == 404 || st == 405) {
		r->imds_v1 = 1; /* an IMDSv1-only service (or a proxy that refuses PUT): go on without a token */
	} else {
		rc = st ? STKDR_EAUTH : STKDR_EBACKEND;
	}
	body_free(&b);
	return rc;
}

/* GET of a metadata path with the session token; on 401 (the token expired) once more with a new one. */
static long imds_get(body *out, stkdr__aws_refresh *r, const char *path, long timeout, int attempts)
{
	long st = 0;
	for (int tries = 0; tries < 2; tries++) {
		int trc = imds_token(r, timeout);
		if (trc)
			return trc == STKDR_EBACKEND ? 0 : -1;
		char *url = stkdr__aprintf("%s%s", r->uri, path);
		char *th = r->imds_token ? stkdr__aprintf("X-aws-ec2-metadata-token: %s", r->imds_token) : NULL;
		const char *hdr[] = { th, NULL };
		st = 0;
		for (int a = 0; url && a < attempts && (st == 0 || st >= 500); a++) {
			if (a)
				body_free(out);
			st = fetch(out, url, hdr, 0, timeout);
		}
		stkdr__free(url);
		if (th) {
			stkdr__wipe(th, strlen(th));
			stkdr__free(th);
		}
		if (st != 401 || !r->imds_token)
			return st;
		body_free(out);
		stkdr__wipe(r->imds_token, strlen(r->imds_token));
		stkdr__free(r->imds_token);
		r->imds_token = NULL;
	}
	return st;
}

static int imds_fetch(stkdr__aws_creds *out, stkdr__aws_refresh *r)
{
	long timeout = env_long("AWS_METADATA_SERVICE_TIMEOUT", 1, 1, 60);
	int attempts = (int)env_long("AWS_METADATA_SERVICE_NUM_ATTEMPTS", 1, 1, 10);
	body b;
	long st;
	if (!r->role) {
		st = imds_get(&b, r, "/latest/meta-data/iam/security-credentials/", timeout, attempts);
		if (st == 0)
			return stkdr__seterr(STKDR_EBACKEND, STKDR_ERRCLASS_AWS, "NoCredentials",
				"the instance metadata service at %s did not answer", r->uri);
		if (st < 0)
			return stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_AWS, "NoCredentials",
				"the instance metadata service at %s refused the session token request (PUT /latest/api/token)",
				r->uri);
		if (st != 200 || !b.p || !b.n) {
			body_free(&b);
			return stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_AWS, "NoCredentials",
				"the instance metadata service at %s has no instance role (security-credentials: HTTP %ld); "
				"attach an IAM role to the instance", r->uri, st);
		}
		size_t n = strcspn(b.p, "\r\n");
		r->role = stkdr__strndup(b.p, n);
		body_free(&b);
		if (!r->role)
			return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory reading credentials");
		if (!*r->role || strchr(r->role, '/')) {
			stkdr__free(r->role);
			r->role = NULL;
			return stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_AWS, "MalformedResponse",
				"the instance metadata service at %s answered an invalid role name", r->uri);
		}
	}
	char *path = stkdr__aprintf("/latest/meta-data/iam/security-credentials/%s", r->role);
	if (!path)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory reading credentials");
	st = imds_get(&b, r, path, timeout, attempts);
	stkdr__free(path);
	int rc;
	if (st == 200) {
		char what[256];
		snprintf(what, sizeof what, "instance metadata %s (role %s)", r->uri, r->role);
		rc = parse_doc(out, &b, what);
	} else if (st == 404) { /* the role was replaced: find it again next time */
		rc = stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_AWS, "NoCredentials",
			"the instance metadata service at %s has no credentials for role %s (HTTP 404)", r->uri, r->role);
		stkdr__free(r->role);
		r->role = NULL;
	} else if (st < 0) {
		rc = stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_AWS, "NoCredentials",
			"the instance metadata service at %s refused the session token request (PUT /latest/api/token)", r->uri);
	} else {
		rc = stkdr__seterr(st ? STKDR_EAUTH : STKDR_EBACKEND, STKDR_ERRCLASS_AWS, "NoCredentials",
			"the instance metadata service at %s: credentials of role %s: %s%ld", r->uri, r->role,
			st ? "HTTP " : "no answer", st ? st : 0L);
	}
	body_free(&b);
	if (rc == 0)
		snprintf(out->source, sizeof out->source, "instance role %.40s", r->role);
	return rc;
}

/* ---- the providers behind stkdr__aws_creds_load ---- */

static int provider_fetch(stkdr__aws_creds *out, stkdr__aws_refresh *r);
static void set_next_try(stkdr__aws_refresh *r, const stkdr__aws_creds *c);
static void refresh_free(stkdr__aws_refresh *r);

/* Ends a provider's set-up after its first fetch (result `rc`): on failure frees `r` and what `out` got;
 * else `out` keeps `r`, to fetch again before they expire. */
static int adopt(stkdr__aws_creds *out, stkdr__aws_refresh *r, int rc)
{
	if (rc) {
		stkdr__aws_creds_clear(out);
		refresh_free(r);
		return rc;
	}
	set_next_try(r, out);
	out->refresh = r;
	return 0;
}

static void refresh_free(stkdr__aws_refresh *r)
{
	if (!r)
		return;
	pthread_mutex_destroy(&r->mu);
	if (r->imds_token) {
		stkdr__wipe(r->imds_token, strlen(r->imds_token));
		stkdr__free(r->imds_token);
	}
	stkdr__free(r->uri);
	stkdr__free(r->role);
	if (r->source) {
		stkdr__aws_creds_clear(r->source);
		stkdr__free(r->source);
	}
	stkdr__free(r->sts_host);
	stkdr__free(r->session_name);
	stkdr__free(r->external_id);
	stkdr__free(r);
}

void stkdr__aws_creds_refresh_free(struct stkdr__aws_refresh *r)
{
	refresh_free(r);
}

/* ---- credential_process ---- */

/* Runs `cmd` through /bin/sh with stdout into `out` (at most MAX_BODY) and stderr inherited. */
static int process_fetch(stkdr__aws_creds *out, const stkdr__aws_refresh *r)
{
	char what[160];
	snprintf(what, sizeof what, "the credential_process of AWS profile '%.64s'", r->role);
	int p[2];
	if (pipe2(p, O_CLOEXEC) != 0)
		return stkdr__seterr_os(errno, "running %s", what);
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(p[0]);
		close(p[1]);
		return stkdr__seterr_os(e, "running %s", what);
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0)
			dup2(devnull, 0);
		dup2(p[1], 1);
		execl("/bin/sh", "sh", "-c", r->uri, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	body b = { NULL, 0, 0 };
	int64_t deadline = stkdr__time_mono_ms() + PROCESS_TIMEOUT_MS;
	int timed_out = 0, rc = 0;
	for (;;) {
		int64_t left = deadline - stkdr__time_mono_ms();
		if (left <= 0) {
			timed_out = 1;
			break;
		}
		struct pollfd pf = { p[0], POLLIN, 0 };
		int n = poll(&pf, 1, (int)(left > 1000 ? 1000 : left));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			continue;
		char buf[4096];
		ssize_t k = read(p[0], buf, sizeof buf);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		if (sink(buf, 1, (size_t)k, &b) != (size_t)k) {
			stkdr__wipe(buf, sizeof buf);
			rc = stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_AWS, "MalformedResponse", "%s wrote more than %d bytes",
				what, MAX_BODY);
			break;
		}
		stkdr__wipe(buf, sizeof buf);
	}
	close(p[0]);
	if (timed_out || rc)
		kill(pid, SIGKILL);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!rc && timed_out)
		rc = stkdr__seterr(STKDR_ETIMEOUT, STKDR_ERRCLASS_AWS, "NoCredentials", "%s did not finish within %lld s",
			what, (long long)(PROCESS_TIMEOUT_MS / 1000));
	else if (!rc && (!WIFEXITED(st) || WEXITSTATUS(st) != 0))
		rc = stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_AWS, "NoCredentials",
			"%s failed (%s %d; its messages are on standard error)", what,
			WIFEXITED(st) ? "exit status" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	else if (!rc)
		rc = parse_doc(out, &b, what);
	body_free(&b);
	if (!rc)
		snprintf(out->source, sizeof out->source, "credential_process (profile %.20s)", r->role);
	return rc;
}

int stkdr__aws_creds_process(stkdr__aws_creds *out, const char *profile, const char *command)
{
	memset(out, 0, sizeof *out);
	stkdr__aws_refresh *r = stkdr__calloc(1, sizeof *r);
	if (!r)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory reading credentials");
	pthread_mutex_init(&r->mu, NULL);
	r->provider = PROV_PROCESS;
	r->uri = stkdr__strdup(command);
	r->role = stkdr__strdup(profile);
	int rc = !r->uri || !r->role ? stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory reading credentials")
		: provider_fetch(out, r);
	if (rc == 0 && !out->expires_ms) { /* no Expiration: static, never run again */
		refresh_free(r);
		return 0;
	}
	return adopt(out, r, rc);
}

/* ---- AssumeRole ---- */

#ifdef STKDR_HAVE_S3
static int role_error(const stkdr__aws_refresh *r, const stkdr__http_resp *resp)
{
	char code[128] = "", msg[512] = "";
	xmlDocPtr d = stkdr__aws_xml_parse(&resp->body, "sts-error.xml");
	xmlNodePtr root = d ? xmlDocGetRootElement(d) : NULL;
	xmlNodePtr e = root ? stkdr__aws_xml_child(root, "Error") : NULL;
	if (e) {
		stkdr__aws_xml_text(code, sizeof code, e, "Code");
		stkdr__aws_xml_text(msg, sizeof msg, e, "Message");
	}
	if (d)
		xmlFreeDoc(d);
	if (!code[0])
		snprintf(code, sizeof code, "HTTP%ld", resp->status);
	int auth = resp->status == 403 || !strcmp(code, "AccessDenied") || !strcmp(code, "InvalidClientTokenId") ||
		!strcmp(code, "SignatureDoesNotMatch") || !strcmp(code, "ExpiredToken");
	return stkdr__seterr(auth || resp->status < 500 ? STKDR_EAUTH : STKDR_EBACKEND, STKDR_ERRCLASS_AWS, code,
		"STS AssumeRole %s (signed with the %s credentials): %s (HTTP %ld)%s%.400s%s", r->role, r->source->source,
		code, resp->status, msg[0] ? ": " : "", msg,
		auth ? "; check the role's trust policy and the source's sts:AssumeRole permission" : "");
}

static void role_error_code(char *code, size_t cap, const stkdr__http_resp *resp, void *payload)
{
	(void)payload;
	code[0] = '\0';
	xmlDocPtr d = stkdr__aws_xml_parse(&resp->body, "sts-error.xml");
	xmlNodePtr root = d ? xmlDocGetRootElement(d) : NULL;
	xmlNodePtr e = root ? stkdr__aws_xml_child(root, "Error") : NULL;
	if (e)
		stkdr__aws_xml_text(code, cap, e, "Code");
	if (d)
		xmlFreeDoc(d);
}

static int role_fetch(stkdr__aws_creds *out, stkdr__aws_refresh *r)
{
	char dur[16];
	snprintf(dur, sizeof dur, "%d", r->duration_s);
	stkdr__aws_kv kv[4] = { { "RoleArn", r->role }, { "RoleSessionName", r->session_name },
		{ "DurationSeconds", dur }, { "ExternalId", r->external_id } };
	char what[300];
	snprintf(what, sizeof what, "STS AssumeRole %s", r->role);
	stkdr__http_policy pol;
	stkdr__http_policy_default(&pol);
	pol.timeout_ms = 60000;
	stkdr__http *h = stkdr__http_new(&pol);
	stkdr__http_resp resp;
	memset(&resp, 0, sizeof resp);
	int rc = h ? 0 : STKDR_ENOMEM;
	if (rc == 0) {
		/* signed with the source credentials under their lock (the sign callback takes it: a source that
		 * refreshes itself, e.g. an instance role, must not be locked here too) */
		stkdr__aws_query_req q = { h, NULL, r->source, r->uri, r->sts_host, r->region, "sts", "2011-06-15",
			"AssumeRole", kv, r->external_id ? 4 : 3, what, role_error_code };
		rc = stkdr__aws_query(&resp, &q);
	}
	xmlDocPtr d = NULL;
	if (rc == 0 && resp.status != 200)
		rc = role_error(r, &resp);
	else if (rc == 0) {
		stkdr__aws_xml_init();
		d = stkdr__aws_xml_parse(&resp.body, "sts.xml");
		xmlNodePtr root = d ? xmlDocGetRootElement(d) : NULL;
		xmlNodePtr res = root ? stkdr__aws_xml_child(root, "AssumeRoleResult") : NULL;
		xmlNodePtr cr = res ? stkdr__aws_xml_child(res, "Credentials") : NULL;
		char ak[256], sk[256], tok[4096], exp[64];
		int64_t exp_ms = 0;
		/* (stkdr__aws_xml_text: 1 when the element is there) */
		if (!cr || !stkdr__aws_xml_text(ak, sizeof ak, cr, "AccessKeyId") || !stkdr__aws_xml_text(sk, sizeof sk, cr,
			"SecretAccessKey") || !stkdr__aws_xml_text(tok, sizeof tok, cr, "SessionToken") ||
			!stkdr__aws_xml_text(exp, sizeof exp, cr, "Expiration") || !ak[0] || !sk[0] ||
			stkdr__time_parse_rfc3339(&exp_ms, exp) != 0)
			rc = stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_AWS, "MalformedResponse",
				"%s: the answer has no complete AssumeRoleResult/Credentials", what);
		else {
			out->access_key = stkdr__strdup(ak);
			out->secret_key = stkdr__strdup(sk);
			out->session_token = tok[0] ? stkdr__strdup(tok) : NULL;
			out->expires_ms = exp_ms;
			if (!out->access_key || !out->secret_key || (tok[0] && !out->session_token))
				rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory reading credentials");
		}
		stkdr__wipe(sk, sizeof sk);
		stkdr__wipe(tok, sizeof tok);
	}
	if (d)
		xmlFreeDoc(d);
	/* the answer holds the new secret key */
	if (resp.body.ptr)
		stkdr__wipe(resp.body.ptr, resp.body.size);
	stkdr__http_resp_dispose(&resp);
	stkdr__http_free(h);
	if (rc == 0)
		snprintf(out->source, sizeof out->source, "role %.50s", strrchr(r->role, '/') ? strrchr(r->role, '/') + 1 : r->role);
	return rc;
}
#endif

int stkdr__aws_creds_assume_role(stkdr__aws_creds *out, stkdr__aws_creds *source, const stkdr__aws_role *role)
{
	memset(out, 0, sizeof *out);
#ifndef STKDR_HAVE_S3
	(void)role;
	stkdr__aws_creds_clear(source);
	return stkdr__seterr(STKDR_ENOTSUPPORTED, STKDR_ERRCLASS_CONFIG, NULL,
		"the profile's role_arn needs STS, whose answers are XML: this libstkdr was built without libxml2");
#else
	stkdr__aws_refresh *r = stkdr__calloc(1, sizeof *r);
	stkdr__aws_creds *src = stkdr__calloc(1, sizeof *src);
	if (!r || !src) {
		stkdr__free(r);
		stkdr__free(src);
		stkdr__aws_creds_clear(source);
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory reading credentials");
	}
	pthread_mutex_init(&r->mu, NULL);
	*src = *source; /* moved */
	memset(source, 0, sizeof *source);
	r->source = src;
	r->provider = PROV_ROLE;
	r->duration_s = role->duration_s > 0 ? role->duration_s : 3600;
	snprintf(r->region, sizeof r->region, "%s", role->region);
	const char *ep = getenv("AWS_ENDPOINT_URL_STS");
	if (!ep || !*ep)
		ep = getenv("AWS_ENDPOINT_URL");
	char *url = ep && *ep ? stkdr__strdup(ep) : stkdr__aprintf("https://sts.%s.amazonaws.com/", r->region);
	const char *hp = url ? strstr(url, "://") : NULL;
	r->uri = url;
	r->sts_host = hp ? stkdr__strndup(hp + 3, strcspn(hp + 3, "/")) : NULL;
	r->role = stkdr__strdup(role->role_arn);
	r->session_name = role->session_name && *role->session_name ? stkdr__strdup(role->session_name)
		: stkdr__aprintf("stkdr-%lld", (long long)(stkdr__time_now_ms() / 1000));
	r->external_id = role->external_id && *role->external_id ? stkdr__strdup(role->external_id) : NULL;
	int rc = 0;
	if (!r->uri || !r->role || !r->session_name || (role->external_id && *role->external_id && !r->external_id))
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory reading credentials");
	else if (!hp || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) || !r->sts_host || !*r->sts_host)
		rc = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL,
			"the STS endpoint '%.200s' (AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL) is not an http(s) URL", url);
	if (rc == 0)
		rc = provider_fetch(out, r);
	return adopt(out, r, rc);
#endif
}

static int provider_fetch(stkdr__aws_creds *out, stkdr__aws_refresh *r)
{
	memset(out, 0, sizeof *out);
#ifdef STKDR_HAVE_S3
	if (r->provider == PROV_ROLE)
		return role_fetch(out, r);
#endif
	if (r->provider == PROV_PROCESS)
		return process_fetch(out, r);
	return r->provider == PROV_CONTAINER ? container_fetch(out, r->uri) : imds_fetch(out, r);
}

static void set_next_try(stkdr__aws_refresh *r, const stkdr__aws_creds *c)
{
	int64_t now = stkdr__time_now_ms();
	r->next_try_ms = c->expires_ms && c->expires_ms - REFRESH_MARGIN_MS <= now ? now + RETRY_MS : 0;
}

int stkdr__aws_creds_load_temporary(stkdr__aws_creds *out, char *tried, size_t tried_cap)
{
	memset(out, 0, sizeof *out);
	stkdr__aws_refresh *r = stkdr__calloc(1, sizeof *r);
	if (!r)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory reading credentials");
	pthread_mutex_init(&r->mu, NULL);
	const char *rel = getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *full = getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	int rc;
	if ((rel && *rel) || (full && *full)) {
		r->provider = PROV_CONTAINER;
		if (rel && *rel) {
			r->uri = stkdr__aprintf("http://169.254.170.2%s%s", *rel == '/' ? "" : "/", rel);
		} else if (!host_allowed(full)) {
			refresh_free(r);
			return stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_AWS, "NoCredentials",
				"AWS_CONTAINER_CREDENTIALS_FULL_URI %s is refused: it must be https, or http to a loopback "
				"address or to the ECS/EKS credentials agent (169.254.170.2, 169.254.170.23)", full);
		} else {
			r->uri = stkdr__strdup(full);
		}
		if (!r->uri) {
			refresh_free(r);
			return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory reading credentials");
		}
		rc = provider_fetch(out, r);
	} else {
		const char *dis = getenv("AWS_EC2_METADATA_DISABLED");
		if (dis && strcasecmp(dis, "true") == 0) {
			snprintf(tried, tried_cap, "; the instance metadata service is disabled (AWS_EC2_METADATA_DISABLED)");
			refresh_free(r);
			return STKDR_ENOTFOUND;
		}
		const char *ep = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
		if (!ep || !*ep)
			ep = "http://169.254.169.254";
		size_t n = strlen(ep);
		while (n && ep[n - 1] == '/')
			n--;
		r->provider = PROV_IMDS;
		r->uri = stkdr__strndup(ep, n);
		if (!r->uri) {
			refresh_free(r);
			return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory reading credentials");
		}
		rc = provider_fetch(out, r);
		if (rc == STKDR_EBACKEND) { /* not on EC2: the chain ends with "no credentials" */
			char why[400];
			snprintf(why, sizeof why, "%s", stkdr__err_get()->message);
			snprintf(tried, tried_cap, "; %s (AWS_EC2_METADATA_DISABLED=true skips it)", why);
			refresh_free(r);
			return STKDR_ENOTFOUND;
		}
	}
	return adopt(out, r, rc);
}

int stkdr__aws_creds_lock(stkdr__aws_creds *c)
{
	stkdr__aws_refresh *r = c->refresh;
	if (!r)
		return 0;
	pthread_mutex_lock(&r->mu);
	int64_t now = stkdr__time_now_ms();
	/* within the margin: fetch, unless a fetch just failed or gave no newer ones and these still work */
	if (!c->expires_ms || now < c->expires_ms - REFRESH_MARGIN_MS || (now < r->next_try_ms && now < c->expires_ms))
		return 0;
	stkdr__aws_creds fresh;
	int rc = provider_fetch(&fresh, r);
	if (rc == 0) {
		set_next_try(r, &fresh);
		fresh.refresh = r;
		stkdr__aws_creds old = *c;
		old.refresh = NULL;
		*c = fresh;
		stkdr__aws_creds_clear(&old);
		return 0;
	}
	r->next_try_ms = now + RETRY_MS;
	if (now < c->expires_ms) {
		stkdr_error_clear();
		return 0; /* the old ones are still valid: use them, try again later */
	}
	pthread_mutex_unlock(&r->mu);
	char why[512];
	snprintf(why, sizeof why, "%s", stkdr__err_get()->message);
	return stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_AWS, "ExpiredToken",
		"the %s credentials expired and could not be refreshed: %s", c->source, why);
}

void stkdr__aws_creds_unlock(stkdr__aws_creds *c)
{
	stkdr__aws_refresh *r = c->refresh;
	if (r)
		pthread_mutex_unlock(&r->mu);
}
