/* Push streams: leaf sinks (buffer, fd, null) and transforms (SHA-256, gzip, zstd, pass-through). */
#define ZLIB_CONST
#include "stream.h"

#include "crypto.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#ifdef STKDR_HAVE_ZSTD
#include <zstd.h>
#endif

/* Size of the output chunk of each (de)compressor: bounded memory whatever the stream length. */
#define CHUNK (128u * 1024u)

/* ---- leaf sinks ---- */

typedef struct buf_sink {
	stkdr__sink base;
	stkdr_buf *buf;
} buf_sink;

static int buf_write(stkdr__sink *s, const uint8_t *data, size_t len)
{
	return stkdr_buf_put(((buf_sink *)s)->buf, data, len);
}

static int leaf_finish(stkdr__sink *s)
{
	(void)s;
	return 0;
}

static void leaf_destroy(stkdr__sink *s)
{
	stkdr__free(s);
}

static int nomem(const char *what)
{
	return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory creating a %s stream", what);
}

int stkdr__sink_buf_new(stkdr__sink **out, stkdr_buf *buf)
{
	*out = NULL;
	if (!buf)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "buffer sink: buf is NULL");
	buf_sink *s = stkdr__calloc(1, sizeof *s);
	if (!s)
		return nomem("buffer");
	s->base.write = buf_write;
	s->base.finish = leaf_finish;
	s->base.destroy = leaf_destroy;
	s->buf = buf;
	*out = &s->base;
	return 0;
}

typedef struct fd_sink {
	stkdr__sink base;
	int fd;
	int do_fsync;
} fd_sink;

static int fd_write(stkdr__sink *s, const uint8_t *data, size_t len)
{
	fd_sink *f = (fd_sink *)s;
	while (len > 0) {
		size_t n = len > (size_t)SSIZE_MAX ? (size_t)SSIZE_MAX : len;
		ssize_t w = write(f->fd, data, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return stkdr__seterr_os(errno, "writing to file descriptor %d", f->fd);
		}
		data += w;
		len -= (size_t)w;
	}
	return 0;
}

static int fd_finish(stkdr__sink *s)
{
	fd_sink *f = (fd_sink *)s;
	/* EINVAL: the descriptor (pipe, socket, terminal) does not support synchronisation. */
	if (f->do_fsync && fsync(f->fd) != 0 && errno != EINVAL)
		return stkdr__seterr_os(errno, "fsync of file descriptor %d", f->fd);
	return 0;
}

int stkdr__sink_fd_new(stkdr__sink **out, int fd, int do_fsync)
{
	*out = NULL;
	if (fd < 0)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "fd sink: invalid descriptor %d", fd);
	fd_sink *s = stkdr__calloc(1, sizeof *s);
	if (!s)
		return nomem("file");
	s->base.write = fd_write;
	s->base.finish = fd_finish;
	s->base.destroy = leaf_destroy;
	s->fd = fd;
	s->do_fsync = do_fsync;
	*out = &s->base;
	return 0;
}

static int null_write(stkdr__sink *s, const uint8_t *data, size_t len)
{
	(void)s;
	(void)data;
	(void)len;
	return 0;
}

int stkdr__sink_null_new(stkdr__sink **out)
{
	*out = NULL;
	stkdr__sink *s = stkdr__calloc(1, sizeof *s);
	if (!s)
		return nomem("null");
	s->write = null_write;
	s->finish = leaf_finish;
	s->destroy = leaf_destroy;
	*out = s;
	return 0;
}

/* ---- transforms: shared state machine ---- */

enum { XF_OPEN = 0, XF_FINISHED = 1 };

typedef struct xf xf;
struct xf {
	stkdr__sink base;
	const char *name;
	stkdr__sink *next; /* may be NULL only for the SHA-256 sink */
	uint32_t flags;
	int state;                /* XF_OPEN, XF_FINISHED, or the negative code of the first failure */
	int (*put)(xf *x, const uint8_t *data, size_t len);
	int (*end)(xf *x);        /* flushes the transform; the next sink is finished by xf_finish */
	void (*cleanup)(xf *x);   /* releases transform state; may be NULL */
};

