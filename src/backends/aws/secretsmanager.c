/*
 * The AWS Secrets Manager secrets backend ("aws-secretsmanager"): the secrets vtable over the JSON 1.1
 * protocol (POST /, X-Amz-Target: secretsmanager.<Op>), signed with SigV4.
 *
 * - put: PutSecretValue with SecretBinary (base64); a secret that does not exist yet is created with
 *   CreateSecret, with AddReplicaRegions when secrets.replica_region is set (Secrets Manager then keeps a
 *   replica of every version in that region; a secret created before the setting is not replicated).
 *   Secrets Manager itself moves AWSCURRENT to the new version and AWSPREVIOUS to the old.
 *   ClientRequestToken makes it idempotent: the caller's token is used as is when it has 32..64 characters,
 *   otherwise the hex SHA-256 of it (so the same token always maps to the same request token); without a
 *   token a random one is sent. The same token with another value -> EEXISTS.
 * - get: GetSecretValue by VersionId, or VersionStage AWSCURRENT / AWSPREVIOUS. SecretString values (written
 *   by other tools) are returned as their bytes.
 * - list_versions: ListSecretVersionIds (all pages), newest first.
 * Secret values never appear in messages or the trace (the trace shows headers only).
 */
#include "backends/aws/aws.h"
#include "core/crypto.h"
#include "core/timeutil.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sm_secrets {
	stkdr_secrets pub;
	stkdr_ctx *ctx;
	char region[64];
	char replica_region[64]; /* "" if none */
	stkdr__aws_service svc;
} sm_secrets;

static int oom(void)
{
	return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
}

/* The error type of a JSON error body ("...#ResourceNotFoundException" -> "ResourceNotFoundException"). */
static void json_error(char *code, size_t cap, char *msg, size_t mcap, const stkdr__http_resp *resp)
{
	code[0] = '\0';
	if (msg)
		msg[0] = '\0';
	cJSON *j = resp->body.size ? cJSON_ParseWithLength(resp->body.ptr, resp->body.size) : NULL;
	const cJSON *t = j ? cJSON_GetObjectItemCaseSensitive(j, "__type") : NULL;
	const char *ty = cJSON_IsString(t) ? t->valuestring : stkdr__http_resp_header(resp, "x-amzn-errortype");
	if (ty) {
		const char *hash = strrchr(ty, '#');
		snprintf(code, cap, "%.*s", (int)strcspn(hash ? hash + 1 : ty, ":"), hash ? hash + 1 : ty);
	}
	if (msg && j) {
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
		if (!cJSON_IsString(m))
			m = cJSON_GetObjectItemCaseSensitive(j, "Message");
		if (cJSON_IsString(m))
			snprintf(msg, mcap, "%s", m->valuestring);
	}
	cJSON_Delete(j);
}

static void sm_error_code(char *code, size_t cap, const stkdr__http_resp *resp, void *payload)
{
	json_error(code, cap, NULL, 0, resp);
}

