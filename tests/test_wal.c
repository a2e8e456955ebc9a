/* The WAL archive without a server: push/get round trips, idempotence, conflicts, corruption, names. */
#include "testutil.h"
#include "features/repo.h"
#include "features/wal.h"
#include "core/crypto.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static char *dir;
static stkdr_ctx *ctx;

static void setup_with(const char *compression)
{
	dir = tu_mkdtemp("wal");
	char *json = stkdr__aprintf("{\"deployment\":\"w\",\"objstore\":{\"path\":\"%s/repo\"},"
				    "\"wal\":{\"compression\":\"%s\"}}", dir, compression);
	ctx = tu_ctx_json(json);
	stkdr__free(json);
}
static const char *suffix; /* of archived objects under this fixture's wal.compression */
static void setup_gzip(void) { setup_with("gzip"); suffix = ".gz"; }
static void setup_zstd(void)
{
	setup_with(stkdr_has_feature("zstd") ? "zstd" : "gzip");
	suffix = stkdr_has_feature("zstd") ? ".zst" : ".gz";
}
static void setup_none(void) { setup_with("none"); suffix = ""; }

static void teardown(void)
{
	stkdr_ctx_free(ctx);
	tu_rmtree_free(dir);
}

/* Writes a pseudo-segment of `len` bytes with content seeded by `seed`; returns its path. */
static char *make_file(const char *name, size_t len, unsigned seed)
{
	char *p = stkdr__aprintf("%s/%s", dir, name);
	char *data = stkdr__malloc(len);
	for (size_t i = 0; i < len; i++)
		data[i] = (char)((i / 8192 == 0 || i % 3 == 0) ? (seed * 31 + i * 7) & 0xff : 0);
	tu_write_file(p, data, len);
	stkdr__free(data);
	return p;
}

static bool same_file(const char *a, const char *b)
{
	size_t la, lb;
	char *x = tu_read_file(a, &la), *y = tu_read_file(b, &lb);
	bool same = x && y && la == lb && memcmp(x, y, la) == 0;
	stkdr__free(x);
	stkdr__free(y);
	return same;
}

START_TEST(push_get_round_trip)
{
	const char *seg = "000000010000000000000003";
	char *src = make_file(seg, 16 * 1024 * 1024, 1);
	tu_assert_ok(stkdr_wal_push(ctx, src));
	char *dst = stkdr__aprintf("%s/restored", dir);
	tu_assert_ok(stkdr_wal_get(ctx, seg, dst));
	ck_assert(same_file(src, dst));
	/* no temporary file left next to the destination */
	char *tmp = stkdr__aprintf("%s.stkdr-tmp", dst);
	struct stat st;
	ck_assert_int_ne(stat(tmp, &st), 0);
	/* history and backup-history files */
	char *hist = make_file("00000002.history", 100, 2);
	tu_assert_ok(stkdr_wal_push(ctx, hist));
	tu_assert_ok(stkdr_wal_get(ctx, "00000002.history", dst));
	ck_assert(same_file(hist, dst));
	char *bk = make_file("000000010000000000000003.00000028.backup", 300, 3);
	tu_assert_ok(stkdr_wal_push(ctx, bk));
	char *part = make_file("000000010000000000000004.partial", 4096, 4);
	tu_assert_ok(stkdr_wal_push(ctx, part));
	stkdr_buf key = STKDR_BUF_INIT;
	tu_assert_ok(stkdr__wal_find(&key, ctx, "00000002.history"));
	ck_assert(strstr(key.ptr, "w/wal/history/00000002.history-") == key.ptr);
	tu_assert_ok(stkdr__wal_find(&key, ctx, seg));
	ck_assert(strstr(key.ptr, "w/wal/00000001/000000010000000000000003-") == key.ptr);
	/* wal.compression decides the object's encoding */
	ck_assert_str_eq(key.ptr + strlen("w/wal/00000001/000000010000000000000003-") + 16, suffix);
	stkdr_buf_dispose(&key);
	stkdr__free(src);
	stkdr__free(dst);
	stkdr__free(tmp);
	stkdr__free(hist);
	stkdr__free(bk);
	stkdr__free(part);
}
END_TEST

