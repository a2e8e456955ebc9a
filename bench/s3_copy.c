/*
 * One object in or out of the configured object store through libstkdr's objstore vtable, as the
 * snapshot and restore code drive it: the S3 backend's streamed, multipart, parallel write
 * (objstore.part_size, objstore.parallel) and its ranged, checked read (objstore.read_chunk). What
 * bench/s3.sh times against `aws s3 cp` of the same bytes.
 *
 * Build (bench/s3.sh does this):
 *   cc -O2 -Iinclude -Isrc bench/s3_copy.c build-bench/libstkdr.a $(pkg-config --libs ...) -lmbed... -o s3_copy
 * Run:
 *   s3_copy CONFIG.json put FILE KEY     # stored under the key as given (no objstore.prefix: no repository layer)
 *   s3_copy CONFIG.json get KEY FILE     # whole-object read: the stored SHA-256 is checked at the end
 * Prints "put|get BYTES SECONDS MB/s" (MB = 10^6 bytes) on stdout; exit 1 with the library's message.
 */
#include "core/internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BUF (8u << 20)

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int fail(stkdr_ctx *c, const char *what)
{
	fprintf(stderr, "s3_copy: %s: %s\n", what, stkdr_error_last()->message);
	stkdr_ctx_free(c);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 5 || (strcmp(argv[2], "put") && strcmp(argv[2], "get"))) {
		fprintf(stderr, "usage: s3_copy CONFIG put FILE KEY | s3_copy CONFIG get KEY FILE\n");
		return 2;
	}
	stkdr_ctx_options o = STKDR_CTX_OPTIONS_INIT;
	o.config_path = argv[1];
	stkdr_ctx *c = NULL;
	if (stkdr_ctx_new(&c, &o))
		return fail(NULL, "configuration");
	stkdr_objstore *os;
	if (stkdr__ctx_objstore(&os, c))
		return fail(c, "object store");
	uint8_t *buf = malloc(BUF);
	if (!buf)
		return fail(c, "malloc");
	double t0 = now();
	long long total = 0;
	if (!strcmp(argv[2], "put")) {
		int fd = open(argv[3], O_RDONLY);
		if (fd < 0) {
			perror(argv[3]);
			return 1;
		}
		off_t size = lseek(fd, 0, SEEK_END);
		lseek(fd, 0, SEEK_SET);
		stkdr_put_options po = STKDR_PUT_OPTIONS_INIT;
		po.size_hint = size;
		stkdr_objwriter *w;
		if (os->open_write(&w, os, argv[4], &po))
			return fail(c, "open_write");
		ssize_t n;
		while ((n = read(fd, buf, BUF)) > 0) {
			if (w->write(w, buf, (size_t)n)) {
				w->abort(w);
				return fail(c, "write");
			}
			total += n;
		}
		close(fd);
		if (n < 0 || w->commit(w, NULL))
			return fail(c, "commit");
	} else {
		stkdr_objreader *r;
		if (os->open_read(&r, os, argv[3], 0, -1))
			return fail(c, "open_read");
		int fd = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0) {
			perror(argv[4]);
			return 1;
		}
		for (;;) {
			size_t got = 0;
			if (r->read(r, buf, BUF, &got)) {
				r->close(r);
				return fail(c, "read");
			}
			if (!got)
				break;
			if (write(fd, buf, got) != (ssize_t)got) {
				perror(argv[4]);
				return 1;
			}
			total += (long long)got;
		}
		r->close(r);
		close(fd);
	}
	double t = now() - t0;
	printf("%s %lld %.3f %.1f\n", argv[2], total, t, total / t / 1e6);
	free(buf);
	stkdr_ctx_free(c);
	return 0;
}