static int xf_write(stkdr__sink *s, const uint8_t *data, size_t len)
{
	xf *x = (xf *)s;
	if (x->state < 0)
		return x->state;
	if (x->state == XF_FINISHED)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "%s stream: write after finish",
			x->name);
	int rc = x->put(x, data, len);
	if (rc < 0)
		x->state = rc;
	return rc;
}

static int xf_finish(stkdr__sink *s)
{
	xf *x = (xf *)s;
	if (x->state < 0)
		return x->state;
	if (x->state == XF_FINISHED)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "%s stream: finished twice", x->name);
	int rc = x->end ? x->end(x) : 0;
	if (rc == 0 && x->next)
		rc = stkdr__sink_finish(x->next);
	x->state = rc < 0 ? rc : XF_FINISHED;
	return rc;
}

static void xf_destroy(stkdr__sink *s)
{
	xf *x = (xf *)s;
	if (x->cleanup)
		x->cleanup(x);
	if (!(x->flags & STKDR__SINK_BORROW))
		stkdr__sink_destroy(x->next);
	stkdr__free(x);
}

/* Forwards to the next sink (if any). */
static int xf_emit(xf *x, const uint8_t *data, size_t len)
{
	return x->next ? stkdr__sink_write(x->next, data, len) : 0;
}

/* Allocates a transform of `size` bytes (an xf first). `next` is taken only when the constructor succeeds. */
static int xf_new(xf **out, size_t size, const char *name, stkdr__sink *next, uint32_t flags, int need_next)
{
	*out = NULL;
	if (need_next && !next)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "%s stream: next sink is NULL", name);
	if (flags & ~STKDR__SINK_BORROW)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "%s stream: unknown flags 0x%x", name,
			(unsigned)(flags & ~STKDR__SINK_BORROW));
	xf *x = stkdr__calloc(1, size);
	if (!x)
		return nomem(name);
	x->base.write = xf_write;
	x->base.finish = xf_finish;
	x->base.destroy = xf_destroy;
	x->name = name;
	x->next = next;
	x->flags = flags;
	*out = x;
	return 0;
}

/* Frees a transform whose constructor failed after xf_new, leaving `next` to the caller. */
static void xf_abort_new(xf *x)
{
	x->flags |= STKDR__SINK_BORROW;
	xf_destroy(&x->base);
}

/* ---- pass-through ---- */

static int pass_put(xf *x, const uint8_t *data, size_t len)
{
	return xf_emit(x, data, len);
}

static int pass_new(stkdr__sink **out, stkdr__sink *next, uint32_t flags)
{
	xf *x;
	*out = NULL;
	int rc = xf_new(&x, sizeof *x, "pass-through", next, flags, 1);
	if (rc)
		return rc;
	x->put = pass_put;
	*out = &x->base;
	return 0;
}

/* ---- SHA-256 ---- */

typedef struct sha_sink {
	xf x;
	stkdr__sha256_ctx sha;
	int64_t count;
	uint8_t *digest_out;
	int64_t *count_out;
} sha_sink;

static int sha_put(xf *x, const uint8_t *data, size_t len)
{
	sha_sink *s = (sha_sink *)x;
	stkdr__sha256_update(&s->sha, data, len);
	s->count += (int64_t)len;
	return xf_emit(x, data, len);
}

static int sha_end(xf *x)
{
	sha_sink *s = (sha_sink *)x;
	uint8_t d[32];
	stkdr__sha256_final(&s->sha, d);
	if (s->digest_out)
		memcpy(s->digest_out, d, sizeof d);
	if (s->count_out)
		*s->count_out = s->count;
	return 0;
}

static void sha_cleanup(xf *x)
{
	sha_sink *s = (sha_sink *)x;
	if (x->state != XF_FINISHED)
		stkdr__wipe(&s->sha, sizeof s->sha);
}

int stkdr__sink_sha256_new(stkdr__sink **out, stkdr__sink *next, uint32_t flags, uint8_t *digest_out,
		int64_t *count_out)
{
	xf *x;
	*out = NULL;
	int rc = xf_new(&x, sizeof(sha_sink), "sha256", next, flags, 0);
	if (rc)
		return rc;
	sha_sink *s = (sha_sink *)x;
	stkdr__sha256_init(&s->sha);
	s->digest_out = digest_out;
	s->count_out = count_out;
	x->put = sha_put;
	x->end = sha_end;
	x->cleanup = sha_cleanup;
	*out = &x->base;
	return 0;
}

