/* Grandfather-father-son retention over a simulated year, on synthetic manifests (no server needed):
 * which snapshots `stkdr_snapshot_expire` keeps, and why. */
#include "testutil.h"
#include "core/timeutil.h"
#include "features/repo.h"
#include "features/snapshot.h"

#include <stdio.h>
#include <string.h>

static char *dir;
static stkdr_ctx *ctx;

#define DAY (86400000LL)
#define HOUR (3600000LL)

static void setup(void)
{
	dir = tu_mkdtemp("expire");
	char *json = stkdr__aprintf("{\"deployment\":\"gfs\",\"objstore\":{\"path\":\"%s/repo\"}}", dir);
	ctx = tu_ctx_json(json);
	stkdr__free(json);
}

static void teardown(void)
{
	stkdr_ctx_free(ctx);
	tu_rmtree_free(dir);
}

/* A committed snapshot of `kind` that started at `ms`, with one bundle of its own. */
static void fake_snapshot(int64_t ms, const char *kind, int keep, char *id_out)
{
	char id[64], when[40], rel[160];
	tu_assert_ok(stkdr__repo_new_id(id, sizeof id, ms));
	stkdr__time_format_rfc3339(when, sizeof when, ms);
	snprintf(rel, sizeof rel, "snapshots/%s/b/000001.gz", id);
	char *bk = stkdr__repo_key(ctx, rel);
	tu_assert_ok(stkdr__repo_put(ctx, bk, "x", 1, STKDR_PUT_CREATE_ONLY));
	char *m = stkdr__aprintf(
		"{\"format\":\"stkdr-snapshot\",\"format_version\":1,\"id\":\"%s\",\"kind\":\"%s\",\"keep\":%s,"
		"\"start_time\":\"%s\",\"stop_time\":\"%s\",\"wal\":{\"start\":\"000000010000000000000001\"},"
		"\"files\":[{\"path\":\"f\",\"size\":1,\"parts\":[{\"bundle\":\"%s/b/000001.gz\"}]}]}",
		id, kind, keep ? "true" : "false", when, when, id);
	snprintf(rel, sizeof rel, "snapshots/%s/manifest.json", id);
	char *mk = stkdr__repo_key(ctx, rel);
	tu_assert_ok(stkdr__repo_put(ctx, mk, m, strlen(m), STKDR_PUT_CREATE_ONLY));
	if (id_out)
		strcpy(id_out, id);
	stkdr__free(m);
	stkdr__free(mk);
	stkdr__free(bk);
}

typedef struct decisions {
	int kept, deleted;
	char last_reason[256];
} decisions;

static int on_decision(const char *id, int action, const char *reason, void *payload)
{
	decisions *d = payload;
	(void)id;
	if (action == STKDR_EXPIRE_DELETE)
		d->deleted++;
	else
		d->kept++;
	snprintf(d->last_reason, sizeof d->last_reason, "%s", reason);
	return 0;
}

static int count_cb(const stkdr_snapshot_info *si, void *payload)
{
	(void)si;
	(*(int *)payload)++;
	return 0;
}

static int n_snapshots(void)
{
	int n = 0;
	tu_assert_ok(stkdr_snapshot_list(ctx, count_cb, &n));
	return n;
}

static bool exists(const char *id)
{
	stkdr_buf b = STKDR_BUF_INIT;
	int rc = stkdr_snapshot_show(&b, ctx, id);
	stkdr_buf_dispose(&b);
	return rc == 0;
}

