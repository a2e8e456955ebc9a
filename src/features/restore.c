/*
 * Restore (runbook 3.1) with the local-postgres provider: lays a snapshot down into a data directory,
 * writes the recovery configuration, and optionally starts the cluster and waits until recovery has
 * reached the target. Formats: docs/formats.md ("Restore").
 *
 * Order of work, and why:
 *  1. Everything that can be checked without writing is checked first: the options, the snapshot (its
 *     manifest), the archived WAL chain the target needs, and the target directory (absent, empty, or
 *     DELTA/FORCE; never a directory a server is running on). A refusal leaves the disk untouched.
 *  2. A marker file, DIR/stkdr-restore-incomplete, is written before anything else and removed only at
 *     the very end, and global/pg_control is written under a temporary name and renamed into place just
 *     before the marker goes: a directory left by a failed or killed restore is never taken for whole,
 *     neither by us (START refuses it) nor by a `pg_ctl start` by hand (no pg_control: the server
 *     refuses to start instead of running crash recovery over half a cluster).
 *  3. File data is fetched by `parallel` worker threads from a shared queue. The unit of work is a run
 *     of consecutive members of one bundle (up to RUN_MAX_CLEN compressed bytes), fetched with one
 *     ranged read: bundles hold the parts in the order the snapshot wrote them, so a run touches few
 *     objects and object stores see few, large GETs, while the cap keeps all threads busy. Each part is
 *     decompressed through a SHA-256 sink into its file at its offset (pwrite), and its digest and
 *     length are compared with the manifest before the part counts as restored. Workers never call the
 *     user's callbacks: errors are copied (first wins) and re-raised on the calling thread, which alone
 *     emits progress events.
 *  4. With DELTA, a first parallel phase hashes the parts of every existing file whose size matches;
 *     matching parts are not fetched at all.
 */
#include "snapshot.h"
#include "repo.h"
#include "restore_provider.h"
#include "wal.h"
#include "core/pool.h"
#include "core/crypto.h"
#include "core/stream.h"
#include "core/timeutil.h"
#include "services/pg.h"
#include "services/proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MARKER_NAME "stkdr-restore-incomplete"
#define PG_CONTROL "global/pg_control"
#define PG_CONTROL_TMP "global/pg_control.stkdr-restore"
#define RESTORE_LOG "log/stkdr-restore.log"
#define DEFAULT_WAL_COMMAND "stk wal get %f \"%p\""
#define RUN_MAX_CLEN ((int64_t)32 * 1024 * 1024)
#define IO_CHUNK ((size_t)256 * 1024)
#define PGCTL_TIMEOUT_MS ((int64_t)600 * 1000)
#define MAX_WORKERS 64

/* ------------------------------------------------------------------ small helpers */

static int nomem(void)
{
	return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : "";
}

static int64_t jint(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : -1;
}

static const char *target_name(int t)
{
	switch (t) {
	case STKDR_RESTORE_TARGET_LATEST:
		return "latest";
	case STKDR_RESTORE_TARGET_TIME:
		return "time";
	case STKDR_RESTORE_TARGET_LSN:
		return "lsn";
	default:
		return "snapshot";
	}
}

/* A relative path that stays inside the data directory and is not one of our reserved names. */
static bool safe_rel(const char *p)
{
	if (!p || !*p || *p == '/' || strlen(p) > 1024)
		return false;
	if (!strcmp(p, MARKER_NAME) || !strcmp(p, PG_CONTROL_TMP) || !strcmp(p, "backup_manifest"))
		return false;
	const char *s = p;
	for (;;) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		if (!e)
			return true;
		s = e + 1;
	}
}

static ssize_t pread_full(int fd, uint8_t *buf, size_t len, int64_t off)
{
	size_t got = 0;
	while (got < len) {
		ssize_t r = pread(fd, buf + got, len - got, (off_t)(off + (int64_t)got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

static int pwrite_full(int fd, const uint8_t *buf, size_t len, int64_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t r = pwrite(fd, buf + done, len - done, (off_t)(off + (int64_t)done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		done += (size_t)r;
	}
	return 0;
}

static int fsync_path(const char *path, bool dir)
{
	int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
	if (fd < 0)
		return stkdr__seterr_os(errno, "cannot open %s to flush it", path);
	int rc = 0;
	if (fsync(fd) != 0)
		rc = stkdr__seterr_os(errno, "cannot flush %s to disk", path);
	close(fd);
	return rc;
}

/* Creates (or replaces) a whole small file. */
static int write_whole(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return stkdr__seterr_os(errno, "cannot create %s", path);
	int rc = 0;
	if (pwrite_full(fd, data, len, 0) != 0)
		rc = stkdr__seterr_os(errno, "cannot write %s", path);
	if (close(fd) != 0 && !rc)
		rc = stkdr__seterr_os(errno, "cannot write %s", path);
	return rc;
}

/* Removes `name` in `dfd` whatever it is, never following symbolic links. */
static int remove_at(int dfd, const char *name, const char *shown);

static int empty_dir_fd(int fd, const char *shown)
{
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		return stkdr__seterr_os(e, "cannot read directory %s", shown);
	}
	int rc = 0;
	struct dirent *de;
	while (!rc && (errno = 0, de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char *sub = stkdr__aprintf("%s/%s", shown, de->d_name);
		rc = sub ? remove_at(dirfd(d), de->d_name, sub) : nomem();
		stkdr__free(sub);
	}
	closedir(d);
	return rc;
}

static int remove_at(int dfd, const char *name, const char *shown)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? 0 : stkdr__seterr_os(errno, "cannot stat %s", shown);
	if (S_ISDIR(st.st_mode)) {
		int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return stkdr__seterr_os(errno, "cannot open directory %s", shown);
		int rc = empty_dir_fd(fd, shown);
		if (rc)
			return rc;
		if (unlinkat(dfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
			return stkdr__seterr_os(errno, "cannot remove directory %s", shown);
		return 0;
	}
	if (unlinkat(dfd, name, 0) != 0 && errno != ENOENT)
		return stkdr__seterr_os(errno, "cannot remove %s", shown);
	return 0;
}

static int remove_path(const char *path)
{
	return remove_at(AT_FDCWD, path, path);
}

/* Empties a directory, keeping the directory itself (its owner and mode). */
static int empty_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return stkdr__seterr_os(errno, "cannot open directory %s", path);
	return empty_dir_fd(fd, path);
}

/* 1 if the directory has any entry, 0 if empty; negative on error. */
static int dir_nonempty(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		return stkdr__seterr_os(errno, "cannot read directory %s", path);
	int found = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			found = 1;
			break;
		}
	closedir(d);
	return found;
}

/* mkdir -p: missing ancestors 0755 (so the server's user can traverse them), the last one `mode`. */
static int mkdir_p(const char *path, mode_t mode)
{
	char *dup = stkdr__strdup(path);
	if (!dup)
		return nomem();
	int rc = 0;
	for (char *s = dup + 1;; s++) {
		bool last = *s == '\0';
		if (*s != '/' && !last)
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(dup, last ? mode : 0755) != 0) {
			struct stat st;
			if (errno != EEXIST || stat(dup, &st) != 0 || !S_ISDIR(st.st_mode)) {
				rc = stkdr__seterr_os(errno == EEXIST ? ENOTDIR : errno, "cannot create directory %s", dup);
				break;
			}
		} else if (last) {
			chmod(dup, mode);
		}
		*s = c;
		if (last)
			break;
	}
	stkdr__free(dup);
	return rc;
}

static int parse_id_time(int64_t *ms, const char *id)
{
	int y, mo, d, h, mi, s;
	if (sscanf(id, "%4d%2d%2dT%2d%2d%2dZ", &y, &mo, &d, &h, &mi, &s) != 6)
		return -1;
	*ms = (stkdr__time_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s) * 1000LL;
	return 0;
}

/* Segment name "TTTTTTTTXXXXXXXXYYYYYYYY" -> timeline and segment number. */
static int seg_parse(uint32_t *tli, uint64_t *segno, const char *name, int64_t seg_size)
{
	unsigned int t, log, seg;
	if (strlen(name) < 24 || sscanf(name, "%8X%8X%8X", &t, &log, &seg) != 3)
		return -1;
	uint64_t per = 0x100000000ULL / (uint64_t)seg_size;
	*tli = t;
	*segno = (uint64_t)log * per + seg;
	return 0;
}

/* Compression of a bundle from its name: the suffix is authoritative (an incremental snapshot may
 * reference bundles written by a parent with another compression setting). */
static stkdr__compress bundle_compression(const char *bundle)
{
	size_t n = strlen(bundle);
	if (n > 3 && !strcmp(bundle + n - 3, ".gz"))
		return STKDR__COMPRESS_GZIP;
	if (n > 4 && !strcmp(bundle + n - 4, ".zst"))
		return STKDR__COMPRESS_ZSTD;
	return STKDR__COMPRESS_NONE;
}

/* Appends `s` as a single-quoted postgresql.conf string. */
static void conf_quote(stkdr_buf *b, const char *s)
{
	stkdr_buf_put(b, "'", 1);
	for (; *s; s++) {
		if (*s == '\'')
			stkdr_buf_put(b, "''", 2);
		else if (*s == '\\')
			stkdr_buf_put(b, "\\\\", 2);
		else
			stkdr_buf_put(b, s, 1);
	}
	stkdr_buf_put(b, "'", 1);
}

/* ------------------------------------------------------------------ the plan */

typedef struct rpart {
	int64_t off, len;   /* raw slice of the file */
	uint8_t sha[32];
	const char *bundle; /* relative to P/snapshots/ (borrowed from the manifest) */
	int64_t boff, clen; /* member in the bundle */
	size_t file;        /* index into files */
	size_t index;       /* part number within its file */
	int matched;        /* DELTA: the existing bytes already hash to `sha` */
} rpart;

typedef struct rfile {
	const char *path;  /* as in the manifest (borrowed) */
	const char *wpath; /* where it is written: PG_CONTROL_TMP for global/pg_control */
	int64_t size;
	double mtime_ns;
	uint32_t mode;
	size_t first, nparts;
	int check;  /* DELTA: an existing file of the right size, compared before anything is fetched */
	int reused; /* DELTA: every part matched */
} rfile;

typedef struct rjob {
	size_t first, n; /* range of part indexes in `order` */
	int64_t clen;
} rjob;

typedef struct rshared {
	stkdr_ctx *ctx;
	stkdr_objstore *os;
	const char *snap_id;
	const char *dir;
	const char *snap_prefix; /* key of P/snapshots/ */
	rfile *files;
	rpart *parts;
	size_t *order;
	rjob *jobs;
	size_t njobs;
	int phase; /* 1: compare existing files (DELTA), 2: fetch */
	stkdr__pool pool; /* its lock guards next_job */
	size_t next_job;
} rshared;

typedef struct rworker {
	rshared *sh;
	uint8_t *buf;
} rworker;

static void add_done(rshared *sh, int64_t n)
{
	stkdr__pool_progress(&sh->pool, n);
}

/* Phase 1: does the existing file already hold this part? Unreadable counts as "no": it is rewritten. */
static int check_part(rworker *w, rpart *p)
{
	rshared *sh = w->sh;
	const rfile *f = &sh->files[p->file];
	char *full = stkdr__aprintf("%s/%s", sh->dir, f->wpath);
	if (!full)
		return nomem();
	int fd = open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	stkdr__free(full);
	p->matched = 0;
	if (fd < 0)
		return 0;
	stkdr__sha256_ctx c;
	stkdr__sha256_init(&c);
	int64_t at = 0;
	bool ok = true;
	while (at < p->len) {
		size_t want = (size_t)(p->len - at) < IO_CHUNK ? (size_t)(p->len - at) : IO_CHUNK;
		ssize_t got = pread_full(fd, w->buf, want, p->off + at);
		if (got != (ssize_t)want) {
			ok = false;
			break;
		}
		stkdr__sha256_update(&c, w->buf, want);
		at += (int64_t)want;
	}
	uint8_t d[32];
	stkdr__sha256_final(&c, d);
	close(fd);
	p->matched = ok && !memcmp(d, p->sha, 32);
	if (p->matched)
		add_done(sh, p->len);
	return 0;
}

/* Writes at increasing offsets of a file. */
typedef struct pwsink {
	stkdr__sink base;
	int fd;
	int64_t off;
	const char *path;
} pwsink;

static int pw_write(stkdr__sink *s, const uint8_t *d, size_t n)
{
	pwsink *p = (pwsink *)s;
	if (pwrite_full(p->fd, d, n, p->off) != 0)
		return stkdr__seterr_os(errno, "cannot write %s at offset %" PRId64, p->path, p->off);
	p->off += (int64_t)n;
	return 0;
}
static int pw_finish(stkdr__sink *s)
{
	(void)s;
	return 0;
}
static void pw_destroy(stkdr__sink *s)
{
	(void)s;
}

/* Phase 2: one part from an open ranged reader positioned at the part's member. */
static int fetch_part(rworker *w, stkdr_objreader *r, stkdr__compress comp, rpart *p)
{
	rshared *sh = w->sh;
	const rfile *f = &sh->files[p->file];
	char *full = stkdr__aprintf("%s/%s", sh->dir, f->wpath);
	if (!full)
		return nomem();
	int fd = open(full, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		int rc = stkdr__seterr_os(errno, "cannot open %s", full);
		stkdr__free(full);
		return rc;
	}
	pwsink pw = { { pw_write, pw_finish, pw_destroy }, fd, p->off, full };
	uint8_t got[32];
	int64_t count = -1;
	stkdr__sink *hs = NULL, *ds = NULL;
	int rc = stkdr__sink_sha256_new(&hs, &pw.base, STKDR__SINK_BORROW, got, &count);
	if (!rc && (rc = stkdr__sink_decompress_new(&ds, hs, 0, comp)) != 0) {
		stkdr__sink_destroy(hs);
		hs = NULL;
	}
	bool data_error = false; /* the stored bytes themselves are bad (vs. transport, disk) */
	int64_t left = p->clen;
	while (!rc && left > 0) {
		size_t want = (size_t)left < IO_CHUNK ? (size_t)left : IO_CHUNK;
		size_t n = 0;
		if ((rc = r->read(r, w->buf, want, &n)) != 0)
			break;
		if (n == 0) {
			rc = stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_LOCAL, NULL, "the bundle ends %" PRId64 " bytes early",
				left);
			data_error = true;
			break;
		}
		left -= (int64_t)n;
		if ((rc = stkdr__sink_write(ds, w->buf, n)) != 0)
			data_error = rc == STKDR_ECORRUPT;
	}
	if (!rc && (rc = stkdr__sink_finish(ds)) != 0)
		data_error = rc == STKDR_ECORRUPT;
	stkdr__sink_destroy(ds);
	if (close(fd) != 0 && !rc)
		rc = stkdr__seterr_os(errno, "cannot write %s", full);
	stkdr__free(full);

	char where[600];
	snprintf(where, sizeof where, "snapshot %s, file %s, part %zu (bundle %s at offset %" PRId64 ")", sh->snap_id,
		f->path, p->index, p->bundle, p->boff);
	if (!rc && (count != p->len || memcmp(got, p->sha, 32) != 0)) {
		char want_hex[65], got_hex[65];
		stkdr__hex_encode(want_hex, p->sha, 32);
		stkdr__hex_encode(got_hex, got, 32);
		return stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_LOCAL, NULL,
			"%s: checksum mismatch (%" PRId64 " bytes with SHA-256 %.16s..., the manifest says %" PRId64
			" bytes with %.16s...): the repository copy is damaged; restore another snapshot or repair the "
			"repository from a copy", where, count, got_hex, p->len, want_hex);
	}
	if (rc && data_error) {
		char detail[512];
		snprintf(detail, sizeof detail, "%s", stkdr__err_get()->message);
		return stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_LOCAL, NULL,
			"%s: checksum mismatch: the stored data is damaged (%s); restore another snapshot or repair the "
			"repository from a copy", where, detail);
	}
	if (rc) {
		stkdr__err_prefix("%s", where);
		return rc;
	}
	add_done(sh, p->len);
	return 0;
}

