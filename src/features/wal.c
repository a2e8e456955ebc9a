/* The WAL archive: every object's name carries the SHA-256 of its raw content, so pushes are
 * create-only and idempotent, and a conflicting segment can never overwrite an archived one. */
#include "wal.h"
#include "repo.h"
#include "core/crypto.h"
#include "core/stream.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
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

static int compression(stkdr_ctx *ctx, stkdr__compress *c, int *level)
{
	int rc = stkdr__compress_parse(c, stkdr__cfg_str(ctx, "snapshot.compression"));
	*level = (int)stkdr__cfg_int(ctx, "snapshot.level", 3);
	if (*c == STKDR__COMPRESS_GZIP && *level > 9)
		*level = 9;
	if (*c == STKDR__COMPRESS_ZSTD && *level < 1)
		*level = 1;
	return rc;
}

/* objwriter as a sink */
typedef struct wsink {
	stkdr__sink base;
	stkdr_objwriter *w;
} wsink;

static int ws_write(stkdr__sink *s, const uint8_t *d, size_t n)
{
	wsink *w = (wsink *)s;
	return w->w->write(w->w, d, n);
}
static int ws_finish(stkdr__sink *s)
{
	(void)s;
	return 0;
}
static void ws_destroy(stkdr__sink *s)
{
	(void)s;
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
	/* Read it whole: a segment is 16 MiB by default, and hashing first makes the name. */
	size_t size = (size_t)st.st_size;
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

int stkdr__wal_push_mem(stkdr_ctx *ctx, const char *name, const uint8_t *data, size_t size, int *already_out)
{
	if (already_out)
		*already_out = 0;
	int kind = stkdr__wal_name_kind(name);
	if (!kind)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_FORMAT, NULL, "\"%s\" is not a WAL file name", name);
	uint8_t sha[32];
	char hex[65];
	stkdr__sha256(data, size, sha);
	stkdr__hex_encode(hex, sha, 32);

	found f;
	int rc = wal_lookup(&f, ctx, name);
	if (rc)
		return rc;
	/* Partial segments (from the streaming receiver) grow: every upload is a new object, and the
	 * newest one wins on get. Complete files must never differ. */
	if (kind == 4 && f.n > 0 && strncmp(f.hash1, hex, 16)) {
		stkdr__free(f.first);
		f.n = 0;
	}
	if (f.n > 0) {
		if (!strncmp(f.hash1, hex, 16) && !f.conflict) {
			if (already_out)
				*already_out = 1;
			stkdr__log(ctx, STKDR_LOG_INFO, "wal", "%s is already archived with the same content", name);
			rc = 0;
		} else {
			rc = stkdr__seterr(STKDR_EEXISTS, STKDR_ERRCLASS_LOCAL, NULL,
				"WAL file %s is already archived with DIFFERENT content (%s, this one %.16s): refusing to "
				"archive it; two clusters may be archiving into one repository, or a timeline was reused",
				name, f.first, hex);
		}
		stkdr__free(f.first);
		return rc;
	}
	stkdr__compress comp;
	int level;
	if ((rc = compression(ctx, &comp, &level)) != 0)
		return rc;
	char *dir = wal_dir_key(ctx, name);
	char *key = dir ? stkdr__aprintf("%s%s-%.16s%s", dir, name, hex, stkdr__compress_suffix(comp)) : NULL;
	stkdr__free(dir);
	if (!key)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	stkdr_objstore *os;
	stkdr_objwriter *w;
	stkdr__ctx_objstore(&os, ctx);
	stkdr_put_options po = STKDR_PUT_OPTIONS_INIT;
	po.flags = STKDR_PUT_CREATE_ONLY;
	po.size_hint = -1;
	if ((rc = os->open_write(&w, os, key, &po)) != 0) {
		stkdr__free(key);
		return rc;
	}
	wsink ws = { { ws_write, ws_finish, ws_destroy }, w };
	stkdr__sink *cs = NULL;
	rc = stkdr__sink_compress_new(&cs, &ws.base, STKDR__SINK_BORROW, comp, level);
	if (!rc)
		rc = stkdr__sink_write(cs, data, size);
	if (!rc)
		rc = stkdr__sink_finish(cs);
	stkdr__sink_destroy(cs);
	if (rc) {
		w->abort(w);
	} else {
		rc = w->commit(w, NULL);
		if (rc == STKDR_EEXISTS) {
			/* a concurrent push of the same content won the race: same name means same content */
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

/* sink that hashes and writes to an fd */
int stkdr__wal_get(stkdr_ctx *ctx, const char *name, const char *dest)
{
	stkdr_buf key = STKDR_BUF_INIT;
	int rc = stkdr__wal_find(&key, ctx, name);
	if (rc)
		return rc;
	const char *base = strrchr(key.ptr, '/');
	base = base ? base + 1 : key.ptr;
	const char *hash = strchr(base, '-') ? strchr(base, '-') + 1 : base;
	stkdr__compress comp = STKDR__COMPRESS_NONE;
	const char *dot = strchr(hash, '.');
	if (dot && !strcmp(dot, ".gz"))
		comp = STKDR__COMPRESS_GZIP;
	else if (dot && !strcmp(dot, ".zst"))
		comp = STKDR__COMPRESS_ZSTD;

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
	stkdr__sink *fs = NULL, *hs = NULL, *ds = NULL;
	uint8_t sha[32];
	rc = stkdr__sink_fd_new(&fs, fd, 1);
	if (!rc)
		rc = stkdr__sink_sha256_new(&hs, fs, 0, sha, NULL);
	if (rc) {
		stkdr__sink_destroy(fs);
		fs = NULL;
	}
	if (!rc)
		rc = stkdr__sink_decompress_new(&ds, hs, 0, comp);
	if (rc && hs) {
		stkdr__sink_destroy(hs);
	}
	if (!rc) {
		stkdr_objstore *os;
		stkdr_objreader *r;
		stkdr__ctx_objstore(&os, ctx);
		rc = os->open_read(&r, os, key.ptr, 0, -1);
		if (!rc) {
			uint8_t b[65536];
			for (;;) {
				size_t n = 0;
				if ((rc = r->read(r, b, sizeof b, &n)) != 0 || n == 0)
					break;
				if ((rc = stkdr__sink_write(ds, b, n)) != 0)
					break;
			}
			r->close(r);
		}
		if (!rc)
			rc = stkdr__sink_finish(ds);
		stkdr__sink_destroy(ds);
	}
	if (close(fd) != 0 && !rc)
		rc = stkdr__seterr_os(errno, "closing %s", tmp);
	if (!rc) {
		char hex[65];
		stkdr__hex_encode(hex, sha, 32);
		if (strncmp(hex, hash, 16))
			rc = stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_LOCAL, NULL,
				"archived WAL file %s (%s) is corrupt: its content hashes to %.16s; restore it from another "
				"copy of the repository", name, key.ptr, hex);
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
	return stkdr__ctx_result(ctx, stkdr__wal_get(ctx, name, dest));
}