/* Calls `op` with the JSON `in`; on 200 the parsed response into *out (cJSON_Delete it). */
static int sm_call(cJSON **out, sm_secrets *s, const char *op, const char *name, cJSON *in, int flags_notfound_ok)
{
	*out = NULL;
	char *body = cJSON_PrintUnformatted(in);
	if (!body)
		return oom();
	char what[300], target[128];
	snprintf(what, sizeof what, "Secrets Manager %s %s", op, name);
	snprintf(target, sizeof target, "X-Amz-Target: secretsmanager.%s", op);
	char *url = stkdr__aprintf("%s://%s/", s->svc.scheme, s->svc.host);
	uint8_t d[32];
	char hash[65];
	size_t blen = strlen(body);
	stkdr__sha256(body, blen, d);
	stkdr__hex_encode(hash, d, 32);
	struct curl_slist *hl = curl_slist_append(NULL, "Content-Type: application/x-amz-json-1.1");
	struct curl_slist *h2 = hl ? curl_slist_append(hl, target) : NULL;
	int rc = 0;
	if (!url || !h2) {
		rc = oom();
		goto out;
	}
	stkdr__aws_signer sg = { &s->svc.creds, s->region, "secretsmanager", s->svc.host, "/", "", hash, 0, NULL };
	stkdr__http_req req;
	memset(&req, 0, sizeof req);
	req.method = "POST";
	req.url = url;
	req.what = what;
	req.headers = hl;
	req.sign = stkdr__aws_sign_cb;
	req.sign_payload = &sg;
	req.body = (const uint8_t *)body;
	req.body_len = (int64_t)blen;
	req.error_code = sm_error_code;
	req.ctx = s->ctx;
	stkdr__http_resp resp;
	rc = stkdr__http_do(s->svc.http, &req, &resp);
	if (rc == 0 && resp.status != 200) {
		char code[128], msg[512];
		json_error(code, sizeof code, msg, sizeof msg, &resp);
		if (!code[0])
			snprintf(code, sizeof code, "HTTP%ld", resp.status);
		const char *sep = msg[0] ? ": " : "";
		if (!strcmp(code, "ResourceNotFoundException"))
			rc = flags_notfound_ok ? STKDR_ENOTFOUND
					       : stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_AWS, code,
						       "Secrets Manager %s %s: not found (%s)%s%s", op, name, code, sep, msg);
		else if (!strcmp(code, "ResourceExistsException"))
			rc = stkdr__seterr(STKDR_EEXISTS, STKDR_ERRCLASS_AWS, code,
				"Secrets Manager %s %s: %s%s%s (the client token was used with a different value)", op, name,
				code, sep, msg);
		else if (!strcmp(code, "UnrecognizedClientException") || !strcmp(code, "InvalidSignatureException")
			|| !strcmp(code, "AccessDeniedException") || !strcmp(code, "ExpiredTokenException")
			|| resp.status == 403)
			rc = stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_AWS, code,
				"Secrets Manager %s %s: %s (HTTP %ld)%s%s; check the credentials (%s) and their permissions", op,
				name, code, resp.status, sep, msg, s->svc.creds.source);
		else
			rc = stkdr__seterr(STKDR_EBACKEND, STKDR_ERRCLASS_AWS, code, "Secrets Manager %s %s: %s (HTTP %ld)%s%s",
				op, name, code, resp.status, sep, msg);
	} else if (rc == 0) {
		*out = cJSON_ParseWithLength(resp.body.ptr ? resp.body.ptr : "", resp.body.size);
		if (!cJSON_IsObject(*out)) {
			cJSON_Delete(*out);
			*out = NULL;
			rc = stkdr__seterr(STKDR_EBACKEND, STKDR_ERRCLASS_AWS, "MalformedResponse",
				"Secrets Manager %s %s: the response is not a JSON object (truncated?); check secrets.endpoint and "
				"retry", op, name);
		}
	}
	stkdr__http_resp_dispose(&resp);
out:
	curl_slist_free_all(h2 ? h2 : hl);
	stkdr__wipe(body, blen);
	cJSON_free(body);
	stkdr__free(url);
	return rc;
}

static int check_name(const char *name)
{
	if (!name || !*name || strlen(name) > 512)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_AWS, NULL,
			"secret name is empty or longer than 512 characters");
	return 0;
}

static int request_token(char out[65], const char *client_token)
{
	if (client_token && strlen(client_token) >= 32 && strlen(client_token) <= 64) {
		snprintf(out, 65, "%s", client_token);
		return 0;
	}
	uint8_t d[32];
	if (client_token) {
		stkdr__sha256(client_token, strlen(client_token), d);
	} else {
		int rc = stkdr__random(d, 16);
		if (rc)
			return rc;
		stkdr__hex_encode(out, d, 16);
		return 0;
	}
	stkdr__hex_encode(out, d, 32);
	return 0;
}