static int fetch_run(rworker *w, const rjob *j)
{
	rshared *sh = w->sh;
	rpart *p0 = &sh->parts[sh->order[j->first]];
	char *key = stkdr__aprintf("%s%s", sh->snap_prefix, p0->bundle);
	if (!key)
		return nomem();
	stkdr_objreader *r = NULL;
	int rc = sh->os->open_read(&r, sh->os, key, p0->boff, j->clen);
	if (rc) {
		stkdr__err_prefix("snapshot %s, file %s, part %zu: reading bundle %s at offset %" PRId64, sh->snap_id,
			sh->files[p0->file].path, p0->index, p0->bundle, p0->boff);
		stkdr__free(key);
		return rc;
	}
	stkdr__compress comp = bundle_compression(p0->bundle);
	for (size_t i = 0; i < j->n && !rc; i++) {
		pthread_mutex_lock(&sh->pool.lock);
		int stop = stkdr__pool_stopping_locked(&sh->pool);
		pthread_mutex_unlock(&sh->pool.lock);
		if (stop)
			break;
		rc = fetch_part(w, r, comp, &sh->parts[sh->order[j->first + i]]);
	}
	r->close(r);
	stkdr__free(key);
	return rc;
}

static void *worker_main(void *arg)
{
	rworker *w = arg;
	rshared *sh = w->sh;
	int rc = 0;
	for (;;) {
		pthread_mutex_lock(&sh->pool.lock);
		if (stkdr__pool_stopping_locked(&sh->pool) || sh->next_job >= sh->njobs) {
			pthread_mutex_unlock(&sh->pool.lock);
			break;
		}
		rjob j = sh->jobs[sh->next_job++];
		pthread_mutex_unlock(&sh->pool.lock);
		if (sh->phase == 1) {
			for (size_t i = 0; i < j.n && !rc; i++)
				rc = check_part(w, &sh->parts[sh->order[j.first + i]]);
		} else {
			rc = fetch_run(w, &j);
		}
		if (rc)
			break;
	}
	if (rc)
		stkdr__pool_fail(&sh->pool, rc);
	return NULL;
}

/* Runs the jobs of the current phase on `nworkers` threads; progress is reported from this thread. */
static int run_workers(rshared *sh, int nworkers, int64_t total_bytes)
{
	if (sh->njobs == 0)
		return 0;
	if ((size_t)nworkers > sh->njobs)
		nworkers = (int)sh->njobs;
	rworker *ws = stkdr__calloc((size_t)nworkers, sizeof *ws);
	if (!ws)
		return nomem();
	int rc = 0;
	for (int i = 0; i < nworkers && !rc; i++) {
		ws[i].sh = sh;
		if (!(ws[i].buf = stkdr__malloc(IO_CHUNK)))
			rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory for restore buffers");
	}
	sh->next_job = 0;
	if (!rc)
		rc = stkdr__pool_run(&sh->pool, sh->ctx, nworkers, worker_main, ws, sizeof *ws, "restore.progress",
			sh->snap_id, total_bytes);
	for (int i = 0; i < nworkers; i++)
		stkdr__free(ws[i].buf);
	stkdr__free(ws);
	return rc;
}

static int cmp_part_loc(const void *a, const void *b, void *arg)
{
	const rpart *parts = arg;
	const rpart *x = &parts[*(const size_t *)a], *y = &parts[*(const size_t *)b];
	int c = strcmp(x->bundle, y->bundle);
	if (c)
		return c;
	return x->boff < y->boff ? -1 : x->boff > y->boff;
}

static int cmp_job_clen(const void *a, const void *b)
{
	const rjob *x = a, *y = b;
	return x->clen > y->clen ? -1 : x->clen < y->clen;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ------------------------------------------------------------------ the restore */

typedef struct rstate {
	stkdr_ctx *ctx;
	stkdr_restore_options o;
	char *dir; /* absolute target directory */
	const char *bin_dir;
	stkdr_objstore *os;
	char *snap_prefix;
	cJSON *man;
	char id[64];
	int64_t stop_ms;
	uint64_t start_lsn, stop_lsn, target_lsn;
	int64_t seg_size;
	uint32_t tli;
	uint64_t seg_first, seg_last; /* the snapshot's own WAL */
	rfile *files;
	size_t nfiles;
	rpart *parts;
	size_t nparts;
	const char **known; /* DELTA: sorted manifest paths (files and directories) */
	size_t nknown;
	int64_t total_bytes;
	/* the target */
	bool existed, nonempty, marker_written;
	bool do_chown;
	uid_t uid;
	gid_t gid;
	char owner_name[64];
	/* results */
	int64_t reused_files, reused_bytes, fetched_bytes, removed;
	int wal_files;
	int nworkers;
	int port;
	bool started;
	char recovered_lsn[32];
	int recovered_tli;
	char recovery_stop[512];
	char redo_done[32];
	char last_xact[64];
	char log_file[PATH_MAX];
	char warning[512];
	char swapped[512]; /* what --swap changed, for the report */
} rstate;

static void rstate_free(rstate *rs)
{
	stkdr__free(rs->dir);
	stkdr__free(rs->snap_prefix);
	cJSON_Delete(rs->man);
	stkdr__free(rs->files);
	stkdr__free(rs->parts);
	stkdr__free(rs->known);
}

static int check_options(rstate *rs, const stkdr_restore_options *opts)
{
	if (!opts)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
			"stkdr_restore: options are required (at least target_dir)");
	if (opts->version == 0 || opts->version > STKDR_RESTORE_OPTIONS_VERSION)
		return stkdr__seterr(STKDR_EVERSION, STKDR_ERRCLASS_INTERNAL, NULL,
			"stkdr_restore_options version %u is not supported (1..%u)", opts->version,
			STKDR_RESTORE_OPTIONS_VERSION);
	rs->o = *opts;
	const stkdr_restore_options *o = &rs->o;
	const char *provider = stkdr__cfg_str(rs->ctx, "dbprovider.backend");
	if (provider && strcmp(provider, "local-postgres"))
		return stkdr__seterr(STKDR_ENOTSUPPORTED, STKDR_ERRCLASS_CONFIG, NULL,
			"dbprovider.backend \"%s\" cannot restore in this build (local-postgres can)", provider);
	if (o->target_instance && *o->target_instance)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
			"target_instance (\"%s\") names a managed database instance; with dbprovider.backend local-postgres "
			"restore into a directory: use target_dir (stk restore --target-dir DIR)", o->target_instance);
	if (!o->target_dir || !*o->target_dir)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
			"no target directory: set target_dir (stk restore --target-dir DIR) to a new or empty directory");
	if (o->target < STKDR_RESTORE_TARGET_SNAPSHOT || o->target > STKDR_RESTORE_TARGET_LSN)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
			"restore target %d is not one of snapshot (0), latest (1), time (2), lsn (3)", o->target);
	if (o->flags & ~(uint32_t)(STKDR_RESTORE_DELTA | STKDR_RESTORE_FORCE | STKDR_RESTORE_START | STKDR_RESTORE_SWAP))
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
			"unknown restore flags 0x%x", (unsigned)(o->flags & ~15u));
	if ((o->flags & STKDR_RESTORE_SWAP) && !(o->flags & STKDR_RESTORE_START))
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
			"--swap needs --start: the Hub is pointed at the restored cluster only once it is up");
	if ((o->flags & STKDR_RESTORE_DELTA) && (o->flags & STKDR_RESTORE_FORCE))
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
			"--delta and --force exclude each other: --delta reuses matching files, --force removes everything");
	if (o->port < 0 || o->port > 65535)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "port %d is not a TCP port (1..65535, or 0 "
			"for a free one)", o->port);
	if (o->port && !(o->flags & STKDR_RESTORE_START))
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
			"a port (%d) only makes sense with --start", o->port);
	if (o->parallel < 0)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "parallel %d is negative", o->parallel);
	if (o->target == STKDR_RESTORE_TARGET_TIME && o->target_time_ms <= 0)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
			"a time target needs target_time_ms (Unix ms), e.g. --time 2026-02-10T14:25:00Z");
	if (o->target == STKDR_RESTORE_TARGET_LSN) {
		if (!o->target_lsn)
			return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
				"an LSN target needs target_lsn (\"X/Y\"), e.g. --lsn 0/5000138");
		int rc = stkdr__lsn_parse(&rs->target_lsn, o->target_lsn);
		if (rc)
			return rc;
	}
	rs->nworkers = o->parallel > 0 ? o->parallel : (int)stkdr__cfg_int(rs->ctx, "snapshot.parallel", 2);
	if (rs->nworkers < 1)
		rs->nworkers = 1;
	if (rs->nworkers > MAX_WORKERS)
		rs->nworkers = MAX_WORKERS;
	/* An absolute path: pg_ctl, messages and the report all name the same directory. */
	if (o->target_dir[0] == '/') {
		rs->dir = stkdr__strdup(o->target_dir);
	} else {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof cwd))
			return stkdr__seterr_os(errno, "cannot resolve the relative target directory %s", o->target_dir);
		rs->dir = stkdr__aprintf("%s/%s", cwd, o->target_dir);
	}
	if (!rs->dir)
		return nomem();
	size_t n = strlen(rs->dir);
	while (n > 1 && rs->dir[n - 1] == '/')
		rs->dir[--n] = '\0';
	if (strchr(rs->dir, '\'') || strchr(rs->dir, '\n'))
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
			"the target directory \"%s\" contains a quote or a newline; choose a plain path", rs->dir);
	rs->bin_dir = stkdr__cfg_str(rs->ctx, "postgres.bin_dir");
	return 0;
}

