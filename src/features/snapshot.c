/*
 * Snapshots with the local-postgres provider: a non-exclusive physical backup taken with
 * pg_backup_start()/pg_backup_stop() and parallel reads of the data directory.
 *
 * Why not the replication protocol's BASE_BACKUP: it is one stream from one server process, so it
 * cannot use more than one core for compression and hashing, cannot skip unchanged files (PostgreSQL
 * 15 has no incremental base backup), and verifies page checksums only with a warning. Reading the
 * files ourselves, as pgBackRest does, lets every worker read, verify, hash and compress its own parts
 * of the data directory, and lets an incremental snapshot skip every file whose size and modification
 * time show it unchanged since its parent.
 *
 * Block-level incremental: files are stored as 1 MiB chunks, each an independent compressed member,
 * so a child can reference any chunk of its parent (wherever that one is stored, possibly in a
 * grandparent's bundle). For a changed file a child takes a relation main fork's chunk from the parent
 * without reading its data when its page headers prove it unchanged (hdr_reuse: every page LSN below
 * the parent's start and the headers byte for byte those of the parent's copy; only 24 bytes of each
 * 8 KiB page are read), and otherwise reads and hashes it, storing only chunks whose SHA-256 differs.
 * Restore needs nothing new: parts are laid down by offset from whatever bundle holds them.
 *
 * Consistency is PostgreSQL's own: the backup label, and the
 * WAL from the start to the stop location, which this snapshot archives itself if continuous archiving
 * has not done it already (a temporary replication slot keeps those segments in pg_wal meanwhile).
 *
 * Fixed cost (what an unchanged or 1%-changed database pays, docs/performance.md): the steps that do
 * not depend on each other overlap on helper threads (task_start/task_join): the lease, leftovers,
 * listing and parent manifest while connecting; the data-directory scan while the start is journaled;
 * the file list while the server stops the backup; archiving the backup's WAL and writing
 * backup_manifest while manifest.json is printed. manifest.json is still written last, after all of
 * them succeeded, so the commit point is unchanged.
 *
 * Layout and formats: docs/formats.md.
 */
#include "snapshot.h"
#include "repo.h"
#include "retention.h"
#include "restore_provider.h"
#include "wal.h"
#include "core/checksum.h"
#include "core/pool.h"
#include "core/crypto.h"
#include "core/stream.h"
#include "core/timeutil.h"
#include "services/pg.h"

#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PART_SIZE ((int64_t)16 * 1024 * 1024)  /* unit of work: up to this many bytes of a file per job */
#define CHUNK_SIZE ((int64_t)1024 * 1024)      /* unit of storage and of incremental reuse */
#define HDR_SIZE 24                            /* PageHeaderData */
#define CHUNK_PAGES (CHUNK_SIZE / STKDR__PG_BLCKSZ)
#define BUNDLE_TARGET ((int64_t)64 * 1024 * 1024)
#define LEASE_TTL_MS ((int64_t)6 * 3600 * 1000)

/* ------------------------------------------------------------------ small helpers */

static const char *const kind_names[] = { "manual", "hourly", "daily", "monthly" };

const char *stkdr__snapshot_kind_name(int kind)
{
	return kind >= 0 && kind < 4 ? kind_names[kind] : "manual";
}

int stkdr__snapshot_kind_parse(int *out, const char *name)
{
	for (int i = 0; i < 4; i++)
		if (name && !strcmp(name, kind_names[i])) {
			*out = i;
			return 0;
		}
	return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_FORMAT, NULL,
		"snapshot kind \"%s\" is not one of manual, hourly, daily, monthly", name ? name : "(null)");
}

int stkdr__lsn_parse(uint64_t *out, const char *s)
{
	unsigned int hi, lo;
	char tail;
	if (!s || sscanf(s, "%X/%X%c", &hi, &lo, &tail) != 2)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_FORMAT, NULL,
			"\"%s\" is not an LSN (expected hex \"X/Y\", e.g. 0/3000028)", s ? s : "(null)");
	*out = (uint64_t)hi << 32 | lo;
	return 0;
}

void stkdr__lsn_format(char *out, size_t out_len, uint64_t lsn)
{
	snprintf(out, out_len, "%X/%X", (unsigned int)(lsn >> 32), (unsigned int)lsn);
}

void stkdr__wal_segname(char *out, size_t out_len, uint32_t tli, uint64_t segno, int64_t seg_size)
{
	uint64_t per = 0x100000000ULL / (uint64_t)seg_size;
	snprintf(out, out_len, "%08X%08X%08X", tli, (unsigned int)(segno / per), (unsigned int)(segno % per));
}

int stkdr_snapshot_options_init(stkdr_snapshot_options *opts, unsigned int version)
{
	int rc = stkdr__options_init(opts, sizeof *opts, version, STKDR_SNAPSHOT_OPTIONS_VERSION, "stkdr_snapshot_options");
	if (rc)
		return rc;
	opts->kind = STKDR_SNAPSHOT_MANUAL;
	return 0;
}

/* ------------------------------------------------------------------ reading manifests */

int stkdr__snapshot_ids(char ***out, size_t *n_out, stkdr_ctx *ctx)
{
	char *prefix = stkdr__repo_key(ctx, "snapshots/");
	if (!prefix)
		return STKDR_ENOMEM;
	char **keys;
	size_t n;
	int rc = stkdr__repo_list(&keys, &n, ctx, prefix);
	size_t plen = strlen(prefix);
	stkdr__free(prefix);
	if (rc)
		return rc;
	char **ids = stkdr__calloc(n + 1, sizeof *ids);
	size_t k = 0;
	if (!ids) {
		stkdr__strv_free(keys);
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		const char *rel = keys[i] + plen;
		const char *slash = strchr(rel, '/');
		if (slash && !strcmp(slash, "/manifest.json"))
			ids[k++] = stkdr__strndup(rel, (size_t)(slash - rel));
	}
	stkdr__strv_free(keys);
	*out = ids;
	if (n_out)
		*n_out = k;
	return 0;
}

int stkdr__snapshot_load(cJSON **out, char *id_out, stkdr_ctx *ctx, const char *id)
{
	char resolved[128];
	*out = NULL;
	if (!id || !*id)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "no snapshot id given");
	if (!strcmp(id, "latest")) {
		char **ids;
		size_t n;
		int rc = stkdr__snapshot_ids(&ids, &n, ctx);
		if (rc)
			return rc;
		if (n == 0) {
			stkdr__strv_free(ids);
			return stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_LOCAL, NULL,
				"there is no snapshot yet in the repository (%s): take one with `stk snapshot create`",
				stkdr__repo_prefix(ctx));
		}
		snprintf(resolved, sizeof resolved, "%s", ids[n - 1]);
		stkdr__strv_free(ids);
	} else {
		if (strchr(id, '/') || strlen(id) > 100)
			return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_FORMAT, NULL, "\"%s\" is not a snapshot id", id);
		snprintf(resolved, sizeof resolved, "%s", id);
	}
	char rel[192];
	snprintf(rel, sizeof rel, "snapshots/%s/manifest.json", resolved);
	char *key = stkdr__repo_key(ctx, rel);
	if (!key)
		return STKDR_ENOMEM;
	stkdr_buf b = STKDR_BUF_INIT;
	int rc = stkdr__repo_get(&b, ctx, key);
	if (rc == STKDR_ENOTFOUND)
		rc = stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_LOCAL, NULL,
			"snapshot %s does not exist (see `stk snapshot list`)", resolved);
	else if (rc)
		stkdr__err_prefix("reading the manifest of snapshot %s", resolved);
	stkdr__free(key);
	if (rc) {
		stkdr_buf_dispose(&b);
		return rc;
	}
	cJSON *j = cJSON_ParseWithLength(b.ptr, b.size);
	stkdr_buf_dispose(&b);
	if (!j || !cJSON_IsObject(j))
		rc = stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL,
			"the manifest of snapshot %s is not valid JSON", resolved);
	else {
		const cJSON *f = cJSON_GetObjectItemCaseSensitive(j, "format");
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "format_version");
		if (!cJSON_IsString(f) || strcmp(f->valuestring, STKDR__SNAP_FORMAT))
			rc = stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL,
				"the manifest of snapshot %s is not a stkdr snapshot manifest", resolved);
		else if (!cJSON_IsNumber(v) || v->valueint < 1 || v->valueint > STKDR__SNAP_FORMAT_VERSION)
			rc = stkdr__seterr(STKDR_EVERSION, STKDR_ERRCLASS_FORMAT, NULL,
				"snapshot %s has manifest format version %d; this libstkdr %s reads versions 1 to %d", resolved,
				cJSON_IsNumber(v) ? v->valueint : -1, STKDR_VERSION_STRING, STKDR__SNAP_FORMAT_VERSION);
	}
	if (rc) {
		cJSON_Delete(j);
		return rc;
	}
	if (id_out)
		snprintf(id_out, 64, "%.63s", resolved);
	*out = j;
	return 0;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : "";
}

static int64_t jint(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

static int jbool(const cJSON *o, const char *k)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, k));
}

/* ------------------------------------------------------------------ the file list */

/* A chunk of a file (CHUNK_SIZE bytes, the last one shorter): one compressed member of a bundle, of
 * this snapshot or, referenced, of an older one. */
typedef struct part {
	int64_t off, len;     /* raw slice of the file */
	uint8_t sha[32];
	uint32_t crc;
	uint8_t hdr[32];      /* SHA-256 of the chunk's page headers (relation main forks) */
	int has_hdr;
	char *bundle;         /* relative to P/snapshots/ */
	int64_t boff, clen;   /* member in the bundle */
	int done;
	int skipped;          /* taken from the parent by its page headers, without reading the data */
} part;

typedef struct sfile {
	char *path;
	int64_t size;         /* as scanned; may end up shorter (truncated during the backup) */
	int64_t mtime_ns;
	uint32_t mode;
	int checksummed;
	uint32_t segno;
	size_t nparts;
	part *parts;
	const cJSON *parent;  /* parent's entry, or NULL */
	int relmain;          /* main fork of a relation: pages with LSNs (headers compared, see hdr_reuse) */
	size_t npparts;       /* the parent's parts of this file, and their offsets in it */
	const cJSON **pparts;
	int64_t *ppoff;
	int reused;           /* whole entry taken from the parent */
	int vanished;         /* deleted during the backup */
	int64_t final_size;
} sfile;

typedef struct sdir {
	char *path;
	uint32_t mode;
} sdir;

typedef struct scan {
	sfile *files;
	size_t nfiles, capfiles;
	sdir *dirs;
	size_t ndirs, capdirs;
} scan;

static void scan_free(scan *s)
{
	for (size_t i = 0; i < s->nfiles; i++) {
		for (size_t p = 0; p < s->files[i].nparts; p++)
			stkdr__free(s->files[i].parts[p].bundle);
		stkdr__free(s->files[i].parts);
		stkdr__free(s->files[i].pparts);
		stkdr__free(s->files[i].ppoff);
		stkdr__free(s->files[i].path);
	}
	stkdr__free(s->files);
	for (size_t i = 0; i < s->ndirs; i++)
		stkdr__free(s->dirs[i].path);
	stkdr__free(s->dirs);
}

/* Directories whose contents are not backed up (the directory itself is). */
static const char *const skip_contents[] = { "pg_wal", "pg_replslot", "pg_dynshmem", "pg_notify", "pg_serial",
	"pg_snapshots", "pg_stat_tmp", "pg_subtrans" };
static const char *const skip_files[] = { "postmaster.pid", "postmaster.opts", "pg_internal.init", "backup_label",
	"backup_label.old", "tablespace_map", "tablespace_map.old", "backup_manifest", "recovery.signal",
	"standby.signal", "current_logfiles.tmp" };

static int add_dir(scan *s, const char *rel, uint32_t mode)
{
	if (s->ndirs == s->capdirs) {
		size_t nc = s->capdirs ? s->capdirs * 2 : 64;
		sdir *nd = stkdr__realloc(s->dirs, nc * sizeof *nd);
		if (!nd)
			return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
		s->dirs = nd;
		s->capdirs = nc;
	}
	s->dirs[s->ndirs].path = stkdr__strdup(rel);
	s->dirs[s->ndirs].mode = mode & 07777;
	if (!s->dirs[s->ndirs].path)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	s->ndirs++;
	return 0;
}

