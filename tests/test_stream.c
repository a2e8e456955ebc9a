/* core/stream: leaf sinks, SHA-256, gzip/gunzip, zstd/unzstd, pass-through, names, ownership. */
#include "testutil.h"

#include "core/crypto.h"
#include "core/stream.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- helpers ---- */

/* Deterministic test data: runs of pseudo-random bytes alternating with compressible text. */
static uint8_t *make_data(size_t len, uint64_t seed)
{
	uint8_t *d = malloc(len ? len : 1);
	ck_assert_ptr_nonnull(d);
	uint64_t x = seed | 1;
	size_t i = 0;
	int line = 0;
	while (i < len) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		size_t run = 1 + (size_t)(x % 5000);
		if (x & 0x100000) {
			for (size_t k = 0; k < run && i < len; k++, i++) {
				x ^= x << 13;
				x ^= x >> 7;
				x ^= x << 17;
				d[i] = (uint8_t)(x >> 24);
			}
		} else {
			char text[64];
			while (run > 0 && i < len) {
				int n = snprintf(text, sizeof text, "WAL record %d: INSERT INTO t VALUES (...);\n",
					line++);
				for (int k = 0; k < n && i < len && run > 0; k++, i++, run--)
					d[i] = (uint8_t)text[k];
			}
		}
	}
	return d;
}

static const size_t odd_sizes[] = { 1, 7, 4093, 65537, 3, 131071, 262147, 17, 999983 };

/* Writes `len` bytes in odd-sized chunks starting at a rotation `rot`; returns the first error. */
static int feed(stkdr__sink *s, const void *data, size_t len, size_t rot)
{
	const uint8_t *p = data;
	for (size_t i = rot; len > 0; i++) {
		size_t n = odd_sizes[i % STKDR__ARRAY_SIZE(odd_sizes)];
		if (n > len)
			n = len;
		int rc = stkdr__sink_write(s, p, n);
		if (rc)
			return rc;
		p += n;
		len -= n;
	}
	return 0;
}

/* Runs data through a decompressor for `c` into `out`; returns the first error (write or finish). */
static int decompress_all(stkdr_buf *out, stkdr__compress c, const void *data, size_t len, size_t rot)
{
	stkdr__sink *b, *d;
	tu_assert_ok(stkdr__sink_buf_new(&b, out));
	tu_assert_ok(stkdr__sink_decompress_new(&d, b, 0, c));
	int rc = feed(d, data, len, rot);
	if (rc == 0)
		rc = stkdr__sink_finish(d);
	stkdr__sink_destroy(d);
	return rc;
}

static void compress_all(stkdr_buf *out, stkdr__compress c, int level, const void *data, size_t len, size_t rot)
{
	stkdr__sink *b, *z;
	tu_assert_ok(stkdr__sink_buf_new(&b, out));
	tu_assert_ok(stkdr__sink_compress_new(&z, b, 0, c, level));
	tu_assert_ok(feed(z, data, len, rot));
	tu_assert_ok(stkdr__sink_finish(z));
	stkdr__sink_destroy(z);
}

static int have_cmd(const char *name)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", name);
	return system(cmd) == 0;
}

/* A sink that records what happens to it. */
typedef struct probe {
	stkdr__sink base;
	int *destroyed;
	int finished;
	int fail_rc; /* write returns this when non-zero */
	int finish_rc;
	size_t bytes;
} probe;

static int probe_write(stkdr__sink *s, const uint8_t *data, size_t len)
{
	probe *p = (probe *)s;
	(void)data;
	if (p->fail_rc)
		return stkdr__seterr(p->fail_rc, STKDR_ERRCLASS_LOCAL, NULL, "probe: write refused");
	p->bytes += len;
	return 0;
}

static int probe_finish(stkdr__sink *s)
{
	probe *p = (probe *)s;
	p->finished++;
	return p->finish_rc ? stkdr__seterr(p->finish_rc, STKDR_ERRCLASS_LOCAL, NULL, "probe: finish refused") : 0;
}

/* How many times the last destroyed probe was finished. */
static int probe_last_finished = -1;

static void probe_destroy(stkdr__sink *s)
{
	probe *p = (probe *)s;
	(*p->destroyed)++;
	probe_last_finished = p->finished;
	free(p);
}

static probe *probe_new(int *destroyed)
{
	probe *p = calloc(1, sizeof *p);
	ck_assert_ptr_nonnull(p);
	p->base.write = probe_write;
	p->base.finish = probe_finish;
	p->base.destroy = probe_destroy;
	p->destroyed = destroyed;
	return p;
}

/* ---- leaf sinks ---- */

START_TEST(buf_and_null_sinks)
{
	stkdr_buf b = STKDR_BUF_INIT;
	stkdr__sink *s, *n;
	tu_assert_ok(stkdr__sink_buf_new(&s, &b));
	tu_assert_ok(stkdr__sink_write(s, "hello ", 6));
	tu_assert_ok(stkdr__sink_write(s, "", 0));
	tu_assert_ok(stkdr__sink_write(s, "world", 5));
	tu_assert_ok(stkdr__sink_finish(s));
	stkdr__sink_destroy(s);
	ck_assert_str_eq(b.ptr, "hello world");
	tu_assert_rc(stkdr__sink_buf_new(&s, NULL), STKDR_EINVAL);
	ck_assert_ptr_null(s);

	tu_assert_ok(stkdr__sink_null_new(&n));
	tu_assert_ok(stkdr__sink_write(n, "x", 1));
	tu_assert_ok(stkdr__sink_finish(n));
	stkdr__sink_destroy(n);
	stkdr__sink_destroy(NULL);
	stkdr_buf_dispose(&b);
}
END_TEST

