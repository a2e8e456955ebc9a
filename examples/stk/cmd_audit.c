/* stk audit export|verify|gaps|restore|log|lifecycle apply (runbook 2.2 / 3.2). */
#include "commands.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct day_state {
	cli *c;
	cJSON *arr;
	int n;
	int bad;
} day_state;

static int is_bad(int status)
{
	return status == STKDR_AUDIT_CONFLICT || status == STKDR_AUDIT_MODIFIED || status == STKDR_AUDIT_MISSING ||
	       status == STKDR_AUDIT_REORDERED || status == STKDR_AUDIT_BAD_SIGNATURE || status == STKDR_AUDIT_DB_SHORT ||
	       status == STKDR_AUDIT_FAILED || status == STKDR_AUDIT_PENDING;
}

static int day_one(const stkdr_audit_day *d, void *payload)
{
	day_state *st = payload;
	if (is_bad(d->status))
		st->bad++;
	if (st->c->json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "day", d->day);
		cJSON_AddStringToObject(o, "status", stkdr_audit_status_name(d->status));
		cJSON_AddNumberToObject(o, "rows", (double)d->rows);
		if (d->db_rows >= 0)
			cJSON_AddNumberToObject(o, "db_rows", (double)d->db_rows);
		cJSON_AddStringToObject(o, "detail", d->detail);
		cJSON_AddItemToArray(st->arr, o);
	} else if (!st->c->quiet || is_bad(d->status)) {
		if (d->db_rows >= 0)
			printf("%s  %-13s %8" PRId64 " archived %8" PRId64 " in db  %s\n", d->day,
				stkdr_audit_status_name(d->status), d->rows, d->db_rows, d->detail);
		else
			printf("%s  %-13s %8" PRId64 " rows  %s\n", d->day, stkdr_audit_status_name(d->status), d->rows,
				d->detail);
	}
	st->n++;
	return 0;
}

/* Prints the collected days (--json) and maps rc to the exit code. */
static int finish_days(cli *c, day_state *st, int rc)
{
	if (c->json)
		cli_json_print(st->arr);
	else
		cJSON_Delete(st->arr);
	st->arr = NULL;
	return rc ? cli_fail(c, rc) : 0;
}

static int range_opts(cli *c, const char **from, const char **to)
{
	const char *day = cli_opt(c, "day");
	*from = cli_opt(c, "from");
	*to = cli_opt(c, "to");
	if (day && (*from || *to))
		return cli_usage(c, "--day cannot be combined with --from/--to");
	if (day) {
		*from = day;
		*to = day;
	}
	return 0;
}

int cmd_audit_export(cli *c, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	const char *from, *to;
	int rc = range_opts(c, &from, &to);
	if (rc)
		return rc;
	if (!from != !to)
		return cli_usage(c, "give both --from and --to (or --day D, or neither to catch up to yesterday)");
	if ((rc = cli_open(c)) != 0)
		return rc;
	day_state st = { c, cJSON_CreateArray(), 0, 0 };
	rc = stkdr_audit_export(c->ctx, from, to, day_one, &st);
	if (!c->json && rc == 0 && st.n == 0)
		cli_info(c, "nothing to export: the archive is up to date");
	return finish_days(c, &st, rc);
}

int cmd_audit_verify(cli *c, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	const char *from, *to;
	int rc = range_opts(c, &from, &to);
	if (rc || (rc = cli_open(c)) != 0)
		return rc;
	day_state st = { c, cJSON_CreateArray(), 0, 0 };
	rc = stkdr_audit_verify(c->ctx, from, to, day_one, &st);
	if (!c->json && rc == 0)
		cli_info(c, "audit archive verified: %d day(s), chain and signatures intact", st.n);
	return finish_days(c, &st, rc);
}

int cmd_audit_gaps(cli *c, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	const char *from, *to;
	int rc = range_opts(c, &from, &to);
	if (rc || (rc = cli_open(c)) != 0)
		return rc;
	day_state st = { c, cJSON_CreateArray(), 0, 0 };
	int64_t n = 0;
	rc = stkdr_audit_gaps(&n, c->ctx, from, to, day_one, &st);
	if (!c->json && rc == 0)
		cli_info(c, n ? "%" PRId64 " day(s) short in the database: restore them with stk audit restore" :
			"no gaps: the database holds every archived row", n);
	rc = finish_days(c, &st, rc);
	return rc ? rc : (n ? CLI_EXIT_FAILURE : 0);
}

int cmd_audit_restore(cli *c, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	const char *from, *to;
	int rc = range_opts(c, &from, &to);
	if (rc)
		return rc;
	if (!from || !to)
		return cli_usage(c, "audit restore needs --from D and --to D (or --day D)");
	if ((rc = cli_open(c)) != 0)
		return rc;
	day_state st = { c, cJSON_CreateArray(), 0, 0 };
	rc = stkdr_audit_restore(c->ctx, from, to, day_one, &st);
	return finish_days(c, &st, rc);
}

