/* The fault-injecting wrappers used by the reliability tests. */
#include "testutil.h"

#include "backends/fault.h"
#include "backends/local/local.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *root;
static stkdr_objstore *os; /* the wrapper */

static void setup(void)
{
	root = tu_mkdtemp("fault");
}

static void teardown(void)
{
	if (os)
		os->base.free(&os->base);
	os = NULL;
	tu_rmtree_free(root);
	root = NULL;
}

static void wrap(const stkdr__fault_options *o)
{
	stkdr_objstore *inner = NULL;
	tu_assert_ok(stkdr__local_objstore_new(&inner, root));
	tu_assert_ok(stkdr__fault_objstore_new(&os, inner, o));
}

static int put(const char *key, const char *text)
{
	stkdr_objwriter *w = NULL;
	int rc = os->open_write(&w, os, key, NULL);
	if (rc)
		return rc;
	rc = w->write(w, (const uint8_t *)text, strlen(text));
	if (rc) {
		w->abort(w);
		return rc;
	}
	return w->commit(w, NULL);
}

static int head(const char *key)
{
	stkdr_objinfo info;
	return os->head(&info, os, key);
}

static int g_count;

static int count_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag == FTW_F)
		g_count++;
	return 0;
}

static int files_under_root(void)
{
	g_count = 0;
	nftw(root, count_cb, 16, FTW_PHYS);
	return g_count;
}

START_TEST(test_forwarding_without_faults)
{
	wrap(NULL);
	ck_assert_str_eq(os->base.name, "local");
	ck_assert_int_eq(os->base.kind, STKDR_BACKEND_OBJSTORE);
	tu_assert_ok(put("a/b", "hello"));
	stkdr_objinfo info;
	tu_assert_ok(os->head(&info, os, "a/b"));
	ck_assert_int_eq(info.size, 5);
	stkdr_objreader *r = NULL;
	tu_assert_ok(os->open_read(&r, os, "a/b", 0, -1));
	uint8_t buf[16];
	size_t n = 0;
	tu_assert_ok(r->read(r, buf, sizeof buf, &n));
	ck_assert_uint_eq(n, 5);
	tu_assert_ok(r->read(r, buf, sizeof buf, &n));
	ck_assert_uint_eq(n, 0);
	r->close(r);
	tu_assert_ok(os->set_tier(os, "a/b", STKDR_TIER_COLD));
	stkdr_lifecycle_rule rule = { STKDR_LIFECYCLE_RULE_VERSION, "r", "", 0, 1, 0, 0 };
	tu_assert_ok(os->set_lifecycle(os, &rule, 1));
	tu_assert_rc(os->list(os, "", NULL, NULL, NULL), STKDR_EINVAL); /* forwarded, refused by the inner store */
	tu_assert_ok(os->base.ctl(&os->base, STKDR__CTL_LOCAL_CLEAN_TEMP, NULL));
	tu_assert_rc(os->base.ctl(&os->base, 999, NULL), STKDR_ENOTSUPPORTED);
	stkdr_objwriter *w = NULL;
	tu_assert_ok(os->open_write(&w, os, "aborted", NULL));
	w->abort(w);
	tu_assert_rc(os->open_write(&w, os, "bad//key", NULL), STKDR_EINVAL); /* inner errors pass through */
	tu_assert_rc(os->open_read(&r, os, "missing", 0, -1), STKDR_ENOTFOUND);
	tu_assert_ok(os->del(os, "a/b", 0));
	ck_assert_int_eq(stkdr__fault_calls(&os->base), 14);
	tu_assert_rc(os->open_write(NULL, os, "k", NULL), STKDR_EINVAL);
	tu_assert_rc(os->open_read(NULL, os, "k", 0, -1), STKDR_EINVAL);
	os->base.free(NULL);
}
END_TEST

