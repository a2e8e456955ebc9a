/* stk wal get (restore_command) and stk wal prefetch: recovery never waits on a fetch.
 *
 * PostgreSQL runs restore_command once per segment and replays single-threaded, so a plain
 * fetch-on-demand makes replay wait for every download. After each segment `wal get` restores into a
 * pg_wal directory, it starts `stk wal prefetch` detached (when none is running on that spool): that
 * fetches the next wal.prefetch segments in parallel into pg_wal/stkdr-prefetch, and the next `wal get`
 * only moves its segment into place. */
#include "commands.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

/* `stk wal get` only: see cmd_wal_get(). */
#define STK_EXIT_WAL_GET_FATAL 126

/* Whether a prefetcher holds the spool's lock (then it will see this get's successors itself). */
static int prefetcher_running(const char *spool)
{
	char lock[4096];
	snprintf(lock, sizeof lock, "%s/.lock", spool);
	int fd = open(lock, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	int busy = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
	close(fd);
	return busy;
}

/* Starts `stk [--config F] -q wal prefetch NAME SPOOL` in a new session, stdin/stdout/stderr on
 * /dev/null and SPOOL/prefetch.log, and returns without waiting for it (double fork: PostgreSQL's
 * restore_command returns as soon as this process exits). Failures are ignored: a later get simply
 * fetches directly. */
static void spawn_prefetch(cli *c, const char *name, const char *spool)
{
	pid_t pid = fork();
	if (pid < 0)
		return;
	if (pid == 0) {
		setsid();
		if (fork() != 0)
			_exit(0);
		int nul = open("/dev/null", O_RDWR);
		char logp[4096];
		snprintf(logp, sizeof logp, "%s/prefetch.log", spool);
		int log = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
			dup2(log >= 0 ? log : nul, 2);
		}
		closefrom(3);
		const char *argv[10];
		int n = 0;
		argv[n++] = "stk";
		if (c->config_path) {
			argv[n++] = "--config";
			argv[n++] = c->config_path;
		}
		argv[n++] = "-q";
		argv[n++] = "wal";
		argv[n++] = "prefetch";
		argv[n++] = name;
		argv[n++] = spool;
		argv[n] = NULL;
		execv("/proc/self/exe", (char *const *)argv);
		_exit(127);
	}
	waitpid(pid, NULL, 0);
}

int cmd_wal_get(cli *c, int argc, char **argv)
{
	(void)argc;
	int rc = cli_open(c);
	if (rc)
		return rc;
	rc = stkdr_wal_get(c->ctx, argv[0], argv[1]);
	if (rc == STKDR_ENOTFOUND)
		return cli_fail(c, rc);
	if (rc) {
		/* The file is archived but cannot be restored (corrupt, backend down, disk full). PostgreSQL
		 * takes an exit status up to 125 for "not archived" and ends recovery there, silently short of
		 * the target; above 125 it stops recovery instead, which is what an operator must see. */
		cli_fail(c, rc);
		return STK_EXIT_WAL_GET_FATAL;
	}
	int64_t ahead = 0;
	stkdr_buf spool = STKDR_BUF_INIT;
	if (strlen(argv[0]) == 24 && stkdr_ctx_get_int64(&ahead, c->ctx, "wal.prefetch") == 0 && ahead > 0 &&
	    stkdr_wal_spool_dir(&spool, argv[1]) == 1 && !prefetcher_running(spool.ptr))
		spawn_prefetch(c, argv[0], spool.ptr);
	stkdr_buf_dispose(&spool);
	return 0;
}

int cmd_wal_prefetch(cli *c, int argc, char **argv)
{
	(void)argc;
	int rc = cli_open(c);
	if (rc)
		return rc;
	int64_t ahead = 8;
	const char *n = cli_opt(c, "count");
	if (n) {
		char *end;
		ahead = strtoll(n, &end, 10);
		if (*end || ahead < 0 || ahead > 256) {
			fprintf(stderr, "stk wal prefetch: --count must be 0..256, not \"%s\"\n", n);
			return 2;
		}
	} else if (stkdr_ctx_get_int64(&ahead, c->ctx, "wal.prefetch") != 0) {
		ahead = 8;
	}
	rc = stkdr_wal_prefetch(c->ctx, argv[0], argv[1], (int)ahead);
	return rc ? cli_fail(c, rc) : 0;
}
