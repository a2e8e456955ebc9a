/*
 * Single-thread throughput of each stage of a snapshot (and of a restore) on this machine, on 256 MiB
 * of PostgreSQL heap data, processed in 16 MiB parts as src/features/snapshot.c does:
 *
 *   read      pread() of the source file (page cache warm: the bench reads it once first)
 *   sha256    stkdr__sha256()          (what snapshots and restores use: SHA-NI when the CPU has it, else C),
 *             its portable C path, and mbedTLS 2.28's mbedtls_sha256_ret() (what stk used before SHA-NI)
 *   crc32c    stkdr__crc32c()          (SSE4.2 crc32 instruction when available)
 *   pagecsum  stkdr__pg_page_checksum() over every 8 KiB page (PostgreSQL's FNV-1a variant)
 *   gzip-L    zlib deflate, gzip wrapper, windowBits 15+16, memLevel 8: stk's gzip member
 *   zstd-L    libzstd with its checksum flag, as stk's zstd member (if built with zstd)
 *   gunzip / unzstd   decompression of what the line above produced (restore)
 *   write     write() of the raw data to a new file in --write-dir, then fdatasync (restore's writes);
 *             twice: into fresh memory, then into the page-cache pages the first pass freed
 *   references: OpenSSL SHA-256 (SHA-NI when the CPU has it), libdeflate gzip (dlopen'ed if present)
 *
 * Build (bench/snapshot.sh does this):
 *   cc -O2 -Iinclude -Isrc bench/components.c build-bench/libstkdr.a \
 *      $(pkg-config --libs libcjson libpq libcurl zlib libzstd) -lmbedtls -lmbedx509 -lmbedcrypto \
 *      -lcrypto -lpthread -ldl -o build-bench/stkdr-components -DHAVE_OPENSSL -DSTKDR_HAVE_ZSTD=1
 * Run:
 *   stkdr-components [--file RELATION_FILE] [--level N] [--zstd-level N] [--mib 256] [--write-dir DIR]
 * Without --file the data are synthesized pgbench_accounts-like heap pages.
 * Output: one line per stage, "stage MB/s seconds ratio" (MB = 10^6 bytes, ratio = compressed/raw).
 */
#define _GNU_SOURCE
#include "core/checksum.h"
#include "core/crypto.h"

#include <mbedtls/sha256.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#ifdef STKDR_HAVE_ZSTD
#include <zstd.h>
#endif
#ifdef HAVE_OPENSSL
#include <openssl/evp.h>
#endif

#define PART ((size_t)16 * 1024 * 1024)
#define PAGE 8192

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void report(const char *stage, size_t bytes, double secs, double ratio)
{
	if (ratio > 0)
		printf("%-21s %9.1f MB/s %8.3f s  ratio %.3f\n", stage, (double)bytes / 1e6 / secs, secs, ratio);
	else
		printf("%-21s %9.1f MB/s %8.3f s\n", stage, (double)bytes / 1e6 / secs, secs);
	fflush(stdout);
}

/* pgbench_accounts-like heap pages: 24-byte header, line pointers, ~61 tuples of
 * (aid int, bid int, abalance int, filler char(84) blank-padded) per page, valid checksums. */
