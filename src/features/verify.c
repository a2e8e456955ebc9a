/*
 * Backup verification (runbook 2.1 "weekly test restore"): checksums of every object, a restore into a
 * scratch directory, pg_verifybackup, a throwaway server, amcheck, row counts and a smoke query.
 */
#include "snapshot.h"
#include "repo.h"
#include "wal.h"
#include "core/checksum.h"
#include "core/crypto.h"
#include "core/stream.h"
#include "core/timeutil.h"
#include "services/pg.h"
#include "services/proc.h"
#include "stkdr/restore.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int stkdr_verify_options_init(stkdr_verify_options *opts, unsigned int version)
{
	return stkdr__options_init(opts, sizeof *opts, version, STKDR_VERIFY_OPTIONS_VERSION, "stkdr_verify_options");
}

typedef struct report {
	cJSON *root;
	cJSON *checks;
	int failed;
} report;

/* Records one check; `ok` 0 marks the verification failed. */
static void check(report *r, const char *name, int ok, const char *fmt, ...) STKDR__PRINTF(4, 5);
static void check(report *r, const char *name, int ok, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	cJSON *c = cJSON_CreateObject();
	if (!c)
		return;
	cJSON_AddStringToObject(c, "check", name);
	cJSON_AddBoolToObject(c, "ok", ok);
	cJSON_AddStringToObject(c, "detail", msg);
	cJSON_AddItemToArray(r->checks, c);
	if (!ok)
		r->failed++;
}

/* Reads an object whole (the store verifies its SHA-256 at the end) and discards it. */
static int read_whole(stkdr_objstore *os, const char *key, int64_t *bytes)
{
	stkdr_objreader *rd;
	int rc = os->open_read(&rd, os, key, 0, -1);
	if (rc)
		return rc;
	uint8_t buf[65536];
	for (;;) {
		size_t n = 0;
		if ((rc = rd->read(rd, buf, sizeof buf, &n)) != 0 || n == 0)
			break;
		*bytes += (int64_t)n;
	}
	rd->close(rd);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* One member (chunk) of a bundle: ranged read, decompressed, SHA-256 and length against the manifest. */
static int check_member(stkdr_objstore *os, const char *key, const char *bundle, const cJSON *p)
{
	size_t bl = strlen(bundle);
	stkdr__compress comp = bl > 3 && !strcmp(bundle + bl - 3, ".gz")	? STKDR__COMPRESS_GZIP
			       : bl > 4 && !strcmp(bundle + bl - 4, ".zst") ? STKDR__COMPRESS_ZSTD
									: STKDR__COMPRESS_NONE;
	int64_t boff = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(p, "off"));
	int64_t clen = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(p, "clen"));
	int64_t len = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(p, "len"));
	const char *want = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "sha256"));
	uint8_t got[32];
	int64_t count = -1;
	stkdr__sink *hs = NULL, *ds = NULL;
	stkdr_objreader *rd = NULL;
	int rc = stkdr__sink_sha256_new(&hs, NULL, 0, got, &count);
	if (!rc && (rc = stkdr__sink_decompress_new(&ds, hs, 0, comp)) != 0) {
		stkdr__sink_destroy(hs);
		hs = NULL;
	}
	if (!rc)
		rc = os->open_read(&rd, os, key, boff, clen);
	uint8_t buf[65536];
	int64_t left = clen;
	while (!rc && left > 0) {
		size_t n = 0;
		if ((rc = rd->read(rd, buf, (size_t)left < sizeof buf ? (size_t)left : sizeof buf, &n)) != 0)
			break;
		if (n == 0) {
			rc = STKDR_ECORRUPT;
			break;
		}
		left -= (int64_t)n;
		rc = stkdr__sink_write(ds, buf, n);
	}
	if (!rc)
		rc = stkdr__sink_finish(ds);
	if (rd)
		rd->close(rd);
	stkdr__sink_destroy(ds);
	if (!rc) {
		char hex[65];
		stkdr__hex_encode(hex, got, 32);
		if (count != len || !want || strcmp(hex, want))
			rc = STKDR_ECORRUPT;
	}
	stkdr_error_clear();
	return rc;
}

