/* Error codes, thread-local detail, buffers, global init and allocator hooks. */
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

START_TEST(codes_have_text_and_names)
{
	int codes[] = { STKDR_OK, STKDR_ERROR, STKDR_EINVAL, STKDR_ENOTFOUND, STKDR_EEXISTS, STKDR_EIO, STKDR_ECORRUPT,
		STKDR_EAUTH, STKDR_ETIMEOUT, STKDR_EBACKEND, STKDR_ELOCKED, STKDR_EIMMUTABLE, STKDR_ENOTSUPPORTED,
		STKDR_ECANCELLED, STKDR_EVERSION, STKDR_ENOMEM, STKDR_ENOSPACE, STKDR_EPENDING, STKDR_EUSER };
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		ck_assert_ptr_nonnull(stkdr_strerror(codes[i]));
		ck_assert_str_ne(stkdr_strerror(codes[i]), "unknown error");
		ck_assert(strncmp(stkdr_error_name(codes[i]), "STKDR_", 6) == 0);
	}
	ck_assert_str_eq(stkdr_strerror(-999), "unknown error");
	ck_assert_str_eq(stkdr_error_name(-999), "STKDR_EUNKNOWN");
	/* pinned values: never renumbered */
	ck_assert_int_eq(STKDR_ENOTFOUND, -3);
	ck_assert_int_eq(STKDR_EIMMUTABLE, -11);
	ck_assert_int_eq(STKDR_EUSER, -30);
}
END_TEST

START_TEST(thread_local_detail)
{
	stkdr_error_clear();
	ck_assert_int_eq(stkdr_error_last()->code, 0);
	ck_assert_str_eq(stkdr_error_last()->message, "");
	ck_assert_str_eq(stkdr_error_last()->backend_code, "");
	int rc = stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_LOCAL, "NoSuchKey", "object %s is missing", "a/b");
	ck_assert_int_eq(rc, STKDR_ENOTFOUND);
	ck_assert_int_eq(stkdr_error_last()->klass, STKDR_ERRCLASS_LOCAL);
	ck_assert_str_eq(stkdr_error_last()->backend_code, "NoSuchKey");
	ck_assert_str_eq(stkdr_error_last()->message, "object a/b is missing");
	stkdr__err_prefix("restoring %s", "snap1");
	ck_assert_str_eq(stkdr_error_last()->message, "restoring snap1: object a/b is missing");
	stkdr_error_set_str(STKDR_EIO, STKDR_ERRCLASS_OS, NULL, NULL);
	ck_assert_str_eq(stkdr_error_last()->message, stkdr_strerror(STKDR_EIO));
	rc = stkdr__seterr_os(ENOENT, "open %s", "/nope");
	ck_assert_int_eq(rc, STKDR_ENOTFOUND);
	ck_assert_str_eq(stkdr_error_last()->backend_code, "ENOENT");
	ck_assert(strstr(stkdr_error_last()->message, "open /nope: ") != NULL);
	ck_assert_int_eq(stkdr__seterr_os(ENOSPC, "write"), STKDR_ENOSPACE);
	ck_assert_int_eq(stkdr__seterr_os(EEXIST, "link"), STKDR_EEXISTS);
	ck_assert_int_eq(stkdr__seterr_os(EACCES, "open"), STKDR_EIO);
	ck_assert_int_eq(stkdr__seterr_os(ENOMEM, "alloc"), STKDR_ENOMEM);
	stkdr_error_clear();
	ck_assert_int_eq(stkdr__err_ensure(STKDR_ETIMEOUT), STKDR_ETIMEOUT);
	ck_assert_str_eq(stkdr_error_last()->message, stkdr_strerror(STKDR_ETIMEOUT));
	/* a long message is truncated, never overflows */
	char big[4096];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	stkdr__seterr(STKDR_ERROR, 0, big, "%s", big);
	ck_assert(strlen(stkdr_error_last()->message) < 1024);
	ck_assert(strlen(stkdr_error_last()->backend_code) < 64);
}
END_TEST

