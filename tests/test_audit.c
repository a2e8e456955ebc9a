/* The audit-log archive against a real PostgreSQL 15: export (deterministic, idempotent, conflicts, readiness),
 * tamper evidence (modified, deleted, swapped, newest-deleted days, foreign signatures), gaps, restore (exact,
 * idempotent, nothing from a day that fails verification), the log query and the lifecycle rules. */
#include "pgtest.h"
#include "backends/fault.h"
#include "backends/local/local.h"
#include "core/crypto.h"
#include "services/pg.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <zlib.h>

static pgt_cluster *pg;
static char *work;

static void shared_setup(void)
{
	if (pg || !pgt_available())
		return;
	pg = pgt_start("audit", "fsync = off\nsynchronous_commit = off\nautovacuum = off\n");
	work = tu_mkdtemp("audit");
	setenv("STKDR_MASTER_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", 1);
}

static void shared_teardown(void)
{
}

/* A ctx for table `tbl`, repository `repo` and secrets `sec` (directories under work). */
static stkdr_ctx *mk_ctx(const char *tbl, const char *repo, const char *sec, const char *now)
{
	char *json = stkdr__aprintf("{\"deployment\":\"hub\",\"postgres\":{\"conninfo\":\"%s\"},"
				    "\"objstore\":{\"backend\":\"local\",\"path\":\"%s/%s\"},"
				    "\"secrets\":{\"backend\":\"local\",\"path\":\"%s/%s\"},"
				    "\"audit\":{\"table\":\"%s\",\"lag\":\"1h\"},\"clock\":{\"fake_now\":\"%s\"}}",
		pg->conninfo, work, repo, work, sec, tbl, now ? now : "2026-02-20T12:00:00Z");
	stkdr_ctx *ctx = tu_ctx_json(json);
	stkdr__free(json);
	return ctx;
}

/* The Hub's audit table with ~2000 awkward rows over 2026-02-01..2026-02-10, nothing on 02-04. */
static void make_log(const char *tbl)
{
	char *sql = stkdr__aprintf(
		"CREATE TABLE %s (id bigserial PRIMARY KEY, timestamp timestamptz NOT NULL, actor text, action text, "
		"resource text, details jsonb); CREATE INDEX ON %s (timestamp);"
		"INSERT INTO %s (timestamp, actor, action, resource, details) "
		"SELECT ts, CASE g %% 6 WHEN 0 THEN NULL WHEN 1 THEN 'alice,bob' WHEN 2 THEN 'say \"hi\"' "
		"WHEN 3 THEN E'multi\\nline\\r\\nend' WHEN 4 THEN 'ünïcødé ✓ 日本' ELSE '' END, "
		"(ARRAY['project.create','project.delete','user.login'])[g %% 3 + 1], 'project/' || g, "
		"CASE WHEN g %% 7 = 0 THEN NULL WHEN g %% 501 = 1 THEN jsonb_build_object('big', repeat('x,\"y\"', 20000)) "
		"ELSE jsonb_build_object('n', g, 's', E'q\"uo,te\\n', 'a', jsonb_build_array(1, 'two', null)) END "
		"FROM (SELECT g, timestamptz '2026-02-01 00:00:00+00' + ((g / 2) * interval '10 minutes') AS ts "
		"FROM generate_series(1, 2860) g ORDER BY random()) s "
		"WHERE ts < '2026-02-04' OR ts >= '2026-02-05'", tbl, tbl, tbl);
	pgt_exec(pg, sql);
	stkdr__free(sql);
}

static char *table_md5(const char *tbl)
{
	char *sql = stkdr__aprintf("SELECT count(*) || ':' || md5(string_agg(t::text, '|' ORDER BY id)) FROM %s t", tbl);
	char *v = pgt_sql(pg, sql);
	stkdr__free(sql);
	return v;
}

typedef struct seen {
	int n;
	int status[64];
	char day[64][16];
	int64_t rows[64], db_rows[64];
	char detail[64][256];
} seen;

static int seen_cb(const stkdr_audit_day *d, void *payload)
{
	seen *s = payload;
	ck_assert_int_lt(s->n, 64);
	s->status[s->n] = d->status;
	snprintf(s->day[s->n], 16, "%s", d->day);
	s->rows[s->n] = d->rows;
	s->db_rows[s->n] = d->db_rows;
	snprintf(s->detail[s->n], 256, "%s", d->detail);
	s->n++;
	return 0;
}

static int status_of(const seen *s, const char *day)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->day[i], day))
			return s->status[i];
	return -1;
}

static const char *detail_of(const seen *s, const char *day)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->day[i], day))
			return s->detail[i];
	return "";
}

static char *obj_path(const char *repo, const char *rel)
{
	return stkdr__aprintf("%s/%s/hub/%s", work, repo, rel);
}

/* Rewrites an object's bytes and its sidecar (size, sha256), so the store itself sees nothing wrong. */
static void forge(const char *repo, const char *rel, const void *data, size_t len)
{
	char *p = obj_path(repo, rel);
	char *slash = strrchr(p, '/');
	*slash = '\0';
	char *side = stkdr__aprintf("%s/.stkdr-meta.%s", p, slash + 1);
	*slash = '/';
	chmod(p, 0644);
	chmod(side, 0644);
	tu_write_file(p, data, len);
	size_t sl;
	char *sj = tu_read_file(side, &sl);
	ck_assert_ptr_nonnull(sj);
	cJSON *o = cJSON_Parse(sj);
	uint8_t h[32];
	char hx[65];
	stkdr__sha256(data, len, h);
	stkdr__hex_encode(hx, h, 32);
	cJSON_ReplaceItemInObject(o, "sha256", cJSON_CreateString(hx));
	cJSON_ReplaceItemInObject(o, "size", cJSON_CreateNumber((double)len));
	char *txt = cJSON_PrintUnformatted(o);
	tu_write_file(side, txt, strlen(txt));
	cJSON_free(txt);
	cJSON_Delete(o);
	stkdr__free(sj);
	stkdr__free(side);
	stkdr__free(p);
}

static char *read_obj(const char *repo, const char *rel, size_t *len)
{
	char *p = obj_path(repo, rel);
	char *d = tu_read_file(p, len);
	stkdr__free(p);
	return d;
}

