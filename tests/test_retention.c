/* The grandfather-father-son retention decision (src/features/retention.c) on its own: a simulated year,
 * --keep, the newest, months, the configured policy, and the same decisions and reasons as
 * stkdr_snapshot_expire() gives on a repository holding the same snapshots. */
#include "testutil.h"
#include "core/timeutil.h"
#include "features/repo.h"
#include "features/retention.h"

#include <stdio.h>
#include <string.h>

#define DAY (86400000LL)
#define HOUR (3600000LL)

static stkdr__retention_policy defaults(void)
{
	stkdr__retention_policy p = { 7 * DAY, 30 * DAY, 365 * DAY };
	return p;
}

static int64_t t_of(const char *s)
{
	int64_t ms;
	tu_assert_ok(stkdr__time_parse_rfc3339(&ms, s));
	return ms;
}

/* The dataset of test_expire.c: a year and more of dailies at 02:00, 10 days of hourlies, a --keep manual
 * snapshot 200 days old and a plain one 45 days old; sorted oldest first. Returns the count. */
static size_t year(stkdr__retention_item *v, int64_t now)
{
	size_t n = 0;
	int64_t day0 = now - now % DAY;
	for (int d = 400; d >= 1; d--)
		v[n++] = (stkdr__retention_item){ .kind = STKDR_SNAPSHOT_DAILY, .start_ms = day0 - d * DAY + 2 * HOUR };
	for (int h = 10 * 24; h >= 1; h--)
		v[n++] = (stkdr__retention_item){ .kind = STKDR_SNAPSHOT_HOURLY, .start_ms = now - h * HOUR + 60000 };
	v[n++] = (stkdr__retention_item){ .kind = STKDR_SNAPSHOT_MANUAL, .start_ms = now - 200 * DAY + 5 * HOUR, .keep = 1 };
	v[n++] = (stkdr__retention_item){ .kind = STKDR_SNAPSHOT_MANUAL, .start_ms = now - 45 * DAY + 7 * HOUR };
	/* oldest first, as the callers give them (insertion sort: small and stable) */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && v[j - 1].start_ms > v[j].start_ms; j--) {
			stkdr__retention_item t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return n;
}

START_TEST(a_simulated_year)
{
	static stkdr__retention_item v[700];
	int64_t now = t_of("2026-12-31T12:00:00Z");
	size_t n = year(v, now);
	stkdr__retention_policy pol = defaults();
	size_t doomed = stkdr__retention_decide(v, n, now, &pol);
	size_t hourly = 0, daily = 0, deleted = 0;
	int keep_seen = 0;
	for (size_t i = 0; i < n; i++) {
		int64_t age = now - v[i].start_ms;
		ck_assert_uint_gt(strlen(v[i].reason), 0);
		if (v[i].action == STKDR_EXPIRE_DELETE) {
			deleted++;
			ck_assert(!v[i].keep);
			ck_assert_msg(strstr(v[i].reason, "older than retention."), "%s", v[i].reason);
			continue;
		}
		if (v[i].keep) {
			keep_seen = 1;
			ck_assert_str_eq(v[i].reason, "kept: taken with --keep (199d19h old)");
		}
		if (v[i].kind == STKDR_SNAPSHOT_HOURLY) {
			hourly++;
			ck_assert_msg(age <= 7 * DAY || i == n - 1, "hourly kept at %lld h", (long long)(age / HOUR));
		} else if (v[i].kind == STKDR_SNAPSHOT_DAILY) {
			daily++;
			ck_assert_msg(age <= 365 * DAY, "a daily older than a year kept: %s", v[i].reason);
			if (age > 30 * DAY)
				ck_assert_msg(strstr(v[i].reason, "monthly (first of its month)"), "%s", v[i].reason);
		}
	}
	ck_assert_uint_eq(doomed, deleted);
	ck_assert(keep_seen);
	ck_assert_uint_eq(hourly, 7 * 24);
	ck_assert_msg(daily >= 30 + 11 && daily <= 30 + 13, "%zu dailies left", daily);
	/* the newest (an hourly) says why it stays */
	ck_assert_int_eq(v[n - 1].action, STKDR_EXPIRE_KEEP);
	ck_assert_str_eq(v[n - 1].reason, "kept: the newest snapshot is never expired (59m old)");
	/* deciding again over what is left deletes nothing */
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (v[i].action == STKDR_EXPIRE_KEEP)
			v[m++] = v[i];
	ck_assert_uint_eq(stkdr__retention_decide(v, m, now, &pol), 0);
}
END_TEST

