/* stk keys generate|list|rotate|backup|import|jwks, stk auth create-token|verify-token. */
#include "commands.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void fmt_time(char *out, size_t n, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *state_name(int st)
{
	return st == STKDR_KEY_ACTIVE ? "active" : st == STKDR_KEY_VERIFY_ONLY ? "verify-only" : "retired";
}

/* --project and --env, both required. */
static int project_env(cli *c, const char **p, const char **e)
{
	*p = cli_opt(c, "project");
	*e = cli_opt(c, "env");
	if (!*p || !**p)
		return cli_usage(c, "--project P is required");
	if (!*e || !**e)
		return cli_usage(c, "--env E is required");
	return 0;
}

/* "30s", "15m", "24h", "7d" or plain seconds -> ms; -1 if invalid. */
static int64_t parse_duration(const char *s)
{
	char *end;
	long long v = strtoll(s, &end, 10);
	int64_t mul = 1000;
	if (end == s || v <= 0)
		return -1;
	if (*end == 's')
		mul = 1000;
	else if (*end == 'm')
		mul = 60 * 1000;
	else if (*end == 'h')
		mul = 3600 * 1000;
	else if (*end == 'd')
		mul = 86400 * 1000;
	else if (*end)
		return -1;
	if (*end && end[1])
		return -1;
	return (int64_t)v * mul;
}

static int key_alg(cli *c, stkdr_keys_options *o)
{
	const char *alg = cli_opt(c, "alg");
	stkdr_keys_options_init(o, STKDR_KEYS_OPTIONS_VERSION);
	if (!alg)
		return 0;
	if (!strcmp(alg, "ES256"))
		o->alg = STKDR_KEY_ES256;
	else if (!strcmp(alg, "RS256"))
		o->alg = STKDR_KEY_RS256;
	else
		return cli_usage(c, "--alg must be ES256 or RS256, not \"%s\"", alg);
	return 0;
}

static int generate_or_rotate(cli *c, int rotate)
{
	const char *p, *e;
	stkdr_keys_options o;
	stkdr_buf kid = STKDR_BUF_INIT;
	int rc;
	if ((rc = project_env(c, &p, &e)) || (rc = key_alg(c, &o)) || (rc = cli_open(c)))
		return rc;
	rc = rotate ? stkdr_keys_rotate(&kid, c->ctx, p, e, &o) : stkdr_keys_generate(&kid, c->ctx, p, e, &o);
	if (rc)
		return cli_fail(c, rc);
	if (c->json) {
		cJSON *out = cJSON_CreateObject();
		cJSON_AddStringToObject(out, "project", p);
		cJSON_AddStringToObject(out, "env", e);
		cJSON_AddStringToObject(out, "kid", kid.ptr);
		rc = cli_json_print(out);
	} else {
		printf("%s\n", kid.ptr);
	}
	stkdr_buf_dispose(&kid);
	return rc;
}

int cmd_keys_generate(cli *c, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return generate_or_rotate(c, 0);
}

int cmd_keys_rotate(cli *c, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return generate_or_rotate(c, 1);
}

static int list_cb(const stkdr_key_info *ki, void *payload)
{
	(void)payload;
	char created[32], until[32] = "-";
	fmt_time(created, sizeof created, ki->created_ms);
	if (ki->verify_until_ms)
		fmt_time(until, sizeof until, ki->verify_until_ms);
	printf("%-44s %-6s %-12s %-21s %s\n", ki->kid, ki->alg, state_name(ki->state), created, until);
	return 0;
}

typedef struct list_json {
	cJSON *arr;
} list_json;

static int list_json_cb(const stkdr_key_info *ki, void *payload)
{
	list_json *l = payload;
	cJSON *o = cJSON_CreateObject();
	char created[32], until[32];
	fmt_time(created, sizeof created, ki->created_ms);
	cJSON_AddStringToObject(o, "kid", ki->kid);
	cJSON_AddStringToObject(o, "alg", ki->alg);
	cJSON_AddStringToObject(o, "state", state_name(ki->state));
	cJSON_AddStringToObject(o, "created", created);
	if (ki->verify_until_ms) {
		fmt_time(until, sizeof until, ki->verify_until_ms);
		cJSON_AddStringToObject(o, "verify_until", until);
	} else {
		cJSON_AddNullToObject(o, "verify_until");
	}
	cJSON_AddItemToArray(l->arr, o);
	return 0;
}

int cmd_keys_list(cli *c, int argc, char **argv)
{
	const char *p, *e;
	int rc;
	(void)argc;
	(void)argv;
	if ((rc = project_env(c, &p, &e)) || (rc = cli_open(c)))
		return rc;
	if (c->json) {
		list_json l = { cJSON_CreateArray() };
		rc = stkdr_keys_list(c->ctx, p, e, list_json_cb, &l);
		if (rc) {
			cJSON_Delete(l.arr);
			return cli_fail(c, rc);
		}
		return cli_json_print(l.arr);
	}
	printf("%-44s %-6s %-12s %-21s %s\n", "KID", "ALG", "STATE", "CREATED", "VERIFY UNTIL");
	rc = stkdr_keys_list(c->ctx, p, e, list_cb, c);
	return rc ? cli_fail(c, rc) : 0;
}