/* A bundle failed its object checksum: which chunks of which files of the snapshot are damaged (an
 * incremental's chunks may live in a parent's bundle). "file F at offset O, ..." into out. */
static void damaged_files(char *out, size_t n, stkdr_objstore *os, const char *key, const cJSON *man,
	const char *bundle)
{
	size_t used = 0;
	int count = 0, shown = 0;
	const cJSON *f, *p;
	out[0] = '\0';
	cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(man, "files")) {
		int64_t at = 0;
		cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(f, "parts")) {
			const char *b = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "bundle"));
			int64_t off = at;
			at += (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(p, "len"));
			if (!b || strcmp(b, bundle) || check_member(os, key, bundle, p) == 0)
				continue;
			const char *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "path"));
			count++;
			if (shown < 5 && path && used + strlen(path) + 48 < n) {
				used += (size_t)snprintf(out + used, n - used, "%sfile %s at offset %" PRId64, shown ? ", " : "",
					path, off);
				shown++;
			}
		}
	}
	if (count > shown && used + 32 < n)
		snprintf(out + used, n - used, " and %d more chunk(s)", count - shown);
	else if (!count)
		snprintf(out, n, "no chunk of this snapshot is damaged, only other data in the bundle");
}

/* Step 1: every object the snapshot needs, read whole and checked. */
static void verify_objects(report *r, stkdr_ctx *ctx, const cJSON *man, const char *id)
{
	stkdr_objstore *os;
	if (stkdr__ctx_objstore(&os, ctx) != 0) {
		check(r, "objects", 0, "%s", stkdr__err_get()->message);
		return;
	}
	char *base = stkdr__repo_key(ctx, "snapshots/");
	size_t nb = 0, cap = 0;
	char **bundles = NULL;
	const cJSON *f, *p;
	cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(man, "files")) {
		cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(f, "parts")) {
			const cJSON *b = cJSON_GetObjectItemCaseSensitive(p, "bundle");
			if (!cJSON_IsString(b))
				continue;
			if (stkdr__grow(&bundles, &cap, nb, sizeof *bundles, 64) != 0)
				goto out;
			bundles[nb++] = b->valuestring; /* borrowed from the manifest */
		}
	}
	qsort(bundles, nb, sizeof *bundles, cmp_str);
	int64_t bytes = 0;
	int nobj = 0, bad = 0;
	for (size_t i = 0; i < nb && base; i++) {
		if (i && !strcmp(bundles[i], bundles[i - 1]))
			continue;
		char *key = stkdr__aprintf("%s%s", base, bundles[i]);
		if (!key)
			break;
		nobj++;
		if (read_whole(os, key, &bytes) != 0) {
			char msg[512], files[600];
			bad++;
			snprintf(msg, sizeof msg, "%s", stkdr__err_get()->message);
			damaged_files(files, sizeof files, os, key, man, bundles[i]);
			check(r, "object", 0, "%s; damaged chunks of snapshot %s: %s", msg, id, files);
		}
		stkdr__free(key);
	}
	char *pm = base ? stkdr__aprintf("%s%s/backup_manifest", base, id) : NULL;
	if (pm) {
		nobj++;
		if (read_whole(os, pm, &bytes) != 0) {
			bad++;
			check(r, "object", 0, "%s", stkdr__err_get()->message);
		}
		stkdr__free(pm);
	}
	/* The WAL that makes the snapshot consistent. */
	const cJSON *wal = cJSON_GetObjectItemCaseSensitive(man, "wal");
	const cJSON *ws = cJSON_GetObjectItemCaseSensitive(wal, "start");
	const cJSON *we = cJSON_GetObjectItemCaseSensitive(wal, "stop");
	int64_t segsize = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(man, "wal_segment_size"));
	if (cJSON_IsString(ws) && cJSON_IsString(we) && segsize > 0) {
		unsigned int tli, l0, s0, l1, s1;
		if (sscanf(ws->valuestring, "%8X%8X%8X", &tli, &l0, &s0) == 3 &&
			sscanf(we->valuestring, "%*8X%8X%8X", &l1, &s1) == 2) {
			uint64_t per = 0x100000000ULL / (uint64_t)segsize;
			for (uint64_t s = (uint64_t)l0 * per + s0; s <= (uint64_t)l1 * per + s1; s++) {
				char name[32];
				stkdr_buf key = STKDR_BUF_INIT;
				stkdr__wal_segname(name, sizeof name, tli, s, segsize);
				nobj++;
				if (stkdr__wal_find(&key, ctx, name) != 0 || read_whole(os, key.ptr, &bytes) != 0) {
					bad++;
					check(r, "wal", 0, "WAL segment %s: %s", name, stkdr__err_get()->message);
				}
				stkdr_buf_dispose(&key);
			}
		}
	}
	if (!bad)
		check(r, "checksums", 1, "%d objects, %" PRId64 " bytes: every SHA-256 matches", nobj, bytes);