START_TEST(rules_one_by_one)
{
	stkdr__retention_policy pol = defaults();
	int64_t now = t_of("2026-06-30T12:00:00Z");
	ck_assert_uint_eq(stkdr__retention_decide(NULL, 0, now, &pol), 0);
	stkdr__retention_item v[6];
	memset(v, 0, sizeof v);
	/* two dailies of March: the first is March's monthly, the second goes after 30 days */
	v[0] = (stkdr__retention_item){ .kind = STKDR_SNAPSHOT_DAILY, .start_ms = t_of("2026-03-01T02:00:00Z") };
	v[1] = (stkdr__retention_item){ .kind = STKDR_SNAPSHOT_DAILY, .start_ms = t_of("2026-03-02T02:00:00Z") };
	/* a monthly one of April younger than retention.daily would be... kept as monthly anyway */
	v[2] = (stkdr__retention_item){ .kind = STKDR_SNAPSHOT_MONTHLY, .start_ms = t_of("2026-06-25T00:00:00Z") };
	/* an old hourly */
	v[3] = (stkdr__retention_item){ .kind = STKDR_SNAPSHOT_HOURLY, .start_ms = t_of("2026-06-20T00:00:00Z") };
	/* a young hourly */
	v[4] = (stkdr__retention_item){ .kind = STKDR_SNAPSHOT_HOURLY, .start_ms = t_of("2026-06-30T10:00:00Z") };
	/* the newest: an ancient-looking kind does not matter */
	v[5] = (stkdr__retention_item){ .kind = STKDR_SNAPSHOT_HOURLY, .start_ms = t_of("2026-06-30T11:30:00Z") };
	ck_assert_uint_eq(stkdr__retention_decide(v, 6, now, &pol), 2);
	ck_assert_int_eq(v[0].action, STKDR_EXPIRE_KEEP);
	ck_assert_str_eq(v[0].reason, "monthly (first of its month), 121d10h old, within retention.monthly 365d");
	ck_assert_int_eq(v[1].action, STKDR_EXPIRE_DELETE);
	ck_assert_str_eq(v[1].reason, "daily, 120d10h old, older than retention.daily 30d");
	ck_assert_int_eq(v[2].action, STKDR_EXPIRE_KEEP);
	ck_assert_str_eq(v[2].reason, "monthly (first of its month), 5d12h old, within retention.monthly 365d");
	ck_assert_int_eq(v[3].action, STKDR_EXPIRE_DELETE);
	ck_assert_str_eq(v[3].reason, "hourly, 10d12h old, older than retention.hourly 7d");
	ck_assert_int_eq(v[4].action, STKDR_EXPIRE_KEEP);
	ck_assert_str_eq(v[4].reason, "hourly, 2h old, within retention.hourly 7d");
	ck_assert_int_eq(v[5].action, STKDR_EXPIRE_KEEP);
	/* a monthly past retention.monthly goes; --keep beats everything */
	stkdr__retention_item w[3];
	memset(w, 0, sizeof w);
	w[0] = (stkdr__retention_item){ .kind = STKDR_SNAPSHOT_MONTHLY, .start_ms = now - 400 * DAY };
	w[1] = (stkdr__retention_item){ .kind = STKDR_SNAPSHOT_HOURLY, .start_ms = now - 399 * DAY, .keep = 1 };
	w[2] = (stkdr__retention_item){ .kind = STKDR_SNAPSHOT_MANUAL, .start_ms = now - DAY };
	ck_assert_uint_eq(stkdr__retention_decide(w, 3, now, &pol), 1);
	ck_assert_str_eq(w[0].reason, "monthly, 400d old, older than retention.monthly 365d");
	ck_assert_int_eq(w[1].action, STKDR_EXPIRE_KEEP);
	ck_assert_str_eq(w[1].reason, "kept: taken with --keep (399d old)");
	ck_assert_str_eq(w[2].reason, "kept: the newest snapshot is never expired (1d old)");
	/* a snapshot "from the future" (a clock behind) is 0 old */
	stkdr__retention_item f[2];
	memset(f, 0, sizeof f);
	f[0] = (stkdr__retention_item){ .kind = STKDR_SNAPSHOT_HOURLY, .start_ms = now + HOUR };
	f[1] = (stkdr__retention_item){ .kind = STKDR_SNAPSHOT_HOURLY, .start_ms = now + 2 * HOUR };
	ck_assert_uint_eq(stkdr__retention_decide(f, 2, now, &pol), 0);
	ck_assert_str_eq(f[0].reason, "hourly, 0s old, within retention.hourly 7d");
}
END_TEST

