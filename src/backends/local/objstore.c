/*
 * The local object store: a repository in a directory tree.
 *
 * Layout under the root (any path segment starting with ".stkdr-" is reserved: keys may not use one,
 * and list never reports one):
 *
 *   <root>/<dir>/<name>                  the object <dir>/<name>: exactly its bytes
 *   <root>/<dir>/.stkdr-meta.<name>      its metadata sidecar, JSON:
 *                                        {"format":1,"size":N,"sha256":"<hex>","mtime_ms":T,
 *                                         "retain_mode":"none|governance|compliance","retain_until_ms":U,
 *                                         "tier":"hot|cold|archive"[,"retrieval_ready_ms":R,
 *                                         "retrieval_expires_ms":E]}
 *   <root>/<dir>/.stkdr-tmp.<16 hex>     a write in progress (data or sidecar), never an object
 *   <root>/.stkdr-lifecycle.json         the lifecycle rules (set_lifecycle)
 *
 * An object exists when its data file exists. It is whole only with a sidecar that matches it: the size
 * is checked when a read or head opens it and the SHA-256 at the end of every whole-object read.
 *
 * A put, in this order:
 *   1. streams into a temporary file T in the target directory, hashing as it goes; commit fsyncs T and
 *      checks `expected_sha256` (ECORRUPT, nothing published);
 *   2. checks the existing object: create-only fails with EEXISTS if the data file exists, an overwrite
 *      fails with EIMMUTABLE if it is under retention;
 *   3. writes the sidecar into a temporary file S and fsyncs it (both are chmod 0444 first if locked);
 *   4. publishes the sidecar first, then the data:
 *        create-only: link(S, M) then link(T, D). link() fails with EEXIST instead of replacing, so
 *                     exactly one of several concurrent create-only writers wins. A sidecar without data
 *                     is a writer between its two links: EEXISTS, unless it is older than an hour (a
 *                     crashed writer), when it is removed and the link retried. If link(T, D) then fails
 *                     the writer removes its own sidecar again.
 *        otherwise:   rename(S, M) then rename(T, D);
 *   5. fsyncs the directory.
 *
 * Why this order is crash-safe (never "a half-written object that a reader takes for whole"):
 * - Until step 4 only reserved temporary names exist; list skips them and cleanup removes them.
 * - The data file, the commit point, appears by an atomic link/rename of a complete, fsynced file, after
 *   its sidecar. A crash between the two leaves, for a new key, a sidecar without data: the object does
 *   not exist (ENOTFOUND) and the orphan sidecar is removed after an hour. A concurrent reader of a key
 *   being created likewise sees ENOTFOUND until the data appears, and then a complete sidecar.
 * - For an overwrite (outside the repository's append-only discipline) a crash between the two renames
 *   pairs the new sidecar with the old data: the size or SHA-256 check fails and readers get ECORRUPT,
 *   never the wrong bytes. Create-only and overwrite writes of one key must not run concurrently.
 * - Data without any sidecar is not written by this protocol (a foreign file, or damage): it is not
 *   listed, and head/read report ECORRUPT naming the key.
 * - Delete checks retention, unlinks the data (the object is gone), then the sidecar.
 *
 * Archive tier (restore_archived): by default an object in the archive tier reads like any other. With
 * objstore.retrieval_delay set (a duration, "0s" in tests), the store behaves like S3 Deep Archive instead:
 * reading an archive-tier object fails with STKDR_EPENDING until a retrieval was requested and has
 * completed. restore_archived() requests one by recording in the sidecar when it completes (now + the
 * delay, wall clock) and until when the retrieved copy stays readable (+ `days`); once that has passed the
 * object needs a new retrieval. Changing the tier drops the retrieval.
 *
 * Retention: an object whose retain-until is in the future (by the wall clock, never the context's fake
 * clock) cannot be overwritten or deleted: EIMMUTABLE, for GOVERNANCE and COMPLIANCE alike; only a
 * delete with STKDR_DELETE_BYPASS_GOVERNANCE bypasses GOVERNANCE. Locked files are mode 0444.
 */
#include "backends/local/local.h"
#include "core/crypto.h"
#include "core/timeutil.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RESERVED_PREFIX ".stkdr-"
#define META_PREFIX ".stkdr-meta."
#define TMP_PREFIX ".stkdr-tmp."
#define LIFECYCLE_NAME ".stkdr-lifecycle.json"
#define META_FORMAT 1
#define LIFECYCLE_FORMAT 1
#define MAX_KEY 1024
#define MAX_SEGMENT 200
#define MAX_META_BYTES 65536
#define MAX_LIFECYCLE_BYTES (4 * 1024 * 1024)
#define DIR_MODE 0750
#define FILE_MODE 0640
#define LOCKED_MODE 0444
#define DAY_MS (86400 * 1000LL)
#define JSON_INT_MAX 9007199254740992LL /* 2^53: exact in a JSON (double) number */

typedef struct local_os {
	stkdr_objstore pub;
	char *root;
	int64_t retrieval_delay_ms; /* objstore.retrieval_delay; -1: the archive tier reads at once */
} local_os;

typedef struct meta {
	int64_t size;
	uint8_t sha256[32];
	int64_t mtime_ms;
	int retain_mode;
	int64_t retain_until_ms;
	int tier;
	int64_t retrieval_ready_ms, retrieval_expires_ms; /* a requested retrieval (archive tier), 0: none */
} meta;

static const char *const retain_names[] = { "none", "governance", "compliance" };
static const char *const tier_names[] = { "hot", "cold", "archive" };

static void local_os_free(stkdr_backend *be);

/* ------------------------------------------------------------------------------------------------ */
/* Shared filesystem helpers (declared in local.h)                                                    */
/* ------------------------------------------------------------------------------------------------ */

int stkdr__local_oserr(int err, const char *path, const char *what)
{
	char hint[640] = "";
	switch (err) {
	case EACCES:
	case EPERM:
		snprintf(hint, sizeof hint, "; check that the user running libstkdr may read and write %s", path);
		break;
	case EROFS:
		snprintf(hint, sizeof hint, "; the filesystem holding %s is mounted read-only", path);
		break;
	case ENOSPC:
	case EDQUOT:
		snprintf(hint, sizeof hint, "; free space (or raise the quota) on the filesystem holding %s", path);
		break;
	default:
		break;
	}
	int code = stkdr__seterr_os(err, "%s", what);
	if (hint[0]) {
		const stkdr_error *e = stkdr__err_get();
		char bcode[64];
		char msg[1024];
		snprintf(bcode, sizeof bcode, "%s", e->backend_code);
		snprintf(msg, sizeof msg, "%s%s", e->message, hint);
		stkdr_error_set_str(code, e->klass, bcode, msg);
	}
	return code;
}

char *stkdr__local_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return stkdr__strdup(".");
	if (slash == path)
		return stkdr__strdup("/");
	return stkdr__strndup(path, (size_t)(slash - path));
}

int stkdr__local_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		char what[1200];
		snprintf(what, sizeof what, "opening directory %s to sync it", path);
		return stkdr__local_oserr(errno, path, what);
	}
	int rc = 0;
	if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS) {
		char what[1200];
		snprintf(what, sizeof what, "syncing directory %s", path);
		rc = stkdr__local_oserr(errno, path, what);
	}
	close(fd);
	return rc;
}

int stkdr__local_mkdirs(const char *path, mode_t mode)
{
	struct stat st;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	char *p = stkdr__strdup(path);
	if (!p)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory creating %s", path);
	int rc = 0;
	size_t len = strlen(p);
	for (size_t i = 1; i <= len && rc == 0; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		if (p[i - 1] == '/')
			continue;
		char save = p[i];
		p[i] = '\0';
		if (mkdir(p, mode) == 0) {
			char *parent = stkdr__local_dirname(p);
			rc = parent ? stkdr__local_fsync_dir(parent) : STKDR_ENOMEM;
			stkdr__free(parent);
		} else if (errno == EEXIST) {
			if (stat(p, &st) != 0) {
				char what[1200];
				snprintf(what, sizeof what, "checking directory %s", p);
				rc = stkdr__local_oserr(errno, p, what);
			} else if (!S_ISDIR(st.st_mode)) {
				char what[1200];
				snprintf(what, sizeof what, "creating directory %s: %s exists and is not a directory", path, p);
				rc = stkdr__local_oserr(ENOTDIR, p, what);
			}
		} else {
			char what[1200];
			snprintf(what, sizeof what, "creating directory %s", p);
			rc = stkdr__local_oserr(errno, p, what);
		}
		p[i] = save;
	}
	if (rc == STKDR_ENOMEM)
		stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory creating %s", path);
	stkdr__free(p);
	return rc;
}

int stkdr__local_write_all(int fd, const void *data, size_t len, const char *path)
{
	const uint8_t *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			char what[1200];
			snprintf(what, sizeof what, "writing %s", path);
			return stkdr__local_oserr(errno, path, what);
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int stkdr__local_random_hex(char *out, size_t n)
{
	uint8_t b[32];
	if (n > sizeof b)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "random_hex: %zu bytes is too many", n);
	int rc = stkdr__random(b, n);
	if (rc)
		return rc;
	stkdr__hex_encode(out, b, n);
	return 0;
}

