/* Snapshots against a real PostgreSQL 15: failure behaviour (server down, bad credentials, wrong data
 * directory, repository faults, a process killed mid-snapshot), page-checksum detection, ids and
 * incremental bookkeeping. Restores and retention are covered by test_snapshot_restore. */
#include "pgtest.h"
#include "backends/fault.h"
#include "backends/local/local.h"
#include "core/checksum.h"
#include "services/proc.h"
#include "features/repo.h"
#include "features/snapshot.h"
#include "features/wal.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static pgt_cluster *pg;
static char *repo_dir;

static void setup(void)
{
	if (!pgt_available())
		return;
	/* autovacuum off: an idle Hub DB whose files do not change between snapshots */
	pg = pgt_start("snap", "autovacuum = off\n");
	pgt_exec(pg, "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 100000) g");
	pgt_exec(pg, "CREATE INDEX ON t(id)");
	pgt_exec(pg, "VACUUM (FREEZE, ANALYZE)");
	pgt_exec(pg, "CHECKPOINT");
	/* Files modified within a second of a snapshot's start are re-read by its child (timestamp
	 * granularity): let the freshly loaded files age past that, as they would in production. */
	sleep(2);
	repo_dir = tu_mkdtemp("snaprepo");
}

static void teardown(void)
{
	pgt_destroy(pg);
	pg = NULL;
	tu_rmtree_free(repo_dir);
	repo_dir = NULL;
}

static stkdr_ctx *ctx_for(const char *conninfo, const char *data_dir)
{
	char *json = stkdr__aprintf("{\"deployment\":\"hub-test\",\"postgres\":{\"conninfo\":\"%s\",\"data_dir\":\"%s\","
				    "\"bin_dir\":\"%s\"},\"objstore\":{\"backend\":\"local\",\"path\":\"%s/repo\"},"
				    "\"snapshot\":{\"parallel\":2}}",
		conninfo, data_dir, pgt_bin_dir(), repo_dir);
	stkdr_ctx *ctx = tu_ctx_json(json);
	stkdr__free(json);
	return ctx;
}

/* Number of objects under P/snapshots/ (committed or not). */
static size_t count_snapshot_objects(stkdr_ctx *ctx, const char *id)
{
	char rel[128];
	snprintf(rel, sizeof rel, "snapshots/%s", id ? id : "");
	char *prefix = stkdr__repo_key(ctx, rel);
	char **keys;
	size_t n = 0;
	tu_assert_ok(stkdr__repo_list(&keys, &n, ctx, prefix));
	stkdr__strv_free(keys);
	stkdr__free(prefix);
	return n;
}

static int count_cb(const stkdr_snapshot_info *si, void *payload)
{
	(void)si;
	(*(int *)payload)++;
	return 0;
}

static int n_snapshots(stkdr_ctx *ctx)
{
	int n = 0;
	tu_assert_ok(stkdr_snapshot_list(ctx, count_cb, &n));
	return n;
}

START_TEST(server_down_and_bad_credentials)
{
	if (!pg)
		return;
	/* nothing listening */
	int port = 1;
	stkdr_ctx *ctx = ctx_for("host=127.0.0.1 port=1 user=postgres dbname=postgres password=hunter2-secret",
		pg->data_dir);
	(void)port;
	int rc = stkdr_snapshot_create(NULL, ctx, NULL);
	ck_assert_int_eq(rc, STKDR_EBACKEND);
	const char *msg = stkdr_ctx_last_error(ctx)->message;
	ck_assert_msg(strstr(msg, "127.0.0.1") != NULL, "message: %s", msg);
	ck_assert_msg(strstr(msg, "hunter2") == NULL, "password leaked: %s", msg);
	ck_assert_int_eq(count_snapshot_objects(ctx, NULL), 0);
	stkdr_ctx_free(ctx);

	/* a role that does not exist */
	char ci[256];
	snprintf(ci, sizeof ci, "host=127.0.0.1 port=%d user=nobody_here dbname=postgres", pg->port);
	ctx = ctx_for(ci, pg->data_dir);
	ck_assert_int_eq(stkdr_snapshot_create(NULL, ctx, NULL), STKDR_EAUTH);
	ck_assert_int_eq(count_snapshot_objects(ctx, NULL), 0);
	stkdr_ctx_free(ctx);

	/* the configuration names another cluster's data directory */
	char *other = pgt_mkdtemp_pg("otherdata");
	ctx = ctx_for(pg->conninfo, other);
	ck_assert_int_eq(stkdr_snapshot_create(NULL, ctx, NULL), STKDR_EINVAL);
	ck_assert(strstr(stkdr_ctx_last_error(ctx)->message, "two different clusters") != NULL);
	stkdr_ctx_free(ctx);
	tu_rmtree_free(other);

	/* missing configuration */
	ctx = tu_ctx_json("{\"deployment\":\"x\",\"objstore\":{\"path\":\"/tmp/x\"}}");
	ck_assert_int_eq(stkdr_snapshot_create(NULL, ctx, NULL), STKDR_EINVAL);
	ck_assert(strstr(stkdr_ctx_last_error(ctx)->message, "postgres.conninfo") != NULL);
	/* bad options */
	stkdr_snapshot_options o;
	tu_assert_ok(stkdr_snapshot_options_init(&o, STKDR_SNAPSHOT_OPTIONS_VERSION));
	o.kind = 9;
	ck_assert_int_eq(stkdr_snapshot_create(NULL, ctx, &o), STKDR_EINVAL);
	o.version = 99;
	ck_assert_int_eq(stkdr_snapshot_create(NULL, ctx, &o), STKDR_EVERSION);
	ck_assert_int_eq(stkdr_snapshot_options_init(&o, 0), STKDR_EVERSION);
	ck_assert_int_eq(stkdr_snapshot_show(NULL, ctx, "x"), STKDR_EINVAL);
	stkdr_buf b = STKDR_BUF_INIT;
	ck_assert_int_eq(stkdr_snapshot_show(&b, ctx, "20200101T000000.000Z-0000"), STKDR_ENOTFOUND);
	ck_assert_int_eq(stkdr_snapshot_show(&b, ctx, "latest"), STKDR_ENOTFOUND);
	ck_assert_int_eq(stkdr_snapshot_show(&b, ctx, "../etc"), STKDR_EINVAL);
	ck_assert_int_eq(stkdr_snapshot_delete(ctx, "nope"), STKDR_ENOTFOUND);
	stkdr_buf_dispose(&b);
	stkdr_ctx_free(ctx);
}
END_TEST