out:
	stkdr_error_clear();
	stkdr__free(bundles);
	stkdr__free(base);
}

/*
 * Step 2b: the page checksums of the restored files, as the restore assembled them from chunks of this
 * snapshot and of its parents. Pages whose LSN is at or past the snapshot's start are skipped: they may
 * have been torn when read and WAL replay rewrites them.
 */
static void verify_pages(report *r, const cJSON *man, const char *data)
{
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(man, "data_checksums")))
		return;
	uint64_t start = 0;
	const char *sl = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(man, "start_lsn"));
	if (!sl || stkdr__lsn_parse(&start, sl) != 0) {
		stkdr_error_clear();
		check(r, "page_checksums", 0, "the manifest has no valid start_lsn");
		return;
	}
	size_t bufsz = 1024 * 1024;
	uint8_t *buf = stkdr__malloc(bufsz);
	if (!buf) {
		check(r, "page_checksums", 0, "out of memory");
		return;
	}
	int64_t pages = 0, bad = 0;
	char first[512] = "";
	const cJSON *f;
	cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(man, "files")) {
		const char *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "path"));
		uint32_t segno = 0;
		if (!path || !stkdr__pg_is_checksummed(path, &segno))
			continue;
		char *full = stkdr__aprintf("%s/%s", data, path);
		int fd = full ? open(full, O_RDONLY | O_CLOEXEC) : -1;
		if (fd < 0) {
			bad++;
			if (!*first)
				snprintf(first, sizeof first, "%s: cannot open the restored file", path);
			stkdr__free(full);
			continue;
		}
		int64_t off = 0;
		for (;;) {
			ssize_t got = pread(fd, buf, bufsz, (off_t)off);
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0)
				break;
			for (ssize_t p = 0; p + STKDR__PG_BLCKSZ <= got; p += STKDR__PG_BLCKSZ) {
				const uint8_t *page = buf + p;
				if (stkdr__pg_page_is_new(page) || stkdr__pg_page_lsn(page) >= start)
					continue;
				pages++;
				uint32_t blk = (uint32_t)((off + p) / STKDR__PG_BLCKSZ) + segno * STKDR__PG_RELSEG_BLOCKS;
				uint16_t want = stkdr__pg_page_checksum(page, blk);
				if (want != stkdr__pg_page_stored_checksum(page)) {
					if (!bad)
						snprintf(first, sizeof first, "%s block %u: checksum %u, expected %u", path, blk,
							stkdr__pg_page_stored_checksum(page), want);
					bad++;
				}
			}
			off += got;
		}
		close(fd);
		stkdr__free(full);
	}
	stkdr__free(buf);
	if (bad)
		check(r, "page_checksums", 0, "%" PRId64 " page(s) of the restored files fail their checksum; first: %s", bad,
			first);
	else
		check(r, "page_checksums", 1, "%" PRId64 " pages of the restored files carry valid checksums", pages);
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(p);
	else
		unlink(p);
	return 0;
}