static int manifest_times(const cJSON *m, int64_t *stop_ms, uint64_t *stop_lsn, const char *id)
{
	if (stkdr__time_parse_rfc3339(stop_ms, jstr(m, "stop_time")) != 0 ||
		stkdr__lsn_parse(stop_lsn, jstr(m, "stop_lsn")) != 0)
		return stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL,
			"the manifest of snapshot %s has no valid stop_time/stop_lsn", id);
	return 0;
}

static bool before_target(const rstate *rs, int64_t stop_ms, uint64_t stop_lsn)
{
	if (rs->o.target == STKDR_RESTORE_TARGET_TIME)
		return stop_ms <= rs->o.target_time_ms;
	if (rs->o.target == STKDR_RESTORE_TARGET_LSN)
		return stop_lsn <= rs->target_lsn;
	return true;
}

/* Picks the snapshot: the given one, or the newest that became consistent before the target. */
static int resolve_snapshot(rstate *rs)
{
	int64_t stop_ms;
	uint64_t stop_lsn;
	char tbuf[40];
	if (rs->o.target == STKDR_RESTORE_TARGET_TIME)
		stkdr__time_format_rfc3339(tbuf, sizeof tbuf, rs->o.target_time_ms);
	const char *tname = rs->o.target == STKDR_RESTORE_TARGET_TIME ? tbuf : rs->o.target_lsn;
	bool pointed = rs->o.target == STKDR_RESTORE_TARGET_TIME || rs->o.target == STKDR_RESTORE_TARGET_LSN;
	if ((rs->o.snapshot_id && *rs->o.snapshot_id) || !pointed) {
		const char *want = rs->o.snapshot_id && *rs->o.snapshot_id ? rs->o.snapshot_id : "latest";
		int rc = stkdr__snapshot_load(&rs->man, rs->id, rs->ctx, want);
		if (!rc)
			rc = manifest_times(rs->man, &stop_ms, &stop_lsn, rs->id);
		if (rc)
			return rc;
		if (!before_target(rs, stop_ms, stop_lsn))
			return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
				"snapshot %s became consistent at %s (LSN %s), after the target %s: recovery cannot go back in "
				"time; choose an earlier snapshot, or give no snapshot id to pick the newest one before the target",
				rs->id, jstr(rs->man, "stop_time"), jstr(rs->man, "stop_lsn"), tname);
		return 0;
	}
	char **ids = NULL;
	size_t n = 0;
	int rc = stkdr__snapshot_ids(&ids, &n, rs->ctx);
	if (rc)
		return rc;
	if (n == 0) {
		stkdr__strv_free(ids);
		return stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_LOCAL, NULL,
			"there is no snapshot in the repository (%s): nothing to restore", stkdr__repo_prefix(rs->ctx));
	}
	for (size_t i = n; i-- > 0 && !rc;) {
		int64_t started;
		if (rs->o.target == STKDR_RESTORE_TARGET_TIME && parse_id_time(&started, ids[i]) == 0 &&
			started > rs->o.target_time_ms)
			continue; /* started after the target: cannot have finished before it */
		cJSON *m = NULL;
		char id[64];
		if ((rc = stkdr__snapshot_load(&m, id, rs->ctx, ids[i])) != 0 ||
			(rc = manifest_times(m, &stop_ms, &stop_lsn, id)) != 0) {
			cJSON_Delete(m);
			break;
		}
		if (before_target(rs, stop_ms, stop_lsn)) {
			rs->man = m;
			snprintf(rs->id, sizeof rs->id, "%s", id);
			break;
		}
		cJSON_Delete(m);
	}
	if (!rc && !rs->man) {
		cJSON *m = NULL;
		if ((rc = stkdr__snapshot_load(&m, NULL, rs->ctx, ids[0])) == 0) {
			if (rs->o.target == STKDR_RESTORE_TARGET_TIME)
				rc = stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_LOCAL, NULL,
					"no snapshot finished before %s; the oldest finished at %s (snapshot %s): choose a later time",
					tname, jstr(m, "stop_time"), ids[0]);
			else
				rc = stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_LOCAL, NULL,
					"no snapshot is consistent at or before LSN %s; the oldest (%s) is consistent from LSN %s: "
					"choose a later LSN", tname, ids[0], jstr(m, "stop_lsn"));
		}
		cJSON_Delete(m);
	}
	stkdr__strv_free(ids);
	return rc;
}

/* Turns the manifest into files and parts, checking everything a damaged manifest could get wrong. */
static int plan_files(rstate *rs)
{
	const cJSON *m = rs->man;
	const char *id = rs->id;
	const cJSON *files = cJSON_GetObjectItemCaseSensitive(m, "files");
	const cJSON *dirs = cJSON_GetObjectItemCaseSensitive(m, "dirs");
	if (!cJSON_IsArray(files) || !cJSON_IsArray(dirs))
		return stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL,
			"the manifest of snapshot %s has no files/dirs lists", id);
	rs->seg_size = jint(m, "wal_segment_size");
	if (rs->seg_size <= 0)
		rs->seg_size = 16 * 1024 * 1024;
	if (rs->seg_size & (rs->seg_size - 1))
		return stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL,
			"the manifest of snapshot %s has an invalid wal_segment_size", id);
	const cJSON *wal = cJSON_GetObjectItemCaseSensitive(m, "wal");
	uint32_t t2;
	if (seg_parse(&rs->tli, &rs->seg_first, jstr(wal, "start"), rs->seg_size) != 0 ||
		seg_parse(&t2, &rs->seg_last, jstr(wal, "stop"), rs->seg_size) != 0 || t2 != rs->tli ||
		rs->seg_last < rs->seg_first || rs->seg_last - rs->seg_first > 100000)
		return stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL,
			"the manifest of snapshot %s has an invalid WAL range (wal.start \"%s\", wal.stop \"%s\")", id,
			jstr(wal, "start"), jstr(wal, "stop"));
	if (stkdr__lsn_parse(&rs->start_lsn, jstr(m, "start_lsn")) != 0 ||
		manifest_times(m, &rs->stop_ms, &rs->stop_lsn, id) != 0)
		return stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL,
			"the manifest of snapshot %s has invalid start/stop locations", id);
	if (!*jstr(m, "backup_label"))
		return stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL,
			"the manifest of snapshot %s has no backup_label: it cannot be restored consistently", id);

	size_t nf = (size_t)cJSON_GetArraySize(files), np = 0;
	const cJSON *f;
	cJSON_ArrayForEach(f, files)
		np += (size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(f, "parts"));
	size_t nd = (size_t)cJSON_GetArraySize(dirs);
	rs->files = stkdr__calloc(nf + 1, sizeof *rs->files);
	rs->parts = stkdr__calloc(np + 1, sizeof *rs->parts);
	rs->known = stkdr__calloc(nf + nd + 1, sizeof *rs->known);
	if (!rs->files || !rs->parts || !rs->known)
		return nomem();
	size_t fi = 0, pi = 0;
	bool has_conf = false, has_control = false;
	cJSON_ArrayForEach(f, files) {
		rfile *rf = &rs->files[fi];
		rf->path = jstr(f, "path");
		rf->size = jint(f, "size");
		const cJSON *mt = cJSON_GetObjectItemCaseSensitive(f, "mtime_ns");
		rf->mtime_ns = cJSON_IsNumber(mt) ? mt->valuedouble : 0;
		int64_t mode = jint(f, "mode");
		rf->mode = mode > 0 ? (uint32_t)mode & 07777 : 0600;
		if (!safe_rel(rf->path) || rf->size < 0)
			return stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL,
				"the manifest of snapshot %s names an invalid file \"%s\" (size %" PRId64 ")", id, rf->path,
				rf->size);
		rf->wpath = strcmp(rf->path, PG_CONTROL) ? rf->path : PG_CONTROL_TMP;
		has_conf |= !strcmp(rf->path, "postgresql.conf");
		has_control |= !strcmp(rf->path, PG_CONTROL);
		rf->first = pi;
		int64_t off = 0;
		const cJSON *p;
		cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(f, "parts")) {
			rpart *rp = &rs->parts[pi];
			rp->file = fi;
			rp->index = pi - rf->first;
			rp->off = off;
			rp->len = jint(p, "len");
			rp->bundle = jstr(p, "bundle");
			rp->boff = jint(p, "off");
			rp->clen = jint(p, "clen");
			if (rp->len <= 0 || rp->boff < 0 || rp->clen <= 0 || !safe_rel(rp->bundle) ||
				stkdr__hex_decode(rp->sha, 32, jstr(p, "sha256")) != 0) {
				stkdr_error_clear();
				return stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL,
					"the manifest of snapshot %s has an invalid part %zu of file %s", id, rp->index, rf->path);
			}
			off += rp->len;
			pi++;
		}
		rf->nparts = pi - rf->first;
		if (off != rf->size)
			return stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL,
				"the manifest of snapshot %s: the parts of file %s cover %" PRId64 " bytes, its size is %" PRId64, id,
				rf->path, off, rf->size);
		rs->total_bytes += rf->size;
		rs->known[rs->nknown++] = rf->path;
		fi++;
	}
	rs->nfiles = fi;
	rs->nparts = pi;
	const cJSON *d;
	cJSON_ArrayForEach(d, dirs) {
		if (!safe_rel(jstr(d, "path")))
			return stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL,
				"the manifest of snapshot %s names an invalid directory \"%s\"", id, jstr(d, "path"));
		rs->known[rs->nknown++] = jstr(d, "path");
	}
	qsort(rs->known, rs->nknown, sizeof *rs->known, cmp_str);
	if (!has_control)
		return stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL,
			"the manifest of snapshot %s has no global/pg_control: it is not a PostgreSQL data directory", id);
	if ((rs->o.flags & STKDR_RESTORE_START) && !has_conf)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
			"snapshot %s has no postgresql.conf (the source keeps its configuration outside the data directory, "
			"as Debian's /etc/postgresql does): restore without --start, put a configuration in place, then start it",
			id);
	return 0;
}

