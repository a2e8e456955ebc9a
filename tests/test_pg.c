/* services/pg (libpq wrapper) and services/proc (programs, pg_ctl), against real test clusters. */
#include "pgtest.h"

#include "core/stream.h"
#include "services/pg.h"
#include "services/proc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static pgt_cluster *g_c;   /* shared by the "pg" test case */
static pgt_cluster *g_ctl; /* shared by the "pgctl" test case */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static stkdr__pg *connect_ok(const char *conninfo, int replication)
{
	stkdr__pg *pg = NULL;
	tu_assert_ok(stkdr__pg_connect(&pg, conninfo, replication));
	ck_assert_ptr_nonnull(pg);
	return pg;
}

static void assert_usable(stkdr__pg *pg)
{
	stkdr_buf v = STKDR_BUF_INIT;
	tu_assert_ok(stkdr__pg_query_value(pg, &v, NULL, "SELECT 40 + 2", 0, NULL));
	ck_assert_str_eq(v.ptr, "42");
	stkdr_buf_dispose(&v);
}

static int64_t count_rows(stkdr__pg *pg, const char *table)
{
	stkdr_buf v = STKDR_BUF_INIT;
	char *sql = stkdr__aprintf("SELECT count(*) FROM %s", table);
	tu_assert_ok(stkdr__pg_query_value(pg, &v, NULL, sql, 0, NULL));
	int64_t n = strtoll(v.ptr, NULL, 10);
	stkdr__free(sql);
	stkdr_buf_dispose(&v);
	return n;
}

/* ================= proc ================= */

static int run_sh(const char *script, stkdr_buf *out, int64_t timeout_ms, int *status)
{
	const char *argv[] = { "/bin/sh", "-c", script, NULL };
	return stkdr__proc_run(argv, NULL, NULL, NULL, out, timeout_ms, status);
}

START_TEST(proc_exit_codes)
{
	int st = -1;
	tu_assert_ok(run_sh("exit 0", NULL, 10000, &st));
	ck_assert_int_eq(st, 0);
	tu_assert_ok(run_sh("exit 3", NULL, 10000, &st));
	ck_assert_int_eq(st, 3);
	tu_assert_ok(run_sh("kill -9 $$", NULL, 10000, &st));
	ck_assert_int_eq(st, 128 + 9);
	tu_assert_ok(run_sh("exit 0", NULL, 0, NULL));
}
END_TEST

START_TEST(proc_output_capture)
{
	stkdr_buf out = STKDR_BUF_INIT;
	int st = -1;
	tu_assert_ok(run_sh("echo out; echo err >&2; read x; echo \"stdin:[$x]\"", &out, 10000, &st));
	ck_assert_int_eq(st, 0);
	ck_assert_str_eq(out.ptr, "out\nerr\nstdin:[]\n");
	/* replaced, not appended */
	tu_assert_ok(run_sh("printf again", &out, 10000, &st));
	ck_assert_str_eq(out.ptr, "again");
	stkdr_buf_dispose(&out);
}
END_TEST

START_TEST(proc_output_keeps_tail)
{
	stkdr_buf out = STKDR_BUF_INIT;
	int st = -1;
	tu_assert_ok(run_sh("head -c 3000000 /dev/zero | tr '\\000' a; echo END", &out, 20000, &st));
	ck_assert_int_eq(st, 0);
	ck_assert_uint_eq(out.size, 1024 * 1024);
	ck_assert_str_eq(out.ptr + out.size - 5, "aEND\n");
	ck_assert_int_eq(out.ptr[0], 'a');
	stkdr_buf_dispose(&out);
}
END_TEST