static int sm_put(stkdr_buf *version_id_out, stkdr_secrets *s_, const char *name, const uint8_t *value, size_t len,
	const char *client_token)
{
	sm_secrets *s = (sm_secrets *)s_;
	int rc = check_name(name);
	if (rc)
		return rc;
	char tok[65];
	if ((rc = request_token(tok, client_token)) != 0)
		return rc;
	stkdr_buf b64 = STKDR_BUF_INIT;
	if (stkdr__b64_encode(&b64, value, len, 0) != 0 || (!b64.ptr && stkdr_buf_set(&b64, "", 0) != 0))
		return oom();
	cJSON *in = cJSON_CreateObject();
	cJSON *out = NULL;
	if (!in || !cJSON_AddStringToObject(in, "SecretId", name) || !cJSON_AddStringToObject(in, "SecretBinary", b64.ptr)
		|| !cJSON_AddStringToObject(in, "ClientRequestToken", tok)) {
		rc = oom();
		goto done;
	}
	rc = sm_call(&out, s, "PutSecretValue", name, in, 1);
	if (rc == STKDR_ENOTFOUND) {
		cJSON_DeleteItemFromObject(in, "SecretId");
		if (!cJSON_AddStringToObject(in, "Name", name)) {
			rc = oom();
			goto done;
		}
		if (s->replica_region[0]) {
			/* Secrets Manager replicates every version of the secret to the second region itself. */
			cJSON *regions = cJSON_AddArrayToObject(in, "AddReplicaRegions");
			cJSON *r = cJSON_CreateObject();
			if (!regions || !r || !cJSON_AddStringToObject(r, "Region", s->replica_region)) {
				cJSON_Delete(r);
				rc = oom();
				goto done;
			}
			cJSON_AddItemToArray(regions, r);
		}
		rc = sm_call(&out, s, "CreateSecret", name, in, 0);
	}
	if (rc == 0 && version_id_out) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(out, "VersionId");
		if (!cJSON_IsString(v))
			rc = stkdr__seterr(STKDR_EBACKEND, STKDR_ERRCLASS_AWS, "MalformedResponse",
				"Secrets Manager PutSecretValue %s: the response has no VersionId", name);
		else
			rc = stkdr_buf_set(version_id_out, v->valuestring, strlen(v->valuestring));
	}
done:
	cJSON_Delete(out);
	cJSON_Delete(in);
	stkdr__wipe(b64.ptr, b64.size);
	stkdr_buf_dispose(&b64);
	return rc;
}