static void remove_obj(const char *repo, const char *rel)
{
	char *p = obj_path(repo, rel);
	char *slash = strrchr(p, '/');
	*slash = '\0';
	char *side = stkdr__aprintf("%s/.stkdr-meta.%s", p, slash + 1);
	*slash = '/';
	ck_assert_int_eq(unlink(p), 0);
	ck_assert_int_eq(unlink(side), 0);
	stkdr__free(side);
	stkdr__free(p);
}

static void copy_repo(const char *from, const char *to)
{
	char *cmd = stkdr__aprintf("rm -rf '%s/%s' && cp -a '%s/%s' '%s/%s'", work, to, work, from, work, to);
	ck_assert_int_eq(system(cmd), 0);
	stkdr__free(cmd);
}

static char *gunzip_str(const char *gz, size_t len)
{
	size_t cap = 4 << 20;
	char *out = stkdr__malloc(cap);
	z_stream z;
	memset(&z, 0, sizeof z);
	ck_assert_int_eq(inflateInit2(&z, 15 + 16), Z_OK);
	z.next_in = (Bytef *)gz;
	z.avail_in = (uInt)len;
	z.next_out = (Bytef *)out;
	z.avail_out = (uInt)(cap - 1);
	ck_assert_int_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
	out[z.total_out] = '\0';
	inflateEnd(&z);
	return out;
}

START_TEST(export_is_deterministic_and_idempotent)
{
	make_log("al_exp");
	stkdr_ctx *ctx = mk_ctx("al_exp", "r1", "s1", NULL);
	seen s = { 0 };
	tu_assert_ok(stkdr_audit_export(ctx, "2026-02-01", "2026-02-10", seen_cb, &s));
	ck_assert_int_eq(s.n, 10);
	for (int i = 0; i < 10; i++)
		ck_assert_msg(s.status[i] == STKDR_AUDIT_EXPORTED, "%s: %s", s.day[i], stkdr_audit_status_name(s.status[i]));
	ck_assert_int_eq(s.rows[3], 0); /* 02-04: empty, still archived */
	char *cnt = pgt_sql(pg, "SELECT count(*) FROM al_exp WHERE timestamp >= '2026-02-02' AND timestamp < '2026-02-03'");
	ck_assert_int_eq(s.rows[1], atoll(cnt));
	stkdr__free(cnt);
	/* the empty day has a manifest */
	size_t ml;
	char *man = read_obj("r1", "audit-meta/2026/02/04/manifest.json", &ml);
	ck_assert_ptr_nonnull(man);
	ck_assert(strstr(man, "\"rows\":0") != NULL);
	stkdr__free(man);
	/* CSV content: header, RFC 4180 quoting, ISO 8601 UTC, compact jsonb */
	size_t gl;
	char *gz = read_obj("r1", "audit/2026/02/02/audit.csv.gz", &gl);
	ck_assert_ptr_nonnull(gz);
	char *csv = gunzip_str(gz, gl);
	ck_assert(!strncmp(csv, "id,timestamp,actor,action,resource,details\n", 43));
	ck_assert(strstr(csv, "\"say \"\"hi\"\"\"") != NULL);
	ck_assert(strstr(csv, "\"alice,bob\"") != NULL);
	ck_assert(strstr(csv, "\"multi\nline\r\nend\"") != NULL);
	ck_assert(strstr(csv, "ünïcødé ✓ 日本") != NULL);
	ck_assert(strstr(csv, ",2026-02-02T00:00:00.000000Z,") != NULL);
	stkdr__free(csv);
	/* again: a no-op */
	seen s2 = { 0 };
	tu_assert_ok(stkdr_audit_export(ctx, "2026-02-01", "2026-02-10", seen_cb, &s2));
	for (int i = 0; i < s2.n; i++)
		ck_assert_int_eq(s2.status[i], STKDR_AUDIT_UNCHANGED);
	/* a second archive of the same table is byte-identical */
	stkdr_ctx *c2 = mk_ctx("al_exp", "r2", "s2", NULL);
	tu_assert_ok(stkdr_audit_export(c2, "2026-02-01", "2026-02-10", NULL, NULL));
	for (int d = 1; d <= 10; d++) {
		char rel[64];
		size_t l1, l2;
		snprintf(rel, sizeof rel, "audit/2026/02/%02d/audit.csv.gz", d);
		char *a = read_obj("r1", rel, &l1), *b = read_obj("r2", rel, &l2);
		ck_assert_msg(a && b && l1 == l2 && !memcmp(a, b, l1), "%s differs between two exports", rel);
		stkdr__free(a);
		stkdr__free(b);
		snprintf(rel, sizeof rel, "audit-meta/2026/02/%02d/manifest.json", d);
		a = read_obj("r1", rel, &l1);
		b = read_obj("r2", rel, &l2);
		ck_assert_msg(a && b && l1 == l2 && !memcmp(a, b, l1), "%s differs between two exports", rel);
		stkdr__free(a);
		stkdr__free(b);
	}
	stkdr_ctx_free(c2);
	stkdr__free(gz);
	/* verify passes */
	seen v = { 0 };
	tu_assert_ok(stkdr_audit_verify(ctx, NULL, NULL, seen_cb, &v));
	ck_assert_int_eq(v.n, 10);
	/* catching up: no range = from the head to yesterday (02-19) */
	seen c = { 0 };
	tu_assert_ok(stkdr_audit_export(ctx, NULL, NULL, seen_cb, &c));
	ck_assert_int_eq(c.n, 9);
	ck_assert_str_eq(c.day[8], "2026-02-19");
	/* a gap in the chain is refused */
	ck_assert_int_eq(stkdr_audit_export(ctx, "2026-02-25", NULL, NULL, NULL), STKDR_EINVAL);
	/* rows changed after export: conflict, archive untouched */
	pgt_exec(pg, "UPDATE al_exp SET actor = 'mallory' WHERE id = (SELECT min(id) FROM al_exp WHERE timestamp >= "
		     "'2026-02-03' AND timestamp < '2026-02-04')");
	size_t before_l;
	char *before = read_obj("r1", "audit/2026/02/03/audit.csv.gz", &before_l);
	seen k = { 0 };
	ck_assert_int_eq(stkdr_audit_export(ctx, "2026-02-03", NULL, seen_cb, &k), STKDR_EEXISTS);
	ck_assert(strstr(stkdr_ctx_last_error(ctx)->message, "2026-02-03") != NULL);
	ck_assert_int_eq(k.status[0], STKDR_AUDIT_CONFLICT);
	size_t after_l;
	char *after = read_obj("r1", "audit/2026/02/03/audit.csv.gz", &after_l);
	ck_assert(before_l == after_l && !memcmp(before, after, before_l));
	stkdr__free(before);
	stkdr__free(after);
	tu_assert_ok(stkdr_audit_verify(ctx, NULL, NULL, NULL, NULL));
	stkdr_ctx_free(ctx);
}
END_TEST