START_TEST(fd_sink)
{
	char *dir = tu_mkdtemp("stream");
	char *path = tu_path(dir, "out.bin");
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	stkdr__sink *s;
	uint8_t *data = make_data(300000, 7);
	tu_assert_ok(stkdr__sink_fd_new(&s, fd, 1));
	tu_assert_ok(feed(s, data, 300000, 2));
	tu_assert_ok(stkdr__sink_finish(s));
	stkdr__sink_destroy(s);
	ck_assert_int_eq(close(fd), 0); /* not closed by the sink */
	size_t len;
	char *got = tu_read_file(path, &len);
	ck_assert_uint_eq(len, 300000);
	ck_assert_mem_eq(got, data, len);
	stkdr__free(got);

	/* a pipe cannot be fsync'ed: not an error */
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	tu_assert_ok(stkdr__sink_fd_new(&s, p[1], 1));
	tu_assert_ok(stkdr__sink_write(s, "abc", 3));
	tu_assert_ok(stkdr__sink_finish(s));
	stkdr__sink_destroy(s);
	char rb[4] = { 0 };
	ck_assert_int_eq(read(p[0], rb, 3), 3);
	ck_assert_str_eq(rb, "abc");
	close(p[0]);
	close(p[1]);

	/* a bad descriptor */
	tu_assert_rc(stkdr__sink_fd_new(&s, -1, 0), STKDR_EINVAL);
	ck_assert_ptr_null(s);
	fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	tu_assert_ok(stkdr__sink_fd_new(&s, fd, 0));
	ck_assert_int_ne(stkdr__sink_write(s, "x", 1), 0);
	ck_assert_int_eq(stkdr__err_get()->klass, STKDR_ERRCLASS_OS);
	tu_assert_errmsg("file descriptor");
	stkdr__sink_destroy(s);
	close(fd);
	/* fsync of a closed descriptor fails */
	fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	tu_assert_ok(stkdr__sink_fd_new(&s, fd, 1));
	close(fd);
	ck_assert_int_ne(stkdr__sink_finish(s), 0);
	tu_assert_errmsg("fsync");
	stkdr__sink_destroy(s);

	free(data);
	stkdr__free(path);
	tu_rmtree_free(dir);
}
END_TEST

/* ---- SHA-256 ---- */

START_TEST(sha256_sink)
{
	size_t len = 3 * 1000 * 1000 + 7;
	uint8_t *data = make_data(len, 42);
	uint8_t want[32], got[32];
	stkdr__sha256(data, len, want);
	int64_t count = -1;
	stkdr_buf b = STKDR_BUF_INIT;
	stkdr__sink *bs, *s;
	tu_assert_ok(stkdr__sink_buf_new(&bs, &b));
	tu_assert_ok(stkdr__sink_sha256_new(&s, bs, 0, got, &count));
	tu_assert_ok(feed(s, data, len, 0));
	tu_assert_ok(stkdr__sink_finish(s));
	stkdr__sink_destroy(s);
	ck_assert_mem_eq(got, want, 32);
	ck_assert_int_eq(count, (int64_t)len);
	ck_assert_uint_eq(b.size, len);
	ck_assert_mem_eq(b.ptr, data, len);
	stkdr_buf_dispose(&b);

	/* without a next sink, and with the outputs optional */
	tu_assert_ok(stkdr__sink_sha256_new(&s, NULL, 0, got, NULL));
	tu_assert_ok(stkdr__sink_finish(s));
	stkdr__sink_destroy(s);
	char hex[65];
	stkdr__hex_encode(hex, got, 32);
	ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	tu_assert_ok(stkdr__sink_sha256_new(&s, NULL, 0, NULL, &count));
	tu_assert_ok(stkdr__sink_write(s, "abc", 3));
	tu_assert_ok(stkdr__sink_finish(s));
	stkdr__sink_destroy(s);
	ck_assert_int_eq(count, 3);
	free(data);
}
END_TEST

/* ---- ownership and the state machine ---- */

START_TEST(borrow_flag)
{
	int destroyed = 0;
	probe *p = probe_new(&destroyed);
	stkdr__sink *s;
	/* owned: destroying the transform destroys the next sink */
	tu_assert_ok(stkdr__sink_sha256_new(&s, &p->base, 0, NULL, NULL));
	stkdr__sink_destroy(s);
	ck_assert_int_eq(destroyed, 1);

	/* borrowed: next survives and stays usable; finish still propagates */
	p = probe_new(&destroyed);
	tu_assert_ok(stkdr__sink_gzip_new(&s, &p->base, STKDR__SINK_BORROW, 6));
	tu_assert_ok(stkdr__sink_write(s, "data", 4));
	tu_assert_ok(stkdr__sink_finish(s));
	ck_assert_int_eq(p->finished, 1);
	stkdr__sink_destroy(s);
	ck_assert_int_eq(destroyed, 1);
	size_t before = p->bytes;
	ck_assert_uint_gt(before, 0);
	tu_assert_ok(stkdr__sink_write(&p->base, "more", 4));
	ck_assert_uint_eq(p->bytes, before + 4);
	stkdr__sink_destroy(&p->base);
	ck_assert_int_eq(destroyed, 2);

	/* a failed constructor leaves next to the caller */
	p = probe_new(&destroyed);
	tu_assert_rc(stkdr__sink_gzip_new(&s, &p->base, 0, 11), STKDR_EINVAL);
	tu_assert_errmsg("level 11");
	ck_assert_ptr_null(s);
	tu_assert_rc(stkdr__sink_gunzip_new(&s, &p->base, 0x80), STKDR_EINVAL);
	tu_assert_errmsg("unknown flags");
	ck_assert_int_eq(destroyed, 2);
	stkdr__sink_destroy(&p->base);
	ck_assert_int_eq(destroyed, 3);
}
END_TEST