static int sm_get(stkdr_buf *value_out, stkdr_buf *version_id_out, stkdr_secrets *s_, const char *name,
	const char *version_id, uint32_t stage)
{
	sm_secrets *s = (sm_secrets *)s_;
	int rc = check_name(name);
	if (rc)
		return rc;
	if (!version_id && stage != STKDR_STAGE_CURRENT && stage != STKDR_STAGE_PREVIOUS)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_AWS, NULL,
			"reading secret %s: give a version id or one stage (current or previous)", name);
	cJSON *in = cJSON_CreateObject();
	cJSON *out = NULL;
	if (!in || !cJSON_AddStringToObject(in, "SecretId", name)
		|| !(version_id ? cJSON_AddStringToObject(in, "VersionId", version_id)
				: cJSON_AddStringToObject(in, "VersionStage",
					stage == STKDR_STAGE_CURRENT ? "AWSCURRENT" : "AWSPREVIOUS"))) {
		cJSON_Delete(in);
		return oom();
	}
	rc = sm_call(&out, s, "GetSecretValue", name, in, 0);
	cJSON_Delete(in);
	if (rc) {
		if (rc == STKDR_ENOTFOUND)
			stkdr__err_prefix("secret %s%s%s", name, version_id ? " version " : "", version_id ? version_id : "");
		return rc;
	}
	const cJSON *bin = cJSON_GetObjectItemCaseSensitive(out, "SecretBinary");
	const cJSON *str = cJSON_GetObjectItemCaseSensitive(out, "SecretString");
	const cJSON *vid = cJSON_GetObjectItemCaseSensitive(out, "VersionId");
	if (value_out)
		value_out->size = 0;
	if (cJSON_IsString(bin)) {
		stkdr_buf tmp = STKDR_BUF_INIT;
		rc = stkdr__b64_decode(&tmp, bin->valuestring, strlen(bin->valuestring), 0);
		if (rc)
			rc = stkdr__seterr(STKDR_EBACKEND, STKDR_ERRCLASS_AWS, "MalformedResponse",
				"Secrets Manager GetSecretValue %s: SecretBinary is not base64", name);
		else if (value_out)
			rc = stkdr_buf_set(value_out, tmp.ptr ? tmp.ptr : "", tmp.size);
		stkdr__wipe(tmp.ptr, tmp.size);
		stkdr_buf_dispose(&tmp);
	} else if (cJSON_IsString(str)) {
		if (value_out)
			rc = stkdr_buf_set(value_out, str->valuestring, strlen(str->valuestring));
	} else {
		rc = stkdr__seterr(STKDR_EBACKEND, STKDR_ERRCLASS_AWS, "MalformedResponse",
			"Secrets Manager GetSecretValue %s: the response has neither SecretBinary nor SecretString", name);
	}
	if (rc == 0 && version_id_out && cJSON_IsString(vid))
		rc = stkdr_buf_set(version_id_out, vid->valuestring, strlen(vid->valuestring));
	if (str && cJSON_IsString(str))
		stkdr__wipe(str->valuestring, strlen(str->valuestring));
	if (bin && cJSON_IsString(bin))
		stkdr__wipe(bin->valuestring, strlen(bin->valuestring));
	cJSON_Delete(out);
	return rc;
}

typedef struct ver {
	char *id;
	int64_t created_ms;
	uint32_t stages;
} ver;

static int ver_cmp(const void *a_, const void *b_)
{
	const ver *a = a_, *b = b_;
	if (a->created_ms != b->created_ms)
		return a->created_ms > b->created_ms ? -1 : 1;
	if (a->stages != b->stages) /* same second: CURRENT before PREVIOUS before the rest */
		return (a->stages & STKDR_STAGE_CURRENT) ? -1 : (b->stages & STKDR_STAGE_CURRENT) ? 1 :
			(a->stages & STKDR_STAGE_PREVIOUS) ? -1 : 1;
	return strcmp(a->id, b->id);
}