static void *other_thread(void *arg)
{
	(void)arg;
	/* a fresh thread has no error */
	return (void *)(intptr_t)stkdr_error_last()->code;
}

START_TEST(error_is_per_thread)
{
	stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_CRYPTO, NULL, "wrong key");
	pthread_t t;
	void *res;
	ck_assert_int_eq(pthread_create(&t, NULL, other_thread, NULL), 0);
	ck_assert_int_eq(pthread_join(t, &res), 0);
	ck_assert_int_eq((int)(intptr_t)res, 0);
	ck_assert_int_eq(stkdr_error_last()->code, STKDR_EAUTH);
}
END_TEST

START_TEST(buffers)
{
	stkdr_buf b = STKDR_BUF_INIT;
	stkdr_buf_dispose(&b);
	stkdr_buf_dispose(NULL);
	tu_assert_ok(stkdr_buf_set(&b, "hello", 5));
	ck_assert_str_eq(b.ptr, "hello");
	ck_assert_uint_eq(b.size, 5);
	tu_assert_ok(stkdr_buf_put(&b, " world", 6));
	ck_assert_str_eq(b.ptr, "hello world");
	tu_assert_ok(stkdr__buf_printf(&b, " %d", 42));
	ck_assert_str_eq(b.ptr, "hello world 42");
	tu_assert_ok(stkdr_buf_set(&b, "", 0));
	ck_assert_uint_eq(b.size, 0);
	ck_assert_str_eq(b.ptr, "");
	for (int i = 0; i < 10000; i++)
		tu_assert_ok(stkdr_buf_put(&b, "0123456789", 10));
	ck_assert_uint_eq(b.size, 100000);
	ck_assert(b.reserved > b.size);
	ck_assert_int_eq(b.ptr[b.size], '\0');
	/* put from its own content (overlap) */
	tu_assert_ok(stkdr_buf_set(&b, "abc", 3));
	tu_assert_ok(stkdr_buf_put(&b, b.ptr, b.size));
	ck_assert_str_eq(b.ptr, "abcabc");
	char *d = stkdr__buf_detach(&b);
	ck_assert_str_eq(d, "abcabc");
	ck_assert_ptr_null(b.ptr);
	stkdr__free(d);
	/* borrowed content is copied on growth */
	stkdr_buf bor = { (char *)"const", 0, 5 };
	tu_assert_ok(stkdr_buf_put(&bor, "!", 1));
	ck_assert_str_eq(bor.ptr, "const!");
	stkdr_buf_dispose(&bor);
	stkdr_buf bor2 = { (char *)"xyz", 0, 3 };
	char *d2 = stkdr__buf_detach(&bor2);
	ck_assert_str_eq(d2, "xyz");
	stkdr__free(d2);
	tu_assert_rc(stkdr_buf_put(NULL, "x", 1), STKDR_EINVAL);
	tu_assert_rc(stkdr_buf_set(NULL, "x", 1), STKDR_EINVAL);
	tu_assert_rc(stkdr_buf_grow(NULL, 1), STKDR_EINVAL);
	tu_assert_rc(stkdr_buf_grow(&b, SIZE_MAX), STKDR_ENOMEM);
	stkdr__buf_clear(&b);
	stkdr_buf_dispose(&b);
}
END_TEST

START_TEST(growing_arrays)
{
	int *v = NULL;
	size_t n = 0, cap = 0;
	for (int i = 0; i < 1000; i++) {
		tu_assert_ok(stkdr__grow(&v, &cap, n, sizeof *v, 4));
		ck_assert_uint_gt(cap, n);
		v[n++] = i;
	}
	ck_assert_uint_eq(cap, 1024); /* 4, doubled */
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(v[i], i);
	size_t before = cap;
	tu_assert_ok(stkdr__grow(&v, &cap, 10, sizeof *v, 4)); /* room already: untouched */
	ck_assert_uint_eq(cap, before);
	/* an impossible size: ENOMEM with a message, the array as it was */
	int *keep = v;
	size_t huge = SIZE_MAX / 2 + 1;
	tu_assert_rc(stkdr__grow(&v, &huge, huge, sizeof *v, 4), STKDR_ENOMEM);
	ck_assert_ptr_eq(v, keep);
	tu_assert_errmsg("out of memory");
	stkdr__free(v);
}
END_TEST