START_TEST(test_fail_nth)
{
	stkdr__fault_options o = { 0 };
	o.fail_nth = 3;
	wrap(&o);
	tu_assert_rc(head("x"), STKDR_ENOTFOUND);
	tu_assert_rc(head("x"), STKDR_ENOTFOUND);
	tu_assert_rc(head("x"), STKDR_EIO);
	tu_assert_errmsg("injected fault: head call #3");
	ck_assert_str_eq(stkdr__err_get()->backend_code, "INJECTED");
	tu_assert_rc(head("x"), STKDR_ENOTFOUND);
	tu_assert_rc(head("x"), STKDR_ENOTFOUND);
	ck_assert_int_eq(stkdr__fault_calls(&os->base), 5);
}
END_TEST

START_TEST(test_fail_every)
{
	stkdr__fault_options o = { 0 };
	o.fail_nth = 2;
	o.fail_every = 3;
	o.fail_code = STKDR_ETIMEOUT;
	wrap(&o);
	char pattern[16] = "";
	for (int i = 1; i <= 11; i++)
		strcat(pattern, head("x") == STKDR_ETIMEOUT ? "F" : ".");
	ck_assert_str_eq(pattern, ".F..F..F..F");
}
END_TEST

static void percent_pattern(char *out, int n, unsigned int seed, int percent)
{
	stkdr__fault_options o = { 0 };
	o.fail_percent = percent;
	o.seed = seed;
	stkdr_objstore *inner = NULL;
	stkdr_objstore *w = NULL;
	tu_assert_ok(stkdr__local_objstore_new(&inner, root));
	tu_assert_ok(stkdr__fault_objstore_new(&w, inner, &o));
	stkdr_objinfo info;
	for (int i = 0; i < n; i++)
		out[i] = w->head(&info, w, "x") == STKDR_EIO ? 'F' : '.';
	out[n] = '\0';
	w->base.free(&w->base);
}

START_TEST(test_fail_percent_deterministic)
{
	char a[201], b[201], c[201];
	percent_pattern(a, 200, 42, 30);
	percent_pattern(b, 200, 42, 30);
	percent_pattern(c, 200, 43, 30);
	ck_assert_str_eq(a, b);
	ck_assert_str_ne(a, c);
	int fails = 0;
	for (int i = 0; i < 200; i++)
		fails += a[i] == 'F';
	ck_assert_int_gt(fails, 30);
	ck_assert_int_lt(fails, 90);
	percent_pattern(a, 50, 1, 0);
	ck_assert_ptr_null(strchr(a, 'F'));
	percent_pattern(a, 50, 1, 100);
	ck_assert_ptr_null(strchr(a, '.'));
}
END_TEST

START_TEST(test_method_filter_commit)
{
	stkdr__fault_options o = { 0 };
	o.fail_nth = 1;
	o.method = "commit";
	wrap(&o);
	stkdr_objwriter *w = NULL;
	tu_assert_ok(os->open_write(&w, os, "snap/manifest", NULL));
	tu_assert_ok(w->write(w, (const uint8_t *)"data", 4));
	tu_assert_rc(w->commit(w, NULL), STKDR_EIO);
	tu_assert_errmsg("injected fault: commit call #1");
	tu_assert_rc(head("snap/manifest"), STKDR_ENOTFOUND);
	ck_assert_int_eq(files_under_root(), 0);
	ck_assert_int_eq(stkdr__fault_calls(&os->base), 1);
	/* Only once: the next commit goes through. */
	tu_assert_ok(put("snap/manifest", "data"));
	ck_assert_int_eq(stkdr__fault_calls(&os->base), 2);
}
END_TEST