static int add_file(scan *s, const char *rel, const struct stat *st)
{
	if (s->nfiles == s->capfiles) {
		size_t nc = s->capfiles ? s->capfiles * 2 : 1024;
		sfile *nf = stkdr__realloc(s->files, nc * sizeof *nf);
		if (!nf)
			return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
		s->files = nf;
		s->capfiles = nc;
	}
	sfile *f = &s->files[s->nfiles];
	memset(f, 0, sizeof *f);
	f->path = stkdr__strdup(rel);
	if (!f->path)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	f->size = st->st_size;
	f->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
	f->mode = st->st_mode & 07777;
	f->checksummed = stkdr__pg_is_checksummed(rel, &f->segno);
	if (f->checksummed) {
		const char *base = strrchr(rel, '/');
		f->relmain = !strchr(base ? base + 1 : rel, '_'); /* not _fsm, _vm (not WAL-logged alike), _init */
	}
	s->nfiles++;
	return 0;
}

static int scan_dir(scan *s, const char *root, const char *rel)
{
	char *full = *rel ? stkdr__aprintf("%s/%s", root, rel) : stkdr__strdup(root);
	if (!full)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	DIR *d = opendir(full);
	if (!d) {
		int e = errno;
		int rc = e == ENOENT && *rel ? 0 /* removed during the backup */
					     : stkdr__seterr_os(e, "cannot read directory %s", full);
		stkdr__free(full);
		return rc;
	}
	int rc = 0;
	struct dirent *de;
	bool skip = false;
	for (size_t i = 0; i < STKDR__ARRAY_SIZE(skip_contents); i++)
		if (!strcmp(rel, skip_contents[i]))
			skip = true;
	while (!skip && (de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		if (!strcmp(n, ".") || !strcmp(n, ".."))
			continue;
		bool skipf = !strncmp(n, "pgsql_tmp", 9);
		for (size_t i = 0; i < STKDR__ARRAY_SIZE(skip_files); i++)
			if (!strcmp(n, skip_files[i]))
				skipf = true;
		if (skipf)
			continue;
		char *crel = *rel ? stkdr__aprintf("%s/%s", rel, n) : stkdr__strdup(n);
		char *cfull = stkdr__aprintf("%s/%s", full, n);
		if (!crel || !cfull) {
			stkdr__free(crel);
			stkdr__free(cfull);
			rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
			break;
		}
		struct stat st;
		if (lstat(cfull, &st) != 0) {
			if (errno != ENOENT)
				rc = stkdr__seterr_os(errno, "cannot stat %s", cfull);
		} else if (S_ISLNK(st.st_mode)) {
			if (!strncmp(crel, "pg_tblspc/", 10))
				rc = stkdr__seterr(STKDR_ENOTSUPPORTED, STKDR_ERRCLASS_LOCAL, NULL,
					"the cluster uses a tablespace (%s): snapshots of clusters with tablespaces are not "
					"supported yet; move its tables to pg_default", crel);
			else if (!strcmp(crel, "pg_wal"))
				rc = add_dir(s, crel, 0700); /* a symlinked pg_wal is restored as a directory */
			else
				rc = stkdr__seterr(STKDR_ENOTSUPPORTED, STKDR_ERRCLASS_LOCAL, NULL,
					"%s is a symbolic link: only pg_wal may be one in a data directory", cfull);
		} else if (S_ISDIR(st.st_mode)) {
			rc = add_dir(s, crel, st.st_mode);
			if (!rc)
				rc = scan_dir(s, root, crel);
		} else if (S_ISREG(st.st_mode)) {
			rc = add_file(s, crel, &st);
		}
		stkdr__free(crel);
		stkdr__free(cfull);
		if (rc)
			break;
	}
	closedir(d);
	stkdr__free(full);
	return rc;
}

static int cmp_path(const void *a, const void *b)
{
	return strcmp(((const sfile *)a)->path, ((const sfile *)b)->path);
}

/* ------------------------------------------------------------------ parallel copy */

typedef struct job {
	size_t file;
	size_t part;          /* first chunk */
	size_t nparts;        /* consecutive chunks, at most PART_SIZE bytes */
	int64_t len;
} job;

typedef struct shared {
	stkdr_ctx *ctx;
	stkdr_objstore *os;
	const char *data_dir;
	const char *snap_id;
	char *bundle_prefix;  /* key of P/snapshots/ */
	stkdr__compress comp;
	int level;
	uint64_t start_lsn;
	uint64_t parent_start_lsn; /* pages below it whose headers match the parent's are not read */
	int hdr_trust;
	int verify_pages;
	scan *sc;
	job *jobs;
	size_t njobs;
	stkdr__pool pool; /* its lock guards the fields below */
	size_t next_job;
	int next_bundle;
	int64_t stored_bytes;
	int64_t read_bytes;
	int64_t skipped_bytes;
	int64_t referenced_bytes;
	int nbundles;
	cJSON *page_errors;
} shared;

/* Counts bytes going into the current bundle writer. */
typedef struct bsink {
	stkdr__sink base;
	stkdr_objwriter *w;
	int64_t written;
} bsink;

static int bs_write(stkdr__sink *s, const uint8_t *d, size_t n)
{
	bsink *b = (bsink *)s;
	int rc = b->w->write(b->w, d, n);
	if (!rc)
		b->written += (int64_t)n;
	return rc;
}
static int bs_finish(stkdr__sink *s)
{
	(void)s;
	return 0;
}
static void bs_destroy(stkdr__sink *s)
{
	(void)s;
}

typedef struct worker {
	shared *sh;
	uint8_t *buf;
	uint8_t *pagebuf;
	uint8_t *hdrbuf;      /* page headers of one chunk */
	bsink bs;
	char *bundle;         /* current bundle, relative to P/snapshots/ */
	cJSON *page_errors;
	struct timespec end;  /* when it ran out of work (debug log: balance) */
} worker;

static int bundle_close(worker *w)
{
	if (!w->bs.w)
		return 0;
	int rc = w->bs.w->commit(w->bs.w, NULL);
	w->bs.w = NULL;
	if (rc)
		stkdr__err_prefix("committing bundle %s", w->bundle);
	return rc;
}

static int bundle_open(worker *w)
{
	shared *sh = w->sh;
	pthread_mutex_lock(&sh->pool.lock);
	int n = ++sh->next_bundle;
	sh->nbundles++;
	pthread_mutex_unlock(&sh->pool.lock);
	stkdr__free(w->bundle);
	w->bundle = stkdr__aprintf("%s/b/%06d%s", sh->snap_id, n, stkdr__compress_suffix(sh->comp));
	char *key = w->bundle ? stkdr__aprintf("%s%s", sh->bundle_prefix, w->bundle) : NULL;
	if (!key)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	stkdr_put_options po = STKDR_PUT_OPTIONS_INIT;
	po.flags = STKDR_PUT_CREATE_ONLY;
	int rc = sh->os->open_write(&w->bs.w, sh->os, key, &po);
	stkdr__free(key);
	w->bs.written = 0;
	return rc;
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

static void check_pages(worker *w, sfile *f, int fd, int64_t off, uint8_t *data, int64_t len)
{
	shared *sh = w->sh;
	for (int64_t p = 0; p + STKDR__PG_BLCKSZ <= len; p += STKDR__PG_BLCKSZ) {
		uint8_t *page = data + p;
		if (stkdr__pg_page_is_new(page) || stkdr__pg_page_lsn(page) >= sh->start_lsn)
			continue; /* new, or changed since the backup started: WAL replay rewrites it */
		uint32_t blk = (uint32_t)((off + p) / STKDR__PG_BLCKSZ) + f->segno * STKDR__PG_RELSEG_BLOCKS;
		uint16_t want = stkdr__pg_page_checksum(page, blk);
		if (want == stkdr__pg_page_stored_checksum(page))
			continue;
		/* Maybe torn by a concurrent write: read the page again before calling it corrupt. */
		if (pread_full(fd, w->pagebuf, STKDR__PG_BLCKSZ, off + p) == STKDR__PG_BLCKSZ) {
			if (stkdr__pg_page_lsn(w->pagebuf) >= sh->start_lsn)
				continue;
			if (stkdr__pg_page_checksum(w->pagebuf, blk) == stkdr__pg_page_stored_checksum(w->pagebuf))
				continue;
		}
		if (!w->page_errors)
			w->page_errors = cJSON_CreateArray();
		cJSON *e = cJSON_CreateObject();
		if (!e || !w->page_errors)
			continue;
		cJSON_AddStringToObject(e, "path", f->path);
		cJSON_AddNumberToObject(e, "block", blk);
		cJSON_AddNumberToObject(e, "expected", want);
		cJSON_AddNumberToObject(e, "found", stkdr__pg_page_stored_checksum(page));
		cJSON_AddItemToArray(w->page_errors, e);
	}
}

/* The parent's part that covers exactly [off, off + len) of the file (and has data), or NULL. */
static const cJSON *parent_part(const sfile *f, int64_t off, int64_t len)
{
	size_t lo = 0, hi = f->npparts;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (f->ppoff[mid] < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < f->npparts && f->ppoff[lo] == off && jint(f->pparts[lo], "len") == len && *jstr(f->pparts[lo], "bundle"))
		return f->pparts[lo];
	return NULL;
}

/* Points chunk p at the member of the parent's part pp (a reference, possibly into an older bundle). */
static int ref_parent(part *p, const cJSON *pp)
{
	p->bundle = stkdr__strdup(jstr(pp, "bundle"));
	p->boff = jint(pp, "off");
	p->clen = jint(pp, "clen");
	if (!p->bundle)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	return 0;
}

/* SHA-256 of the page headers of a chunk of a relation main fork (whole pages only). */
static int chunk_hdr_digest(worker *w, const uint8_t *data, int64_t len, uint8_t out[32])
{
	if (len <= 0 || len % STKDR__PG_BLCKSZ)
		return 0;
	int64_t n = len / STKDR__PG_BLCKSZ;
	for (int64_t i = 0; i < n; i++)
		memcpy(w->hdrbuf + i * HDR_SIZE, data + i * STKDR__PG_BLCKSZ, HDR_SIZE);
	stkdr__sha256(w->hdrbuf, (size_t)(n * HDR_SIZE), out);
	return 1;
}

/*
 * Block-level incremental without reading the data (docs/formats.md, "Block-level incremental"): chunk p
 * of a relation main fork is taken from the parent's part pp if every page header can be read, no page
 * is new (all-zero), every page LSN is below the parent's start LSN, and the 24-byte headers of all its
 * pages are byte for byte those of the parent's stored copy (pp's "hdr" digest). Every WAL-logged change
 * moves a page's LSN past the parent's start; hint-bit changes do too when data checksums or
 * wal_log_hints are on (the first one after a checkpoint writes a full-page image), and when they are
 * off a page whose only change is hint bits is equally valid with the old ones. Comparing the whole
 * header (LSN, checksum, flags, free-space pointers) and not only "LSN < start" also catches a file
 * replaced by another with older LSNs (a database created by FILE_COPY) and a page whose PD_ALL_VISIBLE
 * flag changed without a new LSN. A page being written while we read (a torn read) was dirtied after
 * our own start, so the WAL we archive holds its full-page image and replay rewrites it.
 */
static int hdr_reuse(worker *w, int fd, const part *p, const cJSON *pp)
{
	shared *sh = w->sh;
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(pp, "hdr");
	uint8_t want[32], got[32];
	if (!cJSON_IsString(h) || strlen(h->valuestring) != 64 || p->len <= 0 || p->len % STKDR__PG_BLCKSZ)
		return 0;
	if (stkdr__hex_decode(want, 32, h->valuestring) != 0) {
		stkdr_error_clear();
		return 0;
	}
	int64_t n = p->len / STKDR__PG_BLCKSZ;
	for (int64_t i = 0; i < n; i++) {
		uint8_t *hd = w->hdrbuf + i * HDR_SIZE;
		if (pread_full(fd, hd, HDR_SIZE, p->off + i * STKDR__PG_BLCKSZ) != HDR_SIZE)
			return 0;
		if (stkdr__pg_page_is_new(hd) || stkdr__pg_page_lsn(hd) >= sh->parent_start_lsn)
			return 0;
	}
	stkdr__sha256(w->hdrbuf, (size_t)(n * HDR_SIZE), got);
	return !memcmp(want, got, 32);
}

/* Compresses w->buf (chunk p) into the worker's current bundle as a member of its own. */
static int store_chunk(worker *w, part *p)
{
	shared *sh = w->sh;
	int rc = 0;
	if (!w->bs.w && (rc = bundle_open(w)) != 0)
		return rc;
	int64_t before = w->bs.written;
	stkdr__sink *cs = NULL;
	rc = stkdr__sink_compress_new(&cs, &w->bs.base, STKDR__SINK_BORROW, sh->comp, sh->level);
	if (!rc)
		rc = stkdr__sink_write(cs, w->buf, (size_t)p->len);
	if (!rc)
		rc = stkdr__sink_finish(cs);
	stkdr__sink_destroy(cs);
	if (rc)
		return rc;
	p->bundle = stkdr__strdup(w->bundle);
	p->boff = before;
	p->clen = w->bs.written - before;
	if (!p->bundle)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	pthread_mutex_lock(&sh->pool.lock);
	sh->stored_bytes += p->clen;
	pthread_mutex_unlock(&sh->pool.lock);
	if (w->bs.written >= BUNDLE_TARGET)
		rc = bundle_close(w);
	return rc;
}

static int do_chunk(worker *w, sfile *f, int fd, const char *full, part *p)
{
	shared *sh = w->sh;
	int rc = 0;
	int64_t planned = p->len;
	const cJSON *pp = f->npparts ? parent_part(f, p->off, p->len) : NULL;
	if (pp && sh->hdr_trust && f->relmain && hdr_reuse(w, fd, p, pp)) {
		char hex[65];
		snprintf(hex, sizeof hex, "%s", jstr(pp, "sha256"));
		if (stkdr__hex_decode(p->sha, 32, hex) != 0 || stkdr__hex_decode(p->hdr, 32, jstr(pp, "hdr")) != 0)
			return stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL,
				"the parent's manifest has an invalid part at offset %" PRId64 " of %s", p->off, f->path);
		p->has_hdr = 1;
		p->crc = (uint32_t)jint(pp, "crc32c");
		p->skipped = 1;
		if ((rc = ref_parent(p, pp)) != 0)
			return rc;
		p->done = 1;
		pthread_mutex_lock(&sh->pool.lock);
		sh->pool.done += p->len;
		sh->skipped_bytes += p->len;
		sh->referenced_bytes += p->len;
		pthread_mutex_unlock(&sh->pool.lock);
		return 0;
	}
	ssize_t got = pread_full(fd, w->buf, (size_t)p->len, p->off);
	if (got < 0)
		return stkdr__seterr_os(errno, "cannot read %s at offset %" PRId64, full, p->off);
	p->len = got; /* shorter if truncated during the backup; WAL replay restores the truth */
	if (got > 0) {
		if (sh->verify_pages && f->checksummed)
			check_pages(w, f, fd, p->off, w->buf, p->len);
		stkdr__sha256(w->buf, (size_t)p->len, p->sha);
		p->crc = stkdr__crc32c(0, w->buf, (size_t)p->len);
		if (f->relmain)
			p->has_hdr = chunk_hdr_digest(w, w->buf, p->len, p->hdr);
		if (got != planned)
			pp = f->npparts ? parent_part(f, p->off, p->len) : NULL;
		char hex[65];
		stkdr__hex_encode(hex, p->sha, 32);
		if (pp && !strcmp(jstr(pp, "sha256"), hex)) {
			rc = ref_parent(p, pp);
			pthread_mutex_lock(&sh->pool.lock);
			sh->referenced_bytes += p->len;
			pthread_mutex_unlock(&sh->pool.lock);
		} else {
			rc = store_chunk(w, p);
		}
	}
	p->done = 1;
	pthread_mutex_lock(&sh->pool.lock);
	sh->pool.done += planned;
	sh->read_bytes += p->len;
	pthread_mutex_unlock(&sh->pool.lock);
	return rc;
}

static int do_job(worker *w, const job *j)
{
	shared *sh = w->sh;
	sfile *f = &sh->sc->files[j->file];
	char *full = stkdr__aprintf("%s/%s", sh->data_dir, f->path);
	if (!full)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	/* O_NOATIME (allowed to the files' owner, which the snapshot runs as): no atime bookkeeping on each
	 * of a changed file's page-header reads (about 13% of their cost here). */
	int fd = open(full, O_RDONLY | O_CLOEXEC | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = open(full, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		int rc = 0;
		if (e == ENOENT) { /* dropped during the backup: WAL replay removes it */
			f->vanished = 1;
			for (size_t k = j->part; k < j->part + j->nparts; k++) {
				f->parts[k].len = 0;
				f->parts[k].done = 1;
			}
		} else {
			rc = stkdr__seterr_os(e, "cannot open %s", full);
		}
		stkdr__free(full);
		return rc;
	}
	/* Header reads (hdr_reuse) touch every other 4 KiB page at an 8 KiB stride, which the kernel's
	 * readahead does not take for sequential: from a cold page cache each would be an I/O of its own.
	 * Ask for the job's range up front (a no-op for pages already cached). */
	if (sh->hdr_trust && f->relmain && j->nparts)
		(void)posix_fadvise(fd, (off_t)f->parts[j->part].off, (off_t)j->len, POSIX_FADV_WILLNEED);
	int rc = 0;
	for (size_t k = j->part; k < j->part + j->nparts && !rc; k++)
		rc = do_chunk(w, f, fd, full, &f->parts[k]);
	close(fd);
	stkdr__free(full);
	return rc;
}

static void *worker_main(void *arg)
{
	worker *w = arg;
	shared *sh = w->sh;
	int rc = 0;
	for (;;) {
		pthread_mutex_lock(&sh->pool.lock);
		if (stkdr__pool_stopping_locked(&sh->pool) || sh->next_job >= sh->njobs) {
			pthread_mutex_unlock(&sh->pool.lock);
			break;
		}
		job j = sh->jobs[sh->next_job++];
		pthread_mutex_unlock(&sh->pool.lock);
		if ((rc = do_job(w, &j)) != 0) {
			stkdr__err_prefix("snapshot %s, file %s", sh->snap_id, sh->sc->files[j.file].path);
			break;
		}
	}
	pthread_mutex_lock(&sh->pool.lock);
	int stopping = stkdr__pool_stopping_locked(&sh->pool);
	pthread_mutex_unlock(&sh->pool.lock);
	if (!rc && !stopping)
		rc = bundle_close(w);
	if (w->bs.w) {
		w->bs.w->abort(w->bs.w);
		w->bs.w = NULL;
	}
	if (rc)
		stkdr__pool_fail(&sh->pool, rc);
	clock_gettime(CLOCK_MONOTONIC, &w->end);
	pthread_mutex_lock(&sh->pool.lock);
	if (w->page_errors) {
		cJSON *e;
		while ((e = cJSON_DetachItemFromArray(w->page_errors, 0)) != NULL)
			cJSON_AddItemToArray(sh->page_errors, e);
		cJSON_Delete(w->page_errors);
		w->page_errors = NULL;
	}
	pthread_mutex_unlock(&sh->pool.lock);
	return NULL;
}

static int cmp_job_size(const void *a, const void *b, void *arg)
{
	const scan *sc = arg;
	const job *x = a, *y = b;
	(void)sc;
	int64_t lx = x->len, ly = y->len;
	if (lx != ly)
		return lx > ly ? -1 : 1;
	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	return x->part < y->part ? -1 : (x->part > y->part);
}

static int run_workers(shared *sh, int nworkers, int64_t total_bytes)
{
	worker *ws = stkdr__calloc((size_t)nworkers, sizeof *ws);
	if (!ws)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	int rc = 0;
	for (int i = 0; i < nworkers && !rc; i++) {
		ws[i].sh = sh;
		ws[i].bs.base.write = bs_write;
		ws[i].bs.base.finish = bs_finish;
		ws[i].bs.base.destroy = bs_destroy;
		ws[i].buf = stkdr__malloc((size_t)CHUNK_SIZE);
		ws[i].pagebuf = stkdr__malloc(STKDR__PG_BLCKSZ);
		ws[i].hdrbuf = stkdr__malloc((size_t)(CHUNK_PAGES * HDR_SIZE));
		if (!ws[i].buf || !ws[i].pagebuf || !ws[i].hdrbuf)
			rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory for read buffers");
	}
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!rc)
		rc = stkdr__pool_run(&sh->pool, sh->ctx, nworkers, worker_main, ws, sizeof *ws, "snapshot.progress",
			sh->snap_id, total_bytes);
	if (!rc) {
		char ends[256];
		size_t len = 0;
		for (int i = 0; i < nworkers && len < sizeof ends; i++)
			len += (size_t)snprintf(ends + len, sizeof ends - len, " %.1f",
				(double)(ws[i].end.tv_sec - t0.tv_sec) * 1e3 + (double)(ws[i].end.tv_nsec - t0.tv_nsec) / 1e6);
		stkdr__log(sh->ctx, STKDR_LOG_DEBUG, "snapshot", "snapshot %s: workers done after (ms):%s", sh->snap_id, ends);
	}
	for (int i = 0; i < nworkers; i++) {
		stkdr__free(ws[i].buf);
		stkdr__free(ws[i].pagebuf);
		stkdr__free(ws[i].hdrbuf);
		stkdr__free(ws[i].bundle);
		cJSON_Delete(ws[i].page_errors);
	}
	stkdr__free(ws);
	return rc;
}

/* ------------------------------------------------------------------ PostgreSQL's backup_manifest */

/* JSON written straight into a buffer (backup_manifest here, manifest.json's file list below); rc keeps
 * the first allocation failure. */
typedef struct jbuf {
	stkdr_buf b;
	int rc;
} jbuf;

static void jb_put(jbuf *j, const char *s, size_t n)
{
	if (j->rc)
		return;
	if (j->b.size + n + 1 > j->b.reserved && (j->rc = stkdr_buf_grow(&j->b, j->b.size + n)) != 0)
		return;
	memcpy(j->b.ptr + j->b.size, s, n);
	j->b.size += n;
	j->b.ptr[j->b.size] = '\0';
}

#define JB_LIT(j, lit) jb_put((j), (lit), sizeof(lit) - 1)

static void jb_str(jbuf *j, const char *s)
{
	static const char hexd[] = "0123456789abcdef";
	jb_put(j, "\"", 1);
	const char *run = s;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p != '"' && *p != '\\' && *p >= 0x20)
			continue;
		jb_put(j, run, (size_t)((const char *)p - run));
		char esc[7] = { '\\', (char)*p, 0 };
		size_t n = 2;
		switch (*p) {
		case '"': case '\\': break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hexd[*p >> 4];
			esc[5] = hexd[*p & 15];
			n = 6;
		}
		jb_put(j, esc, n);
		run = (const char *)p + 1;
	}
	jb_put(j, run, strlen(run));
	jb_put(j, "\"", 1);
}

