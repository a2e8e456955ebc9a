/* The local DNS backend: records in a JSON file. */
#include "testutil.h"

#include "backends/local/local.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *dir;
static char *path;
static stkdr_dns *dns;

static void setup(void)
{
	dir = tu_mkdtemp("dns");
	path = tu_path(dir, "zone/records.json");
	tu_assert_ok(stkdr__local_dns_new(&dns, path));
}

static void teardown(void)
{
	if (dns)
		dns->base.free(&dns->base);
	dns = NULL;
	stkdr__free(path);
	path = NULL;
	tu_rmtree_free(dir);
	dir = NULL;
}

static int upsert(const char *name, const char *type, const char *value, int64_t ttl, stkdr_buf *cid)
{
	stkdr_dns_record r = { STKDR_DNS_RECORD_VERSION, name, type, value, ttl };
	return dns->upsert(cid, dns, &r);
}

typedef struct found {
	char names[16][128];
	char types[16][8];
	char values[16][256];
	int64_t ttls[16];
	int n;
	int stop;
} found;

static int found_cb(const stkdr_dns_record *rec, void *payload)
{
	found *f = payload;
	ck_assert_uint_eq(rec->version, STKDR_DNS_RECORD_VERSION);
	ck_assert_int_lt(f->n, 16);
	snprintf(f->names[f->n], sizeof f->names[0], "%s", rec->name);
	snprintf(f->types[f->n], sizeof f->types[0], "%s", rec->type);
	snprintf(f->values[f->n], sizeof f->values[0], "%s", rec->value);
	f->ttls[f->n] = rec->ttl;
	f->n++;
	return f->stop ? -4 : 0;
}

static int get(found *f, const char *name, const char *type)
{
	memset(f, 0, sizeof *f);
	return dns->get(dns, name, type, found_cb, f);
}

static void write_file(const char *text)
{
	char *zone = tu_path(dir, "zone");
	mkdir(zone, 0755);
	stkdr__free(zone);
	tu_write_file(path, text, strlen(text));
}

START_TEST(test_upsert_get_replace)
{
	stkdr_buf c1 = STKDR_BUF_INIT, c2 = STKDR_BUF_INIT;
	found f;
	tu_assert_rc(get(&f, "hub.santokit.com", "A"), STKDR_ENOTFOUND); /* no file yet */
	tu_assert_errmsg("hub.santokit.com");
	tu_assert_ok(upsert("hub.santokit.com", "A", "10.0.0.1", 60, &c1));
	ck_assert_uint_gt(c1.size, 0);
	tu_assert_ok(get(&f, "hub.santokit.com", "A"));
	ck_assert_int_eq(f.n, 1);
	ck_assert_str_eq(f.names[0], "hub.santokit.com");
	ck_assert_str_eq(f.types[0], "A");
	ck_assert_str_eq(f.values[0], "10.0.0.1");
	ck_assert_int_eq(f.ttls[0], 60);
	tu_assert_ok(dns->wait_sync(dns, c1.ptr, 1000));

	tu_assert_ok(upsert("hub.santokit.com", "A", "10.0.0.2", 30, &c2));
	ck_assert_str_ne(c1.ptr, c2.ptr);
	tu_assert_ok(get(&f, "hub.santokit.com", "A"));
	ck_assert_int_eq(f.n, 1);
	ck_assert_str_eq(f.values[0], "10.0.0.2");
	ck_assert_int_eq(f.ttls[0], 30);
	tu_assert_ok(dns->wait_sync(dns, c2.ptr, 0));
	tu_assert_ok(dns->wait_sync(dns, c1.ptr, 0)); /* superseded, still known */
	tu_assert_rc(dns->wait_sync(dns, "C-UNKNOWN", 0), STKDR_ENOTFOUND);
	tu_assert_errmsg("C-UNKNOWN");
	tu_assert_rc(dns->wait_sync(dns, NULL, 0), STKDR_EINVAL);
	tu_assert_rc(dns->wait_sync(dns, "", 0), STKDR_EINVAL);

	/* The file is the documented JSON. */
	char *text = tu_read_file(path, NULL);
	cJSON *doc = cJSON_Parse(text);
	ck_assert_ptr_nonnull(doc);
	ck_assert_int_eq(cJSON_GetObjectItem(doc, "format")->valueint, 1);
	cJSON *recs = cJSON_GetObjectItem(doc, "records");
	ck_assert_int_eq(cJSON_GetArraySize(recs), 1);
	cJSON *r = cJSON_GetArrayItem(recs, 0);
	ck_assert_str_eq(cJSON_GetObjectItem(r, "change_id")->valuestring, c2.ptr);
	ck_assert(cJSON_IsString(cJSON_GetObjectItem(r, "changed_at")));
	cJSON_Delete(doc);
	stkdr__free(text);
	stkdr_buf_dispose(&c1);
	stkdr_buf_dispose(&c2);
}
END_TEST