START_TEST(proc_env_cwd_fds)
{
	const char *argv[] = { "/bin/sh", "-c", "echo \"$STKDR_T|$HOME\"; pwd; test -e /proc/$$/fd/57 && echo leaked",
		NULL };
	const char *env[] = { "STKDR_T=hello world", "HOME=/nonexistent-home", NULL };
	stkdr_buf out = STKDR_BUF_INIT;
	int st = -1;
	int fd = open("/dev/null", O_RDONLY); /* deliberately without O_CLOEXEC */
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(dup2(fd, 57), 57);
	tu_assert_ok(stkdr__proc_run(argv, NULL, "/", env, &out, 10000, &st));
	close(57);
	close(fd);
	ck_assert_str_eq(out.ptr, "hello world|/nonexistent-home\n/\n");
	ck_assert_int_eq(st, 1); /* `test` failed: fd 57 was not inherited */
	stkdr_buf_dispose(&out);
}
END_TEST

START_TEST(proc_timeout_term)
{
	const char *argv[] = { "/bin/sleep", "10", NULL };
	int st = -1;
	int64_t t0 = now_ms();
	int rc = stkdr__proc_run(argv, NULL, NULL, NULL, NULL, 300, &st);
	int64_t took = now_ms() - t0;
	tu_assert_rc(rc, STKDR_ETIMEOUT);
	tu_assert_errmsg("/bin/sleep");
	ck_assert_int_ge(took, 290);
	ck_assert_int_lt(took, 2000);
	ck_assert_int_eq(st, 128 + 15);
}
END_TEST

START_TEST(proc_timeout_kill)
{
	/* SIGTERM is ignored (also by the sleep, which inherits the disposition): SIGKILL follows after 5 s */
	int st = -1;
	int64_t t0 = now_ms();
	int rc = run_sh("trap '' TERM; sleep 20; echo survived", NULL, 200, &st);
	int64_t took = now_ms() - t0;
	tu_assert_rc(rc, STKDR_ETIMEOUT);
	ck_assert_int_eq(st, 128 + 9);
	ck_assert_int_ge(took, 5000);
	ck_assert_int_lt(took, 8000);
}
END_TEST

START_TEST(proc_missing_program)
{
	const char *argv[] = { "/nonexistent/stkdr-prog", "x", NULL };
	int st = 0;
	tu_assert_rc(stkdr__proc_run(argv, NULL, NULL, NULL, NULL, 1000, &st), STKDR_ENOTFOUND);
	tu_assert_errmsg("/nonexistent/stkdr-prog");
	const char *rel[] = { "sh", "-c", "true", NULL };
	tu_assert_rc(stkdr__proc_run(rel, NULL, NULL, NULL, NULL, 1000, &st), STKDR_EINVAL);
	const char *argv2[] = { "/bin/true", NULL };
	tu_assert_rc(stkdr__proc_run(argv2, NULL, "/nonexistent-dir", NULL, NULL, 1000, &st), STKDR_ENOTFOUND);
	tu_assert_errmsg("/nonexistent-dir");
}
END_TEST

START_TEST(proc_run_as)
{
	const char *argv[] = { "/bin/sh", "-c", "id -un; echo \"$HOME\"", NULL };
	stkdr_buf out = STKDR_BUF_INIT;
	int st = -1;
	if (geteuid() != 0) {
		/* not root: run_as is ignored */
		tu_assert_ok(stkdr__proc_run(argv, "postgres", NULL, NULL, &out, 10000, &st));
		ck_assert_int_eq(st, 0);
		stkdr_buf_dispose(&out);
		return;
	}
	struct passwd *pw = getpwnam("postgres");
	if (!pw) {
		fprintf(stderr, "SKIP proc_run_as: no postgres user\n");
		return;
	}
	char *want = stkdr__aprintf("postgres\n%s\n", pw->pw_dir);
	tu_assert_ok(stkdr__proc_run(argv, "postgres", "/", NULL, &out, 10000, &st));
	ck_assert_int_eq(st, 0);
	ck_assert_str_eq(out.ptr, want);
	tu_assert_rc(stkdr__proc_run(argv, "no-such-user-stkdr", "/", NULL, &out, 10000, &st), STKDR_ENOTFOUND);
	tu_assert_errmsg("no-such-user-stkdr");
	stkdr__free(want);
	stkdr_buf_dispose(&out);
}
END_TEST