static void json_str(stkdr_buf *b, const char *s)
{
	jbuf j = { *b, 0 };
	jb_str(&j, s);
	*b = j.b;
}

static void manifest_file(stkdr_buf *b, int *first, const char *path, int64_t size, int64_t mtime_s, uint32_t crc)
{
	char when[40];
	time_t t = (time_t)mtime_s;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S GMT", &tm);
	/* PostgreSQL hex-encodes the CRC's bytes as they lie in memory (little-endian). */
	uint8_t c[4] = { (uint8_t)crc, (uint8_t)(crc >> 8), (uint8_t)(crc >> 16), (uint8_t)(crc >> 24) };
	stkdr__buf_printf(b, "%s{ \"Path\": ", *first ? "" : ",\n");
	json_str(b, path);
	stkdr__buf_printf(b, ", \"Size\": %" PRId64 ", \"Last-Modified\": \"%s\", \"Checksum-Algorithm\": \"CRC32C\", "
			     "\"Checksum\": \"%02x%02x%02x%02x\" }",
		size, when, c[0], c[1], c[2], c[3]);
	*first = 0;
}

/* ------------------------------------------------------------------ create */

typedef struct pginfo {
	char start_lsn[32], stop_lsn[32];
	uint64_t start, stop;
	int timeline;
	char sysid[32];
	int version;
	int checksums;
	int64_t seg_size;
	char *label, *spcmap;
	int archiving;
} pginfo;

static void log_notice(const char *message, void *payload)
{
	stkdr__log(payload, STKDR_LOG_INFO, "postgres", "%s", message);
}

static int query1(stkdr__pg *pg, stkdr_buf *out, const char *sql)
{
	int is_null = 0;
	return stkdr__pg_query_value(pg, out, &is_null, sql, 0, NULL);
}

