/*
 * Snapshots and restores end to end, against a real PostgreSQL 15 cluster: a full snapshot taken while
 * rows are being inserted, restored and started; incremental snapshots; pg_verifybackup on a restored
 * directory; corruption (gzip and uncompressed bundles) and WAL gaps caught before or while restoring;
 * the target-directory refusals, FORCE and DELTA; point-in-time recovery to an LSN and to a time (the
 * runbook's "just before the deletion"); list/show/delete/expire with a fake clock.
 *
 * One source cluster, its repository and its first (full) snapshot are made once, lazily, by an
 * unchecked fixture (run in the parent process, so every test case shares them). Test cases that change
 * the repository work on a copy or on their own repository, except "incremental", which deletes the
 * full snapshot and so runs after the cases that restore it.
 */
#include "pgtest.h"

#include "features/repo.h"
#include "features/snapshot.h"
#include "core/timeutil.h"
#include "services/pg.h"
#include "services/proc.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* tu_assert_rc() evaluates its argument again for the message: evaluate calls once. */
#define EXPECT_RC(expr, want) \
	do { \
		int rc_ = (expr); \
		tu_assert_rc(rc_, (want)); \
	} while (0)
#define EXPECT_OK(expr) EXPECT_RC((expr), 0)

typedef struct shared_state {
	pgt_cluster *src;
	char *work;     /* scratch directory for repositories, secrets, DNS */
	char *repo;     /* objstore.path of the main repository */
	char full_id[64];
	char md5_t[40];
	int64_t counter_at_snapshot; /* rows in counter when the writer stopped (after the snapshot) */
	double full_read_bytes;
	int ready;
} shared_state;

static shared_state g;

/* ------------------------------------------------------------------ helpers */

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* A context on `repo` for the shared source cluster; `extra` is appended JSON members (may be NULL). */
static stkdr_ctx *mk_ctx(const char *repo, const char *extra)
{
	char *json = stkdr__aprintf("{ \"deployment\": \"hub-test\",\n"
		"  \"postgres\": { \"conninfo\": \"%s\", \"data_dir\": \"%s\", \"bin_dir\": \"%s\" },\n"
		"  \"objstore\": { \"backend\": \"local\", \"path\": \"%s\" },\n"
		"  \"secrets\": { \"backend\": \"local\", \"path\": \"%s/secrets\" },\n"
		"  \"dns\": { \"backend\": \"local\", \"path\": \"%s/dns.json\" },\n"
		"  \"dbprovider\": { \"backend\": \"local-postgres\" }%s%s%s }",
		g.src->conninfo, g.src->data_dir, g.src->bin_dir, repo, g.work, g.work,
		extra && strstr(extra, "\"snapshot\"") ? "" : ",\n  \"snapshot\": { \"parallel\": 2 }", extra ? ",\n" : "",
		extra ? extra : "");
	ck_assert_ptr_nonnull(json);
	stkdr_ctx *ctx = tu_ctx_json(json);
	stkdr__free(json);
	return ctx;
}

static char *sql_at(const char *conninfo, const char *sql)
{
	pgt_cluster c;
	memset(&c, 0, sizeof c);
	c.conninfo = (char *)conninfo;
	return pgt_sql(&c, sql);
}

static int64_t sql_int(const char *conninfo, const char *sql)
{
	char *v = sql_at(conninfo, sql);
	int64_t n = strtoll(v, NULL, 10);
	stkdr__free(v);
	return n;
}

static cJSON *parse_report(const stkdr_buf *b)
{
	ck_assert_msg(b->ptr && b->size, "no restore report");
	cJSON *j = cJSON_Parse(b->ptr);
	ck_assert_msg(j != NULL, "restore report is not JSON: %s", b->ptr);
	return j;
}

static double jnum(const cJSON *j, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
	ck_assert_msg(cJSON_IsNumber(v), "report lacks number %s", k);
	return v->valuedouble;
}

static const char *jtext(const cJSON *j, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
	ck_assert_msg(cJSON_IsString(v), "report lacks string %s", k);
	return v->valuestring;
}

static int exists(const char *dir, const char *name)
{
	char *p = tu_path(dir, name);
	struct stat st;
	int r = lstat(p, &st) == 0;
	stkdr__free(p);
	return r;
}

/*
 * Restore targets live under g.work/rt-*: a failed assertion ends the test's process with _exit(), so
 * the fixture's teardown, in the parent, stops whatever server a failed test left running there.
 */
static char *target_base(const char *tag)
{
	char *p = stkdr__aprintf("%s/rt-%s-XXXXXX", g.work, tag);
	ck_assert_ptr_nonnull(p);
	ck_assert_msg(mkdtemp(p) != NULL, "mkdtemp %s: %s", p, strerror(errno));
	ck_assert_msg(chmod(p, 0700) == 0, "chmod %s: %s", p, strerror(errno));
	struct passwd *pw = geteuid() == 0 ? getpwnam("postgres") : NULL;
	if (pw)
		ck_assert_msg(chown(p, pw->pw_uid, pw->pw_gid) == 0, "chown %s: %s", p, strerror(errno));
	return p;
}

static void stop_leftovers(void)
{
	DIR *d = g.work ? opendir(g.work) : NULL;
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "rt-", 3))
			continue;
		char *base = stkdr__aprintf("%s/%s", g.work, de->d_name);
		char *own = base ? stkdr__aprintf("%s/postmaster.pid", base) : NULL;
		if (own && access(own, F_OK) == 0) /* the base itself was the target */
			stkdr__pgctl_stop(pgt_bin_dir(), base, "immediate", 60000);
		stkdr__free(own);
		DIR *b = base ? opendir(base) : NULL;
		struct dirent *be;
		while (b && (be = readdir(b)) != NULL) {
			char *data = stkdr__aprintf("%s/%s", base, be->d_name);
			char *pidf = data ? stkdr__aprintf("%s/postmaster.pid", data) : NULL;
			if (pidf && access(pidf, F_OK) == 0)
				stkdr__pgctl_stop(pgt_bin_dir(), data, "immediate", 60000);
			stkdr__free(pidf);
			stkdr__free(data);
		}
		if (b)
			closedir(b);
		tu_rmtree_free(base);
	}
	if (d)
		closedir(d);
	stkdr_error_clear();
}

static void stop_restored(const char *dir)
{
	stkdr__pgctl_stop(pgt_bin_dir(), dir, "fast", 60000);
}

static int restore_into(stkdr_ctx *ctx, stkdr_buf *report, const char *dir, const char *snap, int target,
	uint32_t flags)
{
	stkdr_restore_options o;
	EXPECT_OK(stkdr_restore_options_init(&o, STKDR_RESTORE_OPTIONS_VERSION));
	o.target_dir = dir;
	o.snapshot_id = snap;
	o.target = target;
	o.flags = flags;
	return stkdr_restore(report, ctx, &o);
}

/* The port from a report of a started restore, as a conninfo. */
static char *report_conninfo(const cJSON *rep)
{
	char *ci = stkdr__strdup(jtext(rep, "conninfo"));
	ck_assert_ptr_nonnull(ci);
	ck_assert_msg(strstr(ci, "host=127.0.0.1") != NULL, "conninfo %s", ci);
	return ci;
}

/* ------------------------------------------------------------------ the shared source */

