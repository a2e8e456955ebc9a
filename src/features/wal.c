/* The WAL archive: every object's name carries the SHA-256 of the object as stored (compressed), so
 * pushes are create-only and idempotent, and a conflicting segment can never overwrite an archived one.
 * Hashing the compressed object (about 1/30 of a segment) instead of the raw 16 MiB keeps the hash off
 * archive_command's critical path; the compressed formats carry their own check of the raw content
 * (zstd's content checksum, gzip's CRC-32), and a name whose hash differs is compared byte for byte. */
#include "wal.h"
#include "repo.h"
#include "core/crypto.h"
#include "core/pool.h"
#include "core/stream.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	return 1;
}

int stkdr__wal_name_kind(const char *name)
{
	size_t n = strlen(name);
	if (n == 24 && is_hex(name, 24))
		return 1;
	if (n == 16 && is_hex(name, 8) && !strcmp(name + 8, ".history"))
		return 2;
	if (n > 24 && is_hex(name, 24) && !strcmp(name + n - 7, ".backup") && name[24] == '.')
		return 3;
	if (n == 32 && is_hex(name, 24) && !strcmp(name + 24, ".partial"))
		return 4;
	return 0;
}

/* "P/wal/<tli>/" or "P/wal/history/" for a name. */
static char *wal_dir_key(stkdr_ctx *ctx, const char *name)
{
	char rel[64];
	if (stkdr__wal_name_kind(name) == 2)
		snprintf(rel, sizeof rel, "wal/history/");
	else
		snprintf(rel, sizeof rel, "wal/%.8s/", name);
	return stkdr__repo_key(ctx, rel);
}

typedef struct found {
	const char *name;
	size_t name_len;
	char *first;
	int n;
	char hash1[17];
	int conflict;
	int64_t first_mtime;
	int newest_wins; /* partial segments: keep the newest upload instead of reporting a conflict */
} found;

static int find_cb(const stkdr_objinfo *info, void *payload)
{
	found *f = payload;
	const char *base = strrchr(info->key, '/');
	base = base ? base + 1 : info->key;
	if (strncmp(base, f->name, f->name_len) || base[f->name_len] != '-')
		return 0;
	const char *h = base + f->name_len + 1;
	if (strlen(h) < 16)
		return 0;
	if (f->n == 0 || (f->newest_wins && info->mtime_ms >= f->first_mtime)) {
		stkdr__free(f->first);
		f->first = stkdr__strdup(info->key);
		f->first_mtime = info->mtime_ms;
		memcpy(f->hash1, h, 16);
		f->hash1[16] = '\0';
	} else if (strncmp(f->hash1, h, 16) && !f->newest_wins) {
		f->conflict = 1;
	}
	f->n++;
	return 0;
}

static int wal_lookup(found *f, stkdr_ctx *ctx, const char *name)
{
	stkdr_objstore *os;
	int rc = stkdr__ctx_objstore(&os, ctx);
	if (rc)
		return rc;
	char *dir = wal_dir_key(ctx, name);
	if (!dir)
		return STKDR_ENOMEM;
	char *prefix = stkdr__aprintf("%s%s-", dir, name);
	stkdr__free(dir);
	if (!prefix)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	memset(f, 0, sizeof *f);
	f->name = name;
	f->name_len = strlen(name);
	f->newest_wins = stkdr__wal_name_kind(name) == 4;
	rc = os->list(os, prefix, NULL, find_cb, f);
	stkdr__free(prefix);
	return rc;
}

int stkdr__wal_find(stkdr_buf *key_out, stkdr_ctx *ctx, const char *name)
{
	if (!stkdr__wal_name_kind(name))
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_FORMAT, NULL,
			"\"%s\" is not a WAL file name (24 hex digits, or a .history/.backup/.partial file)", name);
	found f;
	int rc = wal_lookup(&f, ctx, name);
	if (!rc && f.n == 0 && stkdr__wal_name_kind(name) == 1) {
		/* Not archived complete: the streaming receiver's newest partial upload of it, if any. */
		char partial[40];
		snprintf(partial, sizeof partial, "%s.partial", name);
		rc = wal_lookup(&f, ctx, partial);
	}
	if (!rc && f.n == 0)
		rc = stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_LOCAL, NULL, "WAL file %s is not in the archive", name);
	else if (!rc && f.conflict)
		rc = stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_LOCAL, NULL,
			"WAL file %s is archived twice with different contents: the archive holds two timelines' "
			"histories under one name; inspect %s and remove the wrong copy", name, f.first);
	if (!rc)
		rc = stkdr_buf_set(key_out, f.first, strlen(f.first));
	stkdr__free(f.first);
	return rc;
}