static int sm_list_versions(stkdr_secrets *s_, const char *name, stkdr_secret_version_cb cb, void *payload)
{
	sm_secrets *s = (sm_secrets *)s_;
	int rc = check_name(name);
	if (rc)
		return rc;
	ver *v = NULL;
	size_t n = 0;
	char *token = NULL;
	do {
		cJSON *in = cJSON_CreateObject();
		cJSON *out = NULL;
		if (!in || !cJSON_AddStringToObject(in, "SecretId", name) || !cJSON_AddTrueToObject(in, "IncludeDeprecated")
			|| !cJSON_AddNumberToObject(in, "MaxResults", 100)
			|| (token && !cJSON_AddStringToObject(in, "NextToken", token))) {
			cJSON_Delete(in);
			rc = oom();
			break;
		}
		rc = sm_call(&out, s, "ListSecretVersionIds", name, in, 0);
		cJSON_Delete(in);
		stkdr__free(token);
		token = NULL;
		if (rc)
			break;
		const cJSON *vs = cJSON_GetObjectItemCaseSensitive(out, "Versions");
		const cJSON *it;
		cJSON_ArrayForEach(it, vs)
		{
			const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "VersionId");
			const cJSON *cd = cJSON_GetObjectItemCaseSensitive(it, "CreatedDate");
			if (!cJSON_IsString(id))
				continue;
			ver *nv = stkdr__realloc(v, (n + 1) * sizeof *v);
			if (!nv) {
				rc = oom();
				break;
			}
			v = nv;
			v[n].id = stkdr__strdup(id->valuestring);
			v[n].created_ms = cJSON_IsNumber(cd) ? (int64_t)(cd->valuedouble * 1000.0) : 0;
			v[n].stages = 0;
			const cJSON *st;
			cJSON_ArrayForEach(st, cJSON_GetObjectItemCaseSensitive(it, "VersionStages"))
			{
				if (cJSON_IsString(st) && !strcmp(st->valuestring, "AWSCURRENT"))
					v[n].stages |= STKDR_STAGE_CURRENT;
				if (cJSON_IsString(st) && !strcmp(st->valuestring, "AWSPREVIOUS"))
					v[n].stages |= STKDR_STAGE_PREVIOUS;
			}
			if (!v[n].id) {
				rc = oom();
				break;
			}
			n++;
		}
		const cJSON *nt = cJSON_GetObjectItemCaseSensitive(out, "NextToken");
		if (rc == 0 && cJSON_IsString(nt) && *nt->valuestring && !(token = stkdr__strdup(nt->valuestring)))
			rc = oom();
		cJSON_Delete(out);
	} while (rc == 0 && token);
	if (rc == 0) {
		qsort(v, n, sizeof *v, ver_cmp);
		for (size_t i = 0; i < n && rc == 0; i++) {
			stkdr_secret_version sv = { STKDR_SECRET_VERSION_VERSION, v[i].id, v[i].created_ms, v[i].stages };
			rc = cb(&sv, payload);
		}
	}
	for (size_t i = 0; i < n; i++)
		stkdr__free(v[i].id);
	stkdr__free(v);
	stkdr__free(token);
	return rc;
}

static int sm_ctl(stkdr_backend *be, int op, void *arg)
{
	if (op == STKDR_CTL_ATTACH) {
		((sm_secrets *)be)->ctx = arg;
		return 0;
	}
	return STKDR_ENOTSUPPORTED;
}

static void sm_free(stkdr_backend *be)
{
	sm_secrets *s = (sm_secrets *)be;
	if (!s)
		return;
	stkdr__aws_service_close(&s->svc);
	stkdr__free(s);
}

int stkdr__aws_secrets_new(stkdr_secrets **out, stkdr_ctx *ctx)
{
	*out = NULL;
	sm_secrets *s = stkdr__calloc(1, sizeof *s);
	if (!s)
		return oom();
	stkdr_backend_init(&s->pub.base, STKDR_BACKEND_SECRETS, STKDR_SECRETS_VERSION, "aws-secretsmanager");
	s->pub.base.ctl = sm_ctl;
	s->pub.base.free = sm_free;
	s->pub.put = sm_put;
	s->pub.get = sm_get;
	s->pub.list_versions = sm_list_versions;
	s->ctx = ctx;
	int rc = stkdr__aws_region(s->region, sizeof s->region, ctx, "secrets.region");
	const char *rr = stkdr__cfg_str(ctx, "secrets.replica_region");
	snprintf(s->replica_region, sizeof s->replica_region, "%s", rr && strcmp(rr, s->region) ? rr : "");
	if (rc == 0 && *s->replica_region && !stkdr__aws_region_valid(s->replica_region))
		rc = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, "InvalidRegion",
			"secrets.replica_region '%.64s' is not an AWS region name such as us-west-2: correct it",
			s->replica_region);
	char host[128];
	snprintf(host, sizeof host, "secretsmanager.%s.amazonaws.com", s->region);
	if (rc == 0)
		rc = stkdr__aws_service_open(&s->svc, ctx, "secrets.endpoint", host, 0);
	if (rc) {
		sm_free(&s->pub.base);
		return rc;
	}
	*out = &s->pub;
	return 0;
}