/* Every file's crc32c (written by the snapshot from its chunks' CRCs, whole chunks through a cached
 * operator) equals the reference combination of its parts' crc32c; returns the number of files with
 * more than one part. */
static int check_file_crcs(const cJSON *m)
{
	int multi = 0;
	const cJSON *f, *p;
	cJSON_ArrayForEach(f, cJSON_GetObjectItem(m, "files")) {
		uint32_t crc = 0;
		int i = 0;
		double size = 0;
		cJSON_ArrayForEach(p, cJSON_GetObjectItem(f, "parts")) {
			uint32_t c = (uint32_t)cJSON_GetObjectItem(p, "crc32c")->valuedouble;
			int64_t len = (int64_t)cJSON_GetObjectItem(p, "len")->valuedouble;
			crc = i++ == 0 ? c : stkdr__crc32c_combine(crc, c, len);
			size += (double)len;
		}
		multi += i > 1;
		char hex[16];
		snprintf(hex, sizeof hex, "%08x", crc);
		ck_assert_str_eq(cJSON_GetObjectItem(f, "crc32c")->valuestring, hex);
		ck_assert_double_eq(cJSON_GetObjectItem(f, "size")->valuedouble, size);
	}
	return multi;
}

/* Files a child took whole from its parent have the parent's entry, value for value. */
static int check_reused_entries(const cJSON *parent, const cJSON *child)
{
	int same = 0;
	const cJSON *f, *g;
	cJSON_ArrayForEach(f, cJSON_GetObjectItem(child, "files")) {
		cJSON_ArrayForEach(g, cJSON_GetObjectItem(parent, "files")) {
			if (strcmp(cJSON_GetObjectItem(f, "path")->valuestring, cJSON_GetObjectItem(g, "path")->valuestring))
				continue;
			if (cJSON_GetObjectItem(f, "mtime_ns")->valuedouble == cJSON_GetObjectItem(g, "mtime_ns")->valuedouble &&
				cJSON_GetObjectItem(f, "size")->valuedouble == cJSON_GetObjectItem(g, "size")->valuedouble) {
				ck_assert_msg(cJSON_Compare(f, g, 1), "entry of %s differs from the parent's",
					cJSON_GetObjectItem(f, "path")->valuestring);
				same++;
			}
			break;
		}
	}
	return same;
}

START_TEST(full_then_incremental_bookkeeping)
{
	if (!pg)
		return;
	stkdr_ctx *ctx = ctx_for(pg->conninfo, pg->data_dir);
	stkdr_buf id1 = STKDR_BUF_INIT, id2 = STKDR_BUF_INIT, id3 = STKDR_BUF_INIT, man = STKDR_BUF_INIT;
	stkdr_snapshot_options o;
	stkdr_snapshot_options_init(&o, STKDR_SNAPSHOT_OPTIONS_VERSION);
	o.kind = STKDR_SNAPSHOT_DAILY;
	o.label = "first";
	tu_assert_ok(stkdr_snapshot_create(&id1, ctx, &o));
	tu_assert_ok(stkdr_snapshot_show(&man, ctx, id1.ptr));
	cJSON *m1 = cJSON_Parse(man.ptr);
	ck_assert(!cJSON_IsTrue(cJSON_GetObjectItem(m1, "incremental")));
	ck_assert_str_eq(cJSON_GetObjectItem(m1, "kind")->valuestring, "daily");
	ck_assert_str_eq(cJSON_GetObjectItem(m1, "label")->valuestring, "first");
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(m1, "page_errors")), 0);
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(m1, "data_checksums")));
	double full_read = cJSON_GetObjectItem(cJSON_GetObjectItem(m1, "totals"), "read_bytes")->valuedouble;
	double full_size = cJSON_GetObjectItem(cJSON_GetObjectItem(m1, "totals"), "bytes")->valuedouble;
	ck_assert(full_read > 20e6);
	ck_assert(full_read == full_size);
	/* the WAL that makes it consistent is archived */
	const char *ws = cJSON_GetObjectItem(cJSON_GetObjectItem(m1, "wal"), "start")->valuestring;
	char rel[96];
	snprintf(rel, sizeof rel, "wal/%.8s/%s-", ws, ws);
	char *wk = stkdr__repo_key(ctx, rel);
	char **keys;
	size_t nk;
	tu_assert_ok(stkdr__repo_list(&keys, &nk, ctx, wk));
	ck_assert_uint_eq(nk, 1);
	stkdr__strv_free(keys);
	stkdr__free(wk);

	/* an unchanged database: nearly nothing read, nothing much stored */
	sleep(1);
	tu_assert_ok(stkdr_snapshot_create(&id2, ctx, NULL));
	ck_assert_str_gt(id2.ptr, id1.ptr); /* ids sort by time */
	tu_assert_ok(stkdr_snapshot_show(&man, ctx, "latest"));
	cJSON *m2 = cJSON_Parse(man.ptr);
	ck_assert_str_eq(cJSON_GetObjectItem(m2, "id")->valuestring, id2.ptr);
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(m2, "incremental")));
	ck_assert_str_eq(cJSON_GetObjectItem(m2, "parent")->valuestring, id1.ptr);
	double incr_read = cJSON_GetObjectItem(cJSON_GetObjectItem(m2, "totals"), "read_bytes")->valuedouble;
	ck_assert_msg(incr_read < full_read / 4, "incremental read %.0f of %.0f", incr_read, full_read);
	/* the manifests' file entries: CRCs combined right, unchanged files' entries as in the parent */
	ck_assert_int_gt(check_file_crcs(m1), 0);
	check_file_crcs(m2);
	ck_assert_int_gt(check_reused_entries(m1, m2), 100);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(m2, "files")),
		cJSON_GetArraySize(cJSON_GetObjectItem(m1, "files")));

	/* --full forces a full one; --delta re-reads everything but stores only changes */
	stkdr_snapshot_options_init(&o, STKDR_SNAPSHOT_OPTIONS_VERSION);
	o.flags = STKDR_SNAPSHOT_DELTA | STKDR_SNAPSHOT_KEEP;
	tu_assert_ok(stkdr_snapshot_create(&id3, ctx, &o));
	tu_assert_ok(stkdr_snapshot_show(&man, ctx, id3.ptr));
	cJSON *m3 = cJSON_Parse(man.ptr);
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(m3, "keep")));
	double d_read = cJSON_GetObjectItem(cJSON_GetObjectItem(m3, "totals"), "read_bytes")->valuedouble;
	double d_stored = cJSON_GetObjectItem(cJSON_GetObjectItem(m3, "totals"), "stored_bytes")->valuedouble;
	double f_stored = cJSON_GetObjectItem(cJSON_GetObjectItem(m1, "totals"), "stored_bytes")->valuedouble;
	ck_assert(d_read >= full_read * 0.9);
	ck_assert_msg(d_stored < f_stored / 4, "delta stored %.0f of %.0f", d_stored, f_stored);
	ck_assert_int_eq(n_snapshots(ctx), 3);

	/* the journal recorded each creation */
	char *jp = stkdr__repo_key(ctx, "journal/");
	tu_assert_ok(stkdr__repo_list(&keys, &nk, ctx, jp));
	ck_assert_uint_ge(nk, 6); /* started + created, three times */
	stkdr__strv_free(keys);
	stkdr__free(jp);
	cJSON_Delete(m1);
	cJSON_Delete(m2);
	cJSON_Delete(m3);
	stkdr_buf_dispose(&id1);
	stkdr_buf_dispose(&id2);
	stkdr_buf_dispose(&id3);
	stkdr_buf_dispose(&man);
	stkdr_ctx_free(ctx);
}
END_TEST