/* ---- gzip (zlib) ---- */

typedef struct gz_sink {
	xf x;
	z_stream z;
	int z_ok;    /* deflateInit2/inflateInit2 succeeded */
	int ended;   /* gunzip: the last member is complete (Z_STREAM_END) */
	int members; /* gunzip: complete members so far */
	uint8_t *chunk;
} gz_sink;

static voidpf gz_alloc(voidpf opaque, uInt items, uInt size)
{
	(void)opaque;
	return stkdr__calloc(items, size);
}

static void gz_free(voidpf opaque, voidpf p)
{
	(void)opaque;
	stkdr__free(p);
}

static int gz_zerr(gz_sink *g, int zret, const char *what)
{
	if (zret == Z_MEM_ERROR)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "%s: out of memory", what);
	return stkdr__seterr(STKDR_ERROR, STKDR_ERRCLASS_INTERNAL, "zlib", "%s: zlib error %d (%s)", what, zret,
		g->z.msg ? g->z.msg : "no detail");
}

/* Runs deflate over the pending input with `flush`, emitting every full or final chunk. */
static int gz_deflate(gz_sink *g, int flush)
{
	int zret;
	do {
		g->z.next_out = g->chunk;
		g->z.avail_out = CHUNK;
		zret = deflate(&g->z, flush);
		if (zret == Z_STREAM_ERROR)
			return gz_zerr(g, zret, "gzip");
		size_t have = CHUNK - g->z.avail_out;
		int rc = xf_emit(&g->x, g->chunk, have);
		if (rc)
			return rc;
	} while (g->z.avail_out == 0 || (flush == Z_FINISH && zret != Z_STREAM_END));
	return 0;
}

static int gzip_put(xf *x, const uint8_t *data, size_t len)
{
	gz_sink *g = (gz_sink *)x;
	while (len > 0) {
		uInt n = len > UINT_MAX ? UINT_MAX : (uInt)len;
		g->z.next_in = data;
		g->z.avail_in = n;
		int rc = gz_deflate(g, Z_NO_FLUSH);
		if (rc)
			return rc;
		data += n;
		len -= n;
	}
	return 0;
}

static int gzip_end(xf *x)
{
	gz_sink *g = (gz_sink *)x;
	g->z.next_in = NULL;
	g->z.avail_in = 0;
	return gz_deflate(g, Z_FINISH);
}

static void gzip_cleanup(xf *x)
{
	gz_sink *g = (gz_sink *)x;
	if (g->z_ok)
		deflateEnd(&g->z);
	stkdr__free(g->chunk);
}

static int gz_new(gz_sink **out, const char *name, stkdr__sink *next, uint32_t flags)
{
	xf *x;
	int rc = xf_new(&x, sizeof(gz_sink), name, next, flags, 1);
	if (rc)
		return rc;
	gz_sink *g = (gz_sink *)x;
	g->chunk = stkdr__malloc(CHUNK);
	if (!g->chunk) {
		xf_abort_new(x);
		return nomem(name);
	}
	g->z.zalloc = gz_alloc;
	g->z.zfree = gz_free;
	*out = g;
	return 0;
}

int stkdr__sink_gzip_new(stkdr__sink **out, stkdr__sink *next, uint32_t flags, int level)
{
	*out = NULL;
	if (level < 0 || level > 9)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL,
			"gzip compression level %d is out of range (expected 0 to 9)", level);
	gz_sink *g;
	int rc = gz_new(&g, "gzip", next, flags);
	if (rc)
		return rc;
	g->x.put = gzip_put;
	g->x.end = gzip_end;
	g->x.cleanup = gzip_cleanup;
	int zret = deflateInit2(&g->z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
	if (zret != Z_OK) {
		rc = gz_zerr(g, zret, "gzip");
		xf_abort_new(&g->x);
		return rc;
	}
	g->z_ok = 1;
	*out = &g->x.base;
	return 0;
}