static int check_data_dir(stkdr__pg *pg, const char *data_dir)
{
	stkdr_buf b = STKDR_BUF_INIT;
	int rc = query1(pg, &b, "SELECT current_setting('data_directory')");
	if (rc) {
		stkdr_buf_dispose(&b);
		return rc;
	}
	char r1[PATH_MAX], r2[PATH_MAX];
	if (!realpath(data_dir, r1)) {
		rc = stkdr__seterr_os(errno, "postgres.data_dir %s", data_dir);
	} else if (!realpath(b.ptr, r2) || strcmp(r1, r2)) {
		rc = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL,
			"postgres.data_dir is %s but the server at %s serves %s: the configuration points at two different "
			"clusters", data_dir, stkdr__pg_describe(pg), b.ptr);
	}
	stkdr_buf_dispose(&b);
	return rc;
}

static int pg_prepare(stkdr__pg *pg, pginfo *pi, const char *data_dir)
{
	stkdr_buf b = STKDR_BUF_INIT;
	int rc = query1(pg, &b, "SELECT pg_is_in_recovery()::text");
	if (!rc && !strcmp(b.ptr, "true"))
		rc = stkdr__seterr(STKDR_EBACKEND, STKDR_ERRCLASS_POSTGRES, NULL,
			"the server at %s is a standby: take snapshots on the primary", stkdr__pg_describe(pg));
	if (!rc)
		rc = check_data_dir(pg, data_dir);
	if (!rc && !(rc = query1(pg, &b, "SELECT current_setting('data_checksums')")))
		pi->checksums = !strcmp(b.ptr, "on");
	if (!rc && !(rc = query1(pg, &b, "SELECT system_identifier::text FROM pg_control_system()")))
		snprintf(pi->sysid, sizeof pi->sysid, "%s", b.ptr);
	if (!rc && !(rc = query1(pg, &b, "SELECT pg_size_bytes(current_setting('wal_segment_size'))::text")))
		pi->seg_size = strtoll(b.ptr, NULL, 10);
	if (!rc && !(rc = query1(pg, &b,
			     "SELECT (current_setting('archive_mode') <> 'off' AND "
			     "current_setting('archive_command') <> '')::text")))
		pi->archiving = !strcmp(b.ptr, "true");
	pi->version = stkdr__pg_server_version(pg);
	if (!rc && pi->version / 10000 != 15)
		rc = stkdr__seterr(STKDR_ENOTSUPPORTED, STKDR_ERRCLASS_POSTGRES, NULL,
			"the server at %s is PostgreSQL %d; this version of libstkdr snapshots PostgreSQL 15",
			stkdr__pg_describe(pg), pi->version / 10000);
	if (!rc && (pi->seg_size <= 0 || (pi->seg_size & (pi->seg_size - 1))))
		rc = stkdr__seterr(STKDR_EBACKEND, STKDR_ERRCLASS_POSTGRES, NULL, "unexpected wal_segment_size");
	stkdr_buf_dispose(&b);
	return rc;
}

static int parse_label_timeline(const char *label, int *tli)
{
	const char *p = strstr(label, "START TIMELINE: ");
	if (!p || sscanf(p + 16, "%d", tli) != 1)
		return stkdr__seterr(STKDR_EBACKEND, STKDR_ERRCLASS_POSTGRES, NULL,
			"the backup label returned by pg_backup_stop() has no START TIMELINE line");
	return 0;
}

/* Archives the segments start..stop (and the timeline history) unless the archive has them. */
static int archive_backup_wal(stkdr_ctx *ctx, const char *data_dir, const pginfo *pi, char *first, char *last)
{
	uint64_t s0 = pi->start / (uint64_t)pi->seg_size;
	uint64_t s1 = (pi->stop - 1) / (uint64_t)pi->seg_size;
	int rc = 0;
	stkdr__wal_segname(first, 32, (uint32_t)pi->timeline, s0, pi->seg_size);
	stkdr__wal_segname(last, 32, (uint32_t)pi->timeline, s1, pi->seg_size);
	for (uint64_t s = s0; s <= s1 && !rc; s++) {
		char name[32];
		stkdr_buf key = STKDR_BUF_INIT;
		stkdr__wal_segname(name, sizeof name, (uint32_t)pi->timeline, s, pi->seg_size);
		rc = stkdr__wal_find(&key, ctx, name);
		stkdr_buf_dispose(&key);
		if (rc == STKDR_ENOTFOUND) {
			char *path = stkdr__aprintf("%s/pg_wal/%s", data_dir, name);
			if (!path)
				return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
			rc = stkdr__wal_push_file(ctx, path, NULL);
			if (rc == STKDR_ENOTFOUND)
				stkdr__err_prefix("WAL segment %s needed by the snapshot is neither archived nor in pg_wal", name);
			stkdr__free(path);
		}
	}
	if (!rc && pi->timeline > 1) {
		char name[32];
		stkdr_buf key = STKDR_BUF_INIT;
		snprintf(name, sizeof name, "%08X.history", (unsigned int)pi->timeline);
		rc = stkdr__wal_find(&key, ctx, name);
		stkdr_buf_dispose(&key);
		if (rc == STKDR_ENOTFOUND) {
			char *path = stkdr__aprintf("%s/pg_wal/%s", data_dir, name);
			rc = path ? stkdr__wal_push_file(ctx, path, NULL) : STKDR_ENOMEM;
			stkdr__free(path);
		}
	}
	return rc;
}

/* A step run on a thread of its own while the snapshot goes on (errors are per thread: the step's is
 * carried back to the thread that joins it). */
typedef struct task {
	pthread_t th;
	int running;
	int (*fn)(void *arg);
	void *arg;
	int rc;
	stkdr__err_state err;
} task;

static void task_finish(task *t, int rc)
{
	t->rc = rc;
	if (rc)
		stkdr__err_save(&t->err);
}

static void *task_main(void *arg)
{
	task *t = arg;
	task_finish(t, t->fn(t->arg));
	return NULL;
}

/* Starts fn(arg) on a new thread, or runs it here if no thread can be made. */
static void task_start(task *t, int (*fn)(void *), void *arg)
{
	memset(t, 0, sizeof *t);
	t->fn = fn;
	t->arg = arg;
	if (pthread_create(&t->th, NULL, task_main, t) == 0)
		t->running = 1;
	else
		task_finish(t, fn(arg));
}

/* Waits for the step; its result, with its error set on this thread. */
static int task_join(task *t)
{
	if (t->running) {
		pthread_join(t->th, NULL);
		t->running = 0;
	}
	if (t->rc)
		stkdr__err_restore(&t->err);
	return t->rc;
}

typedef struct put_job {
	stkdr_ctx *ctx;
	char *key;
	const stkdr_buf *data;
} put_job;

static int put_task(void *arg)
{
	put_job *pj = arg;
	return stkdr__repo_put(pj->ctx, pj->key, pj->data->ptr, pj->data->size, STKDR_PUT_CREATE_ONLY);
}

typedef struct scan_job {
	scan *sc;
	const char *data_dir;
} scan_job;

static int scan_task(void *arg)
{
	scan_job *sj = arg;
	int rc = scan_dir(sj->sc, sj->data_dir, "");
	if (!rc)
		qsort(sj->sc->files, sj->sc->nfiles, sizeof *sj->sc->files, cmp_path);
	return rc;
}

typedef struct wal_job {
	stkdr_ctx *ctx;
	const char *data_dir;
	const pginfo *pi;
	char first[32], last[32];
} wal_job;

static int wal_task(void *arg)
{
	wal_job *wj = arg;
	return archive_backup_wal(wj->ctx, wj->data_dir, wj->pi, wj->first, wj->last);
}

/* Removes objects of snapshots that never committed (a failed or killed run): we hold the lease. */
static void cleanup_leftovers(stkdr_ctx *ctx, stkdr_objstore *os, char ***ids_out, size_t *nids_out)
{
	/* Writes interrupted long enough ago that no live writer (WAL push, audit export) owns them. */
	if (os->base.ctl) {
		int64_t age = 15 * 60 * 1000;
		if (os->base.ctl(&os->base, STKDR_CTL_ABORT_STALE_WRITES, &age) != 0)
			stkdr_error_clear();
	}
	char *prefix = stkdr__repo_key(ctx, "snapshots/");
	char **keys = NULL;
	size_t n = 0;
	if (!prefix || stkdr__repo_list(&keys, &n, ctx, prefix) != 0) {
		stkdr__free(prefix);
		stkdr_error_clear();
		return;
	}
	size_t plen = strlen(prefix);
	size_t i = 0, nids = 0;
	char **ids = ids_out ? stkdr__calloc(n + 1, sizeof *ids) : NULL;
	while (i < n) {
		const char *rel = keys[i] + plen;
		const char *slash = strchr(rel, '/');
		size_t idlen = slash ? (size_t)(slash - rel) : strlen(rel);
		size_t j = i;
		bool committed = false;
		while (j < n && !strncmp(keys[j] + plen, rel, idlen) && (keys[j][plen + idlen] == '/' ||
			keys[j][plen + idlen] == '\0')) {
			if (!strcmp(keys[j] + plen + idlen, "/manifest.json"))
				committed = true;
			j++;
		}
		if (committed && ids && slash && (ids[nids] = stkdr__strndup(rel, idlen)) != NULL)
			nids++;
		if (!committed) {
			stkdr__log(ctx, STKDR_LOG_WARN, "snapshot", "removing the leftovers of unfinished snapshot %.*s",
				(int)idlen, rel);
			for (size_t k = i; k < j; k++)
				if (os->del(os, keys[k], 0) != 0 && stkdr__err_get()->code != STKDR_ENOTFOUND)
					stkdr__log(ctx, STKDR_LOG_WARN, "snapshot", "could not remove %s: %s", keys[k],
						stkdr__err_get()->message);
		}
		i = j > i ? j : i + 1;
	}
	stkdr_error_clear();
	stkdr__strv_free(keys);
	stkdr__free(prefix);
	if (ids_out) {
		*ids_out = ids;
		*nids_out = nids;
	}
}

/* What a snapshot does in the repository before it needs the server (run while it connects): takes the
 * snapshot lease, removes leftovers, lists the snapshots (one listing for both) and loads the newest
 * manifest, the parent unless it belongs to another cluster. */
typedef struct prefix_job {
	stkdr_ctx *ctx;
	stkdr_objstore *os;
	stkdr__lease *lease;
	int want_parent;
	char **ids;
	size_t nids;
	cJSON *newest;
	int newest_failed;
	char newest_err[1024];
} prefix_job;

static int prefix_task(void *arg)
{
	prefix_job *pj = arg;
	int lrc = stkdr__lease_acquire(&pj->lease, pj->ctx, "snapshot", "snapshot create", LEASE_TTL_MS);
	if (lrc)
		return lrc;
	cleanup_leftovers(pj->ctx, pj->os, &pj->ids, &pj->nids);
	if (!pj->want_parent)
		return 0;
	if (!pj->ids) {
		int rc = stkdr__snapshot_ids(&pj->ids, &pj->nids, pj->ctx);
		if (rc)
			return rc;
	}
	if (pj->nids && stkdr__snapshot_load(&pj->newest, NULL, pj->ctx, pj->ids[pj->nids - 1]) != 0) {
		pj->newest_failed = 1;
		snprintf(pj->newest_err, sizeof pj->newest_err, "%s", stkdr__err_get()->message);
		stkdr_error_clear();
	}
	return 0;
}

/* ------------------------------------------------------------------ writing manifest.json */

/* The file list is most of a manifest (about 250 bytes per 1 MiB chunk: 0.5 MB for an 800 MB cluster),
 * so it is written straight into a buffer instead of being built as a cJSON tree (and copied from the
 * parent's tree for unchanged files) and then printed: that took 30-50 ms of every snapshot's fixed
 * cost. The output is the same JSON, integers written as integers. */
static void jb_i64(jbuf *j, int64_t v)
{
	char t[24];
	int n = snprintf(t, sizeof t, "%" PRId64, v);
	jb_put(j, t, (size_t)n);
}

/* Any cJSON value (an unchanged file's entry, taken from the parent's manifest as it is). */
static void jb_value(jbuf *j, const cJSON *v)
{
	if (cJSON_IsString(v)) {
		jb_str(j, v->valuestring);
	} else if (cJSON_IsNumber(v)) {
		double d = v->valuedouble;
		if (d != d || d > DBL_MAX || d < -DBL_MAX) {
			JB_LIT(j, "null");
		} else if (d >= -9.2e18 && d <= 9.2e18 && d == (double)(int64_t)d) {
			jb_i64(j, (int64_t)d);
		} else {
			char t[40];
			int n = snprintf(t, sizeof t, "%.17g", d);
			jb_put(j, t, (size_t)n);
		}
	} else if (cJSON_IsTrue(v)) {
		JB_LIT(j, "true");
	} else if (cJSON_IsFalse(v)) {
		JB_LIT(j, "false");
	} else if (cJSON_IsRaw(v)) {
		jb_put(j, v->valuestring, strlen(v->valuestring));
	} else if (cJSON_IsArray(v) || cJSON_IsObject(v)) {
		int obj = cJSON_IsObject(v);
		jb_put(j, obj ? "{" : "[", 1);
		for (const cJSON *c = v->child; c; c = c->next) {
			if (c != v->child)
				jb_put(j, ",", 1);
			if (obj) {
				jb_str(j, c->string ? c->string : "");
				jb_put(j, ":", 1);
			}
			jb_value(j, c);
		}
		jb_put(j, obj ? "}" : "]", 1);
	} else {
		JB_LIT(j, "null");
	}
}

