/*
 * The local secrets backend: versioned secrets in a directory, every version sealed with the master key.
 *
 * Layout:
 *   <dir>/                                   mode 0700
 *   <dir>/<escaped-name>/                    one directory per secret, mode 0700
 *   <dir>/<escaped-name>/<version-id>.sec    one file per version, mode 0600, never rewritten
 *   <dir>/<escaped-name>/.stkdr-tmp.<hex>    a version being written (never read as a version)
 *
 * Names are [A-Za-z0-9/_+=.@-]+; the directory name escapes '/' as "%2F" and a leading '.' as "%2E"
 * ('%' cannot occur in a name, so the mapping is one-to-one and no name becomes "." or "..").
 *
 * Version ids are "v<20-digit zero-padded sequence>-<16 random hex digits>", so name order is creation
 * order: the newest version is CURRENT, the one before it PREVIOUS. There is no mutable pointer file: the
 * directory is append-only, like the repository.
 *
 * A version file is an "STKE" sealed blob (core/crypto.h, AES-256-GCM) under the master key with
 *   key_id    "mk-<16 hex>": the first 8 bytes of HMAC-SHA256(master key, "stkdr local secrets key id"),
 *             which tells a wrong master key apart from a damaged file without revealing the key;
 *   aad       the secret name, a NUL, and the version id, so that a version file cannot be passed off
 *             as another secret or as another (e.g. newer) version of the same secret;
 *   plaintext u8 format (1) | u8 flags (bit 0: a client token was given) | 32 bytes SHA-256 of the
 *             client token (zeros if none) | the value.
 * A put writes a temporary file (O_CREAT|O_EXCL), fsyncs it and link()s it to its final name (which
 * fails rather than replace anything), then fsyncs the directory; puts to one secret are serialised
 * by an flock() on the secret's directory. created_ms is the version file's modification time.
 *
 * Idempotency: a put with a client token first looks through the versions sealed with this master key
 * for the same token hash: same value -> that version's id; different value -> STKDR_EEXISTS.
 */
#include "backends/local/local.h"
#include "core/crypto.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIR_MODE 0700
#define FILE_MODE 0600
#define MAX_NAME 512
#define MAX_ESCAPED 240
#define MAX_VALUE (64u * 1024 * 1024)
#define MAX_TOKEN 512
#define SEALED_OVERHEAD 1024 /* framing of a sealed blob, generously */
#define VID_LEN 38           /* "v" + 20 digits + "-" + 16 hex */
#define PAYLOAD_HEADER 34    /* format, flags, token hash */
#define PAYLOAD_FORMAT 1
#define FLAG_TOKEN 0x1

typedef struct local_secrets {
	stkdr_secrets pub;
	char *dir;
	uint8_t key[32];
	char key_id[20]; /* "mk-" + 16 hex */
} local_secrets;

/* Sorted version ids of one secret. */
typedef struct vlist {
	char **ids;
	size_t n;
} vlist;

static void vlist_free(vlist *v)
{
	for (size_t i = 0; i < v->n; i++)
		stkdr__free(v->ids[i]);
	stkdr__free(v->ids);
	v->ids = NULL;
	v->n = 0;
}

static int name_char_ok(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("/_+=.@-", c);
}

/* Validates `name` and returns its directory path (stkdr__free) in *out. */
static int secret_dir(char **out, const local_secrets *s, const char *name)
{
	*out = NULL;
	if (!name || !*name)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL, "secret name is empty");
	size_t len = strlen(name);
	if (len > MAX_NAME)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL,
			"secret name '%.40s...' is longer than %d characters", name, MAX_NAME);
	char esc[MAX_ESCAPED + 4];
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!name_char_ok(c))
			return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL,
				"secret name '%s' is invalid: character %zu is not one of A-Z a-z 0-9 / _ + = . @ -",
				name, i + 1);
		const char *rep = c == '/' ? "%2F" : (c == '.' && i == 0) ? "%2E" : NULL;
		size_t add = rep ? 3 : 1;
		if (n + add > MAX_ESCAPED)
			return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL,
				"secret name '%.40s...' is too long for the local secrets backend", name);
		if (rep)
			memcpy(esc + n, rep, 3);
		else
			esc[n] = c;
		n += add;
	}
	esc[n] = '\0';
	*out = stkdr__aprintf("%s/%s", s->dir, esc);
	if (!*out)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	return 0;
}