static int gz_corrupt(gz_sink *g)
{
	const char *why = g->z.msg ? g->z.msg : "invalid data";
	if (g->members > 0 && g->z.total_out == 0)
		return stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL,
			"corrupt gzip stream: garbage after gzip member %d (%s)", g->members, why);
	return stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL, "corrupt gzip stream (member %d): %s",
		g->members + 1, why);
}

static int gunzip_put(xf *x, const uint8_t *data, size_t len)
{
	gz_sink *g = (gz_sink *)x;
	while (len > 0) {
		uInt n = len > UINT_MAX ? UINT_MAX : (uInt)len;
		g->z.next_in = data;
		g->z.avail_in = n;
		do {
			if (g->ended) {
				/* Another member follows; anything but a gzip header is trailing garbage. */
				if (g->z.next_in[0] != 0x1f)
					return stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL,
						"corrupt gzip stream: garbage after the end of gzip member %d "
						"(byte 0x%02x where a new member or the end was expected)",
						g->members, g->z.next_in[0]);
				inflateReset(&g->z);
				g->ended = 0;
			}
			g->z.next_out = g->chunk;
			g->z.avail_out = CHUNK;
			int zret = inflate(&g->z, Z_NO_FLUSH);
			switch (zret) {
			case Z_OK:
			case Z_STREAM_END:
			case Z_BUF_ERROR: /* no progress possible: needs more input */
				break;
			case Z_NEED_DICT:
			case Z_DATA_ERROR:
				return gz_corrupt(g);
			default:
				return gz_zerr(g, zret, "gunzip");
			}
			int rc = xf_emit(x, g->chunk, CHUNK - g->z.avail_out);
			if (rc)
				return rc;
			if (zret == Z_STREAM_END) {
				g->ended = 1;
				g->members++;
			} else if (zret == Z_BUF_ERROR) {
				break;
			}
		} while (g->z.avail_in > 0 || (!g->ended && g->z.avail_out == 0));
		data += n;
		len -= n;
	}
	return 0;
}

static int gunzip_end(xf *x)
{
	gz_sink *g = (gz_sink *)x;
	if (!g->ended)
		return stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL,
			"truncated gzip stream: %s", g->members == 0 && g->z.total_in == 0
				? "no data" : "the input ended inside a member (incomplete upload or copy?)");
	return 0;
}

static void gunzip_cleanup(xf *x)
{
	gz_sink *g = (gz_sink *)x;
	if (g->z_ok)
		inflateEnd(&g->z);
	stkdr__free(g->chunk);
}

int stkdr__sink_gunzip_new(stkdr__sink **out, stkdr__sink *next, uint32_t flags)
{
	*out = NULL;
	gz_sink *g;
	int rc = gz_new(&g, "gunzip", next, flags);
	if (rc)
		return rc;
	g->x.put = gunzip_put;
	g->x.end = gunzip_end;
	g->x.cleanup = gunzip_cleanup;
	int zret = inflateInit2(&g->z, 15 + 32);
	if (zret != Z_OK) {
		rc = gz_zerr(g, zret, "gunzip");
		xf_abort_new(&g->x);
		return rc;
	}
	g->z_ok = 1;
	*out = &g->x.base;
	return 0;
}

/* ---- zstd ---- */

#ifdef STKDR_HAVE_ZSTD

typedef struct zs_sink {
	xf x;
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	int frame_done; /* unzstd: the last frame is complete */
	int any_input;  /* unzstd: at least one byte was written */
	uint8_t *chunk;
} zs_sink;

static int zs_err(size_t r, const char *what)
{
	return stkdr__seterr(STKDR_ERROR, STKDR_ERRCLASS_INTERNAL, "zstd", "%s: zstd error: %s", what,
		ZSTD_getErrorName(r));
}

static int zs_compress(zs_sink *z, ZSTD_inBuffer *in, ZSTD_EndDirective mode)
{
	size_t r;
	do {
		ZSTD_outBuffer ob = { z->chunk, CHUNK, 0 };
		r = ZSTD_compressStream2(z->cctx, &ob, in, mode);
		if (ZSTD_isError(r))
			return zs_err(r, "zstd");
		int rc = xf_emit(&z->x, z->chunk, ob.pos);
		if (rc)
			return rc;
	} while (mode == ZSTD_e_end ? r != 0 : in->pos < in->size);
	return 0;
}