START_TEST(test_types_and_case)
{
	tu_assert_ok(upsert("Hub.Santokit.COM.", "a", "10.0.0.1", 60, NULL));
	tu_assert_ok(upsert("hub.santokit.com", "TXT", "v=spf1 -all", 300, NULL));
	tu_assert_ok(upsert("hub.santokit.com", "AAAA", "2001:db8::1", 300, NULL));
	tu_assert_ok(upsert("www.santokit.com", "cname", "Hub.Santokit.COM.", 300, NULL));
	found f;
	tu_assert_ok(get(&f, "HUB.santokit.com.", "A"));
	ck_assert_int_eq(f.n, 1);
	ck_assert_str_eq(f.names[0], "hub.santokit.com");
	ck_assert_str_eq(f.types[0], "A");
	tu_assert_ok(get(&f, "hub.santokit.com", NULL));
	ck_assert_int_eq(f.n, 3);
	tu_assert_ok(get(&f, "hub.santokit.com", "txt"));
	ck_assert_int_eq(f.n, 1);
	ck_assert_str_eq(f.values[0], "v=spf1 -all");
	tu_assert_ok(get(&f, "www.santokit.com", "CNAME"));
	ck_assert_str_eq(f.values[0], "hub.santokit.com");
	tu_assert_rc(get(&f, "hub.santokit.com", "CNAME"), STKDR_ENOTFOUND);
	tu_assert_errmsg("of type CNAME");
	tu_assert_rc(get(&f, "other.santokit.com", NULL), STKDR_ENOTFOUND);
	/* The callback may stop. */
	memset(&f, 0, sizeof f);
	f.stop = 1;
	stkdr_error_clear();
	tu_assert_rc(dns->get(dns, "hub.santokit.com", NULL, found_cb, &f), -4);
	ck_assert_int_eq(f.n, 1);
	tu_assert_errmsg("stopped by the callback");
	tu_assert_rc(dns->get(dns, "hub.santokit.com", NULL, NULL, NULL), STKDR_EINVAL);
}
END_TEST

START_TEST(test_hand_written_file)
{
	write_file("{\"format\":1,\"records\":[{\"name\":\"DB.Example.ORG.\",\"type\":\"a\",\"value\":\"192.0.2.7\","
		"\"ttl\":5}],\"extra\":true}");
	found f;
	tu_assert_ok(get(&f, "db.example.org", "A"));
	ck_assert_int_eq(f.n, 1);
	ck_assert_str_eq(f.values[0], "192.0.2.7");
	tu_assert_rc(dns->wait_sync(dns, "C1", 0), STKDR_ENOTFOUND);
	/* An upsert replaces the hand-written record and keeps others' fields. */
	tu_assert_ok(upsert("db.example.org", "A", "192.0.2.8", 5, NULL));
	tu_assert_ok(get(&f, "db.example.org", NULL));
	ck_assert_int_eq(f.n, 1);
	ck_assert_str_eq(f.values[0], "192.0.2.8");
	ck_assert_str_eq(f.names[0], "db.example.org");
}
END_TEST

