/* stk hub verify-backup, stk restore. */
#include "commands.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int cmd_hub_verify_backup(cli *c, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	const char *snap = cli_opt(c, "snapshot");
	if (!snap)
		return cli_usage(c, "--snapshot ID|latest is required");
	stkdr_verify_options o;
	stkdr_verify_options_init(&o, STKDR_VERIFY_OPTIONS_VERSION);
	if (cli_flag(c, "checksums-only"))
		o.flags |= STKDR_VERIFY_CHECKSUMS_ONLY;
	if (cli_flag(c, "keep-scratch"))
		o.flags |= STKDR_VERIFY_KEEP_SCRATCH;
	o.scratch_dir = cli_opt(c, "scratch-dir");
	int rc = cli_open(c);
	if (rc)
		return rc;
	stkdr_buf rep = STKDR_BUF_INIT;
	rc = stkdr_snapshot_verify(&rep, c->ctx, snap, &o);
	if (!rep.ptr)
		return cli_fail(c, rc);
	if (c->json) {
		cli_json_print_text(rep.ptr);
	} else {
		cJSON *r = cJSON_Parse(rep.ptr);
		const cJSON *ck;
		printf("snapshot %s\n", cJSON_GetStringValue(cJSON_GetObjectItem(r, "snapshot")));
		cJSON_ArrayForEach(ck, cJSON_GetObjectItem(r, "checks")) {
			const char *detail = cJSON_GetStringValue(cJSON_GetObjectItem(ck, "detail"));
			char line[512];
			snprintf(line, sizeof line, "%s", detail ? detail : "");
			for (char *p = line; *p; p++)
				if (*p == '\n')
					*p = ' ';
			printf("  %-4s %-16s %s\n", cJSON_IsTrue(cJSON_GetObjectItem(ck, "ok")) ? "PASS" : "FAIL",
				cJSON_GetStringValue(cJSON_GetObjectItem(ck, "check")), line);
		}
		const cJSON *counts = cJSON_GetObjectItem(r, "row_counts");
		cJSON_ArrayForEach(ck, counts)
			printf("  rows %-16s %.0f\n", ck->string, ck->valuedouble);
		printf("%s in %.1f s\n", cJSON_IsTrue(cJSON_GetObjectItem(r, "ok")) ? "PASSED" : "FAILED",
			cJSON_GetNumberValue(cJSON_GetObjectItem(r, "seconds")));
		cJSON_Delete(r);
	}
	stkdr_buf_dispose(&rep);
	return rc ? cli_fail(c, rc) : 0;
}

/* RFC 3339 ("2026-02-10T14:25:00Z", "...+02:00", fractions) to Unix ms; -1 if malformed. */
static int64_t parse_rfc3339(const char *s)
{
	int y, mo, d, h, mi, n = 0;
	double sec;
	if (sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%lf%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6)
		return -1;
	const char *z = s + n;
	int off = 0;
	if (*z == 'Z' || *z == 'z') {
		z++;
	} else if (*z == '+' || *z == '-') {
		int oh, om;
		if (sscanf(z + 1, "%2d:%2d", &oh, &om) != 2)
			return -1;
		off = (oh * 60 + om) * (*z == '+' ? 1 : -1);
		z += 6;
	} else {
		return -1;
	}
	if (*z || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec < 0 || sec >= 61)
		return -1;
	struct tm tm = { 0 };
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = (int)sec;
	int64_t t = (int64_t)timegm(&tm);
	return (t - (int64_t)off * 60) * 1000 + (int64_t)((sec - (int)sec) * 1000 + 0.5);
}