START_TEST(test_method_filter_each)
{
	static const char *const methods[] = { "open_write", "write", "open_read", "read", "list", "del", "set_tier",
		"set_lifecycle" };
	for (size_t m = 0; m < STKDR__ARRAY_SIZE(methods); m++) {
		stkdr__fault_options o = { 0 };
		o.fail_nth = 1;
		o.method = methods[m];
		wrap(&o);
		int rc = put("k", "v");
		if (strcmp(methods[m], "open_write") == 0 || strcmp(methods[m], "write") == 0) {
			tu_assert_rc(rc, STKDR_EIO);
			tu_assert_errmsg(methods[m]);
			tu_assert_rc(head("k"), STKDR_ENOTFOUND);
			ck_assert_int_eq(files_under_root(), 0);
		} else {
			tu_assert_ok(rc);
			stkdr_objreader *r = NULL;
			uint8_t buf[8];
			size_t n = 0;
			stkdr_lifecycle_rule rule = { STKDR_LIFECYCLE_RULE_VERSION, "r", "", 0, 1, 0, 0 };
			if (strcmp(methods[m], "open_read") == 0) {
				rc = os->open_read(&r, os, "k", 0, -1);
				ck_assert_ptr_null(r);
			} else if (strcmp(methods[m], "read") == 0) {
				tu_assert_ok(os->open_read(&r, os, "k", 0, -1));
				n = 99;
				rc = r->read(r, buf, sizeof buf, &n);
				ck_assert_uint_eq(n, 0);
				r->close(r);
			} else if (strcmp(methods[m], "list") == 0) {
				rc = os->list(os, "", NULL, NULL, NULL);
			} else if (strcmp(methods[m], "del") == 0) {
				rc = os->del(os, "k", 0);
			} else if (strcmp(methods[m], "set_tier") == 0) {
				rc = os->set_tier(os, "k", STKDR_TIER_COLD);
			} else {
				rc = os->set_lifecycle(os, &rule, 1);
			}
			tu_assert_rc(rc, STKDR_EIO);
			tu_assert_errmsg(methods[m]);
			tu_assert_ok(head("k")); /* not forwarded: still there */
			tu_assert_ok(os->del(os, "k", 0));
		}
		ck_assert_int_eq(stkdr__fault_calls(&os->base), strcmp(methods[m], "del") == 0 ? 2 : 1);
		os->base.free(&os->base);
		os = NULL;
	}
}
END_TEST

START_TEST(test_cut_write_after)
{
	stkdr__fault_options o = { 0 };
	o.cut_write_after = 100;
	wrap(&o);
	char chunk[60];
	memset(chunk, 'c', sizeof chunk);
	stkdr_objwriter *w = NULL;
	tu_assert_ok(os->open_write(&w, os, "wal/segment", NULL));
	tu_assert_ok(w->write(w, (const uint8_t *)chunk, 60));
	tu_assert_rc(w->write(w, (const uint8_t *)chunk, 60), STKDR_EIO);
	tu_assert_errmsg("cut after 100 bytes");
	tu_assert_rc(w->write(w, (const uint8_t *)chunk, 1), STKDR_EIO);
	tu_assert_rc(w->commit(w, NULL), STKDR_EIO);
	tu_assert_errmsg("nothing was stored");
	tu_assert_rc(head("wal/segment"), STKDR_ENOTFOUND);
	ck_assert_int_eq(files_under_root(), 0);
	/* Exactly at the limit is fine; past it, a cut on a boundary forwards nothing more. */
	tu_assert_ok(os->open_write(&w, os, "exact", NULL));
	tu_assert_ok(w->write(w, (const uint8_t *)chunk, 50));
	tu_assert_ok(w->write(w, (const uint8_t *)chunk, 50));
	tu_assert_rc(w->write(w, (const uint8_t *)chunk, 1), STKDR_EIO);
	w->abort(w);
	ck_assert_int_eq(files_under_root(), 0);
	tu_assert_ok(put("small", "fits"));
}
END_TEST

START_TEST(test_invalid_options)
{
	stkdr__fault_options o = { 0 };
	stkdr_objstore *inner = NULL;
	int bad = _i;
	switch (bad) {
	case 0: o.fail_percent = 101; break;
	case 1: o.fail_percent = -1; break;
	case 2: o.fail_nth = -1; break;
	case 3: o.fail_every = -2; break;
	case 4: o.cut_write_after = -1; break;
	case 5: o.fail_code = 3; break;
	case 6: o.method = "bogus"; break;
	default: o.method = "put"; break; /* a secrets method on an object store */
	}
	tu_assert_ok(stkdr__local_objstore_new(&inner, root));
	tu_assert_rc(stkdr__fault_objstore_new(&os, inner, &o), STKDR_EINVAL); /* inner freed: ASan checks */
	ck_assert_ptr_null(os);
}
END_TEST