/* WAL has its own algorithm and level (wal.compression, wal.level): archive_command is on the
 * primary's critical path once per segment, so the default is the fastest that still shrinks WAL well:
 * zstd's fast level -1 (~1.8 GB/s here, 35x on pgbench WAL, the same ratio as level 1 at 1.1 GB/s);
 * gzip-1 where the build has no zstd. */
static int compression(stkdr_ctx *ctx, stkdr__compress *c, int *level)
{
	const char *name = stkdr__cfg_str(ctx, "wal.compression");
	int rc = 0;
	if (!name || !strcmp(name, "auto"))
		*c = stkdr_has_feature("zstd") ? STKDR__COMPRESS_ZSTD : STKDR__COMPRESS_GZIP;
	else
		rc = stkdr__compress_parse(c, name);
	*level = (int)stkdr__cfg_int(ctx, "wal.level", -1);
	if (*c == STKDR__COMPRESS_GZIP)
		*level = *level > 9 ? 9 : *level < 1 ? 1 : *level; /* gzip has no negative ("fast") levels */
	if (*c == STKDR__COMPRESS_ZSTD && *level == 0)
		*level = 1; /* zstd's 0 means its default (3) */
	return rc;
}

int stkdr__wal_push_file(stkdr_ctx *ctx, const char *path, int *already_out)
{
	const char *name = strrchr(path, '/');
	name = name ? name + 1 : path;
	if (already_out)
		*already_out = 0;
	if (!stkdr__wal_name_kind(name))
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_FORMAT, NULL,
			"%s: \"%s\" is not a WAL file name (archive_command must pass %%p)", path, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return stkdr__seterr_os(errno, "WAL file %s cannot be opened", path);
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int e = errno;
		close(fd);
		return stkdr__seterr_os(e, "WAL file %s", path);
	}
	/* Map it whole (a segment is 16 MiB by default): hashing makes the name, and compression reads
	 * the same pages, so nothing is copied. PostgreSQL never changes or truncates a segment while its
	 * archive_command runs. Empty or unmappable files fall back to read(). */
	size_t size = (size_t)st.st_size;
	void *map = size ? mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0) : MAP_FAILED;
	if (map != MAP_FAILED) {
		close(fd);
		int rc = stkdr__wal_push_mem(ctx, name, map, size, already_out);
		munmap(map, size);
		return rc;
	}
	uint8_t *data = stkdr__malloc(size ? size : 1);
	if (!data) {
		close(fd);
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory reading %s", path);
	}
	size_t got = 0;
	while (got < size) {
		ssize_t r = read(fd, data + got, size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int e = r < 0 ? errno : EIO;
			close(fd);
			stkdr__free(data);
			return stkdr__seterr_os(e, "WAL file %s: short read at %zu of %zu bytes", path, got, size);
		}
		got += (size_t)r;
	}
	close(fd);
	int rc = stkdr__wal_push_mem(ctx, name, data, size, already_out);
	stkdr__free(data);
	return rc;
}

/* A compressed object in memory: zstd writes into a plain block (WAL is not secret, so it is not wiped:
 * stkdr_buf's dispose wipes all it reserved, which for zstd's worst-case bound would be 32 MiB of
 * untouched pages), the other encodings through the sink chain into a stkdr_buf. */
typedef struct zobj {
	char *plain;
	stkdr_buf buf;
	const uint8_t *ptr;
	size_t size;
} zobj;

static void zobj_free(zobj *z)
{
	stkdr__free(z->plain);
	stkdr_buf_dispose(&z->buf);
	memset(z, 0, sizeof *z);
}

/* One zstd frame of a segment's second half, compressed on a thread of its own. */
typedef struct half_job {
	void *dst;
	size_t cap, len;
	int level;
	const uint8_t *data;
	size_t size;
	int rc;
} half_job;

static void *half_main(void *arg)
{
	half_job *j = arg;
	j->rc = stkdr__zstd_compress_to(j->dst, j->cap, &j->len, j->level, j->data, j->size);
	return NULL;
}