START_TEST(policy_from_the_configuration)
{
	stkdr_ctx *c = tu_ctx_json("{\"deployment\":\"d\"}");
	stkdr__retention_policy pol;
	stkdr__retention_policy_load(&pol, c);
	ck_assert_int_eq(pol.hourly_ms, 7 * DAY);
	ck_assert_int_eq(pol.daily_ms, 30 * DAY);
	ck_assert_int_eq(pol.monthly_ms, 365 * DAY);
	stkdr_ctx_free(c);
	c = tu_ctx_json("{\"deployment\":\"d\",\"retention\":{\"hourly\":\"1d\",\"daily\":\"2w\",\"monthly\":\"90d\"}}");
	stkdr__retention_policy_load(&pol, c);
	ck_assert_int_eq(pol.hourly_ms, DAY);
	ck_assert_int_eq(pol.daily_ms, 14 * DAY);
	ck_assert_int_eq(pol.monthly_ms, 90 * DAY);
	int64_t now = t_of("2026-06-30T12:00:00Z");
	stkdr__retention_item v[2];
	memset(v, 0, sizeof v);
	v[0] = (stkdr__retention_item){ .kind = STKDR_SNAPSHOT_HOURLY, .start_ms = now - 2 * DAY };
	v[1] = (stkdr__retention_item){ .kind = STKDR_SNAPSHOT_HOURLY, .start_ms = now - HOUR };
	ck_assert_uint_eq(stkdr__retention_decide(v, 2, now, &pol), 1);
	ck_assert_str_eq(v[0].reason, "hourly, 2d old, older than retention.hourly 1d");
	stkdr_ctx_free(c);
}
END_TEST

/* ---- the same decisions as stkdr_snapshot_expire() on a repository ---- */

typedef struct got {
	char ids[400][64];
	int actions[400];
	char reasons[400][200];
	int n;
} got;

static int on_decision(const char *id, int action, const char *reason, void *payload)
{
	got *g = payload;
	if (g->n < 400) {
		snprintf(g->ids[g->n], sizeof g->ids[0], "%s", id);
		g->actions[g->n] = action;
		snprintf(g->reasons[g->n], sizeof g->reasons[0], "%s", reason);
	}
	g->n++;
	return 0;
}