START_TEST(destroy_without_finish_abandons)
{
	static const stkdr__compress algos[] = { STKDR__COMPRESS_NONE, STKDR__COMPRESS_GZIP, STKDR__COMPRESS_ZSTD };
	uint8_t *data = make_data(500000, 3);
	for (size_t i = 0; i < STKDR__ARRAY_SIZE(algos); i++) {
		int destroyed = 0;
		probe *p = probe_new(&destroyed);
		stkdr__sink *sha, *z, *unz;
		tu_assert_ok(stkdr__sink_sha256_new(&sha, &p->base, 0, NULL, NULL));
		int rc = stkdr__sink_decompress_new(&unz, sha, 0, algos[i]);
		if (rc == STKDR_ENOTSUPPORTED) {
			stkdr__sink_destroy(sha);
			continue;
		}
		tu_assert_ok(rc);
		tu_assert_ok(stkdr__sink_compress_new(&z, unz, 0, algos[i], 1));
		tu_assert_ok(feed(z, data, 500000, 1));
		stkdr__sink_destroy(z); /* the whole chain goes, nothing is finished */
		ck_assert_int_eq(destroyed, 1);
		ck_assert_int_eq(probe_last_finished, 0);
	}
	/* abandoning a sha256 sink that was never written */
	stkdr__sink *s;
	tu_assert_ok(stkdr__sink_sha256_new(&s, NULL, 0, NULL, NULL));
	stkdr__sink_destroy(s);
	free(data);
}
END_TEST

START_TEST(state_machine)
{
	int destroyed = 0;
	probe *p = probe_new(&destroyed);
	stkdr__sink *s;
	tu_assert_ok(stkdr__sink_sha256_new(&s, &p->base, 0, NULL, NULL));
	tu_assert_ok(stkdr__sink_write(s, "abc", 3));
	tu_assert_ok(stkdr__sink_finish(s));
	tu_assert_rc(stkdr__sink_write(s, "abc", 3), STKDR_EINVAL);
	tu_assert_errmsg("write after finish");
	tu_assert_rc(stkdr__sink_finish(s), STKDR_EINVAL);
	tu_assert_errmsg("finished twice");
	ck_assert_int_eq(p->finished, 1);
	stkdr__sink_destroy(s);

	/* a downstream failure is sticky */
	p = probe_new(&destroyed);
	p->fail_rc = STKDR_ENOSPACE;
	tu_assert_ok(stkdr__sink_gzip_new(&s, &p->base, 0, 0));
	int rc = stkdr__sink_write(s, "abc", 3); /* may be buffered by deflate */
	if (rc == 0)
		rc = stkdr__sink_finish(s);
	tu_assert_rc(rc, STKDR_ENOSPACE);
	tu_assert_errmsg("probe: write refused");
	p->fail_rc = 0;
	tu_assert_rc(stkdr__sink_write(s, "abc", 3), STKDR_ENOSPACE);
	tu_assert_rc(stkdr__sink_finish(s), STKDR_ENOSPACE);
	ck_assert_int_eq(p->finished, 0);
	stkdr__sink_destroy(s);
	ck_assert_int_eq(probe_last_finished, 0);

	/* the next sink's finish error is returned */
	p = probe_new(&destroyed);
	p->finish_rc = STKDR_EIO;
	tu_assert_ok(stkdr__sink_sha256_new(&s, &p->base, 0, NULL, NULL));
	tu_assert_rc(stkdr__sink_finish(s), STKDR_EIO);
	tu_assert_rc(stkdr__sink_finish(s), STKDR_EIO);
	stkdr__sink_destroy(s);
	ck_assert_int_eq(destroyed, 3);

	/* transforms need a next sink */
	tu_assert_rc(stkdr__sink_gzip_new(&s, NULL, 0, 6), STKDR_EINVAL);
	tu_assert_errmsg("next sink is NULL");
	tu_assert_rc(stkdr__sink_gunzip_new(&s, NULL, 0), STKDR_EINVAL);
	tu_assert_rc(stkdr__sink_compress_new(&s, NULL, 0, STKDR__COMPRESS_NONE, 0), STKDR_EINVAL);
	ck_assert_ptr_null(s);
}
END_TEST