/* Segments of at least this size are compressed as two zstd frames, one per core (a frame is a
 * self-contained unit: the object is the two frames back to back, which every zstd decoder reads as
 * one stream). Deterministic, so the same segment gets the same object and name. */
#define WAL_SPLIT_MIN (4u << 20)

/* Compresses `data` whole (compressed WAL is small, and the key, which carries the content hash, must
 * be known before the object is opened). */
static int compress_obj(zobj *out, stkdr__compress comp, int level, const uint8_t *data, size_t size)
{
	if (comp == STKDR__COMPRESS_NONE) {
		out->ptr = data;
		out->size = size;
		return 0;
	}
	if (comp == STKDR__COMPRESS_ZSTD) {
		/* WAL full of page images (a bulk load, the first change after a checkpoint) compresses at
		 * ~400 MB/s, 40 ms a segment: two halves on two cores halve archive_command's latency. */
		size_t first = size >= WAL_SPLIT_MIN ? size / 2 : size;
		size_t cap1 = stkdr__zstd_bound(first), cap2 = first < size ? stkdr__zstd_bound(size - first) : 0;
		out->plain = stkdr__malloc(cap1 + cap2);
		if (!out->plain)
			return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory compressing WAL");
		half_job j = { out->plain + cap1, cap2, 0, level, data + first, size - first, 0 };
		pthread_t th;
		int threaded = cap2 && pthread_create(&th, NULL, half_main, &j) == 0;
		size_t len = 0;
		int rc = stkdr__zstd_compress_to(out->plain, cap1, &len, level, data, first);
		if (threaded)
			pthread_join(th, NULL);
		if (!rc && cap2 && (!threaded || j.rc)) /* again on this thread: its error is this thread's */
			half_main(&j);
		if (!rc && cap2 && !(rc = j.rc)) {
			memmove(out->plain + len, j.dst, j.len);
			len += j.len;
		}
		out->ptr = (const uint8_t *)out->plain;
		out->size = rc ? 0 : len;
		return rc;
	}
	stkdr__sink *bs = NULL, *cs = NULL;
	int rc = stkdr__sink_buf_new(&bs, &out->buf);
	if (!rc) {
		rc = stkdr__sink_compress_new(&cs, bs, 0, comp, level);
		if (rc)
			stkdr__sink_destroy(bs);
	}
	if (!rc)
		rc = stkdr__sink_write(cs, data, size);
	if (!rc)
		rc = stkdr__sink_finish(cs);
	stkdr__sink_destroy(cs);
	out->ptr = (const uint8_t *)out->buf.ptr;
	out->size = out->buf.size;
	return rc;
}

/* The compression of an archived object, from its key's suffix. */
static stkdr__compress key_compression(const char *key)
{
	const char *base = strrchr(key, '/');
	const char *dot = strrchr(base ? base : key, '.');
	if (dot && !strcmp(dot, ".gz"))
		return STKDR__COMPRESS_GZIP;
	if (dot && !strcmp(dot, ".zst"))
		return STKDR__COMPRESS_ZSTD;
	return STKDR__COMPRESS_NONE;
}

/* A sink that compares what it is given with `want`: `differs` is set at the first difference. */
typedef struct cmp_sink {
	stkdr__sink base;
	const uint8_t *want;
	size_t size, at;
	int differs;
} cmp_sink;

static int cmp_write(stkdr__sink *sk, const uint8_t *d, size_t n)
{
	cmp_sink *c = (cmp_sink *)sk;
	if (!c->differs && (n > c->size - c->at || memcmp(c->want + c->at, d, n)))
		c->differs = 1;
	if (!c->differs)
		c->at += n;
	return 0;
}

static int cmp_finish(stkdr__sink *sk)
{
	cmp_sink *c = (cmp_sink *)sk;
	if (c->at != c->size)
		c->differs = 1;
	return 0;
}

static void cmp_destroy(stkdr__sink *sk)
{
	(void)sk;
}

/* Streams an archived object through `next` (decompressing it), and its stored bytes through `hash`
 * if not NULL. */