START_TEST(proc_owner_and_port)
{
	char *dir = tu_mkdtemp("owner");
	stkdr_buf user = STKDR_BUF_INIT;
	struct passwd *me = getpwuid(geteuid());
	ck_assert_ptr_nonnull(me);
	tu_assert_ok(stkdr__proc_owner(&user, dir));
	ck_assert_str_eq(user.ptr, me->pw_name);
	tu_assert_rc(stkdr__proc_owner(&user, "/nonexistent/stkdr"), STKDR_ENOTFOUND);
	stkdr_buf_dispose(&user);
	tu_rmtree_free(dir);

	int port = 0;
	tu_assert_ok(stkdr__proc_free_port(&port));
	ck_assert_int_gt(port, 0);
	ck_assert_int_lt(port, 65536);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	close(fd);
}
END_TEST

/* ================= pg ================= */

static void pg_setup(void)
{
	g_c = pgt_start("pg", NULL);
}

static void pg_teardown(void)
{
	pgt_destroy(g_c);
	g_c = NULL;
}

START_TEST(pg_connect_ok)
{
	stkdr__pg *pg = connect_ok(g_c->conninfo, 0);
	ck_assert_int_ge(stkdr__pg_server_version(pg), 150000);
	ck_assert_ptr_nonnull(stkdr__pg_conn(pg));
	char *want = stkdr__aprintf("postgres@127.0.0.1:%d/postgres", g_c->port);
	ck_assert_str_eq(stkdr__pg_describe(pg), want);
	assert_usable(pg);
	stkdr__free(want);
	stkdr__pg_close(pg);
	stkdr__pg_close(NULL);

	/* URI form, connect_timeout given: kept */
	char *uri = stkdr__aprintf("postgresql://postgres@127.0.0.1:%d/postgres?connect_timeout=3", g_c->port);
	pg = connect_ok(uri, 0);
	ck_assert_str_eq(PQparameterStatus(stkdr__pg_conn(pg), "application_name"), "libstkdr");
	stkdr__pg_close(pg);
	stkdr__free(uri);
}
END_TEST

START_TEST(pg_bad_conninfo)
{
	stkdr__pg *pg = (stkdr__pg *)1;
	tu_assert_rc(stkdr__pg_connect(&pg, "host=127.0.0.1 port", 0), STKDR_EINVAL);
	ck_assert_ptr_null(pg);
	tu_assert_errmsg("invalid PostgreSQL connection string");
	tu_assert_rc(stkdr__pg_connect(&pg, "hots=127.0.0.1", 0), STKDR_EINVAL);
	tu_assert_errmsg("hots");
	/* a password split by a blank: the second word must not be echoed */
	tu_assert_rc(stkdr__pg_connect(&pg, "host=127.0.0.1 password=topsecret xyzzy", 0), STKDR_EINVAL);
	ck_assert_ptr_null(strstr(stkdr__err_get()->message, "xyzzy"));
	ck_assert_ptr_null(strstr(stkdr__err_get()->message, "topsecret"));
}
END_TEST

START_TEST(pg_unreachable)
{
	int port = 0;
	tu_assert_ok(stkdr__proc_free_port(&port));
	char *ci = stkdr__aprintf("host=127.0.0.1 port=%d user=postgres password=topsecret dbname=postgres", port);
	char *hp = stkdr__aprintf("127.0.0.1:%d", port);
	stkdr__pg *pg = NULL;
	tu_assert_rc(stkdr__pg_connect(&pg, ci, 0), STKDR_EBACKEND);
	ck_assert_ptr_null(pg);
	const stkdr_error *e = stkdr__err_get();
	ck_assert_int_eq(e->klass, STKDR_ERRCLASS_POSTGRES);
	tu_assert_errmsg(hp);
	tu_assert_errmsg("is the server running");
	ck_assert_ptr_null(strstr(e->message, "topsecret"));
	stkdr__free(ci);
	stkdr__free(hp);
}
END_TEST