static const char *const malformed[] = {
	"not json",
	"[]",
	"{}",
	"{\"format\":\"1\",\"records\":[]}",
	"{\"format\":0,\"records\":[]}",
	"{\"format\":1.5,\"records\":[]}",
	"{\"format\":1}",
	"{\"format\":1,\"records\":{}}",
	"{\"format\":1,\"records\":[1]}",
	"{\"format\":1,\"records\":[{\"name\":\"a\",\"type\":\"A\"}]}",
	"{\"format\":1,\"records\":[{\"name\":\"a\",\"type\":\"A\",\"value\":\"1.2.3.4\"}]}",
	"{\"format\":1,\"records\":[{\"name\":\"a\",\"type\":\"A\",\"value\":\"1.2.3.4\",\"ttl\":0}]}",
	"{\"format\":1,\"records\":[{\"name\":\"a\",\"type\":\"A\",\"value\":\"1.2.3.4\",\"ttl\":1.5}]}",
	"{\"format\":1,\"records\":[{\"name\":\"a\",\"type\":\"A\",\"value\":\"1.2.3.4\",\"ttl\":1,\"change_id\":7}]}",
	"{\"format\":1,\"records\":[],\"changes\":{}}",
	"{\"format\":1,\"records\":[],\"changes\":[1]}",
	"{\"format\":1,\"records\":[]} trailing",
};

START_TEST(test_malformed_file)
{
	write_file(malformed[_i]);
	found f;
	tu_assert_rc(get(&f, "a", NULL), STKDR_ECORRUPT);
	tu_assert_errmsg(path);
	tu_assert_errmsg("malformed");
	tu_assert_rc(upsert("a", "A", "1.2.3.4", 60, NULL), STKDR_ECORRUPT);
	tu_assert_rc(dns->wait_sync(dns, "C1", 0), STKDR_ECORRUPT);
	/* The file was left as it was. */
	char *text = tu_read_file(path, NULL);
	ck_assert_str_eq(text, malformed[_i]);
	stkdr__free(text);
}
END_TEST

START_TEST(test_file_with_nul_and_newer_format)
{
	char *zone = tu_path(dir, "zone");
	mkdir(zone, 0755);
	stkdr__free(zone);
	tu_write_file(path, "{\"format\":1,\"records\":[]}\0", 27);
	found f;
	tu_assert_rc(get(&f, "a", NULL), STKDR_ECORRUPT);
	tu_assert_errmsg("NUL");
	write_file("{\"format\":2,\"records\":[]}");
	tu_assert_rc(get(&f, "a", NULL), STKDR_EVERSION);
	tu_assert_errmsg("upgrade libstkdr");
}
END_TEST