static int read_object(stkdr_objstore *os, const char *key, stkdr__sink *next, stkdr__sha256_ctx *hash)
{
	stkdr__sink *ds = NULL;
	int rc = stkdr__sink_decompress_new(&ds, next, STKDR__SINK_BORROW, key_compression(key));
	stkdr_objreader *r = NULL;
	if (!rc)
		rc = os->open_read(&r, os, key, 0, -1);
	if (!rc) {
		uint8_t b[65536];
		for (;;) {
			size_t n = 0;
			if ((rc = r->read(r, b, sizeof b, &n)) != 0 || n == 0)
				break;
			if (hash)
				stkdr__sha256_update(hash, b, n);
			if ((rc = stkdr__sink_write(ds, b, n)) != 0)
				break;
		}
		r->close(r);
	}
	if (!rc)
		rc = stkdr__sink_finish(ds);
	if (ds)
		stkdr__sink_destroy(ds);
	return rc;
}

/* Whether the archived object `key` holds exactly `data` (1), something else (0), or cannot be read
 * (< 0, error set): names whose hash differs from this push's (another compression or level, or a
 * different segment) are decided by content. */
static int same_content(stkdr_objstore *os, const char *key, const uint8_t *data, size_t size)
{
	cmp_sink c = { { cmp_write, cmp_finish, cmp_destroy }, data, size, 0, 0 };
	int rc = read_object(os, key, &c.base, NULL);
	if (rc) {
		stkdr__err_prefix("comparing with the archived copy %s", key);
		return rc;
	}
	return !c.differs;
}

int stkdr__wal_push_mem(stkdr_ctx *ctx, const char *name, const uint8_t *data, size_t size, int *already_out)
{
	if (already_out)
		*already_out = 0;
	int kind = stkdr__wal_name_kind(name);
	if (!kind)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_FORMAT, NULL, "\"%s\" is not a WAL file name", name);
	stkdr__compress comp;
	int level;
	int rc = compression(ctx, &comp, &level);
	if (rc)
		return rc;
	stkdr_objstore *os;
	if ((rc = stkdr__ctx_objstore(&os, ctx)) != 0)
		return rc;

	found f;
	memset(&f, 0, sizeof f);
	zobj z;
	memset(&z, 0, sizeof z);
	rc = wal_lookup(&f, ctx, name);
	if (!rc)
		rc = compress_obj(&z, comp, level, data, size);
	if (rc) {
		stkdr__free(f.first);
		zobj_free(&z);
		return rc;
	}
	uint8_t sha[32];
	char hex[65];
	stkdr__sha256(z.ptr, z.size, sha);
	stkdr__hex_encode(hex, sha, 32);
	/* Partial segments (from the streaming receiver) grow: every upload is a new object, and the
	 * newest one wins on get. Complete files must never differ. */
	if (kind == 4 && f.n > 0 && strncmp(f.hash1, hex, 16)) {
		stkdr__free(f.first);
		f.first = NULL;
		f.n = 0;
	}
	if (f.n > 0) {
		int same = f.conflict ? 0 : !strncmp(f.hash1, hex, 16) ? 1 : same_content(os, f.first, data, size);
		if (same == 1) {
			if (already_out)
				*already_out = 1;
			stkdr__log(ctx, STKDR_LOG_INFO, "wal", "%s is already archived with the same content (%s)", name, f.first);
			rc = 0;
		} else if (same == 0) {
			rc = stkdr__seterr(STKDR_EEXISTS, STKDR_ERRCLASS_LOCAL, NULL,
				"WAL file %s is already archived with DIFFERENT content (%s): refusing to archive it; two "
				"clusters may be archiving into one repository, or a timeline was reused",
				name, f.first);
		} else {
			rc = same;
			stkdr__err_prefix("WAL file %s is already archived but its copy cannot be read; remove the damaged "
				"object if it is not needed, then push again", name);
		}
		stkdr__free(f.first);
		zobj_free(&z);
		return rc;
	}
	char *dir = wal_dir_key(ctx, name);
	char *key = dir ? stkdr__aprintf("%s%s-%.16s%s", dir, name, hex, stkdr__compress_suffix(comp)) : NULL;
	stkdr__free(dir);
	if (!key) {
		zobj_free(&z);
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	}
	stkdr_objwriter *w;
	stkdr_put_options po = STKDR_PUT_OPTIONS_INIT;
	po.flags = STKDR_PUT_CREATE_ONLY;
	po.size_hint = (int64_t)z.size;
	if ((rc = os->open_write(&w, os, key, &po)) != 0) {
		zobj_free(&z);
		if (rc == STKDR_EEXISTS) {
			/* a concurrent push of this very content (archive_command and a snapshot archiving the same
			 * segment) got there first: the key carries the content hash, so it is the same file */
			stkdr_error_clear();
			stkdr__log(ctx, STKDR_LOG_INFO, "wal", "%s was archived concurrently with the same content", name);
			if (already_out)
				*already_out = 1;
			rc = 0;
		}
		stkdr__free(key);
		return rc;
	}
	rc = z.size ? w->write(w, z.ptr, z.size) : 0;
	zobj_free(&z);
	if (rc) {
		w->abort(w);
	} else {
		rc = w->commit(w, NULL);
		if (rc == STKDR_EEXISTS) {
			/* a concurrent push of the same content won the race: same name means same content */
			stkdr_error_clear();
			rc = 0;
			if (already_out)
				*already_out = 1;
		}
	}
	if (!rc)
		stkdr__log(ctx, STKDR_LOG_INFO, "wal", "archived %s as %s", name, key);
	stkdr__free(key);
	return rc;
}