/* The export rewrites PostgreSQL's timestamptz text into the archive's ISO 8601 form on the client: the
 * CSV must be exactly what the server's to_char() gives, for every fraction length, and the manifest's
 * bounds those of the rows. */
START_TEST(timestamps_match_the_server_form)
{
	pgt_exec(pg, "CREATE TABLE al_ts (id bigserial PRIMARY KEY, timestamp timestamptz NOT NULL, actor text, "
		     "action text, resource text, details jsonb);"
		     "INSERT INTO al_ts (id, timestamp) VALUES (7, '2026-02-01 00:00:00+00'), (3, '2026-02-01 00:00:00.5+00'),"
		     "(9, '2026-02-01 01:02:03.123456+00'), (1, '2026-02-01 01:02:03.000001+00'), "
		     "(5, '2026-02-01 12:00:00.1+02'), (2, '2026-02-01 23:59:59.999999+00'), (4, '2026-02-02 00:00:00+00'),"
		     "(6, '2026-01-31 23:59:59.999999+00')");
	stkdr_ctx *ctx = mk_ctx("al_ts", "ts0", "s20", NULL);
	seen s = { 0 };
	tu_assert_ok(stkdr_audit_export(ctx, "2026-02-01", "2026-02-01", seen_cb, &s));
	ck_assert_int_eq(s.rows[0], 6);
	size_t gl;
	char *gz = read_obj("ts0", "audit/2026/02/01/audit.csv.gz", &gl);
	ck_assert_ptr_nonnull(gz);
	char *csv = gunzip_str(gz, gl);
	char *want = pgt_sql(pg, "SELECT 'id,timestamp,actor,action,resource,details' || chr(10) || string_agg(id || ',' "
				 "|| to_char(timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') || ',,,,' || "
				 "chr(10), '' ORDER BY timestamp, id) FROM al_ts WHERE timestamp >= '2026-02-01' AND "
				 "timestamp < '2026-02-02'");
	ck_assert_str_eq(csv, want);
	ck_assert(strstr(csv, "3,2026-02-01T00:00:00.500000Z,") != NULL);
	size_t ml;
	char *man = read_obj("ts0", "audit-meta/2026/02/01/manifest.json", &ml);
	ck_assert_ptr_nonnull(man);
	ck_assert_msg(strstr(man, "\"min_id\":1,\"max_id\":9,\"min_timestamp\":\"2026-02-01T00:00:00.000000Z\","
				  "\"max_timestamp\":\"2026-02-01T23:59:59.999999Z\"") != NULL, "%s", man);
	stkdr__free(man);
	stkdr__free(want);
	stkdr__free(csv);
	stkdr__free(gz);
	stkdr_ctx_free(ctx);
}
END_TEST

static void expect_verify(const char *repo, const char *day, int status)
{
	stkdr_ctx *ctx = mk_ctx("al_tamper", repo, "s3", NULL);
	seen v = { 0 };
	ck_assert_int_eq(stkdr_audit_verify(ctx, NULL, NULL, seen_cb, &v), STKDR_ECORRUPT);
	ck_assert_msg(strstr(stkdr_ctx_last_error(ctx)->message, day) != NULL, "message does not name %s: %s", day,
		stkdr_ctx_last_error(ctx)->message);
	ck_assert_msg(status_of(&v, day) == status, "%s: %s (%s), want %s", day,
		stkdr_audit_status_name(status_of(&v, day)),
		detail_of(&v, day), stkdr_audit_status_name(status));
	stkdr_ctx_free(ctx);
}

START_TEST(verify_names_tampered_days)
{
	make_log("al_tamper");
	stkdr_ctx *ctx = mk_ctx("al_tamper", "t0", "s3", NULL);
	tu_assert_ok(stkdr_audit_export(ctx, "2026-02-01", "2026-02-10", NULL, NULL));
	tu_assert_ok(stkdr_audit_verify(ctx, NULL, NULL, NULL, NULL));
	stkdr_ctx_free(ctx);

	/* one flipped byte (store metadata forged to match) */
	copy_repo("t0", "t1");
	size_t l;
	char *d = read_obj("t1", "audit/2026/02/03/audit.csv.gz", &l);
	d[l / 2] ^= 0x01;
	forge("t1", "audit/2026/02/03/audit.csv.gz", d, l);
	stkdr__free(d);
	expect_verify("t1", "2026-02-03", STKDR_AUDIT_MODIFIED);

	/* one day deleted */
	copy_repo("t0", "t2");
	remove_obj("t2", "audit/2026/02/05/audit.csv.gz");
	remove_obj("t2", "audit-meta/2026/02/05/manifest.json");
	remove_obj("t2", "audit-meta/2026/02/05/digest.json");
	expect_verify("t2", "2026-02-05", STKDR_AUDIT_MISSING);
	/* ...and cannot be slipped back into the chain by a re-export */
	ctx = mk_ctx("al_tamper", "t2", "s3", NULL);
	seen k = { 0 };
	ck_assert_int_eq(stkdr_audit_export(ctx, "2026-02-05", NULL, seen_cb, &k), STKDR_EEXISTS);
	ck_assert_int_eq(k.status[0], STKDR_AUDIT_CONFLICT);
	stkdr_ctx_free(ctx);
	expect_verify("t2", "2026-02-05", STKDR_AUDIT_MISSING);

	/* two days swapped */
	copy_repo("t0", "t3");
	size_t la, lb;
	char *a = read_obj("t3", "audit/2026/02/06/audit.csv.gz", &la);
	char *b = read_obj("t3", "audit/2026/02/07/audit.csv.gz", &lb);
	forge("t3", "audit/2026/02/06/audit.csv.gz", b, lb);
	forge("t3", "audit/2026/02/07/audit.csv.gz", a, la);
	stkdr__free(a);
	stkdr__free(b);
	expect_verify("t3", "2026-02-06", STKDR_AUDIT_REORDERED);
	expect_verify("t3", "2026-02-07", STKDR_AUDIT_REORDERED);

	/* the newest day deleted entirely: only the chain head knows */
	copy_repo("t0", "t4");
	remove_obj("t4", "audit/2026/02/10/audit.csv.gz");
	remove_obj("t4", "audit-meta/2026/02/10/manifest.json");
	remove_obj("t4", "audit-meta/2026/02/10/digest.json");
	expect_verify("t4", "2026-02-10", STKDR_AUDIT_MISSING);
	ctx = mk_ctx("al_tamper", "t4", "s3", NULL);
	ck_assert_int_eq(stkdr_audit_export(ctx, "2026-02-10", NULL, NULL, NULL), STKDR_EEXISTS);
	stkdr_ctx_free(ctx);
	expect_verify("t4", "2026-02-10", STKDR_AUDIT_MISSING);

	/* the CSV and manifest of a day deleted, its digest kept: the day is re-created from the table, and
	 * matches its signed digest exactly */
	copy_repo("t0", "t6");
	remove_obj("t6", "audit/2026/02/02/audit.csv.gz");
	remove_obj("t6", "audit-meta/2026/02/02/manifest.json");
	expect_verify("t6", "2026-02-02", STKDR_AUDIT_MISSING);
	ctx = mk_ctx("al_tamper", "t6", "s3", NULL);
	tu_assert_ok(stkdr_audit_export(ctx, "2026-02-02", NULL, NULL, NULL));
	tu_assert_ok(stkdr_audit_verify(ctx, NULL, NULL, NULL, NULL));
	stkdr_ctx_free(ctx);

	/* a digest rewritten (store metadata forged): its signature fails */
	copy_repo("t0", "t5");
	char *dg = read_obj("t5", "audit-meta/2026/02/08/digest.json", &l);
	char *p = strstr(dg, "\"rows\":");
	ck_assert_ptr_nonnull(p);
	p[7] = p[7] == '9' ? '8' : '9';
	forge("t5", "audit-meta/2026/02/08/digest.json", dg, l);
	stkdr__free(dg);
	expect_verify("t5", "2026-02-08", STKDR_AUDIT_BAD_SIGNATURE);
}
END_TEST