START_TEST(pg_missing_db_and_role)
{
	stkdr__pg *pg = NULL;
	char *ci = stkdr__aprintf("host=127.0.0.1 port=%d user=postgres dbname=no_such_db", g_c->port);
	tu_assert_rc(stkdr__pg_connect(&pg, ci, 0), STKDR_ENOTFOUND);
	ck_assert_str_eq(stkdr__err_get()->backend_code, "3D000");
	tu_assert_errmsg("no_such_db");
	stkdr__free(ci);
	ci = stkdr__aprintf("host=127.0.0.1 port=%d user=no_such_role password=topsecret dbname=postgres", g_c->port);
	tu_assert_rc(stkdr__pg_connect(&pg, ci, 0), STKDR_EAUTH);
	tu_assert_errmsg("no_such_role");
	ck_assert_ptr_null(strstr(stkdr__err_get()->message, "topsecret"));
	stkdr__free(ci);
}
END_TEST

START_TEST(pg_sql_errors)
{
	stkdr__pg *pg = connect_ok(g_c->conninfo, 0);
	const stkdr_error *e = stkdr__err_get();
	tu_assert_rc(stkdr__pg_exec(pg, NULL, "SELEC 1", 0, NULL), STKDR_EBACKEND);
	ck_assert_int_eq(e->klass, STKDR_ERRCLASS_POSTGRES);
	ck_assert_str_eq(e->backend_code, "42601");
	tu_assert_errmsg("SELEC 1: syntax error");
	tu_assert_errmsg("(SQLSTATE 42601)");

	tu_assert_ok(stkdr__pg_exec(pg, NULL, "CREATE TEMP TABLE u (k int PRIMARY KEY)", 0, NULL));
	const char *one[] = { "1" };
	tu_assert_ok(stkdr__pg_exec(pg, NULL, "INSERT INTO u VALUES ($1)", 1, one));
	tu_assert_rc(stkdr__pg_exec(pg, NULL, "INSERT INTO u VALUES ($1)", 1, one), STKDR_EEXISTS);
	ck_assert_str_eq(e->backend_code, "23505");
	tu_assert_errmsg("duplicate key");

	tu_assert_rc(stkdr__pg_exec(pg, NULL, "SELECT * FROM no_such_table", 0, NULL), STKDR_ENOTFOUND);
	ck_assert_str_eq(e->backend_code, "42P01");
	tu_assert_rc(stkdr__pg_exec(pg, NULL, "SELECT no_such_function(1)", 0, NULL), STKDR_ENOTFOUND);
	ck_assert_str_eq(e->backend_code, "42883");
	tu_assert_rc(stkdr__pg_exec(pg, NULL, "SELECT 1/0", 0, NULL), STKDR_EBACKEND);
	ck_assert_str_eq(e->backend_code, "22012");

	/* a statement carrying a password is cut before it */
	tu_assert_rc(stkdr__pg_exec(pg, NULL, "ALTER ROLE no_such_role PASSWORD 'topsecret'", 0, NULL), STKDR_EBACKEND);
	ck_assert_str_eq(e->backend_code, "42704");
	tu_assert_errmsg("ALTER ROLE no_such_role");
	ck_assert_ptr_null(strstr(e->message, "topsecret"));

	/* long statements are cut to 80 characters, on one line */
	tu_assert_rc(stkdr__pg_exec(pg, NULL, "SELECT\n\t1,\n\t2 FROM no_such_table_with_a_rather_long_name_that_goes_on "
		"WHERE aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa = 1", 0, NULL), STKDR_ENOTFOUND);
	tu_assert_errmsg("SELECT 1, 2 FROM no_such_table");
	ck_assert_ptr_null(strstr(e->message, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));

	/* COPY is refused by exec and the connection stays usable */
	tu_assert_rc(stkdr__pg_exec(pg, NULL, "COPY (SELECT 1) TO STDOUT", 0, NULL), STKDR_EINVAL);
	tu_assert_rc(stkdr__pg_exec(pg, NULL, "COPY u FROM STDIN", 0, NULL), STKDR_EINVAL);
	assert_usable(pg);
	ck_assert_int_eq(count_rows(pg, "u"), 1);

	void *res = NULL;
	tu_assert_ok(stkdr__pg_exec(pg, &res, "SELECT k FROM u", 0, NULL));
	ck_assert_ptr_nonnull(res);
	ck_assert_int_eq(PQntuples(res), 1);
	PQclear(res);
	stkdr__pg_close(pg);
}
END_TEST