/* SHA-256 of a file's content (the check of objects archived before 1.0 named by the raw content). */
static int hash_file(const char *path, uint8_t out[32])
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return stkdr__seterr_os(errno, "cannot open %s", path);
	stkdr__sha256_ctx c;
	stkdr__sha256_init(&c);
	uint8_t b[65536];
	ssize_t n;
	while ((n = read(fd, b, sizeof b)) > 0 || (n < 0 && errno == EINTR))
		if (n > 0)
			stkdr__sha256_update(&c, b, (size_t)n);
	int e = errno;
	close(fd);
	stkdr__sha256_final(&c, out);
	return n < 0 ? stkdr__seterr_os(e, "reading %s", path) : 0;
}

int stkdr__wal_get(stkdr_ctx *ctx, const char *name, const char *dest)
{
	stkdr_buf key = STKDR_BUF_INIT;
	int rc = stkdr__wal_find(&key, ctx, name);
	if (rc)
		return rc;
	const char *base = strrchr(key.ptr, '/');
	base = base ? base + 1 : key.ptr;
	const char *hash = strchr(base, '-') ? strchr(base, '-') + 1 : base;
	stkdr_objstore *os;
	stkdr__ctx_objstore(&os, ctx);

	char *tmp = stkdr__aprintf("%s.stkdr-tmp", dest);
	if (!tmp) {
		stkdr_buf_dispose(&key);
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = stkdr__seterr_os(errno, "cannot create %s", tmp);
		goto out;
	}
	/* The stored bytes are hashed as they arrive (the name's hash); the decompressor checks the raw
	 * content against the format's own checksum on the way to the file. */
	stkdr__sink *fs = NULL;
	stkdr__sha256_ctx hc;
	stkdr__sha256_init(&hc);
	uint8_t sha[32];
	rc = stkdr__sink_fd_new(&fs, fd, 1);
	if (!rc) {
		rc = read_object(os, key.ptr, fs, &hc);
		stkdr__sink_destroy(fs);
	}
	stkdr__sha256_final(&hc, sha);
	if (close(fd) != 0 && !rc)
		rc = stkdr__seterr_os(errno, "closing %s", tmp);
	if (!rc) {
		char hex[65];
		stkdr__hex_encode(hex, sha, 32);
		if (strncmp(hex, hash, 16)) {
			/* archives written before 1.0 named objects by the raw segment's hash */
			uint8_t raw[32];
			char rawhex[65];
			rc = hash_file(tmp, raw);
			stkdr__hex_encode(rawhex, raw, 32);
			if (!rc && strncmp(rawhex, hash, 16))
				rc = stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_LOCAL, NULL,
					"archived WAL file %s (%s) is corrupt: the stored object hashes to %.16s; restore it "
					"from another copy of the repository", name, key.ptr, hex);
		}
	} else {
		stkdr__err_prefix("restoring WAL file %s from %s", name, key.ptr);
	}
	if (!rc && rename(tmp, dest) != 0)
		rc = stkdr__seterr_os(errno, "cannot rename %s to %s", tmp, dest);
	if (rc)
		unlink(tmp);
out:
	stkdr__free(tmp);
	stkdr_buf_dispose(&key);
	return rc;
}

/* ---- prefetch (restore_command runs once per segment; replay must never wait on a fetch) ---- */