/* Opens a new temporary file in `dir` (created O_EXCL); its path into *tmp_out (stkdr__free). */
static int open_temp(int *fd_out, char **tmp_out, const char *dir, mode_t mode)
{
	for (int attempt = 0; attempt < 4; attempt++) {
		char hex[17];
		int rc = stkdr__local_random_hex(hex, 8);
		if (rc)
			return rc;
		char *tmp = stkdr__aprintf("%s/" TMP_PREFIX "%s", dir, hex);
		if (!tmp)
			return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
		int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
		if (fd >= 0) {
			if (fchmod(fd, mode) != 0) { /* exact mode, whatever the umask */
				int e = errno;
				close(fd);
				unlink(tmp);
				char what[1200];
				snprintf(what, sizeof what, "setting the mode of %s", tmp);
				rc = stkdr__local_oserr(e, tmp, what);
				stkdr__free(tmp);
				return rc;
			}
			*fd_out = fd;
			*tmp_out = tmp;
			return 0;
		}
		int e = errno;
		if (e == EEXIST) {
			stkdr__free(tmp);
			continue;
		}
		if (e == ENOENT && attempt < 3) {
			/* A concurrent delete removed the (then empty) directory: create it again. */
			stkdr__free(tmp);
			rc = stkdr__local_mkdirs(dir, DIR_MODE);
			if (rc)
				return rc;
			continue;
		}
		char what[1200];
		snprintf(what, sizeof what, "creating temporary file %s", tmp);
		rc = stkdr__local_oserr(e, dir, what);
		stkdr__free(tmp);
		return rc;
	}
	return stkdr__seterr(STKDR_EIO, STKDR_ERRCLASS_OS, "EEXIST", "cannot create a temporary file in %s", dir);
}

/* Writes, fsyncs and closes a new temporary file holding `data`. */
static int write_temp(char **tmp_out, const char *dir, const void *data, size_t len, mode_t mode)
{
	int fd;
	char *tmp;
	int rc = open_temp(&fd, &tmp, dir, mode);
	if (rc)
		return rc;
	rc = stkdr__local_write_all(fd, data, len, tmp);
	if (rc == 0 && fsync(fd) != 0) {
		char what[1200];
		snprintf(what, sizeof what, "syncing %s", tmp);
		rc = stkdr__local_oserr(errno, tmp, what);
	}
	if (close(fd) != 0 && rc == 0) {
		char what[1200];
		snprintf(what, sizeof what, "closing %s", tmp);
		rc = stkdr__local_oserr(errno, tmp, what);
	}
	if (rc) {
		unlink(tmp);
		stkdr__free(tmp);
		return rc;
	}
	*tmp_out = tmp;
	return 0;
}

int stkdr__local_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, int create_only)
{
	char *dir = stkdr__local_dirname(path);
	if (!dir)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory writing %s", path);
	char *tmp = NULL;
	int rc = write_temp(&tmp, dir, data, len, mode);
	if (rc == 0) {
		if (create_only) {
			if (link(tmp, path) != 0) {
				int e = errno;
				if (e == EEXIST) {
					rc = stkdr__seterr(STKDR_EEXISTS, STKDR_ERRCLASS_OS, "EEXIST", "%s exists already", path);
				} else {
					char what[1200];
					snprintf(what, sizeof what, "creating %s", path);
					rc = stkdr__local_oserr(e, path, what);
				}
			}
			unlink(tmp);
		} else if (rename(tmp, path) != 0) {
			char what[1200];
			snprintf(what, sizeof what, "replacing %s", path);
			rc = stkdr__local_oserr(errno, path, what);
			unlink(tmp);
		}
		if (rc == 0)
			rc = stkdr__local_fsync_dir(dir);
	}
	stkdr__free(tmp);
	stkdr__free(dir);
	return rc;
}

/* Reads at most `max` bytes of an open file; `path` names it in messages. */
static int read_fd_all(stkdr_buf *out, int fd, size_t max, const char *path)
{
	uint8_t tmp[8192];
	out->size = 0;
	if (out->ptr)
		out->ptr[0] = '\0';
	for (;;) {
		ssize_t n = read(fd, tmp, sizeof tmp);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			char what[1200];
			snprintf(what, sizeof what, "reading %s", path);
			return stkdr__local_oserr(errno, path, what);
		}
		if (n == 0)
			break;
		if (out->size + (size_t)n > max)
			return stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL,
				"%s is larger than %zu bytes: it is not a file libstkdr wrote; check or remove it", path, max);
		int rc = stkdr_buf_put(out, tmp, (size_t)n);
		if (rc)
			return rc;
	}
	if (!out->ptr)
		return stkdr_buf_set(out, "", 0);
	return 0;
}

int stkdr__local_read_file(stkdr_buf *out, const char *path, size_t max)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		char what[1200];
		snprintf(what, sizeof what, "opening %s", path);
		return stkdr__local_oserr(errno, path, what);
	}
	int rc = read_fd_all(out, fd, max, path);
	close(fd);
	return rc;
}

/* ------------------------------------------------------------------------------------------------ */
/* Keys, paths and metadata                                                                           */
/* ------------------------------------------------------------------------------------------------ */

static int is_reserved_name(const char *name, size_t len)
{
	return len >= strlen(RESERVED_PREFIX) && memcmp(name, RESERVED_PREFIX, strlen(RESERVED_PREFIX)) == 0;
}

/* Checks one segment; NULL if fine, else why not. */
static const char *segment_problem(const char *seg, size_t len)
{
	if (len == 0)
		return "it has an empty segment (\"//\", or a leading or trailing '/')";
	if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
		return "it has a \".\" or \"..\" segment";
	if (is_reserved_name(seg, len))
		return "segments starting with \".stkdr-\" are reserved for the local store's own files";
	if (len > MAX_SEGMENT)
		return "a segment is longer than 200 bytes";
	return NULL;
}

static int validate_key(const char *key)
{
	if (!key || !*key)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL, "object key is empty: pass a relative key");
	size_t len = strlen(key);
	if (len > MAX_KEY)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL,
			"object key '%.64s...' is %zu bytes long; keys are at most %d bytes", key, len, MAX_KEY);
	if (key[0] == '/')
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL,
			"object key '%s' is invalid: keys are relative (no leading '/')", key);
	const char *seg = key;
	for (;;) {
		const char *end = strchr(seg, '/');
		size_t n = end ? (size_t)(end - seg) : strlen(seg);
		const char *why = segment_problem(seg, n);
		if (why)
			return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL, "object key '%s' is invalid: %s", key, why);
		if (!end)
			break;
		seg = end + 1;
	}
	return 0;
}

/* The directory part of a list prefix ("a/b/c" -> "a/b/") must be made of valid segments. */
static int validate_prefix(const char *prefix)
{
	const char *last = strrchr(prefix, '/');
	if (!last)
		return 0;
	if (prefix[0] == '/')
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL,
			"list prefix '%s' is invalid: keys are relative (no leading '/')", prefix);
	const char *seg = prefix;
	while (seg <= last) {
		const char *end = strchr(seg, '/');
		const char *why = segment_problem(seg, (size_t)(end - seg));
		if (why)
			return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL, "list prefix '%s' is invalid: %s",
				prefix, why);
		seg = end + 1;
	}
	return 0;
}

typedef struct obj_paths {
	char *data; /* <root>/<key> */
	char *meta; /* <root>/<dir>/.stkdr-meta.<name> */
	char *dir;  /* <root>/<dir> */
} obj_paths;

static void paths_free(obj_paths *p)
{
	stkdr__free(p->data);
	stkdr__free(p->meta);
	stkdr__free(p->dir);
	memset(p, 0, sizeof *p);
}

static int paths_make(obj_paths *p, const local_os *os, const char *key)
{
	memset(p, 0, sizeof *p);
	const char *slash = strrchr(key, '/');
	p->data = stkdr__aprintf("%s/%s", os->root, key);
	if (slash) {
		p->dir = stkdr__aprintf("%s/%.*s", os->root, (int)(slash - key), key);
		p->meta = stkdr__aprintf("%s/%.*s/" META_PREFIX "%s", os->root, (int)(slash - key), key, slash + 1);
	} else {
		p->dir = stkdr__strdup(os->root);
		p->meta = stkdr__aprintf("%s/" META_PREFIX "%s", os->root, key);
	}
	if (!p->data || !p->dir || !p->meta) {
		paths_free(p);
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory for object %s", key);
	}
	return 0;
}

static int name_index(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return (int)i;
	return -1;
}

/* An integer member in [min, max] exactly representable in JSON. */
static int json_int(int64_t *out, const cJSON *obj, const char *name, int64_t min, int64_t max)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	if (!cJSON_IsNumber(v))
		return -1;
	double d = v->valuedouble;
	if (!(d >= (double)min && d <= (double)max) || d != (double)(int64_t)d)
		return -1;
	*out = (int64_t)d;
	return 0;
}

