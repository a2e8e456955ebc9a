/* The local object store: atomic puts, checksums, retention, listing, lifecycle, cleanup. */
#include "testutil.h"

#include "backends/fault.h"
#include "backends/local/local.h"
#include "core/crypto.h"
#include "core/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DAY_MS_T (86400 * 1000LL)

static char *root;
static stkdr_objstore *os;

static void setup(void)
{
	root = tu_mkdtemp("objstore");
	tu_assert_ok(stkdr__local_objstore_new(&os, root));
}

static void teardown(void)
{
	if (os)
		os->base.free(&os->base);
	os = NULL;
	tu_rmtree_free(root);
	root = NULL;
}

/* ---- helpers ---- */

static int put_opts(const char *key, const void *data, size_t len, const stkdr_put_options *o, uint8_t *sha_out)
{
	static const size_t chunks[] = { 1, 7, 4093, 65537, 3 };
	stkdr_objwriter *w = NULL;
	int rc = os->open_write(&w, os, key, o);
	if (rc) {
		ck_assert_ptr_null(w);
		return rc;
	}
	const uint8_t *p = data;
	size_t off = 0;
	for (size_t i = 0; off < len; i++) {
		size_t n = chunks[i % STKDR__ARRAY_SIZE(chunks)];
		if (n > len - off)
			n = len - off;
		rc = w->write(w, p + off, n);
		if (rc) {
			w->abort(w);
			return rc;
		}
		off += n;
	}
	return w->commit(w, sha_out);
}

static int put_str(const char *key, const char *s)
{
	return put_opts(key, s, strlen(s), NULL, NULL);
}

static int get_range(const char *key, int64_t off, int64_t len, stkdr_buf *out)
{
	stkdr_objreader *r = NULL;
	int rc = os->open_read(&r, os, key, off, len);
	if (rc) {
		ck_assert_ptr_null(r);
		return rc;
	}
	uint8_t buf[7001];
	for (;;) {
		size_t n = 0;
		rc = r->read(r, buf, sizeof buf, &n);
		if (rc || n == 0)
			break;
		rc = stkdr_buf_put(out, buf, n); /* fails only in the allocation-failure sweep */
		if (rc)
			break;
	}
	r->close(r);
	return rc;
}

static int get_all(const char *key, stkdr_buf *out)
{
	return get_range(key, 0, -1, out);
}

static void assert_content(const char *key, const char *want)
{
	stkdr_buf b = STKDR_BUF_INIT;
	tu_assert_ok(get_all(key, &b));
	ck_assert_uint_eq(b.size, strlen(want));
	ck_assert(b.size == 0 || memcmp(b.ptr, want, b.size) == 0);
	stkdr_buf_dispose(&b);
}

static char *rpath(const char *rel)
{
	return tu_path(root, rel);
}

static int g_count;
static const char *g_match;

static int count_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	if (strncmp(p + ftw->base, g_match, strlen(g_match)) == 0)
		g_count++;
	return 0;
}

/* Files anywhere under the root whose name starts with `prefix`. */
static int count_files(const char *prefix)
{
	g_count = 0;
	g_match = prefix;
	nftw(root, count_cb, 16, FTW_PHYS);
	return g_count;
}

typedef struct collected {
	char keys[64][256];
	stkdr_objinfo infos[64];
	int n;
	int stop_after; /* 0: never */
	int stop_rc;
} collected;

static int collect_cb(const stkdr_objinfo *info, void *payload)
{
	collected *c = payload;
	ck_assert_int_lt(c->n, 64);
	snprintf(c->keys[c->n], sizeof c->keys[0], "%s", info->key);
	c->infos[c->n] = *info;
	c->infos[c->n].key = c->keys[c->n];
	c->n++;
	if (c->stop_after && c->n >= c->stop_after)
		return c->stop_rc;
	return 0;
}

static int list(collected *c, const char *prefix, const char *start_after)
{
	memset(c, 0, sizeof *c);
	return os->list(os, prefix, start_after, collect_cb, c);
}