/* The totals of a snapshot's manifest, and the manifest (cJSON_Delete it). */
static cJSON *manifest_of(stkdr_ctx *ctx, const char *id)
{
	stkdr_buf b = STKDR_BUF_INIT;
	tu_assert_ok(stkdr_snapshot_show(&b, ctx, id));
	cJSON *m = cJSON_Parse(b.ptr);
	ck_assert_ptr_nonnull(m);
	stkdr_buf_dispose(&b);
	return m;
}

static double total(const cJSON *m, const char *k)
{
	const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(m, "totals"), k);
	ck_assert_msg(cJSON_IsNumber(v), "totals.%s missing", k);
	return v->valuedouble;
}

/* Rewrites a committed manifest (the repository has no in-place update: delete, then create). */
static void replace_manifest(stkdr_ctx *ctx, const char *id, const cJSON *m)
{
	char rel[128];
	snprintf(rel, sizeof rel, "snapshots/%s/manifest.json", id);
	char *key = stkdr__repo_key(ctx, rel);
	stkdr_objstore *os;
	tu_assert_ok(stkdr__ctx_objstore(&os, ctx));
	tu_assert_ok(os->del(os, key, 0));
	char *json = cJSON_PrintUnformatted(m);
	tu_assert_ok(stkdr__repo_put(ctx, key, json, strlen(json), STKDR_PUT_CREATE_ONLY));
	cJSON_free(json);
	stkdr__free(key);
}

/*
 * Which snapshots take chunks by their page headers: a child of a format-2 parent does; --delta does
 * not (re-reads everything, still stores only changed chunks); a child of a format-1 parent (an older
 * libstkdr) does not but still references the parent's identical chunks by hash; an unknown newer
 * format is refused.
 */
START_TEST(block_incremental_rules)
{
	if (!pg)
		return;
	stkdr_ctx *ctx = ctx_for(pg->conninfo, pg->data_dir);
	stkdr_buf id1 = STKDR_BUF_INIT, id2 = STKDR_BUF_INIT, id3 = STKDR_BUF_INIT, id4 = STKDR_BUF_INIT;
	stkdr_snapshot_options o;
	stkdr_snapshot_options_init(&o, STKDR_SNAPSHOT_OPTIONS_VERSION);
	o.flags = STKDR_SNAPSHOT_FULL;
	tu_assert_ok(stkdr_snapshot_create(&id1, ctx, &o));
	cJSON *m1 = manifest_of(ctx, id1.ptr);
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(m1, "block_incremental")));
	ck_assert_double_eq(total(m1, "skipped_bytes"), 0);

	pgt_exec(pg, "UPDATE t SET v = upper(v) WHERE id <= 1000");
	o.flags = STKDR_SNAPSHOT_DELTA;
	tu_assert_ok(stkdr_snapshot_create(&id2, ctx, &o));
	cJSON *m2 = manifest_of(ctx, id2.ptr);
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(m2, "block_incremental")));
	ck_assert_double_eq(total(m2, "skipped_bytes"), 0);
	ck_assert(total(m2, "read_bytes") >= 0.9 * total(m2, "bytes"));
	ck_assert_msg(total(m2, "stored_bytes") < 0.25 * total(m1, "stored_bytes"), "delta stored %.0f, full %.0f",
		total(m2, "stored_bytes"), total(m1, "stored_bytes"));
	ck_assert(total(m2, "referenced_bytes") > 0.5 * total(m2, "bytes"));

	pgt_exec(pg, "UPDATE t SET v = lower(v) WHERE id <= 1000");
	tu_assert_ok(stkdr_snapshot_create(&id3, ctx, NULL));
	cJSON *m3 = manifest_of(ctx, id3.ptr);
	ck_assert_str_eq(cJSON_GetObjectItem(m3, "parent")->valuestring, id2.ptr);
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(m3, "block_incremental")));
	ck_assert(total(m3, "skipped_bytes") > 0);
	ck_assert_int_gt(check_file_crcs(m3), 0);
	ck_assert_int_gt(check_reused_entries(m2, m3), 100);

	/* the same snapshot as an older libstkdr would have written it */
	cJSON_ReplaceItemInObject(m3, "format_version", cJSON_CreateNumber(1));
	cJSON_DeleteItemFromObject(m3, "chunk_size");
	cJSON_DeleteItemFromObject(m3, "block_incremental");
	const cJSON *f, *p;
	cJSON_ArrayForEach(f, cJSON_GetObjectItem(m3, "files"))
		cJSON_ArrayForEach(p, cJSON_GetObjectItem(f, "parts"))
			cJSON_DeleteItemFromObject((cJSON *)p, "hdr");
	replace_manifest(ctx, id3.ptr, m3);
	cJSON *m3b = manifest_of(ctx, id3.ptr);
	ck_assert_int_eq(cJSON_GetObjectItem(m3b, "format_version")->valueint, 1);
	pgt_exec(pg, "UPDATE t SET v = upper(v) WHERE id > 50000 AND id <= 51000");
	tu_assert_ok(stkdr_snapshot_create(&id4, ctx, NULL));
	cJSON *m4 = manifest_of(ctx, id4.ptr);
	ck_assert_str_eq(cJSON_GetObjectItem(m4, "parent")->valuestring, id3.ptr);
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(m4, "block_incremental")));
	ck_assert_double_eq(total(m4, "skipped_bytes"), 0);
	ck_assert(total(m4, "referenced_bytes") > 0);
	ck_assert_msg(total(m4, "stored_bytes") < 0.25 * total(m1, "stored_bytes"), "stored %.0f, full %.0f",
		total(m4, "stored_bytes"), total(m1, "stored_bytes"));

	/* a manifest from a newer libstkdr is refused, naming the versions */
	cJSON_ReplaceItemInObject(m3b, "format_version", cJSON_CreateNumber(3));
	replace_manifest(ctx, id3.ptr, m3b);
	stkdr_buf b = STKDR_BUF_INIT;
	ck_assert_int_eq(stkdr_snapshot_show(&b, ctx, id3.ptr), STKDR_EVERSION);
	ck_assert_msg(strstr(stkdr_ctx_last_error(ctx)->message, "version 3") != NULL, "%s",
		stkdr_ctx_last_error(ctx)->message);

	stkdr_buf_dispose(&b);
	cJSON_Delete(m1);
	cJSON_Delete(m2);
	cJSON_Delete(m3);
	cJSON_Delete(m3b);
	cJSON_Delete(m4);
	stkdr_buf_dispose(&id1);
	stkdr_buf_dispose(&id2);
	stkdr_buf_dispose(&id3);
	stkdr_buf_dispose(&id4);
	stkdr_ctx_free(ctx);
}
END_TEST