static atomic_int writer_stop;
static atomic_llong writer_count;

static void *writer_main(void *arg)
{
	const char *conninfo = arg;
	PGconn *c = PQconnectdb(conninfo);
	if (PQstatus(c) != CONNECTION_OK) {
		PQfinish(c);
		return (void *)1;
	}
	long long n = 0;
	while (!atomic_load(&writer_stop)) {
		char sql[96];
		snprintf(sql, sizeof sql, "INSERT INTO counter(id) VALUES (%lld)", n + 1);
		PGresult *r = PQexec(c, sql);
		int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		PQclear(r);
		if (!ok)
			break;
		atomic_store(&writer_count, ++n);
	}
	PQfinish(c);
	return NULL;
}

static void shared_setup(void)
{
	if (g.ready || !pgt_available())
		return;
	g.src = pgt_start("restore-src", "fsync = off\nsynchronous_commit = off\ncheckpoint_timeout = 30min\n");
	g.work = pgt_mkdtemp_pg("restore-work");
	g.repo = tu_path(g.work, "repo");
	pgt_exec(g.src, "CREATE TABLE t (id int PRIMARY KEY, payload text)");
	pgt_exec(g.src, "INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 200000) g");
	pgt_exec(g.src, "CREATE INDEX t_payload ON t (payload)");
	pgt_exec(g.src, "CREATE TABLE small (id int PRIMARY KEY, v text)");
	pgt_exec(g.src, "INSERT INTO small SELECT g, 'v' || g FROM generate_series(1, 100) g");
	pgt_exec(g.src, "CREATE TABLE counter (id bigint PRIMARY KEY, ts timestamptz DEFAULT clock_timestamp())");
	/* hint bits and visibility now, so that later snapshots see t unchanged */
	pgt_exec(g.src, "VACUUM (FREEZE, ANALYZE)");
	pgt_exec(g.src, "CHECKPOINT");
	char *m = pgt_sql(g.src, "SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM t");
	snprintf(g.md5_t, sizeof g.md5_t, "%s", m);
	stkdr__free(m);
	sleep_ms(1200); /* files untouched for more than a second before the snapshot starts */

	stkdr_ctx *ctx = mk_ctx(g.repo, NULL);
	pthread_t tid;
	atomic_store(&writer_stop, 0);
	ck_assert_int_eq(pthread_create(&tid, NULL, writer_main, g.src->conninfo), 0);
	while (atomic_load(&writer_count) < 50)
		sleep_ms(10);
	stkdr_buf id = STKDR_BUF_INIT;
	stkdr_snapshot_options so;
	EXPECT_OK(stkdr_snapshot_options_init(&so, STKDR_SNAPSHOT_OPTIONS_VERSION));
	so.kind = STKDR_SNAPSHOT_DAILY;
	int rc = stkdr_snapshot_create(&id, ctx, &so);
	char msg[1024];
	snprintf(msg, sizeof msg, "%s", stkdr_ctx_last_error(ctx)->message);
	long long during = atomic_load(&writer_count);
	sleep_ms(200);
	atomic_store(&writer_stop, 1);
	void *wr = NULL;
	pthread_join(tid, &wr);
	ck_assert_msg(rc == 0, "full snapshot: %s", msg);
	ck_assert_msg(wr == NULL, "the background writer could not connect");
	ck_assert_msg(atomic_load(&writer_count) > during, "the writer did not run concurrently with the snapshot");
	snprintf(g.full_id, sizeof g.full_id, "%s", id.ptr);
	stkdr_buf_dispose(&id);
	g.counter_at_snapshot = atomic_load(&writer_count);

	stkdr_buf show = STKDR_BUF_INIT;
	EXPECT_OK(stkdr_snapshot_show(&show, ctx, g.full_id));
	cJSON *man = parse_report(&show);
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(man, "incremental")));
	g.full_read_bytes = jnum(cJSON_GetObjectItemCaseSensitive(man, "totals"), "read_bytes");
	cJSON_Delete(man);
	stkdr_buf_dispose(&show);
	stkdr_ctx_free(ctx);
	g.ready = 1;
}

static void shared_teardown(void)
{
	/* the source and its repository are kept for the following test cases; restored servers are not */
	stop_leftovers();
}

/* ------------------------------------------------------------------ full snapshot, restored and started */

typedef struct evlog {
	pthread_t caller;
	int progress;
	int foreign_thread;
	int64_t last_done, last_total;
	int started, finished, finished_ok;
} evlog;

static int on_event(const stkdr_event *ev, void *payload)
{
	evlog *l = payload;
	if (!pthread_equal(pthread_self(), l->caller))
		l->foreign_thread++;
	if (!strcmp(ev->name, "restore.progress")) {
		l->progress++;
		l->last_done = ev->done;
		l->last_total = ev->total;
	} else if (!strcmp(ev->name, "restore.started")) {
		l->started++;
	} else if (!strcmp(ev->name, "restore.finished")) {
		l->finished++;
		l->finished_ok = ev->ok;
	}
	return 0;
}

START_TEST(full_restore_start)
{
	ck_assert(g.ready);
	stkdr_ctx *ctx = mk_ctx(g.repo, NULL);
	evlog ev;
	memset(&ev, 0, sizeof ev);
	ev.caller = pthread_self();
	stkdr_ctx_set_event_callback(ctx, on_event, &ev);
	char *base = target_base("full");
	char *dir = tu_path(base, "data"); /* absent: created, and given to the postgres user */
	stkdr_buf rep = STKDR_BUF_INIT;
	int rc = restore_into(ctx, &rep, dir, g.full_id, STKDR_RESTORE_TARGET_SNAPSHOT, STKDR_RESTORE_START);
	EXPECT_RC(rc, 0);
	cJSON *r = parse_report(&rep);
	ck_assert_str_eq(jtext(r, "snapshot"), g.full_id);
	ck_assert_str_eq(jtext(r, "target_dir"), dir);
	ck_assert(jnum(r, "files") > 500);
	ck_assert(jnum(r, "bytes") > 10e6);
	ck_assert(jnum(r, "port") > 0);
	ck_assert(jnum(r, "wal_files") >= 1);
	ck_assert_double_eq(jnum(r, "reused_files"), 0);
	ck_assert(*jtext(r, "recovered_lsn"));
	ck_assert_int_eq((int)jnum(r, "timeline"), 1);
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "started")));
	ck_assert_int_eq(ev.foreign_thread, 0);
	ck_assert_int_ge(ev.progress, 1);
	ck_assert_int_eq((int)(ev.last_done == ev.last_total), 1);
	ck_assert_int_eq(ev.started, 1);
	ck_assert_int_eq(ev.finished, 1);
	ck_assert_int_eq(ev.finished_ok, 1);
	ck_assert(!exists(dir, "stkdr-restore-incomplete"));
	ck_assert(!exists(dir, "recovery.signal"));
	ck_assert(!exists(dir, "global/pg_control.stkdr-restore"));

	char *ci = report_conninfo(r);
	char *md5 = sql_at(ci, "SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM t");
	ck_assert_str_eq(md5, g.md5_t);
	stkdr__free(md5);
	/* consistency: the counter is a prefix 1..k, no gaps, k > 0 */
	int64_t n = sql_int(ci, "SELECT count(*) FROM counter");
	int64_t mx = sql_int(ci, "SELECT coalesce(max(id), 0) FROM counter");
	int64_t mn = sql_int(ci, "SELECT coalesce(min(id), 0) FROM counter");
	ck_assert_msg(n > 0 && mn == 1 && mx == n, "counter rows %lld, min %lld, max %lld", (long long)n, (long long)mn,
		(long long)mx);
	ck_assert_int_le(n, g.counter_at_snapshot);
	char *inrec = sql_at(ci, "SELECT pg_is_in_recovery()::text");
	ck_assert_str_eq(inrec, "false");
	stkdr__free(inrec);
	/* the restored cluster does not archive into the repository on its own */
	char *arch = sql_at(ci, "SELECT setting FROM pg_file_settings WHERE name = 'archive_command' AND applied");
	ck_assert_str_eq(arch, "");
	stkdr__free(arch);
	stkdr__free(ci);

	/* the same directory again: not empty, and a server runs on it */
	stkdr_buf rep2 = STKDR_BUF_INIT;
	rc = restore_into(ctx, &rep2, dir, g.full_id, STKDR_RESTORE_TARGET_SNAPSHOT, STKDR_RESTORE_FORCE);
	EXPECT_RC(rc, STKDR_EINVAL);
	ck_assert_msg(strstr(stkdr_ctx_last_error(ctx)->message, "a server is running on") != NULL, "%s",
		stkdr_ctx_last_error(ctx)->message);
	stkdr_buf_dispose(&rep2);

	stop_restored(dir);
	cJSON_Delete(r);
	stkdr_buf_dispose(&rep);
	stkdr__free(dir);
	tu_rmtree_free(base);
	stkdr_ctx_free(ctx);
}
END_TEST