/* The same, laid out as cJSON_Print does (tabs, one member per line, arrays on one line), for
 * `stk snapshot show`: cJSON prints each number through "%1.15g" and sscanf, 20-30 ms per manifest. */
static void jb_tabs(jbuf *j, int n)
{
	static const char tabs[] = "\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t";
	while (n > 0) {
		int k = n > 16 ? 16 : n;
		jb_put(j, tabs, (size_t)k);
		n -= k;
	}
}

static void jb_value_fmt(jbuf *j, const cJSON *v, int depth)
{
	if (cJSON_IsObject(v)) {
		jb_put(j, "{\n", 2);
		for (const cJSON *c = v->child; c; c = c->next) {
			jb_tabs(j, depth + 1);
			jb_str(j, c->string ? c->string : "");
			jb_put(j, ":\t", 2);
			jb_value_fmt(j, c, depth + 1);
			jb_put(j, c->next ? ",\n" : "\n", c->next ? 2 : 1);
		}
		jb_tabs(j, depth);
		jb_put(j, "}", 1);
	} else if (cJSON_IsArray(v)) {
		jb_put(j, "[", 1);
		for (const cJSON *c = v->child; c; c = c->next) {
			jb_value_fmt(j, c, depth + 1);
			if (c->next)
				jb_put(j, ", ", 2);
		}
		jb_put(j, "]", 1);
	} else {
		jb_value(j, v);
	}
}

/* CRC-32C of a file from its chunks' CRCs: combining with a whole chunk (all but the last) is one
 * multiplication by the fixed operator "append CHUNK_SIZE bytes" (its 32 columns, computed once with
 * stkdr__crc32c_combine, which is linear in its first argument), instead of ~20 matrix squarings per
 * chunk (15-20 ms per snapshot of 800 MB). */
typedef struct crc_op {
	uint32_t col[32];
	int ready;
} crc_op;

static uint32_t crc_combine_chunk(crc_op *op, uint32_t crc1, uint32_t crc2, int64_t len2)
{
	if (len2 != CHUNK_SIZE)
		return stkdr__crc32c_combine(crc1, crc2, len2);
	if (!op->ready) {
		for (int i = 0; i < 32; i++)
			op->col[i] = stkdr__crc32c_combine(1u << i, 0, CHUNK_SIZE);
		op->ready = 1;
	}
	uint32_t r = 0;
	for (int i = 0; crc1; i++, crc1 >>= 1)
		if (crc1 & 1)
			r ^= op->col[i];
	return r ^ crc2;
}

/* One files[] entry of a file this snapshot read (docs/formats.md); *crc_out: the file's CRC-32C. */
static void write_file_entry(jbuf *j, crc_op *op, const sfile *f, uint32_t *crc_out)
{
	char hex[65];
	uint32_t crc = 0;
	JB_LIT(j, "{\"path\":");
	jb_str(j, f->path);
	JB_LIT(j, ",\"size\":");
	jb_i64(j, f->final_size);
	JB_LIT(j, ",\"mtime_ns\":");
	jb_i64(j, f->mtime_ns);
	JB_LIT(j, ",\"mode\":");
	jb_i64(j, f->mode);
	JB_LIT(j, ",\"parts\":[");
	for (size_t i = 0; i < f->nparts; i++) {
		const part *p = &f->parts[i];
		if (p->len == 0)
			break;
		if (i)
			jb_put(j, ",", 1);
		JB_LIT(j, "{\"sha256\":\"");
		stkdr__hex_encode(hex, p->sha, 32);
		jb_put(j, hex, 64);
		JB_LIT(j, "\",\"len\":");
		jb_i64(j, p->len);
		JB_LIT(j, ",\"bundle\":");
		jb_str(j, p->bundle ? p->bundle : "");
		JB_LIT(j, ",\"off\":");
		jb_i64(j, p->boff);
		JB_LIT(j, ",\"clen\":");
		jb_i64(j, p->clen);
		JB_LIT(j, ",\"crc32c\":");
		jb_i64(j, p->crc);
		if (p->has_hdr) {
			JB_LIT(j, ",\"hdr\":\"");
			stkdr__hex_encode(hex, p->hdr, 32);
			jb_put(j, hex, 64);
			jb_put(j, "\"", 1);
		}
		jb_put(j, "}", 1);
		crc = i == 0 ? p->crc : crc_combine_chunk(op, crc, p->crc, p->len);
		if (p->len < CHUNK_SIZE)
			break; /* the last chunk, or truncated during the backup: nothing after */
	}
	char crchex[16];
	snprintf(crchex, sizeof crchex, "%08x", crc);
	JB_LIT(j, "],\"crc32c\":\"");
	jb_put(j, crchex, 8);
	JB_LIT(j, "\"}");
	*crc_out = crc;
}

/* Writes the files[] array of manifest.json and the files' entries of backup_manifest (each preceded by
 * ",\n": backup_label comes first). Needs only the copy's results, not the backup's stop. */
typedef struct build_job {
	scan *sc;
	jbuf *files;
	stkdr_buf pgfiles;
	int64_t total_size, nfiles, reused;
} build_job;

static void manifest_file(stkdr_buf *b, int *first, const char *path, int64_t size, int64_t mtime_s, uint32_t crc);

static int build_task(void *arg)
{
	build_job *bj = arg;
	scan *sc = bj->sc;
	jbuf *files = bj->files;
	crc_op cop;
	memset(&cop, 0, sizeof cop);
	size_t est = 65536; /* about 250 bytes per file and per chunk */
	for (size_t i = 0; i < sc->nfiles; i++)
		est += 256 + 256 * (size_t)(sc->files[i].size / CHUNK_SIZE + 1);
	int rc = stkdr_buf_grow(&files->b, est);
	if (!rc)
		rc = stkdr_buf_grow(&bj->pgfiles, 200 * sc->nfiles + 64);
	if (rc)
		return rc;
	jb_put(files, "[", 1);
	int first = 0;
	for (size_t i = 0; i < sc->nfiles; i++) {
		sfile *f = &sc->files[i];
		uint32_t crc;
		if (f->vanished)
			continue;
		if (bj->nfiles)
			jb_put(files, ",", 1);
		if (f->reused) {
			jb_value(files, f->parent);
			crc = (uint32_t)strtoul(jstr(f->parent, "crc32c"), NULL, 16);
			bj->reused++;
		} else {
			f->final_size = 0;
			for (size_t p = 0; p < f->nparts; p++) {
				f->final_size += f->parts[p].len;
				if (f->parts[p].len < CHUNK_SIZE)
					break;
			}
			write_file_entry(files, &cop, f, &crc);
		}
		bj->total_size += f->final_size;
		bj->nfiles++;
		manifest_file(&bj->pgfiles, &first, f->path, f->final_size, f->mtime_ns / 1000000000LL, crc);
	}
	jb_put(files, "]", 1);
	return files->rc;
}

/* Phase timings, logged at debug level at the end of a snapshot (where the fixed cost goes). */
typedef struct phases {
	int64_t t0, last;
	char text[768];
	size_t len;
} phases;

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void phase_mark(phases *ph, const char *name)
{
	int64_t now = mono_us();
	if (ph->len < sizeof ph->text)
		ph->len += (size_t)snprintf(ph->text + ph->len, sizeof ph->text - ph->len, "%s%s %.1f ms",
			ph->len ? ", " : "", name, (double)(now - ph->last) / 1000.0);
	ph->last = now;
}

/* mtime_ns of JSON numbers: doubles hold integers up to 2^53 exactly; ns since 1970 need ~61 bits, so
 * mtimes are compared with a tolerance of 1 µs (any real change moves the mtime by far more). */
static bool same_mtime(int64_t a, double b)
{
	double d = (double)a - b;
	return d < 1000.0 && d > -1000.0;
}