START_TEST(repository_faults_leave_nothing)
{
	if (!pg)
		return;
	stkdr_ctx *ctx = ctx_for(pg->conninfo, pg->data_dir);
	char *root = stkdr__aprintf("%s/repo", repo_dir);
	stkdr_objstore *inner, *faulty;
	tu_assert_ok(stkdr__local_objstore_new(&inner, root));
	stkdr__fault_options fo = { 0 };
	fo.cut_write_after = 3 * 1024 * 1024; /* every bundle write dies after 3 MiB */
	tu_assert_ok(stkdr__fault_objstore_new(&faulty, inner, &fo));
	tu_assert_ok(stkdr_ctx_add_backend(ctx, &faulty->base, 100));
	int rc = stkdr_snapshot_create(NULL, ctx, NULL);
	ck_assert_int_lt(rc, 0);
	ck_assert_msg(strstr(stkdr_ctx_last_error(ctx)->message, "injected fault") != NULL, "%s",
		stkdr_ctx_last_error(ctx)->message);
	ck_assert_int_eq(n_snapshots(ctx), 0);
	ck_assert_uint_eq(count_snapshot_objects(ctx, NULL), 0);
	/* the server is not left in backup mode: a new snapshot works at once */
	stkdr_ctx_free(ctx);
	ctx = ctx_for(pg->conninfo, pg->data_dir);
	tu_assert_ok(stkdr_snapshot_create(NULL, ctx, NULL));
	ck_assert_int_eq(n_snapshots(ctx), 1);
	stkdr_ctx_free(ctx);

	/* a repository path that cannot exist */
	char *file = stkdr__aprintf("%s/plainfile", repo_dir);
	tu_write_file(file, "x", 1);
	char *json = stkdr__aprintf("{\"deployment\":\"d\",\"postgres\":{\"conninfo\":\"%s\",\"data_dir\":\"%s\"},"
				    "\"objstore\":{\"path\":\"%s/repo\"}}", pg->conninfo, pg->data_dir, file);
	ctx = tu_ctx_json(json);
	rc = stkdr_snapshot_create(NULL, ctx, NULL);
	ck_assert_int_lt(rc, 0);
	ck_assert_msg(strstr(stkdr_ctx_last_error(ctx)->message, file) != NULL, "%s", stkdr_ctx_last_error(ctx)->message);
	stkdr_ctx_free(ctx);
	stkdr__free(json);
	stkdr__free(file);
	stkdr__free(root);
}
END_TEST

static int kill_on_progress(const stkdr_event *ev, void *payload)
{
	(void)payload;
	if (ev->type == STKDR_EVENT_PROGRESS && ev->done > 0)
		raise(SIGKILL);
	return 0;
}