/* ------------------------------------------------------------------ pg_verifybackup */

START_TEST(verifybackup_restored)
{
	ck_assert(g.ready);
	stkdr_ctx *ctx = mk_ctx(g.repo, NULL);
	char *dir = target_base("verify"); /* exists, empty, owned by postgres */
	stkdr_buf rep = STKDR_BUF_INIT;
	EXPECT_OK(restore_into(ctx, &rep, dir, g.full_id, STKDR_RESTORE_TARGET_SNAPSHOT, 0));
	ck_assert(exists(dir, "backup_manifest"));
	ck_assert(exists(dir, "backup_label"));
	ck_assert(exists(dir, "global/pg_control"));
	char *prog = stkdr__aprintf("%s/pg_verifybackup", pgt_bin_dir());
	const char *argv[] = { prog, dir, NULL };
	stkdr_buf out = STKDR_BUF_INIT;
	int status = -1;
	EXPECT_OK(stkdr__proc_run(argv, NULL, "/", NULL, &out, 120000, &status));
	ck_assert_msg(status == 0, "pg_verifybackup %s failed (exit %d): %s", dir, status, out.ptr ? out.ptr : "");
	stkdr_buf_dispose(&out);
	stkdr__free(prog);
	stkdr_buf_dispose(&rep);
	tu_rmtree_free(dir);
	stkdr_ctx_free(ctx);
}
END_TEST

/* ------------------------------------------------------------------ refusals, FORCE, DELTA */

START_TEST(target_refusals)
{
	ck_assert(g.ready);
	stkdr_ctx *ctx = mk_ctx(g.repo, NULL);
	stkdr_buf rep = STKDR_BUF_INIT;
	stkdr_restore_options o;

	/* bad options */
	ck_assert_int_eq(stkdr_restore_options_init(&o, 99), STKDR_EVERSION);
	EXPECT_OK(stkdr_restore_options_init(&o, STKDR_RESTORE_OPTIONS_VERSION));
	o.target_instance = "hub-prod-restored";
	EXPECT_RC(stkdr_restore(NULL, ctx, &o), STKDR_EINVAL);
	ck_assert_msg(strstr(stkdr_ctx_last_error(ctx)->message, "use target_dir") != NULL, "%s",
		stkdr_ctx_last_error(ctx)->message);
	o.target_instance = NULL;
	EXPECT_RC(stkdr_restore(NULL, ctx, &o), STKDR_EINVAL); /* no target_dir */
	o.version = 99;
	o.target_dir = "/nonexistent/x";
	EXPECT_RC(stkdr_restore(NULL, ctx, &o), STKDR_EVERSION);

	/* a time before every snapshot */
	EXPECT_OK(stkdr_restore_options_init(&o, STKDR_RESTORE_OPTIONS_VERSION));
	char *never = target_base("never");
	char *never_dir = tu_path(never, "data");
	o.target_dir = never_dir;
	o.target = STKDR_RESTORE_TARGET_TIME;
	o.target_time_ms = 1000LL * 86400 * 365 * 20; /* 1990 */
	EXPECT_RC(stkdr_restore(NULL, ctx, &o), STKDR_ENOTFOUND);
	ck_assert_msg(strstr(stkdr_ctx_last_error(ctx)->message, "no snapshot finished before") != NULL, "%s",
		stkdr_ctx_last_error(ctx)->message);
	ck_assert(!exists(never, "data"));
	tu_rmtree_free(never);
	stkdr__free(never_dir);

	/* non-empty without flags: refused, nothing written */
	char *dir = target_base("nonempty");
	char *junk = tu_path(dir, "junk.txt");
	tu_write_file(junk, "x", 1);
	EXPECT_RC(restore_into(ctx, &rep, dir, g.full_id, STKDR_RESTORE_TARGET_SNAPSHOT, 0), STKDR_EINVAL);
	ck_assert_msg(strstr(stkdr_ctx_last_error(ctx)->message, "is not empty: use --delta") != NULL, "%s",
		stkdr_ctx_last_error(ctx)->message);
	ck_assert(exists(dir, "junk.txt"));
	ck_assert(!exists(dir, "stkdr-restore-incomplete"));
	ck_assert(!exists(dir, "global"));

	/* the source's own data directory, a server running on it: refused even with FORCE */
	EXPECT_RC(restore_into(ctx, &rep, g.src->data_dir, g.full_id, STKDR_RESTORE_TARGET_SNAPSHOT,
			     STKDR_RESTORE_FORCE), STKDR_EINVAL);
	ck_assert_msg(strstr(stkdr_ctx_last_error(ctx)->message, "a server is running on") != NULL, "%s",
		stkdr_ctx_last_error(ctx)->message);
	ck_assert(exists(g.src->data_dir, "PG_VERSION"));
	ck_assert(!exists(g.src->data_dir, "stkdr-restore-incomplete"));
	pgt_exec(g.src, "SELECT 1");

	/* FORCE on the non-empty directory works */
	EXPECT_OK(restore_into(ctx, &rep, dir, g.full_id, STKDR_RESTORE_TARGET_SNAPSHOT, STKDR_RESTORE_FORCE));
	ck_assert(!exists(dir, "junk.txt"));
	ck_assert(exists(dir, "global/pg_control"));
	ck_assert(!exists(dir, "stkdr-restore-incomplete"));

	/* DELTA: damage a file, add a stray one; matching files are reused, the rest replaced */
	tu_write_file(junk, "stray", 5);
	char *ver = tu_path(dir, "PG_VERSION");
	tu_write_file(ver, "99\n", 3);
	char *walstray = tu_path(dir, "pg_wal/000000010000000000000099");
	tu_write_file(walstray, "w", 1);
	stkdr_buf_dispose(&rep);
	EXPECT_OK(restore_into(ctx, &rep, dir, g.full_id, STKDR_RESTORE_TARGET_SNAPSHOT,
		STKDR_RESTORE_DELTA | STKDR_RESTORE_START));
	cJSON *r = parse_report(&rep);
	ck_assert_msg(jnum(r, "reused_files") > 100, "reused_files %g", jnum(r, "reused_files"));
	ck_assert_msg(jnum(r, "fetched_bytes") < jnum(r, "bytes") / 10, "fetched %g of %g", jnum(r, "fetched_bytes"),
		jnum(r, "bytes"));
	ck_assert(jnum(r, "removed_files") >= 2);
	ck_assert(!exists(dir, "junk.txt"));
	ck_assert(!exists(dir, "pg_wal/000000010000000000000099"));
	char *v = tu_read_file(ver, NULL);
	ck_assert_str_eq(v, "15\n");
	stkdr__free(v);
	char *ci = report_conninfo(r);
	char *md5 = sql_at(ci, "SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM t");
	ck_assert_str_eq(md5, g.md5_t);
	stkdr__free(md5);
	stkdr__free(ci);
	stop_restored(dir);
	cJSON_Delete(r);

	stkdr__free(walstray);
	stkdr__free(ver);
	stkdr__free(junk);
	stkdr_buf_dispose(&rep);
	tu_rmtree_free(dir);
	stkdr_ctx_free(ctx);
}
END_TEST