START_TEST(test_null_arguments)
{
	stkdr_objstore *inner = NULL;
	tu_assert_rc(stkdr__fault_objstore_new(&os, NULL, NULL), STKDR_EINVAL);
	tu_assert_ok(stkdr__local_objstore_new(&inner, root));
	tu_assert_rc(stkdr__fault_objstore_new(NULL, inner, NULL), STKDR_EINVAL);
	stkdr_secrets *s = NULL;
	tu_assert_rc(stkdr__fault_secrets_new(&s, NULL, NULL), STKDR_EINVAL);
	ck_assert_int_eq(stkdr__fault_calls(NULL), -1);
	tu_assert_ok(stkdr__local_objstore_new(&inner, root));
	ck_assert_int_eq(stkdr__fault_calls(&inner->base), -1);
	inner->base.free(&inner->base);
}
END_TEST

/* An inner backend with no optional methods and no ctl. */
static void bare_free(stkdr_backend *be)
{
	stkdr__free(be);
}

START_TEST(test_bare_inner)
{
	stkdr_objstore *bare = stkdr__calloc(1, sizeof *bare);
	stkdr_backend_init(&bare->base, STKDR_BACKEND_OBJSTORE, 1, "bare");
	bare->base.free = bare_free;
	tu_assert_ok(stkdr__fault_objstore_new(&os, bare, NULL));
	ck_assert_str_eq(os->base.name, "bare");
	ck_assert(os->open_write == NULL);
	ck_assert(os->open_read == NULL);
	ck_assert(os->head == NULL);
	ck_assert(os->list == NULL);
	ck_assert(os->del == NULL);
	ck_assert(os->set_tier == NULL);
	ck_assert(os->set_lifecycle == NULL);
	tu_assert_rc(os->base.ctl(&os->base, STKDR_CTL_ATTACH, NULL), STKDR_ENOTSUPPORTED);

	stkdr_secrets *bs = stkdr__calloc(1, sizeof *bs);
	stkdr_backend_init(&bs->base, STKDR_BACKEND_SECRETS, 1, "bare");
	bs->base.free = bare_free;
	stkdr_secrets *fs = NULL;
	tu_assert_ok(stkdr__fault_secrets_new(&fs, bs, NULL));
	ck_assert(fs->put == NULL);
	ck_assert(fs->get == NULL);
	ck_assert(fs->list_versions == NULL);
	tu_assert_rc(fs->base.ctl(&fs->base, 5, NULL), STKDR_ENOTSUPPORTED);
	void (*free_fn)(stkdr_backend *) = fs->base.free;
	free_fn(&fs->base);
	free_fn(NULL);
}
END_TEST

/* ---- secrets ---- */

static stkdr_secrets *wrap_secrets(const stkdr__fault_options *o)
{
	uint8_t key[32] = { 1, 2, 3 };
	stkdr_secrets *inner = NULL, *s = NULL;
	tu_assert_ok(stkdr__local_secrets_new(&inner, root, key));
	tu_assert_ok(stkdr__fault_secrets_new(&s, inner, o));
	return s;
}

static int ver_cb(const stkdr_secret_version *v, void *payload)
{
	(*(int *)payload)++;
	return 0;
}