static int n_malloc;
static void *my_malloc(size_t s, void *ud)
{
	(*(int *)ud)++;
	n_malloc++;
	return malloc(s);
}
static void *my_realloc(void *p, size_t s, void *ud)
{
	(void)ud;
	return realloc(p, s);
}
static void my_free(void *p, void *ud)
{
	(void)ud;
	free(p);
}

START_TEST(global_init_and_allocator)
{
	/* This test runs in its own process (Check forks), so global state starts clean. */
	int counter = 0;
	stkdr_allocator a = { STKDR_ALLOCATOR_VERSION, my_malloc, my_realloc, my_free, &counter };
	stkdr_global_options o;
	tu_assert_rc(stkdr_global_options_init(&o, 0), STKDR_EVERSION);
	tu_assert_rc(stkdr_global_options_init(&o, STKDR_GLOBAL_OPTIONS_VERSION + 1), STKDR_EVERSION);
	tu_assert_rc(stkdr_global_options_init(NULL, 1), STKDR_EINVAL);
	tu_assert_ok(stkdr_global_options_init(&o, STKDR_GLOBAL_OPTIONS_VERSION));
	o.allocator = &a;
	stkdr_allocator bad = a;
	bad.free_fn = NULL;
	stkdr_global_options ob = o;
	ob.allocator = &bad;
	tu_assert_rc(stkdr_global_init(&ob), STKDR_EINVAL);
	bad = a;
	bad.version = 99;
	tu_assert_rc(stkdr_global_init(&ob), STKDR_EVERSION);
	ob.version = 0;
	tu_assert_rc(stkdr_global_init(&ob), STKDR_EVERSION);
	ck_assert_int_eq(stkdr_global_init(&o), 1);
	/* a second allocator cannot be installed while initialised */
	tu_assert_rc(stkdr_global_init(&o), STKDR_EINVAL);
	ck_assert_int_eq(stkdr_global_init(NULL), 2);
	stkdr_ctx *ctx = tu_ctx_json("{\"deployment\":\"x\"}");
	ck_assert_int_gt(counter, 0);
	stkdr_ctx_free(ctx);
	ck_assert_int_eq(stkdr_global_shutdown(), 1);
	ck_assert_int_eq(stkdr_global_shutdown(), 0);
	tu_assert_rc(stkdr_global_shutdown(), STKDR_ERROR);
}
END_TEST

START_TEST(version_queries)
{
	ck_assert_str_eq(stkdr_version(), STKDR_VERSION_STRING);
	ck_assert_int_eq(stkdr_version_number(), STKDR_VERSION_NUMBER);
	ck_assert_int_eq(stkdr_has_feature("postgres"), 1);
	ck_assert_int_eq(stkdr_has_feature("no-such-feature"), 0);
	ck_assert_int_eq(stkdr_has_feature(NULL), 0);
	/* helpers */
	char *s = stkdr__aprintf("%s-%d", "a", 7);
	ck_assert_str_eq(s, "a-7");
	stkdr__free(s);
	char *n = stkdr__strndup("abcdef", 3);
	ck_assert_str_eq(n, "abc");
	stkdr__free(n);
	ck_assert_ptr_null(stkdr__strdup(NULL));
	void *z = stkdr_backend_data_alloc(16);
	ck_assert_ptr_nonnull(z);
	for (int i = 0; i < 16; i++)
		ck_assert_int_eq(((unsigned char *)z)[i], 0);
	stkdr_backend_data_free(z);
	stkdr_backend_data_free(NULL);
	ck_assert_ptr_null(stkdr__calloc(SIZE_MAX, 2));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("errors");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, codes_have_text_and_names);
	tcase_add_test(tc, thread_local_detail);
	tcase_add_test(tc, error_is_per_thread);
	tcase_add_test(tc, buffers);
	tcase_add_test(tc, growing_arrays);
	tcase_add_test(tc, global_init_and_allocator);
	tcase_add_test(tc, version_queries);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