/* ------------------------------------------------------------------ corruption, WAL gaps */

static char *copy_repo(const char *tag)
{
	char *dst = tu_path(g.work, tag);
	char *cmd = stkdr__aprintf("cp -a '%s' '%s'", g.repo, dst);
	ck_assert_int_eq(system(cmd), 0);
	stkdr__free(cmd);
	return dst;
}

START_TEST(corrupt_bundle)
{
	ck_assert(g.ready);
	char *repo = copy_repo("repo-corrupt");
	stkdr_ctx *ctx = mk_ctx(repo, NULL);
	/* the largest member: flip a byte in its middle (never the gzip header) */
	stkdr_buf show = STKDR_BUF_INIT;
	EXPECT_OK(stkdr_snapshot_show(&show, ctx, g.full_id));
	cJSON *man = parse_report(&show);
	const cJSON *f, *best_f = NULL, *best_p = NULL;
	double best = 0;
	int best_i = 0;
	cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(man, "files")) {
		const cJSON *p;
		int i = 0;
		cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(f, "parts")) {
			if (jnum(p, "clen") > best) {
				best = jnum(p, "clen");
				best_f = f;
				best_p = p;
				best_i = i;
			}
			i++;
		}
	}
	ck_assert_ptr_nonnull(best_p);
	char *skey = stkdr__repo_key(ctx, "snapshots/");
	char *bpath = stkdr__aprintf("%s/%s%s", repo, skey, jtext(best_p, "bundle"));
	int fd = open(bpath, O_RDWR);
	ck_assert_msg(fd >= 0, "open %s: %s", bpath, strerror(errno));
	chmod(bpath, 0640);
	off_t at = (off_t)(jnum(best_p, "off") + best / 2);
	unsigned char c;
	ck_assert_int_eq(pread(fd, &c, 1, at), 1);
	c ^= 0x5a;
	ck_assert_int_eq(pwrite(fd, &c, 1, at), 1);
	close(fd);
	char want_file[512];
	snprintf(want_file, sizeof want_file, "file %s, part %d", jtext(best_f, "path"), best_i);

	char *base = target_base("corrupt");
	char *dir = tu_path(base, "data");
	stkdr_buf rep = STKDR_BUF_INIT;
	int rc = restore_into(ctx, &rep, dir, g.full_id, STKDR_RESTORE_TARGET_SNAPSHOT, STKDR_RESTORE_START);
	EXPECT_RC(rc, STKDR_ECORRUPT);
	const char *msg = stkdr_ctx_last_error(ctx)->message;
	ck_assert_msg(strstr(msg, "checksum mismatch") && strstr(msg, want_file) && strstr(msg, g.full_id), "%s", msg);
	ck_assert_msg(rep.size == 0, "a report for a failed restore");
	ck_assert(exists(dir, "stkdr-restore-incomplete"));
	ck_assert(!exists(dir, "global/pg_control"));
	ck_assert(!exists(dir, "postmaster.pid"));

	/* a WAL segment the snapshot needs is missing: refused before anything is written */
	char *wprefix = stkdr__repo_key(ctx, "wal/");
	char **keys = NULL;
	size_t nk = 0;
	EXPECT_OK(stkdr__repo_list(&keys, &nk, ctx, wprefix));
	const char *wstart = jtext(cJSON_GetObjectItemCaseSensitive(man, "wal"), "start");
	const char *victim = NULL;
	for (size_t i = 0; i < nk && !victim; i++)
		if (strstr(keys[i], wstart))
			victim = keys[i];
	ck_assert_ptr_nonnull(victim);
	stkdr_objstore *os = NULL;
	EXPECT_OK(stkdr__ctx_objstore(&os, ctx));
	EXPECT_OK(os->del(os, victim, 0));
	char *dir2 = tu_path(base, "data2");
	EXPECT_RC(restore_into(ctx, &rep, dir2, g.full_id, STKDR_RESTORE_TARGET_SNAPSHOT, 0), STKDR_ENOTFOUND);
	msg = stkdr_ctx_last_error(ctx)->message;
	ck_assert_msg(strstr(msg, wstart) && strstr(msg, "missing"), "%s", msg);
	ck_assert(!exists(base, "data2"));

	stkdr__strv_free(keys);
	stkdr__free(wprefix);
	stkdr__free(dir2);
	stkdr_buf_dispose(&rep);
	stkdr__free(dir);
	tu_rmtree_free(base);
	stkdr__free(skey);
	stkdr__free(bpath);
	cJSON_Delete(man);
	stkdr_buf_dispose(&show);
	stkdr_ctx_free(ctx);
	tu_rmtree_free(repo);
}
END_TEST