int stkdr_snapshot_create(stkdr_buf *id_out, stkdr_ctx *ctx, const stkdr_snapshot_options *opts)
{
	if (!ctx)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_snapshot_create: ctx is NULL");
	stkdr_error_clear();
	stkdr_snapshot_options o;
	stkdr_snapshot_options_init(&o, STKDR_SNAPSHOT_OPTIONS_VERSION);
	if (opts) {
		if (opts->version == 0 || opts->version > STKDR_SNAPSHOT_OPTIONS_VERSION)
			return stkdr__ctx_result(ctx, stkdr__seterr(STKDR_EVERSION, STKDR_ERRCLASS_INTERNAL, NULL,
				"stkdr_snapshot_options version %u is not supported (1..%u)", opts->version,
				STKDR_SNAPSHOT_OPTIONS_VERSION));
		o = *opts;
	}
	if (o.kind < STKDR_SNAPSHOT_MANUAL || o.kind > STKDR_SNAPSHOT_MONTHLY)
		return stkdr__ctx_result(ctx, stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
			"snapshot kind %d is not one of manual, hourly, daily, monthly", o.kind));

	if (stkdr__provider_managed(ctx)) /* aws-rds...: the provider's snapshot, snapshot_provider.c */
		return stkdr__ctx_result(ctx, stkdr__provider_snapshot_create(id_out, ctx, &o));
	const char *conninfo, *data_dir;
	int rc = stkdr__cfg_require_str(&conninfo, ctx, "postgres.conninfo");
	if (!rc)
		rc = stkdr__cfg_require_str(&data_dir, ctx, "postgres.data_dir");
	if (rc)
		return stkdr__ctx_result(ctx, rc);

	stkdr_objstore *os;
	stkdr__lease *lease = NULL;
	stkdr__pg *pg = NULL;
	cJSON *parent = NULL, *man = NULL;
	scan sc;
	memset(&sc, 0, sizeof sc);
	pginfo pi;
	memset(&pi, 0, sizeof pi);
	shared sh;
	memset(&sh, 0, sizeof sh);
	stkdr__pool_init(&sh.pool);
	phases ph;
	memset(&ph, 0, sizeof ph);
	ph.t0 = ph.last = mono_us();
	job *jobs = NULL;
	char id[64] = "", parent_id[64] = "";
	char *snap_prefix = NULL;
	bool backup_started = false;
	stkdr_buf b = STKDR_BUF_INIT, pgman = STKDR_BUF_INIT;
	jbuf files = { STKDR_BUF_INIT, 0 };
	task wal_t, prefix_t, scan_t, build_t, pm_t;
	memset(&pm_t, 0, sizeof pm_t);
	put_job pmjob;
	memset(&pmjob, 0, sizeof pmjob);
	memset(&wal_t, 0, sizeof wal_t);
	memset(&prefix_t, 0, sizeof prefix_t);
	memset(&scan_t, 0, sizeof scan_t);
	memset(&build_t, 0, sizeof build_t);
	scan_job scjob;
	memset(&scjob, 0, sizeof scjob);
	build_job bjob;
	memset(&bjob, 0, sizeof bjob);
	prefix_job pjob;
	memset(&pjob, 0, sizeof pjob);
	wal_job wjob;
	memset(&wjob, 0, sizeof wjob);
	char *json = NULL;

	if ((rc = stkdr__ctx_objstore(&os, ctx)) != 0)
		goto out;
	int64_t now = stkdr__ctx_now_ms(ctx);
	if ((rc = stkdr__repo_new_id(id, sizeof id, now)) != 0)
		goto out;
	/* The repository's part (lease, leftovers, listing, newest manifest: 20-40 ms) runs while we connect
	 * (which needs no lease: nothing is started on the server before the lease is held). */
	pjob.ctx = ctx;
	pjob.os = os;
	pjob.want_parent = !(o.flags & STKDR_SNAPSHOT_FULL);
	task_start(&prefix_t, prefix_task, &pjob);

	if ((rc = stkdr__pg_connect(&pg, conninfo, 0)) != 0)
		goto out;
	stkdr__pg_set_notice_fn(pg, log_notice, ctx);
	if ((rc = pg_prepare(pg, &pi, data_dir)) != 0)
		goto out;
	phase_mark(&ph, "connect");
	rc = task_join(&prefix_t);
	lease = pjob.lease;
	if (rc)
		goto out;
	phase_mark(&ph, "repo_wait");

	/* The parent: the newest snapshot of the same cluster. */
	if (pjob.want_parent) {
		for (size_t i = pjob.nids; i-- > 0 && !parent;) {
			cJSON *m = NULL;
			int lrc = 0;
			if (i == pjob.nids - 1) {
				m = pjob.newest;
				pjob.newest = NULL;
				if (pjob.newest_failed) {
					lrc = STKDR_ECORRUPT;
					stkdr_error_set_str(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, "", pjob.newest_err);
				}
			} else {
				lrc = stkdr__snapshot_load(&m, NULL, ctx, pjob.ids[i]);
			}
			if (lrc != 0 || !m) {
				stkdr__log(ctx, STKDR_LOG_WARN, "snapshot", "skipping unreadable snapshot %s as a parent: %s",
					pjob.ids[i], stkdr__err_get()->message);
				continue;
			}
			if (!strcmp(jstr(m, "system_identifier"), pi.sysid)) {
				parent = m;
				snprintf(parent_id, sizeof parent_id, "%s", pjob.ids[i]);
			} else {
				cJSON_Delete(m);
			}
		}
		stkdr_error_clear();
	}
	phase_mark(&ph, "parent");

	/* Keep the WAL of the backup in pg_wal until we have archived it. */
	{
		char slot[64];
		char sql[160];
		snprintf(slot, sizeof slot, "stkdr_%.15s_%.4s", id, id + 17);
		for (char *c = slot; *c; c++)
			*c = (char)(*c == '-' ? '_' : (*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c));
		snprintf(sql, sizeof sql, "SELECT pg_create_physical_replication_slot('%s', true, true)", slot);
		if (stkdr__pg_exec(pg, NULL, sql, 0, NULL) != 0) {
			stkdr__log(ctx, STKDR_LOG_WARN, "snapshot",
				"could not create a temporary replication slot (%s); relying on wal_keep_size/archiving",
				stkdr__err_get()->message);
			stkdr_error_clear();
		}
	}
	{
		const char *params[1] = { id };
		if ((rc = stkdr__pg_query_value(pg, &b, NULL, "SELECT pg_backup_start($1, true)::text", 1, params)) != 0)
			goto out;
		backup_started = true;
		snprintf(pi.start_lsn, sizeof pi.start_lsn, "%s", b.ptr);
		if ((rc = stkdr__lsn_parse(&pi.start, pi.start_lsn)) != 0)
			goto out;
	}
	/* Block-level reuse by page headers (hdr_reuse) needs a parent of format 2 or later on this very
	 * timeline whose backup ended before ours started; otherwise changed files are read and hashed whole
	 * (still stored chunk by chunk). DELTA trusts neither file times nor page headers. */
	if (parent && !(o.flags & STKDR_SNAPSHOT_DELTA) && jint(parent, "format_version") >= 2) {
		uint64_t pstart = 0, pstop = 0;
		int tli = 0;
		if (query1(pg, &b, "SELECT timeline_id::text FROM pg_control_checkpoint()") == 0)
			tli = atoi(b.ptr);
		stkdr_error_clear();
		if (stkdr__lsn_parse(&pstart, jstr(parent, "start_lsn")) == 0 &&
			stkdr__lsn_parse(&pstop, jstr(parent, "stop_lsn")) == 0 && tli > 0 &&
			jint(parent, "timeline") == tli && pstart <= pstop && pstop <= pi.start) {
			sh.hdr_trust = 1;
			sh.parent_start_lsn = pstart;
		} else {
			stkdr__log(ctx, STKDR_LOG_INFO, "snapshot", "snapshot %s: parent %s is on another timeline or does not "
				"precede this backup: changed files are read whole", id, parent_id);
		}
		stkdr_error_clear();
	}
	phase_mark(&ph, "backup_start");
	int64_t start_ms = stkdr__time_now_ms();
	/* The data directory is scanned (after the backup's start: a file created before it must be seen)
	 * while the journal entry is written. */
	scjob.sc = &sc;
	scjob.data_dir = data_dir;
	task_start(&scan_t, scan_task, &scjob);
	stkdr__journal(ctx, STKDR_EVENT_ACTION, "snapshot.started", id, 1, NULL);
	phase_mark(&ph, "journal");
	if ((rc = task_join(&scan_t)) != 0)
		goto out;
	phase_mark(&ph, "scan");

	/* Match files against the parent; plan the parts to read. */
	const cJSON *pfiles = parent ? cJSON_GetObjectItemCaseSensitive(parent, "files") : NULL;
	const cJSON *pe = pfiles ? pfiles->child : NULL;
	double parent_start_ns = 0;
	if (parent) {
		int64_t pms = 0;
		stkdr__time_parse_rfc3339(&pms, jstr(parent, "start_time"));
		parent_start_ns = (double)pms * 1e6;
	}
	size_t njobs = 0, capjobs = 0;
	int64_t total_bytes = 0;
	for (size_t i = 0; i < sc.nfiles; i++) {
		sfile *f = &sc.files[i];
		while (pe && strcmp(jstr(pe, "path"), f->path) < 0)
			pe = pe->next;
		if (pe && !strcmp(jstr(pe, "path"), f->path))
			f->parent = pe;
		if (f->parent && !(o.flags & STKDR_SNAPSHOT_DELTA) && jint(f->parent, "size") == f->size &&
			same_mtime(f->mtime_ns, cJSON_GetObjectItemCaseSensitive(f->parent, "mtime_ns")->valuedouble) &&
			(double)f->mtime_ns < parent_start_ns - 1e9) {
			f->reused = 1;
			f->final_size = f->size;
			continue;
		}
		f->nparts = f->size ? (size_t)((f->size + CHUNK_SIZE - 1) / CHUNK_SIZE) : 0;
		if (f->nparts) {
			f->parts = stkdr__calloc(f->nparts, sizeof *f->parts);
			if (!f->parts) {
				rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
				goto out;
			}
		}
		if (f->parent) { /* the parent's parts by offset, for chunk-level reuse */
			const cJSON *pparts = cJSON_GetObjectItemCaseSensitive(f->parent, "parts");
			size_t np = (size_t)cJSON_GetArraySize(pparts);
			f->pparts = stkdr__calloc(np + 1, sizeof *f->pparts);
			f->ppoff = stkdr__calloc(np + 1, sizeof *f->ppoff);
			if (!f->pparts || !f->ppoff) {
				rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
				goto out;
			}
			int64_t at = 0;
			const cJSON *pp;
			cJSON_ArrayForEach(pp, pparts) {
				f->pparts[f->npparts] = pp;
				f->ppoff[f->npparts++] = at;
				at += jint(pp, "len");
			}
		}
		for (size_t p = 0; p < f->nparts; p++) {
			f->parts[p].off = (int64_t)p * CHUNK_SIZE;
			f->parts[p].len = f->size - f->parts[p].off < CHUNK_SIZE ? f->size - f->parts[p].off : CHUNK_SIZE;
			total_bytes += f->parts[p].len;
		}
		for (size_t p = 0; p < f->nparts; p += (size_t)(PART_SIZE / CHUNK_SIZE)) {
			if (njobs == capjobs) {
				size_t nc = capjobs ? capjobs * 2 : 1024;
				job *nj = stkdr__realloc(jobs, nc * sizeof *nj);
				if (!nj) {
					rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
					goto out;
				}
				jobs = nj;
				capjobs = nc;
			}
			job *jb = &jobs[njobs++];
			jb->file = i;
			jb->part = p;
			jb->nparts = f->nparts - p < (size_t)(PART_SIZE / CHUNK_SIZE) ? f->nparts - p : (size_t)(PART_SIZE / CHUNK_SIZE);
			jb->len = 0;
			for (size_t k = p; k < p + jb->nparts; k++)
				jb->len += f->parts[k].len;
		}
	}
	phase_mark(&ph, "plan");
	if (njobs)
		qsort_r(jobs, njobs, sizeof *jobs, cmp_job_size, &sc);

	sh.ctx = ctx;
	sh.os = os;
	sh.data_dir = data_dir;
	sh.snap_id = id;
	sh.bundle_prefix = stkdr__repo_key(ctx, "snapshots/");
	sh.start_lsn = pi.start;
	sh.verify_pages = pi.checksums;
	sh.sc = &sc;
	sh.jobs = jobs;
	sh.njobs = njobs;
	sh.page_errors = cJSON_CreateArray();
	if (!sh.bundle_prefix || !sh.page_errors) {
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
		goto out;
	}
	if ((rc = stkdr__compress_parse(&sh.comp, stkdr__cfg_str(ctx, "snapshot.compression"))) != 0)
		goto out;
	sh.level = (int)stkdr__cfg_int(ctx, "snapshot.level", 3);
	if (sh.comp == STKDR__COMPRESS_GZIP && sh.level > 9)
		sh.level = 9;
	if (sh.comp == STKDR__COMPRESS_ZSTD && sh.level < 1)
		sh.level = 1;
	int nworkers = o.parallel > 0 ? o.parallel : (int)stkdr__cfg_int(ctx, "snapshot.parallel", 2);
	if (nworkers < 1)
		nworkers = 1;
	if ((size_t)nworkers > njobs)
		nworkers = njobs ? (int)njobs : 1;
	stkdr__log(ctx, STKDR_LOG_INFO, "snapshot", "snapshot %s: %zu files, %zu parts to read (%" PRId64
		" bytes), %d workers%s%s", id, sc.nfiles, njobs, total_bytes, nworkers, parent ? ", incremental on " : "",
		parent ? parent_id : "");
	if (njobs && (rc = run_workers(&sh, nworkers, total_bytes)) != 0)
		goto out;
	phase_mark(&ph, "copy");
	/* The file list is written (build_t) while the server stops the backup. */
	bjob.sc = &sc;
	bjob.files = &files;
	task_start(&build_t, build_task, &bjob);

	/* Stop the backup. PostgreSQL switches to a new segment (flushing the stop segment whole), so the
	 * WAL the snapshot needs is complete in pg_wal, held there by our slot; we archive what the
	 * archive lacks ourselves (archive_backup_wal) instead of letting pg_backup_stop(true) wait for
	 * archive_command, which PostgreSQL polls only once a second. Pushes are content-addressed, so
	 * the archiver pushing the same segments too is harmless. */
	{
		void *res = NULL;
		rc = stkdr__pg_exec(pg, &res, "SELECT lsn::text, labelfile, spcmapfile FROM pg_backup_stop(false)", 0, NULL);
		backup_started = false;
		if (rc)
			goto out;
		PGresult *r = res;
		snprintf(pi.stop_lsn, sizeof pi.stop_lsn, "%s", PQgetvalue(r, 0, 0));
		pi.label = stkdr__strdup(PQgetvalue(r, 0, 1));
		pi.spcmap = stkdr__strdup(PQgetisnull(r, 0, 2) ? "" : PQgetvalue(r, 0, 2));
		PQclear(r);
		if (!pi.label || !pi.spcmap) {
			rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
			goto out;
		}
		if ((rc = stkdr__lsn_parse(&pi.stop, pi.stop_lsn)) != 0 || (rc = parse_label_timeline(pi.label, &pi.timeline)))
			goto out;
	}
	phase_mark(&ph, "backup_stop");
	int64_t stop_ms = stkdr__time_now_ms();
	/* The backup's WAL is archived (hashed, compressed, written: 20-40 ms for a 16 MiB segment) while
	 * this thread writes the manifests; it is joined before the commit. The connection stays open until
	 * then: its temporary slot keeps the segments in pg_wal. */
	char wal_first[32], wal_last[32];
	stkdr__wal_segname(wal_first, sizeof wal_first, (uint32_t)pi.timeline, pi.start / (uint64_t)pi.seg_size, pi.seg_size);
	stkdr__wal_segname(wal_last, sizeof wal_last, (uint32_t)pi.timeline, (pi.stop - 1) / (uint64_t)pi.seg_size, pi.seg_size);
	wjob.ctx = ctx;
	wjob.data_dir = data_dir;
	wjob.pi = &pi;
	task_start(&wal_t, wal_task, &wjob);

	/* Files: final sizes, reused entries, PostgreSQL's manifest (built meanwhile by build_t). */
	rc = task_join(&build_t);
	phase_mark(&ph, "manifest_build_wait");
	if (rc)
		goto out;
	int64_t total_size = bjob.total_size, nfiles = bjob.nfiles, reused = bjob.reused;
	man = cJSON_CreateObject();
	if (!man) {
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
		goto out;
	}
	cJSON *dirs = cJSON_CreateArray();
	int first = 1;
	stkdr__buf_printf(&pgman, "{ \"PostgreSQL-Backup-Manifest-Version\": 1,\n\"Files\": [\n");
	{
		uint32_t crc = stkdr__crc32c(0, pi.label, strlen(pi.label));
		manifest_file(&pgman, &first, "backup_label", (int64_t)strlen(pi.label), stop_ms / 1000, crc);
		if (*pi.spcmap)
			manifest_file(&pgman, &first, "tablespace_map", (int64_t)strlen(pi.spcmap), stop_ms / 1000,
				stkdr__crc32c(0, pi.spcmap, strlen(pi.spcmap)));
	}
	if (bjob.pgfiles.size && (rc = stkdr_buf_put(&pgman, bjob.pgfiles.ptr, bjob.pgfiles.size)) != 0)
		goto out;
	for (size_t i = 0; i < sc.ndirs; i++) {
		cJSON *d = cJSON_CreateObject();
		cJSON_AddStringToObject(d, "path", sc.dirs[i].path);
		cJSON_AddNumberToObject(d, "mode", sc.dirs[i].mode);
		cJSON_AddItemToArray(dirs, d);
	}
	{
		char s1[32], s2[32];
		stkdr__lsn_format(s1, sizeof s1, pi.start);
		stkdr__lsn_format(s2, sizeof s2, pi.stop);
		stkdr__buf_printf(&pgman, "\n],\n\"WAL-Ranges\": [\n{ \"Timeline\": %d, \"Start-LSN\": \"%s\", \"End-LSN\": \"%s\" }"
					  "\n],\n", pi.timeline, s1, s2);
		uint8_t sha[32];
		char hex[65];
		stkdr__sha256(pgman.ptr, pgman.size, sha);
		stkdr__hex_encode(hex, sha, 32);
		stkdr__buf_printf(&pgman, "\"Manifest-Checksum\": \"%s\"}\n", hex);
	}

	char t1[40], t2[40];
	stkdr__time_format_rfc3339(t1, sizeof t1, start_ms);
	stkdr__time_format_rfc3339(t2, sizeof t2, stop_ms);
	cJSON_AddStringToObject(man, "format", STKDR__SNAP_FORMAT);
	cJSON_AddNumberToObject(man, "format_version", STKDR__SNAP_FORMAT_VERSION);
	cJSON_AddStringToObject(man, "id", id);
	cJSON_AddStringToObject(man, "deployment", stkdr__cfg_str(ctx, "deployment") ? stkdr__cfg_str(ctx, "deployment") : "");
	cJSON_AddStringToObject(man, "kind", stkdr__snapshot_kind_name(o.kind));
	cJSON_AddStringToObject(man, "label", o.label ? o.label : "");
	cJSON_AddBoolToObject(man, "keep", (o.flags & STKDR_SNAPSHOT_KEEP) != 0);
	cJSON_AddBoolToObject(man, "incremental", parent != NULL);
	cJSON_AddStringToObject(man, "parent", parent_id);
	cJSON_AddStringToObject(man, "start_time", t1);
	cJSON_AddStringToObject(man, "stop_time", t2);
	cJSON_AddStringToObject(man, "start_lsn", pi.start_lsn);
	cJSON_AddStringToObject(man, "stop_lsn", pi.stop_lsn);
	cJSON_AddNumberToObject(man, "timeline", pi.timeline);
	cJSON_AddStringToObject(man, "system_identifier", pi.sysid);
	cJSON_AddNumberToObject(man, "pg_version", pi.version);
	cJSON_AddBoolToObject(man, "data_checksums", pi.checksums);
	cJSON_AddNumberToObject(man, "wal_segment_size", (double)pi.seg_size);
	cJSON *cj = cJSON_AddObjectToObject(man, "compression");
	cJSON_AddStringToObject(cj, "algorithm", stkdr__compress_name(sh.comp));
	cJSON_AddNumberToObject(cj, "level", sh.level);
	cJSON_AddNumberToObject(man, "part_size", (double)PART_SIZE);
	cJSON_AddNumberToObject(man, "chunk_size", (double)CHUNK_SIZE);
	cJSON_AddBoolToObject(man, "block_incremental", sh.hdr_trust);
	cJSON *wj = cJSON_AddObjectToObject(man, "wal");
	cJSON_AddNumberToObject(wj, "timeline", pi.timeline);
	cJSON_AddStringToObject(wj, "start", wal_first);
	cJSON_AddStringToObject(wj, "stop", wal_last);
	cJSON_AddStringToObject(man, "backup_label", pi.label);
	cJSON_AddStringToObject(man, "tablespace_map", pi.spcmap);
	cJSON *tj = cJSON_AddObjectToObject(man, "totals");
	cJSON_AddNumberToObject(tj, "files", (double)nfiles);
	cJSON_AddNumberToObject(tj, "bytes", (double)total_size);
	cJSON_AddNumberToObject(tj, "stored_bytes", (double)sh.stored_bytes);
	cJSON_AddNumberToObject(tj, "read_bytes", (double)sh.read_bytes);
	cJSON_AddNumberToObject(tj, "skipped_bytes", (double)sh.skipped_bytes);
	cJSON_AddNumberToObject(tj, "referenced_bytes", (double)sh.referenced_bytes);
	cJSON_AddNumberToObject(tj, "reused_files", (double)reused);
	cJSON_AddNumberToObject(tj, "bundles", sh.nbundles);
	cJSON_AddItemToObject(man, "page_errors", sh.page_errors);
	int npage_errors = cJSON_GetArraySize(sh.page_errors);
	sh.page_errors = NULL;
	cJSON_AddItemToObject(man, "dirs", dirs);
	if (!cJSON_AddRawToObject(man, "files", files.b.ptr)) {
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
		goto out;
	}
	stkdr_buf_dispose(&files.b);

	phase_mark(&ph, "manifest_build");
	/* Commit: PostgreSQL's manifest, then ours (its existence makes the snapshot). */
	snap_prefix = stkdr__aprintf("%s%s/", sh.bundle_prefix, id);
	if (!snap_prefix) {
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
		goto out;
	}
	/* PostgreSQL's manifest is written while ours is printed. */
	if (!(pmjob.key = stkdr__aprintf("%sbackup_manifest", snap_prefix))) {
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
		goto out;
	}
	pmjob.ctx = ctx;
	pmjob.data = &pgman;
	task_start(&pm_t, put_task, &pmjob);
	json = cJSON_PrintUnformatted(man);
	if (!json) {
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
		goto out;
	}
	phase_mark(&ph, "manifest_print");
	if ((rc = task_join(&pm_t)) != 0)
		goto out;
	phase_mark(&ph, "backup_manifest_wait");
	rc = task_join(&wal_t);
	phase_mark(&ph, "wal_wait");
	if (rc)
		goto out;
	stkdr__pg_close(pg);
	pg = NULL;
	{
		char *k = stkdr__aprintf("%smanifest.json", snap_prefix);
		rc = k ? stkdr__repo_put(ctx, k, json, strlen(json), STKDR_PUT_CREATE_ONLY) : STKDR_ENOMEM;
		stkdr__free(k);
		if (rc)
			goto out;
	}
	{
		char detail[512];
		snprintf(detail, sizeof detail,
			"{\"kind\":\"%s\",\"incremental\":%s,\"parent\":\"%s\",\"files\":%" PRId64 ",\"bytes\":%" PRId64
			",\"stored_bytes\":%" PRId64 ",\"read_bytes\":%" PRId64 ",\"page_errors\":%d,\"seconds\":%.3f}",
			stkdr__snapshot_kind_name(o.kind), parent ? "true" : "false", parent_id, nfiles, total_size,
			sh.stored_bytes, sh.read_bytes, npage_errors, (double)(stkdr__time_now_ms() - start_ms) / 1000.0);
		phase_mark(&ph, "manifest_put");
		stkdr__journal(ctx, STKDR_EVENT_ACTION, "snapshot.created", id, npage_errors == 0, detail);
		phase_mark(&ph, "journal");
	}
	stkdr__log(ctx, STKDR_LOG_DEBUG, "snapshot", "snapshot %s phases (%.1f ms in all): %s", id,
		(double)(mono_us() - ph.t0) / 1000.0, ph.text);
	stkdr__log(ctx, STKDR_LOG_INFO, "snapshot", "snapshot %s committed: %" PRId64 " files, %" PRId64
		" bytes, %" PRId64 " stored", id, nfiles, total_size, sh.stored_bytes);
	if (id_out)
		rc = stkdr_buf_set(id_out, id, strlen(id));
	if (!rc && npage_errors)
		rc = stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_POSTGRES, NULL,
			"snapshot %s was taken, but %d data page%s failed their checksum (invalid page header / could not "
			"read block): see `stk snapshot show %s` (page_errors) and the runbook's database-corruption "
			"procedure", id, npage_errors, npage_errors == 1 ? "" : "s", id);