START_TEST(downstream_failure_in_every_transform)
{
	static const stkdr__compress algos[] = { STKDR__COMPRESS_NONE, STKDR__COMPRESS_GZIP, STKDR__COMPRESS_ZSTD };
	uint8_t *data = make_data(400000, 11);
	for (size_t i = 0; i < STKDR__ARRAY_SIZE(algos); i++) {
		for (int dir = 0; dir <= 1; dir++) {
			int destroyed = 0;
			probe *p = probe_new(&destroyed);
			p->fail_rc = STKDR_ECANCELLED;
			stkdr__sink *s;
			stkdr_buf comp = STKDR_BUF_INIT;
			int rc;
			if (dir == 0) {
				rc = stkdr__sink_compress_new(&s, &p->base, 0, algos[i], 1);
			} else {
				if (algos[i] == STKDR__COMPRESS_ZSTD && !stkdr_has_feature("zstd")) {
					stkdr__sink_destroy(&p->base);
					continue;
				}
				compress_all(&comp, algos[i], 1, data, 400000, 0);
				rc = stkdr__sink_decompress_new(&s, &p->base, 0, algos[i]);
			}
			if (rc == STKDR_ENOTSUPPORTED) {
				stkdr__sink_destroy(&p->base);
				continue;
			}
			tu_assert_ok(rc);
			rc = dir == 0 ? feed(s, data, 400000, 0) : feed(s, comp.ptr, comp.size, 0);
			if (rc == 0)
				rc = stkdr__sink_finish(s);
			tu_assert_rc(rc, STKDR_ECANCELLED);
			stkdr__sink_destroy(s);
			stkdr_buf_dispose(&comp);
			ck_assert_int_eq(destroyed, 1);
		}
	}
	free(data);
}
END_TEST

/* ---- gzip ---- */

START_TEST(gzip_roundtrip)
{
	static const size_t lens[] = { 0, 1, 100, 10 * 1000 * 1000 };
	for (size_t i = 0; i < STKDR__ARRAY_SIZE(lens); i++) {
		size_t len = lens[i];
		uint8_t *data = make_data(len, 1000 + i);
		stkdr_buf comp = STKDR_BUF_INIT, back = STKDR_BUF_INIT;
		compress_all(&comp, STKDR__COMPRESS_GZIP, 6, data, len, i);
		ck_assert_uint_ge(comp.size, 20);
		ck_assert_mem_eq(comp.ptr, "\x1f\x8b\x08", 3);
		if (len > 1000)
			ck_assert_uint_lt(comp.size, len); /* the text parts compress */
		tu_assert_ok(decompress_all(&back, STKDR__COMPRESS_GZIP, comp.ptr, comp.size, i + 3));
		ck_assert_uint_eq(back.size, len);
		if (len)
			ck_assert(memcmp(back.ptr, data, len) == 0);
		stkdr_buf_dispose(&comp);
		stkdr_buf_dispose(&back);
		free(data);
	}
}
END_TEST

START_TEST(gzip_levels_and_direct_chain)
{
	size_t len = 700000;
	uint8_t *data = make_data(len, 5);
	uint8_t want[32], got[32];
	stkdr__sha256(data, len, want);
	for (int level = 0; level <= 9; level += 3) {
		/* compressor feeding a decompressor directly: nothing is buffered whole */
		int64_t count = 0;
		stkdr__sink *sha, *gun, *gz;
		tu_assert_ok(stkdr__sink_sha256_new(&sha, NULL, 0, got, &count));
		tu_assert_ok(stkdr__sink_gunzip_new(&gun, sha, 0));
		tu_assert_ok(stkdr__sink_gzip_new(&gz, gun, 0, level));
		tu_assert_ok(feed(gz, data, len, (size_t)level));
		tu_assert_ok(stkdr__sink_finish(gz));
		stkdr__sink_destroy(gz);
		ck_assert_int_eq(count, (int64_t)len);
		ck_assert_mem_eq(got, want, 32);
	}
	stkdr__sink *s;
	tu_assert_rc(stkdr__sink_gzip_new(&s, NULL, 0, -1), STKDR_EINVAL);
	tu_assert_errmsg("expected 0 to 9");
	free(data);
}
END_TEST

START_TEST(gzip_interop_with_cli)
{
	if (!have_cmd("gzip"))
		return;
	char *dir = tu_mkdtemp("gzip");
	char *gz = tu_path(dir, "a.gz");
	char *plain = tu_path(dir, "a");
	size_t len = 2 * 1000 * 1000 + 3;
	uint8_t *data = make_data(len, 77);

	/* ours -> gzip -t, gzip -dc */
	int fd = open(gz, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	stkdr__sink *f, *z;
	tu_assert_ok(stkdr__sink_fd_new(&f, fd, 1));
	tu_assert_ok(stkdr__sink_gzip_new(&z, f, 0, 6));
	tu_assert_ok(feed(z, data, len, 4));
	tu_assert_ok(stkdr__sink_finish(z));
	stkdr__sink_destroy(z);
	close(fd);
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "gzip -t '%s'", gz);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(cmd, sizeof cmd, "gzip -dc '%s' > '%s'", gz, plain);
	ck_assert_int_eq(system(cmd), 0);
	size_t got_len;
	char *got = tu_read_file(plain, &got_len);
	ck_assert_uint_eq(got_len, len);
	ck_assert(memcmp(got, data, len) == 0);
	stkdr__free(got);

	/* gzip CLI -> ours, with two concatenated members */
	snprintf(cmd, sizeof cmd, "gzip -c -9 '%s' > '%s' && gzip -c -1 '%s' >> '%s'", plain, gz, plain, gz);
	ck_assert_int_eq(system(cmd), 0);
	size_t gz_len;
	char *gzd = tu_read_file(gz, &gz_len);
	stkdr_buf back = STKDR_BUF_INIT;
	tu_assert_ok(decompress_all(&back, STKDR__COMPRESS_GZIP, gzd, gz_len, 0));
	ck_assert_uint_eq(back.size, 2 * len);
	ck_assert(memcmp(back.ptr, data, len) == 0);
	ck_assert(memcmp(back.ptr + len, data, len) == 0);
	stkdr_buf_dispose(&back);
	stkdr__free(gzd);

	free(data);
	stkdr__free(gz);
	stkdr__free(plain);
	tu_rmtree_free(dir);
}
END_TEST

