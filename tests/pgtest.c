/* Test harness: throw-away PostgreSQL clusters (see pgtest.h). */
#include "pgtest.h"

#include "services/pg.h"
#include "services/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PGT_INITDB_TIMEOUT_MS 120000
#define PGT_PGCTL_TIMEOUT_MS 60000
#define PGT_PORT_TRIES 5

/* The public struct plus the write end of the watchdog pipe. */
typedef struct pgt_priv {
	pgt_cluster pub;
	int watch_fd;
} pgt_priv;

const char *pgt_bin_dir(void)
{
	const char *e = getenv("STKDR_PG_BIN_DIR");
	return e && *e ? e : "/usr/lib/postgresql/15/bin";
}

static const char *tmp_base(void)
{
	const char *e = getenv("STKDR_PG_TMPDIR");
	return e && *e ? e : "/tmp";
}

/* The postgres user's ids when we are root (returns 1), else 0. */
static int pg_ids(uid_t *uid, gid_t *gid)
{
	if (geteuid() != 0)
		return 0;
	struct passwd *pw = getpwnam("postgres");
	ck_assert_msg(pw != NULL, "running as root but there is no postgres user");
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 1;
}

static void give_to_pg(const char *path)
{
	uid_t uid;
	gid_t gid;
	if (pg_ids(&uid, &gid))
		ck_assert_msg(chown(path, uid, gid) == 0, "chown postgres %s: %s", path, strerror(errno));
}

int pgt_available(void)
{
	static int cached = -1;
	if (cached >= 0)
		return cached;
	const char *why = NULL;
	char *initdb = stkdr__aprintf("%s/initdb", pgt_bin_dir());
	char *pg_ctl = stkdr__aprintf("%s/pg_ctl", pgt_bin_dir());
	if (!initdb || !pg_ctl)
		why = "out of memory";
	else if (access(initdb, X_OK) != 0)
		why = "initdb is missing";
	else if (access(pg_ctl, X_OK) != 0)
		why = "pg_ctl is missing";
	else if (geteuid() == 0 && !getpwnam("postgres"))
		why = "running as root and there is no postgres user to run the server";
	cached = why == NULL;
	if (why)
		fprintf(stderr, "SKIP PostgreSQL tests: %s (bin dir %s; install postgresql-15 or set STKDR_PG_BIN_DIR)\n",
			why, pgt_bin_dir());
	stkdr__free(initdb);
	stkdr__free(pg_ctl);
	return cached;
}

/* ---- watchdog: stops the server and removes the directory when the creating process dies ---- */

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* In the (grand)child: waits for EOF on fd 0 ('q' means: the cluster was destroyed, do nothing). */
static void watchdog_main(const char *dir, const char *pidfile, const char *data_real)
{
	char c = 0;
	ssize_t n;
	while ((n = read(0, &c, 1)) < 0 && errno == EINTR)
		;
	if (n == 1 && c == 'q')
		_exit(0);
	int fd = open(pidfile, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		char b[64];
		ssize_t got = read(fd, b, sizeof b - 1);
		close(fd);
		long pm = got > 0 ? (b[got] = '\0', strtol(b, NULL, 10)) : 0;
		char link[64], cwd[4096];
		snprintf(link, sizeof link, "/proc/%ld/cwd", pm);
		ssize_t l = pm > 1 ? readlink(link, cwd, sizeof cwd - 1) : -1;
		/* the postmaster runs in its data directory: never signal a recycled pid */
		if (l > 0 && (cwd[l] = '\0', strcmp(cwd, data_real) == 0)) {
			kill((pid_t)pm, SIGQUIT);
			for (int i = 0; i < 200 && kill((pid_t)pm, 0) == 0; i++)
				sleep_ms(50);
		}
	}
	execl("/bin/rm", "rm", "-rf", "--", dir, (char *)NULL);
	_exit(1);
}

