/* Error codes, their text, and the thread-local error detail. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERR_MSG_MAX 1024
#define ERR_CODE_MAX 64

typedef struct tl_error {
	stkdr_error pub;
	char code_text[ERR_CODE_MAX];
	char message[ERR_MSG_MAX];
} tl_error;

static _Thread_local tl_error g_err = { { 0, 0, "", "" }, "", "" };

static const struct {
	int code;
	const char *name;
	const char *text;
} codes[] = {
	{ STKDR_OK, "STKDR_OK", "success" },
	{ STKDR_ERROR, "STKDR_ERROR", "error" },
	{ STKDR_EINVAL, "STKDR_EINVAL", "invalid argument or input" },
	{ STKDR_ENOTFOUND, "STKDR_ENOTFOUND", "not found" },
	{ STKDR_EEXISTS, "STKDR_EEXISTS", "already exists" },
	{ STKDR_EIO, "STKDR_EIO", "I/O error" },
	{ STKDR_ECORRUPT, "STKDR_ECORRUPT", "data is corrupt (checksum, signature or format)" },
	{ STKDR_EAUTH, "STKDR_EAUTH", "authentication or authorisation failed" },
	{ STKDR_ETIMEOUT, "STKDR_ETIMEOUT", "timed out" },
	{ STKDR_EBACKEND, "STKDR_EBACKEND", "the backend service reported an error" },
	{ STKDR_ELOCKED, "STKDR_ELOCKED", "locked by another holder" },
	{ STKDR_EIMMUTABLE, "STKDR_EIMMUTABLE", "object is immutable until its retention ends" },
	{ STKDR_ENOTSUPPORTED, "STKDR_ENOTSUPPORTED", "operation not supported by this backend" },
	{ STKDR_ECANCELLED, "STKDR_ECANCELLED", "cancelled" },
	{ STKDR_EVERSION, "STKDR_EVERSION", "unsupported version" },
	{ STKDR_ENOMEM, "STKDR_ENOMEM", "out of memory" },
	{ STKDR_ENOSPACE, "STKDR_ENOSPACE", "no space left on the target storage" },
	{ STKDR_EPENDING, "STKDR_EPENDING", "pending: the data is being retrieved from an archive tier; retry later" },
	{ STKDR_EUSER, "STKDR_EUSER", "stopped by a user callback" },
};

const char *stkdr_strerror(int code)
{
	for (size_t i = 0; i < STKDR__ARRAY_SIZE(codes); i++)
		if (codes[i].code == code)
			return codes[i].text;
	return "unknown error";
}

const char *stkdr_error_name(int code)
{
	for (size_t i = 0; i < STKDR__ARRAY_SIZE(codes); i++)
		if (codes[i].code == code)
			return codes[i].name;
	return "STKDR_EUNKNOWN";
}

static void set_fields(int code, int klass, const char *backend_code)
{
	g_err.pub.code = code;
	g_err.pub.klass = klass;
	snprintf(g_err.code_text, sizeof g_err.code_text, "%s", backend_code ? backend_code : "");
	g_err.pub.backend_code = g_err.code_text;
	g_err.pub.message = g_err.message;
}

const stkdr_error *stkdr_error_last(void)
{
	if (!g_err.pub.message) {
		g_err.pub.message = g_err.message;
		g_err.pub.backend_code = g_err.code_text;
	}
	return &g_err.pub;
}

const stkdr_error *stkdr__err_get(void)
{
	return stkdr_error_last();
}

void stkdr__err_save(stkdr__err_state *s)
{
	_Static_assert(sizeof s->message == ERR_MSG_MAX && sizeof s->code_text == ERR_CODE_MAX, "error sizes");
	s->code = g_err.pub.code;
	s->klass = g_err.pub.klass;
	memcpy(s->code_text, g_err.code_text, sizeof s->code_text);
	memcpy(s->message, g_err.message, sizeof s->message);
}

void stkdr__err_restore(const stkdr__err_state *s)
{
	set_fields(s->code, s->klass, s->code_text);
	memcpy(g_err.message, s->message, sizeof g_err.message);
}

void stkdr_error_clear(void)
{
	set_fields(0, STKDR_ERRCLASS_NONE, NULL);
	g_err.message[0] = '\0';
}

void stkdr_error_set_str(int code, int klass, const char *backend_code, const char *message)
{
	set_fields(code, klass, backend_code);
	snprintf(g_err.message, sizeof g_err.message, "%s", message ? message : stkdr_strerror(code));
}

int stkdr__seterr(int code, int klass, const char *backend_code, const char *fmt, ...)
{
	char tmp[ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	stkdr_error_set_str(code, klass, backend_code, tmp);
	return code;
}

static const char *errno_name(int err)
{
	switch (err) {
	case ENOENT: return "ENOENT";
	case EEXIST: return "EEXIST";
	case EACCES: return "EACCES";
	case EPERM: return "EPERM";
	case ENOSPC: return "ENOSPC";
	case EDQUOT: return "EDQUOT";
	case EIO: return "EIO";
	case ENOTDIR: return "ENOTDIR";
	case EISDIR: return "EISDIR";
	case EROFS: return "EROFS";
	case ENOTEMPTY: return "ENOTEMPTY";
	case EINVAL: return "EINVAL";
	case ENAMETOOLONG: return "ENAMETOOLONG";
	case EMFILE: return "EMFILE";
	case EXDEV: return "EXDEV";
	case ENOMEM: return "ENOMEM";
	case ECONNREFUSED: return "ECONNREFUSED";
	case ETIMEDOUT: return "ETIMEDOUT";
	default: return "EOTHER";
	}
}

int stkdr__seterr_os(int err, const char *fmt, ...)
{
	char tmp[ERR_MSG_MAX - 128];
	char why[128];
	int code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
#if (_POSIX_C_SOURCE >= 200112L) && !defined(_GNU_SOURCE)
	if (strerror_r(err, why, sizeof why) != 0)
		snprintf(why, sizeof why, "errno %d", err);
	const char *w = why;
#else
	const char *w = strerror_r(err, why, sizeof why);
#endif
	switch (err) {
	case ENOENT: code = STKDR_ENOTFOUND; break;
	case EEXIST: code = STKDR_EEXISTS; break;
	case ENOSPC:
	case EDQUOT: code = STKDR_ENOSPACE; break;
	case ENOMEM: code = STKDR_ENOMEM; break;
	default: code = STKDR_EIO; break;
	}
	return stkdr__seterr(code, STKDR_ERRCLASS_OS, errno_name(err), "%s: %s", tmp, w);
}

void stkdr__err_prefix(const char *fmt, ...)
{
	char pre[ERR_MSG_MAX];
	char old[ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(pre, sizeof pre, fmt, ap);
	va_end(ap);
	memcpy(old, g_err.message, sizeof old);
	if (old[0])
		snprintf(g_err.message, sizeof g_err.message, "%.500s: %.500s", pre, old);
	else
		snprintf(g_err.message, sizeof g_err.message, "%s", pre);
}

int stkdr__err_ensure(int code)
{
	if (code < 0 && (g_err.pub.code != code || g_err.message[0] == '\0'))
		stkdr_error_set_str(code, code == STKDR_ENOMEM ? STKDR_ERRCLASS_OS : STKDR_ERRCLASS_INTERNAL, NULL,
			stkdr_strerror(code));
	return code;
}

int stkdr__options_init(void *opts, size_t size, unsigned int version, unsigned int current, const char *name)
{
	if (!opts)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "%s_init: opts is NULL", name);
	if (version == 0 || version > current)
		return stkdr__seterr(STKDR_EVERSION, STKDR_ERRCLASS_INTERNAL, NULL,
			"%s version %u is not supported by libstkdr %s (1..%u)", name, version, STKDR_VERSION_STRING, current);
	memset(opts, 0, size);
	*(unsigned int *)opts = version;
	return 0;
}