START_TEST(killed_mid_snapshot_is_cleaned_up)
{
	if (!pg)
		return;
	/* enough data for several progress reports */
	pgt_exec(pg, "CREATE TABLE big AS SELECT g AS id, repeat(md5(g::text), 8) AS v FROM generate_series(1, 120000) g");
	pgt_exec(pg, "CHECKPOINT");
	pid_t child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		stkdr_ctx *cctx = ctx_for(pg->conninfo, pg->data_dir);
		stkdr_ctx_set_str(cctx, "snapshot.parallel", "1");
		stkdr_ctx_set_str(cctx, "snapshot.level", "9");
		stkdr_ctx_set_event_callback(cctx, kill_on_progress, NULL);
		stkdr_snapshot_create(NULL, cctx, NULL);
		_exit(3); /* finished before the first progress report: the test fails below */
	}
	int status;
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the child was not killed (status %d)", status);

	stkdr_ctx *ctx = ctx_for(pg->conninfo, pg->data_dir);
	/* the dead run left its lease (and uncommitted writes), but no snapshot */
	ck_assert_int_eq(n_snapshots(ctx), 0);
	char *lk = stkdr__repo_key(ctx, "locks/snapshot.lease");
	stkdr_buf lb = STKDR_BUF_INIT;
	tu_assert_ok(stkdr__repo_get(&lb, ctx, lk));
	ck_assert(strstr(lb.ptr, "snapshot create") != NULL);
	stkdr_buf_dispose(&lb);
	stkdr__free(lk);
	/* the next run breaks the dead holder's lease, cleans up, and succeeds */
	stkdr_buf id = STKDR_BUF_INIT;
	tu_assert_ok(stkdr_snapshot_create(&id, ctx, NULL));
	ck_assert_int_eq(n_snapshots(ctx), 1);
	size_t all = count_snapshot_objects(ctx, NULL);
	size_t mine = count_snapshot_objects(ctx, id.ptr);
	ck_assert_uint_eq(all, mine);
	stkdr_buf_dispose(&id);
	stkdr_ctx_free(ctx);
}
END_TEST

START_TEST(lease_blocks_a_second_snapshot)
{
	if (!pg)
		return;
	stkdr_ctx *ctx = ctx_for(pg->conninfo, pg->data_dir);
	stkdr__lease *l;
	/* a live holder (this process) */
	tu_assert_ok(stkdr__lease_acquire(&l, ctx, "snapshot", "test holder", 3600000));
	ck_assert_int_eq(stkdr_snapshot_create(NULL, ctx, NULL), STKDR_ELOCKED);
	ck_assert(strstr(stkdr_ctx_last_error(ctx)->message, "test holder") != NULL);
	ck_assert_int_eq(stkdr_snapshot_expire(ctx, 0, NULL, NULL), STKDR_ELOCKED);
	stkdr__lease_release(l);
	tu_assert_ok(stkdr_snapshot_create(NULL, ctx, NULL));
	stkdr_ctx_free(ctx);
}
END_TEST

START_TEST(corrupt_page_is_reported)
{
	if (!pg)
		return;
	char *path = pgt_sql(pg, "SELECT pg_relation_filepath('t')");
	char *full = stkdr__aprintf("%s/%s", pg->data_dir, path);
	pgt_stop(pg);
	/* flip bytes in the tuple area of block 3 (the header, with its LSN, stays intact) */
	int fd = open(full, O_RDWR);
	ck_assert_int_ge(fd, 0);
	uint8_t junk[16];
	memset(junk, 0x5a, sizeof junk);
	ck_assert_int_eq(pwrite(fd, junk, sizeof junk, 3 * 8192 + 5000), (ssize_t)sizeof junk);
	close(fd);
	tu_assert_ok(stkdr__pgctl_start(pg->bin_dir, pg->data_dir, pg->port, pg->socket_dir, pg->log_file, 60000));
	stkdr_ctx *ctx = ctx_for(pg->conninfo, pg->data_dir);
	stkdr_buf id = STKDR_BUF_INIT, man = STKDR_BUF_INIT;
	int rc = stkdr_snapshot_create(&id, ctx, NULL);
	ck_assert_int_eq(rc, STKDR_ECORRUPT);
	ck_assert_msg(strstr(stkdr_ctx_last_error(ctx)->message, "failed their checksum") != NULL, "%s",
		stkdr_ctx_last_error(ctx)->message);
	/* the snapshot is still committed (the best copy there is), with the page named */
	ck_assert_ptr_nonnull(id.ptr);
	tu_assert_ok(stkdr_snapshot_show(&man, ctx, id.ptr));
	cJSON *m = cJSON_Parse(man.ptr);
	cJSON *pe = cJSON_GetObjectItem(m, "page_errors");
	ck_assert_int_eq(cJSON_GetArraySize(pe), 1);
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(pe, 0), "path")->valuestring, path);
	ck_assert_int_eq((int)cJSON_GetObjectItem(cJSON_GetArrayItem(pe, 0), "block")->valuedouble, 3);
	cJSON_Delete(m);
	stkdr_buf_dispose(&id);
	stkdr_buf_dispose(&man);
	stkdr_ctx_free(ctx);
	stkdr__free(full);
	stkdr__free(path);
}
END_TEST

START_TEST(page_checksum_matches_postgres)
{
	if (!pg)
		return;
	/* every page of a real relation written by PostgreSQL verifies with our implementation */
	pgt_exec(pg, "CHECKPOINT");
	char *path = pgt_sql(pg, "SELECT pg_relation_filepath('t')");
	char *full = stkdr__aprintf("%s/%s", pg->data_dir, path);
	size_t len = 0;
	char *data = tu_read_file(full, &len);
	ck_assert_uint_ge(len, 8192 * 10);
	uint32_t seg = 99;
	ck_assert(stkdr__pg_is_checksummed(path, &seg));
	ck_assert_uint_eq(seg, 0);
	for (size_t b = 0; b + 8192 <= len; b += 8192) {
		const uint8_t *page = (const uint8_t *)data + b;
		if (stkdr__pg_page_is_new(page))
			continue;
		ck_assert_uint_eq(stkdr__pg_page_checksum(page, (uint32_t)(b / 8192)), stkdr__pg_page_stored_checksum(page));
	}
	ck_assert(!stkdr__pg_is_checksummed("global/pg_control", NULL));
	ck_assert(!stkdr__pg_is_checksummed("base/1/pg_filenode.map", NULL));
	ck_assert(!stkdr__pg_is_checksummed("base/1/PG_VERSION", NULL));
	ck_assert(!stkdr__pg_is_checksummed("pg_xact/0000", NULL));
	ck_assert(!stkdr__pg_is_checksummed("base/1/t3_1234", NULL));
	ck_assert(stkdr__pg_is_checksummed("base/1/1234_fsm", NULL));
	ck_assert(stkdr__pg_is_checksummed("base/1/1234_vm.2", &seg));
	ck_assert_uint_eq(seg, 2);
	ck_assert(!stkdr__pg_is_checksummed("base/1/1234.x", NULL));
	stkdr__free(data);
	stkdr__free(full);
	stkdr__free(path);
}
END_TEST