static void synth(uint8_t *buf, size_t len)
{
	uint32_t aid = 1;
	for (size_t off = 0; off + PAGE <= len; off += PAGE) {
		uint8_t *p = buf + off;
		memset(p, 0, PAGE);
		int ntup = 61, tupsz = 24 /* header */ + 4 + 4 + 4 + 88 /* varlena + filler */;
		tupsz = (tupsz + 7) & ~7;
		uint16_t lower = (uint16_t)(24 + 4 * ntup), upper = (uint16_t)(PAGE - ntup * tupsz);
		uint32_t lsn_hi = 0, lsn_lo = 0x1000000 + (uint32_t)(off / PAGE);
		memcpy(p, &lsn_hi, 4);
		memcpy(p + 4, &lsn_lo, 4);
		memcpy(p + 12, &lower, 2);
		memcpy(p + 14, &upper, 2);
		uint16_t special = PAGE, ver = PAGE | 4;
		memcpy(p + 16, &special, 2);
		memcpy(p + 18, &ver, 2);
		for (int t = 0; t < ntup; t++) {
			uint32_t lp = (uint32_t)(upper + t * tupsz) | 1u << 15 | (uint32_t)(24 + 12 + 88) << 17;
			memcpy(p + 24 + 4 * t, &lp, 4);
			uint8_t *tp = p + upper + t * tupsz;
			uint32_t xmin = 740, bid = (aid - 1) / 100000 + 1, bal = 0;
			memcpy(tp, &xmin, 4);
			tp[22] = 24;
			memcpy(tp + 24, &aid, 4);
			memcpy(tp + 28, &bid, 4);
			memcpy(tp + 32, &bal, 4);
			tp[36] = (uint8_t)((84 + 1) << 1 | 1);
			memset(tp + 37, ' ', 84);
			aid++;
		}
		uint16_t c = stkdr__pg_page_checksum(p, (uint32_t)(off / PAGE));
		memcpy(p + 8, &c, 2);
	}
}

typedef void *(*ld_alloc_fn)(int);
typedef size_t (*ld_bound_fn)(void *, size_t);
typedef size_t (*ld_gzip_fn)(void *, const void *, size_t, void *, size_t);
typedef void (*ld_free_fn)(void *);

int main(int argc, char **argv)
{
	const char *file = NULL, *wdir = NULL;
	int level = 3, zlevel = 3;
	size_t mib = 256;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--file") && i + 1 < argc)
			file = argv[++i];
		else if (!strcmp(argv[i], "--level") && i + 1 < argc)
			level = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--zstd-level") && i + 1 < argc)
			zlevel = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--mib") && i + 1 < argc)
			mib = (size_t)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--write-dir") && i + 1 < argc)
			wdir = argv[++i];
		else {
			fprintf(stderr, "usage: %s [--file F] [--level N] [--zstd-level N] [--mib N] [--write-dir D]\n", argv[0]);
			return 2;
		}
	}
	size_t total = mib * 1024 * 1024;
	total -= total % PART;
	if (total == 0)
		total = PART;
	uint8_t *data = malloc(total);
	size_t cap = compressBound(PART) + 64;
	uint8_t *out = malloc(cap);
	uint8_t *back = malloc(PART);
	if (!data || !out || !back) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	/* Fill: the file's first `total` bytes (repeated if it is smaller), else synthesized pages. */
	size_t filled = 0;
	double t0, t;
	if (file) {
		int fd = open(file, O_RDONLY);
		if (fd < 0) {
			fprintf(stderr, "%s: %s\n", file, strerror(errno));
			return 1;
		}
		struct stat st;
		fstat(fd, &st);
		size_t fsz = (size_t)st.st_size - (size_t)st.st_size % PAGE;
		if (fsz < PART) {
			fprintf(stderr, "%s: smaller than one part\n", file);
			return 1;
		}
		/* warm the cache, then time pread of 16 MiB parts */
		for (size_t off = 0; off + PART <= total && off + PART <= fsz; off += PART)
			if (pread(fd, data + off, PART, (off_t)off) < 0)
				return 1;
		t0 = now();
		while (filled < total) {
			size_t off = filled % fsz, n = PART;
			if (off + n > fsz)
				n = fsz - off;
			if (n > total - filled)
				n = total - filled;
			ssize_t r = pread(fd, data + filled, n, (off_t)off);
			if (r <= 0) {
				fprintf(stderr, "read %s: %s\n", file, strerror(errno));
				return 1;
			}
			filled += (size_t)r;
		}
		t = now() - t0;
		close(fd);
		printf("data: %zu MiB of %s (%.0f MiB)\n", total >> 20, file, (double)st.st_size / 1048576.0);
		report("read(cached)", total, t, 0);
	} else {
		synth(data, total);
		printf("data: %zu MiB of synthesized pgbench_accounts-like heap pages\n", total >> 20);
	}

	uint8_t sha[32];
	t0 = now();
	for (size_t off = 0; off < total; off += PART)
		stkdr__sha256(data + off, PART, sha);
	report(stkdr__sha256_accelerated() ? "sha256-stkdr(SHA-NI)" : "sha256-stkdr(C)", total, now() - t0, 0);
	if (stkdr__sha256_accelerated()) {
		stkdr__sha256_force_portable(1);
		t0 = now();
		for (size_t off = 0; off < total; off += PART)
			stkdr__sha256(data + off, PART, sha);
		report("sha256-stkdr(C)", total, now() - t0, 0);
		stkdr__sha256_force_portable(0);
	}
	t0 = now();
	for (size_t off = 0; off < total; off += PART)
		mbedtls_sha256_ret(data + off, PART, sha, 0);
	report("sha256-mbedtls", total, now() - t0, 0);

