/* Running server programs: fork+exec with output capture, timeout and user switch; pg_ctl wrappers. */
#include "proc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define OUTPUT_KEEP (1024u * 1024u)
#define KILL_GRACE_MS 5000
#define PGCTL_DEFAULT_TIMEOUT_MS 60000
#define PGCTL_MARGIN_MS 10000
#define LOG_TAIL_CHARS 480
#define PGCTL_OUT_CHARS 160

/* What failed in the child before exec (sent over the status pipe with errno). */
enum { STAGE_FDS = 1, STAGE_USER = 2, STAGE_CWD = 3, STAGE_EXEC = 4 };

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the target user, resolved before fork (getpwnam/getgrouplist are not async-signal-safe) ---- */

typedef struct run_user {
	uid_t uid;
	gid_t gid;
	gid_t *groups;
	int ngroups;
	char *home_env, *user_env, *logname_env;
} run_user;

static void run_user_free(run_user *u)
{
	stkdr__free(u->groups);
	stkdr__free(u->home_env);
	stkdr__free(u->user_env);
	stkdr__free(u->logname_env);
}

static int run_user_resolve(run_user *u, const char *name, const char *prog)
{
	long sz = sysconf(_SC_GETPW_R_SIZE_MAX);
	size_t cap = sz > 0 ? (size_t)sz : 16384;
	struct passwd pw, *res = NULL;
	char *buf = NULL;
	int err;
	for (;;) {
		buf = stkdr__malloc(cap);
		if (!buf)
			return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory looking up user %s", name);
		err = getpwnam_r(name, &pw, buf, cap, &res);
		if (err != ERANGE || cap > (1u << 20))
			break;
		stkdr__free(buf);
		cap *= 2;
	}
	if (err || !res) {
		stkdr__free(buf);
		if (err)
			return stkdr__seterr_os(err, "cannot look up user %s to run %s", name, prog);
		return stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_OS, "ENOENT",
			"user %s does not exist (needed to run %s); create it or run as that user", name, prog);
	}
	u->uid = pw.pw_uid;
	u->gid = pw.pw_gid;
	int n = 32;
	for (int tries = 0; tries < 8; tries++) {
		gid_t *g = stkdr__calloc((size_t)n, sizeof *g);
		if (!g)
			break;
		int got = n;
		if (getgrouplist(pw.pw_name, pw.pw_gid, g, &got) >= 0) {
			u->groups = g;
			u->ngroups = got;
			break;
		}
		stkdr__free(g);
		n = got > n ? got : n * 2;
	}
	u->home_env = stkdr__aprintf("HOME=%s", pw.pw_dir && *pw.pw_dir ? pw.pw_dir : "/");
	u->user_env = stkdr__aprintf("USER=%s", pw.pw_name);
	u->logname_env = stkdr__aprintf("LOGNAME=%s", pw.pw_name);
	stkdr__free(buf);
	if (!u->groups || !u->home_env || !u->user_env || !u->logname_env) {
		run_user_free(u);
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory looking up user %s", name);
	}
	return 0;
}

/* ---- environment ---- */

static int env_key_eq(const char *a, const char *b)
{
	while (*a && *a != '=' && *a == *b)
		a++, b++;
	return (*a == '=' || !*a) && (*b == '=' || !*b);
}

/* environ with `extra` entries (and the user's HOME/USER/LOGNAME) replacing same-named ones. Pointers are
 * borrowed; only the array is allocated. */
static char **build_env(const char *const *extra, const run_user *u)
{
	const char *mine[3] = { NULL, NULL, NULL };
	size_t nmine = 0, nenv = 0, nextra = 0;
	if (u) {
		mine[nmine++] = u->home_env;
		mine[nmine++] = u->user_env;
		mine[nmine++] = u->logname_env;
	}
	while (environ && environ[nenv])
		nenv++;
	while (extra && extra[nextra])
		nextra++;
	char **out = stkdr__calloc(nenv + nextra + nmine + 1, sizeof *out);
	if (!out)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < nenv; i++) {
		int overridden = 0;
		for (size_t j = 0; j < nextra && !overridden; j++)
			overridden = env_key_eq(environ[i], extra[j]);
		for (size_t j = 0; j < nmine && !overridden; j++)
			overridden = env_key_eq(environ[i], mine[j]);
		if (!overridden)
			out[k++] = environ[i];
	}
	for (size_t j = 0; j < nmine; j++) {
		int overridden = 0;
		for (size_t e = 0; e < nextra && !overridden; e++)
			overridden = env_key_eq(mine[j], extra[e]);
		if (!overridden)
			out[k++] = (char *)mine[j];
	}
	for (size_t j = 0; j < nextra; j++)
		out[k++] = (char *)extra[j];
	out[k] = NULL;
	return out;
}