START_TEST(same_as_the_repository_expire)
{
	static const char *const kinds[] = { "manual", "hourly", "daily", "monthly" };
	char *dir = tu_mkdtemp("retention");
	char *json = stkdr__aprintf("{\"deployment\":\"gfs\",\"objstore\":{\"path\":\"%s/repo\"},"
		"\"clock\":{\"fake_now\":\"2026-12-31T12:00:00Z\"}}", dir);
	stkdr_ctx *c = tu_ctx_json(json);
	stkdr__free(json);
	int64_t now = t_of("2026-12-31T12:00:00Z");
	/* a lighter year: a daily every 3 days, 9 days of hourlies every 3 hours, manual ones, a monthly */
	static stkdr__retention_item v[400];
	static char ids[400][64];
	size_t n = 0;
	int64_t day0 = now - now % DAY;
	for (int d = 400; d >= 1; d -= 3)
		v[n++] = (stkdr__retention_item){ .kind = STKDR_SNAPSHOT_DAILY, .start_ms = day0 - d * DAY + 2 * HOUR };
	v[n++] = (stkdr__retention_item){ .kind = STKDR_SNAPSHOT_MONTHLY, .start_ms = day0 - 20 * DAY + 3 * HOUR };
	v[n++] = (stkdr__retention_item){ .kind = STKDR_SNAPSHOT_MANUAL, .start_ms = day0 - 19 * DAY + 5 * HOUR, .keep = 1 };
	v[n++] = (stkdr__retention_item){ .kind = STKDR_SNAPSHOT_MANUAL, .start_ms = day0 - 95 * DAY + 7 * HOUR };
	for (int h = 9 * 24; h >= 1; h -= 3)
		v[n++] = (stkdr__retention_item){ .kind = STKDR_SNAPSHOT_HOURLY, .start_ms = now - h * HOUR + 60000 };
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && v[j - 1].start_ms > v[j].start_ms; j--) {
			stkdr__retention_item t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	for (size_t i = 0; i < n; i++) {
		char when[40], rel[160];
		tu_assert_ok(stkdr__repo_new_id(ids[i], sizeof ids[i], v[i].start_ms));
		v[i].id = ids[i];
		stkdr__time_format_rfc3339(when, sizeof when, v[i].start_ms);
		char *m = stkdr__aprintf(
			"{\"format\":\"stkdr-snapshot\",\"format_version\":1,\"id\":\"%s\",\"kind\":\"%s\",\"keep\":%s,"
			"\"start_time\":\"%s\",\"stop_time\":\"%s\",\"wal\":{\"start\":\"000000010000000000000001\"},"
			"\"files\":[]}", ids[i], kinds[v[i].kind], v[i].keep ? "true" : "false", when, when);
		snprintf(rel, sizeof rel, "snapshots/%s/manifest.json", ids[i]);
		char *mk = stkdr__repo_key(c, rel);
		tu_assert_ok(stkdr__repo_put(c, mk, m, strlen(m), STKDR_PUT_CREATE_ONLY));
		stkdr__free(mk);
		stkdr__free(m);
	}
	static got g;
	memset(&g, 0, sizeof g);
	tu_assert_ok(stkdr_snapshot_expire(c, STKDR_EXPIRE_DRY_RUN, on_decision, &g));
	stkdr__retention_policy pol;
	stkdr__retention_policy_load(&pol, c);
	size_t doomed = stkdr__retention_decide(v, n, now, &pol);
	ck_assert_int_eq(g.n, (int)n);
	size_t repo_doomed = 0;
	for (size_t i = 0; i < n; i++) {
		ck_assert_str_eq(g.ids[i], v[i].id);
		ck_assert_msg(g.actions[i] == v[i].action, "%s: repository %d (%s), retention.c %d (%s)", v[i].id,
			g.actions[i], g.reasons[i], v[i].action, v[i].reason);
		ck_assert_str_eq(g.reasons[i], v[i].reason);
		repo_doomed += g.actions[i] == STKDR_EXPIRE_DELETE;
	}
	ck_assert_uint_eq(doomed, repo_doomed);
	ck_assert_uint_gt(doomed, 0);
	stkdr_ctx_free(c);
	tu_rmtree_free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("retention");
	TCase *tc = tcase_create("gfs");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, a_simulated_year);
	tcase_add_test(tc, rules_one_by_one);
	tcase_add_test(tc, policy_from_the_configuration);
	tcase_add_test(tc, same_as_the_repository_expire);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