out:
	if (prefix_t.running || scan_t.running || build_t.running || pm_t.running) { /* failed meanwhile: their results do not matter */
		stkdr__err_state saved;
		stkdr__err_save(&saved);
		task_join(&prefix_t);
		task_join(&scan_t);
		task_join(&build_t);
		task_join(&pm_t);
		stkdr__err_restore(&saved);
	}
	stkdr__free(pmjob.key);
	if (!lease)
		lease = pjob.lease;
	stkdr_buf_dispose(&bjob.pgfiles);
	stkdr__strv_free(pjob.ids);
	cJSON_Delete(pjob.newest);
	if (wal_t.running) {
		if (rc) {
			stkdr__err_state saved;
			stkdr__err_save(&saved);
			task_join(&wal_t);
			stkdr__err_restore(&saved);
		} else {
			rc = task_join(&wal_t);
		}
	}
	if (rc && backup_started && pg) {
		stkdr__err_state saved;
		stkdr__err_save(&saved);
		stkdr__pg_exec(pg, NULL, "SELECT pg_backup_stop(false)", 0, NULL);
		stkdr__err_restore(&saved);
	}
	if (rc && rc != STKDR_ECORRUPT && *id && os && lease) {
		/* Nothing of a failed snapshot is kept; what a killed run left, the next run removes. */
		stkdr__err_state saved;
		stkdr__err_save(&saved);
		cleanup_leftovers(ctx, os, NULL, NULL);
		stkdr__err_restore(&saved);
		stkdr__journal(ctx, STKDR_EVENT_ACTION, "snapshot.failed", id, 0, NULL);
	}
	stkdr__pg_close(pg);
	stkdr__lease_release(lease);
	cJSON_Delete(parent);
	cJSON_Delete(man);
	cJSON_Delete(sh.page_errors);
	cJSON_free(json);
	scan_free(&sc);
	stkdr__free(jobs);
	stkdr__free(sh.bundle_prefix);
	stkdr__free(snap_prefix);
	stkdr__free(pi.label);
	stkdr__free(pi.spcmap);
	stkdr_buf_dispose(&b);
	stkdr_buf_dispose(&pgman);
	stkdr_buf_dispose(&files.b);
	stkdr__pool_destroy(&sh.pool);
	return stkdr__ctx_result(ctx, rc);
}

/* ------------------------------------------------------------------ list, show */

static void info_from(stkdr_snapshot_info *si, const cJSON *m)
{
	memset(si, 0, sizeof *si);
	si->version = STKDR_SNAPSHOT_INFO_VERSION;
	si->id = jstr(m, "id");
	stkdr__snapshot_kind_parse(&si->kind, jstr(m, "kind"));
	stkdr_error_clear();
	si->label = jstr(m, "label");
	si->keep = jbool(m, "keep");
	si->incremental = jbool(m, "incremental");
	si->parent = jstr(m, "parent");
	stkdr__time_parse_rfc3339(&si->start_ms, jstr(m, "start_time"));
	stkdr__time_parse_rfc3339(&si->stop_ms, jstr(m, "stop_time"));
	stkdr_error_clear();
	si->start_lsn = jstr(m, "start_lsn");
	si->stop_lsn = jstr(m, "stop_lsn");
	si->timeline = (int)jint(m, "timeline");
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(m, "totals");
	si->size_bytes = jint(t, "bytes");
	si->stored_bytes = jint(t, "stored_bytes");
	si->n_files = jint(t, "files");
	si->pg_version = (int)jint(m, "pg_version");
}