static bool is_known(const rstate *rs, const char *rel)
{
	return rs->nknown && bsearch(&rel, rs->known, rs->nknown, sizeof *rs->known, cmp_str) != NULL;
}

/* Lists P/wal/ and checks that the chain the target needs is there, without gaps. */
static int check_wal_chain(rstate *rs)
{
	char *prefix = stkdr__repo_key(rs->ctx, "wal/");
	if (!prefix)
		return STKDR_ENOMEM;
	char **keys = NULL;
	size_t nk = 0;
	int rc = stkdr__repo_list(&keys, &nk, rs->ctx, prefix);
	size_t plen = strlen(prefix);
	stkdr__free(prefix);
	if (rc)
		return rc;
	uint64_t *segs = stkdr__calloc(nk + 1, sizeof *segs);
	size_t ns = 0;
	const char *newest_key = NULL;
	uint64_t newest = 0;
	bool have_history = rs->tli <= 1;
	char hist[32];
	snprintf(hist, sizeof hist, "history/%08X.history-", (unsigned int)rs->tli);
	if (!segs) {
		stkdr__strv_free(keys);
		return nomem();
	}
	for (size_t i = 0; i < nk; i++) {
		const char *rel = keys[i] + plen; /* <tli>/<segment>-<hash><suffix> or history/... */
		if (!strncmp(rel, hist, strlen(hist)))
			have_history = true;
		uint32_t t;
		uint64_t s;
		if (strlen(rel) < 9 + 25 || rel[8] != '/' || rel[9 + 24] != '-' ||
			seg_parse(&t, &s, rel + 9, rs->seg_size) != 0 || t < rs->tli)
			continue;
		segs[ns++] = s;
		if (s >= newest) {
			newest = s;
			newest_key = keys[i];
		}
	}
	uint64_t need = rs->seg_last;
	if (rs->o.target == STKDR_RESTORE_TARGET_LSN && rs->target_lsn / (uint64_t)rs->seg_size > need)
		need = rs->target_lsn / (uint64_t)rs->seg_size;
	else if (rs->o.target != STKDR_RESTORE_TARGET_SNAPSHOT && newest > need)
		need = newest;
	char first_name[32], need_name[32];
	stkdr__wal_segname(first_name, sizeof first_name, rs->tli, rs->seg_first, rs->seg_size);
	stkdr__wal_segname(need_name, sizeof need_name, rs->tli, need, rs->seg_size);
	/* keys are sorted per timeline; a segment may exist on several timelines: any one will do */
	qsort(segs, ns, sizeof *segs, cmp_u64);
	char newest_name[32];
	stkdr__wal_segname(newest_name, sizeof newest_name, rs->tli, newest, rs->seg_size);
	size_t k = 0;
	for (uint64_t s = rs->seg_first; s <= need && !rc; s++) {
		while (k < ns && segs[k] < s)
			k++;
		if (k < ns && segs[k] == s)
			continue;
		char missing[32];
		stkdr__wal_segname(missing, sizeof missing, rs->tli, s, rs->seg_size);
		if (s <= rs->seg_last)
			rc = stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_LOCAL, NULL,
				"WAL segment %s is missing from the archive, but snapshot %s needs it (its WAL is %s to %s) to become "
				"consistent; nothing was restored (checked before anything is started): restore another snapshot",
				missing, rs->id, first_name, jstr(cJSON_GetObjectItemCaseSensitive(rs->man, "wal"), "stop"));
		else if (s > newest || ns == 0)
			rc = stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_LOCAL, NULL,
				"WAL segment %s, which holds the target LSN %s, is not in the archive (the archive ends at segment "
				"%s); nothing was restored (checked before anything is started): choose an earlier LSN or wait "
				"until it is archived", missing, rs->o.target_lsn, ns ? newest_name : "-");
		else
			rc = stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_LOCAL, NULL,
				"the archived WAL has a gap: segment %s is missing between snapshot %s's start (%s) and %s; "
				"nothing was restored (checked before anything is started): recovery could not pass the gap. "
				"Choose a target before %s, or put the segment back into the archive",
				missing, rs->id, first_name, need_name, missing);
	}
	/* Every archived segment past the snapshot's own WAL that recovery may need is read whole now, so
	 * that a corrupt one is named before anything is started (PostgreSQL would otherwise take the
	 * failed fetch for the end of the archive and stop recovery early). */
	if (!rc && need > rs->seg_last) {
		const char **vkeys = stkdr__calloc(nk + 1, sizeof *vkeys);
		size_t nv = 0;
		if (!vkeys)
			rc = nomem();
		for (size_t i = 0; !rc && i < nk; i++) {
			const char *rel = keys[i] + plen;
			uint32_t t;
			uint64_t s;
			if (strlen(rel) >= 9 + 25 && rel[8] == '/' && rel[9 + 24] == '-' &&
				seg_parse(&t, &s, rel + 9, rs->seg_size) == 0 && t >= rs->tli && s > rs->seg_last && s <= need)
				vkeys[nv++] = keys[i];
		}
		if (!rc)
			rc = stkdr__wal_verify_objects(rs->ctx, vkeys, nv);
		stkdr__free(vkeys);
	}
	if (!rc && !have_history) {
		char h[32];
		snprintf(h, sizeof h, "%08X.history", (unsigned int)rs->tli);
		rc = stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_LOCAL, NULL,
			"the timeline history file %s of snapshot %s (timeline %u) is not in the archive; nothing was restored",
			h, rs->id, (unsigned int)rs->tli);
	}
	/* A time target beyond the end of the archive cannot be reached: PostgreSQL would stop with
	 * "recovery ended before configured recovery target was reached". Warn now; the server decides. */
	if (!rc && rs->o.target == STKDR_RESTORE_TARGET_TIME && newest_key) {
		stkdr_objinfo info;
		memset(&info, 0, sizeof info);
		if (rs->os->head(&info, rs->os, newest_key) == 0 && info.mtime_ms > 0 && info.mtime_ms < rs->o.target_time_ms) {
			char t1[40], t2[40];
			stkdr__time_format_rfc3339(t1, sizeof t1, info.mtime_ms);
			stkdr__time_format_rfc3339(t2, sizeof t2, rs->o.target_time_ms);
			snprintf(rs->warning, sizeof rs->warning,
				"the newest archived WAL segment (%s) was archived at %s, before the target %s: recovery may end "
				"before reaching the target unless the server's restore_command finds newer WAL",
				newest_name, t1, t2);
			stkdr__log(rs->ctx, STKDR_LOG_WARN, "restore", "%s", rs->warning);
		}
		stkdr_error_clear();
	}
	stkdr__free(segs);
	stkdr__strv_free(keys);
	return rc;
}

static int read_pid_file(long *pid, const char *dir)
{
	char *path = stkdr__aprintf("%s/postmaster.pid", dir);
	if (!path)
		return nomem();
	*pid = 0;
	FILE *fp = fopen(path, "re");
	stkdr__free(path);
	if (!fp)
		return 0;
	if (fscanf(fp, "%ld", pid) != 1)
		*pid = 0;
	fclose(fp);
	return 1;
}

/* 1 if a server runs on `dir` by its postmaster.pid (a live process) or by pg_ctl status. */
static int server_running(long *pid_out, const char *bin_dir, const char *dir)
{
	long pid = 0;
	int has = read_pid_file(&pid, dir);
	if (has < 0)
		return has;
	*pid_out = pid;
	if (!has)
		return 0;
	if (pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM))
		return 1;
	int running = 0;
	if (bin_dir && stkdr__pgctl_status(bin_dir, dir, &running) != 0)
		running = 0; /* not a data directory, or no pg_ctl: the pid file alone decided */
	stkdr_error_clear();
	return running;
}

/* Who will own the restored files when we are root (PostgreSQL refuses to run as root). */
static void choose_owner(rstate *rs, const struct stat *target_st)
{
	rs->do_chown = false;
	if (geteuid() != 0)
		return;
	uid_t uid = 0;
	gid_t gid = 0;
	if (target_st && target_st->st_uid != 0) {
		uid = target_st->st_uid;
		gid = target_st->st_gid;
	} else {
		/* the nearest existing ancestor */
		char *p = stkdr__strdup(rs->dir);
		struct stat st;
		while (p && *p) {
			char *slash = strrchr(p, '/');
			if (!slash)
				break;
			if (slash == p)
				slash[1] = '\0';
			else
				*slash = '\0';
			if (stat(p, &st) == 0) {
				if (st.st_uid != 0) {
					uid = st.st_uid;
					gid = st.st_gid;
				}
				break;
			}
			if (slash == p)
				break;
		}
		stkdr__free(p);
	}
	struct passwd *pw = NULL;
	if (uid == 0) {
		pw = getpwnam("postgres");
		if (!pw) {
			stkdr__log(rs->ctx, STKDR_LOG_WARN, "restore",
				"running as root and there is no postgres user: %s will belong to root, and PostgreSQL refuses to "
				"run as root; chown it to the server's user before starting it", rs->dir);
			return;
		}
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	} else {
		pw = getpwuid(uid);
		if (pw)
			gid = pw->pw_gid;
	}
	rs->do_chown = true;
	rs->uid = uid;
	rs->gid = gid;
	snprintf(rs->owner_name, sizeof rs->owner_name, "%s", pw ? pw->pw_name : "?");
}

static int check_target(rstate *rs)
{
	struct stat st;
	if (stat(rs->dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
				"target directory %s exists and is not a directory", rs->dir);
		rs->existed = true;
		long pid = 0;
		int running = server_running(&pid, rs->bin_dir, rs->dir);
		if (running < 0)
			return running;
		if (running)
			return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
				"a server is running on %s (postmaster.pid names live process %ld): a restore never replaces the "
				"files of a running cluster, not even with --force; stop it first (pg_ctl stop -D %s) or restore "
				"into another directory", rs->dir, pid, rs->dir);
		int ne = dir_nonempty(rs->dir);
		if (ne < 0)
			return ne;
		rs->nonempty = ne;
		if (ne && !(rs->o.flags & (STKDR_RESTORE_DELTA | STKDR_RESTORE_FORCE)))
			return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
				"target directory %s is not empty: use --delta to reuse matching files or --force to replace it",
				rs->dir);
		choose_owner(rs, &st);
	} else if (errno == ENOENT) {
		choose_owner(rs, NULL);
	} else {
		return stkdr__seterr_os(errno, "cannot inspect target directory %s", rs->dir);
	}
	return 0;
}