/* ---- the child (async-signal-safe code only) ---- */

static void child_fail(int fd, int stage)
{
	int msg[2] = { stage, errno };
	ssize_t w = write(fd, msg, sizeof msg);
	(void)w;
	_exit(127);
}

static void child_run(const char *const *argv, char **envp, const run_user *u, const char *cwd, int in_fd,
	int out_fd, int status_fd)
{
	sigset_t none;
	struct sigaction dfl;
	static const int sigs[] = { SIGPIPE, SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2 };
	setpgid(0, 0);
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	for (size_t i = 0; i < STKDR__ARRAY_SIZE(sigs); i++)
		sigaction(sigs[i], &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0)
		child_fail(status_fd, STAGE_FDS);
	/* Do not leak the caller's descriptors (sockets, files) into the program or the daemons it starts. */
#ifdef CLOSE_RANGE_CLOEXEC
	close_range(3, ~0u, CLOSE_RANGE_CLOEXEC);
#endif
	if (u) {
		if (setgroups((size_t)u->ngroups, u->groups) < 0 || setgid(u->gid) < 0 || setuid(u->uid) < 0)
			child_fail(status_fd, STAGE_USER);
	}
	if (cwd && chdir(cwd) < 0)
		child_fail(status_fd, STAGE_CWD);
	execve(argv[0], (char *const *)argv, envp);
	child_fail(status_fd, STAGE_EXEC);
}

/* ---- the parent ---- */

/* Moves fd above 2 (so dup2 onto 0..2 in the child never is a no-op that keeps FD_CLOEXEC). */
static int high_fd(int fd)
{
	if (fd < 0 || fd > 2)
		return fd;
	int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	int e = errno;
	close(fd);
	errno = e;
	return nfd;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Appends to the output, keeping the tail when it grows past twice the limit. */
static int keep_output(stkdr_buf *out, const char *data, size_t n)
{
	if (!out)
		return 0;
	int rc = stkdr_buf_put(out, data, n);
	if (rc)
		return rc;
	if (out->size > 2 * OUTPUT_KEEP) {
		memmove(out->ptr, out->ptr + out->size - OUTPUT_KEEP, OUTPUT_KEEP);
		out->size = OUTPUT_KEEP;
		out->ptr[out->size] = '\0';
	}
	return 0;
}

/* Reads what is available; returns 1 at EOF or on a read error, 0 otherwise. */
static int drain_fd(int fd, stkdr_buf *out, int *rc)
{
	char tmp[16384];
	for (;;) {
		ssize_t n = read(fd, tmp, sizeof tmp);
		if (n > 0) {
			if (*rc == 0)
				*rc = keep_output(out, tmp, (size_t)n);
			continue;
		}
		if (n == 0)
			return 1;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : 1;
	}
}

static int exec_error(const int msg[2], const char *prog, const char *run_as, const char *cwd)
{
	int stage = msg[0], err = msg[1];
	switch (stage) {
	case STAGE_EXEC:
		if (err == ENOENT)
			return stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_OS, "ENOENT",
				"cannot run %s: no such program; install it or fix the path", prog);
		return stkdr__seterr_os(err, "cannot run %s", prog);
	case STAGE_USER:
		return stkdr__seterr_os(err, "cannot switch to user %s to run %s", run_as ? run_as : "?", prog);
	case STAGE_CWD:
		return stkdr__seterr_os(err, "cannot change to directory %s to run %s", cwd ? cwd : "?", prog);
	default:
		return stkdr__seterr_os(err, "cannot set up the standard streams to run %s", prog);
	}
}