int cmd_keys_jwks(cli *c, int argc, char **argv)
{
	const char *p, *e;
	stkdr_buf out = STKDR_BUF_INIT;
	int rc;
	(void)argc;
	(void)argv;
	if ((rc = project_env(c, &p, &e)) || (rc = cli_open(c)))
		return rc;
	if ((rc = stkdr_keys_jwks(&out, c->ctx, p, e)))
		return cli_fail(c, rc);
	rc = cli_json_print_text(out.ptr);
	stkdr_buf_dispose(&out);
	return rc;
}

typedef struct backup_all {
	cli *c;
	cJSON *arr;
	int failed;
	int first_rc;
} backup_all;

static int backup_one(const char *p, const char *e, void *payload)
{
	backup_all *b = payload;
	stkdr_buf ver = STKDR_BUF_INIT;
	int rc = stkdr_keys_backup(&ver, b->c->ctx, p, e);
	if (rc) {
		if (ver.ptr && *ver.ptr && !b->arr) /* only the replica failed: the primary's version stands */
			printf("%s/%s %s\n", p, e, ver.ptr);
		cli_errorf("%s/%s: %s", p, e, stkdr_ctx_last_error(b->c->ctx)->message);
		if (!b->failed++)
			b->first_rc = rc;
	} else if (b->arr) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "project", p);
		cJSON_AddStringToObject(o, "env", e);
		cJSON_AddStringToObject(o, "version", ver.ptr ? ver.ptr : "");
		cJSON_AddItemToArray(b->arr, o);
	} else {
		printf("%s/%s %s\n", p, e, ver.ptr ? ver.ptr : "");
	}
	stkdr_buf_dispose(&ver);
	return 0;
}

int cmd_keys_backup(cli *c, int argc, char **argv)
{
	const char *p, *e;
	stkdr_buf ver = STKDR_BUF_INIT;
	int rc;
	(void)argc;
	(void)argv;
	if (cli_flag(c, "all")) {
		backup_all b = { c, NULL, 0, 0 };
		if (cli_opt(c, "project") || cli_opt(c, "env"))
			return cli_usage(c, "give --all or --project/--env, not both");
		if ((rc = cli_open(c)))
			return rc;
		b.arr = c->json ? cJSON_CreateArray() : NULL;
		if ((rc = stkdr_keys_sets(c->ctx, backup_one, &b))) {
			cJSON_Delete(b.arr);
			return cli_fail(c, rc);
		}
		if (b.arr && (rc = cli_json_print(b.arr)) != 0)
			return rc;
		return b.failed ? cli_exit_code(b.first_rc, stkdr_ctx_last_error(c->ctx)->klass) : 0;
	}
	if ((rc = project_env(c, &p, &e)) || (rc = cli_open(c)))
		return rc;
	if ((rc = stkdr_keys_backup(&ver, c->ctx, p, e))) {
		/* only the replica failed: the primary's version stands; print it, then fail */
		if (ver.ptr && *ver.ptr && !c->json)
			printf("%s\n", ver.ptr);
		stkdr_buf_dispose(&ver);
		return cli_fail(c, rc);
	}
	if (c->json) {
		cJSON *out = cJSON_CreateObject();
		cJSON_AddStringToObject(out, "project", p);
		cJSON_AddStringToObject(out, "env", e);
		cJSON_AddStringToObject(out, "version", ver.ptr ? ver.ptr : "");
		rc = cli_json_print(out);
	} else {
		printf("%s\n", ver.ptr ? ver.ptr : "");
	}
	stkdr_buf_dispose(&ver);
	return rc;
}

int cmd_keys_import(cli *c, int argc, char **argv)
{
	const char *p, *e, *file = cli_opt(c, "key-file"), *stage = cli_opt(c, "stage"), *ver = cli_opt(c, "version");
	int from_backup = cli_flag(c, "from-backup") > 0, replica = cli_flag(c, "replica") > 0;
	stkdr_keys_import_options o;
	int64_t n = 0;
	int rc;
	(void)argc;
	(void)argv;
	if ((rc = project_env(c, &p, &e)))
		return rc;
	stkdr_keys_import_options_init(&o, STKDR_KEYS_IMPORT_OPTIONS_VERSION);
	if (!!file == from_backup)
		return cli_usage(c, "give exactly one of --key-file F and --from-backup");
	if (!from_backup && (stage || ver || replica))
		return cli_usage(c, "--stage, --version and --replica go with --from-backup");
	if (stage && ver)
		return cli_usage(c, "give --stage or --version, not both");
	if (stage && strcmp(stage, "previous") != 0 && strcmp(stage, "current") != 0)
		return cli_usage(c, "--stage must be previous or current, not \"%s\"", stage);
	if (from_backup) {
		o.source = STKDR_KEYS_IMPORT_BACKUP;
		o.stage = stage && !strcmp(stage, "previous") ? 0x2u : 0x1u;
		o.backup_version = ver;
		o.replica = replica;
	} else {
		o.key_file = file;
	}
	if ((rc = cli_open(c)))
		return rc;
	if ((rc = stkdr_keys_import(&n, c->ctx, p, e, &o)))
		return cli_fail(c, rc);
	if (c->json) {
		cJSON *out = cJSON_CreateObject();
		cJSON_AddNumberToObject(out, "imported", (double)n);
		return cli_json_print(out);
	}
	cli_info(c, "%" PRId64 " key(s) imported into %s/%s%s", n, p, e, n ? "" : " (all were there already)");
	return 0;
}