/* DELTA: removes what the snapshot does not have (the contents of pg_wal included). */
static int delta_clean(rstate *rs, const char *rel)
{
	char *full = *rel ? stkdr__aprintf("%s/%s", rs->dir, rel) : stkdr__strdup(rs->dir);
	if (!full)
		return nomem();
	DIR *d = opendir(full);
	if (!d) {
		int rc = stkdr__seterr_os(errno, "cannot read directory %s", full);
		stkdr__free(full);
		return rc;
	}
	int rc = 0;
	struct dirent *de;
	while (!rc && (de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		if (!strcmp(n, ".") || !strcmp(n, ".."))
			continue;
		char *crel = *rel ? stkdr__aprintf("%s/%s", rel, n) : stkdr__strdup(n);
		char *cfull = stkdr__aprintf("%s/%s", full, n);
		if (!crel || !cfull) {
			stkdr__free(crel);
			stkdr__free(cfull);
			rc = nomem();
			break;
		}
		struct stat st, st2;
		bool keep = false, descend = false;
		if (lstat(cfull, &st) != 0) {
			keep = true; /* vanished */
		} else if (!strcmp(crel, MARKER_NAME) || !strcmp(crel, PG_CONTROL_TMP)) {
			keep = true;
		} else if (S_ISDIR(st.st_mode)) {
			keep = descend = is_known(rs, crel);
		} else if (S_ISLNK(st.st_mode)) {
			/* a symlinked pg_wal (a separate WAL volume) stays; its contents are cleaned */
			keep = descend = !strcmp(crel, "pg_wal") && is_known(rs, crel) && stat(cfull, &st2) == 0 &&
					 S_ISDIR(st2.st_mode);
		} else if (S_ISREG(st.st_mode)) {
			keep = is_known(rs, crel);
		}
		if (!keep) {
			rc = remove_path(cfull);
			rs->removed++;
		} else if (descend) {
			rc = delta_clean(rs, crel);
		}
		stkdr__free(crel);
		stkdr__free(cfull);
	}
	closedir(d);
	stkdr__free(full);
	return rc;
}

/* Directories, then every file created at its final size (or, with DELTA, kept for comparison). */
static int lay_out(rstate *rs)
{
	const cJSON *d;
	cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(rs->man, "dirs")) {
		int64_t mode = jint(d, "mode");
		char *full = stkdr__aprintf("%s/%s", rs->dir, jstr(d, "path"));
		if (!full)
			return nomem();
		struct stat st;
		if (lstat(full, &st) == 0 && !S_ISDIR(st.st_mode) &&
			!(S_ISLNK(st.st_mode) && !strcmp(jstr(d, "path"), "pg_wal"))) {
			int rc = remove_path(full);
			if (rc) {
				stkdr__free(full);
				return rc;
			}
		}
		int rc = mkdir_p(full, mode > 0 ? (mode_t)(mode & 07777) : 0700);
		if (!rc && chmod(full, mode > 0 ? (mode_t)(mode & 07777) : 0700) != 0)
			rc = stkdr__seterr_os(errno, "cannot set the mode of %s", full);
		stkdr__free(full);
		if (rc)
			return rc;
	}
	char *aux = stkdr__aprintf("%s/pg_wal/archive_status", rs->dir);
	int rc = aux ? mkdir_p(aux, 0700) : nomem();
	stkdr__free(aux);
	if (rc)
		return rc;
	for (size_t i = 0; i < rs->nfiles; i++) {
		rfile *f = &rs->files[i];
		char *full = stkdr__aprintf("%s/%s", rs->dir, f->wpath);
		if (!full)
			return nomem();
		struct stat st;
		int have = lstat(full, &st) == 0;
		if ((rs->o.flags & STKDR_RESTORE_DELTA) && have && S_ISREG(st.st_mode) && st.st_size == f->size) {
			f->check = 1;
			if (f->nparts == 0)
				f->reused = 1;
			stkdr__free(full);
			continue;
		}
		if (have && !S_ISREG(st.st_mode) && (rc = remove_path(full)) != 0) {
			stkdr__free(full);
			return rc;
		}
		char *slash = strrchr(full, '/');
		*slash = '\0';
		rc = mkdir_p(full, 0700);
		*slash = '/';
		if (rc) {
			stkdr__free(full);
			return rc;
		}
		int fd = open(full, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			rc = stkdr__seterr_os(errno, "cannot create %s", full);
		else if (ftruncate(fd, (off_t)f->size) != 0)
			rc = stkdr__seterr_os(errno, "cannot size %s to %" PRId64 " bytes", full, f->size);
		if (fd >= 0)
			close(fd);
		stkdr__free(full);
		if (rc)
			return rc;
	}
	return 0;
}

static int copy_data(rstate *rs)
{
	rshared sh;
	memset(&sh, 0, sizeof sh);
	stkdr__pool_init(&sh.pool);
	sh.ctx = rs->ctx;
	sh.os = rs->os;
	sh.snap_id = rs->id;
	sh.dir = rs->dir;
	sh.snap_prefix = rs->snap_prefix;
	sh.files = rs->files;
	sh.parts = rs->parts;
	sh.order = stkdr__calloc(rs->nparts + 1, sizeof *sh.order);
	sh.jobs = stkdr__calloc(rs->nparts + 1, sizeof *sh.jobs);
	int rc = sh.order && sh.jobs ? 0 : nomem();

	/* Phase 1 (DELTA): hash the existing files' parts, one job per part. */
	size_t n = 0;
	for (size_t i = 0; !rc && i < rs->nfiles; i++)
		if (rs->files[i].check)
			for (size_t p = 0; p < rs->files[i].nparts; p++) {
				sh.order[n] = rs->files[i].first + p;
				sh.jobs[n].first = n;
				sh.jobs[n].n = 1;
				n++;
			}
	if (!rc && n) {
		sh.phase = 1;
		sh.njobs = n;
		rc = run_workers(&sh, rs->nworkers, rs->total_bytes);
	}
	for (size_t i = 0; !rc && i < rs->nfiles; i++) {
		rfile *f = &rs->files[i];
		if (!f->check || f->nparts == 0)
			continue;
		int all = 1;
		for (size_t p = 0; p < f->nparts; p++)
			if (!rs->parts[f->first + p].matched)
				all = 0;
			else
				rs->reused_bytes += rs->parts[f->first + p].len;
		f->reused = all;
	}

	/* Phase 2: fetch what is missing, in runs of consecutive members of one bundle. */
	n = 0;
	for (size_t i = 0; !rc && i < rs->nparts; i++)
		if (!rs->parts[i].matched) {
			sh.order[n++] = i;
			rs->fetched_bytes += rs->parts[i].len;
		}
	if (!rc && n) {
		qsort_r(sh.order, n, sizeof *sh.order, cmp_part_loc, rs->parts);
		size_t nj = 0;
		for (size_t i = 0; i < n; i++) {
			const rpart *p = &rs->parts[sh.order[i]];
			if (nj) {
				rjob *j = &sh.jobs[nj - 1];
				const rpart *last = &rs->parts[sh.order[j->first + j->n - 1]];
				if (!strcmp(last->bundle, p->bundle) && last->boff + last->clen == p->boff &&
					j->clen + p->clen <= RUN_MAX_CLEN) {
					j->n++;
					j->clen += p->clen;
					continue;
				}
			}
			sh.jobs[nj].first = i;
			sh.jobs[nj].n = 1;
			sh.jobs[nj].clen = p->clen;
			nj++;
		}
		qsort(sh.jobs, nj, sizeof *sh.jobs, cmp_job_clen);
		sh.phase = 2;
		sh.njobs = nj;
		stkdr__log(rs->ctx, STKDR_LOG_INFO, "restore", "snapshot %s: fetching %zu parts (%" PRId64 " bytes) in %zu "
			"ranged reads with %d workers", rs->id, n, rs->fetched_bytes, nj, rs->nworkers);
		rc = run_workers(&sh, rs->nworkers, rs->total_bytes);
	}
	if (!rc)
		stkdr__emit(rs->ctx, STKDR_EVENT_PROGRESS, "restore.progress", rs->id, rs->total_bytes, rs->total_bytes, 0,
			NULL);
	stkdr__free(sh.order);
	stkdr__free(sh.jobs);
	stkdr__pool_destroy(&sh.pool);
	return rc;
}

/* Modes and modification times, as the manifest has them. */
static int finish_files(rstate *rs)
{
	for (size_t i = 0; i < rs->nfiles; i++) {
		rfile *f = &rs->files[i];
		if (f->reused)
			rs->reused_files++;
		char *full = stkdr__aprintf("%s/%s", rs->dir, f->wpath);
		if (!full)
			return nomem();
		int rc = 0;
		if (chmod(full, f->mode) != 0)
			rc = stkdr__seterr_os(errno, "cannot set the mode of %s", full);
		if (!rc && f->mtime_ns > 0) {
			struct timespec ts[2];
			int64_t ns = (int64_t)f->mtime_ns;
			ts[0].tv_sec = ts[1].tv_sec = (time_t)(ns / 1000000000LL);
			ts[0].tv_nsec = ts[1].tv_nsec = (long)(ns % 1000000000LL);
			if (utimensat(AT_FDCWD, full, ts, AT_SYMLINK_NOFOLLOW) != 0)
				rc = stkdr__seterr_os(errno, "cannot set the modification time of %s", full);
		}
		stkdr__free(full);
		if (rc)
			return rc;
	}
	return 0;
}

/* backup_label, tablespace_map, backup_manifest and the WAL that makes the snapshot consistent. */
static int write_backup_files(rstate *rs)
{
	char *path = stkdr__aprintf("%s/backup_label", rs->dir);
	const char *label = jstr(rs->man, "backup_label");
	int rc = path ? write_whole(path, label, strlen(label), 0600) : nomem();
	stkdr__free(path);
	const char *map = jstr(rs->man, "tablespace_map");
	if (!rc && *map) {
		path = stkdr__aprintf("%s/tablespace_map", rs->dir);
		rc = path ? write_whole(path, map, strlen(map), 0600) : nomem();
		stkdr__free(path);
	}
	if (rc)
		return rc;
	/* PostgreSQL's own manifest, so that `pg_verifybackup DIR` checks the result. */
	char *key = stkdr__aprintf("%s%s/backup_manifest", rs->snap_prefix, rs->id);
	stkdr_buf b = STKDR_BUF_INIT;
	if (!key)
		return nomem();
	rc = stkdr__repo_get(&b, rs->ctx, key);
	stkdr__free(key);
	if (rc == STKDR_ENOTFOUND) {
		stkdr__log(rs->ctx, STKDR_LOG_WARN, "restore", "snapshot %s has no backup_manifest: pg_verifybackup cannot "
			"check %s", rs->id, rs->dir);
		stkdr_error_clear();
		rc = 0;
	} else if (rc) {
		stkdr__err_prefix("reading the backup_manifest of snapshot %s", rs->id);
	} else {
		path = stkdr__aprintf("%s/backup_manifest", rs->dir);
		rc = path ? write_whole(path, b.ptr, b.size, 0600) : nomem();
		stkdr__free(path);
	}
	stkdr_buf_dispose(&b);
	if (rc)
		return rc;
	if (rs->tli > 1) {
		char name[32];
		snprintf(name, sizeof name, "%08X.history", (unsigned int)rs->tli);
		path = stkdr__aprintf("%s/pg_wal/%s", rs->dir, name);
		rc = path ? stkdr__wal_get(rs->ctx, name, path) : nomem();
		stkdr__free(path);
		if (rc)
			return rc;
		rs->wal_files++;
	}
	for (uint64_t s = rs->seg_first; s <= rs->seg_last && !rc; s++) {
		char name[32];
		stkdr__wal_segname(name, sizeof name, rs->tli, s, rs->seg_size);
		path = stkdr__aprintf("%s/pg_wal/%s", rs->dir, name);
		rc = path ? stkdr__wal_get(rs->ctx, name, path) : nomem();
		stkdr__free(path);
		if (rc)
			stkdr__err_prefix("snapshot %s needs WAL segment %s to become consistent", rs->id, name);
		else
			rs->wal_files++;
	}
	return rc;
}

/*
 * The recovery configuration, appended to postgresql.auto.conf (the last setting of a name wins):
 * - TARGET_SNAPSHOT: no recovery.signal. PostgreSQL runs crash recovery from backup_label, replays the
 *   WAL in pg_wal to the end of the backup and comes up on the snapshot's timeline.
 * - TIME/LSN/LATEST: recovery.signal, restore_command, the target (if any), recovery_target_action =
 *   'promote', recovery_target_timeline = 'latest'. Time and LSN targets are exclusive
 *   (recovery_target_inclusive = false): the runbook restores to "5 minutes before the deletion", so
 *   nothing committed at or after the target is replayed; for an LSN, everything before it.
 * - Always archive_command = '' (and archive_library = ''): a restored cluster must not push WAL into
 *   the repository on its own. After a TARGET_SNAPSHOT restore it would archive segments of the source's
 *   timeline that conflict with the source's (refused, forever failing); a drill or verification restore
 *   would put a new timeline into the production archive, which a later PITR with
 *   recovery_target_timeline = 'latest' would follow. With archive_mode left on, PostgreSQL keeps every
 *   WAL segment in pg_wal until it is archived, so nothing is lost: when the operator makes this cluster
 *   the new primary, `ALTER SYSTEM RESET archive_command; SELECT pg_reload_conf();` archives the backlog.
 * - With START: port and listen_addresses = '127.0.0.1', so that the restored cluster comes up on
 *   loopback only and never takes the source's port.
 */
static int write_recovery_conf(rstate *rs)
{
	stkdr_buf b = STKDR_BUF_INIT;
	char now[40];
	stkdr__time_format_rfc3339(now, sizeof now, stkdr__time_now_ms());
	char *conf_path = stkdr__aprintf("%s/postgresql.auto.conf", rs->dir);
	if (!conf_path)
		return nomem();
	/* keep whatever the file has; start on a new line */
	struct stat st;
	if (stat(conf_path, &st) == 0 && st.st_size > 0) {
		int fd = open(conf_path, O_RDONLY | O_CLOEXEC);
		char c = '\n';
		if (fd >= 0) {
			if (pread(fd, &c, 1, st.st_size - 1) != 1)
				c = '\n';
			close(fd);
		}
		if (c != '\n')
			stkdr_buf_put(&b, "\n", 1);
	}
	stkdr__buf_printf(&b, "\n# Added by stkdr restore of snapshot %s at %s (target: %s).\n"
		"# The restored cluster does not archive until an operator makes it the primary: WAL stays in pg_wal.\n"
		"# Then: ALTER SYSTEM RESET archive_command; ALTER SYSTEM RESET archive_library; SELECT pg_reload_conf();\n"
		"archive_command = ''\narchive_library = ''\n", rs->id, now, target_name(rs->o.target));
	if (rs->o.target != STKDR_RESTORE_TARGET_SNAPSHOT) {
		const char *cmd = stkdr__cfg_str(rs->ctx, "restore.wal_command");
		if (!cmd || !*cmd)
			cmd = DEFAULT_WAL_COMMAND;
		stkdr__buf_printf(&b, "%s", "restore_command = ");
		conf_quote(&b, cmd);
		stkdr__buf_printf(&b, "%s", "\nrecovery_target = ''\nrecovery_target_name = ''\nrecovery_target_xid = ''\n");
		if (rs->o.target == STKDR_RESTORE_TARGET_TIME) {
			/* "YYYY-MM-DD HH:MM:SS.mmm+00": the postmaster parses this before timezone abbreviations are
			 * loaded, so an RFC 3339 "Z" would be rejected */
			char t[96];
			time_t secs = (time_t)(rs->o.target_time_ms / 1000);
			struct tm tm;
			gmtime_r(&secs, &tm);
			snprintf(t, sizeof t, "%04d-%02d-%02d %02d:%02d:%02d.%03d+00", tm.tm_year + 1900, tm.tm_mon + 1,
				tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(rs->o.target_time_ms % 1000));
			stkdr__buf_printf(&b, "recovery_target_lsn = ''\nrecovery_target_time = '%s'\n"
				"recovery_target_inclusive = false\n", t);
		} else if (rs->o.target == STKDR_RESTORE_TARGET_LSN) {
			char l[32];
			stkdr__lsn_format(l, sizeof l, rs->target_lsn);
			stkdr__buf_printf(&b, "recovery_target_time = ''\nrecovery_target_lsn = '%s'\n"
				"recovery_target_inclusive = false\n", l);
		} else {
			stkdr__buf_printf(&b, "%s", "recovery_target_time = ''\nrecovery_target_lsn = ''\n");
		}
		stkdr__buf_printf(&b, "%s", "recovery_target_action = 'promote'\nrecovery_target_timeline = 'latest'\n");
	}
	if (rs->o.flags & STKDR_RESTORE_START)
		stkdr__buf_printf(&b, "port = %d\nlisten_addresses = '127.0.0.1'\n", rs->port);
	int rc = b.ptr ? 0 : nomem();
	if (!rc) {
		int fd = open(conf_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			rc = stkdr__seterr_os(errno, "cannot open %s", conf_path);
		else {
			size_t done = 0;
			while (!rc && done < b.size) {
				ssize_t w = write(fd, b.ptr + done, b.size - done);
				if (w < 0 && errno == EINTR)
					continue;
				if (w < 0)
					rc = stkdr__seterr_os(errno, "cannot write %s", conf_path);
				else
					done += (size_t)w;
			}
			close(fd);
		}
	}
	stkdr__free(conf_path);
	stkdr_buf_dispose(&b);
	if (!rc && rs->o.target != STKDR_RESTORE_TARGET_SNAPSHOT) {
		char *sig = stkdr__aprintf("%s/recovery.signal", rs->dir);
		rc = sig ? write_whole(sig, "", 0, 0600) : nomem();
		stkdr__free(sig);
	}
	return rc;
}

/* nftw has no payload: the owner for chown_one lives in thread-local storage. */
static _Thread_local uid_t chown_uid;
static _Thread_local gid_t chown_gid;
static _Thread_local int chown_errno;

static int chown_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (lchown(path, chown_uid, chown_gid) != 0) {
		chown_errno = errno;
		return 1;
	}
	return 0;
}

static int chown_tree(rstate *rs)
{
	if (!rs->do_chown)
		return 0;
	chown_uid = rs->uid;
	chown_gid = rs->gid;
	chown_errno = 0;
	int r = nftw(rs->dir, chown_one, 32, FTW_PHYS);
	if (r == 0) {
		/* a symlinked pg_wal (kept by DELTA) is not descended into above: its contents too */
		char *wal = stkdr__aprintf("%s/pg_wal", rs->dir);
		struct stat st;
		if (!wal)
			return nomem();
		if (lstat(wal, &st) == 0 && S_ISLNK(st.st_mode)) {
			char *walslash = stkdr__aprintf("%s/", wal);
			r = walslash ? nftw(walslash, chown_one, 32, FTW_PHYS) : (errno = ENOMEM, -1);
			stkdr__free(walslash);
		}
		stkdr__free(wal);
	}
	if (r != 0)
		return stkdr__seterr_os(chown_errno ? chown_errno : errno, "cannot give %s to user %s", rs->dir,
			rs->owner_name);
	return 0;
}

/* Everything on the file system of the target is flushed in one call (as PostgreSQL's
 * recovery_init_sync_method = syncfs), instead of an fsync per file. */
static int sync_tree(rstate *rs)
{
	int fd = open(rs->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return stkdr__seterr_os(errno, "cannot open %s", rs->dir);
	int rc = 0;
	if (syncfs(fd) != 0)
		rc = stkdr__seterr_os(errno, "cannot flush %s to disk", rs->dir);
	close(fd);
	return rc;
}

static int write_marker(rstate *rs)
{
	char *path = stkdr__aprintf("%s/%s", rs->dir, MARKER_NAME);
	char now[40];
	stkdr__time_format_rfc3339(now, sizeof now, stkdr__time_now_ms());
	char *text = stkdr__aprintf("stkdr is restoring snapshot %s into this directory (started %s, pid %ld).\n"
		"Until this file is gone the directory is INCOMPLETE: do not start PostgreSQL on it.\n"
		"Restore again (with --delta to reuse what is already here, or --force).\n", rs->id, now, (long)getpid());
	int rc = path && text ? write_whole(path, text, strlen(text), 0600) : nomem();
	if (!rc)
		rc = fsync_path(path, false);
	if (!rc)
		rc = fsync_path(rs->dir, true);
	if (!rc)
		rs->marker_written = true;
	stkdr__free(path);
	stkdr__free(text);
	return rc;
}

/* The last steps: pg_control into place, then the marker goes. */
static int commit_dir(rstate *rs)
{
	char *tmp = stkdr__aprintf("%s/%s", rs->dir, PG_CONTROL_TMP);
	char *real = stkdr__aprintf("%s/%s", rs->dir, PG_CONTROL);
	char *global = stkdr__aprintf("%s/global", rs->dir);
	char *marker = stkdr__aprintf("%s/%s", rs->dir, MARKER_NAME);
	int rc = tmp && real && global && marker ? 0 : nomem();
	if (!rc && rename(tmp, real) != 0)
		rc = stkdr__seterr_os(errno, "cannot rename %s to %s", tmp, real);
	if (!rc)
		rc = fsync_path(global, true);
	if (!rc && unlink(marker) != 0)
		rc = stkdr__seterr_os(errno, "cannot remove %s", marker);
	if (!rc)
		rc = fsync_path(rs->dir, true);
	stkdr__free(tmp);
	stkdr__free(real);
	stkdr__free(global);
	stkdr__free(marker);
	return rc;
}

/* ------------------------------------------------------------------ START */

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The user to connect as: postgres.conninfo's, else "postgres". */
static char *start_conninfo(rstate *rs, bool for_report)
{
	char user[128] = "postgres";
	const char *ci = stkdr__cfg_str(rs->ctx, "postgres.conninfo");
	if (ci) {
		PQconninfoOption *opts = PQconninfoParse(ci, NULL);
		for (PQconninfoOption *o = opts; o && o->keyword; o++)
			if (!strcmp(o->keyword, "user") && o->val && *o->val && strlen(o->val) < sizeof user &&
				strspn(o->val, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == strlen(o->val))
				snprintf(user, sizeof user, "%s", o->val);
		PQconninfoFree(opts);
	}
	return stkdr__aprintf("host=127.0.0.1 port=%d user=%s dbname=postgres%s", rs->port, user,
		for_report ? "" : " connect_timeout=5");
}

static void scan_log_file(rstate *rs, const char *path)
{
	static const char lct[] = "last completed transaction was at log time ";
	FILE *fp = fopen(path, "re");
	if (!fp)
		return;
	char line[2048];
	while (fgets(line, sizeof line, fp)) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		const char *p;
		if ((p = strstr(line, "recovery stopping ")) != NULL)
			snprintf(rs->recovery_stop, sizeof rs->recovery_stop, "%s", p);
		if ((p = strstr(line, "redo done at ")) != NULL)
			sscanf(p + 13, "%31[0-9A-F/]", rs->redo_done);
		if ((p = strstr(line, lct)) != NULL)
			snprintf(rs->last_xact, sizeof rs->last_xact, "%s", p + sizeof lct - 1);
	}
	fclose(fp);
}

static int log_tail(char *out, size_t n, const char *path)
{
	out[0] = '\0';
	FILE *fp = fopen(path, "re");
	if (!fp)
		return 0;
	char buf[1500];
	fseek(fp, 0, SEEK_END);
	long size = ftell(fp);
	long from = size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0;
	fseek(fp, from, SEEK_SET);
	size_t got = fread(buf, 1, sizeof buf - 1, fp);
	buf[got] = '\0';
	fclose(fp);
	for (char *c = buf; *c; c++)
		if (*c == '\n')
			*c = ' ';
	snprintf(out, n, "%s", buf);
	return 0;
}

static int server_died(rstate *rs)
{
	char tail[1600];
	log_tail(tail, sizeof tail, rs->log_file);
	return stkdr__seterr(STKDR_EBACKEND, STKDR_ERRCLASS_POSTGRES, NULL,
		"the restored server on %s stopped during recovery (see %s, which ends with: %s); if recovery ended "
		"before the target, choose an earlier target or make the missing WAL available to restore_command", rs->dir,
		rs->log_file, tail);
}

static int query_text(stkdr__pg *pg, char *out, size_t n, const char *sql)
{
	stkdr_buf b = STKDR_BUF_INIT;
	int is_null = 0;
	int rc = stkdr__pg_query_value(pg, &b, &is_null, sql, 0, NULL);
	if (!rc)
		snprintf(out, n, "%s", b.ptr ? b.ptr : "");
	stkdr_buf_dispose(&b);
	return rc;
}

static int start_server(rstate *rs)
{
	char *marker = stkdr__aprintf("%s/%s", rs->dir, MARKER_NAME);
	if (!marker)
		return nomem();
	int has_marker = access(marker, F_OK) == 0;
	stkdr__free(marker);
	if (has_marker)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
			"%s holds %s: the restore into it did not finish, so it is not started; restore again", rs->dir,
			MARKER_NAME);
	/* Unix-socket paths are limited to 107 bytes: use the data directory if it fits. */
	const char *sock = strlen(rs->dir) + 20 < 100 ? rs->dir : "/tmp";
	int rc = stkdr__pgctl_start(rs->bin_dir, rs->dir, rs->port, sock, rs->log_file, PGCTL_TIMEOUT_MS);
	if (rc && rc != STKDR_ETIMEOUT)
		return rc;
	stkdr_error_clear(); /* pg_ctl gave up waiting; the server may still be recovering: keep watching */
	rs->started = true;
	stkdr__journal(rs->ctx, STKDR_EVENT_ACTION, "restore.server_started", rs->id, 1, NULL);

	char *ci = start_conninfo(rs, false);
	if (!ci)
		return nomem();
	stkdr__pg *pg = NULL;
	bool need_promotion = rs->o.target != STKDR_RESTORE_TARGET_SNAPSHOT;
	int64_t last_log = 0;
	for (;;) {
		long pid = 0;
		int running = server_running(&pid, NULL, rs->dir);
		if (running <= 0) {
			rc = server_died(rs);
			break;
		}
		if (!pg && (rc = stkdr__pg_connect(&pg, ci, 0)) != 0) {
			pg = NULL;
			if (rc == STKDR_EAUTH || rc == STKDR_ENOTFOUND || rc == STKDR_EINVAL) {
				stkdr__err_prefix("the restored server on %s is up, but cannot be checked", rs->dir);
				break;
			}
			stkdr_error_clear(); /* still starting up, or recovering without hot_standby */
			rc = stkdr__emit(rs->ctx, STKDR_EVENT_PROGRESS, "restore.recovery", rs->id, 0, -1, 0, NULL);
			if (rc) {
				stkdr__pgctl_stop(rs->bin_dir, rs->dir, "fast", 60000);
				stkdr_error_set_str(rc, STKDR_ERRCLASS_CALLBACK, NULL, "restore cancelled by the event callback "
					"during recovery: the restored server was stopped");
				break;
			}
			sleep_ms(500);
			continue;
		}
		char v[64];
		if ((rc = query_text(pg, v, sizeof v, "SELECT pg_is_in_recovery()::text")) != 0) {
			stkdr__pg_close(pg);
			pg = NULL;
			stkdr_error_clear();
			rc = 0;
			sleep_ms(500);
			continue;
		}
		if (!need_promotion || strcmp(v, "true") != 0)
			break;
		char paused[16] = "", replay[32] = "";
		query_text(pg, paused, sizeof paused, "SELECT pg_is_wal_replay_paused()::text");
		query_text(pg, replay, sizeof replay, "SELECT coalesce(pg_last_wal_replay_lsn()::text, '')");
		stkdr_error_clear();
		if (!strcmp(paused, "true")) {
			rc = stkdr__seterr(STKDR_EBACKEND, STKDR_ERRCLASS_POSTGRES, NULL,
				"recovery on %s is paused at %s instead of promoting; check the recovery settings in "
				"postgresql.auto.conf, then SELECT pg_wal_replay_resume() or pg_promote()", rs->dir, replay);
			break;
		}
		uint64_t at = 0;
		if (*replay && stkdr__lsn_parse(&at, replay) == 0 && at > rs->start_lsn) {
			int cr = stkdr__emit(rs->ctx, STKDR_EVENT_PROGRESS, "restore.recovery", rs->id,
				(int64_t)(at - rs->start_lsn), -1, 0, NULL);
			if (cr) {
				rc = cr;
				stkdr__pgctl_stop(rs->bin_dir, rs->dir, "fast", 60000);
				stkdr_error_set_str(cr, STKDR_ERRCLASS_CALLBACK, NULL, "restore cancelled by the event callback during "
					"recovery: the restored server was stopped");
				break;
			}
		}
		stkdr_error_clear();
		int64_t now = stkdr__time_mono_ms();
		if (now - last_log > 30000) {
			stkdr__log(rs->ctx, STKDR_LOG_INFO, "restore", "%s: recovery has replayed up to %s", rs->dir,
				*replay ? replay : "?");
			last_log = now;
		}
		sleep_ms(250);
	}
	if (!rc && pg) {
		char tli[16] = "", logf[PATH_MAX] = "";
		rc = query_text(pg, rs->recovered_lsn, sizeof rs->recovered_lsn, "SELECT pg_current_wal_lsn()::text");
		if (!rc)
			rc = query_text(pg, tli, sizeof tli, "SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)");
		if (!rc)
			rs->recovered_tli = (int)strtol(tli, NULL, 16);
		if (!rc && query_text(pg, logf, sizeof logf, "SELECT coalesce(pg_current_logfile(), '')") == 0 && *logf) {
			char *lp = logf[0] == '/' ? stkdr__strdup(logf) : stkdr__aprintf("%s/%s", rs->dir, logf);
			if (lp)
				scan_log_file(rs, lp);
			stkdr__free(lp);
		}
		stkdr_error_clear();
		if (rc)
			stkdr__err_prefix("the restored server on %s is up but cannot be queried", rs->dir);
	}
	scan_log_file(rs, rs->log_file);
	stkdr__pg_close(pg);
	stkdr__free(ci);
	if (!rc)
		stkdr__wal_spool_remove(rs->dir); /* recovery is over: what `stk wal get` fetched ahead is not needed */
	return rc;
}

/* ------------------------------------------------------------------ report */

/*
 * --swap for local-postgres: the Hub finds its database through a DNS TXT record (`dns.record`) and/or
 * a DATABASE_URL file (`restore.swap_file`, e.g. a systemd EnvironmentFile). Managed providers rename
 * instances instead (their own backends).
 */
static int check_swap(rstate *rs)
{
	if (!(rs->o.flags & STKDR_RESTORE_SWAP))
		return 0;
	if (!stkdr__cfg_str(rs->ctx, "dns.record") && !stkdr__cfg_str(rs->ctx, "restore.swap_file"))
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL,
			"--swap needs dns.record (the Hub's DNS name) or restore.swap_file (the Hub's DATABASE_URL file) "
			"in the configuration; nothing was restored");
	if (stkdr__cfg_str(rs->ctx, "dns.record")) {
		stkdr_dns *d;
		return stkdr__ctx_dns(&d, rs->ctx);
	}
	return 0;
}