int stkdr__proc_run(const char *const *argv, const char *run_as, const char *cwd, const char *const *env,
	stkdr_buf *output, int64_t timeout_ms, int *exit_status_out)
{
	if (exit_status_out)
		*exit_status_out = -1;
	if (!argv || !argv[0] || argv[0][0] != '/')
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
			"stkdr__proc_run: the program must be an absolute path (got \"%s\")", argv && argv[0] ? argv[0] : "");
	const char *prog = argv[0];
	if (output) {
		int rc = stkdr_buf_set(output, "", 0);
		if (rc)
			return rc;
	}
	run_user user;
	memset(&user, 0, sizeof user);
	int switch_user = run_as && *run_as && geteuid() == 0;
	if (switch_user) {
		int rc = run_user_resolve(&user, run_as, prog);
		if (rc)
			return rc;
	}
	char **envp = build_env(env, switch_user ? &user : NULL);
	int in_fd = -1, outp[2] = { -1, -1 }, stp[2] = { -1, -1 };
	int rc = 0;
	if (!envp) {
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory preparing to run %s", prog);
		goto out;
	}
	if ((in_fd = high_fd(open("/dev/null", O_RDONLY | O_CLOEXEC))) < 0) {
		rc = stkdr__seterr_os(errno, "cannot open /dev/null to run %s", prog);
		goto out;
	}
	if (pipe2(outp, O_CLOEXEC) < 0 || (outp[0] = high_fd(outp[0])) < 0 || (outp[1] = high_fd(outp[1])) < 0 ||
		pipe2(stp, O_CLOEXEC) < 0) {
		rc = stkdr__seterr_os(errno, "cannot create a pipe to run %s", prog);
		goto out;
	}
	pid_t pid = fork();
	if (pid < 0) {
		rc = stkdr__seterr_os(errno, "cannot fork to run %s", prog);
		goto out;
	}
	if (pid == 0)
		child_run(argv, envp, switch_user ? &user : NULL, cwd, in_fd, outp[1], stp[1]);
	setpgid(pid, pid); /* also done by the child; whichever runs first wins */
	close_fd(&in_fd);
	close_fd(&outp[1]);
	close_fd(&stp[1]);

	/* The status pipe closes at exec (FD_CLOEXEC) or carries why the child could not get there. */
	int msg[2] = { 0, 0 };
	size_t got = 0;
	while (got < sizeof msg) {
		ssize_t n = read(stp[0], (char *)msg + got, sizeof msg - got);
		if (n > 0)
			got += (size_t)n;
		else if (n == 0 || errno != EINTR)
			break;
	}
	close_fd(&stp[0]);
	int status = 0;
	if (got == sizeof msg) {
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		rc = exec_error(msg, prog, run_as, cwd);
		goto out;
	}

	fcntl(outp[0], F_SETFL, fcntl(outp[0], F_GETFL) | O_NONBLOCK);
	int64_t start = mono_ms(), term_at = timeout_ms > 0 ? start + timeout_ms : 0, kill_at = 0;
	int out_open = 1, exited = 0, timed_out = 0, killed = 0, keep_rc = 0;
	while (!exited) {
		int64_t now = mono_ms();
		if (term_at && !timed_out && now >= term_at) {
			timed_out = 1;
			kill_at = now + KILL_GRACE_MS;
			if (kill(-pid, SIGTERM) < 0)
				kill(pid, SIGTERM);
		}
		if (timed_out && !killed && now >= kill_at) {
			killed = 1;
			if (kill(-pid, SIGKILL) < 0)
				kill(pid, SIGKILL);
		}
		int wait_ms = out_open ? 50 : 10;
		int64_t next = timed_out ? (killed ? 0 : kill_at) : term_at;
		if (next && next - now < wait_ms)
			wait_ms = next - now > 0 ? (int)(next - now) : 0;
		struct pollfd pfd = { out_open ? outp[0] : -1, POLLIN, 0 };
		int pr = poll(&pfd, 1, wait_ms);
		if (pr > 0 && out_open && drain_fd(outp[0], output, &keep_rc))
			out_open = 0;
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid) {
			exited = 1;
		} else if (w < 0 && errno != EINTR) {
			rc = stkdr__seterr_os(errno, "cannot wait for %s", prog);
			goto out;
		}
	}
	/* Whatever the program wrote before exiting (daemons it started may keep the pipe open: don't wait). */
	if (out_open)
		drain_fd(outp[0], output, &keep_rc);
	if (output && output->size > OUTPUT_KEEP) {
		memmove(output->ptr, output->ptr + output->size - OUTPUT_KEEP, OUTPUT_KEEP);
		output->size = OUTPUT_KEEP;
		output->ptr[output->size] = '\0';
	}
	if (exit_status_out)
		*exit_status_out = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
	if (timed_out)
		rc = stkdr__seterr(STKDR_ETIMEOUT, STKDR_ERRCLASS_OS, NULL,
			"%s did not finish within %lld ms and was stopped; raise the timeout or find out why it hangs", prog,
			(long long)timeout_ms);
	else if (keep_rc)
		rc = keep_rc;
