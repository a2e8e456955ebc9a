/* stkdr_buf: growable, NUL-terminated, wiped on dispose. */
#include "internal.h"

#include <stdio.h>
#include <string.h>

int stkdr_buf_grow(stkdr_buf *buf, size_t size)
{
	if (!buf)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_buf_grow: buf is NULL");
	if (size >= SIZE_MAX / 2)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "buffer size overflow");
	if (size + 1 <= buf->reserved)
		return 0;
	size_t want = buf->reserved ? buf->reserved : 64;
	while (want < size + 1) {
		if (want > SIZE_MAX / 2) {
			want = size + 1;
			break;
		}
		want *= 2;
	}
	char *p;
	if (buf->reserved == 0 && buf->ptr) {
		/* borrowed data: copy it */
		p = stkdr__malloc(want);
		if (p)
			memcpy(p, buf->ptr, buf->size);
	} else {
		/* Move by hand rather than realloc so that the old block can be wiped (it may hold a secret). */
		p = stkdr__malloc(want);
		if (p && buf->ptr) {
			memcpy(p, buf->ptr, buf->size);
			stkdr__wipe(buf->ptr, buf->reserved);
			stkdr__free(buf->ptr);
		}
	}
	if (!p)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory growing a buffer to %zu bytes", size);
	buf->ptr = p;
	buf->reserved = want;
	buf->ptr[buf->size] = '\0';
	return 0;
}

int stkdr_buf_set(stkdr_buf *buf, const void *data, size_t len)
{
	if (!buf)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_buf_set: buf is NULL");
	if (buf->reserved == 0)
		buf->ptr = NULL, buf->size = 0;
	buf->size = 0;
	if (buf->ptr)
		buf->ptr[0] = '\0';
	return stkdr_buf_put(buf, data, len);
}

int stkdr_buf_put(stkdr_buf *buf, const void *data, size_t len)
{
	if (!buf)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_buf_put: buf is NULL");
	if (len > SIZE_MAX - buf->size - 1)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "buffer size overflow");
	int rc = stkdr_buf_grow(buf, buf->size + len);
	if (rc)
		return rc;
	if (len)
		memmove(buf->ptr + buf->size, data, len);
	buf->size += len;
	buf->ptr[buf->size] = '\0';
	return 0;
}

void stkdr_buf_dispose(stkdr_buf *buf)
{
	if (!buf)
		return;
	if (buf->reserved && buf->ptr) {
		stkdr__wipe(buf->ptr, buf->reserved);
		stkdr__free(buf->ptr);
	}
	buf->ptr = NULL;
	buf->reserved = 0;
	buf->size = 0;
}

void stkdr__buf_clear(stkdr_buf *buf)
{
	if (buf->reserved == 0) {
		buf->ptr = NULL;
	} else {
		buf->ptr[0] = '\0';
	}
	buf->size = 0;
}

int stkdr__buf_vprintf(stkdr_buf *buf, const char *fmt, va_list ap)
{
	va_list cp;
	va_copy(cp, ap);
	int n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "bad format string");
	int rc = stkdr_buf_grow(buf, buf->size + (size_t)n);
	if (rc)
		return rc;
	vsnprintf(buf->ptr + buf->size, (size_t)n + 1, fmt, ap);
	buf->size += (size_t)n;
	return 0;
}

int stkdr__buf_printf(stkdr_buf *buf, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = stkdr__buf_vprintf(buf, fmt, ap);
	va_end(ap);
	return rc;
}

char *stkdr__buf_detach(stkdr_buf *buf)
{
	char *p;
	if (buf->reserved == 0) {
		p = stkdr__strndup(buf->ptr ? buf->ptr : "", buf->size);
	} else {
		p = buf->ptr;
	}
	buf->ptr = NULL;
	buf->reserved = 0;
	buf->size = 0;
	return p;
}

int stkdr__grow(void *pp, size_t *cap, size_t n, size_t size, size_t first)
{
	if (n < *cap)
		return 0;
	size_t nc = *cap ? *cap * 2 : first;
	void *old, *nv;
	memcpy(&old, pp, sizeof old);
	if (nc < *cap || nc > SIZE_MAX / size || !(nv = stkdr__realloc(old, nc * size)))
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	memcpy(pp, &nv, sizeof nv);
	*cap = nc;
	return 0;
}