START_TEST(push_is_idempotent_and_refuses_conflicts)
{
	const char *seg = "00000001000000000000000A";
	char *a = make_file(seg, 1 << 20, 7);
	int already = -1;
	tu_assert_ok(stkdr__wal_push_file(ctx, a, &already));
	ck_assert_int_eq(already, 0);
	tu_assert_ok(stkdr__wal_push_file(ctx, a, &already));
	ck_assert_int_eq(already, 1);
	tu_assert_ok(stkdr_wal_push(ctx, a));
	/* a different file under the same name: refused loudly, the archived one untouched */
	char *bdir = stkdr__aprintf("%s/other", dir);
	mkdir(bdir, 0700);
	char *b = stkdr__aprintf("%s/%s", bdir, seg);
	tu_write_file(b, "different", 9);
	ck_assert_int_eq(stkdr_wal_push(ctx, b), STKDR_EEXISTS);
	ck_assert(strstr(stkdr_ctx_last_error(ctx)->message, "DIFFERENT") != NULL);
	ck_assert(strstr(stkdr_ctx_last_error(ctx)->message, seg) != NULL);
	char *dst = stkdr__aprintf("%s/got", dir);
	tu_assert_ok(stkdr_wal_get(ctx, seg, dst));
	ck_assert(same_file(a, dst));
	stkdr__free(a);
	stkdr__free(b);
	stkdr__free(bdir);
	stkdr__free(dst);
}
END_TEST

START_TEST(bad_names_and_missing)
{
	char *p = make_file("not-a-segment", 10, 1);
	ck_assert_int_eq(stkdr_wal_push(ctx, p), STKDR_EINVAL);
	ck_assert(strstr(stkdr_ctx_last_error(ctx)->message, "not a WAL file name") != NULL);
	char *missing = stkdr__aprintf("%s/000000010000000000000009", dir);
	ck_assert_int_eq(stkdr_wal_push(ctx, missing), STKDR_ENOTFOUND);
	ck_assert(strstr(stkdr_ctx_last_error(ctx)->message, missing) != NULL);
	char *dst = stkdr__aprintf("%s/x", dir);
	ck_assert_int_eq(stkdr_wal_get(ctx, "000000010000000000000009", dst), STKDR_ENOTFOUND);
	ck_assert_int_eq(stkdr_wal_get(ctx, "../../etc/passwd", dst), STKDR_EINVAL);
	ck_assert_int_eq(stkdr_wal_get(ctx, "0000000100000000000000GG", dst), STKDR_EINVAL);
	ck_assert_int_eq(stkdr_wal_push(NULL, p), STKDR_EINVAL);
	ck_assert_int_eq(stkdr_wal_get(ctx, NULL, dst), STKDR_EINVAL);
	ck_assert_int_eq(stkdr__wal_name_kind("000000010000000000000009"), 1);
	ck_assert_int_eq(stkdr__wal_name_kind("00000003.history"), 2);
	ck_assert_int_eq(stkdr__wal_name_kind("000000010000000000000009.00000028.backup"), 3);
	ck_assert_int_eq(stkdr__wal_name_kind("000000010000000000000009.partial"), 4);
	ck_assert_int_eq(stkdr__wal_name_kind("00000001000000000000000"), 0);
	ck_assert_int_eq(stkdr__wal_name_kind("000000010000000000000009x"), 0);
	ck_assert_int_eq(stkdr__wal_name_kind("0000000g.history"), 0);
	/* the destination directory does not exist */
	char *seg = make_file("000000010000000000000001", 100, 5);
	tu_assert_ok(stkdr_wal_push(ctx, seg));
	char *nodir = stkdr__aprintf("%s/no/such/dir/f", dir);
	ck_assert_int_eq(stkdr_wal_get(ctx, "000000010000000000000001", nodir), STKDR_ENOTFOUND);
	stkdr__free(p);
	stkdr__free(missing);
	stkdr__free(dst);
	stkdr__free(seg);
	stkdr__free(nodir);
}
END_TEST