START_TEST(gunzip_detects_corruption)
{
	size_t len = 20000;
	uint8_t *data = make_data(len, 9);
	stkdr_buf comp = STKDR_BUF_INIT, out = STKDR_BUF_INIT;
	compress_all(&comp, STKDR__COMPRESS_GZIP, 6, data, len, 0);
	uint8_t *c = (uint8_t *)comp.ptr;

	/* every truncation: "truncated" at finish, or a data error */
	for (size_t n = 0; n < comp.size; n++) {
		stkdr__buf_clear(&out);
		tu_assert_rc(decompress_all(&out, STKDR__COMPRESS_GZIP, c, n, n), STKDR_ECORRUPT);
		ck_assert_int_eq(stkdr__err_get()->klass, STKDR_ERRCLASS_FORMAT);
		tu_assert_errmsg("truncated gzip stream");
		tu_assert_errmsg(n == 0 ? "no data" : "ended inside a member");
	}

	/* a flipped bit anywhere after the fixed header fields (MTIME, XFL and OS are not protected) */
	for (size_t i = 3; i < comp.size; i++) {
		if (i >= 4 && i < 10)
			continue;
		c[i] ^= (uint8_t)(1u << (i % 8));
		stkdr__buf_clear(&out);
		int rc = decompress_all(&out, STKDR__COMPRESS_GZIP, c, comp.size, i);
		ck_assert_msg(rc == STKDR_ECORRUPT, "flip at %zu of %zu: rc=%d", i, comp.size, rc);
		c[i] ^= (uint8_t)(1u << (i % 8));
	}
	/* the CRC and the length in the trailer specifically */
	c[comp.size - 8] ^= 1;
	tu_assert_rc(decompress_all(&out, STKDR__COMPRESS_GZIP, c, comp.size, 0), STKDR_ECORRUPT);
	tu_assert_errmsg("incorrect data check");
	c[comp.size - 8] ^= 1;
	c[comp.size - 1] ^= 1;
	tu_assert_rc(decompress_all(&out, STKDR__COMPRESS_GZIP, c, comp.size, 0), STKDR_ECORRUPT);
	tu_assert_errmsg("incorrect length check");
	c[comp.size - 1] ^= 1;

	/* trailing garbage, in the same write or a later one */
	stkdr_buf g = STKDR_BUF_INIT;
	tu_assert_ok(stkdr_buf_set(&g, comp.ptr, comp.size));
	tu_assert_ok(stkdr_buf_put(&g, "garbage", 7));
	tu_assert_rc(decompress_all(&out, STKDR__COMPRESS_GZIP, g.ptr, g.size, 8), STKDR_ECORRUPT);
	tu_assert_errmsg("garbage after the end of gzip member 1");
	tu_assert_ok(stkdr_buf_set(&g, comp.ptr, comp.size));
	tu_assert_ok(stkdr_buf_put(&g, "\0\0\0\0", 4)); /* zero padding is garbage too */
	tu_assert_rc(decompress_all(&out, STKDR__COMPRESS_GZIP, g.ptr, g.size, 0), STKDR_ECORRUPT);
	tu_assert_errmsg("byte 0x00");
	/* a second member that starts like gzip but is not */
	tu_assert_ok(stkdr_buf_set(&g, comp.ptr, comp.size));
	tu_assert_ok(stkdr_buf_put(&g, "\x1f\x00zzzzzzzzzzzz", 14));
	tu_assert_rc(decompress_all(&out, STKDR__COMPRESS_GZIP, g.ptr, g.size, 0), STKDR_ECORRUPT);
	tu_assert_errmsg("garbage after gzip member 1");
	/* a second member cut short */
	tu_assert_ok(stkdr_buf_set(&g, comp.ptr, comp.size));
	tu_assert_ok(stkdr_buf_put(&g, comp.ptr, comp.size / 2));
	tu_assert_rc(decompress_all(&out, STKDR__COMPRESS_GZIP, g.ptr, g.size, 0), STKDR_ECORRUPT);
	tu_assert_errmsg("truncated");
	/* not gzip at all */
	tu_assert_rc(decompress_all(&out, STKDR__COMPRESS_GZIP, "hello, world", 12, 0), STKDR_ECORRUPT);
	tu_assert_errmsg("corrupt gzip stream (member 1)");

	/* concatenated members are fine, also split at every boundary position */
	tu_assert_ok(stkdr_buf_set(&g, comp.ptr, comp.size));
	tu_assert_ok(stkdr_buf_put(&g, comp.ptr, comp.size));
	for (size_t split = comp.size - 3; split <= comp.size + 3; split++) {
		stkdr__buf_clear(&out);
		stkdr__sink *b, *d;
		tu_assert_ok(stkdr__sink_buf_new(&b, &out));
		tu_assert_ok(stkdr__sink_gunzip_new(&d, b, 0));
		tu_assert_ok(stkdr__sink_write(d, g.ptr, split));
		tu_assert_ok(stkdr__sink_write(d, g.ptr + split, g.size - split));
		tu_assert_ok(stkdr__sink_finish(d));
		stkdr__sink_destroy(d);
		ck_assert_uint_eq(out.size, 2 * len);
		ck_assert(memcmp(out.ptr + len, data, len) == 0);
	}
	stkdr_buf_dispose(&g);
	stkdr_buf_dispose(&comp);
	stkdr_buf_dispose(&out);
	free(data);
}
END_TEST