int stkdr_snapshot_list(stkdr_ctx *ctx, stkdr_snapshot_cb cb, void *payload)
{
	if (!ctx)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_snapshot_list: ctx is NULL");
	stkdr_error_clear();
	if (stkdr__provider_managed(ctx))
		return stkdr__ctx_result(ctx, stkdr__provider_snapshot_list(ctx, cb, payload));
	char **ids = NULL;
	size_t n = 0;
	int rc = stkdr__snapshot_ids(&ids, &n, ctx);
	for (size_t i = 0; !rc && i < n; i++) {
		cJSON *m;
		if ((rc = stkdr__snapshot_load(&m, NULL, ctx, ids[i])) != 0)
			break;
		stkdr_snapshot_info si;
		info_from(&si, m);
		if (cb) {
			int r = cb(&si, payload);
			if (r < 0)
				rc = stkdr__seterr(r, STKDR_ERRCLASS_CALLBACK, NULL, "the snapshot-list callback returned %d", r);
		}
		cJSON_Delete(m);
	}
	stkdr__strv_free(ids);
	return stkdr__ctx_result(ctx, rc);
}

int stkdr_snapshot_show(stkdr_buf *out, stkdr_ctx *ctx, const char *id)
{
	if (!ctx || !out)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_snapshot_show: NULL argument");
	stkdr_error_clear();
	if (stkdr__provider_managed(ctx))
		return stkdr__ctx_result(ctx, stkdr__provider_snapshot_show(out, ctx, id));
	cJSON *m;
	int rc = stkdr__snapshot_load(&m, NULL, ctx, id);
	if (rc)
		return stkdr__ctx_result(ctx, rc);
	jbuf j = { STKDR_BUF_INIT, 0 };
	jb_value_fmt(&j, m, 0);
	cJSON_Delete(m);
	rc = j.rc ? j.rc : stkdr_buf_set(out, j.b.ptr, j.b.size);
	stkdr_buf_dispose(&j.b);
	return stkdr__ctx_result(ctx, rc);
}

/* ------------------------------------------------------------------ delete, expire */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Adds every bundle named by manifest `m` to the set (a growable sorted-later array). */
static int collect_bundles(char ***set, size_t *n, size_t *cap, const cJSON *m)
{
	const cJSON *files = cJSON_GetObjectItemCaseSensitive(m, "files");
	const cJSON *f;
	cJSON_ArrayForEach(f, files) {
		const cJSON *p;
		cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(f, "parts")) {
			const char *bn = jstr(p, "bundle");
			if (!*bn)
				continue;
			if (*n && !strcmp((*set)[*n - 1], bn))
				continue; /* consecutive duplicates are the common case */
			if (stkdr__grow(set, cap, *n, sizeof **set, 256) != 0)
				return STKDR_ENOMEM;
			if (!((*set)[(*n)++] = stkdr__strdup(bn)))
				return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
		}
	}
	return 0;
}

/*
 * Removes the snapshots in `doomed` (ids): manifests first, then every object under their prefixes that
 * no surviving manifest references. Failures to delete single objects (retention) are reported and
 * counted, never half-undo a manifest removal.
 */
static int remove_snapshots(stkdr_ctx *ctx, char **doomed, size_t ndoomed, char **all, size_t nall)
{
	stkdr_objstore *os;
	int rc = stkdr__ctx_objstore(&os, ctx);
	if (rc)
		return rc;
	char **refs = NULL;
	size_t nrefs = 0, caprefs = 0;
	for (size_t i = 0; i < nall && !rc; i++) {
		bool dead = false;
		for (size_t d = 0; d < ndoomed; d++)
			if (!strcmp(all[i], doomed[d]))
				dead = true;
		if (dead)
			continue;
		cJSON *m;
		if ((rc = stkdr__snapshot_load(&m, NULL, ctx, all[i])) != 0) {
			stkdr__err_prefix("cannot tell what snapshot %s needs, so nothing is deleted", all[i]);
			break;
		}
		rc = collect_bundles(&refs, &nrefs, &caprefs, m);
		cJSON_Delete(m);
	}
	if (nrefs)
		qsort(refs, nrefs, sizeof *refs, cmp_str);
	char *base = stkdr__repo_key(ctx, "snapshots/");
	size_t blen = base ? strlen(base) : 0;
	int failures = 0;
	/* 1. The manifests: once gone, the snapshots are gone. */
	for (size_t d = 0; d < ndoomed && !rc && base; d++) {
		char *mkey = stkdr__aprintf("%s%s/manifest.json", base, doomed[d]);
		if (!mkey) {
			rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
			break;
		}
		rc = os->del(os, mkey, 0);
		stkdr__free(mkey);
		if (rc) {
			stkdr__err_prefix("deleting snapshot %s", doomed[d]);
			break;
		}
		stkdr__journal(ctx, STKDR_EVENT_ACTION, "snapshot.deleted", doomed[d], 1, NULL);
	}
	/* 2. Every object of a snapshot that has no manifest (the ones just deleted, a parent whose data a
	 *    child kept until now, leftovers of failed runs: we hold the lease, so nothing is in progress)
	 *    that no surviving manifest names. */
	char **keys = NULL;
	size_t nk = 0;
	if (!rc && base && stkdr__repo_list(&keys, &nk, ctx, base) == 0) {
		size_t i = 0;
		while (i < nk) {
			const char *rel = keys[i] + blen;
			const char *slash = strchr(rel, '/');
			size_t idlen = slash ? (size_t)(slash - rel) : strlen(rel);
			size_t j = i;
			bool committed = false;
			while (j < nk && !strncmp(keys[j] + blen, rel, idlen) &&
				(keys[j][blen + idlen] == '/' || keys[j][blen + idlen] == '\0')) {
				if (!strcmp(keys[j] + blen + idlen, "/manifest.json"))
					committed = true;
				j++;
			}
			for (size_t k = i; k < j && !committed; k++) {
				const char *krel = keys[k] + blen;
				if (nrefs && bsearch(&krel, refs, nrefs, sizeof *refs, cmp_str))
					continue; /* a surviving incremental child still needs it */
				if (os->del(os, keys[k], 0) != 0 && stkdr__err_get()->code != STKDR_ENOTFOUND) {
					failures++;
					stkdr__log(ctx, STKDR_LOG_WARN, "snapshot", "could not delete %s: %s", keys[k],
						stkdr__err_get()->message);
				}
			}
			i = j > i ? j : i + 1;
		}
	}
	stkdr__strv_free(keys);
	if (!rc)
		stkdr_error_clear();
	stkdr__free(base);
	for (size_t i = 0; i < nrefs; i++)
		stkdr__free(refs[i]);
	stkdr__free(refs);
	if (!rc && failures)
		rc = stkdr__seterr(STKDR_EIMMUTABLE, STKDR_ERRCLASS_LOCAL, NULL,
			"%d object%s could not be deleted (under retention?): the snapshots are gone, their data stays "
			"until the retention ends", failures, failures == 1 ? "" : "s");
	return rc;
}

int stkdr_snapshot_delete(stkdr_ctx *ctx, const char *id)
{
	if (!ctx || !id)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_snapshot_delete: NULL argument");
	stkdr_error_clear();
	if (stkdr__provider_managed(ctx))
		return stkdr__ctx_result(ctx, stkdr__provider_snapshot_delete(ctx, id));
	char resolved[64];
	cJSON *m;
	int rc = stkdr__snapshot_load(&m, resolved, ctx, id);
	if (rc)
		return stkdr__ctx_result(ctx, rc);
	cJSON_Delete(m);
	stkdr__lease *lease;
	if ((rc = stkdr__lease_acquire(&lease, ctx, "snapshot", "snapshot delete", LEASE_TTL_MS)) != 0)
		return stkdr__ctx_result(ctx, rc);
	char **all;
	size_t nall;
	rc = stkdr__snapshot_ids(&all, &nall, ctx);
	if (!rc) {
		char *doomed[1] = { resolved };
		rc = remove_snapshots(ctx, doomed, 1, all, nall);
		stkdr__strv_free(all);
	}
	stkdr__lease_release(lease);
	return stkdr__ctx_result(ctx, rc);
}

int stkdr_snapshot_expire(stkdr_ctx *ctx, uint32_t flags, stkdr_expire_cb cb, void *payload)
{
	if (!ctx)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_snapshot_expire: ctx is NULL");
	stkdr_error_clear();
	if (stkdr__provider_managed(ctx)) /* aws-rds...: the provider's snapshots, snapshot_provider.c */
		return stkdr__ctx_result(ctx, stkdr__provider_snapshot_expire(ctx, flags, cb, payload));
	int64_t now = stkdr__ctx_now_ms(ctx);
	stkdr__retention_policy pol;
	stkdr__retention_policy_load(&pol, ctx);
	stkdr__lease *lease = NULL;
	int rc = 0;
	if (!(flags & STKDR_EXPIRE_DRY_RUN) &&
		(rc = stkdr__lease_acquire(&lease, ctx, "snapshot", "snapshot expire", LEASE_TTL_MS)) != 0)
		return stkdr__ctx_result(ctx, rc);
	char **ids = NULL;
	size_t n = 0;
	if ((rc = stkdr__snapshot_ids(&ids, &n, ctx)) != 0)
		goto out;
	char **doomed = stkdr__calloc(n + 1, sizeof *doomed);
	size_t ndoomed = 0;
	stkdr__retention_item *items = stkdr__calloc(n + 1, sizeof *items);
	if (!doomed || !items) {
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
		goto out2;
	}
	for (size_t i = 0; i < n && !rc; i++) {
		cJSON *m;
		if ((rc = stkdr__snapshot_load(&m, NULL, ctx, ids[i])) != 0)
			break;
		items[i].id = ids[i];
		stkdr__time_parse_rfc3339(&items[i].start_ms, jstr(m, "start_time"));
		stkdr__snapshot_kind_parse(&items[i].kind, jstr(m, "kind"));
		stkdr_error_clear();
		items[i].keep = jbool(m, "keep");
		cJSON_Delete(m);
	}
	if (!rc)
		stkdr__retention_decide(items, n, now, &pol);
	for (size_t i = 0; i < n && !rc; i++) {
		int action = items[i].action;
		const char *reason = items[i].reason;
		if (action == STKDR_EXPIRE_DELETE)
			doomed[ndoomed++] = ids[i];
		if (cb) {
			int r = cb(ids[i], action, reason, payload);
			if (r < 0)
				rc = stkdr__seterr(r, STKDR_ERRCLASS_CALLBACK, NULL, "the expire callback returned %d", r);
		}
	}
	if (!rc && ndoomed && !(flags & STKDR_EXPIRE_DRY_RUN))
		rc = remove_snapshots(ctx, doomed, ndoomed, ids, n);
	if (!rc && !(flags & STKDR_EXPIRE_DRY_RUN)) {
		/* WAL older than the oldest remaining snapshot's start is no longer needed by any restore. */
		const char *oldest = NULL;
		for (size_t i = 0; i < n && !oldest; i++) {
			bool dead = false;
			for (size_t d = 0; d < ndoomed; d++)
				if (doomed[d] == ids[i])
					dead = true;
			if (!dead)
				oldest = ids[i];
		}
		cJSON *m = NULL;
		if (oldest && stkdr__snapshot_load(&m, NULL, ctx, oldest) == 0) {
			const char *first = jstr(cJSON_GetObjectItemCaseSensitive(m, "wal"), "start");
			char *wprefix = stkdr__repo_key(ctx, "wal/");
			char **keys;
			size_t nk;
			stkdr_objstore *os;
			if (*first && wprefix && stkdr__ctx_objstore(&os, ctx) == 0 &&
				stkdr__repo_list(&keys, &nk, ctx, wprefix) == 0) {
				size_t wl = strlen(wprefix);
				for (size_t k = 0; k < nk; k++) {
					const char *rel = keys[k] + wl; /* <tli>/<segment>-<hash> */
					if (strlen(rel) < 9 + 24 || rel[8] != '/')
						continue;
					/* compare log/segment numbers (timeline-independent) */
					if (strncmp(rel + 9 + 8, first + 8, 16) < 0) {
						if (os->del(os, keys[k], 0) != 0)
							stkdr__log(ctx, STKDR_LOG_WARN, "snapshot", "could not delete %s: %s", keys[k],
								stkdr__err_get()->message);
					}
				}
				stkdr__strv_free(keys);
			}
			stkdr__free(wprefix);
			stkdr_error_clear();
		}
		cJSON_Delete(m);
	}
out2:
	stkdr__free(doomed);
	stkdr__free(items);
out:
	stkdr__strv_free(ids);
	stkdr__lease_release(lease);
	return stkdr__ctx_result(ctx, rc);
}