static void notice_to_log(const char *message, void *payload)
{
	stkdr__log(payload, STKDR_LOG_DEBUG, "verify", "server: %s", message);
}

/* Connects to database `db` of the scratch server ("" for postgres). */
static int scratch_connect(stkdr__pg **pg, int port, const char *db)
{
	char ci[512];
	char safe[200];
	size_t o = 0;
	for (const char *p = db && *db ? db : "postgres"; *p && o + 2 < sizeof safe; p++) {
		if (*p == '\'' || *p == '\\')
			safe[o++] = '\\';
		safe[o++] = *p;
	}
	safe[o] = '\0';
	snprintf(ci, sizeof ci, "host=127.0.0.1 port=%d user=postgres connect_timeout=10 dbname='%s'", port, safe);
	return stkdr__pg_connect(pg, ci, 0);
}

/* amcheck on every btree index of every database. */
static void run_amcheck(report *r, stkdr_ctx *ctx, int port)
{
	stkdr__pg *pg = NULL;
	if (scratch_connect(&pg, port, NULL) != 0) {
		check(r, "connect", 0, "the restored copy does not accept connections: %s", stkdr__err_get()->message);
		return;
	}
	void *res = NULL;
	if (stkdr__pg_exec(pg, &res, "SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1", 0, NULL) != 0) {
		check(r, "databases", 0, "%s", stkdr__err_get()->message);
		stkdr__pg_close(pg);
		return;
	}
	PGresult *dbs = res;
	stkdr__pg_close(pg);
	int total = 0, bad = 0;
	for (int i = 0; i < PQntuples(dbs); i++) {
		const char *db = PQgetvalue(dbs, i, 0);
		if (scratch_connect(&pg, port, db) != 0) {
			check(r, "amcheck", 0, "database %s: %s", db, stkdr__err_get()->message);
			bad++;
			continue;
		}
		stkdr__pg_set_notice_fn(pg, notice_to_log, ctx);
		if (stkdr__pg_exec(pg, NULL, "CREATE EXTENSION IF NOT EXISTS amcheck", 0, NULL) != 0) {
			check(r, "amcheck", 0, "database %s: amcheck is not available (%s): install postgresql-contrib", db,
				stkdr__err_get()->message);
			bad++;
			stkdr__pg_close(pg);
			continue;
		}
		res = NULL;
		if (stkdr__pg_exec(pg, &res,
			    "SELECT c.oid::text, n.nspname || '.' || c.relname FROM pg_index i "
			    "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam "
			    "JOIN pg_namespace n ON n.oid = c.relnamespace "
			    "WHERE a.amname = 'btree' AND c.relpersistence <> 't' AND i.indisready AND i.indisvalid "
			    "ORDER BY 2", 0, NULL) != 0) {
			check(r, "amcheck", 0, "database %s: %s", db, stkdr__err_get()->message);
			bad++;
			stkdr__pg_close(pg);
			continue;
		}
		PGresult *idx = res;
		for (int k = 0; k < PQntuples(idx); k++) {
			const char *params[1] = { PQgetvalue(idx, k, 0) };
			total++;
			if (stkdr__pg_exec(pg, NULL, "SELECT bt_index_check($1::regclass, true)", 1, params) != 0) {
				bad++;
				check(r, "amcheck", 0, "index %s.%s is corrupt: %s", db, PQgetvalue(idx, k, 1),
					stkdr__err_get()->message);
			}
		}
		PQclear(idx);
		stkdr__pg_close(pg);
	}
	int ndb = PQntuples(dbs);
	PQclear(dbs);
	if (!bad)
		check(r, "amcheck", 1, "%d btree indexes in %d databases pass bt_index_check (heapallindexed)", total, ndb);
	stkdr_error_clear();
}

