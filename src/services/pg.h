/*
 * PostgreSQL service layer: a thin libpq wrapper used by the snapshot, WAL, restore, audit and key
 * features. Internal.
 *
 * Errors carry class STKDR_ERRCLASS_POSTGRES and the SQLSTATE as backend_code. Messages never contain
 * the password or any other secret of the connection string: connections are described by
 * stkdr__pg_describe() ("user@host:port/dbname").
 */
#ifndef STKDR_SERVICES_PG_H
#define STKDR_SERVICES_PG_H

#include "core/internal.h"
#include "core/stream.h"

typedef struct stkdr__pg stkdr__pg;

/*
 * Opens a connection. `conninfo` is a libpq keyword/value string or URI. replication: 0 normal,
 * 1 physical replication connection (replication=true: IDENTIFY_SYSTEM, BASE_BACKUP, START_REPLICATION).
 * connect_timeout defaults to 10 s when the conninfo has none.
 * Errors: bad conninfo syntax -> EINVAL; authentication refused -> EAUTH; database missing -> ENOTFOUND;
 * server unreachable (or any other failure) -> EBACKEND naming host:port.
 */
int stkdr__pg_connect(stkdr__pg **out, const char *conninfo, int replication);
/* Closes and frees; NULL is a no-op. */
void stkdr__pg_close(stkdr__pg *pg);
/* The PGconn* (borrowed). */
void *stkdr__pg_conn(stkdr__pg *pg);
/* The server version as an integer (150018 for 15.18). */
int stkdr__pg_server_version(stkdr__pg *pg);

/*
 * Runs one statement with text parameters (nparams may be 0 and params NULL; with no parameters the
 * simple query protocol is used, which replication connections require). On success *out_res (when
 * out_res is non-NULL) gets the PGresult, to PQclear(). Success is COMMAND_OK, TUPLES_OK or COPY_BOTH
 * (START_REPLICATION); COPY TO/FROM must go through stkdr__pg_copy_out/in.
 * Errors map the SQLSTATE: 28xxx/42501 -> EAUTH; 3D000/42P01/42883 -> ENOTFOUND;
 * 23505/42P04/42P07/42710 -> EEXISTS; 57014 -> ECANCELLED; 55P03/40P01 -> ELOCKED; 53100 -> ENOSPACE;
 * anything else (08xxx included) -> EBACKEND. Message: "<statement start>: <primary message> (SQLSTATE x)".
 */
int stkdr__pg_exec(stkdr__pg *pg, void **out_res, const char *sql, int nparams, const char *const *params);

/* First column of the first row as text into `out` (replaced). ENOTFOUND if there is no row.
 * SQL NULL gives an empty buffer and *is_null = 1 (is_null may be NULL). */
int stkdr__pg_query_value(stkdr__pg *pg, stkdr_buf *out, int *is_null, const char *sql, int nparams,
	const char *const *params);

/* Runs `COPY ... TO STDOUT` and streams the data into `sink` as it arrives (write() only: the sink is
 * neither finished nor destroyed). *bytes_out (may be NULL) gets the byte count. If the sink fails the
 * COPY is cancelled and the sink's error is returned. */
int stkdr__pg_copy_out(stkdr__pg *pg, const char *sql, stkdr__sink *sink, int64_t *bytes_out);

/* Pull callback for COPY FROM STDIN: fill up to `cap` bytes, set *n; *n == 0 ends the data. A negative
 * return aborts the COPY (nothing is committed by it) and is returned by stkdr__pg_copy_in(). */
typedef int (*stkdr__pg_read_fn)(uint8_t *buf, size_t cap, size_t *n, void *payload);
/* Runs `COPY ... FROM STDIN` fed by `rd`; *rows_out (may be NULL) gets the row count. */
int stkdr__pg_copy_in(stkdr__pg *pg, const char *sql, stkdr__pg_read_fn rd, void *payload, int64_t *rows_out);

/* "user@host:port/dbname" (never the password), for messages. Borrowed; valid until close. */
const char *stkdr__pg_describe(stkdr__pg *pg);

/* Routes server notices (NOTICE/WARNING messages) to `fn`; by default they are discarded. */
typedef void (*stkdr__pg_notice_fn)(const char *message, void *payload);
void stkdr__pg_set_notice_fn(stkdr__pg *pg, stkdr__pg_notice_fn fn, void *payload);

#endif