START_TEST(test_invalid_records)
{
	tu_assert_rc(upsert("a.example", "A", "1.2.3.4", 0, NULL), STKDR_EINVAL);
	tu_assert_errmsg("TTL 0");
	tu_assert_rc(upsert("a.example", "A", "1.2.3.4", -5, NULL), STKDR_EINVAL);
	tu_assert_rc(upsert("a.example", "A", "1.2.3.4", 2147483648LL, NULL), STKDR_EINVAL);
	tu_assert_ok(upsert("a.example", "A", "1.2.3.4", 2147483647LL, NULL));
	tu_assert_ok(upsert("a.example", "TXT", "x", 1, NULL));
	tu_assert_rc(upsert("a.example", "MX", "10 mail", 60, NULL), STKDR_EINVAL);
	tu_assert_errmsg("'MX'");
	tu_assert_rc(upsert("a.example", NULL, "x", 60, NULL), STKDR_EINVAL);
	tu_assert_rc(upsert("a.example", "A", "999.1.1.1", 60, NULL), STKDR_EINVAL);
	tu_assert_errmsg("IPv4");
	tu_assert_rc(upsert("a.example", "AAAA", "1.2.3.4", 60, NULL), STKDR_EINVAL);
	tu_assert_errmsg("IPv6");
	tu_assert_rc(upsert("a.example", "CNAME", "bad target!", 60, NULL), STKDR_EINVAL);
	tu_assert_rc(upsert("a.example", "TXT", "", 60, NULL), STKDR_EINVAL);
	tu_assert_rc(upsert("a.example", "TXT", NULL, 60, NULL), STKDR_EINVAL);
	char big[5000];
	memset(big, 't', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	tu_assert_rc(upsert("a.example", "TXT", big, 60, NULL), STKDR_EINVAL);
	tu_assert_rc(dns->upsert(NULL, dns, NULL), STKDR_EINVAL);
	stkdr_dns_record r = { 0, "a.example", "A", "1.2.3.4", 60 };
	tu_assert_rc(dns->upsert(NULL, dns, &r), STKDR_EVERSION);
	r.version = 99;
	tu_assert_rc(dns->upsert(NULL, dns, &r), STKDR_EVERSION);
	found f;
	tu_assert_rc(get(&f, "a.example", "SRV"), STKDR_EINVAL);
	tu_assert_ok(get(&f, "a.example", NULL));
	ck_assert_int_eq(f.n, 2);
}
END_TEST

static const char *const bad_names[] = {
	"", ".", "a..b", ".a", "a b", "a/b", "ünï.example", "a.example..",
	"toolonglabel-toolonglabel-toolonglabel-toolonglabel-toolonglabel.example",
};

START_TEST(test_invalid_names)
{
	tu_assert_rc(upsert(bad_names[_i], "A", "1.2.3.4", 60, NULL), STKDR_EINVAL);
	tu_assert_errmsg("DNS name");
	found f;
	tu_assert_rc(get(&f, bad_names[_i], NULL), STKDR_EINVAL);
}
END_TEST

START_TEST(test_name_limits)
{
	char name[300];
	size_t n = 0;
	while (n < 250) {
		memcpy(name + n, "abcdefghi.", 10);
		n += 10;
	}
	memcpy(name + n, "abc", 3);
	name[n + 3] = '\0'; /* 253 characters */
	tu_assert_ok(upsert(name, "A", "1.2.3.4", 60, NULL));
	name[n + 3] = 'd';
	name[n + 4] = '\0';
	tu_assert_rc(upsert(name, "A", "1.2.3.4", 60, NULL), STKDR_EINVAL);
	tu_assert_errmsg("253");
	tu_assert_ok(upsert("*.wild_card-1.example", "A", "1.2.3.4", 60, NULL));
	tu_assert_rc(upsert(NULL, "A", "1.2.3.4", 60, NULL), STKDR_EINVAL);
}
END_TEST

START_TEST(test_changes_capped)
{
	stkdr_buf first = STKDR_BUF_INIT, last = STKDR_BUF_INIT;
	tu_assert_ok(upsert("c.example", "A", "1.1.1.1", 60, &first));
	for (int i = 0; i < 300; i++) {
		stkdr_buf_dispose(&last);
		char v[32];
		snprintf(v, sizeof v, "10.0.%d.%d", i / 256, i % 256);
		tu_assert_ok(upsert("c.example", "A", v, 60, &last));
	}
	tu_assert_rc(dns->wait_sync(dns, first.ptr, 0), STKDR_ENOTFOUND);
	tu_assert_ok(dns->wait_sync(dns, last.ptr, 0));
	char *text = tu_read_file(path, NULL);
	cJSON *doc = cJSON_Parse(text);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "changes")), 256);
	cJSON_Delete(doc);
	stkdr__free(text);
	stkdr_buf_dispose(&first);
	stkdr_buf_dispose(&last);
}
END_TEST

START_TEST(test_concurrent_upserts)
{
	enum { P = 8 };
	pid_t pids[P];
	for (int i = 0; i < P; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0) {
			stkdr_dns *mine = NULL;
			if (stkdr__local_dns_new(&mine, path) != 0)
				_exit(2);
			for (int j = 0; j < 5; j++) {
				char name[64];
				snprintf(name, sizeof name, "host%d-%d.example", i, j);
				stkdr_dns_record r = { STKDR_DNS_RECORD_VERSION, name, "A", "10.1.1.1", 60 };
				if (mine->upsert(NULL, mine, &r) != 0)
					_exit(3);
			}
			mine->base.free(&mine->base);
			_exit(0);
		}
	}
	for (int i = 0; i < P; i++) {
		int status;
		ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	found f;
	for (int i = 0; i < P; i++)
		for (int j = 0; j < 5; j++) {
			char name[64];
			snprintf(name, sizeof name, "host%d-%d.example", i, j);
			tu_assert_ok(get(&f, name, "A"));
		}
}
END_TEST