START_TEST(pg_query_value)
{
	stkdr__pg *pg = connect_ok(g_c->conninfo, 0);
	stkdr_buf v = STKDR_BUF_INIT;
	int is_null = -1;
	tu_assert_ok(stkdr__pg_query_value(pg, &v, &is_null, "SELECT NULL::text", 0, NULL));
	ck_assert_int_eq(is_null, 1);
	ck_assert_uint_eq(v.size, 0);
	tu_assert_ok(stkdr__pg_query_value(pg, &v, &is_null, "SELECT 'x' || 'y'", 0, NULL));
	ck_assert_int_eq(is_null, 0);
	ck_assert_str_eq(v.ptr, "xy");
	const char *params[] = { "41", NULL };
	tu_assert_ok(stkdr__pg_query_value(pg, &v, &is_null, "SELECT $1::int + 1, $2::text IS NULL", 2, params));
	ck_assert_str_eq(v.ptr, "42");
	tu_assert_rc(stkdr__pg_query_value(pg, &v, &is_null, "SELECT 1 WHERE false", 0, NULL), STKDR_ENOTFOUND);
	tu_assert_errmsg("no rows");
	tu_assert_rc(stkdr__pg_query_value(pg, &v, NULL, "SET work_mem = '8MB'", 0, NULL), STKDR_ENOTFOUND);
	stkdr_buf_dispose(&v);
	stkdr__pg_close(pg);
}
END_TEST

START_TEST(pg_copy_out_100k)
{
	stkdr__pg *pg = connect_ok(g_c->conninfo, 0);
	stkdr_buf want = STKDR_BUF_INIT, got = STKDR_BUF_INIT;
	for (int i = 1; i <= 100000; i++)
		ck_assert_int_eq(stkdr__buf_printf(&want, "%d\t%s\n", i, (i % 7) ? "r" : "\\N"), 0);
	stkdr__sink *sink = NULL;
	tu_assert_ok(stkdr__sink_buf_new(&sink, &got));
	int64_t bytes = -1;
	tu_assert_ok(stkdr__pg_copy_out(pg,
		"COPY (SELECT i, CASE WHEN i % 7 = 0 THEN NULL ELSE 'r' END FROM generate_series(1, 100000) i) TO STDOUT",
		sink, &bytes));
	tu_assert_ok(stkdr__sink_finish(sink));
	stkdr__sink_destroy(sink);
	ck_assert_int_eq(bytes, (int64_t)want.size);
	ck_assert_uint_eq(got.size, want.size);
	ck_assert_int_eq(memcmp(got.ptr, want.ptr, want.size), 0);

	/* errors: bad statement, not a COPY */
	tu_assert_ok(stkdr__sink_null_new(&sink));
	tu_assert_rc(stkdr__pg_copy_out(pg, "COPY no_such_table TO STDOUT", sink, &bytes), STKDR_ENOTFOUND);
	tu_assert_rc(stkdr__pg_copy_out(pg, "SELECT 1", sink, &bytes), STKDR_EINVAL);
	stkdr__sink_destroy(sink);
	assert_usable(pg);
	stkdr_buf_dispose(&want);
	stkdr_buf_dispose(&got);
	stkdr__pg_close(pg);
}
END_TEST

/* A sink that fails once it has taken `limit` bytes. */
typedef struct fail_sink {
	stkdr__sink base;
	size_t taken, limit;
} fail_sink;