#ifdef HAVE_OPENSSL
	{
		unsigned int dl;
		t0 = now();
		for (size_t off = 0; off < total; off += PART)
			EVP_Digest(data + off, PART, sha, &dl, EVP_sha256(), NULL);
		report("sha256-openssl", total, now() - t0, 0);
		t0 = now();
		for (size_t off = 0; off < total; off += PART)
			EVP_Digest(data + off, PART, sha, &dl, EVP_sha1(), NULL);
		report("sha1-openssl", total, now() - t0, 0);
	}
#endif

	volatile uint32_t sink = 0;
	t0 = now();
	for (size_t off = 0; off < total; off += PART)
		sink ^= stkdr__crc32c(0, data + off, PART);
	report("crc32c", total, now() - t0, 0);

	t0 = now();
	size_t bad = 0;
	for (size_t off = 0; off < total; off += PAGE) {
		uint16_t c = stkdr__pg_page_checksum(data + off, (uint32_t)(off / PAGE));
		bad += c != stkdr__pg_page_stored_checksum(data + off);
	}
	report("page-checksum", total, now() - t0, 0);
	if (bad && !file)
		fprintf(stderr, "warning: %zu synthesized pages with a wrong checksum\n", bad);

	t0 = now();
	for (size_t off = 0; off < total; off += PART)
		sink ^= (uint32_t)crc32(0, data + off, PART);
	report("crc32-zlib", total, now() - t0, 0);

	/* gzip members as stk writes them: one deflate stream per 16 MiB part, chunked output. */
	{
		size_t clen = 0;
		uint8_t *members = malloc(total + total / 8 + 1024);
		size_t *mlen = calloc(total / PART, sizeof *mlen);
		t0 = now();
		for (size_t off = 0, k = 0; off < total; off += PART, k++) {
			z_stream z;
			memset(&z, 0, sizeof z);
			deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
			z.next_in = data + off;
			z.avail_in = (uInt)PART;
			z.next_out = out;
			z.avail_out = (uInt)cap;
			deflate(&z, Z_FINISH);
			mlen[k] = cap - z.avail_out;
			if (members && clen + mlen[k] <= total + total / 8 + 1024)
				memcpy(members + clen, out, mlen[k]);
			clen += mlen[k];
			deflateEnd(&z);
		}
		t = now() - t0;
		char name[32];
		snprintf(name, sizeof name, "gzip-%d(zlib)", level);
		report(name, total, t, (double)clen / (double)total);
		if (members) {
			size_t pos = 0;
			t0 = now();
			for (size_t k = 0; k < total / PART; k++) {
				z_stream z;
				memset(&z, 0, sizeof z);
				inflateInit2(&z, 15 + 16);
				z.next_in = members + pos;
				z.avail_in = (uInt)mlen[k];
				z.next_out = back;
				z.avail_out = (uInt)PART;
				inflate(&z, Z_FINISH);
				inflateEnd(&z);
				pos += mlen[k];
			}
			report("gunzip(zlib)", total, now() - t0, 0);
		}
		free(members);
		free(mlen);
	}

	/* libdeflate, if the shared library is installed (no headers needed). */
	{
		void *h = dlopen("libdeflate.so.0", RTLD_NOW);
		if (h) {
			ld_alloc_fn alloc = (ld_alloc_fn)dlsym(h, "libdeflate_alloc_compressor");
			ld_gzip_fn gz = (ld_gzip_fn)dlsym(h, "libdeflate_gzip_compress");
			ld_free_fn fr = (ld_free_fn)dlsym(h, "libdeflate_free_compressor");
			if (alloc && gz && fr) {
				void *c = alloc(level);
				size_t clen = 0;
				t0 = now();
				for (size_t off = 0; off < total; off += PART)
					clen += gz(c, data + off, PART, out, cap);
				t = now() - t0;
				char name[32];
				snprintf(name, sizeof name, "gzip-%d(libdefl)", level);
				report(name, total, t, (double)clen / (double)total);
				fr(c);
			}
			dlclose(h);
		}
	}