static int zstd_put(xf *x, const uint8_t *data, size_t len)
{
	ZSTD_inBuffer in = { data, len, 0 };
	return zs_compress((zs_sink *)x, &in, ZSTD_e_continue);
}

static int zstd_end(xf *x)
{
	ZSTD_inBuffer in = { NULL, 0, 0 };
	return zs_compress((zs_sink *)x, &in, ZSTD_e_end);
}

static int unzstd_put(xf *x, const uint8_t *data, size_t len)
{
	zs_sink *z = (zs_sink *)x;
	ZSTD_inBuffer in = { data, len, 0 };
	z->any_input = 1;
	ZSTD_outBuffer ob;
	do {
		ob.dst = z->chunk;
		ob.size = CHUNK;
		ob.pos = 0;
		size_t before = in.pos;
		size_t r = ZSTD_decompressStream(z->dctx, &ob, &in);
		if (ZSTD_isError(r))
			return stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL, "corrupt zstd stream: %s",
				ZSTD_getErrorName(r));
		if (r == 0)
			z->frame_done = 1;
		else if (in.pos > before)
			z->frame_done = 0;
		int rc = xf_emit(x, z->chunk, ob.pos);
		if (rc)
			return rc;
	} while (in.pos < in.size || ob.pos == ob.size);
	return 0;
}

static int unzstd_end(xf *x)
{
	zs_sink *z = (zs_sink *)x;
	if (!z->frame_done)
		return stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL, "truncated zstd stream: %s",
			z->any_input ? "the input ended inside a frame (incomplete upload or copy?)" : "no data");
	return 0;
}

static void zs_cleanup(xf *x)
{
	zs_sink *z = (zs_sink *)x;
	ZSTD_freeCCtx(z->cctx);
	ZSTD_freeDCtx(z->dctx);
	stkdr__free(z->chunk);
}

static int zs_new(zs_sink **out, const char *name, stkdr__sink *next, uint32_t flags)
{
	xf *x;
	int rc = xf_new(&x, sizeof(zs_sink), name, next, flags, 1);
	if (rc)
		return rc;
	zs_sink *z = (zs_sink *)x;
	x->cleanup = zs_cleanup;
	z->chunk = stkdr__malloc(CHUNK);
	if (!z->chunk) {
		xf_abort_new(x);
		return nomem(name);
	}
	*out = z;
	return 0;
}

int stkdr__sink_zstd_new(stkdr__sink **out, stkdr__sink *next, uint32_t flags, int level)
{
	*out = NULL;
	if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel())
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL,
			"zstd compression level %d is out of range (expected %d to %d; 0 means the default)", level,
			ZSTD_minCLevel(), ZSTD_maxCLevel());
	zs_sink *z;
	int rc = zs_new(&z, "zstd", next, flags);
	if (rc)
		return rc;
	z->x.put = zstd_put;
	z->x.end = zstd_end;
	z->cctx = ZSTD_createCCtx();
	if (!z->cctx) {
		xf_abort_new(&z->x);
		return nomem("zstd");
	}
	size_t r = ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_compressionLevel, level);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_checksumFlag, 1);
	if (ZSTD_isError(r)) {
		rc = zs_err(r, "zstd");
		xf_abort_new(&z->x);
		return rc;
	}
	*out = &z->x.base;
	return 0;
}

int stkdr__sink_unzstd_new(stkdr__sink **out, stkdr__sink *next, uint32_t flags)
{
	*out = NULL;
	zs_sink *z;
	int rc = zs_new(&z, "unzstd", next, flags);
	if (rc)
		return rc;
	z->x.put = unzstd_put;
	z->x.end = unzstd_end;
	z->dctx = ZSTD_createDCtx();
	if (!z->dctx) {
		xf_abort_new(&z->x);
		return nomem("unzstd");
	}
	*out = &z->x.base;
	return 0;
}

size_t stkdr__zstd_bound(size_t size)
{
	return ZSTD_compressBound(size);
}