START_TEST(gaps_and_restore)
{
	make_log("al_gap");
	char *orig = table_md5("al_gap");
	stkdr_ctx *ctx = mk_ctx("al_gap", "g0", "s4", NULL);
	tu_assert_ok(stkdr_audit_export(ctx, "2026-02-01", "2026-02-10", NULL, NULL));
	int64_t n = -1;
	seen g = { 0 };
	tu_assert_ok(stkdr_audit_gaps(&n, ctx, NULL, NULL, seen_cb, &g));
	ck_assert_int_eq(n, 0);
	/* the runbook's accident: 02-05..02-08 purged, and a few rows of 02-02 */
	pgt_exec(pg, "DELETE FROM al_gap WHERE timestamp >= '2026-02-05' AND timestamp < '2026-02-09'");
	pgt_exec(pg, "DELETE FROM al_gap WHERE timestamp >= '2026-02-02 10:00' AND timestamp < '2026-02-02 11:00'");
	memset(&g, 0, sizeof g);
	tu_assert_ok(stkdr_audit_gaps(&n, ctx, NULL, NULL, seen_cb, &g));
	ck_assert_int_eq(n, 5);
	ck_assert_int_eq(status_of(&g, "2026-02-02"), STKDR_AUDIT_DB_SHORT);
	ck_assert_int_eq(status_of(&g, "2026-02-05"), STKDR_AUDIT_DB_SHORT);
	ck_assert_int_eq(status_of(&g, "2026-02-08"), STKDR_AUDIT_DB_SHORT);
	ck_assert_int_eq(status_of(&g, "2026-02-09"), STKDR_AUDIT_OK);
	ck_assert_int_eq(status_of(&g, "2026-02-04"), STKDR_AUDIT_OK);
	char *damaged = table_md5("al_gap");

	/* a corrupt gzip (store metadata forged to match) leaves the table untouched */
	copy_repo("g0", "g1");
	size_t l;
	char *d = read_obj("g1", "audit/2026/02/06/audit.csv.gz", &l);
	memset(d + l / 2, 0x55, 64);
	forge("g1", "audit/2026/02/06/audit.csv.gz", d, l);
	stkdr__free(d);
	stkdr_ctx *c1 = mk_ctx("al_gap", "g1", "s4", NULL);
	seen r = { 0 };
	ck_assert_int_eq(stkdr_audit_restore(c1, "2026-02-06", "2026-02-06", seen_cb, &r), STKDR_ECORRUPT);
	ck_assert_int_eq(r.status[0], STKDR_AUDIT_FAILED);
	char *now = table_md5("al_gap");
	ck_assert_str_eq(now, damaged);
	stkdr__free(now);
	stkdr_ctx_free(c1);

	/* a valid gzip of altered rows: the COPY straight into the table succeeds, the hashes then fail and the
	 * day's transaction rolls back: the table is untouched */
	copy_repo("g0", "g2");
	d = read_obj("g2", "audit/2026/02/07/audit.csv.gz", &l);
	char *csv = gunzip_str(d, l);
	stkdr__free(d);
	char *comma = strstr(csv, "project/");
	ck_assert_ptr_nonnull(comma);
	comma[0] = 'P'; /* one changed character in a resource */
	uLongf zl = compressBound(strlen(csv)) + 64;
	uint8_t *z = stkdr__malloc(zl);
	z_stream zs;
	memset(&zs, 0, sizeof zs);
	ck_assert_int_eq(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
	zs.next_in = (Bytef *)csv;
	zs.avail_in = (uInt)strlen(csv);
	zs.next_out = z;
	zs.avail_out = (uInt)zl;
	ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
	forge("g2", "audit/2026/02/07/audit.csv.gz", z, zs.total_out);
	deflateEnd(&zs);
	stkdr__free(z);
	stkdr__free(csv);
	c1 = mk_ctx("al_gap", "g2", "s4", NULL);
	memset(&r, 0, sizeof r);
	ck_assert_int_eq(stkdr_audit_restore(c1, "2026-02-07", "2026-02-07", seen_cb, &r), STKDR_ECORRUPT);
	ck_assert_int_eq(r.status[0], STKDR_AUDIT_FAILED);
	ck_assert_msg(strstr(r.detail[0], "SHA-256") != NULL, "%s", r.detail[0]);
	now = table_md5("al_gap");
	ck_assert_str_eq(now, damaged);
	stkdr__free(now);
	stkdr_ctx_free(c1);

	/* a foreign archive key: every signature fails, nothing imported */
	stkdr_ctx *cx = mk_ctx("al_gap", "gx", "s5", NULL);
	tu_assert_ok(stkdr_audit_export(cx, "2026-02-01", "2026-02-01", NULL, NULL)); /* creates a key in s5 */
	stkdr_ctx_free(cx);
	cx = mk_ctx("al_gap", "g0", "s5", NULL);
	memset(&r, 0, sizeof r);
	ck_assert_int_eq(stkdr_audit_restore(cx, "2026-02-05", "2026-02-08", seen_cb, &r), STKDR_ECORRUPT);
	ck_assert_int_eq(r.n, 4);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(r.status[i], STKDR_AUDIT_FAILED);
	ck_assert(strstr(r.detail[0], "signature") != NULL);
	now = table_md5("al_gap");
	ck_assert_str_eq(now, damaged);
	stkdr__free(now);
	stkdr_ctx_free(cx);

	/* restore: counts and content back exactly; twice adds nothing */
	memset(&r, 0, sizeof r);
	tu_assert_ok(stkdr_audit_restore(ctx, "2026-02-01", "2026-02-10", seen_cb, &r));
	ck_assert_int_eq(r.n, 10);
	int64_t total = 0;
	for (int i = 0; i < r.n; i++) {
		ck_assert_int_eq(r.status[i], STKDR_AUDIT_RESTORED);
		total += r.rows[i];
	}
	ck_assert_int_gt(total, 0);
	ck_assert_int_eq(r.rows[0], 0);
	now = table_md5("al_gap");
	ck_assert_str_eq(now, orig);
	stkdr__free(now);
	memset(&r, 0, sizeof r);
	tu_assert_ok(stkdr_audit_restore(ctx, "2026-02-01", "2026-02-10", seen_cb, &r));
	for (int i = 0; i < r.n; i++)
		ck_assert_int_eq(r.rows[i], 0);
	now = table_md5("al_gap");
	ck_assert_str_eq(now, orig);
	stkdr__free(now);
	tu_assert_ok(stkdr_audit_gaps(&n, ctx, NULL, NULL, NULL, NULL));
	ck_assert_int_eq(n, 0);
	stkdr__free(damaged);
	stkdr__free(orig);
	stkdr_ctx_free(ctx);
}
END_TEST

START_TEST(open_transaction_blocks_the_day)
{
	pgt_exec(pg, "CREATE TABLE al_tx (id bigserial PRIMARY KEY, timestamp timestamptz NOT NULL DEFAULT now(), "
		     "actor text, action text, resource text, details jsonb)");
	/* "today" (real time) is the day whose end comes after this transaction's start */
	char *today = pgt_sql(pg, "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD')");
	char *later = pgt_sql(pg, "SELECT to_char((now() + interval '2 days') AT TIME ZONE 'UTC', "
				  "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')");
	stkdr__pg *c;
	tu_assert_ok(stkdr__pg_connect(&c, pg->conninfo, 0));
	tu_assert_ok(stkdr__pg_exec(c, NULL, "BEGIN", 0, NULL));
	tu_assert_ok(stkdr__pg_exec(c, NULL, "INSERT INTO al_tx (actor, action) VALUES ('late', 'project.delete')", 0,
		NULL));
	stkdr_ctx *ctx = mk_ctx("al_tx", "x0", "s6", later);
	seen s = { 0 };
	tu_assert_ok(stkdr_audit_export(ctx, today, today, seen_cb, &s));
	ck_assert_int_eq(s.n, 1);
	ck_assert_int_eq(s.status[0], STKDR_AUDIT_NOT_READY);
	ck_assert(strstr(s.detail[0], "transaction") != NULL);
	tu_assert_ok(stkdr__pg_exec(c, NULL, "COMMIT", 0, NULL));
	stkdr__pg_close(c);
	memset(&s, 0, sizeof s);
	tu_assert_ok(stkdr_audit_export(ctx, today, today, seen_cb, &s));
	ck_assert_int_eq(s.status[0], STKDR_AUDIT_EXPORTED);
	ck_assert_int_eq(s.rows[0], 1);
	stkdr_ctx_free(ctx);
	/* a role that cannot see other sessions' transactions is refused, saying what to grant */
	pgt_exec(pg, "CREATE ROLE audit_ro LOGIN; GRANT SELECT ON al_tx TO audit_ro");
	char *ci = stkdr__aprintf("%s", pg->conninfo);
	char *u = strstr(ci, "user=postgres");
	ck_assert_ptr_nonnull(u);
	memcpy(u, "user=audit_ro", 13);
	ctx = mk_ctx("al_tx", "x2", "s6c", later);
	tu_assert_ok(stkdr_ctx_set_str(ctx, "postgres.conninfo", ci));
	ck_assert_int_eq(stkdr_audit_export(ctx, today, today, NULL, NULL), STKDR_EAUTH);
	ck_assert_msg(strstr(stkdr_ctx_last_error(ctx)->message, "GRANT pg_read_all_stats TO audit_ro") != NULL, "%s",
		stkdr_ctx_last_error(ctx)->message);
	pgt_exec(pg, "GRANT pg_read_all_stats TO audit_ro");
	tu_assert_ok(stkdr_audit_export(ctx, today, today, NULL, NULL));
	stkdr_ctx_free(ctx);
	stkdr__free(ci);
	/* within the lag: not ready either */
	ctx = mk_ctx("al_tx", "x1", "s6b", NULL);
	memset(&s, 0, sizeof s);
	tu_assert_ok(stkdr_audit_export(ctx, "2026-02-20", "2026-02-20", seen_cb, &s));
	ck_assert_int_eq(s.status[0], STKDR_AUDIT_NOT_READY);
	ck_assert(strstr(s.detail[0], "audit.lag") != NULL);
	stkdr_ctx_free(ctx);
	stkdr__free(today);
	stkdr__free(later);
}
END_TEST

static int row_cb(const stkdr_audit_row *row, void *payload)
{
	int *n = payload;
	ck_assert_str_eq(row->action, "project.delete");
	ck_assert(row->timestamp_ms >= 1770076800000LL && row->timestamp_ms < 1770163200000LL); /* 2026-02-03 */
	(*n)++;
	return 0;
}

START_TEST(log_query_and_lifecycle)
{
	make_log("al_log");
	stkdr_ctx *ctx = mk_ctx("al_log", "l0", "s7", NULL);
	stkdr_audit_query q;
	tu_assert_ok(stkdr_audit_query_init(&q, STKDR_AUDIT_QUERY_VERSION));
	q.action = "project.delete";
	q.since_ms = 1770076800000LL; /* 2026-02-03 */
	q.until_ms = 1770163200000LL; /* 2026-02-04 */
	int n = 0;
	tu_assert_ok(stkdr_audit_log(ctx, &q, row_cb, &n));
	char *want = pgt_sql(pg, "SELECT count(*) FROM al_log WHERE action = 'project.delete' AND timestamp >= "
				 "'2026-02-03' AND timestamp < '2026-02-04'");
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(n, atoi(want));
	stkdr__free(want);
	q.actor = "alice,bob";
	n = 0;
	tu_assert_ok(stkdr_audit_log(ctx, &q, row_cb, &n));
	want = pgt_sql(pg, "SELECT count(*) FROM al_log WHERE action = 'project.delete' AND actor = 'alice,bob' AND "
			   "timestamp >= '2026-02-03' AND timestamp < '2026-02-04'");
	ck_assert_int_eq(n, atoi(want));
	stkdr__free(want);

	tu_assert_ok(stkdr_audit_export(ctx, "2026-02-01", "2026-02-02", NULL, NULL));
	stkdr_buf rep = STKDR_BUF_INIT;
	tu_assert_ok(stkdr_audit_lifecycle_apply(&rep, ctx));
	ck_assert(strstr(rep.ptr, "\"prefix\":\"hub/audit/\"") != NULL);
	ck_assert(strstr(rep.ptr, "\"min_size\":0") != NULL);
	char *rules = stkdr__aprintf("%s/l0/.stkdr-lifecycle.json", work);
	size_t rl;
	char *rj = tu_read_file(rules, &rl);
	ck_assert_ptr_nonnull(rj);
	ck_assert(strstr(rj, "hub/audit/") != NULL);
	stkdr__free(rj);
	stkdr__free(rules);
	/* a year and a half later every small day would be in the archive tier */
	tu_assert_ok(stkdr_ctx_set_str(ctx, "clock.fake_now", "2028-01-01T00:00:00Z"));
	tu_assert_ok(stkdr_audit_lifecycle_apply(&rep, ctx));
	ck_assert_msg(strstr(rep.ptr, "\"key\":\"hub/audit/2026/02/01/audit.csv.gz\",\"to\":\"archive\"") != NULL, "%s",
		rep.ptr);
	ck_assert(strstr(rep.ptr, "audit-meta") == NULL);
	stkdr_buf_dispose(&rep);
	stkdr_ctx_free(ctx);
}
END_TEST

/* Runs stk with the configuration file `cfg`; returns the exit status, stdout in *out (stkdr__free). */
static int run_stk(char **out, const char *cfg, const char *args)
{
	const char *bd = getenv("STKDR_TEST_BUILD_DIR");
	char *cmd = stkdr__aprintf("'%s/examples/stk' --config '%s' %s 2>&1", bd ? bd : "build", cfg, args);
	FILE *f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	stkdr_buf b = STKDR_BUF_INIT;
	char tmp[4096];
	size_t n;
	while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
		stkdr_buf_put(&b, tmp, n);
	int st = pclose(f);
	stkdr__free(cmd);
	*out = b.ptr ? b.ptr : stkdr__strdup("");
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(stk_audit_commands)
{
	make_log("al_cli");
	char *cfg = stkdr__aprintf("%s/cli.json", work);
	char *json = stkdr__aprintf("{\"deployment\":\"hub\",\"postgres\":{\"conninfo\":\"%s\"},"
				    "\"objstore\":{\"backend\":\"local\",\"path\":\"%s/c0\"},"
				    "\"secrets\":{\"backend\":\"local\",\"path\":\"%s/s8\"},"
				    "\"audit\":{\"table\":\"al_cli\"},\"clock\":{\"fake_now\":\"2026-02-20T12:00:00Z\"}}",
		pg->conninfo, work, work);
	tu_write_file(cfg, json, strlen(json));
	char *out;
	ck_assert_int_eq(run_stk(&out, cfg, "audit export --from 2026-02-01 --to 2026-02-10"), 0);
	ck_assert_msg(strstr(out, "2026-02-05  exported") != NULL, "%s", out);
	stkdr__free(out);
	ck_assert_int_eq(run_stk(&out, cfg, "audit export --day 2026-02-03 --json"), 0);
	cJSON *a = cJSON_Parse(out);
	ck_assert_msg(cJSON_IsArray(a) && cJSON_GetArraySize(a) == 1, "%s", out);
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 0), "status")), "unchanged");
	cJSON_Delete(a);
	stkdr__free(out);
	ck_assert_int_eq(run_stk(&out, cfg, "audit verify --json"), 0);
	a = cJSON_Parse(out);
	ck_assert_msg(cJSON_IsArray(a) && cJSON_GetArraySize(a) == 10, "%s", out);
	cJSON_Delete(a);
	stkdr__free(out);
	pgt_exec(pg, "DELETE FROM al_cli WHERE timestamp >= '2026-02-06' AND timestamp < '2026-02-07'");
	ck_assert_int_eq(run_stk(&out, cfg, "audit gaps"), 1);
	ck_assert_msg(strstr(out, "2026-02-06  db-short") != NULL, "%s", out);
	stkdr__free(out);
	ck_assert_int_eq(run_stk(&out, cfg, "audit restore --day 2026-02-06 --json"), 0);
	a = cJSON_Parse(out);
	ck_assert_msg(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 0), "rows")) > 0, "%s", out);
	cJSON_Delete(a);
	stkdr__free(out);
	ck_assert_int_eq(run_stk(&out, cfg, "audit gaps -q"), 0);
	stkdr__free(out);
	ck_assert_int_eq(run_stk(&out, cfg, "audit restore --from 2026-02-06"), 2);
	stkdr__free(out);
	ck_assert_int_eq(run_stk(&out, cfg, "audit export --from 2026-02-06"), 2);
	stkdr__free(out);
	ck_assert_int_eq(run_stk(&out, cfg, "audit export --day 2026-02-31"), 1);
	ck_assert_msg(strstr(out, "2026-02-31") != NULL, "%s", out);
	stkdr__free(out);
	ck_assert_int_eq(run_stk(&out, cfg, "audit log --action project.delete --since 2026-02-03 "
					 "--until 2026-02-03T01:00:00Z --json"), 0);
	a = cJSON_Parse(out);
	ck_assert_msg(cJSON_IsArray(a) && cJSON_GetArraySize(a) > 0, "%s", out);
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 0), "action")), "project.delete");
	cJSON_Delete(a);
	stkdr__free(out);
	ck_assert_int_eq(run_stk(&out, cfg, "audit lifecycle apply"), 0);
	ck_assert_msg(strstr(out, "archive after 365 days") != NULL, "%s", out);
	stkdr__free(out);
	/* tamper: verify exits 5 naming the day */
	size_t l;
	char *d = read_obj("c0", "audit/2026/02/04/audit.csv.gz", &l);
	d[l - 1] ^= 0x10;
	forge("c0", "audit/2026/02/04/audit.csv.gz", d, l);
	stkdr__free(d);
	ck_assert_int_eq(run_stk(&out, cfg, "audit verify"), 5);
	ck_assert_msg(strstr(out, "2026-02-04  modified") != NULL, "%s", out);
	stkdr__free(out);
	stkdr__free(json);
	stkdr__free(cfg);
}
END_TEST

