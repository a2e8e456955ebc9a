/*
 * Push streams: a chain of sinks (source -> transform -> sink) so that data (COPY output, base-backup
 * tar, WAL) flows through gzip/zstd and SHA-256 into the object store without being held in memory.
 * Internal.
 *
 * A sink accepts write() any number of times, then finish() exactly once (flushes, finishes the
 * transform and finishes the next sink), then destroy(). destroy() without finish() abandons: it
 * aborts the downstream (an object writer is aborted, nothing becomes visible). Transforms own the next
 * sink unless created with STKDR__SINK_BORROW. A constructor takes `next` only when it succeeds: on
 * failure `*out` is NULL and the caller still owns `next`. After a failed write() or finish() the sink
 * keeps returning that error; the only valid call left is destroy().
 */
#ifndef STKDR_CORE_STREAM_H
#define STKDR_CORE_STREAM_H

#include "internal.h"

typedef struct stkdr__sink stkdr__sink;
struct stkdr__sink {
	int (*write)(stkdr__sink *s, const uint8_t *data, size_t len);
	int (*finish)(stkdr__sink *s);
	void (*destroy)(stkdr__sink *s);
};

/* Flag for transform constructors: do not destroy `next` when this sink is destroyed. */
#define STKDR__SINK_BORROW 0x1u

static inline int stkdr__sink_write(stkdr__sink *s, const void *data, size_t len)
{
	return len ? s->write(s, (const uint8_t *)data, len) : 0;
}
static inline int stkdr__sink_finish(stkdr__sink *s) { return s->finish(s); }
static inline void stkdr__sink_destroy(stkdr__sink *s) { if (s) s->destroy(s); }

/* Collects into a buffer (borrowed; must outlive the sink). */
int stkdr__sink_buf_new(stkdr__sink **out, stkdr_buf *buf);
/* Writes to a file descriptor (not closed); finish() does fsync if `do_fsync`. */
int stkdr__sink_fd_new(stkdr__sink **out, int fd, int do_fsync);
/* Discards, counting. */
int stkdr__sink_null_new(stkdr__sink **out);
/* Passes through to `next` (may be NULL), computing SHA-256 and the byte count, stored at finish()
 * into the caller's `digest_out` (32 bytes, may be NULL) and `count_out` (may be NULL). */
int stkdr__sink_sha256_new(stkdr__sink **out, stkdr__sink *next, uint32_t flags, uint8_t *digest_out, int64_t *count_out);
/* gzip (RFC 1952) compressor at `level` 0..9 into `next`. */
int stkdr__sink_gzip_new(stkdr__sink **out, stkdr__sink *next, uint32_t flags, int level);
/* gzip decompressor into `next`: truncated input, bad CRC or trailing garbage fail with STKDR_ECORRUPT
 * (at write or finish). Concatenated members are accepted. */
int stkdr__sink_gunzip_new(stkdr__sink **out, stkdr__sink *next, uint32_t flags);
/* zstd compressor/decompressor (libzstd), same contract; STKDR_ENOTSUPPORTED when built without zstd. */
int stkdr__sink_zstd_new(stkdr__sink **out, stkdr__sink *next, uint32_t flags, int level);
int stkdr__sink_unzstd_new(stkdr__sink **out, stkdr__sink *next, uint32_t flags);
/* One zstd frame (with content size and checksum) of `data` into `dst` (`cap` >= stkdr__zstd_bound(size)),
 * in one call: for data already whole in memory, no streaming copies. */
size_t stkdr__zstd_bound(size_t size);
int stkdr__zstd_compress_to(void *dst, size_t cap, size_t *len_out, int level, const void *data, size_t size);

/* Compression algorithms by name ("none", "gzip", "zstd"). */
typedef enum stkdr__compress { STKDR__COMPRESS_NONE = 0, STKDR__COMPRESS_GZIP = 1, STKDR__COMPRESS_ZSTD = 2 } stkdr__compress;
int stkdr__compress_parse(stkdr__compress *out, const char *name); /* EINVAL naming the value */
const char *stkdr__compress_name(stkdr__compress c);
const char *stkdr__compress_suffix(stkdr__compress c); /* "", ".gz", ".zst" */
/* Compressor / decompressor for an algorithm (NONE: a pass-through). */
int stkdr__sink_compress_new(stkdr__sink **out, stkdr__sink *next, uint32_t flags, stkdr__compress c, int level);
int stkdr__sink_decompress_new(stkdr__sink **out, stkdr__sink *next, uint32_t flags, stkdr__compress c);

#endif