/* Finds the archived object's file in the local repository. */
static char *archived_path(const char *seg)
{
	stkdr_buf key = STKDR_BUF_INIT;
	tu_assert_ok(stkdr__wal_find(&key, ctx, seg));
	char *p = stkdr__aprintf("%s/repo/%s", dir, key.ptr);
	stkdr_buf_dispose(&key);
	return p;
}

START_TEST(corruption_is_detected)
{
	const char *seg = "000000010000000000000005";
	char *src = make_file(seg, 1 << 20, 9);
	tu_assert_ok(stkdr_wal_push(ctx, src));
	char *obj = archived_path(seg);
	chmod(obj, 0644);
	size_t len;
	char *data = tu_read_file(obj, &len);
	ck_assert_uint_gt(len, 100);
	data[len / 2] ^= 0x40;
	tu_write_file(obj, data, len);
	char *dst = stkdr__aprintf("%s/out", dir);
	int rc = stkdr_wal_get(ctx, seg, dst);
	ck_assert_int_eq(rc, STKDR_ECORRUPT);
	ck_assert(strstr(stkdr_ctx_last_error(ctx)->message, seg) != NULL);
	struct stat st;
	ck_assert_int_ne(stat(dst, &st), 0); /* nothing written in its place */
	stkdr__free(data);
	stkdr__free(obj);
	stkdr__free(src);
	stkdr__free(dst);
}
END_TEST

START_TEST(two_copies_are_ambiguous)
{
	/* Two different copies under one name can only come from outside (two clusters, a copied
	 * repository): get refuses to guess. */
	const char *seg = "000000010000000000000006";
	char *src = make_file(seg, 4096, 1);
	tu_assert_ok(stkdr_wal_push(ctx, src));
	char *k = stkdr__repo_key(ctx, "wal/00000001/000000010000000000000006-ffffffffffffffff.gz");
	tu_assert_ok(stkdr__repo_put(ctx, k, "x", 1, STKDR_PUT_CREATE_ONLY));
	char *dst = stkdr__aprintf("%s/out", dir);
	ck_assert_int_eq(stkdr_wal_get(ctx, seg, dst), STKDR_ECORRUPT);
	ck_assert(strstr(stkdr_ctx_last_error(ctx)->message, "twice") != NULL);
	ck_assert_int_eq(stkdr_wal_push(ctx, src), STKDR_EEXISTS);
	stkdr__free(k);
	stkdr__free(src);
	stkdr__free(dst);
}
END_TEST

