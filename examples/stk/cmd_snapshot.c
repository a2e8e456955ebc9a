/* stk snapshot create|list|show|delete|expire, stk wal push|receive (wal get|prefetch: cmd_wal.c). */
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

static const char *kind_name(int k)
{
	static const char *const names[] = { "manual", "hourly", "daily", "monthly" };
	return k >= 0 && k < 4 ? names[k] : "?";
}

int cmd_snapshot_create(cli *c, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	stkdr_snapshot_options o;
	stkdr_snapshot_options_init(&o, STKDR_SNAPSHOT_OPTIONS_VERSION);
	const char *kind = cli_opt(c, "kind");
	if (kind) {
		if (!strcmp(kind, "hourly"))
			o.kind = STKDR_SNAPSHOT_HOURLY;
		else if (!strcmp(kind, "daily"))
			o.kind = STKDR_SNAPSHOT_DAILY;
		else if (!strcmp(kind, "monthly"))
			o.kind = STKDR_SNAPSHOT_MONTHLY;
		else if (!strcmp(kind, "manual"))
			o.kind = STKDR_SNAPSHOT_MANUAL;
		else
			return cli_usage(c, "--kind must be hourly, daily, monthly or manual, not \"%s\"", kind);
	}
	o.label = cli_opt(c, "label");
	if (cli_flag(c, "keep"))
		o.flags |= STKDR_SNAPSHOT_KEEP;
	if (cli_flag(c, "full"))
		o.flags |= STKDR_SNAPSHOT_FULL;
	if (cli_flag(c, "delta"))
		o.flags |= STKDR_SNAPSHOT_DELTA;
	const char *par = cli_opt(c, "parallel");
	if (par) {
		char *end;
		long v = strtol(par, &end, 10);
		if (*end || v < 1 || v > 64)
			return cli_usage(c, "--parallel must be a number from 1 to 64, not \"%s\"", par);
		o.parallel = (int)v;
	}
	int rc = cli_open(c);
	if (rc)
		return rc;
	stkdr_buf id = STKDR_BUF_INIT;
	rc = stkdr_snapshot_create(&id, c->ctx, &o);
	cli_progress_finish(c);
	if (rc && !id.ptr)
		return cli_fail(c, rc);
	int exit_rc = rc ? cli_fail(c, rc) : 0; /* page errors: the snapshot exists but exit 5 */
	if (c->json) {
		stkdr_buf man = STKDR_BUF_INIT;
		if (stkdr_snapshot_show(&man, c->ctx, id.ptr) == 0) {
			cJSON *m = cJSON_Parse(man.ptr);
			cJSON *out = cJSON_CreateObject();
			cJSON_AddStringToObject(out, "id", id.ptr);
			cJSON *keys[] = { cJSON_GetObjectItem(m, "kind"), cJSON_GetObjectItem(m, "incremental"),
				cJSON_GetObjectItem(m, "parent"), cJSON_GetObjectItem(m, "start_time"),
				cJSON_GetObjectItem(m, "stop_time"), cJSON_GetObjectItem(m, "stop_lsn"),
				cJSON_GetObjectItem(m, "totals"), cJSON_GetObjectItem(m, "page_errors") };
			for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
				if (keys[i])
					cJSON_AddItemToObject(out, keys[i]->string, cJSON_Duplicate(keys[i], 1));
			cJSON_Delete(m);
			cli_json_print(out);
		}
		stkdr_buf_dispose(&man);
	} else {
		printf("%s\n", id.ptr);
	}
	stkdr_buf_dispose(&id);
	return exit_rc;
}

typedef struct list_state {
	cli *c;
	cJSON *arr;
	int n;
} list_state;

static int list_one(const stkdr_snapshot_info *si, void *payload)
{
	list_state *st = payload;
	char start[32], stop[32], size[32], stored[32];
	fmt_time(start, sizeof start, si->start_ms);
	fmt_time(stop, sizeof stop, si->stop_ms);
	if (st->c->json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "id", si->id);
		cJSON_AddStringToObject(o, "kind", kind_name(si->kind));
		cJSON_AddStringToObject(o, "label", si->label);
		cJSON_AddBoolToObject(o, "keep", si->keep);
		cJSON_AddBoolToObject(o, "incremental", si->incremental);
		cJSON_AddStringToObject(o, "parent", si->parent);
		cJSON_AddStringToObject(o, "start_time", start);
		cJSON_AddStringToObject(o, "stop_time", stop);
		cJSON_AddStringToObject(o, "start_lsn", si->start_lsn);
		cJSON_AddStringToObject(o, "stop_lsn", si->stop_lsn);
		cJSON_AddNumberToObject(o, "timeline", si->timeline);
		cJSON_AddNumberToObject(o, "size_bytes", (double)si->size_bytes);
		cJSON_AddNumberToObject(o, "stored_bytes", (double)si->stored_bytes);
		cJSON_AddNumberToObject(o, "files", (double)si->n_files);
		cJSON_AddNumberToObject(o, "pg_version", si->pg_version);
		cJSON_AddItemToArray(st->arr, o);
	} else {
		if (st->n == 0)
			printf("%-26s %-8s %-4s %-20s %-12s %10s %10s  %s\n", "ID", "KIND", "TYPE", "STOPPED (UTC)", "STOP LSN",
				"SIZE", "STORED", "LABEL");
		cli_format_bytes(size, sizeof size, si->size_bytes);
		cli_format_bytes(stored, sizeof stored, si->stored_bytes);
		printf("%-26s %-8s %-4s %-20s %-12s %10s %10s  %s%s\n", si->id, kind_name(si->kind),
			si->incremental ? "incr" : "full", stop, si->stop_lsn, size, stored, si->keep ? "[keep] " : "",
			si->label);
	}
	st->n++;
	return 0;
}

