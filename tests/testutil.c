#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *tu_mkdtemp(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char *tmpl = stkdr__aprintf("%s/stkdr-%s-XXXXXX", base && *base ? base : "/tmp", tag ? tag : "test");
	ck_assert_ptr_nonnull(tmpl);
	ck_assert_msg(mkdtemp(tmpl) != NULL, "mkdtemp %s: %s", tmpl, strerror(errno));
	return tmpl;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP || flag == FTW_D) {
		chmod(p, 0700);
		return rmdir(p) == 0 || errno == ENOENT ? 0 : 0;
	}
	unlink(p);
	return 0;
}

static int chmod_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_D)
		chmod(p, 0700);
	return 0;
}

void tu_rmtree_free(char *path)
{
	if (!path)
		return;
	nftw(path, chmod_one, 32, FTW_PHYS);
	nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS);
	stkdr__free(path);
}

void tu_write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	ck_assert_msg(f != NULL, "open %s: %s", path, strerror(errno));
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

char *tu_read_file(const char *path, size_t *len_out)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	stkdr_buf b = STKDR_BUF_INIT;
	char tmp[65536];
	size_t n;
	while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
		ck_assert_int_eq(stkdr_buf_put(&b, tmp, n), 0);
	fclose(f);
	if (len_out)
		*len_out = b.size;
	if (!b.ptr)
		return stkdr__strdup("");
	return stkdr__buf_detach(&b);
}

char *tu_path(const char *a, const char *b)
{
	char *p = stkdr__aprintf("%s/%s", a, b);
	ck_assert_ptr_nonnull(p);
	return p;
}

stkdr_ctx *tu_ctx_json(const char *json)
{
	stkdr_ctx_options o = STKDR_CTX_OPTIONS_INIT;
	stkdr_ctx *ctx = NULL;
	o.config_json = json;
	o.flags = STKDR_CTX_NO_ENV | STKDR_CTX_NO_DEFAULT_FILE;
	int rc = stkdr_ctx_new(&ctx, &o);
	ck_assert_msg(rc == 0, "stkdr_ctx_new: %s", stkdr_error_last()->message);
	return ctx;
}

int tu_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* ---- allocation-failure sweeps ---- */

int tu_enomem_failed;
static long fail_at;
static long allocs;

static void *fail_malloc(size_t n, void *ud)
{
	(void)ud;
	if (fail_at && ++allocs == fail_at) {
		tu_enomem_failed = 1;
		return NULL;
	}
	return malloc(n);
}

static void *fail_realloc(void *p, size_t n, void *ud)
{
	(void)ud;
	if (fail_at && ++allocs == fail_at) {
		tu_enomem_failed = 1;
		return NULL;
	}
	return realloc(p, n);
}

static void fail_free(void *p, void *ud)
{
	(void)ud;
	free(p);
}

void tu_enomem_install(void)
{
	static const stkdr_allocator a = { STKDR_ALLOCATOR_VERSION, fail_malloc, fail_realloc, fail_free, NULL };
	stkdr_global_options o = STKDR_GLOBAL_OPTIONS_INIT;
	o.allocator = &a;
	ck_assert_int_ge(stkdr_global_init(&o), 1);
}

void tu_enomem_uninstall(void)
{
	fail_at = 0;
	stkdr_global_shutdown();
}

void tu_enomem_sweep(int (*op)(void), void (*check)(int rc))
{
	for (long n = 1;; n++) {
		ck_assert_int_lt(n, 20000);
		allocs = 0;
		tu_enomem_failed = 0;
		fail_at = n;
		int rc = op();
		fail_at = 0;
		ck_assert_int_le(rc, 0);
		check(rc);
		if (!tu_enomem_failed) {
			tu_assert_ok(rc);
			return;
		}
	}
}