/* ---- zstd ---- */

START_TEST(zstd_roundtrip_and_corruption)
{
	stkdr__sink *s;
	if (!stkdr_has_feature("zstd")) {
		int destroyed = 0;
		probe *p = probe_new(&destroyed);
		tu_assert_rc(stkdr__sink_zstd_new(&s, &p->base, 0, 3), STKDR_ENOTSUPPORTED);
		tu_assert_errmsg("without libzstd");
		tu_assert_rc(stkdr__sink_unzstd_new(&s, &p->base, 0), STKDR_ENOTSUPPORTED);
		stkdr__sink_destroy(&p->base);
		return;
	}
	static const size_t lens[] = { 0, 1, 10 * 1000 * 1000 };
	for (size_t i = 0; i < STKDR__ARRAY_SIZE(lens); i++) {
		size_t len = lens[i];
		uint8_t *data = make_data(len, 300 + i);
		stkdr_buf comp = STKDR_BUF_INIT, back = STKDR_BUF_INIT;
		compress_all(&comp, STKDR__COMPRESS_ZSTD, 3, data, len, i);
		ck_assert_mem_eq(comp.ptr, "\x28\xb5\x2f\xfd", 4);
		tu_assert_ok(decompress_all(&back, STKDR__COMPRESS_ZSTD, comp.ptr, comp.size, i + 5));
		ck_assert_uint_eq(back.size, len);
		if (len)
			ck_assert(memcmp(back.ptr, data, len) == 0);
		stkdr_buf_dispose(&comp);
		stkdr_buf_dispose(&back);
		free(data);
	}

	size_t len = 50000;
	uint8_t *data = make_data(len, 17);
	stkdr_buf comp = STKDR_BUF_INIT, out = STKDR_BUF_INIT, g = STKDR_BUF_INIT;
	compress_all(&comp, STKDR__COMPRESS_ZSTD, 19, data, len, 0);
	/* truncations: near both ends exhaustively, sampled in between (each decoder allocates its window) */
	for (size_t n = 0; n < comp.size; n += (n < 64 || n + 64 > comp.size) ? 1 : 97) {
		stkdr__buf_clear(&out);
		tu_assert_rc(decompress_all(&out, STKDR__COMPRESS_ZSTD, comp.ptr, n, n), STKDR_ECORRUPT);
		if (n >= 4)
			tu_assert_errmsg("ended inside a frame");
	}
	tu_assert_rc(decompress_all(&out, STKDR__COMPRESS_ZSTD, comp.ptr, 0, 0), STKDR_ECORRUPT);
	tu_assert_errmsg("truncated zstd stream: no data");
	/* flipped bits in the payload and the checksum */
	for (size_t i = comp.size / 2; i < comp.size; i += 97) {
		comp.ptr[i] = (char)(comp.ptr[i] ^ 0x10);
		tu_assert_rc(decompress_all(&out, STKDR__COMPRESS_ZSTD, comp.ptr, comp.size, 0), STKDR_ECORRUPT);
		comp.ptr[i] = (char)(comp.ptr[i] ^ 0x10);
	}
	comp.ptr[comp.size - 1] = (char)(comp.ptr[comp.size - 1] ^ 1);
	tu_assert_rc(decompress_all(&out, STKDR__COMPRESS_ZSTD, comp.ptr, comp.size, 0), STKDR_ECORRUPT);
	tu_assert_errmsg("corrupt zstd stream");
	comp.ptr[comp.size - 1] = (char)(comp.ptr[comp.size - 1] ^ 1);
	/* trailing garbage */
	tu_assert_ok(stkdr_buf_set(&g, comp.ptr, comp.size));
	tu_assert_ok(stkdr_buf_put(&g, "garbage!", 8));
	tu_assert_rc(decompress_all(&out, STKDR__COMPRESS_ZSTD, g.ptr, g.size, 0), STKDR_ECORRUPT);
	tu_assert_ok(stkdr_buf_set(&g, comp.ptr, comp.size));
	tu_assert_ok(stkdr_buf_put(&g, "\x28", 1));
	tu_assert_rc(decompress_all(&out, STKDR__COMPRESS_ZSTD, g.ptr, g.size, 0), STKDR_ECORRUPT);
	/* concatenated frames */
	tu_assert_ok(stkdr_buf_set(&g, comp.ptr, comp.size));
	tu_assert_ok(stkdr_buf_put(&g, comp.ptr, comp.size));
	stkdr__buf_clear(&out);
	tu_assert_ok(decompress_all(&out, STKDR__COMPRESS_ZSTD, g.ptr, g.size, 2));
	ck_assert_uint_eq(out.size, 2 * len);
	ck_assert(memcmp(out.ptr + len, data, len) == 0);

	/* levels */
	int destroyed = 0;
	probe *p = probe_new(&destroyed);
	tu_assert_rc(stkdr__sink_zstd_new(&s, &p->base, 0, 1000), STKDR_EINVAL);
	tu_assert_errmsg("zstd compression level 1000");
	ck_assert_ptr_null(s);
	tu_assert_ok(stkdr__sink_zstd_new(&s, &p->base, 0, 0)); /* 0: the default level */
	stkdr__sink_destroy(s);
	ck_assert_int_eq(destroyed, 1);

	stkdr_buf_dispose(&g);
	stkdr_buf_dispose(&comp);
	stkdr_buf_dispose(&out);
	free(data);
}
END_TEST