static int spawn_watchdog(const pgt_cluster *c)
{
	int p[2];
	ck_assert_msg(pipe2(p, O_CLOEXEC) == 0, "pipe: %s", strerror(errno));
	char *pidfile = tu_path(c->data_dir, "postmaster.pid");
	char *data_real = realpath(c->data_dir, NULL);
	ck_assert_msg(data_real != NULL, "realpath %s: %s", c->data_dir, strerror(errno));
	fflush(NULL);
	pid_t pid = fork();
	ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		/* double fork: the watchdog is re-parented to init and never becomes our zombie */
		if (fork() != 0)
			_exit(0);
		setsid();
		int nul = open("/dev/null", O_RDWR);
		if (dup2(p[0], 0) < 0 || nul < 0 || dup2(nul, 1) < 0 || dup2(nul, 2) < 0)
			_exit(1);
		close_range(3, ~0u, 0); /* other clusters' pipes too, or their watchdogs would never see EOF */
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		watchdog_main(c->dir, pidfile, data_real);
	}
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	close(p[0]);
	stkdr__free(pidfile);
	free(data_real);
	return p[1];
}

/* ---- clusters ---- */

static void append_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	size_t len = strlen(text);
	ck_assert_msg(write(fd, text, len) == (ssize_t)len, "write %s: %s", path, strerror(errno));
	close(fd);
}

static const char *output_tail(const stkdr_buf *b)
{
	if (!b->ptr)
		return "";
	return b->size > 1500 ? b->ptr + b->size - 1500 : b->ptr;
}

static void run_initdb(pgt_cluster *c)
{
	static const char *const locales[] = { "--locale=C.UTF-8", "--locale=C" };
	char *initdb = stkdr__aprintf("%s/initdb", c->bin_dir);
	stkdr_buf out = STKDR_BUF_INIT;
	int status = -1;
	ck_assert_ptr_nonnull(initdb);
	for (size_t i = 0; i < STKDR__ARRAY_SIZE(locales); i++) {
		const char *argv[] = { initdb, "-D", c->data_dir, "--data-checksums", "-U", "postgres", "--auth=trust",
			"-E", "UTF8", locales[i], "--no-sync", "--no-instructions", NULL };
		int rc = stkdr__proc_run(argv, "postgres", "/", NULL, &out, PGT_INITDB_TIMEOUT_MS, &status);
		ck_assert_msg(rc == 0, "initdb: %s", stkdr__err_get()->message);
		if (status == 0)
			break;
	}
	ck_assert_msg(status == 0, "initdb %s failed (exit %d): %s", c->data_dir, status, output_tail(&out));
	stkdr_buf_dispose(&out);
	stkdr__free(initdb);
}

static int log_has(const char *log_file, const char *needle)
{
	char *text = tu_read_file(log_file, NULL);
	int has = text && strstr(text, needle) != NULL;
	stkdr__free(text);
	return has;
}

pgt_cluster *pgt_start(const char *tag, const char *extra_conf)
{
	ck_assert_msg(pgt_available(), "PostgreSQL is not available: check pgt_available() before pgt_start()");
	pgt_priv *pc = stkdr__calloc(1, sizeof *pc);
	ck_assert_ptr_nonnull(pc);
	pgt_cluster *c = &pc->pub;
	c->bin_dir = stkdr__strdup(pgt_bin_dir());
	c->dir = stkdr__aprintf("%s/stkdr-pg-%s-XXXXXX", tmp_base(), tag ? tag : "cluster");
	ck_assert_ptr_nonnull(c->bin_dir);
	ck_assert_ptr_nonnull(c->dir);
	ck_assert_msg(mkdtemp(c->dir) != NULL, "mkdtemp %s: %s", c->dir, strerror(errno));
	ck_assert_msg(chmod(c->dir, 0755) == 0, "chmod %s: %s", c->dir, strerror(errno));
	c->data_dir = tu_path(c->dir, "data");
	c->socket_dir = tu_path(c->dir, "sock");
	c->log_file = tu_path(c->dir, "server.log");
	ck_assert_msg(mkdir(c->data_dir, 0700) == 0, "mkdir %s: %s", c->data_dir, strerror(errno));
	ck_assert_msg(mkdir(c->socket_dir, 0755) == 0, "mkdir %s: %s", c->socket_dir, strerror(errno));
	tu_write_file(c->log_file, "", 0);
	give_to_pg(c->data_dir);
	give_to_pg(c->socket_dir);
	give_to_pg(c->log_file);
	pc->watch_fd = spawn_watchdog(c);

	run_initdb(c);

	char *conf_path = tu_path(c->data_dir, "postgresql.conf");
	int rc = -1;
	for (int attempt = 0; attempt < PGT_PORT_TRIES; attempt++) {
		ck_assert_msg(stkdr__proc_free_port(&c->port) == 0, "free port: %s", stkdr__err_get()->message);
		char *conf = stkdr__aprintf("\n# stkdr test harness\n"
			"listen_addresses = '127.0.0.1'\n"
			"port = %d\n"
			"unix_socket_directories = '%s'\n"
			"wal_level = replica\n"
			"max_wal_senders = 10\n"
			"max_replication_slots = 10\n"
			"shared_buffers = 32MB\n"
			"%s\n",
			c->port, c->socket_dir, attempt == 0 && extra_conf ? extra_conf : "");
		ck_assert_ptr_nonnull(conf);
		append_file(conf_path, conf);
		stkdr__free(conf);
		ck_assert_msg(truncate(c->log_file, 0) == 0, "truncate %s: %s", c->log_file, strerror(errno));
		rc = stkdr__pgctl_start(c->bin_dir, c->data_dir, 0, NULL, c->log_file, PGT_PGCTL_TIMEOUT_MS);
		if (rc == 0 || !log_has(c->log_file, "already in use"))
			break;
	}
	ck_assert_msg(rc == 0, "starting the test cluster: %s", stkdr__err_get()->message);
	stkdr__free(conf_path);
	c->conninfo = stkdr__aprintf("host=127.0.0.1 port=%d user=postgres dbname=postgres", c->port);
	ck_assert_ptr_nonnull(c->conninfo);
	return c;
}