int cmd_auth_create_token(cli *c, int argc, char **argv)
{
	const char *p, *e, *user = cli_opt(c, "user-id"), *ttl = cli_opt(c, "ttl");
	stkdr_jwt_sign_options o;
	stkdr_buf tok = STKDR_BUF_INIT;
	cJSON *claims;
	char *text;
	int rc;
	(void)argc;
	(void)argv;
	if ((rc = project_env(c, &p, &e)))
		return rc;
	if (!user || !*user)
		return cli_usage(c, "--user-id U is required");
	stkdr_jwt_sign_options_init(&o, STKDR_JWT_SIGN_OPTIONS_VERSION);
	if (ttl && (o.ttl_ms = parse_duration(ttl)) <= 0)
		return cli_usage(c, "--ttl must be a duration (30s, 15m, 24h), not \"%s\"", ttl);
	if ((rc = cli_open(c)))
		return rc;
	claims = cJSON_CreateObject();
	cJSON_AddStringToObject(claims, "sub", user);
	cJSON_AddStringToObject(claims, "project", p);
	cJSON_AddStringToObject(claims, "env", e);
	text = cJSON_PrintUnformatted(claims);
	cJSON_Delete(claims);
	rc = stkdr_jwt_sign(&tok, c->ctx, p, e, text, &o);
	cJSON_free(text);
	if (rc)
		return cli_fail(c, rc);
	printf("%s\n", tok.ptr);
	stkdr_buf_dispose(&tok);
	return 0;
}

int cmd_auth_verify_token(cli *c, int argc, char **argv)
{
	const char *p, *e;
	stkdr_buf jwks = STKDR_BUF_INIT, claims = STKDR_BUF_INIT;
	stkdr_jwt_verifier *v = NULL;
	int rc;
	(void)argc;
	if ((rc = project_env(c, &p, &e)) || (rc = cli_open(c)))
		return rc;
	rc = stkdr_keys_jwks(&jwks, c->ctx, p, e);
	if (!rc)
		rc = stkdr_jwt_verifier_new(&v, c->ctx, jwks.ptr, jwks.size);
	if (!rc)
		rc = stkdr_jwt_verify(&claims, c->ctx, v, argv[0], NULL);
	stkdr_jwt_verifier_free(v);
	stkdr_buf_dispose(&jwks);
	if (rc)
		return cli_fail(c, rc);
	rc = cli_json_print_text(claims.ptr);
	stkdr_buf_dispose(&claims);
	return rc;
}

int cmd_bridge_force_sync(cli *c, int argc, char **argv)
{
	const char *e = cli_opt(c, "env"), *p = cli_opt(c, "project");
	stkdr_buf proj = STKDR_BUF_INIT;
	stkdr_keysync *ks = NULL;
	int rc;
	(void)argc;
	(void)argv;
	if (!e || !*e)
		return cli_usage(c, "--env E is required");
	if ((rc = cli_open(c)))
		return rc;
	if (!p) {
		if (stkdr_ctx_get_str(&proj, c->ctx, "keysync.project") != 0 || !proj.ptr || !*proj.ptr) {
			stkdr_buf_dispose(&proj);
			return cli_usage(c, "--project P is required when keysync.project is not set");
		}
		p = proj.ptr;
	}
	rc = stkdr_keysync_new(&ks, c->ctx, p, e, NULL);
	if (!rc)
		rc = stkdr_keysync_force(ks);
	if (rc) {
		stkdr_keysync_free(ks);
		stkdr_buf_dispose(&proj);
		return cli_fail(c, rc);
	}
	if (c->json) {
		cJSON *out = cJSON_CreateObject();
		cJSON_AddStringToObject(out, "project", p);
		cJSON_AddStringToObject(out, "env", e);
		cJSON_AddNumberToObject(out, "keys", (double)stkdr_keysync_key_count(ks));
		rc = cli_json_print(out);
	} else {
		cli_info(c, "%s/%s: %" PRId64 " verification key(s) synced from the Hub", p, e, stkdr_keysync_key_count(ks));
	}
	stkdr_keysync_free(ks);
	stkdr_buf_dispose(&proj);
	return rc;
}