#ifdef STKDR_HAVE_ZSTD
	{
		ZSTD_CCtx *cc = ZSTD_createCCtx();
		ZSTD_DCtx *dc = ZSTD_createDCtx();
		ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, zlevel);
		ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
		size_t zcap = ZSTD_compressBound(PART);
		uint8_t *frames = malloc(total + total / 8 + 1024);
		size_t *flen = calloc(total / PART, sizeof *flen);
		size_t clen = 0;
		t0 = now();
		for (size_t off = 0, k = 0; off < total; off += PART, k++) {
			uint8_t *dst = frames && clen + zcap <= total + total / 8 + 1024 ? frames + clen : out;
			size_t r = ZSTD_compress2(cc, dst, zcap <= cap ? zcap : cap, data + off, PART);
			if (ZSTD_isError(r)) {
				fprintf(stderr, "zstd: %s\n", ZSTD_getErrorName(r));
				return 1;
			}
			flen[k] = r;
			clen += r;
		}
		t = now() - t0;
		char name[32];
		snprintf(name, sizeof name, "zstd-%d", zlevel);
		report(name, total, t, (double)clen / (double)total);
		if (frames) {
			size_t pos = 0;
			t0 = now();
			for (size_t k = 0; k < total / PART; k++) {
				ZSTD_decompressDCtx(dc, back, PART, frames + pos, flen[k]);
				pos += flen[k];
			}
			report("unzstd", total, now() - t0, 0);
		}
		free(frames);
		free(flen);
		ZSTD_freeCCtx(cc);
		ZSTD_freeDCtx(dc);
	}
#endif

	if (wdir) {
		char path[4096];
		snprintf(path, sizeof path, "%s/stkdr-components.%d", wdir, (int)getpid());
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0) {
			fprintf(stderr, "%s: %s\n", path, strerror(errno));
			return 1;
		}
		/* Twice: in a VM the first write into memory the hypervisor has not backed yet is far slower
		 * than the copy; the second pass writes into the pages the first one freed. */
		for (int pass = 0; pass < 2; pass++) {
			if (pass && (fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0) {
				fprintf(stderr, "%s: %s\n", path, strerror(errno));
				return 1;
			}
			t0 = now();
			for (size_t off = 0; off < total; off += PART)
				if (write(fd, data + off, PART) != (ssize_t)PART) {
					fprintf(stderr, "write: %s\n", strerror(errno));
					return 1;
				}
			double tw = now() - t0;
			fdatasync(fd);
			t = now() - t0;
			posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
			close(fd);
			report(pass ? "write(reused pages)" : "write(fresh memory)", total, tw, 0);
			report(pass ? "write+fsync(reused)" : "write+fsync(fresh)", total, t, 0);
		}
		unlink(path);
	}
	(void)sink;
	free(data);
	free(out);
	free(back);
	return 0;
}