START_TEST(crc32c_and_lsn_helpers)
{
	/* RFC 3720 B.4 vectors */
	uint8_t zeros[32] = { 0 }, ones[32];
	memset(ones, 0xff, sizeof ones);
	ck_assert_uint_eq(stkdr__crc32c(0, zeros, 32), 0x8a9136aa);
	ck_assert_uint_eq(stkdr__crc32c(0, ones, 32), 0x62a8ab43);
	ck_assert_uint_eq(stkdr__crc32c(0, "123456789", 9), 0xe3069283);
	/* combine == one pass */
	char buf[1000];
	for (int i = 0; i < 1000; i++)
		buf[i] = (char)(i * 7);
	uint32_t a = stkdr__crc32c(0, buf, 333), b = stkdr__crc32c(0, buf + 333, 667);
	ck_assert_uint_eq(stkdr__crc32c_combine(a, b, 667), stkdr__crc32c(0, buf, 1000));
	ck_assert_uint_eq(stkdr__crc32c_combine(a, 0, 0), a);
	uint64_t l;
	tu_assert_ok(stkdr__lsn_parse(&l, "1/2000028"));
	ck_assert_uint_eq(l, 0x102000028ULL);
	char out[32];
	stkdr__lsn_format(out, sizeof out, l);
	ck_assert_str_eq(out, "1/2000028");
	ck_assert_int_eq(stkdr__lsn_parse(&l, "xyz"), STKDR_EINVAL);
	ck_assert_int_eq(stkdr__lsn_parse(&l, "1/2/3"), STKDR_EINVAL);
	stkdr__wal_segname(out, sizeof out, 1, 0x1ff, 16 * 1024 * 1024);
	ck_assert_str_eq(out, "0000000100000001000000FF");
	int k;
	tu_assert_ok(stkdr__snapshot_kind_parse(&k, "hourly"));
	ck_assert_int_eq(k, STKDR_SNAPSHOT_HOURLY);
	ck_assert_int_eq(stkdr__snapshot_kind_parse(&k, "weekly"), STKDR_EINVAL);
	ck_assert_str_eq(stkdr__snapshot_kind_name(42), "manual");
	char id[40];
	tu_assert_ok(stkdr__repo_new_id(id, sizeof id, 1770733500123LL));
	ck_assert_int_eq(strncmp(id, "20260210T142500.123Z-", 21), 0);
}
END_TEST


START_TEST(status_reports_gaps_and_exposure)
{
	if (!pg)
		return;
	stkdr_ctx *ctx = ctx_for(pg->conninfo, pg->data_dir);
	stkdr_buf rep = STKDR_BUF_INIT, man = STKDR_BUF_INIT;
	/* nothing yet */
	tu_assert_ok(stkdr_status(&rep, ctx));
	cJSON *r = cJSON_Parse(rep.ptr);
	ck_assert(!cJSON_IsTrue(cJSON_GetObjectItem(r, "ok")));
	ck_assert(strstr(rep.ptr, "no snapshot") != NULL);
	cJSON_Delete(r);
	/* one snapshot: its own WAL is archived, no gap, exposure small; RTO never measured */
	tu_assert_ok(stkdr_snapshot_create(NULL, ctx, NULL));
	tu_assert_ok(stkdr_status(&rep, ctx));
	r = cJSON_Parse(rep.ptr);
	cJSON *obj = cJSON_GetObjectItem(r, "objectives");
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "wal"), "gaps")), 0);
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(obj, "rpo"), "ok")));
	ck_assert(!cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(obj, "rto"), "ok")));
	ck_assert_double_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "snapshots"), "count")), 1);
	cJSON_Delete(r);
	/* a segment archived two past the snapshot's last one: the one between is a gap, named */
	tu_assert_ok(stkdr_snapshot_show(&man, ctx, "latest"));
	cJSON *m = cJSON_Parse(man.ptr);
	const char *stop = cJSON_GetObjectItem(cJSON_GetObjectItem(m, "wal"), "stop")->valuestring;
	unsigned int tli, log, seg;
	ck_assert_int_eq(sscanf(stop, "%8X%8X%8X", &tli, &log, &seg), 3);
	char later[32], missing[32];
	snprintf(later, sizeof later, "%08X%08X%08X", tli, log, seg + 2);
	snprintf(missing, sizeof missing, "%08X%08X%08X", tli, log, seg + 1);
	char *f = stkdr__aprintf("%s/%s", repo_dir, later);
	tu_write_file(f, "segment", 7);
	tu_assert_ok(stkdr_wal_push(ctx, f));
	tu_assert_ok(stkdr_status(&rep, ctx));
	ck_assert_msg(strstr(rep.ptr, missing) != NULL, "gap %s not reported: %s", missing, rep.ptr);
	r = cJSON_Parse(rep.ptr);
	ck_assert(!cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "objectives"), "rpo"),
		"ok")));
	cJSON_Delete(r);
	/* a day later with nothing archived: the exposure exceeds the 1 h RPO */
	stkdr_ctx_free(ctx);
	ctx = ctx_for(pg->conninfo, pg->data_dir);
	tu_assert_ok(stkdr_ctx_set_str(ctx, "clock.fake_now", "2099-01-01T00:00:00Z"));
	tu_assert_ok(stkdr_status(&rep, ctx));
	ck_assert(strstr(rep.ptr, "older than the RPO target") != NULL || strstr(rep.ptr, "missing") != NULL);
	cJSON_Delete(m);
	stkdr__free(f);
	stkdr_buf_dispose(&rep);
	stkdr_buf_dispose(&man);
	stkdr_ctx_free(ctx);
}
END_TEST


static volatile int g_stop_receiver;

static int receiver_events(const stkdr_event *ev, void *payload)
{
	(void)payload;
	return ev->type == STKDR_EVENT_PROGRESS && g_stop_receiver ? STKDR_ECANCELLED : 0;
}

typedef struct recv_arg {
	stkdr_ctx *ctx;
	int rc;
} recv_arg;