/* A day in the archive tier (S3 Deep Archive emulated by the local store): restore and verify report it
 * pending, request its retrieval and import nothing of it, the other days proceed; once the retrieval has
 * completed the day restores. */
START_TEST(archived_day_is_pending_until_retrieved)
{
	make_log("al_deep");
	char *orig = table_md5("al_deep");
	stkdr_ctx *ctx = mk_ctx("al_deep", "d0", "s21", NULL);
	tu_assert_ok(stkdr_ctx_set_str(ctx, "objstore.retrieval_delay", "0s"));
	tu_assert_ok(stkdr_audit_export(ctx, "2026-02-01", "2026-02-10", NULL, NULL));
	stkdr_objstore *os;
	tu_assert_ok(stkdr__ctx_objstore(&os, ctx));
	ck_assert_uint_ge(os->base.version, 2);
	tu_assert_ok(os->set_tier(os, "hub/audit/2026/02/06/audit.csv.gz", STKDR_TIER_ARCHIVE));
	/* not readable before a retrieval */
	stkdr_objreader *rd = NULL;
	tu_assert_rc(os->open_read(&rd, os, "hub/audit/2026/02/06/audit.csv.gz", 0, -1), STKDR_EPENDING);
	copy_repo("d0", "d1"); /* the same archive, for a store whose retrievals take an hour */
	pgt_exec(pg, "DELETE FROM al_deep WHERE timestamp >= '2026-02-05' AND timestamp < '2026-02-08'");
	char *damaged = table_md5("al_deep");

	/* restore: 02-06 pending (retrieval started), 02-05 and 02-07 restored */
	seen r = { 0 };
	ck_assert_int_eq(stkdr_audit_restore(ctx, "2026-02-05", "2026-02-07", seen_cb, &r), STKDR_EPENDING);
	ck_assert_int_eq(r.n, 3);
	ck_assert_int_eq(r.status[0], STKDR_AUDIT_RESTORED);
	ck_assert_int_eq(r.status[1], STKDR_AUDIT_PENDING);
	ck_assert_int_eq(r.status[2], STKDR_AUDIT_RESTORED);
	ck_assert_int_eq(r.rows[1], 0);
	ck_assert_str_eq(r.detail[1], "retrieval started for audit/2026/02/06/audit.csv.gz (Bulk, up to 48 h); re-run later");
	ck_assert_msg(strstr(stkdr_ctx_last_error(ctx)->message, "pending: retrieval started for "
		"audit/2026/02/06/audit.csv.gz (Bulk, up to 48 h); re-run later") != NULL, "%s",
		stkdr_ctx_last_error(ctx)->message);
	char *n06 = pgt_sql(pg, "SELECT count(*) FROM al_deep WHERE timestamp >= '2026-02-06' AND timestamp < '2026-02-07'");
	ck_assert_str_eq(n06, "0");
	stkdr__free(n06);
	ck_assert_int_eq(r.rows[0] > 0 && r.rows[2] > 0, 1);
	/* the retrieval (delay 0) has completed: verify checks the file, restore imports it */
	seen v = { 0 };
	tu_assert_ok(stkdr_audit_verify(ctx, "2026-02-06", "2026-02-06", seen_cb, &v));
	ck_assert_int_eq(v.status[0], STKDR_AUDIT_OK);
	memset(&r, 0, sizeof r);
	tu_assert_ok(stkdr_audit_restore(ctx, "2026-02-05", "2026-02-07", seen_cb, &r));
	ck_assert_int_eq(r.status[1], STKDR_AUDIT_RESTORED);
	ck_assert_int_gt(r.rows[1], 0);
	ck_assert_int_eq(r.rows[0], 0);
	ck_assert_int_eq(r.rows[2], 0);
	char *now = table_md5("al_deep");
	ck_assert_str_eq(now, orig);
	stkdr__free(now);
	stkdr_ctx_free(ctx);

	/* a store whose retrievals take an hour: started, then in progress; verify is pending too (exit 10) */
	pgt_exec(pg, "DELETE FROM al_deep WHERE timestamp >= '2026-02-06' AND timestamp < '2026-02-07'");
	ctx = mk_ctx("al_deep", "d1", "s21", NULL);
	tu_assert_ok(stkdr_ctx_set_str(ctx, "objstore.retrieval_delay", "1h"));
	tu_assert_ok(stkdr_ctx_set_str(ctx, "audit.retrieval_speed", "standard"));
	memset(&r, 0, sizeof r);
	ck_assert_int_eq(stkdr_audit_restore(ctx, "2026-02-06", "2026-02-06", seen_cb, &r), STKDR_EPENDING);
	ck_assert_str_eq(r.detail[0], "retrieval started for audit/2026/02/06/audit.csv.gz (Standard, up to 12 h); re-run later");
	memset(&r, 0, sizeof r);
	ck_assert_int_eq(stkdr_audit_restore(ctx, "2026-02-06", "2026-02-06", seen_cb, &r), STKDR_EPENDING);
	ck_assert_int_eq(r.status[0], STKDR_AUDIT_PENDING);
	ck_assert(strstr(r.detail[0], "in progress") != NULL);
	memset(&v, 0, sizeof v);
	ck_assert_int_eq(stkdr_audit_verify(ctx, NULL, NULL, seen_cb, &v), STKDR_EPENDING);
	ck_assert_int_eq(status_of(&v, "2026-02-06"), STKDR_AUDIT_PENDING);
	ck_assert_int_eq(status_of(&v, "2026-02-05"), STKDR_AUDIT_OK);
	now = table_md5("al_deep");
	ck_assert_str_ne(now, orig);
	stkdr__free(now);
	stkdr_ctx_free(ctx);
	/* the CLI: exit 10, the day named */
	char *cfg = stkdr__aprintf("%s/deep.json", work);
	char *json = stkdr__aprintf("{\"deployment\":\"hub\",\"postgres\":{\"conninfo\":\"%s\"},"
				    "\"objstore\":{\"backend\":\"local\",\"path\":\"%s/d1\",\"retrieval_delay\":\"1h\"},"
				    "\"secrets\":{\"backend\":\"local\",\"path\":\"%s/s21\"},"
				    "\"audit\":{\"table\":\"al_deep\"},\"clock\":{\"fake_now\":\"2026-02-20T12:00:00Z\"}}",
		pg->conninfo, work, work);
	tu_write_file(cfg, json, strlen(json));
	char *out;
	ck_assert_int_eq(run_stk(&out, cfg, "audit restore --from 2026-02-05 --to 2026-02-07"), 10);
	ck_assert_msg(strstr(out, "2026-02-06  pending") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "pending: retrieval of audit/2026/02/06/audit.csv.gz in progress") != NULL, "%s", out);
	stkdr__free(out);
	stkdr__free(json);
	stkdr__free(cfg);
	stkdr__free(damaged);
	stkdr__free(orig);
}
END_TEST