out:
	close_fd(&in_fd);
	close_fd(&outp[0]);
	close_fd(&outp[1]);
	close_fd(&stp[0]);
	close_fd(&stp[1]);
	stkdr__free(envp);
	if (switch_user)
		run_user_free(&user);
	return rc;
}

int stkdr__proc_owner(stkdr_buf *user_out, const char *path)
{
	struct stat st;
	if (!path || !user_out)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr__proc_owner: NULL argument");
	if (stat(path, &st) < 0)
		return stkdr__seterr_os(errno, "cannot find the owner of %s", path);
	long sz = sysconf(_SC_GETPW_R_SIZE_MAX);
	size_t cap = sz > 0 ? (size_t)sz : 16384;
	struct passwd pw, *res = NULL;
	char *buf = stkdr__malloc(cap);
	if (!buf)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory looking up the owner of %s",
			path);
	int err = getpwuid_r(st.st_uid, &pw, buf, cap, &res);
	int rc;
	if (err)
		rc = stkdr__seterr_os(err, "cannot look up user id %u (owner of %s)", (unsigned)st.st_uid, path);
	else if (!res)
		rc = stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_OS, "ENOENT",
			"%s is owned by user id %u, which has no user name; chown it to an existing user", path,
			(unsigned)st.st_uid);
	else
		rc = stkdr_buf_set(user_out, pw.pw_name, strlen(pw.pw_name));
	stkdr__free(buf);
	return rc;
}

int stkdr__proc_free_port(int *port_out)
{
	*port_out = 0;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return stkdr__seterr_os(errno, "cannot create a socket to find a free port");
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = 0;
	socklen_t len = sizeof a;
	int rc = 0;
	if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0)
		rc = stkdr__seterr_os(errno, "cannot bind a socket on 127.0.0.1 to find a free port");
	else if (getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		rc = stkdr__seterr_os(errno, "cannot read back the port of a socket on 127.0.0.1");
	else
		*port_out = ntohs(a.sin_port);
	close(fd);
	return rc;
}

/* ---- pg_ctl ---- */

static char *abs_path(const char *p)
{
	if (p[0] == '/')
		return stkdr__strdup(p);
	char cwd[4096];
	if (!getcwd(cwd, sizeof cwd))
		return NULL;
	return stkdr__aprintf("%s/%s", cwd, p);
}

typedef struct pgctl {
	char *exe;      /* bin_dir/pg_ctl */
	char *data_dir; /* absolute */
	stkdr_buf owner; /* user to run as (empty: ourselves) */
	stkdr_buf out;
	int status;
} pgctl;

static void pgctl_free(pgctl *p)
{
	stkdr__free(p->exe);
	stkdr__free(p->data_dir);
	stkdr_buf_dispose(&p->owner);
	stkdr_buf_dispose(&p->out);
}

static int pgctl_init(pgctl *p, const char *bin_dir, const char *data_dir, const char *cmd)
{
	memset(p, 0, sizeof *p);
	if (!bin_dir || !*bin_dir || !data_dir || !*data_dir)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
			"pg_ctl %s: the PostgreSQL bin directory and the data directory are required", cmd);
	p->exe = stkdr__aprintf("%s/pg_ctl", bin_dir);
	p->data_dir = abs_path(data_dir);
	if (!p->exe || !p->data_dir) {
		pgctl_free(p);
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory preparing pg_ctl %s", cmd);
	}
	if (p->exe[0] != '/') {
		char *a = abs_path(p->exe);
		stkdr__free(p->exe);
		p->exe = a;
		if (!a) {
			pgctl_free(p);
			return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory preparing pg_ctl %s", cmd);
		}
	}
	if (geteuid() == 0) {
		int rc = stkdr__proc_owner(&p->owner, p->data_dir);
		if (rc) {
			pgctl_free(p);
			stkdr__err_prefix("pg_ctl %s", cmd);
			return rc;
		}
		if (strcmp(p->owner.ptr, "root") == 0)
			stkdr_buf_set(&p->owner, "", 0);
	}
	return 0;
}