START_TEST(zstd_interop_with_cli)
{
	if (!stkdr_has_feature("zstd") || !have_cmd("zstd"))
		return;
	char *dir = tu_mkdtemp("zstd");
	char *zf = tu_path(dir, "a.zst");
	char *plain = tu_path(dir, "a");
	size_t len = 3 * 1000 * 1000;
	uint8_t *data = make_data(len, 99);
	stkdr_buf comp = STKDR_BUF_INIT;
	compress_all(&comp, STKDR__COMPRESS_ZSTD, 5, data, len, 1);
	tu_write_file(zf, comp.ptr, comp.size);
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "zstd -q -t '%s'", zf);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(cmd, sizeof cmd, "zstd -q -d -f -c '%s' > '%s'", zf, plain);
	ck_assert_int_eq(system(cmd), 0);
	size_t got_len;
	char *got = tu_read_file(plain, &got_len);
	ck_assert_uint_eq(got_len, len);
	ck_assert(memcmp(got, data, len) == 0);
	stkdr__free(got);
	/* CLI -> ours */
	snprintf(cmd, sizeof cmd, "zstd -q -f -c -1 '%s' > '%s'", plain, zf);
	ck_assert_int_eq(system(cmd), 0);
	size_t zlen;
	char *zd = tu_read_file(zf, &zlen);
	stkdr_buf back = STKDR_BUF_INIT;
	tu_assert_ok(decompress_all(&back, STKDR__COMPRESS_ZSTD, zd, zlen, 0));
	ck_assert_uint_eq(back.size, len);
	ck_assert(memcmp(back.ptr, data, len) == 0);
	stkdr_buf_dispose(&back);
	stkdr_buf_dispose(&comp);
	stkdr__free(zd);
	free(data);
	stkdr__free(zf);
	stkdr__free(plain);
	tu_rmtree_free(dir);
}
END_TEST

/* ---- algorithms by name ---- */

START_TEST(compress_names)
{
	stkdr__compress c = STKDR__COMPRESS_GZIP;
	tu_assert_ok(stkdr__compress_parse(&c, "none"));
	ck_assert_int_eq(c, STKDR__COMPRESS_NONE);
	tu_assert_ok(stkdr__compress_parse(&c, "gzip"));
	ck_assert_int_eq(c, STKDR__COMPRESS_GZIP);
	tu_assert_ok(stkdr__compress_parse(&c, "zstd"));
	ck_assert_int_eq(c, STKDR__COMPRESS_ZSTD);
	tu_assert_rc(stkdr__compress_parse(&c, "lz4"), STKDR_EINVAL);
	tu_assert_errmsg("\"lz4\"");
	tu_assert_errmsg("none, gzip or zstd");
	tu_assert_rc(stkdr__compress_parse(&c, "GZIP"), STKDR_EINVAL);
	tu_assert_rc(stkdr__compress_parse(&c, ""), STKDR_EINVAL);
	tu_assert_rc(stkdr__compress_parse(&c, NULL), STKDR_EINVAL);
	ck_assert_int_eq(c, STKDR__COMPRESS_ZSTD);

	ck_assert_str_eq(stkdr__compress_name(STKDR__COMPRESS_NONE), "none");
	ck_assert_str_eq(stkdr__compress_name(STKDR__COMPRESS_GZIP), "gzip");
	ck_assert_str_eq(stkdr__compress_name(STKDR__COMPRESS_ZSTD), "zstd");
	ck_assert_str_eq(stkdr__compress_name((stkdr__compress)9), "unknown");
	ck_assert_str_eq(stkdr__compress_suffix(STKDR__COMPRESS_NONE), "");
	ck_assert_str_eq(stkdr__compress_suffix(STKDR__COMPRESS_GZIP), ".gz");
	ck_assert_str_eq(stkdr__compress_suffix(STKDR__COMPRESS_ZSTD), ".zst");
	ck_assert_str_eq(stkdr__compress_suffix((stkdr__compress)-1), "");

	int destroyed = 0;
	probe *p = probe_new(&destroyed);
	stkdr__sink *s;
	tu_assert_rc(stkdr__sink_compress_new(&s, &p->base, 0, (stkdr__compress)9, 1), STKDR_EINVAL);
	tu_assert_errmsg("algorithm 9");
	ck_assert_ptr_null(s);
	tu_assert_rc(stkdr__sink_decompress_new(&s, &p->base, 0, (stkdr__compress)9), STKDR_EINVAL);
	ck_assert_ptr_null(s);
	ck_assert_int_eq(destroyed, 0);
	stkdr__sink_destroy(&p->base);
}
END_TEST

START_TEST(none_is_pass_through)
{
	stkdr_buf out = STKDR_BUF_INIT, back = STKDR_BUF_INIT;
	compress_all(&out, STKDR__COMPRESS_NONE, 0, "plain bytes", 11, 0);
	ck_assert_str_eq(out.ptr, "plain bytes");
	tu_assert_ok(decompress_all(&back, STKDR__COMPRESS_NONE, out.ptr, out.size, 0));
	ck_assert_str_eq(back.ptr, "plain bytes");
	tu_assert_ok(decompress_all(&back, STKDR__COMPRESS_NONE, "", 0, 0));
	stkdr_buf_dispose(&out);
	stkdr_buf_dispose(&back);
}
END_TEST

/* ---- out of memory (through the allocator hooks) ---- */

static int fail_after = -1;