static const char *json_str(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static char *meta_json(const meta *m)
{
	char hex[65];
	stkdr__hex_encode(hex, m->sha256, 32);
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	int ok = cJSON_AddNumberToObject(o, "format", META_FORMAT) != NULL;
	ok = ok && cJSON_AddNumberToObject(o, "size", (double)m->size) != NULL;
	ok = ok && cJSON_AddStringToObject(o, "sha256", hex) != NULL;
	ok = ok && cJSON_AddNumberToObject(o, "mtime_ms", (double)m->mtime_ms) != NULL;
	ok = ok && cJSON_AddStringToObject(o, "retain_mode", retain_names[m->retain_mode]) != NULL;
	ok = ok && cJSON_AddNumberToObject(o, "retain_until_ms", (double)m->retain_until_ms) != NULL;
	ok = ok && cJSON_AddStringToObject(o, "tier", tier_names[m->tier]) != NULL;
	if (m->retrieval_ready_ms) {
		ok = ok && cJSON_AddNumberToObject(o, "retrieval_ready_ms", (double)m->retrieval_ready_ms) != NULL;
		ok = ok && cJSON_AddNumberToObject(o, "retrieval_expires_ms", (double)m->retrieval_expires_ms) != NULL;
	}
	char *s = ok ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	return s;
}

/* Parses a sidecar; on failure sets ECORRUPT/EVERSION naming the key and `path`. */
static int meta_parse(meta *m, const stkdr_buf *b, const char *key, const char *path)
{
	const char *why = NULL;
	int64_t fmt = 0;
	cJSON *o = NULL;
	memset(m, 0, sizeof *m);
	if (b->size != strlen(b->ptr))
		why = "it contains a NUL byte";
	else if (!cJSON_IsObject(o = cJSON_ParseWithOpts(b->ptr, NULL, 1)))
		why = "it is not a JSON object";
	else if (json_int(&fmt, o, "format", 1, 1000000) != 0)
		why = "\"format\" is missing or not a positive integer";
	if (!why && fmt > META_FORMAT) {
		cJSON_Delete(o);
		return stkdr__seterr(STKDR_EVERSION, STKDR_ERRCLASS_FORMAT, NULL,
			"object %s: metadata %s has format %lld, newer than this libstkdr understands (%d); upgrade libstkdr",
			key, path, (long long)fmt, META_FORMAT);
	}
	const char *hex = why ? NULL : json_str(o, "sha256");
	const char *mode = why ? NULL : json_str(o, "retain_mode");
	const char *tier = why ? NULL : json_str(o, "tier");
	if (why)
		;
	else if (json_int(&m->size, o, "size", 0, JSON_INT_MAX) != 0)
		why = "\"size\" is missing or invalid";
	else if (!hex || strlen(hex) != 64 || stkdr__hex_decode(m->sha256, 32, hex) != 0)
		why = "\"sha256\" is missing or not 64 hex digits";
	else if (json_int(&m->mtime_ms, o, "mtime_ms", 0, JSON_INT_MAX) != 0)
		why = "\"mtime_ms\" is missing or invalid";
	else if (!mode || (m->retain_mode = name_index(retain_names, 3, mode)) < 0)
		why = "\"retain_mode\" is missing or not none/governance/compliance";
	else if (json_int(&m->retain_until_ms, o, "retain_until_ms", 0, JSON_INT_MAX) != 0)
		why = "\"retain_until_ms\" is missing or invalid";
	else if (!tier || (m->tier = name_index(tier_names, 3, tier)) < 0)
		why = "\"tier\" is missing or not hot/cold/archive";
	else if (cJSON_GetObjectItemCaseSensitive(o, "retrieval_ready_ms") &&
		 (json_int(&m->retrieval_ready_ms, o, "retrieval_ready_ms", 0, JSON_INT_MAX) != 0 ||
		  json_int(&m->retrieval_expires_ms, o, "retrieval_expires_ms", 0, JSON_INT_MAX) != 0))
		why = "\"retrieval_ready_ms\" or \"retrieval_expires_ms\" is invalid";
	cJSON_Delete(o);
	if (!why)
		return 0;
	memset(m, 0, sizeof *m);
	return stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL,
		"object %s: metadata sidecar %s is malformed (%s); the object cannot be trusted: restore the "
		"sidecar from a copy of the repository or delete the object", key, path, why);
}

/* Reads the sidecar `name` in directory `dfd` (or a path when dfd is AT_FDCWD). ENOTFOUND: none. */
static int meta_read_at(meta *m, int dfd, const char *name, const char *key, const char *path)
{
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_LOCAL, "ENOENT",
				"object %s: no metadata sidecar %s", key, path);
		char what[1200];
		snprintf(what, sizeof what, "object %s: opening metadata %s", key, path);
		return stkdr__local_oserr(errno, path, what);
	}
	stkdr_buf b = STKDR_BUF_INIT;
	int rc = read_fd_all(&b, fd, MAX_META_BYTES, path);
	close(fd);
	if (rc == 0)
		rc = meta_parse(m, &b, key, path);
	stkdr_buf_dispose(&b);
	return rc;
}

static int is_locked(const meta *m, int64_t now)
{
	return m->retain_mode != STKDR_RETAIN_NONE && m->retain_until_ms > now;
}

static int immutable_err(const char *key, const meta *m, const char *action)
{
	char when[40];
	stkdr__time_format_rfc3339(when, sizeof when, m->retain_until_ms);
	return stkdr__seterr(STKDR_EIMMUTABLE, STKDR_ERRCLASS_LOCAL, NULL,
		"object %s is under %s retention until %s and cannot be %s before then%s", key,
		m->retain_mode == STKDR_RETAIN_COMPLIANCE ? "COMPLIANCE" : "GOVERNANCE", when, action,
		m->retain_mode == STKDR_RETAIN_GOVERNANCE && action[0] == 'd'
			? " (GOVERNANCE retention may be bypassed by a privileged delete with "
			  "STKDR_DELETE_BYPASS_GOVERNANCE)" : "");
}

/* lstat of the data file: 0 for a regular file, ENOTFOUND if absent or a directory. */
static int data_stat(struct stat *st, const local_os *os, const obj_paths *p, const char *key)
{
	if (lstat(p->data, st) != 0) {
		int e = errno;
		if (e == ENOENT || e == ENOTDIR)
			return stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_LOCAL, "ENOENT",
				"object %s not found in the local repository %s", key, os->root);
		char what[1200];
		snprintf(what, sizeof what, "object %s: checking %s", key, p->data);
		return stkdr__local_oserr(e, p->data, what);
	}
	if (S_ISDIR(st->st_mode))
		return stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_LOCAL, "ENOENT",
			"object %s not found in the local repository %s (only keys below %s/ exist)", key, os->root, key);
	if (!S_ISREG(st->st_mode))
		return stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_LOCAL, NULL,
			"object %s: %s is not a regular file; remove it from the repository", key, p->data);
	return 0;
}

/*
 * The state of an object: 0 with *m filled when data and a matching-size sidecar exist.
 * ENOTFOUND if the data file is missing (or is a directory); ECORRUPT for data without a sidecar, a
 * malformed sidecar, or a size mismatch. `st` receives the data file's stat.
 */
static int object_load(meta *m, struct stat *st, const local_os *os, const obj_paths *p, const char *key)
{
	int rc0 = data_stat(st, os, p, key);
	if (rc0)
		return rc0;
	int rc = meta_read_at(m, AT_FDCWD, p->meta, key, p->meta);
	if (rc == STKDR_ENOTFOUND)
		return stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_LOCAL, NULL,
			"object %s: data file %s has no metadata sidecar, so it is not a committed object (a foreign "
			"file, or damage); check it, then delete the key", key, p->data);
	if (rc)
		return rc;
	if (m->size != (int64_t)st->st_size)
		return stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_LOCAL, NULL,
			"object %s: data file %s is %lld bytes but its metadata says %lld (damage, or an interrupted "
			"overwrite); restore the object from another copy", key, p->data, (long long)st->st_size,
			(long long)m->size);
	return 0;
}

static void info_fill(stkdr_objinfo *out, const meta *m, const char *key)
{
	memset(out, 0, sizeof *out);
	out->version = STKDR_OBJINFO_VERSION;
	out->key = key;
	out->size = m->size;
	out->has_sha256 = 1;
	memcpy(out->sha256, m->sha256, 32);
	out->mtime_ms = m->mtime_ms;
	out->retain_mode = m->retain_mode;
	out->retain_until_ms = m->retain_mode ? m->retain_until_ms : 0;
	out->tier = m->tier;
}

static int conflict_err(const char *key, const char *detail)
{
	return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL,
		"object key '%s' conflicts with %s: the local store cannot hold both a key and keys below it as a "
		"prefix; choose another key", key, detail);
}