#define SPOOL_NAME "stkdr-prefetch"
#define SPOOL_LOCK ".lock"

int stkdr_wal_spool_dir(stkdr_buf *out, const char *dest)
{
	if (!out || !dest)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_wal_spool_dir: NULL argument");
	const char *slash = strrchr(dest, '/');
	size_t dlen = slash ? (size_t)(slash - dest) : 0;
	/* the directory's own name, i.e. the component before the last slash */
	const char *dname = dest;
	for (const char *q = dest; q < dest + dlen; q++)
		if (*q == '/')
			dname = q + 1;
	if (!slash || (size_t)(dest + dlen - dname) != 6 || strncmp(dname, "pg_wal", 6))
		return 0;
	int rc = stkdr_buf_set(out, dest, dlen);
	if (!rc)
		rc = stkdr_buf_put(out, "/" SPOOL_NAME, strlen("/" SPOOL_NAME));
	return rc ? rc : 1;
}

/* Whether someone (a running prefetcher) holds the spool's lock. */
static int spool_busy(const char *spool)
{
	char *lp = stkdr__aprintf("%s/" SPOOL_LOCK, spool);
	if (!lp)
		return 0;
	int fd = open(lp, O_RDONLY | O_CLOEXEC);
	stkdr__free(lp);
	if (fd < 0)
		return 0;
	int busy = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
	close(fd);
	return busy;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Moves a prefetched `name` from the spool to `dest`: 1 if it did, 0 if the spool does not have it.
 * A fetch in progress (its temporary file exists and the prefetcher holds the lock) is waited for. */
static int take_spooled(const char *spool, const char *name, const char *dest)
{
	char *src = stkdr__aprintf("%s/%s", spool, name);
	char *tmp = stkdr__aprintf("%s/%s.stkdr-tmp", spool, name);
	int took = 0;
	if (src && tmp) {
		for (int waited = 0;; waited += 10) {
			if (rename(src, dest) == 0) {
				took = 1;
				break;
			}
			if (errno != ENOENT || access(tmp, F_OK) != 0 || !spool_busy(spool) || waited >= 300000)
				break;
			sleep_ms(10);
		}
	}
	stkdr__free(src);
	stkdr__free(tmp);
	return took;
}

typedef struct pf_job {
	stkdr_ctx *ctx;
	stkdr__pool *pool;
	char **names;
	int n, *next;
	const char *spool;
} pf_job;

static void *pf_worker(void *arg)
{
	pf_job *j = arg;
	for (;;) {
		pthread_mutex_lock(&j->pool->lock);
		int i = stkdr__pool_stopping_locked(j->pool) || *j->next >= j->n ? -1 : (*j->next)++;
		pthread_mutex_unlock(&j->pool->lock);
		if (i < 0)
			return NULL;
		char *dest = stkdr__aprintf("%s/%s", j->spool, j->names[i]);
		int rc = dest ? stkdr__wal_get(j->ctx, j->names[i], dest) : STKDR_ENOMEM;
		stkdr__free(dest);
		if (rc) {
			stkdr__pool_fail(j->pool, rc);
			return NULL;
		}
		stkdr__pool_progress(j->pool, 1);
	}
}

typedef struct pf_list {
	char **names;
	int n, cap;
	char last[25];
} pf_list;

static int pf_list_cb(const stkdr_objinfo *info, void *payload)
{
	pf_list *l = payload;
	const char *base = strrchr(info->key, '/');
	base = base ? base + 1 : info->key;
	/* complete segments only ("<24 hex>-<hash>..."), each name once */
	if (strlen(base) < 26 || base[24] != '-' || !is_hex(base, 24) || !strncmp(base, l->last, 24))
		return 0;
	if (l->n == l->cap)
		return 1; /* enough: stop listing */
	l->names[l->n] = stkdr__strndup(base, 24);
	if (!l->names[l->n])
		return STKDR_ENOMEM;
	memcpy(l->last, base, 24);
	l->n++;
	return 0;
}

/* Removes spooled segments at or before `name` and temporary files nobody is writing (we hold the lock). */
static void spool_clean(const char *spool, const char *name)
{
	DIR *d = opendir(spool);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		const char *n = e->d_name;
		int seg = strlen(n) == 24 && is_hex(n, 24);
		int tmp = strstr(n, ".stkdr-tmp") != NULL;
		if ((seg && strcmp(n, name) <= 0) || tmp) {
			char *p = stkdr__aprintf("%s/%s", spool, n);
			if (p)
				unlink(p);
			stkdr__free(p);
		}
	}
	closedir(d);
}