/* Uncompressed bundles: no gzip CRC to trip over, only the part's SHA-256 can catch a damaged byte. */
START_TEST(corrupt_uncompressed)
{
	ck_assert(g.ready);
	char *repo = tu_path(g.work, "repo-raw");
	stkdr_ctx *ctx = mk_ctx(repo, "\"snapshot\": { \"parallel\": 2, \"compression\": \"none\" }");
	stkdr_buf id = STKDR_BUF_INIT;
	EXPECT_OK(stkdr_snapshot_create(&id, ctx, NULL));
	stkdr_buf show = STKDR_BUF_INIT;
	EXPECT_OK(stkdr_snapshot_show(&show, ctx, id.ptr));
	cJSON *man = parse_report(&show);
	ck_assert_str_eq(jtext(cJSON_GetObjectItemCaseSensitive(man, "compression"), "algorithm"), "none");
	/* PG_VERSION: 3 bytes "15\n" -> "16\n" */
	const cJSON *f, *part = NULL;
	cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(man, "files"))
		if (!strcmp(jtext(f, "path"), "PG_VERSION"))
			part = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(f, "parts"), 0);
	ck_assert_ptr_nonnull(part);
	char *skey = stkdr__repo_key(ctx, "snapshots/");
	char *bpath = stkdr__aprintf("%s/%s%s", repo, skey, jtext(part, "bundle"));
	int fd = open(bpath, O_RDWR);
	ck_assert_msg(fd >= 0, "open %s: %s", bpath, strerror(errno));
	off_t at = (off_t)(jnum(part, "off") + 1);
	ck_assert_int_eq(pwrite(fd, "6", 1, at), 1);
	close(fd);

	char *base = target_base("raw");
	char *dir = tu_path(base, "data");
	stkdr_buf rep = STKDR_BUF_INIT;
	int rc = restore_into(ctx, &rep, dir, id.ptr, STKDR_RESTORE_TARGET_SNAPSHOT, 0);
	EXPECT_RC(rc, STKDR_ECORRUPT);
	const char *msg = stkdr_ctx_last_error(ctx)->message;
	ck_assert_msg(strstr(msg, "file PG_VERSION, part 0") && strstr(msg, "checksum mismatch (3 bytes with SHA-256"),
		"%s", msg);
	ck_assert(exists(dir, "stkdr-restore-incomplete"));

	stkdr_buf_dispose(&rep);
	stkdr__free(dir);
	tu_rmtree_free(base);
	stkdr__free(skey);
	stkdr__free(bpath);
	cJSON_Delete(man);
	stkdr_buf_dispose(&show);
	stkdr_buf_dispose(&id);
	stkdr_ctx_free(ctx);
	tu_rmtree_free(repo);
}
END_TEST

/* ------------------------------------------------------------------ incremental, parent deleted */

static void check_same_as_source(const char *ci)
{
	static const char *const q[] = {
		"SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM t",
		"SELECT md5(string_agg(small::text, ',' ORDER BY id)) FROM small",
		"SELECT md5(string_agg(counter.id::text, ',' ORDER BY id)) FROM counter",
	};
	for (size_t i = 0; i < STKDR__ARRAY_SIZE(q); i++) {
		char *a = pgt_sql(g.src, q[i]);
		char *b = sql_at(ci, q[i]);
		ck_assert_msg(!strcmp(a, b), "%s: source %s, restored %s", q[i], a, b);
		stkdr__free(a);
		stkdr__free(b);
	}
}

START_TEST(incremental_and_parent_delete)
{
	ck_assert(g.ready);
	stkdr_ctx *ctx = mk_ctx(g.repo, NULL);
	pgt_exec(g.src, "UPDATE small SET v = v || '-changed' WHERE id % 10 = 0");
	pgt_exec(g.src, "INSERT INTO small VALUES (1000, 'new')");
	stkdr_buf id = STKDR_BUF_INIT;
	stkdr_snapshot_options so;
	EXPECT_OK(stkdr_snapshot_options_init(&so, STKDR_SNAPSHOT_OPTIONS_VERSION));
	so.kind = STKDR_SNAPSHOT_HOURLY;
	EXPECT_OK(stkdr_snapshot_create(&id, ctx, &so));
	char child[64];
	snprintf(child, sizeof child, "%s", id.ptr);
	stkdr_buf_dispose(&id);

	stkdr_buf show = STKDR_BUF_INIT;
	EXPECT_OK(stkdr_snapshot_show(&show, ctx, child));
	cJSON *man = parse_report(&show);
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(man, "incremental")));
	ck_assert_str_eq(jtext(man, "parent"), g.full_id);
	double rb = jnum(cJSON_GetObjectItemCaseSensitive(man, "totals"), "read_bytes");
	ck_assert_msg(rb * 4 < g.full_read_bytes, "incremental read %g bytes, the full one %g", rb, g.full_read_bytes);
	cJSON_Delete(man);
	stkdr_buf_dispose(&show);

	char *base = target_base("incr");
	char *dir = tu_path(base, "data");
	stkdr_buf rep = STKDR_BUF_INIT;
	EXPECT_OK(restore_into(ctx, &rep, dir, child, STKDR_RESTORE_TARGET_SNAPSHOT, STKDR_RESTORE_START));
	cJSON *r = parse_report(&rep);
	char *ci = report_conninfo(r);
	check_same_as_source(ci);
	stkdr__free(ci);
	cJSON_Delete(r);
	stop_restored(dir);
	stkdr_buf_dispose(&rep);

	/* deleting the parent never breaks the child */
	EXPECT_OK(stkdr_snapshot_delete(ctx, g.full_id));
	stkdr_buf gone = STKDR_BUF_INIT;
	EXPECT_RC(stkdr_snapshot_show(&gone, ctx, g.full_id), STKDR_ENOTFOUND);
	char *dir2 = tu_path(base, "data2");
	EXPECT_OK(restore_into(ctx, &rep, dir2, "latest", STKDR_RESTORE_TARGET_SNAPSHOT, STKDR_RESTORE_START));
	r = parse_report(&rep);
	ck_assert_str_eq(jtext(r, "snapshot"), child);
	ci = report_conninfo(r);
	check_same_as_source(ci);
	stkdr__free(ci);
	cJSON_Delete(r);
	stop_restored(dir2);
	stkdr_buf_dispose(&rep);
	stkdr__free(dir2);
	stkdr__free(dir);
	tu_rmtree_free(base);
	stkdr_ctx_free(ctx);
}
END_TEST

/* ------------------------------------------------------------------ block-level incremental */

static cJSON *manifest_of(stkdr_ctx *ctx, const char *id)
{
	stkdr_buf show = STKDR_BUF_INIT;
	EXPECT_OK(stkdr_snapshot_show(&show, ctx, id));
	cJSON *m = parse_report(&show);
	stkdr_buf_dispose(&show);
	return m;
}

static const cJSON *file_of(const cJSON *man, const char *path)
{
	const cJSON *f;
	cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(man, "files"))
		if (!strcmp(jtext(f, "path"), path))
			return f;
	ck_abort_msg("%s is not in the manifest", path);
	return NULL;
}

/* How many parts of `f` live in bundles of snapshot `id`. */
static int parts_in(const cJSON *f, const char *id)
{
	int n = 0;
	const cJSON *p;
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(f, "parts"))
		n += !strncmp(jtext(p, "bundle"), id, strlen(id));
	return n;
}

#define BLK_MD5 "SELECT md5(string_agg(blk::text, ',' ORDER BY id)) FROM blk"

static void check_table_md5(const char *ci, const char *want)
{
	char *got = sql_at(ci, BLK_MD5);
	ck_assert_msg(!strcmp(got, want), "table blk: source %s at the snapshot, restored %s", want, got);
	stkdr__free(got);
}

static void restore_and_compare(stkdr_ctx *ctx, const char *base, const char *name, const char *snap, const char *md5)
{
	char *dir = tu_path(base, name);
	stkdr_buf rep = STKDR_BUF_INIT;
	EXPECT_OK(restore_into(ctx, &rep, dir, snap, STKDR_RESTORE_TARGET_SNAPSHOT, STKDR_RESTORE_START));
	cJSON *r = parse_report(&rep);
	char *ci = report_conninfo(r);
	check_table_md5(ci, md5);
	stkdr__free(ci);
	cJSON_Delete(r);
	stop_restored(dir);
	stkdr_buf_dispose(&rep);
	stkdr__free(dir);
}