static void *receiver_thread(void *a)
{
	recv_arg *ra = a;
	stkdr_wal_receive_options o;
	stkdr_wal_receive_options_init(&o, STKDR_WAL_RECEIVE_OPTIONS_VERSION);
	o.partial_interval_ms = 500;
	ra->rc = stkdr_wal_receive(ra->ctx, &o);
	return NULL;
}

/* Polls until WAL file `name` is archived (complete, or as a partial if `partial`). */
static bool wait_archived(stkdr_ctx *ctx, const char *name, bool partial, int seconds)
{
	for (int i = 0; i < seconds * 10; i++) {
		stkdr_buf key = STKDR_BUF_INIT;
		int rc = stkdr__wal_find(&key, ctx, name);
		bool ok = rc == 0 && (partial ? strstr(key.ptr, ".partial") != NULL : strstr(key.ptr, ".partial") == NULL);
		stkdr_buf_dispose(&key);
		if (ok)
			return true;
		usleep(100000);
	}
	return false;
}

START_TEST(streaming_receiver_keeps_the_archive_seconds_behind)
{
	if (!pg)
		return;
	recv_arg ra = { ctx_for(pg->conninfo, pg->data_dir), 0 };
	stkdr_ctx_set_event_callback(ra.ctx, receiver_events, NULL);
	stkdr_ctx *ctx = ctx_for(pg->conninfo, pg->data_dir);
	g_stop_receiver = 0;
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, receiver_thread, &ra), 0);
	sleep(1);
	/* a completed segment is archived without archive_command */
	char *seg = pgt_sql(pg, "SELECT pg_walfile_name(pg_current_wal_lsn())");
	pgt_exec(pg, "INSERT INTO t SELECT g, 'x' FROM generate_series(1, 1000) g");
	pgt_exec(pg, "SELECT pg_switch_wal()");
	ck_assert_msg(wait_archived(ctx, seg, false, 20), "segment %s was not archived by the receiver", seg);
	/* the segment in progress is uploaded as a partial within the interval */
	pgt_exec(pg, "INSERT INTO t SELECT g, 'y' FROM generate_series(1, 10) g");
	/* (after the insert: right after a switch, the current LSN names the previous segment) */
	char *cur = pgt_sql(pg, "SELECT pg_walfile_name(pg_current_wal_lsn())");
	ck_assert_msg(wait_archived(ctx, cur, true, 20), "no partial upload of %s", cur);
	/* `wal get` of a segment not yet complete falls back to the partial */
	char *dst = stkdr__aprintf("%s/seg", repo_dir);
	tu_assert_ok(stkdr_wal_get(ctx, cur, dst));
	struct stat st;
	ck_assert_int_eq(stat(dst, &st), 0);
	ck_assert_int_eq(st.st_size, 16 * 1024 * 1024);
	/* status counts the partial: the exposure is seconds */
	stkdr_buf rep = STKDR_BUF_INIT;
	tu_assert_ok(stkdr_status(&rep, ctx));
	ck_assert_msg(strstr(rep.ptr, ".partial") != NULL, "%s", rep.ptr);
	stkdr_buf_dispose(&rep);
	g_stop_receiver = 1;
	pthread_join(t, NULL);
	ck_assert_int_eq(ra.rc, STKDR_ECANCELLED);
	/* a restart resumes from the slot: the next completed segment arrives too */
	g_stop_receiver = 0;
	ck_assert_int_eq(pthread_create(&t, NULL, receiver_thread, &ra), 0);
	pgt_exec(pg, "SELECT pg_switch_wal()");
	ck_assert_msg(wait_archived(ctx, cur, false, 20), "segment %s was not archived after the restart", cur);
	g_stop_receiver = 1;
	pthread_join(t, NULL);
	ck_assert_int_eq(ra.rc, STKDR_ECANCELLED);
	/* a bad slot name is refused before connecting */
	stkdr_wal_receive_options o;
	stkdr_wal_receive_options_init(&o, STKDR_WAL_RECEIVE_OPTIONS_VERSION);
	o.slot = "Bad-Name";
	ck_assert_int_eq(stkdr_wal_receive(ctx, &o), STKDR_EINVAL);
	stkdr__free(dst);
	stkdr__free(seg);
	stkdr__free(cur);
	stkdr_ctx_free(ra.ctx);
	stkdr_ctx_free(ctx);
}
END_TEST


START_TEST(restore_swap_points_the_hub_at_the_result)
{
	if (!pg)
		return;
	stkdr_ctx *ctx = ctx_for(pg->conninfo, pg->data_dir);
	char *dns = stkdr__aprintf("%s/dns.json", repo_dir), *envf = stkdr__aprintf("%s/hub.env", repo_dir);
	tu_assert_ok(stkdr_ctx_set_str(ctx, "dns.path", dns));
	tu_assert_ok(stkdr_ctx_set_str(ctx, "dns.record", "hub.santokit.test"));
	tu_assert_ok(stkdr_ctx_set_str(ctx, "restore.swap_file", envf));
	tu_assert_ok(stkdr_snapshot_create(NULL, ctx, NULL));
	char *target = pgt_mkdtemp_pg("swap");
	stkdr_restore_options o;
	stkdr_restore_options_init(&o, STKDR_RESTORE_OPTIONS_VERSION);
	o.target_dir = target;
	o.snapshot_id = "latest";
	/* --swap without --start is refused before anything is written */
	o.flags = STKDR_RESTORE_SWAP;
	ck_assert_int_eq(stkdr_restore(NULL, ctx, &o), STKDR_EINVAL);
	o.flags = STKDR_RESTORE_START | STKDR_RESTORE_SWAP;
	stkdr_buf rep = STKDR_BUF_INIT;
	tu_assert_ok(stkdr_restore(&rep, ctx, &o));
	cJSON *r = cJSON_Parse(rep.ptr);
	int port = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(r, "port"));
	char want[128];
	snprintf(want, sizeof want, "postgresql://postgres@127.0.0.1:%d/postgres", port);
	char *env = tu_read_file(envf, NULL);
	ck_assert_msg(env && strstr(env, want), "swap file: %s", env ? env : "(none)");
	stkdr_dns *d;
	tu_assert_ok(stkdr__ctx_dns(&d, ctx));
	char *dj = tu_read_file(dns, NULL);
	ck_assert_msg(dj && strstr(dj, want) && strstr(dj, "TXT"), "dns: %s", dj ? dj : "(none)");
	ck_assert(strstr(rep.ptr, "swapped") != NULL);
	stkdr__pgctl_stop(pg->bin_dir, target, "immediate", 60000);
	cJSON_Delete(r);
	stkdr__free(env);
	stkdr__free(dj);
	stkdr_buf_dispose(&rep);
	tu_rmtree_free(target);
	stkdr__free(dns);
	stkdr__free(envf);
	stkdr_ctx_free(ctx);
}
END_TEST