/* ------------------------------------------------------------------------------------------------ */
/* Writer                                                                                             */
/* ------------------------------------------------------------------------------------------------ */

typedef struct local_writer {
	stkdr_objwriter pub;
	local_os *os;
	char *key;
	obj_paths paths;
	char *tmp;
	int fd;
	stkdr__sha256_ctx sha;
	int64_t size;
	uint32_t flags;
	int retain_mode;
	int64_t retain_until_ms;
	int tier;
	int has_expected;
	uint8_t expected[32];
	int failed; /* a write failed: the code */
} local_writer;

static void writer_free(local_writer *w, int unlink_tmp)
{
	if (w->fd >= 0)
		close(w->fd);
	if (unlink_tmp && w->tmp)
		unlink(w->tmp);
	stkdr__free(w->tmp);
	stkdr__free(w->key);
	paths_free(&w->paths);
	stkdr__free(w);
}

static int lw_write(stkdr_objwriter *w_, const uint8_t *data, size_t len)
{
	local_writer *w = (local_writer *)w_;
	if (w->failed)
		return stkdr__seterr(w->failed, STKDR_ERRCLASS_LOCAL, NULL,
			"object %s: an earlier write failed; abort this writer and start again", w->key);
	if (len == 0)
		return 0;
	if (!data)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL, "object %s: write of %zu bytes from NULL",
			w->key, len);
	if ((uint64_t)len > (uint64_t)(JSON_INT_MAX - w->size))
		return w->failed = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL,
			"object %s: larger than %lld bytes", w->key, JSON_INT_MAX);
	int rc = stkdr__local_write_all(w->fd, data, len, w->tmp);
	if (rc) {
		stkdr__err_prefix("object %s", w->key);
		return w->failed = rc;
	}
	stkdr__sha256_update(&w->sha, data, len);
	w->size += (int64_t)len;
	return 0;
}

static void lw_abort(stkdr_objwriter *w_)
{
	local_writer *w = (local_writer *)w_;
	uint8_t dummy[32];
	stkdr__sha256_final(&w->sha, dummy);
	writer_free(w, 1);
}

/* Step 2 of the put: is the key free to be written? */
static int check_target(local_writer *w, int64_t now)
{
	struct stat st;
	if (lstat(w->paths.data, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		char what[1200];
		snprintf(what, sizeof what, "object %s: checking %s", w->key, w->paths.data);
		return stkdr__local_oserr(errno, w->paths.data, what);
	}
	if (S_ISDIR(st.st_mode))
		return conflict_err(w->key, "existing keys below it");
	if (w->flags & STKDR_PUT_CREATE_ONLY)
		return stkdr__seterr(STKDR_EEXISTS, STKDR_ERRCLASS_LOCAL, NULL,
			"object %s already exists (create-only write)", w->key);
	meta m;
	int rc = meta_read_at(&m, AT_FDCWD, w->paths.meta, w->key, w->paths.meta);
	if (rc == STKDR_ENOTFOUND)
		return 0; /* a foreign data file: no retention known to protect */
	if (rc)
		return rc;
	if (is_locked(&m, now))
		return immutable_err(w->key, &m, "overwritten");
	return 0;
}

/* Step 4, create-only: link the sidecar, then the data. */
static int publish_create_only(local_writer *w, const char *side_tmp)
{
	for (int attempt = 0;; attempt++) {
		if (link(side_tmp, w->paths.meta) == 0)
			break;
		int e = errno;
		if (e != EEXIST) {
			char what[1200];
			snprintf(what, sizeof what, "object %s: creating %s", w->key, w->paths.meta);
			return stkdr__local_oserr(e, w->paths.meta, what);
		}
		struct stat st;
		if (lstat(w->paths.data, &st) == 0)
			return stkdr__seterr(STKDR_EEXISTS, STKDR_ERRCLASS_LOCAL, NULL,
				"object %s already exists (create-only write)", w->key);
		if (attempt == 0 && lstat(w->paths.meta, &st) == 0 &&
			stkdr__time_now_ms() - ((int64_t)st.st_mtime * 1000) >= STKDR__LOCAL_STALE_MS) {
			unlink(w->paths.meta); /* left by a writer that crashed between its two links */
			continue;
		}
		return stkdr__seterr(STKDR_EEXISTS, STKDR_ERRCLASS_LOCAL, NULL,
			"object %s is being created by another writer (or a write of it was interrupted less than an "
			"hour ago)", w->key);
	}
	if (link(w->tmp, w->paths.data) != 0) {
		int e = errno;
		unlink(w->paths.meta);
		if (e == EEXIST)
			return stkdr__seterr(STKDR_EEXISTS, STKDR_ERRCLASS_LOCAL, NULL,
				"object %s already exists (create-only write)", w->key);
		char what[1200];
		snprintf(what, sizeof what, "object %s: creating %s", w->key, w->paths.data);
		return stkdr__local_oserr(e, w->paths.data, what);
	}
	unlink(w->tmp);
	return 0;
}

static int publish_replace(local_writer *w, const char *side_tmp)
{
	char what[1200];
	if (rename(side_tmp, w->paths.meta) != 0) {
		snprintf(what, sizeof what, "object %s: replacing %s", w->key, w->paths.meta);
		return stkdr__local_oserr(errno, w->paths.meta, what);
	}
	if (rename(w->tmp, w->paths.data) != 0) {
		int e = errno;
		struct stat st;
		if (lstat(w->paths.data, &st) != 0 && errno == ENOENT) {
			unlink(w->paths.meta); /* a new key: our sidecar alone must not linger */
			snprintf(what, sizeof what, "object %s: creating %s; nothing was stored", w->key, w->paths.data);
		} else {
			snprintf(what, sizeof what, "object %s: replacing %s (the object now reads as corrupt: write it again)",
				w->key, w->paths.data);
		}
		return stkdr__local_oserr(e, w->paths.data, what);
	}
	return 0;
}

static int lw_commit(stkdr_objwriter *w_, uint8_t *sha256_out)
{
	local_writer *w = (local_writer *)w_;
	uint8_t digest[32];
	char *side_tmp = NULL;
	char *json = NULL;
	int rc;
	stkdr__sha256_final(&w->sha, digest);
	if (w->failed) {
		rc = stkdr__seterr(w->failed, STKDR_ERRCLASS_LOCAL, NULL,
			"object %s: not committed because an earlier write failed; nothing was stored", w->key);
		goto out;
	}
	int locked = w->retain_mode != STKDR_RETAIN_NONE;
	if (locked && fchmod(w->fd, LOCKED_MODE) != 0) {
		char what[1200];
		snprintf(what, sizeof what, "object %s: setting mode 0444 on %s", w->key, w->tmp);
		rc = stkdr__local_oserr(errno, w->tmp, what);
		goto out;
	}
	if (fsync(w->fd) != 0) {
		char what[1200];
		snprintf(what, sizeof what, "object %s: syncing %s", w->key, w->tmp);
		rc = stkdr__local_oserr(errno, w->tmp, what);
		goto out;
	}
	struct stat tst;
	if (fstat(w->fd, &tst) == 0 && tst.st_nlink == 0) {
		rc = stkdr__seterr(STKDR_EIO, STKDR_ERRCLASS_LOCAL, NULL,
			"object %s: its temporary file %s disappeared before commit (removed by a cleanup of stale "
			"writes?); nothing was stored: write it again", w->key, w->tmp);
		goto out;
	}
	int cr = close(w->fd);
	w->fd = -1;
	if (cr != 0) {
		char what[1200];
		snprintf(what, sizeof what, "object %s: closing %s", w->key, w->tmp);
		rc = stkdr__local_oserr(errno, w->tmp, what);
		goto out;
	}
	if (w->has_expected && stkdr__ct_memcmp(digest, w->expected, 32) != 0) {
		char want[65], got[65];
		stkdr__hex_encode(want, w->expected, 32);
		stkdr__hex_encode(got, digest, 32);
		rc = stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_LOCAL, NULL,
			"object %s: the data written does not match the expected checksum (expected %s, computed %s); "
			"nothing was stored", w->key, want, got);
		goto out;
	}
	int64_t now = stkdr__time_now_ms();
	rc = check_target(w, now);
	if (rc)
		goto out;
	meta m;
	memset(&m, 0, sizeof m);
	m.size = w->size;
	memcpy(m.sha256, digest, 32);
	m.mtime_ms = now;
	m.retain_mode = w->retain_mode;
	m.retain_until_ms = locked ? w->retain_until_ms : 0;
	m.tier = w->tier;
	json = meta_json(&m);
	if (!json) {
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "object %s: out of memory", w->key);
		goto out;
	}
	rc = write_temp(&side_tmp, w->paths.dir, json, strlen(json), locked ? LOCKED_MODE : FILE_MODE);
	if (rc) {
		stkdr__err_prefix("object %s", w->key);
		goto out;
	}
	rc = (w->flags & STKDR_PUT_CREATE_ONLY) ? publish_create_only(w, side_tmp) : publish_replace(w, side_tmp);
	unlink(side_tmp);
	if (rc)
		goto out;
	stkdr__free(w->tmp);
	w->tmp = NULL; /* published: nothing to remove */
	rc = stkdr__local_fsync_dir(w->paths.dir);
	if (rc == 0 && sha256_out)
		memcpy(sha256_out, digest, 32);