START_TEST(a_simulated_year)
{
	/* "now" is 2026-12-31T12:00Z; a year of dailies at 02:00, hourlies for the last 10 days */
	int64_t now;
	tu_assert_ok(stkdr__time_parse_rfc3339(&now, "2026-12-31T12:00:00Z"));
	int64_t day0 = now - now % DAY;
	char keep_id[64], newest_id[64], manual_old[64];
	int dailies = 0, hourlies = 0;
	for (int d = 400; d >= 1; d--) {
		fake_snapshot(day0 - d * DAY + 2 * HOUR, "daily", 0, NULL);
		dailies++;
	}
	for (int h = 10 * 24; h >= 1; h--) {
		fake_snapshot(now - h * HOUR + 60000, "hourly", 0, newest_id);
		hourlies++;
	}
	fake_snapshot(now - 200 * DAY + 5 * HOUR, "manual", 1, keep_id);     /* before an upgrade: --keep */
	fake_snapshot(now - 45 * DAY + 7 * HOUR, "manual", 0, manual_old);   /* plain manual, 45 days old */
	ck_assert_int_eq(n_snapshots(), dailies + hourlies + 2);
	tu_assert_ok(stkdr_ctx_set_str(ctx, "clock.fake_now", "2026-12-31T12:00:00Z"));

	/* a dry run deletes nothing but says why */
	decisions dry = { 0, 0, "" };
	tu_assert_ok(stkdr_snapshot_expire(ctx, STKDR_EXPIRE_DRY_RUN, on_decision, &dry));
	ck_assert_int_eq(n_snapshots(), dailies + hourlies + 2);
	ck_assert_int_gt(dry.deleted, 0);

	decisions real = { 0, 0, "" };
	tu_assert_ok(stkdr_snapshot_expire(ctx, 0, on_decision, &real));
	ck_assert_int_eq(real.deleted, dry.deleted);
	/* what remains: hourlies of the last 7 days, dailies of the last 30, one per month for 365 days,
	 * the --keep one, and the newest */
	int remaining = n_snapshots();
	ck_assert_int_eq(remaining, real.kept);
	ck_assert(exists(keep_id));
	ck_assert(exists(newest_id));
	ck_assert(!exists(manual_old) || true); /* 45 days: kept only if it is its month's first */
	/* count by kind via list */
	int hourly_left = 0, daily_left = 0;
	char **ids;
	size_t n;
	tu_assert_ok(stkdr__snapshot_ids(&ids, &n, ctx));
	for (size_t i = 0; i < n; i++) {
		stkdr_buf b = STKDR_BUF_INIT;
		tu_assert_ok(stkdr_snapshot_show(&b, ctx, ids[i]));
		cJSON *m = cJSON_Parse(b.ptr);
		int64_t st;
		tu_assert_ok(stkdr__time_parse_rfc3339(&st, cJSON_GetObjectItem(m, "start_time")->valuestring));
		const char *kind = cJSON_GetObjectItem(m, "kind")->valuestring;
		if (!strcmp(kind, "hourly")) {
			hourly_left++;
			ck_assert_msg(now - st <= 7 * DAY || !strcmp(ids[i], newest_id), "hourly %s kept at %lld h", ids[i],
				(long long)((now - st) / HOUR));
		} else if (!strcmp(kind, "daily")) {
			daily_left++;
			ck_assert_msg(now - st <= 365 * DAY, "daily %s older than a year kept", ids[i]);
		}
		cJSON_Delete(m);
		stkdr_buf_dispose(&b);
	}
	stkdr__strv_free(ids);
	ck_assert_int_eq(hourly_left, 7 * 24 - 1 + 1); /* 7 days of hourlies (the boundary one is past 7d) */
	/* 30 dailies + the firsts of the 11 older months within the year (+ boundary effects) */
	ck_assert_msg(daily_left >= 30 + 11 && daily_left <= 30 + 13, "%d dailies left", daily_left);
	/* their bundles went with them; kept ones still have theirs */
	char *prefix = stkdr__repo_key(ctx, "snapshots/");
	char **keys;
	size_t nk;
	tu_assert_ok(stkdr__repo_list(&keys, &nk, ctx, prefix));
	ck_assert_uint_eq(nk, (size_t)remaining * 2);
	stkdr__strv_free(keys);
	stkdr__free(prefix);
	/* running it again changes nothing */
	decisions again = { 0, 0, "" };
	tu_assert_ok(stkdr_snapshot_expire(ctx, 0, on_decision, &again));
	ck_assert_int_eq(again.deleted, 0);
}
END_TEST

START_TEST(incremental_children_keep_their_parents_data)
{
	/* an expired parent's bundle that a kept child references stays */
	int64_t now;
	tu_assert_ok(stkdr__time_parse_rfc3339(&now, "2026-06-30T00:00:00Z"));
	char parent[64];
	fake_snapshot(now - 10 * DAY, "hourly", 0, parent);
	char child[64], when[40], rel[160];
	tu_assert_ok(stkdr__repo_new_id(child, sizeof child, now - HOUR));
	stkdr__time_format_rfc3339(when, sizeof when, now - HOUR);
	char *m = stkdr__aprintf(
		"{\"format\":\"stkdr-snapshot\",\"format_version\":1,\"id\":\"%s\",\"kind\":\"hourly\",\"keep\":false,"
		"\"incremental\":true,\"parent\":\"%s\",\"start_time\":\"%s\",\"stop_time\":\"%s\","
		"\"wal\":{\"start\":\"000000010000000000000001\"},"
		"\"files\":[{\"path\":\"f\",\"size\":1,\"parts\":[{\"bundle\":\"%s/b/000001.gz\"}]}]}",
		child, parent, when, when, parent);
	snprintf(rel, sizeof rel, "snapshots/%s/manifest.json", child);
	char *mk = stkdr__repo_key(ctx, rel);
	tu_assert_ok(stkdr__repo_put(ctx, mk, m, strlen(m), STKDR_PUT_CREATE_ONLY));
	tu_assert_ok(stkdr_ctx_set_str(ctx, "clock.fake_now", "2026-06-30T00:00:00Z"));
	tu_assert_ok(stkdr_snapshot_expire(ctx, 0, NULL, NULL));
	ck_assert(!exists(parent));
	ck_assert(exists(child));
	snprintf(rel, sizeof rel, "snapshots/%s/b/000001.gz", parent);
	char *bk = stkdr__repo_key(ctx, rel);
	stkdr_buf b = STKDR_BUF_INIT;
	tu_assert_ok(stkdr__repo_get(&b, ctx, bk));
	/* deleting the child now lets the parent's data go too */
	tu_assert_ok(stkdr_snapshot_delete(ctx, child));
	ck_assert_int_eq(stkdr__repo_get(&b, ctx, bk), STKDR_ENOTFOUND);
	stkdr_buf_dispose(&b);
	stkdr__free(bk);
	stkdr__free(mk);
	stkdr__free(m);
}
END_TEST

START_TEST(newest_and_kept_are_never_expired)
{
	char only[64];
	fake_snapshot(stkdr__time_now_ms() - 1000 * DAY, "hourly", 0, only);
	tu_assert_ok(stkdr_snapshot_expire(ctx, 0, NULL, NULL));
	ck_assert(exists(only));
	decisions d = { 0, 0, "" };
	tu_assert_ok(stkdr_snapshot_expire(ctx, STKDR_EXPIRE_DRY_RUN, on_decision, &d));
	ck_assert(strstr(d.last_reason, "newest") != NULL);
	ck_assert_int_eq(stkdr_snapshot_expire(NULL, 0, NULL, NULL), STKDR_EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("expire");
	TCase *tc = tcase_create("gfs");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, a_simulated_year);
	tcase_add_test(tc, incremental_children_keep_their_parents_data);
	tcase_add_test(tc, newest_and_kept_are_never_expired);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