/*
 * full -> 1% update -> incremental -> another change -> incremental: only changed 1 MiB chunks are
 * stored, the rest referenced across the chain (the grandparent's too); each restores to the table as it
 * was; deleting the middle snapshot keeps the last restorable and verified; a damaged byte in a chunk of
 * the grandparent that the last one references fails the last one's verification, naming the file.
 */
START_TEST(block_incremental_chain)
{
	ck_assert(g.ready);
	char *repo = tu_path(g.work, "repo-blk");
	stkdr_ctx *ctx = mk_ctx(repo, NULL);
	/* like pgbench_accounts: an integer key, a counter column without an index, padding */
	pgt_exec(g.src, "CREATE TABLE blk (id int PRIMARY KEY, n int NOT NULL, pad text NOT NULL)");
	pgt_exec(g.src, "INSERT INTO blk SELECT g, 0, repeat(md5(g::text), 2) FROM generate_series(1, 200000) g");
	pgt_exec(g.src, "VACUUM (FREEZE, ANALYZE) blk");
	pgt_exec(g.src, "CHECKPOINT");
	sleep_ms(1200);
	char *relpath = pgt_sql(g.src, "SELECT pg_relation_filepath('blk')");
	stkdr_buf id = STKDR_BUF_INIT;
	stkdr_snapshot_options so;
	EXPECT_OK(stkdr_snapshot_options_init(&so, STKDR_SNAPSHOT_OPTIONS_VERSION));
	so.flags = STKDR_SNAPSHOT_FULL;
	EXPECT_OK(stkdr_snapshot_create(&id, ctx, &so));
	char s1[64], s2[64], s3[64];
	snprintf(s1, sizeof s1, "%s", id.ptr);
	cJSON *m1 = manifest_of(ctx, s1);
	ck_assert_int_eq((int)jnum(m1, "format_version"), 2);
	ck_assert_int_eq((int)jnum(m1, "chunk_size"), 1048576);
	const cJSON *f1 = file_of(m1, relpath);
	ck_assert_int_gt(cJSON_GetArraySize(cJSON_GetObjectItem(f1, "parts")), 5);
	ck_assert(cJSON_IsString(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(f1, "parts"), 0), "hdr")));
	double stored1 = jnum(cJSON_GetObjectItem(m1, "totals"), "stored_bytes");

	/* 1% of the rows, at the start of the table */
	pgt_exec(g.src, "UPDATE blk SET n = n + 1 WHERE id <= 2000");
	char *md5_2 = pgt_sql(g.src, BLK_MD5);
	EXPECT_OK(stkdr_snapshot_create(&id, ctx, NULL));
	snprintf(s2, sizeof s2, "%s", id.ptr);
	cJSON *m2 = manifest_of(ctx, s2);
	ck_assert_str_eq(jtext(m2, "parent"), s1);
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(m2, "block_incremental")));
	const cJSON *t2 = cJSON_GetObjectItem(m2, "totals");
	double stored2 = jnum(t2, "stored_bytes");
	ck_assert_msg(stored2 < 0.15 * stored1, "the 1%% incremental stored %.0f bytes, the full %.0f", stored2, stored1);
	ck_assert_msg(jnum(t2, "skipped_bytes") > 0, "no chunk was taken by its page headers");
	ck_assert_msg(jnum(t2, "read_bytes") < 0.5 * jnum(t2, "bytes"), "read %.0f of %.0f bytes",
		jnum(t2, "read_bytes"), jnum(t2, "bytes"));
	const cJSON *f2 = file_of(m2, relpath);
	ck_assert_int_gt(parts_in(f2, s1), 0); /* unchanged chunks: referenced */
	ck_assert_int_gt(parts_in(f2, s2), 0); /* changed ones: stored */

	/* a different change: the middle of the table, and deleted rows */
	pgt_exec(g.src, "UPDATE blk SET n = n + 2, pad = 'changed' WHERE id > 150000 AND id <= 152000");
	pgt_exec(g.src, "DELETE FROM blk WHERE id > 100000 AND id <= 100500");
	char *md5_3 = pgt_sql(g.src, BLK_MD5);
	EXPECT_OK(stkdr_snapshot_create(&id, ctx, NULL));
	snprintf(s3, sizeof s3, "%s", id.ptr);
	cJSON *m3 = manifest_of(ctx, s3);
	ck_assert_str_eq(jtext(m3, "parent"), s2);
	const cJSON *f3 = file_of(m3, relpath);
	ck_assert_int_gt(parts_in(f3, s1), 0); /* the grandparent's chunks */
	ck_assert_int_gt(parts_in(f3, s3), 0);

	char *base = target_base("blk");
	restore_and_compare(ctx, base, "d2", s2, md5_2);

	/* deleting the middle one keeps the last restorable */
	EXPECT_OK(stkdr_snapshot_delete(ctx, s2));
	restore_and_compare(ctx, base, "d3", s3, md5_3);
	stkdr_buf rep = STKDR_BUF_INIT;
	int rc = stkdr_snapshot_verify(&rep, ctx, s3, NULL);
	ck_assert_msg(rc == 0, "verification of %s: %s", s3, rep.ptr ? rep.ptr : stkdr_ctx_last_error(ctx)->message);
	ck_assert_msg(strstr(rep.ptr, "\"page_checksums\"") != NULL, "%s", rep.ptr);

	/* one damaged byte in a chunk of the grandparent that the last one references */
	const cJSON *victim = NULL, *p;
	int64_t at = 0, victim_off = 0;
	cJSON_ArrayForEach(p, cJSON_GetObjectItem(f3, "parts")) {
		if (!victim && !strncmp(jtext(p, "bundle"), s1, strlen(s1))) {
			victim = p;
			victim_off = at;
		}
		at += (int64_t)jnum(p, "len");
	}
	ck_assert_ptr_nonnull(victim);
	char *skey = stkdr__repo_key(ctx, "snapshots/");
	char *bpath = stkdr__aprintf("%s/%s%s", repo, skey, jtext(victim, "bundle"));
	chmod(bpath, 0640);
	int fd = open(bpath, O_RDWR);
	ck_assert_msg(fd >= 0, "open %s: %s", bpath, strerror(errno));
	off_t where = (off_t)(jnum(victim, "off") + jnum(victim, "clen") / 2);
	unsigned char c;
	ck_assert_int_eq(pread(fd, &c, 1, where), 1);
	c ^= 0x5a;
	ck_assert_int_eq(pwrite(fd, &c, 1, where), 1);
	close(fd);
	stkdr_verify_options vo;
	EXPECT_OK(stkdr_verify_options_init(&vo, STKDR_VERIFY_OPTIONS_VERSION));
	vo.flags = STKDR_VERIFY_CHECKSUMS_ONLY;
	EXPECT_RC(stkdr_snapshot_verify(&rep, ctx, s3, &vo), STKDR_ECORRUPT);
	char want[512];
	snprintf(want, sizeof want, "file %s at offset %" PRId64, relpath, victim_off);
	ck_assert_msg(strstr(rep.ptr, want) != NULL, "the report of %s does not name %s: %s", s3, want, rep.ptr);

	stkdr_buf_dispose(&rep);
	stkdr__free(skey);
	stkdr__free(bpath);
	tu_rmtree_free(base);
	stkdr__free(md5_2);
	stkdr__free(md5_3);
	cJSON_Delete(m1);
	cJSON_Delete(m2);
	cJSON_Delete(m3);
	stkdr__free(relpath);
	stkdr_buf_dispose(&id);
	stkdr_ctx_free(ctx);
	tu_rmtree_free(repo);
}
END_TEST