int cmd_snapshot_list(cli *c, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	int rc = cli_open(c);
	if (rc)
		return rc;
	list_state st = { c, c->json ? cJSON_CreateArray() : NULL, 0 };
	rc = stkdr_snapshot_list(c->ctx, list_one, &st);
	if (rc) {
		cJSON_Delete(st.arr);
		return cli_fail(c, rc);
	}
	if (c->json)
		return cli_json_print(st.arr);
	if (st.n == 0)
		cli_info(c, "no snapshots yet: take one with `stk snapshot create`");
	return 0;
}

int cmd_snapshot_show(cli *c, int argc, char **argv)
{
	(void)argc;
	int rc = cli_open(c);
	if (rc)
		return rc;
	stkdr_buf out = STKDR_BUF_INIT;
	rc = stkdr_snapshot_show(&out, c->ctx, argv[0]);
	if (rc)
		return cli_fail(c, rc);
	rc = cli_json_print_text(out.ptr);
	stkdr_buf_dispose(&out);
	return rc;
}

int cmd_snapshot_delete(cli *c, int argc, char **argv)
{
	(void)argc;
	int rc = cli_open(c);
	if (rc)
		return rc;
	rc = stkdr_snapshot_delete(c->ctx, argv[0]);
	if (rc)
		return cli_fail(c, rc);
	cli_info(c, "deleted snapshot %s", argv[0]);
	return 0;
}

typedef struct expire_state {
	cli *c;
	cJSON *arr;
	int deleted;
} expire_state;

static int expire_one(const char *id, int action, const char *reason, void *payload)
{
	expire_state *st = payload;
	if (action == STKDR_EXPIRE_DELETE)
		st->deleted++;
	if (st->c->json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "id", id);
		cJSON_AddStringToObject(o, "action", action == STKDR_EXPIRE_DELETE ? "delete" : "keep");
		cJSON_AddStringToObject(o, "reason", reason);
		cJSON_AddItemToArray(st->arr, o);
	} else if (!st->c->quiet) {
		printf("%-6s %-26s %s\n", action == STKDR_EXPIRE_DELETE ? "DELETE" : "keep", id, reason);
	}
	return 0;
}

int cmd_snapshot_expire(cli *c, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	int rc = cli_open(c);
	if (rc)
		return rc;
	expire_state st = { c, c->json ? cJSON_CreateArray() : NULL, 0 };
	uint32_t flags = cli_flag(c, "dry-run") ? STKDR_EXPIRE_DRY_RUN : 0;
	rc = stkdr_snapshot_expire(c->ctx, flags, expire_one, &st);
	if (rc) {
		cJSON_Delete(st.arr);
		return cli_fail(c, rc);
	}
	if (c->json)
		return cli_json_print(st.arr);
	cli_info(c, "%d snapshot%s %s", st.deleted, st.deleted == 1 ? "" : "s",
		flags ? "would be deleted (dry run)" : "deleted");
	return 0;
}

int cmd_wal_push(cli *c, int argc, char **argv)
{
	(void)argc;
	int rc = cli_open(c);
	if (rc)
		return rc;
	rc = stkdr_wal_push(c->ctx, argv[0]);
	return rc ? cli_fail(c, rc) : 0;
}



int cmd_wal_receive(cli *c, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	int rc = cli_open(c);
	if (rc)
		return rc;
	stkdr_wal_receive_options o;
	stkdr_wal_receive_options_init(&o, STKDR_WAL_RECEIVE_OPTIONS_VERSION);
	o.slot = cli_opt(c, "slot");
	rc = stkdr_wal_receive(c->ctx, &o);
	cli_progress_finish(c);
	/* stopped by SIGINT/SIGTERM: a clean stop, not a failure */
	if (rc == STKDR_ECANCELLED || rc == STKDR_EUSER)
		return 0;
	return rc ? cli_fail(c, rc) : 0;
}