/* Row counts of verify.tables ("[db.][schema.]table", comma-separated). */
static void count_tables(report *r, stkdr_ctx *ctx, int port)
{
	const char *list = stkdr__cfg_str(ctx, "verify.tables");
	cJSON *counts = cJSON_AddObjectToObject(r->root, "row_counts");
	if (!list || !*list)
		return;
	char *dup = stkdr__strdup(list);
	char *save = NULL;
	for (char *t = dup ? strtok_r(dup, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save)) {
		while (*t == ' ')
			t++;
		char *end = t + strlen(t);
		while (end > t && end[-1] == ' ')
			*--end = '\0';
		if (!*t)
			continue;
		char *parts[3] = { NULL, NULL, NULL };
		int np = 0;
		char *save2 = NULL;
		char *spec = stkdr__strdup(t);
		for (char *q = strtok_r(spec, ".", &save2); q && np < 3; q = strtok_r(NULL, ".", &save2))
			parts[np++] = q;
		const char *db = np == 3 ? parts[0] : NULL;
		const char *schema = np == 3 ? parts[1] : (np == 2 ? parts[0] : "public");
		const char *table = parts[np - 1];
		stkdr__pg *pg = NULL;
		if (scratch_connect(&pg, port, db) != 0) {
			check(r, "row_count", 0, "%s: %s", t, stkdr__err_get()->message);
		} else {
			const char *params[2] = { schema, table };
			stkdr_buf v = STKDR_BUF_INIT;
			void *res = NULL;
			int rc = stkdr__pg_exec(pg, &res,
				"SELECT format('SELECT count(*) FROM %I.%I', $1::text, $2::text)", 2, params);
			if (!rc) {
				char *q = stkdr__strdup(PQgetvalue(res, 0, 0));
				PQclear(res);
				int is_null = 0;
				rc = q ? stkdr__pg_query_value(pg, &v, &is_null, q, 0, NULL) : STKDR_ENOMEM;
				stkdr__free(q);
			}
			if (rc)
				check(r, "row_count", 0, "table %s cannot be counted: %s", t, stkdr__err_get()->message);
			else
				cJSON_AddNumberToObject(counts, t, strtod(v.ptr, NULL));
			stkdr_buf_dispose(&v);
			stkdr__pg_close(pg);
		}
		stkdr__free(spec);
	}
	stkdr__free(dup);
	stkdr_error_clear();
}

static void smoke(report *r, stkdr_ctx *ctx, int port)
{
	const char *q = stkdr__cfg_str(ctx, "verify.smoke_query");
	stkdr__pg *pg = NULL;
	if (!q || !*q)
		return;
	if (scratch_connect(&pg, port, NULL) != 0) {
		check(r, "smoke_query", 0, "%s", stkdr__err_get()->message);
		return;
	}
	stkdr_buf v = STKDR_BUF_INIT;
	int is_null = 0;
	int rc = stkdr__pg_query_value(pg, &v, &is_null, q, 0, NULL);
	if (rc && rc != STKDR_ENOTFOUND)
		check(r, "smoke_query", 0, "%s: %s", q, stkdr__err_get()->message);
	else
		check(r, "smoke_query", 1, "%s -> %s", q, rc ? "(no rows)" : v.ptr);
	stkdr_buf_dispose(&v);
	stkdr__pg_close(pg);
	stkdr_error_clear();
}

/* The scratch parent: must be traversable by the postgres user when we are root. */
static int make_scratch(char **out, stkdr_ctx *ctx, const stkdr_verify_options *o)
{
	const char *base = o->scratch_dir ? o->scratch_dir : stkdr__cfg_str(ctx, "verify.scratch_dir");
	if (!base || !*base)
		base = getenv("TMPDIR");
	if (!base || !*base)
		base = "/tmp";
	char *dir = stkdr__aprintf("%s/stkdr-verify-XXXXXX", base);
	if (!dir)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	if (!mkdtemp(dir)) {
		int rc = stkdr__seterr_os(errno, "cannot create a scratch directory under %s (verify.scratch_dir)", base);
		stkdr__free(dir);
		return rc;
	}
	chmod(dir, 0755);
	if (geteuid() == 0) {
		struct passwd *pw = getpwnam("postgres");
		if (pw && chown(dir, pw->pw_uid, pw->pw_gid) != 0) {
			int rc = stkdr__seterr_os(errno, "cannot give %s to the postgres user", dir);
			rmdir(dir);
			stkdr__free(dir);
			return rc;
		}
	}
	*out = dir;
	return 0;
}