/* ------------------------------------------------------------------ point in time: an LSN */

START_TEST(pitr_lsn)
{
	ck_assert(g.ready);
	/* restore_command always fails: recovery uses the WAL the restore put into pg_wal */
	stkdr_ctx *ctx = mk_ctx(g.repo, "\"restore\": { \"wal_command\": \"false\" }");
	stkdr_buf show = STKDR_BUF_INIT;
	EXPECT_OK(stkdr_snapshot_show(&show, ctx, "latest"));
	cJSON *man = parse_report(&show);
	char sid[64], lsn[32];
	snprintf(sid, sizeof sid, "%s", jtext(man, "id"));
	snprintf(lsn, sizeof lsn, "%s", jtext(man, "stop_lsn"));
	cJSON_Delete(man);
	stkdr_buf_dispose(&show);

	char *base = target_base("pitr");
	char *dir = tu_path(base, "data");
	stkdr_restore_options o;
	EXPECT_OK(stkdr_restore_options_init(&o, STKDR_RESTORE_OPTIONS_VERSION));
	o.target_dir = dir;
	o.target = STKDR_RESTORE_TARGET_LSN;
	o.target_lsn = "FF/0"; /* never archived: refused before anything is written */
	EXPECT_RC(stkdr_restore(NULL, ctx, &o), STKDR_ENOTFOUND);
	ck_assert_msg(strstr(stkdr_ctx_last_error(ctx)->message, "is not in the archive") != NULL, "%s",
		stkdr_ctx_last_error(ctx)->message);
	ck_assert(!exists(base, "data"));

	o.target_lsn = lsn;
	o.flags = STKDR_RESTORE_START;
	stkdr_buf rep = STKDR_BUF_INIT;
	EXPECT_OK(stkdr_restore(&rep, ctx, &o));
	cJSON *r = parse_report(&rep);
	ck_assert_str_eq(jtext(r, "snapshot"), sid);
	ck_assert_str_eq(jtext(r, "target"), "lsn");
	ck_assert_int_eq((int)jnum(r, "timeline"), 2);
	ck_assert_msg(strstr(jtext(r, "recovery_stop"), "recovery stopping before") != NULL, "recovery_stop \"%s\"",
		jtext(r, "recovery_stop"));
	char *ci = report_conninfo(r);
	char *inrec = sql_at(ci, "SELECT pg_is_in_recovery()::text");
	ck_assert_str_eq(inrec, "false");
	stkdr__free(inrec);
	char *md5 = sql_at(ci, "SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM t");
	ck_assert_str_eq(md5, g.md5_t);
	stkdr__free(md5);
	ck_assert_int_eq(sql_int(ci, "SELECT count(*) FROM counter"), sql_int(ci, "SELECT max(id) FROM counter"));
	stkdr__free(ci);
	char *conf = tu_path(dir, "postgresql.auto.conf");
	char *text = tu_read_file(conf, NULL);
	ck_assert_msg(strstr(text, "restore_command = 'false'") && strstr(text, "recovery_target_lsn = '") &&
			      strstr(text, "recovery_target_action = 'promote'"),
		"%s", text);
	stkdr__free(text);
	stkdr__free(conf);
	stop_restored(dir);
	cJSON_Delete(r);
	stkdr_buf_dispose(&rep);
	stkdr__free(dir);
	tu_rmtree_free(base);
	stkdr_ctx_free(ctx);
}
END_TEST

/* ------------------------------------------------------------------ point in time: "5 minutes before the deletion" */

START_TEST(pitr_time)
{
	ck_assert(g.ready);
	/* The runbook's scenario: rows exist, an operator deletes them, the restore goes to just before. */
	pgt_exec(g.src, "CREATE TABLE IF NOT EXISTS events (id int PRIMARY KEY, what text)");
	pgt_exec(g.src, "INSERT INTO events SELECT g, 'before' FROM generate_series(1, 10) g");
	sleep_ms(300);
	char *target = pgt_sql(g.src, "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')");
	int64_t target_ms = 0;
	EXPECT_OK(stkdr__time_parse_rfc3339(&target_ms, target));
	sleep_ms(300);
	pgt_exec(g.src, "DELETE FROM events");
	pgt_exec(g.src, "INSERT INTO events VALUES (100, 'after')");
	pgt_exec(g.src, "SELECT pg_switch_wal()");
	/* The WAL after the snapshot, where the server's restore_command finds it (no `stk` in tests). */
	char *walsrc = tu_path(g.work, "walsrc");
	char *cmd = stkdr__aprintf("rm -rf '%s' && mkdir -p '%s' && cp '%s'/pg_wal/0000000* '%s'/ && chmod -R a+rX '%s'",
		walsrc, walsrc, g.src->data_dir, walsrc, walsrc);
	ck_assert_int_eq(system(cmd), 0);
	stkdr__free(cmd);
	char *extra = stkdr__aprintf("\"restore\": { \"wal_command\": \"cp %s/%%f \\\"%%p\\\"\" }", walsrc);
	stkdr_ctx *ctx = mk_ctx(g.repo, extra);
	stkdr__free(extra);

	char *base = target_base("time");
	char *dir = tu_path(base, "data");
	stkdr_restore_options o;
	EXPECT_OK(stkdr_restore_options_init(&o, STKDR_RESTORE_OPTIONS_VERSION));
	o.target_dir = dir;
	o.target = STKDR_RESTORE_TARGET_TIME;
	o.target_time_ms = target_ms;
	o.flags = STKDR_RESTORE_START;
	stkdr_buf rep = STKDR_BUF_INIT;
	EXPECT_OK(stkdr_restore(&rep, ctx, &o));
	cJSON *r = parse_report(&rep);
	ck_assert_str_eq(jtext(r, "target"), "time");
	ck_assert_msg(strstr(jtext(r, "recovery_stop"), "recovery stopping before commit of transaction") != NULL,
		"recovery_stop \"%s\"", jtext(r, "recovery_stop"));
	ck_assert(*jtext(r, "last_transaction_time"));
	char *ci = report_conninfo(r);
	ck_assert_int_eq(sql_int(ci, "SELECT count(*) FROM events WHERE what = 'before'"), 10);
	ck_assert_int_eq(sql_int(ci, "SELECT count(*) FROM events WHERE what = 'after'"), 0);
	char *inrec = sql_at(ci, "SELECT pg_is_in_recovery()::text");
	ck_assert_str_eq(inrec, "false");
	stkdr__free(inrec);
	stkdr__free(ci);
	stop_restored(dir);
	cJSON_Delete(r);
	stkdr_buf_dispose(&rep);
	stkdr__free(dir);
	tu_rmtree_free(base);
	stkdr_ctx_free(ctx);
	stkdr__free(target);
	char *rm = stkdr__aprintf("rm -rf '%s'", walsrc);
	ck_assert_int_eq(system(rm), 0);
	stkdr__free(rm);
	stkdr__free(walsrc);
}
END_TEST