static int is_version_id(const char *id, size_t len)
{
	if (len != VID_LEN || id[0] != 'v' || id[21] != '-')
		return 0;
	for (size_t i = 1; i < 21; i++)
		if (id[i] < '0' || id[i] > '9')
			return 0;
	for (size_t i = 22; i < VID_LEN; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return 0;
	return 1;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists the versions in `sdir`, oldest first. A missing directory is an empty list. */
static int versions_load(vlist *out, const char *sdir)
{
	memset(out, 0, sizeof *out);
	DIR *d = opendir(sdir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		char what[1200];
		snprintf(what, sizeof what, "listing secret versions in %s", sdir);
		return stkdr__local_oserr(errno, sdir, what);
	}
	size_t cap = 0;
	int rc = 0;
	int rerr = 0;
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			rerr = errno;
			break;
		}
		size_t len = strlen(de->d_name);
		if (len != VID_LEN + 4 || strcmp(de->d_name + VID_LEN, ".sec") != 0 || !is_version_id(de->d_name, VID_LEN))
			continue;
		if ((rc = stkdr__grow(&out->ids, &cap, out->n, sizeof *out->ids, 16)) != 0)
			break;
		out->ids[out->n] = stkdr__strndup(de->d_name, VID_LEN);
		if (!out->ids[out->n]) {
			rc = STKDR_ENOMEM;
			break;
		}
		out->n++;
	}
	closedir(d);
	if (rc) {
		vlist_free(out);
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory listing %s", sdir);
	}
	if (rerr) {
		vlist_free(out);
		char what[1200];
		snprintf(what, sizeof what, "listing secret versions in %s", sdir);
		return stkdr__local_oserr(rerr, sdir, what);
	}
	if (out->n > 1)
		qsort(out->ids, out->n, sizeof *out->ids, cmp_str);
	return 0;
}

static int not_found(const local_secrets *s, const char *name)
{
	return stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_LOCAL, NULL,
		"secret %s not found in the local secrets directory %s", name, s->dir);
}

/* The additional data binding a sealed version to its secret and version id. */
static char *make_aad(size_t *len_out, const char *name, const char *vid)
{
	size_t nl = strlen(name);
	size_t vl = strlen(vid);
	char *a = stkdr__malloc(nl + 1 + vl);
	if (a) {
		memcpy(a, name, nl);
		a[nl] = '\0';
		memcpy(a + nl + 1, vid, vl);
		*len_out = nl + 1 + vl;
	}
	return a;
}

/*
 * Reads and decrypts one version into `plain` (the payload, header included, checked).
 * `skip_foreign`: a version sealed under another key id returns 1 without an error.
 */
static int version_open(stkdr_buf *plain, const local_secrets *s, const char *sdir, const char *name,
	const char *vid, int skip_foreign)
{
	char *path = stkdr__aprintf("%s/%s.sec", sdir, vid);
	size_t aad_len = 0;
	char *aad = make_aad(&aad_len, name, vid);
	stkdr_buf sealed = STKDR_BUF_INIT;
	int rc;
	if (!path || !aad) {
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
		goto out;
	}
	rc = stkdr__local_read_file(&sealed, path, MAX_VALUE + SEALED_OVERHEAD);
	if (rc == STKDR_ENOTFOUND) {
		rc = stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_LOCAL, NULL, "secret %s has no version %s", name, vid);
		goto out;
	}
	if (rc) {
		stkdr__err_prefix("secret %s version %s", name, vid);
		goto out;
	}
	char kid[256];
	int kid_ok = stkdr__sealed_key_id(kid, sealed.ptr, sealed.size) == 0;
	if (skip_foreign && kid_ok && strcmp(kid, s->key_id) != 0) {
		rc = 1;
		goto out;
	}
	rc = stkdr__open(plain, s->key, aad, aad_len, sealed.ptr, sealed.size);
	if (rc == STKDR_EAUTH && kid_ok && strcmp(kid, s->key_id) != 0) {
		rc = stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_CRYPTO, NULL,
			"secret %s version %s cannot be decrypted: wrong master key (STKDR_MASTER_KEY); the version was "
			"sealed with key id %s, the configured master key has id %s", name, vid, kid, s->key_id);
	} else if (rc == STKDR_EAUTH) {
		rc = stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_CRYPTO, NULL,
			"secret %s version %s fails authentication under the right master key (id %s): %s is damaged or "
			"was tampered with; restore it from a backup", name, vid, s->key_id, path);
	} else if (rc) {
		rc = stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL,
			"secret %s version %s: %s is not a sealed secret (%s); restore it from a backup", name, vid, path,
			stkdr__err_get()->message);
	} else if (plain->size < PAYLOAD_HEADER || (uint8_t)plain->ptr[0] != PAYLOAD_FORMAT) {
		rc = stkdr__seterr(plain->size >= 1 && (uint8_t)plain->ptr[0] > PAYLOAD_FORMAT ? STKDR_EVERSION
			: STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL,
			"secret %s version %s: unknown payload format in %s; upgrade libstkdr or restore the file",
			name, vid, path);
	}
	if (rc)
		stkdr_buf_dispose(plain);