static int wal_prefetch(stkdr_ctx *ctx, const char *name, const char *spool, int count)
{
	if (stkdr__wal_name_kind(name) != 1)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_FORMAT, NULL,
			"prefetch: \"%s\" is not a WAL segment name (24 hex digits)", name);
	if (count <= 0)
		return 0;
	if (mkdir(spool, 0700) != 0 && errno != EEXIST)
		return stkdr__seterr_os(errno, "prefetch: cannot create the spool directory %s", spool);
	char *lp = stkdr__aprintf("%s/" SPOOL_LOCK, spool);
	if (!lp)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	int lfd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	stkdr__free(lp);
	if (lfd < 0)
		return stkdr__seterr_os(errno, "prefetch: cannot open the lock file in %s", spool);
	if (flock(lfd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		close(lfd);
		return e == EWOULDBLOCK ? 0 : stkdr__seterr_os(e, "prefetch: cannot lock %s", spool);
	}
	spool_clean(spool, name);

	/* what follows `name` in the archive, skipping what the spool already has */
	pf_list l = { stkdr__calloc((size_t)count, sizeof(char *)), 0, count, "" };
	memcpy(l.last, name, 24);
	char *dir = wal_dir_key(ctx, name);
	char *after = dir ? stkdr__aprintf("%s%s-~", dir, name) : NULL;
	stkdr_objstore *os;
	int rc = !l.names || !after ? stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory")
		: stkdr__ctx_objstore(&os, ctx);
	if (!rc) {
		rc = os->list(os, dir, after, pf_list_cb, &l);
		if (rc == 1)
			rc = 0;
	}
	int keep = 0;
	for (int i = 0; !rc && i < l.n; i++) {
		char *p = stkdr__aprintf("%s/%s", spool, l.names[i]);
		if (p && access(p, F_OK) == 0)
			stkdr__free(l.names[i]); /* already spooled */
		else
			l.names[keep++] = l.names[i];
		stkdr__free(p);
	}
	if (!rc && keep > 0) {
		int next = 0;
		int nworkers = (int)stkdr__cfg_int(ctx, "snapshot.parallel", 2);
		if (nworkers > keep)
			nworkers = keep;
		if (nworkers < 1)
			nworkers = 1;
		stkdr__pool pool;
		stkdr__pool_init(&pool);
		pf_job *jobs = stkdr__calloc((size_t)nworkers, sizeof *jobs);
		if (!jobs) {
			rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
		} else {
			for (int i = 0; i < nworkers; i++)
				jobs[i] = (pf_job){ ctx, &pool, l.names, keep, &next, spool };
			rc = stkdr__pool_run(&pool, ctx, nworkers, pf_worker, jobs, sizeof *jobs, "wal.prefetch.progress",
				name, keep);
			stkdr__free(jobs);
		}
		stkdr__pool_destroy(&pool);
		if (!rc)
			stkdr__log(ctx, STKDR_LOG_DEBUG, "wal", "prefetched %d segment%s after %s into %s", keep,
				keep == 1 ? "" : "s", name, spool);
	}
	for (int i = 0; i < keep; i++)
		stkdr__free(l.names[i]);
	stkdr__free(l.names);
	stkdr__free(dir);
	stkdr__free(after);
	close(lfd); /* releases the lock */
	return rc;
}

typedef struct vf_job {
	stkdr_ctx *ctx;
	stkdr__pool *pool;
	const char *const *keys;
	size_t n, *next;
} vf_job;

static int read_whole(stkdr_objstore *os, const char *key)
{
	stkdr_objreader *r;
	int rc = os->open_read(&r, os, key, 0, -1);
	if (rc)
		return rc;
	uint8_t *b = stkdr__malloc(256 * 1024);
	if (!b) {
		r->close(r);
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	}
	for (;;) {
		size_t got = 0;
		if ((rc = r->read(r, b, 256 * 1024, &got)) != 0 || got == 0)
			break;
	}
	stkdr__free(b);
	r->close(r);
	return rc;
}