/* Number of archived objects (not sidecars) under the repository's timeline-1 directory. */
static int count_objects(void)
{
	char *d = stkdr__aprintf("%s/repo/w/wal/00000001", dir);
	DIR *dh = opendir(d);
	int n = 0;
	struct dirent *e;
	while (dh && (e = readdir(dh)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	if (dh)
		closedir(dh);
	stkdr__free(d);
	return n;
}

START_TEST(same_content_under_another_compression)
{
	/* Object names carry the hash of the stored (compressed) bytes: the same segment pushed with
	 * another wal.compression or level gets another hash, and is then decided by content. */
	const char *seg = "00000001000000000000000B";
	char *a = make_file(seg, 2 << 20, 11);
	tu_assert_ok(stkdr_wal_push(ctx, a));
	ck_assert_int_eq(count_objects(), 1);
	const char *other = !strcmp(suffix, ".gz") ? "none" : "gzip";
	char *json = stkdr__aprintf("{\"deployment\":\"w\",\"objstore\":{\"path\":\"%s/repo\"},"
				    "\"wal\":{\"compression\":\"%s\",\"level\":9}}", dir, other);
	stkdr_ctx *ctx2 = tu_ctx_json(json);
	int already = -1;
	tu_assert_ok(stkdr__wal_push_file(ctx2, a, &already));
	ck_assert_int_eq(already, 1);
	ck_assert_int_eq(count_objects(), 1); /* nothing new stored */
	/* a different segment under the name, whatever the compression: refused, naming the copy */
	char *bdir = stkdr__aprintf("%s/other", dir);
	mkdir(bdir, 0700);
	char *b = stkdr__aprintf("%s/%s", bdir, seg);
	char *data = tu_read_file(a, NULL);
	data[(1 << 20) + 5] ^= 1; /* one bit, in the middle */
	tu_write_file(b, data, 2 << 20);
	ck_assert_int_eq(stkdr_wal_push(ctx2, b), STKDR_EEXISTS);
	ck_assert(strstr(stkdr_ctx_last_error(ctx2)->message, "DIFFERENT") != NULL);
	ck_assert_int_eq(stkdr_wal_push(ctx, b), STKDR_EEXISTS);
	/* a shorter and a longer file are different too */
	tu_write_file(b, data, (2 << 20) - 1);
	ck_assert_int_eq(stkdr_wal_push(ctx2, b), STKDR_EEXISTS);
	ck_assert_int_eq(count_objects(), 1);
	/* an archived copy that cannot be read is named, not taken for a match or a conflict */
	char *obj = archived_path(seg);
	chmod(obj, 0644);
	size_t len;
	char *stored = tu_read_file(obj, &len);
	if (strcmp(suffix, "")) { /* compressed: damage the stream */
		stored[len / 2] ^= 0x55;
		tu_write_file(obj, stored, len);
		int rc = stkdr_wal_push(ctx2, a);
		ck_assert(rc < 0 && rc != STKDR_EEXISTS);
		ck_assert(strstr(stkdr_ctx_last_error(ctx2)->message, "cannot be read") != NULL);
	}
	ck_assert_int_eq(count_objects(), 1);
	stkdr_ctx_free(ctx2);
	stkdr__free(stored);
	stkdr__free(obj);
	stkdr__free(json);
	stkdr__free(data);
	stkdr__free(a);
	stkdr__free(b);
	stkdr__free(bdir);
}
END_TEST

START_TEST(objects_named_by_the_raw_hash_are_read)
{
	/* Archives written before 1.0 named an object by the SHA-256 of the raw segment. */
	const char *seg = "00000001000000000000000C";
	char *a = make_file(seg, 1 << 20, 12);
	tu_assert_ok(stkdr_wal_push(ctx, a));
	char *obj = archived_path(seg);
	size_t len;
	char *raw = tu_read_file(a, &len);
	uint8_t sha[32];
	char hex[65];
	stkdr__sha256(raw, len, sha);
	stkdr__hex_encode(hex, sha, 32);
	char *legacy = stkdr__aprintf("%s/repo/w/wal/00000001/%s-%.16s%s", dir, seg, hex, suffix);
	char *meta = stkdr__aprintf("%s/repo/w/wal/00000001/.stkdr-meta.%s", dir, strrchr(obj, '/') + 1);
	char *legacy_meta = stkdr__aprintf("%s/repo/w/wal/00000001/.stkdr-meta.%s", dir, strrchr(legacy, '/') + 1);
	ck_assert_int_eq(rename(obj, legacy), 0);
	ck_assert_int_eq(rename(meta, legacy_meta), 0);
	char *dst = stkdr__aprintf("%s/got", dir);
	tu_assert_ok(stkdr_wal_get(ctx, seg, dst));
	ck_assert(same_file(a, dst));
	int already = -1;
	tu_assert_ok(stkdr__wal_push_file(ctx, a, &already));
	ck_assert_int_eq(already, 1);
	ck_assert_int_eq(count_objects(), 1);
	stkdr__free(raw);
	stkdr__free(obj);
	stkdr__free(legacy);
	stkdr__free(meta);
	stkdr__free(legacy_meta);
	stkdr__free(dst);
	stkdr__free(a);
}
END_TEST

static char *seg_name(int i)
{
	return stkdr__aprintf("0000000100000000000000%02X", i);
}

static bool spooled(const char *spool, int i)
{
	char *n = seg_name(i);
	char *p = stkdr__aprintf("%s/%s", spool, n);
	struct stat st;
	bool there = stat(p, &st) == 0;
	stkdr__free(n);
	stkdr__free(p);
	return there;
}

START_TEST(prefetch_spools_what_follows)
{
	char *srcs[7];
	for (int i = 1; i <= 6; i++) {
		char *n = seg_name(i);
		srcs[i] = make_file(n, 256 * 1024, (unsigned)i);
		tu_assert_ok(stkdr_wal_push(ctx, srcs[i]));
		stkdr__free(n);
	}
	/* a receiver's partial upload after them is never prefetched */
	char *part = make_file("000000010000000000000007.partial", 4096, 9);
	tu_assert_ok(stkdr_wal_push(ctx, part));
	char *pgwal = stkdr__aprintf("%s/data/pg_wal", dir);
	char *mk = stkdr__aprintf("mkdir -p '%s'", pgwal);
	ck_assert_int_eq(system(mk), 0);
	char *dest = stkdr__aprintf("%s/RECOVERYXLOG", pgwal);
	stkdr_buf spool = STKDR_BUF_INIT;
	ck_assert_int_eq(stkdr_wal_spool_dir(&spool, dest), 1);
	ck_assert(strstr(spool.ptr, "/data/pg_wal/stkdr-prefetch") != NULL);
	stkdr_buf other = STKDR_BUF_INIT;
	char *elsewhere = stkdr__aprintf("%s/RECOVERYXLOG", dir);
	ck_assert_int_eq(stkdr_wal_spool_dir(&other, elsewhere), 0); /* not a pg_wal directory */

	/* three segments after 01: 02..04, verified and whole */
	tu_assert_ok(stkdr_wal_prefetch(ctx, "000000010000000000000001", spool.ptr, 3));
	ck_assert(!spooled(spool.ptr, 1) && spooled(spool.ptr, 2) && spooled(spool.ptr, 3) && spooled(spool.ptr, 4));
	ck_assert(!spooled(spool.ptr, 5));
	/* get takes 02 from the spool (it is moved, not copied) */
	tu_assert_ok(stkdr_wal_get(ctx, "000000010000000000000002", dest));
	ck_assert(same_file(srcs[2], dest));
	ck_assert(!spooled(spool.ptr, 2));
	/* the next prefetch drops what recovery has passed and fetches up to the end: 03..06, no partial */
	tu_assert_ok(stkdr_wal_prefetch(ctx, "000000010000000000000003", spool.ptr, 8));
	ck_assert(!spooled(spool.ptr, 3) && spooled(spool.ptr, 4) && spooled(spool.ptr, 5) && spooled(spool.ptr, 6));
	char *pp = stkdr__aprintf("%s/000000010000000000000007", spool.ptr);
	struct stat st;
	ck_assert_int_ne(stat(pp, &st), 0);
	for (int i = 4; i <= 6; i++) {
		char *n = seg_name(i);
		tu_assert_ok(stkdr_wal_get(ctx, n, dest));
		ck_assert(same_file(srcs[i], dest));
		stkdr__free(n);
	}
	/* a segment not in the spool is fetched directly */
	tu_assert_ok(stkdr_wal_get(ctx, "000000010000000000000001", dest));
	ck_assert(same_file(srcs[1], dest));

	/* another prefetcher holds the lock: this one returns at once and fetches nothing */
	char *lockp = stkdr__aprintf("%s/.lock", spool.ptr);
	int lfd = open(lockp, O_RDWR | O_CREAT, 0600);
	ck_assert_int_ge(lfd, 0);
	ck_assert_int_eq(flock(lfd, LOCK_EX), 0);
	tu_assert_ok(stkdr_wal_prefetch(ctx, "000000010000000000000001", spool.ptr, 3));
	ck_assert(!spooled(spool.ptr, 2));
	close(lfd);

	/* bad input */
	ck_assert_int_eq(stkdr_wal_prefetch(ctx, "00000002.history", spool.ptr, 3), STKDR_EINVAL);
	ck_assert(strstr(stkdr_ctx_last_error(ctx)->message, "00000002.history") != NULL);
	ck_assert_int_eq(stkdr_wal_prefetch(ctx, NULL, spool.ptr, 3), STKDR_EINVAL);
	tu_assert_ok(stkdr_wal_prefetch(ctx, "000000010000000000000001", spool.ptr, 0));

	for (int i = 1; i <= 6; i++)
		stkdr__free(srcs[i]);
	stkdr__free(part);
	stkdr__free(pgwal);
	stkdr__free(mk);
	stkdr__free(dest);
	stkdr__free(elsewhere);
	stkdr__free(pp);
	stkdr__free(lockp);
	stkdr_buf_dispose(&spool);
	stkdr_buf_dispose(&other);
}
END_TEST

START_TEST(prefetch_names_a_corrupt_segment)
{
	char *srcs[4];
	for (int i = 1; i <= 3; i++) {
		char *n = seg_name(i);
		srcs[i] = make_file(n, 128 * 1024, (unsigned)i + 20);
		tu_assert_ok(stkdr_wal_push(ctx, srcs[i]));
		stkdr__free(n);
	}
	/* damage 03's archived object (its sidecar checksum no longer matches) */
	char *obj = archived_path("000000010000000000000003");
	chmod(obj, 0644);
	FILE *f = fopen(obj, "r+b");
	ck_assert(f != NULL);
	fseek(f, 10, SEEK_SET);
	int c = fgetc(f);
	fseek(f, 10, SEEK_SET);
	fputc(c ^ 0x5a, f);
	fclose(f);
	char *spool = stkdr__aprintf("%s/pg_wal/stkdr-prefetch", dir);
	char *mk = stkdr__aprintf("mkdir -p '%s/pg_wal'", dir);
	ck_assert_int_eq(system(mk), 0);
	ck_assert_int_eq(stkdr_wal_prefetch(ctx, "000000010000000000000001", spool, 4), STKDR_ECORRUPT);
	ck_assert(strstr(stkdr_ctx_last_error(ctx)->message, "000000010000000000000003") != NULL);
	ck_assert(spooled(spool, 2));  /* what was fetched whole stays */
	ck_assert(!spooled(spool, 3)); /* the damaged one never appears */
	/* the library's pre-restore check names it too */
	stkdr_buf key = STKDR_BUF_INIT;
	tu_assert_ok(stkdr__wal_find(&key, ctx, "000000010000000000000003"));
	const char *keys[1] = { key.ptr };
	ck_assert_int_eq(stkdr__wal_verify_objects(ctx, keys, 1), STKDR_ECORRUPT);
	ck_assert(strstr(stkdr_ctx_last_error(ctx)->message, "000000010000000000000003") != NULL);
	stkdr_buf_dispose(&key);
	for (int i = 1; i <= 3; i++)
		stkdr__free(srcs[i]);
	stkdr__free(obj);
	stkdr__free(spool);
	stkdr__free(mk);
}
END_TEST

START_TEST(restore_pitr_needs_a_point_in_time)
{
	stkdr_restore_options o;
	tu_assert_ok(stkdr_restore_options_init(&o, STKDR_RESTORE_OPTIONS_VERSION));
	o.target = STKDR_RESTORE_TARGET_SNAPSHOT;
	o.target_dir = dir;
	ck_assert_int_eq(stkdr_restore_pitr(NULL, ctx, &o), STKDR_EINVAL);
	ck_assert(strstr(stkdr_ctx_last_error(ctx)->message, "stkdr_restore()") != NULL);
	ck_assert_int_eq(stkdr_restore_pitr(NULL, ctx, NULL), STKDR_EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wal");
	void (*setups[])(void) = { setup_gzip, setup_zstd, setup_none };
	const char *names[] = { "gzip", "zstd", "none" };
	for (int i = 0; i < 3; i++) {
		TCase *tc = tcase_create(names[i]);
		tcase_add_checked_fixture(tc, setups[i], teardown);
		tcase_add_test(tc, push_get_round_trip);
		tcase_add_test(tc, push_is_idempotent_and_refuses_conflicts);
		tcase_add_test(tc, bad_names_and_missing);
		tcase_add_test(tc, corruption_is_detected);
		tcase_add_test(tc, two_copies_are_ambiguous);
		tcase_add_test(tc, same_content_under_another_compression);
		tcase_add_test(tc, objects_named_by_the_raw_hash_are_read);
		tcase_add_test(tc, prefetch_spools_what_follows);
		tcase_add_test(tc, prefetch_names_a_corrupt_segment);
		tcase_add_test(tc, restore_pitr_needs_a_point_in_time);
		suite_add_tcase(s, tc);
	}
	return tu_run_suite(s);
}