static int do_swap(rstate *rs)
{
	char user[128] = "postgres", db[128] = "postgres";
	const char *ci = stkdr__cfg_str(rs->ctx, "postgres.conninfo");
	PQconninfoOption *opts = ci ? PQconninfoParse(ci, NULL) : NULL;
	for (PQconninfoOption *o = opts; o && o->keyword; o++) {
		if (!strcmp(o->keyword, "user") && o->val && *o->val)
			snprintf(user, sizeof user, "%s", o->val);
		if (!strcmp(o->keyword, "dbname") && o->val && *o->val)
			snprintf(db, sizeof db, "%s", o->val);
	}
	PQconninfoFree(opts);
	char url[300];
	snprintf(url, sizeof url, "postgresql://%s@127.0.0.1:%d/%s", user, rs->port, db);
	int rc = 0;
	const char *rec = stkdr__cfg_str(rs->ctx, "dns.record");
	if (rec) {
		stkdr_dns *d;
		stkdr_buf change = STKDR_BUF_INIT;
		stkdr_dns_record r = { STKDR_DNS_RECORD_VERSION, rec, "TXT", url, stkdr__cfg_int(rs->ctx, "dns.ttl", 60) };
		rc = stkdr__ctx_dns(&d, rs->ctx);
		if (!rc)
			rc = d->upsert(&change, d, &r);
		if (!rc && d->wait_sync && change.ptr)
			rc = d->wait_sync(d, change.ptr, 120000);
		stkdr_buf_dispose(&change);
		if (rc) {
			stkdr__err_prefix("--swap: the restored cluster runs on port %d, but the DNS record %s was not updated",
				rs->port, rec);
			return rc;
		}
	}
	const char *file = stkdr__cfg_str(rs->ctx, "restore.swap_file");
	if (file) {
		char *tmp = stkdr__aprintf("%s.stkdr-tmp", file);
		char *line = stkdr__aprintf("DATABASE_URL=%s\n", url);
		rc = tmp && line ? write_whole(tmp, line, strlen(line), 0600) : nomem();
		if (!rc && rename(tmp, file) != 0)
			rc = stkdr__seterr_os(errno, "--swap: cannot rename %s to %s", tmp, file);
		if (rc && tmp)
			unlink(tmp);
		stkdr__free(tmp);
		stkdr__free(line);
		if (rc)
			return rc;
	}
	snprintf(rs->swapped, sizeof rs->swapped, "%s%.100s%s%s%.100s -> %s", rec ? "DNS TXT " : "", rec ? rec : "",
		rec && file ? ", " : "", file ? "file " : "", file ? file : "", url);
	stkdr__journal(rs->ctx, STKDR_EVENT_ACTION, "restore.swapped", rs->id, 1, NULL);
	stkdr__log(rs->ctx, STKDR_LOG_INFO, "restore", "swapped: %s", rs->swapped);
	return 0;
}