static void set_old_mtime(const char *path, int64_t age_s)
{
	struct timespec ts[2];
	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= age_s;
	ts[1] = ts[0];
	ck_assert_int_eq(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static mode_t file_mode(const char *rel)
{
	char *p = rpath(rel);
	struct stat st;
	ck_assert_int_eq(lstat(p, &st), 0);
	stkdr__free(p);
	return st.st_mode & 07777;
}

static void write_rel(const char *rel, const char *text)
{
	char *p = rpath(rel);
	chmod(p, 0644);
	tu_write_file(p, text, strlen(text));
	stkdr__free(p);
}

/* ---- round trips ---- */

static void roundtrip(size_t len)
{
	uint8_t *data = stkdr__malloc(len ? len : 1);
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(i * 131 + (i >> 9));
	uint8_t sha[32], want[32];
	stkdr__sha256(data, len, want);
	tu_assert_ok(put_opts("dir/sub/obj.bin", data, len, NULL, sha));
	ck_assert_mem_eq(sha, want, 32);

	stkdr_buf b = STKDR_BUF_INIT;
	tu_assert_ok(get_all("dir/sub/obj.bin", &b));
	ck_assert_uint_eq(b.size, len);
	ck_assert(len == 0 || memcmp(b.ptr, data, len) == 0);
	stkdr_buf_dispose(&b);

	stkdr_objinfo info;
	tu_assert_ok(os->head(&info, os, "dir/sub/obj.bin"));
	ck_assert_uint_eq(info.version, STKDR_OBJINFO_VERSION);
	ck_assert_str_eq(info.key, "dir/sub/obj.bin");
	ck_assert_int_eq(info.size, (int64_t)len);
	ck_assert_int_eq(info.has_sha256, 1);
	ck_assert_mem_eq(info.sha256, want, 32);
	ck_assert_int_eq(info.tier, STKDR_TIER_HOT);
	ck_assert_int_eq(info.retain_mode, STKDR_RETAIN_NONE);
	ck_assert_int_eq(info.retain_until_ms, 0);
	int64_t now = stkdr__time_now_ms();
	ck_assert(info.mtime_ms <= now && info.mtime_ms > now - 60000);

	/* The data file holds exactly the bytes, beside its sidecar; nothing temporary is left. */
	char *p = rpath("dir/sub/obj.bin");
	size_t flen = 0;
	char *raw = tu_read_file(p, &flen);
	ck_assert_ptr_nonnull(raw);
	ck_assert_uint_eq(flen, len);
	ck_assert(len == 0 || memcmp(raw, data, len) == 0);
	stkdr__free(raw);
	stkdr__free(p);
	ck_assert_int_eq(file_mode("dir/sub/obj.bin"), 0640);
	ck_assert_int_eq(file_mode("dir/sub/.stkdr-meta.obj.bin"), 0640);
	ck_assert_int_eq(count_files(".stkdr-tmp."), 0);
	stkdr__free(data);
}

START_TEST(test_roundtrip_0)
{
	roundtrip(0);
}
END_TEST

START_TEST(test_roundtrip_1)
{
	roundtrip(1);
}
END_TEST

START_TEST(test_roundtrip_5mb)
{
	roundtrip(5 * 1024 * 1024 + 17);
}
END_TEST

START_TEST(test_commit_without_sha_out_and_empty_writes)
{
	stkdr_objwriter *w = NULL;
	tu_assert_ok(os->open_write(&w, os, "k", NULL));
	tu_assert_ok(w->write(w, NULL, 0));
	tu_assert_ok(w->write(w, (const uint8_t *)"abc", 3));
	tu_assert_rc(w->write(w, NULL, 5), STKDR_EINVAL);
	tu_assert_ok(w->commit(w, NULL));
	assert_content("k", "abc");
}
END_TEST

START_TEST(test_create_only_twice)
{
	stkdr_put_options o = STKDR_PUT_OPTIONS_INIT;
	o.flags = STKDR_PUT_CREATE_ONLY;
	tu_assert_ok(put_opts("lease/snapshot", "first", 5, &o, NULL));
	tu_assert_rc(put_opts("lease/snapshot", "second", 6, &o, NULL), STKDR_EEXISTS);
	tu_assert_errmsg("lease/snapshot");
	assert_content("lease/snapshot", "first");
	ck_assert_int_eq(count_files(".stkdr-tmp."), 0);
}
END_TEST

START_TEST(test_create_only_race_at_commit)
{
	/* Both writers pass the early check; the second commit must lose and leave the first intact. */
	stkdr_put_options o = STKDR_PUT_OPTIONS_INIT;
	o.flags = STKDR_PUT_CREATE_ONLY;
	stkdr_objwriter *a = NULL, *b = NULL;
	tu_assert_ok(os->open_write(&a, os, "lease", &o));
	tu_assert_ok(os->open_write(&b, os, "lease", &o));
	tu_assert_ok(a->write(a, (const uint8_t *)"AAAA", 4));
	tu_assert_ok(b->write(b, (const uint8_t *)"BB", 2));
	tu_assert_ok(a->commit(a, NULL));
	tu_assert_rc(b->commit(b, NULL), STKDR_EEXISTS);
	tu_assert_errmsg("already exists");
	assert_content("lease", "AAAA");
	stkdr_objinfo info;
	tu_assert_ok(os->head(&info, os, "lease"));
	ck_assert_int_eq(info.size, 4);
	ck_assert_int_eq(count_files(".stkdr-tmp."), 0);
}
END_TEST

START_TEST(test_create_only_concurrent_processes)
{
	enum { N = 8 };
	pid_t pids[N];
	for (int i = 0; i < N; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0) {
			stkdr_objstore *mine = NULL;
			if (stkdr__local_objstore_new(&mine, root) != 0)
				_exit(2);
			stkdr_put_options o = STKDR_PUT_OPTIONS_INIT;
			o.flags = STKDR_PUT_CREATE_ONLY;
			char body[32];
			snprintf(body, sizeof body, "writer-%d", i);
			stkdr_objwriter *w = NULL;
			int rc = mine->open_write(&w, mine, "leases/leader", &o);
			if (rc == 0) {
				rc = w->write(w, (const uint8_t *)body, strlen(body));
				rc = rc ? (w->abort(w), rc) : w->commit(w, NULL);
			}
			mine->base.free(&mine->base);
			_exit(rc == 0 ? 0 : rc == STKDR_EEXISTS ? 1 : 3);
		}
	}
	int winners = 0, losers = 0;
	for (int i = 0; i < N; i++) {
		int status;
		ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
		ck_assert(WIFEXITED(status));
		if (WEXITSTATUS(status) == 0)
			winners++;
		else if (WEXITSTATUS(status) == 1)
			losers++;
	}
	ck_assert_int_eq(winners, 1);
	ck_assert_int_eq(losers, N - 1);
	stkdr_buf b = STKDR_BUF_INIT;
	tu_assert_ok(get_all("leases/leader", &b));
	ck_assert(strncmp(b.ptr, "writer-", 7) == 0);
	stkdr_buf_dispose(&b);
	ck_assert_int_eq(count_files(".stkdr-tmp."), 0);
}
END_TEST

START_TEST(test_create_only_orphan_sidecar)
{
	/* A fresh sidecar without data: another writer is between its links, so EEXISTS. */
	write_rel(".stkdr-meta.orphan", "{}");
	stkdr_put_options o = STKDR_PUT_OPTIONS_INIT;
	o.flags = STKDR_PUT_CREATE_ONLY;
	tu_assert_rc(put_opts("orphan", "x", 1, &o, NULL), STKDR_EEXISTS);
	tu_assert_errmsg("another writer");
	stkdr_objinfo info;
	tu_assert_rc(os->head(&info, os, "orphan"), STKDR_ENOTFOUND);
	/* An old one is left by a crashed writer: it is replaced. */
	char *p = rpath(".stkdr-meta.orphan");
	set_old_mtime(p, 2 * 3600);
	stkdr__free(p);
	tu_assert_ok(put_opts("orphan", "x", 1, &o, NULL));
	assert_content("orphan", "x");
}
END_TEST

START_TEST(test_create_only_over_foreign_data)
{
	/* Data without a sidecar: create-only still refuses to replace it. */
	write_rel("foreign", "someone else's file");
	stkdr_put_options o = STKDR_PUT_OPTIONS_INIT;
	o.flags = STKDR_PUT_CREATE_ONLY;
	tu_assert_rc(put_opts("foreign", "mine", 4, &o, NULL), STKDR_EEXISTS);
	/* A plain overwrite replaces it and makes it a proper object. */
	tu_assert_ok(put_str("foreign", "mine"));
	assert_content("foreign", "mine");
}
END_TEST

START_TEST(test_overwrite)
{
	tu_assert_ok(put_str("cfg/x", "version one, longer"));
	tu_assert_ok(put_str("cfg/x", "v2"));
	assert_content("cfg/x", "v2");
	stkdr_objinfo info;
	tu_assert_ok(os->head(&info, os, "cfg/x"));
	ck_assert_int_eq(info.size, 2);
	ck_assert_int_eq(count_files(".stkdr-tmp."), 0);
	ck_assert_int_eq(count_files(".stkdr-meta."), 1);
}
END_TEST

START_TEST(test_abort)
{
	stkdr_objwriter *w = NULL;
	tu_assert_ok(os->open_write(&w, os, "a/b/c", NULL));
	ck_assert_int_eq(count_files(".stkdr-tmp."), 1);
	tu_assert_ok(w->write(w, (const uint8_t *)"partial", 7));
	w->abort(w);
	stkdr_objinfo info;
	tu_assert_rc(os->head(&info, os, "a/b/c"), STKDR_ENOTFOUND);
	tu_assert_errmsg("a/b/c");
	ck_assert_int_eq(count_files(".stkdr-tmp."), 0);
	collected c;
	tu_assert_ok(list(&c, NULL, NULL));
	ck_assert_int_eq(c.n, 0);
	/* Abort without any write. */
	tu_assert_ok(os->open_write(&w, os, "a/b/d", NULL));
	w->abort(w);
	ck_assert_int_eq(count_files(".stkdr-tmp."), 0);
}
END_TEST

START_TEST(test_killed_writer_temp_cleaned)
{
	tu_assert_ok(put_str("wal/seg1", "one"));
	/* A writer killed mid-put leaves its temporary file. */
	char *tmp = rpath("wal/.stkdr-tmp.0123456789abcdef");
	tu_write_file(tmp, "half", 4);
	char *orphan = rpath("wal/.stkdr-meta.seg2");
	tu_write_file(orphan, "{}", 2);
	collected c;
	tu_assert_ok(list(&c, "", NULL));
	ck_assert_int_eq(c.n, 1);
	ck_assert_str_eq(c.keys[0], "wal/seg1");
	ck_assert_int_eq(access(tmp, F_OK), 0); /* fresh: may belong to a live writer */

	/* The ctl with an age keeps fresh ones; old ones go on the next list. */
	int64_t hour = STKDR__LOCAL_STALE_MS;
	tu_assert_ok(os->base.ctl(&os->base, STKDR__CTL_LOCAL_CLEAN_TEMP, &hour));
	ck_assert_int_eq(access(tmp, F_OK), 0);
	set_old_mtime(tmp, 7200);
	set_old_mtime(orphan, 7200);
	tu_assert_ok(list(&c, "wal/", NULL));
	ck_assert_int_eq(c.n, 1);
	ck_assert_int_ne(access(tmp, F_OK), 0);
	ck_assert_int_ne(access(orphan, F_OK), 0);
	assert_content("wal/seg1", "one");

	/* The ctl without an age removes all of them. */
	tu_write_file(tmp, "half", 4);
	tu_write_file(orphan, "{}", 2);
	tu_assert_ok(os->base.ctl(&os->base, STKDR__CTL_LOCAL_CLEAN_TEMP, NULL));
	ck_assert_int_ne(access(tmp, F_OK), 0);
	ck_assert_int_ne(access(orphan, F_OK), 0);
	ck_assert_int_eq(count_files(".stkdr-meta."), 1);
	assert_content("wal/seg1", "one");
	int64_t neg = -1;
	tu_assert_rc(os->base.ctl(&os->base, STKDR__CTL_LOCAL_CLEAN_TEMP, &neg), STKDR_EINVAL);
	stkdr__free(tmp);
	stkdr__free(orphan);
}
END_TEST

START_TEST(test_stalled_writer_loses_its_temp)
{
	/* A writer whose temporary file was cleaned away fails at commit; nothing is visible. */
	stkdr_objwriter *w = NULL;
	tu_assert_ok(os->open_write(&w, os, "slow", NULL));
	tu_assert_ok(w->write(w, (const uint8_t *)"data", 4));
	tu_assert_ok(os->base.ctl(&os->base, STKDR__CTL_LOCAL_CLEAN_TEMP, NULL));
	tu_assert_rc(w->commit(w, NULL), STKDR_EIO);
	tu_assert_errmsg("slow");
	tu_assert_errmsg("disappeared");
	stkdr_objinfo info;
	tu_assert_rc(os->head(&info, os, "slow"), STKDR_ENOTFOUND);
	ck_assert_int_eq(count_files(".stkdr-"), 0);
}
END_TEST

/* ---- corruption ---- */

START_TEST(test_corrupt_byte)
{
	char data[1000];
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (char)('a' + i % 26);
	tu_assert_ok(put_opts("snap/base.tar", data, sizeof data, NULL, NULL));
	char *p = rpath("snap/base.tar");
	data[500] ^= 0x01;
	tu_write_file(p, data, sizeof data);
	stkdr__free(p);

	stkdr_buf b = STKDR_BUF_INIT;
	tu_assert_rc(get_all("snap/base.tar", &b), STKDR_ECORRUPT);
	tu_assert_errmsg("object snap/base.tar: checksum mismatch (stored ");
	tu_assert_errmsg(", computed ");
	stkdr_buf_dispose(&b);

	/* A ranged read does not verify. */
	tu_assert_ok(get_range("snap/base.tar", 490, 20, &b));
	ck_assert_uint_eq(b.size, 20);
	ck_assert_mem_eq(b.ptr, data + 490, 20);
	stkdr_buf_dispose(&b);

	/* After the failure the reader keeps failing. */
	stkdr_objreader *r = NULL;
	tu_assert_ok(os->open_read(&r, os, "snap/base.tar", 0, -1));
	uint8_t buf[4096];
	size_t n = 1;
	int rc = 0;
	while (rc == 0 && n > 0)
		rc = r->read(r, buf, sizeof buf, &n);
	tu_assert_rc(rc, STKDR_ECORRUPT);
	tu_assert_rc(r->read(r, buf, sizeof buf, &n), STKDR_ECORRUPT);
	ck_assert_uint_eq(n, 0);
	r->close(r);
}
END_TEST

START_TEST(test_size_mismatch)
{
	tu_assert_ok(put_str("obj", "0123456789"));
	char *p = rpath("obj");
	tu_write_file(p, "01234", 5);
	stkdr__free(p);
	stkdr_objinfo info;
	tu_assert_rc(os->head(&info, os, "obj"), STKDR_ECORRUPT);
	tu_assert_errmsg("object obj");
	tu_assert_errmsg("5 bytes");
	stkdr_buf b = STKDR_BUF_INIT;
	tu_assert_rc(get_all("obj", &b), STKDR_ECORRUPT);
	/* It can still be deleted (not under retention). */
	tu_assert_ok(os->del(os, "obj", 0));
	tu_assert_rc(os->head(&info, os, "obj"), STKDR_ENOTFOUND);
}
END_TEST

START_TEST(test_truncated_while_reading)
{
	char data[20000];
	memset(data, 'q', sizeof data);
	tu_assert_ok(put_opts("t", data, sizeof data, NULL, NULL));
	stkdr_objreader *r = NULL;
	tu_assert_ok(os->open_read(&r, os, "t", 0, -1));
	char *p = rpath("t");
	ck_assert_int_eq(truncate(p, 100), 0);
	stkdr__free(p);
	uint8_t buf[4096];
	size_t n = 1;
	int rc = 0;
	while (rc == 0 && n > 0)
		rc = r->read(r, buf, sizeof buf, &n);
	tu_assert_rc(rc, STKDR_ECORRUPT);
	tu_assert_errmsg("truncated");
	r->close(r);
}
END_TEST

START_TEST(test_data_without_sidecar)
{
	tu_assert_ok(put_str("real", "r"));
	write_rel("foreign", "not written by libstkdr");
	collected c;
	tu_assert_ok(list(&c, NULL, NULL));
	ck_assert_int_eq(c.n, 1);
	ck_assert_str_eq(c.keys[0], "real");
	stkdr_objinfo info;
	tu_assert_rc(os->head(&info, os, "foreign"), STKDR_ECORRUPT);
	tu_assert_errmsg("object foreign");
	tu_assert_errmsg("no metadata sidecar");
	stkdr_buf b = STKDR_BUF_INIT;
	tu_assert_rc(get_all("foreign", &b), STKDR_ECORRUPT);
	tu_assert_rc(get_range("foreign", 0, 3, &b), STKDR_ECORRUPT);
	/* No retention is known: it may be deleted. */
	tu_assert_ok(os->del(os, "foreign", 0));
	tu_assert_rc(os->head(&info, os, "foreign"), STKDR_ENOTFOUND);
}
END_TEST

START_TEST(test_sidecar_without_data)
{
	tu_assert_ok(put_str("x/gone", "bytes"));
	char *p = rpath("x/gone");
	ck_assert_int_eq(unlink(p), 0);
	stkdr__free(p);
	stkdr_objinfo info;
	tu_assert_rc(os->head(&info, os, "x/gone"), STKDR_ENOTFOUND);
	stkdr_buf b = STKDR_BUF_INIT;
	tu_assert_rc(get_all("x/gone", &b), STKDR_ENOTFOUND);
	tu_assert_rc(os->del(os, "x/gone", 0), STKDR_ENOTFOUND);
	collected c;
	tu_assert_ok(list(&c, NULL, NULL));
	ck_assert_int_eq(c.n, 0);
}
END_TEST

static const char *const bad_sidecars[] = {
	"not json",
	"[]",
	"{}",
	"{\"format\":0}",
	"{\"format\":1.5}",
	"{\"format\":1,\"size\":-1}",
	"{\"format\":1,\"size\":3}",
	"{\"format\":1,\"size\":3,\"sha256\":\"zz\"}",
	"{\"format\":1,\"size\":3,\"sha256\":\"0000000000000000000000000000000000000000000000000000000000000000\"}",
	"{\"format\":1,\"size\":3,\"sha256\":\"0000000000000000000000000000000000000000000000000000000000000000\","
	"\"mtime_ms\":1}",
	"{\"format\":1,\"size\":3,\"sha256\":\"0000000000000000000000000000000000000000000000000000000000000000\","
	"\"mtime_ms\":1,\"retain_mode\":\"forever\"}",
	"{\"format\":1,\"size\":3,\"sha256\":\"0000000000000000000000000000000000000000000000000000000000000000\","
	"\"mtime_ms\":1,\"retain_mode\":\"none\"}",
	"{\"format\":1,\"size\":3,\"sha256\":\"0000000000000000000000000000000000000000000000000000000000000000\","
	"\"mtime_ms\":1,\"retain_mode\":\"none\",\"retain_until_ms\":0}",
	"{\"format\":1,\"size\":3,\"sha256\":\"0000000000000000000000000000000000000000000000000000000000000000\","
	"\"mtime_ms\":1,\"retain_mode\":\"none\",\"retain_until_ms\":0,\"tier\":\"lukewarm\"}",
	"{\"format\":1,\"size\":3,\"sha256\":\"0000000000000000000000000000000000000000000000000000000000000000\","
	"\"mtime_ms\":1,\"retain_mode\":\"none\",\"retain_until_ms\":0,\"tier\":\"hot\"} trailing",
};

START_TEST(test_malformed_sidecar)
{
	tu_assert_ok(put_str("m", "abc"));
	write_rel(".stkdr-meta.m", bad_sidecars[_i]);
	stkdr_objinfo info;
	tu_assert_rc(os->head(&info, os, "m"), STKDR_ECORRUPT);
	tu_assert_errmsg("object m: metadata sidecar");
	tu_assert_errmsg("malformed");
	/* Listed unverified, so that a verification finds it. */
	collected c;
	tu_assert_ok(list(&c, NULL, NULL));
	ck_assert_int_eq(c.n, 1);
	ck_assert_int_eq(c.infos[0].has_sha256, 0);
	ck_assert_int_eq(c.infos[0].size, 3);
	/* Retention unknown: deletion refused. */
	tu_assert_rc(os->del(os, "m", 0), STKDR_ECORRUPT);
}
END_TEST

START_TEST(test_sidecar_nul_and_huge)
{
	tu_assert_ok(put_str("m", "abc"));
	char *p = rpath(".stkdr-meta.m");
	tu_write_file(p, "{\"format\":1}\0xx", 15);
	stkdr_objinfo info;
	tu_assert_rc(os->head(&info, os, "m"), STKDR_ECORRUPT);
	tu_assert_errmsg("NUL");
	char *big = stkdr__malloc(70000);
	memset(big, ' ', 70000);
	tu_write_file(p, big, 70000);
	stkdr__free(big);
	tu_assert_rc(os->head(&info, os, "m"), STKDR_ECORRUPT);
	tu_assert_errmsg("larger than");
	stkdr__free(p);
}
END_TEST

START_TEST(test_sidecar_newer_format)
{
	tu_assert_ok(put_str("m", "abc"));
	write_rel(".stkdr-meta.m", "{\"format\":2}");
	stkdr_objinfo info;
	tu_assert_rc(os->head(&info, os, "m"), STKDR_EVERSION);
	tu_assert_errmsg("upgrade libstkdr");
}
END_TEST

START_TEST(test_not_regular_file)
{
	char *p = rpath("fifo");
	ck_assert_int_eq(mkfifo(p, 0600), 0);
	stkdr__free(p);
	stkdr_objinfo info;
	tu_assert_rc(os->head(&info, os, "fifo"), STKDR_ECORRUPT);
	tu_assert_errmsg("not a regular file");
	collected c;
	tu_assert_ok(list(&c, NULL, NULL));
	ck_assert_int_eq(c.n, 0);
}
END_TEST

/* ---- retention ---- */

static int put_locked(const char *key, const char *text, int mode, int64_t until)
{
	stkdr_put_options o = STKDR_PUT_OPTIONS_INIT;
	o.retain_mode = mode;
	o.retain_until_ms = until;
	return put_opts(key, text, strlen(text), &o, NULL);
}

START_TEST(test_compliance_lock)
{
	int64_t until = stkdr__time_now_ms() + 3600 * 1000;
	tu_assert_ok(put_locked("audit/2026-02-10", "day", STKDR_RETAIN_COMPLIANCE, until));
	ck_assert_int_eq(file_mode("audit/2026-02-10"), 0444);
	ck_assert_int_eq(file_mode("audit/.stkdr-meta.2026-02-10"), 0444);
	stkdr_objinfo info;
	tu_assert_ok(os->head(&info, os, "audit/2026-02-10"));
	ck_assert_int_eq(info.retain_mode, STKDR_RETAIN_COMPLIANCE);
	ck_assert_int_eq(info.retain_until_ms, until);

	char year[40];
	stkdr__time_format_rfc3339(year, sizeof year, until);
	year[10] = '\0';
	tu_assert_rc(os->del(os, "audit/2026-02-10", 0), STKDR_EIMMUTABLE);
	tu_assert_errmsg("audit/2026-02-10");
	tu_assert_errmsg(year);
	tu_assert_errmsg("COMPLIANCE");
	tu_assert_rc(os->del(os, "audit/2026-02-10", STKDR_DELETE_BYPASS_GOVERNANCE), STKDR_EIMMUTABLE);
	tu_assert_rc(put_str("audit/2026-02-10", "rewritten"), STKDR_EIMMUTABLE);
	tu_assert_errmsg("overwritten");
	assert_content("audit/2026-02-10", "day");
	/* A tier change is allowed and keeps the lock and the mode. */
	tu_assert_ok(os->set_tier(os, "audit/2026-02-10", STKDR_TIER_COLD));
	tu_assert_ok(os->head(&info, os, "audit/2026-02-10"));
	ck_assert_int_eq(info.tier, STKDR_TIER_COLD);
	ck_assert_int_eq(info.retain_until_ms, until);
	ck_assert_int_eq(file_mode("audit/.stkdr-meta.2026-02-10"), 0444);
}
END_TEST

START_TEST(test_overwrite_locked_at_commit)
{
	/* The lock appears between open_write and commit: commit re-checks. */
	stkdr_objwriter *w = NULL;
	tu_assert_ok(os->open_write(&w, os, "k", NULL));
	tu_assert_ok(w->write(w, (const uint8_t *)"late", 4));
	tu_assert_ok(put_locked("k", "locked", STKDR_RETAIN_GOVERNANCE, stkdr__time_now_ms() + 600000));
	tu_assert_rc(w->commit(w, NULL), STKDR_EIMMUTABLE);
	assert_content("k", "locked");
	ck_assert_int_eq(count_files(".stkdr-tmp."), 0);
}
END_TEST

START_TEST(test_governance_lock)
{
	tu_assert_ok(put_locked("g", "gov", STKDR_RETAIN_GOVERNANCE, stkdr__time_now_ms() + 3600 * 1000));
	tu_assert_rc(os->del(os, "g", 0), STKDR_EIMMUTABLE);
	tu_assert_errmsg("GOVERNANCE");
	tu_assert_errmsg("STKDR_DELETE_BYPASS_GOVERNANCE");
	tu_assert_rc(put_str("g", "new"), STKDR_EIMMUTABLE);
	tu_assert_ok(os->del(os, "g", STKDR_DELETE_BYPASS_GOVERNANCE));
	stkdr_objinfo info;
	tu_assert_rc(os->head(&info, os, "g"), STKDR_ENOTFOUND);
}
END_TEST

START_TEST(test_lock_expires)
{
	tu_assert_ok(put_locked("short", "s", STKDR_RETAIN_COMPLIANCE, stkdr__time_now_ms() + 1200));
	tu_assert_rc(os->del(os, "short", 0), STKDR_EIMMUTABLE);
	usleep(1300 * 1000);
	tu_assert_ok(os->del(os, "short", 0));
}
END_TEST

START_TEST(test_lock_in_the_past_written_directly)
{
	tu_assert_ok(put_str("old", "o"));
	uint8_t sha[32];
	char hex[65];
	stkdr__sha256("o", 1, sha);
	stkdr__hex_encode(hex, sha, 32);
	char json[512];
	snprintf(json, sizeof json,
		"{\"format\":1,\"size\":1,\"sha256\":\"%s\",\"mtime_ms\":1000,\"retain_mode\":\"compliance\","
		"\"retain_until_ms\":1700000000000,\"tier\":\"archive\"}", hex);
	write_rel(".stkdr-meta.old", json);
	stkdr_objinfo info;
	tu_assert_ok(os->head(&info, os, "old"));
	ck_assert_int_eq(info.retain_mode, STKDR_RETAIN_COMPLIANCE);
	ck_assert_int_eq(info.tier, STKDR_TIER_ARCHIVE);
	assert_content("old", "o");
	tu_assert_ok(put_str("old", "overwritten after expiry"));
	tu_assert_ok(os->del(os, "old", 0));
}
END_TEST

START_TEST(test_put_options_invalid)
{
	stkdr_put_options o = STKDR_PUT_OPTIONS_INIT;
	stkdr_objwriter *w = NULL;
	o.version = 0;
	tu_assert_rc(os->open_write(&w, os, "k", &o), STKDR_EVERSION);
	o.version = 99;
	tu_assert_rc(os->open_write(&w, os, "k", &o), STKDR_EVERSION);
	o.version = STKDR_PUT_OPTIONS_VERSION;
	o.flags = 0x80;
	tu_assert_rc(os->open_write(&w, os, "k", &o), STKDR_EINVAL);
	o.flags = 0;
	o.retain_mode = 7;
	tu_assert_rc(os->open_write(&w, os, "k", &o), STKDR_EINVAL);
	o.retain_mode = -1;
	tu_assert_rc(os->open_write(&w, os, "k", &o), STKDR_EINVAL);
	o.retain_mode = STKDR_RETAIN_COMPLIANCE;
	o.retain_until_ms = stkdr__time_now_ms() - 1000;
	tu_assert_rc(os->open_write(&w, os, "k", &o), STKDR_EINVAL);
	tu_assert_errmsg("not in the future");
	o.retain_until_ms = INT64_MAX;
	tu_assert_rc(os->open_write(&w, os, "k", &o), STKDR_EINVAL);
	o.retain_mode = STKDR_RETAIN_NONE;
	o.retain_until_ms = 0;
	o.tier = 3;
	tu_assert_rc(os->open_write(&w, os, "k", &o), STKDR_EINVAL);
	o.tier = -1;
	tu_assert_rc(os->open_write(&w, os, "k", &o), STKDR_EINVAL);
	ck_assert_ptr_null(w);
	tu_assert_rc(os->open_write(NULL, os, "k", NULL), STKDR_EINVAL);
	ck_assert_int_eq(count_files(".stkdr-"), 0);
}
END_TEST

START_TEST(test_put_tier_and_expected_sha)
{
	stkdr_put_options o = STKDR_PUT_OPTIONS_INIT;
	uint8_t sha[32];
	stkdr__sha256("payload", 7, sha);
	o.tier = STKDR_TIER_ARCHIVE;
	o.expected_sha256 = sha;
	tu_assert_ok(put_opts("ok", "payload", 7, &o, NULL));
	stkdr_objinfo info;
	tu_assert_ok(os->head(&info, os, "ok"));
	ck_assert_int_eq(info.tier, STKDR_TIER_ARCHIVE);
	assert_content("ok", "payload"); /* archive tier is readable locally */

	tu_assert_rc(put_opts("bad", "payloaD", 7, &o, NULL), STKDR_ECORRUPT);
	tu_assert_errmsg("object bad");
	tu_assert_errmsg("expected checksum");
	tu_assert_rc(os->head(&info, os, "bad"), STKDR_ENOTFOUND);
	ck_assert_int_eq(count_files(".stkdr-tmp."), 0);
}
END_TEST

START_TEST(test_write_failure_fsize)
{
	/* A failing write (here: the file size limit) poisons the writer; nothing is stored. */
	signal(SIGXFSZ, SIG_IGN);
	struct rlimit old, rl;
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	rl = old;
	rl.rlim_cur = 1000;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	char data[3000];
	memset(data, 'z', sizeof data);
	stkdr_objwriter *w = NULL;
	tu_assert_ok(os->open_write(&w, os, "big", NULL));
	tu_assert_ok(w->write(w, (const uint8_t *)data, 500));
	int rc = w->write(w, (const uint8_t *)data, sizeof data);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	ck_assert_int_lt(rc, 0);
	tu_assert_errmsg("object big");
	tu_assert_rc(w->write(w, (const uint8_t *)data, 1), rc);
	tu_assert_errmsg("earlier write failed");
	tu_assert_rc(w->commit(w, NULL), rc);
	tu_assert_errmsg("nothing was stored");
	stkdr_objinfo info;
	tu_assert_rc(os->head(&info, os, "big"), STKDR_ENOTFOUND);
	ck_assert_int_eq(count_files(".stkdr-tmp."), 0);
}
END_TEST

/* ---- reads ---- */

START_TEST(test_read_ranges)
{
	tu_assert_ok(put_str("r", "0123456789"));
	stkdr_buf b = STKDR_BUF_INIT;
	tu_assert_ok(get_range("r", 3, 4, &b));
	ck_assert_uint_eq(b.size, 4);
	ck_assert_mem_eq(b.ptr, "3456", 4);
	stkdr_buf_dispose(&b);
	tu_assert_ok(get_range("r", 7, -1, &b));
	ck_assert_uint_eq(b.size, 3);
	stkdr_buf_dispose(&b);
	tu_assert_ok(get_range("r", 8, 100, &b));
	ck_assert_uint_eq(b.size, 2);
	stkdr_buf_dispose(&b);
	tu_assert_ok(get_range("r", 10, -1, &b));
	ck_assert_uint_eq(b.size, 0);
	tu_assert_ok(get_range("r", 0, 0, &b));
	ck_assert_uint_eq(b.size, 0);
	tu_assert_ok(get_range("r", 0, 10, &b)); /* a range, even a whole one, is not verified */
	ck_assert_uint_eq(b.size, 10);
	stkdr_buf_dispose(&b);
	tu_assert_rc(get_range("r", 11, -1, &b), STKDR_EINVAL);
	tu_assert_errmsg("beyond its end");
	tu_assert_rc(get_range("r", -1, -1, &b), STKDR_EINVAL);
	tu_assert_rc(get_range("r", 0, -2, &b), STKDR_EINVAL);
	tu_assert_rc(get_range("missing", 0, -1, &b), STKDR_ENOTFOUND);
	tu_assert_errmsg("missing");
	stkdr_objreader *r = NULL;
	tu_assert_rc(os->open_read(NULL, os, "r", 0, -1), STKDR_EINVAL);
	tu_assert_ok(os->open_read(&r, os, "r", 0, -1));
	size_t n = 99;
	uint8_t buf[4];
	tu_assert_rc(r->read(r, buf, sizeof buf, NULL), STKDR_EINVAL);
	tu_assert_ok(r->read(r, buf, 0, &n));
	ck_assert_uint_eq(n, 0);
	tu_assert_rc(r->read(r, NULL, 4, &n), STKDR_EINVAL);
	tu_assert_ok(r->read(r, buf, sizeof buf, &n));
	ck_assert_uint_eq(n, 4);
	r->close(r); /* closed before the end: nothing to verify */
	tu_assert_ok(os->open_read(&r, os, "r", 0, -1));
	for (n = 1; n > 0;)
		tu_assert_ok(r->read(r, buf, sizeof buf, &n));
	tu_assert_ok(r->read(r, buf, sizeof buf, &n)); /* after the end: still 0 bytes */
	ck_assert_uint_eq(n, 0);
	r->close(r);
}
END_TEST

/* ---- keys ---- */

static const char *const bad_keys[] = {
	"", "/abs", "a//b", "a/", "./a", "a/./b", "a/../b", "..", ".", ".stkdr-meta.x", "a/.stkdr-tmp.1",
	".stkdr-lifecycle.json", ".stkdr-", "dir/.stkdr-anything/x",
};

START_TEST(test_invalid_keys)
{
	const char *k = bad_keys[_i];
	stkdr_objwriter *w = NULL;
	stkdr_objreader *r = NULL;
	stkdr_objinfo info;
	tu_assert_rc(os->open_write(&w, os, k, NULL), STKDR_EINVAL);
	if (*k)
		tu_assert_errmsg(k);
	tu_assert_rc(os->open_read(&r, os, k, 0, -1), STKDR_EINVAL);
	tu_assert_rc(os->head(&info, os, k), STKDR_EINVAL);
	tu_assert_rc(os->del(os, k, 0), STKDR_EINVAL);
	tu_assert_rc(os->set_tier(os, k, STKDR_TIER_COLD), STKDR_EINVAL);
	ck_assert_int_eq(count_files(".stkdr-"), 0);
}
END_TEST

START_TEST(test_invalid_keys_length)
{
	char seg[202];
	memset(seg, 's', 201);
	seg[201] = '\0';
	stkdr_objwriter *w = NULL;
	tu_assert_rc(os->open_write(&w, os, seg, NULL), STKDR_EINVAL);
	tu_assert_errmsg("200 bytes");
	seg[200] = '\0';
	tu_assert_ok(put_str(seg, "200 is fine"));
	char key[1100];
	memset(key, 'k', sizeof key - 1);
	key[sizeof key - 1] = '\0';
	for (size_t i = 100; i < sizeof key - 1; i += 100)
		key[i] = '/';
	tu_assert_rc(os->open_write(&w, os, key, NULL), STKDR_EINVAL);
	tu_assert_errmsg("at most 1024");
	tu_assert_rc(os->open_write(&w, os, NULL, NULL), STKDR_EINVAL);
	stkdr_objinfo info;
	tu_assert_rc(os->head(NULL, os, "x"), STKDR_EINVAL);
	tu_assert_rc(os->head(&info, os, NULL), STKDR_EINVAL);
}
END_TEST

START_TEST(test_key_prefix_conflicts)
{
	tu_assert_ok(put_str("x", "file"));
	tu_assert_rc(put_str("x/y", "below a file"), STKDR_EINVAL);
	tu_assert_errmsg("conflicts");
	tu_assert_ok(put_str("p/q", "below"));
	tu_assert_rc(put_str("p", "over a directory"), STKDR_EINVAL);
	tu_assert_errmsg("conflicts");
	stkdr_objinfo info;
	tu_assert_rc(os->head(&info, os, "p"), STKDR_ENOTFOUND);
	tu_assert_rc(os->del(os, "p", 0), STKDR_ENOTFOUND);
	tu_assert_rc(os->head(&info, os, "x/y"), STKDR_ENOTFOUND);
	ck_assert_int_eq(count_files(".stkdr-tmp."), 0);
}
END_TEST

/* ---- list ---- */

START_TEST(test_list_order_prefix_start_after)
{
	const char *keys[] = { "b", "a0", "a/c/d", "a-c", "a/b", "wal/000000010000000000000002",
		"wal/000000010000000000000001", "z/deep/er/key", "A", "a/c/d0", "a/c.x" };
	for (size_t i = 0; i < STKDR__ARRAY_SIZE(keys); i++)
		tu_assert_ok(put_str(keys[i], keys[i]));
	const char *sorted[] = { "A", "a-c", "a/b", "a/c.x", "a/c/d", "a/c/d0", "a0", "b",
		"wal/000000010000000000000001", "wal/000000010000000000000002", "z/deep/er/key" };
	collected c;
	tu_assert_ok(list(&c, NULL, NULL));
	ck_assert_int_eq(c.n, (int)STKDR__ARRAY_SIZE(sorted));
	for (int i = 0; i < c.n; i++) {
		ck_assert_str_eq(c.keys[i], sorted[i]);
		ck_assert_int_eq(c.infos[i].size, (int64_t)strlen(sorted[i]));
		ck_assert_int_eq(c.infos[i].has_sha256, 1);
		ck_assert_uint_eq(c.infos[i].version, STKDR_OBJINFO_VERSION);
	}

	tu_assert_ok(list(&c, "a/", NULL));
	ck_assert_int_eq(c.n, 4);
	ck_assert_str_eq(c.keys[0], "a/b");
	ck_assert_str_eq(c.keys[3], "a/c/d0");
	tu_assert_ok(list(&c, "a", NULL));
	ck_assert_int_eq(c.n, 6);
	ck_assert_str_eq(c.keys[0], "a-c");
	ck_assert_str_eq(c.keys[5], "a0");
	tu_assert_ok(list(&c, "a/c/d", NULL));
	ck_assert_int_eq(c.n, 2);
	tu_assert_ok(list(&c, "wal/00000001000000000000000", NULL));
	ck_assert_int_eq(c.n, 2);
	ck_assert_str_eq(c.keys[0], "wal/000000010000000000000001");
	tu_assert_ok(list(&c, "wal/000000010000000000000001", NULL));
	ck_assert_int_eq(c.n, 1);
	tu_assert_ok(list(&c, "nothing/here/", NULL));
	ck_assert_int_eq(c.n, 0);
	tu_assert_ok(list(&c, "b/", NULL)); /* b is a file */
	ck_assert_int_eq(c.n, 0);
	tu_assert_ok(list(&c, "q", NULL));
	ck_assert_int_eq(c.n, 0);

	tu_assert_ok(list(&c, NULL, "a/b"));
	ck_assert_int_eq(c.n, 8);
	ck_assert_str_eq(c.keys[0], "a/c.x");
	tu_assert_ok(list(&c, NULL, "a/"));
	ck_assert_str_eq(c.keys[0], "a/b");
	tu_assert_ok(list(&c, NULL, "a/c/"));
	ck_assert_str_eq(c.keys[0], "a/c/d");
	tu_assert_ok(list(&c, "a/", "a/c/d"));
	ck_assert_int_eq(c.n, 1);
	ck_assert_str_eq(c.keys[0], "a/c/d0");
	tu_assert_ok(list(&c, NULL, "wal/000000010000000000000001"));
	ck_assert_int_eq(c.n, 2);
	ck_assert_str_eq(c.keys[0], "wal/000000010000000000000002");
	tu_assert_ok(list(&c, NULL, "zzz"));
	ck_assert_int_eq(c.n, 0);
	tu_assert_ok(list(&c, NULL, ""));
	ck_assert_int_eq(c.n, (int)STKDR__ARRAY_SIZE(sorted));
}
END_TEST

START_TEST(test_list_stop_and_args)
{
	tu_assert_ok(put_str("k1", "1"));
	tu_assert_ok(put_str("k2", "2"));
	tu_assert_ok(put_str("k3", "3"));
	collected c;
	memset(&c, 0, sizeof c);
	c.stop_after = 2;
	c.stop_rc = -77;
	stkdr_error_clear();
	tu_assert_rc(os->list(os, "", NULL, collect_cb, &c), -77);
	ck_assert_int_eq(c.n, 2);
	tu_assert_errmsg("stopped by the callback");
	memset(&c, 0, sizeof c);
	c.stop_after = 1;
	c.stop_rc = STKDR_EUSER;
	stkdr__seterr(STKDR_EUSER, STKDR_ERRCLASS_CALLBACK, NULL, "my own reason");
	tu_assert_rc(os->list(os, "", NULL, collect_cb, &c), STKDR_EUSER);
	tu_assert_errmsg("my own reason"); /* the callback's detail is kept */
	memset(&c, 0, sizeof c);
	c.stop_after = 1;
	c.stop_rc = 5; /* positive: go on */
	tu_assert_ok(os->list(os, "", NULL, collect_cb, &c));
	ck_assert_int_eq(c.n, 3);
	tu_assert_rc(os->list(os, "", NULL, NULL, NULL), STKDR_EINVAL);
	tu_assert_rc(os->list(os, "../", NULL, collect_cb, &c), STKDR_EINVAL);
	tu_assert_rc(os->list(os, "/abs/", NULL, collect_cb, &c), STKDR_EINVAL);
	tu_assert_rc(os->list(os, "a//b", NULL, collect_cb, &c), STKDR_EINVAL);
	tu_assert_rc(os->list(os, ".stkdr-x/", NULL, collect_cb, &c), STKDR_EINVAL);
	tu_assert_ok(list(&c, "..", NULL)); /* a partial last segment is only a filter */
	ck_assert_int_eq(c.n, 0);
}
END_TEST

START_TEST(test_list_skips_foreign_entries)
{
	tu_assert_ok(put_str("d/real", "r"));
	char *p = rpath("d/link");
	char *target = rpath("d/real");
	ck_assert_int_eq(symlink(target, p), 0);
	stkdr__free(p);
	stkdr__free(target);
	p = rpath("d/odd name with spaces");
	tu_write_file(p, "x", 1); /* no sidecar */
	stkdr__free(p);
	char longname[260];
	memset(longname, 'L', 250);
	longname[250] = '\0';
	char *lp = stkdr__aprintf("%s/d/%s", root, longname);
	tu_write_file(lp, "x", 1);
	stkdr__free(lp);
	collected c;
	tu_assert_ok(list(&c, NULL, NULL));
	ck_assert_int_eq(c.n, 1);
	ck_assert_str_eq(c.keys[0], "d/real");
}
END_TEST

static int cmp_keys(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct all_keys {
	char *keys[400];
	int n;
} all_keys;

static int all_cb(const stkdr_objinfo *info, void *payload)
{
	all_keys *a = payload;
	ck_assert_int_lt(a->n, 400);
	a->keys[a->n++] = stkdr__strdup(info->key);
	return 0;
}

START_TEST(test_list_random_order)
{
	/* Property: list returns exactly the stored keys in strcmp order. */
	static const char alphabet[] = "-./0Aa_z~";
	srand(12345);
	char *stored[300];
	int n = 0;
	for (int i = 0; i < 300; i++) {
		char key[24];
		int len = 1 + rand() % 12;
		for (int j = 0; j < len; j++)
			key[j] = alphabet[rand() % (int)(sizeof alphabet - 1)];
		key[len] = '\0';
		int rc = put_str(key, "v");
		if (rc == STKDR_EINVAL)
			continue; /* an invalid key or a key/prefix conflict */
		tu_assert_ok(rc);
		int dup = 0;
		for (int j = 0; j < n; j++)
			dup |= strcmp(stored[j], key) == 0;
		if (!dup)
			stored[n++] = stkdr__strdup(key);
	}
	ck_assert_int_gt(n, 100);
	qsort(stored, (size_t)n, sizeof *stored, cmp_keys);
	all_keys a;
	memset(&a, 0, sizeof a);
	tu_assert_ok(os->list(os, NULL, NULL, all_cb, &a));
	ck_assert_int_eq(a.n, n);
	for (int i = 0; i < n; i++)
		ck_assert_str_eq(a.keys[i], stored[i]);
	/* And from every start_after, the tail. */
	for (int s = 0; s < n; s += 17) {
		all_keys t;
		memset(&t, 0, sizeof t);
		tu_assert_ok(os->list(os, NULL, stored[s], all_cb, &t));
		ck_assert_int_eq(t.n, n - s - 1);
		for (int i = 0; i < t.n; i++) {
			ck_assert_str_eq(t.keys[i], stored[s + 1 + i]);
			stkdr__free(t.keys[i]);
		}
	}
	for (int i = 0; i < n; i++) {
		stkdr__free(stored[i]);
		stkdr__free(a.keys[i]);
	}
}
END_TEST

/* ---- delete, tier ---- */

START_TEST(test_delete_prunes_dirs)
{
	tu_assert_ok(put_str("a/b/c/d", "1"));
	tu_assert_ok(put_str("a/x", "2"));
	tu_assert_ok(os->del(os, "a/b/c/d", 0));
	char *p = rpath("a/b");
	ck_assert_int_ne(access(p, F_OK), 0);
	stkdr__free(p);
	p = rpath("a");
	ck_assert_int_eq(access(p, F_OK), 0);
	stkdr__free(p);
	tu_assert_ok(os->del(os, "a/x", 0));
	p = rpath("a");
	ck_assert_int_ne(access(p, F_OK), 0);
	stkdr__free(p);
	ck_assert_int_eq(access(root, F_OK), 0);
	tu_assert_rc(os->del(os, "a/x", 0), STKDR_ENOTFOUND);
	tu_assert_errmsg("a/x");
	tu_assert_ok(put_str("top", "t"));
	tu_assert_rc(os->del(os, "top", 0x10), STKDR_EINVAL);
	tu_assert_ok(os->del(os, "top", 0));
	ck_assert_int_eq(access(root, F_OK), 0);
	ck_assert_int_eq(count_files(".stkdr-"), 0);
	/* Writing again below a pruned directory works. */
	tu_assert_ok(put_str("a/b/c/e", "3"));
	assert_content("a/b/c/e", "3");
}
END_TEST

START_TEST(test_set_tier)
{
	tu_assert_ok(put_str("t", "tier"));
	tu_assert_ok(os->set_tier(os, "t", STKDR_TIER_ARCHIVE));
	stkdr_objinfo info;
	tu_assert_ok(os->head(&info, os, "t"));
	ck_assert_int_eq(info.tier, STKDR_TIER_ARCHIVE);
	tu_assert_ok(os->set_tier(os, "t", STKDR_TIER_ARCHIVE));
	tu_assert_ok(os->set_tier(os, "t", STKDR_TIER_HOT));
	tu_assert_ok(os->head(&info, os, "t"));
	ck_assert_int_eq(info.tier, STKDR_TIER_HOT);
	assert_content("t", "tier");
	tu_assert_rc(os->set_tier(os, "t", 3), STKDR_EINVAL);
	tu_assert_rc(os->set_tier(os, "t", -1), STKDR_EINVAL);
	tu_assert_rc(os->set_tier(os, "nope", STKDR_TIER_COLD), STKDR_ENOTFOUND);
	ck_assert_int_eq(count_files(".stkdr-tmp."), 0);
}
END_TEST

/* ---- lifecycle ---- */

typedef struct plan {
	char keys[16][64];
	int tiers[16];
	int n;
	int stop;
} plan;

static int plan_cb(const stkdr_objinfo *info, void *payload)
{
	plan *p = payload;
	ck_assert_int_lt(p->n, 16);
	snprintf(p->keys[p->n], sizeof p->keys[0], "%s", info->key);
	p->tiers[p->n] = info->tier;
	p->n++;
	return p->stop ? -5 : 0;
}

static int run_plan(plan *p, int64_t now)
{
	memset(p, 0, sizeof *p);
	return stkdr__local_objstore_lifecycle_plan(os, now, plan_cb, p);
}

START_TEST(test_lifecycle_plan)
{
	int64_t now = stkdr__time_now_ms();
	plan p;
	tu_assert_ok(run_plan(&p, now + 1000 * DAY_MS_T));
	ck_assert_int_eq(p.n, 0); /* no rules: nothing */

	stkdr_lifecycle_rule rules[2] = {
		{ STKDR_LIFECYCLE_RULE_VERSION, "logs", "logs/", 0, 30, 90, 365 },
		{ STKDR_LIFECYCLE_RULE_VERSION, "big", "", 1000, 1, 0, 0 },
	};
	tu_assert_ok(os->set_lifecycle(os, rules, 2));
	char big[2000];
	memset(big, 'b', sizeof big);
	tu_assert_ok(put_str("logs/a", "a"));
	tu_assert_ok(put_locked("logs/locked", "l", STKDR_RETAIN_COMPLIANCE, now + 500 * DAY_MS_T));
	stkdr_put_options o = STKDR_PUT_OPTIONS_INIT;
	o.tier = STKDR_TIER_ARCHIVE;
	tu_assert_ok(put_opts("logs/archived", "z", 1, &o, NULL));
	tu_assert_ok(put_opts("big", big, sizeof big, NULL, NULL));
	tu_assert_ok(put_str("small", "s"));

	tu_assert_ok(run_plan(&p, now));
	ck_assert_int_eq(p.n, 0);
	tu_assert_ok(run_plan(&p, now + 2 * DAY_MS_T));
	ck_assert_int_eq(p.n, 1);
	ck_assert_str_eq(p.keys[0], "big");
	ck_assert_int_eq(p.tiers[0], STKDR_TIER_COLD);
	tu_assert_ok(run_plan(&p, now + 40 * DAY_MS_T));
	ck_assert_int_eq(p.n, 3);
	ck_assert_str_eq(p.keys[0], "big");
	ck_assert_str_eq(p.keys[1], "logs/a");
	ck_assert_int_eq(p.tiers[1], STKDR_TIER_COLD);
	ck_assert_str_eq(p.keys[2], "logs/locked");
	tu_assert_ok(run_plan(&p, now + 100 * DAY_MS_T));
	ck_assert_int_eq(p.n, 3);
	ck_assert_int_eq(p.tiers[1], STKDR_TIER_ARCHIVE);
	tu_assert_ok(run_plan(&p, now + 400 * DAY_MS_T));
	ck_assert_int_eq(p.n, 4);
	ck_assert_str_eq(p.keys[1], "logs/a");
	ck_assert_int_eq(p.tiers[1], STKDR__LOCAL_PLAN_EXPIRE);
	ck_assert_str_eq(p.keys[2], "logs/archived");
	ck_assert_int_eq(p.tiers[2], STKDR__LOCAL_PLAN_EXPIRE);
	ck_assert_str_eq(p.keys[3], "logs/locked"); /* locked: only moved, not expired */
	ck_assert_int_eq(p.tiers[3], STKDR_TIER_ARCHIVE);
	/* Once moved, an object is no longer reported for that move. */
	tu_assert_ok(os->set_tier(os, "big", STKDR_TIER_COLD));
	tu_assert_ok(run_plan(&p, now + 2 * DAY_MS_T));
	ck_assert_int_eq(p.n, 0);
	/* The callback may stop. */
	memset(&p, 0, sizeof p);
	p.stop = 1;
	tu_assert_rc(stkdr__local_objstore_lifecycle_plan(os, now + 400 * DAY_MS_T, plan_cb, &p), -5);
	ck_assert_int_eq(p.n, 1);
	/* Damaged sidecars are left alone. */
	write_rel("logs/.stkdr-meta.a", "junk");
	tu_assert_ok(run_plan(&p, now + 400 * DAY_MS_T));
	ck_assert_int_eq(p.n, 2);
	/* No rules again. */
	tu_assert_ok(os->set_lifecycle(os, NULL, 0));
	tu_assert_ok(run_plan(&p, now + 400 * DAY_MS_T));
	ck_assert_int_eq(p.n, 0);
}
END_TEST

START_TEST(test_lifecycle_invalid)
{
	stkdr_lifecycle_rule r = { STKDR_LIFECYCLE_RULE_VERSION, "id", "", 0, 1, 2, 3 };
	tu_assert_rc(os->set_lifecycle(os, NULL, 1), STKDR_EINVAL);
	r.version = 0;
	tu_assert_rc(os->set_lifecycle(os, &r, 1), STKDR_EVERSION);
	r.version = STKDR_LIFECYCLE_RULE_VERSION;
	r.id = NULL;
	tu_assert_rc(os->set_lifecycle(os, &r, 1), STKDR_EINVAL);
	r.id = "";
	tu_assert_rc(os->set_lifecycle(os, &r, 1), STKDR_EINVAL);
	r.id = "id";
	r.prefix = NULL;
	tu_assert_rc(os->set_lifecycle(os, &r, 1), STKDR_EINVAL);
	tu_assert_errmsg("rule #1 (id)");
	r.prefix = "";
	r.cold_after_days = -1;
	tu_assert_rc(os->set_lifecycle(os, &r, 1), STKDR_EINVAL);
	r.cold_after_days = 2000000;
	tu_assert_rc(os->set_lifecycle(os, &r, 1), STKDR_EINVAL);
	r.cold_after_days = 1;
	tu_assert_ok(os->set_lifecycle(os, &r, 1));

	/* The plan needs a local store. */
	plan p;
	memset(&p, 0, sizeof p);
	tu_assert_rc(stkdr__local_objstore_lifecycle_plan(NULL, 0, plan_cb, &p), STKDR_EINVAL);
	tu_assert_rc(stkdr__local_objstore_lifecycle_plan(os, 0, NULL, &p), STKDR_EINVAL);
	stkdr_objstore *inner = NULL, *wrapped = NULL;
	tu_assert_ok(stkdr__local_objstore_new(&inner, root));
	tu_assert_ok(stkdr__fault_objstore_new(&wrapped, inner, NULL));
	tu_assert_rc(stkdr__local_objstore_lifecycle_plan(wrapped, 0, plan_cb, &p), STKDR_EINVAL);
	wrapped->base.free(&wrapped->base);

	static const char *const bad[] = {
		"junk", "{\"format\":1}", "{\"format\":2,\"rules\":[]}", "{\"format\":1,\"rules\":[{}]}",
		"{\"format\":1,\"rules\":[{\"id\":\"x\",\"prefix\":\"\",\"min_size\":0,\"cold_after_days\":-1,"
		"\"archive_after_days\":0,\"expire_after_days\":0}]}",
	};
	for (size_t i = 0; i < STKDR__ARRAY_SIZE(bad); i++) {
		write_rel(".stkdr-lifecycle.json", bad[i]);
		tu_assert_rc(run_plan(&p, 0), STKDR_ECORRUPT);
		tu_assert_errmsg(".stkdr-lifecycle.json");
	}
}
END_TEST

/* ---- constructor, permissions, ctl, helpers ---- */

START_TEST(test_new_creates_root)
{
	char *nested = tu_path(root, "x/y/z/repo/");
	stkdr_objstore *o2 = NULL;
	tu_assert_ok(stkdr__local_objstore_new(&o2, nested));
	ck_assert_str_eq(o2->base.name, "local");
	ck_assert_int_eq(o2->base.kind, STKDR_BACKEND_OBJSTORE);
	ck_assert_uint_eq(o2->base.version, STKDR_OBJSTORE_VERSION);
	struct stat st;
	ck_assert_int_eq(stat(nested, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	o2->base.free(&o2->base);
	stkdr__free(nested);
	tu_assert_rc(stkdr__local_objstore_new(&o2, ""), STKDR_EINVAL);
	tu_assert_rc(stkdr__local_objstore_new(&o2, NULL), STKDR_EINVAL);
	tu_assert_rc(stkdr__local_objstore_new(NULL, root), STKDR_EINVAL);
	char *huge = stkdr__malloc(3100);
	memset(huge, 'h', 3099);
	huge[3099] = '\0';
	tu_assert_rc(stkdr__local_objstore_new(&o2, huge), STKDR_EINVAL);
	stkdr__free(huge);
	os->base.free(NULL); /* NULL is a no-op */
}
END_TEST

START_TEST(test_root_under_a_file)
{
	char *file = tu_path(root, "plainfile");
	tu_write_file(file, "x", 1);
	char *under = tu_path(file, "repo");
	stkdr_objstore *o2 = NULL;
	int rc = stkdr__local_objstore_new(&o2, under);
	ck_assert_int_lt(rc, 0);
	ck_assert_ptr_null(o2);
	tu_assert_errmsg(file);
	ck_assert_str_eq(stkdr__err_get()->backend_code, "ENOTDIR");
	tu_assert_rc(stkdr__local_objstore_new(&o2, file), STKDR_EIO);
	tu_assert_errmsg("not a directory");
	stkdr__free(under);
	stkdr__free(file);
}
END_TEST

START_TEST(test_unwritable_root)
{
	if (geteuid() == 0) {
		/* chmod does not stop root: the path-under-a-file case covers the failing-open path instead. */
		char *file = tu_path(root, "f");
		tu_write_file(file, "x", 1);
		stkdr_objstore *o2 = NULL;
		tu_assert_ok(stkdr__local_objstore_new(&o2, root));
		tu_assert_rc(o2->open_write(&(stkdr_objwriter *){ NULL }, o2, "f/sub/key", NULL), STKDR_EINVAL);
		o2->base.free(&o2->base);
		stkdr__free(file);
		return;
	}
	ck_assert_int_eq(chmod(root, 0500), 0);
	int rc = put_str("k", "v");
	ck_assert_int_eq(chmod(root, 0700), 0);
	tu_assert_rc(rc, STKDR_EIO);
	tu_assert_errmsg(root);
	tu_assert_errmsg("check that the user");
}
END_TEST

START_TEST(test_ctl)
{
	tu_assert_ok(os->base.ctl(&os->base, STKDR_CTL_ATTACH, NULL));
	tu_assert_rc(os->base.ctl(&os->base, 4242, NULL), STKDR_ENOTSUPPORTED);
	tu_assert_errmsg("4242");
}
END_TEST

START_TEST(test_helpers)
{
	char *d = stkdr__local_dirname("/a/b/c");
	ck_assert_str_eq(d, "/a/b");
	stkdr__free(d);
	d = stkdr__local_dirname("/top");
	ck_assert_str_eq(d, "/");
	stkdr__free(d);
	d = stkdr__local_dirname("rel");
	ck_assert_str_eq(d, ".");
	stkdr__free(d);

	char hex[70];
	tu_assert_ok(stkdr__local_random_hex(hex, 32));
	ck_assert_uint_eq(strlen(hex), 64);
	tu_assert_rc(stkdr__local_random_hex(hex, 33), STKDR_EINVAL);

	tu_assert_rc(stkdr__local_oserr(ENOSPC, "/repo", "writing /repo/x"), STKDR_ENOSPACE);
	tu_assert_errmsg("writing /repo/x");
	tu_assert_errmsg("free space");
	ck_assert_str_eq(stkdr__err_get()->backend_code, "ENOSPC");
	tu_assert_rc(stkdr__local_oserr(EACCES, "/repo", "opening /repo/x"), STKDR_EIO);
	tu_assert_errmsg("may read and write /repo");
	tu_assert_rc(stkdr__local_oserr(EROFS, "/repo", "opening"), STKDR_EIO);
	tu_assert_errmsg("read-only");
	tu_assert_rc(stkdr__local_oserr(EIO, "/repo", "reading"), STKDR_EIO);

	char *f = tu_path(root, "file");
	tu_assert_ok(stkdr__local_write_file_atomic(f, "one", 3, 0600, 1));
	tu_assert_rc(stkdr__local_write_file_atomic(f, "two", 3, 0600, 1), STKDR_EEXISTS);
	tu_assert_ok(stkdr__local_write_file_atomic(f, "three", 5, 0600, 0));
	stkdr_buf b = STKDR_BUF_INIT;
	tu_assert_ok(stkdr__local_read_file(&b, f, 100));
	ck_assert_str_eq(b.ptr, "three");
	tu_assert_rc(stkdr__local_read_file(&b, f, 2), STKDR_ECORRUPT);
	stkdr_buf_dispose(&b);
	char *missing = tu_path(root, "missing");
	tu_assert_rc(stkdr__local_read_file(&b, missing, 100), STKDR_ENOTFOUND);
	char *under = tu_path(f, "x/y");
	tu_assert_rc(stkdr__local_mkdirs(under, 0700), STKDR_EIO);
	tu_assert_errmsg("not a directory");
	tu_assert_rc(stkdr__local_write_file_atomic(under, "x", 1, 0600, 0), STKDR_EIO);
	tu_assert_rc(stkdr__local_fsync_dir(missing), STKDR_ENOTFOUND);
	char *empty = tu_path(root, "empty");
	tu_assert_ok(stkdr__local_write_file_atomic(empty, "", 0, 0600, 0));
	tu_assert_ok(stkdr__local_read_file(&b, empty, 10));
	ck_assert_uint_eq(b.size, 0);
	ck_assert_ptr_nonnull(b.ptr);
	stkdr_buf_dispose(&b);
	stkdr__free(empty);
	stkdr__free(under);
	stkdr__free(missing);
	stkdr__free(f);
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

static void (*g_check)(int rc);

/* Every injected failure must also leave no temporary file behind. */
static void check_no_temp(int rc)
{
	g_check(rc);
	ck_assert_int_eq(count_files(".stkdr-tmp."), 0);
}

static void sweep(int (*op)(void), void (*check)(int rc))
{
	g_check = check;
	tu_enomem_sweep(op, check_no_temp);
}

static char g_body[10000];

static int op_put_new(void)
{
	return put_opts("d/e/k", g_body, sizeof g_body, NULL, NULL);
}

static void check_put_new(int rc)
{
	stkdr_objinfo info;
	int hr = os->head(&info, os, "d/e/k");
	if (rc == 0)
		tu_assert_ok(hr);
	if (hr == 0) {
		stkdr_buf b = STKDR_BUF_INIT;
		int gr = get_all("d/e/k", &b);
		ck_assert(gr == 0 || gr == STKDR_ENOMEM);
		ck_assert(gr != 0 || (b.size == sizeof g_body && memcmp(b.ptr, g_body, b.size) == 0));
		stkdr_buf_dispose(&b);
		if (rc != 0)
			tu_assert_ok(os->del(os, "d/e/k", 0));
	} else {
		tu_assert_rc(hr, STKDR_ENOTFOUND);
	}
}

static int op_put_overwrite(void)
{
	stkdr_put_options o = STKDR_PUT_OPTIONS_INIT;
	o.tier = STKDR_TIER_COLD;
	return put_opts("ow", "new content", 11, &o, NULL);
}

static void check_put_overwrite(int rc)
{
	stkdr_buf b = STKDR_BUF_INIT;
	tu_assert_ok(get_all("ow", &b));
	ck_assert(rc != 0 || strcmp(b.ptr, "new content") == 0);
	ck_assert(strcmp(b.ptr, "new content") == 0 || strcmp(b.ptr, "old") == 0);
	stkdr_buf_dispose(&b);
	if (rc != 0)
		tu_assert_ok(put_str("ow", "old"));
}

static int op_put_create_only(void)
{
	stkdr_put_options o = STKDR_PUT_OPTIONS_INIT;
	o.flags = STKDR_PUT_CREATE_ONLY;
	int rc = put_opts("ow", "other", 5, &o, NULL);
	return rc == STKDR_EEXISTS ? 0 : rc;
}

static void check_content_old(int rc)
{
	assert_content("ow", "old");
}

static int op_read_all(void)
{
	stkdr_buf b = STKDR_BUF_INIT;
	int rc = get_all("ow", &b);
	ck_assert(rc != 0 || strcmp(b.ptr, "old") == 0);
	stkdr_buf_dispose(&b);
	return rc;
}

static int op_head_list(void)
{
	stkdr_objinfo info;
	int rc = os->head(&info, os, "ow");
	collected c;
	if (rc == 0)
		rc = list(&c, "", NULL);
	if (rc == 0)
		ck_assert_int_eq(c.n, 3);
	for (int i = 0; rc == 0 && !tu_enomem_failed && i < c.n; i++)
		ck_assert_int_eq(c.infos[i].has_sha256, 1);
	if (rc == 0)
		rc = list(&c, "x/", "x/a");
	return rc;
}

static void check_nothing(int rc)
{
}

static int op_del(void)
{
	return os->del(os, "x/y/z", 0);
}

static void check_del(int rc)
{
	stkdr_objinfo info;
	int hr = os->head(&info, os, "x/y/z");
	ck_assert(hr == STKDR_ENOTFOUND || (rc != 0 && hr == 0));
	if (hr == STKDR_ENOTFOUND)
		tu_assert_ok(put_str("x/y/z", "z"));
}

static int op_set_tier(void)
{
	return os->set_tier(os, "ow", STKDR_TIER_ARCHIVE);
}

static void check_set_tier(int rc)
{
	stkdr_objinfo info;
	tu_assert_ok(os->head(&info, os, "ow"));
	ck_assert(rc != 0 || info.tier == STKDR_TIER_ARCHIVE);
	if (info.tier != STKDR_TIER_HOT)
		tu_assert_ok(os->set_tier(os, "ow", STKDR_TIER_HOT));
}

static int plan_count;

static int plan_count_cb(const stkdr_objinfo *info, void *payload)
{
	plan_count++;
	return 0;
}

static int op_lifecycle(void)
{
	stkdr_lifecycle_rule rules[2] = {
		{ STKDR_LIFECYCLE_RULE_VERSION, "a", "", 0, 1, 2, 0 },
		{ STKDR_LIFECYCLE_RULE_VERSION, "b", "x/", 0, 0, 0, 3 },
	};
	int rc = os->set_lifecycle(os, rules, 2);
	plan_count = 0;
	if (rc == 0)
		rc = stkdr__local_objstore_lifecycle_plan(os, stkdr__time_now_ms() + 10 * DAY_MS_T, plan_count_cb, NULL);
	/* cJSON cannot tell a failed allocation from a syntax error: a sidecar may then read as damaged. */
	ck_assert(rc != 0 || plan_count == 3 || tu_enomem_failed);
	return rc;
}

static char g_tmp_path[4096];
static char g_fresh_path[4096];

static int op_clean_and_new(void)
{
	FILE *f = fopen(g_tmp_path, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	int rc = os->base.ctl(&os->base, STKDR__CTL_LOCAL_CLEAN_TEMP, NULL);
	if (rc == 0) {
		stkdr_objstore *o2 = NULL;
		rc = stkdr__local_objstore_new(&o2, g_fresh_path);
		if (rc == 0)
			o2->base.free(&o2->base);
	}
	return rc;
}

static void check_clean(int rc)
{
	if (rc)
		unlink(g_tmp_path);
}

START_TEST(test_enomem_sweep)
{
	memset(g_body, 'w', sizeof g_body);
	tu_assert_ok(put_str("ow", "old"));
	tu_assert_ok(put_str("x/a", "a"));
	tu_assert_ok(put_str("x/y/z", "z"));
	sweep(op_put_new, check_put_new);
	tu_assert_ok(os->del(os, "d/e/k", 0));
	sweep(op_put_overwrite, check_put_overwrite);
	tu_assert_ok(put_str("ow", "old"));
	sweep(op_put_create_only, check_content_old);
	sweep(op_read_all, check_content_old);
	sweep(op_head_list, check_nothing);
	sweep(op_set_tier, check_set_tier);
	sweep(op_lifecycle, check_nothing);
	sweep(op_del, check_del);
	snprintf(g_tmp_path, sizeof g_tmp_path, "%s/x/.stkdr-tmp.00000000000000aa", root);
	snprintf(g_fresh_path, sizeof g_fresh_path, "%s/fresh/repo", root);
	sweep(op_clean_and_new, check_clean);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("local_objstore");
	TCase *tc = tcase_create("put_get");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_roundtrip_0);
	tcase_add_test(tc, test_roundtrip_1);
	tcase_add_test(tc, test_roundtrip_5mb);
	tcase_add_test(tc, test_commit_without_sha_out_and_empty_writes);
	tcase_add_test(tc, test_create_only_twice);
	tcase_add_test(tc, test_create_only_race_at_commit);
	tcase_add_test(tc, test_create_only_concurrent_processes);
	tcase_add_test(tc, test_create_only_orphan_sidecar);
	tcase_add_test(tc, test_create_only_over_foreign_data);
	tcase_add_test(tc, test_overwrite);
	tcase_add_test(tc, test_abort);
	tcase_add_test(tc, test_killed_writer_temp_cleaned);
	tcase_add_test(tc, test_stalled_writer_loses_its_temp);
	tcase_add_test(tc, test_put_options_invalid);
	tcase_add_test(tc, test_put_tier_and_expected_sha);
	tcase_add_test(tc, test_write_failure_fsize);
	tcase_add_test(tc, test_read_ranges);
	suite_add_tcase(s, tc);

	tc = tcase_create("corruption");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_corrupt_byte);
	tcase_add_test(tc, test_size_mismatch);
	tcase_add_test(tc, test_truncated_while_reading);
	tcase_add_test(tc, test_data_without_sidecar);
	tcase_add_test(tc, test_sidecar_without_data);
	tcase_add_loop_test(tc, test_malformed_sidecar, 0, (int)STKDR__ARRAY_SIZE(bad_sidecars));
	tcase_add_test(tc, test_sidecar_nul_and_huge);
	tcase_add_test(tc, test_sidecar_newer_format);
	tcase_add_test(tc, test_not_regular_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("retention");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_compliance_lock);
	tcase_add_test(tc, test_overwrite_locked_at_commit);
	tcase_add_test(tc, test_governance_lock);
	tcase_add_test(tc, test_lock_expires);
	tcase_add_test(tc, test_lock_in_the_past_written_directly);
	suite_add_tcase(s, tc);

	tc = tcase_create("keys_list");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_invalid_keys, 0, (int)STKDR__ARRAY_SIZE(bad_keys));
	tcase_add_test(tc, test_invalid_keys_length);
	tcase_add_test(tc, test_key_prefix_conflicts);
	tcase_add_test(tc, test_list_order_prefix_start_after);
	tcase_add_test(tc, test_list_stop_and_args);
	tcase_add_test(tc, test_list_skips_foreign_entries);
	tcase_add_test(tc, test_list_random_order);
	tcase_add_test(tc, test_delete_prunes_dirs);
	tcase_add_test(tc, test_set_tier);
	suite_add_tcase(s, tc);

	tc = tcase_create("lifecycle");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_lifecycle_plan);
	tcase_add_test(tc, test_lifecycle_invalid);
	suite_add_tcase(s, tc);

	tc = tcase_create("misc");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_new_creates_root);
	tcase_add_test(tc, test_root_under_a_file);
	tcase_add_test(tc, test_unwritable_root);
	tcase_add_test(tc, test_ctl);
	tcase_add_test(tc, test_helpers);
	suite_add_tcase(s, tc);

	tc = tcase_create("enomem");
	tcase_add_checked_fixture(tc, enomem_setup, enomem_teardown);
	tcase_add_test(tc, test_enomem_sweep);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