static void *fail_malloc(size_t size, void *ud)
{
	(void)ud;
	if (fail_after == 0)
		return NULL;
	if (fail_after > 0)
		fail_after--;
	return malloc(size);
}

static void *fail_realloc(void *p, size_t size, void *ud)
{
	(void)ud;
	return realloc(p, size);
}

static void fail_free(void *p, void *ud)
{
	(void)ud;
	free(p);
}

typedef int (*ctor_fn)(stkdr__sink **out, stkdr__sink *next, int arg);

static int ctor_null(stkdr__sink **out, stkdr__sink *next, int arg)
{
	(void)next;
	(void)arg;
	return stkdr__sink_null_new(out);
}

static int ctor_fd(stkdr__sink **out, stkdr__sink *next, int arg)
{
	(void)next;
	(void)arg;
	return stkdr__sink_fd_new(out, 1, 0);
}

static stkdr_buf ctor_buf_target = STKDR_BUF_INIT;

static int ctor_buf(stkdr__sink **out, stkdr__sink *next, int arg)
{
	(void)next;
	(void)arg;
	return stkdr__sink_buf_new(out, &ctor_buf_target);
}

static int ctor_sha(stkdr__sink **out, stkdr__sink *next, int arg)
{
	(void)arg;
	return stkdr__sink_sha256_new(out, next, 0, NULL, NULL);
}

static int ctor_comp(stkdr__sink **out, stkdr__sink *next, int arg)
{
	return stkdr__sink_compress_new(out, next, 0, (stkdr__compress)arg, 1);
}

static int ctor_decomp(stkdr__sink **out, stkdr__sink *next, int arg)
{
	return stkdr__sink_decompress_new(out, next, 0, (stkdr__compress)arg);
}

START_TEST(out_of_memory)
{
	stkdr_allocator a = { STKDR_ALLOCATOR_VERSION, fail_malloc, fail_realloc, fail_free, NULL };
	stkdr_global_options o = STKDR_GLOBAL_OPTIONS_INIT;
	o.allocator = &a;
	ck_assert_int_ge(stkdr_global_init(&o), 1);
	static const struct {
		ctor_fn fn;
		int arg;
	} ctors[] = {
		{ ctor_null, 0 }, { ctor_fd, 0 }, { ctor_buf, 0 }, { ctor_sha, 0 },
		{ ctor_comp, STKDR__COMPRESS_NONE }, { ctor_comp, STKDR__COMPRESS_GZIP },
		{ ctor_comp, STKDR__COMPRESS_ZSTD }, { ctor_decomp, STKDR__COMPRESS_GZIP },
		{ ctor_decomp, STKDR__COMPRESS_ZSTD },
	};
	for (size_t i = 0; i < STKDR__ARRAY_SIZE(ctors); i++) {
		int destroyed = 0;
		probe *p = probe_new(&destroyed);
		int rc = -1;
		for (int n = 0; rc != 0 && n < 20; n++) {
			stkdr__sink *s = (stkdr__sink *)&s;
			fail_after = n;
			rc = ctors[i].fn(&s, &p->base, ctors[i].arg);
			fail_after = -1;
			if (rc == STKDR_ENOTSUPPORTED)
				break;
			ck_assert_msg(rc == 0 || rc == STKDR_ENOMEM, "ctor %zu n=%d: rc=%d", i, n, rc);
			if (rc == 0) {
				stkdr__sink_destroy(s);
			} else {
				ck_assert_ptr_null(s);
				ck_assert_int_eq(destroyed, 0);
			}
		}
		if (destroyed == 0)
			stkdr__sink_destroy(&p->base);
	}

	/* inflate allocates its window on the first write */
	stkdr_buf comp = STKDR_BUF_INIT, out = STKDR_BUF_INIT;
	compress_all(&comp, STKDR__COMPRESS_GZIP, 6, "some data", 9, 0);
	stkdr__sink *b, *d;
	tu_assert_ok(stkdr__sink_buf_new(&b, &out));
	tu_assert_ok(stkdr__sink_gunzip_new(&d, b, 0));
	fail_after = 0;
	tu_assert_rc(stkdr__sink_write(d, comp.ptr, comp.size), STKDR_ENOMEM);
	fail_after = -1;
	stkdr__sink_destroy(d);
	stkdr_buf_dispose(&comp);
	stkdr_buf_dispose(&out);
	stkdr_buf_dispose(&ctor_buf_target);
	ck_assert_int_eq(stkdr_global_shutdown(), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("stream");
	TCase *tc = tcase_create("sinks");
	tcase_add_test(tc, buf_and_null_sinks);
	tcase_add_test(tc, fd_sink);
	tcase_add_test(tc, sha256_sink);
	tcase_add_test(tc, borrow_flag);
	tcase_add_test(tc, destroy_without_finish_abandons);
	tcase_add_test(tc, state_machine);
	tcase_add_test(tc, downstream_failure_in_every_transform);
	tcase_add_test(tc, compress_names);
	tcase_add_test(tc, none_is_pass_through);
	tcase_add_test(tc, out_of_memory);
	suite_add_tcase(s, tc);

	tc = tcase_create("compression");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, gzip_roundtrip);
	tcase_add_test(tc, gzip_levels_and_direct_chain);
	tcase_add_test(tc, gzip_interop_with_cli);
	tcase_add_test(tc, gunzip_detects_corruption);
	tcase_add_test(tc, zstd_roundtrip_and_corruption);
	tcase_add_test(tc, zstd_interop_with_cli);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