/* "24h", "7d", "30m", "90s", "2w" before now, or an RFC 3339 time / a day (UTC). -1 if invalid. */
static int64_t parse_when(const char *s, int relative)
{
	char *end;
	if (relative && *s >= '0' && *s <= '9') {
		long long v = strtoll(s, &end, 10);
		int64_t unit = 0;
		if (!strcmp(end, "s") || !*end)
			unit = 1;
		else if (!strcmp(end, "m"))
			unit = 60;
		else if (!strcmp(end, "h"))
			unit = 3600;
		else if (!strcmp(end, "d"))
			unit = 86400;
		else if (!strcmp(end, "w"))
			unit = 7 * 86400;
		if (unit && *end != '-' && v >= 0)
			return ((int64_t)time(NULL) - (int64_t)v * unit) * 1000;
		if (unit || strlen(s) < 10)
			return -1;
	}
	int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
	char sep;
	if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3)
		return -1;
	if (s[n]) {
		int k = 0;
		if (sscanf(s + n, "%c%2d:%2d:%2d%n", &sep, &h, &mi, &sec, &k) != 4 || (sep != 'T' && sep != 't' && sep != ' '))
			return -1;
		const char *z = s + n + k;
		if (*z == '.')
			for (z++; *z >= '0' && *z <= '9'; z++)
				;
		if (strcmp(z, "Z") && strcmp(z, "z") && strcmp(z, "+00:00"))
			return -1;
	}
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	return (int64_t)timegm(&tm) * 1000;
}

typedef struct log_state {
	cli *c;
	cJSON *arr;
	int n;
} log_state;

static int log_one(const stkdr_audit_row *r, void *payload)
{
	log_state *st = payload;
	if (st->c->json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "id", (double)r->id);
		cJSON_AddStringToObject(o, "timestamp", r->timestamp);
		if (r->actor)
			cJSON_AddStringToObject(o, "actor", r->actor);
		else
			cJSON_AddNullToObject(o, "actor");
		if (r->action)
			cJSON_AddStringToObject(o, "action", r->action);
		else
			cJSON_AddNullToObject(o, "action");
		if (r->resource)
			cJSON_AddStringToObject(o, "resource", r->resource);
		else
			cJSON_AddNullToObject(o, "resource");
		cJSON *det = r->details ? cJSON_Parse(r->details) : NULL;
		cJSON_AddItemToObject(o, "details", det ? det : cJSON_CreateNull());
		cJSON_AddItemToArray(st->arr, o);
	} else {
		printf("%s  %-20s %-20s %s  %s\n", r->timestamp, r->actor ? r->actor : "-", r->action ? r->action : "-",
			r->resource ? r->resource : "-", r->details ? r->details : "");
	}
	st->n++;
	return 0;
}

int cmd_audit_log(cli *c, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	stkdr_audit_query q;
	stkdr_audit_query_init(&q, STKDR_AUDIT_QUERY_VERSION);
	q.action = cli_opt(c, "action");
	q.actor = cli_opt(c, "actor");
	const char *since = cli_opt(c, "since"), *until = cli_opt(c, "until"), *limit = cli_opt(c, "limit");
	if (since && (q.since_ms = parse_when(since, 1)) < 0)
		return cli_usage(c, "--since must be a duration before now (24h, 7d, 30m) or a time (2026-02-10T14:00:00Z), "
				    "not \"%s\"", since);
	if (until && (q.until_ms = parse_when(until, 1)) < 0)
		return cli_usage(c, "--until must be a time (2026-02-10T15:00:00Z) or a duration before now, not \"%s\"",
			until);
	if (limit) {
		char *end;
		q.limit = strtoll(limit, &end, 10);
		if (*end || q.limit < 1)
			return cli_usage(c, "--limit must be a positive number, not \"%s\"", limit);
	}
	int rc = cli_open(c);
	if (rc)
		return rc;
	log_state st = { c, cJSON_CreateArray(), 0 };
	rc = stkdr_audit_log(c->ctx, &q, log_one, &st);
	if (c->json)
		cli_json_print(st.arr);
	else
		cJSON_Delete(st.arr);
	return rc ? cli_fail(c, rc) : 0;
}

int cmd_audit_lifecycle_apply(cli *c, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	int rc = cli_open(c);
	if (rc)
		return rc;
	stkdr_buf rep = STKDR_BUF_INIT;
	rc = stkdr_audit_lifecycle_apply(&rep, c->ctx);
	if (rc) {
		stkdr_buf_dispose(&rep);
		return cli_fail(c, rc);
	}
	if (c->json) {
		rc = cli_json_print_text(rep.ptr);
	} else {
		cJSON *o = cJSON_Parse(rep.ptr);
		const cJSON *r;
		cJSON_ArrayForEach(r, cJSON_GetObjectItem(o, "rules"))
			printf("rule %s: %s hot, cold after %d days, archive after %d days (every size)\n",
				cJSON_GetStringValue(cJSON_GetObjectItem(r, "id")),
				cJSON_GetStringValue(cJSON_GetObjectItem(r, "prefix")),
				(int)cJSON_GetNumberValue(cJSON_GetObjectItem(r, "cold_after_days")),
				(int)cJSON_GetNumberValue(cJSON_GetObjectItem(r, "archive_after_days")));
		cJSON_ArrayForEach(r, cJSON_GetObjectItem(o, "plan"))
			printf("would move %s to %s\n", cJSON_GetStringValue(cJSON_GetObjectItem(r, "key")),
				cJSON_GetStringValue(cJSON_GetObjectItem(r, "to")));
		cJSON_Delete(o);
	}
	stkdr_buf_dispose(&rep);
	return rc;
}