static int pgctl_run(pgctl *p, const char *const *argv, int64_t timeout_ms)
{
	return stkdr__proc_run(argv, p->owner.size ? p->owner.ptr : NULL, "/", NULL, &p->out, timeout_ms, &p->status);
}

/* The end of `s` (at most `max` chars, starting at a line boundary when possible) on one line. */
static void tail_one_line(char *dst, size_t n, const char *s, size_t len, size_t max)
{
	while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' '))
		len--;
	size_t from = len > max ? len - max : 0;
	if (from > 0) {
		const char *nl = memchr(s + from, '\n', len - from);
		if (nl && (size_t)(nl - s) + 1 < len)
			from = (size_t)(nl - s) + 1;
	}
	size_t o = 0;
	for (size_t i = from; i < len && o + 4 < n; i++) {
		char c = s[i];
		if (c == '\n') {
			dst[o++] = ' ';
			dst[o++] = '|';
			dst[o++] = ' ';
		} else if (c != '\r') {
			dst[o++] = c == '\t' ? ' ' : c;
		}
	}
	dst[o] = '\0';
}

static void log_tail(char *dst, size_t n, const char *log_file)
{
	snprintf(dst, n, "(no server log)");
	int fd = open(log_file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	char buf[4096];
	off_t end = lseek(fd, 0, SEEK_END);
	off_t from = end > (off_t)sizeof buf - 1 ? end - (off_t)sizeof buf + 1 : 0;
	ssize_t got = pread(fd, buf, sizeof buf - 1, from);
	close(fd);
	if (got <= 0) {
		snprintf(dst, n, "(server log is empty)");
		return;
	}
	tail_one_line(dst, n, buf, (size_t)got, LOG_TAIL_CHARS);
}

static int64_t pgctl_secs(int64_t timeout_ms)
{
	if (timeout_ms <= 0)
		timeout_ms = PGCTL_DEFAULT_TIMEOUT_MS;
	int64_t s = (timeout_ms + 999) / 1000;
	return s < 1 ? 1 : s;
}

int stkdr__pgctl_start(const char *bin_dir, const char *data_dir, int port, const char *socket_dir,
	const char *log_file, int64_t timeout_ms)
{
	if (!log_file || !*log_file)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "pg_ctl start: a log file is required");
	if (socket_dir && strchr(socket_dir, '\''))
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL,
			"pg_ctl start: the socket directory \"%s\" contains a quote; use a path without one", socket_dir);
	pgctl p;
	int rc = pgctl_init(&p, bin_dir, data_dir, "start");
	if (rc)
		return rc;
	char *log_abs = abs_path(log_file);
	char *sock_abs = socket_dir ? abs_path(socket_dir) : NULL;
	char *opts = NULL;
	char secs[32];
	int64_t s = pgctl_secs(timeout_ms);
	snprintf(secs, sizeof secs, "%lld", (long long)s);
	if (log_abs && (!socket_dir || sock_abs)) {
		if (port > 0 && sock_abs)
			opts = stkdr__aprintf("-p %d -k '%s'", port, sock_abs);
		else if (port > 0)
			opts = stkdr__aprintf("-p %d", port);
		else if (sock_abs)
			opts = stkdr__aprintf("-k '%s'", sock_abs);
		else
			opts = stkdr__strdup("");
	}
	if (!opts) {
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory preparing pg_ctl start");
		goto out;
	}
	const char *argv[16];
	size_t k = 0;
	argv[k++] = p.exe;
	argv[k++] = "start";
	argv[k++] = "-w";
	argv[k++] = "-D";
	argv[k++] = p.data_dir;
	argv[k++] = "-l";
	argv[k++] = log_abs;
	argv[k++] = "-t";
	argv[k++] = secs;
	if (*opts) {
		argv[k++] = "-o";
		argv[k++] = opts;
	}
	argv[k] = NULL;
	rc = pgctl_run(&p, argv, s * 1000 + PGCTL_MARGIN_MS);
	if (rc == STKDR_ETIMEOUT) {
		char tail[LOG_TAIL_CHARS + 64];
		log_tail(tail, sizeof tail, log_abs);
		rc = stkdr__seterr(STKDR_ETIMEOUT, STKDR_ERRCLASS_POSTGRES, NULL,
			"pg_ctl start of %s did not return in time; the server log %s ends with: %s", p.data_dir, log_abs, tail);
	} else if (rc == 0 && p.status != 0) {
		char tail[LOG_TAIL_CHARS + 64], outl[PGCTL_OUT_CHARS + 64];
		log_tail(tail, sizeof tail, log_abs);
		tail_one_line(outl, sizeof outl, p.out.ptr ? p.out.ptr : "", p.out.size, PGCTL_OUT_CHARS);
		int timeout = strstr(outl, "did not start in time") != NULL;
		rc = stkdr__seterr(timeout ? STKDR_ETIMEOUT : STKDR_EBACKEND, STKDR_ERRCLASS_POSTGRES, NULL,
			"starting PostgreSQL on %s failed (pg_ctl exit %d: %s); the server log %s ends with: %s", p.data_dir,
			p.status, outl, log_abs, tail);
	}