out:
	stkdr_buf_dispose(&sealed);
	stkdr__free(aad);
	stkdr__free(path);
	return rc;
}

/* Looks for a version put with the same client token. 0 and *found_idx >= 0 if there is one. */
static int token_lookup(ssize_t *found_idx, int *same_value, const local_secrets *s, const char *sdir,
	const char *name, const vlist *v, const uint8_t token_hash[32], const uint8_t *value, size_t len)
{
	*found_idx = -1;
	for (size_t i = v->n; i-- > 0;) {
		stkdr_buf plain = STKDR_BUF_INIT;
		int rc = version_open(&plain, s, sdir, name, v->ids[i], 1);
		if (rc == 1)
			continue; /* sealed under another master key: not written by this one */
		if (rc)
			return rc;
		const uint8_t *p = (const uint8_t *)plain.ptr;
		if ((p[1] & FLAG_TOKEN) && stkdr__ct_memcmp(p + 2, token_hash, 32) == 0) {
			size_t vlen = plain.size - PAYLOAD_HEADER;
			*same_value = vlen == len && (len == 0 || stkdr__ct_memcmp(p + PAYLOAD_HEADER, value, len) == 0);
			*found_idx = (ssize_t)i;
			stkdr_buf_dispose(&plain);
			return 0;
		}
		stkdr_buf_dispose(&plain);
	}
	return 0;
}

static int lock_dir(int *fd_out, const char *sdir)
{
	int fd = open(sdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		char what[1200];
		snprintf(what, sizeof what, "opening %s", sdir);
		return stkdr__local_oserr(errno, sdir, what);
	}
	while (flock(fd, LOCK_EX) != 0) {
		if (errno == EINTR)
			continue;
		int e = errno;
		close(fd);
		char what[1200];
		snprintf(what, sizeof what, "locking %s", sdir);
		return stkdr__local_oserr(e, sdir, what);
	}
	*fd_out = fd;
	return 0;
}