/* ------------------------------------------------------------------ list, show, delete, expire */

typedef struct listacc {
	int n;
	char ids[8][64];
} listacc;

static int on_list(const stkdr_snapshot_info *si, void *payload)
{
	listacc *a = payload;
	if (a->n < 8)
		snprintf(a->ids[a->n], sizeof a->ids[0], "%s", si->id);
	a->n++;
	return 0;
}

typedef struct expacc {
	int n, deleted;
	char ids[8][64];
	int action[8];
	char reason[8][200];
} expacc;

static int on_expire(const char *id, int action, const char *reason, void *payload)
{
	expacc *a = payload;
	if (a->n < 8) {
		snprintf(a->ids[a->n], sizeof a->ids[0], "%s", id);
		a->action[a->n] = action;
		snprintf(a->reason[a->n], sizeof a->reason[0], "%s", reason);
	}
	a->deleted += action == STKDR_EXPIRE_DELETE;
	a->n++;
	return 0;
}

static void take(stkdr_ctx *ctx, char *out, int kind, uint32_t flags)
{
	stkdr_buf id = STKDR_BUF_INIT;
	stkdr_snapshot_options so;
	EXPECT_OK(stkdr_snapshot_options_init(&so, STKDR_SNAPSHOT_OPTIONS_VERSION));
	so.kind = kind;
	so.flags = flags;
	EXPECT_OK(stkdr_snapshot_create(&id, ctx, &so));
	snprintf(out, 64, "%s", id.ptr);
	stkdr_buf_dispose(&id);
	sleep_ms(1100); /* distinct, ordered ids */
}

START_TEST(list_show_delete_expire)
{
	ck_assert(g.ready);
	char *repo = tu_path(g.work, "repo-expire");
	stkdr_ctx *ctx = mk_ctx(repo, NULL);
	char a[64], b[64], c[64], d[64], e[64];
	take(ctx, a, STKDR_SNAPSHOT_HOURLY, 0);
	take(ctx, b, STKDR_SNAPSHOT_DAILY, 0);
	take(ctx, c, STKDR_SNAPSHOT_MANUAL, STKDR_SNAPSHOT_KEEP);
	take(ctx, d, STKDR_SNAPSHOT_HOURLY, 0);
	take(ctx, e, STKDR_SNAPSHOT_HOURLY, 0);

	listacc l;
	memset(&l, 0, sizeof l);
	EXPECT_OK(stkdr_snapshot_list(ctx, on_list, &l));
	ck_assert_int_eq(l.n, 5);
	ck_assert_str_eq(l.ids[0], a);
	ck_assert_str_eq(l.ids[4], e);
	stkdr_buf show = STKDR_BUF_INIT;
	EXPECT_OK(stkdr_snapshot_show(&show, ctx, "latest"));
	cJSON *m = parse_report(&show);
	ck_assert_str_eq(jtext(m, "id"), e);
	ck_assert_str_eq(jtext(m, "kind"), "hourly");
	cJSON_Delete(m);
	EXPECT_OK(stkdr_snapshot_show(&show, ctx, c));
	m = parse_report(&show);
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "keep")));
	cJSON_Delete(m);
	stkdr_buf_dispose(&show);

	/* delete a middle one; the others stay restorable */
	EXPECT_OK(stkdr_snapshot_delete(ctx, d));
	EXPECT_RC(stkdr_snapshot_delete(ctx, d), STKDR_ENOTFOUND);
	memset(&l, 0, sizeof l);
	EXPECT_OK(stkdr_snapshot_list(ctx, on_list, &l));
	ck_assert_int_eq(l.n, 4);

	/* a year and more later */
	stkdr_ctx_free(ctx);
	ctx = mk_ctx(repo, "\"clock\": { \"fake_now\": \"2099-06-01T00:00:00Z\" }");
	expacc x;
	memset(&x, 0, sizeof x);
	EXPECT_OK(stkdr_snapshot_expire(ctx, STKDR_EXPIRE_DRY_RUN, on_expire, &x));
	ck_assert_int_eq(x.n, 4);
	ck_assert_int_eq(x.deleted, 2); /* a (hourly) and b (daily, older than a year) */
	ck_assert_str_eq(x.ids[0], a);
	ck_assert_int_eq(x.action[0], STKDR_EXPIRE_DELETE);
	ck_assert_msg(strstr(x.reason[0], "hourly") != NULL, "%s", x.reason[0]);
	ck_assert_int_eq(x.action[1], STKDR_EXPIRE_DELETE);
	ck_assert_int_eq(x.action[2], STKDR_EXPIRE_KEEP);
	ck_assert_msg(strstr(x.reason[2], "--keep") != NULL, "%s", x.reason[2]);
	ck_assert_int_eq(x.action[3], STKDR_EXPIRE_KEEP);
	ck_assert_msg(strstr(x.reason[3], "newest") != NULL, "%s", x.reason[3]);
	memset(&l, 0, sizeof l);
	EXPECT_OK(stkdr_snapshot_list(ctx, on_list, &l));
	ck_assert_int_eq(l.n, 4); /* a dry run deletes nothing */

	memset(&x, 0, sizeof x);
	EXPECT_OK(stkdr_snapshot_expire(ctx, 0, on_expire, &x));
	ck_assert_int_eq(x.deleted, 2);
	memset(&l, 0, sizeof l);
	EXPECT_OK(stkdr_snapshot_list(ctx, on_list, &l));
	ck_assert_int_eq(l.n, 2);
	ck_assert_str_eq(l.ids[0], c);
	ck_assert_str_eq(l.ids[1], e);

	/* what is left restores (e builds on parents that are gone) */
	char *base = target_base("expire");
	char *dir = tu_path(base, "data");
	stkdr_buf rep = STKDR_BUF_INIT;
	EXPECT_OK(restore_into(ctx, &rep, dir, e, STKDR_RESTORE_TARGET_SNAPSHOT, 0));
	ck_assert(exists(dir, "global/pg_control"));
	stkdr_buf_dispose(&rep);
	stkdr__free(dir);
	tu_rmtree_free(base);
	stkdr_ctx_free(ctx);
	tu_rmtree_free(repo);
}
END_TEST

static Suite *restore_suite(void)
{
	Suite *s = suite_create("snapshot_restore");
	if (!pgt_available())
		return s;
	const struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{ "full", full_restore_start },
		{ "verifybackup", verifybackup_restored },
		{ "refusals", target_refusals },
		{ "corrupt", corrupt_bundle },
		{ "corrupt_raw", corrupt_uncompressed },
		{ "incremental", incremental_and_parent_delete },
		{ "pitr_lsn", pitr_lsn },
		{ "pitr_time", pitr_time },
		{ "expire", list_show_delete_expire },
		{ "block_incremental", block_incremental_chain },
	};
	for (size_t i = 0; i < STKDR__ARRAY_SIZE(cases); i++) {
		TCase *tc = tcase_create(cases[i].name);
		tcase_add_unchecked_fixture(tc, shared_setup, shared_teardown);
		tcase_set_timeout(tc, 300);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	return s;
}

int main(void)
{
	int rc = tu_run_suite(restore_suite());
	pgt_destroy(g.src);
	tu_rmtree_free(g.work);
	stkdr__free(g.repo);
	return rc;
}