out:
	stkdr__free(opts);
	stkdr__free(log_abs);
	stkdr__free(sock_abs);
	pgctl_free(&p);
	return rc;
}

int stkdr__pgctl_status(const char *bin_dir, const char *data_dir, int *running_out)
{
	*running_out = 0;
	pgctl p;
	int rc = pgctl_init(&p, bin_dir, data_dir, "status");
	if (rc)
		return rc;
	const char *argv[] = { p.exe, "status", "-D", p.data_dir, NULL };
	rc = pgctl_run(&p, argv, 30000);
	if (rc == 0) {
		char outl[PGCTL_OUT_CHARS + 64];
		tail_one_line(outl, sizeof outl, p.out.ptr ? p.out.ptr : "", p.out.size, PGCTL_OUT_CHARS);
		if (p.status == 0)
			*running_out = 1;
		else if (p.status == 4)
			rc = stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_POSTGRES, NULL,
				"%s is not an accessible PostgreSQL data directory (pg_ctl status: %s)", p.data_dir, outl);
		else if (p.status != 3)
			rc = stkdr__seterr(STKDR_EBACKEND, STKDR_ERRCLASS_POSTGRES, NULL,
				"pg_ctl status on %s failed (exit %d): %s", p.data_dir, p.status, outl);
	}
	pgctl_free(&p);
	return rc;
}

int stkdr__pgctl_stop(const char *bin_dir, const char *data_dir, const char *mode, int64_t timeout_ms)
{
	if (!mode || (strcmp(mode, "fast") != 0 && strcmp(mode, "immediate") != 0 && strcmp(mode, "smart") != 0))
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
			"pg_ctl stop: unknown mode \"%s\"; use fast, immediate or smart", mode ? mode : "");
	pgctl p;
	int rc = pgctl_init(&p, bin_dir, data_dir, "stop");
	if (rc)
		return rc;
	char secs[32];
	int64_t s = pgctl_secs(timeout_ms);
	snprintf(secs, sizeof secs, "%lld", (long long)s);
	const char *argv[] = { p.exe, "stop", "-w", "-D", p.data_dir, "-m", mode, "-t", secs, NULL };
	rc = pgctl_run(&p, argv, s * 1000 + PGCTL_MARGIN_MS);
	if (rc == 0 && p.status != 0) {
		char outl[PGCTL_OUT_CHARS + 64];
		int running = 1;
		tail_one_line(outl, sizeof outl, p.out.ptr ? p.out.ptr : "", p.out.size, PGCTL_OUT_CHARS);
		int status_rc = stkdr__pgctl_status(bin_dir, data_dir, &running);
		if (status_rc == 0 && !running) {
			rc = 0; /* nothing was running: stopped is what the caller wants */
		} else {
			int timeout = strstr(outl, "does not shut down") != NULL || strstr(outl, "did not") != NULL;
			rc = stkdr__seterr(timeout ? STKDR_ETIMEOUT : STKDR_EBACKEND, STKDR_ERRCLASS_POSTGRES, NULL,
				"stopping PostgreSQL on %s (mode %s) failed (pg_ctl exit %d): %s", p.data_dir, mode, p.status, outl);
		}
	} else if (rc == STKDR_ETIMEOUT) {
		stkdr__err_prefix("stopping PostgreSQL on %s", p.data_dir);
	}
	pgctl_free(&p);
	return rc;
}