static char *make_report(rstate *rs, double seconds)
{
	cJSON *j = cJSON_CreateObject();
	if (!j)
		return NULL;
	cJSON_AddStringToObject(j, "snapshot", rs->id);
	cJSON_AddStringToObject(j, "target", target_name(rs->o.target));
	if (rs->swapped[0])
		cJSON_AddStringToObject(j, "swapped", rs->swapped);
	if (rs->o.target == STKDR_RESTORE_TARGET_TIME) {
		char t[40];
		stkdr__time_format_rfc3339(t, sizeof t, rs->o.target_time_ms);
		cJSON_AddStringToObject(j, "target_time", t);
	} else if (rs->o.target == STKDR_RESTORE_TARGET_LSN) {
		char l[32];
		stkdr__lsn_format(l, sizeof l, rs->target_lsn);
		cJSON_AddStringToObject(j, "target_lsn", l);
	}
	cJSON_AddStringToObject(j, "target_dir", rs->dir);
	cJSON_AddStringToObject(j, "snapshot_stop_lsn", jstr(rs->man, "stop_lsn"));
	cJSON_AddStringToObject(j, "snapshot_stop_time", jstr(rs->man, "stop_time"));
	cJSON_AddNumberToObject(j, "files", (double)rs->nfiles);
	cJSON_AddNumberToObject(j, "bytes", (double)rs->total_bytes);
	cJSON_AddNumberToObject(j, "fetched_bytes", (double)rs->fetched_bytes);
	cJSON_AddNumberToObject(j, "reused_files", (double)rs->reused_files);
	cJSON_AddNumberToObject(j, "reused_bytes", (double)rs->reused_bytes);
	cJSON_AddNumberToObject(j, "removed_files", (double)rs->removed);
	cJSON_AddNumberToObject(j, "wal_files", rs->wal_files);
	cJSON_AddNumberToObject(j, "parallel", rs->nworkers);
	cJSON_AddStringToObject(j, "owner", rs->do_chown ? rs->owner_name : "");
	cJSON_AddBoolToObject(j, "recovery_signal", rs->o.target != STKDR_RESTORE_TARGET_SNAPSHOT);
	cJSON_AddBoolToObject(j, "started", rs->started);
	if (rs->started) {
		char *ci = start_conninfo(rs, true);
		cJSON_AddNumberToObject(j, "port", rs->port);
		cJSON_AddStringToObject(j, "conninfo", ci ? ci : "");
		stkdr__free(ci);
		cJSON_AddStringToObject(j, "recovered_lsn", rs->recovered_lsn);
		cJSON_AddNumberToObject(j, "timeline", rs->recovered_tli);
		cJSON_AddStringToObject(j, "recovery_stop", rs->recovery_stop);
		cJSON_AddStringToObject(j, "redo_done_lsn", rs->redo_done);
		cJSON_AddStringToObject(j, "last_transaction_time", rs->last_xact);
		cJSON_AddStringToObject(j, "log_file", rs->log_file);
	}
	if (rs->warning[0])
		cJSON_AddStringToObject(j, "warning", rs->warning);
	cJSON_AddNumberToObject(j, "seconds", seconds);
	char *s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	return s;
}

