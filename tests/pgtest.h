/*
 * Test harness: throw-away PostgreSQL clusters (initdb + pg_ctl) for tests that need a real server.
 *
 * Clusters live under /tmp (or $STKDR_PG_TMPDIR) in directories the `postgres` OS user can traverse; when
 * the tests run as root (CI does) the data directory belongs to `postgres`, because PostgreSQL refuses to
 * run as root. Binaries come from $STKDR_PG_BIN_DIR or /usr/lib/postgresql/15/bin.
 *
 * Every failure aborts the current test (ck_abort_msg, with the server log tail where it helps). Clusters a
 * process started and did not destroy are stopped (immediate) and removed when that process exits, also
 * after a failed assertion in a forked test.
 */
#ifndef STKDR_PGTEST_H
#define STKDR_PGTEST_H

#include "testutil.h"

typedef struct pgt_cluster {
	char *dir;        /* the cluster's top directory (removed by pgt_destroy) */
	char *data_dir;   /* dir/data, 0700, owned by postgres when root */
	char *socket_dir; /* dir/sock */
	int port;         /* TCP port on 127.0.0.1 */
	char *conninfo;   /* "host=127.0.0.1 port=N user=postgres dbname=postgres" */
	char *bin_dir;    /* PostgreSQL binaries */
	char *log_file;   /* dir/server.log */
} pgt_cluster;

/*
 * initdb (--data-checksums, user postgres, trust auth, UTF8, locale C.UTF-8 or C) into a fresh directory,
 * configure listen_addresses='127.0.0.1', a free port, unix_socket_directories=<dir>/sock, wal_level=replica,
 * max_wal_senders=10, then `extra_conf` (may be NULL) appended verbatim to postgresql.conf (archive_mode,
 * archive_command, fsync=off for speed...), and start with pg_ctl -w. `tag` names the directory.
 */
pgt_cluster *pgt_start(const char *tag, const char *extra_conf);
/* pg_ctl stop -m fast; the data stays (start again with stkdr__pgctl_start). */
void pgt_stop(pgt_cluster *c);
/* Stops the server if it runs (immediate), removes the directory and frees. NULL is a no-op. */
void pgt_destroy(pgt_cluster *c);
/* Runs one statement on a new connection; returns the first value of the first row as a new string
 * (stkdr__free; "" when there is no row or the value is NULL). */
char *pgt_sql(pgt_cluster *c, const char *sql);
/* Same, ignoring the result. */
void pgt_exec(pgt_cluster *c, const char *sql);
/* 1 if initdb and pg_ctl exist and (when root) the postgres user exists; otherwise 0, after printing why
 * (once) on stderr, so that tests can skip cleanly. Safe to call outside a running test (no ck_assert). */
int pgt_available(void);
/* A new empty directory (0700) owned by the postgres user when root, e.g. a restore target. Remove it with
 * tu_rmtree_free(). */
char *pgt_mkdtemp_pg(const char *tag);
/* PostgreSQL binaries directory ($STKDR_PG_BIN_DIR or /usr/lib/postgresql/15/bin). */
const char *pgt_bin_dir(void);

#endif