out:
	if (json)
		cJSON_free(json);
	stkdr__free(side_tmp);
	writer_free(w, 1);
	return rc;
}

static int validate_put_options(const stkdr_put_options *o, const char *key, int64_t now)
{
	if (o->version == 0 || o->version > STKDR_PUT_OPTIONS_VERSION)
		return stkdr__seterr(STKDR_EVERSION, STKDR_ERRCLASS_LOCAL, NULL,
			"object %s: stkdr_put_options version %u is not supported (1..%d)", key, o->version,
			STKDR_PUT_OPTIONS_VERSION);
	if (o->flags & ~(uint32_t)STKDR_PUT_CREATE_ONLY)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL, "object %s: unknown put flags 0x%x", key,
			(unsigned)o->flags);
	if (o->retain_mode < STKDR_RETAIN_NONE || o->retain_mode > STKDR_RETAIN_COMPLIANCE)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL,
			"object %s: retain mode %d is not none (0), governance (1) or compliance (2)", key, o->retain_mode);
	if (o->retain_mode != STKDR_RETAIN_NONE && o->retain_until_ms <= now) {
		char when[40];
		stkdr__time_format_rfc3339(when, sizeof when, o->retain_until_ms);
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL,
			"object %s: retain-until %s is not in the future", key, when);
	}
	if (o->retain_until_ms > JSON_INT_MAX)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL, "object %s: retain-until is out of range",
			key);
	if (o->tier < STKDR_TIER_HOT || o->tier > STKDR_TIER_ARCHIVE)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL,
			"object %s: tier %d is not hot (0), cold (1) or archive (2)", key, o->tier);
	return 0;
}

static int los_open_write(stkdr_objwriter **out, stkdr_objstore *os_, const char *key, const stkdr_put_options *opts)
{
	local_os *os = (local_os *)os_;
	stkdr_put_options dflt = STKDR_PUT_OPTIONS_INIT;
	if (!out)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL, "open_write: out is NULL");
	*out = NULL;
	int rc = validate_key(key);
	if (rc)
		return rc;
	if (!opts)
		opts = &dflt;
	int64_t now = stkdr__time_now_ms();
	rc = validate_put_options(opts, key, now);
	if (rc)
		return rc;
	local_writer *w = stkdr__calloc(1, sizeof *w);
	if (!w)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "object %s: out of memory", key);
	w->fd = -1;
	w->os = os;
	w->flags = opts->flags;
	w->retain_mode = opts->retain_mode;
	w->retain_until_ms = opts->retain_until_ms;
	w->tier = opts->tier;
	if (opts->expected_sha256) {
		w->has_expected = 1;
		memcpy(w->expected, opts->expected_sha256, 32);
	}
	w->key = stkdr__strdup(key);
	if (!w->key) {
		writer_free(w, 0);
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "object %s: out of memory", key);
	}
	rc = paths_make(&w->paths, os, key);
	if (rc == 0) {
		rc = stkdr__local_mkdirs(w->paths.dir, DIR_MODE);
		if (rc && strcmp(stkdr__err_get()->backend_code, "ENOTDIR") == 0)
			rc = conflict_err(key, "an existing object at one of its parent directories");
	}
	if (rc == 0)
		rc = check_target(w, now); /* early, so a 50 GB stream does not fail only at commit */
	if (rc == 0)
		rc = open_temp(&w->fd, &w->tmp, w->paths.dir, FILE_MODE);
	if (rc) {
		writer_free(w, 0);
		return rc;
	}
	stkdr__sha256_init(&w->sha);
	w->pub.version = 1;
	w->pub.write = lw_write;
	w->pub.commit = lw_commit;
	w->pub.abort = lw_abort;
	*out = &w->pub;
	return 0;
}

/* ------------------------------------------------------------------------------------------------ */
/* Reader                                                                                             */
/* ------------------------------------------------------------------------------------------------ */

typedef struct local_reader {
	stkdr_objreader pub;
	int fd;
	char *key;
	int64_t remaining; /* bytes left in the range */
	int verify;
	uint8_t want[32];
	int64_t want_size;
	int64_t got_size;
	stkdr__sha256_ctx sha;
	int state; /* 0 reading, 1 done, <0 failed with that code */
} local_reader;

static int lr_read(stkdr_objreader *r_, uint8_t *buf, size_t cap, size_t *nread_out)
{
	local_reader *r = (local_reader *)r_;
	if (!nread_out)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL, "object %s: read with nread_out NULL", r->key);
	*nread_out = 0;
	if (r->state < 0)
		return stkdr__seterr(r->state, STKDR_ERRCLASS_LOCAL, NULL, "object %s: the read failed earlier", r->key);
	if (r->state == 1 || cap == 0)
		return 0;
	if (!buf)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL, "object %s: read into NULL", r->key);
	size_t want = cap;
	if ((uint64_t)want > (uint64_t)r->remaining)
		want = (size_t)r->remaining;
	ssize_t n = 0;
	if (want > 0) {
		do
			n = read(r->fd, buf, want);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			char what[1200];
			snprintf(what, sizeof what, "object %s: reading", r->key);
			return r->state = stkdr__local_oserr(errno, r->key, what);
		}
	}
	if (n > 0) {
		if (r->verify)
			stkdr__sha256_update(&r->sha, buf, (size_t)n);
		r->remaining -= n;
		r->got_size += n;
		*nread_out = (size_t)n;
		return 0;
	}
	/* End of the range or of the file. */
	if (!r->verify) {
		r->state = 1;
		return 0;
	}
	uint8_t got[32];
	stkdr__sha256_final(&r->sha, got);
	r->verify = 0;
	if (r->got_size != r->want_size)
		return r->state = stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_LOCAL, NULL,
			"object %s: truncated while reading (%lld of %lld bytes); restore it from another copy", r->key,
			(long long)r->got_size, (long long)r->want_size);
	if (stkdr__ct_memcmp(got, r->want, 32) != 0) {
		char stored[65], computed[65];
		stkdr__hex_encode(stored, r->want, 32);
		stkdr__hex_encode(computed, got, 32);
		return r->state = stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_LOCAL, NULL,
			"object %s: checksum mismatch (stored %s, computed %s); the data is damaged: restore it from "
			"another copy", r->key, stored, computed);
	}
	r->state = 1;
	return 0;
}

static void lr_close(stkdr_objreader *r_)
{
	local_reader *r = (local_reader *)r_;
	if (!r)
		return;
	if (r->verify) {
		uint8_t dummy[32];
		stkdr__sha256_final(&r->sha, dummy);
	}
	if (r->fd >= 0)
		close(r->fd);
	stkdr__free(r->key);
	stkdr__free(r);
}

/* Whether an object can be read at `now` (a ::stkdr_retrieval_state; STARTED is never returned). */
static int retrieval_state(const local_os *os, const meta *m, int64_t now)
{
	if (os->retrieval_delay_ms < 0 || m->tier != STKDR_TIER_ARCHIVE)
		return STKDR_RETRIEVAL_READABLE;
	if (m->retrieval_ready_ms && now >= m->retrieval_ready_ms && now < m->retrieval_expires_ms)
		return STKDR_RETRIEVAL_READABLE;
	if (m->retrieval_ready_ms && now < m->retrieval_ready_ms)
		return STKDR_RETRIEVAL_IN_PROGRESS;
	return -1; /* none, or the retrieved copy expired */
}

static int pending_err(const char *key, const meta *m)
{
	char when[40] = "";
	if (m->retrieval_ready_ms > stkdr__time_now_ms())
		stkdr__time_format_rfc3339(when, sizeof when, m->retrieval_ready_ms);
	if (when[0])
		return stkdr__seterr(STKDR_EPENDING, STKDR_ERRCLASS_LOCAL, "InvalidObjectState",
			"object %s is in the archive tier and its retrieval completes at %s: read it then", key, when);
	return stkdr__seterr(STKDR_EPENDING, STKDR_ERRCLASS_LOCAL, "InvalidObjectState",
		"object %s is in the archive tier and not retrieved: request a retrieval (restore_archived) and read it "
		"once it completes", key);
}