int stkdr_snapshot_verify(stkdr_buf *report_out, stkdr_ctx *ctx, const char *id, const stkdr_verify_options *opts)
{
	if (!ctx || !id)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_snapshot_verify: NULL argument");
	stkdr_error_clear();
	stkdr_verify_options o;
	stkdr_verify_options_init(&o, STKDR_VERIFY_OPTIONS_VERSION);
	if (opts) {
		if (opts->version == 0 || opts->version > STKDR_VERIFY_OPTIONS_VERSION)
			return stkdr__ctx_result(ctx, stkdr__seterr(STKDR_EVERSION, STKDR_ERRCLASS_INTERNAL, NULL,
				"stkdr_verify_options version %u is not supported (1..%u)", opts->version,
				STKDR_VERIFY_OPTIONS_VERSION));
		o = *opts;
	}
	cJSON *man = NULL;
	char sid[64];
	int rc = stkdr__snapshot_load(&man, sid, ctx, id);
	if (rc)
		return stkdr__ctx_result(ctx, rc);
	int64_t t0 = stkdr__time_now_ms();
	report r = { cJSON_CreateObject(), NULL, 0 };
	if (!r.root) {
		cJSON_Delete(man);
		return stkdr__ctx_result(ctx, stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory"));
	}
	char when[40];
	stkdr__time_format_rfc3339(when, sizeof when, stkdr__ctx_now_ms(ctx));
	cJSON_AddStringToObject(r.root, "format", "stkdr-verify");
	cJSON_AddNumberToObject(r.root, "format_version", 1);
	cJSON_AddStringToObject(r.root, "snapshot", sid);
	cJSON_AddStringToObject(r.root, "time", when);
	r.checks = cJSON_AddArrayToObject(r.root, "checks");
	stkdr__journal(ctx, STKDR_EVENT_ACTION, "verify.started", sid, 1, NULL);

	verify_objects(&r, ctx, man, sid);
	const cJSON *pe = cJSON_GetObjectItemCaseSensitive(man, "page_errors");
	if (cJSON_GetArraySize(pe) > 0) {
		const cJSON *e0 = cJSON_GetArrayItem(pe, 0);
		check(&r, "page_checksums", 0, "%d data page(s) failed their checksum when the snapshot was taken; first: %s "
			"block %d", cJSON_GetArraySize(pe), cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e0, "path")),
			(int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(e0, "block")));
	}

	char *scratch = NULL, *data = NULL, *logf = NULL;
	int port = 0;
	bool started = false;
	const char *bin = stkdr__cfg_str(ctx, "postgres.bin_dir");
	if (!(o.flags & STKDR_VERIFY_CHECKSUMS_ONLY) && r.failed == 0) {
		if ((rc = make_scratch(&scratch, ctx, &o)) != 0)
			goto out;
		data = stkdr__aprintf("%s/data", scratch);
		logf = stkdr__aprintf("%s/server.log", scratch);
		if (!data || !logf) {
			rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
			goto out;
		}
		stkdr_restore_options ro;
		stkdr_restore_options_init(&ro, STKDR_RESTORE_OPTIONS_VERSION);
		ro.target_dir = data;
		ro.snapshot_id = sid;
		ro.target = STKDR_RESTORE_TARGET_SNAPSHOT;
		int64_t t1 = stkdr__time_now_ms();
		int rrc = stkdr_restore(NULL, ctx, &ro);
		if (rrc) {
			check(&r, "restore", 0, "%s", stkdr_ctx_last_error(ctx)->message);
		} else {
			check(&r, "restore", 1, "restored into %s in %.1f s", data, (double)(stkdr__time_now_ms() - t1) / 1000.0);
			verify_pages(&r, man, data);
			/* pg_verifybackup: every file against PostgreSQL's own manifest, and the WAL parsed. */
			char *prog = stkdr__aprintf("%s/pg_verifybackup", bin);
			const char *argv[] = { prog, data, NULL };
			stkdr_buf outp = STKDR_BUF_INIT;
			int status = -1;
			if (!prog || stkdr__proc_run(argv, NULL, NULL, NULL, &outp, 600000, &status) != 0)
				check(&r, "pg_verifybackup", 0, "could not run %s: %s", prog ? prog : "pg_verifybackup",
					stkdr__err_get()->message);
			else
				check(&r, "pg_verifybackup", status == 0, "%s", outp.ptr ? outp.ptr : "");
			stkdr_buf_dispose(&outp);
			stkdr__free(prog);
			if (r.failed == 0) {
				if ((rc = stkdr__proc_free_port(&port)) != 0)
					goto out;
				int64_t t2 = stkdr__time_now_ms();
				if (stkdr__pgctl_start(bin, data, port, scratch, logf, 600000) != 0) {
					check(&r, "start", 0, "the restored copy did not start: %s", stkdr__err_get()->message);
				} else {
					started = true;
					check(&r, "start", 1, "consistent and accepting connections on port %d after %.1f s", port,
						(double)(stkdr__time_now_ms() - t2) / 1000.0);
					run_amcheck(&r, ctx, port);
					count_tables(&r, ctx, port);
					smoke(&r, ctx, port);
				}
			}
		}
	}
	rc = 0;