static int fail_write(stkdr__sink *s, const uint8_t *d, size_t n)
{
	fail_sink *f = (fail_sink *)s;
	(void)d;
	if (f->taken + n > f->limit)
		return stkdr__seterr(STKDR_ENOSPACE, STKDR_ERRCLASS_LOCAL, NULL, "test sink is full");
	f->taken += n;
	return 0;
}

static int fail_finish(stkdr__sink *s)
{
	(void)s;
	return 0;
}

static void fail_destroy(stkdr__sink *s)
{
	(void)s;
}

START_TEST(pg_copy_out_sink_fails)
{
	stkdr__pg *pg = connect_ok(g_c->conninfo, 0);
	fail_sink f = { { fail_write, fail_finish, fail_destroy }, 0, 100000 };
	int64_t bytes = -1;
	int64_t t0 = now_ms();
	/* ~70 MB if it were all read: the COPY is cancelled instead */
	tu_assert_rc(stkdr__pg_copy_out(pg, "COPY (SELECT i, repeat('x', 60) FROM generate_series(1, 1000000) i) TO STDOUT",
		&f.base, &bytes), STKDR_ENOSPACE);
	tu_assert_errmsg("test sink is full");
	ck_assert_int_le(bytes, 100000);
	ck_assert_int_lt(now_ms() - t0, 5000);
	assert_usable(pg);
	stkdr__pg_close(pg);
}
END_TEST

typedef struct reader {
	const char *data;
	size_t len, off, chunk;
	int fail_after; /* calls before failing (-1: never) */
	int calls;
} reader;

static int read_chunks(uint8_t *buf, size_t cap, size_t *n, void *payload)
{
	reader *r = payload;
	if (r->fail_after >= 0 && r->calls++ >= r->fail_after)
		return stkdr__seterr(STKDR_EUSER, STKDR_ERRCLASS_CALLBACK, NULL, "the test reader stops here");
	size_t k = r->len - r->off;
	if (k > r->chunk)
		k = r->chunk;
	if (k > cap)
		k = cap;
	memcpy(buf, r->data + r->off, k);
	r->off += k;
	*n = k;
	return 0;
}

static char *copy_in_data(int rows)
{
	stkdr_buf b = STKDR_BUF_INIT;
	for (int i = 1; i <= rows; i++)
		ck_assert_int_eq(stkdr__buf_printf(&b, "%d,\"row \"\"%d\"\" it's\nsecond line \\ tab\t.\"\n", i, i), 0);
	return stkdr__buf_detach(&b);
}

START_TEST(pg_copy_in_rows)
{
	stkdr__pg *pg = connect_ok(g_c->conninfo, 0);
	tu_assert_ok(stkdr__pg_exec(pg, NULL, "CREATE TABLE cin (id int PRIMARY KEY, txt text)", 0, NULL));
	char *data = copy_in_data(3000);
	reader r = { data, strlen(data), 0, 777, -1, 0 };
	int64_t rows = -1;
	tu_assert_ok(stkdr__pg_copy_in(pg, "COPY cin FROM STDIN (FORMAT csv)", read_chunks, &r, &rows));
	ck_assert_int_eq(rows, 3000);
	ck_assert_int_eq(count_rows(pg, "cin"), 3000);
	stkdr_buf v = STKDR_BUF_INIT;
	const char *params[] = { "row \"7\" it's\nsecond line \\ tab\t." };
	tu_assert_ok(stkdr__pg_query_value(pg, &v, NULL, "SELECT id FROM cin WHERE txt = $1", 1, params));
	ck_assert_str_eq(v.ptr, "7");

	/* bad data: the server's error, and the connection stays usable */
	const char *bad_data = "9001,x\nnot-a-number,y\n";
	reader bad = { bad_data, strlen(bad_data), 0, 5, -1, 0 };
	tu_assert_rc(stkdr__pg_copy_in(pg, "COPY cin FROM STDIN (FORMAT csv)", read_chunks, &bad, &rows), STKDR_EBACKEND);
	ck_assert_str_eq(stkdr__err_get()->backend_code, "22P02");
	assert_usable(pg);
	ck_assert_int_eq(count_rows(pg, "cin"), 3000);

	tu_assert_ok(stkdr__pg_exec(pg, NULL, "DROP TABLE cin", 0, NULL));
	stkdr_buf_dispose(&v);
	stkdr__free(data);
	stkdr__pg_close(pg);
}
END_TEST