static int los_open_read(stkdr_objreader **out, stkdr_objstore *os_, const char *key, int64_t offset, int64_t length)
{
	local_os *os = (local_os *)os_;
	if (!out)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL, "open_read: out is NULL");
	*out = NULL;
	int rc = validate_key(key);
	if (rc)
		return rc;
	if (offset < 0 || length < -1)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL,
			"object %s: invalid range (offset %lld, length %lld)", key, (long long)offset, (long long)length);
	obj_paths p;
	rc = paths_make(&p, os, key);
	if (rc)
		return rc;
	meta m;
	struct stat st;
	local_reader *r = NULL;
	rc = object_load(&m, &st, os, &p, key);
	if (rc)
		goto out;
	if (retrieval_state(os, &m, stkdr__time_now_ms()) != STKDR_RETRIEVAL_READABLE) {
		rc = pending_err(key, &m);
		goto out;
	}
	if (offset > m.size) {
		rc = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL,
			"object %s: range starts at %lld, beyond its end (%lld bytes)", key, (long long)offset,
			(long long)m.size);
		goto out;
	}
	r = stkdr__calloc(1, sizeof *r);
	if (r)
		r->fd = -1;
	if (!r || !(r->key = stkdr__strdup(key))) {
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "object %s: out of memory", key);
		goto out;
	}
	r->fd = open(p.data, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (r->fd < 0) {
		int e = errno;
		char what[1200];
		snprintf(what, sizeof what, "object %s: opening %s", key, p.data);
		rc = stkdr__local_oserr(e, p.data, what);
		goto out;
	}
	if (offset > 0 && lseek(r->fd, (off_t)offset, SEEK_SET) < 0) {
		char what[1200];
		snprintf(what, sizeof what, "object %s: seeking in %s", key, p.data);
		rc = stkdr__local_oserr(errno, p.data, what);
		goto out;
	}
	r->remaining = m.size - offset;
	if (length >= 0 && length < r->remaining)
		r->remaining = length;
	if (offset == 0 && length == -1) {
		r->verify = 1;
		memcpy(r->want, m.sha256, 32);
		r->want_size = m.size;
		stkdr__sha256_init(&r->sha);
	}
	r->pub.version = 1;
	r->pub.read = lr_read;
	r->pub.close = lr_close;
	*out = &r->pub;
	r = NULL;
out:
	if (r)
		lr_close(&r->pub);
	paths_free(&p);
	return rc;
}

/* ------------------------------------------------------------------------------------------------ */
/* head, del, set_tier                                                                                */
/* ------------------------------------------------------------------------------------------------ */

static int los_head(stkdr_objinfo *out, stkdr_objstore *os_, const char *key)
{
	local_os *os = (local_os *)os_;
	if (!out)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL, "head: out is NULL");
	int rc = validate_key(key);
	if (rc)
		return rc;
	obj_paths p;
	rc = paths_make(&p, os, key);
	if (rc)
		return rc;
	meta m;
	struct stat st;
	rc = object_load(&m, &st, os, &p, key);
	if (rc == 0)
		info_fill(out, &m, key);
	paths_free(&p);
	return rc;
}

/* Removes empty directories from `dir` up to (not including) the root. */
static void prune_dirs(const local_os *os, char *dir)
{
	size_t rootlen = strlen(os->root);
	for (;;) {
		size_t len = strlen(dir);
		if (len <= rootlen || rmdir(dir) != 0)
			return;
		char *slash = strrchr(dir, '/');
		if (!slash || (size_t)(slash - dir) < rootlen)
			return;
		*slash = '\0';
	}
}

static int los_del(stkdr_objstore *os_, const char *key, uint32_t flags)
{
	local_os *os = (local_os *)os_;
	int rc = validate_key(key);
	if (rc)
		return rc;
	if (flags & ~(uint32_t)STKDR_DELETE_BYPASS_GOVERNANCE)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL, "object %s: unknown delete flags 0x%x", key,
			(unsigned)flags);
	obj_paths p;
	rc = paths_make(&p, os, key);
	if (rc)
		return rc;
	meta m;
	struct stat st;
	rc = data_stat(&st, os, &p, key);
	if (rc)
		goto out;
	/* The sidecar says whether the object is locked. Data without one (foreign, or damaged) carries no
	 * retention and may be deleted; a sidecar that cannot be read might hide a lock: refuse. */
	rc = meta_read_at(&m, AT_FDCWD, p.meta, key, p.meta);
	if (rc == STKDR_ENOTFOUND) {
		memset(&m, 0, sizeof m);
		rc = 0;
	}
	if (rc)
		goto out;
	if (is_locked(&m, stkdr__time_now_ms()) &&
		(m.retain_mode == STKDR_RETAIN_COMPLIANCE || !(flags & STKDR_DELETE_BYPASS_GOVERNANCE))) {
		rc = immutable_err(key, &m, "deleted");
		goto out;
	}
	if (unlink(p.data) != 0) {
		char what[1200];
		snprintf(what, sizeof what, "object %s: deleting %s", key, p.data);
		rc = stkdr__local_oserr(errno, p.data, what);
		goto out;
	}
	if (unlink(p.meta) != 0 && errno != ENOENT) {
		char what[1200];
		snprintf(what, sizeof what, "object %s: deleting its metadata %s", key, p.meta);
		rc = stkdr__local_oserr(errno, p.meta, what);
		goto out;
	}
	rc = stkdr__local_fsync_dir(p.dir);
	prune_dirs(os, p.dir);
out:
	paths_free(&p);
	return rc;
}

static int los_set_tier(stkdr_objstore *os_, const char *key, int tier)
{
	local_os *os = (local_os *)os_;
	int rc = validate_key(key);
	if (rc)
		return rc;
	if (tier < STKDR_TIER_HOT || tier > STKDR_TIER_ARCHIVE)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL,
			"object %s: tier %d is not hot (0), cold (1) or archive (2)", key, tier);
	obj_paths p;
	rc = paths_make(&p, os, key);
	if (rc)
		return rc;
	meta m;
	struct stat st;
	char *json = NULL;
	rc = object_load(&m, &st, os, &p, key);
	if (rc || m.tier == tier)
		goto out;
	m.tier = tier;
	m.retrieval_ready_ms = m.retrieval_expires_ms = 0;
	json = meta_json(&m);
	if (!json) {
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "object %s: out of memory", key);
		goto out;
	}
	rc = stkdr__local_write_file_atomic(p.meta, json, strlen(json),
		is_locked(&m, stkdr__time_now_ms()) ? LOCKED_MODE : FILE_MODE, 0);
	if (rc)
		stkdr__err_prefix("object %s: setting tier %s", key, tier_names[tier]);
out:
	if (json)
		cJSON_free(json);
	paths_free(&p);
	return rc;
}

static int los_restore_archived(stkdr_objstore *os_, const char *key, int days, int speed, int *state_out)
{
	local_os *os = (local_os *)os_;
	if (!state_out)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL, "restore_archived: state_out is NULL");
	*state_out = STKDR_RETRIEVAL_READABLE;
	int rc = validate_key(key);
	if (rc)
		return rc;
	if (days < 1 || (speed != STKDR_RETRIEVAL_BULK && speed != STKDR_RETRIEVAL_STANDARD))
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL,
			"object %s: a retrieval needs days >= 1 (got %d) and a known speed (got %d)", key, days, speed);
	obj_paths p;
	rc = paths_make(&p, os, key);
	if (rc)
		return rc;
	meta m;
	struct stat st;
	char *json = NULL;
	int64_t now = stkdr__time_now_ms();
	rc = object_load(&m, &st, os, &p, key);
	if (rc)
		goto out;
	int state = retrieval_state(os, &m, now);
	if (state >= 0) {
		*state_out = state;
		goto out;
	}
	m.retrieval_ready_ms = now + os->retrieval_delay_ms;
	if (m.retrieval_ready_ms < 1)
		m.retrieval_ready_ms = 1;
	m.retrieval_expires_ms = m.retrieval_ready_ms + days * DAY_MS;
	json = meta_json(&m);
	if (!json) {
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "object %s: out of memory", key);
		goto out;
	}
	rc = stkdr__local_write_file_atomic(p.meta, json, strlen(json), is_locked(&m, now) ? LOCKED_MODE : FILE_MODE, 0);
	if (rc)
		stkdr__err_prefix("object %s: requesting its retrieval", key);
	else
		*state_out = STKDR_RETRIEVAL_STARTED;
out:
	if (json)
		cJSON_free(json);
	paths_free(&p);
	return rc;
}

/* ------------------------------------------------------------------------------------------------ */
/* Walking the tree: list, cleanup, lifecycle plan                                                    */
/* ------------------------------------------------------------------------------------------------ */

typedef struct walk walk;
struct walk {
	local_os *os;
	const char *prefix;
	size_t prefix_len;
	const char *start_after;
	int64_t now;
	int64_t clean_age; /* remove leftovers at least this old; -1: never */
	stkdr_buf key;     /* key of the current directory, "a/b/" */
	int (*visit)(walk *w, int dfd, const char *name, const struct stat *st);
	stkdr_objinfo_cb cb;
	void *payload;
	cJSON *rules; /* lifecycle plan */
};

typedef struct dent {
	char *name;
	size_t len;
	int is_dir;
} dent;

static int dent_char(const dent *d, size_t i)
{
	if (i < d->len)
		return (unsigned char)d->name[i];
	if (i == d->len && d->is_dir)
		return '/';
	return -1;
}