void pgt_stop(pgt_cluster *c)
{
	int rc = stkdr__pgctl_stop(c->bin_dir, c->data_dir, "fast", PGT_PGCTL_TIMEOUT_MS);
	ck_assert_msg(rc == 0, "stopping the test cluster: %s", stkdr__err_get()->message);
}

void pgt_destroy(pgt_cluster *c)
{
	if (!c)
		return;
	pgt_priv *pc = (pgt_priv *)c;
	int running = 1;
	if (stkdr__pgctl_status(c->bin_dir, c->data_dir, &running) != 0 || running)
		stkdr__pgctl_stop(c->bin_dir, c->data_dir, "immediate", PGT_PGCTL_TIMEOUT_MS);
	tu_rmtree_free(c->dir);
	if (pc->watch_fd >= 0) {
		ssize_t w = write(pc->watch_fd, "q", 1);
		(void)w;
		close(pc->watch_fd);
	}
	stkdr__free(c->data_dir);
	stkdr__free(c->socket_dir);
	stkdr__free(c->conninfo);
	stkdr__free(c->bin_dir);
	stkdr__free(c->log_file);
	stkdr__free(pc);
}

char *pgt_sql(pgt_cluster *c, const char *sql)
{
	stkdr__pg *pg = NULL;
	int rc = stkdr__pg_connect(&pg, c->conninfo, 0);
	ck_assert_msg(rc == 0, "connecting to the test cluster: %s", stkdr__err_get()->message);
	void *v = NULL;
	rc = stkdr__pg_exec(pg, &v, sql, 0, NULL);
	if (rc) {
		char msg[1100];
		snprintf(msg, sizeof msg, "%s", stkdr__err_get()->message);
		stkdr__pg_close(pg);
		ck_abort_msg("SQL on the test cluster failed: %s", msg);
	}
	PGresult *res = v;
	const char *val = PQntuples(res) > 0 && PQnfields(res) > 0 && !PQgetisnull(res, 0, 0) ? PQgetvalue(res, 0, 0) : "";
	char *out = stkdr__strdup(val);
	PQclear(res);
	stkdr__pg_close(pg);
	ck_assert_ptr_nonnull(out);
	return out;
}

void pgt_exec(pgt_cluster *c, const char *sql)
{
	stkdr__free(pgt_sql(c, sql));
}

char *pgt_mkdtemp_pg(const char *tag)
{
	char *p = stkdr__aprintf("%s/stkdr-pg-%s-XXXXXX", tmp_base(), tag ? tag : "dir");
	ck_assert_ptr_nonnull(p);
	ck_assert_msg(mkdtemp(p) != NULL, "mkdtemp %s: %s", p, strerror(errno));
	ck_assert_msg(chmod(p, 0700) == 0, "chmod %s: %s", p, strerror(errno));
	give_to_pg(p);
	return p;
}