START_TEST(pg_copy_in_abort)
{
	stkdr__pg *pg = connect_ok(g_c->conninfo, 0);
	tu_assert_ok(stkdr__pg_exec(pg, NULL, "CREATE TABLE cab (id int, txt text)", 0, NULL));
	char *data = copy_in_data(2000);
	reader r = { data, strlen(data), 0, 4096, 3, 0 };
	int64_t rows = -1;
	tu_assert_rc(stkdr__pg_copy_in(pg, "COPY cab FROM STDIN (FORMAT csv)", read_chunks, &r, &rows), STKDR_EUSER);
	tu_assert_errmsg("the test reader stops here");
	ck_assert_int_eq(rows, 0);
	assert_usable(pg);
	ck_assert_int_eq(count_rows(pg, "cab"), 0);
	tu_assert_rc(stkdr__pg_copy_in(pg, "SELECT 1", read_chunks, &r, &rows), STKDR_EINVAL);
	tu_assert_ok(stkdr__pg_exec(pg, NULL, "DROP TABLE cab", 0, NULL));
	stkdr__free(data);
	stkdr__pg_close(pg);
}
END_TEST

START_TEST(pg_replication_identify)
{
	char *sysid = pgt_sql(g_c, "SELECT system_identifier FROM pg_control_system()");
	stkdr__pg *pg = connect_ok(g_c->conninfo, 1);
	ck_assert_ptr_nonnull(strstr(stkdr__pg_describe(pg), "(replication)"));
	void *v = NULL;
	tu_assert_ok(stkdr__pg_exec(pg, &v, "IDENTIFY_SYSTEM", 0, NULL));
	PGresult *res = v;
	ck_assert_int_eq(PQntuples(res), 1);
	ck_assert_str_eq(PQfname(res, 0), "systemid");
	ck_assert_str_eq(PQgetvalue(res, 0, 0), sysid);
	ck_assert_str_eq(PQgetvalue(res, 0, 1), "1"); /* timeline */
	PQclear(res);
	stkdr_buf val = STKDR_BUF_INIT;
	tu_assert_ok(stkdr__pg_query_value(pg, &val, NULL, "IDENTIFY_SYSTEM", 0, NULL));
	ck_assert_str_eq(val.ptr, sysid);
	stkdr_buf_dispose(&val);
	stkdr__pg_close(pg);
	stkdr__free(sysid);
}
END_TEST

/* ================= pg_ctl ================= */

static void ctl_setup(void)
{
	g_ctl = pgt_start("pgctl", NULL);
}

static void ctl_teardown(void)
{
	pgt_destroy(g_ctl);
	g_ctl = NULL;
}