/* Orders entries as their keys sort: a directory "a" sorts as "a/". */
static int dent_cmp(const void *a, const void *b)
{
	const dent *x = a;
	const dent *y = b;
	for (size_t i = 0;; i++) {
		int cx = dent_char(x, i);
		int cy = dent_char(y, i);
		if (cx != cy)
			return cx < cy ? -1 : 1;
		if (cx < 0)
			return 0;
	}
}

static void maybe_clean(walk *w, int dfd, const char *name)
{
	struct stat st;
	if (w->clean_age < 0 || fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
		return;
	int64_t age = w->now - (int64_t)st.st_mtime * 1000;
	if (age < w->clean_age)
		return;
	if (strncmp(name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0) {
		unlinkat(dfd, name, 0);
	} else if (strncmp(name, META_PREFIX, strlen(META_PREFIX)) == 0) {
		struct stat dst;
		const char *data = name + strlen(META_PREFIX);
		if (*data && fstatat(dfd, data, &dst, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT)
			unlinkat(dfd, name, 0);
	}
}

static int walk_dir(walk *w, int dfd);

static int walk_entry(walk *w, int dfd, const dent *e)
{
	size_t base = w->key.size;
	int rc = stkdr_buf_put(&w->key, e->name, e->len);
	if (rc == 0 && e->is_dir)
		rc = stkdr_buf_put(&w->key, "/", 1);
	if (rc)
		return rc;
	const char *k = w->key.ptr;
	size_t klen = w->key.size;
	if (e->is_dir) {
		size_t n = klen < w->prefix_len ? klen : w->prefix_len;
		int skip = memcmp(k, w->prefix, n) != 0;
		if (!skip && w->start_after && strcmp(k, w->start_after) < 0 && strncmp(w->start_after, k, klen) != 0)
			skip = 1; /* every key below sorts before start_after */
		if (!skip) {
			int sub = openat(dfd, e->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0)
				rc = walk_dir(w, sub);
			else if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP)
				rc = stkdr__local_oserr(errno, w->os->root, "listing the local repository");
		}
	} else if (klen >= w->prefix_len && memcmp(k, w->prefix, w->prefix_len) == 0 &&
		(!w->start_after || strcmp(k, w->start_after) > 0)) {
		struct stat st;
		if (fstatat(dfd, e->name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
			rc = w->visit(w, dfd, e->name, &st);
	}
	w->key.size = base;
	w->key.ptr[base] = '\0';
	return rc;
}

/* Walks one directory (takes `dfd`), in key order. */
static int walk_dir(walk *w, int dfd)
{
	DIR *d = fdopendir(dfd);
	if (!d) {
		int e = errno;
		close(dfd);
		return stkdr__local_oserr(e, w->os->root, "listing the local repository");
	}
	dent *ents = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			if (errno != 0)
				rc = stkdr__local_oserr(errno, w->os->root, "listing the local repository");
			break;
		}
		const char *name = de->d_name;
		size_t len = strlen(name);
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		if (is_reserved_name(name, len)) {
			maybe_clean(w, dfd, name);
			continue;
		}
		if (segment_problem(name, len))
			continue; /* cannot be an object's name */
		struct stat st;
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !(S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)))
			continue;
		if ((rc = stkdr__grow(&ents, &cap, n, sizeof *ents, 32)) != 0)
			break;
		ents[n].name = stkdr__strndup(name, len);
		if (!ents[n].name) {
			rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory listing the repository");
			break;
		}
		ents[n].len = len;
		ents[n].is_dir = S_ISDIR(st.st_mode);
		n++;
	}
	if (rc == 0 && n > 1)
		qsort(ents, n, sizeof *ents, dent_cmp);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = walk_entry(w, dirfd(d), &ents[i]);
	for (size_t i = 0; i < n; i++)
		stkdr__free(ents[i].name);
	stkdr__free(ents);
	closedir(d);
	return rc;
}

/* Starts a walk at the directory part of w->prefix (already validated). */
static int walk_run(walk *w)
{
	const char *slash = strrchr(w->prefix, '/');
	size_t dlen = slash ? (size_t)(slash - w->prefix) + 1 : 0;
	char *dir = stkdr__aprintf("%s/%.*s", w->os->root, (int)dlen, w->prefix);
	if (!dir)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory listing the repository");
	int rc = 0;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		if (errno != ENOENT && errno != ENOTDIR) {
			char what[1200];
			snprintf(what, sizeof what, "listing %s", dir);
			rc = stkdr__local_oserr(errno, dir, what);
		}
	} else {
		rc = stkdr_buf_set(&w->key, w->prefix, dlen);
		if (rc == 0)
			rc = walk_dir(w, dfd);
		else
			close(dfd);
	}
	stkdr_buf_dispose(&w->key);
	stkdr__free(dir);
	return rc;
}

static int call_cb(walk *w, const stkdr_objinfo *info)
{
	int rc = w->cb(info, w->payload);
	if (rc < 0) {
		if (stkdr__err_get()->code != rc)
			stkdr__seterr(rc, STKDR_ERRCLASS_CALLBACK, NULL, "listing stopped by the callback at object %s (%d)",
				info->key, rc);
		return rc;
	}
	return 0;
}

static int visit_list(walk *w, int dfd, const char *name, const struct stat *st)
{
	char *mname = stkdr__aprintf(META_PREFIX "%s", name);
	if (!mname)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory listing the repository");
	meta m;
	int rc = meta_read_at(&m, dfd, mname, w->key.ptr, mname);
	stkdr__free(mname);
	if (rc == STKDR_ENOTFOUND)
		return 0; /* not a committed object */
	if (rc && rc != STKDR_ECORRUPT && rc != STKDR_EVERSION)
		return rc; /* out of memory, I/O error: the listing cannot be trusted */
	stkdr_objinfo info;
	if (rc == 0) {
		info_fill(&info, &m, w->key.ptr);
	} else {
		/* A damaged sidecar: report the object unverified so that verification finds it; reads fail. */
		memset(&info, 0, sizeof info);
		info.version = STKDR_OBJINFO_VERSION;
		info.key = w->key.ptr;
		info.size = (int64_t)st->st_size;
		info.mtime_ms = (int64_t)st->st_mtime * 1000;
	}
	return call_cb(w, &info);
}

static int visit_none(walk *w, int dfd, const char *name, const struct stat *st)
{
	return 0;
}

static int los_list(stkdr_objstore *os_, const char *prefix, const char *start_after, stkdr_objinfo_cb cb,
	void *payload)
{
	local_os *os = (local_os *)os_;
	if (!cb)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL, "list: the callback is NULL");
	if (!prefix)
		prefix = "";
	int rc = validate_prefix(prefix);
	if (rc)
		return rc;
	walk w;
	memset(&w, 0, sizeof w);
	w.os = os;
	w.prefix = prefix;
	w.prefix_len = strlen(prefix);
	w.start_after = start_after;
	w.now = stkdr__time_now_ms();
	w.clean_age = STKDR__LOCAL_STALE_MS;
	w.visit = visit_list;
	w.cb = cb;
	w.payload = payload;
	return walk_run(&w);
}

static int clean_temp(local_os *os, int64_t min_age)
{
	walk w;
	memset(&w, 0, sizeof w);
	w.os = os;
	w.prefix = "";
	w.now = stkdr__time_now_ms();
	w.clean_age = min_age;
	w.visit = visit_none;
	return walk_run(&w);
}

/* ------------------------------------------------------------------------------------------------ */
/* Lifecycle                                                                                          */
/* ------------------------------------------------------------------------------------------------ */