int stkdr__zstd_compress_to(void *dst, size_t cap, size_t *len_out, int level, const void *data, size_t size)
{
	if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel())
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL,
			"zstd compression level %d is out of range (expected %d to %d)", level, ZSTD_minCLevel(),
			ZSTD_maxCLevel());
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	if (!cctx)
		return nomem("zstd");
	size_t r = ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
	if (!ZSTD_isError(r))
		r = ZSTD_compress2(cctx, dst, cap, data, size);
	ZSTD_freeCCtx(cctx);
	if (ZSTD_isError(r))
		return zs_err(r, "zstd");
	*len_out = r;
	return 0;
}

#else

static int zstd_unsupported(void)
{
	return stkdr__seterr(STKDR_ENOTSUPPORTED, STKDR_ERRCLASS_CONFIG, NULL,
		"zstd compression is not available: libstkdr was built without libzstd (use gzip, or rebuild with "
		"-Dzstd=enabled)");
}

int stkdr__sink_zstd_new(stkdr__sink **out, stkdr__sink *next, uint32_t flags, int level)
{
	(void)next;
	(void)flags;
	(void)level;
	*out = NULL;
	return zstd_unsupported();
}

int stkdr__sink_unzstd_new(stkdr__sink **out, stkdr__sink *next, uint32_t flags)
{
	(void)next;
	(void)flags;
	*out = NULL;
	return zstd_unsupported();
}

size_t stkdr__zstd_bound(size_t size)
{
	return size;
}

int stkdr__zstd_compress_to(void *dst, size_t cap, size_t *len_out, int level, const void *data, size_t size)
{
	(void)dst;
	(void)cap;
	(void)len_out;
	(void)level;
	(void)data;
	(void)size;
	return zstd_unsupported();
}

#endif

/* ---- algorithms by name ---- */

static const struct {
	const char *name;
	const char *suffix;
} algos[] = {
	[STKDR__COMPRESS_NONE] = { "none", "" },
	[STKDR__COMPRESS_GZIP] = { "gzip", ".gz" },
	[STKDR__COMPRESS_ZSTD] = { "zstd", ".zst" },
};

int stkdr__compress_parse(stkdr__compress *out, const char *name)
{
	for (size_t i = 0; name && i < STKDR__ARRAY_SIZE(algos); i++) {
		if (strcmp(name, algos[i].name) == 0) {
			*out = (stkdr__compress)i;
			return 0;
		}
	}
	return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL,
		"compression \"%s\" is unknown (expected none, gzip or zstd)", name ? name : "(null)");
}

const char *stkdr__compress_name(stkdr__compress c)
{
	return (unsigned)c < STKDR__ARRAY_SIZE(algos) ? algos[c].name : "unknown";
}

const char *stkdr__compress_suffix(stkdr__compress c)
{
	return (unsigned)c < STKDR__ARRAY_SIZE(algos) ? algos[c].suffix : "";
}

static int bad_algo(stkdr__compress c)
{
	return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
		"compression algorithm %d is unknown (expected none, gzip or zstd)", (int)c);
}

int stkdr__sink_compress_new(stkdr__sink **out, stkdr__sink *next, uint32_t flags, stkdr__compress c, int level)
{
	switch (c) {
	case STKDR__COMPRESS_NONE:
		return pass_new(out, next, flags);
	case STKDR__COMPRESS_GZIP:
		return stkdr__sink_gzip_new(out, next, flags, level);
	case STKDR__COMPRESS_ZSTD:
		return stkdr__sink_zstd_new(out, next, flags, level);
	}
	*out = NULL;
	return bad_algo(c);
}

int stkdr__sink_decompress_new(stkdr__sink **out, stkdr__sink *next, uint32_t flags, stkdr__compress c)
{
	switch (c) {
	case STKDR__COMPRESS_NONE:
		return pass_new(out, next, flags);
	case STKDR__COMPRESS_GZIP:
		return stkdr__sink_gunzip_new(out, next, flags);
	case STKDR__COMPRESS_ZSTD:
		return stkdr__sink_unzstd_new(out, next, flags);
	}
	*out = NULL;
	return bad_algo(c);
}