START_TEST(pgctl_stop_status_start)
{
	pgt_cluster *c = g_ctl;
	int running = -1;
	pgt_exec(c, "CREATE TABLE keep (v int); INSERT INTO keep VALUES (7)");
	tu_assert_ok(stkdr__pgctl_status(c->bin_dir, c->data_dir, &running));
	ck_assert_int_eq(running, 1);
	tu_assert_ok(stkdr__pgctl_stop(c->bin_dir, c->data_dir, "fast", 30000));
	tu_assert_ok(stkdr__pgctl_status(c->bin_dir, c->data_dir, &running));
	ck_assert_int_eq(running, 0);
	/* stopping a stopped server is fine */
	tu_assert_ok(stkdr__pgctl_stop(c->bin_dir, c->data_dir, "immediate", 30000));
	tu_assert_rc(stkdr__pgctl_stop(c->bin_dir, c->data_dir, "bogus", 30000), STKDR_EINVAL);

	tu_assert_ok(stkdr__pgctl_start(c->bin_dir, c->data_dir, c->port, c->socket_dir, c->log_file, 30000));
	tu_assert_ok(stkdr__pgctl_status(c->bin_dir, c->data_dir, &running));
	ck_assert_int_eq(running, 1);
	char *v = pgt_sql(c, "SELECT v FROM keep");
	ck_assert_str_eq(v, "7");
	stkdr__free(v);
	char *sock = stkdr__aprintf("%s/.s.PGSQL.%d", c->socket_dir, c->port);
	ck_assert_msg(access(sock, F_OK) == 0, "no socket %s", sock);
	stkdr__free(sock);

	tu_assert_rc(stkdr__pgctl_status(c->bin_dir, "/nonexistent/stkdr-data", &running), STKDR_ENOTFOUND);
}
END_TEST

START_TEST(pgctl_start_port_in_use)
{
	pgt_cluster *c2 = pgt_start("pgctl2", NULL);
	pgt_stop(c2);
	int rc = stkdr__pgctl_start(c2->bin_dir, c2->data_dir, g_ctl->port, c2->socket_dir, c2->log_file, 30000);
	tu_assert_rc(rc, STKDR_EBACKEND);
	tu_assert_errmsg(c2->data_dir);
	tu_assert_errmsg("could not create any TCP/IP sockets");
	int running = -1;
	tu_assert_ok(stkdr__pgctl_status(c2->bin_dir, c2->data_dir, &running));
	ck_assert_int_eq(running, 0);
	pgt_destroy(c2);
}
END_TEST

START_TEST(pgt_mkdtemp_owner)
{
	char *d = pgt_mkdtemp_pg("target");
	stkdr_buf user = STKDR_BUF_INIT;
	tu_assert_ok(stkdr__proc_owner(&user, d));
	if (geteuid() == 0)
		ck_assert_str_eq(user.ptr, "postgres");
	stkdr_buf_dispose(&user);
	tu_rmtree_free(d);
}
END_TEST

static Suite *pg_suite(void)
{
	Suite *s = suite_create("pg");
	TCase *tc = tcase_create("proc");
	tcase_add_test(tc, proc_exit_codes);
	tcase_add_test(tc, proc_output_capture);
	tcase_add_test(tc, proc_output_keeps_tail);
	tcase_add_test(tc, proc_env_cwd_fds);
	tcase_add_test(tc, proc_timeout_term);
	tcase_add_test(tc, proc_timeout_kill);
	tcase_add_test(tc, proc_missing_program);
	tcase_add_test(tc, proc_run_as);
	tcase_add_test(tc, proc_owner_and_port);
	suite_add_tcase(s, tc);

	if (!pgt_available())
		return s;
	tc = tcase_create("pg");
	tcase_add_unchecked_fixture(tc, pg_setup, pg_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, pg_connect_ok);
	tcase_add_test(tc, pg_bad_conninfo);
	tcase_add_test(tc, pg_unreachable);
	tcase_add_test(tc, pg_missing_db_and_role);
	tcase_add_test(tc, pg_sql_errors);
	tcase_add_test(tc, pg_query_value);
	tcase_add_test(tc, pg_copy_out_100k);
	tcase_add_test(tc, pg_copy_out_sink_fails);
	tcase_add_test(tc, pg_copy_in_rows);
	tcase_add_test(tc, pg_copy_in_abort);
	tcase_add_test(tc, pg_replication_identify);
	suite_add_tcase(s, tc);

	tc = tcase_create("pgctl");
	tcase_add_unchecked_fixture(tc, ctl_setup, ctl_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, pgctl_stop_status_start);
	tcase_add_test(tc, pgctl_start_port_in_use);
	tcase_add_test(tc, pgt_mkdtemp_owner);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(pg_suite());
}