static int los_set_lifecycle(stkdr_objstore *os_, const stkdr_lifecycle_rule *rules, size_t n_rules)
{
	local_os *os = (local_os *)os_;
	if (n_rules > 0 && !rules)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL, "set_lifecycle: %zu rules from NULL", n_rules);
	cJSON *doc = cJSON_CreateObject();
	cJSON *arr = doc ? cJSON_AddArrayToObject(doc, "rules") : NULL;
	int ok = arr && cJSON_AddNumberToObject(doc, "format", LIFECYCLE_FORMAT);
	for (size_t i = 0; ok && i < n_rules; i++) {
		const stkdr_lifecycle_rule *r = &rules[i];
		const char *bad = NULL;
		if (r->version == 0 || r->version > STKDR_LIFECYCLE_RULE_VERSION) {
			cJSON_Delete(doc);
			return stkdr__seterr(STKDR_EVERSION, STKDR_ERRCLASS_LOCAL, NULL,
				"lifecycle rule #%zu: version %u is not supported (1..%d)", i + 1, r->version,
				STKDR_LIFECYCLE_RULE_VERSION);
		}
		if (!r->id || !*r->id)
			bad = "it has no id";
		else if (!r->prefix)
			bad = "its prefix is NULL (use \"\" for all objects)";
		else if (r->min_size < 0 || r->cold_after_days < 0 || r->archive_after_days < 0 || r->expire_after_days < 0)
			bad = "a size or a number of days is negative";
		else if (r->min_size > JSON_INT_MAX || r->cold_after_days > 1000000 || r->archive_after_days > 1000000 ||
			r->expire_after_days > 1000000)
			bad = "a size or a number of days is too large";
		if (bad) {
			cJSON_Delete(doc);
			return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL, "lifecycle rule #%zu (%s) is invalid: %s",
				i + 1, r->id ? r->id : "(null)", bad);
		}
		cJSON *o = cJSON_CreateObject();
		ok = o && cJSON_AddItemToArray(arr, o);
		if (!ok) {
			cJSON_Delete(o);
			break;
		}
		ok = cJSON_AddStringToObject(o, "id", r->id) && cJSON_AddStringToObject(o, "prefix", r->prefix) &&
			cJSON_AddNumberToObject(o, "min_size", (double)r->min_size) &&
			cJSON_AddNumberToObject(o, "cold_after_days", (double)r->cold_after_days) &&
			cJSON_AddNumberToObject(o, "archive_after_days", (double)r->archive_after_days) &&
			cJSON_AddNumberToObject(o, "expire_after_days", (double)r->expire_after_days);
	}
	char *json = ok ? cJSON_PrintUnformatted(doc) : NULL;
	cJSON_Delete(doc);
	if (!json)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory storing lifecycle rules");
	char *path = stkdr__aprintf("%s/" LIFECYCLE_NAME, os->root);
	int rc = path ? stkdr__local_write_file_atomic(path, json, strlen(json), FILE_MODE, 0)
		: stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory storing lifecycle rules");
	if (rc && path)
		stkdr__err_prefix("storing the lifecycle rules");
	stkdr__free(path);
	cJSON_free(json);
	return rc;
}

/* Loads and checks the rules file; *out NULL when there is none. */
static int lifecycle_load(cJSON **out, const local_os *os)
{
	*out = NULL;
	char *path = stkdr__aprintf("%s/" LIFECYCLE_NAME, os->root);
	if (!path)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	stkdr_buf b = STKDR_BUF_INIT;
	int rc = stkdr__local_read_file(&b, path, MAX_LIFECYCLE_BYTES);
	if (rc == STKDR_ENOTFOUND) {
		rc = 0;
		goto out;
	}
	if (rc)
		goto out;
	cJSON *doc = b.size == strlen(b.ptr) ? cJSON_ParseWithOpts(b.ptr, NULL, 1) : NULL;
	cJSON *rules = cJSON_GetObjectItemCaseSensitive(doc, "rules");
	int64_t fmt = 0;
	int ok = cJSON_IsObject(doc) && json_int(&fmt, doc, "format", 1, LIFECYCLE_FORMAT) == 0 && cJSON_IsArray(rules);
	const cJSON *list = ok ? rules : NULL;
	const cJSON *r;
	cJSON_ArrayForEach(r, list) {
		int64_t v;
		if (!json_str(r, "id") || !json_str(r, "prefix") || json_int(&v, r, "min_size", 0, JSON_INT_MAX) ||
			json_int(&v, r, "cold_after_days", 0, 1000000) || json_int(&v, r, "archive_after_days", 0, 1000000) ||
			json_int(&v, r, "expire_after_days", 0, 1000000))
			ok = 0;
	}
	if (!ok) {
		cJSON_Delete(doc);
		rc = stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL,
			"lifecycle rules %s are malformed; set the rules again (set_lifecycle) or remove the file", path);
		goto out;
	}
	*out = doc;
out:
	stkdr_buf_dispose(&b);
	stkdr__free(path);
	return rc;
}

static int visit_plan(walk *w, int dfd, const char *name, const struct stat *st)
{
	char *mname = stkdr__aprintf(META_PREFIX "%s", name);
	if (!mname)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	meta m;
	int rc = meta_read_at(&m, dfd, mname, w->key.ptr, mname);
	stkdr__free(mname);
	if (rc == STKDR_ENOTFOUND || rc == STKDR_ECORRUPT || rc == STKDR_EVERSION)
		return 0; /* not committed or damaged: lifecycle leaves it alone */
	if (rc)
		return rc;
	int64_t age = w->now - m.mtime_ms;
	int target = m.tier;
	int expire = 0;
	const cJSON *rules = cJSON_GetObjectItemCaseSensitive(w->rules, "rules");
	const cJSON *r;
	cJSON_ArrayForEach(r, rules) {
		const char *pfx = json_str(r, "prefix");
		int64_t min_size = 0, cold = 0, archive = 0, exp = 0;
		json_int(&min_size, r, "min_size", 0, JSON_INT_MAX);
		json_int(&cold, r, "cold_after_days", 0, 1000000);
		json_int(&archive, r, "archive_after_days", 0, 1000000);
		json_int(&exp, r, "expire_after_days", 0, 1000000);
		if (strncmp(w->key.ptr, pfx, strlen(pfx)) != 0 || m.size < min_size)
			continue;
		if (exp > 0 && age >= exp * DAY_MS && !is_locked(&m, w->now))
			expire = 1;
		if (archive > 0 && age >= archive * DAY_MS && target < STKDR_TIER_ARCHIVE)
			target = STKDR_TIER_ARCHIVE;
		if (cold > 0 && age >= cold * DAY_MS && target < STKDR_TIER_COLD)
			target = STKDR_TIER_COLD;
	}
	if (!expire && target == m.tier)
		return 0;
	stkdr_objinfo info;
	info_fill(&info, &m, w->key.ptr);
	info.tier = expire ? STKDR__LOCAL_PLAN_EXPIRE : target;
	return call_cb(w, &info);
}

int stkdr__local_objstore_lifecycle_plan(stkdr_objstore *os_, int64_t now_ms, stkdr_objinfo_cb cb, void *payload)
{
	if (!os_ || os_->base.free != local_os_free)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
			"lifecycle plan: the object store is not a local one");
	if (!cb)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL, "lifecycle plan: the callback is NULL");
	local_os *os = (local_os *)os_;
	walk w;
	memset(&w, 0, sizeof w);
	int rc = lifecycle_load(&w.rules, os);
	if (rc || !w.rules)
		return rc;
	w.os = os;
	w.prefix = "";
	w.now = now_ms;
	w.clean_age = -1;
	w.visit = visit_plan;
	w.cb = cb;
	w.payload = payload;
	rc = walk_run(&w);
	cJSON_Delete(w.rules);
	return rc;
}

/* ------------------------------------------------------------------------------------------------ */
/* Backend                                                                                            */
/* ------------------------------------------------------------------------------------------------ */

static int local_os_ctl(stkdr_backend *be, int op, void *arg)
{
	local_os *os = (local_os *)be;
	switch (op) {
	case STKDR_CTL_ATTACH:
		/* Archive-tier retrievals are emulated only when objstore.retrieval_delay is set. */
		if (arg)
			os->retrieval_delay_ms = stkdr__cfg_int((stkdr_ctx *)arg, "objstore.retrieval_delay", -1);
		return 0;
	case STKDR__CTL_LOCAL_CLEAN_TEMP: {
		int64_t age = arg ? *(const int64_t *)arg : 0;
		if (age < 0)
			return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL, "clean temp: negative age");
		return clean_temp(os, age);
	}
	default:
		return stkdr__seterr(STKDR_ENOTSUPPORTED, STKDR_ERRCLASS_LOCAL, NULL,
			"the local object store has no ctl op %d", op);
	}
}

static void local_os_free(stkdr_backend *be)
{
	local_os *os = (local_os *)be;
	if (!os)
		return;
	stkdr__free(os->root);
	stkdr__free(os);
}

int stkdr__local_objstore_new(stkdr_objstore **out, const char *root)
{
	if (!out)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "local objstore: out is NULL");
	*out = NULL;
	if (!root || !*root)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL,
			"local object store: the repository path is empty; set objstore.path");
	size_t len = strlen(root);
	while (len > 1 && root[len - 1] == '/')
		len--;
	if (len > 3000)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL,
			"local object store: the repository path is too long (%zu bytes)", len);
	local_os *os = stkdr__calloc(1, sizeof *os);
	if (!os || !(os->root = stkdr__strndup(root, len))) {
		stkdr__free(os);
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	}
	int rc = stkdr__local_mkdirs(os->root, DIR_MODE);
	if (rc) {
		stkdr__err_prefix("opening the local repository %s", os->root);
		local_os_free(&os->pub.base);
		return rc;
	}
	stkdr_backend_init(&os->pub.base, STKDR_BACKEND_OBJSTORE, STKDR_OBJSTORE_VERSION, "local");
	os->pub.base.ctl = local_os_ctl;
	os->pub.base.free = local_os_free;
	os->pub.open_write = los_open_write;
	os->pub.open_read = los_open_read;
	os->pub.head = los_head;
	os->pub.list = los_list;
	os->pub.del = los_del;
	os->pub.set_tier = los_set_tier;
	os->pub.set_lifecycle = los_set_lifecycle;
	os->pub.restore_archived = los_restore_archived;
	os->retrieval_delay_ms = -1;
	*out = &os->pub;
	return 0;
}