/* Path of the first bundle file of a snapshot in the local repository. */
static char *first_bundle_file(stkdr_ctx *ctx, const char *id)
{
	char rel[128];
	snprintf(rel, sizeof rel, "snapshots/%s/b/", id);
	char *prefix = stkdr__repo_key(ctx, rel);
	char **keys;
	size_t n;
	tu_assert_ok(stkdr__repo_list(&keys, &n, ctx, prefix));
	ck_assert_uint_gt(n, 0);
	char *path = stkdr__aprintf("%s/repo/%s", repo_dir, keys[0]);
	stkdr__strv_free(keys);
	stkdr__free(prefix);
	return path;
}

START_TEST(verification_passes_then_names_the_corrupt_object)
{
	if (!pg)
		return;
	stkdr_ctx *ctx = ctx_for(pg->conninfo, pg->data_dir);
	tu_assert_ok(stkdr_ctx_set_str(ctx, "verify.tables", "postgres.public.t, t_missing"));
	stkdr_buf id = STKDR_BUF_INIT, rep = STKDR_BUF_INIT;
	tu_assert_ok(stkdr_snapshot_create(&id, ctx, NULL));
	/* a missing table is a failed check naming it; then with the right list everything passes */
	ck_assert_int_eq(stkdr_snapshot_verify(&rep, ctx, "latest", NULL), STKDR_ECORRUPT);
	ck_assert_msg(strstr(rep.ptr, "t_missing") != NULL, "%s", rep.ptr);
	tu_assert_ok(stkdr_ctx_set_str(ctx, "verify.tables", "postgres.public.t"));
	int rc = stkdr_snapshot_verify(&rep, ctx, id.ptr, NULL);
	ck_assert_msg(rc == 0, "verification failed: %s", rep.ptr ? rep.ptr : stkdr_ctx_last_error(ctx)->message);
	cJSON *r = cJSON_Parse(rep.ptr);
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(r, "ok")));
	ck_assert_double_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "row_counts"),
		"postgres.public.t")), 100000);
	const char *names[] = { "checksums", "restore", "pg_verifybackup", "start", "amcheck", "smoke_query" };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		ck_assert_msg(strstr(rep.ptr, names[i]) != NULL, "check %s missing from %s", names[i], rep.ptr);
	cJSON_Delete(r);
	/* the result is stored in the repository */
	char rel[128];
	snprintf(rel, sizeof rel, "verify/%s/", id.ptr);
	char *vp = stkdr__repo_key(ctx, rel);
	char **keys;
	size_t n;
	tu_assert_ok(stkdr__repo_list(&keys, &n, ctx, vp));
	ck_assert_uint_eq(n, 2);
	stkdr__strv_free(keys);
	stkdr__free(vp);
	/* one flipped byte in a bundle: verification fails and names the object */
	char *bundle = first_bundle_file(ctx, id.ptr);
	chmod(bundle, 0644);
	size_t len;
	char *data = tu_read_file(bundle, &len);
	data[len / 3] ^= 0x01;
	tu_write_file(bundle, data, len);
	ck_assert_int_eq(stkdr_snapshot_verify(&rep, ctx, id.ptr, NULL), STKDR_ECORRUPT);
	const char *base = strrchr(bundle, '/') + 1;
	ck_assert_msg(strstr(rep.ptr, base) != NULL, "report does not name %s: %s", base, rep.ptr);
	ck_assert(strstr(stkdr_ctx_last_error(ctx)->message, "FAILED verification") != NULL);
	/* checksums-only finds it too, without restoring */
	stkdr_verify_options vo;
	stkdr_verify_options_init(&vo, STKDR_VERIFY_OPTIONS_VERSION);
	vo.flags = STKDR_VERIFY_CHECKSUMS_ONLY;
	ck_assert_int_eq(stkdr_snapshot_verify(&rep, ctx, id.ptr, &vo), STKDR_ECORRUPT);
	ck_assert(strstr(rep.ptr, "\"restore\"") == NULL);
	ck_assert_int_eq(stkdr_snapshot_verify(&rep, ctx, "nope", NULL), STKDR_ENOTFOUND);
	vo.version = 42;
	ck_assert_int_eq(stkdr_snapshot_verify(&rep, ctx, id.ptr, &vo), STKDR_EVERSION);
	stkdr__free(data);
	stkdr__free(bundle);
	stkdr_buf_dispose(&id);
	stkdr_buf_dispose(&rep);
	stkdr_ctx_free(ctx);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("snapshot");
	TCase *unit = tcase_create("helpers");
	tcase_add_test(unit, crc32c_and_lsn_helpers);
	suite_add_tcase(s, unit);
	TCase *tc = tcase_create("postgres");
	tcase_set_timeout(tc, 300);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, server_down_and_bad_credentials);
	tcase_add_test(tc, full_then_incremental_bookkeeping);
	tcase_add_test(tc, block_incremental_rules);
	tcase_add_test(tc, repository_faults_leave_nothing);
	tcase_add_test(tc, killed_mid_snapshot_is_cleaned_up);
	tcase_add_test(tc, lease_blocks_a_second_snapshot);
	tcase_add_test(tc, corrupt_page_is_reported);
	tcase_add_test(tc, page_checksum_matches_postgres);
	tcase_add_test(tc, status_reports_gaps_and_exposure);
	tcase_add_test(tc, streaming_receiver_keeps_the_archive_seconds_behind);
	tcase_add_test(tc, restore_swap_points_the_hub_at_the_result);
	tcase_add_test(tc, verification_passes_then_names_the_corrupt_object);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