/* ------------------------------------------------------------------ public API */

int stkdr_restore_options_init(stkdr_restore_options *opts, unsigned int version)
{
	int rc = stkdr__options_init(opts, sizeof *opts, version, STKDR_RESTORE_OPTIONS_VERSION, "stkdr_restore_options");
	if (rc)
		return rc;
	opts->target = STKDR_RESTORE_TARGET_SNAPSHOT;
	return 0;
}

int stkdr_restore(stkdr_buf *report_out, stkdr_ctx *ctx, const stkdr_restore_options *opts)
{
	if (!ctx)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_restore: ctx is NULL");
	stkdr_error_clear();
	if (stkdr__provider_managed(ctx)) /* aws-rds...: a new instance, restore_provider.c */
		return stkdr__ctx_result(ctx, stkdr__restore_provider(report_out, ctx, opts));
	rstate rs;
	memset(&rs, 0, sizeof rs);
	rs.ctx = ctx;
	int64_t t0 = stkdr__time_mono_ms();
	bool journalled = false;
	int rc = check_options(&rs, opts);
	if (!rc)
		rc = stkdr__ctx_objstore(&rs.os, ctx);
	if (!rc && !(rs.snap_prefix = stkdr__repo_key(ctx, "snapshots/")))
		rc = STKDR_ENOMEM;
	/* 1. Everything that can be checked before writing anything. */
	if (!rc)
		rc = resolve_snapshot(&rs);
	if (!rc)
		rc = plan_files(&rs);
	if (!rc)
		rc = check_wal_chain(&rs);
	if (!rc)
		rc = check_target(&rs);
	if (!rc)
		rc = check_swap(&rs);
	if (!rc && (rs.o.flags & STKDR_RESTORE_START)) {
		rs.port = rs.o.port;
		if (!rs.port)
			rc = stkdr__proc_free_port(&rs.port);
		snprintf(rs.log_file, sizeof rs.log_file, "%s/%s", rs.dir, RESTORE_LOG);
	}
	if (rc)
		goto out;

	{
		cJSON *d = cJSON_CreateObject();
		cJSON_AddStringToObject(d, "target_dir", rs.dir);
		cJSON_AddStringToObject(d, "target", target_name(rs.o.target));
		cJSON_AddBoolToObject(d, "delta", (rs.o.flags & STKDR_RESTORE_DELTA) != 0);
		cJSON_AddBoolToObject(d, "force", (rs.o.flags & STKDR_RESTORE_FORCE) != 0);
		char *ds = cJSON_PrintUnformatted(d);
		cJSON_Delete(d);
		stkdr__journal(ctx, STKDR_EVENT_ACTION, "restore.started", rs.id, 1, ds);
		cJSON_free(ds);
		journalled = true;
	}
	stkdr__log(ctx, STKDR_LOG_INFO, "restore", "restoring snapshot %s (%zu files, %" PRId64 " bytes) into %s",
		rs.id, rs.nfiles, rs.total_bytes, rs.dir);

	/* 2. The directory: created, emptied (FORCE), marked incomplete. */
	if (!rs.existed) {
		if ((rc = mkdir_p(rs.dir, 0700)) != 0)
			goto out;
	} else {
		if (rs.nonempty && (rs.o.flags & STKDR_RESTORE_FORCE) && (rc = empty_dir(rs.dir)) != 0)
			goto out;
		struct stat st;
		/* PostgreSQL accepts 0700 or 0750 for its data directory */
		if (stat(rs.dir, &st) == 0 && (st.st_mode & 07777) != 0700 && (st.st_mode & 07777) != 0750 &&
			chmod(rs.dir, 0700) != 0) {
			rc = stkdr__seterr_os(errno, "cannot set the mode of %s to 0700", rs.dir);
			goto out;
		}
	}
	if ((rc = write_marker(&rs)) != 0)
		goto out;
	if (rs.o.flags & STKDR_RESTORE_DELTA) {
		char *real = stkdr__aprintf("%s/%s", rs.dir, PG_CONTROL), *tmp = stkdr__aprintf("%s/%s", rs.dir,
			PG_CONTROL_TMP);
		struct stat st;
		if (!real || !tmp)
			rc = nomem();
		else if (lstat(real, &st) == 0 && rename(real, tmp) != 0)
			rc = stkdr__seterr_os(errno, "cannot rename %s to %s", real, tmp);
		stkdr__free(real);
		stkdr__free(tmp);
		if (!rc)
			rc = delta_clean(&rs, "");
		if (rc)
			goto out;
	}

	/* 3. The data. */
	if ((rc = lay_out(&rs)) != 0 || (rc = copy_data(&rs)) != 0 || (rc = finish_files(&rs)) != 0)
		goto out;
	if ((rc = write_backup_files(&rs)) != 0 || (rc = write_recovery_conf(&rs)) != 0)
		goto out;
	if (rs.o.flags & STKDR_RESTORE_START) {
		char *logdir = stkdr__aprintf("%s/log", rs.dir);
		rc = logdir ? mkdir_p(logdir, 0700) : nomem();
		stkdr__free(logdir);
		if (!rc)
			rc = write_whole(rs.log_file, "", 0, 0600);
		if (rc)
			goto out;
	}
	if ((rc = chown_tree(&rs)) != 0 || (rc = sync_tree(&rs)) != 0 || (rc = commit_dir(&rs)) != 0)
		goto out;
	stkdr__log(ctx, STKDR_LOG_INFO, "restore", "snapshot %s restored into %s: %zu files, %" PRId64 " reused, %"
		PRId64 " bytes fetched", rs.id, rs.dir, rs.nfiles, rs.reused_files, rs.fetched_bytes);

	/* 4. START. */
	if (rs.o.flags & STKDR_RESTORE_START)
		rc = start_server(&rs);
	if (!rc && (rs.o.flags & STKDR_RESTORE_SWAP))
		rc = do_swap(&rs);

out:;
	double seconds = (double)(stkdr__time_mono_ms() - t0) / 1000.0;
	char *report = rs.id[0] ? make_report(&rs, seconds) : NULL;
	if (journalled) {
		stkdr_error saved = *stkdr__err_get();
		char msg[1024], code[64];
		snprintf(msg, sizeof msg, "%s", saved.message);
		snprintf(code, sizeof code, "%s", saved.backend_code);
		cJSON *d = report ? cJSON_Parse(report) : cJSON_CreateObject();
		if (d && rc) {
			cJSON_AddStringToObject(d, "error", msg);
			char *mk = stkdr__aprintf("%s/%s", rs.dir, MARKER_NAME);
			cJSON_AddBoolToObject(d, "incomplete", rs.marker_written && mk && access(mk, F_OK) == 0);
			stkdr__free(mk);
		}
		char *ds = d ? cJSON_PrintUnformatted(d) : NULL;
		cJSON_Delete(d);
		stkdr__journal(ctx, STKDR_EVENT_ACTION, "restore.finished", rs.id, rc == 0, ds);
		cJSON_free(ds);
		if (rc)
			stkdr_error_set_str(saved.code, saved.klass, code, msg);
	}
	if (!rc && report_out) {
		rc = report ? stkdr_buf_set(report_out, report, strlen(report)) : nomem();
	}
	cJSON_free(report);
	rstate_free(&rs);
	return stkdr__ctx_result(ctx, rc);
}

int stkdr_restore_pitr(stkdr_buf *report_out, stkdr_ctx *ctx, const stkdr_restore_options *opts)
{
	if (!ctx || !opts)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_restore_pitr: NULL argument");
	if (opts->target != STKDR_RESTORE_TARGET_TIME && opts->target != STKDR_RESTORE_TARGET_LSN &&
		opts->target != STKDR_RESTORE_TARGET_LATEST) {
		stkdr_error_clear();
		return stkdr__ctx_result(ctx, stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
			"stkdr_restore_pitr: the target must be a time, an LSN or the latest point; restore a snapshot's "
			"consistent point with stkdr_restore()"));
	}
	return stkdr_restore(report_out, ctx, opts);
}