START_TEST(test_constructor_and_ctl)
{
	stkdr_dns *d2 = NULL;
	tu_assert_rc(stkdr__local_dns_new(&d2, ""), STKDR_EINVAL);
	tu_assert_rc(stkdr__local_dns_new(&d2, NULL), STKDR_EINVAL);
	tu_assert_rc(stkdr__local_dns_new(NULL, path), STKDR_EINVAL);
	ck_assert_str_eq(dns->base.name, "local");
	ck_assert_int_eq(dns->base.kind, STKDR_BACKEND_DNS);
	tu_assert_ok(dns->base.ctl(&dns->base, STKDR_CTL_ATTACH, NULL));
	tu_assert_rc(dns->base.ctl(&dns->base, 1234, NULL), STKDR_ENOTSUPPORTED);
	dns->base.free(NULL);
	/* A records file whose directory cannot exist. */
	char *file = tu_path(dir, "plain");
	tu_write_file(file, "x", 1);
	char *bad = tu_path(file, "records.json");
	tu_assert_ok(stkdr__local_dns_new(&d2, bad));
	stkdr_dns_record r = { STKDR_DNS_RECORD_VERSION, "a.example", "A", "1.2.3.4", 60 };
	tu_assert_rc(d2->upsert(NULL, d2, &r), STKDR_EIO);
	found f;
	memset(&f, 0, sizeof f);
	tu_assert_rc(d2->get(d2, "a.example", NULL, found_cb, &f), STKDR_EIO);
	d2->base.free(&d2->base);
	/* A directory where the lock file should be. */
	char *lockdir = stkdr__aprintf("%s.lock", path);
	char *zone = tu_path(dir, "zone");
	mkdir(zone, 0755);
	mkdir(lockdir, 0755);
	tu_assert_rc(upsert("a.example", "A", "1.2.3.4", 60, NULL), STKDR_EIO);
	tu_assert_errmsg("lock");
	stkdr__free(zone);
	stkdr__free(lockdir);
	stkdr__free(bad);
	stkdr__free(file);
}
END_TEST

static char g_change[64];

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

static int op_dns_upsert(void)
{
	stkdr_buf cid = STKDR_BUF_INIT;
	int rc = upsert("sweep.example", "A", "10.9.9.9", 60, &cid);
	stkdr_buf_dispose(&cid);
	return rc;
}

static void check_dns_upsert(int rc)
{
	found f;
	int gr = get(&f, "sweep.example", "A");
	ck_assert(gr == 0 || (rc != 0 && gr == STKDR_ENOTFOUND));
	ck_assert(gr != 0 || strcmp(f.values[0], "10.9.9.9") == 0);
	tu_assert_ok(get(&f, "keep.example", "A")); /* other records survive */
	ck_assert_str_eq(f.values[0], "10.1.1.1");
}

static int op_dns_read(void)
{
	found f;
	int rc = get(&f, "keep.example", NULL);
	if (rc == 0)
		rc = dns->wait_sync(dns, g_change, 0);
	return rc;
}

static void check_none(int rc)
{
}

static int op_dns_new(void)
{
	stkdr_dns *d2 = NULL;
	int rc = stkdr__local_dns_new(&d2, path);
	if (rc == 0)
		d2->base.free(&d2->base);
	return rc;
}

START_TEST(test_enomem_sweep)
{
	stkdr_buf cid = STKDR_BUF_INIT;
	tu_assert_ok(upsert("keep.example", "A", "10.1.1.1", 60, &cid));
	snprintf(g_change, sizeof g_change, "%s", cid.ptr);
	stkdr_buf_dispose(&cid);
	tu_enomem_sweep(op_dns_upsert, check_dns_upsert);
	tu_enomem_sweep(op_dns_read, check_none);
	tu_enomem_sweep(op_dns_new, check_none);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("local_dns");
	TCase *tc = tcase_create("dns");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_upsert_get_replace);
	tcase_add_test(tc, test_types_and_case);
	tcase_add_test(tc, test_hand_written_file);
	tcase_add_loop_test(tc, test_malformed_file, 0, (int)STKDR__ARRAY_SIZE(malformed));
	tcase_add_test(tc, test_file_with_nul_and_newer_format);
	tcase_add_test(tc, test_invalid_records);
	tcase_add_loop_test(tc, test_invalid_names, 0, (int)STKDR__ARRAY_SIZE(bad_names));
	tcase_add_test(tc, test_name_limits);
	tcase_add_test(tc, test_changes_capped);
	tcase_add_test(tc, test_concurrent_upserts);
	tcase_add_test(tc, test_constructor_and_ctl);
	suite_add_tcase(s, tc);

	tc = tcase_create("enomem");
	tcase_add_checked_fixture(tc, enomem_setup, enomem_teardown);
	tcase_add_test(tc, test_enomem_sweep);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