static stkdr_ctx *mk_faulty_ctx(const char *tbl, const char *repo, const char *sec, const stkdr__fault_options *fo)
{
	stkdr_ctx *ctx = mk_ctx(tbl, repo, sec, NULL);
	char *root = stkdr__aprintf("%s/%s", work, repo);
	stkdr_objstore *inner, *faulty;
	tu_assert_ok(stkdr__local_objstore_new(&inner, root));
	tu_assert_ok(stkdr__fault_objstore_new(&faulty, inner, fo));
	tu_assert_ok(stkdr_ctx_add_backend(ctx, &faulty->base, 100));
	stkdr__free(root);
	return ctx;
}

START_TEST(repository_faults_then_resume)
{
	make_log("al_fault");
	/* the upload dies mid-file (on the compression thread): nothing visible, the chain not started */
	stkdr__fault_options fo = { 0 };
	fo.cut_write_after = 4096;
	stkdr_ctx *ctx = mk_faulty_ctx("al_fault", "f0", "s9", &fo);
	ck_assert_int_lt(stkdr_audit_export(ctx, "2026-02-01", "2026-02-03", NULL, NULL), 0);
	ck_assert_msg(strstr(stkdr_ctx_last_error(ctx)->message, "injected fault") != NULL, "%s",
		stkdr_ctx_last_error(ctx)->message);
	ck_assert_msg(strstr(stkdr_ctx_last_error(ctx)->message, "2026-02-01") != NULL, "%s",
		stkdr_ctx_last_error(ctx)->message);
	stkdr_ctx_free(ctx);
	size_t l;
	char *d = read_obj("f0", "audit/2026/02/01/audit.csv.gz", &l);
	ck_assert_ptr_null(d);
	ctx = mk_ctx("al_fault", "f0", "s9", NULL);
	ck_assert_int_eq(stkdr_audit_verify(ctx, NULL, NULL, NULL, NULL), STKDR_ENOTFOUND);
	stkdr_ctx_free(ctx);

	/* the manifest's commit fails after the CSV is in (a crash between the two): the next run completes
	 * the day from the CSV already archived, without rewriting it */
	memset(&fo, 0, sizeof fo);
	fo.method = "commit";
	fo.fail_nth = 3; /* 1: the lease, 2: the CSV, 3: the manifest */
	ctx = mk_faulty_ctx("al_fault", "f1", "s10", &fo);
	ck_assert_int_lt(stkdr_audit_export(ctx, "2026-02-01", "2026-02-03", NULL, NULL), 0);
	stkdr_ctx_free(ctx);
	d = read_obj("f1", "audit/2026/02/01/audit.csv.gz", &l);
	ck_assert_ptr_nonnull(d);
	stkdr__free(d);
	d = read_obj("f1", "audit-meta/2026/02/01/manifest.json", &l);
	ck_assert_ptr_null(d);
	ctx = mk_ctx("al_fault", "f1", "s10", NULL);
	seen s = { 0 };
	tu_assert_ok(stkdr_audit_export(ctx, "2026-02-01", "2026-02-03", seen_cb, &s));
	ck_assert_int_eq(s.n, 3);
	ck_assert_int_eq(s.status[0], STKDR_AUDIT_EXPORTED);
	tu_assert_ok(stkdr_audit_verify(ctx, NULL, NULL, NULL, NULL));
	stkdr_ctx_free(ctx);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("audit");
	if (pgt_available()) {
		TCase *tc = tcase_create("postgres");
		tcase_add_unchecked_fixture(tc, shared_setup, shared_teardown);
		tcase_set_timeout(tc, 120);
		tcase_add_test(tc, export_is_deterministic_and_idempotent);
		tcase_add_test(tc, timestamps_match_the_server_form);
		tcase_add_test(tc, verify_names_tampered_days);
		tcase_add_test(tc, gaps_and_restore);
		tcase_add_test(tc, open_transaction_blocks_the_day);
		tcase_add_test(tc, log_query_and_lifecycle);
		tcase_add_test(tc, stk_audit_commands);
		tcase_add_test(tc, archived_day_is_pending_until_retrieved);
		tcase_add_test(tc, repository_faults_then_resume);
		suite_add_tcase(s, tc);
	}
	int rc = tu_run_suite(s);
	pgt_destroy(pg);
	tu_rmtree_free(work);
	return rc;
}