static int ls_put(stkdr_buf *version_id_out, stkdr_secrets *s_, const char *name, const uint8_t *value, size_t len,
	const char *client_token)
{
	local_secrets *s = (local_secrets *)s_;
	char *sdir = NULL;
	int rc = secret_dir(&sdir, s, name);
	if (rc)
		return rc;
	int lockfd = -1;
	vlist v = { NULL, 0 };
	stkdr_buf payload = STKDR_BUF_INIT;
	stkdr_buf sealed = STKDR_BUF_INIT;
	char *path = NULL;
	char *aad = NULL;
	char vid[VID_LEN + 1];
	uint8_t token_hash[32] = { 0 };
	if (!value && len > 0) {
		rc = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL, "secret %s: value is NULL", name);
		goto out;
	}
	if (len > MAX_VALUE) {
		rc = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL,
			"secret %s: the value is %zu bytes; the local backend stores at most %u", name, len, MAX_VALUE);
		goto out;
	}
	if (client_token && (!*client_token || strlen(client_token) > MAX_TOKEN)) {
		rc = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL,
			"secret %s: the client token must be 1 to %d characters", name, MAX_TOKEN);
		goto out;
	}
	rc = stkdr__local_mkdirs(sdir, DIR_MODE);
	if (rc == 0 && chmod(sdir, DIR_MODE) != 0) {
		char what[1200];
		snprintf(what, sizeof what, "secret %s: setting mode 0700 on %s", name, sdir);
		rc = stkdr__local_oserr(errno, sdir, what);
	}
	if (rc == 0)
		rc = lock_dir(&lockfd, sdir);
	if (rc == 0)
		rc = versions_load(&v, sdir);
	if (rc)
		goto out;
	if (client_token) {
		stkdr__sha256(client_token, strlen(client_token), token_hash);
		ssize_t idx;
		int same = 0;
		rc = token_lookup(&idx, &same, s, sdir, name, &v, token_hash, value, len);
		if (rc)
			goto out;
		if (idx >= 0 && !same) {
			rc = stkdr__seterr(STKDR_EEXISTS, STKDR_ERRCLASS_LOCAL, NULL,
				"secret %s: the client token was already used for version %s with a different value; use a "
				"new token for a new value", name, v.ids[idx]);
			goto out;
		}
		if (idx >= 0) {
			if (version_id_out)
				rc = stkdr_buf_set(version_id_out, v.ids[idx], VID_LEN);
			goto out;
		}
	}
	unsigned long long seq = v.n ? strtoull(v.ids[v.n - 1] + 1, NULL, 10) + 1 : 1;
	char rnd[17];
	rc = stkdr__local_random_hex(rnd, 8);
	if (rc)
		goto out;
	snprintf(vid, sizeof vid, "v%020llu-%s", seq, rnd);
	uint8_t head[2] = { PAYLOAD_FORMAT, client_token ? FLAG_TOKEN : 0 };
	size_t aad_len = 0;
	aad = make_aad(&aad_len, name, vid);
	path = stkdr__aprintf("%s/%s.sec", sdir, vid);
	if (!aad || !path) {
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
		goto out;
	}
	rc = stkdr_buf_grow(&payload, PAYLOAD_HEADER + len);
	if (rc == 0)
		rc = stkdr_buf_put(&payload, head, 2);
	if (rc == 0)
		rc = stkdr_buf_put(&payload, token_hash, 32);
	if (rc == 0 && len)
		rc = stkdr_buf_put(&payload, value, len);
	if (rc == 0)
		rc = stkdr__seal(&sealed, s->key, s->key_id, aad, aad_len, payload.ptr, payload.size);
	if (rc)
		goto out;
	rc = stkdr__local_write_file_atomic(path, sealed.ptr, sealed.size, FILE_MODE, 1);
	if (rc) {
		stkdr__err_prefix("secret %s: storing version %s", name, vid);
		goto out;
	}
	if (version_id_out)
		rc = stkdr_buf_set(version_id_out, vid, VID_LEN);
out:
	if (lockfd >= 0)
		close(lockfd); /* releases the flock */
	stkdr_buf_dispose(&payload);
	stkdr_buf_dispose(&sealed);
	vlist_free(&v);
	stkdr__free(aad);
	stkdr__free(path);
	stkdr__free(sdir);
	return rc;
}

static int ls_get(stkdr_buf *value_out, stkdr_buf *version_id_out, stkdr_secrets *s_, const char *name,
	const char *version_id, uint32_t stage)
{
	local_secrets *s = (local_secrets *)s_;
	if (!value_out)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL, "secret get: value_out is NULL");
	char *sdir = NULL;
	int rc = secret_dir(&sdir, s, name);
	if (rc)
		return rc;
	vlist v = { NULL, 0 };
	stkdr_buf plain = STKDR_BUF_INIT;
	const char *vid = NULL;
	if (version_id) {
		if (!is_version_id(version_id, strlen(version_id))) {
			rc = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL,
				"secret %s: '%s' is not a version id of the local secrets backend (v<20 digits>-<16 hex>)",
				name, version_id);
			goto out;
		}
	} else if (stage != STKDR_STAGE_CURRENT && stage != STKDR_STAGE_PREVIOUS) {
		rc = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL,
			"secret %s: stage 0x%x is not STKDR_STAGE_CURRENT or STKDR_STAGE_PREVIOUS", name, (unsigned)stage);
		goto out;
	}
	rc = versions_load(&v, sdir);
	if (rc)
		goto out;
	if (v.n == 0) {
		rc = not_found(s, name);
		goto out;
	}
	if (version_id) {
		vid = version_id;
	} else if (stage == STKDR_STAGE_CURRENT) {
		vid = v.ids[v.n - 1];
	} else if (v.n >= 2) {
		vid = v.ids[v.n - 2];
	} else {
		rc = stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_LOCAL, NULL,
			"secret %s has no PREVIOUS version: it has only one version", name);
		goto out;
	}
	rc = version_open(&plain, s, sdir, name, vid, 0);
	if (rc)
		goto out;
	rc = stkdr_buf_set(value_out, plain.ptr + PAYLOAD_HEADER, plain.size - PAYLOAD_HEADER);
	if (rc == 0 && version_id_out)
		rc = stkdr_buf_set(version_id_out, vid, VID_LEN);