static void *vf_worker(void *arg)
{
	vf_job *j = arg;
	stkdr_objstore *os;
	if (stkdr__ctx_objstore(&os, j->ctx) != 0)
		return NULL;
	for (;;) {
		pthread_mutex_lock(&j->pool->lock);
		size_t i = stkdr__pool_stopping_locked(j->pool) || *j->next >= j->n ? (size_t)-1 : (*j->next)++;
		pthread_mutex_unlock(&j->pool->lock);
		if (i == (size_t)-1)
			return NULL;
		int rc = read_whole(os, j->keys[i]);
		if (rc) {
			const char *base = strrchr(j->keys[i], '/');
			stkdr__err_prefix("archived WAL segment %.24s (%s) is damaged or unreadable, so nothing was restored "
				"(the WAL chain is checked before anything is started; recovery would end there): choose an "
				"earlier target, or put an intact copy of the segment back into the archive",
				base ? base + 1 : j->keys[i], j->keys[i]);
			stkdr__pool_fail(j->pool, rc);
			return NULL;
		}
		stkdr__pool_progress(j->pool, 1);
	}
}

int stkdr__wal_verify_objects(stkdr_ctx *ctx, const char *const *keys, size_t n)
{
	if (n == 0)
		return 0;
	int nworkers = (int)stkdr__cfg_int(ctx, "snapshot.parallel", 2);
	if ((size_t)nworkers > n)
		nworkers = (int)n;
	if (nworkers < 1)
		nworkers = 1;
	size_t next = 0;
	stkdr__pool pool;
	stkdr__pool_init(&pool);
	vf_job *jobs = stkdr__calloc((size_t)nworkers, sizeof *jobs);
	int rc;
	if (!jobs) {
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	} else {
		for (int i = 0; i < nworkers; i++)
			jobs[i] = (vf_job){ ctx, &pool, keys, n, &next };
		rc = stkdr__pool_run(&pool, ctx, nworkers, vf_worker, jobs, sizeof *jobs, "restore.wal_check", NULL,
			(int64_t)n);
		stkdr__free(jobs);
	}
	stkdr__pool_destroy(&pool);
	return rc;
}

void stkdr__wal_spool_remove(const char *data_dir)
{
	char *spool = stkdr__aprintf("%s/pg_wal/" SPOOL_NAME, data_dir);
	DIR *d = spool ? opendir(spool) : NULL;
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			char *p = stkdr__aprintf("%s/%s", spool, e->d_name);
			if (p)
				unlink(p);
			stkdr__free(p);
		}
		closedir(d);
		rmdir(spool);
	}
	stkdr__free(spool);
}

/* ---- public API ---- */

int stkdr_wal_push(stkdr_ctx *ctx, const char *path)
{
	if (!ctx || !path)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_wal_push: NULL argument");
	stkdr_error_clear();
	int already = 0;
	int rc = stkdr__wal_push_file(ctx, path, &already);
	if (!rc && !already) {
		const char *name = strrchr(path, '/');
		stkdr__emit(ctx, STKDR_EVENT_ACTION, "wal.pushed", name ? name + 1 : path, 0, 0, 1, NULL);
	}
	return stkdr__ctx_result(ctx, rc);
}

int stkdr_wal_get(stkdr_ctx *ctx, const char *name, const char *dest)
{
	if (!ctx || !name || !dest)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_wal_get: NULL argument");
	stkdr_error_clear();
	if (stkdr__wal_name_kind(name) == 1 && stkdr__cfg_int(ctx, "wal.prefetch", 8) > 0) {
		stkdr_buf spool = STKDR_BUF_INIT;
		int in_pg_wal = stkdr_wal_spool_dir(&spool, dest);
		int took = in_pg_wal == 1 && take_spooled(spool.ptr, name, dest);
		stkdr_buf_dispose(&spool);
		if (took) {
			stkdr__log(ctx, STKDR_LOG_DEBUG, "wal", "restored %s from the prefetch spool", name);
			return stkdr__ctx_result(ctx, 0);
		}
	}
	return stkdr__ctx_result(ctx, stkdr__wal_get(ctx, name, dest));
}

int stkdr_wal_prefetch(stkdr_ctx *ctx, const char *name, const char *spool_dir, int count)
{
	if (!ctx || !name || !spool_dir)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_wal_prefetch: NULL argument");
	stkdr_error_clear();
	return stkdr__ctx_result(ctx, wal_prefetch(ctx, name, spool_dir, count));
}
