/*
 * Running server programs (pg_ctl, initdb, pg_basebackup...): fork+exec with output capture and a
 * timeout, optionally as another user when we are root. Internal.
 */
#ifndef STKDR_SERVICES_PROC_H
#define STKDR_SERVICES_PROC_H

#include "core/internal.h"

/*
 * Runs argv (argv[0] an absolute path) and waits for it.
 * - run_as: when euid == 0 and run_as != NULL, the child runs as that user (supplementary groups, gid, uid;
 *   HOME, USER and LOGNAME set). Ignored when not root.
 * - cwd: working directory of the child (NULL: inherited).
 * - env: extra "K=V" entries (NULL-terminated, may be NULL) added to / overriding the environment.
 * - stdin is /dev/null; stdout and stderr are captured together into `output` (replaced; NULL: discarded),
 *   keeping the last 1 MiB.
 * - timeout_ms > 0: on expiry the child's process group gets SIGTERM, then SIGKILL 5 s later, and
 *   ETIMEOUT is returned naming the program. <= 0: no timeout.
 * *exit_status_out (may be NULL) gets the exit code, or 128+signal. A non-zero exit is not an error of this
 * function (it returns 0); callers decide. A program that cannot be executed -> ENOTFOUND (missing) or EIO.
 */
int stkdr__proc_run(const char *const *argv, const char *run_as, const char *cwd, const char *const *env,
	stkdr_buf *output, int64_t timeout_ms, int *exit_status_out);

/* The user name owning `path` (replaced into user_out). ENOTFOUND if the path or the user is missing. */
int stkdr__proc_owner(stkdr_buf *user_out, const char *path);

/* A TCP port that was free on 127.0.0.1 a moment ago (bind to port 0, read it back, close). */
int stkdr__proc_free_port(int *port_out);

/*
 * pg_ctl wrappers for a local PostgreSQL (bin_dir/pg_ctl). When we are root they run as the owner of the
 * data directory (PostgreSQL refuses to run as root). Relative paths are made absolute.
 */
/* pg_ctl start -w. port <= 0 and socket_dir NULL keep the server's configuration. log_file is required.
 * On failure (EBACKEND, or ETIMEOUT) the message includes the last lines of log_file. */
int stkdr__pgctl_start(const char *bin_dir, const char *data_dir, int port, const char *socket_dir,
	const char *log_file, int64_t timeout_ms);
/* pg_ctl stop -w -m mode ("fast", "immediate" or "smart"). A server that is not running is not an error. */
int stkdr__pgctl_stop(const char *bin_dir, const char *data_dir, const char *mode, int64_t timeout_ms);
/* pg_ctl status: *running_out = 1 if a server runs on data_dir, else 0. ENOTFOUND if data_dir is missing. */
int stkdr__pgctl_status(const char *bin_dir, const char *data_dir, int *running_out);

#endif