START_TEST(test_secrets)
{
	stkdr__fault_options o = { 0 };
	o.fail_nth = 2;
	stkdr_secrets *s = wrap_secrets(&o);
	ck_assert_str_eq(s->base.name, "local");
	tu_assert_ok(s->put(NULL, s, "k", (const uint8_t *)"v1", 2, NULL));
	tu_assert_rc(s->put(NULL, s, "k", (const uint8_t *)"v2", 2, NULL), STKDR_EIO);
	tu_assert_errmsg("injected fault: put call #2");
	stkdr_buf out = STKDR_BUF_INIT;
	tu_assert_ok(s->get(&out, NULL, s, "k", NULL, STKDR_STAGE_CURRENT));
	ck_assert_str_eq(out.ptr, "v1");
	int n = 0;
	tu_assert_ok(s->list_versions(s, "k", ver_cb, &n));
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(stkdr__fault_calls(&s->base), 4);
	tu_assert_ok(s->base.ctl(&s->base, STKDR_CTL_ATTACH, NULL));
	s->base.free(&s->base);

	o.fail_nth = 1;
	o.method = "get";
	s = wrap_secrets(&o);
	tu_assert_ok(s->put(NULL, s, "k", (const uint8_t *)"v3", 2, NULL));
	tu_assert_rc(s->get(&out, NULL, s, "k", NULL, STKDR_STAGE_CURRENT), STKDR_EIO);
	tu_assert_ok(s->get(&out, NULL, s, "k", NULL, STKDR_STAGE_CURRENT));
	ck_assert_str_eq(out.ptr, "v3");
	ck_assert_int_eq(stkdr__fault_calls(&s->base), 2);
	s->base.free(&s->base);

	o.method = "list_versions";
	s = wrap_secrets(&o);
	tu_assert_rc(s->list_versions(s, "k", ver_cb, &n), STKDR_EIO);
	s->base.free(&s->base);

	o.method = "head"; /* an object store method */
	uint8_t key[32] = { 0 };
	stkdr_secrets *inner = NULL;
	tu_assert_ok(stkdr__local_secrets_new(&inner, root, key));
	tu_assert_rc(stkdr__fault_secrets_new(&s, inner, &o), STKDR_EINVAL);
	stkdr_buf_dispose(&out);
}
END_TEST

/* ---- allocation failures: every allocation of an operation fails once in turn ---- */

static void enomem_setup(void)
{
	tu_enomem_install();
	setup();
}

static void enomem_teardown(void)
{
	teardown();
	tu_enomem_uninstall();
}

static int op_fault_objstore(void)
{
	stkdr_objstore *inner = NULL, *w = NULL;
	stkdr__fault_options o = { 0 };
	o.method = "del";
	int rc = stkdr__local_objstore_new(&inner, root);
	if (rc == 0)
		rc = stkdr__fault_objstore_new(&w, inner, &o);
	if (rc)
		return rc;
	stkdr_objwriter *wr = NULL;
	rc = w->open_write(&wr, w, "k", NULL);
	if (rc == 0) {
		rc = wr->write(wr, (const uint8_t *)"v", 1);
		rc = rc ? (wr->abort(wr), rc) : wr->commit(wr, NULL);
	}
	stkdr_objreader *r = NULL;
	if (rc == 0)
		rc = w->open_read(&r, w, "k", 0, -1);
	if (rc == 0)
		r->close(r);
	w->base.free(&w->base);
	return rc;
}

static void check_none(int rc)
{
}

static int op_fault_secrets(void)
{
	uint8_t key[32] = { 9 };
	stkdr_secrets *inner = NULL, *w = NULL;
	stkdr__fault_options o = { 0 };
	o.method = "get";
	int rc = stkdr__local_secrets_new(&inner, root, key);
	if (rc == 0)
		rc = stkdr__fault_secrets_new(&w, inner, &o);
	if (rc == 0)
		w->base.free(&w->base);
	return rc;
}

START_TEST(test_enomem_sweep)
{
	tu_enomem_sweep(op_fault_objstore, check_none);
	tu_enomem_sweep(op_fault_secrets, check_none);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fault");
	TCase *tc = tcase_create("fault");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_forwarding_without_faults);
	tcase_add_test(tc, test_fail_nth);
	tcase_add_test(tc, test_fail_every);
	tcase_add_test(tc, test_fail_percent_deterministic);
	tcase_add_test(tc, test_method_filter_commit);
	tcase_add_test(tc, test_method_filter_each);
	tcase_add_test(tc, test_cut_write_after);
	tcase_add_loop_test(tc, test_invalid_options, 0, 8);
	tcase_add_test(tc, test_null_arguments);
	tcase_add_test(tc, test_bare_inner);
	tcase_add_test(tc, test_secrets);
	suite_add_tcase(s, tc);

	tc = tcase_create("enomem");
	tcase_add_checked_fixture(tc, enomem_setup, enomem_teardown);
	tcase_add_test(tc, test_enomem_sweep);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