out:
	if (started && stkdr__pgctl_stop(bin, data, "fast", 120000) != 0)
		stkdr__pgctl_stop(bin, data, "immediate", 60000);
	if (scratch && !(o.flags & STKDR_VERIFY_KEEP_SCRATCH))
		nftw(scratch, rm_entry, 32, FTW_DEPTH | FTW_PHYS);
	if (rc) {
		cJSON_Delete(man);
		cJSON_Delete(r.root);
		stkdr__free(scratch);
		stkdr__free(data);
		stkdr__free(logf);
		return stkdr__ctx_result(ctx, rc);
	}
	cJSON_AddBoolToObject(r.root, "ok", r.failed == 0);
	cJSON_AddNumberToObject(r.root, "seconds", (double)(stkdr__time_now_ms() - t0) / 1000.0);
	if (scratch && (o.flags & STKDR_VERIFY_KEEP_SCRATCH))
		cJSON_AddStringToObject(r.root, "scratch_dir", scratch);
	char *json = cJSON_PrintUnformatted(r.root);
	if (json) {
		char rel[160], rid[40];
		stkdr__repo_new_id(rid, sizeof rid, stkdr__ctx_now_ms(ctx));
		snprintf(rel, sizeof rel, "verify/%s/%s.json", sid, rid);
		char *key = stkdr__repo_key(ctx, rel);
		if (key && stkdr__repo_put(ctx, key, json, strlen(json), STKDR_PUT_CREATE_ONLY) != 0)
			stkdr__log(ctx, STKDR_LOG_WARN, "verify", "could not store the verification result: %s",
				stkdr__err_get()->message);
		stkdr__free(key);
		char detail[256];
		snprintf(detail, sizeof detail, "{\"failed_checks\":%d}", r.failed);
		stkdr__journal(ctx, STKDR_EVENT_RESULT, "snapshot.verified", sid, r.failed == 0, detail);
		if (report_out)
			rc = stkdr_buf_set(report_out, json, strlen(json));
		cJSON_free(json);
	}
	if (!rc && r.failed) {
		const cJSON *c;
		const char *first = "";
		cJSON_ArrayForEach(c, r.checks) {
			if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "ok"))) {
				first = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "detail"));
				break;
			}
		}
		rc = stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_LOCAL, NULL, "snapshot %s FAILED verification (%d check%s): %s",
			sid, r.failed, r.failed == 1 ? "" : "s", first ? first : "");
	}
	cJSON_Delete(man);
	cJSON_Delete(r.root);
	stkdr__free(scratch);
	stkdr__free(data);
	stkdr__free(logf);
	return stkdr__ctx_result(ctx, rc);
}