int cmd_restore(cli *c, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	stkdr_restore_options o;
	stkdr_restore_options_init(&o, STKDR_RESTORE_OPTIONS_VERSION);
	o.target_dir = cli_opt(c, "target-dir");
	o.target_instance = cli_opt(c, "target-instance");
	if (!!o.target_dir == !!o.target_instance)
		return cli_usage(c, "give exactly one of --target-dir DIR (local-postgres) or --target-instance NAME");
	int ntargets = !!cli_opt(c, "snapshot") + !!cli_opt(c, "time") + !!cli_opt(c, "lsn") + !!cli_flag(c, "latest");
	if (ntargets != 1)
		return cli_usage(c, "give exactly one of --snapshot ID, --time T, --lsn L or --latest");
	if (cli_opt(c, "snapshot")) {
		o.target = STKDR_RESTORE_TARGET_SNAPSHOT;
		o.snapshot_id = cli_opt(c, "snapshot");
	} else if (cli_opt(c, "time")) {
		o.target = STKDR_RESTORE_TARGET_TIME;
		o.target_time_ms = parse_rfc3339(cli_opt(c, "time"));
		if (o.target_time_ms < 0)
			return cli_usage(c, "--time \"%s\" is not an RFC 3339 time such as 2026-02-10T14:25:00Z",
				cli_opt(c, "time"));
	} else if (cli_opt(c, "lsn")) {
		o.target = STKDR_RESTORE_TARGET_LSN;
		o.target_lsn = cli_opt(c, "lsn");
	} else {
		o.target = STKDR_RESTORE_TARGET_LATEST;
	}
	if (cli_flag(c, "start"))
		o.flags |= STKDR_RESTORE_START;
	if (cli_flag(c, "delta"))
		o.flags |= STKDR_RESTORE_DELTA;
	if (cli_flag(c, "force"))
		o.flags |= STKDR_RESTORE_FORCE;
	if (cli_flag(c, "swap")) {
		if (!(o.flags & STKDR_RESTORE_START) && !o.target_instance) /* managed: the new instance is renamed */
			return cli_usage(c, "--swap needs --start (or --target-instance with a managed provider)");
		o.flags |= STKDR_RESTORE_SWAP;
	}
	if (cli_opt(c, "port")) {
		char *end;
		long p = strtol(cli_opt(c, "port"), &end, 10);
		if (*end || p < 1 || p > 65535)
			return cli_usage(c, "--port must be a TCP port (1-65535), not \"%s\"", cli_opt(c, "port"));
		if (!(o.flags & STKDR_RESTORE_START))
			return cli_usage(c, "--port needs --start");
		o.port = (int)p;
	}
	if (cli_opt(c, "parallel")) {
		char *end;
		long v = strtol(cli_opt(c, "parallel"), &end, 10);
		if (*end || v < 1 || v > 64)
			return cli_usage(c, "--parallel must be a number from 1 to 64");
		o.parallel = (int)v;
	}
	int rc = cli_open(c);
	if (rc)
		return rc;
	stkdr_buf rep = STKDR_BUF_INIT;
	rc = stkdr_restore(&rep, c->ctx, &o);
	cli_progress_finish(c);
	if (rc) {
		stkdr_buf_dispose(&rep);
		return cli_fail(c, rc);
	}
	if (c->json) {
		cli_json_print_text(rep.ptr ? rep.ptr : "{}");
	} else {
		cJSON *r = cJSON_Parse(rep.ptr ? rep.ptr : "{}");
		const cJSON *it;
		cJSON_ArrayForEach(it, r) {
			if (cJSON_IsString(it))
				printf("%-16s %s\n", it->string, it->valuestring);
			else if (cJSON_IsNumber(it) && it->valuedouble == (double)(int64_t)it->valuedouble)
				printf("%-16s %" PRId64 "\n", it->string, (int64_t)it->valuedouble);
			else if (cJSON_IsNumber(it))
				printf("%-16s %.3f\n", it->string, it->valuedouble);
			else if (cJSON_IsBool(it))
				printf("%-16s %s\n", it->string, cJSON_IsTrue(it) ? "true" : "false");
		}
		cJSON_Delete(r);
	}
	stkdr_buf_dispose(&rep);
	return 0;
}

int cmd_status(cli *c, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	int rc = cli_open(c);
	if (rc)
		return rc;
	stkdr_buf rep = STKDR_BUF_INIT;
	rc = stkdr_status(&rep, c->ctx);
	if (rc)
		return cli_fail(c, rc);
	cJSON *r = cJSON_Parse(rep.ptr);
	const cJSON *obj = cJSON_GetObjectItem(r, "objectives");
	const cJSON *rpo = cJSON_GetObjectItem(obj, "rpo"), *rto = cJSON_GetObjectItem(obj, "rto");
	const cJSON *wal = cJSON_GetObjectItem(r, "wal"), *snaps = cJSON_GetObjectItem(r, "snapshots");
	int ngaps = cJSON_GetArraySize(cJSON_GetObjectItem(wal, "gaps"));
	if (c->json) {
		cli_json_print_text(rep.ptr);
	} else {
#define S(o, k) (cJSON_GetStringValue(cJSON_GetObjectItem((o), (k))) ? cJSON_GetStringValue(cJSON_GetObjectItem((o), (k))) : "-")
		printf("deployment            %s\n", S(r, "deployment"));
		printf("snapshots             %.0f (newest %s, consistent at %s, %s ago)\n",
			cJSON_GetNumberValue(cJSON_GetObjectItem(snaps, "count")), S(snaps, "newest"),
			S(snaps, "newest_consistent_at"), S(snaps, "newest_age"));
		printf("newest archived WAL   %s at %s\n", S(wal, "newest"), S(wal, "newest_archived_at"));
		printf("restorable            %s .. %s\n", S(r, "earliest_restorable_time"), S(r, "latest_restorable_time"));
		printf("WAL gaps              %d", ngaps);
		const cJSON *g;
		int shown = 0;
		cJSON_ArrayForEach(g, cJSON_GetObjectItem(wal, "gaps"))
			if (shown++ < 5)
				printf("%s%s", shown == 1 ? " (missing: " : ", ", g->valuestring);
		printf("%s\n", ngaps ? (ngaps > 5 ? ", ...)" : ")") : "");
		printf("RPO                   exposure %s, target %s: %s\n", S(rpo, "exposure"), S(rpo, "target"),
			cJSON_IsTrue(cJSON_GetObjectItem(rpo, "ok")) ? "OK" : "NOT MET");
		printf("RTO                   measured %s, target %s: %s\n", S(rto, "measured"), S(rto, "target"),
			cJSON_IsTrue(cJSON_GetObjectItem(rto, "ok")) ? "OK" : "NOT MET");
		if (cJSON_GetObjectItem(rpo, "problem"))
			printf("  rpo: %s\n", S(rpo, "problem"));
		if (cJSON_GetObjectItem(rto, "problem"))
			printf("  rto: %s\n", S(rto, "problem"));
#undef S
	}
	int ok = cJSON_IsTrue(cJSON_GetObjectItem(r, "ok"));
	cJSON_Delete(r);
	stkdr_buf_dispose(&rep);
	return ngaps ? CLI_EXIT_CORRUPT : (ok ? 0 : CLI_EXIT_FAILURE);
}