out:
	stkdr_buf_dispose(&plain);
	vlist_free(&v);
	stkdr__free(sdir);
	return rc;
}

static int ls_list_versions(stkdr_secrets *s_, const char *name, stkdr_secret_version_cb cb, void *payload)
{
	local_secrets *s = (local_secrets *)s_;
	if (!cb)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL, "list_versions: the callback is NULL");
	char *sdir = NULL;
	int rc = secret_dir(&sdir, s, name);
	if (rc)
		return rc;
	vlist v = { NULL, 0 };
	rc = versions_load(&v, sdir);
	if (rc == 0 && v.n == 0)
		rc = not_found(s, name);
	for (size_t i = v.n; rc == 0 && i-- > 0;) {
		char *path = stkdr__aprintf("%s/%s.sec", sdir, v.ids[i]);
		struct stat st;
		if (!path) {
			rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
			break;
		}
		if (stat(path, &st) != 0) {
			char what[1200];
			snprintf(what, sizeof what, "secret %s: reading %s", name, path);
			rc = stkdr__local_oserr(errno, path, what);
			stkdr__free(path);
			break;
		}
		stkdr__free(path);
		stkdr_secret_version sv;
		memset(&sv, 0, sizeof sv);
		sv.version = STKDR_SECRET_VERSION_VERSION;
		sv.version_id = v.ids[i];
		sv.created_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
		sv.stages = i == v.n - 1 ? STKDR_STAGE_CURRENT : (i + 2 == v.n ? STKDR_STAGE_PREVIOUS : 0);
		int cr = cb(&sv, payload);
		if (cr < 0) {
			if (stkdr__err_get()->code != cr)
				stkdr__seterr(cr, STKDR_ERRCLASS_CALLBACK, NULL,
					"listing the versions of secret %s stopped by the callback (%d)", name, cr);
			rc = cr;
		}
	}
	vlist_free(&v);
	stkdr__free(sdir);
	return rc;
}

static int ls_ctl(stkdr_backend *be, int op, void *arg)
{
	if (op == STKDR_CTL_ATTACH)
		return 0;
	return stkdr__seterr(STKDR_ENOTSUPPORTED, STKDR_ERRCLASS_LOCAL, NULL, "the local secrets backend has no ctl op %d",
		op);
}

static void ls_free(stkdr_backend *be)
{
	local_secrets *s = (local_secrets *)be;
	if (!s)
		return;
	stkdr__wipe(s->key, sizeof s->key);
	stkdr__free(s->dir);
	stkdr__free(s);
}

int stkdr__local_secrets_new(stkdr_secrets **out, const char *dir, const uint8_t master_key[32])
{
	if (!out)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "local secrets: out is NULL");
	*out = NULL;
	if (!dir || !*dir)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL,
			"local secrets: the directory is empty; set secrets.path");
	if (!master_key)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL,
			"local secrets: no master key; set STKDR_MASTER_KEY");
	size_t len = strlen(dir);
	while (len > 1 && dir[len - 1] == '/')
		len--;
	local_secrets *s = stkdr__calloc(1, sizeof *s);
	if (!s || !(s->dir = stkdr__strndup(dir, len))) {
		stkdr__free(s);
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	}
	memcpy(s->key, master_key, 32);
	static const char label[] = "stkdr local secrets key id";
	uint8_t mac[32];
	stkdr__hmac_sha256(s->key, 32, label, sizeof label - 1, mac);
	memcpy(s->key_id, "mk-", 3);
	stkdr__hex_encode(s->key_id + 3, mac, 8);
	int rc = stkdr__local_mkdirs(s->dir, DIR_MODE);
	if (rc) {
		stkdr__err_prefix("opening the local secrets directory %s", s->dir);
		ls_free(&s->pub.base);
		return rc;
	}
	stkdr_backend_init(&s->pub.base, STKDR_BACKEND_SECRETS, STKDR_SECRETS_VERSION, "local");
	s->pub.base.ctl = ls_ctl;
	s->pub.base.free = ls_free;
	s->pub.put = ls_put;
	s->pub.get = ls_get;
	s->pub.list_versions = ls_list_versions;
	*out = &s->pub;
	return 0;
}
